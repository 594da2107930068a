"""The HTTP/3 site on the QUIC port (issue 9, docs/PROTOCOL.md section 10): an HTTP/3 client
(Debian's ngtcp2-client, `gtlsclient`) gets the fallback backend's pages byte for byte on the
QUIC port while climbers carry tunnels there; failed logins end on the site, never in a tunnel;
`quic_mtop_alpn` lets old climbers (ALPN mtop/1) in, or not."""
import functools
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import DeploymentTest, echo_handler, free_port, recv_exact, socks5_connect, wait_for
from test_chromium import CHROMIUM, MARKER, _SiteHandler, dump_dom
from test_fallback import PAGES, WebBackend, auth_message, curl_bytes
from test_quic import spki_pin

GTLSCLIENT = shutil.which("gtlsclient")
PROBE_BIN = os.environ.get("MTOP_QUIC_PROBE_BIN", "quic_probe")
# How an HTTP/3 server ends a connection over a malformed request: an HTTP/3 (0x100-0x110) or
# QPACK (0x200-0x202) error code in CONNECTION_CLOSE, never an MTop code (0x0-0x6).
H3_CLOSE = re.compile(r"closed by peer: 0x(10[0-9a-f]|110|20[0-2]) ")


def probe(port, ca, data, fin=False, alpn=None, wait_ms=8000):
    """Sends `data` on one QUIC stream (quic_probe) and returns its one-line verdict."""
    argv = [PROBE_BIN, str(port), ca, data.hex(), "--wait-ms", str(wait_ms)]
    if fin:
        argv.append("--fin")
    if alpn:
        argv += ["--alpn", alpn]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=wait_ms / 1000 + 20)
    if r.returncode != 0:
        raise AssertionError(f"quic_probe failed: {r.stderr}")
    return r.stdout.strip()


class _EchoPostHandler(http.server.SimpleHTTPRequestHandler):
    """GET: the folder's files; POST: the request body back (Content-Length framed)."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def h3_get(port, path, timeout=60, upload=None, quiet=False, stay=False):
    """Fetches https://localhost:PORT/PATH over HTTP/3 with ngtcp2's example client (a POST of
    the file `upload` when given; `quiet`: no packet trace, which slows big transfers down;
    `stay`: the client keeps the connection after the response, until the server closes it or
    10 idle seconds); returns (exit code, body bytes, output)."""
    out_dir = tempfile.mkdtemp(prefix="mtop-h3-")
    extra = ["-m", "POST", "-d", upload] if upload else []
    if quiet:
        extra.append("-q")
    if not stay:
        extra.append("--exit-on-all-streams-close")
    try:
        r = subprocess.run([GTLSCLIENT, f"--download={out_dir}",
                            "--timeout=10s"] + extra + ["127.0.0.1", str(port),
                            f"https://localhost:{port}/{path}"],
                           capture_output=True, timeout=timeout)
        name = os.path.basename(path) or "index.html"
        body_path = os.path.join(out_dir, name)
        body = None
        if os.path.exists(body_path):
            with open(body_path, "rb") as f:
                body = f.read()
        return r.returncode, body, (r.stdout + r.stderr).decode(errors="replace")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


@unittest.skipUnless(GTLSCLIENT, "gtlsclient (Debian package ngtcp2-client) is not installed")
class H3Test(DeploymentTest):
    def setUp(self):
        super().setUp()
        self.d.add_user("alice", "right")
        self.mtop_target = self.target(echo_handler)
        self.web = WebBackend(self.d.dir)
        self.addCleanup(self.web.close)
        self.web.server.RequestHandlerClass = functools.partial(_EchoPostHandler,
                                                                directory=self.d.dir)

    def start(self, **over):
        return self.d.start_server(allow_targets=["127.0.0.1/32"],
                                   fallback={"backend": f"127.0.0.1:{self.web.port}"}, **over)

    def climber(self, server, password="right", **over):
        socks = free_port()
        c = self.d.start_climber(server.port, "alice", password, "quic",
                                 socks=f"127.0.0.1:{socks}", **over)
        c.socks = socks
        return c

    def tunnel_echoes(self, climber):
        s, code = socks5_connect(climber.socks, "127.0.0.1", self.mtop_target.port, timeout=30)
        if code != 0:
            s.close()
            return False
        s.sendall(b"climbing")
        ok = recv_exact(s, 8) == b"climbing"
        s.close()
        return ok


class Pages(H3Test):
    def test_http3_client_gets_the_pages_byte_for_byte_while_a_climber_tunnels(self):
        server = self.start()
        climber = self.climber(server)
        # A tunnel open across the page fetches: both kinds share the port at once.
        s, code = socks5_connect(climber.socks, "127.0.0.1", self.mtop_target.port, timeout=30)
        self.assertEqual(code, 0)
        for name, body in PAGES.items():
            direct = curl_bytes([f"http://127.0.0.1:{self.web.port}/{name}"])
            self.assertEqual(direct, body)
            rc, got, out = h3_get(server.port, name)
            self.assertEqual(rc, 0, out)
            self.assertEqual(got, direct, f"{name} over HTTP/3")
        s.sendall(b"climbing")
        self.assertEqual(recv_exact(s, 8), b"climbing")
        s.close()
        # A body larger than every buffer on the way (back-pressure both ways), and a POST.
        big = os.urandom(3 << 20)
        with open(os.path.join(self.d.dir, "big.bin"), "wb") as f:
            f.write(big)
        t0 = time.monotonic()
        rc, got, out = h3_get(server.port, "big.bin", quiet=True)
        self.assertEqual(rc, 0, out[-2000:])
        self.assertTrue(got == big, "big.bin over HTTP/3 differs")
        rc, got, out = h3_get(server.port, "echo", upload=os.path.join(self.d.dir, "big.bin"),
                              quiet=True)
        self.assertEqual(rc, 0, out[-2000:])
        self.assertTrue(got == big, "the POST body came back different")
        self.assertLess(time.monotonic() - t0, 30, "6 MiB over loopback")
        # The backend's 404 is the site's 404.
        rc, _, out = h3_get(server.port, "missing")
        self.assertIn(":status: 404", out)
        self.assertTrue(self.tunnel_echoes(climber))
        self.assertEqual(self.mtop_target.connections, 2)

    def test_unreachable_backend_gives_502(self):
        dead = free_port()
        server = self.d.start_server(allow_targets=["127.0.0.1/32"],
                                     fallback={"backend": f"127.0.0.1:{dead}"})
        rc, _, out = h3_get(server.port, "index.html")
        self.assertIn(":status: 502", out)

    def test_without_a_fallback_no_site_is_served(self):
        server = self.d.start_server(allow_targets=["127.0.0.1/32"])
        rc, got, out = h3_get(server.port, "index.html")
        self.assertFalse(got, out)  # nothing, not even a status
        self.assertNotIn(":status:", out)
        self.assertIn("0x3", out, "closed like any failed MTop connection (REFUSED)")
        # Climbers are unaffected.
        self.assertTrue(self.tunnel_echoes(self.climber(server)))


class FailedLogins(H3Test):
    def test_wrong_password_and_unknown_user_end_on_the_site_never_in_a_tunnel(self):
        server = self.start()
        for user, password in (("alice", "wrong"), ("mallory", "right")):
            with self.subTest(user=user):
                socks = free_port()
                c = self.d.start_climber(server.port, user, password, "quic",
                                         socks=f"127.0.0.1:{socks}")
                s, code = socks5_connect(socks, "127.0.0.1", self.mtop_target.port, timeout=30)
                s.close()
                self.assertNotEqual(code, 0)
                c.stop()
        # The auth message was replayed into HTTP/3, which found no valid request in it: the
        # connection ends with an HTTP/3 error, as any malformed request would.
        wait_for(lambda: server.log().count("fallback up=") >= 2, 15, "two fallbacks logged")
        log = server.log()
        self.assertIn("failure=auth_failed", log)
        self.assertNotIn("tunnel user=", log)
        self.assertEqual(self.mtop_target.connections, 0, "no byte may reach an MTop target")
        # The site keeps serving, and a right password still tunnels.
        rc, got, out = h3_get(server.port, "index.html")
        self.assertEqual(got, PAGES["index.html"], out)
        self.assertTrue(self.tunnel_echoes(self.climber(server)))


class RawFailures(H3Test):
    """The acceptance cases, sent as raw bytes on a QUIC stream (ALPN h3)."""

    def test_bad_version_truncated_garbage_and_wrong_password_end_on_the_site(self):
        # The handshake time-out also bounds the password check: a cheap hash leaves it room
        # on a loaded machine (at the default cost it took over 3 s in test_fallback.py), and
        # 3 s is short for the truncated case.
        self.d.add_user("alice", "right", cheap_hash=True)
        server = self.start(timeouts={"handshake": 3})
        port = self.mtop_target.port
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
        cases = {
            "bad version": (auth_message("alice", "right", port, version=2) + request, True),
            "wrong password": (auth_message("alice", "wrong", port) + request, True),
            "unknown user": (auth_message("mallory", "right", port) + request, True),
            "truncated": (auth_message("alice", "right", port)[:9], False),
        }
        for name, (data, fin) in cases.items():
            with self.subTest(name):
                t0 = time.monotonic()
                verdict = probe(server.port, self.d.cert, data, fin=fin)
                # Replayed into HTTP/3, those bytes are no valid request: an HTTP/3 error.
                self.assertRegex(verdict, H3_CLOSE, name)
                if name == "truncated":  # decided when the handshake time-out ends the wait
                    self.assertGreater(time.monotonic() - t0, 2.5)
        # Garbage that HTTP/3 reads as an unknown frame: no MTop answer comes back either.
        verdict = probe(server.port, self.d.cert, b"\x21\x40\x80" + os.urandom(64), wait_ms=3000)
        self.assertNotIn("reset by peer", verdict)
        self.assertEqual(self.mtop_target.connections, 0, "no byte may reach an MTop target")
        # A stream's line is written when it ends, which can be after the probe has gone.
        wait_for(lambda: server.log().count("fallback up=") >= 5, 15, "five fallbacks logged")
        log = server.log()
        self.assertEqual(log.count("fallback up="), 5, log[-3000:])
        for failure in ("protocol_error", "auth_failed", "handshake_timeout"):
            self.assertIn("failure=" + failure, log)
        self.assertNotIn("tunnel user=", log)
        # The right password on the same kind of stream is a tunnel, early data included.
        verdict = probe(server.port, self.d.cert, auth_message("alice", "right", port) + b"ping",
                        fin=True)
        self.assertEqual(verdict, "data 6\neof")
        self.assertEqual(self.mtop_target.connections, 1)

    def test_without_a_fallback_failures_keep_the_stealth_resets(self):
        server = self.d.start_server(allow_targets=["127.0.0.1/32"])
        verdict = probe(server.port, self.d.cert,
                        auth_message("alice", "right", 9, version=2), fin=True)
        self.assertEqual(verdict, "error: reset by peer: 0x2 (PROTOCOL_ERROR)")


class MtopAlpn(H3Test):
    def test_old_climbers_get_in_while_the_switch_is_on_and_not_after(self):
        server = self.start()
        old = self.climber(server, quic_alpn="mtop/1")
        self.assertTrue(self.tunnel_echoes(old))
        closed = self.start(quic_mtop_alpn=False)
        refused = self.climber(closed, quic_alpn="mtop/1")
        s, code = socks5_connect(refused.socks, "127.0.0.1", self.mtop_target.port, timeout=30)
        s.close()
        self.assertNotEqual(code, 0)
        wait_for(lambda: "quic: cannot connect" in refused.log(), 15, "the refusal in the log")
        self.assertIn("No supported application protocol", refused.log())
        # ... while climbers offering h3 and the site work there.
        self.assertTrue(self.tunnel_echoes(self.climber(closed)))
        rc, got, out = h3_get(closed.port, "index.html")
        self.assertEqual(got, PAGES["index.html"], out)
        self.assertEqual(self.mtop_target.connections, 2)


def _read_head(sock):
    """Reads a request up to the end of its head; None when the connection ends first."""
    got = b""
    while b"\r\n\r\n" not in got:
        data = sock.recv(65536)
        if not data:
            return None
        got += data
    return got


def _silent_backend(head=b""):
    """A backend handler that reads the request, sends `head` (nothing, or a response cut
    short), then stays silent until the server closes the connection; the target records when
    that close came (`closed_at`)."""

    def handler(sock, target):
        if _read_head(sock) is None:
            return
        sock.sendall(head)
        while sock.recv(65536):
            pass
        with target.lock:
            target.closed_at.append(time.monotonic())

    return handler


class BackendTimeout(H3Test):
    """A backend that accepts and never answers, or stalls mid-response, holds nothing for
    longer than `timeouts.idle` (the TLS port's fallback relay's idle time-out)."""

    def silent(self, head=b""):
        t = self.target(_silent_backend(head))
        t.closed_at = []
        server = self.d.start_server(allow_targets=["127.0.0.1/32"],
                                     fallback={"backend": f"127.0.0.1:{t.port}"},
                                     timeouts={"idle": 2})
        return t, server

    def test_a_backend_that_never_answers_gives_504_after_the_idle_time_out(self):
        backend, server = self.silent()
        t0 = time.monotonic()
        rc, got, out = h3_get(server.port, "index.html")
        took = time.monotonic() - t0
        self.assertIn(":status: 504", out)
        self.assertFalse(got)
        self.assertGreater(took, 1.5)
        self.assertLess(took, 9, "answered by the idle time-out, not the client's own")
        # The backend's connection was closed by the server, not left open.
        wait_for(lambda: backend.closed_at, 5, "the backend connection closed")
        self.assertLess(backend.closed_at[0] - t0, 9)
        # A climber on the same port is not affected.
        self.assertTrue(self.tunnel_echoes(self.climber(server)))

    def test_a_backend_that_stalls_mid_response_gets_the_stream_reset(self):
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000
        backend, server = self.silent(head)
        t0 = time.monotonic()
        rc, got, out = h3_get(server.port, "index.html")
        took = time.monotonic() - t0
        self.assertIn(":status: 200", out)
        self.assertNotEqual(got, b"x" * 100000, "the body cannot be complete")
        # The stream is reset with H3_INTERNAL_ERROR (0x102) once the backend was silent.
        self.assertRegex(out, r"RESET_STREAM\(0x04\) id=0x0 app_error_code=\S*\(0x102\)", out[-3000:])
        self.assertLess(took, 9)
        wait_for(lambda: backend.closed_at, 5, "the backend connection closed")


def _control_stream_frames(trace):
    """The HTTP/3 frames (type, payload) the server sent on its control stream (id 3), read from
    gtlsclient's trace (its hex dumps of ordered stream data)."""
    data, lines = b"", iter(trace.splitlines())
    for line in lines:
        if line.strip() != "Ordered STREAM data stream_id=0x3":
            continue
        for dump in lines:
            m = re.match(r"^[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2})+)", dump)
            if not m:
                break
            data += bytes.fromhex(m.group(1).replace(" ", ""))

    return h3_frames(data[1:])  # after the stream type (0x00: control)


def _slow_backend(arrived, body):
    """A backend handler that reads the request, tells `arrived`, waits 2 s, then answers
    `body` whole."""

    def handler(sock, target):
        if _read_head(sock) is None:
            return
        arrived.set()
        time.sleep(2)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        sock.shutdown(socket.SHUT_WR)

    return handler


class Drain(H3Test):
    def test_a_drain_sends_goaway_lets_the_request_finish_then_closes(self):
        arrived, body = threading.Event(), os.urandom(50_000)
        backend = self.target(_slow_backend(arrived, body))
        server = self.d.start_server(allow_targets=["127.0.0.1/32"],
                                     fallback={"backend": f"127.0.0.1:{backend.port}"},
                                     timeouts={"drain": 20})
        result = {}
        fetch = threading.Thread(target=lambda: result.update(
            zip(("rc", "body", "out"), h3_get(server.port, "slow.bin", stay=True))))
        fetch.start()
        self.assertTrue(arrived.wait(30), "the request reached the backend")
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        fetch.join(60)
        self.assertFalse(fetch.is_alive())
        out = result["out"]
        # The request under way finished, whole, after the drain began; then the server, not
        # the client's idle time-out, ended the connection.
        self.assertTrue(result["body"] == body, "the response body differs\n" + out[-3000:])
        self.assertGreater(time.monotonic() - t0, 1.0)
        self.assertLess(time.monotonic() - t0, 9.0)
        # GOAWAY (type 7) twice: the shutdown notice (the largest id), then the first request
        # id not processed (4: request 0 was).
        goaways = [f[1] for f in _control_stream_frames(out) if f[0] == 7]
        self.assertEqual(goaways, [bytes.fromhex("fffffffffffffffc"), b"\x04"], out[-3000:])
        # Then the server closed the connection with H3_NO_ERROR (0x100).
        self.assertTrue(re.search(r"frm rx \d+ 1RTT CONNECTION_CLOSE\(0x1d\) "
                                  r"error_code=\S*\(0x100\)", out), out[-3000:])
        # And the server finished its drain and exited cleanly.
        wait_for(lambda: not server.alive(), 30, "mtop-server to exit")
        self.assertEqual(server.proc.returncode, 0, server.log()[-3000:])


def _varint(n):
    """A QUIC variable-length integer (RFC 9000 section 16)."""
    for size, flag in ((1, 0), (2, 0x40), (4, 0x80), (8, 0xc0)):
        if n < 1 << (8 * size - 2):
            b = n.to_bytes(size, "big")
            return bytes([b[0] | flag]) + b[1:]
    raise ValueError(n)


def _qpack_int(first, prefix_bits, n):
    """A QPACK/HPACK prefixed integer (RFC 7541 section 5.1), `first`'s high bits kept."""
    limit = (1 << prefix_bits) - 1
    if n < limit:
        return bytes([first | n])
    out, n = bytearray([first | limit]), n - limit
    while n >= 128:
        out.append((n & 0x7f) | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


# QPACK static table (RFC 9204 appendix A) entries used here.
_STATIC_FIELDS = {(":method", "GET"): 17, (":method", "POST"): 20, (":scheme", "https"): 23}
_STATIC_NAMES = {":authority": 0, ":path": 1, "content-length": 4}


def h3_headers(fields):
    """An HTTP/3 HEADERS frame with `fields` QPACK-encoded without the dynamic table: static
    entries, static name references, or literal names; no Huffman coding."""
    block = bytearray(b"\x00\x00")  # Required Insert Count 0, Base 0
    for name, value in fields:
        v = value.encode()
        if (name, value) in _STATIC_FIELDS:
            block += _qpack_int(0xc0, 6, _STATIC_FIELDS[(name, value)])
            continue
        if name in _STATIC_NAMES:
            block += _qpack_int(0x50, 4, _STATIC_NAMES[name])
        else:
            block += _qpack_int(0x20, 3, len(name)) + name.encode()
        block += _qpack_int(0x00, 7, len(v)) + v
    return _varint(1) + _varint(len(block)) + bytes(block)


def h3_data(body):
    return _varint(0) + _varint(len(body)) + body


def h3_frames(data):
    """(type, payload) of each HTTP/3 frame in `data`."""
    frames, at = [], 0
    while at < len(data):
        ftype, at = _read_varint(data, at)
        length, at = _read_varint(data, at)
        frames.append((ftype, data[at:at + length]))
        at += length
    return frames


def _read_varint(data, at):
    n = 1 << (data[at] >> 6)
    return int.from_bytes(bytes([data[at] & 0x3f]) + data[at + 1:at + n], "big"), at + n


def _endless_backend(sock, target):
    """A backend that answers any request with a body that never ends (until its connection is
    closed); the target records when the server closed it (`closed_at`) and bytes sent."""
    if _read_head(sock) is None:
        return
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
    block = b"z" * 16384
    try:
        while True:
            sock.sendall(block)
            target.count(len(block))
    except OSError:
        pass
    with target.lock:
        target.closed_at.append(time.monotonic())


class StreamEnds(H3Test):
    """How a request stream may end from the client's side: STOP_SENDING (a cancelled request)
    and trailers, sent by quic_probe as raw HTTP/3 on one stream."""

    def request(self, port, fields, body=b"", trailers=None, **kw):
        data = h3_headers(fields) + (h3_data(body) if body else b"")
        if trailers:
            data += h3_headers(trailers)
        argv = [PROBE_BIN, str(port), self.d.cert, data.hex(), "--h3", "--dump", "--fin",
                "--wait-ms", "10000"]
        for k, v in kw.items():
            argv += ["--" + k.replace("_", "-"), str(v)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=40)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip().splitlines()

    def test_request_trailers_are_accepted_and_ignored(self):
        server = self.start(timeouts={"handshake": 3})
        body = os.urandom(3000)
        fields = [(":method", "POST"), (":scheme", "https"), (":authority", "localhost"),
                  (":path", "/echo"), ("content-length", str(len(body)))]
        lines = self.request(server.port, fields, body, [("x-checksum", "abc123")])
        self.assertEqual(lines[-1], "eof", lines)
        frames = h3_frames(bytes.fromhex(lines[-2].split()[1]))
        self.assertEqual(frames[0][0], 1)  # HEADERS
        self.assertEqual(frames[0][1][2], 0xc0 | 25, "indexed :status 200")
        self.assertEqual(b"".join(p for t, p in frames if t == 0), body)
        # The connection lives on: the site and climbers keep working.
        rc, got, out = h3_get(server.port, "index.html")
        self.assertEqual(got, PAGES["index.html"], out[-2000:])

    def test_a_body_without_content_length_goes_chunked_and_no_body_goes_without(self):
        def handler(sock, target):
            got = b""
            while not (got.endswith(b"0\r\n\r\n") or
                       (b"\r\n\r\n" in got and b"chunked" not in got)):
                data = sock.recv(65536)
                if not data:
                    break
                got += data
            with target.lock:
                target.seen.append(got)
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        backend = self.target(handler)
        backend.seen = []
        server = self.d.start_server(allow_targets=["127.0.0.1/32"],
                                     fallback={"backend": f"127.0.0.1:{backend.port}"},
                                     timeouts={"handshake": 3})
        fields = [(":method", "POST"), (":scheme", "https"), (":authority", "localhost"),
                  (":path", "/up")]
        for body in (b"first part", b""):
            lines = self.request(server.port, fields, body)
            self.assertEqual(lines[-1], "eof", lines)
            frames = h3_frames(bytes.fromhex(lines[-2].split()[1]))
            self.assertEqual(b"".join(p for t, p in frames if t == 0), b"ok")
        head, _, rest = backend.seen[0].partition(b"\r\n\r\n")
        self.assertIn(b"\r\nTransfer-Encoding: chunked\r\n", head + b"\r\n")
        self.assertEqual(rest, b"a\r\nfirst part\r\n0\r\n\r\n")
        head, _, rest = backend.seen[1].partition(b"\r\n\r\n")
        self.assertNotIn(b"Transfer-Encoding", head)
        self.assertEqual(rest, b"")

    def test_stop_sending_closes_the_backend_connection(self):
        backend = self.target(_endless_backend)
        backend.closed_at = []
        server = self.d.start_server(allow_targets=["127.0.0.1/32"],
                                     fallback={"backend": f"127.0.0.1:{backend.port}"},
                                     timeouts={"handshake": 3})
        fields = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
                  (":path", "/endless")]
        for n in (1, 2):  # twice: the server is unharmed by the first
            lines = self.request(server.port, fields, abort_after=1)
            self.assertEqual(lines[-1], "aborted", lines)
            t0 = time.monotonic()
            # The server stopped reading the backend and closed its connection.
            wait_for(lambda: len(backend.closed_at) == n, 10, "the backend connection closed")
            self.assertLess(backend.closed_at[-1] - t0, 5)
        # What the backend got out is bounded by the request's buffers and the socket's, not
        # endless.
        self.assertLess(backend.received, 16 << 20)
        self.assertEqual(backend.connections, 2)


class _HeadRecordingHandler(_SiteHandler):
    """test_chromium's two-file site over plain HTTP, recording each request's field names as
    they arrived on the wire."""

    def do_GET(self):
        with self.server.lock:
            self.server.heads.append((self.path, [name for name, _ in self.headers.items()],
                                      self.headers.get("Connection")))
        super().do_GET()


@unittest.skipUnless(CHROMIUM, "chromium is not installed (scripts/deps.sh --test)")
class Chromium(H3Test):
    """Headless Chromium as a real HTTP/3 client of the QUIC port's site (issue 9)."""

    def setUp(self):
        super().setUp()
        self.site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeadRecordingHandler)
        self.site.daemon_threads = True
        self.site.lock = threading.Lock()
        self.site.requests, self.site.heads = [], []
        threading.Thread(target=self.site.serve_forever, daemon=True).start()
        self.addCleanup(self.site.server_close)
        self.addCleanup(self.site.shutdown)

    def browse(self, port, trust=True):
        # QUIC only for the port's origin (Chromium does not race TCP for a forced origin), the
        # deployment's key trusted (Chromium's QUIC honours the SPKI list like its TLS).
        flags = [f"--origin-to-force-quic-on=127.0.0.1:{port}"]
        if trust:
            flags.append(f"--ignore-certificate-errors-spki-list={spki_pin(self.d.cert)}")
        code, dom, self.last_stderr = dump_dom(f"https://127.0.0.1:{port}/", self.d.dir, flags)
        return code, dom

    def test_chromium_gets_the_site_over_http3_while_a_climber_tunnels(self):
        access = os.path.join(self.d.dir, "access.log")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"],
                                     fallback={"backend": f"127.0.0.1:{self.site.server_port}"},
                                     access_log={"path": access, "format": "json"})
        climber = self.climber(server)
        s, code = socks5_connect(climber.socks, "127.0.0.1", self.mtop_target.port, timeout=30)
        self.assertEqual(code, 0)
        code, dom = self.browse(server.port)
        self.assertEqual(code, 0, self.last_stderr[-3000:])
        self.assertIn(MARKER, dom, f"DOM:\n{dom[:2000]}\nstderr:\n{self.last_stderr[-3000:]}")
        self.assertNotIn("not run", dom)
        # The tunnel opened before the page still carries bytes: both shared the port.
        s.sendall(b"climbing")
        self.assertEqual(recv_exact(s, 8), b"climbing")
        s.close()
        with self.site.lock:
            heads = list(self.site.heads)
        self.assertIn("/", [h[0] for h in heads])
        self.assertIn("/app.js", [h[0] for h in heads])
        # Proof of HTTP/3: each request reached the backend as the server's HTTP/1.1 rewrite of
        # HTTP/3 fields (lower-case names, which HTTP/3 requires, beside the `Host` and
        # `Connection: close` the server writes), not as Chromium's own HTTP/1.1 relayed over
        # TCP (`User-Agent`, `Connection: keep-alive`). Chromium ends a GET's stream after its
        # HEADERS frame: no `Transfer-Encoding: chunked` (an empty body) either ...
        for path, names, connection in heads:
            self.assertEqual(connection, "close", path)
            for name in names:
                if name not in ("Host", "Connection"):
                    self.assertEqual(name, name.lower(), f"{path}: {names}")
        self.assertIn("user-agent", heads[0][1])
        # ... and the server saw no connection on its TCP port: the only records are the
        # climber's tunnel(s), over QUIC.
        wait_for(lambda: os.path.exists(access), 15, "the access log")
        records = [json.loads(l) for l in open(access).read().splitlines() if l.strip()]
        self.assertNotIn("tls", [r["transport"] for r in records], records)

    def test_chromium_refuses_an_untrusted_certificate_over_quic(self):
        server = self.d.start_server(allow_targets=["127.0.0.1/32"],
                                     fallback={"backend": f"127.0.0.1:{self.site.server_port}"})
        _, dom = self.browse(server.port, trust=False)
        self.assertNotIn(MARKER, dom)
        with self.site.lock:
            self.assertFalse(self.site.heads, "no request may reach the site")


if __name__ == "__main__":
    unittest.main()
