#!/usr/bin/env python3
"""engine_example.py - an MTop server and a climber inside this Python process (ctypes).

1. A Python echo server listens on 127.0.0.1 (the tunnel's target).
2. The server engine runs on its own thread; its users are checked by a Python function.
3. The climber engine opens a tunnel to the echo server: a plain socket in Python; bytes
   written come back through the tunnel. A wrong password is refused.
The server's certificate: --cert/--key (ctest passes the pair `mtop-server gen-cert` wrote for
examples/c/embed_server.c), else a self-signed one made with the openssl command line.
Usage: engine_example.py [--library PATH] [--cert CERT.pem --key KEY.pem]
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mtop  # noqa: E402

USERS = {b"alice": b"s3cret"}


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"check failed: {what}")


def echo_server() -> socket.socket:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    conn.sendall(data.upper())
    threading.Thread(target=serve, daemon=True).start()
    return srv


def make_cert(folder: str):
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", help="path of libmtop.so (default: $MTOP_LIBRARY)")
    parser.add_argument("--cert", help="server certificate (PEM) for 127.0.0.1")
    parser.add_argument("--key", help="its private key (PEM)")
    args = parser.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # the engines write to sockets
    lib = mtop.load(args.library)
    seen = []

    def check(req) -> bool:  # runs on the server's thread
        seen.append((req.username, req.target))
        return USERS.get(req.username) == req.password

    echo = echo_server()
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = (args.cert, args.key) if args.cert else make_cert(tmp)
        with mtop.Server(lib, cert, key, check, allow_targets=["127.0.0.0/8"]) as server:
            server.start()
            port = server.port()
            print(f"server on 127.0.0.1:{port}, users checked in Python")
            target = echo.getsockname()
            with mtop.Climber(lib, f"mtop://alice@127.0.0.1:{port}", password="s3cret",
                              ca_file=cert) as climber:
                with climber.open_tunnel(target[0], target[1]) as s:
                    s.sendall(b"hello through mtop")
                    s.shutdown(socket.SHUT_WR)
                    answer = b""
                    while chunk := s.recv(4096):
                        answer += chunk
                expect(answer == b"HELLO THROUGH MTOP", f"echo answer, got {answer!r}")
                print(f"  tunnel to {target[0]}:{target[1]}: {answer!r}")
            with mtop.Climber(lib, f"mtop://alice@127.0.0.1:{port}", password="guess",
                              ca_file=cert) as climber:
                try:
                    climber.open_tunnel(target[0], target[1])
                    raise SystemExit("check failed: a wrong password opened a tunnel")
                except mtop.MtopError as e:
                    expect(e.code == mtop.ERR_TUNNEL_REFUSED, f"refused, got {e}")
                    print(f"  wrong password: {e}")
            # The server counts a refusal when that tunnel ends on its thread, which may be a
            # moment after the climber read the answer: wait for it (bounded).
            for _ in range(500):
                stats = server.stats()
                if stats.failures[mtop.FAILURE_AUTH_FAILED]:
                    break
                time.sleep(0.01)
            expect(stats.accepted == 1, f"one tunnel accepted, got {stats.accepted}")
            expect(stats.failures[mtop.FAILURE_AUTH_FAILED] == 1, "one auth failure")
            expect(not server.errors, f"check() raised {server.errors}")
    echo.close()
    expect([u for u, _ in seen] == [b"alice", b"alice"], "the check saw both requests")
    print("all cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
