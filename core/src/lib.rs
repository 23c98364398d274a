//! # kaos-core: KaosNet's sans-IO protocol core
//!
//! Everything KaosNet sends over a network passes through this crate: packet views,
//! sequence numbers and ack windows, four delivery modes, fragmentation, RTT/RTO
//! estimation and AIMD congestion control, the [`conn::Connection`] state machine with a
//! stateless-cookie handshake, a server-side [`endpoint::Endpoint`], a shared-memory
//! message [`ring`], and quantization and interpolation helpers for game state.
//!
//! ## Guarantees
//! - `#![no_std]`, and no `alloc`: every capacity is a const generic, a compile-time
//!   constant or a caller-provided buffer. `examples/embedded` proves it by linking for a
//!   bare-metal target without a global allocator.
//! - Sans-IO and deterministic: nothing reads a clock, a socket or a random source. Time
//!   is an [`time::Instant`] passed to every call; randomness is a seed or key passed in.
//! - Hostile input is data: decoders return typed errors for truncated, oversized,
//!   wrong-protocol and wrong-checksum input; nothing panics, nothing grows past its cap.
//! - `unsafe` code lives only in [`ring`], each block with a `// SAFETY:` argument.
//!
//! ## Layout
//! - [`time`]: microsecond `Instant` / `Duration`.
//! - [`wire`]: datagram and frame views (`new_checked`, parse/emit), checksum.
//! - [`seq`], [`window`]: wrapping 16-bit sequence arithmetic, ack bitfields, replay window.
//! - [`congestion`]: RFC 6298 RTT/RTO estimator, AIMD window (random losses cut a
//!   fifth, losses behind a queue half), statistics.
//! - [`channel`]: delivery modes and per-channel send/receive state.
//! - [`fragment`]: reassembly of unreliable fragmented messages.
//! - [`conn`]: the [`conn::Connection`] state machine. [`endpoint`]: server demultiplexer.
//! - [`ring`]: SPSC / MPSC variable-length message ring over caller memory.
//! - [`quant`], [`interp`]: quantization, bit packing, snapshot interpolation.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod channel;
pub mod config;
pub mod congestion;
pub mod conn;
pub mod endpoint;
pub mod fragment;
pub mod interp;
pub mod quant;
mod queue;
pub mod ring;
pub mod seq;
pub mod time;
pub mod window;
pub mod wire;
