"""The two programs as an operator uses them: --help, --check, flags instead of a config file,
signals (drain, exit codes), warnings, and a users file edited while the server runs."""
import json
import os
import signal
import socket
import subprocess
import time
import unittest

from harness import (CLIMBER_BIN, SERVER_BIN, DeploymentTest, Process, echo_handler, free_port,
                     port_open, recv_exact, socks5_connect, wait_for)


class Help(unittest.TestCase):
    def test_help_explains_and_exits_zero(self):
        r = subprocess.run([SERVER_BIN, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        for word in ("--config", "gen-cert", "passwd", "user", "db",
                     "reverse tunnels", '"publish" field'):
            self.assertIn(word, r.stdout)
        r = subprocess.run([CLIMBER_BIN, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        for word in ("--server", "--socks", "--http", "--forward", "--reverse", "--transport",
                     "--ca", "--pin", "--insecure", "--password-file", "Examples"):
            self.assertIn(word, r.stdout)
        # -R follows --transport (climber_api.cpp): QUIC visitors ride on streams.
        self.assertIn("over QUIC with --transport quic, else over TLS", r.stdout)
        examples = r.stdout.split("Examples:", 1)[1]
        self.assertIn("-R 8080:127.0.0.1:80", examples)

    def test_bad_usage_fails_with_a_message(self):
        r = subprocess.run([CLIMBER_BIN, "--server", "mtop://u@127.0.0.1:1"], capture_output=True,
                           text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr.strip() or r.stdout.strip())
        r = subprocess.run([SERVER_BIN], capture_output=True, text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--config", r.stderr)


class Check(DeploymentTest):
    def write(self, cfg):
        path = os.path.join(self.d.dir, "check.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def test_check_accepts_good_and_names_the_bad_key(self):
        self.d.add_user("u", "p")
        good = {"listen": "127.0.0.1:1", "cert": self.d.cert, "key": self.d.key,
                "users": {"type": "file", "path": self.d.users_path}}
        r = subprocess.run([SERVER_BIN, "--check", "--config", self.write(good)],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        bad = dict(good, timeouts={"handshak": 3})
        r = subprocess.run([SERVER_BIN, "--check", "--config", self.write(bad)],
                           capture_output=True, text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('unknown key "handshak"', r.stderr)


def s_client(port, groups):
    """One TLS 1.3 handshake by `openssl s_client -groups GROUPS`; (ok, output)."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3",
                        "-groups", groups, "-servername", "localhost"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    return r.returncode == 0 and "Server Temp Key" in r.stdout, r.stdout + r.stderr


class TlsGroups(DeploymentTest):
    """Key-exchange groups on the TLS port (issue 10): a client offering only finite-field
    groups (ffdhe8192 costs the server ~5x an X25519 handshake) is refused."""

    def setUp(self):
        super().setUp()
        self.d.add_user("alice", "pw")

    def test_default_takes_x25519_and_p256_only(self):
        server = self.d.start_server()
        for group, temp_key in (("X25519", "Server Temp Key: X25519"),
                                ("P-256", "Server Temp Key: ECDH, prime256v1")):
            ok, out = s_client(server.port, group)
            self.assertTrue(ok, out)
            self.assertIn(temp_key, out)
        for group in ("ffdhe8192", "ffdhe2048", "ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192",
                      "P-384", "X448"):
            ok, out = s_client(server.port, group)
            self.assertFalse(ok, group)
            self.assertIn("handshake failure", out, group)
        self.assertTrue(server.alive())

    def test_tls_groups_key_sets_the_list(self):
        server = self.d.start_server(tls_groups=["P-384"])
        ok, out = s_client(server.port, "P-384")
        self.assertTrue(ok, out)
        self.assertIn("Server Temp Key: ECDH, secp384r1", out)
        ok, out = s_client(server.port, "X25519:P-256")
        self.assertFalse(ok)
        self.assertIn("handshake failure", out)


class Signals(DeploymentTest):
    def tunnel(self, server, **cfg):
        t = self.target(echo_handler)
        fwd = free_port()
        climber = self.d.start_climber(server.port, "gina", "pw",
                                       forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"], **cfg)
        s = socket.create_connection(("127.0.0.1", fwd), timeout=10)
        s.sendall(b"hello")
        self.assertEqual(recv_exact(s, 5), b"hello")
        return climber, s

    def test_sigterm_drains_live_tunnels_then_exits_zero(self):
        self.d.add_user("gina", "pw")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"], timeouts={"drain": 30})
        _, s = self.tunnel(server)
        server.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: not port_open(server.port), 10, "the server to stop accepting")
        s.sendall(b"still")  # the live tunnel keeps working while draining
        self.assertEqual(recv_exact(s, 5), b"still")
        self.assertTrue(server.alive())
        s.close()  # the last tunnel ends: the server exits by itself
        server.proc.wait(timeout=10)
        self.assertEqual(server.proc.returncode, 0)
        self.assertIn("drain", server.log())

    def test_drain_timeout_closes_what_is_left(self):
        self.d.add_user("gina", "pw")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"], timeouts={"drain": 1})
        _, s = self.tunnel(server)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=15)
        self.assertEqual(server.proc.returncode, 0)
        self.assertLess(time.monotonic() - t0, 10)
        s.settimeout(10)
        try:
            self.assertEqual(s.recv(10), b"")  # the climber passed the close on
        except OSError:
            pass
        s.close()

    def test_climber_exits_zero_on_sigterm(self):
        self.d.add_user("gina", "pw")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"])
        climber, s = self.tunnel(server)
        s.close()
        self.assertEqual(climber.stop(signal.SIGTERM), 0)


class Flags(DeploymentTest):
    def test_flags_instead_of_a_config_file(self):
        self.d.add_user("hank", "s3cret pass")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        pwfile = os.path.join(self.d.dir, "pw")
        with open(pwfile, "w") as f:
            f.write("s3cret pass\n")
        socks = free_port()
        uri = f"mtop://hank@127.0.0.1:{server.port}?sni=localhost&ca={self.d.cert}"
        c = Process("climber", [CLIMBER_BIN, "--server", uri, "--password-file", pwfile,
                                "--socks", f"127.0.0.1:{socks}"],
                    os.path.join(self.d.dir, "climber-flags.log"))
        self.d.procs.append(c)
        wait_for(lambda: port_open(socks) or not c.alive(), 15, "climber to listen")
        s, code = socks5_connect(socks, "127.0.0.1", t.port)
        self.assertEqual(code, 0)
        s.sendall(b"ok?")
        self.assertEqual(recv_exact(s, 3), b"ok?")
        s.close()
        self.assertNotIn("s3cret", c.log())

    def test_password_in_uri_and_insecure_warn(self):
        self.d.add_user("ivy", "pw-ivy")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"])
        socks = free_port()
        uri = f"mtop://ivy:pw-ivy@127.0.0.1:{server.port}"
        c = Process("climber", [CLIMBER_BIN, "--server", uri, "--insecure",
                                "--socks", f"127.0.0.1:{socks}"],
                    os.path.join(self.d.dir, "climber-insecure.log"))
        self.d.procs.append(c)
        wait_for(lambda: port_open(socks) or not c.alive(), 15, "climber to listen")
        t = self.target(echo_handler)
        s, code = socks5_connect(socks, "127.0.0.1", t.port)
        self.assertEqual(code, 0)
        s.close()
        log = c.log()
        self.assertIn("--insecure: the server certificate is NOT verified", log)
        self.assertIn("other users can see it with `ps`", log)
        self.assertNotIn("pw-ivy", log)


class LiveUsersFile(DeploymentTest):
    def test_user_added_and_disabled_while_running(self):
        self.d.add_user("first", "pw1")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"], timeouts={"recheck": 0.5})
        t = self.target(echo_handler)
        socks = free_port()
        self.d.start_climber(server.port, "late", "pw2", socks=f"127.0.0.1:{socks}")
        s, code = socks5_connect(socks, "127.0.0.1", t.port)
        s.close()
        self.assertNotEqual(code, 0, "not in the users file yet")
        cfg = os.path.join(self.d.dir, f"server-{server.port}.json")
        r = subprocess.run([SERVER_BIN, "user", "--config", cfg, "add", "late", "--scheme",
                            "pbkdf2"], input="pw2\n", capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

        def works():
            s, code = socks5_connect(socks, "127.0.0.1", t.port)
            if code != 0:
                s.close()
                return None
            return s

        live = None
        deadline = time.monotonic() + 10
        while live is None and time.monotonic() < deadline:
            live = works()
            if live is None:
                time.sleep(0.3)
        self.assertIsNotNone(live, "the added user must work without a restart")
        live.sendall(b"abc")
        self.assertEqual(recv_exact(live, 3), b"abc")
        r = subprocess.run([SERVER_BIN, "user", "--config", cfg, "disable", "late"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        live.settimeout(10)
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 8:
            try:
                if live.recv(10) == b"":
                    closed = True
                    break
            except OSError:
                closed = True
                break
        live.close()
        self.assertTrue(closed, "a disabled user's live tunnel must be closed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
