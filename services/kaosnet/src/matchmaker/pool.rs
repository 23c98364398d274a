//! The ticket pool and one matching pass. Tickets are indexed in buckets by every
//! combination of their string property values (up to [`INDEXED_STRINGS`] properties),
//! and within each bucket by their numeric properties, so a ticket whose query requires
//! `+properties.region:eu +properties.mode:ranked +properties.skill:>=900` reads exactly
//! the tickets in bucket (region=eu, mode=ranked) with skill from 900 up, instead of
//! scanning the pool. The whole query then decides, both ways (each ticket must match
//! the other's query).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::presence::tracker::Presence;
use crate::presence::SessionId;
use crate::query::{Doc, Field, Query, Required};

/// Most candidates one ticket examines in a pass.
pub const MAX_SCAN: usize = 2_000;
/// String properties a ticket is bucketed by (all combinations of them: 2^n - 1 buckets).
pub const INDEXED_STRINGS: usize = 4;

/// One player of a ticket (a party ticket has several).
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub presence: Presence,
}

/// A ticket in the pool.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: String,
    pub party_id: Option<String>,
    pub members: Vec<Member>,
    pub min_count: usize,
    pub max_count: usize,
    pub count_multiple: usize,
    pub query: Query,
    pub string_properties: BTreeMap<String, String>,
    pub numeric_properties: BTreeMap<String, f64>,
    pub(crate) doc: Doc,
    pub(crate) passes: u32,
}

impl Ticket {
    fn size(&self) -> usize {
        self.members.len()
    }

    fn shares_a_player_with(&self, other: &Ticket) -> bool {
        self.members.iter().any(|m| other.members.iter().any(|o| o.presence.user_id == m.presence.user_id))
    }

    /// Each ticket's query matches the other's properties.
    fn mutual(&self, other: &Ticket) -> bool {
        !self.shares_a_player_with(other) && self.query.matches(&other.doc) && other.query.matches(&self.doc)
    }
}

/// The properties as a query document (`properties.<name>`).
pub fn doc_of(strings: &BTreeMap<String, String>, numbers: &BTreeMap<String, f64>) -> Doc {
    let mut doc = Doc::new();
    for (k, v) in strings {
        doc.insert(format!("properties.{k}"), Field::Str(v.clone()));
    }
    for (k, v) in numbers {
        doc.insert(format!("properties.{k}"), Field::Num(*v));
    }
    doc
}

/// f64 with a total order, for the numeric index.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Num(f64);
impl Eq for Num {}
impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Num {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Tickets by one numeric property's value.
type ByValue = BTreeSet<(Num, u64)>;

/// Every waiting ticket, oldest first, with its indexes.
#[derive(Debug, Default)]
pub struct Pool {
    next: u64,
    tickets: BTreeMap<u64, Ticket>,
    by_id: HashMap<String, u64>,
    /// Bucket key (sorted `field=value` pairs; "" for every ticket) to its tickets.
    buckets: HashMap<String, BTreeSet<u64>>,
    /// (bucket key, numeric field) to the bucket's tickets by that field's value.
    numbers: HashMap<(String, String), ByValue>,
    /// Tickets with more string properties than are bucketed: every lookup offers them.
    wide: BTreeSet<u64>,
    /// The tickets each session is in, and each party's.
    by_session: HashMap<SessionId, BTreeSet<u64>>,
    by_party: HashMap<String, BTreeSet<u64>>,
}

/// A bucket key: the pairs sorted by field, each `field=value`, joined by NUL.
fn bucket_key<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    pairs.sort_unstable();
    let mut key = String::new();
    for (i, (f, v)) in pairs.iter().enumerate() {
        if i > 0 {
            key.push('\0');
        }
        key.push_str(f);
        key.push('=');
        key.push_str(v);
    }
    key
}

/// Every bucket a ticket belongs to: each combination of its first string properties,
/// and the empty one.
fn buckets_of(t: &Ticket) -> Vec<String> {
    let pairs: Vec<(String, &str)> = t
        .string_properties
        .iter()
        .take(INDEXED_STRINGS)
        .map(|(k, v)| (format!("properties.{k}"), v.as_str()))
        .collect();
    (0u32..1 << pairs.len())
        .map(|mask| {
            bucket_key(
                pairs.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, (f, v))| (f.as_str(), *v)),
            )
        })
        .collect()
}

impl Pool {
    /// The waiting tickets, oldest first.
    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.values()
    }

    /// How many tickets wait.
    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    /// The ticket with that id.
    pub fn get(&self, id: &str) -> Option<&Ticket> {
        self.tickets.get(self.by_id.get(id)?)
    }

    /// The tickets `session` is in.
    pub fn of_session(&self, session: SessionId) -> Vec<&Ticket> {
        self.by_session
            .get(&session)
            .map(|set| set.iter().filter_map(|s| self.tickets.get(s)).collect())
            .unwrap_or_default()
    }

    /// The tickets of party `party_id`.
    pub fn of_party(&self, party_id: &str) -> Vec<&Ticket> {
        self.by_party
            .get(party_id)
            .map(|set| set.iter().filter_map(|s| self.tickets.get(s)).collect())
            .unwrap_or_default()
    }

    /// Adds a ticket.
    pub fn add(&mut self, ticket: Ticket) {
        self.next += 1;
        let seq = self.next;
        if ticket.string_properties.len() > INDEXED_STRINGS {
            self.wide.insert(seq);
        }
        for m in &ticket.members {
            self.by_session.entry(m.presence.session).or_default().insert(seq);
        }
        if let Some(p) = &ticket.party_id {
            self.by_party.entry(p.clone()).or_default().insert(seq);
        }
        for key in buckets_of(&ticket) {
            for (k, v) in &ticket.numeric_properties {
                self.numbers.entry((key.clone(), format!("properties.{k}"))).or_default().insert((Num(*v), seq));
            }
            self.buckets.entry(key).or_default().insert(seq);
        }
        self.by_id.insert(ticket.id.clone(), seq);
        self.tickets.insert(seq, ticket);
    }

    /// Takes a ticket out by id.
    pub fn remove(&mut self, id: &str) -> Option<Ticket> {
        let seq = self.by_id.get(id).copied()?;
        self.take(seq)
    }

    fn take(&mut self, seq: u64) -> Option<Ticket> {
        let t = self.tickets.remove(&seq)?;
        self.by_id.remove(&t.id);
        self.wide.remove(&seq);
        for m in &t.members {
            if let Some(set) = self.by_session.get_mut(&m.presence.session) {
                set.remove(&seq);
                if set.is_empty() {
                    self.by_session.remove(&m.presence.session);
                }
            }
        }
        if let Some(p) = &t.party_id {
            if let Some(set) = self.by_party.get_mut(p) {
                set.remove(&seq);
                if set.is_empty() {
                    self.by_party.remove(p);
                }
            }
        }
        for key in buckets_of(&t) {
            for (k, v) in &t.numeric_properties {
                let nkey = (key.clone(), format!("properties.{k}"));
                if let Some(set) = self.numbers.get_mut(&nkey) {
                    set.remove(&(Num(*v), seq));
                    if set.is_empty() {
                        self.numbers.remove(&nkey);
                    }
                }
            }
            if let Some(set) = self.buckets.get_mut(&key) {
                set.remove(&seq);
                if set.is_empty() {
                    self.buckets.remove(&key);
                }
            }
        }
        Some(t)
    }

    /// Calls `f` with candidate tickets for `t`, until `f` says stop or `MAX_SCAN` were
    /// offered: the bucket of the values its query requires (narrowed by a required
    /// numeric range when there is one), in age or value order.
    fn candidates(&self, t: &Ticket, mut f: impl FnMut(u64) -> bool) {
        let required = t.query.required();
        // Required values that can only be strings (a number or a boolean may be a
        // numeric or boolean property, which buckets do not hold).
        let mut equals: Vec<(&str, &str)> = required
            .iter()
            .filter_map(|r| match r {
                Required::Equals(f, v) if v.parse::<f64>().is_err() && v.parse::<bool>().is_err() => Some((*f, *v)),
                _ => None,
            })
            .collect();
        equals.sort_unstable();
        equals.dedup_by(|a, b| a.0 == b.0);
        if equals.len() > INDEXED_STRINGS {
            equals.truncate(INDEXED_STRINGS);
        }
        let key = bucket_key(equals.iter().copied());
        let empty = BTreeSet::new();
        let mut offered = 0;
        let mut offer = |seq: u64| {
            offered += 1;
            offered <= MAX_SCAN && f(seq)
        };
        // Required ranges, one interval per field (`>=` and `<=` terms together), and the
        // narrowest of them within the bucket.
        let mut intervals: Vec<(&str, f64, f64)> = Vec::new();
        for r in &required {
            if let Required::Range(field, lo, hi) = r {
                match intervals.iter_mut().find(|(f, ..)| f == field) {
                    Some(iv) => {
                        iv.1 = iv.1.max(*lo);
                        iv.2 = iv.2.min(*hi);
                    }
                    None => intervals.push((field, *lo, *hi)),
                }
            }
        }
        let mut best: Option<(usize, &ByValue, f64, f64)> = None;
        for (field, lo, hi) in intervals {
            let Some(set) = self.numbers.get(&(key.clone(), field.to_string())) else { continue };
            if lo > hi {
                return;
            }
            let limit = best.map_or(MAX_SCAN + 1, |b| b.0);
            let n = set.range((Num(lo), 0)..=(Num(hi), u64::MAX)).take(limit).count();
            if n < limit {
                best = Some((n, set, lo, hi));
            }
        }
        let has_range = required.iter().any(|r| matches!(r, Required::Range(..)));
        if !key.is_empty() {
            for &seq in &self.wide {
                if !offer(seq) {
                    return;
                }
            }
        }
        match best {
            Some((_, set, lo, hi)) => {
                for &(_, seq) in set.range((Num(lo), 0)..=(Num(hi), u64::MAX)) {
                    if !offer(seq) {
                        return;
                    }
                }
            }
            // A required range on a field no ticket in the bucket has: nobody qualifies.
            None if has_range && required.iter().any(|r| matches!(r, Required::Range(f, ..) if !self.numbers.contains_key(&(key.clone(), f.to_string())))) => {}
            None => {
                for &seq in self.buckets.get(&key).unwrap_or(&empty) {
                    if !offer(seq) {
                        return;
                    }
                }
            }
        }
    }

    /// One pass: each waiting ticket, oldest first, gathers mutually matching tickets up
    /// to the smallest `max_count` among them. A full group is a match at once; a
    /// smaller one that meets every `min_count` and `count_multiple` is a match once its
    /// oldest ticket has waited a pass. Returns the matched groups, taken out of the pool.
    pub fn pass(&mut self) -> Vec<Vec<Ticket>> {
        let order: Vec<u64> = self.tickets.keys().copied().collect();
        let mut matched = Vec::new();
        for seq in order {
            let Some(t) = self.tickets.get(&seq) else { continue };
            let mut group = vec![seq];
            let mut bounds = Bounds::of(t);
            self.candidates(t, |c| {
                if c == seq || group.contains(&c) {
                    return true;
                }
                let Some(ct) = self.tickets.get(&c) else { return true };
                let next = bounds.with(ct);
                if next.count > next.max || !group.iter().all(|g| self.tickets[g].mutual(ct)) {
                    return true;
                }
                group.push(c);
                bounds = next;
                bounds.count < bounds.max
            });
            // Trim the newest tickets until the group's count suits everyone left in it.
            while group.len() > 1 && !bounds.acceptable() {
                group.pop();
                bounds =
                    group.iter().skip(1).fold(Bounds::of(&self.tickets[&group[0]]), |b, g| b.with(&self.tickets[g]));
            }
            let full = bounds.count == bounds.max;
            let ripe = self.tickets[&seq].passes >= 1;
            if group.len() > 1 && bounds.acceptable() && (full || ripe) {
                matched.push(group.iter().filter_map(|g| self.take(*g)).collect());
            } else if let Some(t) = self.tickets.get_mut(&seq) {
                t.passes += 1;
            }
        }
        matched
    }
}

/// A group's player count and the limits all its tickets agree on.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    count: usize,
    min: usize,
    max: usize,
    multiples: [usize; 8],
    n_multiples: usize,
}

impl Bounds {
    fn of(t: &Ticket) -> Bounds {
        let mut b = Bounds { count: 0, min: 0, max: usize::MAX, multiples: [1; 8], n_multiples: 0 };
        b = b.with(t);
        b
    }

    fn with(mut self, t: &Ticket) -> Bounds {
        self.count += t.size();
        self.min = self.min.max(t.min_count);
        self.max = self.max.min(t.max_count);
        if t.count_multiple > 1 && !self.multiples[..self.n_multiples].contains(&t.count_multiple) {
            if self.n_multiples < self.multiples.len() {
                self.multiples[self.n_multiples] = t.count_multiple;
                self.n_multiples += 1;
            } else {
                // Too many distinct multiples to honour: never acceptable.
                self.max = 0;
            }
        }
        self
    }

    fn acceptable(&self) -> bool {
        self.count >= self.min
            && self.count <= self.max
            && self.multiples[..self.n_multiples].iter().all(|m| self.count % m == 0)
    }
}
