//! Text kept inside its owner when short (usernames and `{}` metadata mostly are): a
//! record then reads and writes without touching the heap, and replacing one frees
//! nothing.

/// Up to 30 bytes inline, longer text boxed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum SmallText {
    Inline(u8, [u8; 30]),
    Heap(Box<str>),
}

impl SmallText {
    pub fn as_str(&self) -> &str {
        match self {
            // Only whole UTF-8 strings are stored inline (see `From`).
            SmallText::Inline(len, bytes) => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            SmallText::Heap(s) => s,
        }
    }
}

impl From<&str> for SmallText {
    fn from(s: &str) -> SmallText {
        if s.len() <= 30 {
            let mut bytes = [0; 30];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            SmallText::Inline(s.len() as u8, bytes)
        } else {
            SmallText::Heap(s.into())
        }
    }
}

impl std::fmt::Debug for SmallText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::SmallText;

    #[test]
    fn keeps_text_of_any_length() {
        for text in ["", "{}", "ana", "é".repeat(15).as_str(), "x".repeat(31).as_str(), "ü".repeat(40).as_str()] {
            let small = SmallText::from(text);
            assert_eq!(small.as_str(), text);
            assert_eq!(matches!(small, SmallText::Inline(..)), text.len() <= 30);
        }
    }
}
