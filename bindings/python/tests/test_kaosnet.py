"""The binding against a real kaos-server: Python bots on its reliable-UDP realtime
socket (through the library's socket-owning client and through the sans-IO connection
over a Python socket), and the library's errors as exceptions."""

import base64
import json
import socket
import time
import urllib.request
import uuid

import pytest

import kaosnet


def authenticate(http: str, username: str) -> str:
    """A session token for a new device account (the REST API, server key `defaultkey`)."""
    device = f"py-{uuid.uuid4()}"
    req = urllib.request.Request(
        f"http://{http}/v2/account/authenticate/device?create=true&username={username}",
        data=json.dumps({"id": device}).encode(),
        headers={
            "Authorization": "Basic " + base64.b64encode(b"defaultkey:").decode(),
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["token"]


def envelope(client: kaosnet.Client, key: str, timeout: float = 10.0) -> dict:
    """The next JSON envelope from the server carrying `key` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = client.next_message(timeout=deadline - time.monotonic())
        if got is None:
            break
        channel, data = got
        assert channel == kaosnet.RELIABLE_ORDERED
        message = json.loads(data)
        if key in message:
            return message
    raise AssertionError(f"no {key!r} envelope within {timeout} s")


def bot(rudp: str, http: str, name: str) -> kaosnet.Client:
    client = kaosnet.Client(rudp, "127.0.0.1:0")
    assert client.wait_connected(5.0)
    client.send(json.dumps({"token": authenticate(http, name)}).encode())
    assert envelope(client, "connected")["connected"]["username"] == name
    return client


def test_two_bots_chat_through_the_server(server):
    http, rudp = server
    suffix = uuid.uuid4().hex[:8]
    alice, bob = bot(rudp, http, f"alice{suffix}"), bot(rudp, http, f"bob{suffix}")
    with alice, bob:
        room = f"lobby-{suffix}"
        for i, c in enumerate((alice, bob)):
            c.send(json.dumps({"cid": str(i), "channel_join": {"target": room, "type": 1}}).encode())
        channel_id = envelope(alice, "channel")["channel"]["id"]
        assert envelope(bob, "channel")["channel"]["id"] == channel_id
        for n in range(20):
            text = json.dumps({"n": n})
            alice.send(json.dumps({"cid": f"m{n}", "channel_message_send": {"channel_id": channel_id, "content": text}}).encode())
        # Bob sees every message, in order, with Alice as the sender.
        for n in range(20):
            msg = envelope(bob, "channel_message")["channel_message"]
            assert json.loads(msg["content"]) == {"n": n}
            assert msg["username"] == f"alice{suffix}"
        bob.send(b'{"cid":"p","ping":{}}')
        assert envelope(bob, "pong") == {"cid": "p", "pong": {}}
        stats = alice.stats()
        assert stats["messages_delivered"] >= 2 and stats["packets_sent"] > 0
        assert alice.local_addr.startswith("127.0.0.1:")
        assert alice.fileno() > 2
        alice.disconnect(1000)
        deadline = time.monotonic() + 5
        while alice.disconnect_reason[0] is None and time.monotonic() < deadline:
            alice.poll(0.02)
        assert alice.disconnect_reason == ("local", 1000)


def test_a_server_that_refuses_the_token_closes_the_connection(server):
    _, rudp = server
    with kaosnet.Client(rudp, "127.0.0.1:0") as c:
        assert c.wait_connected(5.0)
        c.send(b'{"token":"not-a-token"}')
        deadline = time.monotonic() + 10
        while c.disconnect_reason[0] is None and time.monotonic() < deadline:
            c.poll(0.02)
            c.receive()
        reason, _code = c.disconnect_reason
        assert reason == "remote"
        with pytest.raises(kaosnet.KaosError) as e:
            c.send(b"after the end")
        assert e.value.name == "KAOS_ERR_CLOSED"


def test_the_sans_io_connection_runs_over_a_python_socket(server):
    http, rudp = server
    host, port = rudp.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, int(port)))
    sock.settimeout(0.01)
    conn = kaosnet.Connection(rudp)
    events = []

    def run(until, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for d in conn.transmits():
                sock.send(d)
            assert not conn.ack_overdue()
            try:
                while True:
                    conn.handle_datagram(sock.recv(2048))
                    if conn.ack_overdue():
                        # A long burst: ack it before handling the rest.
                        for d in conn.transmits():
                            sock.send(d)
            except (socket.timeout, BlockingIOError):
                pass
            conn.handle_timeout()
            events.extend(conn.events())
            if until():
                return
        raise AssertionError(f"timed out; events: {events}")

    run(lambda: ("connected",) in events)
    conn.send(json.dumps({"token": authenticate(http, f"sans{uuid.uuid4().hex[:8]}")}).encode())
    conn.send(b'{"cid":"1","ping":{}}')
    replies = lambda: [json.loads(e[2]) for e in events if e[0] == "message"]
    run(lambda: {"cid": "1", "pong": {}} in replies())
    assert "connected" in replies()[0]
    conn.close(7)
    run(lambda: any(e[0] == "disconnected" for e in events))
    assert events[-1] == ("disconnected", "local", 7)
    conn.destroy()
    with pytest.raises(kaosnet.KaosError) as e:
        conn.send(b"x")
    assert e.value.name == "KAOS_ERR_INVALID_HANDLE"
    sock.close()


def test_bad_input_raises_errors_not_crashes(server):
    assert kaosnet.version().count(".") == 2
    with pytest.raises(kaosnet.KaosError) as e:
        kaosnet.Client("not an address")
    assert e.value.name == "KAOS_ERR_INVALID_ARGUMENT" and "not an address" in e.value.message
    cfg = kaosnet.default_config()
    cfg.channels[0].window = 3
    with pytest.raises(kaosnet.KaosError) as e:
        kaosnet.Connection("127.0.0.1:9", config=cfg)
    assert e.value.name == "KAOS_ERR_INVALID_ARGUMENT"
    _, rudp = server
    c = kaosnet.Client(rudp)
    with pytest.raises(kaosnet.KaosError) as e:
        c.send(b"x" * (16 * 1024 + 1))
    assert e.value.name == "KAOS_ERR_TOO_LARGE"
    with pytest.raises(kaosnet.KaosError) as e:
        c.send(b"x", channel=42)
    assert e.value.name == "KAOS_ERR_UNKNOWN_CHANNEL"
    handle = c.handle
    c.close()
    with pytest.raises(kaosnet.KaosError):
        c.send(b"x")
    # The raw handle of a closed client is refused by the library itself.
    assert kaosnet._lib.lib.kaos_client_send(handle, 0, b"x", 1) == -3
