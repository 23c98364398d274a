//! What the tests that speak HTTP to a server share.
#![allow(dead_code)]

pub mod console;
#[cfg(feature = "postgres")]
pub mod postgres;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

/// One request on its own connection to `addr`: (status, JSON body).
pub fn call_at(addr: SocketAddr, method: &str, path: &str, auth: &str, body: &str) -> (u16, Value) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = if auth.is_empty() { String::new() } else { format!("Authorization: {auth}\r\n") };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and close before taking a large body.
    let _ = c.write_all(body.as_bytes());
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
}

pub fn basic(key: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:")))
}

pub fn bearer(token: &Value) -> String {
    format!("Bearer {}", token.as_str().unwrap())
}
