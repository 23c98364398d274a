//! Realtime envelopes from any bytes, as a connected session sends them on either
//! transport and in either format (`realtime::receive`: every frame decoded typed,
//! or read as a tree where the typed readers refuse it): every reply is one object with a
//! single message (plus `cid`),
//! or a bare `cid` acknowledging a request,
//! and JSON requests with a `cid` get it back on the answer (an event for the caller,
//! such as the presence event of its own join, may follow it without one).
#![no_main]

use std::sync::{Arc, OnceLock};

use kaosnet::realtime::{receive, Format, SessionId, SocketSession};
use kaosnet::store::MemoryStore;
use kaosnet::KaosNet;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// A frame's cid, the rest skipped.
#[derive(serde::Deserialize)]
struct CidOnly {
    #[serde(default)]
    cid: Option<Value>,
}

fn services() -> &'static (Arc<KaosNet>, SocketSession) {
    static S: OnceLock<(Arc<KaosNet>, SocketSession)> = OnceLock::new();
    S.get_or_init(|| {
        let limits = kaosnet::hooks::OperationRateLimiter::new(kaosnet::hooks::RateLimits::NONE);
        let kaos = KaosNet::with_limits(Arc::new(MemoryStore::new()), Default::default(), Default::default(), limits);
        kaos.rpcs().register("echo", |_, p| Ok(p.to_string()));
        kaos.rpcs().register("fail", |_, _| Err(kaosnet::ApiError::invalid("no")));
        let session = SocketSession {
            id: SessionId::default(),
            user_id: "00000000-0000-4000-8000-000000000001".into(),
            username: "fuzz".into(),
            vars: Default::default(),
            status: false,
            format: Default::default(),
        };
        (kaos, session)
    })
}

fuzz_target!(|data: &[u8]| {
    let (kaos, session) = services();
    // The server's own reading of a JSON envelope (protojson's names: a field under both
    // its names is no message at all, answered without a cid).
    let strict = kaosnet::protojson::parse(data).ok();
    // An empty cid is no cid on the wire (protojson leaves out empty strings).
    let given = |c: &Value| !c.is_null() && c != "";
    let cid = strict.as_ref().and_then(|v| v.get("cid").filter(|c| given(c)).cloned());
    // The typed path reads game data without building the values it skips, so it takes
    // frames whose skipped parts a JSON tree cannot hold (a number out of range); its
    // answer still carries the request's own cid.
    let skimmed = serde_json::from_slice::<CidOnly>(data).ok().and_then(|c| c.cid).filter(given);
    let protobuf = SocketSession { format: Format::Protobuf, ..session.clone() };
    for s in [session, &protobuf] {
        for (i, reply) in receive(kaos, s, data).iter().enumerate() {
            let Value::Object(map) = reply else { panic!("not an object: {reply}") };
            // One message, or the bare `{"cid"}` that says a request is done.
            let messages = map.keys().filter(|k| *k != "cid").count();
            assert!(messages == 1 || (messages == 0 && map.contains_key("cid")), "{reply}");
            if i == 0 && s.format == Format::Json {
                let echoed = map.get("cid");
                assert!(echoed == cid.as_ref() || (strict.is_none() && echoed == skimmed.as_ref()), "{reply}");
            } else if i > 0 {
                assert!(map.get("cid").is_none() && map.keys().any(|k| k.ends_with("_presence_event")), "{reply}");
            }
            // What goes on the wire parses back.
            let _: Value = serde_json::from_str(&kaosnet::protojson::to_text(reply)).unwrap();
        }
    }
});
