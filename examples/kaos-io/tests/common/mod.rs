//! The server the tests play on: free loopback ports, memory storage, no RUDP or console.

pub fn config() -> kaos_server::config::Config {
    kaos_server::config::Config {
        address: "127.0.0.1".into(),
        port: 0,
        rudp_port: None,
        console_port: None,
        database: kaos_server::config::Database::Memory,
        ..kaos_server::config::Config::default()
    }
}
