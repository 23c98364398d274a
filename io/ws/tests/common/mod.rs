#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kaos_ws::{WsConfig, WsEvent, WsServer, WsStats};

/// An echo server on its own thread: every message goes back with its kind.
pub struct Echo {
    pub addr: SocketAddr,
    pub events: mpsc::Receiver<WsEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<WsStats>>,
}

impl Echo {
    pub fn start(cfg: WsConfig) -> Echo {
        let mut server = WsServer::bind("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, events) = mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut replies = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                server.poll(Some(Duration::from_millis(5))).unwrap();
                while server.accept().is_some() {}
                server.receive_all(|conn, kind, data| replies.push((conn, kind, data.to_vec())));
                for (conn, kind, data) in replies.drain(..) {
                    // "protocol?" is answered with the subprotocol the handshake chose.
                    let data = match &data[..] {
                        b"protocol?" => server.protocol(conn).unwrap_or("none").as_bytes().to_vec(),
                        _ => data,
                    };
                    let _ = server.send_kind(conn, kind, &data);
                }
                while let Some(e) = server.poll_event() {
                    let _ = tx.send(e);
                }
            }
            server.stats()
        });
        Echo { addr, events, stop, thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Stops the server and returns its counters.
    pub fn stop(mut self) -> WsStats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }

    /// The next close event, waiting up to `timeout`.
    pub fn next_close(&self, timeout: Duration) -> Option<kaos_ws::CloseReason> {
        match self.events.recv_timeout(timeout) {
            Ok(WsEvent::Closed { reason, .. }) => Some(reason),
            Err(_) => None,
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A client frame built by hand (for frames a correct client would never send).
pub fn frame(opcode: u8, payload: &[u8], masked: bool, fin: bool) -> Vec<u8> {
    let mut f = vec![opcode | if fin { 0x80 } else { 0 }];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n < 65536 => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// A raw TCP connection that has completed the WebSocket handshake.
pub fn raw_client(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

/// Reads one frame, unmasking a client's: (opcode, payload).
pub fn read_frame(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h)?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b)?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b)?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut mask = [0u8; 4];
    if h[1] & 0x80 != 0 {
        s.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload)?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Ok((h[0] & 0x0f, payload))
}

/// The close code of a close frame's payload.
pub fn close_code(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Runs `f` (a blocking client handshake) on a thread while `server` is polled here.
pub fn while_polling<T: Send>(server: &mut WsServer, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let handle = scope.spawn(f);
        while !handle.is_finished() {
            server.poll(Some(Duration::from_millis(2))).unwrap();
        }
        handle.join().unwrap()
    })
}
