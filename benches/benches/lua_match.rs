//! An authoritative match in Lua beside the same match in Rust: matches of 8 players at
//! 20 Hz over WebSocket; each tick the handler reads every player's input (a position),
//! keeps it, and broadcasts all positions as JSON to the 8. Reports the CPU the match
//! threads spent per tick (from each thread's scheduler statistics, in nanoseconds).
//!
//! `cargo bench -p kaos-benches --bench lua_match` (about 30 s). kaos-server runs in this
//! process on the memory store; `KAOS_LUA_MATCHES` matches (20) of each kind play for
//! `KAOS_LUA_SECONDS` (8 s), one kind after the other, driven by the same players.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use kaosnet::matches::{Dispatcher, MatchContext, MatchHandler, MatchInit, MatchMessage};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, stream::MaybeTlsStream, Message, WebSocket};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PLAYERS: usize = 8;
const RATE: u64 = 20;

/// The Rust match: positions by user, all broadcast each tick.
struct Arena {
    positions: std::collections::BTreeMap<String, (f64, f64)>,
}

impl MatchHandler for Arena {
    fn init(&mut self, _: &MatchContext, _: &Value) -> Result<MatchInit, String> {
        Ok(MatchInit { tick_rate: RATE as u32, label: r#"{"kind":"rust"}"#.into() })
    }

    fn tick(&mut self, _: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, messages: Vec<MatchMessage>) -> bool {
        for m in &messages {
            let text = String::from_utf8_lossy(&m.data);
            let mut parts = text.split(',').map(|p| p.parse::<f64>().unwrap_or(0.0));
            let (x, y) = (parts.next().unwrap_or(0.0), parts.next().unwrap_or(0.0));
            self.positions.insert(m.sender.user_id.clone(), (x.clamp(0.0, 1000.0), y.clamp(0.0, 1000.0)));
        }
        let p: serde_json::Map<String, Value> =
            self.positions.iter().map(|(k, (x, y))| (k.clone(), json!([x, y]))).collect();
        d.broadcast(2, json!({"t": tick, "p": p}).to_string().as_bytes(), None, None, true);
        true
    }
}

const LUA_ARENA: &str = r#"
local nk = require("nakama")
local M = {}
function M.match_init(context, params) return { positions = {} }, 20, '{"kind":"lua"}' end
function M.match_join_attempt(context, dispatcher, tick, state, presence, metadata) return state, true end
function M.match_join(context, dispatcher, tick, state, presences) return state end
function M.match_leave(context, dispatcher, tick, state, presences) return state end
function M.match_loop(context, dispatcher, tick, state, messages)
    for _, m in ipairs(messages) do
        local x, y = m.data:match("([^,]+),([^,]+)")
        x, y = tonumber(x) or 0, tonumber(y) or 0
        state.positions[m.sender.user_id] = { math.min(math.max(x, 0), 1000), math.min(math.max(y, 0), 1000) }
    end
    dispatcher.broadcast_message(2, nk.json_encode({ t = tick, p = state.positions }))
    return state
end
function M.match_terminate(context, dispatcher, tick, state, grace) return state end
function M.match_signal(context, dispatcher, tick, state, data) return state, "" end
return M
"#;

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

fn send(ws: &mut Socket, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

/// A player: joins `match_id`, then sends a position 20 times a second until `stop`,
/// reading whatever arrives.
fn play(addr: std::net::SocketAddr, token: String, match_id: String, stop: Arc<AtomicBool>) {
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws?token={token}&format=json")).unwrap();
    send(&mut ws, json!({"cid": "1", "match_join": {"match_id": match_id}}));
    loop {
        if let Message::Text(t) = ws.read().unwrap() {
            if t.contains("\"cid\":\"1\"") {
                break;
            }
        }
    }
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    }
    let mut next = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            let data = base64::engine::general_purpose::STANDARD.encode(format!("{},{}", n % 1000, (n * 7) % 1000));
            send(&mut ws, json!({"match_data_send": {"match_id": match_id, "op_code": 1, "data": data}}));
            next += Duration::from_millis(1000 / RATE);
            n += 1;
        }
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let _ = ws.close(None);
}

/// Nanoseconds on CPU of this process's match threads so far, by thread id.
fn match_threads() -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with("kaos-match-") {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            let ns = stat.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
            out.insert(task.file_name().to_string_lossy().into_owned(), ns);
        }
    }
    out
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (matches, seconds) = (env("KAOS_LUA_MATCHES", 20) as usize, env("KAOS_LUA_SECONDS", 8));
    let dir = std::env::temp_dir().join(format!("kaos-lua-match-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lua_arena.lua"), LUA_ARENA).unwrap();
    let config = kaos_server::config::Config {
        address: "127.0.0.1".into(),
        port: 0,
        database: kaos_server::config::Database::Memory,
        rudp_port: None,
        console_port: None,
        runtime: kaos_lua::RuntimeConfig { path: dir.clone(), ..kaos_lua::RuntimeConfig::default() },
        ..kaos_server::config::Config::default()
    };
    let server = kaos_server::start(&config, |kaos| {
        kaos.matches().register("rust_arena", || Box::new(Arena { positions: Default::default() }));
    })
    .unwrap();
    let kaos = server.kaos.clone();
    let tokens: Vec<String> = (0..matches * PLAYERS)
        .map(|i| {
            let r = kaosnet::DeviceAuthRequest { device_id: format!("lua-bench-{i:08}"), create: true, username: None };
            kaos.accounts().authenticate_device(r).unwrap().token
        })
        .collect();
    println!("{matches} matches of {PLAYERS} players at {RATE} Hz, {seconds} s each kind");
    println!("{:<28}{:>14}{:>18}", "handler", "ticks", "CPU per tick");
    let mut per_tick = Vec::new();
    for kind in ["rust_arena", "lua_arena"] {
        let ids: Vec<String> =
            (0..matches).map(|_| kaos.matches().create(&kaos, kind, &Value::Null).unwrap()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let players: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let (addr, token, id, stop) = (server.addr, token.clone(), ids[i / PLAYERS].clone(), stop.clone());
                std::thread::spawn(move || play(addr, token, id, stop))
            })
            .collect();
        // Everyone in, then measure.
        while ids.iter().map(|id| kaos.matches().get(id).map_or(0, |m| m.size)).sum::<usize>() < matches * PLAYERS {
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = match_threads();
        std::thread::sleep(Duration::from_secs(seconds));
        let after = match_threads();
        stop.store(true, Ordering::Relaxed);
        for p in players {
            p.join().unwrap();
        }
        for id in &ids {
            kaos.matches().stop(id, 0);
        }
        let cpu: u64 = after.iter().map(|(tid, ns)| ns - before.get(tid).copied().unwrap_or(0)).sum();
        let ticks = matches as u64 * seconds * RATE;
        let us = cpu as f64 / ticks as f64 / 1000.0;
        per_tick.push(us);
        println!("{kind:<28}{ticks:>14}{us:>16.1}µs");
    }
    println!("Lua / Rust CPU per tick: {:.2} (goal: at most 2)", per_tick[1] / per_tick[0]);
    server.shutdown();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
