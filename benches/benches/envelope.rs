//! One realtime message through the server's socket path, without the socket: the
//! envelope of a `match_data_send` (64 bytes of data, a relayed match of 8) decoded,
//! checked against the limits and hooks, dispatched, and its `match_data` event encoded
//! once for the other seven members. That is the per-message work of a socket thread
//! in a relayed match, before the `send()` calls.
//!
//! Rows, each in JSON and in protobuf: the JSON-tree path (`realtime::envelope`: the
//! message read as a `serde_json::Value` tree; a protobuf frame translated to JSON at the
//! socket's edge first), which a data message with hooks, or behind a busy lane, still
//! takes; and the typed path the socket thread takes otherwise (`realtime::receive`: the
//! frame read straight into the message). Both build the event typed; its encoding, once
//! per recipients' format, is its own row (which builds the event again: building alone
//! is a row too, and the totals take it out). Before issue 21 every message took the
//! tree path and the event was a tree written as JSON text: 2,267-2,376 ns for JSON over
//! the runs of that code (79ee716) beside these (benches/README.md); the goal is >= 5x
//! fewer. To compare again, build 79ee716 in a worktree with its own target directory
//! and run the two binaries in turn.
//!
//! Peer: Nakama's socket path is Go and does not run here; this benchmark is the
//! baseline the typed path is measured against.
//!
//! `cargo bench -p kaos-benches --bench envelope` (about 10 s).

use std::sync::Arc;
use std::time::Instant;

use kaosnet::hooks::{Limit, OperationRateLimiter, RateLimits};
use kaosnet::realtime::protobuf::realtime::{envelope::Message, Envelope, MatchDataSend};
use kaosnet::realtime::protobuf::realtime::{MatchData, UserPresence};
use kaosnet::realtime::tracker::{Presence, PresenceMeta, Stream, StreamMode};
use kaosnet::realtime::{envelope, receive, Format, Frame, SessionId, SocketSession};
use kaosnet::store::MemoryStore;
use kaosnet::KaosNet;
use prost::Message as _;

/// kaos-server's allocator, so the figures are those of the server as it ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MESSAGES: u32 = 200_000;
const MEMBERS: u64 = 8;

fn session(i: u64, format: Format) -> SocketSession {
    SocketSession {
        id: SessionId::from_raw(i),
        user_id: format!("00000000-0000-4000-8000-{i:012}"),
        username: format!("player{i}"),
        vars: Default::default(),
        status: false,
        format,
    }
}

/// Nanoseconds per call of `f`, the best of three rounds.
fn per_message(mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..MESSAGES {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(MESSAGES)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // Logs and spans as kaos-server ships them (INFO; the socket's spans are DEBUG).
    let _tracing = kaosnet::telemetry::init_tracing(kaosnet::telemetry::TracingConfig::default()).unwrap();
    // The limiter runs as kaos-server ships it (a limit per class, none per operation),
    // with a realtime limit this loop cannot reach.
    let unreachable = Limit { per_second: 1e12, burst: 1e12 };
    let limits = OperationRateLimiter::new(RateLimits { realtime: Some(unreachable), ..RateLimits::default() });
    let kaos = KaosNet::with_limits(Arc::new(MemoryStore::new()), Default::default(), Default::default(), limits);
    let uuid = "6f1c2a8e-2f47-4c55-9d7e-3b1f0a9c8d11";
    let stream = Stream::new(StreamMode::MatchRelayed, uuid);
    for i in 1..=MEMBERS {
        let s = session(i, Format::Json);
        let presence =
            Presence { session: s.id, user_id: s.user_id, username: s.username, meta: PresenceMeta::default() };
        kaos.tracker().track(&stream, presence);
    }
    let match_id = format!("{uuid}.");
    let data = vec![7u8; 64];
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &data);
    let json = serde_json::json!({"match_data_send": {"match_id": match_id, "op_code": "1", "data": b64}}).to_string();
    let send = MatchDataSend { match_id: match_id.clone(), op_code: 1, data: data.clone(), ..Default::default() };
    let frame = Envelope { cid: String::new(), message: Some(Message::MatchDataSend(send)) }.encode_to_vec();

    let sender = session(1, Format::Json);
    let replies = envelope(&kaos, &sender, json.as_bytes());
    assert!(replies.is_empty(), "match data gets no answer: {replies:?}");
    let json_ns = per_message(|| {
        std::hint::black_box(envelope(&kaos, &sender, std::hint::black_box(json.as_bytes())));
    });
    let pb_sender = session(1, Format::Protobuf);
    let protobuf_ns = per_message(|| {
        let as_json = kaosnet::realtime::protobuf::decode_to_json(std::hint::black_box(&frame)).unwrap();
        std::hint::black_box(envelope(&kaos, &pb_sender, &as_json));
    });
    // The typed path: the same messages; the frames built find no socket, so their
    // encoding, which a socket thread does once per format, is measured on its own.
    assert!(receive(&kaos, &sender, json.as_bytes()).is_empty());
    assert!(receive(&kaos, &pb_sender, &frame).is_empty());
    let typed_json_ns = per_message(|| {
        std::hint::black_box(receive(&kaos, &sender, std::hint::black_box(json.as_bytes())));
    });
    let typed_pb_ns = per_message(|| {
        std::hint::black_box(receive(&kaos, &pb_sender, std::hint::black_box(&frame)));
    });
    let presence = UserPresence {
        user_id: sender.user_id.clone(),
        session_id: sender.id.to_string(),
        username: sender.username.clone(),
        ..Default::default()
    };
    let event = || {
        let m = MatchData {
            match_id: match_id.clone(),
            presence: Some(presence.clone()),
            op_code: 1,
            data: data.clone(),
            reliable: false,
        };
        Frame::from_message(Message::MatchData(m))
    };
    // The typed path builds its event once; the rows below build one again to write it,
    // so the totals take that building out (measured on its own).
    let build_ns = per_message(|| {
        std::hint::black_box(event());
    });
    let encode_json_ns = per_message(|| {
        std::hint::black_box(event().json().len());
    });
    let encode_pb_ns = per_message(|| {
        std::hint::black_box(event().protobuf().map(<[u8]>::len));
    });

    println!("match_data_send through the socket path (no socket), relayed match of {MEMBERS}, 64-byte data:");
    println!("  JSON-tree path, JSON: decode, limits, dispatch, event built          {json_ns:>8.0} ns/message");
    println!("  JSON-tree path, protobuf (translated to JSON at the edge), the same  {protobuf_ns:>8.0} ns/message");
    println!("  typed path, JSON: decode, limits, dispatch, event built              {typed_json_ns:>8.0} ns/message");
    println!("  typed path, protobuf: the same                                       {typed_pb_ns:>8.0} ns/message");
    println!("  the typed event written once as JSON (building it included)         {encode_json_ns:>8.0} ns/message");
    println!("  the typed event written once as protobuf (building it included)      {encode_pb_ns:>8.0} ns/message");
    println!("  the typed event built again (in both rows above, not in the totals)   {build_ns:>8.0} ns/message");
    let (write_json, write_pb) = (encode_json_ns - build_ns, encode_pb_ns - build_ns);
    let (json_total, pb_total) = (typed_json_ns + write_json, typed_pb_ns + write_pb);
    println!(
        "  typed path with its event written: JSON {json_total:.0} ns, protobuf {pb_total:.0} ns \
         (JSON-tree path with the same encoding: {:.0} ns, {:.0} ns)",
        json_ns + write_json,
        protobuf_ns + write_pb
    );
    println!("peer: Nakama's socket path (Go) does not run here; the baseline is the code before issue 21");
}
