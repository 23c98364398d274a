//! The socket thread's reader for its commonest JSON frame: one game-data message
//! (`match_data_send`, `party_data_send`) as clients write it, with a string cid or none,
//! no escapes, no nulls, no unknown keys and no named presences. It yields the same
//! payload serde's reader would, in one pass without serde's field matching. A frame it
//! does not take whole (None), or whose payload it takes but cannot check (`into_send`
//! refuses it), goes to serde's readers: this reader never decides an error. `tests`
//! hold the two readers equal over mutated frames, and the `data_envelope` fuzz target
//! over any bytes.

use crate::hooks::HookOperation;
use crate::socket::DataPayload;

/// A game-data frame read whole: its kind, its cid, its payload.
pub(crate) type DataFrame<'a> = (HookOperation, Option<&'a str>, DataPayload<'a>);

/// `text` as one game-data message, or None for serde's readers to decide.
pub(crate) fn read(text: &str) -> Option<DataFrame<'_>> {
    let mut c = Cursor { text, i: 0 };
    c.ws();
    c.eat(b'{')?;
    let (mut cid, mut message) = (None, None);
    loop {
        let key = c.key()?;
        if key == "cid" {
            if cid.replace(c.plain()?).is_some() {
                return None;
            }
        } else {
            let op = match key {
                "match_data_send" | "matchDataSend" => HookOperation::MatchDataSend,
                "party_data_send" | "partyDataSend" => HookOperation::PartyDataSend,
                _ => return None,
            };
            if message.replace((op, c.payload()?)).is_some() {
                return None;
            }
        }
        if !c.more()? {
            break;
        }
    }
    c.ws();
    let (op, payload) = message?;
    (c.i == text.len()).then_some((op, cid, payload))
}

struct Cursor<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    /// JSON's whitespace (not Rust's: no form feed).
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek() == Some(b)).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.text[self.i..].starts_with(word).then(|| self.i += word.len())
    }

    /// An object's key and its colon, with the whitespace around them.
    fn key(&mut self) -> Option<&'a str> {
        self.ws();
        let key = self.raw()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(key)
    }

    /// After a member: true for a comma (another follows), false for the object's end.
    fn more(&mut self) -> Option<bool> {
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(false);
        }
        self.eat(b',').map(|()| true)
    }

    /// A string's raw text, borrowed: what lies between its quotes, escapes unread. Where
    /// its value must be exact it is checked (see [`Cursor::plain`]); a key with an escape
    /// matches no name, and the data and a string op code that hold one fail their own
    /// checks (base64, an integer), which sends the frame to serde.
    fn raw(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let len = memchr::memchr(b'"', &self.text.as_bytes()[self.i..])?;
        // Both ends are ASCII, so on character boundaries.
        let s = &self.text[self.i..self.i + len];
        self.i += len + 1;
        Some(s)
    }

    /// A string with neither escapes nor control characters, borrowed.
    fn plain(&mut self) -> Option<&'a str> {
        self.raw().filter(|s| crate::protojson::is_plain(s.as_bytes()))
    }

    /// A JSON integer that fits an i64 (a fraction, an exponent, and `-0`, which serde
    /// reads as a float, go to serde).
    fn integer(&mut self) -> Option<i64> {
        let start = self.i;
        let negative = self.eat(b'-').is_some();
        let digits = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        let n = self.i - digits;
        let leading_zero = n > 1 && self.text.as_bytes()[digits] == b'0';
        let negative_zero = negative && n == 1 && self.text.as_bytes()[digits] == b'0';
        if n == 0 || leading_zero || negative_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.text[start..self.i].parse().ok()
    }

    fn payload(&mut self) -> Option<DataPayload<'a>> {
        self.eat(b'{')?;
        let (mut to, mut op_code, mut data, mut presences, mut reliable) = (None, None, None, None, None);
        self.ws();
        if self.eat(b'}').is_none() {
            loop {
                let key = self.key()?;
                // serde takes each field under any of its names once.
                let fresh = match key {
                    "match_id" | "matchId" | "party_id" | "partyId" => to.replace(self.plain()?).is_none(),
                    "op_code" | "opCode" => {
                        let code = match self.peek()? {
                            b'"' => self.raw()?.parse().ok(),
                            _ => Some(self.integer()?),
                        };
                        op_code.replace(code).is_none()
                    }
                    "data" => data.replace(self.raw()?).is_none(),
                    "presences" => {
                        // Clients send an empty list for "everyone"; named ones go to serde.
                        self.eat(b'[')?;
                        self.ws();
                        self.eat(b']')?;
                        presences.replace(()).is_none()
                    }
                    "reliable" => {
                        let value = if self.literal("true").is_some() {
                            true
                        } else {
                            self.literal("false")?;
                            false
                        };
                        reliable.replace(value).is_none()
                    }
                    _ => false,
                };
                if !fresh {
                    return None;
                }
                if !self.more()? {
                    break;
                }
            }
        }
        Some(DataPayload::borrowed(to, op_code?, data, reliable))
    }
}

/// Whether serde reads `text` as [`read`] does; None where `read` does not take it (or
/// its payload is refused, which sends the frame to serde).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn agrees(text: &str) -> Option<bool> {
    let (op, cid, payload) = read(text)?;
    let fast = format!("{:?}", payload.into_send("id").ok()?);
    let Some((by_serde, serde_cid, payload)) = super::request::data_message(text) else { return Some(false) };
    let same = payload.into_send("id").is_ok_and(|send| format!("{send:?}") == fast);
    Some(same && by_serde == op && serde_cid.as_deref() == cid)
}

#[cfg(test)]
mod tests {
    use super::{agrees, read};

    const FRAMES: &[&str] = &[
        r#"{"match_data_send":{"match_id":"6f1c2a8e-2f47-4c55-9d7e-3b1f0a9c8d11.","op_code":"1","data":"AAEC"}}"#,
        r#"{"cid":"7","matchDataSend":{"matchId":"m.","opCode":12,"data":"AAEC","presences":[],"reliable":true}}"#,
        r#" { "party_data_send" : { "party_id" : "p" , "op_code" : -3 , "reliable" : false } } "#,
        r#"{"partyDataSend":{"partyId":"p","opCode":"9","data":"","presences":[ ]},"cid":"x"}"#,
        r#"{"match_data_send":{"match_id":"m","op_code":"0"}}"#,
    ];

    #[test]
    fn reads_what_clients_send() {
        for frame in FRAMES {
            assert_eq!(agrees(frame), Some(true), "{frame}");
        }
    }

    /// Every frame the fast reader takes, serde reads the same: over each frame with each
    /// byte deleted, doubled or replaced by a character that matters to JSON.
    #[test]
    fn takes_nothing_serde_reads_otherwise() {
        let swaps = ["\"", "\\", "{", "}", "[", "]", ",", ":", " ", "\u{c}", "0", "-", "1e", ".5", "n", "\u{1}", "é"];
        let mut taken = 0;
        for frame in FRAMES {
            for at in (0..frame.len()).filter(|&i| frame.is_char_boundary(i)) {
                let next = frame[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                let mut variants = vec![format!("{}{}", &frame[..at], &frame[next..])];
                variants.push(format!("{}{}", &frame[..next], &frame[at..]));
                variants.extend(swaps.iter().map(|s| format!("{}{s}{}", &frame[..at], &frame[next..])));
                variants.extend(swaps.iter().map(|s| format!("{}{s}{}", &frame[..at], &frame[at..])));
                for v in &variants {
                    if let Some(same) = agrees(v) {
                        taken += 1;
                        assert!(same, "{v}");
                    }
                }
            }
        }
        assert!(taken > 500, "the mutations should leave many frames readable: {taken}");
    }

    #[test]
    fn leaves_the_unusual_to_serde() {
        for frame in [
            r#"{"match_data_send":{"match_id":"a\"b","op_code":"1"}}"#,
            r#"{"match_data_send":{"match_id":"m","op_code":"1","presences":[{"session_id":"s"}]}}"#,
            r#"{"match_data_send":{"match_id":null,"op_code":"1"}}"#,
            r#"{"match_data_send":{"match_id":"m","op_code":1.0}}"#,
            r#"{"match_data_send":{"match_id":"m","op_code":"1","extra":1}}"#,
            r#"{"match_data_send":{"match_id":"m","op_code":"1"},"party_data_send":{"op_code":"1"}}"#,
            r#"{"cid":1,"match_data_send":{"match_id":"m","op_code":"1"}}"#,
            r#"{"match_data_send":{"match_id":"m","matchId":"n","op_code":"1"}}"#,
            r#"{"match_data_send":{"match_id":"m","op_code":"1"}} x"#,
        ] {
            assert!(read(frame).is_none(), "{frame}");
        }
    }
}
