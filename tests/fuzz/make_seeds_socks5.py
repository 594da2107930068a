#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_socks5 into tests/fuzz/corpus/socks5/.

Each seed is: FLAGS, MAX_PAYLOAD, CHUNK_SEED (top bit: the app replies late), then the client's bytes (see fuzz_socks5.cpp).
FLAGS bits: 0x01 accept no-auth, 0x02 credentials configured (0x02 only), 0x04 accept the
credentials, bits 3-6 the reply code (mod 9), 0x80 a domain as the bound address.
Run it again after changing the seeds; the files are committed.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "socks5")

NO_AUTH = 0x01
CREDS = 0x02
ACCEPT = 0x04


def reply_code(n):
    return (n % 9) << 3


def greet(*methods):
    return bytes([5, len(methods), *methods])


def auth(user, password):
    return bytes([1, len(user)]) + user + bytes([len(password)]) + password


def connect_v4(ip, port, cmd=1, rsv=0):
    return bytes([5, cmd, rsv, 1, *ip]) + struct.pack(">H", port)


def connect_v6(ip16, port):
    return bytes([5, 1, 0, 4]) + ip16 + struct.pack(">H", port)


def connect_domain(name, port):
    return bytes([5, 1, 0, 3, len(name)]) + name + struct.pack(">H", port)


def seed(flags, max_payload, chunk_seed, body):
    return bytes([flags, max_payload, chunk_seed]) + body


V6 = bytes.fromhex("20010db8000000000000000000000001")

SEEDS = {
    "noauth_ipv4": seed(NO_AUTH, 64, 1, greet(0) + connect_v4([192, 0, 2, 7], 443)),
    "noauth_ipv6_payload": seed(NO_AUTH, 16, 2,
                                greet(0, 2) + connect_v6(V6, 80) + b"GET / HTTP/1.1\r\n\r\n"),
    "noauth_domain": seed(NO_AUTH | 0x80, 255, 3, greet(0) + connect_domain(b"example.com", 80)),
    "creds_accept": seed(CREDS | ACCEPT, 32, 4,
                         greet(0, 2) + auth(b"alice", b"s3cret") + connect_v4([10, 0, 0, 1], 22)
                         + b"SSH-2.0-x\r\n"),
    "creds_refuse": seed(CREDS, 32, 5, greet(2) + auth(b"bob", b"nope") + connect_v4([1, 2, 3, 4], 80)),
    "creds_long_fields": seed(CREDS | ACCEPT, 8, 6, greet(2) + auth(b"u" * 255, b"p" * 255)
                              + connect_domain(b"a" * 255, 65535) + b"x" * 300),
    "reply_refused": seed(NO_AUTH | reply_code(5), 64, 7, greet(0) + connect_v4([127, 0, 0, 1], 9)),
    "no_acceptable": seed(NO_AUTH, 64, 8, greet(2, 1)),
    "no_methods": seed(NO_AUTH, 64, 9, bytes([5, 0])),
    "bad_version": seed(NO_AUTH, 64, 10, b"GET http://example.com/ HTTP/1.1\r\n\r\n"),
    "bind": seed(NO_AUTH, 64, 11, greet(0) + connect_v4([0, 0, 0, 0], 0, cmd=2)),
    "udp_associate": seed(NO_AUTH, 64, 12, greet(0) + connect_v4([0, 0, 0, 0], 0, cmd=3)),
    "bad_atyp": seed(NO_AUTH, 64, 13, greet(0) + bytes([5, 1, 0, 2, 1, 2, 3, 4, 0, 80])),
    "bad_rsv": seed(NO_AUTH, 64, 14, greet(0) + connect_v4([1, 2, 3, 4], 80, rsv=1)),
    "domain_nul": seed(NO_AUTH, 64, 15, greet(0) + connect_domain(b"a\x00b", 80)),
    "domain_empty": seed(NO_AUTH, 64, 16, greet(0) + bytes([5, 1, 0, 3, 0, 0, 80])),
    "port_zero": seed(NO_AUTH, 64, 17, greet(0) + connect_v4([1, 2, 3, 4], 0)),
    "auth_ulen_zero": seed(CREDS, 64, 18, greet(2) + bytes([1, 0, 1, ord("p")])),
    "auth_bad_version": seed(CREDS, 64, 19, greet(2) + bytes([5, 1, ord("u"), 1, ord("p")])),
    "late_reply_backpressure": seed(NO_AUTH, 5, 0x80 | 21,
                                    greet(0) + connect_v4([192, 0, 2, 1], 80) + b"y" * 200),
    "late_reply_no_room": seed(CREDS | ACCEPT | reply_code(1), 0, 0x80 | 22,
                               greet(2) + auth(b"u", b"p") + connect_domain(b"h.example", 443)
                               + b"z" * 50),
    "truncated_request": seed(NO_AUTH, 64, 20, greet(0) + bytes([5, 1, 0, 4, 0x20, 0x01])),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
