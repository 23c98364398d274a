//! The seed's authentication API for server code and tools: requests and answers as
//! structs, over the same [`Accounts::authenticate`] the REST API calls.
//!
//! ```
//! use kaosnet::{AuthConfig, AuthService, DeviceAuthRequest, EmailAuthRequest};
//!
//! let auth = AuthService::new(AuthConfig::default());
//!
//! // Device auth (anonymous)
//! let response = auth.authenticate_device(DeviceAuthRequest {
//!     device_id: "unique-device-id".into(),
//!     create: true,
//!     username: Some("Player1".into()),
//! })?;
//! assert!(response.created);
//!
//! // Email auth
//! let response = auth.authenticate_email(EmailAuthRequest {
//!     email: "player@example.com".into(),
//!     password: "secure-password".into(),
//!     create: true,
//!     username: Some("Player2".into()),
//! })?;
//!
//! // Use the tokens
//! let access_token = response.token;
//! let refresh_token = response.refresh_token;
//! assert_eq!(auth.verify(&access_token)?.usn, "Player2");
//! assert!(auth.refresh(&refresh_token, None).is_ok());
//! # Ok::<(), kaosnet::ApiError>(())
//! ```
//!
//! (The seed names `Player1` for both accounts; a username is unique, so the second is
//! `Player2` here.)

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Accounts, Authenticated, Credential};
use crate::error::ApiError;
use crate::session::SessionConfig;

/// The seed's name for the accounts service.
pub type AuthService = Accounts;

/// Settings of accounts of their own (in memory): their sessions' keys and lifetimes.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub session: SessionConfig,
}

/// Sign in with a device id (10 to 128 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceAuthRequest {
    pub device_id: String,
    /// Create the account if it does not exist.
    pub create: bool,
    /// The new account's username (a random one if none).
    pub username: Option<String>,
}

/// Sign in with an email address and a password (8 or more bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmailAuthRequest {
    pub email: String,
    pub password: String,
    /// Create the account if it does not exist.
    pub create: bool,
    /// The new account's username (a random one if none).
    pub username: Option<String>,
}

/// A session: its tokens, whether the call created the account, and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResponse {
    pub token: String,
    pub refresh_token: String,
    pub created: bool,
    pub user_id: String,
    pub username: String,
}

impl From<Authenticated> for AuthResponse {
    fn from(a: Authenticated) -> AuthResponse {
        AuthResponse {
            token: a.tokens.token,
            refresh_token: a.tokens.refresh_token,
            created: a.created,
            user_id: a.user.id,
            username: a.user.username,
        }
    }
}

impl Accounts {
    /// Accounts of their own, in memory (for tests and tools; a server's are
    /// [`KaosNet::accounts`](crate::KaosNet::accounts)).
    pub fn new(config: AuthConfig) -> Accounts {
        Accounts::with_store(Arc::new(crate::store::MemoryStore::new()), config.session)
    }

    /// Signs in with a device id.
    pub fn authenticate_device(&self, r: DeviceAuthRequest) -> Result<AuthResponse, ApiError> {
        let credential = Credential::Device(r.device_id);
        Ok(self.authenticate(credential, r.create, r.username.as_deref(), &BTreeMap::new())?.into())
    }

    /// Signs in with an email address and a password.
    pub fn authenticate_email(&self, r: EmailAuthRequest) -> Result<AuthResponse, ApiError> {
        let credential = Credential::Email { email: r.email, password: r.password };
        Ok(self.authenticate(credential, r.create, r.username.as_deref(), &BTreeMap::new())?.into())
    }
}
