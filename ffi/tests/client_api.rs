//! The `kaos_client_*` functions as a C program calls them: messages through a real
//! socket and through the media driver, and every kind of bad input answered with an
//! error code.

mod common;

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::EchoServer;
use kaosnet_ffi::*;

fn last_error() -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: `buf` holds 256 bytes.
    unsafe { kaos_last_error(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: kaos_last_error NUL-terminates.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

fn c(text: &str) -> std::ffi::CString {
    std::ffi::CString::new(text).unwrap()
}

/// Collects messages delivered by `kaos_client_receive`.
unsafe extern "C" fn collect(user: *mut c_void, channel: u8, data: *const u8, len: usize) {
    // SAFETY: `user` is the `Vec` the test passed; `data` is lent for the call.
    let got = unsafe { &mut *user.cast::<Vec<(u8, Vec<u8>)>>() };
    // SAFETY: as above.
    got.push((channel, unsafe { std::slice::from_raw_parts(data, len) }.to_vec()));
}

/// Sends `count` messages on `channel` through `client` and returns the echoes.
fn echo_round(client: KaosClientHandle, channel: u8, count: u32) -> Vec<(u8, Vec<u8>)> {
    let mut connected = false;
    // SAFETY: valid out-pointer.
    let st = unsafe { kaos_client_wait_connected(client, 10_000_000, &mut connected) };
    assert_eq!(st, KaosStatus::KaosOk, "{}", last_error());
    assert!(connected);
    let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut sent = 0;
    for _ in 0..100_000 {
        while sent < count {
            let msg = sent.to_le_bytes();
            // SAFETY: `msg` is valid for its length.
            match unsafe { kaos_client_send(client, channel, msg.as_ptr(), msg.len()) } {
                KaosStatus::KaosOk => sent += 1,
                KaosStatus::KaosErrFull => break,
                other => panic!("send: {other:?} {}", last_error()),
            }
        }
        assert_eq!(kaos_client_poll(client, 10_000), KaosStatus::KaosOk, "{}", last_error());
        let mut n = 0;
        // SAFETY: `collect` matches the callback type and `got` outlives the call.
        let st = unsafe { kaos_client_receive(client, Some(collect), (&raw mut got).cast(), &mut n) };
        assert_eq!(st, KaosStatus::KaosOk, "{}", last_error());
        if got.len() == count as usize {
            break;
        }
    }
    got
}

#[test]
fn a_socket_client_exchanges_messages_in_order() {
    let server = EchoServer::start();
    let mut client = 0;
    let addr = c(&server.addr.to_string());
    // SAFETY: valid strings and out-pointer; null options are the defaults.
    let st = unsafe { kaos_client_connect(c"127.0.0.1:0".as_ptr(), addr.as_ptr(), null(), &mut client) };
    assert_eq!(st, KaosStatus::KaosOk, "{}", last_error());
    let got = echo_round(client, KAOS_CHANNEL_RELIABLE_ORDERED, 3_000);
    let expected: Vec<(u8, Vec<u8>)> = (0..3_000u32).map(|i| (0, i.to_le_bytes().to_vec())).collect();
    assert_eq!(got, expected);

    let mut local = [0 as c_char; 64];
    // SAFETY: `local` holds 64 bytes.
    assert_eq!(unsafe { kaos_client_local_addr(client, local.as_mut_ptr(), local.len()) }, KaosStatus::KaosOk);
    // SAFETY: NUL-terminated by the call.
    let local = unsafe { CStr::from_ptr(local.as_ptr()) }.to_str().unwrap();
    assert!(local.starts_with("127.0.0.1:") && !local.ends_with(":0"), "{local}");
    let mut fd = -1;
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { kaos_client_fd(client, &mut fd) }, KaosStatus::KaosOk);
    assert!(fd > 2);
    let mut stats = KaosStats::default();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { kaos_client_stats(client, &mut stats) }, KaosStatus::KaosOk);
    assert!(stats.messages_delivered >= 3_000 && stats.rtt_us > 0, "{stats:?}");
    assert_eq!(kaos_client_close(client), KaosStatus::KaosOk);
}

#[test]
fn a_driver_client_exchanges_messages_without_a_socket_of_its_own() {
    let server = EchoServer::start();
    let dir = std::env::temp_dir().join(format!("kaos-ffi-driver-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut driver = kaos_driver::Driver::start(kaos_driver::DriverConfig::new(&dir)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || driver.run(&flag).unwrap());

    let (dir_c, addr) = (c(dir.to_str().unwrap()), c(&server.addr.to_string()));
    let mut client = 0;
    // SAFETY: valid strings and out-pointer.
    let st = unsafe {
        kaos_client_connect_driver(dir_c.as_ptr(), c"127.0.0.1:0".as_ptr(), addr.as_ptr(), null(), &mut client)
    };
    assert_eq!(st, KaosStatus::KaosOk, "{}", last_error());
    let got = echo_round(client, KAOS_CHANNEL_RELIABLE_ORDERED, 2_000);
    assert_eq!(got.len(), 2_000);
    assert!(got.iter().enumerate().all(|(i, (ch, m))| *ch == 0 && m[..] == (i as u32).to_le_bytes()));
    let mut fd = -1;
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { kaos_client_fd(client, &mut fd) }, KaosStatus::KaosErrDriver, "the driver owns the socket");
    assert_eq!(kaos_client_disconnect(client, 3), KaosStatus::KaosOk);
    assert_eq!(kaos_client_close(client), KaosStatus::KaosOk);
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();

    // No driver there any more: a clear error, not a hang.
    // SAFETY: as above.
    let st = unsafe {
        kaos_client_connect_driver(dir_c.as_ptr(), c"127.0.0.1:0".as_ptr(), addr.as_ptr(), null(), &mut client)
    };
    assert_eq!(st, KaosStatus::KaosErrDriver);
    assert!(last_error().contains("no kaos-driver is running"), "{}", last_error());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Calls back into the library with the handle it is delivering for.
unsafe extern "C" fn reenter(user: *mut c_void, _: u8, _: *const u8, _: usize) {
    // SAFETY: `user` is the test's (handle, status) pair.
    let (client, status) = unsafe { &mut *user.cast::<(KaosClientHandle, Option<KaosStatus>)>() };
    // SAFETY: a valid one-byte message.
    *status = Some(unsafe { kaos_client_send(*client, 0, b"x".as_ptr(), 1) });
}

#[test]
fn bad_input_is_an_error_code() {
    let server = EchoServer::start();
    let addr = c(&server.addr.to_string());
    let mut client = 0;
    // SAFETY: every pointer is valid or null; the functions check them.
    unsafe {
        assert_eq!(kaos_client_connect(null(), addr.as_ptr(), null(), &mut client), KaosStatus::KaosErrNull);
        assert_eq!(
            kaos_client_connect(c"127.0.0.1:0".as_ptr(), addr.as_ptr(), null(), null_mut()),
            KaosStatus::KaosErrNull
        );
        let st = kaos_client_connect(c"here".as_ptr(), addr.as_ptr(), null(), &mut client);
        assert_eq!(st, KaosStatus::KaosErrInvalidArgument);
        assert!(last_error().contains("\"here\""), "{}", last_error());
        let not_utf8 = [0xffu8, 0xfe, 0];
        let st = kaos_client_connect(not_utf8.as_ptr().cast(), addr.as_ptr(), null(), &mut client);
        assert_eq!(st, KaosStatus::KaosErrInvalidArgument);
        let mut options = std::mem::zeroed::<KaosClientOptions>();
        assert_eq!(kaos_client_options_default(&mut options), KaosStatus::KaosOk);
        options.batch = 0;
        let st = kaos_client_connect(c"127.0.0.1:0".as_ptr(), addr.as_ptr(), &options, &mut client);
        assert_eq!(st, KaosStatus::KaosErrInvalidArgument);
        assert_eq!(client, 0, "nothing was opened");

        // Handles never issued.
        for bogus in [0, 1, u64::MAX, 0xdead_beef_0000_0001] {
            assert_eq!(kaos_client_send(bogus, 0, b"x".as_ptr(), 1), KaosStatus::KaosErrInvalidHandle);
            assert_eq!(kaos_client_poll(bogus, 0), KaosStatus::KaosErrInvalidHandle);
            assert_eq!(kaos_client_close(bogus), KaosStatus::KaosErrInvalidHandle);
        }

        assert_eq!(
            kaos_client_connect(c"127.0.0.1:0".as_ptr(), addr.as_ptr(), null(), &mut client),
            KaosStatus::KaosOk
        );
        // Null out-pointers and data, an unknown channel, an oversize message.
        assert_eq!(kaos_client_is_connected(client, null_mut()), KaosStatus::KaosErrNull);
        assert_eq!(kaos_client_send(client, 0, null(), 4), KaosStatus::KaosErrNull);
        assert_eq!(kaos_client_send(client, 9, b"x".as_ptr(), 1), KaosStatus::KaosErrUnknownChannel);
        let big = vec![0u8; 16 * 1024 + 1];
        assert_eq!(kaos_client_send(client, 0, big.as_ptr(), big.len()), KaosStatus::KaosErrTooLarge);
        assert_eq!(kaos_client_receive(client, None, null_mut(), null_mut()), KaosStatus::KaosErrNull);
        // Too small a buffer: an error, and the text is cut, not overrun.
        let mut tiny = [0x55 as c_char; 4];
        assert_eq!(kaos_client_local_addr(client, tiny.as_mut_ptr(), tiny.len()), KaosStatus::KaosErrBufferTooSmall);
        assert_eq!(tiny[3], 0);
        // A callback that re-enters with the same handle is told it is busy.
        let got = echo_round(client, 0, 1);
        assert_eq!(got.len(), 1);
        assert_eq!(kaos_client_send(client, 0, b"y".as_ptr(), 1), KaosStatus::KaosOk);
        let mut probe: (KaosClientHandle, Option<KaosStatus>) = (client, None);
        for _ in 0..1000 {
            kaos_client_poll(client, 10_000);
            kaos_client_receive(client, Some(reenter), (&raw mut probe).cast(), null_mut());
            if probe.1.is_some() {
                break;
            }
        }
        assert_eq!(probe.1, Some(KaosStatus::KaosErrBusy));

        // Use after close.
        assert_eq!(kaos_client_close(client), KaosStatus::KaosOk);
        assert_eq!(kaos_client_close(client), KaosStatus::KaosErrInvalidHandle);
        assert_eq!(kaos_client_send(client, 0, b"x".as_ptr(), 1), KaosStatus::KaosErrInvalidHandle);
        let mut connected = true;
        assert_eq!(kaos_client_is_connected(client, &mut connected), KaosStatus::KaosErrInvalidHandle);
        assert!(last_error().contains("invalid handle"));
    }
}
