#!/usr/bin/env python3
"""A fixed one-way delay on loopback, for kernels without netem (bench/reverse.sh --delay-ms).

    bench/delay_relay.py --delay-ms D [--tcp LISTEN_PORT:HOST:PORT]... [--udp LISTEN_PORT:HOST:PORT]...

Each --tcp relay accepts on 127.0.0.1:LISTEN_PORT and connects to HOST:PORT for every
connection; each --udp relay receives on 127.0.0.1:LISTEN_PORT and gives every client address
a socket of its own towards HOST:PORT. Both hold every chunk or datagram D milliseconds in each
direction before passing it on, in the order it arrived, and print "relay ready" once every
port listens. D = 0 passes through the same path without waiting: the baseline that takes the
relay's own cost out of a measurement at D > 0.

Threads, not asyncio: asyncio's timers wait in epoll, whose time-out is whole milliseconds
(up to 1 ms late per hop); time.sleep() waits to the microsecond. One reader and one writer
thread per direction keep the order (a FIFO between them) at the low rates a latency benchmark
sends. A TCP connect to HOST:PORT starts D after the accept (the SYN's way there); the client's
own connect completes at once, so data it sends before the connect is through waits for it.
The relay does not model bandwidth or loss, and a half-close (EOF) is passed on after D too.
"""

import argparse
import queue
import socket
import sys
import threading
import time

CHUNK = 65536


def parse_mapping(text):
    try:
        lport, host, port = text.rsplit(":", 2)
        return int(lport), host, int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LISTEN_PORT:HOST:PORT, not {text!r}") from None


class Delayed:
    """A FIFO of (due, item) drained by one thread that waits until each item is due."""

    def __init__(self, delay, send, on_end):
        self.delay = delay
        self.send = send
        self.on_end = on_end
        self.q = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True).start()

    def put(self, item):  # item None = end of stream
        self.q.put((time.monotonic() + self.delay, item))

    def _run(self):
        while True:
            due, item = self.q.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if item is None:
                self.on_end()
                return
            try:
                self.send(item)
            except OSError:
                self.on_end()
                return


def tcp_pump(src, delayed):
    """Reads src until EOF or an error, handing every chunk to `delayed`, then its end."""
    while True:
        try:
            data = src.recv(CHUNK)
        except OSError:
            data = b""
        if not data:
            delayed.put(None)
            return
        delayed.put(data)


def shut(sock, how):
    try:
        sock.shutdown(how)
    except OSError:
        pass


def tcp_connection(client, target, delay):
    """One accepted connection, on a thread of its own that connects and then reads upstream."""
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connected = threading.Event()
    ok = [False]

    def send_up(data):
        connected.wait()
        if not ok[0]:
            raise OSError("not connected")
        upstream.sendall(data)

    def end_up():
        connected.wait()
        shut(upstream, socket.SHUT_WR)

    to_up = Delayed(delay, send_up, end_up)
    to_client = Delayed(delay, client.sendall, lambda: shut(client, socket.SHUT_WR))
    threading.Thread(target=tcp_pump, args=(client, to_up), daemon=True).start()
    time.sleep(delay)  # the SYN's way to the target
    try:
        upstream.connect(target)
        ok[0] = True
    except OSError as e:
        print(f"relay: connect to {target[0]}:{target[1]}: {e}", file=sys.stderr, flush=True)
        shut(client, socket.SHUT_RDWR)
    connected.set()
    if ok[0]:
        tcp_pump(upstream, to_client)


def tcp_relay(lport, target, delay):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", lport))
    listener.listen(128)

    def serve():
        while True:
            client, _ = listener.accept()
            threading.Thread(target=tcp_connection, args=(client, target, delay), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


def udp_relay(lport, target, delay):
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(("127.0.0.1", lport))
    peers = {}  # client address -> Delayed towards the target
    to_clients = Delayed(delay, lambda item: udp_send(front, *item), lambda: None)

    def back(sock, addr):
        while True:
            try:
                data = sock.recv(CHUNK)
            except OSError:
                return
            to_clients.put((data, addr))

    def serve():
        while True:
            data, addr = front.recvfrom(CHUNK)
            d = peers.get(addr)
            if d is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.connect(target)
                d = peers[addr] = Delayed(delay, lambda data, s=sock: udp_send(s, data), lambda: None)
                threading.Thread(target=back, args=(sock, addr), daemon=True).start()
            d.put(data)

    threading.Thread(target=serve, daemon=True).start()


def udp_send(sock, data, addr=None):
    try:
        if addr is None:
            sock.send(data)
        else:
            sock.sendto(data, addr)
    except OSError:
        pass  # a datagram the kernel refuses (ICMP unreachable, full buffer) is lost, as on a network


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--delay-ms", type=float, required=True, help="one-way delay, each direction")
    ap.add_argument("--tcp", type=parse_mapping, action="append", default=[])
    ap.add_argument("--udp", type=parse_mapping, action="append", default=[])
    args = ap.parse_args()
    if args.delay_ms < 0 or not (args.tcp or args.udp):
        ap.error("give a delay >= 0 and at least one --tcp or --udp relay")
    delay = args.delay_ms / 1000
    for lport, host, port in args.tcp:
        tcp_relay(lport, (host, port), delay)
    for lport, host, port in args.udp:
        udp_relay(lport, (host, port), delay)
    print("relay ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
