//! A start that cannot happen says what failed and leaves nothing behind.

use kaos_server::config::{Config, Database};

fn config(dir: &std::path::Path, rudp_port: Option<u16>) -> Config {
    Config {
        address: "127.0.0.1".into(),
        port: 0,
        console_port: None,
        rudp_port,
        database: Database::Sqlite(dir.join("fresh/data/kaos.db")),
        ..Config::default()
    }
}

#[test]
fn a_taken_udp_port_is_named_and_the_new_database_is_removed() {
    let dir = std::env::temp_dir().join(format!("kaos-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let Err(e) = kaos_server::start(&config(&dir, Some(port)), |_| {}) else { panic!("the port is taken") };
    assert!(e.contains(&format!("udp://127.0.0.1:{port}")), "{e}");
    assert!(!dir.join("fresh").exists(), "the directories and database it made are gone");
    // The same start on a free port works and keeps its database.
    let running = kaos_server::start(&config(&dir, Some(0)), |_| {}).unwrap();
    running.shutdown();
    running.wait().unwrap();
    assert!(dir.join("fresh/data/kaos.db").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_data_path_through_a_file_is_named() {
    let dir = std::env::temp_dir().join(format!("kaos-start-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fresh"), b"not a directory").unwrap();
    let Err(e) = kaos_server::start(&config(&dir, None), |_| {}) else { panic!("the path goes through a file") };
    assert!(e.contains(&format!("{} is not a directory", dir.join("fresh").display())), "{e}");
    assert_eq!(std::fs::read(dir.join("fresh")).unwrap(), b"not a directory", "the file is left alone");
    std::fs::remove_dir_all(&dir).unwrap();
}
