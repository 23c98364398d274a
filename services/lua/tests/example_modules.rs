//! The example modules the repository ships in `data/modules` (what the README's run
//! command loads) load and do what their comments say.

use std::sync::Arc;

use kaos_lua::{LuaRuntime, RuntimeConfig};
use kaosnet::rpc::RpcContext;
use kaosnet::store::MemoryStore;
use kaosnet::{ApiConfig, Code, DeviceAuthRequest, KaosNet};

#[test]
fn the_shipped_example_modules_load_and_work() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/modules");
    let kaos = KaosNet::new(Arc::new(MemoryStore::new()), ApiConfig::default(), Default::default());
    let runtime = LuaRuntime::start(&kaos, RuntimeConfig { path, ..RuntimeConfig::default() }).unwrap();
    assert_eq!(runtime.rpc_ids(), ["example_match_create", "greet"]);
    assert_eq!(runtime.match_names(), ["example_match"]);

    let r = DeviceAuthRequest { device_id: "example-device-1".into(), create: true, username: Some("ada".into()) };
    let user = kaos.accounts().authenticate_device(r).unwrap();
    let ctx = RpcContext { user_id: Some(user.user_id.clone()), username: Some("ada".into()), ..Default::default() };
    for times in 1..=2 {
        let answer: serde_json::Value = serde_json::from_str(&kaos.rpcs().call("greet", &ctx, "").unwrap()).unwrap();
        assert_eq!(answer, serde_json::json!({"greeting": "hello, ada", "times": times}));
    }

    // The before hook refuses client writes to `server_only`.
    let hook_ctx = kaosnet::hooks::HookContext { operation: "write_storage_objects".into(), ..Default::default() };
    let write = |c: &str| serde_json::json!({"objects": [{"collection": c, "key": "k", "value": "{}"}]});
    assert_eq!(kaos.hooks().run_before(&hook_ctx, write("server_only")).unwrap_err().code, Code::NotFound);
    assert!(kaos.hooks().run_before(&hook_ctx, write("saves")).is_ok());

    let made: serde_json::Value =
        serde_json::from_str(&kaos.rpcs().call("example_match_create", &ctx, "").unwrap()).unwrap();
    let id = made["match_id"].as_str().unwrap();
    let info = kaos.matches().get(id).unwrap();
    assert_eq!((info.label.as_str(), info.tick_rate), (r#"{"kind":"example"}"#, 5));
    assert_eq!(kaos.matches().signal(id, "").unwrap(), "{}");
    assert!(kaos.matches().stop(id, 0));
}
