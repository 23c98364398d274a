//! The ticket pool and one matching pass. Tickets are indexed by their string
//! properties' values and their numeric properties, so a ticket's required query terms
//! (`+properties.region:eu`, `+properties.skill:>=900`) pick its candidates from the
//! narrowest index entry instead of scanning the pool; the whole query then decides,
//! both ways (each ticket must match the other's query).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::query::{Doc, Field, Query, Required};
use crate::realtime::tracker::Presence;

/// Most candidates one ticket examines in a pass.
pub const MAX_SCAN: usize = 20_000;

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

/// Every waiting ticket, oldest first, with its indexes.
#[derive(Debug, Default)]
pub struct Pool {
    next: u64,
    tickets: BTreeMap<u64, Ticket>,
    by_id: HashMap<String, u64>,
    strings: HashMap<(String, String), BTreeSet<u64>>,
    numbers: HashMap<String, BTreeSet<(Num, u64)>>,
}

impl Pool {
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

    /// Tickets held by any of the ids `f` picks.
    pub fn find(&self, mut f: impl FnMut(&Ticket) -> bool) -> Vec<String> {
        self.tickets.values().filter(|t| f(t)).map(|t| t.id.clone()).collect()
    }

    /// Adds a ticket.
    pub fn add(&mut self, ticket: Ticket) {
        self.next += 1;
        let seq = self.next;
        for (k, v) in &ticket.string_properties {
            self.strings.entry((format!("properties.{k}"), v.clone())).or_default().insert(seq);
        }
        for (k, v) in &ticket.numeric_properties {
            self.numbers.entry(format!("properties.{k}")).or_default().insert((Num(*v), seq));
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
        for (k, v) in &t.string_properties {
            let key = (format!("properties.{k}"), v.clone());
            if let Some(set) = self.strings.get_mut(&key) {
                set.remove(&seq);
                if set.is_empty() {
                    self.strings.remove(&key);
                }
            }
        }
        for (k, v) in &t.numeric_properties {
            let key = format!("properties.{k}");
            if let Some(set) = self.numbers.get_mut(&key) {
                set.remove(&(Num(*v), seq));
                if set.is_empty() {
                    self.numbers.remove(&key);
                }
            }
        }
        Some(t)
    }

    /// Calls `f` with candidate tickets for `t` (from its narrowest required term, or the
    /// whole pool), until `f` says stop or `MAX_SCAN` were offered.
    fn candidates(&self, t: &Ticket, mut f: impl FnMut(u64) -> bool) {
        enum Source<'a> {
            Set(&'a BTreeSet<u64>),
            Range(&'a BTreeSet<(Num, u64)>, f64, f64),
        }
        let mut best: Option<(usize, Source<'_>)> = None;
        let empty = BTreeSet::new();
        for r in t.query.required() {
            let limit = best.as_ref().map_or(MAX_SCAN + 1, |(n, _)| *n);
            let (n, source) = match r {
                Required::Equals(field, value) => {
                    let set = self.strings.get(&(field.to_string(), value.to_string())).unwrap_or(&empty);
                    (set.len(), Source::Set(set))
                }
                Required::Range(field, lo, hi) => match self.numbers.get(field) {
                    Some(set) => {
                        let n = set.range((Num(lo), 0)..=(Num(hi), u64::MAX)).take(limit).count();
                        (n, Source::Range(set, lo, hi))
                    }
                    None => (0, Source::Set(&empty)),
                },
            };
            if n < limit {
                best = Some((n, source));
            }
        }
        let mut offered = 0;
        let mut offer = |seq: u64| {
            offered += 1;
            offered <= MAX_SCAN && f(seq)
        };
        match best {
            Some((_, Source::Set(set))) => {
                for &seq in set {
                    if !offer(seq) {
                        return;
                    }
                }
            }
            Some((_, Source::Range(set, lo, hi))) => {
                for &(_, seq) in set.range((Num(lo), 0)..=(Num(hi), u64::MAX)) {
                    if !offer(seq) {
                        return;
                    }
                }
            }
            None => {
                for &seq in self.tickets.keys() {
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
