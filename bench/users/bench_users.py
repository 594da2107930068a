#!/usr/bin/env python3
"""Tunnels per second against a database user store holding 100,000 users (issue 5).

For each database (SQLite file, PostgreSQL 15, MariaDB -- the last two started as throw-away
servers by tests/integration/db_servers.py, so run as root) this:
  1. creates the table with `mtop-server db init` and fills it with --users rows in bulk
     (one transaction / COPY / multi-row INSERTs). The PHC strings are generated once per
     user count and iteration count and kept in /tmp (pbkdf2-sha256, --iterations, 16-byte
     salt, 32-byte hash, password "pw-<n>"), so a re-run does not pay for them again;
  2. starts mtop-server on it (TLS over TCP, log level warn: no line per tunnel);
  3. measures tunnels/s with --procs client processes, --concurrency tunnels at once in all:
     each tunnel is a fresh TLS 1.3 connection, the MTop auth message with 64 bytes of early
     payload to an echo target, the 64-byte echo back, close;
       warm: --warm-users users, each logged in once before the clock starts, then picked at
             random: user cache and credential cache hits, no database query, no hash;
       cold: users never seen before, each used once: a database query and a full password
             verification per tunnel (the hash cost dominates: say which in the results).

Prints one Markdown table row per database and phase. Run by hand, e.g.
  sudo python3 bench/users/bench_users.py --server build/apps/server/mtop-server
"""
import argparse
import asyncio
import base64
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import db_servers  # noqa: E402

PAYLOAD = b"m" * 64


# --- the table ---------------------------------------------------------------------------

def b64(data):
    return base64.b64encode(data).decode().rstrip("=")


def password(name):
    return "pw-" + name


def _hash_range(args):
    """PHC strings for users <prefix><start..stop>: pbkdf2-sha256 with `cost` iterations, or
    with cost "scrypt" the server's default scrypt (ln=15, r=8, p=1)."""
    prefix, start, stop, cost = args
    out = []
    for i in range(start, stop):
        salt = os.urandom(16)
        pw = password(f"{prefix}{i}").encode()
        if cost == "scrypt":
            dk = hashlib.scrypt(pw, salt=salt, n=1 << 15, r=8, p=1, maxmem=64 << 20, dklen=32)
            out.append(f"$scrypt$ln=15,r=8,p=1${b64(salt)}${b64(dk)}")
        else:
            dk = hashlib.pbkdf2_hmac("sha256", pw, salt, cost, 32)
            out.append(f"$pbkdf2-sha256$i={cost}${b64(salt)}${b64(dk)}")
    return out


def phc_strings(prefix, users, cost, procs):
    """One PHC string per user, cached in /tmp between runs (generating them is the slow
    part of filling the table)."""
    path = os.path.join(tempfile.gettempdir(), f"mtop-bench-users-{prefix}{users}-{cost}.txt")
    if os.path.exists(path):
        with open(path) as f:
            hashes = f.read().split("\n")
        if len(hashes) == users:
            return hashes
    step = 5000
    with multiprocessing.Pool(procs) as pool:
        step = step if cost != "scrypt" else 20
        parts = pool.map(_hash_range, [(prefix, s, min(s + step, users), cost)
                                       for s in range(0, users, step)])
    hashes = [h for part in parts for h in part]
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(hashes))
    os.replace(path + ".tmp", path)
    return hashes


def fill(db, rows):
    """Bulk load of (name, PHC string) rows."""
    if db.kind == "postgres":
        text = "\n".join(f"{n}\t{h}" for n, h in rows)
        db.script("COPY mtop_users (username, password_hash) FROM STDIN;\n" + text + "\n\\.\n")
        db.sql("ANALYZE mtop_users")
        return
    statements = []
    for s in range(0, len(rows), 2000):
        values = ",".join(f"('{n}','{h}')" for n, h in rows[s:s + 2000])
        statements.append(f"INSERT INTO mtop_users (username, password_hash) VALUES {values};")
    db.script("BEGIN;\n" + "\n".join(statements) + "\nCOMMIT;\n")


# --- the client ------------------------------------------------------------------------

def auth_message(user, password, host, port):
    u, p = user.encode(), password.encode()
    return (bytes([1, 1, len(u)]) + u + bytes([len(p)]) + p + b"\x01" +
            socket.inet_aton(host) + struct.pack(">H", port))


async def one_tunnel(ctx, server_port, target_port, name):
    reader, writer = await asyncio.open_connection("127.0.0.1", server_port, ssl=ctx,
                                                   server_hostname="localhost")
    try:
        writer.write(auth_message(name, password(name), "127.0.0.1", target_port) + PAYLOAD)
        await writer.drain()
        head = await reader.readexactly(2)
        if head != b"\x01\x00":
            return False
        return await reader.readexactly(len(PAYLOAD)) == PAYLOAD
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


async def client_main(cert, server_port, target_port, users, concurrency, seconds, pick):
    ctx = ssl.create_default_context(cafile=cert)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ok = failed = 0
    deadline = time.monotonic() + seconds
    it = iter(users)

    async def worker():
        nonlocal ok, failed
        while time.monotonic() < deadline:
            if pick == "random":
                n = random.choice(users)
            else:
                n = next(it, None)
                if n is None:
                    return
            try:
                good = await asyncio.wait_for(one_tunnel(ctx, server_port, target_port, n), 30)
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                good = False
            if good:
                ok += 1
            else:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, failed


def _client_proc(args, queue):
    queue.put(asyncio.run(client_main(*args)))


def run_clients(cert, server_port, target_port, user_slices, concurrency, seconds, pick):
    """One process per slice; returns (ok, failed, elapsed seconds)."""
    queue = multiprocessing.Queue()
    per = max(1, concurrency // len(user_slices))
    procs = [multiprocessing.Process(target=_client_proc, args=(
        (cert, server_port, target_port, users, per, seconds, pick), queue))
        for users in user_slices]
    start = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    elapsed = time.monotonic() - start
    for p in procs:
        p.join(30)
    return sum(r[0] for r in results), sum(r[1] for r in results), elapsed


# --- the echo target -------------------------------------------------------------------

async def _echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def _echo_proc(port_queue):
    async def main():
        server = await asyncio.start_server(_echo, "127.0.0.1", 0, backlog=4096)
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()
    asyncio.run(main())


# --- the run -------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("mtop-server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mtop-server did not listen")


def bench_one(kind, a, workdir, cert, key, hashes, scrypt_hashes, target_port):
    db = {"sqlite": db_servers.Sqlite, "postgres": db_servers.Postgres,
          "mysql": db_servers.Mariadb}[kind]()
    server = None
    try:
        users_cfg = dict(db.users_config(), cache_ttl=a.cache_ttl)
        cfg_path = os.path.join(workdir, f"server-{kind}.json")
        port = free_port()
        with open(cfg_path, "w") as f:
            json.dump({"listen": f"127.0.0.1:{port}", "cert": cert, "key": key, "quic": False,
                       "users": users_cfg, "allow_targets": ["127.0.0.1/32"],
                       "log_level": "warn",
                       "auth": {"cache_size": max(10000, a.warm_users * 2)}}, f)
        subprocess.run([a.server, "--config", cfg_path, "db", "init"], check=True,
                       capture_output=True, timeout=60)
        t = time.monotonic()
        rows = [(f"u{i}", h) for i, h in enumerate(hashes)]
        rows += [(f"s{i}", h) for i, h in enumerate(scrypt_hashes)]
        fill(db, rows)
        count = int(db.sql("SELECT COUNT(*) FROM mtop_users")[0][0])
        assert count == len(rows), count
        fill_s = time.monotonic() - t
        log = open(os.path.join(workdir, f"server-{kind}.log"), "wb")
        server = subprocess.Popen([a.server, "--config", cfg_path], stdout=log,
                                  stderr=subprocess.STDOUT)
        wait_port(port, server)
        procs = a.procs
        # Warm: a fixed set of users, logged in once, then at random.
        warm = [f"u{i}" for i in range(a.warm_users)]
        run_clients(cert, port, target_port, [warm[i::procs] for i in range(procs)],
                    a.concurrency, 600, "once")
        ok_w, failed_w, el_w = run_clients(cert, port, target_port,
                                           [warm[i::procs] for i in range(procs)],
                                           a.concurrency, a.seconds, "random")
        # Cold: users never used before, each once.
        cold = [f"u{i}" for i in range(a.warm_users, len(hashes))]
        random.shuffle(cold)
        ok_c, failed_c, el_c = run_clients(cert, port, target_port,
                                           [cold[i::procs] for i in range(procs)],
                                           a.concurrency, a.seconds, "once")
        result = [(kind, "warm", ok_w / el_w, failed_w, fill_s),
                  (kind, f"cold, pbkdf2 i={a.iterations}", ok_c / el_c, failed_c, fill_s)]
        if scrypt_hashes:
            cold = [f"s{i}" for i in range(len(scrypt_hashes))]
            ok_s, failed_s, el_s = run_clients(cert, port, target_port,
                                               [cold[i::procs] for i in range(procs)],
                                               a.concurrency, a.seconds, "once")
            used_up = " (all used)" if ok_s + failed_s >= len(cold) else ""
            result.append((kind, "cold, scrypt ln=15 r=8 p=1" + used_up, ok_s / el_s,
                           failed_s, fill_s))
        return result
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        db.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="the mtop-server binary")
    ap.add_argument("--db", default="sqlite,postgres,mysql")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--iterations", type=int, default=1000, help="pbkdf2-sha256 iterations")
    ap.add_argument("--warm-users", type=int, default=1000)
    ap.add_argument("--scrypt-users", type=int, default=400,
                    help="extra users with the server's default scrypt hash (cold phase 2)")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--cache-ttl", type=float, default=60, help="users.cache_ttl, seconds")
    a = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="mtop-bench-users-")
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run([a.server, "gen-cert", "--name", "localhost", "--ip", "127.0.0.1",
                    "--cert", cert, "--key", key], check=True, capture_output=True)
    t = time.monotonic()
    hashes = phc_strings("u", a.users, a.iterations, os.cpu_count() or 2)
    scrypt_hashes = phc_strings("s", a.scrypt_users, "scrypt", os.cpu_count() or 2) \
        if a.scrypt_users else []
    print(f"# {a.users} PHC strings (pbkdf2-sha256 i={a.iterations}) + {a.scrypt_users} "
          f"(scrypt) in {time.monotonic() - t:.1f} s", flush=True)
    port_queue = multiprocessing.Queue()
    echo = multiprocessing.Process(target=_echo_proc, args=(port_queue,), daemon=True)
    echo.start()
    target_port = port_queue.get(timeout=20)
    rows = []
    try:
        for kind in a.db.split(","):
            rows += bench_one(kind, a, workdir, cert, key, hashes, scrypt_hashes, target_port)
            print(f"# {kind} done", flush=True)
    finally:
        echo.terminate()
        echo.join(10)
        shutil.rmtree(workdir, ignore_errors=True)
    print("| store | cache | tunnels/s | failed | fill the table (s) |")
    print("|---|---|---|---|---|")
    for kind, phase, rate, failed, fill_s in rows:
        print(f"| {kind} | {phase} | {rate:.0f} | {failed} | {fill_s:.1f} |")


if __name__ == "__main__":
    main()
