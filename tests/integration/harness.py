"""Integration-test harness: real mtop-server and climber processes on loopback.

Every process started here is tracked by PID and killed at the end of its test (and at exit),
every wait is bounded, and every socket is on 127.0.0.1 or ::1. Binaries come from the
environment (MTOP_SERVER_BIN, MTOP_CLIMBER_BIN), which ctest sets.
"""
import atexit
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import unittest

SERVER_BIN = os.environ.get("MTOP_SERVER_BIN", "mtop-server")
CLIMBER_BIN = os.environ.get("MTOP_CLIMBER_BIN", "climber")

_live = []  # every Popen we started, killed at exit if a test forgot


def _kill_all():
    for p in _live:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


atexit.register(_kill_all)


def free_port(family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """A port free on loopback for both TCP and UDP (the server binds both)."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    for _ in range(50):
        with socket.socket(family, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as u:
                u.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def free_port_block(count):
    """The first of `count` consecutive TCP ports free on 127.0.0.1, below the kernel's
    ephemeral range (32768 and up by default) so that no other test's outgoing connection or
    free_port() is handed one of them between this check and their use."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32768 - count)
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(port, host="127.0.0.1"):
    """Whether something listens on `port`. A reset counts as listening: a server may accept
    and reset at once (a reverse port in its grace period), and on a loaded machine the RST
    can arrive before connect() has returned."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except ConnectionResetError:
        return True
    except OSError:
        return False


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Process:
    """A started binary with its log file; stop() is by PID, bounded."""

    def __init__(self, name, argv, log_path, stdin_text=None, env=None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        _live.append(self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        if not self._log.closed:  # stop() closes it; the file stays readable
            self._log.flush()
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


class Deployment:
    """A temp folder with a certificate, a users file, and helpers to start the binaries."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mtop-it-")
        self.procs = []
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        run([SERVER_BIN, "gen-cert", "--name", "localhost", "--ip", "127.0.0.1", "--ip", "::1",
             "--cert", self.cert, "--key", self.key])
        self.users = {}
        self.users_path = os.path.join(self.dir, "users.json")

    def add_user(self, name, password, cheap_hash=False, **fields):
        """A user in the users file, hashed by `mtop-server passwd` (pbkdf2, 600,000 rounds)
        or, with `cheap_hash`, by cheap_password_hash()."""
        if cheap_hash:
            h = cheap_password_hash(password)
        else:
            h = run([SERVER_BIN, "passwd", "--scheme", "pbkdf2"],
                    stdin_text=password + "\n").strip()
        assert h.startswith("$pbkdf2-sha256$"), h
        rec = {"username": name, "password": h}
        rec.update(fields)
        self.users[name] = rec
        with open(self.users_path, "w") as f:
            json.dump({"users": list(self.users.values())}, f)

    def start_server(self, port=None, **overrides):
        port = port or free_port()
        cfg = {"listen": [f"127.0.0.1:{port}"], "cert": self.cert, "key": self.key,
               "users": {"type": "file", "path": self.users_path}, "log_level": "debug"}
        cfg.update(overrides)
        path = os.path.join(self.dir, f"server-{port}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = Process("server", [SERVER_BIN, "--config", path], os.path.join(self.dir, f"server-{port}.log"))
        self.procs.append(p)
        wait_for(lambda: port_open(port) or not p.alive(), 15, "mtop-server to listen")
        if not p.alive():
            raise AssertionError("mtop-server exited:\n" + p.log())
        p.port = port
        p.config = cfg
        p.config_path = path
        return p

    def reload_server(self, server, text=None, **changes):
        """Rewrites the config file `server` was started with (its dict updated by `changes`,
        or `text` as is) and sends SIGHUP; returns the server's answer, the log line starting
        "SIGHUP: config reloaded" or "SIGHUP: config refused"."""
        before = server.log().count("SIGHUP: config ")
        if text is None:
            server.config.update(changes)
            text = json.dumps(server.config)
        with open(server.config_path, "w") as f:
            f.write(text)
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: server.log().count("SIGHUP: config ") > before, 15, "the reload")
        return [l for l in server.log().splitlines() if "SIGHUP: config " in l][before]

    def start_climber(self, server_port, user, password, transport="tls", extra=None,
                      server_over=None, **cfg_over):
        cfg = {"server": {"host": "127.0.0.1", "port": server_port, "username": user,
                          "password": password, "sni": "localhost", "ca": self.cert,
                          "transport": transport},
               "log_level": "debug"}
        cfg["server"].update(server_over or {})
        cfg.update(cfg_over)
        n = len(self.procs)
        path = os.path.join(self.dir, f"climber-{n}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        os.chmod(path, 0o600)
        p = Process("climber", [CLIMBER_BIN, "--config", path] + (extra or []),
                    os.path.join(self.dir, f"climber-{n}.log"))
        self.procs.append(p)
        ports = []
        for key in ("socks", "http"):
            if key in cfg:
                ports.append(int(cfg[key].rsplit(":", 1)[1]))
        for rule in cfg.get("forward", []):
            parts = rule.split(":")
            ports.append(int(parts[0] if len(parts) == 3 else parts[1]))
        for port in ports:
            wait_for(lambda: port_open(port) or not p.alive(), 15, f"climber to listen on {port}")
            if not p.alive():
                raise AssertionError("climber exited:\n" + p.log())
        return p

    def close(self):
        for p in reversed(self.procs):
            p.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def cheap_password_hash(password, rounds=1000):
    """A pbkdf2-sha256 hash in the server's format with `rounds` rounds (the server's own are
    600,000): for a test whose subject is not the password check, with a short handshake
    time-out, which also bounds the check; 600,000 rounds took over 3 s on a loaded machine.
    The server's check of an unknown user follows the cost of the hashes it has seen."""
    def b64(data):
        return base64.b64encode(data).decode().rstrip("=")

    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds, 32)
    return f"$pbkdf2-sha256$i={rounds}${b64(salt)}${b64(digest)}"


def run(argv, stdin_text=None, timeout=60):
    r = subprocess.run(argv, input=stdin_text, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"{argv[0]} failed ({r.returncode}): {r.stderr}")
    return r.stdout


# --- local targets -------------------------------------------------------------------------

class _ThreadingTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # load tests open hundreds of connections at once


class _ThreadingTCPServer6(_ThreadingTCPServer):
    address_family = socket.AF_INET6


class Target:
    """A loopback TCP server running `handler(sock)` per connection in a thread; counts
    connections and bytes it received."""

    def __init__(self, handler, host="127.0.0.1"):
        outer = self
        self.connections = 0
        self.received = 0
        self.lock = threading.Lock()

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                with outer.lock:
                    outer.connections += 1
                self.request.settimeout(60)
                try:
                    handler(self.request, outer)
                except OSError:
                    pass

        cls = _ThreadingTCPServer6 if ":" in host else _ThreadingTCPServer
        self.server = cls((host, 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, n):
        with self.lock:
            self.received += n

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def echo_handler(sock, target):
    while True:
        data = sock.recv(65536)
        if not data:
            sock.shutdown(socket.SHUT_WR)
            return
        target.count(len(data))
        sock.sendall(data)


def sha_handler(sock, target):
    """Reads until EOF, then answers with the SHA-256 of what it read (half-close test)."""
    h = hashlib.sha256()
    while True:
        data = sock.recv(65536)
        if not data:
            break
        target.count(len(data))
        h.update(data)
    sock.sendall(h.hexdigest().encode())
    sock.shutdown(socket.SHUT_WR)


def echo_bulk(port, size=64 << 20, timeout=120):
    """Sends `size` bytes (1 MiB chunks, each different) to an echo behind 127.0.0.1:`port`,
    half-closes and reads the echo on a thread. Returns (bytes read back, whether the reader
    finished within `timeout`, sha256 hex of what was sent, of what came back)."""
    block = os.urandom(1 << 20)
    sent = hashlib.sha256()
    got = hashlib.sha256()
    received = [0]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
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
        th.join(timeout)
        finished = not th.is_alive()
    return received[0], finished, sent.hexdigest(), got.hexdigest()


def firehose_handler(sock, target):
    """Sends zeros until the peer goes away."""
    block = b"\0" * 65536
    try:
        while True:
            sock.sendall(block)
    except OSError:
        pass


class Drain:
    """Reads every socket in `socks` on a thread of its own until close(), counting the bytes
    of each in `counts`; close() closes the sockets."""

    def __init__(self, socks):
        self.socks = socks
        self.counts = [0] * len(socks)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(i, s), daemon=True)
                         for i, s in enumerate(socks)]
        for t in self._threads:
            t.start()

    def _read(self, i, s):
        s.settimeout(5)
        while not self._stop.is_set():
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.counts[i] += len(data)

    def close(self):
        self._stop.set()
        for s in self.socks:
            s.close()
        for t in self._threads:
            t.join(10)


def recv_all(sock, timeout=60):
    sock.settimeout(timeout)
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def socks5_connect(proxy_port, host, port, timeout=15):
    """Opens a SOCKS5 CONNECT through the climber; returns (socket, reply code). `host` as
    bytes is sent as a domain name byte for byte (for names that are not valid text)."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    if isinstance(host, bytes):
        addr = b"\x03" + bytes([len(host)]) + host
    elif ":" in host:
        addr = b"\x04" + socket.inet_pton(socket.AF_INET6, host)
    else:
        try:
            addr = b"\x01" + socket.inet_aton(host) if host.count(".") == 3 and host.replace(".", "").isdigit() else None
        except OSError:
            addr = None
        if addr is None:
            addr = b"\x03" + bytes([len(host)]) + host.encode()
    s.sendall(b"\x05\x01\x00" + addr + port.to_bytes(2, "big"))
    head = recv_exact(s, 4)
    assert head[0] == 5, head
    code = head[1]
    atyp = head[3]
    rest = {1: 4, 4: 16}.get(atyp)
    if rest is None:
        rest = recv_exact(s, 1)[0]
    recv_exact(s, rest + 2)
    return s, code


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if not data:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += data
    return buf


def curl(args, timeout=30):
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout - 5)] + args, capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


class DeploymentTest(unittest.TestCase):
    """Base class: a fresh Deployment per test, closed (processes stopped by PID) afterwards."""

    def setUp(self):
        self.d = Deployment()
        self.targets = []

    def tearDown(self):
        for t in self.targets:
            t.close()
        result = getattr(self._outcome, "result", None)
        failed = result is not None and any(t is self for t, _ in result.errors + result.failures)
        if failed or os.environ.get("MTOP_IT_SHOW_LOGS"):
            for p in self.d.procs:
                print(f"--- {p.name} log ---\n{p.log()[-4000:]}")
        self.d.close()

    def target(self, handler, host="127.0.0.1"):
        t = Target(handler, host)
        self.targets.append(t)
        return t
