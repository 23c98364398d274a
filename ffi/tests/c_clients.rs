//! The C examples, compiled with the system `cc` against include/kaosnet.h and
//! libkaosnet_ffi.a, each run against a kaos-rudp echo server on a free loopback port:
//! once plain and once under AddressSanitizer (which also checks the library's memory
//! as the C program uses it: buffers lent out, handles, the caller-owned connection).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::EchoServer;

/// target/<profile>/deps: where cargo builds libkaosnet_ffi.a beside this test (it
/// copies it up to target/<profile> only on `cargo build`).
fn deps_dir() -> PathBuf {
    std::env::current_exe().unwrap().parent().unwrap().to_path_buf()
}

/// Compiles `example` (ffi/examples/<example>.c) into a temporary directory.
fn compile(example: &str, asan: bool) -> PathBuf {
    let ffi = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = deps_dir().join("libkaosnet_ffi.a");
    assert!(lib.exists(), "{} is missing: cargo builds it with the kaos-ffi library", lib.display());
    let out = std::env::temp_dir().join(format!("kaos-ffi-{example}-{}-{}", std::process::id(), asan as u8));
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.args(["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror"]);
    if asan {
        cc.args(["-fsanitize=address", "-fno-omit-frame-pointer"]);
    }
    cc.arg("-I").arg(ffi.join("include")).arg(ffi.join("examples").join(format!("{example}.c")));
    cc.arg(&lib).args(["-lpthread", "-ldl", "-lm", "-o"]).arg(&out);
    let status = cc.status().expect("a C compiler (cc) on PATH");
    assert!(status.success(), "cc failed for {example}");
    out
}

/// Runs a compiled example against the server; returns its stdout.
fn run(program: &Path, server: SocketAddr, count: u32) -> String {
    let child = Command::new(program)
        .arg(server.to_string())
        .arg(count.to_string())
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_file(program);
    assert!(out.status.success(), "{} failed: {}\nstdout: {stdout}\nstderr: {stderr}", program.display(), out.status);
    stdout
}

#[test]
fn the_c_socket_client_exchanges_reliable_messages() {
    let server = EchoServer::start();
    for asan in [false, true] {
        let out = run(&compile("rudp_client", asan), server.addr, 2_000);
        assert!(out.starts_with("ok 2000 "), "{out}");
        // The graceful close is reported as this side's, with its code.
        assert!(out.trim_end().ends_with("reason 1 code 7"), "{out}");
    }
}

#[test]
fn the_c_sans_io_client_runs_its_own_socket() {
    let server = EchoServer::start();
    for asan in [false, true] {
        let out = run(&compile("sansio_client", asan), server.addr, 2_000);
        assert_eq!(out.trim(), "ok 2000");
    }
}
