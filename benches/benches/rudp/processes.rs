//! Bulk between processes: the server runs in a child process (this benchmark again, with
//! `KAOS_RUDP_SERVE` naming the library), the client here; both sleep on their sockets
//! as in `threads.rs`. The child times the messages from the first to the last it
//! receives and prints that with its thread's CPU time, then keeps acking until its
//! stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaos_rudp::IoBackend;

// Shared with the benchmarks that also read the child's CPU time and memory.
#[allow(dead_code)]
#[path = "../common/child.rs"]
mod child;
#[allow(dead_code)]
#[path = "../common/procfs.rs"]
mod procfs;

use super::threads::{kaos_accept, kaos_connect, kaos_listen, push, Bulk, End, WAIT};
use super::{peers, seq_of, thread_cpu, BULK};

fn backend(lib: &str) -> IoBackend {
    if lib == "kaos-uring" {
        IoBackend::Uring
    } else {
        IoBackend::Mio
    }
}

/// The child: serves `lib` for one client.
pub fn serve(lib: &str) {
    let mut end: Box<dyn End> = match lib {
        "kaos-mio" | "kaos-uring" => {
            let (server, port) = kaos_listen(backend(lib));
            announce(port);
            Box::new(kaos_accept(server))
        }
        "renet" => {
            let (server, port) = peers::renet_listen(None);
            announce(port);
            Box::new(peers::renet_accept(server))
        }
        "rusty_enet" => {
            let listener = peers::enet_listen();
            announce(listener.2);
            Box::new(peers::enet_accept(listener))
        }
        other => panic!("unknown library {other}"),
    };
    let cpu = thread_cpu();
    let (mut got, mut first) = (0u64, None);
    while got < BULK {
        end.wait(WAIT);
        end.receive(&mut |m| {
            assert_eq!(seq_of(m), got, "out of order");
            first.get_or_insert_with(Instant::now);
            got += 1;
        });
        end.flush();
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    println!("{secs} {}", (thread_cpu() - cpu).as_secs_f64());
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

fn announce(port: u16) {
    println!("{port}");
    std::io::stdout().flush().unwrap();
}

/// The client, here, against a server in a child process.
pub fn bulk(lib: &str) -> Bulk {
    let mut server = child::Child::start(&[("KAOS_RUDP_SERVE", lib)]);
    let mut client: Box<dyn End> = match lib {
        "kaos-mio" | "kaos-uring" => Box::new(kaos_connect(backend(lib), server.addr)),
        "renet" => Box::new(peers::renet_connect(server.addr)),
        "rusty_enet" => Box::new(peers::enet_connect(server.addr)),
        other => panic!("unknown library {other}"),
    };
    let stdout = server.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let (mut sent, mut refused) = (0u64, 0u64);
    let line = loop {
        push(client.as_mut(), &mut sent, &mut refused);
        if let Ok(line) = rx.try_recv() {
            break line;
        }
        client.wait(WAIT);
    };
    server.stop();
    let mut fields = line.split_whitespace().map(|f| f.parse::<f64>().unwrap());
    let (secs, cpu) = (fields.next().unwrap(), fields.next().unwrap());
    // The first message's arrival starts the clock: BULK - 1 intervals.
    Bulk { per_sec: (BULK - 1) as f64 / secs, server_cpu: Duration::from_secs_f64(cpu), refused }
}
