#!/usr/bin/env python3
"""proxy_example.py - a SOCKS5 and an HTTP proxy request parsed through libmtop's C API.

What a climber does with a local application's first bytes, from Python (ctypes):
  1. SOCKS5 with RFC 1929 credentials, everything pipelined, fed whole and byte by byte:
     AUTH -> check -> REQUEST (target) -> PAYLOAD (early bytes) -> accept with a bound address;
  2. SOCKS5 with a wrong password, and a BIND request: the machine's own failure replies;
  3. HTTP CONNECT with Basic credentials -> 200; an absolute-form GET -> the forwarded head;
  4. a malformed HTTP head -> ERROR, answered with 400; a version the module refuses;
  5. the climber's pipeline without I/O: SOCKS5 -> MTop client handshake -> server handshake.
Every result is asserted; exits non-zero on a mismatch.
Usage: proxy_example.py [--library PATH]  (else $MTOP_LIBRARY, else libmtop.so).
"""

import argparse
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mtop  # noqa: E402


def expect(cond: bool, what: str) -> None:
    if not cond:  # not `assert`: it disappears under python -O
        raise SystemExit(f"check failed: {what}")


def feed(machine, data: bytes, byte_by_byte: bool) -> list:
    """Feeds `data` (whole or one byte per call) and returns every event up to NEED_DATA,
    consecutive payloads merged."""
    events = []
    chunks = [data[i:i + 1] for i in range(len(data))] if byte_by_byte else [data]
    for chunk in chunks:
        expect(machine.feed(chunk) == len(chunk), "every byte consumed")
        while True:
            ev = machine.next_event()
            if ev.type == mtop.PROXY_EVENT_NEED_DATA:
                break
            if events and ev.type == events[-1].type == mtop.PROXY_EVENT_PAYLOAD:
                events[-1] = mtop.ProxyEvent(ev.type, data=events[-1].data + ev.data)
            else:
                events.append(ev)
            if ev.type in (mtop.PROXY_EVENT_ERROR, mtop.PROXY_EVENT_END_OF_INPUT):
                return events
    return events


def take_output(machine) -> bytes:
    out = machine.pending_output()
    machine.consume_output(len(out))
    return out


USERS = {b"alice": b"s3cret"}


def run_socks5(lib: mtop.Library, byte_by_byte: bool) -> None:
    how = "byte by byte" if byte_by_byte else "whole"
    print(f"SOCKS5 with credentials, pipelined, fed {how}")
    greeting = b"\x05\x01\x02"
    auth = b"\x01\x05alice\x06s3cret"
    connect = b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"
    early = b"\x16\x03\x01 client hello"
    with mtop.Socks5Server(lib, username_password=True) as s:
        events = feed(s, greeting + auth + connect + early, byte_by_byte)
        expect(len(events) == 1 and events[0].type == mtop.PROXY_EVENT_AUTH, "AUTH first")
        ok = USERS.get(events[0].username) == events[0].password
        expect(ok, "alice's password checks out")
        s.accept_credentials()
        expect(take_output(s) == b"\x05\x02\x01\x00", "method 0x02 and auth success")
        events = feed(s, b"", False)
        expect([e.type for e in events] == [mtop.PROXY_EVENT_REQUEST, mtop.PROXY_EVENT_PAYLOAD],
               f"REQUEST then PAYLOAD, got {events}")
        expect(events[0].target == mtop.Target.domain("example.com", 443), "target")
        expect(events[1].data == early, "early bytes kept in order")
        print(f"  request for {events[0].target.host}:{events[0].target.port}, "
              f"{len(events[1].data)} early bytes")
        s.accept(mtop.Target.ip("127.0.0.1", 1080))
        expect(take_output(s) == b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38", "success reply")
        expect(feed(s, b"more", byte_by_byte)[0].data == b"more", "pass-through")


def run_socks5_failures(lib: mtop.Library) -> None:
    print("SOCKS5 failures")
    with mtop.Socks5Server(lib, username_password=True) as s:
        events = feed(s, b"\x05\x01\x02\x01\x05alice\x05guess", False)
        expect(USERS.get(events[0].username) != events[0].password, "wrong password")
        s.reject_credentials()
        expect(take_output(s) == b"\x05\x02\x01\x01", "auth failure status")
        ev = s.next_event()
        expect(ev.type == mtop.PROXY_EVENT_ERROR and ev.error == mtop.ERR_SOCKS_AUTH_FAILED,
               "ERROR SOCKS_AUTH_FAILED")
        print(f"  wrong password: {lib.strerror(ev.error)}")
    with mtop.Socks5Server(lib) as s:
        events = feed(s, b"\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50", True)
        expect(events[-1].error == mtop.ERR_SOCKS_COMMAND_NOT_SUPPORTED, "BIND refused")
        expect(take_output(s) == b"\x05\x00\x05\x07\x00\x01" + bytes(6), "reply 0x07")
        try:
            s.feed(b"x")
            raise SystemExit("check failed: feed after ERROR")
        except mtop.MtopError as e:
            expect(e.code == mtop.ERR_INVALID_STATE, "feed after ERROR is INVALID_STATE")
        print(f"  BIND: {lib.strerror(events[-1].error)}")


def run_http(lib: mtop.Library, byte_by_byte: bool) -> None:
    how = "byte by byte" if byte_by_byte else "whole"
    print(f"HTTP proxy requests, fed {how}")
    basic = base64.b64encode(b"alice:s3cret").decode()
    head = (f"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
            f"Proxy-Authorization: Basic {basic}\r\n\r\n").encode()
    with mtop.HttpProxy(lib) as p:
        events = feed(p, head + b"\x16\x03", byte_by_byte)
        req = events[0]
        expect(req.type == mtop.PROXY_EVENT_REQUEST and req.connect and req.method == "CONNECT",
               "CONNECT request")
        expect(req.target == mtop.Target.domain("example.com", 443), "CONNECT target")
        expect(req.auth == mtop.HTTP_AUTH_BASIC and USERS.get(req.username) == req.password,
               "Basic credentials")
        expect(events[1].data == b"\x16\x03", "tunnel bytes after the head")
        p.accept()
        expect(take_output(p) == b"HTTP/1.1 200 Connection established\r\n\r\n", "200")
        print(f"  CONNECT {req.target.host}:{req.target.port} by {req.username.decode()}: 200")
    head = (b"GET http://example.com/index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n"
            b"Proxy-Connection: keep-alive\r\nUser-Agent: test\r\n\r\n")
    with mtop.HttpProxy(lib) as p:
        (req,) = feed(p, head, byte_by_byte)
        expect(not req.connect and req.auth == mtop.HTTP_AUTH_ABSENT, "forward, no credentials")
        expect(req.target == mtop.Target.domain("example.com", 80), "port 80 by default")
        expect(req.forward_head == b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n"
               b"User-Agent: test\r\nConnection: close\r\n\r\n", "forwarded head")
        p.reject(mtop.HTTP_STATUS_PROXY_AUTH_REQUIRED)  # say credentials are required here
        out = take_output(p)
        expect(out.startswith(b"HTTP/1.1 407 ") and b"Proxy-Authenticate: Basic" in out, "407")
        print(f"  GET {req.target.host}: {out.splitlines()[0].decode()}")


def run_http_failures(lib: mtop.Library) -> None:
    print("HTTP failures and the version guard")
    with mtop.HttpProxy(lib) as p:
        (ev,) = feed(p, b"GET https://example.com/ HTTP/1.1\r\n\r\n", True)
        expect(ev.type == mtop.PROXY_EVENT_ERROR and ev.error == mtop.ERR_HTTP_UNSUPPORTED,
               "https:// is unsupported")
        p.reject(mtop.HTTP_STATUS_BAD_REQUEST)
        expect(take_output(p).startswith(b"HTTP/1.1 400 Bad Request\r\n"), "400 after ERROR")
        print(f"  https:// target: {lib.strerror(ev.error)} -> 400")
    with mtop.HttpProxy(lib) as p:
        p.feed(b"CONNECT exa")
        p.feed_eof()
        ev = p.next_event()
        expect(ev.error == mtop.ERR_PEER_CLOSED, "EOF inside the head")
    try:
        mtop.check_version("9.0.0")
        raise SystemExit("check failed: an incompatible version was accepted")
    except mtop.MtopVersionError as e:
        print(f"  version guard: {e}")


def run_climber_pipeline(lib: mtop.Library) -> None:
    """The climber's job with no I/O: a SOCKS5 request's target and early bytes go into an MTop
    client handshake, a server handshake accepts, and only then does the SOCKS5 client get
    its success reply; the answer flows back."""
    print("SOCKS5 -> MTop client -> MTop server, all sans-IO")
    with mtop.Socks5Server(lib) as socks, mtop.ServerHandshake(lib) as server:
        events = feed(socks, b"\x05\x01\x00" b"\x05\x01\x00\x01\x0a\x00\x00\x07\x00\x50"
                      b"GET / HTTP/1.1\r\n\r\n", False)
        expect([e.type for e in events] == [mtop.PROXY_EVENT_REQUEST, mtop.PROXY_EVENT_PAYLOAD],
               "request and early bytes")
        target = events[0].target
        with mtop.ClientHandshake(lib, b"alice", b"s3cret", target) as client:
            client.send_payload(events[1].data)  # early data behind the auth message
            wire = take_output(client)
            expect(server.feed(wire) == len(wire), "server took the auth message")
            ev = server.next_event()
            expect(ev.type == mtop.EVENT_AUTH_REQUEST and ev.request.target == target,
                   "the SOCKS5 target reached the server")
            server.wipe_password()
            server.accept()
            ev = server.next_event()
            expect(ev.type == mtop.EVENT_PAYLOAD and ev.data == b"GET / HTTP/1.1\r\n\r\n",
                   "early bytes reached the server")
            client.feed(take_output(server) + b"HTTP/1.1 204 No Content\r\n\r\n")
            expect(client.next_event().type == mtop.EVENT_ESTABLISHED, "tunnel open")
            answer = client.next_event().data
        socks.accept()  # only now: the tunnel is up
        reply = take_output(socks)
        expect(reply == b"\x05\x00" b"\x05\x00\x00\x01" + bytes(6), "method + success reply")
        expect(answer.startswith(b"HTTP/1.1 204"), "the answer for the SOCKS5 client")
        print(f"  {target.host}:{target.port} via MTop: {answer.splitlines()[0].decode()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", help="path of libmtop.so (default: $MTOP_LIBRARY)")
    args = parser.parse_args()
    lib = mtop.load(args.library)
    print(f"libmtop {lib.version()}")
    for byte_by_byte in (False, True):
        run_socks5(lib, byte_by_byte)
        run_http(lib, byte_by_byte)
    run_socks5_failures(lib)
    run_http_failures(lib)
    run_climber_pipeline(lib)
    print("all cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
