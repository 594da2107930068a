/*
 * mtop.h - the C API of libmtop: the MTop wire protocol (docs/PROTOCOL.md) without I/O.
 *
 * What is here: encoders and incremental decoders of the two MTop messages (the client's
 * auth message and the server's two-byte response), and the two handshake state machines,
 * mtop_client_handshake and mtop_server_handshake. Nothing here opens a socket, reads a
 * clock or starts a thread: the caller moves bytes between the machines and its transport
 * (a TLS connection or a QUIC stream), in the sans-IO style of ngtcp2 and nghttp2.
 *
 * Conventions:
 * - Results are `int`: >= 0 is success (or a count), a negative value is an MTOP_ERR_* code;
 *   mtop_strerror() describes it. The codes lie in -10000..-19999 (plus MTOP_ERR_INTERNAL),
 *   away from libuv's negative errno values.
 * - Input pointers are borrowed for the duration of the call and may be reused as soon as
 *   it returns. Output pointers a handle hands out (pending output, event payloads, the
 *   auth request's fields) point into memory the handle owns; each doc block says how long
 *   they stay valid. Nothing is ever to be freed by the caller except a handle, and the
 *   lists, reports and strings the operations section hands out, each with its _free
 *   function.
 * - A function that fails leaves its output parameters untouched unless it says otherwise.
 * - Threads: a handle is not thread-safe; distinct handles may be used from distinct threads
 *   at the same time. The free functions (codecs, mtop_strerror, mtop_version) are
 *   reentrant.
 *
 * Pure C11; usable from C++ (extern "C").
 */
#ifndef MTOP_H
#define MTOP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MTOP_API marks the exported functions (the library is built with hidden visibility). */
#if defined(_WIN32)
#  if defined(MTOP_BUILDING_LIBRARY)
#    define MTOP_API __declspec(dllexport)
#  else
#    define MTOP_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define MTOP_API __attribute__((visibility("default")))
#else
#  define MTOP_API
#endif

/* ---------------------------------------------------------------------------------------
 * Error codes. MTOP_ERR_x == -(10000 + (int)mtop::Errc::x) for every mtop::Errc value
 * (include/mtop/errc.hpp); the numbers are part of the ABI and never change.
 * ------------------------------------------------------------------------------------- */

/* Local errors: the caller misused the API. */
#define MTOP_ERR_INVALID_ARGUMENT (-10001) /* a NULL pointer, a bad length or value */
#define MTOP_ERR_INVALID_STATE (-10002)    /* the call is not allowed in the handle's state */
#define MTOP_ERR_NO_MEMORY (-10003)        /* an allocation failed */
#define MTOP_ERR_NOMEM MTOP_ERR_NO_MEMORY  /* the same code, short name */

/* Peer errors: the bytes from the other side break the MTop protocol. */
#define MTOP_ERR_BAD_VERSION (-10010)      /* VER is not 0x01 */
#define MTOP_ERR_BAD_METHOD (-10011)       /* METHOD is not CONNECT */
#define MTOP_ERR_BAD_USERNAME (-10012)     /* ULEN is 0 */
#define MTOP_ERR_BAD_PASSWORD (-10013)     /* PLEN is 0 */
#define MTOP_ERR_BAD_ADDRESS_TYPE (-10014) /* ATYP is not 0x01, 0x03 or 0x04 */
#define MTOP_ERR_BAD_DOMAIN (-10015)       /* empty domain or a byte outside the host-name set */
#define MTOP_ERR_BAD_PORT (-10016)         /* port 0 */
#define MTOP_ERR_BAD_STATUS (-10017)       /* unknown response STATUS */
#define MTOP_ERR_EARLY_DATA_LIMIT (-10018) /* more early payload than the bound allows */
#define MTOP_ERR_PEER_CLOSED (-10019)      /* the peer closed before a complete message */
#define MTOP_ERR_BAD_FRAME (-10020)        /* a malformed reverse-tunnel message */
#define MTOP_ERR_KEEPALIVE_TIMEOUT (-10021) /* control tunnel peer silent for 3 keep-alives */

/* Peer errors of the SOCKS5 and HTTP proxy front ends (MTOP_PROXY_EVENT_ERROR of the proxy
 * machines below) and of the user stores (listed so that every library code has its C name). */
#define MTOP_ERR_SOCKS_BAD_VERSION (-10030)
#define MTOP_ERR_SOCKS_NO_METHODS (-10031)
#define MTOP_ERR_SOCKS_BAD_RESERVED (-10032)
#define MTOP_ERR_SOCKS_BAD_ADDRESS_TYPE (-10033)
#define MTOP_ERR_SOCKS_BAD_ADDRESS (-10034)
#define MTOP_ERR_SOCKS_BAD_CREDENTIALS (-10035)
#define MTOP_ERR_SOCKS_AUTH_FAILED (-10036)
#define MTOP_ERR_SOCKS_NO_ACCEPTABLE_METHOD (-10037)
#define MTOP_ERR_SOCKS_COMMAND_NOT_SUPPORTED (-10038)
#define MTOP_ERR_HTTP_BAD_REQUEST (-10050)
#define MTOP_ERR_HTTP_HEADER_TOO_LARGE (-10051)
#define MTOP_ERR_HTTP_TOO_MANY_HEADERS (-10052)
#define MTOP_ERR_HTTP_BAD_TARGET (-10053)
#define MTOP_ERR_HTTP_UNSUPPORTED (-10054)
#define MTOP_ERR_HTTP_BAD_VERSION (-10055)
#define MTOP_ERR_STORE_UNAVAILABLE (-10070)
#define MTOP_ERR_STORE_DUPLICATE_USER (-10071)
#define MTOP_ERR_STORE_NO_SUCH_USER (-10072)
#define MTOP_ERR_STORE_QUERY_FAILED (-10073)
/* Embedding: servers, climbers, tunnels. */
#define MTOP_ERR_CONFIG_INVALID (-10090)   /* a configuration value is missing or malformed */
#define MTOP_ERR_LISTEN_FAILED (-10091)    /* a listening address cannot be bound */
#define MTOP_ERR_TLS_SETUP_FAILED (-10092) /* certificate, key or CA file unusable */
#define MTOP_ERR_NOT_BUILT_IN (-10093)     /* feature left out of this build */
#define MTOP_ERR_SYSTEM (-10094)           /* a system call failed */
#define MTOP_ERR_TUNNEL_REFUSED (-10095)   /* the server refused the tunnel */
#define MTOP_ERR_TUNNEL_FAILED (-10096)    /* the tunnel could not be set up */
#define MTOP_ERR_LIMIT_REACHED (-10097)    /* a configured limit is reached */
#define MTOP_ERR_CANCELLED (-10098)        /* stopped or freed while pending */

/* An unexpected failure inside the library (a bug); outside the range of mtop::Errc. */
#define MTOP_ERR_INTERNAL (-20000)

/*
 * mtop_strerror - a short English description of a result code.
 * code: any int; 0 and positive values are described as success.
 * Returns a NUL-terminated static string, never NULL and never empty ("unknown error" for a
 * value that is no MTOP_ERR_* code). Never free it.
 */
MTOP_API const char *mtop_strerror(int code);

/*
 * mtop_version - the library's version, "MAJOR.MINOR.PATCH".
 * Returns a NUL-terminated static string, never NULL. Never free it.
 */
MTOP_API const char *mtop_version(void);

/* ---------------------------------------------------------------------------------------
 * Versions: of the library, and of the structs that cross the API.
 *
 * The macros below are the version this header describes; the library checks at build time
 * that they equal the CMake project version. A program built against this header may load a
 * newer library of the same major version (mtop_version_check() says so at run time).
 *
 * Structs that may grow (settings, configs, callbacks, events, stats, grants) are passed
 * with their version, as in ngtcp2: each function taking or filling one has a _versioned form
 * with an `int version` argument, and a macro of the plain name passes the version of this
 * header. The library reads or writes only the fields of the caller's version, so a program
 * built against an older header keeps working with a newer library (a newer struct's fields
 * get their defaults), and nothing past the end of its older struct is ever written. A
 * version the library does not know (< 1, or newer than the library) is refused with
 * MTOP_ERR_INVALID_ARGUMENT. Fill input structs with their _default() function first, so a
 * field added later starts with its default.
 * ------------------------------------------------------------------------------------- */

#define MTOP_VERSION_MAJOR 0
#define MTOP_VERSION_MINOR 1
#define MTOP_VERSION_PATCH 0
/* 0xMMmmpp, e.g. 0x000100 for 0.1.0; compare numerically. */
#define MTOP_VERSION_NUM \
  ((MTOP_VERSION_MAJOR << 16) | (MTOP_VERSION_MINOR << 8) | MTOP_VERSION_PATCH)

/*
 * mtop_version_num - the loaded library's MTOP_VERSION_NUM (0xMMmmpp).
 */
MTOP_API int mtop_version_num(void);

/*
 * mtop_version_check - whether the loaded library serves a program built against
 * major.minor: the same major version, and a minor version at least as new.
 * Call it as mtop_version_check(MTOP_VERSION_MAJOR, MTOP_VERSION_MINOR) at start-up.
 * Returns 1 if compatible, 0 if not (never an error code).
 */
MTOP_API int mtop_version_check(int major, int minor);

/* Struct versions of this header (see above). */
#define MTOP_SERVER_SETTINGS_VERSION 1 /* mtop_server_settings (handshake machine) */
#define MTOP_CLIENT_EVENT_VERSION 1    /* mtop_client_event */
#define MTOP_SERVER_EVENT_VERSION 1    /* mtop_server_event */
#define MTOP_SERVER_CONFIG_VERSION 3   /* mtop_server_config; 2 added admin, admission, log;
                                          3 workers */
#define MTOP_SERVER_CALLBACKS_VERSION 1
#define MTOP_SERVER_STATS_VERSION 4    /* 2 added the failure counts, 3 the rejections,
                                          4 the reverse-tunnel counters */
#define MTOP_USER_GRANT_VERSION 2      /* 2 added publish */
#define MTOP_CLIMBER_CONFIG_VERSION 2  /* 2 added the reverse rules */
#define MTOP_CLIMBER_STATS_VERSION 2   /* 2 added the reverse-tunnel counters */
#define MTOP_REVERSE_STATE_VERSION 1   /* mtop_reverse_state */

/* ---------------------------------------------------------------------------------------
 * Protocol constants (docs/PROTOCOL.md).
 * ------------------------------------------------------------------------------------- */

/* Address types (ATYP), the same values as SOCKS5's. */
#define MTOP_ADDRESS_IPV4 1   /* 4 bytes in ip[0..3], network order */
#define MTOP_ADDRESS_DOMAIN 3 /* 1-255 bytes of host name in domain/domain_len */
#define MTOP_ADDRESS_IPV6 4   /* 16 bytes in ip[0..15], network order */

/* Response STATUS values. */
#define MTOP_STATUS_SUCCESS 0               /* the target is connected; payload follows */
#define MTOP_STATUS_VERSION_NOT_SUPPORTED 1 /* the server does not speak the client's VER */
#define MTOP_STATUS_AUTH_FAILED 2           /* username / password rejected */
#define MTOP_STATUS_CONNECT_FAILED 3        /* target unreachable, or denied by policy */
/* STATUS values of a REVERSE response (reverse tunnels, PROTOCOL.md section 9). The handshake
 * machines of this header speak CONNECT only; these reach C as mtop_reverse_state.refusal. */
#define MTOP_STATUS_NOT_PERMITTED 4 /* no publish grant of the user covers the bind */
#define MTOP_STATUS_PORT_IN_USE 5   /* another climber or program holds the public port */
#define MTOP_STATUS_BAD_REQUEST 6   /* not one of the server's addresses, or unusable */

/* Sizes. */
#define MTOP_MAX_AUTH_MESSAGE_SIZE 773  /* the largest auth message; enough for any encoding */
#define MTOP_RESPONSE_SIZE 2            /* VER + STATUS */
#define MTOP_MAX_FIELD_SIZE 255         /* longest username, password or domain */
#define MTOP_DEFAULT_EARLY_DATA_LIMIT 65536 /* default early payload the server holds */

/* The former name of MTOP_SERVER_SETTINGS_VERSION (kept for existing callers). */
#define MTOP_SETTINGS_VERSION MTOP_SERVER_SETTINGS_VERSION

/* ---------------------------------------------------------------------------------------
 * Messages.
 * ------------------------------------------------------------------------------------- */

/* A tunnel's target. */
typedef struct mtop_address {
  int type;            /* MTOP_ADDRESS_IPV4, MTOP_ADDRESS_DOMAIN or MTOP_ADDRESS_IPV6 */
  uint8_t ip[16];      /* IPv4: the first 4 bytes; IPv6: all 16; network order */
  const char *domain;  /* MTOP_ADDRESS_DOMAIN only: the name, NOT NUL-terminated */
  size_t domain_len;   /* 1-255; see docs/PROTOCOL.md 2.1 for the accepted bytes */
  uint16_t port;       /* 1-65535, host order */
} mtop_address;

/*
 * The auth message (METHOD is always CONNECT in protocol version 1). Username and password
 * are opaque bytes (0x00 allowed), hence pointer + length. Who owns the bytes the pointers
 * point to is said where a struct is filled in.
 */
typedef struct mtop_auth_message {
  const uint8_t *username; /* 1-255 bytes */
  size_t username_len;
  const uint8_t *password; /* 1-255 bytes; a secret */
  size_t password_len;
  mtop_address target;
} mtop_auth_message;

/*
 * mtop_encode_auth - writes the auth message for `msg` into `out`.
 * msg: the message, borrowed for the call.
 * out, out_cap: the buffer; MTOP_MAX_AUTH_MESSAGE_SIZE bytes always suffice.
 * Returns the number of bytes written (11-773).
 * Errors: MTOP_ERR_INVALID_ARGUMENT if msg or out is NULL, a field is out of range (empty or
 * too long username/password, unknown address type, a domain that is not a valid host name,
 * a NULL field pointer with a non-zero length, port 0), or out_cap is too small. Nothing is
 * written on error. The caller should wipe `out` once sent: it holds the password.
 */
MTOP_API int mtop_encode_auth(const mtop_auth_message *msg, uint8_t *out, size_t out_cap);

/*
 * mtop_encode_response - writes VER + STATUS into `out`.
 * status: one of MTOP_STATUS_*. out, out_cap: the buffer (MTOP_RESPONSE_SIZE bytes).
 * Returns MTOP_RESPONSE_SIZE.
 * Errors: MTOP_ERR_INVALID_ARGUMENT for a NULL out, out_cap < 2 or an unknown status.
 */
MTOP_API int mtop_encode_response(int status, uint8_t *out, size_t out_cap);

/*
 * mtop_decode_auth - decodes an auth message from the start of the bytes received so far.
 * Incremental: call it again with the longer buffer while it returns 0. A truncated prefix
 * of a valid message is never an error; an error is reported as soon as the offending byte
 * is present. Bytes after the message are not looked at (early payload).
 * in, len: the bytes received so far, borrowed. in may be NULL only when len is 0.
 * msg: filled in only when a message is complete; its username, password and domain point
 *      INTO `in` (no copy), so they are valid as long as `in` is.
 * Returns the size of the complete message (> 0), or 0 if more bytes are needed.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL msg, or NULL in with len > 0);
 * peer: MTOP_ERR_BAD_VERSION, _BAD_METHOD, _BAD_USERNAME, _BAD_PASSWORD, _BAD_ADDRESS_TYPE,
 * _BAD_DOMAIN, _BAD_PORT.
 */
MTOP_API int mtop_decode_auth(const uint8_t *in, size_t len, mtop_auth_message *msg);

/*
 * mtop_decode_response - decodes a response from the start of the bytes received so far.
 * in, len: borrowed; in may be NULL only when len is 0.
 * status: receives the MTOP_STATUS_* value when the response is complete.
 * Returns MTOP_RESPONSE_SIZE when complete (what follows a success is payload), 0 if more
 * bytes are needed.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL status, or NULL in with len > 0);
 * peer: MTOP_ERR_BAD_VERSION, MTOP_ERR_BAD_STATUS.
 */
MTOP_API int mtop_decode_response(const uint8_t *in, size_t len, int *status);

/* ---------------------------------------------------------------------------------------
 * Events of the handshake machines.
 * ------------------------------------------------------------------------------------- */

#define MTOP_EVENT_NEED_DATA 0             /* nothing until more input (or, server: a decision) */
#define MTOP_EVENT_AUTH_REQUEST 1          /* server: a complete auth message; answer it */
#define MTOP_EVENT_ESTABLISHED 2           /* client: the server answered success */
#define MTOP_EVENT_PAYLOAD 3               /* tunnel payload from the peer, in order */
#define MTOP_EVENT_END_OF_INPUT 4          /* the peer half-closed after the tunnel opened */
#define MTOP_EVENT_REJECTED 5              /* client: a failure status (terminal) */
#define MTOP_EVENT_CLOSED_WITHOUT_STATUS 6 /* client: closed before a response (terminal) */
#define MTOP_EVENT_ERROR 7                 /* the peer broke the protocol (terminal) */

/*
 * An event of mtop_client_handshake_next_event().
 * - type: MTOP_EVENT_*.
 * - status: MTOP_EVENT_REJECTED: the MTOP_STATUS_* the server sent; otherwise 0.
 * - error: MTOP_EVENT_ERROR: the peer error (MTOP_ERR_BAD_VERSION, MTOP_ERR_BAD_STATUS);
 *   MTOP_EVENT_CLOSED_WITHOUT_STATUS: MTOP_ERR_PEER_CLOSED (the stealth "no"); otherwise 0.
 * - data, len: MTOP_EVENT_PAYLOAD: the bytes, owned by the handle, valid until the next
 *   mutating call on the same handle; otherwise NULL and 0.
 */
typedef struct mtop_client_event {
  int type;
  int status;
  int error;
  const uint8_t *data;
  size_t len;
} mtop_client_event;

/*
 * An event of mtop_server_handshake_next_event().
 * - type: MTOP_EVENT_NEED_DATA, _AUTH_REQUEST, _PAYLOAD, _END_OF_INPUT or _ERROR.
 * - error: MTOP_EVENT_ERROR: the peer error (a decode error of the auth message, or
 *   MTOP_ERR_PEER_CLOSED for an EOF before it was complete); otherwise 0.
 * - data, len: MTOP_EVENT_PAYLOAD: the bytes, owned by the handle, valid until the next
 *   mutating call on the same handle; otherwise NULL and 0.
 * - request: MTOP_EVENT_AUTH_REQUEST: the decoded auth message. Its pointers point into the
 *   handle and stay valid until the handle is freed; the password's bytes are zeroed by
 *   mtop_server_handshake_wipe_password(). Otherwise all zero.
 */
typedef struct mtop_server_event {
  int type;
  int error;
  const uint8_t *data;
  size_t len;
  mtop_auth_message request;
} mtop_server_event;

/* ---------------------------------------------------------------------------------------
 * Events of the proxy front-end machines: SOCKS5 (RFC 1928 + RFC 1929) and the HTTP/1.x
 * proxy request, as the climber serves them to local applications.
 *
 * Both machines have the shape of the handshake machines above: _feed() bytes from the
 * application, call _next_event() until it returns MTOP_PROXY_EVENT_NEED_DATA, send
 * _pending_output() and report what was written with _consume_output(). On
 * MTOP_PROXY_EVENT_REQUEST (and, SOCKS5 with credentials, MTOP_PROXY_EVENT_AUTH) the
 * application decides. A peer that breaks the protocol is not a return value of _feed(): it
 * is MTOP_PROXY_EVENT_ERROR with the MTOP_ERR_SOCKS_* / MTOP_ERR_HTTP_* code (terminal).
 * The values shared with the handshake events have the same numbers (NEED_DATA 0, PAYLOAD 3,
 * END_OF_INPUT 4, ERROR 7), so one switch can serve every machine.
 * ------------------------------------------------------------------------------------- */

#define MTOP_PROXY_EVENT_NEED_DATA 0    /* nothing until more input (or a decision) */
#define MTOP_PROXY_EVENT_AUTH 1         /* SOCKS5: RFC 1929 credentials; answer them */
#define MTOP_PROXY_EVENT_REQUEST 2      /* the target to connect to; accept or reject it */
#define MTOP_PROXY_EVENT_PAYLOAD 3      /* bytes after the request, in order */
#define MTOP_PROXY_EVENT_END_OF_INPUT 4 /* the application half-closed after its request */
#define MTOP_PROXY_EVENT_ERROR 7        /* the application broke the protocol (terminal) */

/* ---------------------------------------------------------------------------------------
 * The SOCKS5 server machine (theory in include/mtop/socks5.hpp and
 * libmtop/core/socks5_server.cpp). Only CONNECT is served; the machine itself answers
 * BIND, UDP ASSOCIATE and bad requests with the RFC's failure replies before it reports
 * MTOP_PROXY_EVENT_ERROR, so after an ERROR: send the pending output, then close.
 *
 * Sequence: [AUTH -> _accept_credentials() / _reject_credentials()] -> REQUEST -> PAYLOAD*
 * (bytes the application pipelined behind its request; they may be sent on as early data
 * before the decision) -> _accept() / _reject(). After _accept() every later _feed() is
 * reported as PAYLOAD; after _feed_eof(), END_OF_INPUT.
 * ------------------------------------------------------------------------------------- */

/* SOCKS5 REP values (RFC 1928 section 6) for mtop_socks5_server_reject(). */
#define MTOP_SOCKS5_REPLY_GENERAL_FAILURE 1
#define MTOP_SOCKS5_REPLY_NOT_ALLOWED 2
#define MTOP_SOCKS5_REPLY_NETWORK_UNREACHABLE 3
#define MTOP_SOCKS5_REPLY_HOST_UNREACHABLE 4
#define MTOP_SOCKS5_REPLY_CONNECTION_REFUSED 5
#define MTOP_SOCKS5_REPLY_TTL_EXPIRED 6
#define MTOP_SOCKS5_REPLY_COMMAND_NOT_SUPPORTED 7
#define MTOP_SOCKS5_REPLY_ADDRESS_TYPE_NOT_SUPPORTED 8

/* The versions of the SOCKS5 structs this header describes (see the _versioned functions). */
#define MTOP_SOCKS5_SETTINGS_VERSION 1
#define MTOP_SOCKS5_EVENT_VERSION 1

/* Defaults. */
#define MTOP_DEFAULT_PROXY_MAX_PAYLOAD 65536 /* payload held before the decision */

typedef struct mtop_socks5_server mtop_socks5_server;

/* Settings of a SOCKS5 machine (version 1). Fill with mtop_socks5_settings_default() first,
 * then change what you need. */
typedef struct mtop_socks5_settings {
  int no_auth;           /* nonzero: accept method 0x00 (no authentication); default 1 */
  int username_password; /* nonzero: accept method 0x02 (RFC 1929) and ONLY it, whatever
                            no_auth says, so no client walks past the credentials; default 0 */
  size_t max_payload;    /* pipelined bytes held before the decision and not yet reported
                            (back-pressure beyond; at least 1024 are always held);
                            default MTOP_DEFAULT_PROXY_MAX_PAYLOAD */
} mtop_socks5_settings;

/*
 * An event of mtop_socks5_server_next_event() (version 1).
 * - type: MTOP_PROXY_EVENT_*.
 * - error: ERROR: MTOP_ERR_SOCKS_BAD_VERSION, _NO_METHODS, _NO_ACCEPTABLE_METHOD,
 *   _BAD_CREDENTIALS, _COMMAND_NOT_SUPPORTED, _BAD_RESERVED, _BAD_ADDRESS_TYPE,
 *   _BAD_ADDRESS, MTOP_ERR_SOCKS_AUTH_FAILED after _reject_credentials(), or
 *   MTOP_ERR_PEER_CLOSED for an EOF before a complete request; otherwise 0.
 * - data, len: PAYLOAD: the bytes, owned by the handle, valid until the next mutating call
 *   on the same handle; otherwise NULL and 0.
 * - username, password (+ _len): AUTH: 1-255 opaque bytes each, pointing into the handle,
 *   valid until the handle is freed; the password's bytes are zeroed by the answer
 *   (_accept_credentials / _reject_credentials). Otherwise NULL and 0.
 * - target: REQUEST: the CONNECT target (port 1-65535; a domain passes the MTop host-name
 *   rules). Its domain points into the handle, valid until the handle is freed. Otherwise
 *   all zero.
 */
typedef struct mtop_socks5_event {
  int type;
  int error;
  const uint8_t *data;
  size_t len;
  const uint8_t *username;
  size_t username_len;
  const uint8_t *password;
  size_t password_len;
  mtop_address target;
} mtop_socks5_event;

/*
 * mtop_socks5_settings_default_versioned - fills `settings` with the defaults of struct
 * version `version` (call it as mtop_socks5_settings_default(settings)).
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL settings, or version not in
 * 1..MTOP_SOCKS5_SETTINGS_VERSION).
 */
MTOP_API int mtop_socks5_settings_default_versioned(int version, mtop_socks5_settings *settings);
#define mtop_socks5_settings_default(SETTINGS) \
  mtop_socks5_settings_default_versioned(MTOP_SOCKS5_SETTINGS_VERSION, (SETTINGS))

/*
 * mtop_socks5_server_new_versioned - creates a SOCKS5 machine waiting for the greeting
 * (call it as mtop_socks5_server_new(&out, settings)).
 * out: receives the handle; free it with mtop_socks5_server_free().
 * settings_version: the version of *settings (MTOP_SOCKS5_SETTINGS_VERSION), checked even
 *                   when settings is NULL.
 * settings: borrowed for the call; NULL means the defaults.
 * Returns 0.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL out, a settings_version not in
 * 1..MTOP_SOCKS5_SETTINGS_VERSION, or settings accepting no method at all), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_socks5_server_new_versioned(mtop_socks5_server **out, int settings_version,
                                              const mtop_socks5_settings *settings);
#define mtop_socks5_server_new(OUT, SETTINGS) \
  mtop_socks5_server_new_versioned((OUT), MTOP_SOCKS5_SETTINGS_VERSION, (SETTINGS))

/*
 * mtop_socks5_server_free - frees the handle and zeroes what held credentials. NULL is a
 * no-op. Every pointer the handle handed out becomes invalid.
 */
MTOP_API void mtop_socks5_server_free(mtop_socks5_server *s);

/*
 * mtop_socks5_server_set_user_data - stores an opaque pointer in the handle.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT for a NULL s.
 */
MTOP_API int mtop_socks5_server_set_user_data(mtop_socks5_server *s, void *user_data);

/*
 * mtop_socks5_server_get_user_data - the pointer last stored, NULL if none or s is NULL.
 */
MTOP_API void *mtop_socks5_server_get_user_data(const mtop_socks5_server *s);

/*
 * mtop_socks5_server_feed - takes bytes from the application.
 * data, len: borrowed for the call; data may be NULL only when len is 0.
 * Returns the number of bytes consumed (at most INT_MAX per call). Less than len is
 * back-pressure: a decision is outstanding, or max_payload bytes are held unreported; stop
 * reading, and feed the rest after the decision or after _next_event() reported PAYLOAD.
 * A peer error shows up as MTOP_PROXY_EVENT_ERROR from _next_event() (the failing call
 * consumes everything; failure replies wait in the pending output).
 * Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (failed, rejected, or after
 * _feed_eof()), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_socks5_server_feed(mtop_socks5_server *s, const uint8_t *data, size_t len);

/*
 * mtop_socks5_server_feed_eof - the application half-closed. Call it only once every byte
 * before the EOF was consumed. Before a complete request this fails the machine
 * (MTOP_PROXY_EVENT_ERROR with MTOP_ERR_PEER_CLOSED, once pending AUTH is answered);
 * afterwards END_OF_INPUT follows the held payload.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (failed, rejected,
 * or called twice).
 */
MTOP_API int mtop_socks5_server_feed_eof(mtop_socks5_server *s);

/*
 * mtop_socks5_server_next_event_versioned - the next event, or MTOP_PROXY_EVENT_NEED_DATA
 * (call it as mtop_socks5_server_next_event(s, &ev)).
 * version: the version of *ev (MTOP_SOCKS5_EVENT_VERSION); only its fields are written.
 * ev: filled in (see mtop_socks5_event for the lifetimes of its pointers). AUTH, REQUEST and
 * each PAYLOAD are reported once; ERROR and END_OF_INPUT repeat.
 * Returns ev->type (>= 0). Errors: MTOP_ERR_INVALID_ARGUMENT (NULL argument, or version not
 * in 1..MTOP_SOCKS5_EVENT_VERSION), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_socks5_server_next_event_versioned(mtop_socks5_server *s, int version,
                                                     mtop_socks5_event *ev);
#define mtop_socks5_server_next_event(S, EV) \
  mtop_socks5_server_next_event_versioned((S), MTOP_SOCKS5_EVENT_VERSION, (EV))

/*
 * mtop_socks5_server_accept_credentials - the credentials of MTOP_PROXY_EVENT_AUTH are
 * good: queues the RFC 1929 success status and goes on to the request (a request already
 * received is parsed now). Zeroes the reported password.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (unless AUTH was
 * issued and not answered), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_socks5_server_accept_credentials(mtop_socks5_server *s);

/*
 * mtop_socks5_server_reject_credentials - the credentials are wrong: queues the RFC 1929
 * failure status; the machine fails with MTOP_ERR_SOCKS_AUTH_FAILED (send the pending
 * output, then close). Zeroes the reported password.
 * Returns 0. Errors: as for mtop_socks5_server_accept_credentials().
 */
MTOP_API int mtop_socks5_server_reject_credentials(mtop_socks5_server *s);

/*
 * mtop_socks5_server_accept - the target of MTOP_PROXY_EVENT_REQUEST is connected: queues
 * the success reply. From now on the machine passes bytes through as PAYLOAD.
 * bound: BND.ADDR / BND.PORT of the reply, borrowed for the call; NULL means 0.0.0.0:0.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL s, or a bound with an unknown type, a
 * NULL domain or one of 0 or more than 255 bytes), MTOP_ERR_INVALID_STATE (unless REQUEST
 * was issued and not answered), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_socks5_server_accept(mtop_socks5_server *s, const mtop_address *bound);

/*
 * mtop_socks5_server_reject - the target cannot be reached (or the policy denies it):
 * queues the failure reply with BND 0.0.0.0:0. Send the pending output, then close; held
 * payload is dropped and no more input is taken.
 * reply: MTOP_SOCKS5_REPLY_* (1-8).
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL s, reply outside 1-8),
 * MTOP_ERR_INVALID_STATE (unless REQUEST was issued and not answered), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_socks5_server_reject(mtop_socks5_server *s, int reply);

/*
 * mtop_socks5_server_pending_output - the bytes to send to the application (method
 * selection, RFC 1929 status, reply).
 * data, len: receive a pointer into the handle and the length (len 0: nothing to send, and
 * *data may be NULL). Valid until the next mutating call on the same handle.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (a NULL argument).
 */
MTOP_API int mtop_socks5_server_pending_output(const mtop_socks5_server *s,
                                               const uint8_t **data, size_t *len);

/*
 * mtop_socks5_server_consume_output - drops the first n bytes of the pending output.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL s, or n > the pending length).
 */
MTOP_API int mtop_socks5_server_consume_output(mtop_socks5_server *s, size_t n);

/* ---------------------------------------------------------------------------------------
 * The HTTP proxy machine: one HTTP/1.x proxy request head (rules in
 * include/mtop/http_proxy.hpp), a CONNECT (authority-form) or a forward request
 * (absolute-form http://). The machine answers nothing by itself.
 *
 * Sequence: REQUEST -> PAYLOAD* (bytes after the head: a body, or the first tunnel bytes;
 * they may be sent on before the decision) -> _accept() (CONNECT: queues the 200 answer;
 * forward: queues nothing, send the event's forward_head to the origin first) or _reject()
 * with a status (also after ERROR: _reject(p, 400)). After _accept() every later _feed() is
 * reported as PAYLOAD; after _feed_eof(), END_OF_INPUT.
 * ------------------------------------------------------------------------------------- */

/* Statuses of mtop_http_proxy_reject() (the fixed answers of the climber). */
#define MTOP_HTTP_STATUS_BAD_REQUEST 400         /* the head did not parse */
#define MTOP_HTTP_STATUS_FORBIDDEN 403           /* the target policy refused the target */
#define MTOP_HTTP_STATUS_PROXY_AUTH_REQUIRED 407 /* credentials missing or wrong (asks Basic) */
#define MTOP_HTTP_STATUS_BAD_GATEWAY 502         /* the tunnel or the origin unreachable */
#define MTOP_HTTP_STATUS_GATEWAY_TIMEOUT 504     /* reaching the origin timed out */

/* What Proxy-Authorization held (mtop_http_proxy_event.auth). */
#define MTOP_HTTP_AUTH_ABSENT 0    /* no Proxy-Authorization header */
#define MTOP_HTTP_AUTH_BASIC 1     /* one `Basic base64(user:password)`: username, password set */
#define MTOP_HTTP_AUTH_MALFORMED 2 /* another scheme, bad base64, no ':', or several copies */

/* The versions of the HTTP proxy structs this header describes. */
#define MTOP_HTTP_PROXY_SETTINGS_VERSION 1
#define MTOP_HTTP_PROXY_EVENT_VERSION 1

/* Defaults. */
#define MTOP_DEFAULT_HTTP_MAX_HEAD_SIZE 16384
#define MTOP_DEFAULT_HTTP_MAX_HEADER_LINES 100

typedef struct mtop_http_proxy mtop_http_proxy;

/* Settings of an HTTP proxy machine (version 1). Fill with mtop_http_proxy_settings_default()
 * first, then change what you need. */
typedef struct mtop_http_proxy_settings {
  size_t max_head_size;    /* the longest head, in bytes (MTOP_ERR_HTTP_HEADER_TOO_LARGE) */
  size_t max_header_lines; /* the most header lines (MTOP_ERR_HTTP_TOO_MANY_HEADERS) */
  size_t max_payload;      /* bytes after the head held before the decision and not yet
                              reported (back-pressure beyond) */
} mtop_http_proxy_settings;

/*
 * An event of mtop_http_proxy_next_event() (version 1).
 * - type: MTOP_PROXY_EVENT_NEED_DATA, _REQUEST, _PAYLOAD, _END_OF_INPUT or _ERROR.
 * - error: ERROR: MTOP_ERR_HTTP_BAD_REQUEST, _HEADER_TOO_LARGE, _TOO_MANY_HEADERS,
 *   _BAD_TARGET, _UNSUPPORTED, _BAD_VERSION, or MTOP_ERR_PEER_CLOSED for an EOF before the
 *   head was complete; otherwise 0.
 * - data, len: PAYLOAD: the bytes, owned by the handle, valid until the next mutating call
 *   on the same handle; otherwise NULL and 0.
 * The REQUEST fields point into the handle and stay valid until the handle is freed (the
 * password's bytes are zeroed by the decision, _accept() or _reject()); for other types they
 * are all zero:
 * - method: as received (case-sensitive, not NUL-terminated).
 * - target: where to connect (port 80 by default for http://).
 * - connect: 1 for CONNECT (answer 200, then relay), 0 for a forward request.
 * - http_minor: 1 for HTTP/1.1, 0 for HTTP/1.0.
 * - forward_head: forward requests only: the head to send to the origin before the payload
 *   (origin-form request line, Host first, hop-by-hop headers removed, Connection: close).
 * - auth: MTOP_HTTP_AUTH_*; username / password (opaque, may be empty): only for BASIC.
 */
typedef struct mtop_http_proxy_event {
  int type;
  int error;
  const uint8_t *data;
  size_t len;
  const char *method;
  size_t method_len;
  mtop_address target;
  int connect;
  int http_minor;
  const uint8_t *forward_head;
  size_t forward_head_len;
  int auth;
  const uint8_t *username;
  size_t username_len;
  const uint8_t *password;
  size_t password_len;
} mtop_http_proxy_event;

/*
 * mtop_http_proxy_settings_default_versioned - fills `settings` with the defaults of struct
 * version `version` (MTOP_DEFAULT_HTTP_MAX_HEAD_SIZE, MTOP_DEFAULT_HTTP_MAX_HEADER_LINES,
 * MTOP_DEFAULT_PROXY_MAX_PAYLOAD); call it as mtop_http_proxy_settings_default(settings).
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL settings, or version not in
 * 1..MTOP_HTTP_PROXY_SETTINGS_VERSION).
 */
MTOP_API int mtop_http_proxy_settings_default_versioned(int version,
                                                        mtop_http_proxy_settings *settings);
#define mtop_http_proxy_settings_default(SETTINGS) \
  mtop_http_proxy_settings_default_versioned(MTOP_HTTP_PROXY_SETTINGS_VERSION, (SETTINGS))

/*
 * mtop_http_proxy_new_versioned - creates a machine waiting for a request head (call it as
 * mtop_http_proxy_new(&out, settings)).
 * out: receives the handle; free it with mtop_http_proxy_free().
 * settings_version: the version of *settings (MTOP_HTTP_PROXY_SETTINGS_VERSION), checked
 *                   even when settings is NULL.
 * settings: borrowed for the call; NULL means the defaults.
 * Returns 0.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL out, or a settings_version not in
 * 1..MTOP_HTTP_PROXY_SETTINGS_VERSION), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_http_proxy_new_versioned(mtop_http_proxy **out, int settings_version,
                                           const mtop_http_proxy_settings *settings);
#define mtop_http_proxy_new(OUT, SETTINGS) \
  mtop_http_proxy_new_versioned((OUT), MTOP_HTTP_PROXY_SETTINGS_VERSION, (SETTINGS))

/*
 * mtop_http_proxy_free - frees the handle and zeroes the credentials it held. NULL is a
 * no-op. Every pointer the handle handed out becomes invalid.
 */
MTOP_API void mtop_http_proxy_free(mtop_http_proxy *p);

/*
 * mtop_http_proxy_set_user_data - stores an opaque pointer in the handle.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT for a NULL p.
 */
MTOP_API int mtop_http_proxy_set_user_data(mtop_http_proxy *p, void *user_data);

/*
 * mtop_http_proxy_get_user_data - the pointer last stored, NULL if none or p is NULL.
 */
MTOP_API void *mtop_http_proxy_get_user_data(const mtop_http_proxy *p);

/*
 * mtop_http_proxy_feed - takes bytes from the application.
 * data, len: borrowed for the call; data may be NULL only when len is 0.
 * Returns the number of bytes consumed (at most INT_MAX per call). Less than len is
 * back-pressure: max_payload bytes after the head are held unreported before the decision;
 * stop reading, feed the rest after the decision or after PAYLOAD was reported.
 * A peer error shows up as MTOP_PROXY_EVENT_ERROR from _next_event() (the failing call
 * consumes everything).
 * Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (failed, rejected, or after
 * _feed_eof()), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_http_proxy_feed(mtop_http_proxy *p, const uint8_t *data, size_t len);

/*
 * mtop_http_proxy_feed_eof - the application half-closed. Call it only once every byte
 * before the EOF was consumed. Before a complete head this fails the machine
 * (MTOP_PROXY_EVENT_ERROR with MTOP_ERR_PEER_CLOSED); afterwards END_OF_INPUT follows the
 * held payload.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (failed, rejected,
 * or called twice).
 */
MTOP_API int mtop_http_proxy_feed_eof(mtop_http_proxy *p);

/*
 * mtop_http_proxy_next_event_versioned - the next event, or MTOP_PROXY_EVENT_NEED_DATA
 * (call it as mtop_http_proxy_next_event(p, &ev)).
 * version: the version of *ev (MTOP_HTTP_PROXY_EVENT_VERSION); only its fields are written.
 * ev: filled in (see mtop_http_proxy_event for lifetimes). REQUEST and each PAYLOAD are
 * reported once; ERROR and END_OF_INPUT repeat.
 * Returns ev->type (>= 0). Errors: MTOP_ERR_INVALID_ARGUMENT (NULL argument, or version not
 * in 1..MTOP_HTTP_PROXY_EVENT_VERSION), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_http_proxy_next_event_versioned(mtop_http_proxy *p, int version,
                                                  mtop_http_proxy_event *ev);
#define mtop_http_proxy_next_event(P, EV) \
  mtop_http_proxy_next_event_versioned((P), MTOP_HTTP_PROXY_EVENT_VERSION, (EV))

/*
 * mtop_http_proxy_accept - the target of MTOP_PROXY_EVENT_REQUEST is connected (and the
 * credentials, if required, are good). CONNECT: queues `HTTP/1.1 200 Connection
 * established`; forward: queues nothing (the origin answers). Zeroes the password. From now
 * on the machine passes bytes through as PAYLOAD.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (unless REQUEST was
 * reported and not answered).
 */
MTOP_API int mtop_http_proxy_accept(mtop_http_proxy *p);

/*
 * mtop_http_proxy_reject - queues the answer for `status` (status line, Content-Length: 0,
 * Connection: close; 407 adds Proxy-Authenticate: Basic realm="mtop"). Send the pending
 * output, then close; held payload is dropped, no more input is taken. Zeroes the password.
 * status: MTOP_HTTP_STATUS_* (400, 403, 407, 502, 504).
 * Returns 0.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL p, another status), MTOP_ERR_INVALID_STATE
 * (unless after REQUEST without a decision, or after ERROR).
 */
MTOP_API int mtop_http_proxy_reject(mtop_http_proxy *p, int status);

/*
 * mtop_http_proxy_pending_output - the bytes to send to the application (the answer).
 * data, len: receive a pointer and the length (len 0: nothing to send, and *data may be
 * NULL). Valid until the next mutating call on the same handle.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (a NULL argument).
 */
MTOP_API int mtop_http_proxy_pending_output(const mtop_http_proxy *p, const uint8_t **data,
                                            size_t *len);

/*
 * mtop_http_proxy_consume_output - drops the first n bytes of the pending output.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL p, or n > the pending length).
 */
MTOP_API int mtop_http_proxy_consume_output(mtop_http_proxy *p, size_t n);

/* ---------------------------------------------------------------------------------------
 * The client machine (docs/PROTOCOL.md; theory in include/mtop/client_handshake.hpp).
 *
 * Create it from the auth message; send mtop_client_handshake_pending_output() to the
 * server and report what was written with _consume_output(); queue early payload with
 * _send_payload() right away if you like; give server bytes to _feed() (and the server's
 * half-close to _feed_eof()), then call _next_event() until it returns MTOP_EVENT_NEED_DATA.
 * ------------------------------------------------------------------------------------- */

typedef struct mtop_client_handshake mtop_client_handshake;

/*
 * mtop_client_handshake_new - creates a client machine whose first output is the encoded
 * auth message.
 * out: receives the handle; free it with mtop_client_handshake_free().
 * request: borrowed for the call; the handle keeps no pointer into it. The encoded bytes
 *          (which hold the password) are zeroed as they are consumed and when freed.
 * Returns 0.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL out or request, or a field out of range as for
 * mtop_encode_auth()), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_client_handshake_new(mtop_client_handshake **out,
                                       const mtop_auth_message *request);

/*
 * mtop_client_handshake_free - frees the handle and zeroes its buffers. NULL is a no-op.
 * Every pointer the handle handed out becomes invalid.
 */
MTOP_API void mtop_client_handshake_free(mtop_client_handshake *hs);

/*
 * mtop_client_handshake_set_user_data - stores an opaque pointer in the handle (the
 * library never looks at it). Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT for a NULL hs.
 */
MTOP_API int mtop_client_handshake_set_user_data(mtop_client_handshake *hs, void *user_data);

/*
 * mtop_client_handshake_get_user_data - the pointer last stored with _set_user_data(), NULL
 * if none or if hs is NULL.
 */
MTOP_API void *mtop_client_handshake_get_user_data(const mtop_client_handshake *hs);

/*
 * mtop_client_handshake_send_payload - queues tunnel payload behind the auth message (early
 * payload while the handshake is in progress), to be sent through the pending output.
 * data, len: borrowed for the call (copied); data may be NULL only when len is 0.
 * The queue has no bound of its own: bound it by watching the pending output's length.
 * Returns 0.
 * Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (rejected, closed without
 * status or failed), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_client_handshake_send_payload(mtop_client_handshake *hs, const uint8_t *data,
                                                size_t len);

/*
 * mtop_client_handshake_pending_output - the bytes to send to the server.
 * data, len: receive a pointer into the handle and the length (len 0: nothing to send, and
 * *data may be NULL). Valid until the next mutating call on the same handle.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (a NULL argument).
 */
MTOP_API int mtop_client_handshake_pending_output(const mtop_client_handshake *hs,
                                                  const uint8_t **data, size_t *len);

/*
 * mtop_client_handshake_consume_output - drops the first n bytes of the pending output
 * (they were written to the transport).
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL hs, or n > the pending length).
 */
MTOP_API int mtop_client_handshake_consume_output(mtop_client_handshake *hs, size_t n);

/*
 * mtop_client_handshake_feed - takes bytes from the server.
 * data, len: borrowed for the call; data may be NULL only when len is 0.
 * Returns the number of bytes consumed: all of them (at most INT_MAX per call; feed the rest
 * again), except in the call that completes a failure response, where bytes after the
 * response are left and ignored. A peer error is not a return value: it shows up as
 * MTOP_EVENT_ERROR from _next_event().
 * Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (in a terminal state or after
 * _feed_eof()), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_client_handshake_feed(mtop_client_handshake *hs, const uint8_t *data,
                                        size_t len);

/*
 * mtop_client_handshake_feed_eof - the server half-closed (TCP FIN, close_notify, QUIC FIN).
 * Before a complete response this is the stealth "no": MTOP_EVENT_CLOSED_WITHOUT_STATUS.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (in a terminal state
 * or when called twice).
 */
MTOP_API int mtop_client_handshake_feed_eof(mtop_client_handshake *hs);

/*
 * mtop_client_handshake_next_event - the next event, or MTOP_EVENT_NEED_DATA.
 * version: the caller's MTOP_CLIENT_EVENT_VERSION (the macro passes this header's); only the
 *          fields of that version of mtop_client_event are written.
 * ev: filled in (every field of its version; see mtop_client_event for the lifetime of
 *     ev->data).
 * ESTABLISHED is reported once, then PAYLOAD events, then END_OF_INPUT (repeated) after
 * _feed_eof(); REJECTED, CLOSED_WITHOUT_STATUS and ERROR are terminal and repeat.
 * Returns ev->type (>= 0). Errors: MTOP_ERR_INVALID_ARGUMENT (also an unknown version; no
 * event is consumed then), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_client_handshake_next_event_versioned(mtop_client_handshake *hs, int version,
                                                        mtop_client_event *ev);
#define mtop_client_handshake_next_event(HS, EV) \
  mtop_client_handshake_next_event_versioned((HS), MTOP_CLIENT_EVENT_VERSION, (EV))
/* The same with version 1, under the plain name: for programs built before the _versioned
 * form, and for FFI (ctypes) that finds functions by name. */
MTOP_API int(mtop_client_handshake_next_event)(mtop_client_handshake *hs, mtop_client_event *ev);

/* ---------------------------------------------------------------------------------------
 * The server machine (docs/PROTOCOL.md; theory in include/mtop/server_handshake.hpp).
 *
 * Give client bytes to _feed() and call _next_event(). On MTOP_EVENT_AUTH_REQUEST check the
 * credentials and the target, connect to it, then _accept() or _reject(), and send the
 * pending output. Early payload after the auth message is held up to the settings' bound by
 * back-pressure: while a _feed() consumes less than it was given, STOP READING from the
 * transport, keep the rest, and feed it again after _accept().
 * ------------------------------------------------------------------------------------- */

typedef struct mtop_server_handshake mtop_server_handshake;

/* Settings of a server machine. Fill with mtop_server_settings_default() first, then change
 * what you need, so fields added later (with a higher version) get their defaults. This
 * struct carries its version in its first field (it predates the _versioned convention), so
 * mtop_server_handshake_new() needs no version argument. */
typedef struct mtop_server_settings {
  uint32_t version;         /* set by _default_versioned(); 1..MTOP_SERVER_SETTINGS_VERSION */
  size_t early_data_limit;  /* early payload held before the decision; 0 allowed */
} mtop_server_settings;

/*
 * mtop_server_settings_default - fills the fields of `version` of `settings` with the
 * defaults (early_data_limit = MTOP_DEFAULT_EARLY_DATA_LIMIT) and settings->version =
 * version; writes nothing past that version's fields.
 * version: the caller's MTOP_SERVER_SETTINGS_VERSION (the macro passes this header's).
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT for NULL or an unknown version.
 */
MTOP_API int mtop_server_settings_default_versioned(int version, mtop_server_settings *settings);
#define mtop_server_settings_default(S) \
  mtop_server_settings_default_versioned(MTOP_SERVER_SETTINGS_VERSION, (S))
/* The same with version 1, under the plain name (older programs, FFI). */
MTOP_API int(mtop_server_settings_default)(mtop_server_settings *settings);

/*
 * mtop_server_handshake_new - creates a server machine waiting for the auth message.
 * out: receives the handle; free it with mtop_server_handshake_free().
 * settings: borrowed for the call; NULL means the defaults. Only the fields of
 *           settings->version are read.
 * Returns 0.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL out, or settings->version not in
 * 1..MTOP_SERVER_SETTINGS_VERSION), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_handshake_new(mtop_server_handshake **out,
                                       const mtop_server_settings *settings);

/*
 * mtop_server_handshake_free - frees the handle and zeroes its buffers and the request's
 * password. NULL is a no-op. Every pointer the handle handed out becomes invalid.
 */
MTOP_API void mtop_server_handshake_free(mtop_server_handshake *hs);

/*
 * mtop_server_handshake_set_user_data - stores an opaque pointer in the handle.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT for a NULL hs.
 */
MTOP_API int mtop_server_handshake_set_user_data(mtop_server_handshake *hs, void *user_data);

/*
 * mtop_server_handshake_get_user_data - the pointer last stored, NULL if none or hs is NULL.
 */
MTOP_API void *mtop_server_handshake_get_user_data(const mtop_server_handshake *hs);

/*
 * mtop_server_handshake_feed - takes bytes from the client.
 * data, len: borrowed for the call; data may be NULL only when len is 0.
 * Returns the number of bytes consumed (at most INT_MAX per call). Less than len while
 * awaiting the decision with the early-data bound reached: stop reading, feed the rest
 * after _accept(). A peer error shows up as MTOP_EVENT_ERROR from _next_event().
 * Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (rejected, failed, or after
 * _feed_eof()), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_handshake_feed(mtop_server_handshake *hs, const uint8_t *data,
                                        size_t len);

/*
 * mtop_server_handshake_feed_eof - the client half-closed. Call it only once every byte
 * before the EOF was consumed. Before a complete auth message it fails the machine:
 * MTOP_EVENT_ERROR with MTOP_ERR_PEER_CLOSED.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (rejected, failed,
 * or called twice).
 */
MTOP_API int mtop_server_handshake_feed_eof(mtop_server_handshake *hs);

/*
 * mtop_server_handshake_next_event - the next event, or MTOP_EVENT_NEED_DATA.
 * version: the caller's MTOP_SERVER_EVENT_VERSION (the macro passes this header's); only the
 *          fields of that version of mtop_server_event are written.
 * ev: filled in (every field of its version; see mtop_server_event for lifetimes).
 * AUTH_REQUEST and each PAYLOAD are reported once; ERROR and END_OF_INPUT repeat.
 * Returns ev->type (>= 0). Errors: MTOP_ERR_INVALID_ARGUMENT (also an unknown version; no
 * event is consumed then), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_handshake_next_event_versioned(mtop_server_handshake *hs, int version,
                                                        mtop_server_event *ev);
#define mtop_server_handshake_next_event(HS, EV) \
  mtop_server_handshake_next_event_versioned((HS), MTOP_SERVER_EVENT_VERSION, (EV))
/* The same with version 1, under the plain name (older programs, FFI). */
MTOP_API int(mtop_server_handshake_next_event)(mtop_server_handshake *hs, mtop_server_event *ev);

/*
 * mtop_server_handshake_accept - the application's yes (credentials good, target
 * connected): queues the success response in the pending output. Held early payload is
 * then the first MTOP_EVENT_PAYLOAD.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (unless
 * MTOP_EVENT_AUTH_REQUEST was reported and no decision was made), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_handshake_accept(mtop_server_handshake *hs);

/* How mtop_server_handshake_reject() answers. */
#define MTOP_REJECT_STEALTH 0 /* close without a byte (the protocol's default) */
#define MTOP_REJECT_REPLY 1   /* send VER + STATUS first, then close */

/*
 * mtop_server_handshake_reject - the application's no. Afterwards send the pending output
 * (reply mode: the two-byte status; stealth: nothing) and close the tunnel. Held early
 * payload is wiped; no more input is taken.
 * status: MTOP_STATUS_AUTH_FAILED, MTOP_STATUS_CONNECT_FAILED (also for a target the
 *         policy denies), or MTOP_STATUS_VERSION_NOT_SUPPORTED after MTOP_ERR_BAD_VERSION.
 * mode: MTOP_REJECT_STEALTH or MTOP_REJECT_REPLY.
 * Returns 0.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL hs, MTOP_STATUS_SUCCESS, an unknown status or
 * mode), MTOP_ERR_INVALID_STATE (unless after MTOP_EVENT_AUTH_REQUEST without a decision,
 * or after MTOP_EVENT_ERROR), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_handshake_reject(mtop_server_handshake *hs, int status, int mode);

/*
 * mtop_server_handshake_wipe_password - zeroes the bytes of the reported auth request's
 * password (the event's request.password still points at them; they read as zeros). Call
 * it once the credentials are checked. A no-op before MTOP_EVENT_AUTH_REQUEST and when
 * called again.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT for a NULL hs.
 */
MTOP_API int mtop_server_handshake_wipe_password(mtop_server_handshake *hs);

/*
 * mtop_server_handshake_pending_output - the bytes to send to the client.
 * data, len: receive a pointer into the handle and the length (len 0: nothing to send, and
 * *data may be NULL). Valid until the next mutating call on the same handle.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (a NULL argument).
 */
MTOP_API int mtop_server_handshake_pending_output(const mtop_server_handshake *hs,
                                                  const uint8_t **data, size_t *len);

/*
 * mtop_server_handshake_consume_output - drops the first n bytes of the pending output.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL hs, or n > the pending length).
 */
MTOP_API int mtop_server_handshake_consume_output(mtop_server_handshake *hs, size_t n);

/*
 * mtop_server_handshake_early_data_size - payload held and not yet reported: the early
 * payload while awaiting the decision (never more than early_data_limit), then payload
 * until _next_event() hands it out.
 * size: receives the count. Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (a NULL argument).
 */
MTOP_API int mtop_server_handshake_early_data_size(const mtop_server_handshake *hs,
                                                   size_t *size);

/* =======================================================================================
 * Engines: an MTop server and a climber inside the program (the engines of mtop-server and
 * climber, include/mtop/server.hpp and climber.hpp). Unlike everything above, these open
 * sockets, read clocks and may start a thread.
 *
 * Conventions of the engine sections:
 * - Loops and threads. A handle is created either on the caller's libuv loop (a
 *   `struct uv_loop_s *`, i.e. uv_loop_t; this header does not include uv.h) or, with loop
 *   NULL, on a thread of its own that the handle starts and owns.
 *   - Caller's loop: every call on the handle must be made on the loop's thread, and every
 *     callback comes on it from inside uv_run(). The handle is not thread-safe. After
 *     _free() the loop must run again until the handle's libuv handles are closed
 *     (uv_run(loop, UV_RUN_DEFAULT) returns once nothing else is active).
 *   - Own thread (loop NULL): every call is carried to the handle's thread and waited for,
 *     so the handle's functions are thread-safe and may be called from any thread, including
 *     from its own callbacks (they run at once there) - except _free(), which must not be
 *     called from a callback of the same handle (it joins the thread) nor while another
 *     thread still calls into the handle. Callbacks come on the handle's thread.
 * - Errors. Every function returns an MTOP_ERR_* code like those above and, when it fails,
 *   also leaves a message for people on the calling thread: mtop_last_error_message() (the
 *   one way the engine sections report messages; asynchronous results carry their message
 *   as a callback argument). Messages name the config key or address at fault and never
 *   contain a password.
 * - Callbacks get the user_data given with them. They must not throw (C++ callers) or
 *   longjmp out. Strings passed to a callback are valid during the call only.
 * - Strings passed in are borrowed for the call (copied). Strings handed out point into
 *   the handle: each doc block says how long they stay valid.
 * - Signals: the engines write to sockets with write(2), which raises SIGPIPE when the peer
 *   is gone. The library never changes the process's signal dispositions: a program that
 *   embeds an engine should ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)), as any libuv program.
 * ===================================================================================== */

struct uv_loop_s;

/*
 * mtop_last_error_message - what went wrong in the last call of an engine section
 * (mtop_server_*, mtop_climber_*, mtop_auth_request_*) that failed on this thread, e.g.
 * "config: unknown key 'lisen'" or "listen 127.0.0.1:443: address already in use".
 * Returns a NUL-terminated string owned by the library, valid until the next call of an
 * engine-section function on this thread; never NULL ("" when the last call succeeded).
 */
MTOP_API const char *mtop_last_error_message(void);

/* Log levels of the log callbacks (and the minimum level in configs). */
#define MTOP_LOG_DEBUG 0
#define MTOP_LOG_INFO 1
#define MTOP_LOG_WARN 2
#define MTOP_LOG_ERROR 3
#define MTOP_LOG_OFF 4

/*
 * A log callback: one line (no newline) at `level` (MTOP_LOG_*). `message` is valid during
 * the call only and never contains a password. Called on the handle's loop thread.
 */
typedef void (*mtop_log_callback)(int level, const char *message, void *user_data);

/* ---------------------------------------------------------------------------------------
 * The server engine: TLS over TCP and QUIC listeners that accept climbers, check their
 * users, connect to the targets and relay (theory in include/mtop/server.hpp).
 *
 *   mtop_server_config cfg;  mtop_server_config_default(&cfg);
 *   cfg.listen = addrs; cfg.listen_count = 1; cfg.cert_file = "c.pem"; cfg.key_file = "k.pem";
 *   mtop_server_callbacks cb = {0};  cb.auth = my_auth;  cb.log = my_log;
 *   mtop_server *s;
 *   if (mtop_server_new(&s, NULL, &cfg, &cb, app) < 0) puts(mtop_last_error_message());
 *   mtop_server_start(s);  ...  mtop_server_free(s);
 * ------------------------------------------------------------------------------------- */

typedef struct mtop_server mtop_server;
typedef struct mtop_auth_request mtop_auth_request;

/*
 * The server engine's configuration (mtop-server's config file, docs/CONFIG.md, in struct
 * form). Fill with mtop_server_config_default() first, then set what you need. Version 3
 * (version 1 ended at log_level, version 2 at deny_target_ports_count).
 * Every pointer is borrowed for the _new call (strings and arrays are copied).
 */
typedef struct mtop_server_config {
  const char *const *listen;         /* "host:port" / "[v6]:port" (port 0: the OS picks) */
  size_t listen_count;               /* at least 1 */
  const char *cert_file;             /* PEM certificate chain; required */
  const char *key_file;              /* PEM private key; required */
  int quic;                          /* 1: QUIC over UDP on each listen port too (default 1) */
  int reply_mode;                    /* refused tunnels: MTOP_REJECT_STEALTH (default) or
                                        MTOP_REJECT_REPLY (send the status first) */
  uint64_t handshake_timeout_ms;     /* auth message + auth answer (default 10000) */
  uint64_t connect_timeout_ms;       /* DNS + connect to the target (default 10000) */
  uint64_t idle_timeout_ms;          /* a tunnel with no byte either way (default 300000) */
  uint64_t drain_timeout_ms;         /* mtop_server_drain(): how long tunnels may finish */
  const char *const *allow_targets;  /* CIDRs re-allowed despite the target policy, which
                                        refuses loopback and private targets */
  size_t allow_targets_count;
  const char *users_file;            /* users file (docs/USERS.md); ignored (may be NULL)
                                        when the callbacks have an auth callback */
  uint64_t max_tunnels;              /* live tunnels; more are refused (default 20000) */
  int log_level;                     /* MTOP_LOG_*: least level passed to the log callback
                                        (default MTOP_LOG_INFO) */
  /* version 2: the admin listener (docs/ADMIN_API.md), the access log and admission control
     (docs/CONFIG.md, "Admission control"); the JSON config's keys of the same names. */
  const char *admin_listen;             /* "host:port" of the admin listener (loopback
                                           advised; port 0: the OS picks, see
                                           mtop_server_admin_port()); NULL: none (default) */
  const char *admin_token_file;         /* bearer token of the admin calls; required with
                                           admin_listen */
  const char *admin_metrics_token_file; /* bearer token of /metrics; NULL: /metrics is open */
  int admin_per_user_metrics;           /* 1: bytes per user in the metrics (default 0) */
  const char *access_log;               /* file that gets one line per finished tunnel,
                                           opened for appending; NULL: none (default) */
  int access_log_format;                /* MTOP_ACCESS_LOG_JSON (default) or _LOGFMT */
  const char *const *allow_sources;     /* CIDRs that may connect; none: everyone */
  size_t allow_sources_count;
  const char *const *deny_sources;      /* CIDRs refused before TLS / QUIC; wins over allow */
  size_t deny_sources_count;
  uint64_t max_tunnels_per_source;      /* live tunnels from one address; 0: no limit */
  uint64_t max_tunnels_per_subnet;      /* live tunnels from one subnet; 0: no limit */
  unsigned subnet_prefix_v4;            /* subnet of max_tunnels_per_subnet (default 24) */
  unsigned subnet_prefix_v6;            /* (default 64) */
  double source_rate;                   /* new tunnels a second per source; 0: no limit */
  uint32_t source_burst;                /* the rate's bucket, >= 1 (default 20) */
  const uint16_t *deny_target_ports;    /* target ports always refused (default: 25 only; */
  size_t deny_target_ports_count;       /* set the count to 0 to refuse none) */
  /* version 3 */
  unsigned workers;                     /* worker threads, each with its own loop and
                                           listeners (docs/CONFIG.md, "Workers"); 0: one per
                                           core; default 1: the server's loop only */
} mtop_server_config;

/* mtop_server_config.access_log_format */
#define MTOP_ACCESS_LOG_JSON 0   /* one JSON object per line */
#define MTOP_ACCESS_LOG_LOGFMT 1 /* key=value pairs */

/*
 * mtop_server_config_default - fills the fields of `version` of `config` with the defaults
 * (those of mtop-server: no listen address, no files, quic 1, stealth, the timeouts and
 * limits noted above); writes nothing past that version's fields.
 * version: MTOP_SERVER_CONFIG_VERSION of the caller's header (the macro passes it).
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL config, unknown version).
 */
MTOP_API int mtop_server_config_default_versioned(int version, mtop_server_config *config);
#define mtop_server_config_default(C) \
  mtop_server_config_default_versioned(MTOP_SERVER_CONFIG_VERSION, (C))

/* A user's name and limits, given with mtop_auth_request_allow(). Version 1: up to
 * rate_limit; version 2 added publish. Zero-initialise it: a field left 0 or NULL is "none". */
typedef struct mtop_user_grant {
  const char *user;      /* name for logs and per-user limits; NULL = the username */
  uint32_t max_tunnels;  /* live tunnels of this user; 0 = no limit */
  uint64_t rate_limit;   /* bytes per second each way, shared by the user's tunnels; 0 = none */
  /* version 2 */
  const char *publish;   /* the public binds the user may publish with reverse tunnels, in the
                            users' publish grammar (docs/USERS.md, "Publish grants"), e.g.
                            "8000-8099" or "*:2222, 192.0.2.10:443"; NULL or "" = none. The
                            answer to a climber's REVERSE request decides that request: allow
                            it without a grant covering the bind and the climber gets
                            MTOP_STATUS_NOT_PERMITTED (failure TARGET_DENIED) */
} mtop_user_grant;

/*
 * The auth callback: decides a climber's tunnel. Called on the server's loop thread for
 * every complete auth message (after the per-source failure throttle), with a request
 * handle `req` that the application owns from now on.
 * Answer it, now or later and from any thread, with exactly one of mtop_auth_request_allow(),
 * _deny() or _unavailable(); the answer frees `req`. An answer that comes after the tunnel is
 * gone (climber closed, handshake time-out, server stopped or freed) is ignored - answering is
 * always safe as long as it happens exactly once. A request never answered holds its tunnel
 * until the handshake time-out and leaks the handle.
 * Return 0 once you own `req` (answered or not). Return a negative MTOP_ERR_* code if you did
 * not take it: then you must not have answered it nor keep it, and the server answers
 * "unavailable" itself. The callback must not block the loop.
 */
typedef int (*mtop_auth_callback)(mtop_auth_request *req, void *user_data);

/* What the server calls back. Zero-initialise, then set what you need. Version 1. */
typedef struct mtop_server_callbacks {
  mtop_auth_callback auth; /* NULL: users come from config.users_file (or the JSON "users") */
  mtop_log_callback log;   /* NULL: no logging */
} mtop_server_callbacks;

/*
 * mtop_server_new - creates a server from a config struct; nothing is bound yet (see
 * mtop_server_start()).
 * out: receives the handle; free it with mtop_server_free().
 * loop: the caller's libuv loop (struct uv_loop_s *, every call and callback on its thread),
 *       or NULL for a thread of the server's own (thread-safe handle); see the conventions of
 *       the engine sections.
 * config_version, config: the caller's MTOP_SERVER_CONFIG_VERSION and config (borrowed).
 * callbacks_version, callbacks: the same for the callbacks (borrowed; NULL: none).
 * user_data: passed to every callback; also mtop_server_get_user_data().
 * Returns 0.
 * Errors (with mtop_last_error_message()): MTOP_ERR_INVALID_ARGUMENT (NULL out or config, an
 * unknown version, NULL strings in the arrays), MTOP_ERR_CONFIG_INVALID (a missing or
 * malformed value, the key named in the message), MTOP_ERR_TLS_SETUP_FAILED (certificate or
 * key unusable), MTOP_ERR_NOT_BUILT_IN (QUIC, or the engines, left out of this build),
 * MTOP_ERR_STORE_UNAVAILABLE, MTOP_ERR_SYSTEM (the thread could not start), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_new_versioned(mtop_server **out, struct uv_loop_s *loop,
                                       int config_version, const mtop_server_config *config,
                                       int callbacks_version,
                                       const mtop_server_callbacks *callbacks, void *user_data);
#define mtop_server_new(OUT, LOOP, CONFIG, CALLBACKS, USER_DATA)                           \
  mtop_server_new_versioned((OUT), (LOOP), MTOP_SERVER_CONFIG_VERSION, (CONFIG),          \
                            MTOP_SERVER_CALLBACKS_VERSION, (CALLBACKS), (USER_DATA))

/*
 * mtop_server_new_from_json - the same from mtop-server's JSON config text (docs/CONFIG.md;
 * unknown keys are errors). Relative paths in it are taken relative to base_dir (NULL: the
 * current directory). With an auth callback, the config's "users" is not opened (it is still
 * parsed like every key). Without "workers" the text means one worker per core, as for
 * mtop-server: the log callback is then called from the worker threads too.
 * json: NUL-terminated, borrowed. Other arguments and errors as mtop_server_new(); a JSON
 * error is MTOP_ERR_CONFIG_INVALID with the key at fault in the message.
 */
MTOP_API int mtop_server_new_from_json_versioned(mtop_server **out, struct uv_loop_s *loop,
                                                 const char *json, const char *base_dir,
                                                 int callbacks_version,
                                                 const mtop_server_callbacks *callbacks,
                                                 void *user_data);
#define mtop_server_new_from_json(OUT, LOOP, JSON, BASE_DIR, CALLBACKS, USER_DATA)           \
  mtop_server_new_from_json_versioned((OUT), (LOOP), (JSON), (BASE_DIR),                    \
                                      MTOP_SERVER_CALLBACKS_VERSION, (CALLBACKS), (USER_DATA))

/*
 * mtop_server_free - closes the listeners and every tunnel at once and frees the handle;
 * no callback follows (a pending drain callback is dropped). Own-thread mode: joins the
 * thread. NULL is a no-op. Auth requests still held by the application stay valid: answer
 * them as usual (the answers are ignored). Caller's loop: run the loop afterwards so the
 * closed handles are freed. Never from a callback of the same server.
 */
MTOP_API void mtop_server_free(mtop_server *server);

/*
 * mtop_server_get_user_data - the user_data given to _new, NULL if server is NULL.
 */
MTOP_API void *mtop_server_get_user_data(const mtop_server *server);

/*
 * mtop_server_start - binds every listen address (TLS over TCP, and QUIC over UDP on the same
 * port with config.quic) and starts accepting. Call once. On failure nothing stays bound.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (started already),
 * MTOP_ERR_LISTEN_FAILED (the address in the message), MTOP_ERR_SYSTEM.
 */
MTOP_API int mtop_server_start(mtop_server *server);

/*
 * mtop_server_port - the port bound for listen address `index` (in config order).
 * quic: 0 for the TLS (TCP) listener, 1 for the QUIC (UDP) one.
 * Returns the port (1-65535), the OS's choice for port 0.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL server, index out of range, or no such listener,
 * e.g. quic 1 with QUIC off), MTOP_ERR_INVALID_STATE (not started).
 */
MTOP_API int mtop_server_port(const mtop_server *server, size_t index, int quic);

/*
 * mtop_server_stop - stops accepting and closes every tunnel now. Idempotent. Auth requests
 * held by the application stay theirs to answer (the answers are ignored).
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT.
 */
MTOP_API int mtop_server_stop(mtop_server *server);

/* Called once when a drain is complete (no tunnel left), on the server's loop thread. */
typedef void (*mtop_server_drain_callback)(mtop_server *server, void *user_data);

/*
 * mtop_server_drain - stops accepting; live tunnels may finish for config.drain_timeout_ms,
 * then the rest are closed. `done` (may be NULL) runs once on the loop when no tunnel is
 * left, never inside this call. It must not free the server (free it later, e.g. once
 * uv_run() returns, or from another thread in own-thread mode).
 * Returns 0; if it fails, `done` is never called.
 * Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (draining already).
 */
MTOP_API int mtop_server_drain(mtop_server *server, mtop_server_drain_callback done,
                               void *user_data);

/* Why tunnels failed: the indices of mtop_server_stats.failures (version 2). */
#define MTOP_FAILURE_OVERLOADED 0        /* max_tunnels live, or a per-source limit */
#define MTOP_FAILURE_DRAINING 1          /* the server is draining */
#define MTOP_FAILURE_HANDSHAKE_TIMEOUT 2 /* no auth message, or no auth answer, in time */
#define MTOP_FAILURE_PROTOCOL_ERROR 3    /* a malformed auth message */
#define MTOP_FAILURE_CLIENT_CLOSED 4     /* the climber left before the decision */
#define MTOP_FAILURE_THROTTLED 5         /* the source is locked out after failures */
#define MTOP_FAILURE_AUTH_FAILED 6       /* denied */
#define MTOP_FAILURE_STORE_UNAVAILABLE 7 /* the auth check was unavailable */
#define MTOP_FAILURE_STORE_ERROR 8       /* a stored hash unusable */
#define MTOP_FAILURE_ACCOUNT_REFUSED 9   /* disabled, expired or over quota */
#define MTOP_FAILURE_USER_TUNNEL_LIMIT 10
#define MTOP_FAILURE_TARGET_DENIED 11    /* the target policy refused the target */
#define MTOP_FAILURE_TARGET_FAILED 12    /* DNS, refused, unreachable, timed out */
#define MTOP_FAILURE_REVOKED 13          /* a live tunnel closed by the server */
#define MTOP_FAILURE_COUNT 14

/* The admission rules that refuse a connection or a tunnel: the indices of
 * mtop_server_stats.rejections (version 3), named after the config option that was reached. */
#define MTOP_REJECTION_SOURCE_DENIED 0  /* deny_sources / allow_sources */
#define MTOP_REJECTION_MAX_TUNNELS 1    /* max_tunnels (also failure OVERLOADED) */
#define MTOP_REJECTION_MAX_TUNNELS_PER_USER 2   /* the user's own limit */
#define MTOP_REJECTION_MAX_TUNNELS_PER_SOURCE 3 /* max_tunnels_per_source */
#define MTOP_REJECTION_MAX_TUNNELS_PER_SUBNET 4 /* max_tunnels_per_subnet */
#define MTOP_REJECTION_SOURCE_RATE 5    /* source_rate / source_burst */
#define MTOP_REJECTION_TARGET_PORT 6    /* deny_target_ports (also failure TARGET_DENIED) */
#define MTOP_REJECTION_COUNT 7

/*
 * What the server counts (mtop_server_stats()). Version 1: up to bytes_down; version 2
 * added active_users and failures; version 3 rejections; version 4 the reverse tunnels'.
 */
typedef struct mtop_server_stats {
  uint64_t live;        /* tunnels in any stage */
  uint64_t relaying;    /* of which relaying */
  uint64_t total;       /* tunnel streams accepted */
  uint64_t accepted;    /* tunnels that got a success response */
  uint64_t bytes_up;    /* climber -> target, all tunnels */
  uint64_t bytes_down;  /* target -> climber */
  /* version 2 */
  uint64_t active_users;                   /* users with live tunnels */
  uint64_t failures[MTOP_FAILURE_COUNT];   /* per MTOP_FAILURE_* */
  /* version 3 */
  uint64_t rejections[MTOP_REJECTION_COUNT]; /* per MTOP_REJECTION_*: refusals by rule. A
                                                 tunnel refused by a source rule also counts
                                                 as failure OVERLOADED; SOURCE_DENIED counts
                                                 connections (TCP) and Initial packets (QUIC)
                                                 refused before any tunnel existed */
  /* version 4: reverse tunnels (docs/PROTOCOL.md section 9). A refused REVERSE request counts
     as a failure: TARGET_DENIED when the user may not publish the bind, TARGET_FAILED when
     it cannot be bound. */
  uint64_t reverse_ports;            /* public ports held by live control tunnels */
  uint64_t reverse_ports_grace;      /* public ports kept bound in their grace period */
  uint64_t reverse_visitors;         /* visitors waiting for or carried on a data connection */
  uint64_t reverse_visitors_total;   /* visitors accepted on published ports */
  uint64_t reverse_visitors_refused; /* visitors reset: no climber, a CIDR rule, the limit */
} mtop_server_stats;

/*
 * mtop_server_stats - a snapshot of the counters.
 * version: the caller's MTOP_SERVER_STATS_VERSION (the macro passes it); only the fields of
 *          that version are written.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL argument, unknown version).
 */
MTOP_API int mtop_server_stats_versioned(const mtop_server *server, int version,
                                         mtop_server_stats *stats);
#define mtop_server_stats(SERVER, STATS) \
  mtop_server_stats_versioned((SERVER), MTOP_SERVER_STATS_VERSION, (STATS))

/* ---------------------------------------------------------------------------------------
 * Operating a running server: reload, live tunnels, metrics, users - what mtop-server's
 * SIGHUP, admin API and `mtop-server user` do, for a program that embeds the server.
 *
 * Threads: the mtop_server_* functions below follow the engine conventions (own-thread
 * server: any thread; caller's loop: the loop's thread). The lists and reports they hand out
 * belong to the caller, who may read them on any thread and frees each with its _free
 * function (NULL is a no-op); they do not change when the server does (snapshots) and stay
 * valid after the server is freed. mtop_user_admin has its own rules (below).
 * Structs handed out by pointer (mtop_tunnel_info, mtop_user_info, the lists and the report)
 * are allocated by the library and only ever grow at their end, so a program built against an
 * older header reads the fields it knows.
 * ------------------------------------------------------------------------------------- */

/* What a reload did (Server::reload's ReloadReport). Strings are NUL-terminated and owned by
 * the report. */
typedef struct mtop_reload_report {
  const char *const *changed;     /* what took effect: "certificate", "engine options",
                                     "listen +127.0.0.1:8443", ...; none: nothing changed */
  size_t changed_count;
  const char *const *not_applied; /* parts that did not take effect live, with the reason */
  size_t not_applied_count;
  const char *summary;            /* all of it in one line, for a log */
} mtop_reload_report;

/*
 * mtop_server_reload - applies a new config without dropping a live tunnel, all or nothing:
 * everything is prepared first (certificate and key read, users store opened, new addresses
 * bound) and only then switched; on any error nothing changed and the running config stays.
 * What a reload changes, and what live tunnels keep, is Server::reload's list
 * (include/mtop/server.hpp; docs/CONFIG.md, "Reload"). With an auth callback the users part
 * is ignored. Works on a started or a not yet started server.
 * config_version, config: as mtop_server_new() (borrowed).
 * report: receives what changed (free it with mtop_reload_report_free()); may be NULL. Left
 *         untouched on failure.
 * Returns 0. Errors (with mtop_last_error_message(), naming the part at fault):
 * MTOP_ERR_INVALID_ARGUMENT (NULL server or config, unknown version, NULL strings),
 * MTOP_ERR_CONFIG_INVALID, MTOP_ERR_TLS_SETUP_FAILED, MTOP_ERR_LISTEN_FAILED,
 * MTOP_ERR_NOT_BUILT_IN, MTOP_ERR_STORE_UNAVAILABLE, MTOP_ERR_SYSTEM,
 * MTOP_ERR_INVALID_STATE (draining), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_reload_versioned(mtop_server *server, int config_version,
                                          const mtop_server_config *config,
                                          mtop_reload_report **report);
#define mtop_server_reload(SERVER, CONFIG, REPORT) \
  mtop_server_reload_versioned((SERVER), MTOP_SERVER_CONFIG_VERSION, (CONFIG), (REPORT))

/*
 * mtop_server_reload_json - the same from mtop-server's JSON config text (relative paths
 * relative to base_dir, NULL: the current directory). A JSON error is
 * MTOP_ERR_CONFIG_INVALID naming the key; nothing changed then.
 */
MTOP_API int mtop_server_reload_json(mtop_server *server, const char *json, const char *base_dir,
                                     mtop_reload_report **report);

/* mtop_reload_report_free - frees a report (NULL: no-op). Any thread. */
MTOP_API void mtop_reload_report_free(mtop_reload_report *report);

/* A live tunnel (Server::tunnels()). Strings are NUL-terminated, owned by the list. */
typedef struct mtop_tunnel_info {
  uint64_t id;           /* the server's number for it (mtop_server_close_tunnel()) */
  const char *transport; /* "tls" or "quic" */
  const char *listener;  /* the listen address it came in on, "host:port" */
  const char *source;    /* the climber's "ip:port" */
  const char *user;      /* as the climber sent it (log-escaped); "" before the auth message */
  const char *target;    /* "host:port" asked for; "" before the request */
  const char *stage;     /* handshake, deciding, connecting, rejecting or relaying */
  uint64_t bytes_up;     /* climber -> target so far */
  uint64_t bytes_down;   /* target -> climber */
  uint64_t age_ms;       /* since the tunnel was accepted */
} mtop_tunnel_info;

/* Live tunnels, oldest first: items[0 .. count-1]. */
typedef struct mtop_tunnel_list {
  const mtop_tunnel_info *const *items;
  size_t count;
} mtop_tunnel_list;

/*
 * mtop_server_tunnels - a snapshot of every live tunnel.
 * out: receives the list (possibly empty); free it with mtop_tunnel_list_free().
 * Returns the number of tunnels (clamped to INT_MAX; the list has them all).
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL server or out), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_tunnels(const mtop_server *server, mtop_tunnel_list **out);

/* mtop_tunnel_list_free - frees a list (NULL: no-op). Any thread. */
MTOP_API void mtop_tunnel_list_free(mtop_tunnel_list *list);

/*
 * mtop_server_close_tunnel - closes the live tunnel numbered `id` (its climber sees the
 * stream end; it counts as failure MTOP_FAILURE_REVOKED). A relaying tunnel leaves the list
 * once its streams are closed, a moment later; closing it again until then is no error.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL server, or no live tunnel has that id:
 * it ended already or never existed; the message says which id).
 */
MTOP_API int mtop_server_close_tunnel(mtop_server *server, uint64_t id);

/*
 * mtop_server_close_user_tunnels - closes every live tunnel of `user` (as the auth callback's
 * grant or the users store named it).
 * Returns how many were closed (0 or more; tunnels still closing from an earlier call count
 * again). Errors: MTOP_ERR_INVALID_ARGUMENT (NULL argument).
 */
MTOP_API int mtop_server_close_user_tunnels(mtop_server *server, const char *user);

/*
 * mtop_server_metrics_text - what the server counts, in the Prometheus text exposition format
 * (the admin listener's /metrics; docs/ADMIN_API.md lists the metrics), for a program that
 * serves metrics itself.
 * text: receives a NUL-terminated string the caller frees with mtop_string_free().
 * len: receives its length without the NUL; may be NULL.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL server or text), MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_metrics_text(const mtop_server *server, char **text, size_t *len);

/* mtop_string_free - frees a string the library handed out to be freed (NULL: no-op). */
MTOP_API void mtop_string_free(char *text);

/*
 * mtop_server_admin_port - the admin listener's bound port (config admin_listen).
 * Returns the port (1-65535), or 0 when the server has no admin listener.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL server), MTOP_ERR_INVALID_STATE (not started).
 */
MTOP_API int mtop_server_admin_port(const mtop_server *server);

/* ---------------------------------------------------------------------------------------
 * Users: list, add, change and delete the users of the store the server's config names
 * (users file, SQLite, PostgreSQL, MySQL; docs/USERS.md) - the code of `mtop-server user`
 * and of the admin API's /api/users (mtop::UserAdmin).
 *
 * Threads and blocking: every mtop_user_admin_* call blocks the calling thread while it
 * hashes a password (tens of ms, on purpose) or asks a database. A user admin follows the
 * threading rule of the server it was opened on: own-thread server, any thread (one at a
 * time: the user admin is not thread-safe); caller's loop, the loop's thread, which the call
 * then holds up. It must be freed before that server. A users file is read afresh for every
 * call (so edits made meanwhile by hand or by `mtop-server user` are not written over), and
 * after each change the server reads it at once, so a user just added can log in; database
 * stores are followed by the server by themselves.
 * Errors of every call, with a message (the database's own where there is one):
 * MTOP_ERR_INVALID_ARGUMENT (a NULL argument, a value out of range), MTOP_ERR_STORE_UNAVAILABLE
 * (cannot connect; the next call connects again), MTOP_ERR_STORE_DUPLICATE_USER,
 * MTOP_ERR_STORE_NO_SUCH_USER, MTOP_ERR_STORE_QUERY_FAILED (a refused statement; for a users
 * file: it cannot be written), MTOP_ERR_CONFIG_INVALID (a users file that does not parse),
 * MTOP_ERR_NOMEM.
 * ------------------------------------------------------------------------------------- */

typedef struct mtop_user_admin mtop_user_admin;

/* One user of the store (no password hash). Strings owned by the list. */
typedef struct mtop_user_info {
  const char *username;
  int enabled;            /* 1 or 0 */
  int has_expires_at;     /* 0: never expires */
  int64_t expires_at;     /* Unix seconds */
  int has_max_tunnels;    /* 0: no limit */
  uint32_t max_tunnels;   /* concurrent tunnels */
  int has_quota_bytes;    /* 0: no quota */
  uint64_t quota_bytes;   /* up + down */
  uint64_t used_bytes;    /* counted against the quota */
  int has_rate_limit;     /* 0: no limit */
  uint64_t rate_limit;    /* bytes a second each way */
  /* Added after the fields above (read it only from a library that has it:
   * mtop_user_admin_set_publish() exists there too). */
  const char *publish;    /* public binds for reverse tunnels (docs/USERS.md), "" = none */
} mtop_user_info;

/* Users sorted by name: items[0 .. count-1]. */
typedef struct mtop_user_list {
  const mtop_user_info *const *items;
  size_t count;
} mtop_user_list;

/*
 * mtop_user_admin_new - opens the users store of `server`'s running config (after a reload:
 * the new one, for user admins opened from then on).
 * out: receives the handle; free it with mtop_user_admin_free() before the server.
 * Returns 0. Errors: as above, and MTOP_ERR_INVALID_STATE when the server's users come from
 * an auth callback (there is no store), MTOP_ERR_NOT_BUILT_IN (a database left out).
 */
MTOP_API int mtop_user_admin_new(mtop_user_admin **out, mtop_server *server);

/* mtop_user_admin_free - closes the store (NULL: no-op). */
MTOP_API void mtop_user_admin_free(mtop_user_admin *admin);

/*
 * mtop_user_admin_list - every user, sorted by name.
 * out: receives the list; free it with mtop_user_list_free().
 * Returns the number of users (clamped to INT_MAX).
 */
MTOP_API int mtop_user_admin_list(mtop_user_admin *admin, mtop_user_list **out);

/* mtop_user_list_free - frees a list (NULL: no-op). Any thread. */
MTOP_API void mtop_user_list_free(mtop_user_list *list);

/*
 * mtop_user_admin_add - adds an enabled user with no limits, the password hashed with scrypt
 * (limits: the setters below).
 * username, password: NUL-terminated, 1-255 bytes each (borrowed; the password is not kept).
 * Returns 0. Errors: as above (MTOP_ERR_STORE_DUPLICATE_USER when the name exists).
 */
MTOP_API int mtop_user_admin_add(mtop_user_admin *admin, const char *username,
                                 const char *password);

/* mtop_user_admin_delete - removes the user (their live tunnels end at the server's next
 * look-up, within its recheck interval; mtop_server_close_user_tunnels() ends them now). */
MTOP_API int mtop_user_admin_delete(mtop_user_admin *admin, const char *username);

/* mtop_user_admin_set_password - a new password (hashed with scrypt). */
MTOP_API int mtop_user_admin_set_password(mtop_user_admin *admin, const char *username,
                                          const char *password);

/* mtop_user_admin_set_enabled - enabled 1 or 0 (a disabled user is refused). */
MTOP_API int mtop_user_admin_set_enabled(mtop_user_admin *admin, const char *username,
                                         int enabled);

/*
 * The limits. Each takes a pointer to the new value, NULL for "none" (no quota, no limit,
 * never expires); the pointer is borrowed for the call.
 * set_quota: bytes up + down; reset_used 1 sets used_bytes back to 0.
 */
MTOP_API int mtop_user_admin_set_quota(mtop_user_admin *admin, const char *username,
                                       const uint64_t *quota_bytes, int reset_used);
MTOP_API int mtop_user_admin_set_max_tunnels(mtop_user_admin *admin, const char *username,
                                             const uint32_t *max_tunnels);
MTOP_API int mtop_user_admin_set_rate_limit(mtop_user_admin *admin, const char *username,
                                            const uint64_t *bytes_per_second);
MTOP_API int mtop_user_admin_set_expiry(mtop_user_admin *admin, const char *username,
                                        const int64_t *expires_at);

/*
 * mtop_user_admin_set_publish - the public binds the user may publish with reverse tunnels
 * (docs/USERS.md, "Publish grants"), e.g. "8000-8099" or "*:2222, 192.0.2.10:443".
 * grants: NUL-terminated (borrowed); NULL or "" = none. A live reverse tunnel whose bind the
 * new grants no longer cover is closed at the server's next look-up of the user.
 * Returns 0. Errors: as above; MTOP_ERR_INVALID_ARGUMENT for grants that do not parse, with
 * a message naming the grant at fault ("publish: \"70000\": port must be 1-65535");
 * MTOP_ERR_STORE_QUERY_FAILED for a database made before grants existed (mtop-server db
 * migrate upgrades it).
 */
MTOP_API int mtop_user_admin_set_publish(mtop_user_admin *admin, const char *username,
                                         const char *grants);

/* ---------------------------------------------------------------------------------------
 * Auth requests: what the auth callback hands over (see mtop_auth_callback).
 *
 * Life cycle: the server creates the request and passes it to the auth callback; from then
 * on the application owns it until it answers with exactly one of _allow(), _deny() or
 * _unavailable(), from any thread, at any time - which frees it. The getters may be called
 * from any thread until then (one thread at a time: a request is not thread-safe). Answers
 * reach the server through a thread-safe slot: an answer after the tunnel ended, or after the
 * server was stopped or freed, is ignored safely. The password is wiped when the request is
 * freed.
 * ------------------------------------------------------------------------------------- */

/*
 * mtop_auth_request_username / _password - the credentials the climber sent (1-255 opaque
 * bytes each; a NUL byte is possible, hence `len`).
 * len: receives the length; may be NULL.
 * Returns a NUL-terminated pointer into the request, valid until it is answered; NULL if req
 * is NULL. Compare the password in constant time; never log it.
 */
MTOP_API const char *mtop_auth_request_username(const mtop_auth_request *req, size_t *len);
MTOP_API const char *mtop_auth_request_password(const mtop_auth_request *req, size_t *len);

/*
 * mtop_auth_request_source - the climber's address, "ip:port" or "[v6]:port".
 * mtop_auth_request_target_host - the requested target: a domain name or an IP literal
 * (without brackets).
 * Return NUL-terminated pointers into the request, valid until it is answered; NULL if req is
 * NULL.
 */
MTOP_API const char *mtop_auth_request_source(const mtop_auth_request *req);
MTOP_API const char *mtop_auth_request_target_host(const mtop_auth_request *req);

/*
 * mtop_auth_request_target_port - the requested target port (1-65535).
 * Errors: MTOP_ERR_INVALID_ARGUMENT for a NULL req.
 */
MTOP_API int mtop_auth_request_target_port(const mtop_auth_request *req);

/*
 * mtop_auth_request_allow - the user may tunnel; then the target policy and the connection
 * to the target follow. Frees req.
 * version, grant: the caller's MTOP_USER_GRANT_VERSION (the macro passes it) and the user's
 *   name, limits and publish grants (borrowed for the call); grant NULL: the username, no
 *   limits, nothing to publish.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL req, an unknown version, or a publish
 * text that does not parse, with a message naming the grant at fault, "publish: \"70000\":
 * port must be 1-65535": req is NOT freed then, answer it again), MTOP_ERR_NOMEM (req is
 * answered "unavailable" and freed).
 */
MTOP_API int mtop_auth_request_allow_versioned(mtop_auth_request *req, int version,
                                               const mtop_user_grant *grant);
#define mtop_auth_request_allow(REQ, GRANT) \
  mtop_auth_request_allow_versioned((REQ), MTOP_USER_GRANT_VERSION, (GRANT))

/*
 * mtop_auth_request_deny - unknown user or wrong password: the climber gets auth_failed
 * (reply mode) or a silent close (stealth), and the source's failure count grows. Frees req.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT for a NULL req.
 */
MTOP_API int mtop_auth_request_deny(mtop_auth_request *req);

/*
 * mtop_auth_request_unavailable - the check could not answer (its backend is down): the
 * tunnel is refused without counting a failure against the source. Frees req.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT for a NULL req.
 */
MTOP_API int mtop_auth_request_unavailable(mtop_auth_request *req);

/* ---------------------------------------------------------------------------------------
 * The climber engine: opens tunnels through an MTop server, for local SOCKS5 / HTTP proxy
 * ports, port-forwards and the program's own connections, and publishes local services on
 * the server's public ports through reverse tunnels (theory in include/mtop/climber.hpp).
 *
 *   mtop_climber_config cfg;  mtop_climber_config_default(&cfg);
 *   cfg.server_uri = "mtop://alice@vpn.example.com:443";  cfg.password = pw;
 *   mtop_climber *c;
 *   mtop_climber_new(&c, NULL, &cfg, NULL, NULL);  mtop_climber_start(c);
 *   mtop_climber_open_tunnel(c, "example.org", 80, on_tunnel, app);  -> a socket fd
 * ------------------------------------------------------------------------------------- */

typedef struct mtop_climber mtop_climber;

/* Transports to the server. */
#define MTOP_TRANSPORT_DEFAULT 0 /* what the server URI says (tls if nothing) */
#define MTOP_TRANSPORT_TLS 1     /* a TLS 1.3 connection per tunnel */
#define MTOP_TRANSPORT_QUIC 2    /* streams on pooled QUIC connections */
#define MTOP_TRANSPORT_AUTO 3    /* QUIC, falling back to TLS when UDP is blocked */

/*
 * The climber's configuration (the climber's config file, docs/CONFIG.md, in struct form).
 * Fill with mtop_climber_config_default() first. Version 1: up to log_level; version 2 added
 * the reverse rules. Pointers are borrowed for the _new call.
 */
typedef struct mtop_climber_config {
  const char *server_uri;    /* mtop://USER[:PASS]@HOST[:PORT]?transport=..&ca=..&pin=..;
                                required */
  const char *password;      /* overrides the URI's password; NULL: the URI's */
  int transport;             /* MTOP_TRANSPORT_*; DEFAULT: the URI's */
  const char *ca_file;       /* PEM CAs to trust (a self-signed server: its certificate);
                                NULL: the URI's, else the system store */
  const char *pin;           /* base64 SHA-256 of the server's key; NULL: the URI's */
  int insecure;              /* 1: no certificate verification (logged loudly); 0: the URI's */
  const char *socks_listen;  /* "host:port" of a local SOCKS5 port; NULL: none */
  const char *http_listen;   /* "host:port" of a local HTTP proxy port; NULL: none */
  const char *const *forwards; /* "[bind:]port:host:hostport" port-forwards */
  size_t forward_count;
  uint64_t handshake_timeout_ms; /* local request + tunnel set-up (default 10000) */
  uint64_t connect_timeout_ms;   /* reaching the server (default 10000) */
  uint64_t idle_timeout_ms;      /* idle tunnels are closed (default 300000) */
  int log_level;                 /* MTOP_LOG_* (default MTOP_LOG_INFO) */
  /* version 2: reverse tunnels (docs/CLIMBER.md, "Reverse tunnels"), started by
     mtop_climber_start(): each publishes host:hostport, a service next to the climber, on
     the server's bind:port, and reconnects with back-off when the server is lost or refuses.
     The user needs a publish grant covering the bind (mtop_user_admin_set_publish(), or a
     custom auth check's mtop_user_grant.publish). */
  const char *const *reverses;  /* "[bind:]port:host:hostport" (climber -R; bind an IP
                                   address of the server, default 0.0.0.0; port 0: any port
                                   the user may publish) */
  size_t reverse_count;
  const int *reverse_proxy_protocol; /* NULL, or reverse_count flags: 1 = send a PROXY
                                        protocol v2 header with the visitor's address to that
                                        rule's service first (default NULL: none) */
} mtop_climber_config;

/*
 * mtop_climber_config_default - fills the fields of `version` with the defaults (all
 * pointers NULL, MTOP_TRANSPORT_DEFAULT, insecure 0, the timeouts above).
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL config, unknown version).
 */
MTOP_API int mtop_climber_config_default_versioned(int version, mtop_climber_config *config);
#define mtop_climber_config_default(C) \
  mtop_climber_config_default_versioned(MTOP_CLIMBER_CONFIG_VERSION, (C))

/*
 * mtop_climber_new - creates a climber from a config struct; nothing is bound or connected
 * yet.
 * out: receives the handle; free it with mtop_climber_free().
 * loop: the caller's libuv loop, or NULL for a thread of its own (thread-safe handle).
 * config_version, config: MTOP_CLIMBER_CONFIG_VERSION and the config (borrowed).
 * log: log callback (NULL: none); user_data: passed to it, and mtop_climber_get_user_data().
 * Returns 0. Errors (with mtop_last_error_message()): MTOP_ERR_INVALID_ARGUMENT (NULL out or
 * config, unknown version, a transport out of range, a NULL array with a count or a NULL
 * entry), MTOP_ERR_CONFIG_INVALID (a bad URI, listen address, forward, reverse rule or pin;
 * the value named), MTOP_ERR_TLS_SETUP_FAILED (CA file), MTOP_ERR_NOT_BUILT_IN,
 * MTOP_ERR_SYSTEM, MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_climber_new_versioned(mtop_climber **out, struct uv_loop_s *loop,
                                        int config_version, const mtop_climber_config *config,
                                        mtop_log_callback log, void *user_data);
#define mtop_climber_new(OUT, LOOP, CONFIG, LOG, USER_DATA)                                  \
  mtop_climber_new_versioned((OUT), (LOOP), MTOP_CLIMBER_CONFIG_VERSION, (CONFIG), (LOG),  \
                             (USER_DATA))

/*
 * mtop_climber_new_from_json - the same from the climber's JSON config text (docs/CONFIG.md;
 * "password_file" is read here; relative paths relative to base_dir, NULL: the current
 * directory). A JSON error is MTOP_ERR_CONFIG_INVALID with the key in the message.
 */
MTOP_API int mtop_climber_new_from_json(mtop_climber **out, struct uv_loop_s *loop,
                                        const char *json, const char *base_dir,
                                        mtop_log_callback log, void *user_data);

/*
 * mtop_climber_free - closes the listeners, every local connection and every tunnel fd
 * bridge (the application's fds then read EOF or an error; closing them stays the
 * application's job). Pending open_tunnel callbacks run with MTOP_ERR_CANCELLED before it
 * returns (on the loop's thread: in own-thread mode, on that thread while free waits).
 * Own-thread mode: joins the thread. NULL is a no-op. Never from a callback of the same
 * climber. Caller's loop: run the loop afterwards so the closed handles are freed.
 */
MTOP_API void mtop_climber_free(mtop_climber *climber);

/* mtop_climber_get_user_data - the user_data given to _new, NULL if climber is NULL. */
MTOP_API void *mtop_climber_get_user_data(const mtop_climber *climber);

/*
 * mtop_climber_start - binds every configured local port (SOCKS5, HTTP, forwards; none is
 * fine for a climber used only through mtop_climber_open_tunnel()) and starts the reverse
 * tunnels (their outcome comes later: mtop_climber_reverse_state()). Call once.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_INVALID_STATE (started already),
 * MTOP_ERR_LISTEN_FAILED (the address in the message).
 */
MTOP_API int mtop_climber_start(mtop_climber *climber);

/*
 * mtop_climber_stop - stops accepting local connections; live ones go on. Reverse tunnels
 * end (their public ports are released after the server's grace period). Idempotent.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT.
 */
MTOP_API int mtop_climber_stop(mtop_climber *climber);

/*
 * mtop_climber_socks_port / _http_port - the bound local port (the OS's choice for port 0).
 * mtop_climber_forward_port - the same for forward `index` (config order).
 * Return the port, 0 when not configured or not started.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL climber, index out of range).
 */
MTOP_API int mtop_climber_socks_port(const mtop_climber *climber);
MTOP_API int mtop_climber_http_port(const mtop_climber *climber);
MTOP_API int mtop_climber_forward_port(const mtop_climber *climber, size_t index);

/*
 * mtop_climber_reverse_port - the public port the server granted to reverse rule `index`
 * (config order): the rule's port, or the server's choice for port 0.
 * Returns the port, 0 until the server first granted it (the grant is asked for
 * asynchronously after mtop_climber_start()); the port stays while the climber reconnects.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL climber, index out of range).
 */
MTOP_API int mtop_climber_reverse_port(const mtop_climber *climber, size_t index);

/* What one reverse rule is doing (mtop_climber_reverse_state()). Version 1. */
typedef struct mtop_reverse_state {
  uint16_t port;           /* as mtop_climber_reverse_port() */
  int published;           /* 1: a control tunnel holds the port now; 0: not yet, or
                              reconnecting */
  int refusal;             /* the MTOP_STATUS_* of the server's last refusal since the rule
                              was last published (MTOP_STATUS_NOT_PERMITTED, _PORT_IN_USE,
                              _BAD_REQUEST, _AUTH_FAILED, _VERSION_NOT_SUPPORTED); 0: none. A
                              server that cannot be reached, or closes without a status
                              (stealth), leaves it as it was: the log says why */
  uint64_t visitors_total; /* visitors carried to the rule's service so far */
} mtop_reverse_state;

/*
 * mtop_climber_reverse_state - a snapshot of reverse rule `index` (config order).
 * version: the caller's MTOP_REVERSE_STATE_VERSION (the macro passes it); only the fields of
 *          that version are written.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL argument, unknown version, index out of
 * range).
 */
MTOP_API int mtop_climber_reverse_state_versioned(const mtop_climber *climber, size_t index,
                                                  int version, mtop_reverse_state *state);
#define mtop_climber_reverse_state(CLIMBER, INDEX, STATE) \
  mtop_climber_reverse_state_versioned((CLIMBER), (INDEX), MTOP_REVERSE_STATE_VERSION, (STATE))

/* What the climber counts (mtop_climber_stats()). Version 1: up to bytes_down; version 2
 * added the reverse-tunnel counters. */
typedef struct mtop_climber_stats {
  uint64_t active_connections; /* local connections and open tunnels being served */
  uint64_t total_connections;
  uint64_t refused_connections; /* refused because a limit was reached */
  uint64_t tunnels_opened;      /* tunnels the server accepted */
  uint64_t tunnels_failed;      /* tunnels refused or not set up */
  uint64_t bytes_up;            /* local -> server side */
  uint64_t bytes_down;
  /* version 2 (visitors' bytes are not in bytes_up / bytes_down: the server counts them) */
  uint64_t reverse_published;      /* reverse rules whose port a control tunnel holds now */
  uint64_t reverse_visitors_total; /* visitors carried to the rules' services so far */
} mtop_climber_stats;

/*
 * mtop_climber_stats - a snapshot of the counters; only the fields of `version` are written.
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT (NULL argument, unknown version).
 */
MTOP_API int mtop_climber_stats_versioned(const mtop_climber *climber, int version,
                                          mtop_climber_stats *stats);
#define mtop_climber_stats(CLIMBER, STATS) \
  mtop_climber_stats_versioned((CLIMBER), MTOP_CLIMBER_STATS_VERSION, (STATS))

/*
 * The result of mtop_climber_open_tunnel(), called exactly once on the climber's loop
 * thread, never inside the open_tunnel call.
 * status: 0, or MTOP_ERR_TUNNEL_REFUSED (the server said no: auth, policy, target),
 *   MTOP_ERR_TUNNEL_FAILED (server unreachable, TLS verification, time-out),
 *   MTOP_ERR_LIMIT_REACHED, MTOP_ERR_CANCELLED (the climber was freed), MTOP_ERR_SYSTEM.
 * fd: on success, a connected stream socket (one end of a socketpair(AF_UNIX, SOCK_STREAM))
 *   that the climber bridges to the tunnel: what the application writes goes to the target,
 *   what the target sends can be read; shutdown(fd, SHUT_WR) is carried to the target as
 *   EOF, and the target's EOF reads as EOF. The application owns fd and must close() it;
 *   closing it ends the tunnel. -1 on failure.
 * message: on failure, what went wrong (valid during the call); "" on success.
 */
typedef void (*mtop_tunnel_callback)(mtop_climber *climber, int status, int fd,
                                     const char *message, void *user_data);

/*
 * mtop_climber_open_tunnel - opens one tunnel to host:port through the server.
 * host: a domain or an IP literal, NUL-terminated, borrowed. port: 1-65535.
 * cb: required; gets user_data.
 * Returns 0; if it fails, cb is never called.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL climber, host or cb, empty host, port 0),
 * MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_climber_open_tunnel(mtop_climber *climber, const char *host, uint16_t port,
                                      mtop_tunnel_callback cb, void *user_data);

#ifdef __cplusplus
}
#endif

#endif /* MTOP_H */
