#!/usr/bin/env python3
"""Write the QUIC / HTTP/3 reference fixture of a capture made by make-quic-samples.sh.

usage: python3 samples/quic-fixture.py samples/quic-h3-keylog.pcap

Writes fixtures/<FILE>.quic.json next to the capture, from one tshark run in the capture's
directory with bare file names and the key log `<stem>.keys`:

  packets    every QUIC packet tshark dissects (coalesced packets one by one): frame number
             and time, UDP stream, direction, long/short header, packet type, version,
             DCID/SCID, packet number, spin and key phase bits, whether tshark decrypted it, the
             frame types of its payload, and for STREAM frames the stream id, offset, length
             and FIN; plus the HTTP/3 frame types tshark decoded in that frame
  exchanges  per client-initiated bidirectional stream (one HTTP/3 request/response): the
             frames and times carrying the request's first byte and its end (FIN), and the
             response's first byte and end, from tshark's STREAM frames; method, path, status,
             content type and body length from the peers' log (<stem>.log.json), which tshark
             cannot give (see `tshark_blind`)
  checks     what this script verified between tshark and the log

Standard library and tshark only; deterministic for a given capture and tshark.
"""
import json
import os
import re
import subprocess
import sys
from tsharklib import tshark_version


def get(pairs, key):
    """All values of `key` in a list of (key, value) pairs (tshark's JSON repeats keys)."""
    return [v for k, v in pairs if k == key] if isinstance(pairs, list) else []


def one(pairs, key, default=None):
    v = get(pairs, key)
    return v[0] if v else default


def hexcid(s):
    return s.replace(":", "") if s is not None else None


V1_TYPES = {"0": "initial", "1": "0rtt", "2": "handshake", "3": "retry"}
V2_TYPES = {"0": "retry", "1": "initial", "2": "0rtt", "3": "handshake"}


def packet(q):
    """One QUIC packet from a `quic` layer."""
    short = one(q, "quic.short")
    hdr = short if short is not None else q
    p = {"header": "short" if short is not None else "long"}
    if short is not None:
        p["packet_type"] = "1rtt"
        p["version"] = None
        p["spin_bit"] = int(one(hdr, "quic.spin_bit", "0"))
        p["key_phase"] = int(one(hdr, "quic.key_phase", "0"))
        p["dcid"] = hexcid(one(hdr, "quic.dcid"))
        p["scid"] = None
    else:
        v1 = one(q, "quic.long.packet_type")
        v2 = one(q, "quic.long.packet_type_v2")
        p["packet_type"] = V1_TYPES.get(v1) if v1 is not None else V2_TYPES.get(v2)
        p["version"] = one(q, "quic.version")
        p["dcid"] = hexcid(one(q, "quic.dcid"))
        p["scid"] = hexcid(one(q, "quic.scid"))
    pn = one(hdr, "quic.packet_number")
    p["packet_number"] = int(pn) if pn is not None else None
    frames = []
    streams = []
    for f in get(q, "quic.frame"):
        ty = int(one(f, "quic.frame_type"))
        frames.append(ty)
        if 0x08 <= ty <= 0x0f:
            streams.append({
                "stream_id": int(one(f, "quic.stream.stream_id")),
                "offset": int(one(f, "quic.stream.offset", "0")),
                "length": int(one(f, "quic.stream.length", "0")),
                "fin": bool(ty & 0x01),
            })
    p["decrypted"] = bool(frames)
    p["frame_types"] = frames
    p["stream_frames"] = streams
    return p


def main():
    for path in sys.argv[1:]:
        cap_dir = os.path.dirname(os.path.abspath(path))
        name = os.path.basename(path)
        stem = name.rsplit(".", 1)[0]
        keys = stem + ".keys"
        cmd = ["tshark", "-r", name, "-n", "-o", "tls.keylog_file:" + keys, "-T", "json",
               "-J", "frame udp quic http3", "-Y", "quic"]
        out = subprocess.run(cmd, cwd=cap_dir, check=True, capture_output=True, text=True).stdout
        docs = json.loads(out, object_pairs_hook=lambda kv: kv)
        with open(os.path.join(cap_dir, stem + ".log.json")) as f:
            log = json.load(f)

        packets = []
        h3_frames = []
        server_port = None
        for doc in docs:
            layers = one(one(doc, "_source"), "layers")
            fr = one(layers, "frame")
            udp = one(layers, "udp")
            number = int(one(fr, "frame.number"))
            ts = one(fr, "frame.time_epoch")
            sport, dport = int(one(udp, "udp.srcport")), int(one(udp, "udp.dstport"))
            stream = int(one(udp, "udp.stream"))
            h3 = [int(t) for h in get(layers, "http3") for t in get(h, "http3.frame_type")]
            if h3:
                h3_frames.append({"frame": number, "types": h3})
            for q in get(layers, "quic"):
                if one(q, "quic.short") is None and one(q, "quic.header_form") is None:
                    # Zero bytes after the last packet of a datagram: tshark gives them a `quic`
                    # layer with only an expert note; they are not a packet.
                    continue
                p = packet(q)
                if server_port is None and p["packet_type"] == "initial":
                    server_port = dport
                p.update({"frame": number, "ts": ts, "udp_stream": stream,
                          "dir": "c2s" if dport == server_port else "s2c"})
                packets.append(p)

        # Connections in order of their first frame; the clients ran one after the other.
        conns = []
        for p in packets:
            if p["udp_stream"] not in conns:
                conns.append(p["udp_stream"])
        labels = []
        for c in log["client"]:
            if c["connection"] not in labels:
                labels.append(c["connection"])
        assert len(labels) == len(conns), (labels, conns)

        # Where each client-initiated bidirectional stream starts and ends, per direction.
        marks = {}
        for p in packets:
            for s in p["stream_frames"]:
                sid = s["stream_id"]
                if sid % 4 != 0:
                    continue
                m = marks.setdefault((p["udp_stream"], sid), {})
                d = p["dir"]
                if s["offset"] == 0 and (d + "_first") not in m:
                    m[d + "_first"] = (p["frame"], p["ts"])
                if s["fin"]:
                    m[d + "_fin"] = (p["frame"], p["ts"])
                    m[d + "_size"] = s["offset"] + s["length"]

        checks = []
        exchanges = []
        server_log = list(log["server"])
        for c in log["client"]:
            udp_stream = conns[labels.index(c["connection"])]
            m = marks.get((udp_stream, c["stream_id"]), {})
            srv = server_log.pop(0)
            assert (srv["path"], srv["status"], srv["body_bytes"]) == (c["path"], c["status"], c["body_bytes"]), (srv, c)
            assert srv["stream_id"] == c["stream_id"], (srv, c)
            x = {
                "connection": c["connection"], "udp_stream": udp_stream, "stream_id": c["stream_id"],
                "method": srv["method"], "path": c["path"], "status": c["status"],
                "content_type": c["content_type"], "body_bytes": c["body_bytes"],
            }
            for key, (d, what) in {"request_first": ("c2s", "first"), "request_end": ("c2s", "fin"),
                                   "response_first": ("s2c", "first"), "response_end": ("s2c", "fin")}.items():
                frame, ts = m[d + "_" + what]
                x[key + "_frame"] = frame
                x[key + "_ts"] = ts
            x["request_stream_bytes"] = m.get("c2s_size")
            x["response_stream_bytes"] = m.get("s2c_size")
            # The response stream holds the HEADERS frame, the DATA frame header and the body.
            assert x["response_stream_bytes"] > x["body_bytes"], x
            exchanges.append(x)
        checks.append("every client log entry matches the server log entry (path, status, body bytes, stream id)")
        checks.append("every request and response stream has a first byte and a FIN in tshark's STREAM frames")
        checks.append("each response stream is longer than the body the client received")
        failed = [p["frame"] for p in packets if not p["decrypted"] and p["packet_type"] != "retry"]
        assert not failed, failed
        checks.append("tshark decrypted every packet with the key log")

        out = {
            "capture": name,
            "tshark_version": tshark_version(),
            "command": " ".join(c if " " not in c else '"%s"' % c for c in cmd),
            "peers_log": stem + ".log.json",
            "tshark_blind": [
                "QPACK field sections are not decoded (HEADERS shows the encoded bytes): method, path, "
                "status and content type come from the peers' log",
                "QPACK encoder and decoder stream instructions are not decoded",
                "HTTP/3 frames are listed per frame without their stream id, and a DATA frame that spans "
                "several QUIC packets is not shown at all: body lengths come from the peers' log",
            ],
            "checks": checks,
            "connections": [{"label": lab, "udp_stream": u} for lab, u in zip(labels, conns)],
            "packets": packets,
            "http3_frames": h3_frames,
            "exchanges": exchanges,
        }
        fixtures = os.path.join(cap_dir, "fixtures")
        os.makedirs(fixtures, exist_ok=True)
        with open(os.path.join(fixtures, name + ".quic.json"), "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
            f.write("\n")
        print("%s: %d QUIC packets, %d exchanges" % (name, len(packets), len(exchanges)), file=sys.stderr)


if __name__ == "__main__":
    main()
