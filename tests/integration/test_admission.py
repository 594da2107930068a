"""Admission control end to end (docs/CONFIG.md, "Admission control"): per-user, per-source and
rate limits refuse the next tunnel at once, deny/allow lists of sources close a connection
before the TLS handshake (TCP) or drop its Initial packets (QUIC), and denied target ports
(25 by default) are refused like a denied target.

MTOP_TRANSPORT=tls|quic picks the climber's transport for the limit cases; the source lists
are tested on both transports in their own classes."""
import os
import socket
import ssl
import time
import unittest

from harness import DeploymentTest, echo_handler, free_port, recv_exact, socks5_connect, wait_for

TRANSPORT = os.environ.get("MTOP_TRANSPORT", "tls")

# A refusal must come at once: far below any time-out of the server (10 s) or climber.
AT_ONCE = 3.0


class AdmissionTest(DeploymentTest):
    def server(self, **over):
        over.setdefault("allow_targets", ["127.0.0.1/32"])
        s = self.d.start_server(**over)
        if over.get("quic", True):
            wait_for(lambda: "(QUIC over UDP)" in s.log() or not s.alive(), 15,
                     "mtop-server to listen on UDP")
        return s

    def climber(self, server, user="alice", password="pw", transport=TRANSPORT, **cfg):
        socks = free_port()
        self.d.start_climber(server.port, user, password, transport, socks=f"127.0.0.1:{socks}",
                             **cfg)
        return socks

    def open_echo(self, socks, target):
        """An established tunnel to the echo target, checked with a round trip."""
        s, code = socks5_connect(socks, "127.0.0.1", target.port)
        self.assertEqual(code, 0)
        s.sendall(b"ping")
        self.assertEqual(recv_exact(s, 4), b"ping")
        return s

    def refused_at_once(self, socks, port, expected_code=None):
        t0 = time.monotonic()
        s, code = socks5_connect(socks, "127.0.0.1", port)
        s.close()
        elapsed = time.monotonic() - t0
        self.assertNotEqual(code, 0, "the tunnel must be refused")
        if expected_code is not None:
            self.assertEqual(code, expected_code)
        self.assertLess(elapsed, AT_ONCE, "a refusal must not stall")
        return code

    def wait_log(self, server, needle, timeout=10):
        wait_for(lambda: needle in server.log(), timeout, f"server log: {needle}")


class Limits(AdmissionTest):
    def test_per_user_limit(self):
        self.d.add_user("alice", "pw", max_tunnels=1)
        server = self.server(reply_status=True)
        t = self.target(echo_handler)
        socks = self.climber(server)
        first = self.open_echo(socks, t)
        self.refused_at_once(socks, t.port, 0x02)  # reply mode: auth_failed -> SOCKS5 0x02
        self.wait_log(server, "refused 127.0.0.1: max_tunnels 1 of user alice reached")
        first.close()
        wait_for(lambda: self.try_echo(socks, t), 10, "the user's slot to be free again")

    def try_echo(self, socks, target):
        s, code = socks5_connect(socks, "127.0.0.1", target.port)
        s.close()
        return code == 0

    def test_per_source_limit_stealth(self):
        self.d.add_user("alice", "pw")
        self.d.add_user("bob", "pw")
        server = self.server(limits={"max_tunnels_per_source": 2})
        t = self.target(echo_handler)
        alice = self.climber(server)
        bob = self.climber(server, user="bob")
        held = [self.open_echo(alice, t), self.open_echo(bob, t)]
        # The third tunnel from 127.0.0.1, whoever the user, is refused; so are more.
        for socks in (alice, bob, alice):
            self.refused_at_once(socks, t.port)
        self.wait_log(server, "refused 127.0.0.1: max_tunnels_per_source 2 reached")
        time.sleep(0.3)
        log = server.log()
        self.assertEqual(log.count("refused 127.0.0.1:"), 1, "one line per source per minute")
        self.assertEqual(t.connections, 2)
        held.pop().close()
        wait_for(lambda: self.try_echo(alice, t), 10, "a slot to be free again")
        for s in held:
            s.close()

    def test_per_source_limit_reply(self):
        self.d.add_user("alice", "pw")
        server = self.server(reply_status=True, limits={"max_tunnels_per_subnet": 1})
        t = self.target(echo_handler)
        socks = self.climber(server)
        first = self.open_echo(socks, t)
        self.refused_at_once(socks, t.port, 0x02)
        self.wait_log(server, "refused 127.0.0.1: max_tunnels_per_subnet 1 reached (/24)")
        first.close()

    def test_rate_limit(self):
        self.d.add_user("alice", "pw")
        # 0.001/s: no token comes back during the test; a burst of three.
        server = self.server(limits={"source_rate": 0.001, "source_burst": 3})
        t = self.target(echo_handler)
        socks = self.climber(server)
        for _ in range(3):
            self.open_echo(socks, t).close()
        self.refused_at_once(socks, t.port)
        self.refused_at_once(socks, t.port)
        self.wait_log(server, "refused 127.0.0.1: source_rate 0.001/s (burst 3) reached")
        self.assertEqual(t.connections, 3)

    def test_target_port_25_denied_by_default(self):
        self.d.add_user("alice", "pw")
        server = self.server(reply_status=True)
        socks = self.climber(server)
        # A denied target answers 0x03, which the climber gives SOCKS5 clients as 0x05.
        self.refused_at_once(socks, 25, 0x05)
        self.wait_log(server, "denied by policy: port 25 denied")
        self.assertIn("failure=target_denied", server.log())
        self.wait_log(server, "refused 127.0.0.1: target port 25 denied")

    def test_target_ports_configurable(self):
        self.d.add_user("alice", "pw")
        t = self.target(echo_handler)
        server = self.server(reply_status=True, deny_target_ports=[t.port])
        socks = self.climber(server)
        self.refused_at_once(socks, t.port, 0x05)
        self.wait_log(server, f"denied by policy: port {t.port} denied")
        self.assertEqual(t.connections, 0, "a denied port is never dialed")

    def test_port_25_allowed_with_an_empty_list(self):
        self.d.add_user("alice", "pw")
        server = self.server(reply_status=True, deny_target_ports=[])
        socks = self.climber(server)
        # Nothing listens on 127.0.0.1:25 here, or something does: either way the server dials.
        s, _ = socks5_connect(socks, "127.0.0.1", 25)
        s.close()
        wait_for(lambda: "target=127.0.0.1:25" in server.log(), 10, "the tunnel's log line")
        self.assertNotIn("port 25 denied", server.log())
        self.assertNotIn("failure=target_denied", server.log())


def client_hello():
    """The bytes of a real TLS ClientHello (Python's ssl over memory BIOs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def answer_to_hello(port, source="127.0.0.1", timeout=8):
    """Connects from `source`, sends a ClientHello, returns (bytes before EOF, seconds)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    t0 = time.monotonic()
    s.connect(("127.0.0.1", port))
    got = b""
    try:
        s.sendall(client_hello())
        while True:
            data = s.recv(65536)
            if not data:
                break
            got += data
            if len(got) >= 5:
                break  # a TLS record: the server answered
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return got, time.monotonic() - t0


class SourceLists(AdmissionTest):
    def test_denied_source_closed_before_the_tls_handshake(self):
        self.d.add_user("alice", "pw")
        server = self.server(deny_sources=["127.0.0.1"], quic=False)
        got, elapsed = answer_to_hello(server.port)
        self.assertEqual(got, b"", "no ServerHello (no byte at all) for a denied source")
        self.assertLess(elapsed, AT_ONCE)
        # A second connection: counted, but the line is not repeated within the minute.
        self.assertEqual(answer_to_hello(server.port)[0], b"")
        self.wait_log(server, "refused 127.0.0.1: in deny_sources 127.0.0.1/32")
        self.assertEqual(server.log().count("refused 127.0.0.1:"), 1)
        self.assertNotIn("TLS handshake from", server.log(), "no handshake was even started")

    def test_deny_wins_over_allow_and_the_allow_list_shuts_out_the_rest(self):
        self.d.add_user("alice", "pw")
        server = self.server(allow_sources=["127.0.0.1/32", "127.0.0.2/32"],
                             deny_sources=["127.0.0.2"], quic=False)
        t = self.target(echo_handler)
        # 127.0.0.1 is allowed: a real tunnel works and the server answers a ClientHello.
        socks = self.climber(server, transport="tls")
        self.open_echo(socks, t).close()
        got, _ = answer_to_hello(server.port)
        self.assertEqual(got[:1], b"\x16", "an allowed source gets a TLS handshake record")
        # 127.0.0.2 is allowed and denied: denied wins. 127.0.0.3 is in no allow entry.
        self.assertEqual(answer_to_hello(server.port, "127.0.0.2")[0], b"")
        self.assertEqual(answer_to_hello(server.port, "127.0.0.3")[0], b"")
        self.wait_log(server, "refused 127.0.0.2: in deny_sources 127.0.0.2/32")
        self.wait_log(server, "refused 127.0.0.3: not in allow_sources")


class SourceListsQuic(AdmissionTest):
    def test_denied_source_over_quic_gets_no_connection(self):
        self.d.add_user("alice", "pw")
        server = self.server(deny_sources=["127.0.0.0/8"])
        t = self.target(echo_handler)
        socks = self.climber(server, transport="quic", timeouts={"handshake": 2})
        s, code = socks5_connect(socks, "127.0.0.1", t.port, timeout=30)
        s.close()
        self.assertNotEqual(code, 0)
        self.wait_log(server, "refused 127.0.0.1: in deny_sources 127.0.0.0/8")
        time.sleep(0.5)
        log = server.log()
        # Every Initial the climber retransmitted was dropped; one line for them all.
        self.assertEqual(log.count("refused 127.0.0.1:"), 1)
        self.assertEqual(t.connections, 0)
        self.assertNotIn("tunnel user=", log)


if __name__ == "__main__":
    unittest.main()
