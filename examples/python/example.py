#!/usr/bin/env python3
"""example.py - the MTop handshake through libmtop's C API from Python (ctypes).

A client and a server machine talk through in-memory wires:
  1. success: auth message + early payload, accept, payload both ways, half-closes;
  2. a wrong password rejected in reply mode: the client sees the status;
  3. the same in stealth mode: the client only sees the close;
plus the codecs and a few error paths. Every result is asserted; exits non-zero on a
mismatch. Usage: example.py [--library PATH]  (else $MTOP_LIBRARY, else libmtop.so).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mtop  # noqa: E402


def expect(cond: bool, what: str) -> None:
    # Not `assert`: it disappears under python -O.
    if not cond:
        raise SystemExit(f"check failed: {what}")


def expect_error(code: int, fn, *args) -> None:
    try:
        fn(*args)
    except mtop.MtopError as e:
        expect(e.code == code, f"{fn.__name__}: error {e.code}, wanted {code}")
        return
    raise SystemExit(f"check failed: {fn.__name__} did not fail with {code}")


def server_check(server: mtop.ServerHandshake) -> bool:
    """Reads the auth request, checks the password against b"s3cret", wipes it."""
    ev = server.next_event()
    expect(ev.type == mtop.EVENT_AUTH_REQUEST, f"auth request event, got {ev.type}")
    req = ev.request
    print(f"  server: auth request from {req.username!r} for {req.target.host}:{req.target.port}")
    expect(req.username == b"alice", "username")
    expect(req.target == mtop.Target.domain("example.com", 80), "target")
    good = req.password == b"s3cret"
    server.wipe_password()
    return good


def run_success(lib: mtop.Library) -> None:
    print("case 1: accepted tunnel with early data")
    early = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    answer = b"HTTP/1.1 204 No Content\r\n\r\n"
    with mtop.ClientHandshake(lib, b"alice", b"s3cret", mtop.Target.domain("example.com", 80)) \
            as client, mtop.ServerHandshake(lib, early_data_limit=1024) as server:
        client.send_payload(early)
        to_server = client.pending_output()
        client.consume_output(len(to_server))
        expect(server.feed(to_server) == len(to_server), "server consumed everything")
        expect(server.early_data_size() == len(early), "early payload held")

        expect(server_check(server), "good password")
        server.accept()
        ev = server.next_event()
        expect(ev.type == mtop.EVENT_PAYLOAD and ev.data == early, "early payload delivered")
        print(f"  server: early payload, {len(ev.data)} bytes, forwarded to the target")

        to_client = server.pending_output()
        expect(to_client == b"\x01\x00", "success response")
        server.consume_output(len(to_client))
        expect(client.feed(to_client + answer) == len(to_client) + len(answer), "client feed")
        expect(client.next_event().type == mtop.EVENT_ESTABLISHED, "established")
        ev = client.next_event()
        expect(ev.type == mtop.EVENT_PAYLOAD and ev.data == answer, "payload to the client")
        status_line = ev.data.split(b"\r")[0]
        print(f"  client: established, payload {status_line!r}")

        client.send_payload(b"second request")
        out = client.pending_output()
        client.consume_output(len(out))
        server.feed(out)
        server.feed_eof()
        ev = server.next_event()
        expect(ev.type == mtop.EVENT_PAYLOAD and ev.data == b"second request", "upload")
        expect(server.next_event().type == mtop.EVENT_END_OF_INPUT, "server end of input")
        client.feed_eof()
        expect(client.next_event().type == mtop.EVENT_END_OF_INPUT, "client end of input")
        print("  both sides: end of input")


def run_rejected(lib: mtop.Library, mode: int) -> None:
    name = "reply" if mode == mtop.REJECT_REPLY else "stealth"
    print(f"case {2 if mode == mtop.REJECT_REPLY else 3}: wrong password, {name} mode")
    with mtop.ClientHandshake(lib, b"alice", b"guess", mtop.Target.domain("example.com", 80)) \
            as client, mtop.ServerHandshake(lib) as server:
        out = client.pending_output()
        client.consume_output(len(out))
        server.feed(out)
        expect(not server_check(server), "wrong password refused")
        server.reject(mtop.STATUS_AUTH_FAILED, mode)
        expect_error(mtop.ERR_INVALID_STATE, server.accept)
        reply = server.pending_output()
        expect(len(reply) == (2 if mode == mtop.REJECT_REPLY else 0), "reply bytes")
        client.feed(reply)
        ev = client.next_event()
        if ev.type == mtop.EVENT_NEED_DATA:  # no status: only the close tells the client
            client.feed_eof()
            ev = client.next_event()
        if mode == mtop.REJECT_REPLY:
            expect(ev.type == mtop.EVENT_REJECTED and ev.status == mtop.STATUS_AUTH_FAILED,
                   "client sees the status")
            print(f"  client: rejected, status {ev.status}")
        else:
            expect(ev.type == mtop.EVENT_CLOSED_WITHOUT_STATUS
                   and ev.error == mtop.ERR_PEER_CLOSED, "client sees a silent close")
            print(f"  client: closed without a status ({lib.strerror(ev.error)})")


def run_codecs(lib: mtop.Library) -> None:
    print("codecs and errors")
    target = mtop.Target.ip("2001:db8::1", 443)
    wire = mtop.encode_auth(lib, b"bob", b"pw", target)
    expect(len(wire) == 3 + 3 + 1 + 2 + 1 + 16 + 2, "IPv6 auth message size")
    for n in range(len(wire)):
        expect(mtop.decode_auth(lib, wire[:n]) == (None, 0), f"prefix {n} needs more")
    req, size = mtop.decode_auth(lib, wire + b"trailing")
    expect(size == len(wire) and req == mtop.AuthRequest(b"bob", b"pw", target), "decoded")
    expect(mtop.decode_response(lib, mtop.encode_response(lib, mtop.STATUS_CONNECT_FAILED))
           == (mtop.STATUS_CONNECT_FAILED, 2), "response round trip")
    expect_error(mtop.ERR_BAD_VERSION, mtop.decode_auth, lib, b"\x02")
    expect_error(mtop.ERR_BAD_METHOD, mtop.decode_auth, lib, b"\x01\x02")
    expect_error(mtop.ERR_BAD_STATUS, mtop.decode_response, lib, b"\x01\x07")
    expect_error(mtop.ERR_INVALID_ARGUMENT, mtop.encode_auth, lib, b"", b"pw", target)
    expect_error(mtop.ERR_INVALID_ARGUMENT, mtop.encode_response, lib, mtop.STATUS_SUCCESS + 9)
    with mtop.ServerHandshake(lib) as server:
        server.feed(b"\x01\x01\x00")
        ev = server.next_event()
        expect(ev.type == mtop.EVENT_ERROR and ev.error == mtop.ERR_BAD_USERNAME, "bad bytes")
        expect_error(mtop.ERR_INVALID_STATE, server.feed, b"x")
    print(f"  {lib.strerror(mtop.ERR_BAD_USERNAME)!r} and friends reported as expected")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", help="path of libmtop.so (default: $MTOP_LIBRARY)")
    args = parser.parse_args()
    lib = mtop.load(args.library)
    print(f"libmtop {lib.version()}")
    run_success(lib)
    run_rejected(lib, mtop.REJECT_REPLY)
    run_rejected(lib, mtop.REJECT_STEALTH)
    run_codecs(lib)
    print("all cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
