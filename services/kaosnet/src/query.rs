//! The query language of match listings and the matchmaker (the subset of Bleve's query
//! strings Nakama clients use): terms separated by spaces, each `field:value`,
//! `+` must match, `-` must not, neither should (scores when it does); values may be
//! quoted, hold `*` and `?` wildcards, or be ranges (`>=10`, `>10`, `<=5`, `<5`); `^2`
//! boosts a term. A bare value matches any field.

use std::collections::HashMap;

/// A field's value in a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// A searchable document: flat field names (`properties.region`, `label.mode`).
pub type Doc = HashMap<String, Field>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occur {
    Must,
    MustNot,
    Should,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Equals(String),
    Wildcard(String),
    Range { op: Op, bound: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
struct Term {
    occur: Occur,
    field: Option<String>,
    test: Test,
    boost: f64,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    terms: Vec<Term>,
}

/// Why a query did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid query: {0}")]
pub struct QueryError(String);

/// Longest query text, bytes.
pub const MAX_QUERY: usize = 4096;

impl Query {
    /// Parses `text`; `*` or an empty text matches everything.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        if text.len() > MAX_QUERY {
            return Err(QueryError(format!("longer than {MAX_QUERY} bytes")));
        }
        let mut terms = Vec::new();
        for raw in split(text)? {
            if raw == "*" {
                continue;
            }
            terms.push(term(&raw)?);
        }
        Ok(Query { terms })
    }

    /// Whether `doc` matches, and its score (the boosts of the terms it meets).
    pub fn score(&self, doc: &Doc) -> Option<f64> {
        let mut score = 0.0;
        let mut any_should = false;
        let mut should_met = false;
        let mut any_must = false;
        for t in &self.terms {
            let hit = t.hits(doc);
            match t.occur {
                Occur::Must if !hit => return None,
                Occur::Must => {
                    any_must = true;
                    score += t.boost;
                }
                Occur::MustNot if hit => return None,
                Occur::MustNot => {}
                Occur::Should => {
                    any_should = true;
                    if hit {
                        should_met = true;
                        score += t.boost;
                    }
                }
            }
        }
        // Without a required term, a query of optional terms needs one of them.
        if any_should && !any_must && !should_met {
            return None;
        }
        Some(score)
    }

    /// Whether `doc` matches.
    pub fn matches(&self, doc: &Doc) -> bool {
        self.score(doc).is_some()
    }

    /// The required terms an index can answer: exact values and numeric ranges of
    /// named fields.
    pub fn required(&self) -> Vec<Required<'_>> {
        let mut out = Vec::new();
        for t in &self.terms {
            let (Occur::Must, Some(field)) = (t.occur, &t.field) else { continue };
            match &t.test {
                Test::Equals(v) => out.push(Required::Equals(field, v)),
                Test::Range { op, bound } => {
                    if let Ok(b) = bound.parse::<f64>() {
                        let (lo, hi) = match op {
                            Op::Gt | Op::Ge => (b, f64::INFINITY),
                            Op::Lt | Op::Le => (f64::NEG_INFINITY, b),
                        };
                        out.push(Required::Range(field, lo, hi));
                    }
                }
                Test::Wildcard(_) => {}
            }
        }
        out
    }
}

/// A required term, for choosing candidates from an index (the whole query still
/// decides).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Required<'a> {
    /// `+field:value`.
    Equals(&'a str, &'a str),
    /// `+field:>=lo` or `+field:<=hi` (bounds inclusive here; the query checks strictness).
    Range(&'a str, f64, f64),
}

impl Term {
    fn hits(&self, doc: &Doc) -> bool {
        match &self.field {
            Some(f) => doc.get(f).is_some_and(|v| self.test.hits(v)),
            None => doc.values().any(|v| self.test.hits(v)),
        }
    }
}

impl Test {
    fn hits(&self, v: &Field) -> bool {
        match (self, v) {
            (Test::Equals(want), Field::Str(s)) => s == want,
            (Test::Equals(want), Field::Num(n)) => want.parse::<f64>().is_ok_and(|w| w == *n),
            (Test::Equals(want), Field::Bool(b)) => want.parse::<bool>().is_ok_and(|w| w == *b),
            (Test::Wildcard(pattern), Field::Str(s)) => wildcard(pattern.as_bytes(), s.as_bytes()),
            (Test::Wildcard(_), _) => false,
            (Test::Range { op, bound }, Field::Num(n)) => {
                bound.parse::<f64>().is_ok_and(|b| compare(*op, n.partial_cmp(&b)))
            }
            (Test::Range { op, bound }, Field::Str(s)) => compare(*op, Some(s.as_str().cmp(bound.as_str()))),
            (Test::Range { .. }, Field::Bool(_)) => false,
        }
    }
}

fn compare(op: Op, ord: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    matches!(
        (op, ord),
        (Op::Gt, Some(Greater)) | (Op::Ge, Some(Greater | Equal)) | (Op::Lt, Some(Less)) | (Op::Le, Some(Less | Equal))
    )
}

/// `*` any run, `?` any one character (bytes; iterative, no backtracking blow-up).
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Splits on spaces outside double quotes.
fn split(text: &str) -> Result<Vec<String>, QueryError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(QueryError("unclosed quote".into()));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn term(raw: &str) -> Result<Term, QueryError> {
    let (occur, rest) = match raw.as_bytes()[0] {
        b'+' => (Occur::Must, &raw[1..]),
        b'-' => (Occur::MustNot, &raw[1..]),
        _ => (Occur::Should, raw),
    };
    // A boost ends the term, outside quotes.
    let (body, boost) = match rest.rfind('^') {
        Some(i) if !rest[i..].contains('"') => {
            let b: f64 = rest[i + 1..].parse().map_err(|_| QueryError(format!("bad boost in {raw:?}")))?;
            if !b.is_finite() || b < 0.0 {
                return Err(QueryError(format!("bad boost in {raw:?}")));
            }
            (&rest[..i], b)
        }
        _ => (rest, 1.0),
    };
    let (field, value) = match find_colon(body) {
        Some(i) => (Some(body[..i].to_string()), &body[i + 1..]),
        None => (None, body),
    };
    if field.as_deref().is_some_and(str::is_empty) || value.is_empty() {
        return Err(QueryError(format!("empty field or value in {raw:?}")));
    }
    let test = if let Some(v) = value.strip_prefix(">=") {
        Test::Range { op: Op::Ge, bound: unquote(v)? }
    } else if let Some(v) = value.strip_prefix("<=") {
        Test::Range { op: Op::Le, bound: unquote(v)? }
    } else if let Some(v) = value.strip_prefix('>') {
        Test::Range { op: Op::Gt, bound: unquote(v)? }
    } else if let Some(v) = value.strip_prefix('<') {
        Test::Range { op: Op::Lt, bound: unquote(v)? }
    } else if value.starts_with('"') {
        Test::Equals(unquote(value)?)
    } else if value.contains(['*', '?']) {
        Test::Wildcard(value.to_string())
    } else {
        Test::Equals(unescape(value))
    };
    Ok(Term { occur, field, test, boost })
}

/// The first `:` outside quotes and escapes.
fn find_colon(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return None,
            ':' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unquote(s: &str) -> Result<String, QueryError> {
    match s.strip_prefix('"') {
        Some(inner) => {
            inner.strip_suffix('"').map(unescape).ok_or_else(|| QueryError(format!("unclosed quote in {s:?}")))
        }
        None if s.is_empty() => Err(QueryError("empty range bound".into())),
        None => Ok(unescape(s)),
    }
}

/// The fields of a JSON value under `prefix` (objects flattened with dots; arrays and
/// nulls are not searchable).
pub fn flatten(prefix: &str, value: &serde_json::Value, doc: &mut Doc) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, doc);
            }
        }
        serde_json::Value::String(s) => {
            doc.insert(prefix.to_string(), Field::Str(s.clone()));
        }
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                doc.insert(prefix.to_string(), Field::Num(f));
            }
        }
        serde_json::Value::Bool(b) => {
            doc.insert(prefix.to_string(), Field::Bool(*b));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Doc {
        let mut d = Doc::new();
        flatten(
            "properties",
            &serde_json::json!({"region": "eu-west", "mode": "ranked", "rank": 12, "vip": true}),
            &mut d,
        );
        d
    }

    fn score(q: &str) -> Option<f64> {
        Query::parse(q).unwrap().score(&doc())
    }

    #[test]
    fn must_must_not_and_should_terms() {
        assert_eq!(score("+properties.region:eu-west"), Some(1.0));
        assert_eq!(score("+properties.region:us-east"), None);
        assert_eq!(score("-properties.mode:ranked"), None);
        assert_eq!(score("-properties.mode:casual"), Some(0.0));
        assert_eq!(score("-properties.mode:casual +properties.vip:true"), Some(1.0));
        // Optional terms alone: one must hit; beside a required term, they only score.
        assert_eq!(score("properties.mode:casual properties.region:eu-west"), Some(1.0));
        assert_eq!(score("properties.mode:casual properties.region:us"), None);
        assert_eq!(score("+properties.rank:12 properties.mode:casual"), Some(1.0));
        assert_eq!(score("*"), Some(0.0));
        assert_eq!(score(""), Some(0.0));
        assert_eq!(score("ranked"), Some(1.0));
    }

    #[test]
    fn ranges_wildcards_quotes_and_boosts() {
        assert_eq!(score("+properties.rank:>=12 +properties.rank:<13"), Some(2.0));
        assert_eq!(score("+properties.rank:>12"), None);
        assert_eq!(score("+properties.rank:<=11.5"), None);
        assert_eq!(score("+properties.region:eu-*"), Some(1.0));
        assert_eq!(score("+properties.region:e?-west"), Some(1.0));
        assert_eq!(score("+properties.region:*east"), None);
        assert_eq!(score("+properties.region:\"eu-west\"^3 properties.mode:ranked^2.5"), Some(5.5));
        assert_eq!(score("+properties.region:>=eu"), Some(1.0));
        assert_eq!(score("+properties.missing:x"), None);
    }

    #[test]
    fn bad_queries_are_errors() {
        for bad in ["+properties.region:\"eu", "+:x", "+properties.rank:", "a^x", "a^-1", "+properties.rank:>="] {
            assert!(Query::parse(bad).is_err(), "{bad}");
        }
        assert!(Query::parse(&"a ".repeat(3000)).is_err());
    }

    #[test]
    fn wildcards_do_not_backtrack_exponentially() {
        let s = "a".repeat(5000);
        assert!(!wildcard(format!("{}b", "*a".repeat(100)).as_bytes(), s.as_bytes()));
    }
}
