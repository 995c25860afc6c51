#!/usr/bin/env python3
"""Loopback TCP relay that delays the server-to-client direction by exactly D ms.

Accepts TCP connections on 127.0.0.1:LISTEN and opens one connection to
127.0.0.1:UPSTREAM for each.  Bytes from the client are forwarded to the
server at once; every chunk read from the server is held for exactly
--delay-ms and then written to the client, chunks in the order they were
read (a server FIN is delayed the same way).  Both sockets have TCP_NODELAY,
so a written chunk leaves at once.

Timing: one thread, one select() loop.  A chunk's receive time is the
kernel's receive timestamp of the data (SO_TIMESTAMPNS; it is taken when the
packet reaches the loopback receive path, so it is the moment the capture
shows it, and waking up late does not lengthen the hold); without one, the
time recv() returned.  The loop sleeps in select() until 1 ms (--spin-ms)
before the oldest chunk's deadline (receive time + D) and then polls (select
with a zero timeout, so reads are still taken at once) until the deadline,
and writes.  The send time is taken right before send().  All times are
wall-clock (CLOCK_REALTIME, the clock the capture uses).  With --realtime the
relay asks for SCHED_FIFO priority 10 (root), so a busy machine does not wake
it late; the log says whether it got it.

On exit (SIGTERM/SIGINT, --seconds, or --idle seconds without any connection
after the first one closed) it writes --log (JSON): the settings, every chunk
(connection number, bytes, receive time (kernel timestamp) and the time
recv() returned, send time, all epoch seconds with 6 decimals, and the
deviation of send - receive from D in ms) and the largest absolute deviation; it prints
that maximum and exits 3 if it exceeds --tolerance-ms (default 0.5).

usage: delay-relay.py --listen 8093 --upstream 8092 --delay-ms 50 --log relay.json [--ready FILE]
Standard library only.
"""
import argparse
import collections
import json
import os
import select
import signal
import socket
import struct
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class Pair:
    def __init__(self, n, client, server):
        self.n, self.client, self.server = n, client, server
        self.client_open = True   # still reading from the client
        self.server_open = True   # still reading from the server
        self.closed = False

    def close(self):
        if not self.closed:
            self.closed = True
            for s in (self.client, self.server):
                try:
                    s.close()
                except OSError:
                    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--spin-ms", type=float, default=1.0)
    ap.add_argument("--tolerance-ms", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--idle", type=float, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready")
    ap.add_argument("--realtime", action="store_true")
    a = ap.parse_args()

    realtime = False
    if a.realtime:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            realtime = True
        except (OSError, AttributeError) as e:
            print("delay-relay: no SCHED_FIFO (%s), running without" % e, file=sys.stderr)

    delay, spin = a.delay_ms / 1000.0, a.spin_ms / 1000.0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((a.host, a.listen))
    lsock.listen(16)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")

    pairs = {}            # socket -> (Pair, "c" | "s")
    held = collections.deque()   # (deadline, t_recv, t_woke, Pair, bytes | None), in receive order
    chunks = []           # log rows
    conns = 0
    start = time.time()
    last_activity = None
    rbuf = 1 << 20

    def drop(p):
        for s in (p.client, p.server):
            pairs.pop(s, None)
        p.close()

    while not stop:
        now = time.time()
        if held and now >= held[0][0]:
            deadline, t_recv, t_woke, p, data = held.popleft()
            t_send = time.time()
            if data is None:
                if not p.closed:
                    try:
                        p.client.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    if not p.client_open:
                        drop(p)
                continue
            if not p.closed:
                try:
                    p.client.sendall(data)
                except OSError:
                    drop(p)
            chunks.append({"conn": p.n, "bytes": len(data), "recv_ts": "%.6f" % t_recv,
                           "recv_returned_ts": "%.6f" % t_woke, "send_ts": "%.6f" % t_send,
                           "deviation_ms": round((t_send - t_recv - delay) * 1000.0, 3)})
            continue
        if now - start > a.seconds:
            break
        if a.idle and last_activity is not None and not pairs and not held and now - last_activity > a.idle:
            break
        wait = (held[0][0] - now - spin) if held else 0.2
        socks = [lsock] + [s for s, (p, side) in pairs.items()
                           if (p.client_open if side == "c" else p.server_open)]
        try:
            ready, _, _ = select.select(socks, [], [], max(wait, 0.0))
        except InterruptedError:
            continue
        for s in ready:
            if s is lsock:
                c, _ = lsock.accept()
                u = socket.create_connection((a.host, a.upstream), timeout=5)
                u.settimeout(None)
                u.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                for x in (c, u):
                    x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns += 1
                p = Pair(conns, c, u)
                pairs[c] = (p, "c")
                pairs[u] = (p, "s")
                continue
            if s not in pairs:
                continue
            p, side = pairs[s]
            kernel = None
            try:
                if side == "s":
                    data, anc, _, _ = s.recvmsg(rbuf, socket.CMSG_SPACE(16))
                    for level, kind, blob in anc:
                        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(blob) >= 16:
                            sec, nsec = struct.unpack("qq", blob[:16])
                            kernel = sec + nsec / 1e9
                else:
                    data = s.recv(rbuf)
            except OSError:
                data = b""
            t_woke = time.time()
            last_activity = t_woke
            if side == "s":
                # server -> client: hold for exactly D from arrival (a FIN too)
                t_recv = kernel if (data and kernel is not None) else t_woke
                held.append((t_recv + delay, t_recv, t_woke, p, data if data else None))
                if not data:
                    p.server_open = False
            elif data:
                try:
                    p.server.sendall(data)
                except OSError:
                    drop(p)
            else:
                p.client_open = False
                try:
                    p.server.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                if not p.server_open and not any(h[3] is p for h in held):
                    drop(p)

    for p, _ in list(pairs.values()):
        p.close()
    lsock.close()
    worst = max((abs(c["deviation_ms"]) for c in chunks), default=0.0)
    ok = worst <= a.tolerance_ms
    doc = {"listen_port": a.listen, "upstream_port": a.upstream, "delay_ms": a.delay_ms,
           "spin_ms": a.spin_ms, "tolerance_ms": a.tolerance_ms, "sched_fifo": realtime,
           "connections": conns,
           "chunks_forwarded": len(chunks), "max_abs_deviation_ms": worst, "ok": ok,
           "chunks": chunks}
    tmp = a.log + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, a.log)
    print("delay-relay: %d connections, %d server->client chunks held %.3f ms, max deviation %.3f ms (%s)"
          % (conns, len(chunks), a.delay_ms, worst, "ok" if ok else "over %.3f ms" % a.tolerance_ms),
          file=sys.stderr)
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
