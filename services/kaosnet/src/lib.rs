//! KaosNet's game services behind a Nakama-compatible API.
//!
//! Layout:
//! - [`store`]: persistence behind the [`Store`](store::Store) trait (SQLite, PostgreSQL,
//!   memory), one conformance suite for all.

pub mod store;
