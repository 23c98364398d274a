//! The console's Lua routes: what the modules registered, RPCs called as a player or as
//! the server, snippets run in a sandbox of their own, and a Lua match's state. (Reloading
//! from the console with a socket connected is in `rest.rs`.)

mod common;

use common::console::{login, team, ADMIN_PASSWORD};
use common::{bearer, call_at};
use kaos_server::config::Config;
use serde_json::{json, Value};

const MODULE: &str = r#"
local nk = require("nakama")
nk.register_rpc(function(context, payload)
    return (context.user_id or "server") .. ":" .. payload
end, "whoami")
nk.register_req_before(function(context, payload) return payload end, "GetAccount")
nk.register_rpc(function(context, payload) error({ "players only", 16 }) end, "players_only")
"#;

const COUNTER: &str = r#"
local M = {}
function M.match_init(context, params) return { count = 0, names = { "a", "b" } }, 5, "counter" end
function M.match_join_attempt(context, dispatcher, tick, state, presence, metadata) return state, true end
function M.match_join(context, dispatcher, tick, state, presences) return state end
function M.match_leave(context, dispatcher, tick, state, presences) return state end
function M.match_loop(context, dispatcher, tick, state, messages) state.count = state.count + 1 return state end
function M.match_terminate(context, dispatcher, tick, state, grace_seconds) return state end
function M.match_signal(context, dispatcher, tick, state, data) return state, "" end
return M
"#;

fn post(console: std::net::SocketAddr, path: &str, auth: &str, body: Value) -> (u16, Value) {
    call_at(console, "POST", path, auth, &body.to_string())
}

#[test]
fn modules_are_listed_rpcs_called_and_snippets_run_in_a_sandbox() {
    let dir = std::env::temp_dir().join(format!("kaos-console-lua-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tools.lua"), MODULE).unwrap();
    std::fs::write(dir.join("counter.lua"), COUNTER).unwrap();
    let config = Config {
        runtime: kaos_lua::RuntimeConfig { path: dir.clone(), ..kaos_lua::RuntimeConfig::default() },
        ..common::console::config()
    };
    let server = kaos_server::start(&config, |_| {}).unwrap();
    let console = server.console_addr.unwrap();
    let admin = bearer(&login(console, "admin", ADMIN_PASSWORD).1["token"]);
    let (dev, viewer) = team(console, &admin, "luadev", "luaview");

    let (status, runtime) = call_at(console, "GET", "/v2/console/runtime", &viewer, "");
    assert_eq!(status, 200, "{runtime}");
    let names: Vec<&str> = runtime["modules"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["counter", "tools"]);
    assert_eq!(runtime["rpcs"], json!(["players_only", "whoami"]));
    assert_eq!(runtime["matches"], json!(["counter"]));
    assert_eq!(runtime["hooks"], json!([{"side": "before", "operation": "get_account"}]));
    let (_, status_page) = call_at(console, "GET", "/v2/console/status", &viewer, "");
    assert_eq!(
        (status_page["lua_modules"].as_u64(), status_page["database"].as_str()),
        (Some(2), Some("memory (nothing is kept)"))
    );

    // An RPC as the server, and as a player.
    let (status, answer) = post(console, "/v2/console/runtime/rpc/whoami", &dev, json!({"payload": "hi"}));
    assert_eq!((status, answer["payload"].as_str()), (200, Some("server:hi")), "{answer}");
    let request = kaosnet::DeviceAuthRequest { device_id: "lua-console-dev".into(), create: true, username: None };
    let user = server.kaos.accounts().authenticate_device(request).unwrap().user_id;
    let (_, answer) = post(console, "/v2/console/runtime/rpc/whoami", &dev, json!({"payload": "x", "user_id": user}));
    assert_eq!(answer["payload"].as_str(), Some(format!("{user}:x").as_str()));
    assert_eq!(post(console, "/v2/console/runtime/rpc/nope", &dev, json!({})).0, 404);
    // An RPC's own Unauthenticated is its failure, not the console session's: never 401.
    let (status, refused) = post(console, "/v2/console/runtime/rpc/players_only", &dev, json!({}));
    assert_eq!((status, refused["message"].as_str()), (400, Some("players only")), "{refused}");
    assert_eq!(post(console, "/v2/console/runtime/rpc/whoami", &viewer, json!({})).0, 403);

    // Snippets: what they return and print; the modules are there to require.
    let run = |code: &str| post(console, "/v2/console/runtime/execute", &dev, json!({ "code": code }));
    let (status, out) = run(r#"print("sum", 1 + 2) return 1 + 2, { ok = true }, require("nakama") ~= nil"#);
    assert_eq!(status, 200, "{out}");
    assert_eq!((&out["result"], &out["output"]), (&json!([3, {"ok": true}, true]), &json!(["sum\t3"])));
    // The same sandbox as modules (no os.execute, no io), its own budget and memory.
    assert_eq!(run("return os.execute == nil, io == nil").1["result"], json!([true, true]));
    let (status, out) = run("while true do end");
    assert_eq!(status, 400);
    assert!(out["message"].as_str().unwrap().contains("instruction budget exceeded"), "{out}");
    let (status, out) = run("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024) end");
    assert_eq!(status, 400);
    assert!(out["message"].as_str().unwrap().contains("memory"), "{out}");
    let (status, out) = run("return (");
    assert_eq!(status, 400);
    assert!(out["message"].as_str().unwrap().contains("does not compile"), "{out}");
    // A snippet's globals and changes do not outlive it.
    assert_eq!(run("leaked = 42 string.upper = nil return leaked").1["result"], json!([42]));
    assert_eq!(run("return leaked, string.upper('a')").1["result"], json!([null, "A"]));
    assert_eq!(post(console, "/v2/console/runtime/execute", &viewer, json!({"code": "return 1"})).0, 403);

    // A Lua match's state, as its script keeps it.
    let id = server.kaos.matches().create(&server.kaos, "counter", &Value::Null).unwrap();
    let (status, state) = call_at(console, "GET", &format!("/v2/console/match/{id}/state"), &viewer, "");
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["state"]["names"], json!(["a", "b"]));
    assert!(state["state"]["count"].as_u64().is_some(), "{state}");

    // The metrics count the Lua calls and the match's ticks.
    let metric = |text: &str, name: &str| -> f64 {
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
    };
    let mut tries = 0;
    let text = loop {
        let (status, body) = call_at(console, "GET", "/metrics", "", "");
        assert_eq!(status, 200);
        let text = body.as_str().unwrap().to_string();
        if metric(&text, "kaos_match_tick_seconds_count") > 0.0 {
            break text;
        }
        tries += 1;
        assert!(tries < 1000, "the match never ticked");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(metric(&text, "kaos_lua_calls_total{result=\"ok\"}") >= 2.0, "{text}");
    server.shutdown();
    server.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
