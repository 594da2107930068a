"""A real browser as the application (issue 9): headless Chromium browses a local HTTPS site
through the climber's SOCKS5 and HTTP proxies, over the transport MTOP_TRANSPORT names (tls or
quic), and the page its script built must be in the DOM it dumps.

The site's certificate is the deployment's own (localhost, 127.0.0.1); Chromium is told to
trust that one key only (--ignore-certificate-errors-spki-list, which Chromium honours only
with a --user-data-dir of its own), so any other certificate error still fails the page.
Chromium bypasses proxies for loopback unless told otherwise: --proxy-bypass-list=<-loopback>.
Each run has its own profile folder, a bounded time, and its process group is killed after."""
import http.server
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import unittest

from harness import DeploymentTest, free_port, wait_for
from test_quic import spki_pin  # the SPKI hash Chromium's flag wants, as the climber's pin

TRANSPORT = os.environ.get("MTOP_TRANSPORT", "tls")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MARKER = "built by the page's script"
PAGE = (b"<!doctype html><html><head><title>MTop site</title></head><body>"
        b"<p id=\"out\">not run</p><script src=\"/app.js\"></script></body></html>\n")
SCRIPT = ("document.getElementById('out').textContent = ['built', 'by', \"the page's\", "
          "'script'].join(' ');\n").encode()


class _SiteHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    files = {"/": (PAGE, "text/html"), "/app.js": (SCRIPT, "text/javascript")}

    def do_GET(self):
        with self.server.lock:
            self.server.requests.append(self.path)
        body, ctype = self.files.get(self.path, (b"not found\n", "text/plain"))
        self.send_response(200 if self.path in self.files else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpsSite:
    """A two-file HTTPS site on 127.0.0.1, in a thread, with the deployment's certificate."""

    def __init__(self, cert, key):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SiteHandler)
        self.server.daemon_threads = True
        self.server.lock = threading.Lock()
        self.server.requests = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self):
        with self.server.lock:
            return list(self.server.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def dump_dom(url, folder, flags, timeout=90):
    """Runs headless Chromium (a profile of its own in `folder`, `flags` added) on `url`;
    returns (exit code, the DOM it dumps, its stderr)."""
    profile = tempfile.mkdtemp(prefix="chromium-", dir=folder)
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--disable-domain-reliability", "--disable-client-side-phishing-detection",
            "--no-pings", "--disable-breakpad"] + flags + ["--dump-dom", url]
    # A session of its own: Chromium's helper processes are in its process group, which
    # is ended with it whatever happens.
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=30)
        raise AssertionError(f"chromium did not finish in {timeout}s:\n"
                             f"{err.decode(errors='replace')[-3000:]}")
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@unittest.skipUnless(CHROMIUM, "chromium is not installed (scripts/deps.sh --test)")
class Browser(DeploymentTest):
    def setUp(self):
        super().setUp()
        self.d.add_user("alice", "right")
        self.site = HttpsSite(self.d.cert, self.d.key)
        self.addCleanup(self.site.close)
        # The site is on loopback, which the target policy refuses unless re-allowed. Chromium
        # calls Google's services on its own (updates, accounts) whatever the flags say; ports
        # 80 and 443 are denied, before any DNS, so none of that leaves this machine.
        self.server = self.d.start_server(allow_targets=["127.0.0.1/32"],
                                          deny_target_ports=[25, 80, 443],
                                          quic=TRANSPORT == "quic")
        self.socks, self.http = free_port(), free_port()
        self.climber = self.d.start_climber(self.server.port, "alice", "right", TRANSPORT,
                                            socks=f"127.0.0.1:{self.socks}",
                                            http=f"127.0.0.1:{self.http}")

    def dump_dom(self, proxy, trust=True, timeout=90):
        """Runs headless Chromium on the site through `proxy`; returns (exit code, DOM)."""
        flags = [f"--proxy-server={proxy}", "--proxy-bypass-list=<-loopback>"]
        if trust:
            flags.append(f"--ignore-certificate-errors-spki-list={spki_pin(self.d.cert)}")
        code, dom, self.last_stderr = dump_dom(f"https://127.0.0.1:{self.site.port}/",
                                               self.d.dir, flags, timeout)
        return code, dom

    def assert_page_through(self, proxy):
        before = len(self.site.requests())
        code, dom = self.dump_dom(proxy)
        self.assertEqual(code, 0, self.last_stderr[-3000:])
        self.assertIn(MARKER, dom, f"DOM:\n{dom[:2000]}\nstderr:\n{self.last_stderr[-3000:]}")
        self.assertNotIn("not run", dom)
        # The page and its script came from the site, through tunnels of alice's (and maybe
        # /favicon.ico, which Chromium asks for when it likes).
        got = self.site.requests()[before:]
        self.assertIn("/", got)
        self.assertIn("/app.js", got)
        # A tunnel's line is written when it ends, after Chromium has exited.
        wait_for(lambda: " tunnel user=alice " in self.server.log(), 15, "alice's tunnel lines")
        tunnels = [l for l in self.server.log().splitlines() if " tunnel user=alice " in l]
        for line in tunnels:
            self.assertIn(f" target=127.0.0.1:{self.site.port} ", line)

    def test_socks5_proxy(self):
        self.assert_page_through(f"socks5://127.0.0.1:{self.socks}")

    def test_http_proxy(self):
        self.assert_page_through(f"http://127.0.0.1:{self.http}")

    def test_the_certificate_is_checked(self):
        # Without trusting the site's key the page must not load: the check is real, and it is
        # the tunnel that carries a genuine TLS session to the site.
        _, dom = self.dump_dom(f"socks5://127.0.0.1:{self.socks}", trust=False)
        self.assertNotIn(MARKER, dom)
        self.assertNotIn("/app.js", self.site.requests())
