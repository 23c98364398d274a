//! Faults: a killed driver, applications killed mid-write, files left by a dead driver,
//! a version mismatch, corrupted rings, and ten million checksummed messages between two
//! processes.
//!
//! Child processes are this test binary run again with `KAOS_DRIVER_ROLE` set: the test
//! `child_role` then plays the part and never returns.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{any, check, fresh_dir, message, until, DriverProcess};
use kaos_core::ring::{self, Ring};
use kaos_rudp::driver::layout::{self, Cnc, LAYOUT_VERSION};
use kaos_rudp::driver::proto::{self, Command as DriverCommand, EndpointSpec};
use kaos_rudp::driver::{DriverError, DriverTransport};
use kaos_rudp::{DisconnectReason, RudpConfig, RudpServer, ServerEvent, Transport, TransportError};

const LONG: Duration = Duration::from_secs(60);
const ROLE: &str = "KAOS_DRIVER_ROLE";

/// This binary again, playing `role` with `args`.
fn spawn_role(role: &str, args: &[&str]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env("KAOS_DRIVER_ARGS", args.join("\n"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else { return };
    let args: Vec<String> = std::env::var("KAOS_DRIVER_ARGS").unwrap().split('\n').map(String::from).collect();
    match role.as_str() {
        "writer" => writer(Path::new(&args[0]), args[1].parse().unwrap()),
        "producer" => ring_producer(Path::new(&args[0])),
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

/// A message whose every byte depends on `seq`, `len` bytes long, ending in a CRC of
/// the rest: a torn or mixed-up copy fails `verify`.
fn checked(seq: u64, len: usize, out: &mut Vec<u8>) -> &[u8] {
    out.clear();
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend((8..len - 4).map(|k| (seq.wrapping_mul(31) as usize ^ k) as u8));
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[track_caller]
fn verify(m: &[u8]) -> u64 {
    assert!(m.len() >= 12, "message of {} bytes", m.len());
    let (body, crc) = m.split_at(m.len() - 4);
    assert_eq!(crc32fast::hash(body).to_le_bytes(), crc, "checksum of a {}-byte message", m.len());
    u64::from_le_bytes(body[..8].try_into().unwrap())
}

/// Child: sends 4 KiB checksummed messages to `server` through the driver as fast as the
/// ring takes them, forever (until killed).
fn writer(dir: &Path, server: SocketAddr) {
    let mut t = DriverTransport::new(dir, any(), server, 256).unwrap();
    let mut buf = Vec::new();
    let mut seq = 0;
    println!("ready");
    loop {
        if t.send(checked(seq, 4096, &mut buf)).is_ok() {
            seq += 1;
        }
        t.process_acks().unwrap();
    }
}

#[test]
fn a_killed_driver_is_reported_gone_within_a_second() {
    let mut driver = DriverProcess::start("killed");
    let mut server = RudpServer::bind(any(), 64).unwrap();
    let mut client = DriverTransport::new(&driver.dir, any(), server.local_addr().unwrap(), 64).unwrap();
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        client.process_acks().unwrap();
        client.is_connected()
    });
    driver.kill();
    let killed = Instant::now();
    let err = loop {
        match client.receive(&mut |_| ()) {
            Ok(_) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => break e,
        }
    };
    let took = killed.elapsed();
    eprintln!("DriverGone {took:?} after SIGKILL");
    assert!(matches!(err, TransportError::Driver(DriverError::Gone)), "{err}");
    assert!(took < Duration::from_secs(1), "DriverGone after {took:?}");
    // Every later call says the same, sends included.
    assert!(matches!(client.send(b"x"), Err(TransportError::Driver(DriverError::Gone))));
    // A new transport finds no driver.
    let err = DriverTransport::new(&driver.dir, any(), server.local_addr().unwrap(), 64).unwrap_err();
    assert!(matches!(err, DriverError::NotRunning(_)), "{err}");
}

/// The server side of the mid-write test: checks the writer's stream and echoes the
/// neighbour's.
struct MidWrite {
    server: RudpServer,
    neighbour: DriverTransport,
    from_writer: u64,
    writer_addr: Option<SocketAddr>,
    echoed: u32,
    sent: u32,
    events: Vec<ServerEvent>,
    buf: Vec<u8>,
}

impl MidWrite {
    fn step(&mut self) {
        self.server.poll(Some(Duration::from_millis(1))).unwrap();
        let neighbour_addr = self.neighbour.local_addr();
        let mut echo = Vec::new();
        let (from_writer, writer_addr) = (&mut self.from_writer, &mut self.writer_addr);
        self.server.receive_all(|from, _, data| {
            if Some(from) == neighbour_addr {
                echo.push(data.to_vec());
            } else {
                *writer_addr = Some(from);
                assert_eq!(verify(data), *from_writer, "writer's messages out of order");
                *from_writer += 1;
            }
        });
        for m in echo {
            self.server.send(&neighbour_addr.unwrap(), &m).unwrap();
        }
        self.events.extend(std::iter::from_fn(|| self.server.poll_event()));
        if self.neighbour.is_connected() && self.neighbour.send(message(self.sent, &mut self.buf)).is_ok() {
            self.sent += 1;
        }
        let echoed = &mut self.echoed;
        self.neighbour
            .receive(&mut |d| {
                assert_eq!(check(d), *echoed);
                *echoed += 1;
            })
            .unwrap();
    }
}

#[test]
fn an_application_killed_mid_write_hurts_no_one() {
    let driver = DriverProcess::start("midwrite");
    let server = RudpServer::bind(any(), 256).unwrap();
    let saddr = server.local_addr().unwrap();
    let mut child = spawn_role("writer", &[driver.dir.to_str().unwrap(), &saddr.to_string()]);
    let mut line = [0; 6];
    child.stdout.as_mut().unwrap().read_exact(&mut line).unwrap();
    // A neighbour exchanging messages the whole time.
    let neighbour = DriverTransport::new(&driver.dir, any(), saddr, 256).unwrap();
    let mut t = MidWrite {
        server,
        neighbour,
        from_writer: 0,
        writer_addr: None,
        echoed: 0,
        sent: 0,
        events: Vec::new(),
        buf: Vec::new(),
    };
    until(LONG, || {
        t.step();
        t.from_writer > 2000
    });
    // Killed while it writes 4 KiB messages as fast as the ring takes them.
    child.kill().unwrap();
    child.wait().unwrap();
    // The driver closes the writer's connection for it; nothing torn arrived before.
    until(LONG, || {
        t.step();
        t.events.iter().any(|e| matches!(e, ServerEvent::Disconnected(a, _) if Some(*a) == t.writer_addr))
    });
    // The neighbour goes on.
    let before = t.echoed;
    until(LONG, || {
        t.step();
        t.echoed > before + 100
    });
    // The dead writer's slot is free again.
    let cnc = Cnc::open(&driver.dir).unwrap();
    until(LONG, || {
        let taken = (0..cnc.slots()).filter(|&i| cnc.owner(i).load(std::sync::atomic::Ordering::Acquire) != 0).count();
        taken == 1
    });
}

/// A client's own slot, made by hand so the test can stop mid-record.
struct RawClient {
    control: ring::Producer<'static>,
    to_driver: ring::Producer<'static>,
    _map: memmap2::MmapMut,
    slot: usize,
}

fn raw_client(dir: &Path) -> (Cnc, RawClient) {
    let cnc = Cnc::open(dir).unwrap();
    let slot = (0..cnc.slots())
        .find(|&i| {
            let w = layout::owner_word(std::process::id(), layout::SLOT_CLAIMED);
            cnc.owner(i)
                .compare_exchange(0, w, std::sync::atomic::Ordering::AcqRel, std::sync::atomic::Ordering::Relaxed)
                .is_ok()
        })
        .unwrap();
    let rings = layout::create_slot(dir, slot, &cnc).unwrap();
    // Re-map for the test's own producers: the same file, the same rings.
    let file = std::fs::OpenOptions::new().read(true).write(true).open(layout::slot_file(dir, slot)).unwrap();
    drop(rings);
    // SAFETY: only the producers below (and the driver's consumers) touch the mapping.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&file) }.unwrap();
    let base = map.as_mut_ptr();
    let c = ring::region_len(cnc.control_bytes());
    // SAFETY: regions inside the mapping, which lives as long as the producers.
    let (control, _) = unsafe { Ring::from_raw(base, c) }.unwrap().split();
    // SAFETY: as above.
    let (to_driver, _) = unsafe { Ring::from_raw(base.add(c), ring::region_len(cnc.data_bytes())) }.unwrap().split();
    cnc.owner(slot)
        .store(layout::owner_word(std::process::id(), layout::SLOT_READY), std::sync::atomic::Ordering::Release);
    (cnc, RawClient { control, to_driver, _map: map, slot })
}

fn command(c: &mut RawClient, cmd: DriverCommand) {
    let mut b = [0; proto::MAX_COMMAND];
    let n = cmd.encode(&mut b);
    c.control.push(&b[..n]).unwrap();
}

fn to_driver(c: &mut RawClient, data: &[u8]) {
    let mut claim = c.to_driver.claim(proto::TO_DRIVER_HEADER + data.len()).unwrap();
    proto::put_to_driver(&mut claim, 0, 0);
    claim[proto::TO_DRIVER_HEADER..].copy_from_slice(data);
    claim.commit();
}

/// The record a dying writer had half written is never read: the driver sends the
/// whole message before it and closes the connection.
#[test]
fn a_record_written_halfway_is_never_read() {
    let driver = DriverProcess::start("torn");
    let mut server = RudpServer::bind(any(), 64).unwrap();
    let (cnc, mut c) = raw_client(&driver.dir);
    let spec = EndpointSpec::of(&RudpConfig::with_window(64));
    command(&mut c, DriverCommand::Connect { spec, bind: any(), server: server.local_addr().unwrap() });
    to_driver(&mut c, b"whole");
    {
        let mut claim = c.to_driver.claim(proto::TO_DRIVER_HEADER + 100).unwrap();
        proto::put_to_driver(&mut claim, 0, 0);
        claim[proto::TO_DRIVER_HEADER..58].fill(0xEE);
        // The writer "dies" here: the claim is never committed (dropping a claim
        // publishes nothing).
        let _ = claim;
    }
    let mut got = Vec::new();
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.receive_all(|_, _, d| got.push(d.to_vec()));
        !got.is_empty()
    });
    // The client goes away as a killed process would look to the driver.
    cnc.owner(c.slot)
        .store(layout::owner_word(std::process::id(), layout::SLOT_CLOSING), std::sync::atomic::Ordering::Release);
    let mut events = Vec::new();
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        server.receive_all(|_, _, d| got.push(d.to_vec()));
        events.extend(std::iter::from_fn(|| server.poll_event()));
        events.iter().any(|e| matches!(e, ServerEvent::Disconnected(..)))
    });
    assert_eq!(got, vec![b"whole".to_vec()]);
    assert!(matches!(events.last(), Some(ServerEvent::Disconnected(_, DisconnectReason::Remote(0)))), "{events:?}");
}

#[test]
fn corrupted_rings_and_bad_commands_close_only_that_clients_channel() {
    let driver = DriverProcess::start("corrupt");
    let mut server = RudpServer::bind(any(), 64).unwrap();
    let saddr = server.local_addr().unwrap();
    let mut good = DriverTransport::new(&driver.dir, any(), saddr, 64).unwrap();
    // A client whose to-driver ring gets an impossible producer counter.
    let mut broken = DriverTransport::new(&driver.dir, any(), saddr, 64).unwrap();
    // One that sends a command the driver does not know.
    let (cnc, mut garbled) = raw_client(&driver.dir);
    let connected = |server: &mut RudpServer, t: &mut DriverTransport| {
        until(LONG, || {
            server.poll(Some(Duration::from_millis(1))).unwrap();
            t.process_acks().unwrap();
            t.is_connected()
        })
    };
    connected(&mut server, &mut good);
    connected(&mut server, &mut broken);
    // Slots are claimed in order: good 0, broken 1, garbled 2.
    let slot_file = std::fs::OpenOptions::new().write(true).open(layout::slot_file(&driver.dir, 1)).unwrap();
    let tail_at = ring::region_len(cnc.control_bytes()) + ring::TAIL_OFFSET;
    slot_file.write_all_at(&(u64::MAX - 7).to_ne_bytes(), tail_at as u64).unwrap();
    garbled.control.push(&[99, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    // (The client sends nothing more: its next publish would overwrite the counter.)
    let err = loop {
        match broken.receive(&mut |_| ()) {
            Ok(_) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(&err, TransportError::Driver(DriverError::ChannelClosed(why)) if why.contains("corrupted")),
        "{err}"
    );
    until(LONG, || {
        let w = cnc.owner(garbled.slot).load(std::sync::atomic::Ordering::Acquire);
        layout::owner_parts(w).1 == layout::SLOT_FAILED
    });
    assert_eq!(
        cnc.slot_error(garbled.slot).load(std::sync::atomic::Ordering::Relaxed),
        kaos_rudp::driver::slot_error::BAD_COMMAND
    );
    // The good client is untouched.
    let mut echoed = Vec::new();
    let mut sent = false;
    until(LONG, || {
        server.poll(Some(Duration::from_millis(1))).unwrap();
        let mut echo = Vec::new();
        server.receive_all(|from, _, d| echo.push((from, d.to_vec())));
        for (to, d) in echo {
            let _ = server.send(&to, &d);
        }
        if !sent {
            sent = good.send(b"still here").is_ok();
        }
        good.receive(&mut |d| echoed.push(d.to_vec())).unwrap();
        !echoed.is_empty()
    });
    assert_eq!(echoed, vec![b"still here".to_vec()]);
}

#[test]
fn files_left_by_a_dead_driver_are_reclaimed_and_a_live_one_is_not_displaced() {
    let dir = fresh_dir("reclaim");
    let mut first = DriverProcess::start_in(dir.clone(), false);
    let server = RudpServer::bind(any(), 64).unwrap();
    let mut old = DriverTransport::new(&dir, any(), server.local_addr().unwrap(), 64).unwrap();
    first.kill();
    assert!(layout::slot_file(&dir, 0).exists(), "the dead driver's files are still there");
    let mut second = DriverProcess::start_in(dir.clone(), true);
    let mut banner = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(second.child.stdout.as_mut().unwrap()), &mut banner)
        .unwrap();
    assert!(banner.contains("(2 stale files reclaimed)"), "{banner}");
    // The old client learns its driver is gone although a new one holds the lock.
    let err = loop {
        match old.receive(&mut |_| ()) {
            Ok(_) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, TransportError::Driver(DriverError::Gone)), "{err}");
    // A third driver in the same directory is refused while the second lives.
    let out = Command::new(env!("CARGO_BIN_EXE_kaos-driver")).arg("--dir").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already runs"), "{:?}", out);
    // And the second serves.
    let mut fresh = DriverTransport::new(&dir, any(), server.local_addr().unwrap(), 64).unwrap();
    fresh.process_acks().unwrap();
}

#[test]
fn a_driver_of_another_layout_version_is_refused() {
    let driver = DriverProcess::start("version");
    let cnc = std::fs::OpenOptions::new().write(true).open(driver.dir.join(layout::CNC_FILE)).unwrap();
    cnc.write_all_at(&99u32.to_ne_bytes(), 4).unwrap();
    let err = DriverTransport::new(&driver.dir, any(), "127.0.0.1:9".parse().unwrap(), 64).unwrap_err();
    assert!(matches!(err, DriverError::VersionMismatch { driver: 99, client: LAYOUT_VERSION }), "{err}");
    assert!(err.to_string().contains("version 99"), "{err}");
}

/// Ring-file bytes for the two-process exchange.
const EXCHANGE_BYTES: usize = 1 << 16;
const EXCHANGE_MESSAGES: u64 = 10_000_000;

/// Child: attaches the parent's two rings, sends ten million checksummed messages of
/// varying length on the first, and checks the parent's acknowledgements on the second.
fn ring_producer(file: &Path) {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(file).unwrap();
    // SAFETY: the parent and this process use the mapping only through ring handles.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
    let base = map.as_mut_ptr();
    let len = ring::region_len(EXCHANGE_BYTES);
    // SAFETY: two disjoint regions inside the mapping, which outlives the handles.
    let (mut tx, _) = unsafe { Ring::from_raw(base, len) }.unwrap().split();
    // SAFETY: as above.
    let (_, mut acks) = unsafe { Ring::from_raw(base.add(len), len) }.unwrap().split();
    let mut buf = Vec::new();
    let mut acked = 0;
    let mut seq = 0;
    while acked < EXCHANGE_MESSAGES {
        while seq < EXCHANGE_MESSAGES {
            let len = 12 + (seq as usize * 7919) % 180;
            if tx.push(checked(seq, len, &mut buf)).is_err() {
                break;
            }
            seq += 1;
        }
        acks.read_batch(usize::MAX, |m| {
            let n = verify(m);
            assert_eq!(n, acked + 1_000_000, "acknowledgement out of order");
            acked = n;
        })
        .unwrap();
    }
}

#[test]
fn two_processes_exchange_ten_million_checksummed_messages() {
    let path = fresh_dir("exchange-file");
    let len = ring::region_len(EXCHANGE_BYTES);
    let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
    f.set_len(2 * len as u64).unwrap();
    // SAFETY: this process and the child use the mapping only through ring handles.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
    let base = map.as_mut_ptr();
    // SAFETY: two disjoint regions inside the mapping, which outlives the handles.
    let (_, mut rx) = unsafe { Ring::init_raw(base, len) }.unwrap().split();
    // SAFETY: as above.
    let (mut acks, _) = unsafe { Ring::init_raw(base.add(len), len) }.unwrap().split();
    let mut child = spawn_role("producer", &[path.to_str().unwrap()]);
    let mut copy = vec![0; EXCHANGE_BYTES];
    let mut buf = Vec::new();
    let mut next = 0u64;
    while next < EXCHANGE_MESSAGES {
        let got = rx
            .read_copy(&mut copy, |m| {
                assert_eq!(verify(m), next, "message out of order");
                assert_eq!(m.len(), 12 + (next as usize * 7919) % 180);
                (true, ())
            })
            .unwrap();
        match got {
            Some(()) => {
                next += 1;
                if next % 1_000_000 == 0 {
                    acks.push(checked(next, 16, &mut buf)).unwrap();
                }
            }
            None => {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("producer exited early: {status}");
                }
                std::hint::spin_loop();
            }
        }
    }
    assert!(child.wait().unwrap().success(), "the producer saw a bad acknowledgement");
    drop((rx, acks));
    drop(map);
    let _ = std::fs::remove_file(&path);
}
