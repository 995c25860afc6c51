#!/usr/bin/env python3
"""A small TURN client (RFC 8656 / RFC 5766) for making sample captures against a real server.

usage: python3 turn-client.py --server 127.0.0.1:3478 --transport udp|tcp \
           --user U --password P --peer 127.0.0.1:3480 [--channel 0x4001] [--log FILE]

Against a server with long-term credentials it runs, on one UDP socket or one TCP connection:
  Allocate (no credentials) -> 401 with REALM and NONCE; Allocate with credentials -> success;
  CreatePermission for the peer; two Send indications (the peer, an echo server, answers,
  so the server sends two Data indications back); ChannelBind with an invalid channel number
  (0x3000) -> 400; ChannelBind --channel (default 0x4001) -> success; three ChannelData messages
  each way (over TCP padded to 4 bytes); Refresh (LIFETIME 300); Refresh (LIFETIME 0) to
  deallocate.  (RFC 8656 channels are 0x4000-0x4FFF; RFC 5766 allowed 0x4000-0x7FFF, which
  coturn still accepts and its turnutils_uclient uses.)
Steps are --gap seconds apart (default 20 ms).  Every request carries
MESSAGE-INTEGRITY and FINGERPRINT once the nonce is known.  With --log the steps (transaction ids,
classes, error codes, addresses) are appended to FILE as JSON lines.
Standard library only.
"""
import argparse
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time
import zlib

COOKIE = 0x2112A442
METHODS = {"binding": 1, "allocate": 3, "refresh": 4, "send": 6, "data": 7,
           "create_permission": 8, "channel_bind": 9}
CLASSES = {"request": 0, "indication": 1, "success": 2, "error": 3}
A_USERNAME, A_MI, A_ERROR, A_CHANNEL, A_LIFETIME = 0x0006, 0x0008, 0x0009, 0x000C, 0x000D
A_PEER, A_DATA, A_REALM, A_NONCE, A_RELAYED = 0x0012, 0x0013, 0x0014, 0x0015, 0x0016
A_REQ_TRANSPORT, A_MAPPED, A_SOFTWARE, A_FINGERPRINT = 0x0019, 0x0020, 0x8022, 0x8028


def msg_type(method, cls):
    m, c = METHODS[method], CLASSES[cls]
    return (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)


def split_type(t):
    m = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)
    c = ((t >> 4) & 1) | ((t >> 7) & 2)
    return ({v: k for k, v in METHODS.items()}.get(m, "0x%03x" % m),
            {v: k for k, v in CLASSES.items()}[c])


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)


def xor_addr(ip, port):
    x = struct.unpack("!I", socket.inet_aton(ip))[0] ^ COOKIE
    return struct.pack("!BBHI", 0, 1, port ^ (COOKIE >> 16), x)


def parse_xor_addr(v):
    _, fam, port, x = struct.unpack("!BBHI", v[:8])
    return "%s:%d" % (socket.inet_ntoa(struct.pack("!I", x ^ COOKIE)), port ^ (COOKIE >> 16))


def build(method, cls, tid, attrs, key=None):
    body = b"".join(attr(t, v) for t, v in attrs)
    if key is not None:
        head = struct.pack("!HHI", msg_type(method, cls), len(body) + 24, COOKIE) + tid
        body += attr(A_MI, hmac.new(key, head + body, hashlib.sha1).digest())
    head = struct.pack("!HHI", msg_type(method, cls), len(body) + 8, COOKIE) + tid
    crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xFFFFFFFF
    body += attr(A_FINGERPRINT, struct.pack("!I", crc))
    return struct.pack("!HHI", msg_type(method, cls), len(body), COOKIE) + tid + body


def parse(data):
    t, length, _ = struct.unpack("!HHI", data[:8])
    tid, attrs, i = data[8:20], {}, 20
    while i + 4 <= 20 + length:
        at, al = struct.unpack("!HH", data[i:i + 4])
        attrs.setdefault(at, data[i + 4:i + 4 + al])
        i += 4 + al + (-al % 4)
    method, cls = split_type(t)
    return method, cls, tid, attrs


class Conn:
    def __init__(self, transport, server):
        self.transport, self.server = transport, server
        if transport == "udp":
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.s.connect(server)
        else:
            self.s = socket.create_connection(server, timeout=5)
        self.s.settimeout(5)
        self.buf = b""

    def send(self, data):
        if self.transport == "tcp" and data[0] & 0xC0 == 0x40:
            data += b"\0" * (-len(data) % 4)  # ChannelData is padded over TCP (RFC 8656 12.5)
        self.s.send(data)

    def recv(self):
        if self.transport == "udp":
            return self.s.recv(65535)
        while True:
            if len(self.buf) >= 4:
                first, length = struct.unpack("!HH", self.buf[:4])
                if first & 0xC000 == 0x4000:
                    need = 4 + length + (-length % 4)
                    if len(self.buf) >= need:
                        out, self.buf = self.buf[:4 + length], self.buf[need:]
                        return out
                elif len(self.buf) >= 20 + length:
                    out, self.buf = self.buf[:20 + length], self.buf[20 + length:]
                    return out
            chunk = self.s.recv(65535)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--transport", choices=["udp", "tcp"], required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--log")
    ap.add_argument("--channel", type=lambda v: int(v, 0), default=0x4001,
                    help="channel number to bind (default 0x4001)")
    ap.add_argument("--gap", type=float, default=0.02, help="seconds between steps (default 0.02)")
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    phost, pport = a.peer.rsplit(":", 1)
    pport = int(pport)
    c = Conn(a.transport, (host, int(port)))
    steps = []
    state = {}

    def note(direction, method, cls, tid, attrs):
        s = {"transport": a.transport, "dir": direction, "method": method, "class": cls,
             "transaction_id": tid.hex()}
        if A_ERROR in attrs:
            v = attrs[A_ERROR]
            s["error_code"] = (v[2] & 7) * 100 + v[3]
        for k, name in ((A_MAPPED, "xor_mapped_address"), (A_RELAYED, "xor_relayed_address"),
                        (A_PEER, "xor_peer_address")):
            if k in attrs:
                s[name] = parse_xor_addr(attrs[k])
        if A_LIFETIME in attrs:
            s["lifetime"] = struct.unpack("!I", attrs[A_LIFETIME])[0]
        if A_CHANNEL in attrs:
            s["channel"] = "0x%04x" % struct.unpack("!H", attrs[A_CHANNEL][:2])[0]
        steps.append(s)

    def auth():
        return [(A_USERNAME, a.user.encode()), (A_REALM, state["realm"]), (A_NONCE, state["nonce"])]

    def transact(method, attrs, signed=True, want=("success",)):
        time.sleep(a.gap)
        tid = os.urandom(12)
        full = (auth() + attrs) if signed else attrs
        c.send(build(method, "request", tid, full, state.get("key") if signed else None))
        note("c2s", method, "request", tid, dict(full))
        while True:
            data = c.recv()
            if data[0] & 0xC0 == 0x40:
                continue
            m, cls, rtid, rattrs = parse(data)
            if rtid != tid:
                continue
            note("s2c", m, cls, rtid, rattrs)
            if cls not in want:
                sys.exit("%s: unexpected %s %s" % (method, cls, rattrs.get(A_ERROR)))
            return cls, rattrs

    # 1. Allocate without credentials: 401 with REALM and NONCE
    _, r = transact("allocate", [(A_REQ_TRANSPORT, bytes([17, 0, 0, 0])), (A_LIFETIME, struct.pack("!I", 600))],
                    signed=False, want=("error",))
    state["realm"], state["nonce"] = r[A_REALM], r[A_NONCE]
    state["key"] = hashlib.md5(b"%s:%s:%s" % (a.user.encode(), r[A_REALM], a.password.encode())).digest()
    # 2. Allocate with credentials
    _, r = transact("allocate", [(A_REQ_TRANSPORT, bytes([17, 0, 0, 0])), (A_LIFETIME, struct.pack("!I", 600))])
    # 3. CreatePermission for the peer
    transact("create_permission", [(A_PEER, xor_addr(phost, pport))])
    # 4. Send indications; the echo peer's answers come back as Data indications
    for i in range(2):
        payload = b"streamscope send indication %d" % i
        time.sleep(a.gap)
        tid = os.urandom(12)
        attrs = [(A_PEER, xor_addr(phost, pport)), (A_DATA, payload)]
        c.send(build("send", "indication", tid, attrs))
        note("c2s", "send", "indication", tid, dict(attrs))
        m, cls, rtid, rattrs = parse(c.recv())
        note("s2c", m, cls, rtid, rattrs)
        if (m, cls) != ("data", "indication") or rattrs.get(A_DATA) != payload:
            sys.exit("expected a Data indication echoing %r, got %s %s" % (payload, m, cls))
    # 5. ChannelBind with a channel number outside 0x4000-0x4FFF: 400 Bad Request
    transact("channel_bind", [(A_CHANNEL, struct.pack("!HH", 0x3000, 0)), (A_PEER, xor_addr(phost, pport))],
             want=("error",))
    # 6. ChannelBind, then ChannelData both ways
    chan = a.channel
    transact("channel_bind", [(A_CHANNEL, struct.pack("!HH", chan, 0)), (A_PEER, xor_addr(phost, pport))])
    for i in range(3):
        payload = b"streamscope channel data %d%s" % (i, b"." * i)
        time.sleep(a.gap)
        c.send(struct.pack("!HH", chan, len(payload)) + payload)
        steps.append({"transport": a.transport, "dir": "c2s", "channel_data": "0x%04x" % chan, "length": len(payload)})
        back = c.recv()
        ch, ln = struct.unpack("!HH", back[:4])
        if ch != chan or back[4:4 + ln] != payload:
            sys.exit("expected ChannelData 0x%04x echoing %r, got %r" % (chan, payload, back))
        steps.append({"transport": a.transport, "dir": "s2c", "channel_data": "0x%04x" % ch, "length": ln})
    # 7. Refresh, then Refresh with LIFETIME 0 (deallocate)
    transact("refresh", [(A_LIFETIME, struct.pack("!I", 300))])
    transact("refresh", [(A_LIFETIME, struct.pack("!I", 0))])
    c.s.close()
    if a.log:
        with open(a.log, "a") as f:
            for s in steps:
                f.write(json.dumps(s) + "\n")
    print("%s: %d steps" % (a.transport, len(steps)))


if __name__ == "__main__":
    main()
