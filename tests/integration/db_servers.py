"""Throw-away PostgreSQL 15 and MariaDB servers for the integration tests.

The same set-up as tests/support/db/{postgres,mariadb}_server.hpp, from Python: a temp folder
owned by the database's system user, a free loopback port, `runuser -u postgres --` for
initdb, mariadb-install-db --user=mysql, and the server process itself started directly as
that user so that we hold its real PID. Every server is stopped by that PID (kill_now() for the
"database crashed" cases), with bounded waits. SQL from the tests goes through the psql and
mariadb command-line clients (no Python driver is needed). Must run as root.
"""
import atexit
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
MARIADBD = "/usr/sbin/mariadbd"
MARIADB_INSTALL = "/usr/bin/mariadb-install-db"

_LIBC = ctypes.CDLL(None, use_errno=True)
_servers = []  # stopped at exit if a test class forgot


@atexit.register
def _stop_all():
    for s in _servers:
        s.close()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, n=4000):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def _run(argv, log, timeout=120, env=None):
    with open(log, "ab") as out:
        r = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}); log:\n{_tail(log)}")


def _as_user(name):
    """Popen arguments that start a child as system user `name`, dying with this process."""
    pw = pwd.getpwnam(name)
    prctl = _LIBC.prctl

    def pre():
        # PR_SET_PDEATHSIG = 1: a crashed test run must not leave a database behind.
        prctl(1, int(signal.SIGKILL), 0, 0, 0)
    return dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], preexec_fn=pre)


def _temp_dir(prefix, owner):
    if os.getuid() != 0:
        raise RuntimeError("the database tests must run as root (they start servers as "
                           "the postgres / mysql system users)")
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    pw = pwd.getpwnam(owner)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


class _Server:
    kind = ""
    proc = None

    def __init__(self, prefix, owner):
        self.dir = _temp_dir(prefix, owner)
        self.port = _free_port()
        self.log = os.path.join(self.dir, "server.log")
        _servers.append(self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _stop(self, sig, grace):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def _wait_ready(self, ready, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"{self.kind} exited at start; log:\n{_tail(self.log)}")
            if ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not start in {timeout} s; log:\n{_tail(self.log)}")

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Postgres(_Server):
    """PostgreSQL 15: superuser `admin` (scram-sha-256) and a database `mtop`."""
    kind = "postgres"
    PASSWORD = "pg-test-secret"

    def __init__(self):
        for b in ("postgres", "initdb", "psql"):
            path = os.path.join(PG_BIN, b)
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{path} missing: install the 'postgresql' package")
        super().__init__("mtop-it-pg-", "postgres")
        pwfile = os.path.join(self.dir, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.PASSWORD + "\n")
        pw = pwd.getpwnam("postgres")
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        os.chmod(pwfile, 0o600)
        _run(["/usr/sbin/runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "initdb"),
              "-D", self.data, "-A", "scram-sha-256", f"--pwfile={pwfile}", "-U", "admin",
              "--no-sync"], os.path.join(self.dir, "initdb.log"))
        self.start()
        self.sql("CREATE DATABASE mtop", db="postgres")

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    def start(self):
        if self.alive():
            return
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p", str(self.port),
                 "-k", self.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "max_connections=60"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                **_as_user("postgres"))
        self._wait_ready(lambda: self._ping("postgres"), 30)

    def _ping(self, db):
        r = subprocess.run([os.path.join(PG_BIN, "psql"), self.conninfo(db), "-At", "-c",
                            "SELECT 1"], capture_output=True, text=True, timeout=10)
        return r.returncode == 0

    def kill_now(self):
        """A crash: SIGQUIT makes postgres exit at once without a checkpoint."""
        self._stop(signal.SIGQUIT, 10)

    def stop(self):
        self._stop(signal.SIGINT, 20)

    def conninfo(self, db="mtop"):
        return (f"host=127.0.0.1 port={self.port} user=admin password={self.PASSWORD} "
                f"dbname={db} connect_timeout=5")

    def users_config(self):
        return {"type": "postgres", "dsn": self.conninfo()}

    def sql(self, statement, db="mtop"):
        """Runs SQL; returns the rows as lists of strings. Raises on an SQL error."""
        r = subprocess.run([os.path.join(PG_BIN, "psql"), self.conninfo(db), "-v",
                            "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", statement],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"psql: {statement}: {r.stderr}")
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def script(self, text):
        """Runs a long SQL script fed on stdin (bulk loads)."""
        r = subprocess.run([os.path.join(PG_BIN, "psql"), self.conninfo(), "-v",
                            "ON_ERROR_STOP=1", "-q"], input=text, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"psql script: {r.stderr[-2000:]}")


class Mariadb(_Server):
    """MariaDB: user `mtop` with every right on the database `mtop`."""
    kind = "mysql"
    PASSWORD = "my-test-secret"

    def __init__(self):
        for b in (MARIADBD, MARIADB_INSTALL, "/usr/bin/mariadb"):
            if not os.access(b, os.X_OK):
                raise RuntimeError(f"{b} missing: install the 'mariadb-server' package")
        super().__init__("mtop-it-my-", "mysql")
        _run([MARIADB_INSTALL, "--no-defaults", "--user=mysql", f"--datadir={self.data}",
              "--auth-root-authentication-method=normal", "--skip-test-db"],
             os.path.join(self.dir, "install.log"))
        self.start()
        for statement in ("CREATE DATABASE mtop",
                          f"CREATE USER 'mtop'@'127.0.0.1' IDENTIFIED BY '{self.PASSWORD}'",
                          "GRANT ALL ON mtop.* TO 'mtop'@'127.0.0.1'"):
            self._root_sql(statement)

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def socket_path(self):
        return os.path.join(self.dir, "sock")

    def start(self):
        if self.alive():
            return
        try:
            os.unlink(self.socket_path)  # left behind by a killed server
        except FileNotFoundError:
            pass
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [MARIADBD, "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
                 "--bind-address=127.0.0.1", f"--socket={self.socket_path}",
                 f"--pid-file={self.dir}/pid", f"--log-error={self.log}",
                 "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
                 "--max-connections=60"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                **_as_user("mysql"))
        self._wait_ready(lambda: os.path.exists(self.socket_path) and self._root_ok(), 60)

    def _root_ok(self):
        r = subprocess.run(["/usr/bin/mariadb", "--no-defaults", "-uroot",
                            f"--socket={self.socket_path}", "-e", "SELECT 1"],
                           capture_output=True, timeout=10)
        return r.returncode == 0

    def _root_sql(self, statement):
        r = subprocess.run(["/usr/bin/mariadb", "--no-defaults", "-uroot",
                            f"--socket={self.socket_path}", "-e", statement],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb: {statement}: {r.stderr}")

    def kill_now(self):
        self._stop(signal.SIGKILL, 10)

    def stop(self):
        self._stop(signal.SIGTERM, 30)

    def uri(self):
        return f"mysql://mtop:{self.PASSWORD}@127.0.0.1:{self.port}/mtop"

    def users_config(self):
        return {"type": "mysql", "dsn": self.uri()}

    def sql(self, statement):
        r = subprocess.run(["/usr/bin/mariadb", "--no-defaults", "-umtop",
                            f"-p{self.PASSWORD}", "-h127.0.0.1", f"-P{self.port}",
                            "--protocol=TCP", "-N", "-B", "mtop", "-e", statement],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb: {statement}: {r.stderr}")
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def script(self, text):
        """Runs a long SQL script fed on stdin (bulk loads)."""
        r = subprocess.run(["/usr/bin/mariadb", "--no-defaults", "-umtop",
                            f"-p{self.PASSWORD}", "-h127.0.0.1", f"-P{self.port}",
                            "--protocol=TCP", "mtop"], input=text, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb script: {r.stderr[-2000:]}")


class Sqlite:
    """A database file in a temp folder; SQL through Python's sqlite3 (WAL, as the server)."""
    kind = "sqlite"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mtop-it-sqlite-")
        self.path = os.path.join(self.dir, "users.db")

    def users_config(self):
        return {"type": "sqlite", "path": self.path}

    def sql(self, statement):
        import sqlite3
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            return [[("" if v is None else str(v)) for v in row]
                    for row in con.execute(statement).fetchall()]
        finally:
            con.close()

    def script(self, text):
        import sqlite3
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            con.executescript(text)
        finally:
            con.close()

    def kill_now(self):
        """The outage an SQLite file can have (no server to kill): every statement on the
        users table fails, as after a botched migration (the unit tests do the same)."""
        self.sql("ALTER TABLE mtop_users RENAME TO mtop_users_away")

    def start(self):
        if self.sql("SELECT name FROM sqlite_master WHERE name = 'mtop_users_away'"):
            self.sql("ALTER TABLE mtop_users_away RENAME TO mtop_users")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
