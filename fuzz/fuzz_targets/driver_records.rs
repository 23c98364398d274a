//! The records an application writes to the media driver (commands, message headers) and
//! the driver's reports, decoded from arbitrary bytes: no panic, and whatever decodes
//! encodes back to the same meaning.
#![no_main]

use kaos_rudp::driver::proto::{get_to_driver, Command, Report, MAX_COMMAND};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(cmd) = Command::decode(data) {
        let mut buf = [0; MAX_COMMAND];
        let n = cmd.encode(&mut buf);
        assert_eq!(Command::decode(&buf[..n]), Some(cmd));
    }
    if let Some((r, payload)) = Report::get(data) {
        assert_eq!(payload.len() + 8, data.len());
        let mut buf = [0; 8];
        r.put(&mut buf);
        assert_eq!(Report::get(&buf).map(|(r, _)| r), Some(r));
    }
    if let Some((_, _, payload)) = get_to_driver(data) {
        assert_eq!(payload.len() + 8, data.len());
    }
});
