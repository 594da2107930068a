"""mtop.py - a ctypes wrapper of libmtop's C API (bindings/c/include/mtop.h).

Load the library, then use the codecs and the two handshake machines:

    lib = mtop.load("/path/to/libmtop.so")       # or $MTOP_LIBRARY, or "libmtop.so"
    client = mtop.ClientHandshake(lib, b"alice", b"s3cret", mtop.Target.domain("example.com", 443))
    wire = client.pending_output(); client.consume_output(len(wire))

Errors from the library raise MtopError (code = the MTOP_ERR_* value, message = strerror).
Handles are freed by close() (or a with block); a closed handle refuses further calls.
Bytes returned to Python are copies, so the C lifetime rules ("valid until the next mutating
call") never leak into Python code.
"""

import ctypes
import ipaddress
import os
from dataclasses import dataclass
from typing import Optional, Union

# Error codes (the subset this wrapper's users test against; see mtop.h for all).
ERR_INVALID_ARGUMENT = -10001
ERR_INVALID_STATE = -10002
ERR_NOMEM = -10003
ERR_BAD_VERSION = -10010
ERR_BAD_METHOD = -10011
ERR_BAD_USERNAME = -10012
ERR_BAD_PASSWORD = -10013
ERR_BAD_ADDRESS_TYPE = -10014
ERR_BAD_DOMAIN = -10015
ERR_BAD_PORT = -10016
ERR_BAD_STATUS = -10017
ERR_PEER_CLOSED = -10019
ERR_INTERNAL = -20000

ADDRESS_IPV4 = 1
ADDRESS_DOMAIN = 3
ADDRESS_IPV6 = 4

STATUS_SUCCESS = 0
STATUS_VERSION_NOT_SUPPORTED = 1
STATUS_AUTH_FAILED = 2
STATUS_CONNECT_FAILED = 3

EVENT_NEED_DATA = 0
EVENT_AUTH_REQUEST = 1
EVENT_ESTABLISHED = 2
EVENT_PAYLOAD = 3
EVENT_END_OF_INPUT = 4
EVENT_REJECTED = 5
EVENT_CLOSED_WITHOUT_STATUS = 6
EVENT_ERROR = 7

REJECT_STEALTH = 0
REJECT_REPLY = 1

MAX_AUTH_MESSAGE_SIZE = 773
RESPONSE_SIZE = 2
SETTINGS_VERSION = 1

_u8p = ctypes.POINTER(ctypes.c_uint8)


class _Address(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("ip", ctypes.c_uint8 * 16),
                ("domain", ctypes.POINTER(ctypes.c_char)), ("domain_len", ctypes.c_size_t),
                ("port", ctypes.c_uint16)]


class _AuthMessage(ctypes.Structure):
    _fields_ = [("username", _u8p), ("username_len", ctypes.c_size_t),
                ("password", _u8p), ("password_len", ctypes.c_size_t),
                ("target", _Address)]


class _ClientEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("status", ctypes.c_int), ("error", ctypes.c_int),
                ("data", _u8p), ("len", ctypes.c_size_t)]


class _ServerEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("error", ctypes.c_int), ("data", _u8p),
                ("len", ctypes.c_size_t), ("request", _AuthMessage)]


class _ServerSettings(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("early_data_limit", ctypes.c_size_t)]


class MtopError(Exception):
    """A negative result of a libmtop function."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


# Declarations: (name, result type, argument types).
_c = _s = ctypes.c_void_p  # opaque handles
_API = [
    ("mtop_strerror", ctypes.c_char_p, [ctypes.c_int]),
    ("mtop_version", ctypes.c_char_p, []),
    ("mtop_encode_auth", ctypes.c_int,
     [ctypes.POINTER(_AuthMessage), ctypes.c_char_p, ctypes.c_size_t]),
    ("mtop_encode_response", ctypes.c_int, [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]),
    ("mtop_decode_auth", ctypes.c_int,
     [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_AuthMessage)]),
    ("mtop_decode_response", ctypes.c_int,
     [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]),
    ("mtop_client_handshake_new", ctypes.c_int,
     [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_AuthMessage)]),
    ("mtop_client_handshake_free", None, [_c]),
    ("mtop_client_handshake_send_payload", ctypes.c_int, [_c, ctypes.c_char_p, ctypes.c_size_t]),
    ("mtop_client_handshake_pending_output", ctypes.c_int,
     [_c, ctypes.POINTER(_u8p), ctypes.POINTER(ctypes.c_size_t)]),
    ("mtop_client_handshake_consume_output", ctypes.c_int, [_c, ctypes.c_size_t]),
    ("mtop_client_handshake_feed", ctypes.c_int, [_c, ctypes.c_char_p, ctypes.c_size_t]),
    ("mtop_client_handshake_feed_eof", ctypes.c_int, [_c]),
    ("mtop_client_handshake_next_event", ctypes.c_int, [_c, ctypes.POINTER(_ClientEvent)]),
    ("mtop_server_settings_default", ctypes.c_int, [ctypes.POINTER(_ServerSettings)]),
    ("mtop_server_handshake_new", ctypes.c_int,
     [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_ServerSettings)]),
    ("mtop_server_handshake_free", None, [_s]),
    ("mtop_server_handshake_feed", ctypes.c_int, [_s, ctypes.c_char_p, ctypes.c_size_t]),
    ("mtop_server_handshake_feed_eof", ctypes.c_int, [_s]),
    ("mtop_server_handshake_next_event", ctypes.c_int, [_s, ctypes.POINTER(_ServerEvent)]),
    ("mtop_server_handshake_accept", ctypes.c_int, [_s]),
    ("mtop_server_handshake_reject", ctypes.c_int, [_s, ctypes.c_int, ctypes.c_int]),
    ("mtop_server_handshake_wipe_password", ctypes.c_int, [_s]),
    ("mtop_server_handshake_pending_output", ctypes.c_int,
     [_s, ctypes.POINTER(_u8p), ctypes.POINTER(ctypes.c_size_t)]),
    ("mtop_server_handshake_consume_output", ctypes.c_int, [_s, ctypes.c_size_t]),
    ("mtop_server_handshake_early_data_size", ctypes.c_int,
     [_s, ctypes.POINTER(ctypes.c_size_t)]),
]


class Library:
    """The loaded libmtop.so with its functions declared."""

    def __init__(self, path: str):
        self._dll = ctypes.CDLL(path)
        for name, restype, argtypes in _API:
            fn = getattr(self._dll, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)

    def strerror(self, code: int) -> str:
        return self.mtop_strerror(code).decode()

    def version(self) -> str:
        return self.mtop_version().decode()

    def check(self, rc: int) -> int:
        """Returns rc, or raises MtopError if it is an error code."""
        if rc < 0:
            raise MtopError(rc, self.strerror(rc))
        return rc


def load(path: Optional[str] = None) -> Library:
    """Loads libmtop from `path`, else $MTOP_LIBRARY, else the loader's search path."""
    return Library(path or os.environ.get("MTOP_LIBRARY") or "libmtop.so")


@dataclass(frozen=True)
class Target:
    """A tunnel target: an IPv4/IPv6 address or a domain name, and a port."""
    host: Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address]
    port: int

    @staticmethod
    def domain(name: str, port: int) -> "Target":
        return Target(name, port)

    @staticmethod
    def ip(address: str, port: int) -> "Target":
        return Target(ipaddress.ip_address(address), port)


@dataclass(frozen=True)
class AuthRequest:
    username: bytes
    password: bytes
    target: Target


@dataclass(frozen=True)
class Event:
    """A handshake event; status/error/data/request are set for the types that carry them."""
    type: int
    status: int = 0
    error: int = 0
    data: bytes = b""
    request: Optional[AuthRequest] = None


def _bytes_at(ptr, length: int) -> bytes:
    return ctypes.string_at(ptr, length) if length else b""


class _CMessage:
    """An _AuthMessage built from Python values, with the buffers it points into kept alive."""

    def __init__(self, username: bytes, password: bytes, target: Target):
        self._keep = [ctypes.create_string_buffer(username, len(username)),
                      ctypes.create_string_buffer(password, len(password))]
        m = _AuthMessage()
        m.username = ctypes.cast(self._keep[0], _u8p)
        m.username_len = len(username)
        m.password = ctypes.cast(self._keep[1], _u8p)
        m.password_len = len(password)
        host = target.host
        if isinstance(host, ipaddress.IPv4Address):
            m.target.type = ADDRESS_IPV4
            m.target.ip[0:4] = list(host.packed)
        elif isinstance(host, ipaddress.IPv6Address):
            m.target.type = ADDRESS_IPV6
            m.target.ip[0:16] = list(host.packed)
        else:
            name = host.encode("ascii")
            self._keep.append(ctypes.create_string_buffer(name, len(name)))
            m.target.type = ADDRESS_DOMAIN
            m.target.domain = ctypes.cast(self._keep[2], ctypes.POINTER(ctypes.c_char))
            m.target.domain_len = len(name)
        if not 0 <= target.port <= 0xFFFF:
            raise MtopError(ERR_INVALID_ARGUMENT, "port out of range")
        m.target.port = target.port
        self.message = m

    def wipe(self) -> None:
        for buf in self._keep[:2]:
            ctypes.memset(buf, 0, len(buf))


def _request_from_c(m: _AuthMessage) -> AuthRequest:
    t = m.target
    if t.type == ADDRESS_IPV4:
        host = ipaddress.IPv4Address(bytes(t.ip[0:4]))
    elif t.type == ADDRESS_IPV6:
        host = ipaddress.IPv6Address(bytes(t.ip[0:16]))
    else:
        host = _bytes_at(t.domain, t.domain_len).decode("ascii")
    return AuthRequest(_bytes_at(m.username, m.username_len),
                       _bytes_at(m.password, m.password_len), Target(host, t.port))


def encode_auth(lib: Library, username: bytes, password: bytes, target: Target) -> bytes:
    msg = _CMessage(username, password, target)
    out = ctypes.create_string_buffer(MAX_AUTH_MESSAGE_SIZE)
    try:
        n = lib.check(lib.mtop_encode_auth(ctypes.byref(msg.message), out, len(out)))
        return out.raw[:n]
    finally:
        msg.wipe()
        ctypes.memset(out, 0, len(out))


def decode_auth(lib: Library, data: bytes):
    """Returns (AuthRequest, size) for a complete message, (None, 0) if more is needed."""
    m = _AuthMessage()
    n = lib.check(lib.mtop_decode_auth(data, len(data), ctypes.byref(m)))
    return (_request_from_c(m), n) if n else (None, 0)


def encode_response(lib: Library, status: int) -> bytes:
    out = ctypes.create_string_buffer(RESPONSE_SIZE)
    n = lib.check(lib.mtop_encode_response(status, out, len(out)))
    return out.raw[:n]


def decode_response(lib: Library, data: bytes):
    """Returns (status, size) for a complete response, (None, 0) if more is needed."""
    status = ctypes.c_int(-1)
    n = lib.check(lib.mtop_decode_response(data, len(data), ctypes.byref(status)))
    return (status.value, n) if n else (None, 0)


class _Handle:
    _free = ""

    def __init__(self, lib: Library):
        self._lib = lib
        self._h = ctypes.c_void_p()

    def _handle(self) -> ctypes.c_void_p:
        if not self._h:
            raise MtopError(ERR_INVALID_STATE, "handle is closed")
        return self._h

    def close(self) -> None:
        if self._h:
            getattr(self._lib, self._free)(self._h)
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _output(self, fn) -> bytes:
        data, length = _u8p(), ctypes.c_size_t()
        self._lib.check(fn(self._handle(), ctypes.byref(data), ctypes.byref(length)))
        return _bytes_at(data, length.value)


class ClientHandshake(_Handle):
    """The climber's side of one tunnel (mtop_client_handshake)."""
    _free = "mtop_client_handshake_free"

    def __init__(self, lib: Library, username: bytes, password: bytes, target: Target):
        super().__init__(lib)
        msg = _CMessage(username, password, target)
        try:
            lib.check(lib.mtop_client_handshake_new(ctypes.byref(self._h),
                                                    ctypes.byref(msg.message)))
        finally:
            msg.wipe()

    def send_payload(self, data: bytes) -> None:
        self._lib.check(self._lib.mtop_client_handshake_send_payload(self._handle(), data,
                                                                     len(data)))

    def pending_output(self) -> bytes:
        return self._output(self._lib.mtop_client_handshake_pending_output)

    def consume_output(self, n: int) -> None:
        self._lib.check(self._lib.mtop_client_handshake_consume_output(self._handle(), n))

    def feed(self, data: bytes) -> int:
        return self._lib.check(self._lib.mtop_client_handshake_feed(self._handle(), data,
                                                                    len(data)))

    def feed_eof(self) -> None:
        self._lib.check(self._lib.mtop_client_handshake_feed_eof(self._handle()))

    def next_event(self) -> Event:
        ev = _ClientEvent()
        self._lib.check(self._lib.mtop_client_handshake_next_event(self._handle(),
                                                                   ctypes.byref(ev)))
        return Event(ev.type, status=ev.status, error=ev.error, data=_bytes_at(ev.data, ev.len))


class ServerHandshake(_Handle):
    """The server's side of one tunnel (mtop_server_handshake)."""
    _free = "mtop_server_handshake_free"

    def __init__(self, lib: Library, early_data_limit: Optional[int] = None):
        super().__init__(lib)
        settings = _ServerSettings()
        lib.check(lib.mtop_server_settings_default(ctypes.byref(settings)))
        if early_data_limit is not None:
            settings.early_data_limit = early_data_limit
        lib.check(lib.mtop_server_handshake_new(ctypes.byref(self._h), ctypes.byref(settings)))

    def feed(self, data: bytes) -> int:
        return self._lib.check(self._lib.mtop_server_handshake_feed(self._handle(), data,
                                                                    len(data)))

    def feed_eof(self) -> None:
        self._lib.check(self._lib.mtop_server_handshake_feed_eof(self._handle()))

    def next_event(self) -> Event:
        ev = _ServerEvent()
        self._lib.check(self._lib.mtop_server_handshake_next_event(self._handle(),
                                                                   ctypes.byref(ev)))
        request = _request_from_c(ev.request) if ev.type == EVENT_AUTH_REQUEST else None
        return Event(ev.type, error=ev.error, data=_bytes_at(ev.data, ev.len), request=request)

    def accept(self) -> None:
        self._lib.check(self._lib.mtop_server_handshake_accept(self._handle()))

    def reject(self, status: int, mode: int = REJECT_STEALTH) -> None:
        self._lib.check(self._lib.mtop_server_handshake_reject(self._handle(), status, mode))

    def wipe_password(self) -> None:
        self._lib.check(self._lib.mtop_server_handshake_wipe_password(self._handle()))

    def pending_output(self) -> bytes:
        return self._output(self._lib.mtop_server_handshake_pending_output)

    def consume_output(self, n: int) -> None:
        self._lib.check(self._lib.mtop_server_handshake_consume_output(self._handle(), n))

    def early_data_size(self) -> int:
        size = ctypes.c_size_t()
        self._lib.check(self._lib.mtop_server_handshake_early_data_size(self._handle(),
                                                                        ctypes.byref(size)))
        return size.value
