//! A second real client beside nakama-js: the community Python client (`nakama-python`
//! 1.0.3 from PyPI, on aiohttp) runs `tests/python/test_nakama_python.py` under pytest
//! against kaos-server on a free loopback port: authentication (device, email, custom),
//! account, storage, friends, groups and the realtime socket (chat rooms, relayed
//! matches, status).
//! The test installs the pinned `tests/python/requirements.txt` into a virtual
//! environment under the target directory on first run (again only when the
//! requirements change); without python3 (or its venv module, or the packages) it
//! reports that it skipped, except in CI (`KAOS_REQUIRE_PYTHON=1`), where that fails.

use std::path::Path;
use std::process::Command;

use kaos_server::config::{Config, Database};

#[path = "common/python_env.rs"]
mod python_env;
use python_env::python_env;

/// How many tests `test_nakama_python.py` holds: all must pass.
const TESTS: usize = 20;

#[test]
fn the_nakama_python_client_works_against_kaos_server() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nakama-python-venv");
    let python = match python_env(&dir.join("requirements.txt"), &venv) {
        Ok(python) => python,
        Err(why) => {
            assert!(std::env::var_os("KAOS_REQUIRE_PYTHON").is_none(), "no Python environment: {why}");
            eprintln!("skipped: no Python environment for nakama-python: {why}");
            return;
        }
    };
    let config = Config {
        address: "127.0.0.1".into(),
        port: 0,
        database: Database::Memory,
        rudp_port: None,
        console_port: None,
        ..Config::default()
    };
    let server = kaos_server::start(&config, |_| {}).unwrap();
    let out = Command::new(&python)
        // No cache or bytecode left in the source tree.
        .args(["-B", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_nakama_python.py"])
        .current_dir(&dir)
        .env("KAOS_ADDR", server.addr.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    server.shutdown();
    server.wait().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "nakama-python suite failed:\n{report}");
    // pytest -q ends with the tally: "20 passed in 1.23s" (", 2 failed", ", 1 error" …).
    let tally = report.lines().rev().find(|l| l.contains(" passed")).unwrap_or_default();
    assert!(
        tally.starts_with(&format!("{TESTS} passed")) && !tally.contains("failed") && !tally.contains("error"),
        "{report}"
    );
}
