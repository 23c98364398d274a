//! Authentication (device, email, custom), sessions (refresh, logout) and accounts, with
//! Nakama's rules and messages: create on first use, optional username, argon2id
//! password hashes.

use std::collections::BTreeMap;
use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

use crate::error::{ApiError, Code};
use crate::session::{Claims, SessionConfig, Tokens};
use crate::store::{Store, StoreError, User, UserKey};

mod profile;
mod revocations;
mod service;
pub(crate) mod throttle;
mod wallet;

pub use profile::{AccountUpdate, MAX_LOOKUP};
pub use service::{AuthConfig, AuthResponse, AuthService, DeviceAuthRequest, EmailAuthRequest};
pub use throttle::LoginLimits;

/// The language of a new user or group that names none, as in Nakama.
pub const DEFAULT_LANG_TAG: &str = "en";
/// The result of an authenticate call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub tokens: Tokens,
    /// Whether this call created the account.
    pub created: bool,
    pub user: User,
}

/// Which credential identifies the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Device(String),
    Email { email: String, password: String },
    Custom(String),
}

/// Accounts and sessions over a store.
pub struct Accounts {
    store: Arc<dyn Store>,
    sessions: SessionConfig,
    clock: fn() -> i64,
    logins: throttle::LoginThrottle,
    revoked: revocations::Revocations,
    /// Users banned while this server ran, and until when: their session tokens stop at
    /// once (sign-in and refresh read the ban from the store).
    banned: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Whether anyone was banned while this server ran: until then, verifying a token
    /// (every request) takes no lock for it.
    any_banned: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

fn banned() -> ApiError {
    ApiError::new(Code::PermissionDenied, "User account banned.")
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn check_len(value: &str, range: std::ops::RangeInclusive<usize>, message: &str) -> Result<(), ApiError> {
    if range.contains(&value.len()) {
        Ok(())
    } else {
        Err(ApiError::invalid(message))
    }
}

/// A username's rules, for sign-up and account updates alike: 1 to 128 bytes, no
/// whitespace, no control characters, and none of the invisible ones that make two names
/// look alike or reorder the text around them (bidi controls, zero-width characters).
pub(crate) fn check_username(username: &str) -> Result<(), ApiError> {
    let invisible = |c: char| matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
    let refused = |c: char| c.is_control() || c.is_whitespace() || invisible(c);
    if username.is_empty() || username.len() > profile::MAX_USERNAME || username.chars().any(refused) {
        return Err(ApiError::invalid("Username invalid, no spaces or control characters allowed."));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), ApiError> {
    let valid = (10..=255).contains(&email.len())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid("Invalid email address format."))
    }
}

/// A random username of 10 letters, as Nakama makes when the client names none.
fn random_username() -> String {
    let mut bytes = [0u8; 10];
    let _ = getrandom::fill(&mut bytes);
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    bytes.iter().map(|b| LETTERS[*b as usize % LETTERS.len()] as char).collect()
}

pub(crate) fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| ApiError::new(Code::Internal, "Error hashing password."))
}

pub(crate) fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

impl Accounts {
    /// Accounts and sessions over `store`.
    pub fn with_store(store: Arc<dyn Store>, sessions: SessionConfig) -> Accounts {
        Accounts::with_clock(store, sessions, unix_now)
    }

    /// The same, on an injected clock (tests).
    pub fn with_clock(store: Arc<dyn Store>, sessions: SessionConfig, clock: fn() -> i64) -> Accounts {
        let logins = throttle::LoginThrottle::new(sessions.failed_logins);
        Accounts {
            store,
            sessions,
            clock,
            logins,
            revoked: Default::default(),
            banned: Default::default(),
            any_banned: Default::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn sessions(&self) -> &SessionConfig {
        &self.sessions
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Signs in with `credential`, creating the account if `create` and it is new.
    pub fn authenticate(
        &self,
        credential: Credential,
        create: bool,
        username: Option<&str>,
        vars: &BTreeMap<String, String>,
    ) -> Result<Authenticated, ApiError> {
        if let Some(u) = username {
            check_username(u)?;
        }
        let existing = match &credential {
            Credential::Device(id) => {
                check_len(id, 10..=128, "Device ID invalid, must be 10-128 bytes.")?;
                self.store.user(UserKey::Device(id))?
            }
            Credential::Custom(id) => {
                check_len(id, 6..=128, "Custom ID invalid, must be 6-128 bytes.")?;
                self.store.user(UserKey::Custom(id))?
            }
            Credential::Email { email, password } => {
                check_email(email)?;
                check_len(password, 8..=4096, "Password must be at least 8 characters long.")?;
                let user = self.store.user(UserKey::Email(email))?;
                if let Some(u) = &user {
                    self.logins.check(&u.id, self.now())?;
                    if !u.password_hash.as_deref().is_some_and(|h| password_matches(password, h)) {
                        self.logins.failed(&u.id, self.now());
                        return Err(ApiError::unauthenticated("Invalid credentials."));
                    }
                    self.logins.succeeded(&u.id);
                }
                user
            }
        };
        let (user, created) = match existing {
            Some(user) if user.ban_until > self.now() => return Err(banned()),
            Some(user) => (user, false),
            None if !create => return Err(ApiError::not_found("User account not found.")),
            None => (self.create(credential, username)?, true),
        };
        let tokens = self.sessions.issue(&user.id, &user.username, vars, self.now())?;
        Ok(Authenticated { tokens, created, user })
    }

    fn create(&self, credential: Credential, username: Option<&str>) -> Result<User, ApiError> {
        let now = self.now();
        let mut user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.map_or_else(random_username, str::to_string),
            metadata: "{}".into(),
            wallet: "{}".into(),
            // Nakama's schema default.
            lang_tag: DEFAULT_LANG_TAG.into(),
            create_time: now,
            update_time: now,
            ..User::default()
        };
        match credential {
            Credential::Device(id) => user.devices.push(id),
            Credential::Custom(id) => user.custom_id = Some(id),
            Credential::Email { email, password } => {
                user.email = Some(email);
                user.password_hash = Some(hash_password(&password)?);
            }
        }
        match self.store.create_user(&user) {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict("username")) => {
                Err(ApiError::new(Code::AlreadyExists, "Username is already in use."))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `credential` to the account (409 if another account holds it).
    pub fn link(&self, user_id: &str, credential: Credential) -> Result<(), ApiError> {
        let mut user =
            self.store.user(UserKey::Id(user_id))?.ok_or_else(|| ApiError::not_found("Account not found."))?;
        let taken = match credential {
            Credential::Device(id) => {
                check_len(&id, 10..=128, "Device ID invalid, must be 10-128 bytes.")?;
                if !user.devices.contains(&id) {
                    user.devices.push(id);
                }
                "Device ID already in use."
            }
            Credential::Custom(id) => {
                check_len(&id, 6..=128, "Custom ID invalid, must be 6-128 bytes.")?;
                user.custom_id = Some(id);
                "Custom ID already in use."
            }
            Credential::Email { email, password } => {
                check_email(&email)?;
                check_len(&password, 8..=4096, "Password must be at least 8 characters long.")?;
                user.email = Some(email);
                user.password_hash = Some(hash_password(&password)?);
                "Email is already in use."
            }
        };
        user.update_time = self.now();
        match self.store.update_user(&user) {
            Err(StoreError::Conflict(_)) => Err(ApiError::new(Code::AlreadyExists, taken)),
            other => Ok(other?),
        }
    }

    /// Removes `credential` from the account; the last way to sign in cannot go.
    pub fn unlink(&self, user_id: &str, credential: Credential) -> Result<(), ApiError> {
        let mut user =
            self.store.user(UserKey::Id(user_id))?.ok_or_else(|| ApiError::not_found("Account not found."))?;
        let held = match &credential {
            Credential::Device(id) => user.devices.contains(id),
            Credential::Custom(id) => user.custom_id.as_deref() == Some(id.as_str()),
            Credential::Email { email, .. } => user.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)),
        };
        let ways = user.devices.len() + usize::from(user.custom_id.is_some()) + usize::from(user.email.is_some());
        if !held || ways <= 1 {
            return Err(ApiError::new(
                Code::FailedPrecondition,
                "Cannot unlink last account identifier. Check profile exists and is not last link.",
            ));
        }
        match credential {
            Credential::Device(id) => user.devices.retain(|d| *d != id),
            Credential::Custom(_) => user.custom_id = None,
            Credential::Email { .. } => {
                user.email = None;
                user.password_hash = None;
            }
        }
        user.update_time = self.now();
        Ok(self.store.update_user(&user)?)
    }

    /// A new session from a refresh token (its variables, or `vars` if given).
    pub fn refresh(&self, refresh_token: &str, vars: Option<&BTreeMap<String, String>>) -> Result<Tokens, ApiError> {
        let claims = self.verify_refresh(refresh_token)?;
        let user = self
            .store
            .user(UserKey::Id(&claims.uid))?
            .ok_or_else(|| ApiError::unauthenticated("Refresh token invalid or expired."))?;
        if user.ban_until > self.now() {
            return Err(banned());
        }
        self.sessions.issue(&user.id, &user.username, vars.unwrap_or(&claims.vrs), self.now())
    }

    /// The claims of a session token (401 if invalid, expired or revoked).
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let now = self.now();
        let claims = self.sessions.verify(token, now, |tid| self.revoked.is_revoked(self.store.as_ref(), tid, now))?;
        if self.any_banned.load(std::sync::atomic::Ordering::Acquire) {
            let banned = self.banned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if banned.get(&claims.uid).is_some_and(|until| *until > now) {
                return Err(ApiError::unauthenticated("User account banned."));
            }
        }
        Ok(claims)
    }

    /// Bans `user_id` until `until` (Unix seconds; `i64::MAX` for good): they cannot sign
    /// in or refresh, and their session tokens stop working (the caller closes their
    /// sockets). `NotFound` if there is no such user.
    pub fn ban(&self, user_id: &str, until: i64) -> Result<(), ApiError> {
        if until <= self.now() {
            return Err(ApiError::invalid("A ban ends in the future."));
        }
        if !self.store.set_ban(user_id, until)? {
            return Err(ApiError::not_found("User account not found."));
        }
        self.banned.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(user_id.to_string(), until);
        self.any_banned.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Lifts `user_id`'s ban.
    pub fn unban(&self, user_id: &str) -> Result<(), ApiError> {
        if !self.store.set_ban(user_id, 0)? {
            return Err(ApiError::not_found("User account not found."));
        }
        self.banned.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(user_id);
        Ok(())
    }

    /// The claims of a refresh token (401 if invalid, expired or revoked).
    fn verify_refresh(&self, token: &str) -> Result<Claims, ApiError> {
        let now = self.now();
        self.sessions.verify_refresh(token, now, |tid| self.revoked.is_revoked(self.store.as_ref(), tid, now))
    }

    /// Revokes the session token and, if given, the refresh token. Tokens that are
    /// already invalid are ignored.
    pub fn logout(&self, token: &str, refresh_token: Option<&str>) -> Result<(), ApiError> {
        let now = self.now();
        let valid = [self.verify(token).ok(), refresh_token.and_then(|r| self.verify_refresh(r).ok())];
        for c in valid.into_iter().flatten() {
            self.revoked.revoke(self.store.as_ref(), &c.tid, &c.uid, c.exp, now)?;
        }
        Ok(())
    }
}
