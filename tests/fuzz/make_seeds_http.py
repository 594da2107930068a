#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_http_proxy to tests/fuzz/corpus/http_proxy/.

Seeds are real-looking proxy heads (what curl and browsers send), each with some trailing
body bytes, plus near misses that reach every error path. Run it from anywhere; it rewrites
the folder's seed_* files deterministically.
"""
import base64
import pathlib

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "http_proxy"


def basic(cred: str) -> str:
    return "Basic " + base64.b64encode(cred.encode()).decode()


SEEDS = {
    "connect_domain": "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                      "User-Agent: curl/7.88.1\r\nProxy-Connection: Keep-Alive\r\n\r\n",
    "connect_ipv4_tls": "CONNECT 192.0.2.7:8443 HTTP/1.0\r\n\r\n\x16\x03\x01\x00\x05hello",
    "connect_ipv6": "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
    "connect_v4mapped": "CONNECT [::ffff:192.0.2.1]:80 HTTP/1.1\r\n\r\n",
    "connect_auth": "CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: "
                    + basic("alice:s3cr:et") + "\r\n\r\n",
    "get_absolute": "GET http://example.com/index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
                    "User-Agent: curl/7.88.1\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n",
    "get_port_nopath": "GET http://example.com:8080 HTTP/1.0\r\n\r\n",
    "get_query_only": "HEAD http://192.0.2.1?x=y HTTP/1.1\r\n\r\n",
    "get_ipv6": "GET http://[::1]:8080/a/b HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    "post_body": "POST http://api.example:8000/v1 HTTP/1.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 13\r\nConnection: keep-alive\r\n\r\n{\"a\":[1,2,3]}",
    "hop_by_hop": "GET http://example.com/ HTTP/1.1\r\nConnection: keep-alive, X-Secret, Upgrade\r\n"
                  "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X\r\n"
                  "Upgrade: h2c\r\nProxy-Authorization: " + basic("u:p") + "\r\n"
                  "Close: x\r\nTransfer-Encoding: chunked\r\nX-Keep: yes\r\n\r\n0\r\n\r\n",
    "lf_only": "GET http://a.example/x HTTP/1.1\nHost: a.example\nX-Y:z\n\n",
    "leading_empty": "\r\n\nCONNECT example.com:443 HTTP/1.1\r\n\r\n",
    "auth_bad_base64": "GET http://e.example/ HTTP/1.1\r\nProxy-Authorization: Basic dXNlcjpwYXNz=\r\n\r\n",
    "auth_no_colon": "GET http://e.example/ HTTP/1.1\r\nProxy-Authorization: " + basic("user") + "\r\n\r\n",
    "https_absolute": "GET https://example.com/ HTTP/1.1\r\n\r\n",
    "origin_form": "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "http2_version": "GET http://a/ HTTP/2.0\r\n\r\n",
    "garbage_version": "GET http://a/ HTXP/1.1\r\n\r\n",
    "no_colon": "GET http://a/ HTTP/1.1\r\nNoColonHere\r\n\r\n",
    "obs_fold": "GET http://a/ HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
    "dup_host": "GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "cl_te": "POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "short_ipv4": "CONNECT 127.1:443 HTTP/1.1\r\n\r\n",
    "many_headers": "GET http://a/ HTTP/1.1\r\n" + "".join(f"X-{i}: v\r\n" for i in range(101)) + "\r\n",
    "too_large": "GET http://a/ HTTP/1.1\r\nX-Pad: " + "a" * 16400 + "\r\n\r\n",
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("seed_*"):
        old.unlink()
    for name, text in SEEDS.items():
        (OUT / f"seed_{name}").write_bytes(text.encode("latin-1"))
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
