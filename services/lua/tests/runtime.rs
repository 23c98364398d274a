//! The Lua runtime from a module directory, as kaos-server loads it: RPCs, the `kaos`
//! and `nakama` APIs over the services, the sandbox, budgets and errors, reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kaos_lua::{LuaError, LuaRuntime, RuntimeConfig};
use kaosnet::rpc::RpcContext;
use kaosnet::session::SessionConfig;
use kaosnet::store::MemoryStore;
use kaosnet::{ApiConfig, Code, KaosNet};

struct Modules(PathBuf);

impl Modules {
    fn new(files: &[(&str, &str)]) -> Modules {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kaos-lua-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let m = Modules(dir);
        for (name, text) in files {
            m.write(name, text);
        }
        m
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Modules {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn services() -> Arc<KaosNet> {
    KaosNet::new(Arc::new(MemoryStore::new()), ApiConfig::default(), SessionConfig::default())
}

fn start(kaos: &Arc<KaosNet>, modules: &Modules) -> Result<Arc<LuaRuntime>, LuaError> {
    let config = RuntimeConfig { path: modules.path().to_path_buf(), ..RuntimeConfig::default() };
    LuaRuntime::start(kaos, config)
}

const U1: &str = "00000000-0000-4000-8000-000000000001";
const U2: &str = "00000000-0000-4000-8000-000000000002";

/// Runs `f` with the runtime's logs captured: its result and what was logged.
fn logged<R>(f: impl FnOnce() -> R) -> (R, String) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || sink.clone()).finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    (out, text)
}

fn user(id: &str) -> RpcContext {
    RpcContext { user_id: Some(id.into()), username: Some(format!("name-{id}")), ..RpcContext::default() }
}

#[test]
fn rpcs_from_kaos_and_nakama_modules_answer_through_the_server_registry() {
    let modules = Modules::new(&[
        ("echo.lua", r#"kaos.register_rpc("Echo", function(ctx, payload) return ctx.user_id .. ":" .. payload end)"#),
        (
            "nk/hello.lua",
            r#"
            local nk = require("nakama")
            local function hello(context, payload)
                local input = nk.json_decode(payload)
                return nk.json_encode({ hello = input.name, by = context.username, mode = context.execution_mode })
            end
            nk.register_rpc(hello, "hello")
            "#,
        ),
    ]);
    let kaos = services();
    let runtime = start(&kaos, &modules).unwrap();
    assert_eq!(runtime.rpc_ids(), vec!["echo".to_string(), "hello".to_string()]);
    assert_eq!(kaos.rpcs().call("echo", &user("u1"), "ping").unwrap(), "u1:ping");
    let answer = kaos.rpcs().call("HELLO", &user("u2"), r#"{"name":"ada"}"#).unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer, serde_json::json!({"hello": "ada", "by": "name-u2", "mode": "rpc"}));
    assert_eq!(kaos.rpcs().call("missing", &user("u1"), "").unwrap_err().code, Code::NotFound);
}

#[test]
fn the_kaos_api_reaches_storage_and_leaderboards() {
    let modules = Modules::new(&[(
        "game.lua",
        r#"
        kaos.register_rpc("save", function(ctx, payload)
            kaos.storage_set(ctx.user_id, "profiles", "main", { level = 5, tags = {}, name = payload })
            local p = kaos.storage_get(ctx.user_id, "profiles", "main")
            local items = kaos.storage_list(ctx.user_id, "profiles", 10)
            return kaos.json_encode({ level = p.level, name = p.name, tags = p.tags, listed = #items,
                missing = kaos.storage_get(ctx.user_id, "profiles", "nope") == nil })
        end)
        kaos.register_rpc("forget", function(ctx)
            return tostring(kaos.storage_delete(ctx.user_id, "profiles", "main"))
        end)
        kaos.register_rpc("score", function(ctx, payload)
            kaos.leaderboard_create("weekly", { sort_order = "desc", operator = "best" })
            kaos.leaderboard_submit("weekly", ctx.user_id, ctx.username, tonumber(payload), { kills = 42 })
            local top = kaos.leaderboard_get_top("weekly", 10)
            local mine = kaos.leaderboard_get_record("weekly", ctx.user_id)
            local around = kaos.leaderboard_get_around("weekly", ctx.user_id, 5)
            return kaos.json_encode({ top = top[1].owner_id, score = mine.score, rank = mine.rank,
                kills = mine.metadata.kills, around = #around })
        end)
        "#,
    )]);
    let kaos = services();
    let _runtime = start(&kaos, &modules).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&kaos.rpcs().call("save", &user("u1"), "ada").unwrap()).unwrap();
    assert_eq!(saved, serde_json::json!({"level": 5, "name": "ada", "tags": {}, "listed": 1, "missing": true}));
    // Written through the same storage the REST API reads.
    let stored = kaos.storage().get("u1", "profiles", "main").unwrap().unwrap();
    let value: serde_json::Value = serde_json::from_str(&stored.value).unwrap();
    // An empty Lua table is an empty object, as in Nakama.
    assert_eq!(value, serde_json::json!({"level": 5, "name": "ada", "tags": {}}));
    assert_eq!(kaos.rpcs().call("forget", &user("u1"), "").unwrap(), "true");
    assert!(kaos.storage().get("u1", "profiles", "main").unwrap().is_none());

    kaos.rpcs().call("score", &user(U2), "700").unwrap();
    let scored: serde_json::Value =
        serde_json::from_str(&kaos.rpcs().call("score", &user(U1), "900").unwrap()).unwrap();
    assert_eq!(scored, serde_json::json!({"top": U1, "score": 900, "rank": 1, "kills": 42, "around": 2}));
    assert_eq!(kaos.leaderboards().get_record("weekly", U2).unwrap().unwrap().score, 700);
}

#[test]
fn errors_keep_their_codes_and_say_where_they_happened() {
    let modules = Modules::new(&[(
        "errors.lua",
        r#"
        kaos.register_rpc("coded", function() error({ "no such thing", 5 }) end)
        kaos.register_rpc("keyed", function() error({ message = "slow down", code = 8 }) end)
        local function broken(ctx) local t = nil; return t.field end
        kaos.register_rpc("broken", broken)
        kaos.register_rpc("service", function(ctx)
            -- A service's refusal keeps its code, and pcall sees its message.
            local ok, err = pcall(kaos.storage_set, ctx.user_id, "", "k", {})
            if ok then return "accepted" end
            return tostring(err) .. "|" .. tostring(err.code)
        end)
        kaos.register_rpc("badjson", function() return kaos.json_encode({ f = print }) end)
        kaos.register_rpc("number", function() return 42 end)
        "#,
    )]);
    let kaos = services();
    let _runtime = start(&kaos, &modules).unwrap();
    let e = kaos.rpcs().call("coded", &user("u"), "").unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (Code::NotFound, "no such thing"));
    let e = kaos.rpcs().call("keyed", &user("u"), "").unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (Code::ResourceExhausted, "slow down"));
    let (e, log) = logged(|| kaos.rpcs().call("broken", &user("u"), "").unwrap_err());
    // The client reads the message as Nakama gives it; the log says where, and in what.
    assert_eq!(e.code, Code::Internal);
    assert!(e.message.starts_with("attempt to index a nil value"), "{}", e.message);
    assert!(log.contains("RPC function 'broken' failed") && log.contains("errors.lua:4"), "{log}");
    assert!(log.contains("in function <errors.lua:4>"), "{log}");
    let answer = kaos.rpcs().call("service", &user("u"), "").unwrap();
    assert!(answer.starts_with("Invalid collection") && answer.ends_with("|3"), "{answer}");
    let (e, log) = logged(|| kaos.rpcs().call("badjson", &user("u"), "").unwrap_err());
    assert!(e.message.contains("cannot become JSON"), "{}", e.message);
    assert!(log.contains("errors.lua:12"), "{log}");
    let e = kaos.rpcs().call("number", &user("u"), "").unwrap_err();
    assert!(e.message.contains("returned a integer"), "{}", e.message);
}

#[test]
fn runaway_scripts_fail_their_own_call_and_the_runtime_goes_on() {
    let modules = Modules::new(&[(
        "runaway.lua",
        r#"
        kaos.register_rpc("loop", function() while true do end end)
        kaos.register_rpc("catching_loop", function()
            while true do pcall(function() while true do end end) end
        end)
        kaos.register_rpc("coroutine_loop", function()
            while true do coroutine.resume(coroutine.create(function() while true do end end)) end
        end)
        kaos.register_rpc("memory", function()
            local t = {}
            for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
        end)
        kaos.register_rpc("recursion", function()
            local function down(n) return 1 + down(n + 1) end
            return tostring(down(1))
        end)
        kaos.register_rpc("ok", function() return "still here" end)
        "#,
    )]);
    let kaos = services();
    let config = RuntimeConfig {
        path: modules.path().to_path_buf(),
        max_instructions: 2_000_000,
        memory_limit: 16 << 20,
        max_states: 2,
    };
    let _runtime = LuaRuntime::start(&kaos, config).unwrap();
    for id in ["loop", "catching_loop", "coroutine_loop"] {
        let (e, log) = logged(|| kaos.rpcs().call(id, &user("u"), "").unwrap_err());
        assert!(e.message.contains("instruction budget exceeded"), "{id}: {}", e.message);
        assert!(log.contains("runaway.lua:"), "{id}: {log}");
    }
    let e = kaos.rpcs().call("memory", &user("u"), "").unwrap_err();
    assert!(e.message.contains("memory limit (16 MiB)"), "{}", e.message);
    let e = kaos.rpcs().call("recursion", &user("u"), "").unwrap_err();
    let stopped = ["stack overflow", "memory limit", "budget"];
    assert!(stopped.iter().any(|s| e.message.contains(s)), "{}", e.message);
    for _ in 0..4 {
        assert_eq!(kaos.rpcs().call("ok", &user("u"), "").unwrap(), "still here");
    }
}

#[test]
fn the_sandbox_keeps_modules_from_files_processes_and_bytecode() {
    let modules = Modules::new(&[
        (
            "probe.lua",
            r#"
            local util = require("lib.util")
            kaos.register_rpc("probe", function()
                local seen = {}
                for _, name in ipairs({ "io", "debug", "package", "dofile", "loadfile", "collectgarbage" }) do
                    if _G[name] ~= nil then seen[#seen + 1] = name end
                end
                for _, name in ipairs({ "execute", "getenv", "remove", "rename", "exit", "tmpname" }) do
                    if os[name] ~= nil then seen[#seen + 1] = "os." .. name end
                end
                if string.dump ~= nil then seen[#seen + 1] = "string.dump" end
                local escaped = pcall(require, "../outside")
                local binary = load("\27Lua")
                return table.concat(seen, ",") .. "|" .. tostring(escaped) .. "|" .. tostring(binary)
                    .. "|" .. util.twice(21) .. "|" .. type(os.time())
            end)
            "#,
        ),
        ("lib/util.lua", "return { twice = function(n) return n * 2 end }"),
    ]);
    std::fs::write(modules.path().parent().unwrap().join("outside.lua"), "return 1").unwrap();
    let kaos = services();
    let _runtime = start(&kaos, &modules).unwrap();
    assert_eq!(kaos.rpcs().call("probe", &user("u"), "").unwrap(), "|false|nil|42|number");
}

#[test]
fn a_module_that_fails_to_load_fails_the_start_naming_it() {
    let kaos = services();
    let syntax = Modules::new(&[("good.lua", "local x = 1"), ("bad.lua", "local x = \nfunction(")]);
    match start(&kaos, &syntax).unwrap_err() {
        LuaError::Load { module, message } => {
            assert_eq!(module, "bad");
            assert!(message.contains("bad.lua:2"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let runtime = Modules::new(&[("boom.lua", "local t = {}\nt.x.y = 1")]);
    let e = start(&kaos, &runtime).unwrap_err();
    assert!(e.to_string().contains("boom.lua:2"), "{e}");
    let forever = Modules::new(&[("spin.lua", "while true do end")]);
    let e = start(&kaos, &forever).unwrap_err();
    assert!(e.to_string().contains("instruction budget exceeded"), "{e}");
}

#[test]
fn run_once_runs_once_per_server_and_module_code_once_per_state() {
    let modules = Modules::new(&[(
        "once.lua",
        r#"
        local nk = require("nakama")
        nk.run_once(function(ctx)
            local n = (kaos.storage_get("00000000-0000-0000-0000-000000000000", "boot", "count") or { n = 0 }).n
            kaos.storage_set("00000000-0000-0000-0000-000000000000", "boot", "count", { n = n + 1, mode = ctx.execution_mode })
        end)
        kaos.register_rpc("slow", function() local x = 0; for i = 1, 200000 do x = x + i end; return tostring(x) end)
        "#,
    )]);
    let kaos = services();
    let runtime = start(&kaos, &modules).unwrap();
    // Calls at once make more states; each runs the module again, run_once stays done.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    kaos.rpcs().call("slow", &user("u"), "").unwrap();
                }
            });
        }
    });
    assert!(runtime.stats().states >= 1);
    let boot = kaos.storage().get("00000000-0000-0000-0000-000000000000", "boot", "count").unwrap().unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&boot.value).unwrap(),
        serde_json::json!({"n": 1, "mode": "run_once"})
    );
}

#[test]
fn reload_swaps_in_changed_modules_and_a_broken_one_changes_nothing() {
    let modules = Modules::new(&[("v.lua", r#"kaos.register_rpc("version", function() return "one" end)"#)]);
    let kaos = services();
    let runtime = start(&kaos, &modules).unwrap();
    assert_eq!(kaos.rpcs().call("version", &user("u"), "").unwrap(), "one");
    modules.write("v.lua", r#"kaos.register_rpc("version", function() return "two" end)"#);
    modules.write("w.lua", r#"kaos.register_rpc("added", function() return "new" end)"#);
    runtime.reload().unwrap();
    assert_eq!(kaos.rpcs().call("version", &user("u"), "").unwrap(), "two");
    assert_eq!(kaos.rpcs().call("added", &user("u"), "").unwrap(), "new");
    assert_eq!(runtime.stats().generation, 2);
    modules.write("v.lua", "this is not Lua");
    let e = runtime.reload().unwrap_err();
    assert!(matches!(e, LuaError::Load { ref module, .. } if module == "v"), "{e:?}");
    assert_eq!(kaos.rpcs().call("version", &user("u"), "").unwrap(), "two");
}

#[test]
fn registering_outside_loading_is_refused() {
    let modules = Modules::new(&[(
        "late.lua",
        r#"kaos.register_rpc("late", function() kaos.register_rpc("x", function() end) end)"#,
    )]);
    let kaos = services();
    let _runtime = start(&kaos, &modules).unwrap();
    let e = kaos.rpcs().call("late", &user("u"), "").unwrap_err();
    assert!(e.message.contains("only while modules load"), "{}", e.message);
}

#[test]
fn hooks_change_refuse_and_observe_operations_by_either_name() {
    use kaosnet::hooks::HookContext;
    let modules = Modules::new(&[(
        "hooks.lua",
        r#"
        local nk = require("nakama")
        nk.register_req_before(function(ctx, payload)
            if payload.objects[1].collection == "forbidden" then return nil end
            payload.objects[1].value = '{"stamped":true}'
            return payload
        end, "WriteStorageObjects")
        kaos.register_hook("before", "channel_join", function(ctx, payload)
            error({ "rooms are closed", 9 })
        end)
        nk.register_rt_after(function(ctx, outgoing, incoming)
            kaos.storage_set(ctx.user_id, "seen", "join", { target = incoming.target, mode = ctx.execution_mode })
        end, "ChannelJoin")
        "#,
    )]);
    let kaos = services();
    let _runtime = start(&kaos, &modules).unwrap();
    let ctx = |op: &str| HookContext { operation: op.into(), user_id: Some(U1.into()), username: Some("u".into()) };
    let write =
        |collection: &str| serde_json::json!({"objects": [{"collection": collection, "key": "k", "value": "{}"}]});
    let changed = kaos.hooks().run_before(&ctx("write_storage_objects"), write("saves")).unwrap();
    assert_eq!(changed["objects"][0]["value"], "{\"stamped\":true}");
    let refused = kaos.hooks().run_before(&ctx("write_storage_objects"), write("forbidden")).unwrap_err();
    assert_eq!((refused.code, refused.message.as_str()), (Code::NotFound, "Requested resource was not found."));
    let closed = kaos.hooks().run_before(&ctx("channel_join"), serde_json::json!({"target": "lobby"})).unwrap_err();
    assert_eq!((closed.code, closed.message.as_str()), (Code::FailedPrecondition, "rooms are closed"));
    kaos.hooks().run_after(&ctx("channel_join"), &serde_json::json!({"target": "lobby"}), &serde_json::json!({}));
    let seen = kaos.storage().get(U1, "seen", "join").unwrap().unwrap();
    let seen: serde_json::Value = serde_json::from_str(&seen.value).unwrap();
    assert_eq!(seen, serde_json::json!({"target": "lobby", "mode": "after"}));

    let typo = Modules::new(&[(
        "typo.lua",
        r#"require("nakama").register_req_before(function() end, "WriteStorageObjectz")"#,
    )]);
    let e = start(&kaos, &typo).unwrap_err();
    assert!(e.to_string().contains("no operation is called \"WriteStorageObjectz\""), "{e}");
}

#[test]
fn seed_form_matches_run_as_registered_handlers() {
    let modules = Modules::new(&[(
        "seed.lua",
        r#"
        kaos.register_match("my_game", {
            match_init = function(ctx, params)
                return { state = { score = params.start or 0, ticks = 0 }, tick_rate = 30, label = "game-1" }
            end,
            match_loop = function(ctx, state, tick, messages)
                state.ticks = state.ticks + 1
                return state, {}
            end,
            match_signal = function(ctx, state, data)
                state.score = state.score + tonumber(data)
                return state, tostring(state.score) .. "/" .. ctx.match_label
            end,
        })
        kaos.register_match("no_loop", { match_init = function() return { state = {}, tick_rate = 1 } end })
        "#,
    )]);
    let kaos = services();
    let runtime = start(&kaos, &modules).unwrap();
    assert_eq!(runtime.match_names(), ["my_game", "no_loop"]);
    let id = kaos.matches().create(&kaos, "my_game", &serde_json::json!({"start": 5})).unwrap();
    let info = kaos.matches().get(&id).unwrap();
    assert_eq!((info.label.as_str(), info.tick_rate, info.handler_name.as_str()), ("game-1", 30, "my_game"));
    assert_eq!(kaos.matches().signal(&id, "2").unwrap(), "7/game-1");
    assert_eq!(kaos.matches().signal(&id, "3").unwrap(), "10/game-1");
    assert!(kaos.matches().stop(&id, 0));
    let e = kaos.matches().create(&kaos, "no_loop", &serde_json::Value::Null).unwrap_err();
    assert!(e.message.contains("match_loop not found"), "{}", e.message);
}
