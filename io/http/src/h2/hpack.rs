//! HPACK decoding (RFC 7541): the client's header blocks into fields.
//!
//! Ours rather than loona-hpack's decoder: that one builds a hash-map Huffman table for
//! every Huffman-coded string and walks it bit by bit through hash lookups, about 10 µs
//! a string. Browsers Huffman-code every literal, so a hostile block of small strings
//! cost the loop thread milliseconds. Here the Huffman code is decoded canonically from
//! its code lengths (RFC 7541 Appendix B is a canonical code), with no allocation, and
//! indexed fields are lent from the tables without copying. Responses are still encoded
//! with loona-hpack's encoder (it writes no Huffman).

use std::collections::VecDeque;
use std::sync::OnceLock;

/// Why a header block does not decode: the connection ends with COMPRESSION_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HpackError(pub(crate) &'static str);

/// A dynamic table entry: name, value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// The decoding side of one connection's compression context.
pub(crate) struct Decoder {
    /// Newest entry first (dynamic index 62 is the front).
    dynamic: VecDeque<Entry>,
    /// RFC 7541 §4.1: the entries' lengths plus 32 each.
    size: usize,
    /// The table size the encoder chose (by size updates), at most `max_allowed`.
    max_size: usize,
    /// The table size the server announced (SETTINGS_HEADER_TABLE_SIZE).
    max_allowed: usize,
    /// Huffman output for the field being decoded.
    scratch_name: Vec<u8>,
    scratch_value: Vec<u8>,
}

impl Decoder {
    /// A decoder whose table holds at most `max_allowed` bytes.
    pub(crate) fn new(max_allowed: usize) -> Decoder {
        Decoder {
            dynamic: VecDeque::new(),
            size: 0,
            max_size: max_allowed,
            max_allowed,
            scratch_name: Vec::new(),
            scratch_value: Vec::new(),
        }
    }

    /// Decodes a whole header block, calling `field` with each (name, value) in order.
    pub(crate) fn decode(&mut self, block: &[u8], mut field: impl FnMut(&[u8], &[u8])) -> Result<(), HpackError> {
        let mut at = 0;
        let mut fields_seen = false;
        while at < block.len() {
            let first = block[at];
            if first & 0x80 != 0 {
                let index = integer(block, &mut at, 7)?;
                let (name, value) = self.get(index)?;
                field(name, value);
            } else if first & 0x20 != 0 && first & 0x40 == 0 {
                // A dynamic table size update: only before the block's first field.
                if fields_seen {
                    return Err(HpackError("table size update after a field"));
                }
                let size = integer(block, &mut at, 5)?;
                if size > self.max_allowed {
                    return Err(HpackError("table size update beyond the announced size"));
                }
                self.max_size = size;
                self.evict(0);
                continue;
            } else {
                let indexing = first & 0x40 != 0;
                let index = integer(block, &mut at, if indexing { 6 } else { 4 })?;
                let (mut name_buf, mut value_buf) =
                    (std::mem::take(&mut self.scratch_name), std::mem::take(&mut self.scratch_value));
                let result = self.literal(block, &mut at, index, indexing, (&mut name_buf, &mut value_buf), &mut field);
                (self.scratch_name, self.scratch_value) = (name_buf, value_buf);
                result?;
            }
            fields_seen = true;
        }
        Ok(())
    }

    /// A literal field whose name is `index` (0: a literal name too); `indexing` adds it
    /// to the table. Huffman output goes to `bufs`.
    fn literal(
        &mut self,
        block: &[u8],
        at: &mut usize,
        index: usize,
        indexing: bool,
        bufs: (&mut Vec<u8>, &mut Vec<u8>),
        field: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let (name_buf, value_buf) = bufs;
        let name: &[u8] = if index == 0 {
            string(block, at, name_buf)?
        } else {
            name_buf.clear();
            name_buf.extend_from_slice(self.get(index)?.0);
            &name_buf[..]
        };
        let value = string(block, at, value_buf)?;
        field(name, value);
        if indexing {
            self.insert(name, value);
        }
        Ok(())
    }

    /// Field `index` (1-based: the static table, then the dynamic one).
    fn get(&self, index: usize) -> Result<(&[u8], &[u8]), HpackError> {
        match index {
            0 => Err(HpackError("index 0")),
            1..=61 => Ok(STATIC[index - 1]),
            _ => {
                self.dynamic.get(index - 62).map(|(n, v)| (&n[..], &v[..])).ok_or(HpackError("index beyond the tables"))
            }
        }
    }

    /// Adds an entry, evicting the oldest to make room; one larger than the table
    /// empties it (RFC 7541 §4.4).
    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let entry = name.len() + value.len() + 32;
        self.evict(entry);
        if entry <= self.max_size {
            self.dynamic.push_front((name.into(), value.into()));
            self.size += entry;
        }
    }

    /// Evicts until `room` more bytes fit (or the table is empty).
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some((n, v)) = self.dynamic.pop_back() else { break };
            self.size -= n.len() + v.len() + 32;
        }
    }
}

/// An integer with an `prefix`-bit prefix at `block[*at]` (RFC 7541 §5.1); at most
/// 2^28, ample for indexes, lengths and table sizes.
fn integer(block: &[u8], at: &mut usize, prefix: u32) -> Result<usize, HpackError> {
    let max = (1usize << prefix) - 1;
    let mut value = usize::from(*block.get(*at).ok_or(HpackError("truncated integer"))?) & max;
    *at += 1;
    if value < max {
        return Ok(value);
    }
    for shift in (0..28).step_by(7) {
        let b = *block.get(*at).ok_or(HpackError("truncated integer"))?;
        *at += 1;
        value += usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(HpackError("integer too large"))
}

/// A string literal at `block[*at]`: its raw bytes, or its Huffman decoding in `buf`.
fn string<'a>(block: &'a [u8], at: &mut usize, buf: &'a mut Vec<u8>) -> Result<&'a [u8], HpackError> {
    let huffman = block.get(*at).is_some_and(|b| b & 0x80 != 0);
    let len = integer(block, at, 7)?;
    let raw = block.get(*at..*at + len).ok_or(HpackError("truncated string"))?;
    *at += len;
    if !huffman {
        return Ok(raw);
    }
    buf.clear();
    huffman_decode(raw, buf)?;
    Ok(buf)
}

/// The canonical Huffman code's decoding tables, from the code lengths.
struct Canonical {
    /// Per code length: the first code, how many codes, where their symbols start.
    first: [u32; 31],
    count: [u32; 31],
    offset: [u16; 31],
    /// Symbols ordered by (length, symbol): the canonical order.
    symbols: [u16; 257],
}

fn canonical() -> &'static Canonical {
    static TABLES: OnceLock<Canonical> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut c = Canonical { first: [0; 31], count: [0; 31], offset: [0; 31], symbols: [0; 257] };
        for &len in &CODE_LENGTHS {
            c.count[usize::from(len)] += 1;
        }
        let (mut code, mut offset) = (0u32, 0u16);
        for len in 1..31 {
            code = (code + c.count[len - 1]) << 1;
            c.first[len] = code;
            c.offset[len] = offset;
            offset += c.count[len] as u16;
        }
        let mut next = c.offset;
        for (symbol, &len) in CODE_LENGTHS.iter().enumerate() {
            let len = usize::from(len);
            c.symbols[usize::from(next[len])] = symbol as u16;
            next[len] += 1;
        }
        c
    })
}

/// Decodes `raw` (RFC 7541 §5.2): the end-of-string symbol inside, or padding that is
/// longer than 7 bits or not all ones, is an error.
fn huffman_decode(raw: &[u8], out: &mut Vec<u8>) -> Result<(), HpackError> {
    let c = canonical();
    let (mut code, mut len) = (0u32, 0usize);
    for &byte in raw {
        for bit in (0..8).rev() {
            code = code << 1 | u32::from(byte >> bit & 1);
            len += 1;
            let i = code.wrapping_sub(c.first[len]);
            if i < c.count[len] {
                let symbol = c.symbols[usize::from(c.offset[len]) + i as usize];
                if symbol == 256 {
                    return Err(HpackError("end of string inside a Huffman string"));
                }
                out.push(symbol as u8);
                (code, len) = (0, 0);
            } else if len == 30 {
                return Err(HpackError("invalid Huffman code"));
            }
        }
    }
    if len > 7 || code != (1 << len) - 1 {
        return Err(HpackError("invalid Huffman padding"));
    }
    Ok(())
}

/// RFC 7541 Appendix B: the code length of each symbol (256 is end of string).
const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12,
    10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6,
    5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22,
    22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20,
    22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28,
    27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28,
    27, 27, 27, 27, 27, 26, 30,
];

/// RFC 7541 Appendix A: the static table, index 1 first.
const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, HpackError> {
        let mut out = Vec::new();
        d.decode(block, |n, v| out.push((String::from_utf8_lossy(n).into(), String::from_utf8_lossy(v).into())))?;
        Ok(out)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn rfc7541_c4_requests_with_huffman() {
        let mut d = Decoder::new(4096);
        let first = decode_all(&mut d, &hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")).unwrap();
        assert_eq!(
            first,
            pairs(&[(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")])
        );
        assert_eq!(d.size, 57);
        let second = decode_all(&mut d, &hex("8286 84be 5886 a8eb 1064 9cbf")).unwrap();
        assert_eq!(second[4], ("cache-control".to_string(), "no-cache".to_string()));
        let third = decode_all(&mut d, &hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")).unwrap();
        assert_eq!(third[4], ("custom-key".to_string(), "custom-value".to_string()));
        assert_eq!(d.size, 164);
    }

    #[test]
    fn the_table_evicts_and_obeys_size_updates() {
        let mut d = Decoder::new(100);
        // Literal with indexing, new name: 4 + 4 + 32 = 40 bytes each.
        let entry =
            |n: &str, v: &str| [&[0x40, n.len() as u8][..], n.as_bytes(), &[v.len() as u8], v.as_bytes()].concat();
        decode_all(&mut d, &[entry("aaaa", "1111"), entry("bbbb", "2222"), entry("cccc", "3333")].concat()).unwrap();
        assert_eq!(d.dynamic.len(), 2, "the oldest was evicted");
        assert_eq!(decode_all(&mut d, &[0xbe]).unwrap(), pairs(&[("cccc", "3333")]));
        assert!(decode_all(&mut d, &[0xc0]).is_err(), "index beyond the table");
        // A size update to 0 empties it; one beyond the announced size is refused.
        decode_all(&mut d, &[0x20]).unwrap();
        assert!(d.dynamic.is_empty());
        assert!(decode_all(&mut d, &[0x3f, 0x50]).is_err());
        assert!(decode_all(&mut d, &[0x82, 0x20]).is_err(), "an update after a field");
    }

    #[test]
    fn broken_blocks_are_errors() {
        let mut d = Decoder::new(4096);
        for bad in [
            &[0x80][..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            &[0x41],
            &[0x41, 0x85, 0xff],
            &[0x40, 0x81, 0x00, 0x00],
        ] {
            assert!(decode_all(&mut d, bad).is_err(), "{bad:02x?}");
        }
        // Padding of 8 bits, and a padding that is not all ones.
        assert!(huffman_decode(&[0xff], &mut Vec::new()).is_err());
        assert!(huffman_decode(&hex("f1e3 c2e5 f23a 6ba0 ab90 f4fe"), &mut Vec::new()).is_err());
    }

    #[test]
    fn huffman_agrees_with_loona_hpack_on_every_input() {
        // loona-hpack's decoder is slow but straightforward: on pseudo-random inputs of
        // every length up to 12 bytes, both give the same result.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 13) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (x >> (i * 5)) as u8).collect();
            let mut ours = Vec::new();
            let ours = huffman_decode(&bytes, &mut ours).map(|_| ours);
            let theirs = loona_hpack::huffman::HuffmanDecoder::new().decode(&bytes);
            assert_eq!(ours.is_ok(), theirs.is_ok(), "{bytes:02x?}");
            if let (Ok(a), Ok(b)) = (ours, theirs) {
                assert_eq!(a, b);
            }
        }
        // Every symbol round-trips through its own code.
        for symbol in 0..256u16 {
            let c = canonical();
            let len = usize::from(CODE_LENGTHS[usize::from(symbol)]);
            let rank = (c.offset[len]..c.offset[len] + c.count[len] as u16)
                .position(|i| c.symbols[usize::from(i)] == symbol)
                .unwrap();
            let code = u64::from(c.first[len] + rank as u32);
            // Left-align, pad with ones to a whole byte.
            let pad = (8 - len % 8) % 8;
            let bits = code << pad | ((1u64 << pad) - 1);
            let bytes: Vec<u8> = (0..(len + pad) / 8).rev().map(|i| (bits >> (i * 8)) as u8).collect();
            let mut out = Vec::new();
            huffman_decode(&bytes, &mut out).unwrap();
            assert_eq!(out, [symbol as u8]);
        }
    }
}
