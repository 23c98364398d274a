//! One realtime message through the server's socket path, without the socket: the
//! envelope of a `match_data_send` (64 bytes of data, a relayed match of 8) decoded,
//! checked against the limits and hooks, dispatched, and its `match_data` event encoded
//! once for the other seven members. That is the per-message work of a socket thread
//! in a relayed match, before the `send()` calls.
//!
//! Rows: the JSON path as clients speak it; the protobuf path (the frame translated to
//! JSON at the socket's edge, as the server does today); and the protobuf encoding of
//! the event for protobuf recipients. Issue 21's goal is >= 5x fewer ns than the JSON
//! row, by dispatching typed envelopes instead of JSON trees.
//!
//! Peer: Nakama's socket path is Go and does not run here; this benchmark is the
//! baseline the typed path is measured against.
//!
//! `cargo bench -p kaos-benches --bench envelope` (about 10 s).

use std::sync::Arc;
use std::time::Instant;

use kaosnet::hooks::{Limit, OperationRateLimiter, RateLimits};
use kaosnet::realtime::protobuf::realtime::{envelope::Message, Envelope, MatchDataSend};
use kaosnet::realtime::tracker::{Presence, PresenceMeta, Stream, StreamMode};
use kaosnet::realtime::{envelope, Format, Frame, SessionId, SocketSession};
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
    // The limiter runs as shipped, with a limit this loop cannot reach.
    let unreachable = Limit { per_second: 1e12, burst: 1e12 };
    let limits = OperationRateLimiter::new(RateLimits::default()).with("match_data_send", unreachable);
    let kaos = KaosNet::with_limits(Arc::new(MemoryStore::new()), Default::default(), Default::default(), limits);
    let uuid = "6f1c2a8e-2f47-4c55-9d7e-3b1f0a9c8d11";
    let stream = Stream::new(StreamMode::MatchRelayed, uuid);
    for i in 1..=MEMBERS {
        let s = session(i, Format::Json);
        let presence =
            Presence { session: s.id, user_id: s.user_id, username: s.username, meta: PresenceMeta::default() };
        kaos.tracker.track(&stream, presence);
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
    let event = serde_json::json!({"match_data": {"match_id": match_id, "op_code": "1", "data": b64,
        "presence": {"user_id": sender.user_id, "session_id": sender.id.to_string(), "username": sender.username}}});
    let event_json = Frame::from_value(&event).json().to_string();
    let encode_ns = per_message(|| {
        let f = Frame::from_json(event_json.clone());
        std::hint::black_box(f.protobuf().map(<[u8]>::len));
    });

    println!("match_data_send through the socket path (no socket), relayed match of {MEMBERS}, 64-byte data:");
    println!("  JSON envelope: decode, limits, dispatch, event encoded once   {json_ns:>8.0} ns/message");
    println!("  protobuf envelope (translated to JSON at the edge), same path {protobuf_ns:>8.0} ns/message");
    println!("  the event's protobuf encoding for protobuf recipients         {encode_ns:>8.0} ns/message");
    println!("peer: Nakama's socket path (Go) does not run here; issue 21's goal is 5x fewer ns than the JSON row");
}
