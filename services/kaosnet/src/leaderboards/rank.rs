//! The rank index: every record key of a board in order, with rank (how many come before
//! a key) and select (the key at a rank) in O(log n).
//!
//! The shape is the sorted-list one (Python's sortedcontainers): keys live in sorted blocks
//! of at most `2 * BLOCK` keys, a Fenwick tree over the block sizes turns a block number
//! into the number of keys before it, and each block's last key finds the block of a key.
//! A 1,000,000-key board is about 4,000 blocks: a lookup is two binary searches over
//! cache-resident arrays and an insert moves at most a few KiB, where a pointer tree would
//! take some twenty cache misses.

/// Keys a block is split back down to; blocks hold at most twice this.
const BLOCK: usize = 64;

/// Blocks per entry of the summary over the blocks' last keys.
const FANOUT: usize = 16;

/// Ordered keys with ranks.
#[derive(Debug, Clone)]
pub struct RankIndex<K> {
    blocks: Vec<Vec<K>>,
    /// The last key of each block.
    maxes: Vec<K>,
    /// The last key of each run of `FANOUT` blocks: a few KiB that stay in cache, so
    /// finding a block reads one cold run of `maxes` instead of binary-searching all of it.
    summary: Vec<K>,
    /// Fenwick tree over the block sizes (1-based inside).
    tree: Vec<usize>,
    len: usize,
}

impl<K> Default for RankIndex<K> {
    fn default() -> Self {
        RankIndex { blocks: Vec::new(), maxes: Vec::new(), summary: Vec::new(), tree: Vec::new(), len: 0 }
    }
}

impl<K: Ord + Copy> RankIndex<K> {
    /// How many keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block that holds (or would hold) `key`.
    fn block_of(&self, key: &K) -> usize {
        let run = self.summary.partition_point(|m| m < key);
        if run == self.summary.len() {
            return self.blocks.len().saturating_sub(1);
        }
        // The run's last key is not below `key`, so the count stops inside the run; the
        // run's keys are compared all together (its cache lines load at once).
        let from = run * FANOUT;
        let to = (from + FANOUT).min(self.maxes.len());
        from + self.maxes[from..to].iter().filter(|m| *m < key).count()
    }

    /// Sets the last key of block `b`, and the summary's if it is the last of its run.
    fn set_max(&mut self, b: usize, key: K) {
        self.maxes[b] = key;
        if b % FANOUT == FANOUT - 1 || b + 1 == self.maxes.len() {
            self.summary[b / FANOUT] = key;
        }
    }

    /// Asks the cache for the block that holds `key` (see `warm`), without changing
    /// anything: a writer can do this under a shared lock before it takes the exclusive one.
    pub fn prefetch(&self, key: &K) {
        if !self.blocks.is_empty() {
            self.warm(self.block_of(key));
        }
    }

    /// Asks the cache for all of block `b` at once: a binary search over a cold block
    /// would otherwise wait on one cache miss after another.
    fn warm(&self, b: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            let block = &self.blocks[b];
            let bytes = std::mem::size_of_val(block.as_slice());
            let start = block.as_ptr().cast::<i8>();
            for offset in (0..bytes).step_by(64) {
                // SAFETY: a prefetch is only a hint: it reads nothing into the program and
                // cannot fault, and SSE (its target feature) is part of every x86_64 CPU.
                unsafe {
                    core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(start.wrapping_add(offset));
                }
            }
        }
    }

    /// Keys in the blocks before block `b`.
    fn before_block(&self, b: usize) -> usize {
        let (mut i, mut sum) = (b, 0);
        while i > 0 {
            sum += self.tree[i];
            i &= i - 1;
        }
        sum
    }

    fn add_to_block(&mut self, b: usize, delta: isize) {
        let mut i = b + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Rebuilds the summary and the Fenwick tree after blocks were split or removed
    /// (O(blocks), once in `BLOCK` inserts at most).
    fn rebuild(&mut self) {
        self.summary.clear();
        self.summary.extend(self.maxes.chunks(FANOUT).filter_map(|run| run.last().copied()));
        let n = self.blocks.len();
        self.tree.clear();
        self.tree.resize(n + 1, 0);
        for b in 0..n {
            let i = b + 1;
            self.tree[i] += self.blocks[b].len();
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.tree[parent] += self.tree[i];
            }
        }
    }

    /// A block holding `keys`, with room to grow to its split size without moving.
    fn new_block(keys: &[K]) -> Vec<K> {
        let mut block = Vec::with_capacity(2 * BLOCK + 1);
        block.extend_from_slice(keys);
        block
    }

    /// Adds `key`; false if it was already there.
    pub fn insert(&mut self, key: K) -> bool {
        self.insert_ranked(key).is_ok()
    }

    /// Adds `key` and gives its 0-based rank; `Err` with its rank if it was already there.
    pub fn insert_ranked(&mut self, key: K) -> Result<usize, usize> {
        let b = self.block_of(&key);
        self.insert_in(b, key)
    }

    /// Adds `key` to block `b`, which must be the block for it.
    fn insert_in(&mut self, b: usize, key: K) -> Result<usize, usize> {
        if self.blocks.is_empty() {
            self.blocks.push(Self::new_block(&[key]));
            self.maxes.push(key);
            self.len = 1;
            self.rebuild();
            return Ok(0);
        }
        self.warm(b);
        let block = &mut self.blocks[b];
        let at = match block.binary_search(&key) {
            Ok(at) => return Err(self.before_block(b) + at),
            Err(at) => at,
        };
        block.insert(at, key);
        let last = at + 1 == block.len();
        self.len += 1;
        if block.len() > 2 * BLOCK {
            let tail = Self::new_block(&block[BLOCK..]);
            block.truncate(BLOCK);
            self.maxes[b] = block[BLOCK - 1];
            self.maxes.insert(b + 1, tail[tail.len() - 1]);
            self.blocks.insert(b + 1, tail);
            self.rebuild();
        } else {
            if last {
                self.set_max(b, key);
            }
            self.add_to_block(b, 1);
        }
        Ok(self.before_block(b) + at)
    }

    /// Removes `key`; false if it was not there.
    pub fn remove(&mut self, key: &K) -> bool {
        let b = self.block_of(key);
        self.remove_in(b, key)
    }

    /// Removes `key` from block `b`, the block for it.
    fn remove_in(&mut self, b: usize, key: &K) -> bool {
        if self.blocks.is_empty() {
            return false;
        }
        self.warm(b);
        let block = &mut self.blocks[b];
        let Ok(at) = block.binary_search(key) else { return false };
        block.remove(at);
        self.len -= 1;
        if block.is_empty() {
            self.blocks.remove(b);
            self.maxes.remove(b);
            self.rebuild();
        } else {
            if at == block.len() {
                let max = block[at - 1];
                self.set_max(b, max);
            }
            self.add_to_block(b, -1);
        }
        true
    }

    /// Moves a key: removes `old` (if there) and adds `new`, giving `new`'s 0-based rank
    /// (`Err` with it if `new` was already there). Both blocks are fetched together
    /// first, so their cache misses overlap.
    pub fn replace(&mut self, old: &K, new: K) -> Result<usize, usize> {
        let (from, to) = (self.block_of(old), self.block_of(&new));
        if !self.blocks.is_empty() {
            self.warm(from);
            self.warm(to);
        }
        let blocks = self.blocks.len();
        self.remove_in(from, old);
        // `new` stays in the block found for it (the removal can only lower block `from`'s
        // last key below `new`, and then `new` is still above every other key of it), but
        // that block moves down one if the removal emptied an earlier block.
        let to = if self.blocks.len() < blocks && to > from { to - 1 } else { to };
        self.insert_in(to.min(self.blocks.len().saturating_sub(1)), new)
    }

    /// How many keys come before `key` (its 0-based rank when present).
    pub fn rank(&self, key: &K) -> usize {
        if self.blocks.is_empty() {
            return 0;
        }
        let b = self.block_of(key);
        self.before_block(b) + self.blocks[b].partition_point(|k| k < key)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &K) -> bool {
        !self.blocks.is_empty() && self.blocks[self.block_of(key)].binary_search(key).is_ok()
    }

    /// The block and offset of 0-based rank `rank` (a Fenwick descent).
    fn locate(&self, rank: usize) -> Option<(usize, usize)> {
        if rank >= self.len {
            return None;
        }
        let (mut pos, mut rest) = (0, rank);
        let mut step = (self.tree.len() - 1).checked_ilog2().map_or(0, |l| 1 << l);
        while step > 0 {
            let next = pos + step;
            if next < self.tree.len() && self.tree[next] <= rest {
                pos = next;
                rest -= self.tree[next];
            }
            step >>= 1;
        }
        Some((pos, rest))
    }

    /// Up to `count` keys from 0-based rank `from`, in order.
    pub fn range(&self, from: usize, count: usize) -> impl Iterator<Item = &K> {
        let start = self.locate(from);
        let blocks = match start {
            Some((b, _)) => &self.blocks[b..],
            None => &[],
        };
        let skip = start.map_or(0, |(_, offset)| offset);
        blocks.iter().flatten().skip(skip).take(count)
    }

    /// The key at 0-based rank `rank`.
    pub fn select(&self, rank: usize) -> Option<K> {
        self.locate(rank).map(|(b, i)| self.blocks[b][i])
    }

    /// Forgets every key.
    pub fn clear(&mut self) {
        *self = RankIndex::default();
    }
}

#[cfg(test)]
mod tests {
    use super::RankIndex;

    /// A deterministic stream of keys (splitmix64).
    fn keys(seed: u64, n: usize) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)) % 5_000
            })
            .collect()
    }

    #[test]
    fn agrees_with_a_sorted_vec_through_inserts_and_removes() {
        let mut index = RankIndex::default();
        let mut model: Vec<u64> = Vec::new();
        for (i, k) in keys(7, 40_000).into_iter().enumerate() {
            // Two inserts for each remove: blocks split, and some empty out again.
            if i % 3 == 2 {
                let present = model.binary_search(&k);
                assert_eq!(index.remove(&k), present.is_ok());
                if let Ok(at) = present {
                    model.remove(at);
                }
            } else {
                let at = model.binary_search(&k);
                let ranked = match at {
                    Ok(at) => index.insert_ranked(k).err() == Some(at),
                    Err(at) => index.insert_ranked(k) == Ok(at),
                };
                assert!(ranked, "insert of {k} at {at:?}");
                if let Err(at) = at {
                    model.insert(at, k);
                }
            }
            if i % 997 == 0 {
                assert_eq!(index.len(), model.len());
                for (rank, key) in model.iter().enumerate().step_by(37) {
                    assert_eq!(index.rank(key), rank);
                    assert_eq!(index.select(rank), Some(*key));
                    assert!(index.contains(key));
                }
                assert_eq!(index.range(0, usize::MAX).copied().collect::<Vec<_>>(), model);
            }
        }
        assert_eq!(index.select(model.len()), None);
        assert_eq!(index.range(model.len(), 5).count(), 0);
        let mid = model.len() / 2;
        assert_eq!(index.range(mid, 3).copied().collect::<Vec<_>>(), model[mid..mid + 3]);
    }

    #[test]
    fn replace_moves_keys_like_a_remove_then_an_insert() {
        let mut index = RankIndex::default();
        let mut model: Vec<u64> = keys(3, 20_000).into_iter().map(|k| k * 2).collect();
        model.sort_unstable();
        model.dedup();
        for k in &model {
            index.insert(*k);
        }
        // Old keys are there or not; new ones land anywhere, sometimes on a key there.
        for (old, new) in keys(11, 10_000).into_iter().zip(keys(13, 10_000)) {
            let (old, new) = (old * 2, new * 2 - new % 2);
            if let Ok(at) = model.binary_search(&old) {
                model.remove(at);
            }
            let expected = match model.binary_search(&new) {
                Ok(at) => Err(at),
                Err(at) => {
                    model.insert(at, new);
                    Ok(at)
                }
            };
            assert_eq!(index.replace(&old, new), expected, "{old} to {new}");
        }
        assert_eq!(index.len(), model.len());
        assert_eq!(index.range(0, usize::MAX).copied().collect::<Vec<_>>(), model);
    }

    #[test]
    fn replace_empties_blocks_on_either_side() {
        // Moving the lowest keys to the top empties the first blocks one by one, and moving
        // the highest back below everything empties the last ones.
        let mut index = RankIndex::default();
        for k in 0..1_000u64 {
            index.insert(k * 10);
        }
        for k in 0..1_000u64 {
            assert_eq!(index.replace(&(k * 10), 100_000 + k), Ok(999));
        }
        for k in (0..1_000u64).rev() {
            assert_eq!(index.replace(&(100_000 + k), k), Ok(0));
        }
        assert_eq!(index.range(0, usize::MAX).copied().collect::<Vec<_>>(), (0..1_000).collect::<Vec<_>>());
        // Down to one key and back.
        let mut single = RankIndex::default();
        single.insert(5u64);
        assert_eq!(single.replace(&5, 7), Ok(0));
        assert_eq!(single.replace(&9, 3), Ok(0));
        assert_eq!(single.range(0, 9).copied().collect::<Vec<_>>(), [3, 7]);
    }

    #[test]
    fn rank_of_an_absent_key_counts_the_keys_before_it() {
        let mut index = RankIndex::default();
        for k in (0..2_000u64).map(|k| k * 2) {
            index.insert(k);
        }
        assert_eq!(index.rank(&1), 1);
        assert_eq!(index.rank(&2_001), 1_001);
        assert_eq!(index.rank(&10_000), 2_000);
        assert!(!index.contains(&1));
        for k in (0..2_000u64).map(|k| k * 2) {
            assert!(index.remove(&k));
        }
        assert_eq!(index.len(), 0);
        assert_eq!(index.rank(&3), 0);
        assert!(!index.remove(&3));
    }
}
