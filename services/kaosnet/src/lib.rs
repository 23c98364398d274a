//! KaosNet's game services behind a Nakama-compatible API.
//!
//! Layout:
//! - [`store`]: persistence behind the [`Store`](store::Store) trait (SQLite, PostgreSQL,
//!   memory), one conformance suite for all.
//! - [`error`]: errors with Nakama's gRPC codes and HTTP statuses.
//! - [`session`]: JWT session and refresh tokens with Nakama's claims, revocation.
//! - [`accounts`]: device, email and custom authentication, refresh, logout.

pub mod accounts;
pub mod error;
pub mod session;
pub mod store;

pub use error::{ApiError, Code};
