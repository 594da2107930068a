"""The admin listener (docs/ADMIN_API.md): /metrics after known traffic over TLS and QUIC,
checked by promtool and scraped by a real Prometheus; bearer tokens; tunnels listed and
kicked; users managed through the API and `mtop-server ctl`; clear errors for bad requests.
Everything on loopback; every process started here is stopped by PID."""
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from harness import (SERVER_BIN, DeploymentTest, Process, echo_handler, free_port, port_open,
                     recv_exact, socks5_connect, wait_for)

TOKEN = "admin-token-0123456789abcdef"
METRICS_TOKEN = "metrics-token-0123456789abcdef"


def http(port, method, path, token=None, body=None, timeout=10):
    """(status, parsed JSON or text) of one admin call."""
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text, ctype = r.status, r.read().decode(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, text, ctype = e.code, e.read().decode(), e.headers.get("Content-Type", "")
    return status, (json.loads(text) if ctype.startswith("application/json") else text)


def metric(text, name, **labels):
    """The value of the sample `name{labels}` (labels matched as a subset), or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def relayed_rate(admin_port, user, tunnels, warmup_ms=2000, window_ms=4000, stage="relaying",
                 field="bytes_down", started_ms=0):
    """The bytes per second the server relays down `user`'s `tunnels` live tunnels together
    (which the caller keeps read), measured on the server's side.

    Why this holds on a loaded machine: the bytes (bytes_down, counted as the server reads
    them from the target, where a rate limit holds the reading back) and the time (age_ms)
    both come from one snapshot on the tunnels' worker loop, so neither a reader of ours that
    falls behind nor a late admin call moves a sample: the kernel's and the relays' buffers
    absorb a slow reader for seconds at such rates. The counters move in whole reads of up to
    64 KiB (a third of a second of a 200 kB/s limit), so the difference of two samples could
    be a read per worker off at each end, over 10 % of a short window; the slope of a
    least-squares line through every sample of the window (one every 50 ms) is not. Per
    worker: the sum of its tunnels' bytes over the age of its first one (the workers answer a
    snapshot each, a moment apart); the user's rate is the sum of the workers' slopes.
    Samples start `warmup_ms` into the tunnels' life (a one-second burst is spent by then)
    and the window is `window_ms` long.

    Other tunnels than proxied ones: `stage` picks them from the list (a reverse tunnel's
    visitors are "visitor"), `field` the direction (a visitor's "bytes_up" is what the climber
    sends it), and `started_ms` is their age when their traffic began (a TLS visitor rides on
    a data connection that waited in the pool first): the warm-up counts from there."""
    series = {}  # worker -> [(age_ms of its first tunnel, `field` of all its tunnels)]
    deadline = time.monotonic() + 60  # the server's clock ends the loop long before
    while time.monotonic() < deadline:
        status, body = http(admin_port, "GET", "/api/tunnels", token=TOKEN)
        assert status == 200, body
        live = [t for t in body["tunnels"] if t["user"] == user and t["stage"] == stage]
        assert len(live) == tunnels, live
        by_worker = {}
        for t in live:
            by_worker.setdefault(t["worker"], []).append(t)
        for worker, ts in by_worker.items():
            if min(t["age_ms"] for t in ts) >= started_ms + warmup_ms:
                first = min(ts, key=lambda t: t["id"])
                series.setdefault(worker, []).append(
                    (first["age_ms"], sum(t[field] for t in ts)))
        if min(t["age_ms"] for t in live) >= started_ms + warmup_ms + window_ms:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the measuring window did not end within 60 s")
    slopes = []
    for points in series.values():
        assert len(points) >= 10, f"only {len(points)} samples in the window"
        ages, down = zip(*points)
        slopes.append(statistics.linear_regression(ages, down).slope * 1000)
    return sum(slopes)


def echo_once(socks_port, target_port, payload):
    s, code = socks5_connect(socks_port, "127.0.0.1", target_port)
    assert code == 0, f"SOCKS reply {code}"
    s.sendall(payload)
    got = recv_exact(s, len(payload))
    s.close()
    return got


class AdminTest(DeploymentTest):
    def start(self, metrics_token=False, per_user=False, **over):
        with open(os.path.join(self.d.dir, "admin.token"), "w") as f:
            f.write(TOKEN + "\n")
        admin = {"listen": f"127.0.0.1:{free_port()}", "token_file": "admin.token",
                 "per_user_metrics": per_user}
        if metrics_token:
            with open(os.path.join(self.d.dir, "metrics.token"), "w") as f:
                f.write(METRICS_TOKEN)
            admin["metrics_token_file"] = "metrics.token"
        self.d.add_user("alice", "alice-pass")
        self.target_srv = self.target(echo_handler)
        self.server = self.d.start_server(allow_targets=["127.0.0.0/8"], admin=admin, **over)
        self.admin_port = int(admin["listen"].rsplit(":", 1)[1])
        wait_for(lambda: port_open(self.admin_port), 10, "the admin listener")
        return self.server

    def climber(self, user="alice", password="alice-pass", transport="tls"):
        socks = free_port()
        self.d.start_climber(self.server.port, user, password, transport=transport,
                             socks=f"127.0.0.1:{socks}")
        return socks

    def api(self, method, path, body=None, token=TOKEN):
        return http(self.admin_port, method, path, token=token, body=body)

    def metrics(self, token=None):
        status, text = http(self.admin_port, "GET", "/metrics", token=token)
        self.assertEqual(status, 200, text)
        return text

    def ctl(self, *args, stdin=None):
        token_file = os.path.join(self.d.dir, "admin.token")
        r = subprocess.run([SERVER_BIN, "ctl", "--admin", f"127.0.0.1:{self.admin_port}",
                            "--token-file", token_file, *args], input=stdin,
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def list_and_kick(self, transport):
        """A live tunnel is listed with its user, target, transport and bytes; kicking it
        ends the client's stream and empties the list."""
        self.start()
        socks = self.climber(transport=transport)
        s, code = socks5_connect(socks, "127.0.0.1", self.target_srv.port)
        self.assertEqual(code, 0)
        s.sendall(b"hello")
        self.assertEqual(recv_exact(s, 5), b"hello")
        status, body = self.api("GET", "/api/tunnels")
        self.assertEqual(status, 200)
        live = [t for t in body["tunnels"] if t["stage"] == "relaying"]
        self.assertEqual(len(live), 1, body)
        t = live[0]
        self.assertEqual(t["user"], "alice")
        self.assertEqual(t["target"], f"127.0.0.1:{self.target_srv.port}")
        self.assertEqual(t["transport"], transport)
        self.assertEqual((t["bytes_up"], t["bytes_down"]), (5, 5))
        self.assertTrue(t["source"].startswith("127.0.0.1:"))
        status, body = self.api("DELETE", f"/api/tunnels/{t['id']}")
        self.assertEqual((status, body), (200, {"closed": 1}))
        s.settimeout(10)
        self.assertEqual(s.recv(100), b"")  # the client sees the end
        s.close()
        wait_for(lambda: not self.api("GET", "/api/tunnels")[1]["tunnels"], 10, "the list to empty")
        self.assertEqual(self.api("DELETE", f"/api/tunnels/{t['id']}")[0], 404)


class Metrics(AdminTest):
    def test_counts_after_known_traffic_promtool_and_prometheus(self):
        self.start(per_user=True)
        listener = f"127.0.0.1:{self.server.port}"
        before = self.metrics()
        self.assertEqual(metric(before, "mtop_tunnels_total", transport="tls"), None)
        tls = self.climber(transport="tls")
        quic = self.climber(transport="quic")
        for _ in range(3):
            self.assertEqual(echo_once(tls, self.target_srv.port, b"x" * 1000), b"x" * 1000)
        for _ in range(2):
            self.assertEqual(echo_once(quic, self.target_srv.port, b"y" * 500), b"y" * 500)
        bad = self.climber(password="wrong-pass")
        s, code = socks5_connect(bad, "127.0.0.1", self.target_srv.port)
        s.close()
        self.assertNotEqual(code, 0)
        # A closed port: the dial fails with "refused".
        closed_port = free_port()
        s, code = socks5_connect(tls, "127.0.0.1", closed_port)
        s.close()
        self.assertNotEqual(code, 0)

        def settled():
            t = self.metrics()
            return (metric(t, "mtop_tunnels_live", transport="tls") == 0
                    and metric(t, "mtop_tunnels_live", transport="quic") == 0
                    and metric(t, "mtop_target_dial_failures_total", reason="refused") == 1)
        wait_for(settled, 15, "tunnels to end")
        text = self.metrics()
        self.assertEqual(metric(text, "mtop_tunnels_total", listener=listener, transport="tls"), 5)
        self.assertEqual(metric(text, "mtop_tunnels_total", listener=listener, transport="quic"), 2)
        self.assertEqual(metric(text, "mtop_tunnels_accepted_total"), 5)
        self.assertEqual(metric(text, "mtop_bytes_total", direction="up"), 4000)
        self.assertEqual(metric(text, "mtop_bytes_total", direction="down"), 4000)
        self.assertEqual(metric(text, "mtop_user_bytes_total", user="alice", direction="up"), 4000)
        self.assertEqual(metric(text, "mtop_auth_failures_total", reason="auth_failed"), 1)
        self.assertEqual(metric(text, "mtop_handshake_duration_seconds_count"), 5)
        self.assertEqual(metric(text, "mtop_handshake_duration_seconds_bucket", le="+Inf"), 5)
        self.assertEqual(metric(text, "mtop_user_store_lookups_total", result="found"), 7)  # 5 relayed, 1 dial failure, 1 wrong password
        self.assertEqual(metric(text, "mtop_user_store_lookups_total", result="not_found"), 0)
        self.assertEqual(metric(text, "mtop_user_store_outages_total"), 0)
        self.assertGreaterEqual(metric(text, "mtop_quic_connections_total"), 1)
        self.assertEqual(metric(text, "mtop_quic_streams_total"), 2)
        self.assertEqual(metric(text, "mtop_policy_rejections_total", rule="target_policy"), 0)

        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

        self.scrape_with_prometheus()

    def scrape_with_prometheus(self):
        if not shutil.which("prometheus"):
            self.fail("prometheus is not installed (scripts/deps.sh --test)")
        pdir = os.path.join(self.d.dir, "prometheus")
        os.makedirs(pdir)
        with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: mtop\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{self.admin_port}']\n")
        port = free_port()
        prom = Process("prometheus", ["prometheus", f"--config.file={pdir}/prometheus.yml",
                                      f"--storage.tsdb.path={pdir}/data",
                                      f"--web.listen-address=127.0.0.1:{port}"],
                       os.path.join(self.d.dir, "prometheus.log"))
        self.d.procs.append(prom)
        url = (f"http://127.0.0.1:{port}/api/v1/query?query=" +
               urllib.request.quote("sum(mtop_tunnels_total)"))

        def scraped():
            if not prom.alive():
                raise AssertionError("prometheus exited:\n" + prom.log())
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    result = json.load(r)["data"]["result"]
            except (OSError, ValueError, KeyError):
                return False
            return bool(result) and float(result[0]["value"][1]) > 0
        wait_for(scraped, 60, "Prometheus to scrape mtop_tunnels_total > 0")
        prom.stop()


class Tokens(AdminTest):
    def test_admin_calls_need_the_token_metrics_open(self):
        self.start()
        for token in (None, "wrong-token-0123456789abcdef", TOKEN + "x", ""):
            status, body = self.api("GET", "/api/stats", token=token)
            self.assertEqual(status, 401, (token, body))
            self.assertIn("token", body["error"])
        status, body = self.api("GET", "/api/stats")
        self.assertEqual(status, 200, body)
        self.assertIn("live", body)
        self.assertIn("mtop_tunnels_relaying 0", self.metrics())          # no token needed
        self.assertIn("# TYPE mtop_tunnels_total counter", self.metrics(token="anything"))

    def test_metrics_with_its_own_token(self):
        self.start(metrics_token=True)
        self.assertEqual(http(self.admin_port, "GET", "/metrics")[0], 401)
        self.assertEqual(http(self.admin_port, "GET", "/metrics", token=TOKEN)[0], 401)
        self.assertIn("mtop_tunnels_relaying", self.metrics(token=METRICS_TOKEN))
        # The admin token is still the admin token.
        self.assertEqual(self.api("GET", "/api/stats", token=METRICS_TOKEN)[0], 401)
        self.assertEqual(self.api("GET", "/api/stats")[0], 200)

    def test_bad_requests_get_clear_errors(self):
        self.start()
        status, body = self.api("POST", "/api/users", body=b"{not json")
        self.assertEqual(status, 400)
        self.assertIn("bad JSON", body["error"])
        status, body = self.api("POST", "/api/users", body={"username": "bob", "pasword": "x"})
        self.assertEqual(status, 400)
        self.assertIn('unknown field "pasword"', body["error"])
        status, body = self.api("POST", "/api/users", body={"username": "bob"})
        self.assertEqual(status, 400)
        self.assertIn('"password"', body["error"])
        status, body = self.api("PATCH", "/api/users/alice", body={"quota_bytes": -1})
        self.assertEqual(status, 400)
        self.assertIn('"quota_bytes"', body["error"])
        self.assertEqual(self.api("GET", "/api/nothing")[0], 404)
        self.assertEqual(self.api("DELETE", "/api/tunnels/12345")[0], 404)
        self.assertEqual(self.api("DELETE", "/api/tunnels/abc")[0], 400)
        self.assertEqual(self.api("GET", "/api/users/nobody")[0], 404)
        self.assertEqual(self.api("POST", "/api/stats")[0], 405)
        status, body = self.api("POST", "/api/users",
                                body={"username": "alice", "password": "another-pass"})
        self.assertEqual(status, 409, body)

    def test_oversized_body_gets_413_and_the_listener_goes_on(self):
        self.start()
        status, body = self.api("POST", "/api/users", body=b"{" + b" " * (1 << 20) + b"}")
        self.assertEqual(status, 413)
        self.assertIn("larger than 1048576 bytes", body["error"])
        status, body = self.api("POST", "/api/users",
                                body={"username": "bob", "password": "bob-pass-1"})
        self.assertEqual(status, 201, body)

    def test_config_is_redacted_and_reload_works(self):
        self.start()
        status, body = self.api("GET", "/api/config")
        self.assertEqual(status, 200)
        self.assertEqual(body["admin"]["token_file"], os.path.join(self.d.dir, "admin.token"))
        self.assertNotIn(TOKEN, json.dumps(body))
        self.assertEqual(self.api("POST", "/api/reload")[0], 200)
        with open(self.d.users_path, "w") as f:
            f.write("{broken")
        status, body = self.api("POST", "/api/reload")
        self.assertEqual(status, 400)
        self.assertIn("running config stays", body["error"])


class Tunnels(AdminTest):
    def test_list_and_kick(self):
        self.list_and_kick("tls")

    def test_kick_every_tunnel_of_a_user(self):
        self.start()
        socks = self.climber()
        socks_list = [socks5_connect(socks, "127.0.0.1", self.target_srv.port) for _ in range(2)]
        for s, code in socks_list:
            self.assertEqual(code, 0)
        wait_for(lambda: len(self.api("GET", "/api/tunnels")[1]["tunnels"]) == 2, 10, "2 tunnels")
        status, body = self.api("DELETE", "/api/users/alice/tunnels")
        self.assertEqual((status, body), (200, {"closed": 2}))
        for s, _ in socks_list:
            s.settimeout(10)
            self.assertEqual(s.recv(100), b"")
            s.close()


class TunnelsQuic(AdminTest):
    def test_list_and_kick(self):
        self.list_and_kick("quic")


class Users(AdminTest):
    def test_add_disable_delete_through_the_api(self):
        self.start()
        status, body = self.api("POST", "/api/users",
                                body={"username": "bob", "password": "bob-pass-1",
                                      "quota_bytes": 1000000, "max_tunnels": 4})
        self.assertEqual(status, 201, body)
        self.assertEqual(body["username"], "bob")
        self.assertEqual(body["quota_bytes"], 1000000)
        self.assertNotIn("password", body)
        names = [u["username"] for u in self.api("GET", "/api/users")[1]["users"]]
        self.assertEqual(names, ["alice", "bob"])
        socks = self.climber(user="bob", password="bob-pass-1")
        wait_for(lambda: self.try_echo(socks), 10, "bob's tunnel to work")
        status, body = self.api("PATCH", "/api/users/bob",
                                body={"enabled": False, "rate_limit": 5000, "max_tunnels": None})
        self.assertEqual(status, 200, body)
        self.assertEqual((body["enabled"], body["rate_limit"], body["max_tunnels"]),
                         (False, 5000, None))
        wait_for(lambda: not self.try_echo(socks), 15, "bob's tunnels to be refused")
        self.assertEqual(self.api("DELETE", "/api/users/bob")[0], 200)
        self.assertEqual(self.api("GET", "/api/users/bob")[0], 404)
        self.assertEqual(self.api("DELETE", "/api/users/bob")[0], 404)

    def test_publish_grants_through_the_api_and_ctl(self):
        self.start()
        status, body = self.api("POST", "/api/users",
                                body={"username": "pub", "password": "pub-pass-1",
                                      "publish": "8000-8099, *:2222"})
        self.assertEqual((status, body["publish"]), (201, "8000-8099, *:2222"), body)
        self.assertEqual(self.api("GET", "/api/users/alice")[1]["publish"], "")  # default: none
        with open(self.d.users_path) as f:
            stored = {u["username"]: u for u in json.load(f)["users"]}
        self.assertEqual(stored["pub"]["publish"], "8000-8099, *:2222")
        self.assertNotIn("publish", stored["alice"])
        # Bad grants: 400 with the parser's words, and nothing of the request is applied.
        for bad, words in (("8000-70000", 'publish: "8000-70000"'), (8000, "a string of grants")):
            status, body = self.api("PATCH", "/api/users/pub",
                                    body={"publish": bad, "enabled": False})
            self.assertEqual(status, 400, body)
            self.assertIn(words, body["error"])
        status, body = self.api("GET", "/api/users/pub")
        self.assertEqual((body["publish"], body["enabled"]), ("8000-8099, *:2222", True))
        status, body = self.api("POST", "/api/users", body={"username": "pub2",
                                                            "password": "pub-pass-2",
                                                            "publish": "all"})
        self.assertEqual(status, 400, body)
        self.assertEqual(self.api("GET", "/api/users/pub2")[0], 404)
        status, body = self.api("PATCH", "/api/users/pub", body={"publish": None})
        self.assertEqual((status, body["publish"]), (200, ""), body)
        # The same through ctl.
        rc, out, err = self.ctl("users", "publish", "pub", "[2001:db8::1]:443")
        self.assertEqual((rc, json.loads(out)["publish"]), (0, "[2001:db8::1]:443"), err)
        rc, out, err = self.ctl("users", "publish", "pub", "none")
        self.assertEqual((rc, json.loads(out)["publish"]), (0, ""), err)
        rc, out, err = self.ctl("users", "publish", "pub", "0")
        self.assertEqual(rc, 1)
        self.assertIn("400", err)
        self.assertIn("publish:", err)
        rc, out, err = self.ctl("users", "add", "pub3", "--publish", "9000",
                                stdin="pub-pass-3\n")
        self.assertEqual((rc, json.loads(out)["publish"]), (0, "9000"), err)

    def test_users_through_ctl(self):
        self.start()
        rc, out, err = self.ctl("users", "add", "carol", "--quota", "1000000", "--rate", "none",
                                stdin="carol-pass-1\n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["quota_bytes"], 1000000)
        socks = self.climber(user="carol", password="carol-pass-1")
        wait_for(lambda: self.try_echo(socks), 10, "carol's tunnel to work")
        rc, out, err = self.ctl("users", "disable", "carol")
        self.assertEqual(rc, 0, err)
        self.assertFalse(json.loads(out)["enabled"])
        wait_for(lambda: not self.try_echo(socks), 15, "carol's tunnels to be refused")
        rc, out, err = self.ctl("users", "enable", "carol")
        self.assertEqual(rc, 0, err)
        wait_for(lambda: self.try_echo(socks), 15, "carol's tunnels to work again")
        rc, out, err = self.ctl("users", "limits", "carol", "--max-tunnels", "3")
        self.assertEqual((rc, json.loads(out)["max_tunnels"]), (0, 3), err)
        # A user added to the file meanwhile by `mtop-server user add` is not written over.
        config = os.path.join(self.d.dir, f"server-{self.server.port}.json")
        r = subprocess.run([SERVER_BIN, "user", "--config", config, "add", "dan"],
                           input="dan-pass-1234\n", capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        rc, out, err = self.ctl("users", "limits", "carol", "--rate", "100000")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.ctl("users", "list")
        self.assertEqual([u["username"] for u in json.loads(out)["users"]],
                         ["alice", "carol", "dan"])
        rc, out, err = self.ctl("tunnels")
        self.assertEqual(rc, 0, err)
        self.assertIn("tunnels", json.loads(out))
        rc, out, err = self.ctl("users", "del", "carol")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.ctl("users", "del", "carol")
        self.assertEqual(rc, 1)
        self.assertIn("404", err)
        rc, out, err = self.ctl("users", "add", "alice", stdin="x-long-password\n")
        self.assertEqual(rc, 1)
        self.assertIn("409", err)
        # The address and token from the server's own config file.
        r = subprocess.run([SERVER_BIN, "--config", config, "ctl", "stats"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("accepted", json.loads(r.stdout))
        # A wrong token: 401, exit status 1.
        bad = os.path.join(self.d.dir, "bad.token")
        with open(bad, "w") as f:
            f.write("not-the-token-0123456789")
        r = subprocess.run([SERVER_BIN, "ctl", "--admin", f"127.0.0.1:{self.admin_port}",
                            "--token-file", bad, "stats"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("401", r.stderr)

    def try_echo(self, socks):
        try:
            s, code = socks5_connect(socks, "127.0.0.1", self.target_srv.port, timeout=5)
        except (OSError, AssertionError):
            return False
        try:
            if code != 0:
                return False
            s.sendall(b"ping")
            return recv_exact(s, 4) == b"ping"
        except (OSError, AssertionError):
            return False
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
