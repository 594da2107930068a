"""Database user stores behind the real mtop-server and climber (issue 5).

One class per store (SQLite file, PostgreSQL 15, MariaDB), each starting its own database
server once (db_servers.py) and a fresh table per test. The servers run with short cache and
re-check times (cache_ttl 0.5 s, recheck 0.5 s, usage flush 0.5 s) so every "takes effect
without a restart" case is bounded by a couple of seconds. FileAdmin runs the admin commands
against a users file. Must run as root (the database servers run as their system users).
"""
import os
import socket
import subprocess
import threading
import time
import unittest

import db_servers
from harness import (SERVER_BIN, DeploymentTest, Drain, echo_handler, firehose_handler,
                     free_port, free_port_block, port_open, recv_exact, socks5_connect,
                     wait_for)
from test_admin import TOKEN as ADMIN_TOKEN
from test_admin import relayed_rate

SCHEMA_V1 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support", "db",
                         "schema_v1")  # the schema from before versions
TTL = 0.5       # users.cache_ttl in every server config here
RECHECK = 0.5   # timeouts.recheck
FLUSH = 0.5     # users.flush
# A change must show within ttl + recheck; this adds room for a loaded test machine.
CHANGE_BOUND = TTL + RECHECK + 2.5


def mtop_admin(config_path, *args, stdin_text=None):
    return subprocess.run([SERVER_BIN, "--config", config_path, *args], input=stdin_text,
                          capture_output=True, text=True, timeout=60)


def pbkdf2_hash(password):
    r = subprocess.run([SERVER_BIN, "passwd", "--scheme", "pbkdf2"], input=password + "\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def echo_once(socks, target, payload=b"ping-through-the-tunnel"):
    """Opens a tunnel, echoes `payload`; returns the SOCKS5 reply code (0 = worked)."""
    s, code = socks5_connect(socks, "127.0.0.1", target.port)
    try:
        if code != 0:
            return code
        s.sendall(payload)
        if recv_exact(s, len(payload)) != payload:
            return -1
        return 0
    except (OSError, AssertionError):
        return -2
    finally:
        s.close()


def closed_within(sock, timeout):
    """True when the peer closes `sock` (EOF or reset) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except OSError:
            return True
    return False


class _StoreCases:
    """The cases every database store must pass. Mixed into a DeploymentTest per store."""
    make_db = None

    @classmethod
    def setUpClass(cls):
        cls.db = cls.make_db()

    @classmethod
    def tearDownClass(cls):
        cls.db.close()

    def setUp(self):
        super().setUp()
        self.db.start()  # a test that killed it may have failed before restarting it
        self.admin_cfg = self.write_config(self.db.users_config())
        for _ in range(2):
            r = mtop_admin(self.admin_cfg, "db", "init")
            self.assertEqual(r.returncode, 0, r.stderr)
        self.db.sql("DELETE FROM mtop_users")

    # --- helpers -------------------------------------------------------------------------

    def write_config(self, users):
        import json
        path = os.path.join(self.d.dir, f"admin-{len(os.listdir(self.d.dir))}.json")
        with open(path, "w") as f:
            json.dump({"listen": "127.0.0.1:1", "cert": self.d.cert, "key": self.d.key,
                       "users": users}, f)
        return path

    def admin(self, *args, stdin_text=None, ok=True):
        r = mtop_admin(self.admin_cfg, *args, stdin_text=stdin_text)
        if ok:
            self.assertEqual(r.returncode, 0, f"{args}: {r.stderr}")
        return r

    def add_user(self, name, password, *flags):
        self.admin("user", "add", name, "--scheme", "pbkdf2", *flags,
                   stdin_text=password + "\n")

    def server(self, grace=30, **over):
        users = dict(self.db.users_config(), cache_ttl=TTL, grace=grace, flush=FLUSH)
        return self.d.start_server(users=users, reply_status=True,
                                   allow_targets=["127.0.0.1/32"],
                                   timeouts={"recheck": RECHECK},
                                   auth={"max_failures": 100000}, **over)

    def server_with_admin(self):
        """self.server() with the admin listener on; returns (server, admin port)."""
        with open(os.path.join(self.d.dir, "admin.token"), "w") as f:
            f.write(ADMIN_TOKEN + "\n")
        port = free_port()
        server = self.server(admin={"listen": f"127.0.0.1:{port}", "token_file": "admin.token"})
        wait_for(lambda: port_open(port), 10, "the admin listener")
        return server, port

    def climber(self, server, user, password):
        socks = free_port()
        self.d.start_climber(server.port, user, password, "tls", socks=f"127.0.0.1:{socks}")
        return socks

    def used_bytes(self, name):
        rows = self.db.sql(f"SELECT used_bytes FROM mtop_users WHERE username = '{name}'")
        return int(rows[0][0]) if rows else None

    def wait_log(self, process, text, timeout=5):
        """Tunnel lines are written when the tunnel ends, a moment after the client knows."""
        wait_for(lambda: text in process.log(), timeout, f"{text!r} in the {process.name} log")

    def wait_code(self, socks, target, code, what, timeout=CHANGE_BOUND):
        wait_for(lambda: echo_once(socks, target) == code, timeout, what)

    # --- login and live changes ---------------------------------------------------------

    def test_login_wrong_password_and_live_password_changes(self):
        self.add_user("alice", "first-pw")
        server = self.server()
        target = self.target(echo_handler)
        first = self.climber(server, "alice", "first-pw")
        second = self.climber(server, "alice", "second-pw")
        self.assertEqual(echo_once(first, target), 0)
        self.assertEqual(echo_once(second, target), 0x02, "wrong password refused")
        self.wait_log(server, "reason=\"wrong password\"")
        # `user passwd` (stdin) changes it in the database; the running server follows.
        self.admin("user", "passwd", "alice", stdin_text="second-pw\n")
        self.wait_code(second, target, 0, "the new password to work without a restart")
        self.assertEqual(echo_once(first, target), 0x02, "the old password stops working")
        # And straight SQL, as another tool would do it.
        self.db.sql(f"UPDATE mtop_users SET password_hash = '{pbkdf2_hash('first-pw')}' "
                    "WHERE username = 'alice'")
        self.wait_code(first, target, 0, "a password set by SQL to work")
        self.assertEqual(echo_once(second, target), 0x02)
        self.assertNotIn("first-pw", server.log())
        self.assertNotIn("second-pw", server.log())

    def test_rows_inserted_disabled_deleted_expired_take_effect(self):
        server = self.server()
        target = self.target(echo_handler)
        socks = self.climber(server, "bob", "bob-pw")
        self.assertEqual(echo_once(socks, target), 0x02, "unknown user refused")
        self.db.sql("INSERT INTO mtop_users (username, password_hash) VALUES "
                    f"('bob', '{pbkdf2_hash('bob-pw')}')")
        self.wait_code(socks, target, 0, "a user inserted by SQL to log in")

        def live():
            s, code = socks5_connect(socks, "127.0.0.1", target.port)
            self.assertEqual(code, 0)
            s.sendall(b"x")
            self.assertEqual(recv_exact(s, 1), b"x")
            return s

        for change, undo in (
                (lambda: self.admin("user", "disable", "bob"),
                 lambda: self.admin("user", "enable", "bob")),
                (lambda: self.db.sql("UPDATE mtop_users SET expires_at = 1000 "
                                     "WHERE username = 'bob'"),
                 lambda: self.db.sql("UPDATE mtop_users SET expires_at = NULL "
                                     "WHERE username = 'bob'")),
                (lambda: self.db.sql("DELETE FROM mtop_users WHERE username = 'bob'"),
                 lambda: self.add_user("bob", "bob-pw"))):
            s = live()
            start = time.monotonic()
            change()
            self.assertTrue(closed_within(s, CHANGE_BOUND), "live tunnel closed")
            s.close()
            self.assertLess(time.monotonic() - start, CHANGE_BOUND)
            self.assertEqual(echo_once(socks, target), 0x02, "new tunnels refused")
            undo()
            self.wait_code(socks, target, 0, "the user to work again")
        for reason in ("user disabled", "user expired", "user deleted"):
            self.wait_log(server, f"reason=\"{reason}\"")

    def test_reverse_tunnel_closed_when_the_user_is_disabled(self):
        """A user whose publish grant is in the database publishes a port (docs/PROTOCOL.md
        section 9) and carries a visitor; disabling them in the database closes the port (no
        grace) and the visitor within the re-check."""
        port = free_port_block(1)
        self.add_user("rita", "rita-pw", "--publish", f"127.0.0.1:{port}")
        server = self.server(reverse={"keepalive": 2, "grace": 3}, workers=1)
        target = self.target(echo_handler)
        climber = self.d.start_climber(server.port, "rita", "rita-pw", "tls", reverse=[
            {"bind": "127.0.0.1", "port": port, "target": f"127.0.0.1:{target.port}"}])
        self.wait_log(climber, f"reverse 127.0.0.1:{port} -> 127.0.0.1:{target.port} published",
                      15)
        visitor = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(visitor.close)
        visitor.sendall(b"visitor")
        self.assertEqual(recv_exact(visitor, 7), b"visitor")
        start = time.monotonic()
        self.admin("user", "disable", "rita")
        self.assertTrue(closed_within(visitor, CHANGE_BOUND), "the visitor closed")
        wait_for(lambda: not port_open(port), CHANGE_BOUND - (time.monotonic() - start),
                 "the public port to close")
        self.wait_log(server, "ended (user disabled), port closed")
        self.assertEqual(target.connections, 1)

    # --- limits ---------------------------------------------------------------------------

    def test_quota_shared_by_two_instances(self):
        quota = 2_000_000  # counted up + down: an echo counts twice
        self.add_user("carol", "carol-pw", "--quota", str(quota))
        a, b = self.server(), self.server()
        target = self.target(echo_handler)
        via_a = self.climber(a, "carol", "carol-pw")
        via_b = self.climber(b, "carol", "carol-pw")
        # 600 KB echoed through A: 1.2 MB used, written back to the shared table.
        s, code = socks5_connect(via_a, "127.0.0.1", target.port)
        self.assertEqual(code, 0)
        for _ in range(15):
            s.sendall(b"a" * 40_000)
            recv_exact(s, 40_000)
        s.close()
        wait_for(lambda: self.used_bytes("carol") >= 1_200_000, 10, "A to write its usage")
        used_a = self.used_bytes("carol")
        self.assertLess(used_a, 1_300_000)
        # Through B, paced (about 0.8 MB/s counted, so several re-checks happen meanwhile):
        # B must cut the tunnel once the shared figure reaches the quota.
        s, code = socks5_connect(via_b, "127.0.0.1", target.port)
        self.assertEqual(code, 0)
        echoed = 0
        try:
            for _ in range(50):
                s.sendall(b"b" * 20_000)
                recv_exact(s, 20_000)
                echoed += 20_000
                time.sleep(0.05)
        except (OSError, AssertionError):
            pass
        s.close()
        self.assertLess(echoed, 1_000_000, "B cut the tunnel")
        slack = 256 * 1024  # chunks already in flight when the limit is seen
        self.assertLessEqual(used_a + 2 * echoed, quota + slack,
                             f"A used {used_a}, B echoed {echoed}")
        self.wait_log(b, "quota exceeded")
        # Both instances now refuse new tunnels (A sees B's usage through the database).
        self.wait_code(via_a, target, 0x02, "A to refuse once B wrote its usage", 10)
        self.assertEqual(echo_once(via_b, target), 0x02)
        self.admin("user", "quota", "carol", str(quota), "--reset")
        self.wait_code(via_a, target, 0, "a reset quota to work on A")
        self.wait_code(via_b, target, 0, "a reset quota to work on B")

    def test_quota_with_traffic_on_both_instances_at_once(self):
        quota = 2_000_000
        self.add_user("cole", "cole-pw", "--quota", str(quota))
        a, b = self.server(), self.server()
        target = self.target(echo_handler)
        echoed = {}

        def pump(name, socks):
            # About 400 KB/s counted on each server until the server cuts the tunnel.
            s, code = socks5_connect(socks, "127.0.0.1", target.port)
            echoed[name] = 0
            if code != 0:
                return
            try:
                for _ in range(200):
                    s.sendall(b"c" * 10_000)
                    recv_exact(s, 10_000)
                    echoed[name] += 10_000
                    time.sleep(0.05)
            except (OSError, AssertionError):
                pass
            finally:
                s.close()

        threads = [threading.Thread(target=pump, args=(n, self.climber(srv, "cole", "cole-pw")))
                   for n, srv in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        counted = 2 * (echoed["a"] + echoed["b"])
        self.assertGreater(echoed["a"], 0)
        self.assertGreater(echoed["b"], 0)
        self.assertLess(counted, 2 * 200 * 10_000, "the quota stopped both")
        # Each server may miss the other's last flush + cache_ttl + recheck of traffic
        # (about 1.5 s at 400 KB/s here), plus chunks in flight.
        bound = quota + 2 * int(400_000 * (FLUSH + TTL + RECHECK)) + 256 * 1024
        self.assertLessEqual(counted, bound, echoed)
        self.wait_log(a, "quota exceeded")
        self.wait_log(b, "quota exceeded")
        wait_for(lambda: self.used_bytes("cole") >= counted, 10, "both to write their usage")

    def test_bandwidth_limit_across_tunnels(self):
        rate = 200_000
        self.add_user("dave", "dave-pw", "--rate", str(rate))
        server, admin_port = self.server_with_admin()
        target = self.target(firehose_handler)
        socks = self.climber(server, "dave", "dave-pw")
        socks_list = []
        for i in range(2):  # one bucket for both of the user's tunnels
            s, code = socks5_connect(socks, "127.0.0.1", target.port)
            self.assertEqual(code, 0)
            socks_list.append(s)
        # Our readers only keep the tunnels flowing; the figure is the server's, on its own
        # clock: test_admin.relayed_rate() says why that holds on a loaded machine, where
        # timing our reads did not (87 % once, CI at 35902d2).
        drain = Drain(socks_list)
        try:
            measured = relayed_rate(admin_port, "dave", len(socks_list))
        finally:
            drain.close()
        self.assertGreater(min(drain.counts), 0, "both tunnels moved data")
        self.assertLess(measured, rate * 1.10,
                        f"{measured:.0f} B/s against a limit of {rate} B/s")
        self.assertGreater(measured, rate * 0.90,
                           f"{measured:.0f} B/s against a limit of {rate} B/s")

    def test_max_tunnels_is_per_instance(self):
        self.add_user("erin", "erin-pw", "--max-tunnels", "1")
        a, b = self.server(), self.server()
        target = self.target(echo_handler)
        via_a = self.climber(a, "erin", "erin-pw")
        via_b = self.climber(b, "erin", "erin-pw")
        s, code = socks5_connect(via_a, "127.0.0.1", target.port)
        self.assertEqual(code, 0)
        self.assertEqual(echo_once(via_a, target), 0x02, "second tunnel on A refused")
        self.wait_log(a, "failure=user_tunnel_limit")
        self.assertEqual(echo_once(via_b, target), 0, "B counts its own tunnels")
        s.close()
        self.wait_code(via_a, target, 0, "A to accept again once the first tunnel ended", 5)

    # --- outage ---------------------------------------------------------------------------

    def test_database_outage_and_recovery(self):
        self.add_user("alice", "alice-pw")
        self.add_user("bob", "bob-pw")
        server = self.server(grace=60)
        target = self.target(echo_handler)
        alice = self.climber(server, "alice", "alice-pw")
        bob = self.climber(server, "bob", "bob-pw")
        self.assertEqual(echo_once(alice, target), 0)  # alice is now verified and cached
        live, code = socks5_connect(alice, "127.0.0.1", target.port)
        self.assertEqual(code, 0)
        self.db.kill_now()
        deadline = time.monotonic() + 3 * (TTL + RECHECK)
        while time.monotonic() < deadline:  # several failed re-checks meanwhile
            live.sendall(b"still here")
            self.assertEqual(recv_exact(live, 10), b"still here", "live tunnel unaffected")
            time.sleep(0.1)
        for _ in range(3):
            self.assertEqual(echo_once(alice, target), 0, "a recently verified user works")
            self.assertEqual(echo_once(bob, target), 0x02, "an unverified user fails closed")
        self.wait_log(server, "failure=store_unavailable")
        self.assertEqual(server.log().count("user database unavailable"), 1,
                         "the outage is logged once")
        self.db.start()
        # The probe back-off is at most a few seconds after so short an outage.
        self.wait_code(bob, target, 0, "recovery without a restart", 20)
        live.sendall(b"after")
        self.assertEqual(recv_exact(live, 5), b"after")
        live.close()
        log = server.log()
        self.assertEqual(log.count("user database unavailable"), 1)
        self.assertEqual(log.count("user database is reachable again"), 1)
        # Changes flow again after the recovery.
        self.admin("user", "disable", "alice")
        self.wait_code(alice, target, 0x02, "a change after recovery")

    # --- admin commands -------------------------------------------------------------------

    def stored_hash(self, name):
        return self.db.sql(f"SELECT password_hash FROM mtop_users WHERE username = '{name}'")[0][0]

    def test_admin_commands(self):
        check_admin_commands(self, self.stored_hash)

    def test_old_schema_works_until_db_migrate(self):
        """A database made before schema versions (the fixture): the server serves it with no
        publish grants and says how to migrate, once; `db migrate` upgrades it in place."""
        self.addCleanup(self.db.sql, "DROP TABLE IF EXISTS mtop_schema")  # next setUp: db init
        self.addCleanup(self.db.sql, "DROP TABLE IF EXISTS mtop_users")
        self.db.sql("DROP TABLE mtop_users")
        self.db.sql("DROP TABLE mtop_schema")
        with open(os.path.join(SCHEMA_V1, f"{self.db.kind}.sql")) as f:
            self.db.script(f.read())
        self.add_user("alice", "alice-pw", "--quota", "100000000")
        for args in (("user", "publish", "alice", "8000"), ("db", "init")):
            r = self.admin(*args, ok=False)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn("schema version 1", r.stderr)
            self.assertIn("mtop-server db migrate", r.stderr)
        server = self.server()
        target = self.target(echo_handler)
        socks = self.climber(server, "alice", "alice-pw")
        self.assertEqual(echo_once(socks, target), 0)
        self.wait_log(server, "schema version 1")
        wait_for(lambda: self.used_bytes("alice") > 0, 10, "usage written to the old schema")
        used = self.used_bytes("alice")
        self.assertIn("upgraded from version 1 to 2", self.admin("db", "migrate").stdout)
        self.assertIn("nothing to do", self.admin("db", "migrate").stdout)
        self.admin("db", "init")
        self.admin("user", "publish", "alice", "8000-8099")
        rows = self.db.sql("SELECT publish, quota_bytes FROM mtop_users WHERE username = 'alice'")
        self.assertEqual(rows, [["8000-8099", "100000000"]])
        self.assertGreaterEqual(self.used_bytes("alice"), used)
        # The running server went on through the migration.
        self.assertEqual(echo_once(socks, target), 0)
        self.assertEqual(server.log().count("schema version 1"), 1, "said once")


def check_admin_commands(test, stored_hash):
    """add / list / passwd / enable / disable / quota / del through `mtop-server user`."""
    def listing():
        out = test.admin("user", "list").stdout
        return {line.split()[0]: line.split() for line in out.splitlines()[1:]}

    test.add_user("zoe", "zoe-pw", "--quota", "5000", "--rate", "1000", "--max-tunnels", "3",
                  "--expires", "4000000000", "--publish", "8000-8099")
    r = test.admin("user", "add", "zoe", "--scheme", "pbkdf2", stdin_text="x\n", ok=False)
    test.assertNotEqual(r.returncode, 0)
    test.assertIn("exists", r.stderr)
    rows = listing()
    test.assertEqual(rows["zoe"][1:], ["yes", "4000000000", "3", "5000", "0", "1000",
                                       "8000-8099"])
    test.assertNotIn("pbkdf2", test.admin("user", "list").stdout, "list never shows hashes")
    # The password never comes from the command line: an extra argument is refused.
    r = test.admin("user", "add", "amy", "secret", stdin_text="x\n", ok=False)
    test.assertNotEqual(r.returncode, 0)
    test.assertNotIn("amy", listing())
    # An empty password on stdin is refused.
    r = test.admin("user", "add", "amy", stdin_text="\n", ok=False)
    test.assertNotEqual(r.returncode, 0)
    before = stored_hash("zoe")
    test.assertIn("password set", test.admin("user", "passwd", "zoe", stdin_text="new-pw\n").stdout)
    after = stored_hash("zoe")
    test.assertNotEqual(before, after)
    test.assertTrue(after.startswith("$scrypt$"), after)  # the default scheme
    test.admin("user", "disable", "zoe")
    test.assertEqual(listing()["zoe"][1], "no")
    test.admin("user", "enable", "zoe")
    test.assertEqual(listing()["zoe"][1], "yes")
    test.admin("user", "quota", "zoe", "123456")
    test.assertEqual(listing()["zoe"][4], "123456")
    test.admin("user", "quota", "zoe", "none")
    test.assertEqual(listing()["zoe"][4], "-")
    r = test.admin("user", "quota", "zoe", "12kb", ok=False)
    test.assertNotEqual(r.returncode, 0)
    test.assertIn("publish grants set",
                  test.admin("user", "publish", "zoe", "192.0.2.10:443").stdout)
    test.assertEqual(listing()["zoe"][7], "192.0.2.10:443")
    test.admin("user", "publish", "zoe", "none")
    test.assertEqual(listing()["zoe"][7], "-")
    r = test.admin("user", "publish", "zoe", "8000-70000", ok=False)
    test.assertNotEqual(r.returncode, 0)
    test.assertIn('publish: "8000-70000"', r.stderr)
    r = test.admin("user", "publish", "nobody", "80", ok=False)
    test.assertNotEqual(r.returncode, 0)
    r = test.admin("user", "add", "amy", "--publish", "x", stdin_text="amy-pw\n", ok=False)
    test.assertIn("publish:", r.stderr)
    test.assertNotIn("amy", listing())
    # A users file or a current database: nothing to migrate.
    test.assertIn("nothing to do", test.admin("db", "migrate").stdout)
    for verb in ("disable", "enable", "del"):
        r = test.admin("user", verb, "nobody", ok=False)
        test.assertNotEqual(r.returncode, 0, verb)
    r = test.admin("user", "passwd", "nobody", stdin_text="pw\n", ok=False)
    test.assertNotEqual(r.returncode, 0)
    test.assertIn("deleted zoe", test.admin("user", "del", "zoe").stdout)
    test.assertNotIn("zoe", listing())
    r = test.admin("user", "del", "zoe", ok=False)
    test.assertNotEqual(r.returncode, 0)
    for _ in range(2):
        test.admin("db", "init")


class SqliteStore(_StoreCases, DeploymentTest):
    make_db = db_servers.Sqlite  # its "outage": the table renamed away and back


class PostgresStore(_StoreCases, DeploymentTest):
    make_db = db_servers.Postgres


class MariadbStore(_StoreCases, DeploymentTest):
    make_db = db_servers.Mariadb


class FileAdmin(DeploymentTest):
    """The same admin commands against a users file."""

    def setUp(self):
        super().setUp()
        import json
        self.users_path = os.path.join(self.d.dir, "users-admin.json")
        self.admin_cfg = os.path.join(self.d.dir, "admin.json")
        with open(self.admin_cfg, "w") as f:
            json.dump({"listen": "127.0.0.1:1", "cert": self.d.cert, "key": self.d.key,
                       "users": {"type": "file", "path": self.users_path}}, f)
        for _ in range(2):
            self.admin("db", "init")

    admin = _StoreCases.admin
    add_user = _StoreCases.add_user

    def stored_hash(self, name):
        import json
        with open(self.users_path) as f:
            users = json.load(f)["users"]
        return next(u["password"] for u in users if u["username"] == name)

    def test_admin_commands(self):
        check_admin_commands(self, self.stored_hash)

    def test_rewrite_keeps_owner_group_and_mode(self):
        # The package installs /etc/mtop/users.json as root:mtop 0640 for the service to read;
        # `mtop-server user add` run as root must not leave it root:root 0600.
        os.chmod(self.users_path, 0o640)
        gid = 1 if os.geteuid() == 0 else os.stat(self.users_path).st_gid  # 1: daemon
        os.chown(self.users_path, -1, gid)
        self.add_user("kim", "pw")
        st = os.stat(self.users_path)
        self.assertEqual(oct(st.st_mode & 0o7777), oct(0o640))
        self.assertEqual(st.st_gid, gid)
        self.assertIn("kim", open(self.users_path).read())

    def test_config_users_keys_are_checked(self):
        import json
        for users, needle in (({"type": "sqlite", "path": "x.db", "flush": 0}, "users.flush"),
                              ({"type": "sqlite", "path": "x.db", "cache_ttl": -1},
                               "users.cache_ttl"),
                              ({"type": "postgres"}, "users.dsn"),
                              ({"type": "mongo", "path": "x"}, "users.type"),
                              ({"type": "sqlite", "path": "x.db", "ttl": 1}, "unknown key")):
            path = os.path.join(self.d.dir, "bad.json")
            with open(path, "w") as f:
                json.dump({"listen": "127.0.0.1:1", "cert": self.d.cert, "key": self.d.key,
                           "users": users}, f)
            r = subprocess.run([SERVER_BIN, "--config", path, "--check"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 1, users)
            self.assertIn(needle, r.stderr, users)
            r = subprocess.run([SERVER_BIN, "--config", path, "user", "list"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1, users)


if __name__ == "__main__":
    unittest.main()
