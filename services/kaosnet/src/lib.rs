//! KaosNet's game services behind a Nakama-compatible API.
//!
//! Layout:
//! - [`store`]: persistence behind the [`Store`] trait (SQLite, PostgreSQL,
//!   memory), one conformance suite for all.
//! - [`error`]: errors with Nakama's gRPC codes and HTTP statuses.
//! - [`storage`]: the storage API for server code (`Storage::set/get/list/query`,
//!   `read_as`/`write_as`/`delete_as` with a user's permissions).
//! - [`session`]: JWT session and refresh tokens with Nakama's claims, revocation.
//! - [`accounts`]: device, email and custom authentication, refresh, logout.
//! - [`rpc`]: RPC functions registered by id.
//! - [`hooks`]: before/after hooks by operation.
//! - [`limits`]: rate limits per client and operation.
//! - [`leaderboards`]: leaderboards (ranked in memory, cron resets), tournaments, brackets.
//! - [`status`]: online status and follows.
//! - [`chat`]: rooms, direct and group channels, history.
//! - [`friends`]: friend invites, blocks, lists and friends of friends.
//! - [`groups`]: groups, their members and roles.
//! - [`matches`](mod@matches): relayed and authoritative matches.
//! - [`matchmaker`]: tickets, queries, matched groups.
//! - [`parties`]: parties, their leaders, data and matchmaking.
//! - [`notifications`]: notifications, realtime and stored.
//! - [`query`]: the query language of match listings and the matchmaker.
//! - [`api`]: the REST routes on a kaos-http router.
//! - [`console`]: the console port's routes (health and metrics today).
//! - [`metrics`]: Prometheus metrics.
//! - [`presence`]: below the services: the session registry, who is on which stream, and
//!   delivery (presence events, messages encoded once per wire format).
//! - [`socket`]: below the services: the contract of a socket message handler (the
//!   session, answers, refusals with Nakama's socket codes).
//! - [`protojson`], [`protobuf`]: Nakama's JSON rules and its realtime protobuf schema.
//! - [`realtime`]: above the services: the socket transports (WebSocket at `/ws`, and
//!   reliable UDP), the table of message kinds and their dispatch, the worker lanes.

pub mod accounts;
pub mod api;
pub mod chat;
pub mod console;
pub mod error;
pub mod friends;
pub mod groups;
pub mod hooks;
mod jwt_hs256;
pub mod leaderboards;
pub mod limits;
pub mod matches;
pub mod matchmaker;
pub mod metrics;
pub mod notifications;
pub mod parties;
pub mod player_data;
pub mod presence;
pub mod protobuf;
pub mod protojson;
pub mod query;
pub mod realtime;
pub mod rpc;
pub mod session;
mod small_text;
pub mod socket;
pub mod status;
pub mod storage;
pub mod store;
pub mod streams;
pub mod telemetry;
mod time;

use std::sync::Arc;

pub use accounts::{AuthConfig, AuthResponse, AuthService, DeviceAuthRequest, EmailAuthRequest};
pub use error::{ApiError, Code};
pub use hooks::{AfterHook, BeforeHook, BeforeHookResult, HookOperation, HookRegistry};
pub use kaos_transport::{ClientTransport, TransportError, TransportServer};
pub use kaos_ws::{WsClient, WsConnection, WsServer, WsServerTransport};
pub use leaderboards::{LeaderboardConfig, Leaderboards};
pub use limits::{OperationRateLimiter, RateLimitConfig, RateLimitPresets, RateLimiter};
pub use matches::{MatchHandler, MatchRegistry};
pub use matchmaker::{Matchmaker, MatchmakerConfig, MatchmakerMatch, MatchmakerTicket};
pub use storage::{ObjectPermission, Storage};

use accounts::Accounts;

/// `Debug` for a service whose parts (stores behind traits) do not print.
macro_rules! opaque_debug {
    ($t:ident) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    };
}
pub(crate) use opaque_debug;
use session::SessionConfig;
use store::Store;

/// Keys clients and servers present.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// HTTP Basic user name on authenticate and refresh calls.
    pub server_key: String,
    /// `?http_key=` for server-to-server RPC calls.
    pub http_key: String,
}

impl Default for ApiConfig {
    /// Nakama's development defaults (`defaultkey`, `defaulthttpkey`).
    fn default() -> Self {
        ApiConfig { server_key: "defaultkey".into(), http_key: "defaulthttpkey".into() }
    }
}

/// The services, shared by every handler. Server code reaches each through its
/// accessor (`kaos.leaderboards()`, `kaos.storage()`, `kaos.hooks()`…); inside the crate
/// the services share these fields.
#[derive(Debug)]
pub struct KaosNet {
    config: ApiConfig,
    accounts: Accounts,
    /// Registered RPC functions.
    rpcs: rpc::Rpcs,
    /// Before and after hooks by operation.
    hooks: hooks::HookRegistry,
    /// Per-client, per-operation rate limits.
    limits: hooks::OperationRateLimiter,
    /// Prometheus metrics.
    metrics: metrics::Metrics,
    /// Delivery: the connected sessions and who is present on which stream (chat
    /// channels, matches, parties, status).
    notifier: Arc<presence::Notifier>,
    /// Notifications, stored and delivered.
    notifications: Arc<notifications::Notifications>,
    /// Friends.
    friends: friends::Friends,
    /// Groups.
    groups: Arc<groups::Groups>,
    /// Chat channels and their history.
    chat: chat::Chat,
    /// Online status and follows.
    status: status::Status,
    /// Storage objects.
    storage: storage::Storage,
    /// Authoritative match handlers and the matches running.
    matches: matches::MatchRegistry,
    /// Matchmaking tickets.
    matchmaker: matchmaker::Matchmaker,
    /// Parties.
    parties: parties::Parties,
    /// Leaderboards and tournaments.
    leaderboards: leaderboards::Leaderboards,
    /// This value, for threads that outlive a call (match loops).
    me: std::sync::Weak<KaosNet>,
}

impl KaosNet {
    /// Services over `store`.
    pub fn new(store: Arc<dyn Store>, config: ApiConfig, sessions: SessionConfig) -> Arc<KaosNet> {
        KaosNet::with_limits(store, config, sessions, hooks::OperationRateLimiter::default())
    }

    /// The keys clients and servers present.
    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// Accounts and sessions (the seed's `AuthService`).
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Registered RPC functions.
    pub fn rpcs(&self) -> &rpc::Rpcs {
        &self.rpcs
    }

    /// Before and after hooks by operation.
    pub fn hooks(&self) -> &hooks::HookRegistry {
        &self.hooks
    }

    /// Per-client, per-operation rate limits.
    pub fn limits(&self) -> &hooks::OperationRateLimiter {
        &self.limits
    }

    /// Prometheus metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// Streams of server code's own (custom modes): presences and data.
    pub fn streams(&self) -> streams::Streams<'_> {
        streams::Streams { kaos: self }
    }

    /// Delivery to sessions, users and streams.
    pub fn notifier(&self) -> &presence::Notifier {
        &self.notifier
    }

    /// Notifications, stored and delivered.
    pub fn notifications(&self) -> &notifications::Notifications {
        &self.notifications
    }

    /// Friends.
    pub fn friends(&self) -> &friends::Friends {
        &self.friends
    }

    /// Groups.
    pub fn groups(&self) -> &groups::Groups {
        &self.groups
    }

    /// Chat channels and their history.
    pub fn chat(&self) -> &chat::Chat {
        &self.chat
    }

    /// Online status and follows.
    pub fn status(&self) -> &status::Status {
        &self.status
    }

    /// Authoritative match handlers and the matches running.
    pub fn matches(&self) -> &matches::MatchRegistry {
        &self.matches
    }

    /// The matchmaker.
    pub fn matchmaker(&self) -> &matchmaker::Matchmaker {
        &self.matchmaker
    }

    /// Parties.
    pub fn parties(&self) -> &parties::Parties {
        &self.parties
    }

    /// Leaderboards and tournaments.
    pub fn leaderboards(&self) -> &leaderboards::Leaderboards {
        &self.leaderboards
    }

    /// Every connected realtime session, on any transport.
    pub fn sessions(&self) -> &presence::SessionRegistry {
        self.notifier.sessions()
    }

    /// Who is present on which stream.
    pub fn tracker(&self) -> &presence::tracker::Tracker {
        self.notifier.tracker()
    }

    /// Storage, in these services' store: its operations, for server code and every
    /// API.
    pub fn storage(&self) -> &storage::Storage {
        &self.storage
    }

    /// A weak handle to these services, for server code registered on them (an RPC that
    /// creates matches) without keeping them alive.
    pub fn weak(&self) -> std::sync::Weak<KaosNet> {
        self.me.clone()
    }

    /// Services with the given rate limits.
    pub fn with_limits(
        store: Arc<dyn Store>,
        config: ApiConfig,
        sessions: SessionConfig,
        limits: hooks::OperationRateLimiter,
    ) -> Arc<KaosNet> {
        let clock = accounts::unix_now;
        let notifier = Arc::new(presence::Notifier::default());
        let (accounts_data, social): (
            Arc<dyn store::AccountStore + Send + Sync>,
            Arc<dyn store::SocialStore + Send + Sync>,
        ) = (store.clone(), store.clone());
        // Each service holds the data it owns (its part of the store) and the services
        // it calls.
        let notifications =
            Arc::new(notifications::Notifications { store: store.clone(), notifier: notifier.clone(), clock });
        let groups = Arc::new(groups::Groups {
            accounts: accounts_data.clone(),
            social: social.clone(),
            notifications: notifications.clone(),
            notifier: notifier.clone(),
            clock,
        });
        let friends =
            friends::Friends { accounts: accounts_data.clone(), social, notifications: notifications.clone(), clock };
        let chat = chat::Chat {
            accounts: accounts_data.clone(),
            messages: store.clone(),
            groups: groups.clone(),
            notifications: notifications.clone(),
            notifier: notifier.clone(),
            clock,
        };
        let status = status::Status { accounts: accounts_data, notifier: notifier.clone() };
        let metrics = metrics::Metrics::new();
        let storage = storage::Storage::with_metrics(store.clone(), metrics.clone());
        Arc::new_cyclic(|me| KaosNet {
            me: me.clone(),
            notifications,
            friends,
            groups,
            chat,
            status,
            storage,
            matches: matches::MatchRegistry::default(),
            matchmaker: matchmaker::Matchmaker::default(),
            parties: parties::Parties::default(),
            config,
            leaderboards: leaderboards::Leaderboards::with_metrics(store.clone(), metrics.clone()),
            accounts: Accounts::with_store(store, sessions),
            rpcs: rpc::Rpcs::default(),
            hooks: hooks::HookRegistry::default(),
            limits,
            metrics,
            notifier,
        })
    }
}
