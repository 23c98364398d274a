"""A kaos-server for the binding's tests.

`cargo test -p kaos-ffi --test python` starts one in-process and passes its addresses
(KAOS_SERVER_HTTP, KAOS_SERVER_RUDP); run directly (CI, after `pip install`), the tests
start the binary named by KAOS_SERVER_BIN (default: the repository's target/debug or
target/release kaos-server) on free loopback ports with an in-memory database.
"""

import os
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def _server_binary():
    explicit = os.environ.get("KAOS_SERVER_BIN")
    if explicit:
        return explicit
    for profile in ("debug", "release"):
        path = os.path.join(REPO, "target", profile, "kaos-server")
        if os.path.exists(path):
            return path
    return None


@pytest.fixture(scope="session")
def server():
    """(http "ip:port", rudp "ip:port") of a running kaos-server."""
    if os.environ.get("KAOS_SERVER_HTTP") and os.environ.get("KAOS_SERVER_RUDP"):
        yield os.environ["KAOS_SERVER_HTTP"], os.environ["KAOS_SERVER_RUDP"]
        return
    binary = _server_binary()
    if binary is None:
        pytest.fail("no kaos-server: build it (cargo build -p kaos-server) or set KAOS_SERVER_BIN")
    args = [binary, "--address", "127.0.0.1", "--port", "0", "--rudp-port", "0", "--console-port", "off"]
    child = subprocess.Popen(args + ["--database", "memory"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = child.stdout.readline()
        http = line.split("http://")[1].split()[0]
        rudp = line.split("udp://")[1].split(";")[0].split()[0].rstrip(")")
        yield http, rudp
    finally:
        child.terminate()
        child.wait()
