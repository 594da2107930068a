"""Reverse tunnels (docs/PROTOCOL.md section 9): a service next to the climber published on a
port of mtop-server with `climber -R` / "reverse", the grace period, permissions, the visitor
rules and the PROXY v2 header. MTOP_TRANSPORT=tls|quic picks the climber's transport: over TLS
visitors ride on ATTACH data connections (9.6; Junk's ATTACH cases are TLS only), over QUIC on
streams the server opens on the climber's connection (9.5; QuicStreams is QUIC only)."""
import datetime
import hashlib
import http.server
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import unittest

from harness import (SERVER_BIN, DeploymentTest, Drain, curl, echo_bulk, echo_handler,
                     firehose_handler, free_port, free_port_block, port_open, recv_all,
                     recv_exact, run, sha_handler, wait_for)
from test_admin import TOKEN, metric, relayed_rate
from test_admin import http as admin_call
from test_quic import wait_quic_listening

PASSWORD = "s3cret-pw"
REVERSE = {"keepalive": 2, "grace": 3, "pool": 2}
TRANSPORT = os.environ.get("MTOP_TRANSPORT", "tls")
# A killed climber: TCP tells the server at once; over QUIC it hears nothing and the
# keep-alive (3 x K = 6 s) ends the control tunnel.
CLIMBER_GONE_S = 10 if TRANSPORT == "tls" else 20
PROBE_BIN = os.environ.get("MTOP_QUIC_PROBE_BIN", "quic_probe")


# A log line's stamp (engine/log.cpp stderr_sink: UTC, milliseconds) and a climber's line for a
# failed reverse attempt (engine/reverse_client.cpp ReverseClient::retry).
LOG_STAMP = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z"
RETRY_LINE = re.compile(LOG_STAMP + r" warn  reverse \S+: .*; retrying in (\d+) s$", re.M)


def log_time(stamp):
    """Seconds since the epoch of a LOG_STAMP."""
    return datetime.datetime.strptime(stamp + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class _Http(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from behind NAT " + self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class ReverseTest(DeploymentTest):
    """A server offering reverse tunnels, user `pub` allowed a port range, `nopub` nothing."""

    def setUp(self):
        super().setUp()
        # A block of free ports for the grant.
        self.port = free_port_block(4)
        self.d.add_user("pub", PASSWORD, publish=f"127.0.0.1:{self.port}-{self.port + 3}")
        self.d.add_user("other", PASSWORD, publish=f"*:{self.port}-{self.port + 3}")
        self.d.add_user("nopub", PASSWORD)

    def start_server(self, **over):
        # One worker, whatever the machine's cores (the default is one per core):
        # test_reverse_workers.py runs these classes again on two.
        cfg = {"reverse": dict(REVERSE), "timeouts": {"recheck": 0.5}, "workers": 1}
        cfg.update(over)
        self.server = self.d.start_server(**cfg)
        if TRANSPORT == "quic":
            wait_quic_listening(self.server)
        return self.server

    def admin_listener(self):
        """The `admin` setting for start_server(): a listener on self.admin_port taking TOKEN."""
        with open(os.path.join(self.d.dir, "admin.token"), "w") as f:
            f.write(TOKEN + "\n")
        self.admin_port = free_port()
        return {"listen": f"127.0.0.1:{self.admin_port}", "token_file": "admin.token"}

    def climber(self, target_port, port=None, user="pub", proxy_protocol=False, extra=None):
        rule = {"bind": "127.0.0.1", "port": self.port if port is None else port,
                "target": f"127.0.0.1:{target_port}", "proxy_protocol": proxy_protocol}
        return self.d.start_climber(self.server.port, user, PASSWORD, TRANSPORT, reverse=[rule],
                                    extra=extra)

    def climber_on_two_ports(self, target_port):
        """A climber publishing self.port and self.port + 1, both to `target_port`, once both
        are published."""
        rule = lambda port: {"bind": "127.0.0.1", "port": port,
                             "target": f"127.0.0.1:{target_port}"}
        c = self.d.start_climber(self.server.port, "pub", PASSWORD, TRANSPORT,
                                 reverse=[rule(self.port), rule(self.port + 1)])
        self.published(c, count=2)
        return c

    def server_logged(self, text, timeout=10):
        """Waits for `text` in the server's log: a line about a closed connection is written
        after the close the test has seen."""
        wait_for(lambda: text in self.server.log(), timeout, repr(text) + " in the server log")

    def published(self, climber, count=1, timeout=15):
        """Waits for the climber's `count`-th "published" line; returns the public port."""
        pattern = re.compile(r"reverse 127\.0\.0\.1:(\d+) -> \S+ published")
        wait_for(lambda: len(pattern.findall(climber.log())) >= count or not climber.alive(),
                 timeout, "the climber to publish")
        found = pattern.findall(climber.log())
        self.assertGreaterEqual(len(found), count, climber.log()[-3000:])
        return int(found[count - 1])

    def http_service(self):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Http)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv.server_address[1]

    def visit(self, port, payload=b"ping", timeout=10):
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            return recv_all(s, timeout)

    def visit_ok(self, port, payload):
        try:
            return self.visit(port, payload) == payload
        except OSError:
            return False

    def refused_at_once(self, port, source="127.0.0.1"):
        """A visitor on `port` (from `source`) gets no byte and is reset (docs/PROTOCOL.md 9.5,
        9.7: an RST, not a FIN) within a second and a half; a port no longer bound refuses the
        connection."""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5,
                                          source_address=(source, 0)) as s:
                s.settimeout(3)
                start = time.monotonic()
                try:
                    s.sendall(b"x")
                    s.recv(100)
                    return False  # bytes or a FIN: not a reset
                except (ConnectionResetError, BrokenPipeError):
                    return time.monotonic() - start < 1.5
        except (ConnectionRefusedError, ConnectionResetError):
            return True


class Http(ReverseTest):
    def test_curl_through_the_public_port(self):
        self.start_server()
        c = self.climber(self.http_service())
        port = self.published(c)
        self.assertEqual(port, self.port)
        for i in range(5):
            code, out, err = curl([f"http://127.0.0.1:{port}/page{i}"])
            self.assertEqual(code, 0, err)
            self.assertEqual(out, f"hello from behind NAT /page{i}")
        # One log line per visitor on the climber; visitors listed as the user's tunnels.
        wait_for(lambda: c.log().count(" visitor 127.0.0.1:") >= 5, 10, "visitor lines")
        self.assertEqual(c.log().count(" visitor 127.0.0.1:"), 5, c.log()[-3000:])
        self.server_logged("user=pub")

    def test_dash_R_on_the_command_line(self):
        """`climber -R BIND:PORT:HOST:HOSTPORT`, twice, with no "reverse" list in the config."""
        self.start_server()
        echo = self.target(echo_handler)
        web = self.http_service()
        c = self.d.start_climber(self.server.port, "pub", PASSWORD, TRANSPORT, extra=[
            "-R", f"127.0.0.1:{self.port + 1}:127.0.0.1:{echo.port}",
            "--reverse", f"127.0.0.1:{self.port + 2}:127.0.0.1:{web}"])
        self.published(c, count=2)
        found = re.findall(r"reverse 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+) published", c.log())
        self.assertEqual(sorted(found), [(str(self.port + 1), str(echo.port)),
                                         (str(self.port + 2), str(web))])
        self.assertEqual(self.visit(self.port + 1, b"by -R"), b"by -R")
        self.assertEqual(echo.received, 5)
        code, out, err = curl([f"http://127.0.0.1:{self.port + 2}/dash-r"])
        self.assertEqual((code, out), (0, "hello from behind NAT /dash-r"), err)

    def test_port_zero_gets_a_granted_port(self):
        self.start_server()
        c = self.climber(self.http_service(), port=0)
        port = self.published(c)
        self.assertTrue(self.port <= port <= self.port + 3, port)
        code, out, _ = curl([f"http://127.0.0.1:{port}/zero"])
        self.assertEqual((code, out), (0, "hello from behind NAT /zero"))


class Bulk(ReverseTest):
    def test_64_mib_each_way(self):
        self.start_server()
        echo = self.target(echo_handler)
        port = self.published(self.climber(echo.port))
        size = 64 << 20
        received, finished, sent, got = echo_bulk(port, size)
        self.assertTrue(finished)
        self.assertEqual(received, size)
        self.assertEqual(got, sent)


class Concurrent(ReverseTest):
    def test_200_visitors_at_once(self):
        self.start_server()
        echo = self.target(echo_handler)
        port = self.published(self.climber(echo.port))
        results = {}

        def one(i):
            msg = f"visitor {i} ".encode() * 100
            try:
                results[i] = self.visit(port, msg, timeout=60) == msg
            except OSError as e:
                results[i] = repr(e)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        bad = {i: r for i, r in results.items() if r is not True}
        self.assertEqual(len(results), 200)
        self.assertEqual(bad, {})


class HalfClose(ReverseTest):
    def test_visitor_half_close_carried_to_the_service(self):
        self.start_server()
        sha = self.target(sha_handler)
        port = self.published(self.climber(sha.port))
        data = os.urandom(300_000)
        self.assertEqual(self.visit(port, data, timeout=30),
                         hashlib.sha256(data).hexdigest().encode())

    def test_service_half_close_carried_to_the_visitor(self):
        """The service speaks first and ends its side (FIN) before the visitor sends a byte;
        the visitor sees the FIN, then still sends, and every byte reaches the service."""
        self.start_server()
        heard = []
        done = threading.Event()

        def service(sock, target):
            sock.sendall(b"banner")
            sock.shutdown(socket.SHUT_WR)
            h, n = hashlib.sha256(), 0
            while data := sock.recv(65536):
                h.update(data)
                n += len(data)
            heard.append((n, h.hexdigest()))
            done.set()

        port = self.published(self.climber(self.target(service).port))
        data = os.urandom(300_000)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as v:
            self.assertEqual(recv_all(v, 10), b"banner")  # and the FIN
            v.sendall(data)
            v.shutdown(socket.SHUT_WR)
            self.assertTrue(done.wait(10), "the service never saw the visitor's FIN")
            self.assertEqual(v.recv(10), b"")  # closed cleanly, not reset
        self.assertEqual(heard, [(len(data), hashlib.sha256(data).hexdigest())])


class Refusals(ReverseTest):
    def test_user_without_permission(self):
        self.start_server()
        c = self.climber(self.target(echo_handler).port, user="nopub")
        wait_for(lambda: "not permitted to publish" in c.log(), 15, "the refusal")
        self.assertFalse(port_open(self.port))
        self.server_logged("failure=target_denied")

    def test_port_outside_the_grant(self):
        self.start_server()
        c = self.climber(self.target(echo_handler).port, port=self.port + 4)
        wait_for(lambda: "not permitted to publish" in c.log(), 15, "the refusal")

    def test_same_port_twice(self):
        self.start_server()
        echo = self.target(echo_handler)
        first = self.climber(echo.port)
        self.published(first)
        second = self.climber(echo.port, user="other")
        wait_for(lambda: "is in use on the server" in second.log(), 15, "port in use")
        # The first keeps carrying visitors.
        self.assertEqual(self.visit(self.port, b"still mine"), b"still mine")


class ClimberKilled(ReverseTest):
    def test_refused_at_once_then_back_within_grace_then_released(self):
        self.start_server()
        echo = self.target(echo_handler)
        c = self.climber(echo.port)
        self.published(c)
        self.assertEqual(self.visit(self.port, b"before"), b"before")
        c.stop(signal.SIGKILL)
        wait_for(lambda: "ended (" in self.server.log(), CLIMBER_GONE_S, "the server to see it")
        self.assertTrue(port_open(self.port))  # still bound in its grace period
        self.assertTrue(self.refused_at_once(self.port))
        # Another user cannot take it during the grace; the same user can.
        other = self.climber(echo.port, user="other")
        wait_for(lambda: "is in use on the server" in other.log(), 10, "other refused")
        other.stop()
        again = self.climber(echo.port)
        self.published(again)
        self.server_logged("taken back in grace")
        self.assertEqual(self.visit(self.port, b"after"), b"after")
        # Gone for good: the port is closed after the grace (3 s).
        again.stop(signal.SIGKILL)
        wait_for(lambda: not port_open(self.port), CLIMBER_GONE_S, "the port to be released")
        self.server_logged("released after its grace period")

    def test_live_visitors_aborted(self):
        """Visitors being carried when the climber dies are reset (9.7): over TLS at once (the
        data connections end with the process), over QUIC when the keep-alive (3 x K = 3 s
        here) ends the control tunnel."""
        self.start_server(reverse=dict(REVERSE, keepalive=1))
        echo = self.target(echo_handler)
        c = self.climber(echo.port)
        self.published(c)
        visitors = []
        for i in range(3):
            v = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            self.addCleanup(v.close)
            v.sendall(b"live %d" % i)
            self.assertEqual(recv_exact(v, 6), b"live %d" % i)
            visitors.append(v)
        c.stop(signal.SIGKILL)
        start = time.monotonic()
        for v in visitors:
            v.settimeout(10)
            with self.assertRaises(ConnectionResetError):
                v.recv(100)
        self.assertLess(time.monotonic() - start, 2 if TRANSPORT == "tls" else 6)

    def test_port_zero_climber_restarted_in_grace(self):
        """A climber that asked for port 0, killed and started again within the grace, asks
        for port 0 again: the server tries the user's ports from the first (9.2) and takes
        back the one in grace for this user (9.7), the port it had."""
        self.start_server(reverse=dict(REVERSE, keepalive=1))
        echo = self.target(echo_handler)
        c = self.climber(echo.port, port=0)
        self.assertEqual(self.published(c), self.port)
        c.stop(signal.SIGKILL)
        wait_for(lambda: "ended (" in self.server.log(), CLIMBER_GONE_S, "the server to see it")
        again = self.climber(echo.port, port=0)
        self.assertEqual(self.published(again), self.port)
        self.server_logged("taken back in grace")
        self.assertEqual(self.visit(self.port, b"same port"), b"same port")

    def test_port_zero_climber_restarted_prefers_its_port_in_grace(self):
        """A new climber asking for port 0 gets its user's port in grace (P + 1) before a lower
        one freed meanwhile (P): the server tries the user's ports in grace first (9.2)."""
        self.start_server(reverse=dict(REVERSE, keepalive=1, grace=30))
        echo = self.target(echo_handler)
        with socket.create_server(("127.0.0.1", self.port)):  # the server cannot bind P
            c = self.climber(echo.port, port=0)
            self.assertEqual(self.published(c), self.port + 1)
        c.stop(signal.SIGKILL)
        wait_for(lambda: "ended (" in self.server.log(), CLIMBER_GONE_S, "the server to see it")
        again = self.climber(echo.port, port=0)
        self.assertEqual(self.published(again), self.port + 1)
        self.server_logged("taken back in grace")
        self.assertEqual(self.visit(self.port + 1, b"its port"), b"its port")
        self.assertFalse(port_open(self.port))

    def test_port_zero_climber_reconnecting_asks_for_its_port(self):
        """A climber given port P for port 0 asks for P when it reconnects (9.7, CLIMBER.md),
        not for any port: P + 1 here, though P, the user's first, is free again by then. The
        climber is stopped (SIGSTOP) until the keep-alive (3 x K = 3 s) ends its control
        tunnel, then resumed."""
        self.start_server(reverse=dict(REVERSE, keepalive=1, grace=30))
        with socket.create_server(("127.0.0.1", self.port)):  # the server cannot bind P
            echo = self.target(echo_handler)
            c = self.climber(echo.port, port=0)
            self.assertEqual(self.published(c), self.port + 1)
        os.kill(c.pid, signal.SIGSTOP)
        try:  # continued before tearDown, which would wait for a stopped climber to end
            self.server_logged("keep-alive timed out")
        finally:
            os.kill(c.pid, signal.SIGCONT)
        self.assertEqual(self.published(c, count=2), self.port + 1)
        self.server_logged("taken back in grace")
        self.assertEqual(self.visit(self.port + 1, b"kept"), b"kept")
        self.assertFalse(port_open(self.port))


class ServerRestart(ReverseTest):
    def test_climber_registers_again(self):
        self.start_server(timeouts={"recheck": 0.5, "drain": 20})
        echo = self.target(echo_handler)
        c = self.climber(echo.port)
        self.published(c)
        port = self.server.port
        # Control tunnels end at once on a drain: they do not hold it open for 20 s.
        start = time.monotonic()
        self.assertEqual(self.server.stop(), 0)
        self.assertLess(time.monotonic() - start, 10)
        self.d.procs.remove(self.server)
        self.start_server(port=port)
        self.published(c, count=2, timeout=30)
        self.assertEqual(self.visit(self.port, b"again"), b"again")

    def test_climber_registers_again_after_a_crash(self):
        """A server killed outright (SIGKILL: no drain, no close to the climber; over QUIC not
        even a CONNECTION_CLOSE) and started again on its port: the climber finds out (TCP's
        reset, or QUIC's keep-alive / refused datagrams), registers again and carries."""
        self.start_server()
        echo = self.target(echo_handler)
        c = self.climber(echo.port)
        self.published(c)
        self.assertEqual(self.visit(self.port, b"before"), b"before")
        port = self.server.port
        self.assertEqual(self.server.stop(signal.SIGKILL), -signal.SIGKILL)
        self.d.procs.remove(self.server)
        self.start_server(port=port)
        # Found out within 3 keep-alive intervals, then a retry after 1-2 s of back-off.
        self.assertEqual(self.published(c, count=2, timeout=3 * REVERSE["keepalive"] + 15),
                         self.port)
        self.assertEqual(self.visit(self.port, b"after"), b"after")

    def attempts(self, climber):
        """The climber's failed attempts so far, from its log: (seconds since the epoch, the
        delay it announced before the next one, in seconds)."""
        return [(log_time(m.group(1)), int(m.group(2))) for m in RETRY_LINE.finditer(climber.log())]

    def test_reconnects_back_off_and_start_again_after_success(self):
        """docs/CLIMBER.md: the climber reconnects 1 s, 2 s, 4 s ... after its failures (to
        60 s: tests/unit/engine/test_retry_backoff.cpp) and from 1 s again after a success.
        Attempt times come from the climber's own log stamps, not from this loaded machine's
        view of them."""
        self.d.add_user("pub", PASSWORD, cheap_hash=True,  # no 0.5-3 s password check to time
                        publish=f"127.0.0.1:{self.port}-{self.port + 3}")
        port = free_port()  # no server there yet: every connection is refused at once
        c = self.d.start_climber(port, "pub", PASSWORD, TRANSPORT, reverse=[
            {"bind": "127.0.0.1", "port": self.port, "target": "127.0.0.1:9"}])
        wait_for(lambda: len(self.attempts(c)) >= 3, 10, "three failed attempts")
        self.start_server(port=port)  # the fourth attempt, 4 s after the third, succeeds
        self.published(c)
        attempts = self.attempts(c)[:3]
        self.assertEqual([d for _, d in attempts], [1, 2, 4], c.log()[-3000:])
        published_at = log_time(re.search(LOG_STAMP + r" info  reverse \S+ -> \S+ published",
                                           c.log()).group(1))
        times = [t for t, _ in attempts] + [published_at]
        gaps = [b - a for a, b in zip(times, times[1:])]
        for gap, delay in zip(gaps, (1, 2, 4)):
            # Not early; late by at most a busy loop turn, a connect and a cheap handshake.
            self.assertGreater(gap, delay - 0.1, gaps)
            self.assertLess(gap, delay + 1.0, gaps)
        # The server goes away: the climber tries again after 1 s, not 8 s, then after 2 s.
        self.assertEqual(self.server.stop(), 0)
        self.d.procs.remove(self.server)
        wait_for(lambda: len(self.attempts(c)) >= 5, 10, "two attempts after the server left")
        (first, d1), (second, d2) = self.attempts(c)[3:5]
        self.assertEqual((d1, d2), (1, 2), c.log()[-3000:])
        self.assertGreater(second - first, 0.9)
        self.assertLess(second - first, 1.8)

    def test_silent_server_given_up_by_the_keepalive(self):
        """A stopped server (SIGSTOP: its sockets stay up, nothing answers) is given up by the
        control tunnel's keep-alive (docs/PROTOCOL.md 9.4: 3 x K with no byte, K = 2 s here),
        not by TCP or QUIC; once it runs again the climber registers again and carries."""
        self.start_server()
        echo = self.target(echo_handler)
        c = self.climber(echo.port)
        self.published(c)
        self.assertEqual(self.visit(self.port, b"before"), b"before")
        k = REVERSE["keepalive"]
        pid = self.server.pid
        os.kill(pid, signal.SIGSTOP)
        try:  # continued before tearDown, which would wait for a stopped server to end
            stopped = time.monotonic()
            # Some byte came from the server within K + a round trip before it stopped (a PING,
            # or the PONG to the climber's own), so the climber gives up 2 K to 3 K later.
            wait_for(lambda: "keep-alive timed out" in c.log(), 3 * k + 3,
                     "the climber to give up")
            waited = time.monotonic() - stopped
            self.assertGreater(waited, 2 * k - 0.3)
            self.assertLess(waited, 3 * k + 1.5)
            self.assertIn("keep-alive timed out; retrying in 1 s", c.log())
            self.assertEqual(len(re.findall(r"reverse \S+ -> \S+ published", c.log())), 1)
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertEqual(self.published(c, count=2, timeout=20), self.port)
        self.assertEqual(self.visit(self.port, b"after"), b"after")


class UserDisabled(ReverseTest):
    def test_port_and_visitors_closed(self):
        self.start_server()
        echo = self.target(echo_handler)
        c = self.climber(echo.port)
        self.published(c)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"hi")
        self.assertEqual(recv_exact(s, 2), b"hi")
        self.d.add_user("pub", PASSWORD, publish=f"127.0.0.1:{self.port}-{self.port + 3}",
                        enabled=False)
        s.settimeout(20)
        with self.assertRaises(ConnectionResetError):  # aborted by the server (9.7)
            s.recv(10)
        wait_for(lambda: not port_open(self.port), 10, "the port to close (no grace)")
        self.server_logged("user disabled")


class VisitorRules(ReverseTest):
    def test_deny_cidr_and_max_visitors(self):
        rules = [{"ports": str(self.port), "deny": ["127.0.0.0/8"]},
                 {"ports": f"{self.port + 1}-{self.port + 3}", "allow": ["127.0.0.1/32"],
                  "max_visitors": 1}]
        self.start_server(reverse=dict(REVERSE, visitors=rules))
        echo = self.target(echo_handler)
        self.climber_on_two_ports(echo.port)
        self.assertTrue(self.refused_at_once(self.port))  # denied source
        first = socket.create_connection(("127.0.0.1", self.port + 1), timeout=10)
        self.addCleanup(first.close)
        first.sendall(b"one")
        self.assertEqual(recv_exact(first, 3), b"one")
        self.assertTrue(self.refused_at_once(self.port + 1))  # over max_visitors
        first.close()
        wait_for(lambda: self.visit_ok(self.port + 1, b"two"), 10, "room again")
        self.assertEqual(echo.connections, 2)  # refused visitors never reached the service

    def test_source_outside_the_allow_list(self):
        rules = [{"ports": str(self.port), "allow": ["127.0.0.1/32"]}]
        self.start_server(reverse=dict(REVERSE, visitors=rules))
        echo = self.target(echo_handler)
        self.published(self.climber(echo.port))
        self.assertTrue(self.refused_at_once(self.port, source="127.0.0.2"))
        self.assertEqual(self.visit(self.port, b"let in"), b"let in")  # from 127.0.0.1
        self.assertEqual(echo.connections, 1)  # the refused visitor never reached the service

    QUOTA = 300_000
    CHUNK = 10_000

    def over_quota_tunnel(self, visitor_port):
        """Once the quota closed the port: the bytes the server counted on the tunnel of the
        visitor from `visitor_port`, (up, down): from and to the climber."""
        self.server_logged("ended (quota exceeded), port closed")
        line = re.compile(r"tunnel user=pub source=\S+ target=127\.0\.0\.1:%d up=(\d+) "
                          r"down=(\d+) " % visitor_port)
        wait_for(lambda: line.search(self.server.log()), 10, "the visitor's tunnel line")
        return tuple(int(n) for n in line.search(self.server.log()).groups())

    def publish_with_quota(self, handler):
        self.d.add_user("pub", PASSWORD, publish=f"127.0.0.1:{self.port}-{self.port + 3}",
                        quota_bytes=self.QUOTA)
        self.start_server()
        return self.published(self.climber(self.target(handler).port))

    def test_visitor_bytes_count_against_the_quota(self):
        """Echoed rounds of CHUNK bytes: each moves 2 x CHUNK through the visitor's tunnel,
        which is cut in the round that passes the quota: about QUOTA / 2 came back."""
        port = self.publish_with_quota(echo_handler)
        got = 0
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            visitor_port = s.getsockname()[1]
            try:
                for _ in range(self.QUOTA // self.CHUNK):  # twice the quota, unless cut
                    s.sendall(b"q" * self.CHUNK)
                    echoed = 0
                    while echoed < self.CHUNK:
                        data = s.recv(self.CHUNK - echoed)
                        if not data:
                            raise ConnectionResetError("EOF")
                        echoed += len(data)
                        got += len(data)
            except (ConnectionResetError, BrokenPipeError):
                pass
        self.assertGreaterEqual(got, self.QUOTA // 2 - 2 * self.CHUNK)
        self.assertLessEqual(got, self.QUOTA // 2)
        # Counted on each read: the read that passed the quota (one CHUNK) was not carried.
        up, down = self.over_quota_tunnel(visitor_port)
        self.assertGreater(up + down, self.QUOTA, (up, down))
        self.assertLessEqual(up + down, self.QUOTA + self.CHUNK, (up, down))

    def test_service_bytes_count_against_the_quota(self):
        """The service sends without end and the visitor only reads: the bytes towards the
        visitor alone use the quota up, and the visitor is cut near it."""
        port = self.publish_with_quota(firehose_handler)
        got = 0
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            visitor_port = s.getsockname()[1]
            try:
                while got < 10 * self.QUOTA and (data := s.recv(65536)):
                    got += len(data)
            except ConnectionResetError:
                pass
        # Counted on each read from the climber (at most 64 KiB, TlsBuffers::kSize): the read
        # that passed the quota was not carried; what the server had queued for the visitor
        # is lost in its reset.
        self.assertGreater(got, 0)
        self.assertLessEqual(got, self.QUOTA)
        up, down = self.over_quota_tunnel(visitor_port)
        self.assertEqual(down, 0)
        self.assertGreater(up, self.QUOTA)
        self.assertLessEqual(up, self.QUOTA + 64 * 1024)

    def test_visitor_bytes_held_to_the_users_rate_limit(self):
        """The publishing user's rate_limit holds a visitor's download (docs/CONFIG.md), as
        measured by the server (test_admin.relayed_rate: our reader's clock is no judge on a
        loaded machine)."""
        rate = 200_000
        self.d.add_user("pub", PASSWORD, publish=f"127.0.0.1:{self.port}-{self.port + 3}",
                        rate_limit=rate)
        self.start_server(admin=self.admin_listener())
        service = self.target(firehose_handler)
        port = self.published(self.climber(service.port))
        visitor = socket.create_connection(("127.0.0.1", port), timeout=10)
        drain = Drain([visitor])  # keeps it flowing
        try:
            def visitors():
                status, body = admin_call(self.admin_port, "GET", "/api/tunnels", token=TOKEN)
                self.assertEqual(status, 200, body)
                return [t for t in body["tunnels"] if t["stage"] == "visitor"]

            wait_for(visitors, 10, "the visitor in the tunnel list")
            measured = relayed_rate(self.admin_port, "pub", 1, stage="visitor",
                                    field="bytes_up", started_ms=visitors()[0]["age_ms"])
        finally:
            drain.close()
        self.assertGreater(drain.counts[0], 0)
        self.assertLess(measured, rate * 1.10, f"{measured:.0f} B/s against {rate} B/s")
        self.assertGreater(measured, rate * 0.90, f"{measured:.0f} B/s against {rate} B/s")


class ProxyV2(ReverseTest):
    def test_header_seen_by_the_service(self):
        self.start_server()
        seen = []

        def record(sock, target):
            seen.append(recv_exact(sock, 28))
            sock.sendall(b"ok")
            sock.shutdown(socket.SHUT_WR)

        svc = self.target(record)
        port = self.published(self.climber(svc.port, proxy_protocol=True))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            src_port = s.getsockname()[1]
            self.assertEqual(recv_all(s, 10), b"ok")
        expected = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11" + struct.pack(">H", 12) +
                    socket.inet_aton("127.0.0.1") + socket.inet_aton("127.0.0.1") +
                    struct.pack(">HH", src_port, port))
        self.assertEqual(seen, [expected])


def tcp_connections_to(port):
    """Established TCP connections to local `port` (IPv4 and IPv6), from /proc/net/tcp*."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


class QuicStreams(ReverseTest):
    """Over QUIC a visitor rides on a stream of the climber's one connection (9.5): no data
    connection, no TCP connection to the server, and its first bytes reach the service before
    the visitor sends anything more."""

    def test_visitors_ride_on_the_control_tunnels_connection(self):
        self.start_server()
        got = []
        first = threading.Event()
        more = threading.Event()

        def service(sock, target):
            if got:  # the later visitors: echo
                echo_handler(sock, target)
                return
            got.append(sock.recv(100))  # the visitor's first bytes, alone
            first.set()
            more.wait(10)
            got.append(recv_exact(sock, 4))
            sock.sendall(b"answer")
            sock.shutdown(socket.SHUT_WR)

        svc = self.target(service)
        c = self.climber(svc.port)
        self.published(c)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as v:
            v.sendall(b"first")
            self.assertTrue(first.wait(10), "the first bytes did not reach the service")
            self.assertEqual(got, [b"first"])
            # Meanwhile the climber has no TCP connection to the server: only QUIC.
            self.assertEqual(tcp_connections_to(self.server.port), 0)
            v.sendall(b"more")
            more.set()
            self.assertEqual(recv_all(v, 10), b"answer")
        self.assertEqual(got, [b"first", b"more"])
        for i in range(3):
            self.assertEqual(self.visit(self.port, b"v%d" % i), b"v%d" % i)
        # Every visitor's tunnel came from the control tunnel's own address (one UDP path).
        log = self.server.log()
        control = re.search(r"reverse tunnel user=pub source=(\S+) published", log).group(1)
        visitor_line = re.compile(r"tunnel user=pub source=(\S+) target=127\.0\.0\.1:\d+ up=")
        wait_for(lambda: len(visitor_line.findall(self.server.log())) >= 4, 10,
                 "the visitor lines")
        sources = visitor_line.findall(self.server.log())
        self.assertEqual(len(sources), 4, self.server.log()[-3000:])
        self.assertEqual(set(sources), {control})
        wait_for(lambda: c.log().count(" visitor 127.0.0.1:") >= 4, 10, "the climber's lines")
        self.assertEqual(c.log().count(" visitor 127.0.0.1:"), 4)


class QuicProbeStream:
    """One QUIC stream to the server driven by hand, like a socket: quic_probe --interactive
    (tests/integration/quic_probe.cpp) opens it and prints what it reads; sendall() hands it
    bytes to write. recv() returns b"" at the stream's FIN and raises ConnectionResetError
    when it is reset or its connection closed."""

    def __init__(self, port, ca):
        self.proc = subprocess.Popen([PROBE_BIN, str(port), ca, "", "--interactive",
                                      "--wait-ms", "60000"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.buffer = b""
        self.end = None  # "eof", or why the stream failed
        self.timeout = None
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            with self.cond:
                if line.startswith("read "):
                    self.buffer += bytes.fromhex(line[5:])
                elif not line.startswith("data ") and self.end is None:
                    self.end = line  # eof, error: ..., open failed: ..., timeout
                self.cond.notify_all()
        with self.cond:
            self.end = self.end or "quic_probe exited"
            self.cond.notify_all()

    def settimeout(self, timeout):
        self.timeout = timeout

    def sendall(self, data):
        self.proc.stdin.write(data.hex() + "\n")
        self.proc.stdin.flush()

    def recv(self, n):
        with self.cond:
            if not self.cond.wait_for(lambda: self.buffer or self.end, self.timeout):
                raise socket.timeout("quic_probe: nothing read")
            if self.buffer:
                data, self.buffer = self.buffer[:n], self.buffer[n:]
                return data
            if self.end == "eof":
                return b""
            raise ConnectionResetError(self.end)

    def close(self):
        try:
            self.proc.stdin.close()  # a live probe ends ("stdin closed")
        except OSError:
            pass  # it had ended: the pipe is broken
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.reader.join(10)
        self.proc.stdout.close()


class Junk(ReverseTest):
    """Bytes a climber would never send: the server closes, stays up, and keeps serving.
    A truncated message is closed by the handshake time-out (2 s here), without a byte.
    Over QUIC the control tunnel is a stream of quic_probe's; ATTACH is TLS only (9.6)."""

    def start_server(self, **over):
        return super().start_server(timeouts={"recheck": 0.5, "handshake": 2}, **over)

    def tls(self):
        ctx = ssl.create_default_context(cafile=self.d.cert)
        raw = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.addCleanup(s.close)
        return s

    def control(self):
        """A connection to the server on the climber's transport, for a control tunnel."""
        if TRANSPORT == "tls":
            return self.tls()
        s = QuicProbeStream(self.server.port, self.d.cert)
        self.addCleanup(s.close)
        return s

    def reverse_request(self, port):
        user, pw = b"pub", PASSWORD.encode()
        return (b"\x01\x02" + bytes([len(user)]) + user + bytes([len(pw)]) + pw + b"\x01" +
                socket.inet_aton("127.0.0.1") + struct.pack(">H", port))

    def closed(self, s, timeout=10):
        """What `s` still brings until it ends: a FIN, a TLS close without close_notify, or a
        reset (over QUIC, RESET_STREAM: the bytes before it count too)."""
        s.settimeout(timeout)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except (ConnectionResetError, ssl.SSLError):
            pass
        return data

    def ended_malformed(self, n):
        """Waits for the server's n-th control tunnel ended over a bad frame (not by the
        keep-alive, which would end a silent one too, 3 x K = 6 s after its last byte)."""
        line = "ended (control tunnel: malformed reverse-tunnel message)"
        wait_for(lambda: self.server.log().count(line) >= n, 5, f"{n} control tunnels ended so")

    def test_garbage_control_frames(self):
        self.start_server()
        s = self.control()
        s.sendall(self.reverse_request(self.port))
        head = recv_exact(s, 10)
        self.assertEqual(head[:2], b"\x01\x00")
        self.assertEqual(struct.unpack(">H", head[2:4])[0], self.port)
        # PING with a wrong length: bad_frame, the control tunnel is aborted.
        s.sendall(b"\x01\x03abc")
        data = self.closed(s)
        self.assertNotIn(b"\x02\x03", data)  # never answered
        self.ended_malformed(1)
        # A truncated request: nothing comes back, the time-out closes it.
        s = self.control()
        s.sendall(self.reverse_request(self.port)[:9])
        self.assertEqual(self.closed(s), b"")
        self.server_logged("failure=handshake_timeout")
        # An OPEN frame sent by a climber is bad_frame too; a PING is answered first.
        s = self.control()
        s.sendall(self.reverse_request(self.port))
        self.assertEqual(recv_exact(s, 10)[:2], b"\x01\x00")  # in grace for the same user
        s.sendall(b"\x01\x08ABCDEFGH")
        # Over TLS the pool's OPEN frames (18 bytes each) come first, then the PONG.
        buf = b""
        while b"\x02\x08ABCDEFGH" not in buf:
            buf += s.recv(100)
        s.sendall(b"\x03\x10" + b"t" * 16)
        self.closed(s)
        self.ended_malformed(2)
        # Still serving.
        echo = self.target(echo_handler)
        self.published(self.climber(echo.port))
        self.assertEqual(self.visit(self.port, b"alive"), b"alive")

    def test_keepalive_ping_then_abort(self):
        self.start_server()  # K = 2 s
        s = self.control()
        s.sendall(self.reverse_request(self.port))
        head = recv_exact(s, 10)
        self.assertEqual(struct.unpack(">H", head[8:10])[0], 2)
        if TRANSPORT == "tls":
            self.assertEqual(recv_exact(s, 36)[::18], b"\x03\x03")  # the pool's two OPENs
        start = time.monotonic()
        ping = recv_exact(s, 10)  # silent climber: a PING after K
        self.assertEqual(ping[:2], b"\x01\x08")
        self.assertGreater(time.monotonic() - start, 1.0)
        s.sendall(b"\x02\x08" + ping[2:])  # a PONG proves us alive: no abort at 3 x K
        time.sleep(4.5)
        self.assertNotIn("keep-alive timed out", self.server.log())
        # Silent from now on: aborted 3 x K after our last byte.
        data = self.closed(s, timeout=15)
        self.assertLess(time.monotonic() - start, 14)
        # Only PINGs, and over TLS OPENs replacing the pool's expired tokens (we never attach).
        types, i = [], 0
        while i + 2 <= len(data):
            types.append(data[i])
            i += 2 + data[i + 1]
        self.assertEqual(i, len(data))
        self.assertIn(1, types)
        self.assertEqual(set(types) - ({1, 3} if TRANSPORT == "tls" else {1}), set(), data)
        wait_for(lambda: "keep-alive timed out" in self.server.log(), 5, "the keep-alive line")

    @unittest.skipIf(TRANSPORT != "tls", "ATTACH data connections are TLS only (9.6)")
    def test_bad_attach_tokens_get_the_stealth_close(self):
        self.start_server()
        for msg in (b"\x01\x03" + os.urandom(16), b"\x01\x03" + b"\x00" * 16,
                    b"\x01\x03" + os.urandom(10), b"\x01\x03" + os.urandom(20)):
            s = self.tls()
            s.sendall(msg)
            self.assertEqual(self.closed(s), b"", msg)
            s.close()
        self.server_logged("unknown, spent or expired attach token")
        self.assertTrue(self.server.alive())

    @unittest.skipIf(TRANSPORT != "tls", "ATTACH data connections are TLS only (9.6)")
    def test_token_is_good_once(self):
        self.start_server()
        s = self.tls()
        s.sendall(self.reverse_request(self.port))
        head = recv_exact(s, 10)
        self.assertEqual(head[:2], b"\x01\x00")
        frame = recv_exact(s, 18)
        self.assertEqual(frame[:2], b"\x03\x10")
        token = frame[2:]
        a = self.tls()
        a.sendall(b"\x01\x03" + token)
        # Pooled: a visitor gets carried on it with the visitor header first.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as v:
            v.sendall(b"early")
            header = recv_exact(a, 20)
            self.assertEqual(header[:2], b"\x01\x01")
            self.assertEqual(header[2:6], head[4:8])  # the control tunnel's id
            self.assertEqual(header[6], 1)
            self.assertEqual(header[7:11], socket.inet_aton("127.0.0.1"))
            self.assertEqual(struct.unpack(">H", header[11:13])[0], v.getsockname()[1])
            self.assertEqual(struct.unpack(">H", header[18:20])[0], self.port)
            self.assertEqual(recv_exact(a, 5), b"early")
            a.sendall(b"answer")
            self.assertEqual(recv_exact(v, 6), b"answer")
        b = self.tls()
        b.sendall(b"\x01\x03" + token)
        self.assertEqual(self.closed(b), b"")
        a.close()  # its visitor's tunnel would hold the server's drain open at the end


class GrantWithdrawn(ReverseTest):
    """A grant changed with `mtop-server user publish` while the climber publishes: the
    re-check (0.5 s here) closes a bind no longer covered at once, keeps one still covered."""

    def set_publish(self, grants):
        run([SERVER_BIN, "user", "--config", self.server.config_path, "publish", "pub", grants])

    def carried_visitor(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"hi")
        self.assertEqual(recv_exact(s, 2), b"hi")
        return s

    def test_still_covered_keeps_the_tunnel(self):
        self.start_server()
        c = self.climber(self.target(echo_handler).port)
        self.published(c)
        s = self.carried_visitor()
        self.set_publish(f"127.0.0.1:{self.port}, *:{self.port + 10}")  # narrower, still covers
        time.sleep(2.5)  # several re-checks
        s.sendall(b"still")
        self.assertEqual(recv_exact(s, 5), b"still")
        self.assertEqual(self.visit(self.port, b"new visitor"), b"new visitor")
        self.assertNotIn("publish grant withdrawn", self.server.log())
        self.assertEqual(len(re.findall(r"reverse \S+ -> \S+ published", c.log())), 1)

    def test_removed_grant_closes_the_port_at_once(self):
        self.start_server()
        c = self.climber(self.target(echo_handler).port)
        self.published(c)
        s = self.carried_visitor()
        start = time.monotonic()
        self.set_publish("none")
        wait_for(lambda: not port_open(self.port), 10, "the port to close (no grace)")
        self.assertLess(time.monotonic() - start, 5)  # re-check 0.5 s; grace would be 3 s
        s.settimeout(10)
        with self.assertRaises(ConnectionResetError):  # the carried visitor is aborted (9.7)
            s.recv(10)
        self.server_logged("no longer in the user's publish grant")
        self.server_logged("ended (publish grant withdrawn), port closed")
        # The climber registers again and is refused; the port stays closed.
        wait_for(lambda: "not permitted to publish" in c.log(), 20, "the climber's refusal")
        self.assertTrue(c.alive())
        self.assertFalse(port_open(self.port))

    def test_narrowed_to_other_ports(self):
        self.start_server()
        c = self.climber(self.target(echo_handler).port)
        self.published(c)
        self.set_publish(f"127.0.0.1:{self.port + 1}-{self.port + 3}")
        wait_for(lambda: not port_open(self.port), 10, "the port to close")
        wait_for(lambda: "not permitted to publish" in c.log(), 20, "the climber's refusal")
        self.server_logged("publish grant withdrawn")


class Metrics(ReverseTest):
    """/metrics after known visitors: public ports held and in grace, visitors accepted, live
    and refused by reason; promtool accepts the text."""

    def metrics(self):
        status, text = admin_call(self.admin_port, "GET", "/metrics", token=TOKEN)
        self.assertEqual(status, 200, text)
        return text

    def test_counts_after_known_visitors(self):
        rules = [{"ports": str(self.port), "deny": ["127.0.0.0/8"]},
                 {"ports": str(self.port + 1), "max_visitors": 1}]
        self.start_server(reverse=dict(REVERSE, grace=60, visitors=rules),
                          admin=self.admin_listener())
        echo = self.target(echo_handler)
        c = self.climber_on_two_ports(echo.port)
        self.assertTrue(self.refused_at_once(self.port))  # source_rule
        first = socket.create_connection(("127.0.0.1", self.port + 1), timeout=10)
        self.addCleanup(first.close)
        first.sendall(b"one")
        self.assertEqual(recv_exact(first, 3), b"one")
        text = self.metrics()
        self.assertEqual(metric(text, "mtop_reverse_ports"), 2)
        self.assertEqual(metric(text, "mtop_reverse_ports_grace"), 0)
        self.assertEqual(metric(text, "mtop_reverse_visitors"), 1)
        self.assertTrue(self.refused_at_once(self.port + 1))  # visitor_limit
        first.close()
        wait_for(lambda: metric(self.metrics(), "mtop_reverse_visitors") == 0, 10,
                 "the visitor to end")
        self.assertEqual(self.visit(self.port + 1, b"two"), b"two")
        # The climber goes: both ports in their grace, a visitor there is reset (no_climber).
        c.stop(signal.SIGKILL)
        wait_for(lambda: metric(self.metrics(), "mtop_reverse_ports_grace") == 2, CLIMBER_GONE_S,
                 "both ports in grace")
        self.assertTrue(self.refused_at_once(self.port + 1))

        text = self.metrics()
        self.assertEqual(metric(text, "mtop_reverse_ports"), 0)
        self.assertEqual(metric(text, "mtop_reverse_visitors"), 0)
        self.assertEqual(metric(text, "mtop_reverse_visitors_total", result="accepted"), 2)
        self.assertEqual(metric(text, "mtop_reverse_visitors_total", result="refused"), 3)
        for reason, n in (("source_rule", 1), ("visitor_limit", 1), ("no_climber", 1),
                          ("no_address", 0)):
            self.assertEqual(metric(text, "mtop_reverse_visitor_refusals_total", reason=reason),
                             n, reason)
        status, stats = admin_call(self.admin_port, "GET", "/api/stats", token=TOKEN)
        self.assertEqual(status, 200)
        self.assertEqual((stats["reverse_ports"], stats["reverse_ports_grace"]), (0, 2))
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


class ServiceDown(ReverseTest):
    """The climber's local service is down (docs/PROTOCOL.md 9.5, 9.6): the climber aborts the
    visitor's stream with CONNECT_FAILED (QUIC) or its data connection without close_notify
    (TLS), and the server resets the visitor's TCP connection rather than closing it."""

    def test_visitor_is_reset(self):
        self.start_server()
        service = free_port()  # nothing listens there
        c = self.climber(service)
        self.published(c)
        for i in range(2):  # a warm pool connection, then its refill
            # The reset may come before connect() has returned (a loaded machine): that too.
            with self.assertRaises(ConnectionResetError, msg=f"visitor {i}"):
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as v:
                    v.settimeout(10)
                    v.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    v.recv(100)
        wait_for(lambda: c.log().count(f"local service 127.0.0.1:{service}") >= 2, 10,
                 "the climber's warning about the service")
        self.assertTrue(self.server.alive())
        self.assertTrue(c.alive())


if __name__ == "__main__":
    unittest.main()
