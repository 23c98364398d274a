//! Test helpers shared with the media driver's suite (`io/driver/tests`).

pub mod messages;
pub mod relay;

/// Every test function named, each taking an `IoBackend`, once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod mio {
            $(#[test] fn $name() { super::$name(kaos_rudp::IoBackend::Mio) })*
        }
        #[cfg(target_os = "linux")]
        mod uring {
            $(#[test] fn $name() { super::$name(kaos_rudp::IoBackend::Uring) })*
        }
    };
}
pub(crate) use on_both_backends;
