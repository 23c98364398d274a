//! `require("nakama")` as Nakama modules use it: each function's argument order, return
//! shape and errors, checked against the services it reaches.

use std::sync::Arc;

use kaos_lua::{LuaRuntime, RuntimeConfig};
use kaosnet::rpc::RpcContext;
use kaosnet::session::SessionConfig;
use kaosnet::store::MemoryStore;
use kaosnet::{ApiConfig, DeviceAuthRequest, KaosNet};

const MODULE: &str = r#"
local nk = require("nakama")

local function check(cond, what) if not cond then error("check failed: " .. what, 2) end end

nk.register_rpc(function(ctx, payload)
    local ids = nk.json_decode(payload)
    local a, b = ids.a, ids.b

    -- storage
    local acks = nk.storage_write({
        { collection = "saves", key = "slot1", user_id = a, value = { hp = 10 } },
        { collection = "saves", key = "slot2", user_id = a, value = { hp = 20 }, permission_read = 2 },
        { collection = "config", key = "global", value = { motd = "hi" } },
    })
    check(#acks == 3 and acks[1].version ~= nil and acks[3].user_id == "00000000-0000-0000-0000-000000000000", "storage_write acks")
    local read = nk.storage_read({ { collection = "saves", key = "slot2", user_id = a }, { collection = "saves", key = "none", user_id = a } })
    check(#read == 1 and read[1].value.hp == 20 and read[1].permission_read == 2 and read[1].user_id == a, "storage_read")
    local objects, cursor = nk.storage_list(a, "saves", 1)
    check(#objects == 1 and cursor ~= nil, "storage_list page 1")
    local rest, last = nk.storage_list(a, "saves", 10, cursor)
    check(#rest == 1 and last == nil, "storage_list page 2")
    local ok, err = pcall(nk.storage_write, { { collection = "saves", key = "slot1", user_id = a, value = { hp = 1 }, version = "stale" } })
    check(not ok, "version check")
    nk.storage_delete({ { collection = "saves", key = "slot1", user_id = a } })
    check(#nk.storage_read({ { collection = "saves", key = "slot1", user_id = a } }) == 0, "storage_delete")

    -- accounts and users
    local account = nk.account_get_id(a)
    check(account.user_id == a and account.username == "alice" and account.user.username == "alice" and #account.devices == 1, "account_get_id")
    nk.account_update_id(a, { vip = true }, "alice2", "Alice")
    check(nk.account_get_id(a).metadata.vip == true, "account metadata from server code")
    local users = nk.users_get_id({ a, b })
    check(#users == 2, "users_get_id")
    local named = nk.users_get_username({ "alice2" })
    check(#named == 1 and named[1].display_name == "Alice", "users_get_username")

    -- wallets
    local updated, previous = nk.wallet_update(a, { gold = 100, gems = 5 }, { reason = "quest" }, true)
    check(updated.gold == 100 and previous.gold == nil, "wallet_update")
    local ok, err = pcall(nk.wallet_update, a, { gold = -101 })
    check(not ok and tostring(err):find("negative value at path 'gold'"), "wallet refuses negatives")
    check(nk.account_get_id(a).wallet.gems == 5, "account wallet")
    local ledger = nk.wallet_ledger_list(a)
    check(#ledger == 1 and ledger[1].changeset.gold == 100 and ledger[1].metadata.reason == "quest", "wallet_ledger_list")

    -- leaderboards
    nk.leaderboard_create("lua_board", false, "desc", "best", "", { season = 1 })
    local record = nk.leaderboard_record_write("lua_board", a, "alice2", 100, 0, { weapon = "axe" })
    check(record.score == 100 and record.metadata.weapon == "axe", "leaderboard_record_write")
    nk.leaderboard_record_write("lua_board", b, "bob", 300)
    local records, owners, next_cursor, prev_cursor, count = nk.leaderboard_records_list("lua_board", { a }, 10)
    check(#records == 2 and records[1].owner_id == b and #owners == 1 and owners[1].rank == 2 and count == 2, "leaderboard_records_list")
    nk.leaderboard_delete("lua_board")
    check(not pcall(nk.leaderboard_records_list, "lua_board", nil, 10), "leaderboard_delete")

    -- tournaments
    nk.tournament_create("lua_cup", true, "desc", "best", 3600, "", nil, "Cup", "A cup", 1, 0, 0, 0, 0, true)
    nk.tournament_join("lua_cup", a, "alice2")
    local t = nk.tournament_record_write("lua_cup", a, "alice2", 7)
    check(t.score == 7, "tournament_record_write")
    -- max_num_score 2: a third write is refused until an attempt is added.
    nk.tournament_create("lua_cup2", true, "desc", "best", 3600, "", nil, "Cup 2", "", 1, 0, 0, 0, 2, false)
    nk.tournament_record_write("lua_cup2", a, "alice2", 1)
    nk.tournament_record_write("lua_cup2", a, "alice2", 2)
    check(not pcall(nk.tournament_record_write, "lua_cup2", a, "alice2", 3), "attempts run out")
    nk.tournament_add_attempt("lua_cup2", a, 1)
    check(nk.tournament_record_write("lua_cup2", a, "alice2", 3).max_num_score == 3, "tournament_add_attempt")
    local trecords = nk.tournament_records_list("lua_cup", nil, 10)
    check(#trecords == 1, "tournament_records_list")
    local refused, why = pcall(nk.tournament_record_write, "lua_cup", b, "bob", 9)
    check(not refused, "join required")

    -- notifications
    nk.notification_send(b, "hello", { from = "lua" }, 101, a, true)
    nk.notifications_send({ { user_id = b, subject = "again", content = {}, code = 102, persistent = true } })
    check(not pcall(nk.notification_send, "not-a-uuid", "s", {}, 1), "notification user id")

    -- friends and groups
    nk.friends_add(a, nil, { b })
    local friends, fcursor = nk.friends_list(a, 10)
    check(#friends == 1 and friends[1].user.user_id == b and friends[1].state == 1, "friends_list")
    local group = nk.group_create(a, "lua-group-" .. nk.uuid_v4():sub(1, 8), nil, "en", "from Lua", "", true, { tier = 1 }, 10)
    check(group.creator_id == a and group.open and group.metadata.tier == 1, "group_create")
    nk.group_user_join(group.id, b, "bob")
    local members = nk.group_users_list(group.id, 10)
    check(#members == 2, "group_users_list")
    local mine = nk.user_groups_list(b, 10)
    check(#mine == 1 and mine[1].group.id == group.id and mine[1].state == 2, "user_groups_list")
    nk.group_user_leave(group.id, b, "bob")
    check(#nk.group_users_list(group.id, 10) == 1, "group_user_leave")
    -- The seed's module reaches the same services.
    check(kaos.account_get_id(a).username == "alice2" and #kaos.user_groups_list(a, 10) == 1, "kaos has the services")

    -- chat
    local room = nk.channel_id_build(nil, "lua-room", 1)
    check(room == "2...lua-room", "channel_id_build")
    local ack = nk.channel_message_send(room, { text = "from lua" }, a, "alice2", true)
    check(ack.message_id ~= nil and ack.channel_id == room and ack.persistent, "channel_message_send")
    check(not pcall(nk.channel_message_send, "9.x.y.z", {}), "a bad channel id is refused")

    -- matches (arena.lua beside this module)
    local match_id = nk.match_create("arena", { mode = "lua-test" })
    local listed = nk.match_list(10, true, nil, 0, 10, "+label.mode:lua-test")
    check(#listed == 1 and listed[1].match_id == match_id and listed[1].handler_name == "arena", "match_list")
    check(nk.match_get(match_id).label == '{"mode":"lua-test"}' and nk.match_get("nope") == nil, "match_get")
    check(nk.match_signal(match_id, "hi") == "got hi", "match_signal")

    -- utilities
    check(nk.base64_decode(nk.base64_encode("kaos")) == "kaos", "base64")
    check(nk.base64_encode("a", false) == "YQ", "base64 without padding")
    check(#nk.uuid_v4() == 36, "uuid_v4")
    check(nk.time() > 1700000000000, "time in ms")
    check(nk.cron_next("0 0 * * *", 1700000000) == 1700006400, "cron_next")
    local jwt = nk.jwt_generate("HS256", "secret", { sub = "x" })
    check(select(2, jwt:gsub("%.", "")) == 2, "jwt_generate")
    check(nk.logger_info("logged") == "logged", "logger_info returns its message")
    nk.event("lua_event", { k = "v" })
    check(nk.json_encode({}) == "{}" and nk.json_encode({ 1, 2 }) == "[1,2]", "json_encode")
    check(nk.json_decode('{"a":[1,null,3]}').a[3] == 3, "json_decode")
    return "all checked"
end, "nakama_api")
"#;

const ARENA: &str = r#"
local nk = require("nakama")
local M = {}
function M.match_init(ctx, params) return {}, 1, nk.json_encode({ mode = params.mode }) end
function M.match_join_attempt(ctx, d, tick, state, presence, metadata) return state, true end
function M.match_join(ctx, d, tick, state, presences) return state end
function M.match_leave(ctx, d, tick, state, presences) return state end
function M.match_loop(ctx, d, tick, state, messages) return state end
function M.match_terminate(ctx, d, tick, state, grace) return state end
function M.match_signal(ctx, d, tick, state, data) return state, "got " .. data end
return M
"#;

#[test]
fn every_nakama_function_from_lua() {
    let dir = std::env::temp_dir().join(format!("kaos-lua-nakama-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("api.lua"), MODULE).unwrap();
    std::fs::write(dir.join("arena.lua"), ARENA).unwrap();
    let kaos = KaosNet::new(Arc::new(MemoryStore::new()), ApiConfig::default(), SessionConfig::default());
    let sign_up = |device: &str, name: &str| {
        let r = DeviceAuthRequest { device_id: device.into(), create: true, username: Some(name.into()) };
        kaos.accounts().authenticate_device(r).unwrap().user_id
    };
    let (a, b) = (sign_up("device-alice-0001", "alice"), sign_up("device-bob-00001", "bob"));
    let _runtime = LuaRuntime::start(&kaos, RuntimeConfig { path: dir.clone(), ..RuntimeConfig::default() }).unwrap();
    let payload = serde_json::json!({"a": a, "b": b}).to_string();
    let answer = kaos.rpcs().call("nakama_api", &RpcContext::default(), &payload);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(answer.unwrap(), "all checked");
    // What Lua did is what the services hold.
    let history = kaos.chat().history(Some(&a), "2...lua-room", 10, true, None).unwrap();
    assert_eq!(history.messages.len(), 1);
    assert_eq!(
        (history.messages[0].content.as_str(), history.messages[0].sender_id.as_str()),
        (r#"{"text":"from lua"}"#, a.as_str())
    );
    assert_eq!(kaos.accounts().account(&a).unwrap().username, "alice2");
    let inbox = kaos.notifications().list(&b, None, 10).unwrap();
    // The two Lua sent (the friend request sends its own too).
    assert_eq!(inbox.iter().filter(|n| n.code == 101 || n.code == 102).count(), 2);
    assert!(inbox.iter().any(|n| n.sender_id == a && n.subject == "hello"));
}
