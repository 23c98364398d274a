//! Authoritative matches: server code (a [`MatchHandler`]) owns the match state and runs
//! at a fixed tick rate on a thread of its own; players join through `join_attempt`, and
//! their `match_data_send` messages reach the handler's next tick in arrival order. A
//! handler that panics, or falls so far behind that its input queue fills, ends only its
//! own match (logged).
//!
//! ```
//! use std::sync::Arc;
//! use kaosnet::matches::{Dispatcher, MatchContext, MatchHandler, MatchInit, MatchMessage};
//! use kaosnet::realtime::tracker::Presence;
//! use kaosnet::store::MemoryStore;
//! use kaosnet::{KaosNet, MatchRegistry};
//! use serde_json::{json, Value};
//!
//! // Rust-based handler: the match's state is the handler's own.
//! struct MyGame {
//!     score: u64,
//! }
//!
//! impl MatchHandler for MyGame {
//!     fn init(&mut self, _ctx: &MatchContext, params: &Value) -> Result<MatchInit, String> {
//!         self.score = params["start"].as_u64().ok_or("start must be a number")?;
//!         Ok(MatchInit { tick_rate: 30, label: r#"{"mode":"duel"}"#.into() })
//!     }
//!     fn join(&mut self, _ctx: &MatchContext, d: &mut Dispatcher<'_>, _tick: u64, joined: &[Presence]) {
//!         d.broadcast(1, format!("welcome {}", joined.len()).as_bytes(), None, None, true);
//!     }
//!     fn leave(&mut self, _ctx: &MatchContext, _d: &mut Dispatcher<'_>, _tick: u64, _left: &[Presence]) {}
//!     fn tick(&mut self, _ctx: &MatchContext, _d: &mut Dispatcher<'_>, _tick: u64, messages: Vec<MatchMessage>) -> bool {
//!         self.score += messages.len() as u64;
//!         true // false ends the match
//!     }
//!     fn terminate(&mut self, _ctx: &MatchContext, _d: &mut Dispatcher<'_>, _tick: u64, _grace: u32) {}
//!     fn signal(&mut self, _ctx: &MatchContext, _d: &mut Dispatcher<'_>, _tick: u64, _data: &str) -> Result<String, String> {
//!         Ok(self.score.to_string())
//!     }
//! }
//!
//! let kaos = KaosNet::new(Arc::new(MemoryStore::new()), Default::default(), Default::default());
//! let registry: &MatchRegistry = kaos.matches();
//! registry.register("my_game", || Box::new(MyGame { score: 0 }));
//! let id = registry.create(&kaos, "my_game", &json!({"start": 5}))?;
//! assert_eq!(registry.get(&id).unwrap().label, r#"{"mode":"duel"}"#);
//! assert_eq!(registry.signal(&id, "score?")?, "5");
//! assert!(registry.create(&kaos, "my_game", &json!({})).is_err(), "init refused it");
//! assert!(registry.stop(&id, 0));
//! # Ok::<(), kaosnet::ApiError>(())
//! ```
//!
//! (The seed's sketch passes each call a separate `state` and takes `&self`; here the
//! state is the handler's own, behind `&mut self`, so it needs no casts. Lua handlers
//! come with the Lua runtime.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::ApiError;
use crate::presence::tracker::{Presence, Stream, StreamMode};
use crate::presence::{Frame, SessionId};
use crate::protobuf::realtime::{self, envelope::Message};
use crate::socket::{Failure, SocketError};
use crate::KaosNet;

/// The node name in authoritative match ids (`<uuid>.kaos`).
pub const NODE: &str = "kaos";
/// Commands a match may have waiting; past it the match is too slow and is ended.
pub const MAX_QUEUE: usize = 4096;
/// Longest label, bytes.
pub const MAX_LABEL: usize = 2048;

/// What `init` decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchInit {
    /// Ticks per second, 1 to 60.
    pub tick_rate: u32,
    /// Shown in listings and searched by label queries (JSON objects are searchable
    /// field by field).
    pub label: String,
}

/// A message a player sent the match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchMessage {
    pub sender: Presence,
    pub op_code: i64,
    pub data: Vec<u8>,
    pub reliable: bool,
}

/// Which match a handler call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchContext {
    pub match_id: String,
    pub handler: String,
}

/// A match's server code. Every call gets the tick number (0 before the first tick).
pub trait MatchHandler: Send {
    /// Called once before the match exists: its tick rate and label, or why not.
    fn init(&mut self, ctx: &MatchContext, params: &Value) -> Result<MatchInit, String>;
    /// Whether `presence` may join; `Err` carries the reason the player is told.
    fn join_attempt(
        &mut self,
        _ctx: &MatchContext,
        _d: &mut Dispatcher<'_>,
        _tick: u64,
        _presence: &Presence,
        _metadata: &HashMap<String, String>,
    ) -> Result<(), String> {
        Ok(())
    }
    /// Players who joined since the last tick.
    fn join(&mut self, _ctx: &MatchContext, _d: &mut Dispatcher<'_>, _tick: u64, _joined: &[Presence]) {}
    /// Players who left since the last tick.
    fn leave(&mut self, _ctx: &MatchContext, _d: &mut Dispatcher<'_>, _tick: u64, _left: &[Presence]) {}
    /// One tick with the messages received since the last, in order; false ends the
    /// match.
    fn tick(&mut self, ctx: &MatchContext, d: &mut Dispatcher<'_>, tick: u64, messages: Vec<MatchMessage>) -> bool;
    /// The match is being stopped by the server; `grace_seconds` to wrap up.
    fn terminate(&mut self, _ctx: &MatchContext, _d: &mut Dispatcher<'_>, _tick: u64, _grace_seconds: u32) {}
    /// A signal from server code; the answer goes back to the caller.
    fn signal(
        &mut self,
        _ctx: &MatchContext,
        _d: &mut Dispatcher<'_>,
        _tick: u64,
        _data: &str,
    ) -> Result<String, String> {
        Err("this match takes no signals".into())
    }
    /// The match's state as JSON, for operators (the console); Null if it shows none.
    fn state(&mut self, _ctx: &MatchContext) -> Value {
        Value::Null
    }
}

/// What a handler does to its players: broadcasts, kicks, label changes.
pub struct Dispatcher<'a> {
    kaos: &'a KaosNet,
    stream: &'a Stream,
    state: &'a Shared,
    kicked: Vec<Presence>,
}

impl Dispatcher<'_> {
    /// Sends `data` with `op_code` to `presences` (everyone if None), from `sender` (the
    /// server if None).
    pub fn broadcast(
        &mut self,
        op_code: i64,
        data: &[u8],
        presences: Option<&[Presence]>,
        sender: Option<&Presence>,
        reliable: bool,
    ) {
        // Typed, as relayed data is: written at most once per format for all targets.
        let event = Message::MatchData(realtime::MatchData {
            match_id: self.state.id.clone(),
            presence: sender.map(Presence::to_proto),
            op_code,
            data: data.to_vec(),
            reliable,
        });
        let members = self.kaos.tracker().sessions(self.stream);
        match presences {
            None => self.kaos.notifier.to_sessions(members, event),
            Some(list) => {
                let targets = list.iter().map(|p| p.session).filter(|s| members.contains(s));
                self.kaos.notifier.to_sessions(targets, event);
            }
        }
    }

    /// Removes players from the match (their `leave` comes at the next tick).
    pub fn kick(&mut self, presences: &[Presence]) {
        self.kicked.extend_from_slice(presences);
    }

    /// Changes the match's label.
    pub fn label_update(&mut self, label: &str) -> Result<(), String> {
        if label.len() > MAX_LABEL {
            return Err(format!("labels are at most {MAX_LABEL} bytes"));
        }
        *self.state.label.lock().unwrap_or_else(PoisonError::into_inner) = label.to_string();
        Ok(())
    }

    /// The players in the match now.
    pub fn presences(&self) -> Vec<Presence> {
        self.kaos.tracker().list(self.stream)
    }
}

impl std::fmt::Debug for Dispatcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("match_id", &self.state.id).finish_non_exhaustive()
    }
}

enum Command {
    Join { presence: Presence, metadata: HashMap<String, String>, cid: Option<Value> },
    Data(MatchMessage),
    Leave(Presence),
    Signal { data: String, reply: mpsc::SyncSender<Result<String, String>> },
    State { reply: mpsc::SyncSender<Value> },
    Stop { grace_seconds: u32 },
}

/// What the registry and the match thread share.
struct Shared {
    id: String,
    handler: String,
    tick_rate: u32,
    label: Mutex<String>,
    size: AtomicUsize,
    queue: SyncSender<Command>,
    /// Set when the queue overflowed: the thread ends the match when it sees it.
    overloaded: AtomicBool,
}

/// A match in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchInfo {
    pub match_id: String,
    pub authoritative: bool,
    pub label: String,
    pub size: usize,
    pub tick_rate: u32,
    pub handler_name: String,
}

/// Makes a fresh handler for each match of a kind.
pub type MatchFactory = Arc<dyn Fn() -> Box<dyn MatchHandler> + Send + Sync>;

/// The handlers by name and the running authoritative matches.
#[derive(Default)]
pub struct MatchRegistry {
    factories: RwLock<HashMap<String, MatchFactory>>,
    running: Mutex<HashMap<String, Arc<Shared>>>,
}

impl std::fmt::Debug for MatchRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchRegistry").field("running", &self.lock().len()).finish()
    }
}

fn stream_for(uuid: &str) -> Stream {
    Stream { mode: StreamMode::MatchAuthoritative, subject: uuid.into(), subcontext: String::new(), label: NODE.into() }
}

impl MatchRegistry {
    /// Registers (or replaces) the handler called `name`.
    pub fn register(&self, name: &str, factory: impl Fn() -> Box<dyn MatchHandler> + Send + Sync + 'static) {
        self.factories.write().unwrap_or_else(PoisonError::into_inner).insert(name.to_string(), Arc::new(factory));
    }

    /// Starts a match of handler `name` with `params`; its id.
    pub fn create(&self, kaos: &KaosNet, name: &str, params: &Value) -> Result<String, ApiError> {
        let factory = self
            .factories
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No match handler {name:?}.")))?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let ctx = MatchContext { match_id: format!("{uuid}.{NODE}"), handler: name.to_string() };
        let mut handler = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| factory()))
            .map_err(|_| ApiError::new(crate::Code::Internal, "The match handler failed to start."))?;
        let init = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.init(&ctx, params)))
            .map_err(|_| ApiError::new(crate::Code::Internal, "The match handler failed to start."))?
            .map_err(ApiError::invalid)?;
        if !(1..=60).contains(&init.tick_rate) {
            return Err(ApiError::invalid("Tick rate must be 1 to 60."));
        }
        if init.label.len() > MAX_LABEL {
            return Err(ApiError::invalid(format!("Labels are at most {MAX_LABEL} bytes.")));
        }
        let (queue, commands) = mpsc::sync_channel(MAX_QUEUE);
        let shared = Arc::new(Shared {
            id: ctx.match_id.clone(),
            handler: name.to_string(),
            tick_rate: init.tick_rate,
            label: Mutex::new(init.label),
            size: AtomicUsize::new(0),
            queue,
            overloaded: AtomicBool::new(false),
        });
        self.lock().insert(uuid.clone(), shared.clone());
        let id = ctx.match_id.clone();
        let me = kaos.me.clone();
        let stream = stream_for(&uuid);
        let spawned = std::thread::Builder::new()
            .name(format!("kaos-match-{}", &uuid[..8]))
            .stack_size(512 << 10)
            .spawn(move || run(me, shared, ctx, handler, commands, stream));
        if let Err(e) = spawned {
            self.lock().remove(&uuid);
            return Err(ApiError::new(crate::Code::Internal, format!("cannot start the match: {e}")));
        }
        Ok(id)
    }

    /// Every running authoritative match.
    pub fn list(&self) -> Vec<MatchInfo> {
        self.lock().values().map(|s| info(s)).collect()
    }

    /// One running match by id.
    pub fn get(&self, match_id: &str) -> Option<MatchInfo> {
        self.shared(match_id).map(|s| info(&s))
    }

    /// Sends `data` to the match's `signal` and waits (up to 10 s) for its answer.
    pub fn signal(&self, match_id: &str, data: &str) -> Result<String, ApiError> {
        let shared = self.shared(match_id).ok_or_else(|| ApiError::not_found("Match not found."))?;
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(&shared, Command::Signal { data: data.to_string(), reply })
            .map_err(|_| ApiError::new(crate::Code::Unavailable, "The match is not taking signals."))?;
        match answer.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(reason)) => Err(ApiError::invalid(reason)),
            Err(_) => Err(ApiError::new(crate::Code::DeadlineExceeded, "The match did not answer the signal.")),
        }
    }

    /// What an operator sees of a running match: its tick, presences and the handler's
    /// state (waits up to 10 s for the match thread).
    pub fn state(&self, match_id: &str) -> Result<Value, ApiError> {
        let shared = self.shared(match_id).ok_or_else(|| ApiError::not_found("Match not found."))?;
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(&shared, Command::State { reply })
            .map_err(|_| ApiError::new(crate::Code::Unavailable, "The match is not answering."))?;
        answer
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| ApiError::new(crate::Code::DeadlineExceeded, "The match did not answer."))
    }

    /// Asks the match to end: `terminate` gets `grace_seconds`, then the match stops.
    pub fn stop(&self, match_id: &str, grace_seconds: u32) -> bool {
        self.shared(match_id).is_some_and(|s| self.send(&s, Command::Stop { grace_seconds }).is_ok())
    }

    /// A player asks to join; the match thread answers them (`match` or error 5).
    pub(crate) fn join(
        &self,
        match_id: &str,
        presence: Presence,
        metadata: HashMap<String, String>,
        cid: Option<Value>,
    ) -> Result<(), Failure> {
        let shared = self.shared(match_id).ok_or_else(not_found)?;
        self.send(&shared, Command::Join { presence, metadata, cid }).map_err(|_| not_found())
    }

    /// A player's message for the match's next tick.
    pub(crate) fn data(&self, match_id: &str, message: MatchMessage) -> Result<(), Failure> {
        let shared = self.shared(match_id).ok_or_else(not_found)?;
        self.send(&shared, Command::Data(message)).map_err(|_| not_found())
    }

    /// A player left (or their session ended).
    pub(crate) fn leave(&self, match_id: &str, presence: Presence) {
        if let Some(shared) = self.shared(match_id) {
            let _ = self.send(&shared, Command::Leave(presence));
        }
    }

    fn send(&self, shared: &Arc<Shared>, command: Command) -> Result<(), ()> {
        match shared.queue.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                // Too slow for its players: out of the listings now, ended by its
                // thread when it next runs.
                shared.overloaded.store(true, Ordering::Release);
                self.lock().remove(shared.id.split('.').next().unwrap_or_default());
                Err(())
            }
            Err(TrySendError::Disconnected(_)) => Err(()),
        }
    }

    fn shared(&self, match_id: &str) -> Option<Arc<Shared>> {
        let (uuid, node) = match_id.split_once('.')?;
        if node != NODE {
            return None;
        }
        self.lock().get(uuid).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Shared>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found() -> Failure {
    Failure::new(SocketError::MatchNotFound, "Match not found")
}

fn info(s: &Shared) -> MatchInfo {
    MatchInfo {
        match_id: s.id.clone(),
        authoritative: true,
        label: s.label.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        size: s.size.load(Ordering::Relaxed),
        tick_rate: s.tick_rate,
        handler_name: s.handler.clone(),
    }
}

/// Runs one handler call; a panic becomes an error.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())
    })
}

/// The match thread: commands between ticks, ticks on schedule.
fn run(
    kaos: Weak<KaosNet>,
    shared: Arc<Shared>,
    ctx: MatchContext,
    mut handler: Box<dyn MatchHandler>,
    commands: mpsc::Receiver<Command>,
    stream: Stream,
) {
    let interval = Duration::from_secs(1) / shared.tick_rate;
    let mut next = Instant::now() + interval;
    let mut tick: u64 = 0;
    let mut inbox: Vec<MatchMessage> = Vec::new();
    let (mut joins, mut leaves): (Vec<Presence>, Vec<Presence>) = (Vec::new(), Vec::new());
    let mut members: HashMap<SessionId, Presence> = HashMap::new();
    let end = |kaos: &KaosNet, why: Option<String>| {
        if let Some(why) = why {
            tracing::error!(match_id = %shared.id, handler = %shared.handler, "match ended: {why}");
        }
        kaos.matches.lock().remove(&stream.subject);
        for p in kaos.tracker().list(&stream) {
            kaos.tracker().untrack(&stream, p.session);
        }
    };
    loop {
        let Some(kaos) = kaos.upgrade() else { return };
        let kaos = &*kaos;
        if shared.overloaded.load(Ordering::Acquire) {
            return end(kaos, Some("its input queue filled up (the handler is too slow)".into()));
        }
        let mut d = Dispatcher { kaos, stream: &stream, state: &shared, kicked: Vec::new() };
        let wait = next.saturating_duration_since(Instant::now());
        match commands.recv_timeout(wait) {
            Ok(Command::Data(m)) => inbox.push(m),
            Ok(Command::Join { presence, metadata, cid }) => {
                let session = presence.session;
                match guarded(|| handler.join_attempt(&ctx, &mut d, tick, &presence, &metadata)) {
                    Err(panic) => return end(kaos, Some(format!("join_attempt panicked: {panic}"))),
                    Ok(Err(reason)) => {
                        let code = SocketError::MatchJoinRejected as i32;
                        let e = realtime::Error { code, message: reason, ..Default::default() };
                        kaos.notifier.to_sessions([session], Frame::reply(cid.as_ref(), Some(Message::Error(e))));
                    }
                    Ok(Ok(())) => {
                        let new = kaos.tracker().track(&stream, presence.clone());
                        let mut own_event = None;
                        if new {
                            members.insert(session, presence.clone());
                            joins.push(presence.clone());
                            own_event = kaos.notifier.announce_join(&stream, &presence);
                        }
                        let label = shared.label.lock().unwrap_or_else(PoisonError::into_inner).clone();
                        let answer = super::match_message(kaos, &stream, session, new, &label);
                        // The answer and the own join's event together, in that order.
                        let frames = std::iter::once(Frame::reply(cid.as_ref(), Some(answer)))
                            .chain(own_event.map(Frame::from_message));
                        kaos.sessions().send_all(session, frames.map(Arc::new));
                    }
                }
            }
            Ok(Command::Leave(presence)) => {
                // A closed session is off the stream (and announced) already.
                if let Some(p) = kaos.tracker().untrack(&stream, presence.session) {
                    kaos.notifier.announce(&stream, &[], &[p], Some(presence.session));
                }
                if let Some(p) = members.remove(&presence.session) {
                    leaves.push(p);
                }
            }
            Ok(Command::Signal { data, reply }) => match guarded(|| handler.signal(&ctx, &mut d, tick, &data)) {
                Err(panic) => {
                    let _ = reply.send(Err("the match failed".into()));
                    return end(kaos, Some(format!("signal panicked: {panic}")));
                }
                Ok(answer) => {
                    let _ = reply.send(answer);
                }
            },
            Ok(Command::State { reply }) => match guarded(|| handler.state(&ctx)) {
                Err(panic) => return end(kaos, Some(format!("state panicked: {panic}"))),
                Ok(state) => {
                    let presences: Vec<Value> = members
                        .values()
                        .map(|p| serde_json::json!({"user_id": p.user_id, "session_id": p.session.text(), "username": p.username}))
                        .collect();
                    let _ = reply.send(serde_json::json!({ "tick": tick, "presences": presences, "state": state }));
                }
            },
            Ok(Command::Stop { grace_seconds }) => {
                let _ = guarded(|| handler.terminate(&ctx, &mut d, tick, grace_seconds));
                return end(kaos, None);
            }
            Err(RecvTimeoutError::Disconnected) => return end(kaos, None),
            Err(RecvTimeoutError::Timeout) => {
                tick += 1;
                let started = Instant::now();
                let result = guarded(|| {
                    if !joins.is_empty() {
                        handler.join(&ctx, &mut d, tick, &std::mem::take(&mut joins));
                    }
                    if !leaves.is_empty() {
                        handler.leave(&ctx, &mut d, tick, &std::mem::take(&mut leaves));
                    }
                    handler.tick(&ctx, &mut d, tick, std::mem::take(&mut inbox))
                });
                kaos.metrics.match_tick(started.elapsed());
                if tick % u64::from(shared.tick_rate) == 0 {
                    kaos.metrics.match_players(members.len());
                }
                match result {
                    Err(panic) => return end(kaos, Some(format!("the handler panicked: {panic}"))),
                    Ok(false) => return end(kaos, None),
                    Ok(true) => {}
                }
                next += interval;
                // Far behind (a slow tick): start the schedule again from now.
                let now = Instant::now();
                if next + interval * 4 < now {
                    next = now + interval;
                }
            }
        }
        for p in std::mem::take(&mut d.kicked) {
            if let Some(p) = kaos.tracker().untrack(&stream, p.session) {
                kaos.notifier.announce(&stream, &[], &[p], None);
            }
            if let Some(p) = members.remove(&p.session) {
                leaves.push(p);
            }
        }
        shared.size.store(kaos.tracker().count(&stream), Ordering::Relaxed);
    }
}
