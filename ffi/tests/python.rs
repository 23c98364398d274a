//! The Python binding (`bindings/python`) runs its pytest suite against kaos-server
//! (started here, in-process, on free loopback ports) with the library this build made:
//! `PYTHONPATH` is the binding's source and `KAOSNET_FFI_LIB` the fresh
//! `libkaosnet_ffi.so`. CI also installs the package with pip and runs the same suite.
//!
//! pytest comes from `bindings/python/requirements-test.txt`, installed once into a
//! virtual environment under the target directory; without python3 (or its venv module,
//! or PyPI) the test says it skipped, except under `KAOS_REQUIRE_PYTHON=1` (CI).

use std::path::Path;
use std::process::Command;

use kaos_server::config::{Config, Database};

#[path = "../../services/server/tests/common/python_env.rs"]
mod python_env;
use python_env::python_env;

/// How many tests `tests/test_kaosnet.py` holds: all must pass.
const TESTS: usize = 4;

#[test]
fn the_python_binding_passes_its_suite_against_kaos_server() {
    let binding = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bindings/python");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kaosnet-python-venv");
    let python = match python_env(&binding.join("requirements-test.txt"), &venv) {
        Ok(p) => p,
        Err(why) => {
            assert!(std::env::var_os("KAOS_REQUIRE_PYTHON").is_none(), "no Python environment: {why}");
            eprintln!("skipped: no Python environment for the binding's tests: {why}");
            return;
        }
    };
    let lib = std::env::current_exe().unwrap().parent().unwrap().join("libkaosnet_ffi.so");
    assert!(lib.exists(), "{} is missing", lib.display());
    let config = Config {
        address: "127.0.0.1".into(),
        port: 0,
        rudp_port: Some(0),
        console_port: None,
        database: Database::Memory,
        ..Config::default()
    };
    let server = kaos_server::start(&config, |_| {}).unwrap();
    let out = Command::new(&python)
        .args(["-B", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(&binding)
        .env("PYTHONPATH", &binding)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("KAOSNET_FFI_LIB", &lib)
        .env("KAOS_SERVER_HTTP", server.addr.to_string())
        .env("KAOS_SERVER_RUDP", server.rudp_addr.unwrap().to_string())
        .output()
        .unwrap();
    server.shutdown();
    server.wait().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the binding's suite failed:\n{report}");
    let tally = report.lines().rev().find(|l| l.contains(" passed")).unwrap_or_default();
    assert!(tally.starts_with(&format!("{TESTS} passed")) && !tally.contains("failed"), "{report}");
}
