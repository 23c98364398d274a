//! Conditions on fields of stored values, for server code's `Storage::query`.

use std::cmp::Ordering;

use serde_json::Value;

/// How a field compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Conditions on fields of stored values (JSON pointers such as `/stats/level`), all of
/// which must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    terms: Vec<(String, Op, Value)>,
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    fn term(mut self, pointer: &str, op: Op, value: impl Into<Value>) -> Query {
        self.terms.push((pointer.to_string(), op, value.into()));
        self
    }

    pub fn eq(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Eq, value)
    }

    pub fn ne(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Ne, value)
    }

    pub fn lt(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Lt, value)
    }

    pub fn le(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Le, value)
    }

    pub fn gt(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Gt, value)
    }

    pub fn ge(self, pointer: &str, value: impl Into<Value>) -> Query {
        self.term(pointer, Op::Ge, value)
    }

    /// Whether `value` meets every term. Numbers compare as numbers, strings as strings;
    /// an ordering between anything else (or a missing field) does not hold.
    pub fn matches(&self, value: &Value) -> bool {
        self.terms.iter().all(|(pointer, op, want)| {
            let got = value.pointer(pointer);
            match op {
                Op::Eq => got == Some(want),
                Op::Ne => got != Some(want),
                _ => {
                    let order = match (got, want) {
                        (Some(Value::Number(a)), Value::Number(b)) => {
                            a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b))
                        }
                        (Some(Value::String(a)), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
                        _ => None,
                    };
                    matches!(
                        (op, order),
                        (Op::Lt, Some(Ordering::Less))
                            | (Op::Le, Some(Ordering::Less | Ordering::Equal))
                            | (Op::Gt, Some(Ordering::Greater))
                            | (Op::Ge, Some(Ordering::Greater | Ordering::Equal))
                    )
                }
            }
        })
    }
}
