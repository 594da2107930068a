"""The climber and mtop-server as shadowsocks SIP003 plugins (docs/SHADOWSOCKS.md):
ss-local -> climber plugin -> mtop-server plugin -> ss-server, with shadowsocks-libev."""
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

from harness import (CLIMBER_BIN, SERVER_BIN, DeploymentTest, Process, free_port, port_open,
                     wait_for)
from test_fallback import PAGES, WebBackend, curl_bytes

SS_LOCAL = shutil.which("ss-local")
SS_SERVER = shutil.which("ss-server")
CIPHER = "chacha20-ietf-poly1305"


def plugin_env(options, remote_port=443, local_port=1080):
    env = dict(os.environ)
    env.update({"SS_REMOTE_HOST": "127.0.0.1", "SS_REMOTE_PORT": str(remote_port),
                "SS_LOCAL_HOST": "127.0.0.1", "SS_LOCAL_PORT": str(local_port),
                "SS_PLUGIN_OPTIONS": options})
    env.pop("MTOP_PASSWORD", None)
    return env


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def plugin_link_open(ss):
    """True once the SIP003 plugin under shadowsocks process `ss` is started and the link
    between them is up: the port in the plugin's SS_LOCAL_PORT accepts (ss-local connects to
    the climber plugin there; the server plugin connects to ss-server there). A test that
    only waits for the outer ports can send its first request before the plugin listens."""
    for pid in children(ss.pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        except OSError:
            continue
        if b"SS_LOCAL_PORT" in env and port_open(int(env[b"SS_LOCAL_PORT"])):
            return True
    return False


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class BadOptions(unittest.TestCase):
    def run_plugin(self, binary, options, **env_over):
        env = plugin_env(options)
        env.update(env_over)
        r = subprocess.run([binary], env=env, capture_output=True, text=True, timeout=30)
        return r.returncode, r.stderr

    def test_bad_options_exit_2_naming_the_option(self):
        cases = [
            (CLIMBER_BIN, "user=alice;pasword=s3cret", "pasword: unknown"),
            (CLIMBER_BIN, "password=s3cret", "user: missing"),
            (CLIMBER_BIN, "user=alice", "password_file (or password, or $MTOP_PASSWORD): missing"),
            (CLIMBER_BIN, "user=alice;password=s3cret;transport=udp", "transport: tls, quic or auto"),
            (CLIMBER_BIN, "user=alice;user=bob;password=s3cret", "user: given twice"),
            (CLIMBER_BIN, "user=alice;password=s3cret;target=nowhere", "target"),
            (CLIMBER_BIN, "user=alice;password=s3cret\\", "SS_PLUGIN_OPTIONS: option 2"),
            (SERVER_BIN, "key=k.pem;users=u.json", "cert: missing"),
            (SERVER_BIN, "cert=c.pem;key=k.pem;users=u.json;quic=maybe", "quic: 1/true/yes"),
            (SERVER_BIN, "cert=c.pem;key=k.pem;users=u.json;fallback=web", "fallback"),
            (SERVER_BIN, "config=/nonexistent.json", "config: "),
        ]
        for binary, options, needle in cases:
            with self.subTest(options):
                code, err = self.run_plugin(binary, options)
                self.assertEqual(code, 2, err)
                self.assertIn(needle, err)
                self.assertNotIn("s3cret", err)
        code, err = self.run_plugin(CLIMBER_BIN, "user=alice;password=x", SS_LOCAL_PORT="70000")
        self.assertEqual(code, 2)
        self.assertIn("SS_LOCAL_PORT: port must be 1-65535", err)


@unittest.skipUnless(SS_LOCAL and SS_SERVER, "shadowsocks-libev (ss-local, ss-server) needed")
class Shadowsocks(DeploymentTest):
    def test_curl_through_ss_local_over_both_plugins(self):
        self.d.add_user("alice", "right")
        pw_file = os.path.join(self.d.dir, "pw")
        with open(pw_file, "w") as f:
            f.write("right\n")
        web = WebBackend(self.d.dir)
        self.addCleanup(web.close)
        ss_port, socks = free_port(), free_port()
        server_opts = f"cert={self.d.cert};key={self.d.key};users={self.d.users_path};quic=0"
        ss_server = Process("ss-server", [SS_SERVER, "-s", "127.0.0.1", "-p", str(ss_port),
                                          "-k", "sspw", "-m", CIPHER, "--plugin", SERVER_BIN,
                                          "--plugin-opts", server_opts],
                            os.path.join(self.d.dir, "ss-server.log"))
        self.d.procs.append(ss_server)
        wait_for(lambda: port_open(ss_port) or not ss_server.alive(), 15, "the server plugin")
        client_opts = (f"user=alice;password_file={pw_file};ca={self.d.cert};sni=localhost;"
                       "log_level=debug")
        ss_local = Process("ss-local", [SS_LOCAL, "-s", "127.0.0.1", "-p", str(ss_port),
                                        "-l", str(socks), "-k", "sspw", "-m", CIPHER,
                                        "--plugin", CLIMBER_BIN, "--plugin-opts", client_opts],
                           os.path.join(self.d.dir, "ss-local.log"))
        self.d.procs.append(ss_local)
        wait_for(lambda: port_open(socks) or not ss_local.alive(), 15, "ss-local")
        for ss in (ss_server, ss_local):
            wait_for(lambda: plugin_link_open(ss) or not ss.alive(), 15, f"{ss.name}'s plugin")
        for name, body in PAGES.items():
            got = curl_bytes(["--socks5-hostname", f"127.0.0.1:{socks}",
                              f"http://127.0.0.1:{web.port}/{name}"])
            self.assertEqual(got, body)
        self.assertIn("fixed target", ss_server.log())
        # The plugins end with their shadowsocks parents.
        plugins = [p for ss in (ss_local, ss_server) for p in children(ss.pid)]
        self.assertEqual(len(plugins), 2, "one plugin process under each")
        ss_local.stop()
        ss_server.stop()
        wait_for(lambda: not any(alive(p) for p in plugins), 15, "the plugins to exit")


class FallbackFolder(DeploymentTest):
    """`fallback=/abs/folder`: the plugin server serves a folder of static files itself, on the
    TLS port and (QUIC on) as the QUIC port's HTTP/3 site, as server.json's {"folder": ...}."""

    def plugin_server(self, options):
        port = free_port()
        p = Process("server-plugin", [SERVER_BIN], os.path.join(self.d.dir, "plugin.log"),
                    env=plugin_env(options, remote_port=port, local_port=free_port()))
        self.d.procs.append(p)
        wait_for(lambda: port_open(port) or not p.alive(), 15, "the server plugin")
        return p, port

    def test_fallback_takes_a_folder(self):
        self.d.add_user("alice", "right")
        site = os.path.join(self.d.dir, "site")
        os.makedirs(site)
        page = b"<!doctype html><title>Plugin</title><p>A folder of the plugin.</p>\n"
        with open(os.path.join(site, "index.html"), "wb") as f:
            f.write(page)
        base = f"cert={self.d.cert};key={self.d.key};users={self.d.users_path}"
        server, port = self.plugin_server(f"{base};fallback={site}")
        self.assertTrue(server.alive(), server.log())
        self.assertIn(f"fallback folder {site}", server.log())
        self.assertEqual(curl_bytes(["--cacert", self.d.cert, "--resolve",
                                     f"localhost:{port}:127.0.0.1",
                                     f"https://localhost:{port}/index.html"]), page)
        if shutil.which("gtlsclient"):
            from test_h3 import h3_get
            rc, got, out = h3_get(port, "index.html")
            self.assertEqual(got, page, out[-2000:])
        server.stop()
        # A relative path is neither a folder (plugins run in shadowsocks' folder) nor a
        # host:port; a folder that does not exist is refused at start.
        r = subprocess.run([SERVER_BIN], env=plugin_env(f"{base};fallback=site"),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("plugin option fallback: a web backend's host:port or a folder's absolute "
                      "path", r.stderr)
        missing, missing_port = self.plugin_server(f"{base};fallback=/nonexistent/site")
        wait_for(lambda: not missing.alive(), 15, "the plugin to refuse the folder")
        self.assertNotEqual(missing.proc.returncode, 0)
        self.assertIn("/nonexistent/site", missing.log())


class ParentDeath(unittest.TestCase):
    def test_plugin_exits_when_its_parent_is_killed(self):
        # A parent that starts the plugin and is then killed without a word.
        port = free_port()
        env = plugin_env("user=alice;password=x;insecure", remote_port=free_port(),
                         local_port=port)
        parent = subprocess.Popen(
            [sys.executable, "-c",
             "import subprocess, sys, time\n"
             f"p = subprocess.Popen([{CLIMBER_BIN!r}])\n"
             "print(p.pid, flush=True)\n"
             "time.sleep(120)\n"],
            env=env, stdout=subprocess.PIPE, text=True)
        try:
            child = int(parent.stdout.readline())
            wait_for(lambda: port_open(port), 15, "the climber plugin to listen")
            parent.send_signal(signal.SIGKILL)
            parent.wait(timeout=10)
            wait_for(lambda: not alive(child), 15, "the plugin to exit after its parent")
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait(timeout=10)
            try:
                os.kill(child, signal.SIGKILL)
            except (OSError, UnboundLocalError):
                pass


if __name__ == "__main__":
    unittest.main()
