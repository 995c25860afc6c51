#!/usr/bin/env python3
"""Deterministic RTP impairment relay (loss, delay, duplication) over UDP.

Listens for RTP on LISTEN_PORT and RTCP on LISTEN_PORT+1 (127.0.0.1) and
forwards every datagram to TO_PORT / TO_PORT+1, sending from SRC_PORT /
SRC_PORT+1.  RTP packets whose sequence number is in --drop are not
forwarded; those in --delay SEQ=MS are forwarded MS milliseconds after they
arrived (later packets are not held back, so a long delay reorders); those in
--dup are forwarded twice.  RTCP is forwarded unchanged.

When the relay has been idle for --idle seconds after the first packet (or
after --seconds in total) it writes what it actually did to --log (JSON):
the packets it received/forwarded, every dropped sequence number, every delay
(seq, ms, receive and send times) and every duplicate.

usage: rtp-relay.py --listen 40000 --to 40100 --src 40200 \
           --drop 65530,3,77 --delay 20=60,21=40,120=150 --dup 200 --log relay.json
Standard library only.
"""
import argparse
import heapq
import json
import select
import socket
import struct
import sys
import time


def seq_list(text):
    return [int(x) for x in text.split(",") if x.strip()] if text else []


def delay_map(text):
    out = {}
    for item in (text.split(",") if text else []):
        if item.strip():
            seq, ms = item.split("=")
            out[int(seq)] = int(ms)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", type=int, required=True)
    ap.add_argument("--src", type=int, required=True)
    ap.add_argument("--drop", type=seq_list, default=[])
    ap.add_argument("--delay", type=delay_map, default={})
    ap.add_argument("--dup", type=seq_list, default=[])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready")
    a = ap.parse_args()

    h = a.host
    rx_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx_rtp.bind((h, a.listen))
    rx_rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx_rtcp.bind((h, a.listen + 1))
    tx_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx_rtp.bind((h, a.src))
    tx_rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx_rtcp.bind((h, a.src + 1))
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")

    drop, dup, delay = set(a.drop), set(a.dup), dict(a.delay)
    stats = {"rtp_received": 0, "rtp_forwarded": 0, "rtcp_forwarded": 0}
    dropped, delayed, duplicated = [], [], []
    pending = []  # (due, n, data, seq, ms, t_rx)
    n = 0
    start = time.monotonic()
    t0 = None  # wall clock of the first RTP packet, for relative times in the log
    last = None
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            due, _, data, seq, ms, t_rx = heapq.heappop(pending)
            tx_rtp.sendto(data, (h, a.to))
            stats["rtp_forwarded"] += 1
            delayed.append({"seq": seq, "delay_ms": ms,
                            "received_at_s": round(t_rx - t0, 6),
                            "sent_at_s": round(time.time() - t0, 6)})
        if now - start > a.seconds or (last is not None and not pending and now - last > a.idle):
            break
        timeout = 0.05
        if pending:
            timeout = max(0.0, min(timeout, pending[0][0] - now))
        r, _, _ = select.select([rx_rtp, rx_rtcp], [], [], timeout)
        for s in r:
            data = s.recv(65535)
            last = time.monotonic()
            if s is rx_rtcp:
                tx_rtcp.sendto(data, (h, a.to + 1))
                stats["rtcp_forwarded"] += 1
                continue
            wall = time.time()
            if t0 is None:
                t0 = wall
            stats["rtp_received"] += 1
            if len(data) < 12 or data[0] >> 6 != 2:
                tx_rtp.sendto(data, (h, a.to))  # not RTP: pass through
                continue
            seq = struct.unpack_from("!H", data, 2)[0]
            if seq in drop:
                dropped.append(seq)
                continue
            if seq in delay:
                n += 1
                heapq.heappush(pending, (last + delay[seq] / 1000.0, n, data, seq, delay[seq], wall))
                continue
            tx_rtp.sendto(data, (h, a.to))
            stats["rtp_forwarded"] += 1
            if seq in dup:
                tx_rtp.sendto(data, (h, a.to))
                stats["rtp_forwarded"] += 1
                duplicated.append(seq)

    log = {
        "listen_port": a.listen, "forward_to_port": a.to, "send_from_port": a.src,
        "requested": {"drop": a.drop, "delay_ms": {str(k): v for k, v in sorted(a.delay.items())},
                      "dup": a.dup},
        "dropped_seqs": dropped,
        "delays": delayed,
        "duplicated_seqs": duplicated,
        "not_seen": {"drop": sorted(drop - set(dropped)),
                     "delay": sorted(set(delay) - {d["seq"] for d in delayed}),
                     "dup": sorted(dup - set(duplicated))},
        **stats,
    }
    with open(a.log, "w") as f:
        json.dump(log, f, indent=1)
        f.write("\n")
    print("rtp-relay: %s" % json.dumps(stats), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
