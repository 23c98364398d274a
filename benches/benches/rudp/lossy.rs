//! Bulk over a lossy link: the threaded workload with a relay thread between client and
//! server that drops a share of the datagrams each way and delivers some late (after the
//! next one), like the relay in kaos-rudp's tests.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::threads::{connect, listen, push, receive_bulk, Timeline, WAIT};
use super::BULK;

/// Runs a relay on `socket` in front of `server`: returns a flag that stops it. `loss` is
/// the share of datagrams dropped, `late` the share held back and sent after the next.
fn relay(socket: UdpSocket, server: SocketAddr, loss: f64, late: f64) -> Arc<AtomicBool> {
    super::threads::big_buffers(&socket);
    socket.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let (mut client, mut held): (Option<SocketAddr>, Option<(Vec<u8>, SocketAddr)>) = (None, None);
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut roll = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut buf = [0u8; 2048];
        while !flag.load(Ordering::Acquire) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
            let to = if from == server {
                match client {
                    Some(c) => c,
                    None => continue,
                }
            } else {
                client = Some(from);
                server
            };
            if roll() < loss {
                continue;
            }
            if held.is_none() && roll() < late {
                held = Some((buf[..n].to_vec(), to));
                continue;
            }
            let _ = socket.send_to(&buf[..n], to);
            if let Some((late, to)) = held.take() {
                let _ = socket.send_to(&late, to);
            }
        }
    });
    stop
}

/// Bulk msgs/s of `lib` through a relay losing `loss` of the datagrams each way (and
/// delivering 1 % late), client and server on their own threads.
pub fn bulk(lib: &str, loss: f64) -> f64 {
    let relay_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay_addr = relay_socket.local_addr().unwrap();
    // netcode checks that the address the client dialled is the server's.
    let (port, accept) = listen(lib, Some(relay_addr));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stop_relay = relay(relay_socket, addr, loss, 0.01);
    let done = Arc::new(AtomicBool::new(false));
    let server_done = done.clone();
    let server_thread = std::thread::spawn(move || {
        let mut end = accept();
        let secs = receive_bulk(end.as_mut(), &mut Timeline::default()).elapsed().as_secs_f64();
        server_done.store(true, Ordering::Release);
        secs
    });
    let mut client = connect(lib, relay_addr);
    let (mut sent, mut refused) = (0u64, 0u64);
    while !done.load(Ordering::Acquire) {
        push(client.as_mut(), &mut sent, &mut refused);
        client.wait(WAIT);
    }
    let secs = server_thread.join().unwrap();
    stop_relay.store(true, Ordering::Release);
    if let Some(st) = client.stats().filter(|_| std::env::var_os("KAOS_RUDP_TIMELINE").is_some()) {
        eprintln!(
            "{lib} at {loss}: {} lost, {} timeouts, {} window cuts ({} for random loss), SRTT {:?}, cwnd {} B",
            st.packets_lost, st.timeouts, st.window_cuts, st.random_loss_cuts, st.rtt, st.cwnd
        );
    }
    (BULK - 1) as f64 / secs
}
