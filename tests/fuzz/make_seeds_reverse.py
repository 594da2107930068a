#!/usr/bin/env python3
"""Writes the seed corpora of the reverse-tunnel fuzz targets (docs/PROTOCOL.md section 9):
tests/fuzz/corpus/{reverse_decode,control_channel}/.

reverse_decode seeds start with a selector byte (see fuzz_reverse_decode.cpp: 0 request,
1 REVERSE response, 2 control frame, 3 visitor header, 4 ATTACH); control_channel seeds with
[role][keep-alive][chunk seed]. Each holds valid messages, every error at its byte and
truncations. Re-running replaces the seeds this script owns and nothing else.
"""
import os
import struct

from make_seeds_core import auth, write


def frame(t, body):
    return bytes([t, len(body)]) + body


def ping(n):
    return frame(1, struct.pack(">Q", n))


def pong(n):
    return frame(2, struct.pack(">Q", n))


def open_(fill):
    return frame(3, bytes([fill]) * 16)


def visitor(tunnel=7, src=(1, bytes([198, 51, 100, 9]), 40000), dst=(1, bytes([203, 0, 113, 1]), 2222)):
    out = bytes([1, 1]) + struct.pack(">I", tunnel)
    for atyp, addr, port in (src, dst):
        out += bytes([atyp]) + addr + struct.pack(">H", port)
    return out


def reverse_decode():
    v6 = bytes([0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [1])
    seeds = {
        "req_reverse_any_v4": bytes([0]) + auth(method=2, addr=bytes(4), port=0),
        "req_reverse_v6": bytes([0]) + auth(method=2, atyp=4, addr=v6, port=8080),
        "req_reverse_domain": bytes([0]) + auth(method=2, atyp=3, addr=b"x.org", port=80),
        "req_connect": bytes([0]) + auth(),
        "req_attach_method": bytes([0, 1, 3]),
        "resp_success": bytes([1]) + bytes([1, 0, 0x1f, 0x90, 0, 0, 0, 9, 0, 15]),
        "resp_success_trailing": bytes([1]) + bytes([1, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0e, 0x10]) + ping(1),
        "resp_port0": bytes([1]) + bytes([1, 0, 0, 0, 0, 0, 0, 1, 0, 15]),
        "resp_keepalive0": bytes([1]) + bytes([1, 0, 0, 1, 0, 0, 0, 1, 0, 0]),
        "resp_keepalive3601": bytes([1]) + bytes([1, 0, 0, 1, 0, 0, 0, 1, 0x0e, 0x11]),
        "resp_truncated": bytes([1]) + bytes([1, 0, 0x1f, 0x90, 0]),
        "resp_bad_version": bytes([1, 2, 0]),
        "resp_connect_failed": bytes([1, 1, 3]),
        "frame_ping": bytes([2]) + ping(1),
        "frame_pong": bytes([2]) + pong(1),
        "frame_open": bytes([2]) + open_(0x5a),
        "frame_unknown_max": bytes([2]) + frame(0x7f, bytes(255)),
        "frame_unknown_empty": bytes([2, 0x10, 0]),
        "frame_ping_short": bytes([2, 1, 7]) + bytes(7),
        "frame_open_long": bytes([2, 3, 17]) + bytes(17),
        "frame_truncated": bytes([2]) + ping(1)[:5],
        "visitor_v4": bytes([3]) + visitor(),
        "visitor_v6_v4": bytes([3]) + visitor(src=(4, v6, 1), dst=(1, bytes([127, 0, 0, 1]), 65535)),
        "visitor_v6_v6": bytes([3]) + visitor(src=(4, v6, 5), dst=(4, v6, 6)),
        "visitor_bad_kind": bytes([3, 1, 2]) + visitor()[2:],
        "visitor_domain": bytes([3]) + visitor(src=(3, bytes(4), 80)),
        "visitor_port0": bytes([3]) + visitor(dst=(1, bytes(4), 0)),
        "visitor_truncated": bytes([3]) + visitor()[:11],
        "attach": bytes([4, 1, 3]) + bytes(range(16)),
        "attach_bad_method": bytes([4, 1, 2]) + bytes(16),
        "attach_truncated": bytes([4, 1, 3, 9, 9]),
    }
    return seeds


def control_channel():
    streams = {
        "pings": ping(1) + ping(2) + pong(9),
        "opens": open_(1) + open_(2) + ping(3),
        "unknown": frame(0x7f, b"abc") + frame(0, b"") + frame(0xff, bytes(255)) + ping(4),
        "bad_len": ping(1) + bytes([1, 7]) + bytes(7),
        "partial": ping(1) + ping(2)[:6],
        "many_pings": b"".join(ping(i) for i in range(600)),
        "many_opens": b"".join(open_(i) for i in range(80)),
        "empty": b"",
    }
    seeds = {}
    for key, data in streams.items():
        for role in (0, 1):
            for chunk in (2, 7):
                seeds["%s_r%d_c%d" % (key, role, chunk)] = bytes([role, chunk % 3, chunk]) + data
    return seeds


def main():
    write("reverse_decode", reverse_decode())
    write("control_channel", control_channel())


if __name__ == "__main__":
    main()
