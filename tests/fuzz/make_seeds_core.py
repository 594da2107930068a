#!/usr/bin/env python3
"""Writes the seed corpora of the MTop core fuzz targets (docs/PROTOCOL.md):
tests/fuzz/corpus/{auth_decode,response_decode,server_handshake,client_handshake}/.

Seeds are small and named after what they hold: valid messages of each address type,
boundary lengths, every error at its byte, truncations, and trailing early payload. The
handshake targets take a few control bytes first (see the comment at the top of each
fuzz_*.cpp). Re-running replaces the seeds this script owns and nothing else.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def field(b):
    return bytes([len(b)]) + b


def auth(user=b"bob", pw=b"pw", atyp=1, addr=bytes([192, 0, 2, 7]), port=80, ver=1, method=1):
    if atyp == 3:
        addr = field(addr)
    return bytes([ver, method]) + field(user) + field(pw) + bytes([atyp]) + addr + struct.pack(">H", port)


def auth_messages():
    v6 = bytes([0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [1])
    seeds = {
        "ipv4": auth(),
        "ipv6": auth(atyp=4, addr=v6, port=443),
        "domain": auth(atyp=3, addr=b"example.com", port=443),
        "domain_fqdn": auth(atyp=3, addr=b"example.com.", port=8080),
        "domain_underscore": auth(atyp=3, addr=b"_sip._tcp.x-1.org", port=5060),
        "opaque_credentials": auth(user=b"\x00\xff:@ ", pw=b"\x00"),
        "port_1": auth(port=1),
        "port_65535": auth(port=65535),
        "smallest": auth(user=b"u", pw=b"p", addr=bytes(4), port=1),
        "largest": auth(user=b"u" * 255, pw=b"\xfe" * 255, atyp=3, addr=b"d" * 255, port=65535),
        "bad_version_0": auth(ver=0),
        "bad_version_2": auth(ver=2),
        "bad_method_0": auth(method=0),
        "bad_method_reverse": auth(method=2),
        "bad_method_ff": auth(method=0xff),
        "bad_username_empty": bytes([1, 1, 0]) + field(b"pw") + bytes([1, 1, 2, 3, 4, 0, 80]),
        "bad_password_empty": bytes([1, 1]) + field(b"bob") + bytes([0, 1, 1, 2, 3, 4, 0, 80]),
        "bad_atyp_0": auth(atyp=0),
        "bad_atyp_2": auth(atyp=2),
        "bad_atyp_5": auth(atyp=5),
        "bad_domain_empty": bytes([1, 1]) + field(b"bob") + field(b"pw") + bytes([3, 0, 0, 80]),
        "bad_domain_space": auth(atyp=3, addr=b"exa mple.com"),
        "bad_domain_leading_dot": auth(atyp=3, addr=b".example"),
        "bad_domain_double_dot": auth(atyp=3, addr=b"a..b"),
        "bad_domain_nul": auth(atyp=3, addr=b"ab\x00c"),
        "bad_domain_utf8": auth(atyp=3, addr="bücher.de".encode()),
        "bad_port_0_ipv4": auth(port=0),
        "bad_port_0_domain": auth(atyp=3, addr=b"x.org", port=0),
    }
    ok = seeds["ipv4"]
    for cut in (0, 1, 2, 3, 5, 8, 9, len(ok) - 2, len(ok) - 1):
        seeds["truncated_ipv4_%d" % cut] = ok[:cut]
    dom = seeds["domain"]
    seeds["truncated_domain_in_name"] = dom[: len(dom) - 6]
    seeds["truncated_largest"] = seeds["largest"][:772]
    seeds["ipv4_trailing"] = ok + b"GET / HTTP/1.1\r\n\r\n"
    seeds["domain_trailing"] = dom + b"\x00\x01\x02"
    return seeds


def write(name, seeds):
    folder = os.path.join(HERE, "corpus", name)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if old.startswith("seed_"):
            os.remove(os.path.join(folder, old))
    for key, data in sorted(seeds.items()):
        with open(os.path.join(folder, "seed_" + key), "wb") as f:
            f.write(data)


def main():
    msgs = auth_messages()
    write("auth_decode", msgs)

    responses = {"status_%d" % s: bytes([1, s]) for s in range(4)}
    responses.update({
        "empty": b"",
        "ver_only": b"\x01",
        "bad_version_0": b"\x00\x00",
        "bad_version_2": b"\x02",
        "bad_status_4": b"\x01\x04",
        "bad_status_ff": b"\x01\xff",
        "success_trailing": b"\x01\x00payload",
        "failure_trailing": b"\x01\x02\x01\x00",
    })
    write("response_decode", responses)

    # server_handshake: [limit selector][decision][chunk seed] + stream
    server = {}
    for key in ("ipv4", "ipv6", "domain", "largest", "bad_version_2", "bad_method_reverse",
                "bad_username_empty", "bad_atyp_5", "bad_domain_space", "bad_port_0_ipv4",
                "truncated_ipv4_5", "truncated_domain_in_name", "ipv4_trailing"):
        for decision in range(4):
            server["%s_d%d" % (key, decision)] = bytes([4, decision, 7]) + msgs[key]
    early = bytes(range(256)) * 4
    for limit in range(5):
        server["early_limit%d_accept" % limit] = bytes([limit, 0, 3]) + msgs["domain"] + early
        server["early_limit%d_reject" % limit] = bytes([limit, 2, 200]) + msgs["domain"] + early
    # options 5-9: the same limits on a server offering reverse tunnels (section 9)
    ping = bytes([1, 8]) + bytes(7) + b"\x01"
    reverse = {
        "reverse_any": auth(method=2, addr=bytes(4), port=0) + ping,
        "reverse_v6": auth(method=2, atyp=4, addr=bytes(15) + b"\x01", port=8080),
        "reverse_domain": auth(method=2, atyp=3, addr=b"x.org", port=80),
        "reverse_connect": msgs["ipv4_trailing"],
        "reverse_attach": bytes([1, 3]) + bytes(16),
    }
    for key, data in reverse.items():
        for decision in range(4):
            server["%s_d%d" % (key, decision)] = bytes([9, decision, 5]) + data
    server["reverse_limit0_accept"] = bytes([5, 0, 1]) + reverse["reverse_any"] + early
    write("server_handshake", server)

    # client_handshake: [chunk seed][early length] + the server's stream
    client = {}
    for key, data in responses.items():
        client[key] = bytes([5, 10]) + data
    client["success_long_payload"] = bytes([1, 0]) + b"\x01\x00" + bytes(range(256))
    client["success_no_early"] = bytes([9, 0]) + b"\x01\x00"
    client["success_big_early"] = bytes([2, 255]) + b"\x01\x00xyz"
    # a chunk seed >= 0x80 makes the request REVERSE (section 9.2 responses)
    grant = b"\x01\x00\x1f\x90\x00\x00\x00\x09\x00\x0f"
    client["reverse_success_frames"] = bytes([0x85, 3]) + grant + bytes([1, 8]) + bytes(8)
    client["reverse_success_cut"] = bytes([0x91, 0]) + grant[:7]
    client["reverse_port0"] = bytes([0x83, 0]) + b"\x01\x00\x00\x00"
    client["reverse_keepalive0"] = bytes([0x83, 0]) + grant[:8] + b"\x00\x00"
    for s in (1, 2, 3, 4, 5, 6, 7):
        client["reverse_status_%d" % s] = bytes([0x80 + s, 1]) + bytes([1, s, 0xee])
    write("client_handshake", client)


if __name__ == "__main__":
    main()
