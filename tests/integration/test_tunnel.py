"""End to end over the real binaries: curl and raw sockets through climber -> mtop-server.

MTOP_TRANSPORT=tls|quic picks the climber's transport, so the same cases run over both."""
import hashlib
import os
import socket
import threading
import time
import unittest

from harness import (DeploymentTest, curl, echo_handler, free_port, port_open, recv_all,
                     recv_exact, rss_kib, sha_handler, socks5_connect, wait_for)

TRANSPORT = os.environ.get("MTOP_TRANSPORT", "tls")


def http_handler(body):
    def handle(sock, target):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return
            data += chunk
        target.last_request = data
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), body))
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass
    return handle


class Proxying(DeploymentTest):
    def start(self, allow=("127.0.0.1/32", "::1/128"), **server_over):
        self.d.add_user("alice", "correct horse")
        self.server = self.d.start_server(allow_targets=list(allow), **server_over)
        self.socks = free_port()
        self.http = free_port()
        self.climber = self.d.start_climber(self.server.port, "alice", "correct horse", TRANSPORT,
                                            socks=f"127.0.0.1:{self.socks}",
                                            http=f"127.0.0.1:{self.http}")

    def test_curl_through_socks5_domain_ipv4_ipv6(self):
        self.start()
        web4 = self.target(http_handler(b"hello v4"))
        web6 = self.target(http_handler(b"hello v6"), host="::1")
        rc, out, err = curl(["--socks5-hostname", f"127.0.0.1:{self.socks}",
                             f"http://localhost:{web4.port}/x"])
        # "localhost" may resolve to ::1 first on the server; web4 only listens on 127.0.0.1,
        # and the server tries every address in turn.
        self.assertEqual((rc, out), (0, "hello v4"), err)
        rc, out, err = curl(["--socks5", f"127.0.0.1:{self.socks}", f"http://127.0.0.1:{web4.port}/"])
        self.assertEqual((rc, out), (0, "hello v4"), err)
        rc, out, err = curl(["--socks5", f"127.0.0.1:{self.socks}", f"http://[::1]:{web6.port}/"])
        self.assertEqual((rc, out), (0, "hello v6"), err)

    def test_curl_through_http_connect_and_forwarding(self):
        self.start()
        web = self.target(http_handler(b"plain"))
        rc, out, err = curl(["-p", "-x", f"http://127.0.0.1:{self.http}",
                             f"http://127.0.0.1:{web.port}/tunnelled"])
        self.assertEqual((rc, out), (0, "plain"), err)
        self.assertTrue(web.last_request.startswith(b"GET /tunnelled HTTP/1.1\r\n"))
        rc, out, err = curl(["-x", f"http://127.0.0.1:{self.http}",
                             f"http://127.0.0.1:{web.port}/forwarded?q=1"])
        self.assertEqual((rc, out), (0, "plain"), err)
        # Absolute-form was rewritten to origin-form, hop-by-hop headers dropped.
        self.assertTrue(web.last_request.startswith(b"GET /forwarded?q=1 HTTP/1.1\r\n"),
                        web.last_request)
        self.assertNotIn(b"Proxy-Connection", web.last_request)

    def test_half_close_answer_after_eof(self):
        self.start()
        t = self.target(sha_handler)
        s, code = socks5_connect(self.socks, "127.0.0.1", t.port)
        self.assertEqual(code, 0)
        payload = os.urandom(300_000)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        answer = recv_all(s)
        s.close()
        self.assertEqual(answer, hashlib.sha256(payload).hexdigest().encode())

    def test_target_refused_denied_and_dns_failure(self):
        self.start(allow=())  # loopback targets denied by the default policy
        t = self.target(echo_handler)
        s, code = socks5_connect(self.socks, "127.0.0.1", t.port)
        s.close()
        self.assertNotEqual(code, 0)
        time.sleep(0.2)
        self.assertEqual(t.connections, 0, "a denied target must never see a connection")
        s, code = socks5_connect(self.socks, "no-such-host.invalid", 80)
        s.close()
        self.assertNotEqual(code, 0)
        self.assertIn("denied", self.server.log())

    def test_target_refused(self):
        self.start()
        closed = free_port()
        s, code = socks5_connect(self.socks, "127.0.0.1", closed)
        s.close()
        self.assertNotEqual(code, 0)
        # The server keeps serving afterwards.
        t = self.target(echo_handler)
        s, code = socks5_connect(self.socks, "127.0.0.1", t.port)
        self.assertEqual(code, 0)
        s.sendall(b"ping")
        self.assertEqual(recv_exact(s, 4), b"ping")
        s.close()


class PortForward(DeploymentTest):
    def test_64_mib_each_way_intact(self):
        self.d.add_user("bob", "pw-bob")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        fwd = free_port()
        self.d.start_climber(server.port, "bob", "pw-bob", TRANSPORT,
                             forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        size = 64 << 20
        block = os.urandom(1 << 20)
        sent = hashlib.sha256()
        got = hashlib.sha256()
        received = [0]
        s = socket.create_connection(("127.0.0.1", fwd), timeout=60)

        def reader():
            while True:
                data = s.recv(1 << 20)
                if not data:
                    return
                received[0] += len(data)
                got.update(data)

        th = threading.Thread(target=reader)
        th.start()
        for i in range(size // len(block)):
            chunk = bytes([i & 0xFF]) + block[1:]
            sent.update(chunk)
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        th.join(timeout=120)
        s.close()
        self.assertFalse(th.is_alive())
        self.assertEqual(received[0], size)
        self.assertEqual(got.hexdigest(), sent.hexdigest())
        self.assertEqual(t.received, size)


class BadCredentials(DeploymentTest):
    def check(self, reply_status, user, password):
        self.d.add_user("carol", "right")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"], reply_status=reply_status)
        t = self.target(echo_handler)
        socks = free_port()
        self.d.start_climber(server.port, user, password, TRANSPORT, socks=f"127.0.0.1:{socks}")
        s, code = socks5_connect(socks, "127.0.0.1", t.port)
        s.close()
        self.assertNotEqual(code, 0)
        if reply_status:
            self.assertEqual(code, 0x02, "auth failure maps to SOCKS5 0x02 in reply mode")
        time.sleep(0.2)
        self.assertEqual(t.connections, 0, "no byte may reach the target")
        log = server.log()
        self.assertNotIn(password, log, "the password must never be logged")

    def test_wrong_password_stealth(self):
        self.check(False, "carol", "wrong-password-1")

    def test_wrong_password_reply(self):
        self.check(True, "carol", "wrong-password-2")

    def test_unknown_user_stealth(self):
        self.check(False, "mallory", "whatever-3")

    def test_unknown_user_reply(self):
        self.check(True, "mallory", "whatever-4")


class Hostile(DeploymentTest):
    def test_silent_slow_and_garbage_clients_are_closed(self):
        self.d.add_user("dave", "pw")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"], timeouts={"handshake": 1})
        # Silent client: closed by the handshake time-out.
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        t0 = time.monotonic()
        self.assertEqual(silent.recv(100), b"")
        self.assertLess(time.monotonic() - t0, 8)
        silent.close()
        # One byte a second: still closed by the (total) handshake time-out.
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        closed_after = None
        t0 = time.monotonic()
        for _ in range(8):
            try:
                slow.sendall(b"\x16")
                slow.settimeout(1.0)
                if slow.recv(100) == b"":
                    closed_after = time.monotonic() - t0
                    break
            except socket.timeout:
                continue
            except OSError:
                closed_after = time.monotonic() - t0
                break
        slow.close()
        self.assertIsNotNone(closed_after, "a one-byte-a-second client must be cut off")
        self.assertLess(closed_after, 6)
        # Plain text and random bytes.
        for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096)):
            j = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            try:
                j.sendall(junk)
                while j.recv(4096):
                    pass
            except OSError:
                pass
            j.close()
        # Still serving.
        t = self.target(echo_handler)
        socks = free_port()
        self.d.start_climber(server.port, "dave", "pw", TRANSPORT, socks=f"127.0.0.1:{socks}")
        s, code = socks5_connect(socks, "127.0.0.1", t.port)
        self.assertEqual(code, 0)
        s.sendall(b"still here")
        self.assertEqual(recv_exact(s, 10), b"still here")
        s.close()
        self.assertTrue(server.alive())


class Load(DeploymentTest):
    def test_500_concurrent_tunnels_intact(self):
        self.d.add_user("erin", "pw")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"])
        t = self.target(echo_handler)
        fwd = free_port()
        self.d.start_climber(server.port, "erin", "pw", TRANSPORT,
                             forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        n = 500
        socks_ = []
        for i in range(n):
            socks_.append(socket.create_connection(("127.0.0.1", fwd), timeout=60))
        payloads = [os.urandom(2000 + i) for i in range(n)]
        for s, p in zip(socks_, payloads):
            s.sendall(p)
        bad = []
        for i, (s, p) in enumerate(zip(socks_, payloads)):
            try:
                if recv_exact(s, len(p)) != p:
                    bad.append((i, "data differs"))
            except (AssertionError, OSError) as e:
                bad.append((i, repr(e)))
            s.close()
        self.assertEqual(bad, [])

    @unittest.skipIf(os.environ.get("MTOP_SANITIZED"),
                     "ASan's quarantine holds freed memory: RSS is not meaningful")
    def test_slow_reader_does_not_grow_server_memory(self):
        self.d.add_user("frank", "pw")
        server = self.d.start_server(allow_targets=["127.0.0.1/32"])

        def firehose(sock, target):
            block = b"x" * 65536
            try:
                for _ in range(2048):  # 128 MiB at most
                    sock.sendall(block)
            except OSError:
                pass

        t = self.target(firehose)
        fwd = free_port()
        self.d.start_climber(server.port, "frank", "pw", TRANSPORT,
                             forward=[f"127.0.0.1:{fwd}:127.0.0.1:{t.port}"])
        s = socket.create_connection(("127.0.0.1", fwd), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.sendall(b"go")
        before = rss_kib(server.pid)
        got = 0
        for _ in range(30):  # read slowly: 64 KiB every 100 ms
            got += len(s.recv(65536))
            time.sleep(0.1)
        after = rss_kib(server.pid)
        s.close()
        self.assertGreater(got, 0)
        # The relay stops reading the target at 256 KiB queued; allow generous slack for
        # socket buffers and allocator behaviour, far below the 128 MiB the target offers.
        self.assertLess(after - before, 24 * 1024, f"server RSS grew {after - before} KiB")


if __name__ == "__main__":
    unittest.main(verbosity=2)
