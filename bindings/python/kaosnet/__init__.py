"""KaosNet from Python, over its C ABI (libkaosnet_ffi).

- :class:`Client`: a reliable-UDP client with its socket handled (or through the
  shared-memory media driver), for bots, tools and tests.
- :class:`Connection`: the sans-IO connection; you own the socket and the clock.

Every failure raises :class:`KaosError` with the library's status and message.
"""

import ctypes
import os
import time
from ctypes import byref, c_bool, c_int, c_size_t, c_uint64, c_void_p
from typing import List, Optional, Tuple

from . import _lib
from ._lib import ClientOptions, Config, Disconnect, Event, Stats, lib

__all__ = [
    "KaosError",
    "Client",
    "Connection",
    "Config",
    "default_config",
    "version",
    "RELIABLE_ORDERED",
    "RELIABLE_UNORDERED",
    "UNRELIABLE_SEQUENCED",
    "UNRELIABLE",
]

# Channels of the default configuration.
RELIABLE_ORDERED = 0
RELIABLE_UNORDERED = 1
UNRELIABLE_SEQUENCED = 2
UNRELIABLE = 3

# Status codes (KaosStatus).
OK = 0
ERR_FULL = -5

# Disconnect reasons (KaosDisconnect.reason).
DISCONNECT_REASONS = {
    0: None,
    1: "local",
    2: "remote",
    3: "timed_out",
    4: "handshake_timeout",
    5: "rejected",
    6: "protocol_violation",
}


class KaosError(Exception):
    """A call failed: ``status`` is the negative KaosStatus, ``name`` its name."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.name = lib.kaos_status_name(status).decode()
        self.message = message
        super().__init__(f"{self.name}: {message}")


def _last_error() -> str:
    size = lib.kaos_last_error(None, 0)
    buf = ctypes.create_string_buffer(size)
    lib.kaos_last_error(buf, size)
    return buf.value.decode(errors="replace")


def _check(status: int) -> None:
    if status != OK:
        raise KaosError(status, _last_error())


def version() -> str:
    """The library's version."""
    return lib.kaos_version().decode()


def default_config() -> Config:
    """The default protocol configuration (channels 0-3, 1200-byte datagrams)."""
    cfg = Config()
    _check(lib.kaos_config_default(byref(cfg)))
    return cfg


def _stats(s: Stats) -> dict:
    return {name: getattr(s, name) for name, _ in Stats._fields_}


class Client:
    """A reliable-UDP client connected to ``server`` (``"ip:port"``).

    ``driver_dir`` opens it through the kaos media driver instead of a socket of its own
    (Linux). ``config`` overrides the protocol settings (they must match the server's).
    A client serves one thread at a time.
    """

    def __init__(
        self,
        server: str,
        bind: str = "0.0.0.0:0",
        *,
        config: Optional[Config] = None,
        driver_dir: Optional[str] = None,
        through_driver: bool = False,
    ):
        options = ClientOptions()
        _check(lib.kaos_client_options_default(byref(options)))
        if config is not None:
            options.protocol = config
        handle = _lib.Handle()
        if driver_dir is not None or through_driver:
            d = driver_dir.encode() if driver_dir is not None else None
            _check(lib.kaos_client_connect_driver(d, bind.encode(), server.encode(), byref(options), byref(handle)))
        else:
            _check(lib.kaos_client_connect(bind.encode(), server.encode(), byref(options), byref(handle)))
        self._handle = handle.value
        self._inbox: List[Tuple[int, bytes]] = []

        # One ctypes callback for the client's life: it copies each lent message out.
        def on_message(_user, channel, data, length):
            self._inbox.append((channel, ctypes.string_at(data, length)))

        self._on_message = _lib.MessageFn(on_message)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def handle(self) -> int:
        if self._handle is None:
            raise KaosError(-3, "the client is closed")
        return self._handle

    def wait_connected(self, timeout: float = 5.0) -> bool:
        """Runs the connection until the handshake completes, fails or ``timeout`` passes."""
        ok = c_bool(False)
        _check(lib.kaos_client_wait_connected(self.handle, int(timeout * 1e6), byref(ok)))
        return ok.value

    @property
    def is_connected(self) -> bool:
        ok = c_bool(False)
        _check(lib.kaos_client_is_connected(self.handle, byref(ok)))
        return ok.value

    def send(self, data: bytes, channel: int = RELIABLE_ORDERED) -> None:
        """Queues ``data`` on ``channel`` and sends what the connection allows now.

        Raises KaosError with name ``KAOS_ERR_FULL`` when the channel's window is full:
        poll, then send again.
        """
        _check(lib.kaos_client_send(self.handle, channel, data, len(data)))

    def queue(self, data: bytes, channel: int = RELIABLE_ORDERED) -> None:
        """Queues ``data`` without sending (see :meth:`flush`)."""
        _check(lib.kaos_client_queue(self.handle, channel, data, len(data)))

    def flush(self) -> None:
        _check(lib.kaos_client_flush(self.handle))

    def poll(self, timeout: Optional[float] = None) -> None:
        """Waits up to ``timeout`` seconds (None: until the connection's next timer) for
        datagrams, then runs the connection."""
        us = -1 if timeout is None else int(timeout * 1e6)
        _check(lib.kaos_client_poll(self.handle, us))

    def receive(self) -> List[Tuple[int, bytes]]:
        """Runs the connection and returns every message received so far, as
        ``(channel, bytes)`` in order."""
        _check(lib.kaos_client_receive(self.handle, self._on_message, None, None))
        got, self._inbox = self._inbox, []
        return got

    def next_message(self, timeout: float = 5.0) -> Optional[Tuple[int, bytes]]:
        """The next message, waiting up to ``timeout`` seconds; None if none came."""
        deadline = time.monotonic() + timeout
        while not self._inbox:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.poll(min(left, 0.05))
            # receive() hands over (and empties) the inbox its callback filled.
            self._inbox = self.receive()
        return self._inbox.pop(0)

    def disconnect(self, code: int = 0) -> None:
        """Closes the connection gracefully, telling the server ``code``."""
        _check(lib.kaos_client_disconnect(self.handle, code))

    @property
    def disconnect_reason(self) -> Tuple[Optional[str], int]:
        """``(reason, code)``: reason None while connected, else ``"local"``,
        ``"remote"``, ``"timed_out"``, ``"handshake_timeout"``, ``"rejected"`` or
        ``"protocol_violation"``."""
        d = Disconnect()
        _check(lib.kaos_client_disconnect_reason(self.handle, byref(d)))
        return DISCONNECT_REASONS.get(d.reason, str(d.reason)), d.code

    def stats(self) -> dict:
        s = Stats()
        _check(lib.kaos_client_stats(self.handle, byref(s)))
        return _stats(s)

    @property
    def local_addr(self) -> str:
        buf = ctypes.create_string_buffer(64)
        _check(lib.kaos_client_local_addr(self.handle, buf, len(buf)))
        return buf.value.decode()

    def fileno(self) -> int:
        """The socket, for ``select``/``selectors`` (not through the driver)."""
        fd = c_int(-1)
        _check(lib.kaos_client_fd(self.handle, byref(fd)))
        return fd.value

    def close(self) -> None:
        """Frees the client (call :meth:`disconnect` first for a graceful close)."""
        if getattr(self, "_handle", None) is not None:
            handle, self._handle = self._handle, None
            _check(lib.kaos_client_close(handle))


class Connection:
    """The sans-IO connection: feed it datagrams and the time, send what it gives you.

    Times are microseconds on any monotonic clock (``now_us()`` by default). The memory
    is a buffer this object owns, sized by the configuration.
    """

    def __init__(self, remote: str, config: Optional[Config] = None, now_us: Optional[int] = None):
        self.config = config if config is not None else default_config()
        size = c_size_t(0)
        _check(lib.kaos_conn_memory_size(byref(self.config), byref(size)))
        self._memory = ctypes.create_string_buffer(size.value)
        self._buf = ctypes.create_string_buffer(self.config.max_datagram)
        nonce = int.from_bytes(os.urandom(8), "little") | 1
        conn = c_void_p()
        now = Connection.now_us() if now_us is None else now_us
        _check(
            lib.kaos_conn_connect(
                byref(self.config), self._memory, size.value, now, remote.encode(), nonce, byref(conn)
            )
        )
        self._conn = conn.value

    @staticmethod
    def now_us() -> int:
        return time.monotonic_ns() // 1000

    def _ptr(self) -> int:
        if self._conn is None:
            raise KaosError(-3, "the connection is destroyed")
        return self._conn

    def handle_datagram(self, data: bytes, now_us: Optional[int] = None) -> None:
        now = self.now_us() if now_us is None else now_us
        _check(lib.kaos_conn_handle_datagram(self._ptr(), now, data, len(data)))

    def transmits(self, now_us: Optional[int] = None) -> List[bytes]:
        """Every datagram due now, to send to the peer."""
        now = self.now_us() if now_us is None else now_us
        out = []
        while True:
            n = c_size_t(0)
            _check(lib.kaos_conn_poll_transmit(self._ptr(), now, self._buf, len(self._buf), byref(n)))
            if n.value == 0:
                return out
            out.append(self._buf.raw[: n.value])

    def handle_timeout(self, now_us: Optional[int] = None) -> None:
        now = self.now_us() if now_us is None else now_us
        _check(lib.kaos_conn_handle_timeout(self._ptr(), now))

    def timeout(self) -> Optional[int]:
        """When :meth:`handle_timeout` should next run (µs), or None."""
        at = c_uint64(0)
        _check(lib.kaos_conn_poll_timeout(self._ptr(), byref(at)))
        return None if at.value == 2**64 - 1 else at.value

    def events(self) -> list:
        """Pending events: ``("connected",)``, ``("message", channel, bytes)`` or
        ``("disconnected", reason, code)``."""
        out = []
        while True:
            e = Event()
            _check(lib.kaos_conn_poll_event(self._ptr(), byref(e)))
            if e.kind == 0:
                return out
            if e.kind == 1:
                out.append(("connected",))
            elif e.kind == 2:
                out.append(("message", e.channel, ctypes.string_at(e.data, e.len)))
            else:
                out.append(("disconnected", DISCONNECT_REASONS.get(e.disconnect.reason), e.disconnect.code))

    def send(self, data: bytes, channel: int = RELIABLE_ORDERED) -> None:
        _check(lib.kaos_conn_send(self._ptr(), channel, data, len(data)))

    def close(self, code: int = 0, now_us: Optional[int] = None) -> None:
        now = self.now_us() if now_us is None else now_us
        _check(lib.kaos_conn_close(self._ptr(), now, code))

    @property
    def is_connected(self) -> bool:
        ok = c_bool(False)
        _check(lib.kaos_conn_is_connected(self._ptr(), byref(ok)))
        return ok.value

    def ack_overdue(self) -> bool:
        """Whether an ack must be sent (:meth:`transmits`) before more datagrams are
        handled: one ack reports the newest packet and the 64 before it."""
        out = c_bool(False)
        _check(lib.kaos_conn_ack_overdue(self._ptr(), byref(out)))
        return out.value

    def stats(self) -> dict:
        s = Stats()
        _check(lib.kaos_conn_stats(self._ptr(), byref(s)))
        return _stats(s)

    def destroy(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            _check(lib.kaos_conn_destroy(conn))

    def __del__(self) -> None:
        try:
            self.destroy()
        except Exception:
            pass
