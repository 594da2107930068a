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
 *   they stay valid. Nothing is ever to be freed by the caller except a handle, with its
 *   _free function.
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

/* Peer errors of the SOCKS5 and HTTP proxy front ends and of the user stores. The C API does
 * not return them today; they are listed so that every library code has its C name. */
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

/* Sizes. */
#define MTOP_MAX_AUTH_MESSAGE_SIZE 773  /* the largest auth message; enough for any encoding */
#define MTOP_RESPONSE_SIZE 2            /* VER + STATUS */
#define MTOP_MAX_FIELD_SIZE 255         /* longest username, password or domain */
#define MTOP_DEFAULT_EARLY_DATA_LIMIT 65536 /* default early payload the server holds */

/* The version of the settings structs this header describes. */
#define MTOP_SETTINGS_VERSION 1

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
 * ev: filled in (every field; see mtop_client_event for the lifetime of ev->data).
 * ESTABLISHED is reported once, then PAYLOAD events, then END_OF_INPUT (repeated) after
 * _feed_eof(); REJECTED, CLOSED_WITHOUT_STATUS and ERROR are terminal and repeat.
 * Returns ev->type (>= 0). Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_client_handshake_next_event(mtop_client_handshake *hs, mtop_client_event *ev);

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
 * what you need, so fields added later (with a higher version) get their defaults. */
typedef struct mtop_server_settings {
  uint32_t version;         /* MTOP_SETTINGS_VERSION (1..MTOP_SETTINGS_VERSION accepted) */
  size_t early_data_limit;  /* early payload held before the decision; 0 allowed */
} mtop_server_settings;

/*
 * mtop_server_settings_default - fills `settings` with version = MTOP_SETTINGS_VERSION and
 * the defaults (early_data_limit = MTOP_DEFAULT_EARLY_DATA_LIMIT).
 * Returns 0. Errors: MTOP_ERR_INVALID_ARGUMENT for NULL.
 */
MTOP_API int mtop_server_settings_default(mtop_server_settings *settings);

/*
 * mtop_server_handshake_new - creates a server machine waiting for the auth message.
 * out: receives the handle; free it with mtop_server_handshake_free().
 * settings: borrowed for the call; NULL means the defaults.
 * Returns 0.
 * Errors: MTOP_ERR_INVALID_ARGUMENT (NULL out, or settings->version not in
 * 1..MTOP_SETTINGS_VERSION), MTOP_ERR_NOMEM.
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
 * ev: filled in (every field; see mtop_server_event for lifetimes). AUTH_REQUEST and each
 * PAYLOAD are reported once; ERROR and END_OF_INPUT repeat.
 * Returns ev->type (>= 0). Errors: MTOP_ERR_INVALID_ARGUMENT, MTOP_ERR_NOMEM.
 */
MTOP_API int mtop_server_handshake_next_event(mtop_server_handshake *hs, mtop_server_event *ev);

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

#ifdef __cplusplus
}
#endif

#endif /* MTOP_H */
