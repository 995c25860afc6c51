#!/usr/bin/env python3
"""Write tshark-derived RTMP message fixtures for captures.

usage: python3 samples/rtmp-fixture.py [--port N]... CAPTURE...

For every CAPTURE this writes `<CAPTURE name>.rtmp.json` into `fixtures/` next
to the capture, or into $FIXTURE_OUT if that is set (as tshark-fixture.py).
The fixture lists, per RTMP TCP connection, the handshake frames and every
RTMP message tshark's `rtmpt` dissector reports, in the order tshark reports
them.

RTMP server ports are found by content: a TCP connection whose first payload
byte in both directions is 0x03 (C0 / S0) is RTMP, its server is the SYN
receiver (or, without a SYN, the side that sent payload second).  Every server
port other than 1935 is given to tshark as `-d tcp.port==N,rtmpt`; `--port N`
adds one by hand.  tshark always runs with `-o rtmpt.max_packet_size:1048576`
(a second run with the default is only used for a comparison note).

tshark is run with the capture's directory as working directory and only the
file name on the command line, so the recorded command is machine independent.
Standard library only; output is deterministic for a given capture and tshark.
"""
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import OrderedDict
from tsharklib import run

MAX_PACKET_SIZE = 1048576
DEFAULT_MAX_PACKET_SIZE = 32768

# rtmpt_opcode_vals of packet-rtmpt.c: tshark names every message
# "Real Time Messaging Protocol (<opcode name>...)", so the name is the type
# tshark used even when the chunk header (fmt 2/3) carries no type id.
OPCODE_NAMES = [
    ("Set Chunk Size", 1), ("Abort Message", 2), ("Acknowledgement", 3),
    ("User Control Message", 4), ("Window Acknowledgement Size", 5),
    ("Set Peer Bandwidth", 6), ("Virtual Control", 7), ("Audio Data", 8),
    ("Video Data", 9), ("AMF3 Data", 15), ("AMF3 Shared Object", 16),
    ("AMF3 Command", 17), ("AMF0 Data", 18), ("AMF0 Shared Object", 19),
    ("AMF0 Command", 20), ("Aggregate", 22),
]
AMF_TYPES = (15, 17, 18, 20)
COMMAND_TYPES = (17, 20)

STATIC_NOTES = [
    "Source: one `tshark -T pdml` run (command above). Each RTMP message and each handshake part is "
    "its own <proto name=\"rtmpt\"> element in PDML, so header fields and AMF values stay grouped per "
    "message; `-T fields` with -E occurrence=a flattens a frame's messages into parallel value lists "
    "that cannot be re-grouped when a field is missing for some messages (fmt 1-3 headers have no "
    "stream id, fmt 2/3 no type/length, empty AMF strings have no amf.string field).",
    "Messages are listed per flow in the order tshark reports them: by frame number, then in order "
    "within the frame. tshark reports a message (and the handshake parts) in the frame that "
    "COMPLETES it, not the frame where its first chunk starts; frame/frame_ts are that completing "
    "frame. A message that is still incomplete at the end of the capture is not reported at all.",
    "Handshake: tshark shows C0+C1 (1+1536 bytes), S0+S1+S2 (1+1536+1536 bytes, always as ONE unit "
    "even when S0+S1 and S2 arrive in different segments) and C2 (1536 bytes), each in the frame "
    "that completes it; *_frame_ts is that frame's time. C0+C1 vs S0+S1+S2 is decided by tshark from "
    "whether the sender has acknowledged any data yet (lastackseq == 1), and the handshake is only "
    "recognised at relative sequence number 1, i.e. when the capture has the connection start.",
    "client = the side tshark labels 'Handshake C0+C1'; without one, the SYN sender; server port is "
    "1935/19350/6002 in these samples.",
    "type = rtmpt.header.typeid for fmt 0/1 chunks; for fmt 2/3 chunks (no type id in the header) "
    "it is the type tshark used, taken from the opcode name in the message's summary line and "
    "checked against the previous message on the same chunk stream and direction.",
    "length = rtmpt.header.bodysize (tshark 4.0 has no rtmpt.header.length field); for fmt 2/3 it "
    "is inherited from the previous message on the same chunk stream/direction, as tshark does.",
    "stream_id = rtmpt.header.streamid, present only in fmt 0 headers; for fmt 1/2/3 it is "
    "inherited from the previous message on the same chunk stream and direction (what tshark uses "
    "internally, ti->src); null if there is none. fmt is rtmpt.header.format.",
    "timestamp: for fmt 0, rtmpt.header.timestamp is the absolute 24-bit header value (with "
    "0xFFFFFF the extended timestamp rtmpt.header.ets is used). For fmt 1/2 tshark shows the "
    "header's delta as rtmpt.header.timestampdelta AND an absolute rtmpt.header.timestamp marked "
    "'(calculated)' (previous timestamp on that chunk stream and direction + delta); for fmt 3 "
    "it shows only the calculated absolute value (previous timestamp + previous delta, where the "
    "delta after a fmt 0 chunk is the difference to the previous fmt 0/1/2 timestamp). The "
    "fixture uses these absolute values; the script re-accumulates the deltas itself and reports "
    "any disagreement below.",
    "Extended timestamps (none occur in these samples): according to packet-rtmpt.c, for fmt 1/2 "
    "chunks with an extended timestamp tshark takes the 32-bit extended value as the ABSOLUTE "
    "timestamp (the specification says it is the delta) and shows no calculated timestamp; if "
    "such a chunk occurs the fixture uses previous + extended value and says so below. The "
    "4-byte extended timestamp repeated on fmt 3 chunks is not expected by tshark.",
    "command = first AMF0 value of an AMF0/AMF3 command or data message (type 20/17/18/15) when "
    "it is a string ('' for an empty string); transaction_id = the second AMF value (a Number) "
    "for command messages (type 20/17), else null; code = the string value of the first "
    "property named 'code' anywhere in the message's AMF values (onStatus/_result/_error info "
    "objects), else null.",
    "With tshark's default rtmpt.max_packet_size (32768) a message whose body is larger is "
    "dropped together with the rest of its segment, and a Set Chunk Size >= 32768 is IGNORED "
    "(tshark keeps parsing with the old chunk size), which mis-parses the following chunks. The "
    "fixture is made with -o rtmpt.max_packet_size:1048576; the comparison with the default is "
    "below.",
    "tshark decodes RTMP only where it is told or the port is 1935: off 1935 it needs "
    "-d tcp.port==N,rtmpt (its rtmpt_tcp heuristic misses the C0+C1 segment); e.g. port 6002 is "
    "decoded as X11 otherwise.",
    "tshark does not decode AVC/AAC packet types or composition times, labels plain AAC as HE-AAC, "
    "and hands no TLS plaintext to rtmpt (RTMPS); none of that is used here.",
]


def tshark_version():
    out = subprocess.run(["tshark", "--version"], check=True, capture_output=True,
                         text=True).stdout
    first = out.splitlines()[0]
    m = re.match(r"(TShark \(Wireshark\) \S+?)(?: \(|\.?$)", first)
    return m.group(1) if m else first.strip()


def endpoint(ip4, ip6, port):
    if ip4:
        return "%s:%s" % (ip4, port)
    if ip6:
        return "[%s]:%s" % (ip6, port)
    return "?:%s" % port


def detect_rtmp(name, cwd):
    """Return {tcp.stream: (client, server)} for connections that start with C0/S0."""
    cmd = ["tshark", "-r", name, "-n", "-Y", "(tcp.len>0 && tcp.seq==1) || "
           "(tcp.flags.syn==1 && tcp.flags.ack==0)", "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=l"]
    fields = ["frame.number", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport",
              "ip.dst", "ipv6.dst", "tcp.dstport", "tcp.flags.syn", "tcp.len", "tcp.payload"]
    for f in fields:
        cmd += ["-e", f]
    streams = {}
    for line in run(cmd, cwd).splitlines():
        v = dict(zip(fields, line.split("\t")))
        if not v.get("tcp.stream"):
            continue
        s = streams.setdefault(int(v["tcp.stream"]), {"syn": None, "first": []})
        src = endpoint(v["ip.src"], v["ipv6.src"], v["tcp.srcport"])
        dst = endpoint(v["ip.dst"], v["ipv6.dst"], v["tcp.dstport"])
        if v["tcp.flags.syn"] in ("1", "True") and s["syn"] is None:
            s["syn"] = (src, dst)
        if int(v.get("tcp.len") or 0) > 0 and src not in [x[0] for x in s["first"]]:
            s["first"].append((src, dst, v.get("tcp.payload", "")[:2]))
    out = {}
    for st, s in streams.items():
        if len(s["first"]) != 2 or any(x[2] != "03" for x in s["first"]):
            continue
        client, server = s["syn"] if s["syn"] else s["first"][0][:2]
        out[st] = (client, server)
    return out


def port_of(ep):
    return int(ep.rsplit(":", 1)[1])


def tshark_base(name, ports, max_packet_size):
    cmd = ["tshark", "-r", name, "-n"]
    for p in sorted(ports):
        cmd += ["-d", "tcp.port==%d,rtmpt" % p]
    if max_packet_size is not None:
        cmd += ["-o", "rtmpt.max_packet_size:%d" % max_packet_size]
    return cmd


def children(el):
    return [c for c in el if c.tag == "field"]


def find_field(el, name):
    for c in el.iter("field"):
        if c.get("name") == name:
            return c
    return None


def amf_value(el):
    """(kind, python value) of one AMF0 value subtree, or None."""
    t = None
    for c in children(el):
        if c.get("name") == "amf.amf0_type":
            t = int(c.get("show"), 16)
            break
    if t is None:
        return None
    if t == 0x02 or t == 0x0c:
        for c in children(el):
            if c.get("name") in ("amf.string", "amf.longstring"):
                return ("string", c.get("show"))
        return ("string", "")
    if t == 0x00:
        for c in children(el):
            if c.get("name") == "amf.number":
                x = float(c.get("show"))
                return ("number", int(x) if x.is_integer() else x)
    return ("other", t)


def find_code(body):
    for f in body.iter("field"):
        kids = children(f)
        if len(kids) != 2 or not (f.get("show") or "").startswith("Property "):
            continue
        name_el = find_field(kids[0], "amf.string")
        if name_el is None or name_el.get("show") != "code":
            continue
        v = amf_value(kids[1])
        if v and v[0] == "string":
            return v[1]
    return None


def parse_rtmpt(proto):
    """One <proto name="rtmpt"> element -> dict."""
    showname = proto.get("showname") or ""
    hs = None
    for f in proto.iter("field"):
        n = f.get("name")
        if n == "rtmpt.handshake.c0":
            hs = "c0c1"
        elif n == "rtmpt.handshake.s0":
            hs = "s0s1s2"
        elif n == "rtmpt.handshake.c2":
            hs = "c2"
    if hs:
        return {"handshake": hs}
    m = re.match(r"Real Time Messaging Protocol \((.*)\)$", showname, re.S)
    desc = m.group(1) if m else ""
    name_type = None
    for nm, t in sorted(OPCODE_NAMES, key=lambda x: -len(x[0])):
        if desc.startswith(nm):
            name_type = t
            break
    um = re.match(r"Unknown \(0x([0-9a-fA-F]+)\)", desc)
    if name_type is None and um:
        name_type = int(um.group(1), 16)
    hdr = {}
    body = None
    for c in children(proto):
        if c.get("show") == "RTMP Header":
            for h in children(c):
                n = h.get("name")
                if n and n.startswith("rtmpt.header."):
                    key = n[len("rtmpt.header."):]
                    calc = "(calculated)" in (h.get("showname") or "")
                    hdr[key + ("_calc" if calc else "")] = h.get("show")
        elif c.get("show") == "RTMP Body":
            body = c
    msg = {"desc": desc, "name_type": name_type, "hdr": hdr, "command": None,
           "transaction_id": None, "code": None}
    if body is not None:
        vals = [amf_value(c) for c in children(body)]
        vals = [v for v in vals if v is not None]
        msg["values"] = vals
        msg["code"] = find_code(body)
    else:
        msg["values"] = []
    return msg


def iter_packets(pdml_text):
    root = ET.fromstring(pdml_text)
    for pkt in root.iter("packet"):
        yield pkt


def packet_info(pkt):
    info = {"frame": None, "ts": None, "stream": None, "src": None, "dst": None,
            "rtmpt": []}
    ip4s = ip4d = ip6s = ip6d = None
    sport = dport = None
    for proto in pkt.findall("proto"):
        pn = proto.get("name")
        if pn == "frame":
            for f in proto.iter("field"):
                if f.get("name") == "frame.number":
                    info["frame"] = int(f.get("show"))
                elif f.get("name") == "frame.time_epoch":
                    info["ts"] = f.get("show")
        elif pn == "ip":
            ip6s = ip6d = None
            for f in children(proto):
                if f.get("name") == "ip.src":
                    ip4s = f.get("show")
                elif f.get("name") == "ip.dst":
                    ip4d = f.get("show")
        elif pn == "ipv6":
            ip4s = ip4d = None
            for f in children(proto):
                if f.get("name") == "ipv6.src":
                    ip6s = f.get("show")
                elif f.get("name") == "ipv6.dst":
                    ip6d = f.get("show")
        elif pn == "tcp":
            for f in children(proto):
                n = f.get("name")
                if n == "tcp.srcport":
                    sport = f.get("show")
                elif n == "tcp.dstport":
                    dport = f.get("show")
                elif n == "tcp.stream":
                    info["stream"] = int(f.get("show"))
            info["src"] = endpoint(ip4s, ip6s, sport)
            info["dst"] = endpoint(ip4d, ip6d, dport)
        elif pn == "rtmpt":
            info["rtmpt"].append(parse_rtmpt(proto))
    return info


def build_flows(pdml_text, detected, problems):
    flows = OrderedDict()
    # per (stream, dir, csid): tshark-like chunk stream state for inheritance/checks
    state = {}
    ts_mismatch = []
    for pkt in iter_packets(pdml_text):
        pi = packet_info(pkt)
        if not pi["rtmpt"]:
            continue
        st = pi["stream"]
        fl = flows.get(st)
        if fl is None:
            fl = flows[st] = {"stream": st, "first_frame": pi["frame"], "endpoints": None,
                              "hs": {}, "messages": [], "c0c1_src": None}
        for r in pi["rtmpt"]:
            if "handshake" in r:
                k = r["handshake"]
                if k in fl["hs"]:
                    problems.append("stream %d: second %s in frame %d" % (st, k, pi["frame"]))
                    continue
                fl["hs"][k] = (pi["frame"], pi["ts"])
                if k == "c0c1":
                    fl["c0c1_src"] = pi["src"]
                elif k == "s0s1s2" and fl["c0c1_src"] is None:
                    fl["c0c1_src"] = pi["dst"]
                continue
            fl["messages"].append((pi["frame"], pi["ts"], pi["src"], pi["dst"], r))
    out = []
    for st, fl in flows.items():
        if fl["c0c1_src"]:
            client = fl["c0c1_src"]
            a, b = None, None
            for m in fl["messages"]:
                a, b = m[2], m[3]
                break
            server = (b if a == client else a) if a else None
            if server is None and st in detected:
                server = detected[st][1]
        elif st in detected:
            client, server = detected[st]
        else:
            m0 = fl["messages"][0]
            client, server = m0[2], m0[3]
            problems.append("stream %d: no handshake and no SYN/C0 seen; client = sender of "
                            "the first message" % st)
        msgs = []
        for frame, ts, src, dst, r in fl["messages"]:
            d = "c2s" if src == client else "s2c"
            h = r["hdr"]
            fmt = int(h["format"])
            csid = int(h["csid"])
            key = (st, d, csid)
            prev = state.get(key)
            # type
            if "typeid" in h:
                typ = int(h["typeid"], 16)
            elif prev is not None:
                typ = prev["type"]
            else:
                typ = r["name_type"]
            if r["name_type"] is not None and r["name_type"] != typ:
                problems.append("frame %d: type %s from header/inheritance but tshark named it "
                                "%r; using tshark's" % (frame, typ, r["desc"]))
                typ = r["name_type"]
            length = int(h["bodysize"]) if "bodysize" in h else (prev["length"] if prev else None)
            if "streamid" in h:
                sid = int(h["streamid"])
            else:
                sid = prev["stream_id"] if prev else None
            # timestamp
            own = None  # own accumulation, tshark's rule
            if fmt == 0:
                raw = int(h["timestamp"])
                if raw == 0xFFFFFF and "ets" in h:
                    raw = int(h["ets"])
                ts_abs = raw
                own = raw
                tsd = raw - prev["ts"] if prev else raw
            elif fmt in (1, 2):
                delta = int(h["timestampdelta"])
                if "timestamp_calc" in h:
                    ts_abs = int(h["timestamp_calc"])
                    own = (prev["ts"] if prev else 0) + delta
                    tsd = delta
                else:
                    ext = int(h.get("ets", "0"))
                    ts_abs = (prev["ts"] if prev else 0) + ext
                    tsd = ext
                    problems.append("frame %d: fmt %d chunk with extended timestamp %d: tshark "
                                    "takes it as absolute and shows no calculated timestamp; "
                                    "fixture uses previous + extended = %d"
                                    % (frame, fmt, ext, ts_abs))
            else:
                ts_abs = int(h["timestamp_calc"])
                own = (prev["ts"] + prev["tsd"]) if prev else 0
                tsd = prev["tsd"] if prev else 0
            if own is not None and own != ts_abs:
                ts_mismatch.append("frame %d csid %d %s fmt %d: tshark %d, accumulated %d"
                                   % (frame, csid, d, fmt, ts_abs, own))
            state[key] = {"type": typ, "length": length, "stream_id": sid, "ts": ts_abs,
                          "tsd": tsd}
            vals = r["values"]
            command = txid = None
            if typ in AMF_TYPES and vals and vals[0][0] == "string":
                command = vals[0][1]
            if typ in COMMAND_TYPES and len(vals) > 1 and vals[1][0] == "number":
                txid = vals[1][1]
            code = r["code"] if typ in AMF_TYPES else None
            msgs.append(OrderedDict([
                ("dir", d), ("frame", frame), ("frame_ts", ts), ("type", typ),
                ("fmt", fmt), ("csid", csid), ("stream_id", sid), ("timestamp", ts_abs),
                ("length", length), ("command", command), ("transaction_id", txid),
                ("code", code)]))
        hs = fl["hs"]
        counts = OrderedDict()
        for d in ("c2s", "s2c"):
            c = {}
            for m in msgs:
                if m["dir"] == d:
                    c[m["type"]] = c.get(m["type"], 0) + 1
            counts[d] = OrderedDict((str(k), c[k]) for k in sorted(c))
        out.append((fl["first_frame"], st, OrderedDict([
            ("tcp_stream", st), ("client", client), ("server", server),
            ("handshake", OrderedDict([
                ("c0c1_frame", hs.get("c0c1", (None, None))[0]),
                ("c0c1_frame_ts", hs.get("c0c1", (None, None))[1]),
                ("s0s1s2_frame", hs.get("s0s1s2", (None, None))[0]),
                ("s0s1s2_frame_ts", hs.get("s0s1s2", (None, None))[1]),
                ("c2_frame", hs.get("c2", (None, None))[0]),
                ("c2_frame_ts", hs.get("c2", (None, None))[1])])),
            ("message_counts", counts),
            ("messages", msgs)])))
    out.sort(key=lambda x: (x[0], x[1]))
    return [x[2] for x in out], ts_mismatch


def count_fields(name, cwd, ports, mps):
    """Messages per (tcp.stream, typeid-or-handshake) from a -T fields run (cross-check)."""
    cmd = tshark_base(name, ports, mps) + [
        "-Y", "rtmpt", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
        "-E", "aggregator=,", "-e", "tcp.stream", "-e", "rtmpt.header.format",
        "-e", "_ws.col.Info"]
    total = 0
    hs = 0
    for line in run(cmd, cwd).splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        fmts = [x for x in parts[1].split(",") if x != ""]
        total += len(fmts)
        hs += parts[2].count("Handshake ")
    return total, hs


def phs_rtmpt_pdus(name, cwd, ports, mps):
    cmd = tshark_base(name, ports, mps) + ["-q", "-z", "io,phs"]
    n = 0
    for line in run(cmd, cwd).splitlines():
        m = re.match(r"\s*rtmpt\s+frames:(\d+)", line)
        if m:
            n += int(m.group(1))
    return n


def tcp_bytes(name, cwd):
    """{(tcp.stream, src endpoint): (bytearray, first-arrival frame of every byte)}."""
    cmd = ["tshark", "-r", name, "-n", "-Y", "tcp.len>0", "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=l"]
    fields = ["frame.number", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.seq",
              "tcp.len", "tcp.payload"]
    for f in fields:
        cmd += ["-e", f]
    out = {}
    for line in run(cmd, cwd).splitlines():
        v = dict(zip(fields, line.split("\t")))
        if not v.get("tcp.payload"):
            continue
        key = (int(v["tcp.stream"]), endpoint(v["ip.src"], v["ipv6.src"], v["tcp.srcport"]))
        data, frames = out.setdefault(key, (bytearray(), []))
        off = int(v["tcp.seq"]) - 1
        payload = bytes.fromhex(v["tcp.payload"].replace(":", ""))
        if off < 0:
            continue
        end = off + len(payload)
        if end > len(data):
            data.extend(b"\0" * (end - len(data)))
            frames.extend([None] * (end - len(frames)))
        for i in range(len(payload)):
            if frames[off + i] is None:
                data[off + i] = payload[i]
                frames[off + i] = int(v["frame.number"])
    return out


def own_parse(data, frames, start):
    """Minimal RTMP chunk parser (tshark's timestamp rules) for cross-checking tshark.

    Also used by tls-fixture.py on decrypted RTMPS plaintext (hence "body")."""
    p, cs, st, out = start, 128, {}, []
    try:
        while p < len(data):
            first = frames[p]
            b = data[p]
            fmt, csid = b >> 6, b & 0x3F
            p += 1
            if csid == 0:
                csid = data[p] + 64
                p += 1
            elif csid == 1:
                csid = data[p] + data[p + 1] * 256 + 64
                p += 2
            s = st.setdefault(csid, {"ts": 0, "tsd": 0, "len": 0, "type": 0, "sid": 0,
                                     "buf": None, "ext": False})
            t = 0
            if fmt <= 2:
                t = int.from_bytes(data[p:p + 3], "big")
                p += 3
                if fmt <= 1:
                    s["len"], s["type"] = int.from_bytes(data[p:p + 3], "big"), data[p + 3]
                    p += 4
                if fmt == 0:
                    s["sid"] = int.from_bytes(data[p:p + 4], "little")
                    p += 4
                s["ext"] = t == 0xFFFFFF
                if s["ext"]:
                    t = int.from_bytes(data[p:p + 4], "big")
                    p += 4
            elif s["ext"]:
                p += 4
            if s["buf"] is None:
                if fmt == 0:
                    s["tsd"], s["ts"] = t - s["ts"], t
                elif fmt in (1, 2):
                    s["tsd"], s["ts"] = t, s["ts"] + t
                else:
                    s["ts"] += s["tsd"]
                s["buf"], s["fmt"], s["first"] = bytearray(), fmt, first
            n = min(cs, s["len"] - len(s["buf"]))
            if p + n > len(data):
                break
            s["buf"] += data[p:p + n]
            p += n
            if len(s["buf"]) == s["len"]:
                if s["type"] == 1 and s["len"] >= 4:
                    cs = int.from_bytes(s["buf"][:4], "big") & 0x7FFFFFFF
                out.append({"type": s["type"], "fmt": s["fmt"], "csid": csid,
                            "stream_id": s["sid"], "timestamp": s["ts"] & 0xFFFFFFFF,
                            "length": s["len"], "frame": frames[p - 1],
                            "first_frame": s["first"], "body": bytes(s["buf"])})
                s["buf"] = None
    except IndexError:
        pass
    return out


def own_check(name, cwd, flows):
    """Compare tshark's messages with the minimal parser's; returns note strings."""
    streams = tcp_bytes(name, cwd)
    keys = ("type", "fmt", "csid", "stream_id", "timestamp", "length", "frame")
    notes = []
    for fl in flows:
        st = fl["tcp_stream"]
        if fl["handshake"]["c0c1_frame"] is None or fl["handshake"]["s0s1s2_frame"] is None:
            notes.append("Own-parser check, flow %s: skipped (no handshake, the byte stream "
                         "does not start at a known chunk boundary)." % fl["client"])
            continue
        for d, ep, start in (("c2s", fl["client"], 3073), ("s2c", fl["server"], 3073)):
            got = streams.get((st, ep))
            ts = [m for m in fl["messages"] if m["dir"] == d]
            if got is None:
                notes.append("Own-parser check %s %s: no TCP payload found" % (ep, d))
                continue
            mine = own_parse(got[0], got[1], start)
            same = sum(1 for a, b in zip(mine, ts) if all(a[k] == b[k] for k in keys))
            later = sum(1 for a in mine if a["first_frame"] != a["frame"])
            first_diff = next((i for i, (a, b) in enumerate(zip(mine, ts))
                               if any(a[k] != b[k] for k in keys)), None)
            txt = ("Own-parser check, flow %s, %s: a minimal chunk parser over the TCP byte "
                   "stream (tcp.payload by tcp.seq) finds %d messages, tshark %d; %d agree in "
                   "type, fmt, csid, stream_id, timestamp, length and completing frame"
                   % (fl["client"], d, len(mine), len(ts), same))
            if first_diff is not None:
                a, b = mine[first_diff], ts[first_diff]
                txt += ("; first difference at message #%d: parser %s vs tshark %s"
                        % (first_diff, {k: a[k] for k in keys}, {k: b[k] for k in keys}))
            txt += ("; %d of the parser's messages start in an earlier frame than the one "
                    "that completes them (tshark reports them in the completing frame)." % later)
            notes.append(txt)
    return notes


def type_totals(flows):
    tot = {}
    for fl in flows:
        for m in fl["messages"]:
            k = (m["dir"], m["type"])
            tot[k] = tot.get(k, 0) + 1
    return tot


def fixture_for(path, version, extra_ports):
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    detected = detect_rtmp(name, directory)
    ports = set(extra_ports)
    for client, server in detected.values():
        if port_of(server) != 1935:
            ports.add(port_of(server))
    cmd = tshark_base(name, ports, MAX_PACKET_SIZE) + ["-T", "pdml", "-Y", "rtmpt"]
    pdml = run(cmd, directory)
    problems = []
    flows, ts_mismatch = build_flows(pdml, detected, problems)

    notes = list(STATIC_NOTES)
    # Cross-checks.
    n_msgs = sum(len(f["messages"]) for f in flows)
    n_hs = sum(1 for f in flows for k in ("c0c1_frame", "s0s1s2_frame", "c2_frame")
               if f["handshake"][k] is not None)
    f_total, f_hs = count_fields(name, directory, ports, MAX_PACKET_SIZE)
    phs = phs_rtmpt_pdus(name, directory, ports, MAX_PACKET_SIZE)
    notes.append("Check: %d messages + %d handshake parts from PDML; `-T fields` run: %d "
                 "rtmpt.header.format values + %d 'Handshake' info entries; `-z io,phs` rtmpt "
                 "levels sum to %d PDUs (%s)."
                 % (n_msgs, n_hs, f_total, f_hs, phs,
                    "consistent" if (n_msgs == f_total and n_hs == f_hs
                                     and phs == n_msgs + n_hs) else "MISMATCH"))
    if ts_mismatch:
        notes.append("Timestamp check: tshark's absolute timestamps differ from the script's own "
                     "accumulation of the header deltas in %d messages: %s"
                     % (len(ts_mismatch), "; ".join(ts_mismatch[:10])))
    else:
        notes.append("Timestamp check: the script's own per-direction, per-chunk-stream "
                     "accumulation of the header timestamps/deltas agrees with tshark's absolute "
                     "(calculated) rtmpt.header.timestamp for every message.")
    n_fmt = {}
    for f in flows:
        for m in f["messages"]:
            n_fmt[m["fmt"]] = n_fmt.get(m["fmt"], 0) + 1
    notes.extend(own_check(name, directory, flows))
    notes.append("Messages by first-chunk header format: %s."
                 % ", ".join("fmt %d: %d" % (k, n_fmt[k]) for k in sorted(n_fmt)))
    # Default max_packet_size comparison.
    dcmd = tshark_base(name, ports, None) + ["-T", "pdml", "-Y", "rtmpt"]
    dflows, _ = build_flows(run(dcmd, directory), detected, [])
    big, dbig = type_totals(flows), type_totals(dflows)
    diffs = []
    for k in sorted(set(big) | set(dbig)):
        if big.get(k, 0) != dbig.get(k, 0):
            diffs.append("%s type %d: %d -> %d" % (k[0], k[1], big.get(k, 0), dbig.get(k, 0)))
    maxlen = max([m["length"] or 0 for f in flows for m in f["messages"]] or [0])
    dn = sum(len(f["messages"]) for f in dflows)
    scs = sorted({int(v) for v in re.findall(
        r'name="rtmpt.scm.chunksize"[^>]*show="(\d+)"', pdml)})
    if diffs:
        notes.append("Default rtmpt.max_packet_size (%d) vs %d: %d vs %d messages; per direction "
                     "and type (with option -> default): %s. Largest message body: %d bytes; "
                     "Set Chunk Size values: %s."
                     % (DEFAULT_MAX_PACKET_SIZE, MAX_PACKET_SIZE, dn, n_msgs, "; ".join(diffs),
                        maxlen, scs))
    else:
        notes.append("Default rtmpt.max_packet_size (%d) gives the same %d messages as %d here "
                     "(largest message body %d bytes; Set Chunk Size values: %s)."
                     % (DEFAULT_MAX_PACKET_SIZE, n_msgs, MAX_PACKET_SIZE, maxlen, scs))
    if ports:
        notes.append("Decode-as ports (found by C0/S0 content or --port): %s."
                     % ", ".join(str(p) for p in sorted(ports)))
    for f in flows:
        hs = f["handshake"]
        if hs["c0c1_frame"] is None or hs["s0s1s2_frame"] is None or hs["c2_frame"] is None:
            notes.append("Flow %s -> %s: tshark shows no complete handshake (missing: %s)."
                         % (f["client"], f["server"], ", ".join(
                             k[:-6] for k in ("c0c1_frame", "s0s1s2_frame", "c2_frame")
                             if hs[k] is None)))
    notes.extend(problems)

    outdir = os.environ.get("FIXTURE_OUT") or os.path.join(directory, "fixtures")
    os.makedirs(outdir, exist_ok=True)
    doc = OrderedDict([
        ("capture", name), ("tshark_version", version), ("command", " ".join(cmd)),
        ("flows", flows), ("notes", notes)])
    with open(os.path.join(outdir, name + ".rtmp.json"), "w") as f:
        f.write(dump(doc))
    return flows


def dump(doc):
    """JSON with one line per message."""
    lines = ["{"]
    top = list(doc.items())
    for i, (k, v) in enumerate(top):
        comma = "," if i < len(top) - 1 else ""
        if k == "flows":
            lines.append('  "flows": [')
            for j, fl in enumerate(v):
                lines.append("    {")
                items = list(fl.items())
                for x, (fk, fv) in enumerate(items):
                    c2 = "," if x < len(items) - 1 else ""
                    if fk == "messages":
                        lines.append('      "messages": [')
                        for y, m in enumerate(fv):
                            lines.append("        " + json.dumps(m, ensure_ascii=False)
                                         + ("," if y < len(fv) - 1 else ""))
                        lines.append("      ]" + c2)
                    else:
                        lines.append("      %s: %s%s" % (json.dumps(fk),
                                                        json.dumps(fv, ensure_ascii=False), c2))
                lines.append("    }" + ("," if j < len(v) - 1 else ""))
            lines.append("  ]" + comma)
        elif k == "notes":
            lines.append('  "notes": [')
            for j, n in enumerate(v):
                lines.append("    " + json.dumps(n, ensure_ascii=False)
                             + ("," if j < len(v) - 1 else ""))
            lines.append("  ]" + comma)
        else:
            lines.append("  %s: %s%s" % (json.dumps(k), json.dumps(v, ensure_ascii=False), comma))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv):
    ports = []
    paths = []
    args = argv[1:]
    i = 0
    while i < len(args):
        if args[i] in ("-p", "--port") and i + 1 < len(args):
            ports.append(int(args[i + 1]))
            i += 2
            continue
        if os.path.isfile(args[i]):
            paths.append(args[i])
        i += 1
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    version = tshark_version()
    for p in sorted(set(paths), key=os.path.basename):
        flows = fixture_for(p, version, ports)
        parts = []
        for fl in flows:
            parts.append("%s->%s %s" % (fl["client"], fl["server"], json.dumps(
                fl["message_counts"], separators=(",", ":"))))
        print("%s: %d flows, %d messages: %s" % (
            os.path.basename(p), len(flows), sum(len(f["messages"]) for f in flows),
            "; ".join(parts)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
