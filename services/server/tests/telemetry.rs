//! Traces: a REST call to a Lua RPC that writes storage makes one span tree (`rest`, then
//! `lua_rpc`, then `storage`), exported through OpenTelemetry; with the `otlp` feature,
//! spans reach a collector over OTLP/HTTP.

mod common;

use std::collections::HashMap;

use common::{basic, bearer, call_at};
use kaos_server::config::{Config, Database};
use kaosnet::telemetry::{subscriber, TracingConfig};
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor};
use serde_json::json;

const MODULE: &str = r#"
local nk = require("nakama")
nk.register_rpc(function(context, payload)
    nk.storage_write({ { collection = "saves", key = "slot", user_id = context.user_id, value = { n = 1 } } })
    return "saved"
end, "save")
"#;

#[test]
fn a_rest_call_to_a_lua_rpc_that_writes_storage_is_one_span_tree() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_span_processor(SimpleSpanProcessor::new(exporter.clone())).build();
    // The seed's level: storage spans are DEBUG.
    let config = TracingConfig::new("kaos-test").with_level("info,kaosnet=debug").with_json();
    let writer = tracing_subscriber_writer();
    let installed = subscriber(&config, Some(provider.tracer("kaos-test")), writer).unwrap();
    // Handlers run on the server's worker threads: the subscriber must be the process's.
    tracing::subscriber::set_global_default(installed).unwrap();

    let dir = std::env::temp_dir().join(format!("kaos-telemetry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("save.lua"), MODULE).unwrap();
    let server = kaos_server::start(
        &Config {
            address: "127.0.0.1".into(),
            port: 0,
            rudp_port: None,
            console_port: None,
            database: Database::Memory,
            runtime: kaos_lua::RuntimeConfig { path: dir.clone(), ..kaos_lua::RuntimeConfig::default() },
            ..Config::default()
        },
        |_| {},
    )
    .unwrap();
    let path = "/v2/account/authenticate/device?create=true";
    let (status, session) =
        call_at(server.addr, "POST", path, &basic("defaultkey"), &json!({"id": "telemetry-device-01"}).to_string());
    assert_eq!(status, 200, "{session}");
    let (status, answer) = call_at(server.addr, "POST", "/v2/rpc/save", &bearer(&session["token"]), "\"go\"");
    assert_eq!((status, answer["payload"].as_str()), (200, Some("saved")), "{answer}");
    server.shutdown();
    server.wait().unwrap();
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let attr = |s: &opentelemetry_sdk::trace::SpanData, key: &str| {
        s.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.as_str().to_string())
    };
    let rest = spans
        .iter()
        .find(|s| s.name == "rest" && attr(s, "operation").as_deref() == Some("rpc"))
        .unwrap_or_else(|| panic!("no rest span for the rpc: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()));
    assert_eq!(attr(rest, "id").as_deref(), Some("save"));
    assert_eq!(attr(rest, "result").as_deref(), Some("ok"));
    assert_eq!(rest.parent_span_id, SpanId::INVALID, "the REST call is the root");
    let by_id: HashMap<SpanId, &opentelemetry_sdk::trace::SpanData> =
        spans.iter().map(|s| (s.span_context.span_id(), s)).collect();
    let children = |parent: SpanId, name: &str| {
        spans.iter().filter(|s| s.parent_span_id == parent && s.name == name).collect::<Vec<_>>()
    };
    let lua = children(rest.span_context.span_id(), "lua_rpc");
    assert_eq!(lua.len(), 1, "one Lua call under the REST call");
    assert_eq!(attr(lua[0], "id").as_deref(), Some("save"));
    let storage = children(lua[0].span_context.span_id(), "storage");
    assert_eq!(storage.len(), 1, "one storage write under the Lua call");
    assert_eq!(attr(storage[0], "operation").as_deref(), Some("write"));
    let trace = rest.span_context.trace_id();
    for s in [lua[0], storage[0]] {
        assert_eq!(s.span_context.trace_id(), trace);
        assert!(by_id.contains_key(&s.parent_span_id));
    }
    // The sign-in before it was a trace of its own.
    let auth = spans.iter().find(|s| attr(s, "operation").as_deref() == Some("authenticate_device")).unwrap();
    assert_ne!(auth.span_context.trace_id(), trace);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Logs go to the test's captured output.
fn tracing_subscriber_writer() -> impl for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static {
    tracing_subscriber::fmt::TestWriter::new()
}

/// A collector on loopback: the OTLP/HTTP export's requests arrive at kaos-http.
#[cfg(feature = "otlp")]
#[test]
fn spans_reach_a_collector_over_otlp_http() {
    use std::sync::{Arc, Mutex};

    type Received = Vec<(Option<String>, Vec<u8>)>;
    let got: Arc<Mutex<Received>> = Arc::default();
    let mut routes = kaos_http::Router::new();
    let sink = got.clone();
    routes.post("/v1/traces", move |req| {
        sink.lock().unwrap().push((req.header("content-type").map(str::to_string), req.body.to_vec()));
        kaos_http::Response::with_body(200, "application/x-protobuf", Vec::new())
    });
    let mut collector =
        kaos_http::HttpServer::bind("127.0.0.1:0".parse().unwrap(), routes, kaos_http::HttpConfig::default()).unwrap();
    let addr = collector.local_addr().unwrap();
    let stop = collector.shutdown_handle();
    let thread = std::thread::spawn(move || collector.run());

    let provider = kaosnet::telemetry::otlp_provider(&format!("http://{addr}"), "kaos-otlp-test").unwrap();
    let config = TracingConfig::new("kaos-otlp-test").with_level("debug");
    let local = subscriber(&config, Some(provider.tracer("kaos-otlp-test")), tracing_subscriber_writer()).unwrap();
    tracing::subscriber::with_default(local, || {
        let storage = kaosnet::Storage::new();
        storage.set("00000000-0000-4000-8000-000000000001", "saves", "k", json!({"a": 1})).unwrap();
    });
    provider.force_flush().unwrap();
    let requests = got.lock().unwrap().clone();
    assert!(!requests.is_empty(), "the collector got nothing");
    let (content_type, body) = &requests[0];
    assert_eq!(content_type.as_deref(), Some("application/x-protobuf"));
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"storage") && has(b"kaos-otlp-test"), "the span and the service name are in the export");
    provider.shutdown().unwrap();
    stop.shutdown();
    thread.join().unwrap().unwrap();

    // A collector that is gone: the export fails within its timeout, nothing hangs.
    let provider = kaosnet::telemetry::otlp_provider(&format!("http://{addr}"), "kaos-otlp-test").unwrap();
    let local = subscriber(&config, Some(provider.tracer("t")), tracing_subscriber_writer()).unwrap();
    tracing::subscriber::with_default(local, || tracing::info_span!("orphan").in_scope(|| {}));
    assert!(provider.force_flush().is_err());
    assert!(kaosnet::telemetry::otlp_provider("https://x:4318", "t").is_err(), "https is refused clearly");
}
