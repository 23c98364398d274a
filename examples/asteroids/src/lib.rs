//! Asteroids over kaos-rudp: the rules ([`world`]), the bit-packed messages ([`wire`]),
//! the 60 Hz server ([`server`]) and a pilot's connection ([`client`]), which the
//! terminal client (`asteroids-client NAME`) draws and the tests drive.

pub mod client;
pub mod server;
pub mod wire;
pub mod world;
