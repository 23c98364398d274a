//! Errors as Nakama clients expect them: a gRPC code and a message, sent as
//! `{"code": <n>, "message": "…"}` with the matching HTTP status.

use crate::store::{Refusal, StoreError};

/// gRPC status codes the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl Code {
    /// The code's gRPC name, as in metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Code::Cancelled => "cancelled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// The HTTP status grpc-gateway (and so Nakama) answers for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Code::Cancelled => 499,
            Code::Unknown | Code::Internal => 500,
            Code::InvalidArgument | Code::FailedPrecondition => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        }
    }
}

/// An error for a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {})", *code as i32)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::InvalidArgument, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Unauthenticated, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::NotFound, message)
    }

    /// The JSON body: `{"code": n, "message": "…"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"code": self.code as i32, "message": self.message, "error": self.message})
    }
}

/// A refused friend or group operation, with Nakama's code and message where it has one
/// (it answers "not found or permission denied" alike, so as not to reveal groups).
fn refusal(r: Refusal) -> ApiError {
    match r {
        Refusal::Myself => ApiError::invalid("Cannot add self as friend."),
        Refusal::UserNotFound => ApiError::not_found("User not found."),
        Refusal::BlockedByUser => ApiError::invalid("Cannot add a user who has blocked you."),
        Refusal::BlockedUser => ApiError::invalid("Cannot add a blocked user; delete the block first."),
        Refusal::GroupNotFound => ApiError::not_found("Group not found."),
        Refusal::PermissionDenied => ApiError::not_found("Group not found or permission denied."),
        Refusal::GroupFull => ApiError::invalid("Group is full."),
        Refusal::LastSuperadmin => ApiError::invalid("Cannot leave group when you are the last superadmin."),
        Refusal::Banned => ApiError::new(Code::PermissionDenied, "User is banned from this group."),
        Refusal::NameInUse => ApiError::new(Code::AlreadyExists, "Group name is in use."),
    }
}

impl From<StoreError> for ApiError {
    /// A backend failure is logged here, with where it was turned into an answer (the `?`
    /// of the operation that met it: `track_caller`) and the backend's own words.
    #[track_caller]
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Conflict(field) => ApiError::new(Code::AlreadyExists, format!("{field} is already in use")),
            StoreError::VersionMismatch => ApiError::invalid("Storage write rejected - version check failed."),
            StoreError::PermissionDenied => {
                ApiError::new(Code::PermissionDenied, "Storage write rejected - permission denied.")
            }
            StoreError::NotFound => ApiError::not_found("Not found."),
            StoreError::InvalidCursor => ApiError::invalid("Invalid cursor."),
            StoreError::Social(r) => refusal(r),
            StoreError::Wallet(why) => ApiError::invalid(why),
            // The detail goes to the server log; clients learn only that it failed.
            StoreError::Backend(detail) => {
                let at = std::panic::Location::caller();
                tracing::error!(target: "kaosnet::store", %at, "storage backend failed: {detail}");
                ApiError::new(Code::Internal, "Internal error.")
            }
        }
    }
}

/// A page size a caller asked for: 1 to `max`, in Nakama's words otherwise. Every listing
/// operation checks its own here, whoever calls it.
pub fn check_limit(limit: usize, max: usize) -> Result<(), ApiError> {
    if (1..=max).contains(&limit) {
        return Ok(());
    }
    Err(ApiError::invalid(format!("Invalid limit - limit must be between 1 and {max}.")))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    /// The log, kept for the test to read.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_backend_failure_is_logged_with_its_words_and_where_it_was_met() {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let answer = tracing::subscriber::with_default(subscriber, || -> Result<(), super::ApiError> {
            Err(crate::store::StoreError::Backend("disk I/O error".into()))?
        });
        let e = answer.unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (super::Code::Internal, "Internal error."), "clients learn no more");
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("ERROR") && text.contains("disk I/O error"), "{text}");
        assert!(text.contains(&format!("{}:", file!())), "the place of the `?`: {text}");
    }
}
