//! The sans-IO ABI called as C calls it, against a core `Endpoint` over an in-memory
//! wire. No sockets, so Miri runs these too (`cargo +nightly miri test -p kaos-ffi --lib`).

use std::ffi::CStr;
use std::net::SocketAddr;
use std::ptr::{null, null_mut};

use kaos_core::conn::Event;
use kaos_core::endpoint::Endpoint;
use kaos_core::time::Instant;

use super::*;

const SERVER: &CStr = c"10.0.0.1:7352";

fn last_error() -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: `buf` holds 256 bytes.
    unsafe { kaos_last_error(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: kaos_last_error NUL-terminates.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

/// A small configuration, so Miri's run stays short.
fn small_config() -> KaosConfig {
    let mut cfg = std::mem::MaybeUninit::uninit();
    // SAFETY: `cfg` is writable.
    assert_eq!(unsafe { kaos_config_default(cfg.as_mut_ptr()) }, KaosStatus::KaosOk);
    // SAFETY: written just above.
    let mut cfg = unsafe { cfg.assume_init() };
    cfg.channel_count = 2;
    cfg.channels[0] = KaosChannelConfig { kind: KAOS_RELIABLE_ORDERED, window: 16, buffer_bytes: 4096 };
    cfg.channels[1] = KaosChannelConfig { kind: KAOS_UNRELIABLE, window: 0, buffer_bytes: 0 };
    cfg.max_message = 1024;
    cfg.sent_packets = 64;
    cfg.message_refs = 64;
    cfg.inbox_bytes = 4096;
    cfg.outbox_bytes = 2048;
    cfg.reassembly_sets = 1;
    cfg
}

type Server = Endpoint<Vec<u64>, Vec<Vec<u64>>, 2>;

fn server(cfg: &KaosConfig) -> Server {
    let core = cfg.core_config().unwrap();
    let pool = vec![vec![0; core.storage_words()]; 2];
    Endpoint::new(core, *b"ffi-test-secret!", pool).unwrap()
}

/// Memory for a connection, 8-byte aligned plus `shift` bytes (to test any alignment).
fn memory(cfg: &KaosConfig, shift: usize) -> (Vec<u64>, usize) {
    let mut size = 0;
    // SAFETY: valid pointers.
    assert_eq!(unsafe { kaos_conn_memory_size(cfg, &mut size) }, KaosStatus::KaosOk, "{}", last_error());
    (vec![0u64; (size + shift).div_ceil(8) + 1], size)
}

fn connect(cfg: &KaosConfig, mem: &mut [u64], shift: usize, size: usize) -> *mut KaosConn {
    let mut conn = null_mut();
    let base = mem.as_mut_ptr().cast::<u8>();
    // SAFETY: `mem` holds `size + shift` bytes past `base + shift` and outlives the
    // connection in every test.
    let st = unsafe { kaos_conn_connect(cfg, base.add(shift).cast(), size, 5, SERVER.as_ptr(), 0x5eed, &mut conn) };
    assert_eq!(st, KaosStatus::KaosOk, "{}", last_error());
    conn
}

/// Moves datagrams both ways once; returns the client's events seen (kind, bytes).
fn exchange(conn: *mut KaosConn, server: &mut Server, now_us: u64) -> Vec<(u32, Vec<u8>)> {
    let client_addr: SocketAddr = "10.0.0.2:40000".parse().unwrap();
    let now = Instant::from_micros(now_us + 1);
    let mut buf = [0u8; 1200];
    let mut reply = [0u8; 1200];
    loop {
        let mut n = 0;
        // SAFETY: live connection, valid buffers.
        let st = unsafe { kaos_conn_poll_transmit(conn, now_us, buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!(st, KaosStatus::KaosOk);
        if n == 0 {
            break;
        }
        if let Some(r) = server.handle_datagram(now, client_addr, &buf[..n], &mut reply) {
            // SAFETY: as above.
            unsafe { kaos_conn_handle_datagram(conn, now_us, reply.as_ptr(), r) };
        }
    }
    // The server echoes every message it got, on the same channel.
    let mut echoes = Vec::new();
    while let Some((h, e)) = server.poll_event() {
        if let Event::Message { channel, data } = e {
            echoes.push((h, channel, data.to_vec()));
        }
    }
    for (h, channel, data) in echoes {
        server.connection(h).unwrap().send(channel, &data).unwrap();
    }
    while let Some((_, _, n)) = server.poll_transmit(now, &mut buf) {
        // SAFETY: as above.
        unsafe { kaos_conn_handle_datagram(conn, now_us, buf.as_ptr(), n) };
    }
    let mut events = Vec::new();
    loop {
        let mut e = KaosEvent::NONE;
        // SAFETY: as above.
        assert_eq!(unsafe { kaos_conn_poll_event(conn, &mut e) }, KaosStatus::KaosOk);
        match e.kind {
            KAOS_EVENT_NONE => break,
            // SAFETY: a message's bytes are valid until the next call on `conn`.
            KAOS_EVENT_MESSAGE => events.push((e.kind, unsafe { std::slice::from_raw_parts(e.data, e.len) }.to_vec())),
            kind => events.push((kind, Vec::new())),
        }
    }
    events
}

#[test]
fn a_connection_in_caller_memory_connects_and_exchanges_messages() {
    let cfg = small_config();
    for shift in [0, 3] {
        let (mut mem, size) = memory(&cfg, shift);
        let mut server = server(&cfg);
        let conn = connect(&cfg, &mut mem, shift, size);
        let mut got = Vec::new();
        let mut sent = 0u32;
        for tick in 0..200u64 {
            let now = 1_000 + tick * 1_000;
            // SAFETY: live connection.
            unsafe { kaos_conn_handle_timeout(conn, now) };
            for (kind, data) in exchange(conn, &mut server, now) {
                if kind == KAOS_EVENT_MESSAGE {
                    got.push(u32::from_le_bytes(data[..4].try_into().unwrap()));
                } else {
                    assert_eq!(kind, KAOS_EVENT_CONNECTED);
                }
            }
            let mut connected = false;
            // SAFETY: live connection, valid out-pointer.
            unsafe { kaos_conn_is_connected(conn, &mut connected) };
            if connected && sent < 10 {
                let msg = sent.to_le_bytes();
                // SAFETY: live connection, `msg` valid.
                assert_eq!(unsafe { kaos_conn_send(conn, 0, msg.as_ptr(), msg.len()) }, KaosStatus::KaosOk);
                sent += 1;
            }
            if got.len() == 10 {
                break;
            }
        }
        assert_eq!(got, (0..10).collect::<Vec<_>>(), "echoes in order (shift {shift})");
        let mut stats = KaosStats::default();
        // SAFETY: live connection, valid out-pointer.
        assert_eq!(unsafe { kaos_conn_stats(conn, &mut stats) }, KaosStatus::KaosOk);
        assert!(stats.messages_delivered >= 10 && stats.packets_sent > 0);
        // SAFETY: live connection.
        assert_eq!(unsafe { kaos_conn_destroy(conn) }, KaosStatus::KaosOk);
    }
}

/// A long burst handed over before sending makes the ack overdue at 32 packets; a
/// transmit clears it.
#[test]
fn a_long_burst_makes_the_ack_overdue() {
    let cfg = small_config();
    let (mut mem, size) = memory(&cfg, 0);
    let mut server = server(&cfg);
    let conn = connect(&cfg, &mut mem, 0, size);
    let overdue = || {
        let mut v = true;
        // SAFETY: live connection, valid out-pointer.
        assert_eq!(unsafe { kaos_conn_ack_overdue(conn, &mut v) }, KaosStatus::KaosOk);
        v
    };
    let mut handle = None;
    for tick in 0..50u64 {
        exchange(conn, &mut server, 1_000 + tick * 1_000);
        let mut connected = false;
        // SAFETY: live connection, valid out-pointer.
        unsafe { kaos_conn_is_connected(conn, &mut connected) };
        handle = server.lookup(&"10.0.0.2:40000".parse().unwrap());
        if connected && handle.is_some() {
            break;
        }
    }
    let h = handle.expect("connected");
    let (now_us, now) = (100_000, Instant::from_micros(100_001));
    let mut buf = [0u8; 1200];
    for k in 0..40u32 {
        server.connection(h).unwrap().send(1, &k.to_le_bytes()).unwrap();
        let (_, _, n) = server.poll_transmit(now, &mut buf).expect("a packet per message");
        // SAFETY: live connection, valid buffer.
        unsafe { kaos_conn_handle_datagram(conn, now_us, buf.as_ptr(), n) };
        assert_eq!(overdue(), k + 1 >= 32, "after {} packets", k + 1);
    }
    let mut n = 0;
    // SAFETY: live connection, valid buffer.
    unsafe { kaos_conn_poll_transmit(conn, now_us, buf.as_mut_ptr(), buf.len(), &mut n) };
    assert!(n > 0 && !overdue());
    // SAFETY: null pointers, which the function checks.
    assert_eq!(unsafe { kaos_conn_ack_overdue(null_mut(), null_mut()) }, KaosStatus::KaosErrNull);
    // SAFETY: live connection.
    assert_eq!(unsafe { kaos_conn_destroy(conn) }, KaosStatus::KaosOk);
}

#[test]
fn bad_input_is_an_error_code() {
    let cfg = small_config();
    let (mut mem, size) = memory(&cfg, 0);
    let base = mem.as_mut_ptr().cast::<std::ffi::c_void>();
    let mut conn = null_mut();
    // SAFETY: every pointer is valid or null; the function checks them.
    unsafe {
        assert_eq!(kaos_conn_connect(null(), base, size, 0, SERVER.as_ptr(), 1, &mut conn), KaosStatus::KaosErrNull);
        assert_eq!(
            kaos_conn_connect(&cfg, null_mut(), size, 0, SERVER.as_ptr(), 1, &mut conn),
            KaosStatus::KaosErrNull
        );
        assert_eq!(kaos_conn_connect(&cfg, base, size, 0, null(), 1, &mut conn), KaosStatus::KaosErrNull);
        assert_eq!(kaos_conn_connect(&cfg, base, size, 0, SERVER.as_ptr(), 1, null_mut()), KaosStatus::KaosErrNull);
        let st = kaos_conn_connect(&cfg, base, size - 1, 0, SERVER.as_ptr(), 1, &mut conn);
        assert_eq!(st, KaosStatus::KaosErrBufferTooSmall);
        assert!(last_error().contains("needed"), "{}", last_error());
        let st = kaos_conn_connect(&cfg, base, size, 0, c"nowhere".as_ptr(), 1, &mut conn);
        assert_eq!(st, KaosStatus::KaosErrInvalidArgument);
        assert!(last_error().contains("nowhere"));
        let st = kaos_conn_connect(&cfg, base, size, 0, SERVER.as_ptr(), 0, &mut conn);
        assert_eq!(st, KaosStatus::KaosErrInvalidArgument);
        let mut bad = cfg;
        bad.channels[0].kind = 9;
        assert_eq!(kaos_config_validate(&bad), KaosStatus::KaosErrInvalidArgument);
        assert!(last_error().contains("unknown kind 9"));
        bad = cfg;
        bad.channel_count = 0;
        assert_eq!(
            kaos_conn_connect(&bad, base, size, 0, SERVER.as_ptr(), 1, &mut conn),
            KaosStatus::KaosErrInvalidArgument
        );
        bad = cfg;
        bad.channels[0].window = 3;
        assert_eq!(kaos_config_validate(&bad), KaosStatus::KaosErrInvalidArgument);
        assert!(conn.is_null(), "nothing was created");

        // Null and never-made connections.
        let mut n = 0;
        let mut buf = [0u8; 1200];
        assert_eq!(kaos_conn_poll_transmit(null_mut(), 0, buf.as_mut_ptr(), 1200, &mut n), KaosStatus::KaosErrNull);
        let mut other = vec![0u64; size / 8 + 1];
        let fake = other.as_mut_ptr().cast::<KaosConn>();
        assert_eq!(kaos_conn_poll_transmit(fake, 0, buf.as_mut_ptr(), 1200, &mut n), KaosStatus::KaosErrInvalidHandle);
        assert_eq!(kaos_conn_destroy(fake), KaosStatus::KaosErrInvalidHandle);

        let conn = connect(&cfg, &mut mem, 0, size);
        // Too small a datagram buffer, null outputs, bad channels and sizes.
        assert_eq!(kaos_conn_poll_transmit(conn, 0, buf.as_mut_ptr(), 100, &mut n), KaosStatus::KaosErrBufferTooSmall);
        assert_eq!(kaos_conn_poll_transmit(conn, 0, buf.as_mut_ptr(), 1200, null_mut()), KaosStatus::KaosErrNull);
        assert_eq!(kaos_conn_poll_transmit(conn, 0, null_mut(), 1200, &mut n), KaosStatus::KaosErrNull);
        assert_eq!(kaos_conn_poll_event(conn, null_mut()), KaosStatus::KaosErrNull);
        assert_eq!(kaos_conn_send(conn, 7, b"x".as_ptr(), 1), KaosStatus::KaosErrUnknownChannel);
        assert_eq!(kaos_conn_send(conn, 0, null(), 5), KaosStatus::KaosErrNull);
        let big = vec![0u8; 1025];
        assert_eq!(kaos_conn_send(conn, 0, big.as_ptr(), big.len()), KaosStatus::KaosErrTooLarge);
        // Garbage and empty datagrams are counted, not fatal.
        assert_eq!(kaos_conn_handle_datagram(conn, 0, big.as_ptr(), big.len()), KaosStatus::KaosOk);
        assert_eq!(kaos_conn_handle_datagram(conn, 0, null(), 0), KaosStatus::KaosOk);
        let mut stats = KaosStats::default();
        kaos_conn_stats(conn, &mut stats);
        assert_eq!(stats.invalid_dropped, 2);
        // Use after destroy.
        assert_eq!(kaos_conn_destroy(conn), KaosStatus::KaosOk);
        assert_eq!(kaos_conn_destroy(conn), KaosStatus::KaosErrInvalidHandle);
        assert_eq!(kaos_conn_poll_transmit(conn, 0, buf.as_mut_ptr(), 1200, &mut n), KaosStatus::KaosErrInvalidHandle);
        let mut e = KaosEvent::NONE;
        assert_eq!(kaos_conn_poll_event(conn, &mut e), KaosStatus::KaosErrInvalidHandle);
        assert!(last_error().contains("not a live connection"));
    }
}

#[test]
fn statuses_have_names_and_the_last_error_reports_its_size() {
    // SAFETY: kaos_status_name returns static C strings.
    let name = |s: KaosStatus| unsafe { CStr::from_ptr(kaos_status_name(s as i32)) }.to_str().unwrap();
    assert_eq!(name(KaosStatus::KaosOk), "KAOS_OK");
    assert_eq!(name(KaosStatus::KaosErrFull), "KAOS_ERR_FULL");
    assert_eq!(name(KaosStatus::KaosErrPanic), "KAOS_ERR_PANIC");
    // SAFETY: as above.
    assert_eq!(unsafe { CStr::from_ptr(kaos_status_name(42)) }.to_str().unwrap(), "KAOS_UNKNOWN_STATUS");
    // SAFETY: null `cfg` is checked.
    unsafe { kaos_config_validate(null()) };
    let message = "cfg is null";
    // SAFETY: a null buffer with length 0 asks for the size.
    assert_eq!(unsafe { kaos_last_error(null_mut(), 0) }, message.len() + 1);
    let mut small = [0 as c_char; 4];
    // SAFETY: `small` holds 4 bytes.
    assert_eq!(unsafe { kaos_last_error(small.as_mut_ptr(), small.len()) }, message.len() + 1);
    // SAFETY: NUL-terminated by kaos_last_error.
    assert_eq!(unsafe { CStr::from_ptr(small.as_ptr()) }.to_str().unwrap(), "cfg");
    // SAFETY: a static string.
    assert_eq!(unsafe { CStr::from_ptr(kaos_version()) }.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}
