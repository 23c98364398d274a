//! Test helpers shared with the media driver's suite (`io/driver/tests`).

pub mod messages;
pub mod relay;
