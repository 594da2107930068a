"""mtop.py - a ctypes wrapper of libmtop's C API (bindings/c/include/mtop.h).

Load the library, then use the codecs, the two handshake machines (ClientHandshake,
ServerHandshake), the two proxy front ends (Socks5Server, HttpProxy) and the engines (Server,
whose users a Python function checks, and Climber, whose tunnels are Python sockets):

    lib = mtop.load("/path/to/libmtop.so")       # or $MTOP_LIBRARY, or "libmtop.so"
    client = mtop.ClientHandshake(lib, b"alice", b"s3cret", mtop.Target.domain("example.com", 443))
    wire = client.pending_output(); client.consume_output(len(wire))

load() raises MtopVersionError if the library is not compatible with BINDING_VERSION (another
MAJOR, an older MINOR) or a function is missing: the constants and struct layouts here are hand-made copies of mtop.h,
checked against the header by examples/python/check_bindings.py (a ctest).
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

# The library version this module was written for. load() refuses a library of another MAJOR
# or an older MINOR (check_version()).
BINDING_VERSION = "0.1.0"

# Every constant of mtop.h, under its name without the MTOP_ prefix. Copied by hand: the ctest
# examples/python_bindings_match_header (check_bindings.py) compares each with the header.
ERR_INVALID_ARGUMENT = -10001
ERR_INVALID_STATE = -10002
ERR_NO_MEMORY = -10003
ERR_NOMEM = ERR_NO_MEMORY
ERR_BAD_VERSION = -10010
ERR_BAD_METHOD = -10011
ERR_BAD_USERNAME = -10012
ERR_BAD_PASSWORD = -10013
ERR_BAD_ADDRESS_TYPE = -10014
ERR_BAD_DOMAIN = -10015
ERR_BAD_PORT = -10016
ERR_BAD_STATUS = -10017
ERR_EARLY_DATA_LIMIT = -10018
ERR_PEER_CLOSED = -10019
ERR_BAD_FRAME = -10020
ERR_KEEPALIVE_TIMEOUT = -10021
ERR_SOCKS_BAD_VERSION = -10030
ERR_SOCKS_NO_METHODS = -10031
ERR_SOCKS_BAD_RESERVED = -10032
ERR_SOCKS_BAD_ADDRESS_TYPE = -10033
ERR_SOCKS_BAD_ADDRESS = -10034
ERR_SOCKS_BAD_CREDENTIALS = -10035
ERR_SOCKS_AUTH_FAILED = -10036
ERR_SOCKS_NO_ACCEPTABLE_METHOD = -10037
ERR_SOCKS_COMMAND_NOT_SUPPORTED = -10038
ERR_HTTP_BAD_REQUEST = -10050
ERR_HTTP_HEADER_TOO_LARGE = -10051
ERR_HTTP_TOO_MANY_HEADERS = -10052
ERR_HTTP_BAD_TARGET = -10053
ERR_HTTP_UNSUPPORTED = -10054
ERR_HTTP_BAD_VERSION = -10055
ERR_STORE_UNAVAILABLE = -10070
ERR_STORE_DUPLICATE_USER = -10071
ERR_STORE_NO_SUCH_USER = -10072
ERR_STORE_QUERY_FAILED = -10073
ERR_CONFIG_INVALID = -10090
ERR_LISTEN_FAILED = -10091
ERR_TLS_SETUP_FAILED = -10092
ERR_NOT_BUILT_IN = -10093
ERR_SYSTEM = -10094
ERR_TUNNEL_REFUSED = -10095
ERR_TUNNEL_FAILED = -10096
ERR_LIMIT_REACHED = -10097
ERR_CANCELLED = -10098
ERR_INTERNAL = -20000

ADDRESS_IPV4 = 1
ADDRESS_DOMAIN = 3
ADDRESS_IPV6 = 4

STATUS_SUCCESS = 0
STATUS_VERSION_NOT_SUPPORTED = 1
STATUS_AUTH_FAILED = 2
STATUS_CONNECT_FAILED = 3
STATUS_NOT_PERMITTED = 4  # REVERSE only (reverse_state().refusal)
STATUS_PORT_IN_USE = 5
STATUS_BAD_REQUEST = 6

MAX_AUTH_MESSAGE_SIZE = 773
RESPONSE_SIZE = 2
MAX_FIELD_SIZE = 255
DEFAULT_EARLY_DATA_LIMIT = 65536
SETTINGS_VERSION = 1

EVENT_NEED_DATA = 0
EVENT_AUTH_REQUEST = 1
EVENT_ESTABLISHED = 2
EVENT_PAYLOAD = 3
EVENT_END_OF_INPUT = 4
EVENT_REJECTED = 5
EVENT_CLOSED_WITHOUT_STATUS = 6
EVENT_ERROR = 7

PROXY_EVENT_NEED_DATA = 0
PROXY_EVENT_AUTH = 1
PROXY_EVENT_REQUEST = 2
PROXY_EVENT_PAYLOAD = 3
PROXY_EVENT_END_OF_INPUT = 4
PROXY_EVENT_ERROR = 7

SOCKS5_REPLY_GENERAL_FAILURE = 1
SOCKS5_REPLY_NOT_ALLOWED = 2
SOCKS5_REPLY_NETWORK_UNREACHABLE = 3
SOCKS5_REPLY_HOST_UNREACHABLE = 4
SOCKS5_REPLY_CONNECTION_REFUSED = 5
SOCKS5_REPLY_TTL_EXPIRED = 6
SOCKS5_REPLY_COMMAND_NOT_SUPPORTED = 7
SOCKS5_REPLY_ADDRESS_TYPE_NOT_SUPPORTED = 8
SOCKS5_SETTINGS_VERSION = 1
SOCKS5_EVENT_VERSION = 1
DEFAULT_PROXY_MAX_PAYLOAD = 65536

HTTP_STATUS_BAD_REQUEST = 400
HTTP_STATUS_FORBIDDEN = 403
HTTP_STATUS_PROXY_AUTH_REQUIRED = 407
HTTP_STATUS_BAD_GATEWAY = 502
HTTP_STATUS_GATEWAY_TIMEOUT = 504
HTTP_AUTH_ABSENT = 0
HTTP_AUTH_BASIC = 1
HTTP_AUTH_MALFORMED = 2
HTTP_PROXY_SETTINGS_VERSION = 1
HTTP_PROXY_EVENT_VERSION = 1
DEFAULT_HTTP_MAX_HEAD_SIZE = 16384
DEFAULT_HTTP_MAX_HEADER_LINES = 100

REJECT_STEALTH = 0
REJECT_REPLY = 1

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


class _Socks5Settings(ctypes.Structure):
    _fields_ = [("no_auth", ctypes.c_int), ("username_password", ctypes.c_int),
                ("max_payload", ctypes.c_size_t)]


class _Socks5Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("error", ctypes.c_int), ("data", _u8p),
                ("len", ctypes.c_size_t), ("username", _u8p), ("username_len", ctypes.c_size_t),
                ("password", _u8p), ("password_len", ctypes.c_size_t), ("target", _Address)]


class _HttpProxySettings(ctypes.Structure):
    _fields_ = [("max_head_size", ctypes.c_size_t), ("max_header_lines", ctypes.c_size_t),
                ("max_payload", ctypes.c_size_t)]


class _HttpProxyEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("error", ctypes.c_int), ("data", _u8p),
                ("len", ctypes.c_size_t), ("method", ctypes.POINTER(ctypes.c_char)),
                ("method_len", ctypes.c_size_t), ("target", _Address),
                ("connect", ctypes.c_int), ("http_minor", ctypes.c_int),
                ("forward_head", _u8p), ("forward_head_len", ctypes.c_size_t),
                ("auth", ctypes.c_int), ("username", _u8p), ("username_len", ctypes.c_size_t),
                ("password", _u8p), ("password_len", ctypes.c_size_t)]


# The C struct each ctypes class mirrors (check_bindings.py compares sizes and offsets).
C_STRUCTS = {
    "mtop_address": _Address,
    "mtop_auth_message": _AuthMessage,
    "mtop_client_event": _ClientEvent,
    "mtop_server_event": _ServerEvent,
    "mtop_server_settings": _ServerSettings,
    "mtop_socks5_settings": _Socks5Settings,
    "mtop_socks5_event": _Socks5Event,
    "mtop_http_proxy_settings": _HttpProxySettings,
    "mtop_http_proxy_event": _HttpProxyEvent,
}


class MtopError(Exception):
    """A negative result of a libmtop function."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


class MtopVersionError(ImportError):
    """The loaded library is not compatible with this module."""


def _major_minor(version: str):
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise MtopVersionError(f"libmtop reports version {version!r}, not MAJOR.MINOR.PATCH")
    return int(parts[0]), int(parts[1])


def check_version(library_version: str) -> None:
    """Raises MtopVersionError unless a library of `library_version` serves this module: the
    same MAJOR and a MINOR at least BINDING_VERSION's (the rule of mtop_version_check(); the
    structs cross the API with their version, so a newer library still reads ours)."""
    lib_major, lib_minor = _major_minor(library_version)
    major, minor = _major_minor(BINDING_VERSION)
    if lib_major != major or lib_minor < minor:
        raise MtopVersionError(f"libmtop {library_version} is loaded, but this module mirrors "
                               f"mtop.h of {BINDING_VERSION}: it needs {major}.{minor} or a "
                               f"later {major}.x")


# Declarations: (name, result type, argument types).
_c = _s = _p = ctypes.c_void_p  # opaque handles
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
    ("mtop_client_handshake_set_user_data", ctypes.c_int, [_c, ctypes.c_void_p]),
    ("mtop_client_handshake_get_user_data", ctypes.c_void_p, [_c]),
    ("mtop_server_handshake_set_user_data", ctypes.c_int, [_s, ctypes.c_void_p]),
    ("mtop_server_handshake_get_user_data", ctypes.c_void_p, [_s]),
    # SOCKS5 (the header's plain names are macros over these _versioned functions).
    ("mtop_socks5_settings_default_versioned", ctypes.c_int,
     [ctypes.c_int, ctypes.POINTER(_Socks5Settings)]),
    ("mtop_socks5_server_new_versioned", ctypes.c_int,
     [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.POINTER(_Socks5Settings)]),
    ("mtop_socks5_server_free", None, [_p]),
    ("mtop_socks5_server_set_user_data", ctypes.c_int, [_p, ctypes.c_void_p]),
    ("mtop_socks5_server_get_user_data", ctypes.c_void_p, [_p]),
    ("mtop_socks5_server_feed", ctypes.c_int, [_p, ctypes.c_char_p, ctypes.c_size_t]),
    ("mtop_socks5_server_feed_eof", ctypes.c_int, [_p]),
    ("mtop_socks5_server_next_event_versioned", ctypes.c_int,
     [_p, ctypes.c_int, ctypes.POINTER(_Socks5Event)]),
    ("mtop_socks5_server_accept_credentials", ctypes.c_int, [_p]),
    ("mtop_socks5_server_reject_credentials", ctypes.c_int, [_p]),
    ("mtop_socks5_server_accept", ctypes.c_int, [_p, ctypes.POINTER(_Address)]),
    ("mtop_socks5_server_reject", ctypes.c_int, [_p, ctypes.c_int]),
    ("mtop_socks5_server_pending_output", ctypes.c_int,
     [_p, ctypes.POINTER(_u8p), ctypes.POINTER(ctypes.c_size_t)]),
    ("mtop_socks5_server_consume_output", ctypes.c_int, [_p, ctypes.c_size_t]),
    # HTTP proxy.
    ("mtop_http_proxy_settings_default_versioned", ctypes.c_int,
     [ctypes.c_int, ctypes.POINTER(_HttpProxySettings)]),
    ("mtop_http_proxy_new_versioned", ctypes.c_int,
     [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.POINTER(_HttpProxySettings)]),
    ("mtop_http_proxy_free", None, [_p]),
    ("mtop_http_proxy_set_user_data", ctypes.c_int, [_p, ctypes.c_void_p]),
    ("mtop_http_proxy_get_user_data", ctypes.c_void_p, [_p]),
    ("mtop_http_proxy_feed", ctypes.c_int, [_p, ctypes.c_char_p, ctypes.c_size_t]),
    ("mtop_http_proxy_feed_eof", ctypes.c_int, [_p]),
    ("mtop_http_proxy_next_event_versioned", ctypes.c_int,
     [_p, ctypes.c_int, ctypes.POINTER(_HttpProxyEvent)]),
    ("mtop_http_proxy_accept", ctypes.c_int, [_p]),
    ("mtop_http_proxy_reject", ctypes.c_int, [_p, ctypes.c_int]),
    ("mtop_http_proxy_pending_output", ctypes.c_int,
     [_p, ctypes.POINTER(_u8p), ctypes.POINTER(ctypes.c_size_t)]),
    ("mtop_http_proxy_consume_output", ctypes.c_int, [_p, ctypes.c_size_t]),
]


class Library:
    """The loaded libmtop.so with its functions declared."""

    def __init__(self, path: str):
        self._dll = ctypes.CDLL(path)
        missing = [name for name, _, _ in _API if not hasattr(self._dll, name)]
        if missing:
            raise MtopVersionError(f"{path} lacks {', '.join(missing)}: not the libmtop "
                                   f"{BINDING_VERSION} this module was written for")
        for name, restype, argtypes in _API:
            fn = getattr(self._dll, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        check_version(self.version())
        # Libraries that have mtop_version_check() answer the same question themselves.
        if hasattr(self._dll, "mtop_version_check"):
            self._dll.mtop_version_check.restype = ctypes.c_int
            self._dll.mtop_version_check.argtypes = [ctypes.c_int, ctypes.c_int]
            major, minor = _major_minor(BINDING_VERSION)
            if self._dll.mtop_version_check(major, minor) != 1:
                raise MtopVersionError(f"mtop_version_check({major}, {minor}) refuses "
                                       f"libmtop {self.version()}")

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


# --- the proxy front ends: SOCKS5 and HTTP ---------------------------------------------------

@dataclass(frozen=True)
class ProxyEvent:
    """An event of Socks5Server or HttpProxy (PROXY_EVENT_*); the fields its type carries are
    set, the others keep their defaults. Bytes are copies."""
    type: int
    error: int = 0
    data: bytes = b""
    target: Optional[Target] = None      # REQUEST
    username: bytes = b""                 # SOCKS5 AUTH; HTTP REQUEST with auth == BASIC
    password: bytes = b""
    method: str = ""                      # HTTP REQUEST
    connect: bool = False                 # HTTP REQUEST: CONNECT (else a forward request)
    http_minor: int = 1                   # HTTP REQUEST: 1 for HTTP/1.1, 0 for HTTP/1.0
    forward_head: bytes = b""             # HTTP REQUEST, forward requests only
    auth: int = HTTP_AUTH_ABSENT          # HTTP REQUEST: HTTP_AUTH_*


def _target_from_c(t: _Address) -> Target:
    if t.type == ADDRESS_IPV4:
        return Target(ipaddress.IPv4Address(bytes(t.ip[0:4])), t.port)
    if t.type == ADDRESS_IPV6:
        return Target(ipaddress.IPv6Address(bytes(t.ip[0:16])), t.port)
    return Target(_bytes_at(t.domain, t.domain_len).decode("ascii"), t.port)


class Socks5Server(_Handle):
    """The SOCKS5 server machine (mtop_socks5_server): RFC 1928 CONNECT with RFC 1929
    username/password when `username_password` is set."""
    _free = "mtop_socks5_server_free"

    def __init__(self, lib: Library, username_password: bool = False,
                 max_payload: Optional[int] = None):
        super().__init__(lib)
        settings = _Socks5Settings()
        lib.check(lib.mtop_socks5_settings_default_versioned(SOCKS5_SETTINGS_VERSION,
                                                             ctypes.byref(settings)))
        settings.username_password = 1 if username_password else 0
        if max_payload is not None:
            settings.max_payload = max_payload
        lib.check(lib.mtop_socks5_server_new_versioned(ctypes.byref(self._h),
                                                       SOCKS5_SETTINGS_VERSION,
                                                       ctypes.byref(settings)))

    def feed(self, data: bytes) -> int:
        return self._lib.check(self._lib.mtop_socks5_server_feed(self._handle(), data,
                                                                 len(data)))

    def feed_eof(self) -> None:
        self._lib.check(self._lib.mtop_socks5_server_feed_eof(self._handle()))

    def next_event(self) -> ProxyEvent:
        ev = _Socks5Event()
        self._lib.check(self._lib.mtop_socks5_server_next_event_versioned(
            self._handle(), SOCKS5_EVENT_VERSION, ctypes.byref(ev)))
        return ProxyEvent(ev.type, error=ev.error, data=_bytes_at(ev.data, ev.len),
                          target=_target_from_c(ev.target)
                          if ev.type == PROXY_EVENT_REQUEST else None,
                          username=_bytes_at(ev.username, ev.username_len),
                          password=_bytes_at(ev.password, ev.password_len))

    def accept_credentials(self) -> None:
        self._lib.check(self._lib.mtop_socks5_server_accept_credentials(self._handle()))

    def reject_credentials(self) -> None:
        self._lib.check(self._lib.mtop_socks5_server_reject_credentials(self._handle()))

    def accept(self, bound: Optional[Target] = None) -> None:
        """Success reply; `bound` is BND.ADDR/BND.PORT (None: 0.0.0.0:0)."""
        if bound is None:
            self._lib.check(self._lib.mtop_socks5_server_accept(self._handle(), None))
            return
        msg = _CMessage(b"-", b"-", bound)  # only its target is used
        self._lib.check(self._lib.mtop_socks5_server_accept(self._handle(),
                                                            ctypes.byref(msg.message.target)))

    def reject(self, reply: int) -> None:
        self._lib.check(self._lib.mtop_socks5_server_reject(self._handle(), reply))

    def pending_output(self) -> bytes:
        return self._output(self._lib.mtop_socks5_server_pending_output)

    def consume_output(self, n: int) -> None:
        self._lib.check(self._lib.mtop_socks5_server_consume_output(self._handle(), n))


class HttpProxy(_Handle):
    """The HTTP/1.x proxy request machine (mtop_http_proxy): CONNECT or absolute-form."""
    _free = "mtop_http_proxy_free"

    def __init__(self, lib: Library, max_head_size: Optional[int] = None,
                 max_header_lines: Optional[int] = None, max_payload: Optional[int] = None):
        super().__init__(lib)
        settings = _HttpProxySettings()
        lib.check(lib.mtop_http_proxy_settings_default_versioned(HTTP_PROXY_SETTINGS_VERSION,
                                                                 ctypes.byref(settings)))
        if max_head_size is not None:
            settings.max_head_size = max_head_size
        if max_header_lines is not None:
            settings.max_header_lines = max_header_lines
        if max_payload is not None:
            settings.max_payload = max_payload
        lib.check(lib.mtop_http_proxy_new_versioned(ctypes.byref(self._h),
                                                    HTTP_PROXY_SETTINGS_VERSION,
                                                    ctypes.byref(settings)))

    def feed(self, data: bytes) -> int:
        return self._lib.check(self._lib.mtop_http_proxy_feed(self._handle(), data, len(data)))

    def feed_eof(self) -> None:
        self._lib.check(self._lib.mtop_http_proxy_feed_eof(self._handle()))

    def next_event(self) -> ProxyEvent:
        ev = _HttpProxyEvent()
        self._lib.check(self._lib.mtop_http_proxy_next_event_versioned(
            self._handle(), HTTP_PROXY_EVENT_VERSION, ctypes.byref(ev)))
        if ev.type != PROXY_EVENT_REQUEST:
            return ProxyEvent(ev.type, error=ev.error, data=_bytes_at(ev.data, ev.len))
        return ProxyEvent(ev.type, target=_target_from_c(ev.target),
                          username=_bytes_at(ev.username, ev.username_len),
                          password=_bytes_at(ev.password, ev.password_len),
                          method=_bytes_at(ev.method, ev.method_len).decode("latin-1"),
                          connect=bool(ev.connect), http_minor=ev.http_minor,
                          forward_head=_bytes_at(ev.forward_head, ev.forward_head_len),
                          auth=ev.auth)

    def accept(self) -> None:
        self._lib.check(self._lib.mtop_http_proxy_accept(self._handle()))

    def reject(self, status: int) -> None:
        self._lib.check(self._lib.mtop_http_proxy_reject(self._handle(), status))

    def pending_output(self) -> bytes:
        return self._output(self._lib.mtop_http_proxy_pending_output)

    def consume_output(self, n: int) -> None:
        self._lib.check(self._lib.mtop_http_proxy_consume_output(self._handle(), n))


# --- the engines: a server and a climber in this process (mtop.h's engine sections) ---------
# Both run on a thread of their own (loop NULL); callbacks come on that thread.

VERSION_MAJOR = 0
VERSION_MINOR = 1
VERSION_PATCH = 0
VERSION_NUM = (VERSION_MAJOR << 16) | (VERSION_MINOR << 8) | VERSION_PATCH
SERVER_SETTINGS_VERSION = 1
CLIENT_EVENT_VERSION = 1
SERVER_EVENT_VERSION = 1
SERVER_CONFIG_VERSION = 3
SERVER_CALLBACKS_VERSION = 1
SERVER_STATS_VERSION = 4
USER_GRANT_VERSION = 2
CLIMBER_CONFIG_VERSION = 2
CLIMBER_STATS_VERSION = 2
REVERSE_STATE_VERSION = 1
LOG_DEBUG = 0
LOG_INFO = 1
LOG_WARN = 2
LOG_ERROR = 3
LOG_OFF = 4
FAILURE_OVERLOADED = 0
FAILURE_DRAINING = 1
FAILURE_HANDSHAKE_TIMEOUT = 2
FAILURE_PROTOCOL_ERROR = 3
FAILURE_CLIENT_CLOSED = 4
FAILURE_THROTTLED = 5
FAILURE_AUTH_FAILED = 6
FAILURE_STORE_UNAVAILABLE = 7
FAILURE_STORE_ERROR = 8
FAILURE_ACCOUNT_REFUSED = 9
FAILURE_USER_TUNNEL_LIMIT = 10
FAILURE_TARGET_DENIED = 11
FAILURE_TARGET_FAILED = 12
FAILURE_REVOKED = 13
FAILURE_COUNT = 14
ACCESS_LOG_JSON = 0
ACCESS_LOG_LOGFMT = 1
REJECTION_SOURCE_DENIED = 0
REJECTION_MAX_TUNNELS = 1
REJECTION_MAX_TUNNELS_PER_USER = 2
REJECTION_MAX_TUNNELS_PER_SOURCE = 3
REJECTION_MAX_TUNNELS_PER_SUBNET = 4
REJECTION_SOURCE_RATE = 5
REJECTION_TARGET_PORT = 6
REJECTION_COUNT = 7
TRANSPORT_DEFAULT = 0
TRANSPORT_TLS = 1
TRANSPORT_QUIC = 2
TRANSPORT_AUTO = 3

_cstrs = ctypes.POINTER(ctypes.c_char_p)
_AuthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_LogCallback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_DrainCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_TunnelCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                   ctypes.c_char_p, ctypes.c_void_p)


class _ServerConfig(ctypes.Structure):
    _fields_ = [("listen", _cstrs), ("listen_count", ctypes.c_size_t),
                ("cert_file", ctypes.c_char_p), ("key_file", ctypes.c_char_p),
                ("quic", ctypes.c_int), ("reply_mode", ctypes.c_int),
                ("handshake_timeout_ms", ctypes.c_uint64), ("connect_timeout_ms", ctypes.c_uint64),
                ("idle_timeout_ms", ctypes.c_uint64), ("drain_timeout_ms", ctypes.c_uint64),
                ("allow_targets", _cstrs), ("allow_targets_count", ctypes.c_size_t),
                ("users_file", ctypes.c_char_p), ("max_tunnels", ctypes.c_uint64),
                ("log_level", ctypes.c_int),
                # version 2
                ("admin_listen", ctypes.c_char_p), ("admin_token_file", ctypes.c_char_p),
                ("admin_metrics_token_file", ctypes.c_char_p),
                ("admin_per_user_metrics", ctypes.c_int), ("access_log", ctypes.c_char_p),
                ("access_log_format", ctypes.c_int),
                ("allow_sources", _cstrs), ("allow_sources_count", ctypes.c_size_t),
                ("deny_sources", _cstrs), ("deny_sources_count", ctypes.c_size_t),
                ("max_tunnels_per_source", ctypes.c_uint64),
                ("max_tunnels_per_subnet", ctypes.c_uint64),
                ("subnet_prefix_v4", ctypes.c_uint), ("subnet_prefix_v6", ctypes.c_uint),
                ("source_rate", ctypes.c_double), ("source_burst", ctypes.c_uint32),
                ("deny_target_ports", ctypes.POINTER(ctypes.c_uint16)),
                ("deny_target_ports_count", ctypes.c_size_t),
                # version 3
                ("workers", ctypes.c_uint)]


class _UserGrant(ctypes.Structure):
    _fields_ = [("user", ctypes.c_char_p), ("max_tunnels", ctypes.c_uint32),
                ("rate_limit", ctypes.c_uint64),
                # version 2
                ("publish", ctypes.c_char_p)]


class _ServerCallbacks(ctypes.Structure):
    _fields_ = [("auth", _AuthCallback), ("log", _LogCallback)]


class _ServerStats(ctypes.Structure):
    _fields_ = [("live", ctypes.c_uint64), ("relaying", ctypes.c_uint64),
                ("total", ctypes.c_uint64), ("accepted", ctypes.c_uint64),
                ("bytes_up", ctypes.c_uint64), ("bytes_down", ctypes.c_uint64),
                ("active_users", ctypes.c_uint64), ("failures", ctypes.c_uint64 * FAILURE_COUNT),
                ("rejections", ctypes.c_uint64 * REJECTION_COUNT),
                # version 4
                ("reverse_ports", ctypes.c_uint64), ("reverse_ports_grace", ctypes.c_uint64),
                ("reverse_visitors", ctypes.c_uint64), ("reverse_visitors_total", ctypes.c_uint64),
                ("reverse_visitors_refused", ctypes.c_uint64)]


class _ReloadReport(ctypes.Structure):
    _fields_ = [("changed", _cstrs), ("changed_count", ctypes.c_size_t),
                ("not_applied", _cstrs), ("not_applied_count", ctypes.c_size_t),
                ("summary", ctypes.c_char_p)]


class _TunnelInfo(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("transport", ctypes.c_char_p),
                ("listener", ctypes.c_char_p), ("source", ctypes.c_char_p),
                ("user", ctypes.c_char_p), ("target", ctypes.c_char_p),
                ("stage", ctypes.c_char_p), ("bytes_up", ctypes.c_uint64),
                ("bytes_down", ctypes.c_uint64), ("age_ms", ctypes.c_uint64)]


class _TunnelList(ctypes.Structure):
    _fields_ = [("items", ctypes.POINTER(ctypes.POINTER(_TunnelInfo))),
                ("count", ctypes.c_size_t)]


class _UserInfo(ctypes.Structure):
    _fields_ = [("username", ctypes.c_char_p), ("enabled", ctypes.c_int),
                ("has_expires_at", ctypes.c_int), ("expires_at", ctypes.c_int64),
                ("has_max_tunnels", ctypes.c_int), ("max_tunnels", ctypes.c_uint32),
                ("has_quota_bytes", ctypes.c_int), ("quota_bytes", ctypes.c_uint64),
                ("used_bytes", ctypes.c_uint64), ("has_rate_limit", ctypes.c_int),
                ("rate_limit", ctypes.c_uint64), ("publish", ctypes.c_char_p)]


class _UserList(ctypes.Structure):
    _fields_ = [("items", ctypes.POINTER(ctypes.POINTER(_UserInfo))), ("count", ctypes.c_size_t)]


class _ClimberConfig(ctypes.Structure):
    _fields_ = [("server_uri", ctypes.c_char_p), ("password", ctypes.c_char_p),
                ("transport", ctypes.c_int), ("ca_file", ctypes.c_char_p),
                ("pin", ctypes.c_char_p), ("insecure", ctypes.c_int),
                ("socks_listen", ctypes.c_char_p), ("http_listen", ctypes.c_char_p),
                ("forwards", _cstrs), ("forward_count", ctypes.c_size_t),
                ("handshake_timeout_ms", ctypes.c_uint64), ("connect_timeout_ms", ctypes.c_uint64),
                ("idle_timeout_ms", ctypes.c_uint64), ("log_level", ctypes.c_int),
                # version 2
                ("reverses", _cstrs), ("reverse_count", ctypes.c_size_t),
                ("reverse_proxy_protocol", ctypes.POINTER(ctypes.c_int))]


class _ReverseState(ctypes.Structure):
    _fields_ = [("port", ctypes.c_uint16), ("published", ctypes.c_int),
                ("refusal", ctypes.c_int), ("visitors_total", ctypes.c_uint64)]


class _ClimberStats(ctypes.Structure):
    _fields_ = [("active_connections", ctypes.c_uint64), ("total_connections", ctypes.c_uint64),
                ("refused_connections", ctypes.c_uint64), ("tunnels_opened", ctypes.c_uint64),
                ("tunnels_failed", ctypes.c_uint64), ("bytes_up", ctypes.c_uint64),
                ("bytes_down", ctypes.c_uint64),
                # version 2
                ("reverse_published", ctypes.c_uint64),
                ("reverse_visitors_total", ctypes.c_uint64)]


C_STRUCTS.update({
    "mtop_server_config": _ServerConfig,
    "mtop_user_grant": _UserGrant,
    "mtop_server_callbacks": _ServerCallbacks,
    "mtop_server_stats": _ServerStats,
    "mtop_reload_report": _ReloadReport,
    "mtop_tunnel_info": _TunnelInfo,
    "mtop_tunnel_list": _TunnelList,
    "mtop_user_info": _UserInfo,
    "mtop_user_list": _UserList,
    "mtop_climber_config": _ClimberConfig,
    "mtop_reverse_state": _ReverseState,
    "mtop_climber_stats": _ClimberStats,
})

_e = ctypes.c_void_p  # engine handles and auth requests
_API += [
    ("mtop_version_num", ctypes.c_int, []),
    ("mtop_version_check", ctypes.c_int, [ctypes.c_int, ctypes.c_int]),
    ("mtop_server_settings_default_versioned", ctypes.c_int,
     [ctypes.c_int, ctypes.POINTER(_ServerSettings)]),
    ("mtop_client_handshake_next_event_versioned", ctypes.c_int,
     [_c, ctypes.c_int, ctypes.POINTER(_ClientEvent)]),
    ("mtop_server_handshake_next_event_versioned", ctypes.c_int,
     [_s, ctypes.c_int, ctypes.POINTER(_ServerEvent)]),
    ("mtop_last_error_message", ctypes.c_char_p, []),
    ("mtop_server_config_default_versioned", ctypes.c_int,
     [ctypes.c_int, ctypes.POINTER(_ServerConfig)]),
    ("mtop_server_new_versioned", ctypes.c_int,
     [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_int,
      ctypes.POINTER(_ServerConfig), ctypes.c_int, ctypes.POINTER(_ServerCallbacks),
      ctypes.c_void_p]),
    ("mtop_server_new_from_json_versioned", ctypes.c_int,
     [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
      ctypes.c_int, ctypes.POINTER(_ServerCallbacks), ctypes.c_void_p]),
    ("mtop_server_free", None, [_e]),
    ("mtop_server_get_user_data", ctypes.c_void_p, [_e]),
    ("mtop_server_start", ctypes.c_int, [_e]),
    ("mtop_server_port", ctypes.c_int, [_e, ctypes.c_size_t, ctypes.c_int]),
    ("mtop_server_stop", ctypes.c_int, [_e]),
    ("mtop_server_drain", ctypes.c_int, [_e, _DrainCallback, ctypes.c_void_p]),
    ("mtop_server_stats_versioned", ctypes.c_int,
     [_e, ctypes.c_int, ctypes.POINTER(_ServerStats)]),
    ("mtop_server_reload_versioned", ctypes.c_int,
     [_e, ctypes.c_int, ctypes.POINTER(_ServerConfig),
      ctypes.POINTER(ctypes.POINTER(_ReloadReport))]),
    ("mtop_server_reload_json", ctypes.c_int,
     [_e, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(_ReloadReport))]),
    ("mtop_reload_report_free", None, [ctypes.POINTER(_ReloadReport)]),
    ("mtop_server_tunnels", ctypes.c_int, [_e, ctypes.POINTER(ctypes.POINTER(_TunnelList))]),
    ("mtop_tunnel_list_free", None, [ctypes.POINTER(_TunnelList)]),
    ("mtop_server_close_tunnel", ctypes.c_int, [_e, ctypes.c_uint64]),
    ("mtop_server_close_user_tunnels", ctypes.c_int, [_e, ctypes.c_char_p]),
    ("mtop_server_metrics_text", ctypes.c_int,
     [_e, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]),
    ("mtop_string_free", None, [ctypes.c_void_p]),
    ("mtop_server_admin_port", ctypes.c_int, [_e]),
    ("mtop_user_admin_new", ctypes.c_int, [ctypes.POINTER(ctypes.c_void_p), _e]),
    ("mtop_user_admin_free", None, [_e]),
    ("mtop_user_admin_list", ctypes.c_int, [_e, ctypes.POINTER(ctypes.POINTER(_UserList))]),
    ("mtop_user_list_free", None, [ctypes.POINTER(_UserList)]),
    ("mtop_user_admin_add", ctypes.c_int, [_e, ctypes.c_char_p, ctypes.c_char_p]),
    ("mtop_user_admin_delete", ctypes.c_int, [_e, ctypes.c_char_p]),
    ("mtop_user_admin_set_password", ctypes.c_int, [_e, ctypes.c_char_p, ctypes.c_char_p]),
    ("mtop_user_admin_set_enabled", ctypes.c_int, [_e, ctypes.c_char_p, ctypes.c_int]),
    ("mtop_user_admin_set_quota", ctypes.c_int,
     [_e, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64), ctypes.c_int]),
    ("mtop_user_admin_set_max_tunnels", ctypes.c_int,
     [_e, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32)]),
    ("mtop_user_admin_set_rate_limit", ctypes.c_int,
     [_e, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)]),
    ("mtop_user_admin_set_expiry", ctypes.c_int,
     [_e, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int64)]),
    ("mtop_user_admin_set_publish", ctypes.c_int, [_e, ctypes.c_char_p, ctypes.c_char_p]),
    ("mtop_auth_request_username", ctypes.POINTER(ctypes.c_char),
     [_e, ctypes.POINTER(ctypes.c_size_t)]),
    ("mtop_auth_request_password", ctypes.POINTER(ctypes.c_char),
     [_e, ctypes.POINTER(ctypes.c_size_t)]),
    ("mtop_auth_request_source", ctypes.c_char_p, [_e]),
    ("mtop_auth_request_target_host", ctypes.c_char_p, [_e]),
    ("mtop_auth_request_target_port", ctypes.c_int, [_e]),
    ("mtop_auth_request_allow_versioned", ctypes.c_int,
     [_e, ctypes.c_int, ctypes.POINTER(_UserGrant)]),
    ("mtop_auth_request_deny", ctypes.c_int, [_e]),
    ("mtop_auth_request_unavailable", ctypes.c_int, [_e]),
    ("mtop_climber_config_default_versioned", ctypes.c_int,
     [ctypes.c_int, ctypes.POINTER(_ClimberConfig)]),
    ("mtop_climber_new_versioned", ctypes.c_int,
     [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_int,
      ctypes.POINTER(_ClimberConfig), _LogCallback, ctypes.c_void_p]),
    ("mtop_climber_new_from_json", ctypes.c_int,
     [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
      _LogCallback, ctypes.c_void_p]),
    ("mtop_climber_free", None, [_e]),
    ("mtop_climber_get_user_data", ctypes.c_void_p, [_e]),
    ("mtop_climber_start", ctypes.c_int, [_e]),
    ("mtop_climber_stop", ctypes.c_int, [_e]),
    ("mtop_climber_socks_port", ctypes.c_int, [_e]),
    ("mtop_climber_http_port", ctypes.c_int, [_e]),
    ("mtop_climber_forward_port", ctypes.c_int, [_e, ctypes.c_size_t]),
    ("mtop_climber_reverse_port", ctypes.c_int, [_e, ctypes.c_size_t]),
    ("mtop_climber_reverse_state_versioned", ctypes.c_int,
     [_e, ctypes.c_size_t, ctypes.c_int, ctypes.POINTER(_ReverseState)]),
    ("mtop_climber_stats_versioned", ctypes.c_int,
     [_e, ctypes.c_int, ctypes.POINTER(_ClimberStats)]),
    ("mtop_climber_open_tunnel", ctypes.c_int,
     [_e, ctypes.c_char_p, ctypes.c_uint16, _TunnelCallback, ctypes.c_void_p]),
]


def _engine_check(lib: "Library", rc: int) -> int:
    """Like Library.check, with mtop_last_error_message() in the exception."""
    if rc < 0:
        detail = lib.mtop_last_error_message().decode(errors="replace")
        raise MtopError(rc, lib.strerror(rc) + (f": {detail}" if detail else ""))
    return rc


def _cstr_array(items):
    arr = (ctypes.c_char_p * max(1, len(items)))(*[s.encode() for s in items])
    return ctypes.cast(arr, _cstrs), arr


@dataclass(frozen=True)
class UserCheck:
    """What a Server's check function gets: copies of the climber's credentials (the C copy of
    the password is wiped when the request is answered), its address and the target."""
    username: bytes
    password: bytes
    source: str
    target: Target


class Server:
    """A server engine on a thread of its own (mtop_server, loop NULL). `check(request)` runs
    on that thread for every climber: return True to allow, False to deny; an exception
    answers "unavailable". Close it (or use `with`) to stop and free it."""

    def __init__(self, lib: "Library", cert_file: str, key_file: str,
                 check, listen=("127.0.0.1:0",), allow_targets=(), quic: bool = False,
                 reply_mode: int = REJECT_REPLY):
        self._lib = lib
        self._check = check
        self.errors = []  # exceptions raised by check(), for the application to look at
        self._h = ctypes.c_void_p()
        cfg = _ServerConfig()
        _engine_check(lib, lib.mtop_server_config_default_versioned(SERVER_CONFIG_VERSION,
                                                                    ctypes.byref(cfg)))
        listen_p, self._listen = _cstr_array(list(listen))
        allow_p, self._allow = _cstr_array(list(allow_targets))
        cfg.listen, cfg.listen_count = listen_p, len(listen)
        cfg.allow_targets, cfg.allow_targets_count = allow_p, len(allow_targets)
        cfg.cert_file, cfg.key_file = cert_file.encode(), key_file.encode()
        cfg.quic = 1 if quic else 0
        cfg.reply_mode = reply_mode
        self._auth_cb = _AuthCallback(self._on_auth)  # kept alive with the server
        callbacks = _ServerCallbacks()
        callbacks.auth = self._auth_cb
        _engine_check(lib, lib.mtop_server_new_versioned(
            ctypes.byref(self._h), None, SERVER_CONFIG_VERSION, ctypes.byref(cfg),
            SERVER_CALLBACKS_VERSION, ctypes.byref(callbacks), None))

    def _on_auth(self, req, _user_data) -> int:
        lib = self._lib
        try:
            ulen, plen = ctypes.c_size_t(), ctypes.c_size_t()
            user = _bytes_at(lib.mtop_auth_request_username(req, ctypes.byref(ulen)), ulen.value)
            pw = _bytes_at(lib.mtop_auth_request_password(req, ctypes.byref(plen)), plen.value)
            host = lib.mtop_auth_request_target_host(req).decode()
            request = UserCheck(user, pw, lib.mtop_auth_request_source(req).decode(),
                                   Target(host, lib.mtop_auth_request_target_port(req)))
            allowed = bool(self._check(request))
        except Exception as e:  # noqa: BLE001 - nothing may escape into C
            self.errors.append(e)
            lib.mtop_auth_request_unavailable(req)
            return 0
        if allowed:
            lib.mtop_auth_request_allow_versioned(req, USER_GRANT_VERSION, None)
        else:
            lib.mtop_auth_request_deny(req)
        return 0

    def start(self) -> None:
        _engine_check(self._lib, self._lib.mtop_server_start(self._h))

    def port(self, index: int = 0, quic: bool = False) -> int:
        return _engine_check(self._lib, self._lib.mtop_server_port(self._h, index, int(quic)))

    def stats(self) -> _ServerStats:
        s = _ServerStats()
        _engine_check(self._lib, self._lib.mtop_server_stats_versioned(
            self._h, SERVER_STATS_VERSION, ctypes.byref(s)))
        return s

    def close(self) -> None:
        if self._h:
            self._lib.mtop_server_free(self._h)  # joins the server's thread
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Climber:
    """A climber engine on a thread of its own (mtop_climber, loop NULL)."""

    def __init__(self, lib: "Library", server_uri: str, password: Optional[str] = None,
                 ca_file: Optional[str] = None, transport: int = TRANSPORT_DEFAULT):
        self._lib = lib
        self._h = ctypes.c_void_p()
        self._callbacks = []  # tunnel callbacks kept alive until they ran
        cfg = _ClimberConfig()
        _engine_check(lib, lib.mtop_climber_config_default_versioned(CLIMBER_CONFIG_VERSION,
                                                                     ctypes.byref(cfg)))
        cfg.server_uri = server_uri.encode()
        cfg.password = password.encode() if password is not None else None
        cfg.ca_file = ca_file.encode() if ca_file is not None else None
        cfg.transport = transport
        _engine_check(lib, lib.mtop_climber_new_versioned(
            ctypes.byref(self._h), None, CLIMBER_CONFIG_VERSION, ctypes.byref(cfg),
            _LogCallback(), None))
        _engine_check(lib, lib.mtop_climber_start(self._h))

    def open_tunnel(self, host: str, port: int, timeout: float = 30.0):
        """Opens a tunnel to host:port through the server; returns a connected socket whose
        bytes travel through it. Raises MtopError if the server refuses or it fails."""
        import socket
        import threading
        done = threading.Event()
        result = {}

        def on_tunnel(_climber, status, fd, message, _user_data):
            result.update(status=status, fd=fd, message=(message or b"").decode())
            done.set()

        cb = _TunnelCallback(on_tunnel)
        self._callbacks.append(cb)
        _engine_check(self._lib, self._lib.mtop_climber_open_tunnel(
            self._h, host.encode(), port, cb, None))
        if not done.wait(timeout):
            raise MtopError(ERR_TUNNEL_FAILED, f"no tunnel after {timeout} s")
        if result["status"] < 0:
            raise MtopError(result["status"], f"{self._lib.strerror(result['status'])}: "
                                              f"{result['message']}")
        return socket.socket(fileno=result["fd"])

    def stats(self) -> _ClimberStats:
        s = _ClimberStats()
        _engine_check(self._lib, self._lib.mtop_climber_stats_versioned(
            self._h, CLIMBER_STATS_VERSION, ctypes.byref(s)))
        return s

    def close(self) -> None:
        if self._h:
            self._lib.mtop_climber_free(self._h)
            self._h = ctypes.c_void_p()
            self._callbacks.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
