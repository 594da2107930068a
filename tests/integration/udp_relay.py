"""A lossy UDP relay for QUIC tests: client -> relay -> server, with seeded drop, reorder and
duplication in both directions.

The kernel here has no netem, so loss is made in user space. Each client address gets its own
upstream socket (like a NAT binding), so the server sees the relay's port, never the client's.
Run as a separate process (`python3 udp_relay.py --server-port P ...`): it prints
"listening PORT" on its first line, then serves until SIGTERM/SIGINT and prints its counters as
one JSON line on exit. SIGUSR1 rebinds every client's upstream socket to a new source port (a NAT
rebinding: the server then sees the client's packets come from a new address). Packets held for reordering are released after the next packet in the same
direction or after `hold_ms`, so nothing stays held when traffic stops.
"""
import argparse
import json
import random
import selectors
import signal
import socket
import sys
import time


class Impairment:
    """The seeded decisions for one direction; counts what it did."""

    def __init__(self, rng, drop, reorder, duplicate):
        self.rng = rng
        self.drop = drop
        self.reorder = reorder
        self.duplicate = duplicate
        self.counts = {"in": 0, "dropped": 0, "reordered": 0, "duplicated": 0, "out": 0}

    def decide(self):
        """'drop', 'hold' (send after the next packet), 'dup' or 'send'."""
        self.counts["in"] += 1
        r = self.rng.random()
        if r < self.drop:
            self.counts["dropped"] += 1
            return "drop"
        r -= self.drop
        if r < self.reorder:
            self.counts["reordered"] += 1
            return "hold"
        r -= self.reorder
        if r < self.duplicate:
            self.counts["duplicated"] += 1
            return "dup"
        return "send"


class Relay:
    def __init__(self, server_host, server_port, listen_host="127.0.0.1", listen_port=0, seed=1,
                 drop=0.03, reorder=0.02, duplicate=0.01, hold_ms=5, record=None,
                 record_count=0):
        family = socket.AF_INET6 if ":" in listen_host else socket.AF_INET
        self.server = (server_host, server_port)
        self.hold_s = hold_ms / 1000.0
        self.sel = selectors.DefaultSelector()
        self.front = socket.socket(family, socket.SOCK_DGRAM)
        self.front.bind((listen_host, listen_port))
        self.front.setblocking(False)
        self.port = self.front.getsockname()[1]
        self.sel.register(self.front, selectors.EVENT_READ, None)
        rng = random.Random(seed)
        self.up = Impairment(random.Random(rng.random()), drop, reorder, duplicate)
        self.down = Impairment(random.Random(rng.random()), drop, reorder, duplicate)
        self.clients = {}  # client address -> upstream socket
        self.held = []     # [(deadline, send function, data)]
        self.stopping = False
        # Optional: the first `record_count` short-header (1-RTT) client datagrams, one hex
        # line each, for tests that replay or mangle real packets of a live connection.
        self.record = open(record, "a") if record else None
        self.record_left = record_count
        self.rebinds = 0
        self.rebind_asked = False

    def _rebind(self):
        """Every client's next packets leave from a new socket (a new source port)."""
        for client, old in list(self.clients.items()):
            self.sel.unregister(old)
            old.close()
            del self.clients[client]
            self._upstream(client)
            self.rebinds += 1

    def _upstream(self, client):
        sock = self.clients.get(client)
        if sock is None:
            family = socket.AF_INET6 if ":" in self.server[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.connect(self.server)
            sock.setblocking(False)
            self.clients[client] = sock
            self.sel.register(sock, selectors.EVENT_READ, client)
        return sock

    @staticmethod
    def _send(fn, data, imp):
        try:
            fn(data)
            imp.counts["out"] += 1
        except OSError:
            pass  # a full buffer or an ICMP error: that is just more loss

    def _pass(self, imp, fn, data):
        action = imp.decide()
        if action == "drop":
            return
        # A packet passing releases what was held before it: that is the reordering.
        released = [h for h in self.held if h[3] is imp]
        if action == "hold":
            self.held.append((time.monotonic() + self.hold_s, fn, data, imp))
            return
        self._send(fn, data, imp)
        if action == "dup":
            self._send(fn, data, imp)
        for h in released:
            self.held.remove(h)
            self._send(h[1], h[2], imp)

    def _flush_due(self):
        now = time.monotonic()
        for h in [h for h in self.held if h[0] <= now]:
            self.held.remove(h)
            self._send(h[1], h[2], h[3])

    def serve(self):
        while not self.stopping:
            if self.rebind_asked:
                self.rebind_asked = False
                self._rebind()
            timeout = None
            if self.held:
                timeout = max(0.0, min(h[0] for h in self.held) - time.monotonic())
            for key, _ in self.sel.select(timeout if timeout is not None else 0.5):
                sock = key.fileobj
                for _ in range(64):  # drain a batch per wake-up
                    try:
                        data, addr = sock.recvfrom(65536)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break  # ICMP port unreachable from a stopped server
                    if sock is self.front:
                        if self.record and self.record_left > 0 and data and not data[0] & 0x80:
                            self.record.write(data.hex() + "\n")
                            self.record.flush()
                            self.record_left -= 1
                        up = self._upstream(addr)
                        self._pass(self.up, up.send, data)
                    else:
                        client = key.data
                        self._pass(self.down, lambda d, c=client: self.front.sendto(d, c), data)
            self._flush_due()

    def counts(self):
        return {"up": self.up.counts, "down": self.down.counts, "clients": len(self.clients),
                "rebinds": self.rebinds}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server-host", default="127.0.0.1")
    ap.add_argument("--server-port", type=int, required=True)
    ap.add_argument("--listen-host", default="127.0.0.1")
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drop", type=float, default=0.03)
    ap.add_argument("--reorder", type=float, default=0.02)
    ap.add_argument("--duplicate", type=float, default=0.01)
    ap.add_argument("--hold-ms", type=float, default=5)
    ap.add_argument("--record", help="file to append recorded 1-RTT client datagrams to (hex)")
    ap.add_argument("--record-count", type=int, default=20)
    a = ap.parse_args()
    relay = Relay(a.server_host, a.server_port, a.listen_host, a.listen_port, a.seed, a.drop,
                  a.reorder, a.duplicate, a.hold_ms, a.record, a.record_count)

    def stop(*_):
        relay.stopping = True

    def rebind(*_):
        relay.rebind_asked = True  # done by the loop, between packets

    signal.signal(signal.SIGUSR1, rebind)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening {relay.port}", flush=True)
    relay.serve()
    print(json.dumps(relay.counts()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
