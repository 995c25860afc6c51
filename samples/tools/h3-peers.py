#!/usr/bin/env python3
"""A minimal HTTP/3 server and client on aioquic, for making QUIC sample captures.

    h3-peers.py server --port 4433 --root DIR --cert C --key K --log server.jsonl
    h3-peers.py client --port 4433 --keylog F.keys --log client.jsonl \
        [--version 1|2] [--cipher aes128|aes256|chacha20] [--key-update-after N] PATH...

The server answers GET for files under --root (200 with Content-Type and Content-Length,
or 404), and writes one JSON line per request it answered. The client opens one QUIC
connection to 127.0.0.1, fetches the paths one after the other on new request streams,
writes the TLS secrets in SSLKEYLOGFILE format (aioquic's `secrets_log_file`), and one JSON
line per response (path, status, content-type, body length). With --key-update-after N it
asks for a key update (RFC 9001 §6) after the N-th response. Loopback only; no retries.
"""
import argparse
import asyncio
import json
import os
import sys

from aioquic.asyncio import connect, serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion
from aioquic.tls import CipherSuite

TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".mpd": "application/dash+xml"}
CIPHERS = {
    "aes128": CipherSuite.AES_128_GCM_SHA256,
    "aes256": CipherSuite.AES_256_GCM_SHA384,
    "chacha20": CipherSuite.CHACHA20_POLY1305_SHA256,
}
VERSIONS = {"1": QuicProtocolVersion.VERSION_1, "2": QuicProtocolVersion.VERSION_2}


def log_line(fp, obj):
    fp.write(json.dumps(obj, sort_keys=True) + "\n")
    fp.flush()


class Server(QuicConnectionProtocol):
    root = "."
    log = None

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._http = H3Connection(self._quic)

    def quic_event_received(self, event):
        for ev in self._http.handle_event(event):
            if isinstance(ev, HeadersReceived) and ev.stream_ended:
                self._answer(ev.stream_id, dict(ev.headers))

    def _answer(self, stream_id, headers):
        path = headers.get(b":path", b"/").decode()
        method = headers.get(b":method", b"").decode()
        local = os.path.normpath(os.path.join(self.root, path.split("?")[0].lstrip("/")))
        body = b""
        status = 404
        if method == "GET" and local.startswith(os.path.abspath(self.root)) and os.path.isfile(local):
            with open(local, "rb") as f:
                body = f.read()
            status = 200
        ctype = TYPES.get(os.path.splitext(local)[1], "application/octet-stream") if status == 200 else "text/plain"
        if status != 200:
            body = b"not found\n"
        self._http.send_headers(
            stream_id,
            [
                (b":status", str(status).encode()),
                (b"server", b"streamscope-sample-aioquic"),
                (b"content-type", ctype.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-cache"),
            ],
        )
        self._http.send_data(stream_id, body, end_stream=True)
        self.transmit()
        log_line(self.log, {"stream_id": stream_id, "method": method, "path": path, "status": status,
                            "content_type": ctype, "body_bytes": len(body)})


class Client(QuicConnectionProtocol):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._http = H3Connection(self._quic)
        self._waiting = {}

    def quic_event_received(self, event):
        for ev in self._http.handle_event(event):
            if isinstance(ev, (HeadersReceived, DataReceived)) and ev.stream_id in self._waiting:
                st = self._waiting[ev.stream_id]
                if isinstance(ev, HeadersReceived):
                    st["headers"] = dict(ev.headers)
                else:
                    st["body"] += ev.data
                if ev.stream_ended:
                    st["done"].set_result(True)

    async def get(self, authority, path):
        sid = self._quic.get_next_available_stream_id()
        st = {"headers": {}, "body": b"", "done": asyncio.get_running_loop().create_future()}
        self._waiting[sid] = st
        self._http.send_headers(
            sid,
            [
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
                (b"user-agent", b"streamscope-sample-aioquic"),
                (b"accept", b"*/*"),
            ],
            end_stream=True,
        )
        self.transmit()
        await asyncio.wait_for(st["done"], 20)
        h = st["headers"]
        return {"stream_id": sid, "path": path, "status": int(h.get(b":status", b"0")),
                "content_type": h.get(b"content-type", b"").decode(), "body_bytes": len(st["body"])}


async def run_server(args):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN,
                            supported_versions=[QuicProtocolVersion.VERSION_1, QuicProtocolVersion.VERSION_2])
    cfg.load_cert_chain(args.cert, args.key)
    Server.root = os.path.abspath(args.root)
    Server.log = open(args.log, "a")
    await serve("127.0.0.1", args.port, configuration=cfg, create_protocol=Server)
    print("listening", flush=True)
    await asyncio.Future()


async def run_client(args):
    keylog = open(args.keylog, "a")
    cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, secrets_log_file=keylog,
                            server_name=args.server_name, verify_mode=0,
                            supported_versions=[VERSIONS[args.version]])
    if args.cipher:
        cfg.cipher_suites = [CIPHERS[args.cipher]]
    log = open(args.log, "a")
    authority = "%s:%d" % (args.server_name, args.port)
    async with connect("127.0.0.1", args.port, configuration=cfg, create_protocol=Client) as client:
        for i, path in enumerate(args.paths, 1):
            r = await client.get(authority, path)
            r["connection"] = args.label
            log_line(log, r)
            if args.key_update_after == i:
                client._quic.request_key_update()
        # Let the last acknowledgements go out before closing.
        await asyncio.sleep(0.2)
        client.close()
        await client.wait_closed()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--root", required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--log", required=True)
    c = sub.add_parser("client")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--keylog", required=True)
    c.add_argument("--log", required=True)
    c.add_argument("--label", default="")
    c.add_argument("--server-name", default="streamscope.test")
    c.add_argument("--version", choices=sorted(VERSIONS), default="1")
    c.add_argument("--cipher", choices=sorted(CIPHERS))
    c.add_argument("--key-update-after", type=int, default=0)
    c.add_argument("paths", nargs="+")
    args = p.parse_args()
    asyncio.run(run_server(args) if args.mode == "server" else run_client(args))


if __name__ == "__main__":
    sys.exit(main())
