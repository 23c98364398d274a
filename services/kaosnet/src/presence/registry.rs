//! The session registry: every connected socket on every transport, by session and by
//! user, and a mailbox per socket thread (one or more per transport) so any thread can
//! send to or close any session.

use std::cell::Cell;
/// Maps keyed by server-made ids (sessions, users): foldhash, seeded per process, several
/// times faster than SipHash on each delivery.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::Frame;

/// A connected socket, unique for the life of the process (the default, 0, is never
/// handed out).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    /// An id from its number: for presences that server code or a benchmark makes up
    /// (a registered socket gets its id from the registry).
    pub fn from_raw(n: u64) -> SessionId {
        SessionId(n)
    }

    /// The number, for logs.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id a client sent back (its UUID form), if this process issued it.
    pub fn parse(s: &str) -> Option<SessionId> {
        let rest = s.strip_prefix(uuid_prefix())?.strip_prefix('-')?;
        if rest.len() != 12 {
            return None;
        }
        u64::from_str_radix(rest, 16).ok().map(SessionId)
    }
}

/// The first 23 characters of this process's session UUIDs: random, version 4.
fn uuid_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        format!(
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-8{:01x}{:02x}",
            b[0],
            b[1],
            b[2],
            b[3],
            b[4],
            b[5],
            b[6] & 0xf,
            b[7],
            b[6] >> 4,
            b[0] ^ b[7]
        )
    })
}

impl SessionId {
    /// The last 13 characters of its UUID: `-` and 12 hex digits.
    fn suffix(self) -> [u8; 13] {
        // By hand: this runs for every presence in every event, and `{:012x}` through
        // the formatting machinery costs several times more.
        let mut hex = [b'0'; 13];
        hex[0] = b'-';
        let n = self.0 & 0xffff_ffff_ffff;
        for (i, digit) in hex[1..].iter_mut().rev().enumerate() {
            *digit = b"0123456789abcdef"[((n >> (4 * i)) & 0xf) as usize];
        }
        hex
    }

    /// Its UUID form, in one allocation of the exact size (`to_string` grows twice).
    pub fn text(self) -> String {
        let mut out = String::with_capacity(36);
        out.push_str(uuid_prefix());
        // The suffix is ASCII by construction.
        out.push_str(std::str::from_utf8(&self.suffix()).unwrap_or_default());
        out
    }
}

/// Session ids are UUIDs on the wire, as Nakama's are, so SDKs that parse them work.
impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex = self.suffix();
        f.write_str(uuid_prefix())?;
        f.write_str(std::str::from_utf8(&hex).map_err(|_| std::fmt::Error)?)
    }
}

/// Which transport thread serves a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The WebSocket at `/ws` on the client API port.
    WebSocket = 0,
    /// Reliable UDP on its own port.
    Rudp = 1,
}

/// Most socket threads, over every transport.
pub const MAX_SOCKET_THREADS: usize = 16;

/// A socket thread's mailbox, as [`SessionRegistry::attach`] numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct MailboxId(usize);

thread_local! {
    /// The mailbox of the socket thread this is, if it is one.
    static SERVING: Cell<Option<MailboxId>> = const { Cell::new(None) };
}

/// Work for a transport thread from elsewhere.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Send { session: SessionId, frame: Arc<Frame> },
    Close { session: SessionId, code: u16, reason: String },
}

struct Mailbox {
    queue: Mutex<Vec<Command>>,
    wake: Box<dyn Fn() + Send + Sync>,
}

/// Where a session is served.
#[derive(Clone, Copy)]
struct Served {
    transport: Transport,
    mailbox: MailboxId,
}

#[derive(Default)]
struct Sessions {
    by_id: HashMap<SessionId, (Served, String)>,
    by_user: HashMap<String, Vec<SessionId>>,
}

/// Every connected session.
#[derive(Default)]
pub struct SessionRegistry {
    next: AtomicU64,
    sessions: Mutex<Sessions>,
    mailboxes: [OnceLock<Mailbox>; MAX_SOCKET_THREADS],
    attached: AtomicUsize,
}

impl std::fmt::Debug for SessionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRegistry").field("sessions", &self.count()).finish()
    }
}

impl SessionRegistry {
    /// How many sessions are connected.
    pub fn count(&self) -> usize {
        self.lock().by_id.len()
    }

    /// How many sessions `transport` serves.
    pub fn count_on(&self, transport: Transport) -> usize {
        self.lock().by_id.values().filter(|(s, _)| s.transport == transport).count()
    }

    /// Up to `limit` connected sessions (of `user_id` only, if given): id, user, transport.
    pub fn list(&self, user_id: Option<&str>, limit: usize) -> Vec<(SessionId, String, Transport)> {
        let sessions = self.lock();
        let mut out: Vec<_> = sessions
            .by_id
            .iter()
            .filter(|(_, (_, user))| user_id.is_none_or(|u| u == user))
            .map(|(id, (served, user))| (*id, user.clone(), served.transport))
            .collect();
        out.sort_by_key(|(id, _, _)| id.as_u64());
        out.truncate(limit);
        out
    }

    /// Every user with a session now, each once.
    pub fn online_users(&self) -> Vec<String> {
        self.lock().by_user.iter().filter(|(_, s)| !s.is_empty()).map(|(u, _)| u.clone()).collect()
    }

    /// The sessions of `user_id`, oldest first.
    pub fn sessions_of(&self, user_id: &str) -> Vec<SessionId> {
        self.lock().by_user.get(user_id).cloned().unwrap_or_default()
    }

    /// Queues `frame` for `session`; false if it is not connected.
    pub fn send(&self, session: SessionId, frame: Arc<Frame>) -> bool {
        self.post(session, |session| vec![Command::Send { session, frame }])
    }

    /// Queues `frame` for each of `sessions` that is connected (one lookup under one
    /// lock for all, one mailbox lock per transport); how many that was.
    pub fn send_many(&self, sessions: &[SessionId], frame: &Arc<Frame>) -> usize {
        // Per socket thread; most deliveries have one.
        let mut commands: Vec<(MailboxId, Vec<Command>)> = Vec::with_capacity(1);
        {
            let s = self.lock();
            for &session in sessions {
                if let Some(&(served, _)) = s.by_id.get(&session) {
                    let send = Command::Send { session, frame: frame.clone() };
                    match commands.iter_mut().find(|(id, _)| *id == served.mailbox) {
                        Some((_, list)) => list.push(send),
                        None => commands.push((served.mailbox, vec![send])),
                    }
                }
            }
        }
        let mut sent = 0;
        for (id, commands) in commands {
            sent += commands.len();
            self.enqueue(id, commands);
        }
        sent
    }

    /// Queues `frames` for `session` together: nothing sent to it from elsewhere comes
    /// between them (an answer and the event that must follow it, such as the presence
    /// event of the caller's own join).
    pub fn send_all(&self, session: SessionId, frames: impl IntoIterator<Item = Arc<Frame>>) -> bool {
        self.post(session, |session| frames.into_iter().map(|frame| Command::Send { session, frame }).collect())
    }

    /// Closes `session` with a WebSocket close code (RUDP carries the same code).
    pub fn close(&self, session: SessionId, code: u16, reason: &str) -> bool {
        self.post(session, |session| vec![Command::Close { session, code, reason: reason.to_string() }])
    }

    fn post(&self, session: SessionId, commands: impl FnOnce(SessionId) -> Vec<Command>) -> bool {
        let Some(&(served, _)) = self.lock().by_id.get(&session) else { return false };
        self.enqueue(served.mailbox, commands(session))
    }

    /// Puts `commands` in a socket thread's mailbox; false if there is no such thread.
    fn enqueue(&self, id: MailboxId, commands: Vec<Command>) -> bool {
        let Some(mailbox) = self.mailboxes[id.0].get() else { return false };
        if commands.is_empty() {
            return true;
        }
        let was_empty = {
            let mut queue = mailbox.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let before = queue.len();
            queue.extend(commands);
            before == 0
        };
        // The transport's own thread drains its mailbox before it waits again, and a
        // non-empty mailbox has had its wake-up already.
        if was_empty && SERVING.with(Cell::get) != Some(id) {
            (mailbox.wake)();
        }
        true
    }

    /// Marks the calling thread as the socket thread of mailbox `id`.
    pub(crate) fn serve_on_this_thread(id: MailboxId) {
        SERVING.with(|s| s.set(Some(id)));
    }

    /// A mailbox for a new socket thread, with what wakes it; None past
    /// [`MAX_SOCKET_THREADS`].
    pub(crate) fn attach(&self, wake: impl Fn() + Send + Sync + 'static) -> Option<MailboxId> {
        let i = self.attached.fetch_add(1, Ordering::Relaxed);
        let slot = self.mailboxes.get(i)?;
        slot.set(Mailbox { queue: Mutex::default(), wake: Box::new(wake) }).ok()?;
        Some(MailboxId(i))
    }

    /// The commands waiting for the socket thread of mailbox `id`.
    pub(crate) fn take(&self, id: MailboxId) -> Vec<Command> {
        match self.mailboxes[id.0].get() {
            Some(m) => std::mem::take(&mut *m.queue.lock().unwrap_or_else(PoisonError::into_inner)),
            None => Vec::new(),
        }
    }

    /// A new session of `user_id` on `transport`, served by the socket thread of
    /// `mailbox`; with `single_socket`, the user's other sessions (on any transport and
    /// thread) are closed with 4000.
    pub(crate) fn register(
        &self,
        transport: Transport,
        mailbox: MailboxId,
        user_id: &str,
        single_socket: bool,
    ) -> SessionId {
        let id = SessionId(self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let older = {
            let mut s = self.lock();
            s.by_id.insert(id, (Served { transport, mailbox }, user_id.to_string()));
            let list = s.by_user.entry(user_id.to_string()).or_default();
            list.push(id);
            if single_socket {
                list[..list.len() - 1].to_vec()
            } else {
                Vec::new()
            }
        };
        for old in older {
            self.close(old, 4000, "replaced by a newer connection");
        }
        id
    }

    /// Forgets a session that has gone.
    pub(crate) fn unregister(&self, session: SessionId) {
        let mut s = self.lock();
        let Some((_, user)) = s.by_id.remove(&session) else { return };
        if let Some(list) = s.by_user.get_mut(&user) {
            list.retain(|x| *x != session);
            if list.is_empty() {
                s.by_user.remove(&user);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
