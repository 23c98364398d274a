//! Every decoder over arbitrary bytes: typed errors, never a panic; whatever parses
//! re-emits to the same bytes' meaning.
#![no_main]

use kaos_core::wire::{DataHeader, Frame, FrameReader, HandshakeRepr, Packet, PacketType, DATA_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::new_checked(data) else { return };
    let _ = p.verify(0);
    match p.kind() {
        PacketType::Data => {
            if let Ok(h) = DataHeader::parse(&p) {
                let mut out = [0u8; DATA_HEADER_LEN];
                h.emit(&mut out).unwrap();
                assert_eq!(&out[8..], &data[8..DATA_HEADER_LEN]);
                for f in FrameReader::new(&data[DATA_HEADER_LEN..]) {
                    match f {
                        Ok(Frame::Message(m)) => {
                            let mut buf = vec![0u8; m.encoded_len()];
                            assert_eq!(m.emit(&mut buf).unwrap(), buf.len());
                            let again: Vec<_> = FrameReader::new(&buf).collect();
                            assert_eq!(again, vec![Ok(Frame::Message(m))]);
                        }
                        Ok(Frame::Ping | Frame::AckNow) => {}
                        Err(_) => break,
                    }
                }
            }
        }
        PacketType::Disconnect => {
            let _ = kaos_core::wire::parse_disconnect(&p);
        }
        _ => {
            if let Ok(r) = HandshakeRepr::parse(&p) {
                let mut buf = [0u8; 128];
                let n = r.emit(&mut buf).unwrap();
                let q = Packet::new_checked(&buf[..n]).unwrap();
                assert_eq!(HandshakeRepr::parse(&q).unwrap(), r);
            }
        }
    }
});
