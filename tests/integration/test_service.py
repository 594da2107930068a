"""The programs under a service manager: systemd's readiness protocol (sd_notify).

A Type=notify unit counts the service as started when the program sends READY=1 to the
datagram socket named by $NOTIFY_SOCKET. These tests bind that socket themselves and check
what mtop-server and climber send, and when: READY=1 only once the listeners accept,
RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 when a drain starts.
Skipped when the programs were built without libsystemd (MTOP_WITH_SYSTEMD=0).
"""
import os
import signal
import socket
import unittest

from harness import DeploymentTest, free_port, port_open, wait_for

WITH_SYSTEMD = os.environ.get("MTOP_WITH_SYSTEMD") == "1"


class NotifySocket:
    """$NOTIFY_SOCKET for the processes started while it is open."""

    def __init__(self, folder):
        self.path = os.path.join(folder, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.environ["NOTIFY_SOCKET"] = self.path

    def next(self, timeout=15):
        """The next message as a dict of its KEY=VALUE lines."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)

    def close(self):
        os.environ.pop("NOTIFY_SOCKET", None)
        self.sock.close()


@unittest.skipUnless(WITH_SYSTEMD, "built without libsystemd: no sd_notify")
class Notify(DeploymentTest):
    def setUp(self):
        super().setUp()
        self.notify = NotifySocket(self.d.dir)

    def tearDown(self):
        self.notify.close()
        super().tearDown()

    def test_server_ready_reload_and_stopping(self):
        self.d.add_user("ann", "pw")
        server = self.d.start_server()
        msg = self.notify.next()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertEqual(msg.get("STATUS"), "running")
        # start_server() returned once the port accepted; READY must not come before that,
        # so the port accepts now and READY was the first message.
        self.assertTrue(port_open(server.port))

        server.proc.send_signal(signal.SIGHUP)
        self.assertEqual(self.notify.next().get("RELOADING"), "1")
        self.assertEqual(self.notify.next().get("READY"), "1")
        wait_for(lambda: "SIGHUP: config reloaded" in server.log(), 10, "the reload to be logged")

        server.proc.send_signal(signal.SIGTERM)
        msg = self.notify.next()
        self.assertEqual(msg.get("STOPPING"), "1", msg)
        server.proc.wait(timeout=15)
        self.assertEqual(server.proc.returncode, 0)

    def test_server_that_cannot_start_never_says_ready(self):
        # Its key file is missing: the server exits 1 and must not have told systemd it is
        # ready (systemd then reports the start as failed).
        with self.assertRaises(AssertionError) as exited:
            self.d.start_server(key=os.path.join(self.d.dir, "missing-key.pem"))
        self.assertIn("mtop-server exited", str(exited.exception))
        self.notify.sock.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            self.notify.sock.recv(4096)

    def test_climber_ready_after_its_listeners_then_stopping(self):
        self.d.add_user("ann", "pw")
        server = self.d.start_server()
        self.assertEqual(self.notify.next().get("READY"), "1")
        socks = free_port()
        climber = self.d.start_climber(server.port, "ann", "pw", socks=f"127.0.0.1:{socks}")
        msg = self.notify.next()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertTrue(port_open(socks))
        climber.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.notify.next().get("STOPPING"), "1")
        climber.proc.wait(timeout=15)
        self.assertEqual(climber.proc.returncode, 0)


if __name__ == "__main__":
    unittest.main()
