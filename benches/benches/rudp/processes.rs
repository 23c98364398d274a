//! Bulk between processes: the server runs in a child process (this benchmark again, with
//! `KAOS_RUDP_SERVE` naming the library), the client here; both sleep on their sockets
//! as in `threads.rs`. The child times the messages from the first to the last it
//! receives and prints that with its thread's CPU time, then keeps acking until its
//! stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

// Shared with the benchmarks that also read the child's CPU time and memory.
#[allow(dead_code)]
#[path = "../common/child.rs"]
mod child;
#[allow(dead_code)]
#[path = "../common/procfs.rs"]
mod procfs;

use super::threads::{connect, listen, push, receive_bulk, Bulk, Timeline, WAIT};
use super::{thread_cpu, BULK};

/// The child: serves `lib` for one client.
pub fn serve(lib: &str) {
    let (port, accept) = listen(lib, None);
    println!("{port}");
    std::io::stdout().flush().unwrap();
    let mut end = accept();
    let cpu = thread_cpu();
    let mut wakes = Timeline::default();
    let secs = receive_bulk(end.as_mut(), &mut wakes).elapsed().as_secs_f64();
    println!("{secs} {}", (thread_cpu() - cpu).as_secs_f64());
    if std::env::var_os("KAOS_RUDP_TIMELINE").is_some() {
        eprintln!("server in a child process: {}", wakes.summary());
    }
    std::io::stdout().flush().unwrap();
    // Acks for whatever the client still resends, until the parent is done.
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        flag.store(true, Ordering::Release);
    });
    while !closed.load(Ordering::Acquire) {
        end.wait(WAIT);
        end.receive(&mut |_| {});
        end.flush();
    }
}

/// The client, here, against a server in a child process.
pub fn bulk(lib: &str) -> Bulk {
    let mut server = child::Child::start(&[("KAOS_RUDP_SERVE", lib)]);
    let mut client = connect(lib, server.addr);
    let stdout = server.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let (mut sent, mut refused) = (0u64, 0u64);
    let mut wakes = Timeline::default();
    let line = loop {
        push(client.as_mut(), &mut sent, &mut refused);
        if let Ok(line) = rx.try_recv() {
            break line;
        }
        client.wait(WAIT);
        wakes.record(client.as_ref(), sent);
    };
    server.stop();
    if std::env::var_os("KAOS_RUDP_TIMELINE").is_some() {
        eprintln!("client, server in a child process: {}", wakes.summary());
    }
    let mut fields = line.split_whitespace().map(|f| f.parse::<f64>().unwrap());
    let (secs, cpu) = (fields.next().unwrap(), fields.next().unwrap());
    // The first message's arrival starts the clock: BULK - 1 intervals.
    Bulk { per_sec: (BULK - 1) as f64 / secs, server_cpu: Duration::from_secs_f64(cpu), refused }
}
