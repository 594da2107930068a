"""QUIC through the real mtop-server and climber: one connection for many tunnels, loss,
certificates, isolation of failing streams, server restarts, junk datagrams, `auto` fallback
and every inbound mode of the climber.

Each class is its own ctest test (tests/integration/CMakeLists.txt). Every process is started
and stopped by PID (harness.Deployment, Relay below), every wait is bounded, loopback only."""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

from harness import (CLIMBER_BIN, SERVER_BIN, DeploymentTest, Process, curl, echo_handler,
                     free_port, recv_all, recv_exact, run, sha_handler, socks5_connect,
                     wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_RE = re.compile(r"tunnel user=\S+ source=(\S+) ")


def log_text(proc):
    """A process's log so far, also after it was stopped (Process.log() needs the open file)."""
    with open(proc.log_path, "r", errors="replace") as f:
        return f.read()


def tunnel_sources(server):
    """The source= of every accepted tunnel the server has logged."""
    return SOURCE_RE.findall(log_text(server))


def wait_quic_listening(server):
    # The TCP port opens first; the UDP socket is bound right after it.
    wait_for(lambda: "(QUIC over UDP)" in server.log() or not server.alive(), 15,
             "mtop-server to listen on UDP")
    if not server.alive():
        raise AssertionError("mtop-server exited:\n" + server.log())


def echo_round(port, payload, timeout=30):
    """One tunnel through a local port-forward: send, half-close, read the echo."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s, timeout)


def spki_pin(cert_path):
    """base64 SHA-256 of the certificate's DER SubjectPublicKeyInfo (the climber's `pin`)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_path, "-pubkey", "-noout"],
                         capture_output=True, check=True, timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True, timeout=30).stdout
    import base64
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class Relay:
    """udp_relay.py as a child process (stopped by PID), between a climber and the server."""

    def __init__(self, directory, server_port, seed, drop, reorder, duplicate, record=None):
        log = os.path.join(directory, f"relay-{seed}.log")
        argv = [sys.executable, os.path.join(HERE, "udp_relay.py"), "--server-port",
                str(server_port), "--seed", str(seed), "--drop", str(drop), "--reorder",
                str(reorder), "--duplicate", str(duplicate)]
        if record:
            argv += ["--record", record]
        self.proc = Process("udp_relay", argv, log)
        wait_for(lambda: log_text(self.proc).startswith("listening ") or not self.proc.alive(),
                 15, "the UDP relay to listen")
        if not self.proc.alive():
            raise AssertionError("udp_relay exited:\n" + log_text(self.proc))
        self.port = int(log_text(self.proc).split()[1])

    def stop(self):
        self.proc.stop()
        lines = log_text(self.proc).strip().splitlines()
        return json.loads(lines[-1]) if len(lines) > 1 else None


class QuicTest(DeploymentTest):
    def setUp(self):
        super().setUp()
        self.relays = []

    def tearDown(self):
        for r in self.relays:
            r.stop()
        super().tearDown()

    def server(self, **over):
        s = self.d.start_server(**over)
        if over.get("quic", True):
            wait_quic_listening(s)
        return s

    def climber(self, port, user="alice", password="pw", transport="quic", server_over=None,
                **cfg):
        """Starts a climber; unlike Deployment.start_climber it waits on each listener at the
        host it binds (IPv6 included)."""
        server = {"host": "127.0.0.1", "port": port, "username": user, "password": password,
                  "sni": "localhost", "ca": self.d.cert, "transport": transport}
        server.update(server_over or {})
        cfg = dict({"server": server, "log_level": "debug"}, **cfg)
        n = len(self.d.procs)
        path = os.path.join(self.d.dir, f"climber-{n}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        os.chmod(path, 0o600)
        p = Process("climber", [CLIMBER_BIN, "--config", path],
                    os.path.join(self.d.dir, f"climber-{n}.log"))
        self.d.procs.append(p)
        # Waits on the climber's own "listening (...)" lines, not by connecting: a probe
        # connection to a port-forward would open a tunnel and show up in the counts.
        n_listeners = sum(1 for k in ("socks", "http") if k in cfg) + len(cfg.get("forward", []))
        wait_for(lambda: p.log().count("info  listening (") >= n_listeners or not p.alive(), 15,
                 "the climber to listen")
        if not p.alive():
            raise AssertionError("climber exited:\n" + p.log())
        return p


class OneConnection(QuicTest):
    def test_100_concurrent_tunnels_share_one_quic_connection(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        fwd = free_port()
        climber = self.climber(server.port, forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        n = 100
        payloads = [os.urandom(100_000 + 37 * i) for i in range(n)]
        results = [None] * n
        start = threading.Barrier(n)

        def one(i):
            try:
                start.wait(timeout=30)
                results[i] = echo_round(fwd, payloads[i], timeout=60)
            except Exception as e:  # reported below with its index
                results[i] = repr(e)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        self.assertFalse(any(th.is_alive() for th in threads))
        bad = [i for i in range(n) if results[i] != payloads[i]]
        self.assertEqual(bad, [], [results[i] for i in bad[:3]])
        self.assertEqual(t.connections, n)
        self.assertEqual(t.received, sum(len(p) for p in payloads))
        wait_for(lambda: len(tunnel_sources(server)) >= n, 15, "the server's tunnel log lines")
        sources = set(tunnel_sources(server))
        # One QUIC connection: every tunnel came from the same UDP address and port.
        self.assertEqual(len(sources), 1, sources)
        self.assertEqual(len(tunnel_sources(server)), n)
        # Every tunnel ended cleanly on the climber's side too (FIN, not RESET_STREAM).
        wait_for(lambda: climber.log().count("info  tunnel forward") >= n, 15, "climber lines")
        self.assertNotIn("reset by peer", climber.log())


class Pool(QuicTest):
    def test_more_tunnels_than_one_connection_carries_open_more_connections(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"],
                             limits={"quic_streams_per_connection": 4})
        t = self.target(echo_handler)
        fwd = free_port()
        climber = self.climber(server.port, forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        socks = []
        try:
            # Ten tunnels open at the same time, each proven up by its echo.
            for i in range(10):
                s = socket.create_connection(("127.0.0.1", fwd), timeout=30)
                socks.append(s)
                s.sendall(b"tunnel %d" % i)
            for i, s in enumerate(socks):
                self.assertEqual(recv_exact(s, len(b"tunnel %d" % i)), b"tunnel %d" % i)
        finally:
            for s in socks:
                s.close()
        wait_for(lambda: len(tunnel_sources(server)) >= 10, 15, "the server's tunnel log lines")
        # 4 streams per connection: the climber needed three QUIC connections (source ports).
        self.assertEqual(len(set(tunnel_sources(server))), 3, tunnel_sources(server))
        self.assertEqual(t.connections, 10)
        self.assertNotIn("reset by peer", climber.log())

    def test_bad_limit_is_refused_by_check(self):
        self.d.add_user("u", "p")
        cfg = {"listen": "127.0.0.1:1", "cert": self.d.cert, "key": self.d.key,
               "users": {"type": "file", "path": self.d.users_path},
               "limits": {"quic_streams_per_connection": 0}}
        path = os.path.join(self.d.dir, "bad-limit.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        r = subprocess.run([SERVER_BIN, "--check", "--config", path], capture_output=True,
                           text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("config.limits.quic_streams_per_connection: must be a whole number from 1 "
                      "to 65536", r.stderr)


class SelectorEcho:
    """An echo target for thousands of connections in one thread (selectors, non-blocking):
    a thread per connection, as harness.Target has, would not scale to this. Counts the
    connections it accepted and those open now."""

    def __init__(self):
        import selectors
        self.sel = selectors.DefaultSelector()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4096)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.open = 0
        self.stopping = False
        self.sel.register(self.listener, selectors.EVENT_READ, None)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import selectors
        while not self.stopping:
            for key, _ in self.sel.select(timeout=0.1):
                if key.data is None:
                    try:
                        c, _ = self.listener.accept()
                    except BlockingIOError:
                        continue
                    c.setblocking(False)
                    self.sel.register(c, selectors.EVENT_READ, "conn")
                    self.accepted += 1
                    self.open += 1
                    continue
                c = key.fileobj
                try:
                    data = c.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    c.sendall(data)  # a few bytes at a time here: never blocks for long
                    continue
                self.sel.unregister(c)
                c.close()
                self.open -= 1
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()

    def close(self):
        self.stopping = True
        self.thread.join(timeout=15)


def raise_fd_limit():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class ManyTunnels(QuicTest):
    """No hidden ceiling: the old pool of 8 connections x 256 streams held 2,048 tunnels; the
    pool now grows as far as the climber's own limits allow, and a real limit is said at once."""

    def test_2500_idle_tunnels_over_quic_all_work(self):
        n = 2500
        if raise_fd_limit() < 2 * n + 200:
            self.skipTest("not enough file descriptors for this test process")
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"], log_level="info")
        t = SelectorEcho()
        self.addCleanup(t.close)
        fwd = free_port()
        climber = self.climber(server.port, forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"],
                               log_level="info")
        socks = []
        try:
            # Batches of 100 at once: each tunnel is proven up by the echo of its own name.
            for first in range(0, n, 100):
                batch = []
                for i in range(first, min(n, first + 100)):
                    s = socket.create_connection(("127.0.0.1", fwd), timeout=30)
                    s.sendall(b"%05d" % i)
                    batch.append((i, s))
                for i, s in batch:
                    self.assertEqual(recv_exact(s, 5), b"%05d" % i)
                socks += [s for _, s in batch]
            self.assertEqual(t.open, n)
            # All of them at the same time, still carrying bytes both ways.
            for s in socks:
                s.sendall(b"!")
            for s in socks:
                self.assertEqual(recv_exact(s, 1), b"!")
        finally:
            for s in socks:
                s.close()
        self.assertEqual(t.accepted, n)
        wait_for(lambda: len(tunnel_sources(server)) >= n, 60, "the server's tunnel log lines")
        # 2,500 tunnels at 256 streams per connection: ten QUIC connections (source ports).
        self.assertEqual(len(set(tunnel_sources(server))), 10)
        # Counted, not searched: a failure message with 2,500 log lines in it helps nobody.
        self.assertEqual(climber.log().count("QUIC pool full"), 0)
        self.assertEqual(climber.log().count("reset by peer"), 0)

    def test_a_full_pool_fails_at_once_with_0x01_and_503_naming_the_limit(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"],
                             limits={"quic_streams_per_connection": 4})
        t = self.target(echo_handler)
        socks_port, http_port = free_port(), free_port()
        # A long set-up time-out: a refusal that waited for it would be 0x06 / 504, not these.
        climber = self.climber(server.port, socks=f"127.0.0.1:{socks_port}",
                               http=f"127.0.0.1:{http_port}", timeouts={"handshake": 120},
                               limits={"quic_connections": 2})
        held = []
        try:
            for i in range(8):
                s, code = socks5_connect(socks_port, "127.0.0.1", t.port, timeout=30)
                held.append(s)
                self.assertEqual(code, 0x00)
                s.sendall(b"up %d" % i)
                self.assertEqual(recv_exact(s, len(b"up %d" % i)), b"up %d" % i)
            s, code = socks5_connect(socks_port, "127.0.0.1", t.port, timeout=30)
            s.close()
            self.assertEqual(code, 0x01)
            with socket.create_connection(("127.0.0.1", http_port), timeout=30) as h:
                h.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % t.port)
                self.assertTrue(recv_all(h, 30).startswith(b"HTTP/1.1 503 Service Unavailable"))
            wait_for(lambda: climber.log().count("QUIC pool full") >= 2, 15, "the log lines")
            self.assertEqual(climber.log().count("at limit: QUIC pool full: 2 connections x 4 "
                                                 "streams (limits.quic_connections)"), 2)
            # One tunnel ends: its slot serves the next one.
            held.pop().close()
            wait_for(lambda: climber.log().count("info  tunnel socks") >= 2, 15,
                     "the climber to end that tunnel")
            s, code = socks5_connect(socks_port, "127.0.0.1", t.port, timeout=30)
            held.append(s)
            self.assertEqual(code, 0x00)
        finally:
            for s in held:
                s.close()
        # The target's thread counts a connection after accepting it, which may come a moment
        # after the SOCKS5 success reply: wait for it (bounded), then check the exact count.
        wait_for(lambda: t.connections >= 9, 15, "the target to count the ninth connection")
        self.assertEqual(t.connections, 9)

    def test_bad_pool_size_is_refused(self):
        cfg = {"server": "mtop://u:p@127.0.0.1:1?transport=quic", "socks": "127.0.0.1:0",
               "limits": {"quic_connections": 0}}
        path = os.path.join(self.d.dir, "bad-pool.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        os.chmod(path, 0o600)
        r = subprocess.run([CLIMBER_BIN, "--config", path], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("config.limits.quic_connections: must be a whole number from 1 to 1000000",
                      r.stderr)


class StealthCodes(QuicTest):
    def test_climber_log_names_the_reset_code_and_socks_gets_0x01(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        socks = free_port()
        climber = self.climber(server.port, password="wrong", socks=f"127.0.0.1:{socks}")
        s, code = socks5_connect(socks, "127.0.0.1", t.port, timeout=30)
        s.close()
        self.assertEqual(code, 0x01)  # a stealth refusal has no status: general failure
        wait_for(lambda: "REFUSED" in climber.log(), 15, "the climber's log line")
        self.assertIn("tunnel refused by the server (stealth mode): reset by peer: 0x3 (REFUSED)",
                      climber.log())
        self.assertEqual(t.connections, 0)


class CleanEnd(QuicTest):
    def test_target_closing_after_its_bytes_were_acked_reaches_a_slow_reader_intact(self):
        # The application sends its request and half-closes; the target answers with 512 KiB,
        # waits until the climber's QUIC stack has acknowledged all of it, then closes. The
        # application only starts reading later, so the climber still holds those bytes. The
        # server ends the stream (both sides at EOF, nothing unacknowledged): that must be a FIN
        # behind the bytes, never a RESET_STREAM, which makes the climber drop what it holds.
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        blob = os.urandom(512 << 10)

        def answer_then_close(sock, target):
            while sock.recv(65536):
                pass
            sock.sendall(blob)
            time.sleep(0.5)  # long enough for every byte to be acknowledged over loopback
            sock.close()

        t = self.target(answer_then_close)
        fwd = free_port()
        climber = self.climber(server.port, forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        for round_ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            s.settimeout(60)
            s.connect(("127.0.0.1", fwd))
            s.sendall(b"go")
            s.shutdown(socket.SHUT_WR)
            time.sleep(1.5)  # a slow application: the target has closed before it reads
            got = recv_all(s, 60)
            s.close()
            self.assertEqual(len(got), len(blob), f"round {round_}")
            self.assertEqual(hashlib.sha256(got).digest(), hashlib.sha256(blob).digest())
        wait_for(lambda: climber.log().count("info  tunnel forward") >= 3, 15, "tunnel lines")
        self.assertNotIn("reset by peer", climber.log())


class Lossy(QuicTest):
    def test_8_mib_each_way_and_new_tunnels_through_a_lossy_relay(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        relay = Relay(self.d.dir, server.port, seed=4242, drop=0.03, reorder=0.02, duplicate=0.01)
        self.relays.append(relay)
        t = self.target(sha_handler)
        echo = self.target(echo_handler)
        fwd, fwd_echo = free_port(), free_port()
        self.climber(relay.port, forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}",
                                          f"127.0.0.1:{fwd_echo}:127.0.0.1:{echo.port}"])
        # Upstream: 8 MiB to a target that answers with their SHA-256 after EOF.
        up = os.urandom(8 << 20)
        s = socket.create_connection(("127.0.0.1", fwd), timeout=120)
        s.sendall(up)
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_all(s, 120), hashlib.sha256(up).hexdigest().encode())
        s.close()
        # Both ways at once: 8 MiB echoed back, read by a thread while the test writes.
        down = os.urandom(8 << 20)
        got = []
        s = socket.create_connection(("127.0.0.1", fwd_echo), timeout=120)
        reader = threading.Thread(target=lambda: got.append(recv_all(s, 120)))
        reader.start()
        s.sendall(down)
        s.shutdown(socket.SHUT_WR)
        reader.join(timeout=180)
        s.close()
        self.assertFalse(reader.is_alive())
        self.assertEqual(len(got[0]), len(down))
        self.assertEqual(hashlib.sha256(got[0]).digest(), hashlib.sha256(down).digest())
        # New tunnels still open over the lossy path.
        for i in range(10):
            p = os.urandom(1000 + i)
            self.assertEqual(echo_round(fwd_echo, p, timeout=60), p)
        counts = relay.stop()
        self.relays.remove(relay)
        # The relay really did impair traffic in both directions.
        for way in ("up", "down"):
            self.assertGreater(counts[way]["dropped"], 0, counts)
            self.assertGreater(counts[way]["reordered"], 0, counts)
            self.assertGreater(counts[way]["duplicated"], 0, counts)


class Certificates(QuicTest):
    def refused(self, server_over):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        socks = free_port()
        climber = self.climber(server.port, server_over=server_over, socks=f"127.0.0.1:{socks}")
        for _ in range(2):  # the second try goes through the client's back-off path
            s, code = socks5_connect(socks, "127.0.0.1", t.port, timeout=30)
            s.close()
            self.assertNotEqual(code, 0)
        time.sleep(0.2)
        self.assertEqual(t.connections, 0, "nothing may reach the target")
        # Not even a refused tunnel: the credentials never left the climber.
        self.assertNotIn("tunnel ", server.log())
        self.assertTrue(climber.alive())
        return climber.log()

    def test_wrong_ca_refused(self):
        other = os.path.join(self.d.dir, "other")
        os.mkdir(other)
        run([SERVER_BIN, "gen-cert", "--name", "localhost", "--ip", "127.0.0.1",
             "--cert", os.path.join(other, "cert.pem"), "--key", os.path.join(other, "key.pem")])
        log = self.refused({"ca": os.path.join(other, "cert.pem")})
        self.assertRegex(log.lower(), r"server unreachable: .*certificate")

    def test_pin_mismatch_refused_and_right_pin_accepted(self):
        other = os.path.join(self.d.dir, "other")
        os.mkdir(other)
        run([SERVER_BIN, "gen-cert", "--name", "localhost", "--cert", os.path.join(other, "c.pem"),
             "--key", os.path.join(other, "k.pem")])
        log = self.refused({"pin": spki_pin(os.path.join(other, "c.pem"))})
        self.assertRegex(log.lower(), r"server unreachable: .*pin")

    def test_wrong_server_name_refused(self):
        log = self.refused({"sni": "not-this-server.example"})
        self.assertRegex(log.lower(), r"server unreachable: .*(certificate|name)")

    def test_insecure_still_checks_the_pin(self):
        other = os.path.join(self.d.dir, "other")
        os.mkdir(other)
        run([SERVER_BIN, "gen-cert", "--name", "x", "--cert", os.path.join(other, "c.pem"),
             "--key", os.path.join(other, "k.pem")])
        log = self.refused({"insecure": True, "ca": os.path.join(other, "c.pem"),
                            "pin": spki_pin(os.path.join(other, "c.pem"))})
        self.assertRegex(log.lower(), r"server unreachable: .*pin")

    def test_right_pin_accepted(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        socks = free_port()
        # With the CA and, separately, with only the pin (insecure: no chain or name check).
        socks2 = free_port()
        self.climber(server.port, server_over={"pin": spki_pin(self.d.cert)},
                     socks=f"127.0.0.1:{socks}")
        self.climber(server.port, server_over={"pin": spki_pin(self.d.cert), "insecure": True,
                                               "sni": "any.example"},
                     socks=f"127.0.0.1:{socks2}")
        for port in (socks, socks2):
            s, code = socks5_connect(port, "127.0.0.1", t.port)
            self.assertEqual(code, 0)
            s.sendall(b"pinned")
            self.assertEqual(recv_exact(s, 6), b"pinned")
            s.close()


class Isolation(QuicTest):
    def test_failing_requests_leave_live_streams_flowing(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"], reply_status=True)
        echo = self.target(echo_handler)
        v6 = self.target(echo_handler, host="::1")  # denied by policy: must see nothing
        socks = free_port()
        fwd = free_port()
        climber = self.climber(server.port, socks=f"127.0.0.1:{socks}",
                               forward=[f"127.0.0.1:{fwd}:127.0.0.1:{echo.port}"])
        stop = threading.Event()
        moved = [0] * 4
        errors = []

        def busy(i):
            # Ping-pong 16 KiB blocks on one tunnel, checking every byte, until told to stop.
            rng = random.Random(i)
            try:
                with socket.create_connection(("127.0.0.1", fwd), timeout=30) as s:
                    while not stop.is_set():
                        block = rng.randbytes(16384)
                        s.sendall(block)
                        if recv_exact(s, len(block)) != block:
                            errors.append(f"stream {i}: data differs")
                            return
                        moved[i] += len(block)
            except Exception as e:
                errors.append(f"stream {i}: {e!r}")

        threads = [threading.Thread(target=busy, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        wait_for(lambda: all(m > 0 for m in moved) or errors, 30, "busy streams to start")
        closed = free_port()
        codes = []
        for _ in range(5):
            for host, port in (("127.0.0.1", closed), ("::1", v6.port), ("127.0.0.2", echo.port),
                               ("no-such-host.invalid", 80)):
                s, code = socks5_connect(socks, host, port, timeout=30)
                s.close()
                codes.append(code)
        before = list(moved)
        wait_for(lambda: all(m > b for m, b in zip(moved, before)) or errors, 30,
                 "busy streams to keep moving after the failures")
        stop.set()
        for th in threads:
            th.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertNotIn(0, codes)
        # The server's answers: connection refused (0x05) and, for policy/DNS, a failure.
        self.assertEqual(codes[0], 0x05)
        self.assertEqual(v6.connections, 0)
        self.assertTrue(climber.alive())
        wait_for(lambda: len(tunnel_sources(server)) >= 4, 15, "the busy tunnels' log lines")
        log = server.log()
        self.assertIn("denied", log)
        # All of it went over one QUIC connection.
        self.assertEqual(len(set(tunnel_sources(server))), 1)
        refused_sources = set(re.findall(r"tunnel refused source=(\S+)", log))
        self.assertEqual(refused_sources, set(tunnel_sources(server)))
        self.assertEqual(echo.received, sum(moved))

    def test_wrong_password_climber_beside_a_good_one(self):
        self.d.add_user("alice", "right")
        server = self.server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        good_socks, bad_socks = free_port(), free_port()
        self.climber(server.port, "alice", "right", socks=f"127.0.0.1:{good_socks}")
        self.climber(server.port, "alice", "Wr0ng-Pa55", socks=f"127.0.0.1:{bad_socks}")
        results = {"good": [], "bad": []}

        def use(kind, port, rounds):
            for i in range(rounds):
                try:
                    s, code = socks5_connect(port, "127.0.0.1", t.port, timeout=30)
                    ok = False
                    if code == 0:
                        s.sendall(b"x%d" % i)
                        ok = recv_exact(s, len(b"x%d" % i)) == b"x%d" % i
                    s.close()
                    results[kind].append((code, ok))
                except Exception as e:
                    results[kind].append(("error", repr(e)))

        threads = [threading.Thread(target=use, args=("good", good_socks, 20)),
                   threading.Thread(target=use, args=("bad", bad_socks, 10))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        self.assertEqual(results["good"], [(0, True)] * 20)
        self.assertEqual(len(results["bad"]), 10)
        self.assertTrue(all(code not in (0, "error") for code, _ in results["bad"]), results["bad"])
        self.assertEqual(t.connections, 20, "only the good climber reaches the target")
        self.assertNotIn("Wr0ng-Pa55", server.log(), "the password must never be logged")


class Restart(QuicTest):
    def restart(self, sig):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        port = server.port
        t = self.target(echo_handler)
        fwd = free_port()
        climber = self.climber(port, forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        self.assertEqual(echo_round(fwd, b"before"), b"before")
        live = socket.create_connection(("127.0.0.1", fwd), timeout=30)
        live.sendall(b"live")
        self.assertEqual(recv_exact(live, 4), b"live")
        if sig == signal.SIGTERM:
            # A live tunnel keeps a draining server up; the second SIGTERM ends it at once
            # (that is the operator's "stop now"), closing the QUIC connection properly.
            server.proc.send_signal(sig)
            wait_for(lambda: "draining" in server.log(), 15, "the server to start draining")
            t_stop = time.monotonic()
            server.stop(sig)
            self.assertLess(time.monotonic() - t_stop, 10)
        else:
            server.stop(sig)
        server2 = self.server(port=port, allow_targets=["127.0.0.1/32"])
        t0 = time.monotonic()
        answer, tries = None, 0
        while time.monotonic() - t0 < 40 and answer != b"after":
            tries += 1
            try:
                answer = echo_round(fwd, b"after", timeout=15)
            except OSError:
                answer = None
            if answer != b"after":
                time.sleep(0.2)
        self.assertEqual(answer, b"after", f"no working tunnel after {tries} tries")
        self.assertTrue(climber.alive())
        # Then it keeps working, every time.
        took = time.monotonic() - t0
        # The tunnel that was live on the old connection ends (EOF or reset), it does not hang.
        live.settimeout(20)
        try:
            rest = live.recv(100)
        except ConnectionResetError:
            rest = b""
        live.close()
        self.assertEqual(rest, b"")
        for i in range(5):
            self.assertEqual(echo_round(fwd, b"again%d" % i), b"again%d" % i)
        wait_for(lambda: len(tunnel_sources(server2)) >= 6, 15, "the new server's tunnel lines")
        # One new QUIC connection carries them all.
        self.assertEqual(len(set(tunnel_sources(server2))), 1)
        print(f"restart after {sig!r}: a tunnel worked again after {took:.2f}s, {tries} tries",
              file=sys.stderr)
        self.climber_log = log_text(climber)
        return took

    def test_sigterm_restart_reconnects(self):
        took = self.restart(signal.SIGTERM)
        # The server closed its connections on the way out: the climber knew at once.
        self.assertLess(took, 5)

    def test_sigkill_restart_reconnects(self):
        took = self.restart(signal.SIGKILL)
        # No CONNECTION_CLOSE this time; the new instance's stateless reset must end the
        # dead connection well before the 30 s idle time-out. That needs the same QUIC secret
        # in both instances (mtop-server derives it from its key file).
        self.assertLess(took, 10)
        self.assertIn("stateless reset", self.climber_log)


def quic_initial_from_climber(test, directory):
    """The first datagram a climber sends: a real QUIC client Initial, captured on a UDP
    socket that plays the server (and never answers)."""
    cap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cap.bind(("127.0.0.1", 0))
    cap.settimeout(15)
    port = cap.getsockname()[1]
    socks = free_port()
    c = test.climber(port, socks=f"127.0.0.1:{socks}")
    s = socket.create_connection(("127.0.0.1", socks), timeout=15)
    s.sendall(b"\x05\x01\x00")
    recv_exact(s, 2)
    s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50")
    try:
        data, _ = cap.recvfrom(65536)
    finally:
        s.close()
        cap.close()
        c.stop()
    return data


class Junk(QuicTest):
    def test_random_and_truncated_datagrams_are_ignored(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        initial = quic_initial_from_climber(self, self.d.dir)
        self.assertEqual(initial[0] & 0xC0, 0xC0, "a long-header packet")
        self.assertEqual(initial[1:5], b"\x00\x00\x00\x01", "QUIC v1")
        fwd = free_port()
        self.climber(server.port, forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        live = socket.create_connection(("127.0.0.1", fwd), timeout=30)
        live.sendall(b"before")
        self.assertEqual(recv_exact(live, 6), b"before")

        # The server parses what it gets: an unknown version is answered with Version
        # Negotiation (listing QUIC v1, CIDs echoed swapped), and a short-header packet for an
        # unknown connection with a stateless reset smaller than the packet that caused it.
        dcid, scid = bytes(range(1, 9)), bytes(range(11, 19))
        probe = b"\xc0\xba\xba\xba\xba" + b"\x08" + dcid + b"\x08" + scid
        probe += b"\x00" * (1200 - len(probe))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(5)
            u.sendto(probe, ("127.0.0.1", server.port))
            vn = u.recv(65536)
            self.assertEqual(vn[0] & 0x80, 0x80)
            self.assertEqual(vn[1:5], b"\x00\x00\x00\x00")
            self.assertEqual(vn[5:14], b"\x08" + scid)
            self.assertEqual(vn[14:23], b"\x08" + dcid)
            versions = [vn[i:i + 4] for i in range(23, len(vn), 4)]
            self.assertIn(b"\x00\x00\x00\x01", versions)
            u.sendto(b"\x40" + os.urandom(1199), ("127.0.0.1", server.port))
            reset = u.recv(65536)
            self.assertEqual(reset[0] & 0xC0, 0x40)
            self.assertLess(len(reset), 1200)
            self.assertGreaterEqual(len(reset), 21)

        rng = random.Random(14)
        junk = []
        junk += [rng.randbytes(n) for n in (0, 1, 2, 5, 20, 100, 1199, 1200, 1350, 1500, 9000)]
        junk += [initial[:n] for n in (1, 5, 6, 7, 20, 50, 100, 600, len(initial) - 1)]
        corrupt = bytearray(initial)
        for i in range(30, len(corrupt), 97):
            corrupt[i] ^= 0xFF
        junk.append(bytes(corrupt))
        junk.append(initial)  # a replayed real Initial: a handshake that is never finished
        junk.append(initial[:5] + b"\x00" * 10)  # a header with lengths beyond the datagram
        junk.append(b"\xc0\xba\xba\xba\xba" + rng.randbytes(1195))  # unknown version: VN
        junk.append(b"\x40" + rng.randbytes(1199))  # short header, unknown CID: stateless reset
        junk.append(b"\xc0\x00\x00\x00\x01\xff" + rng.randbytes(1194))  # CID length 255
        junk += [bytes([rng.choice((0x40, 0xC0, 0xE0, 0xF0))]) + rng.randbytes(rng.randrange(1, 1400))
                 for _ in range(200)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for _ in range(3):
                for j in junk:
                    u.sendto(j, ("127.0.0.1", server.port))
                time.sleep(0.05)
        time.sleep(0.3)
        self.assertTrue(server.alive())
        # The live tunnel and new tunnels work; a fresh climber can connect.
        live.sendall(b"after")
        self.assertEqual(recv_exact(live, 5), b"after")
        live.close()
        self.assertEqual(echo_round(fwd, b"new"), b"new")
        socks = free_port()
        self.climber(server.port, socks=f"127.0.0.1:{socks}")
        s, code = socks5_connect(socks, "127.0.0.1", t.port)
        self.assertEqual(code, 0)
        s.sendall(b"fresh")
        self.assertEqual(recv_exact(s, 5), b"fresh")
        s.close()
        self.assertTrue(server.alive())


class LivePackets(QuicTest):
    def test_mangled_and_replayed_packets_of_a_live_connection_are_dropped(self):
        # Real 1-RTT packets of a live connection (recorded by the relay), sent again from
        # another address: truncated, with flipped bits, and unchanged (a replay, which also
        # looks like a migration). None of it may close or move the connection.
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        record = os.path.join(self.d.dir, "packets.hex")
        relay = Relay(self.d.dir, server.port, seed=7, drop=0, reorder=0, duplicate=0,
                      record=record)
        self.relays.append(relay)
        t = self.target(echo_handler)
        fwd = free_port()
        self.climber(relay.port, forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        live = socket.create_connection(("127.0.0.1", fwd), timeout=30)
        for i in range(10):
            live.sendall(b"warm%d" % i)
            self.assertEqual(recv_exact(live, 5), b"warm%d" % i)
        def recorded():
            if not os.path.exists(record):
                return []
            with open(record) as f:
                return [bytes.fromhex(h) for h in f.read().split()]

        wait_for(lambda: len(recorded()) >= 5, 15, "recorded 1-RTT packets")
        packets = recorded()
        rng = random.Random(3)
        mangled = []
        for p in packets:
            mangled += [p[:n] for n in (1, 2, 9, 21, 22, 30, len(p) // 2, len(p) - 1) if n < len(p)]
            flipped = bytearray(p)
            for i in range(21, len(flipped), 7):
                flipped[i] ^= 1 << rng.randrange(8)
            mangled.append(bytes(flipped))
            mangled.append(p + rng.randbytes(16))  # trailing garbage
            mangled.append(p)  # replay
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            junk_port = u.getsockname()[1]
            # Answers (a path challenge to this address, stateless resets) are never read.
            for m in mangled:
                u.sendto(m, ("127.0.0.1", server.port))
        time.sleep(0.3)
        self.assertTrue(server.alive())
        # The live tunnel and the connection are unharmed, and still on the relay's path.
        for i in range(10):
            live.sendall(b"after%d" % i)
            self.assertEqual(recv_exact(live, 6), b"after%d" % i)
        live.close()
        self.assertEqual(echo_round(fwd, b"new tunnel"), b"new tunnel")
        wait_for(lambda: len(tunnel_sources(server)) >= 2, 15, "tunnel lines")
        sources = set(tunnel_sources(server))
        self.assertEqual(len(sources), 1, sources)  # one connection, never moved
        self.assertNotIn(f"127.0.0.1:{junk_port}", sources)


class Auto(QuicTest):
    def sequential_sources(self, server, fwd, n=3):
        for i in range(n):
            self.assertEqual(echo_round(fwd, b"auto%d" % i), b"auto%d" % i)
        wait_for(lambda: len(tunnel_sources(server)) >= n, 15, "tunnel log lines")
        return tunnel_sources(server)

    def test_auto_falls_back_to_tls_when_quic_is_off(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"], quic=False)
        self.assertNotIn("QUIC over UDP", server.log())
        t = self.target(echo_handler)
        fwd = free_port()
        climber = self.climber(server.port, transport="auto",
                               forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        sources = self.sequential_sources(server, fwd)
        # TLS over TCP: a new TCP connection (source port) per tunnel.
        self.assertEqual(len(set(sources)), 3, sources)
        log = climber.log()
        self.assertIn("transport auto:", log)
        self.assertIn("using TLS", log)
        # Remembered: the fallback is reported once, not per tunnel.
        self.assertEqual(log.count("using TLS for the next"), 1, log)

    def test_auto_uses_quic_when_it_is_on(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        fwd = free_port()
        climber = self.climber(server.port, transport="auto",
                               forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        sources = self.sequential_sources(server, fwd)
        self.assertEqual(len(set(sources)), 1, sources)  # one QUIC connection
        self.assertNotIn("using TLS", climber.log())
        self.assertIn("transport auto: using QUIC", climber.log())

    def test_auto_falls_back_when_udp_is_silently_dropped(self):
        # A middlebox that eats UDP: no ICMP, no answer. The server's UDP port is held by a
        # socket that reads nothing back; only the fallback timer can decide.
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"], quic=False)
        hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hole.bind(("127.0.0.1", server.port))
        self.addCleanup(hole.close)
        t = self.target(echo_handler)
        fwd = free_port()
        climber = self.climber(server.port, transport="auto",
                               forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        t0 = time.monotonic()
        self.assertEqual(echo_round(fwd, b"first"), b"first")
        first = time.monotonic() - t0
        t0 = time.monotonic()
        self.assertEqual(echo_round(fwd, b"second"), b"second")
        second = time.monotonic() - t0
        log = climber.log()
        self.assertIn("no QUIC stream within 1500 ms; using TLS", log)
        self.assertEqual(log.count("using TLS for the next"), 1, log)
        self.assertGreaterEqual(first, 1.4)  # waited for QUIC first...
        self.assertLess(second, 1.4)         # ...but only once: the choice is remembered
        hole.settimeout(1)
        self.assertTrue(hole.recv(65536)[1:5] == b"\x00\x00\x00\x01", "QUIC was tried")

    def test_quic_only_climber_fails_cleanly_when_quic_is_off(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_targets=["127.0.0.1/32"], quic=False)
        t = self.target(echo_handler)
        socks = free_port()
        climber = self.climber(server.port, socks=f"127.0.0.1:{socks}")
        t0 = time.monotonic()
        s, code = socks5_connect(socks, "127.0.0.1", t.port, timeout=30)
        s.close()
        took = time.monotonic() - t0
        self.assertEqual(code, 0x01)  # not 0x06 (set-up time-out): the cause is known at once
        # Nothing listens on the UDP port: the kernel says so (ICMP), and the climber says it.
        self.assertIn("server unreachable: quic: cannot connect to", climber.log())
        self.assertIn("server unreachable over UDP (connection refused)", climber.log())
        self.assertLess(took, 8, "the handshake time-out (10 s) must not be what ended it")
        self.assertEqual(t.connections, 0)


def http_handler(body):
    def handle(sock, target):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        need = int(m.group(1)) if m else 0
        while len(rest) < need:
            chunk = sock.recv(65536)
            if not chunk:
                return
            rest += chunk
        target.last_request = head
        target.last_body = rest
        out = body if body is not None else hashlib.sha256(rest).hexdigest().encode()
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(out), out))
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass
    return handle


class Inbound(QuicTest):
    """Inbound modes over QUIC that test_tunnel.py does not cover."""

    def start(self, **cfg):
        self.d.add_user("alice", "pw")
        self.server_p = self.server(allow_targets=["127.0.0.1/32", "::1/128"])
        return self.climber(self.server_p.port, **cfg)

    def test_socks5_with_local_username_and_password(self):
        socks = free_port()
        self.start(socks=f"127.0.0.1:{socks}",
                   local_auth={"username": "app", "password": "local-secret"})
        web = self.target(http_handler(b"authed"))
        rc, out, err = curl(["--socks5-hostname", f"127.0.0.1:{socks}", "--proxy-user",
                             "app:local-secret", f"http://127.0.0.1:{web.port}/"])
        self.assertEqual((rc, out), (0, "authed"), err)
        rc, out, err = curl(["--socks5-hostname", f"127.0.0.1:{socks}", "--proxy-user",
                             "app:nope", f"http://127.0.0.1:{web.port}/"])
        self.assertNotEqual(rc, 0)
        self.assertEqual(web.connections, 1)

    def test_climber_listening_on_ipv6_and_socks5_to_ipv6_and_domain(self):
        socks = free_port(socket.AF_INET6)
        self.start(socks=f"[::1]:{socks}")
        web6 = self.target(http_handler(b"six"), host="::1")
        web4 = self.target(http_handler(b"four"))
        rc, out, err = curl(["--socks5", f"[::1]:{socks}", f"http://[::1]:{web6.port}/"])
        self.assertEqual((rc, out), (0, "six"), err)
        # A domain the server resolves (localhost: 127.0.0.1, and ::1 where /etc/hosts says so).
        rc, out, err = curl(["--socks5-hostname", f"[::1]:{socks}",
                             f"http://localhost:{web4.port}/"])
        self.assertEqual((rc, out), (0, "four"), err)

    def test_http_connect_to_domain_and_forwarded_post_body(self):
        http = free_port()
        self.start(http=f"127.0.0.1:{http}")
        web = self.target(http_handler(None))
        body = os.urandom(3 << 20)
        path = os.path.join(self.d.dir, "body.bin")
        with open(path, "wb") as f:
            f.write(body)
        want = hashlib.sha256(body).hexdigest()
        # HTTP forwarding (absolute-form) with a 3 MiB body.
        rc, out, err = curl(["-x", f"http://127.0.0.1:{http}", "--data-binary", f"@{path}",
                             "-H", "Content-Type: application/octet-stream",
                             f"http://127.0.0.1:{web.port}/upload"], timeout=60)
        self.assertEqual((rc, out), (0, want), err)
        self.assertTrue(web.last_request.startswith(b"POST /upload HTTP/1.1\r\n"))
        # CONNECT to a name the server resolves.
        rc, out, err = curl(["-p", "-x", f"http://127.0.0.1:{http}", "--data-binary", f"@{path}",
                             f"http://localhost:{web.port}/tunnelled"], timeout=60)
        self.assertEqual((rc, out), (0, want), err)

    def test_port_forward_to_ipv6_target_half_close(self):
        fwd = free_port()
        t6 = self.target(sha_handler, host="::1")
        self.start(forward=[f"127.0.0.1:{fwd}:[::1]:{t6.port}"])
        payload = os.urandom(1 << 20)
        self.assertEqual(echo_round(fwd, payload), hashlib.sha256(payload).hexdigest().encode())


if __name__ == "__main__":
    unittest.main(verbosity=2)


class Groups(QuicTest):
    """Key-exchange groups (issue 10) on both transports: the climber offers only its
    server.tls_groups (X25519, P-256 by default), the server accepts only its tls_groups."""

    def codes(self, server_port, target_port, groups):
        codes = {}
        for transport in ("quic", "tls"):
            socks = free_port()
            over = {"tls_groups": groups} if groups else None
            c = self.climber(server_port, transport=transport, server_over=over,
                             socks=f"127.0.0.1:{socks}")
            s, code = socks5_connect(socks, "127.0.0.1", target_port, timeout=30)
            if code == 0:
                s.sendall(b"kex")
                self.assertEqual(recv_exact(s, 3), b"kex")
            s.close()
            codes[transport] = code
            c.stop()
        return codes

    def test_default_and_configured_groups_on_both_transports(self):
        self.d.add_user("alice", "pw")
        t = self.target(echo_handler)
        server = self.server(allow_targets=["127.0.0.1/32"])
        self.assertEqual(self.codes(server.port, t.port, None), {"quic": 0, "tls": 0})
        self.assertEqual(self.codes(server.port, t.port, ["P-256"]), {"quic": 0, "tls": 0})
        # No group in common: the handshake fails, the tunnel cannot be opened (0x01).
        self.assertEqual(self.codes(server.port, t.port, ["P-384"]), {"quic": 1, "tls": 1})
        p384 = self.server(allow_targets=["127.0.0.1/32"], tls_groups=["P-384"])
        self.assertEqual(self.codes(p384.port, t.port, ["P-384"]), {"quic": 0, "tls": 0})
        self.assertEqual(self.codes(p384.port, t.port, None), {"quic": 1, "tls": 1})
        self.assertEqual(t.connections, 6)

