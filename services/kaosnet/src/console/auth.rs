//! Who may use the console: console users (username, password, role) who sign in for a
//! console token (a JWT signed with the console's own key, never the client sessions'),
//! and API keys for automation (shown once, kept as a hash, revocable). Both live in
//! server-only storage objects of the system user; password sign-ins are throttled per
//! console user as players' are.

use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::roles::{Permission, Role};
use crate::accounts::throttle::LoginThrottle;
use crate::accounts::{hash_password, password_matches, LoginLimits};
use crate::error::{ApiError, Code};
use crate::storage::ops::MAX_SERVER_PAGE;
use crate::store::{Caller, ObjectDelete, ObjectId, ObjectWrite, VersionCheck};
use crate::KaosNet;

/// The owner of the console's objects.
const SYSTEM: &str = "00000000-0000-0000-0000-000000000000";
// In the collections storage operations refuse (`RESERVED_PREFIX`): only this module
// reads and writes them, on the store itself.
const USERS: &str = "kaos_console_users";
const KEYS: &str = "kaos_console_api_keys";
const SECRETS: &str = "kaos_console_secrets";
/// What an API key starts with (a console token is a JWT, `eyJ…`).
const KEY_PREFIX: &str = "kaoskey_";

/// Console sign-in settings.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Console token lifetime, seconds.
    pub token_expiry_sec: i64,
    pub login_limits: LoginLimits,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { token_expiry_sec: 3600, login_limits: LoginLimits::default() }
    }
}

/// Who is calling the console, and with which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The console user's name, or `key:<id>` for an API key.
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, Deserialize)]
struct ConsoleClaims {
    usn: String,
    rol: Role,
    tid: String,
    /// Issued at, Unix milliseconds: tokens from before a password change stop.
    #[serde(default)]
    iam: i64,
    exp: i64,
    /// Always "console": a client session token has none and another key.
    typ: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredUser {
    password_hash: String,
    role: Role,
    create_time: i64,
    /// Tokens issued before this (Unix milliseconds) are refused: set by a password change.
    #[serde(default)]
    tokens_after: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredKey {
    name: String,
    role: Role,
    hash: String,
    create_time: i64,
    revoked: bool,
}

/// Console users, API keys and tokens.
pub struct ConsoleAuth {
    kaos: Arc<KaosNet>,
    config: ConsoleConfig,
    key: Vec<u8>,
    throttle: LoginThrottle,
    /// Every guarded route (method, path, permission), as added.
    routes: Mutex<Vec<(kaos_http::Method, String, Permission)>>,
}

crate::opaque_debug!(ConsoleAuth);

/// `bytes` random bytes as hex; an error rather than a guessable key if the system has
/// no randomness to give.
fn random_text(bytes: usize) -> Result<String, ApiError> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(|e| ApiError::new(Code::Internal, format!("no system randomness: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|x| format!("{x:02x}")).collect()
}

fn unauthenticated(why: &str) -> ApiError {
    ApiError::unauthenticated(why)
}

impl ConsoleAuth {
    /// The console's auth over `kaos`'s storage; its signing key is made once and kept
    /// there (server-only), so tokens outlive a restart.
    pub fn new(kaos: Arc<KaosNet>, config: ConsoleConfig) -> Result<ConsoleAuth, ApiError> {
        let key =
            read_object::<Value>(&kaos, SECRETS, "signing_key")?.and_then(|v| v["key"].as_str().map(String::from));
        let key = match key {
            Some(k) => k,
            None => {
                let k = random_text(32)?;
                write_object(&kaos, SECRETS, "signing_key", &json!({ "key": k }), VersionCheck::Absent)?;
                k
            }
        };
        let throttle = LoginThrottle::new(config.login_limits);
        Ok(ConsoleAuth { kaos, config, key: key.into_bytes(), throttle, routes: Mutex::default() })
    }

    /// Records a route guarded by `permission` (for [`ConsoleAuth::routes`]).
    pub(crate) fn note_route(&self, method: kaos_http::Method, path: &str, permission: Permission) {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner).push((method, path.into(), permission));
    }

    /// Every guarded route and what it needs: what a UI shows each role.
    pub fn routes(&self) -> Vec<(kaos_http::Method, String, Permission)> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn now(&self) -> i64 {
        self.kaos.accounts().now()
    }

    /// On a console with no users, makes `admin` with `password`, or with a strong one
    /// made here, which is returned (to print once and keep). None if users exist.
    pub fn bootstrap(&self, password: Option<&str>) -> Result<Option<String>, ApiError> {
        if !self.users()?.is_empty() {
            return Ok(None);
        }
        let made = match password {
            Some(p) => {
                self.create_user("admin", p, Role::Admin)?;
                return Ok(None);
            }
            None => random_text(12)?,
        };
        self.create_user("admin", &made, Role::Admin)?;
        Ok(Some(made))
    }

    /// Signs a console user in: their token.
    pub fn authenticate(&self, username: &str, password: &str) -> Result<String, ApiError> {
        let name = username.to_lowercase();
        let now = self.now();
        self.throttle.check(&name, now)?;
        let stored = self.user(&name)?;
        let known = stored.is_some();
        let Some(user) = stored.filter(|u| password_matches(password, &u.password_hash)) else {
            // Failures count against console users that exist.
            if known {
                self.throttle.failed(&name, now);
            }
            return Err(unauthenticated("Invalid credentials."));
        };
        self.throttle.succeeded(&name);
        self.issue(name, user.role)
    }

    fn issue(&self, name: String, role: Role) -> Result<String, ApiError> {
        let now = self.now();
        let claims = ConsoleClaims {
            usn: name,
            rol: role,
            tid: random_text(16)?,
            iam: now_millis(),
            exp: now + self.config.token_expiry_sec,
            typ: "console".into(),
        };
        crate::session::sign_hs256(&claims, &self.key)
    }

    /// A fresh token for the holder of a valid one, which ends.
    pub fn refresh(&self, authorization: Option<&str>) -> Result<String, ApiError> {
        let token = authorization.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
        if token.starts_with(KEY_PREFIX) {
            return Err(ApiError::invalid("API keys do not expire: there is nothing to refresh."));
        }
        let who = self.token_principal(token)?;
        self.logout(authorization)?;
        self.issue(who.name, who.role)
    }

    /// A console user changes their own password, giving the current one (throttled as a
    /// sign-in is); their other tokens stop, and the answer is a new one.
    pub fn change_own_password(
        &self,
        authorization: Option<&str>,
        current: &str,
        new: &str,
    ) -> Result<String, ApiError> {
        let token = authorization.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
        if token.starts_with(KEY_PREFIX) {
            return Err(ApiError::invalid("API keys have no password."));
        }
        let who = self.token_principal(token)?;
        // A wrong current password is this request's failure, not the session's (401).
        self.authenticate(&who.name, current).map_err(|e| match e.code {
            Code::Unauthenticated => ApiError::invalid("The current password is wrong."),
            _ => e,
        })?;
        self.update_user(&who.name, Some(new), None)?;
        self.issue(who.name, who.role)
    }

    /// Sets a console user's password (their tokens issued before stop) or role.
    pub fn update_user(&self, username: &str, password: Option<&str>, role: Option<Role>) -> Result<(), ApiError> {
        let name = username.to_lowercase();
        let mut user = self.user(&name)?.ok_or_else(|| ApiError::not_found("Console user not found."))?;
        if let Some(p) = password {
            check_password(p)?;
            user.password_hash = hash_password(p)?;
            user.tokens_after = now_millis();
        }
        if let Some(r) = role {
            if user.role == Role::Admin && r != Role::Admin {
                self.keep_an_admin()?;
            }
            user.role = r;
        }
        write_object(&self.kaos, USERS, &name, &json!(user), VersionCheck::Any)
    }

    /// Who `authorization` (`Bearer <console token>` or `Bearer <API key>`) is.
    pub fn principal(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let credential = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| unauthenticated("Console credentials required."))?;
        match credential.strip_prefix(KEY_PREFIX) {
            Some(key) => self.api_key_principal(key),
            None => self.token_principal(credential),
        }
    }

    /// The principal if it holds `p`: 401 without credentials, 403 without the role.
    pub fn require(&self, authorization: Option<&str>, p: Permission) -> Result<Principal, ApiError> {
        let who = self.principal(authorization)?;
        if !who.role.may(p) {
            return Err(ApiError::new(
                Code::PermissionDenied,
                format!("The {} role may not do this.", who.role.name()),
            ));
        }
        Ok(who)
    }

    fn token_principal(&self, token: &str) -> Result<Principal, ApiError> {
        let claims: ConsoleClaims =
            crate::session::verify_hs256(token, &self.key).map_err(|_| unauthenticated("Invalid console token."))?;
        if claims.typ != "console" {
            return Err(unauthenticated("Invalid console token."));
        }
        if claims.exp <= self.now() {
            return Err(unauthenticated("Console token expired."));
        }
        // Logged-out tokens are kept with players' revoked ones (ids differ in form), so
        // they stay out across restarts.
        if self.kaos.accounts().store().is_revoked(&console_token_id(&claims.tid))? {
            return Err(unauthenticated("Console token logged out."));
        }
        // A user deleted or changed since the token was made holds what they hold now.
        let user = self.user(&claims.usn)?.ok_or_else(|| unauthenticated("Console user no longer exists."))?;
        if claims.iam < user.tokens_after {
            return Err(unauthenticated("Console token from before a password change."));
        }
        Ok(Principal { name: claims.usn, role: user.role })
    }

    /// Ends a console token before it expires.
    pub fn logout(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        let token = authorization.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
        let claims: ConsoleClaims =
            crate::session::verify_hs256(token, &self.key).map_err(|_| unauthenticated("Invalid console token."))?;
        let store = self.kaos.accounts().store();
        Ok(store.revoke_token(&console_token_id(&claims.tid), SYSTEM, claims.exp)?)
    }

    fn api_key_principal(&self, key: &str) -> Result<Principal, ApiError> {
        let (id, secret) = key.split_once('_').ok_or_else(|| unauthenticated("Invalid API key."))?;
        let stored =
            read_object::<StoredKey>(&self.kaos, KEYS, id)?.ok_or_else(|| unauthenticated("Invalid API key."))?;
        if stored.revoked {
            return Err(unauthenticated("API key revoked."));
        }
        if !constant_time_eq(sha256_hex(secret).as_bytes(), stored.hash.as_bytes()) {
            return Err(unauthenticated("Invalid API key."));
        }
        Ok(Principal { name: format!("key:{id}"), role: stored.role })
    }

    fn user(&self, name: &str) -> Result<Option<StoredUser>, ApiError> {
        read_object(&self.kaos, USERS, &name.to_lowercase())
    }

    /// The console's objects of `collection` that read as `T`, by key.
    fn listed<T: serde::de::DeserializeOwned>(&self, collection: &str) -> Result<Vec<(String, T)>, ApiError> {
        let store = self.kaos.accounts().store();
        let page = store.list_objects(Caller::Server, collection, Some(SYSTEM), MAX_SERVER_PAGE, None)?;
        Ok(page.objects.into_iter().filter_map(|o| Some((o.id.key, serde_json::from_str(&o.value).ok()?))).collect())
    }

    /// Console users: name, role, create time (never their password hashes).
    pub fn users(&self) -> Result<Vec<Value>, ApiError> {
        let users = self.listed::<StoredUser>(USERS)?;
        Ok(users
            .into_iter()
            .map(|(name, u)| json!({ "username": name, "role": u.role, "create_time": u.create_time }))
            .collect())
    }

    /// Adds a console user; `AlreadyExists` if the name is taken.
    pub fn create_user(&self, username: &str, password: &str, role: Role) -> Result<(), ApiError> {
        let name = username.to_lowercase();
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(ApiError::invalid("Console usernames are 1 to 64 letters, digits, '.', '_' or '-'."));
        }
        check_password(password)?;
        // A user made again under a deleted one's name does not inherit its tokens.
        let tokens_after = now_millis();
        let user = StoredUser { password_hash: hash_password(password)?, role, create_time: self.now(), tokens_after };
        match write_object(&self.kaos, USERS, &name, &json!(user), VersionCheck::Absent) {
            Err(e) if e.message.contains("version check") => {
                Err(ApiError::new(Code::AlreadyExists, "Console username already in use."))
            }
            other => other,
        }
    }

    /// Removes a console user (their tokens stop working at once).
    pub fn delete_user(&self, username: &str) -> Result<(), ApiError> {
        let name = username.to_lowercase();
        let user = self.user(&name)?.ok_or_else(|| ApiError::not_found("Console user not found."))?;
        if user.role == Role::Admin {
            self.keep_an_admin()?;
        }
        let id = ObjectId { collection: USERS.into(), key: name, user_id: SYSTEM.into() };
        Ok(self.kaos.accounts().store().delete_objects(Caller::Server, &[ObjectDelete { id, version: None }])?)
    }

    /// Refuses a change that would leave no admin (only an admin manages console users).
    fn keep_an_admin(&self) -> Result<(), ApiError> {
        let admins = self.listed::<StoredUser>(USERS)?.iter().filter(|(_, u)| u.role == Role::Admin).count();
        if admins <= 1 {
            return Err(ApiError::invalid("The last admin stays an admin."));
        }
        Ok(())
    }

    /// Makes an API key: its id and the key itself, shown this once.
    pub fn create_api_key(&self, name: &str, role: Role) -> Result<(String, String), ApiError> {
        let (id, secret) = (random_text(6)?, random_text(24)?);
        let key =
            StoredKey { name: name.into(), role, hash: sha256_hex(&secret), create_time: self.now(), revoked: false };
        write_object(&self.kaos, KEYS, &id, &json!(key), VersionCheck::Absent)?;
        Ok((id.clone(), format!("{KEY_PREFIX}{id}_{secret}")))
    }

    /// API keys: id (the prefix shown), name, role, create time, revoked.
    pub fn api_keys(&self) -> Result<Vec<Value>, ApiError> {
        let keys = self.listed::<StoredKey>(KEYS)?;
        Ok(keys
            .into_iter()
            .map(|(id, k)| {
                json!({
                    "id": id, "prefix": format!("{KEY_PREFIX}{id}_"), "name": k.name,
                    "role": k.role, "create_time": k.create_time, "revoked": k.revoked,
                })
            })
            .collect())
    }

    /// Revokes API key `id`.
    pub fn revoke_api_key(&self, id: &str) -> Result<(), ApiError> {
        let mut key =
            read_object::<StoredKey>(&self.kaos, KEYS, id)?.ok_or_else(|| ApiError::not_found("API key not found."))?;
        key.revoked = true;
        write_object(&self.kaos, KEYS, id, &json!(key), VersionCheck::Any)
    }
}

fn read_object<T: serde::de::DeserializeOwned>(
    kaos: &KaosNet,
    collection: &str,
    key: &str,
) -> Result<Option<T>, ApiError> {
    if key.is_empty() || key.len() > 128 {
        return Ok(None);
    }
    let ids = vec![ObjectId { collection: collection.into(), key: key.into(), user_id: SYSTEM.into() }];
    let found = kaos.accounts().store().read_objects(&ids)?.pop();
    Ok(found.and_then(|o| serde_json::from_str(&o.value).ok()))
}

fn write_object(
    kaos: &KaosNet,
    collection: &str,
    key: &str,
    value: &Value,
    version: VersionCheck,
) -> Result<(), ApiError> {
    let id = ObjectId { collection: collection.into(), key: key.into(), user_id: SYSTEM.into() };
    let w = ObjectWrite { id, value: value.to_string(), version, permission_read: 0, permission_write: 0 };
    kaos.accounts().store().write_objects(Caller::Server, &[w], kaos.accounts().now())?;
    Ok(())
}

/// A console token's id where revoked tokens are kept.
fn console_token_id(tid: &str) -> String {
    format!("console:{tid}")
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.len() < 8 || password.len() > 128 {
        return Err(ApiError::invalid("Console passwords are 8 to 128 characters."));
    }
    Ok(())
}

fn now_millis() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    since.as_millis() as i64
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(token_expiry_sec: i64) -> ConsoleAuth {
        let kaos = KaosNet::new(Arc::new(crate::store::MemoryStore::new()), Default::default(), Default::default());
        let auth = ConsoleAuth::new(kaos, ConsoleConfig { token_expiry_sec, ..ConsoleConfig::default() }).unwrap();
        auth.bootstrap(Some("a-long-admin-password")).unwrap();
        auth
    }

    #[test]
    fn expired_tokens_are_refused_saying_so() {
        let past = auth(-1);
        let token = past.authenticate("admin", "a-long-admin-password").unwrap();
        let e = past.principal(Some(&format!("Bearer {token}"))).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (Code::Unauthenticated, "Console token expired."));
        let live = auth(60);
        let token = live.authenticate("ADMIN", "a-long-admin-password").unwrap();
        let who = live.principal(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!((who.name.as_str(), who.role), ("admin", Role::Admin));
        // Another server's console key signs nothing here.
        assert!(past.principal(Some(&format!("Bearer {token}"))).is_err());
    }
}
