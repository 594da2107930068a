"""mtop-server reloads without a restart (issue 11): SIGHUP re-reads the config file and applies
it while tunnels live on; a broken config is refused and the running one stays; a renewed
certificate on disk is served to new handshakes with no signal at all.

MTOP_TRANSPORT=tls|quic picks the climber's transport, so the same cases run over both."""
import hashlib
import os
import re
import socket
import subprocess
import threading
import time

from harness import (SERVER_BIN, DeploymentTest, echo_handler, free_port, port_open, recv_exact,
                     run, socks5_connect, wait_for)
from test_admin import TOKEN, http
from test_quic import echo_round, spki_pin, wait_quic_listening

TRANSPORT = os.environ.get("MTOP_TRANSPORT", "tls")


class Streaming:
    """64 MiB through a port-forward, each way, in threads; sha256 of both ends."""

    SIZE = 64 << 20

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sent = hashlib.sha256()
        self.got = hashlib.sha256()
        self.received = 0
        self.reader = threading.Thread(target=self._read)
        self.writer = threading.Thread(target=self._write)
        self.reader.start()
        self.writer.start()

    def _read(self):
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                return
            self.received += len(data)
            self.got.update(data)

    def _write(self):
        block = os.urandom(1 << 20)
        for i in range(self.SIZE // len(block)):
            chunk = bytes([i & 0xFF]) + block[1:]
            self.sent.update(chunk)
            self.sock.sendall(chunk)
            time.sleep(0.01)  # ~1 s or more in all: long enough to reload in the middle
        self.sock.shutdown(socket.SHUT_WR)

    def finish(self, test):
        self.writer.join(timeout=180)
        self.reader.join(timeout=180)
        self.sock.close()
        test.assertFalse(self.reader.is_alive() or self.writer.is_alive(), "stream stalled")
        test.assertEqual(self.received, self.SIZE)
        test.assertEqual(self.got.hexdigest(), self.sent.hexdigest())


class ReloadTest(DeploymentTest):
    def serve(self, **over):
        self.d.add_user("alice", "pw")
        over.setdefault("allow_targets", ["127.0.0.1/32"])
        server = self.d.start_server(**over)
        if TRANSPORT == "quic":
            wait_quic_listening(server)
        return server

    def forward(self, server_port, target, **kw):
        """A climber forwarding a fresh local port to `target`; returns the local port."""
        fwd = free_port()
        self.d.start_climber(server_port, "alice", "pw", TRANSPORT,
                             forward=[f"127.0.0.1:{fwd}:127.0.0.1:{target.port}"], **kw)
        return fwd

    def socks(self, server_port, **kw):
        port = free_port()
        self.d.start_climber(server_port, "alice", "pw", TRANSPORT, socks=f"127.0.0.1:{port}", **kw)
        return port

    def assert_tunnel_works(self, socks_port, target, payload=b"still serving"):
        s, code = socks5_connect(socks_port, "127.0.0.1", target.port, timeout=30)
        try:
            self.assertEqual(code, 0, "a new tunnel must work")
            s.sendall(payload)
            self.assertEqual(recv_exact(s, len(payload)), payload)
        finally:
            s.close()


class LiveTunnels(ReloadTest):
    def test_sighup_while_64_mib_stream_drops_nothing(self):
        server = self.serve(log_level="debug")
        t = self.target(echo_handler)
        fwd = self.forward(server.port, t)
        stream = Streaming(fwd)
        wait_for(lambda: stream.received >= 4 << 20, 60, "the stream to flow")
        # Three reloads in the middle of it: a policy, the log level, an added listener (and
        # the certificate and users file read again each time).
        extra = free_port()
        replies = [
            self.d.reload_server(server, allow_targets=["127.0.0.1/32", "10.0.0.0/8"]),
            self.d.reload_server(server, log_level="info"),
            self.d.reload_server(server, listen=[f"127.0.0.1:{server.port}",
                                                 f"127.0.0.1:{extra}"]),
        ]
        self.assertLess(stream.received, Streaming.SIZE, "the reloads came after the stream")
        for reply in replies:
            self.assertIn("SIGHUP: config reloaded", reply)
        self.assertIn("engine options (allow_targets)", replies[0])
        self.assertIn("log_level info", replies[1])
        self.assertIn(f"listen +127.0.0.1:{extra}", replies[2])
        stream.finish(self)
        self.assertEqual(t.received, Streaming.SIZE)
        # New tunnels on both the old and the new port.
        self.assertEqual(echo_round(fwd, b"after"), b"after")
        fwd2 = self.forward(extra, t)
        self.assertEqual(echo_round(fwd2, b"new port"), b"new port")


class BrokenConfig(ReloadTest):
    def test_each_broken_config_is_refused_and_the_old_one_serves(self):
        server = self.serve()
        t = self.target(echo_handler)
        socks = self.socks(server.port)
        self.assert_tunnel_works(socks, t)
        other = os.path.join(self.d.dir, "other")
        os.mkdir(other)
        run([SERVER_BIN, "gen-cert", "--name", "localhost", "--cert", os.path.join(other, "c.pem"),
             "--key", os.path.join(other, "k.pem")])
        broken_users = os.path.join(self.d.dir, "broken-users.json")
        with open(broken_users, "w") as f:
            f.write('{"users": [')
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        good = dict(server.config)
        cases = [
            ({"text": '{"listen": ['}, "syntax error"),
            ({"cert": os.path.join(self.d.dir, "missing.pem")}, "missing.pem"),
            ({"key": os.path.join(other, "k.pem")}, "does not match the certificate"),
            ({"listen": [f"127.0.0.1:{server.port}", f"127.0.0.1:{busy_port}"]},
             f"127.0.0.1:{busy_port}"),
            ({"users": {"type": "file", "path": broken_users}}, "broken-users.json"),
            ({"allow_targets": ["10.0.0.0/99"]}, "allow_targets"),
        ]
        try:
            for change, needle in cases:
                with self.subTest(change=change):
                    server.config = dict(good)
                    reply = self.d.reload_server(server, **change)
                    self.assertIn("SIGHUP: config refused, the running one stays", reply)
                    self.assertIn(needle, reply)
                    self.assertTrue(server.alive())
                    # The old settings serve new tunnels: the same port, users and policy.
                    self.assert_tunnel_works(socks, t)
        finally:
            busy.close()
        self.assertFalse(port_open(busy_port), "the refused listener must not stay bound")
        # The file fixed: accepted.
        server.config = dict(good)
        self.assertIn("SIGHUP: config reloaded", self.d.reload_server(server))
        self.assert_tunnel_works(socks, t)


def fingerprint_of_file(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return out.strip().split("=", 1)[1]


def served_fingerprint(port):
    """The certificate a fresh TLS handshake on `port` gets, as openssl s_client sees it."""
    hello = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                            "-servername", "localhost", "-tls1_3"],
                           input="", capture_output=True, text=True, timeout=30).stdout
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", hello, re.S)
    assert pem, hello
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                         input=pem.group(0), capture_output=True, text=True, check=True,
                         timeout=30).stdout
    return out.strip().split("=", 1)[1]


class RenewedCertificate(ReloadTest):
    def test_renewed_files_are_served_to_the_next_handshake_without_a_signal(self):
        # certbot's layout: live/ holds symlinks into archive/, renewal points them at new files.
        archive = os.path.join(self.d.dir, "archive")
        live = os.path.join(self.d.dir, "live")
        os.mkdir(archive)
        os.mkdir(live)
        os.rename(self.d.cert, os.path.join(archive, "cert1.pem"))
        os.rename(self.d.key, os.path.join(archive, "privkey1.pem"))
        run([SERVER_BIN, "gen-cert", "--name", "localhost", "--ip", "127.0.0.1",
             "--cert", os.path.join(archive, "cert2.pem"),
             "--key", os.path.join(archive, "privkey2.pem")])

        def point(name, target):
            tmp = os.path.join(live, name + ".new")
            os.symlink(os.path.join("..", "archive", target), tmp)
            os.replace(tmp, os.path.join(live, name))

        point("cert.pem", "cert1.pem")
        point("privkey.pem", "privkey1.pem")
        first = fingerprint_of_file(os.path.join(archive, "cert1.pem"))
        second = fingerprint_of_file(os.path.join(archive, "cert2.pem"))
        self.assertNotEqual(first, second)
        server = self.serve(cert=os.path.join(live, "cert.pem"),
                            key=os.path.join(live, "privkey.pem"), cert_watch=0.2)
        t = self.target(echo_handler)
        old_ca = os.path.join(self.d.dir, "old-ca.pem")
        with open(os.path.join(archive, "cert1.pem")) as src, open(old_ca, "w") as dst:
            dst.write(src.read())
        fwd = self.forward(server.port, t, server_over={"ca": old_ca})
        self.assertEqual(served_fingerprint(server.port), first)
        live_tunnel = socket.create_connection(("127.0.0.1", fwd), timeout=30)
        live_tunnel.sendall(b"before")
        self.assertEqual(recv_exact(live_tunnel, 6), b"before")

        # Half-way through a renewal: the new certificate with the old key. Refused, said once.
        point("cert.pem", "cert2.pem")
        wait_for(lambda: "cannot be used" in server.log(), 15, "the half-written pair to be seen")
        self.assertIn("key does not match the certificate", server.log())
        self.assertEqual(served_fingerprint(server.port), first)
        # The key follows: the pair is served to the next handshake, with no signal sent.
        point("privkey.pem", "privkey2.pem")
        wait_for(lambda: "certificate reloaded from disk" in server.log(), 15, "the new pair")
        self.assertEqual(server.log().count("cannot be used"), 1)
        self.assertNotIn("SIGHUP", server.log())
        self.assertEqual(served_fingerprint(server.port), second)
        line = [l for l in server.log().splitlines() if "certificate reloaded from disk" in l][0]
        self.assertRegex(line, r"subject CN ?= ?localhost, serial 0x[0-9A-F]+, expires \d{4}-")
        # A climber that trusts only the new certificate (pinned to its key too) gets through
        # on this transport; the tunnel opened before the renewal is still open.
        new_cert = os.path.join(archive, "cert2.pem")
        fwd2 = self.forward(server.port, t, server_over={"ca": new_cert,
                                                          "pin": spki_pin(new_cert)})
        self.assertEqual(echo_round(fwd2, b"renewed"), b"renewed")
        live_tunnel.sendall(b"after")
        self.assertEqual(recv_exact(live_tunnel, 5), b"after")
        live_tunnel.close()


class Policy(ReloadTest):
    def test_allow_targets_change_applies_to_new_tunnels_only(self):
        server = self.serve(reply_status=True)
        t = self.target(echo_handler)
        socks = self.socks(server.port)
        held, code = socks5_connect(socks, "127.0.0.1", t.port)
        self.assertEqual(code, 0)
        reply = self.d.reload_server(server, allow_targets=[])
        self.assertIn("engine options (allow_targets)", reply)
        s, code = socks5_connect(socks, "127.0.0.1", t.port)
        s.close()
        # Reply mode: a denied target is answered connect_failed (SOCKS5 0x05).
        self.assertEqual(code, 0x05, "the target policy now refuses loopback")
        wait_for(lambda: "failure=target_denied" in server.log(), 10, "the refusal")
        self.assertEqual(t.connections, 1, "only the tunnel from before reached the target")
        held.sendall(b"live")  # the tunnel opened before keeps its policy
        self.assertEqual(recv_exact(held, 4), b"live")
        held.close()
        self.d.reload_server(server, allow_targets=["127.0.0.1/32"])
        self.assert_tunnel_works(socks, t)


class Listeners(ReloadTest):
    """Two workers: each binds the new listen set (TLS and QUIC with SO_REUSEPORT) and retires the
    old one; the reload is all or nothing across them."""

    HELD = 16  # tunnels held on the new listener: all on one worker by chance is 2 * 2**-16

    def serve_two_workers(self):
        with open(os.path.join(self.d.dir, "admin.token"), "w") as f:
            f.write(TOKEN + "\n")
        self.admin_port = free_port()
        admin = {"listen": f"127.0.0.1:{self.admin_port}", "token_file": "admin.token"}
        # One stream per QUIC connection: each tunnel is a connection of its own, hashed anew.
        server = self.serve(workers=2, admin=admin, limits={"quic_streams_per_connection": 1})
        wait_for(lambda: port_open(self.admin_port), 10, "the admin listener")
        # Logged after the listeners are up, so not necessarily by now.
        wait_for(lambda: "2 workers" in server.log(), 10, "the workers line")
        return server

    def workers_on(self, port):
        """The workers of the live tunnels that came in through 127.0.0.1:`port`."""
        status, body = http(self.admin_port, "GET", "/api/tunnels", token=TOKEN)
        self.assertEqual(status, 200, body)
        return [t["worker"] for t in body["tunnels"]
                if t["listener"] == f"127.0.0.1:{port}" and t["stage"] == "relaying"]

    def test_added_listener_serves_and_removed_one_refuses_while_its_tunnel_goes_on(self):
        server = self.serve_two_workers()
        t = self.target(echo_handler)
        old_port = server.port
        fwd = self.forward(old_port, t)
        stream = Streaming(fwd)
        wait_for(lambda: stream.received >= 4 << 20, 60, "the stream to flow")
        new_port = free_port()
        reply = self.d.reload_server(server, listen=[f"127.0.0.1:{new_port}"])
        self.assertIn(f"listen +127.0.0.1:{new_port}", reply)
        self.assertIn(f"listen -127.0.0.1:{old_port}", reply)
        self.assertFalse(port_open(old_port), "the removed TCP listener must be closed")
        # New tunnels through the removed port fail; through the new one they work.
        socks_old = self.socks(old_port)
        s, code = socks5_connect(socks_old, "127.0.0.1", t.port, timeout=30)
        s.close()
        self.assertNotEqual(code, 0)
        socks_new = self.socks(new_port)
        self.assert_tunnel_works(socks_new, t)
        self.assertLess(stream.received, Streaming.SIZE, "the reload came during the stream")
        # Both workers took the new address: tunnels through it land on each of them.
        held = []
        try:
            for i in range(self.HELD):
                s, code = socks5_connect(socks_new, "127.0.0.1", t.port, timeout=30)
                held.append(s)
                self.assertEqual(code, 0, f"tunnel {i}")
                s.sendall(bytes([i]))
                self.assertEqual(recv_exact(s, 1), bytes([i]))
            workers = self.workers_on(new_port)
            self.assertEqual(len(workers), self.HELD, workers)
            self.assertEqual(set(workers), {0, 1}, workers)
        finally:
            for s in held:
                s.close()
        stream.finish(self)
        # Its last tunnel done, the removed QUIC socket closes too (the port is free again).
        wait_for(lambda: udp_port_free(old_port), 15, "the removed UDP socket to close")

    def test_a_port_taken_on_reload_changes_nothing(self):
        server = self.serve_two_workers()
        t = self.target(echo_handler)
        old_port = server.port
        socks = self.socks(old_port)
        self.assert_tunnel_works(socks, t)
        # The new port is taken by another program (TCP and UDP, without SO_REUSEPORT): the
        # first worker's bind fails and no worker changes its listeners.
        taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        taken_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            busy = taken.getsockname()[1]
            taken_udp.bind(("127.0.0.1", busy))
            reply = self.d.reload_server(server, listen=[f"127.0.0.1:{old_port}",
                                                         f"127.0.0.1:{busy}"])
            self.assertIn("config refused", reply)
            self.assertIn(str(busy), reply)
        finally:
            taken.close()
            taken_udp.close()
        self.assertTrue(port_open(old_port), "the running listener stays")
        self.assert_tunnel_works(socks, t)


def udp_port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        try:
            u.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class LogLevel(ReloadTest):
    def test_log_level_change_is_visible(self):
        server = self.serve(log_level="debug")
        t = self.target(echo_handler)
        socks = self.socks(server.port)
        self.assert_tunnel_works(socks, t)
        wait_for(lambda: "tunnel user=alice" in server.log(), 10, "the tunnel line (info)")
        reply = self.d.reload_server(server, log_level="warn")
        self.assertIn("log_level warn", reply)
        mark = len(server.log())
        self.assert_tunnel_works(socks, t)
        time.sleep(0.5)
        self.assertNotIn("tunnel user=alice", server.log()[mark:], "info is off at warn")
        self.d.reload_server(server, log_level="info")
        mark = len(server.log())
        self.assert_tunnel_works(socks, t)
        wait_for(lambda: "tunnel user=alice" in server.log()[mark:], 10, "info lines again")
