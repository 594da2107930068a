#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_host_port into tests/fuzz/corpus/host_port/.

Each seed is: OPTIONS, then the text (see fuzz_host_port.cpp). OPTIONS bits: 0x01 a default
port of 443, 0x02 port 0 allowed, 0x04 no zones. The texts are the forms every caller writes
(configs, URIs, -L rules, HTTP request targets) and near misses for every rule.
Run it again after changing the seeds; the files are committed.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "host_port")

DEFAULT = 0x01
ZERO = 0x02
NO_ZONE = 0x04

SEEDS = {
    "name": (0, b"example.com:443"),
    "name_fqdn": (0, b"example.com.:8080"),
    "ipv4": (0, b"192.0.2.1:1"),
    "ipv6": (0, b"[2001:db8::1]:65535"),
    "ipv6_mapped": (0, b"[::ffff:192.0.2.1]:80"),
    "ipv6_zone": (0, b"[fe80::1%eth0]:80"),
    "ipv6_zone_refused": (NO_ZONE, b"[fe80::1%eth0]:80"),
    "listen_zero": (ZERO, b"0.0.0.0:0"),
    "listen_v6_zero": (ZERO, b"[::]:0"),
    "default_name": (DEFAULT, b"vpn.example.com"),
    "default_v6": (DEFAULT, b"[::1]"),
    "leading_zeros": (0, b"h:000080"),
    "bare_v6": (0, b"::1:80"),
    "empty_host": (0, b":80"),
    "empty_port": (DEFAULT, b"h:"),
    "port_big": (0, b"h:65536"),
    "port_huge": (0, b"h:99999999999999999999999"),
    "port_zero": (0, b"h:0"),
    "trailing": (0, b"[::1]:80x"),
    "after_bracket": (0, b"[::1]x:80"),
    "open_bracket": (0, b"[::1:80"),
    "name_in_brackets": (0, b"[example.com]:80"),
    "v4_in_brackets": (0, b"[1.2.3.4]:80"),
    "bad_zone": (0, b"[::1%a b]:80"),
    "space": (0, b"a b:80"),
    "utf8": (0, "bücher.de:80".encode()),
    "nul": (0, b"a\x00b:80"),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.startswith("seed_"):
            os.remove(os.path.join(OUT, old))
    for name, (flags, text) in SEEDS.items():
        with open(os.path.join(OUT, "seed_" + name), "wb") as f:
            f.write(bytes([flags]) + text)


if __name__ == "__main__":
    main()
