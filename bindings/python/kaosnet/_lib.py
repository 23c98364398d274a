"""Loads libkaosnet_ffi and declares the C functions' signatures (include/kaosnet.h)."""

import ctypes
import glob
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)

MAX_CHANNELS = 8


class ChannelConfig(Structure):
    _fields_ = [("kind", c_uint8), ("window", c_uint16), ("buffer_bytes", c_uint32)]


class Config(Structure):
    """The connection's protocol settings (`KaosConfig`); times in microseconds."""

    _fields_ = [
        ("channel_count", c_uint8),
        ("channels", ChannelConfig * MAX_CHANNELS),
        ("max_datagram", c_uint16),
        ("max_message", c_uint32),
        ("sent_packets", c_uint16),
        ("message_refs", c_uint32),
        ("inbox_bytes", c_uint32),
        ("outbox_bytes", c_uint32),
        ("reassembly_sets", c_uint8),
        ("initial_rto_us", c_uint64),
        ("min_rto_us", c_uint64),
        ("max_rto_us", c_uint64),
        ("max_ack_delay_us", c_uint64),
        ("keepalive_interval_us", c_uint64),
        ("idle_timeout_us", c_uint64),
        ("handshake_resend_us", c_uint64),
        ("handshake_timeout_us", c_uint64),
        ("fragment_timeout_us", c_uint64),
        ("initial_window_packets", c_uint32),
        ("max_window_bytes", c_uint32),
    ]


class ClientOptions(Structure):
    _fields_ = [("protocol", Config), ("recv_buffer", c_uint32), ("send_buffer", c_uint32), ("batch", c_uint32)]


class Disconnect(Structure):
    _fields_ = [("reason", c_uint32), ("code", c_uint16)]


class Event(Structure):
    _fields_ = [
        ("kind", c_uint32),
        ("channel", c_uint8),
        ("data", POINTER(c_uint8)),
        ("len", c_size_t),
        ("disconnect", Disconnect),
    ]


class Stats(Structure):
    _fields_ = [
        ("rtt_us", c_uint64),
        ("rtt_var_us", c_uint64),
        ("cwnd", c_uint32),
        ("packets_sent", c_uint64),
        ("packets_received", c_uint64),
        ("packets_lost", c_uint64),
        ("bytes_sent", c_uint64),
        ("bytes_received", c_uint64),
        ("messages_resent", c_uint64),
        ("messages_delivered", c_uint64),
        ("invalid_dropped", c_uint64),
    ]


MessageFn = CFUNCTYPE(None, c_void_p, c_uint8, POINTER(c_uint8), c_size_t)
Status = c_int32
Handle = c_uint64


def _find() -> str:
    """The library: $KAOSNET_FFI_LIB, else the one pip built into this package."""
    explicit = os.environ.get("KAOSNET_FFI_LIB")
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, "_native*.so")) + glob.glob(os.path.join(here, "_native*.dylib")))
    if not found:
        raise ImportError(
            "libkaosnet_ffi not found: install the package with pip (it builds the library), "
            "or point KAOSNET_FFI_LIB at a built libkaosnet_ffi.so"
        )
    return found[0]


lib = ctypes.CDLL(_find())

_SIGNATURES = {
    "kaos_version": (c_char_p, []),
    "kaos_status_name": (c_char_p, [c_int32]),
    "kaos_last_error": (c_size_t, [POINTER(c_char), c_size_t]),
    "kaos_config_default": (Status, [POINTER(Config)]),
    "kaos_config_validate": (Status, [POINTER(Config)]),
    "kaos_conn_memory_size": (Status, [POINTER(Config), POINTER(c_size_t)]),
    "kaos_conn_connect": (
        Status,
        [POINTER(Config), c_void_p, c_size_t, c_uint64, c_char_p, c_uint64, POINTER(c_void_p)],
    ),
    "kaos_conn_handle_datagram": (Status, [c_void_p, c_uint64, c_char_p, c_size_t]),
    "kaos_conn_poll_transmit": (Status, [c_void_p, c_uint64, c_void_p, c_size_t, POINTER(c_size_t)]),
    "kaos_conn_handle_timeout": (Status, [c_void_p, c_uint64]),
    "kaos_conn_poll_timeout": (Status, [c_void_p, POINTER(c_uint64)]),
    "kaos_conn_poll_event": (Status, [c_void_p, POINTER(Event)]),
    "kaos_conn_send": (Status, [c_void_p, c_uint8, c_char_p, c_size_t]),
    "kaos_conn_close": (Status, [c_void_p, c_uint64, c_uint16]),
    "kaos_conn_is_connected": (Status, [c_void_p, POINTER(c_bool)]),
    "kaos_conn_ack_overdue": (Status, [c_void_p, POINTER(c_bool)]),
    "kaos_conn_stats": (Status, [c_void_p, POINTER(Stats)]),
    "kaos_conn_destroy": (Status, [c_void_p]),
    "kaos_client_options_default": (Status, [POINTER(ClientOptions)]),
    "kaos_client_connect": (Status, [c_char_p, c_char_p, POINTER(ClientOptions), POINTER(Handle)]),
    "kaos_client_connect_driver": (
        Status,
        [c_char_p, c_char_p, c_char_p, POINTER(ClientOptions), POINTER(Handle)],
    ),
    "kaos_client_poll": (Status, [Handle, c_int64]),
    "kaos_client_process": (Status, [Handle]),
    "kaos_client_send": (Status, [Handle, c_uint8, c_char_p, c_size_t]),
    "kaos_client_queue": (Status, [Handle, c_uint8, c_char_p, c_size_t]),
    "kaos_client_flush": (Status, [Handle]),
    "kaos_client_receive": (Status, [Handle, MessageFn, c_void_p, POINTER(c_size_t)]),
    "kaos_client_wait_connected": (Status, [Handle, c_uint64, POINTER(c_bool)]),
    "kaos_client_is_connected": (Status, [Handle, POINTER(c_bool)]),
    "kaos_client_disconnect_reason": (Status, [Handle, POINTER(Disconnect)]),
    "kaos_client_disconnect": (Status, [Handle, c_uint16]),
    "kaos_client_stats": (Status, [Handle, POINTER(Stats)]),
    "kaos_client_local_addr": (Status, [Handle, POINTER(c_char), c_size_t]),
    "kaos_client_fd": (Status, [Handle, POINTER(c_int)]),
    "kaos_client_close": (Status, [Handle]),
}

for _name, (_res, _args) in _SIGNATURES.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args
