//! Session and refresh tokens: JWT HS256 with Nakama's claim names (`tid`, `uid`, `usn`,
//! `vrs`, `exp`, `iat`), which the client SDKs decode. Session and refresh tokens are
//! signed with different keys, so neither passes for the other. Logout revokes both by
//! token id.

use std::collections::BTreeMap;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::store::StoreError;

/// Token settings.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Signs session tokens.
    pub encryption_key: String,
    /// Session token lifetime, seconds.
    pub token_expiry_sec: i64,
    /// Signs refresh tokens.
    pub refresh_encryption_key: String,
    /// Refresh token lifetime, seconds.
    pub refresh_token_expiry_sec: i64,
    /// How failed password sign-ins to one account are slowed.
    pub failed_logins: crate::accounts::LoginLimits,
}

impl Default for SessionConfig {
    /// Nakama's defaults (fine for development; a production start must change the keys).
    fn default() -> Self {
        SessionConfig {
            encryption_key: "defaultencryptionkey".into(),
            token_expiry_sec: 60,
            refresh_encryption_key: "defaultrefreshencryptionkey".into(),
            refresh_token_expiry_sec: 3600,
            failed_logins: Default::default(),
        }
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Token id (for revocation).
    pub tid: String,
    /// User id.
    pub uid: String,
    /// Username.
    pub usn: String,
    /// Session variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vrs: BTreeMap<String, String>,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
}

/// A new session: both tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub token: String,
    pub refresh_token: String,
}

fn sign(claims: &Claims, key: &str) -> Result<String, ApiError> {
    sign_hs256(claims, key.as_bytes())
}

/// The claims of an HS256 JWT signed with `key` (expiry is the caller's to check).
pub fn verify_hs256<T: serde::de::DeserializeOwned>(token: &str, key: &[u8]) -> Result<T, ApiError> {
    crate::jwt_hs256::install();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    decode::<T>(token, &DecodingKey::from_secret(key), &validation)
        .map(|d| d.claims)
        .map_err(|_| ApiError::unauthenticated("Token invalid"))
}

/// Any claims as an HS256 JWT signed with `key` (server code's `jwt_generate`).
pub fn sign_hs256(claims: &impl serde::Serialize, key: &[u8]) -> Result<String, ApiError> {
    crate::jwt_hs256::install();
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(key))
        .map_err(|_| ApiError::new(crate::error::Code::Internal, "Could not sign the token."))
}

fn check(token: &str, key: &str, now: i64) -> Result<Claims, ApiError> {
    // Expiry is checked here against the caller's clock (tests inject one).
    let claims: Claims =
        verify_hs256(token, key.as_bytes()).map_err(|_| ApiError::unauthenticated("Auth token invalid"))?;
    if claims.exp <= now {
        return Err(ApiError::unauthenticated("Auth token invalid"));
    }
    Ok(claims)
}

impl SessionConfig {
    /// Issues a session and a refresh token for the user.
    pub fn issue(
        &self,
        user_id: &str,
        username: &str,
        vars: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<Tokens, ApiError> {
        let claims = |expiry: i64| Claims {
            tid: uuid::Uuid::new_v4().to_string(),
            uid: user_id.to_string(),
            usn: username.to_string(),
            vrs: vars.clone(),
            exp: now + expiry,
            iat: now,
        };
        Ok(Tokens {
            token: sign(&claims(self.token_expiry_sec), &self.encryption_key)?,
            refresh_token: sign(&claims(self.refresh_token_expiry_sec), &self.refresh_encryption_key)?,
        })
    }

    /// The claims of a correctly signed, unexpired session token, without asking whether
    /// it was revoked (`Accounts::verify` asks).
    pub fn decode(&self, token: &str, now: i64) -> Result<Claims, ApiError> {
        check(token, &self.encryption_key, now)
    }

    /// The claims of a valid, unexpired session token that `is_revoked` does not name.
    pub fn verify(
        &self,
        token: &str,
        now: i64,
        is_revoked: impl FnOnce(&str) -> Result<bool, StoreError>,
    ) -> Result<Claims, ApiError> {
        let claims = check(token, &self.encryption_key, now)?;
        if is_revoked(&claims.tid)? {
            return Err(ApiError::unauthenticated("Auth token invalid"));
        }
        Ok(claims)
    }

    /// The claims of a valid, unexpired refresh token that `is_revoked` does not name.
    pub fn verify_refresh(
        &self,
        token: &str,
        now: i64,
        is_revoked: impl FnOnce(&str) -> Result<bool, StoreError>,
    ) -> Result<Claims, ApiError> {
        let claims = check(token, &self.refresh_encryption_key, now)
            .map_err(|_| ApiError::unauthenticated("Refresh token invalid or expired."))?;
        if is_revoked(&claims.tid)? {
            return Err(ApiError::unauthenticated("Refresh token invalid or expired."));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, SessionStore};

    /// What `store` says of a token's revocation.
    fn revoked(store: &MemoryStore) -> impl FnOnce(&str) -> Result<bool, StoreError> + '_ {
        |tid| store.is_revoked(tid)
    }

    #[test]
    fn tokens_verify_until_they_expire_or_are_revoked() {
        let cfg = SessionConfig::default();
        let store = MemoryStore::new();
        let vars = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let t = cfg.issue("user-1", "alice", &vars, 1000).unwrap();
        let c = cfg.verify(&t.token, 1000, revoked(&store)).unwrap();
        assert_eq!((c.uid.as_str(), c.usn.as_str(), c.exp, c.iat), ("user-1", "alice", 1060, 1000));
        assert_eq!(c.vrs, vars);
        assert!(cfg.verify(&t.token, 1060, revoked(&store)).is_err(), "expired");
        // Session and refresh tokens do not pass for each other.
        assert!(cfg.verify(&t.refresh_token, 1000, revoked(&store)).is_err());
        assert!(cfg.verify_refresh(&t.token, 1000, revoked(&store)).is_err());
        let r = cfg.verify_refresh(&t.refresh_token, 4000, revoked(&store)).unwrap();
        assert_eq!(r.exp, 4600);
        // Tampered: another key, or a changed payload.
        let other = SessionConfig { encryption_key: "other".into(), ..SessionConfig::default() };
        assert!(other.verify(&t.token, 1000, revoked(&store)).is_err());
        let mut parts: Vec<String> = t.token.split('.').map(str::to_string).collect();
        parts[1] = parts[1].replacen('e', "f", 1);
        assert!(cfg.verify(&parts.join("."), 1000, revoked(&store)).is_err());
        store.revoke_token(&c.tid, "user-1", c.exp).unwrap();
        assert_eq!(cfg.verify(&t.token, 1000, revoked(&store)).unwrap_err().code, crate::error::Code::Unauthenticated);
    }
}
