"""Reverse tunnels on a server with two workers (docs/CONFIG.md "Workers", docs/PROTOCOL.md 9.6):
every connection (control tunnel, ATTACH data connection, visitor) is hashed by SO_REUSEPORT to
either worker, and reverse tunnels must work as on one.

- test_reverse.py's classes again with `workers: 2` (the *TwoWorkers classes).
- CrossWorker: the paths between workers, shown through the admin API's `worker` field:
  visitors carried by data connections that attached on the other worker than their control
  tunnel; a killed climber whose new control tunnel lands on the other worker gets its port back
  within the grace (the listening socket moves, the port never closes); ATTACH tokens redeemed
  on either worker, a replayed one refused on either.

Where a test needs a connection on "the other" worker it opens enough of them that all landing
on one worker has a chance of 2**-16 or less, or retries a bounded number of times.
"""
import os
import signal
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (echo_handler, free_port, port_open, recv_all,  # noqa: E402
                     recv_exact, wait_for)
from test_admin import TOKEN, http  # noqa: E402
from test_reverse import (REVERSE, ClimberKilled, Concurrent, Http, Junk,  # noqa: E402
                          Refusals, ReverseTest, ServerRestart, UserDisabled, VisitorRules)


class TwoWorkers:
    """Mixin: the server of a ReverseTest runs two workers."""

    def start_server(self, **over):
        over.setdefault("workers", 2)
        server = super().start_server(**over)
        wait_for(lambda: "2 workers" in server.log(), 10, "the workers")
        return server


class HttpTwoWorkers(TwoWorkers, Http):
    # -R on the command line is the climber's alone: checked once, in Http.
    test_dash_R_on_the_command_line = None


class ConcurrentTwoWorkers(TwoWorkers, Concurrent):
    pass


class RefusalsTwoWorkers(TwoWorkers, Refusals):
    pass


class ClimberKilledTwoWorkers(TwoWorkers, ClimberKilled):
    # The port a reconnecting climber asks for is the climber's alone: checked once, in
    # ClimberKilled.
    test_port_zero_climber_reconnecting_asks_for_its_port = None


class ServerRestartTwoWorkers(TwoWorkers, ServerRestart):
    # The climber's reconnect schedule and its keep-alive are the climber's alone: checked once,
    # in ServerRestart (unittest collects only callable test_* attributes).
    test_reconnects_back_off_and_start_again_after_success = None
    test_silent_server_given_up_by_the_keepalive = None
    test_climber_registers_again_after_a_crash = None


class UserDisabledTwoWorkers(TwoWorkers, UserDisabled):
    pass


class VisitorRulesTwoWorkers(TwoWorkers, VisitorRules):
    pass


class JunkTwoWorkers(TwoWorkers, Junk):
    pass


class CrossWorker(ReverseTest):
    HELD = 24  # visitors held at once: 24 data connections, all on one worker by 2**-24

    def start_server(self, **over):
        with open(os.path.join(self.d.dir, "admin.token"), "w") as f:
            f.write(TOKEN + "\n")
        self.admin_port = free_port()
        over.setdefault("admin", {"listen": f"127.0.0.1:{self.admin_port}",
                                  "token_file": "admin.token"})
        server = super().start_server(workers=2, **over)
        wait_for(lambda: port_open(self.admin_port), 10, "the admin listener")
        wait_for(lambda: "2 workers" in server.log(), 10, "the workers")
        return server

    def api(self, path):
        status, body = http(self.admin_port, "GET", path, token=TOKEN)
        self.assertEqual(status, 200, body)
        return body

    def tunnels(self, stage):
        return [t for t in self.api("/api/tunnels")["tunnels"] if t["stage"] == stage]

    def control_worker(self):
        """The worker of the one live control tunnel (waits for it)."""
        wait_for(lambda: len(self.tunnels("control")) == 1, 10, "one control tunnel")
        return self.tunnels("control")[0]["worker"]

    def test_visitors_on_data_connections_of_both_workers(self):
        self.start_server()
        echo = self.target(echo_handler)
        port = self.published(self.climber(echo.port))
        control = self.control_worker()
        held = []
        self.addCleanup(lambda: [s.close() for s in held])
        for i in range(self.HELD):
            s = socket.create_connection(("127.0.0.1", port), timeout=20)
            held.append(s)
            s.sendall(b"visitor %d" % i)
            self.assertEqual(recv_exact(s, len(b"visitor %d" % i)), b"visitor %d" % i)
        # Every visitor rides on a data connection of its own, on either worker; the control
        # tunnel's worker counts them all (admin view and metrics sum the workers).
        carrying = self.tunnels("visitor")
        self.assertEqual(len(carrying), self.HELD, carrying)
        workers = {t["worker"] for t in carrying}
        self.assertEqual(workers, {0, 1}, carrying)
        self.assertTrue(any(t["worker"] != control for t in carrying))
        stats = self.api("/api/stats")
        self.assertEqual(stats["reverse_ports"], 1, stats)
        self.assertEqual(stats["reverse_visitors"], self.HELD, stats)
        # Each still carries both ways, then all end cleanly.
        for i, s in enumerate(held):
            s.sendall(b"again %d" % i)
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_all(s, 20), b"again %d" % i)
        wait_for(lambda: self.api("/api/stats")["reverse_visitors"] == 0, 10, "visitors to end")
        # Many short visitors at once, whatever worker their data connection is on.
        results = []

        def one(i):
            results.append(self.visit_ok(port, b"short %d " % i * 50))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(60)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(results, [True] * 60)

    def test_port_taken_back_on_the_other_worker(self):
        self.start_server()
        echo = self.target(echo_handler)
        c = self.climber(echo.port)
        self.published(c)
        first = self.control_worker()
        self.assertEqual(self.api("/api/stats")["reverse_ports"], 1)
        for attempt in range(16):  # each lands on the other worker with odds 1/2
            c.stop(signal.SIGKILL)
            wait_for(lambda: not self.tunnels("control"), 10, "the control tunnel to end")
            self.assertTrue(port_open(self.port))  # bound through the grace
            self.assertTrue(self.refused_at_once(self.port))  # nobody behind it
            c = self.climber(echo.port)
            self.published(c)
            if self.control_worker() != first:
                break
        else:
            self.fail("16 control tunnels all landed on worker %d" % first)
        self.server_logged("taken back in grace")
        self.assertEqual(self.api("/api/stats")["reverse_ports"], 1)
        # The moved socket carries visitors on its new worker.
        for i in range(10):
            self.assertEqual(self.visit(self.port, b"moved %d" % i), b"moved %d" % i)
        # Another user still cannot take it in grace, whichever worker they land on.
        c.stop(signal.SIGKILL)
        wait_for(lambda: not self.tunnels("control"), 10, "the control tunnel to end")
        for _ in range(4):
            other = self.climber(echo.port, user="other")
            wait_for(lambda: "is in use on the server" in other.log(), 10, "other refused")
            other.stop()
        # Released after the grace, by whichever worker has it.
        wait_for(lambda: not port_open(self.port), 10, "the port to be released")
        self.server_logged("released after its grace period")
        self.assertEqual(self.api("/api/stats")["reverse_ports"], 0)

    # Raw TLS connections, the REVERSE request and the silent close, as Junk has them.
    tls = Junk.tls
    reverse_request = Junk.reverse_request
    closed = Junk.closed

    def worker_of(self, conn, stage):
        """The worker of our TLS connection `conn`, found in /api/tunnels by its source."""
        source = "127.0.0.1:%d" % conn.getsockname()[1]
        found = []

        def seen():
            found[:] = [t["worker"] for t in self.tunnels(stage) if t["source"] == source]
            return bool(found)
        wait_for(seen, 10, f"{source} in /api/tunnels")
        return found[0]

    def test_tokens_redeemed_once_on_either_worker(self):
        pool = 16
        self.start_server(reverse=dict(REVERSE, pool=pool, keepalive=30))
        control = self.tls()
        control.sendall(self.reverse_request(self.port))
        head = recv_exact(control, 10)
        self.assertEqual(head[:2], b"\x01\x00")
        tokens = []
        for _ in range(pool):
            frame = recv_exact(control, 18)
            self.assertEqual(frame[:2], b"\x03\x10")
            tokens.append(frame[2:])
        owner = self.control_worker()
        # Every token attaches, on whichever worker its connection lands.
        attached = []
        for token in tokens:
            a = self.tls()
            a.sendall(b"\x01\x03" + token)
            attached.append(a)
        wait_for(lambda: len(self.tunnels("pooled")) == pool, 10, "every data connection pooled")
        pooled = self.tunnels("pooled")
        self.assertTrue(any(t["worker"] != owner for t in pooled), pooled)
        # The first token replayed on the other worker than the one that took it: a connection
        # is seen in /api/tunnels (stage handshake) before it sends its ATTACH, so its worker
        # is known; up to 24 tries (all on the same worker: 2**-24).
        first = self.worker_of(attached[0], "pooled")
        for _ in range(24):
            s = self.tls()
            s.sendall(b"\x01")  # a first byte: the tunnel waits in its handshake for the rest
            if self.worker_of(s, "handshake") != first:
                s.sendall(b"\x03" + tokens[0])
                self.assertEqual(self.closed(s), b"")
                break
            s.close()
        else:
            self.fail("24 connections all landed on worker %d" % first)
        # Every token replayed, each on a new connection (either worker): refused.
        for token in tokens:
            s = self.tls()
            s.sendall(b"\x01\x03" + token)
            self.assertEqual(self.closed(s), b"")
        self.assertEqual(len(self.tunnels("pooled")), pool)
        self.server_logged("unknown, spent or expired attach token")
        # A visitor goes to one of them with the control tunnel's id in its header.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as v:
            v.sendall(b"hello")
            wait_for(lambda: len(self.tunnels("visitor")) == 1, 10, "the visitor carried")
            self.assertEqual(len(self.tunnels("pooled")), pool - 1)


if __name__ == "__main__":
    unittest.main()
