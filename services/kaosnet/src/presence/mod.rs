//! Who is where, and how a message reaches them: the sessions connected on any transport
//! ([`SessionRegistry`]), who is present on which stream ([`tracker`]), and delivery to
//! sessions, users and streams with presence events in each stream's shape ([`router`]),
//! encoded once per wire format ([`Frame`]). The services sit above this and the socket
//! transports (`realtime`) above them: no service imports the socket code.

mod frame;
mod registry;
pub mod router;
pub mod tracker;

pub use frame::{Format, Frame};
pub(crate) use registry::{Command, MailboxId};
pub use registry::{SessionId, SessionRegistry, Transport, MAX_SOCKET_THREADS};
pub use router::Notifier;
