"""Fallback mode with a folder (issue 9): the TLS port serves a folder of static files itself
(libmicrohttpd on loopback) to whoever is not an authenticated climber."""
import os
import subprocess
import tempfile

from harness import free_port, recv_all, recv_exact, socks5_connect, wait_for
from test_fallback import PAGES, FallbackTest, TimingChecks, WebBackend, auth_message, curl_bytes

SITE = dict(PAGES, **{
    "style.css": b"body { color: #333 }\n",
    "docs/index.html": b"<!doctype html><title>Docs</title><p>Read me.</p>\n",
    "docs/a b.txt": b"a file with a space\n",
})
SECRET = b"not for the web\n"


def make_site(parent, name, files):
    root = os.path.join(parent, name)
    for rel, body in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)
    return root


class FolderTest(FallbackTest):
    def setUp(self):
        super().setUp()
        self.site = make_site(self.d.dir, "site", SITE)
        with open(os.path.join(self.d.dir, "secret.txt"), "wb") as f:
            f.write(SECRET)
        with open(os.path.join(self.site, ".htpasswd"), "wb") as f:
            f.write(SECRET)
        os.symlink(os.path.join(self.d.dir, "secret.txt"), os.path.join(self.site, "leak.txt"))

    def start_folder(self, folder=None, **over):
        return self.d.start_server(allow_targets=["127.0.0.1/32"], quic=False,
                                   fallback={"folder": folder or self.site}, **over)

    def fetch(self, port, path, *extra):
        """curl over HTTPS: (status, headers text, body bytes)."""
        with tempfile.TemporaryDirectory(dir=self.d.dir) as tmp:
            head, body = os.path.join(tmp, "head"), os.path.join(tmp, "body")
            r = subprocess.run(
                ["curl", "-sS", "--max-time", "20", "--cacert", self.d.cert, "--resolve",
                 f"localhost:{port}:127.0.0.1", "--path-as-is", "-D", head, "-o", body, "-w",
                 "%{http_code}"] + list(extra) + [f"https://localhost:{port}{path}"],
                capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(head, newline="") as f:
                headers = f.read()
            data = b""
            if os.path.exists(body):
                with open(body, "rb") as f:
                    data = f.read()
            return int(r.stdout), headers, data

    def exchange(self, port, data):
        """`data` over TLS; what the server sends back until it closes."""
        s = self.tls(port)
        s.sendall(data)
        got = recv_all(s, 15)
        s.close()
        return got


class FolderPages(FolderTest):
    def test_curl_gets_the_files_byte_for_byte_as_a_web_server_serves_them(self):
        server = self.start_folder()
        for rel, body in SITE.items():
            for flag in ("--http1.1", "--http2"):
                code, _, got = self.fetch(server.port, "/" + rel.replace(" ", "%20"), flag)
                self.assertEqual((code, got), (200, body), f"{rel} over {flag}")
        # Only HTTP/1.1 is offered: curl --http2 settles on it.
        code, out, err = self.https(server.port, "index.html", "--http2")
        self.assertEqual((code, out), (0, "1.1"), err)
        s = self.tls(server.port, alpn=["h2"])
        self.assertIsNone(s.selected_alpn_protocol())
        s.close()
        # A directory is its index.html; without its '/', a redirect adds it.
        self.assertEqual(self.fetch(server.port, "/")[2], SITE["index.html"])
        code, headers, _ = self.fetch(server.port, "/docs")
        self.assertEqual(code, 301)
        self.assertIn("Location: /docs/", headers)
        self.assertEqual(self.fetch(server.port, "/docs", "-L")[2], SITE["docs/index.html"])
        # Content types.
        for rel, ctype in (("index.html", "text/html; charset=utf-8"),
                           ("style.css", "text/css; charset=utf-8"),
                           ("data.bin", "application/octet-stream")):
            self.assertIn(f"Content-Type: {ctype}\r\n", self.fetch(server.port, "/" + rel)[1])
        # HEAD: the headers of GET, no body (raw, so that nothing could hide a body).
        got = self.exchange(server.port, b"HEAD /data.bin HTTP/1.1\r\nHost: localhost\r\n"
                            b"Connection: close\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:100])
        self.assertIn(f"Content-Length: {len(SITE['data.bin'])}\r\n".encode(), got)
        self.assertTrue(got.endswith(b"\r\n\r\n"), got[-100:])
        # Last-Modified and If-Modified-Since.
        _, headers, _ = self.fetch(server.port, "/index.html")
        last_modified = [l.split(": ", 1)[1].strip() for l in headers.splitlines()
                         if l.startswith("Last-Modified: ")][0]
        code, _, got = self.fetch(server.port, "/index.html", "-H",
                                  f"If-Modified-Since: {last_modified}")
        self.assertEqual((code, got), (304, b""))
        # One byte range.
        code, headers, got = self.fetch(server.port, "/data.bin", "-r", "1000-1009")
        self.assertEqual((code, got), (206, SITE["data.bin"][1000:1010]))
        self.assertIn(f"Content-Range: bytes 1000-1009/{len(SITE['data.bin'])}", headers)
        self.assertEqual(self.fetch(server.port, "/data.bin", "-r", "999999-")[0], 416)
        # What a web server refuses.
        code, _, got = self.fetch(server.port, "/missing.html")
        self.assertEqual(code, 404)
        self.assertIn(b"404 Not Found", got)
        code, headers, _ = self.fetch(server.port, "/index.html", "-X", "POST", "-d", "x=1")
        self.assertEqual(code, 405)
        self.assertIn("Allow: GET, HEAD", headers)
        self.assertIn("fallback up=", server.log())
        self.assertIn("fallback folder " + self.site + " served on 127.0.0.1:", server.log())

    def test_nothing_outside_the_folder_and_no_dot_file(self):
        server = self.start_folder()
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/%2E%2E/secret.txt",
                     "/docs/../../secret.txt", "/docs/%2e%2e%2f%2e%2e%2fsecret.txt",
                     "/docs/..%2F..%2Fsecret.txt", "/leak.txt", "/.htpasswd", "/%2ehtpasswd",
                     "/docs/../index.html"):
            code, _, got = self.fetch(server.port, path)
            self.assertEqual(code, 404, path)
            self.assertNotIn(SECRET, got, path)
        # The same as raw requests, with nothing in between that could normalise the path.
        for target in (b"/../secret.txt", b"/../../../../etc/passwd", b"/%2e%2e/secret.txt"):
            got = self.exchange(server.port, b"GET " + target +
                                b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            self.assertTrue(got.startswith(b"HTTP/1.1 404 "), got[:100])
            self.assertNotIn(SECRET, got)
            self.assertNotIn(b"root:", got)


class FolderFailedLogins(FolderTest):
    def test_failed_logins_end_on_the_folder_site_and_climbers_still_work(self):
        # (A climber with a wrong password is covered with a backend in test_fallback.py: what
        # it then sees depends on whether its application's first bytes went with its login,
        # as the site, like any web server, answers only a complete request.)
        server = self.start_folder()
        port = self.mtop_target.port
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        # A browser's request gets the page; an MTop login that fails is a bad request to a
        # web server, whichever check failed.
        got = self.exchange(server.port, request)
        self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:100])
        self.assertTrue(got.endswith(SITE["index.html"]))
        for name, user, password in (("wrong password", "alice", "wrong"),
                                     ("unknown user", "mallory", "right")):
            got = self.exchange(server.port, auth_message(user, password, port) + request)
            self.assertTrue(got.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (name, got[:100]))
        self.assertEqual(self.mtop_target.connections, 0, "no byte may reach an MTop target")
        # A connection's line is written when it ends, after the close the client has seen.
        wait_for(lambda: server.log().count("failure=auth_failed") >= 2, 10, "both lines")
        self.assertNotIn("tunnel user=", server.log())
        # The right password still opens a tunnel, and a browser is served at the same time.
        socks = free_port()
        self.d.start_climber(server.port, "alice", "right", "tls", socks=f"127.0.0.1:{socks}")
        s, code = socks5_connect(socks, "127.0.0.1", port)
        self.assertEqual(code, 0)
        self.assertEqual(self.fetch(server.port, "/style.css")[2], SITE["style.css"])
        s.sendall(b"climbing")
        self.assertEqual(recv_exact(s, 8), b"climbing")
        s.close()


class FolderReload(FolderTest):
    def test_reload_changes_the_folder_and_switches_between_folder_and_backend(self):
        other = make_site(self.d.dir, "other", {"index.html": b"<p>the other site</p>\n"})
        server = self.start_folder()
        self.assertEqual(self.fetch(server.port, "/")[2], SITE["index.html"])
        # A visitor's keep-alive connection opened before the reload.
        kept = self.tls(server.port)
        kept.sendall(b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n")
        first = b""
        while not first.endswith(SITE["style.css"]):
            chunk = kept.recv(65536)
            self.assertNotEqual(chunk, b"", "the site closed a keep-alive connection")
            first += chunk

        answer = self.d.reload_server(server, fallback={"folder": other})
        self.assertIn("config reloaded", answer)
        self.assertEqual(self.fetch(server.port, "/")[2], b"<p>the other site</p>\n")
        self.assertEqual(self.fetch(server.port, "/style.css")[0], 404)
        # The connection from before goes on, with the folder served now.
        kept.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        self.assertTrue(recv_all(kept, 15).endswith(b"<p>the other site</p>\n"))
        kept.close()

        answer = self.d.reload_server(server, fallback={"folder": self.site + "-missing"})
        self.assertIn("config refused", answer)
        self.assertIn("fallback folder", answer)
        self.assertEqual(self.fetch(server.port, "/")[2], b"<p>the other site</p>\n")

        backend_dir = os.path.join(self.d.dir, "backend")
        os.makedirs(backend_dir)
        web = WebBackend(backend_dir)
        self.addCleanup(web.close)
        self.d.reload_server(server, fallback={"backend": f"127.0.0.1:{web.port}"})
        self.assertEqual(self.fetch(server.port, "/data.bin")[2], PAGES["data.bin"])
        self.d.reload_server(server, fallback={"folder": self.site})
        self.assertEqual(self.fetch(server.port, "/docs/")[2], SITE["docs/index.html"])
        self.assertEqual(curl_bytes(["--cacert", self.d.cert, "--resolve",
                                     f"localhost:{server.port}:127.0.0.1",
                                     f"https://localhost:{server.port}/index.html"]),
                         SITE["index.html"])
        self.assertTrue(server.alive())


class FolderTiming(TimingChecks, FolderTest):
    def test_failed_login_folder_site_vs_good_login_status(self):
        # As test_fallback.Timing, with the folder's site answering the failed logins.
        server = self.start_folder(auth={"cache_size": 0, "max_failures": 100000})
        port = self.mtop_target.port
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
        samples = self.measure(server.port, {
            "wrong password (site's 1st byte)":
                (auth_message("alice", "wrong", port) + request, b"H"),
            "unknown user (site's 1st byte)":
                (auth_message("nobody", "wrong", port) + request, b"H"),
            "good login (MTop status)": (auth_message("alice", "right", port), b"\x01"),
        })
        self.assertNotIn("failure=throttled", server.log())
        self.assert_within_noise(samples, "fallback to the folder's site")
