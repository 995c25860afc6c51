#!/usr/bin/env python3
"""Write tshark-derived TLS fixtures (with a TLS key log) for RTMPS captures.

usage: python3 samples/tls-fixture.py [--keylog KEYS] CAPTURE...

For every CAPTURE this writes `<CAPTURE name>.tls.json` into `fixtures/` next
to the capture, or into $FIXTURE_OUT if that is set (as tshark-fixture.py and
rtmp-fixture.py).  The key log (SSLKEYLOGFILE format) is the capture's name
with its .pcap/.pcapng extension replaced by `.keys`, unless --keylog is
given.

Per TLS connection (a TCP connection with a ClientHello) the fixture records
what tshark reports with the key log: negotiated version and cipher suite, SNI,
ALPN, the frames of ClientHello, ServerHello and the client's Finished, the
TLS records per direction by content type, the decrypted plaintext per
direction (length, SHA-256, first 64 bytes, bytes per frame), and the RTMP
handshake and messages found in that plaintext by the minimal independent
chunk parser of rtmp-fixture.py (`own_parse`).

tshark is run with the capture's directory as working directory and only file
names on the command line, so the recorded commands are machine independent.
Standard library only; output is deterministic for a given capture, key log
and tshark.
"""
import hashlib
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_rtmp_fixture():
    spec = importlib.util.spec_from_file_location(
        "rtmp_fixture", os.path.join(HERE, "rtmp-fixture.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RF = _load_rtmp_fixture()
run = RF.run
endpoint = RF.endpoint
own_parse = RF.own_parse
tshark_version = RF.tshark_version
dump_rtmp = RF.dump

HEAD_BYTES = 64
CONTENT_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data",
                 24: "heartbeat"}

NOTES = [
    "Source: one `tshark -T pdml -Y tls` run with the key log (first command) for the handshake, "
    "records and the decrypted bytes per frame, and one `-z follow,tls,raw,N` run per TLS "
    "connection (further commands) for the plaintext per direction; the two are compared "
    "below.",
    "client = sender of the ClientHello. version = the ServerHello's supported_versions "
    "extension if present (TLS 1.3), else its legacy version field; names and hex values as "
    "tshark shows them (cipher suite names are tshark's, which are the IANA names).",
    "sni = ClientHello server_name (null: no extension; ffmpeg/GnuTLS sends none when the URL "
    "host is an IP address). alpn_offered = ClientHello ALPN list, alpn = protocol selected "
    "by the server (ServerHello for TLS 1.2, EncryptedExtensions for TLS 1.3); null when absent.",
    "*_frame / *_ts: frame.number and frame.time_epoch (as tshark prints it) of the frame in "
    "which tshark shows the message, i.e. the frame that completes the TLS record carrying it. "
    "client_finished is the client's Finished handshake message: it is always encrypted "
    "(TLS 1.2: first record after the client's ChangeCipherSpec; TLS 1.3: handshake traffic "
    "keys), so tshark shows it only with the key log; client_finished_record says how it was "
    "carried.",
    "handshake_messages: [dir, frame, handshake type, tshark's name, encrypted] in order; "
    "encrypted = carried in a protected record (TLS 1.3 opaque type 23, or after the sender's "
    "ChangeCipherSpec in TLS 1.2), i.e. only visible with the key log. alerts: level "
    "(1 warning, 2 fatal) and description (0 close_notify) with the same encrypted flag.",
    "records: TLS records per direction counted by content type, keys are the decimal type. "
    "'wire' is the record header type (TLS 1.3 encrypted records all have 23 there, tshark's "
    "tls.record.opaque_type); 'decrypted' is the type tshark reports after decryption "
    "(tls.record.content_type; for TLS 1.3 the inner content type); a record tshark could not "
    "decrypt would be counted under 'undecrypted'. 20 change_cipher_spec, 21 alert, "
    "22 handshake, 23 application_data.",
    "plaintext: the decrypted application data per direction, stored as length, SHA-256 and the "
    "first 64 bytes in hex (not the whole hex: the client direction is tens of kB of "
    "audio/video; reproduce it with the follow command). frames = [frame, plaintext bytes] for "
    "every frame in which tshark shows decrypted application data (data.data in PDML), in "
    "order; their concatenation is checked against the follow output.",
    "rtmp: the plaintext of each direction parsed as RTMP. handshake: C0 version byte and the "
    "frames carrying the last byte of C0+C1 (1537 bytes), S0+S1+S2 (3073 bytes) and C2 "
    "(1536 bytes after C0+C1). messages: the chunk stream after the handshake (offset 3073 in "
    "both directions) parsed by own_parse() of rtmp-fixture.py, the same minimal parser that "
    "cross-checks tshark there; fields as in *.rtmp.json. frame/frame_ts = frame whose TLS "
    "record carries the message's last byte. command/transaction_id/code are decoded here "
    "from the message body (AMF0): command = first value if a string (types 20/17/18/15), "
    "transaction_id = second value if a number (types 20/17), code = first string property "
    "named 'code' anywhere in the values.",
    "tshark 4.0 does not hand TLS plaintext to its rtmpt dissector (neither by port nor with "
    "-d tls.port==1936,rtmpt), so there is no tshark RTMP decode to compare with here.",
]


def children(el):
    return [c for c in el if c.tag == "field"]


def fields_named(el, name):
    return [f for f in el.iter("field") if f.get("name") == name]


def first_show(el, name):
    f = fields_named(el, name)
    return f[0].get("show") if f else None


def name_and_hex(showname):
    """'Cipher Suite: TLS_AES_256_GCM_SHA384 (0x1302)' -> ('TLS_AES_256_GCM_SHA384', '0x1302')."""
    m = re.match(r"[^:]*:\s*(.*?)\s*\((0x[0-9a-fA-F]+)\)\s*$", showname or "")
    return (m.group(1), m.group(2).lower()) if m else (None, None)


def read_pdml(name, cwd, keylog):
    cmd = ["tshark", "-r", name, "-n", "-o", "tls.keylog_file:" + keylog, "-T", "pdml",
           "-Y", "tls"]
    return cmd, ET.fromstring(run(cmd, cwd))


def packet_info(pkt):
    info = {"frame": None, "ts": None, "stream": None, "src": None, "dst": None,
            "tls": [], "data": []}
    ip4s = ip4d = ip6s = ip6d = sport = dport = None
    for proto in pkt.findall("proto"):
        pn = proto.get("name")
        if pn == "frame":
            info["frame"] = int(first_show(proto, "frame.number"))
            info["ts"] = first_show(proto, "frame.time_epoch")
        elif pn == "ip":
            ip4s, ip4d = first_show(proto, "ip.src"), first_show(proto, "ip.dst")
        elif pn == "ipv6":
            ip6s, ip6d = first_show(proto, "ipv6.src"), first_show(proto, "ipv6.dst")
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
        elif pn == "tls":
            info["tls"].extend(f for f in children(proto) if f.get("name") == "tls.record")
        elif pn == "fake-field-wrapper":
            for f in fields_named(proto, "data.data"):
                info["data"].append(bytes.fromhex(f.get("value") or ""))
    return info


def record_info(rec):
    """One tls.record field -> dict."""
    opaque = first_show(rec, "tls.record.opaque_type")
    ctype = None
    for f in children(rec):
        if f.get("name") == "tls.record.content_type":
            ctype = int(f.get("show"))
    hs = []
    for h in fields_named(rec, "tls.handshake.type"):
        hs.append((int(h.get("show")),
                   re.sub(r"^Handshake Type:\s*|\s*\(\d+\)$", "", h.get("showname") or "")))
    return {"wire": int(opaque) if opaque is not None else ctype,
            "decrypted": ctype, "encrypted": opaque is not None,
            "handshake": hs, "el": rec}


def alpn_list(el):
    v = [f.get("show") for f in fields_named(el, "tls.handshake.extensions_alpn_str")]
    return v or None


class Conn:
    def __init__(self, stream):
        self.stream = stream
        self.client = self.server = None
        self.ch = self.sh = self.fin = None
        self.fin_record = None
        self.version = self.version_hex = None
        self.suite = self.suite_hex = None
        self.sni = None
        self.alpn_offered = self.alpn = None
        self.client_random = None
        self.ccs_seen = {"c2s": False, "s2c": False}
        self.records = {"c2s": {}, "s2c": {}}
        self.handshake = []
        self.alerts = []
        self.data = {"c2s": [], "s2c": []}  # (frame, ts, bytes)


def bump(d, k):
    d[k] = d.get(k, 0) + 1


def build(root):
    conns = OrderedDict()
    pending = []
    for pkt in root.iter("packet"):
        pi = packet_info(pkt)
        if pi["stream"] is None:
            continue
        recs = [record_info(r) for r in pi["tls"]]
        c = conns.get(pi["stream"])
        if c is None:
            if not any(t == 1 for r in recs for t, _ in r["handshake"]):
                pending.append(pi["frame"])
                continue
            c = conns[pi["stream"]] = Conn(pi["stream"])
            c.client, c.server = pi["src"], pi["dst"]
        d = "c2s" if pi["src"] == c.client else "s2c"
        for r in recs:
            # encrypted: a TLS 1.3 protected record, or any record after this direction's
            # ChangeCipherSpec (TLS 1.2)
            enc = r["encrypted"] or c.ccs_seen[d]
            cnt = c.records[d].setdefault("wire", {})
            bump(cnt, r["wire"])
            bump(c.records[d].setdefault("decrypted", {}),
                 r["decrypted"] if r["decrypted"] is not None else "undecrypted")
            if r["wire"] == 20:
                c.ccs_seen[d] = True
            if r["decrypted"] == 21:
                lvl = first_show(r["el"], "tls.alert_message.level")
                desc = first_show(r["el"], "tls.alert_message.desc")
                c.alerts.append(OrderedDict([("dir", d), ("frame", pi["frame"]),
                                             ("ts", pi["ts"]),
                                             ("level", int(lvl) if lvl else None),
                                             ("description", int(desc) if desc else None),
                                             ("encrypted", enc)]))
            for t, tname in r["handshake"]:
                c.handshake.append(OrderedDict([("dir", d), ("frame", pi["frame"]),
                                                ("type", t), ("name", tname),
                                                ("encrypted", enc), ("ts", pi["ts"])]))
            el = r["el"]
            hs_types = [t for t, _ in r["handshake"]]
            if 1 in hs_types and c.ch is None and d == "c2s":
                c.ch = (pi["frame"], pi["ts"])
                names = fields_named(el, "tls.handshake.extensions_server_name")
                c.sni = names[0].get("show") if names else None
                c.alpn_offered = alpn_list(el)
                rnd = first_show(el, "tls.handshake.random")
                c.client_random = rnd.replace(":", "") if rnd else None
            if 2 in hs_types and c.sh is None and d == "s2c":
                c.sh = (pi["frame"], pi["ts"])
                sv = fields_named(el, "tls.handshake.extensions.supported_version")
                vf = sv[0] if sv else fields_named(el, "tls.handshake.version")[0]
                c.version, c.version_hex = name_and_hex(vf.get("showname"))
                cs = fields_named(el, "tls.handshake.ciphersuite")[0]
                c.suite, c.suite_hex = name_and_hex(cs.get("showname"))
                if c.alpn is None:
                    c.alpn = (alpn_list(el) or [None])[0]
            if 8 in hs_types and d == "s2c" and c.alpn is None:
                c.alpn = (alpn_list(el) or [None])[0]
            if 20 in hs_types and d == "c2s" and c.fin is None:
                c.fin = (pi["frame"], pi["ts"])
                if r["encrypted"]:
                    c.fin_record = ("TLS 1.3 encrypted record (opaque type 23, inner type 22), "
                                    "decrypted with the client handshake traffic secret")
                else:
                    c.fin_record = ("handshake record (type 22) after the client's "
                                    "ChangeCipherSpec, encrypted with the negotiated suite")
        for b in pi["data"]:
            if b:
                c.data[d].append((pi["frame"], pi["ts"], b))
    return conns, pending


def follow(name, cwd, keylog, stream):
    cmd = ["tshark", "-r", name, "-n", "-o", "tls.keylog_file:" + keylog, "-q", "-z",
           "follow,tls,raw,%d" % stream]
    out = run(cmd, cwd)
    node0 = bytearray()
    node1 = bytearray()
    node0_ep = None
    for line in out.splitlines():
        if line.startswith("Node 0: "):
            node0_ep = line[len("Node 0: "):].strip()
            continue
        m = re.match(r"^(\t?)([0-9a-f]+)$", line)
        if not m:
            continue
        (node1 if m.group(1) else node0).extend(bytes.fromhex(m.group(2)))
    return cmd, bytes(node0), bytes(node1), node0_ep


def amf0_values(body):
    """Decode AMF0 values of a message body; returns a list of python values (best effort)."""
    p = 0
    b = body

    def val():
        nonlocal p
        t = b[p]
        p += 1
        if t == 0x00:
            v = struct.unpack(">d", b[p:p + 8])[0]
            p += 8
            return int(v) if v.is_integer() else v
        if t == 0x01:
            p += 1
            return bool(b[p - 1])
        if t == 0x02:
            n = int.from_bytes(b[p:p + 2], "big")
            p += 2
            p += n
            return b[p - n:p].decode("utf-8", "replace")
        if t == 0x0C:
            n = int.from_bytes(b[p:p + 4], "big")
            p += 4 + n
            return b[p - n:p].decode("utf-8", "replace")
        if t in (0x03, 0x08):
            if t == 0x08:
                p += 4
            props = []
            while p + 3 <= len(b):
                n = int.from_bytes(b[p:p + 2], "big")
                if n == 0 and b[p + 2] == 0x09:
                    p += 3
                    break
                p += 2
                k = b[p:p + n].decode("utf-8", "replace")
                p += n
                props.append((k, val()))
            return ("object", props)
        if t in (0x05, 0x06):
            return None
        if t == 0x0A:
            n = int.from_bytes(b[p:p + 4], "big")
            p += 4
            return ("array", [val() for _ in range(n)])
        if t == 0x0B:
            p += 10
            return ("date", None)
        raise ValueError("AMF0 type 0x%02x" % t)

    out = []
    try:
        while p < len(b):
            out.append(val())
    except (IndexError, ValueError, struct.error):
        pass
    return out


def find_code(vals):
    for v in vals:
        if isinstance(v, tuple) and v[0] in ("object", "array"):
            items = v[1] if v[0] == "object" else [(None, x) for x in v[1]]
            for k, x in items:
                if k == "code" and isinstance(x, str):
                    return x
                r = find_code([x])
                if r is not None:
                    return r
    return None


def rtmp_from_plaintext(c2s, s2c, ts_of):
    """RTMP handshake + messages from the two plaintext byte streams (bytes, per-byte frames)."""
    hs = OrderedDict([
        ("c0_version", c2s[0][0] if c2s[0] else None),
        ("s0_version", s2c[0][0] if s2c[0] else None),
        ("c0c1_frame", c2s[1][1536] if len(c2s[0]) >= 1537 else None),
        ("s0s1s2_frame", s2c[1][3072] if len(s2c[0]) >= 3073 else None),
        ("c2_frame", c2s[1][3072] if len(c2s[0]) >= 3073 else None)])
    for k in ("c0c1_frame", "s0s1s2_frame", "c2_frame"):
        hs[k + "_ts"] = ts_of.get(hs[k])
    msgs = []
    counts = OrderedDict()
    for d, (data, frames) in (("c2s", c2s), ("s2c", s2c)):
        parsed = own_parse(data, frames, 3073) if len(data) > 3073 else []
        c = {}
        for m in parsed:
            typ = m["type"]
            vals = amf0_values(m["body"]) if typ in (18, 20) else []
            command = vals[0] if typ in (15, 17, 18, 20) and vals and isinstance(vals[0], str) \
                else None
            txid = vals[1] if typ in (17, 20) and len(vals) > 1 and \
                isinstance(vals[1], (int, float)) and not isinstance(vals[1], bool) else None
            code = find_code(vals) if typ in (15, 17, 18, 20) else None
            msgs.append((m["frame"], d, OrderedDict([
                ("dir", d), ("frame", m["frame"]), ("frame_ts", ts_of.get(m["frame"])),
                ("type", typ), ("fmt", m["fmt"]), ("csid", m["csid"]),
                ("stream_id", m["stream_id"]), ("timestamp", m["timestamp"]),
                ("length", m["length"]), ("command", command), ("transaction_id", txid),
                ("code", code)])))
            c[typ] = c.get(typ, 0) + 1
        counts[d] = OrderedDict((str(k), c[k]) for k in sorted(c))
    # stable merge of the two directions by completing frame (own_parse keeps order per dir)
    order = sorted(range(len(msgs)), key=lambda i: (msgs[i][0], i))
    return hs, counts, [msgs[i][2] for i in order]


def keylog_entries(path):
    entries = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and not line.startswith("#"):
                entries.append((parts[0], parts[1].lower()))
    return entries


def fixture_for(path, keylog_path, version):
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    keylog = os.path.relpath(os.path.abspath(keylog_path), directory)
    entries = keylog_entries(keylog_path)
    pcmd, root = read_pdml(name, directory, keylog)
    conns, pending = build(root)
    ts_of = {}
    for pkt in root.iter("packet"):
        pi = packet_info(pkt)
        ts_of[pi["frame"]] = pi["ts"]
    commands = [" ".join(pcmd)]
    notes = list(NOTES)
    out = []
    for st, c in conns.items():
        fcmd, n0, n1, n0_ep = follow(name, directory, keylog, st)
        commands.append(" ".join(fcmd))
        streams = {}
        for d in ("c2s", "s2c"):
            data = bytearray()
            frames = []
            for fr, _, b in c.data[d]:
                data.extend(b)
                frames.extend([fr] * len(b))
            streams[d] = (bytes(data), frames)
        # follow output: lines without a tab are "Node 0"; which side that is varies, so the
        # directions are matched against the PDML bytes.
        if (n0, n1) == (streams["c2s"][0], streams["s2c"][0]):
            fmatch = "Node 0 (%s) = client" % n0_ep
        elif (n1, n0) == (streams["c2s"][0], streams["s2c"][0]):
            fmatch = "Node 0 (%s) = server" % n0_ep
        else:
            fmatch = None
        notes.append("Check, TLS connection %s: `follow,tls,raw,%d` output %s the decrypted "
                     "bytes per frame from PDML in both directions (%d + %d bytes)%s."
                     % (c.client, st, "equals" if fmatch else "DIFFERS FROM",
                        len(streams["c2s"][0]), len(streams["s2c"][0]),
                        "; follow labels " + fmatch if fmatch else
                        " (follow: %d + %d bytes)" % (len(n0), len(n1))))
        labels = sorted(lbl for lbl, cr in entries if cr == c.client_random)
        if not labels:
            notes.append("Check, TLS connection %s: the key log has NO line for its client "
                         "random." % c.client)
        undec = sum(v.get("undecrypted", 0) for v in
                    (c.records["c2s"].get("decrypted", {}), c.records["s2c"].get("decrypted", {})))
        if undec:
            notes.append("TLS connection %s: %d records were not decrypted." % (c.client, undec))
        plaintext = OrderedDict()
        for d in ("c2s", "s2c"):
            data = streams[d][0]
            per_frame = []
            for fr, _, b in c.data[d]:
                if per_frame and per_frame[-1][0] == fr:
                    per_frame[-1][1] += len(b)
                else:
                    per_frame.append([fr, len(b)])
            plaintext[d] = OrderedDict([
                ("length", len(data)), ("sha256", hashlib.sha256(data).hexdigest()),
                ("head_hex", data[:HEAD_BYTES].hex()), ("frames", per_frame)])
        rhs, rcounts, rmsgs = rtmp_from_plaintext(streams["c2s"], streams["s2c"], ts_of)
        recs = OrderedDict()
        for d in ("c2s", "s2c"):
            recs[d] = OrderedDict()
            for kind in ("wire", "decrypted"):
                cnt = c.records[d].get(kind, {})
                recs[d][kind] = OrderedDict(
                    (str(k), cnt[k]) for k in sorted(cnt, key=lambda x: (isinstance(x, str), x)))
        out.append(OrderedDict([
            ("tcp_stream", st), ("client", c.client), ("server", c.server),
            ("version", c.version), ("version_hex", c.version_hex),
            ("cipher_suite", c.suite), ("cipher_suite_hex", c.suite_hex),
            ("sni", c.sni), ("alpn_offered", c.alpn_offered), ("alpn", c.alpn),
            ("client_random", c.client_random), ("keylog_labels", labels),
            ("client_hello_frame", c.ch[0] if c.ch else None),
            ("client_hello_ts", c.ch[1] if c.ch else None),
            ("server_hello_frame", c.sh[0] if c.sh else None),
            ("server_hello_ts", c.sh[1] if c.sh else None),
            ("client_finished_frame", c.fin[0] if c.fin else None),
            ("client_finished_ts", c.fin[1] if c.fin else None),
            ("client_finished_record", c.fin_record),
            # The handshake ends with the last Finished: the client's in TLS 1.3 (and TLS 1.2
            # resumption), the server's in a full TLS 1.2 handshake.
            ("last_finished_frame", next((h["frame"] for h in reversed(c.handshake) if h["type"] == 20), None)),
            ("last_finished_ts", next((h["ts"] for h in reversed(c.handshake) if h["type"] == 20), None)),
            ("handshake_messages", [[h["dir"], h["frame"], h["type"], h["name"], h["encrypted"]]
                                    for h in c.handshake]),
            ("alerts", list(c.alerts)),
            ("records", recs),
            ("plaintext", plaintext),
            ("rtmp_handshake", rhs),
            ("message_counts", rcounts),
            ("messages", rmsgs)]))
    if pending:
        notes.append("Frames with TLS before any ClientHello of their TCP connection (not "
                     "counted): %s." % pending[:20])
    outdir = os.environ.get("FIXTURE_OUT") or os.path.join(directory, "fixtures")
    os.makedirs(outdir, exist_ok=True)
    doc = OrderedDict([("capture", name), ("keylog", keylog), ("tshark_version", version),
                       ("commands", commands), ("flows", out), ("notes", notes)])
    with open(os.path.join(outdir, name + ".tls.json"), "w") as f:
        f.write(dump_rtmp(doc))
    return out


def default_keylog(path):
    base = path
    for ext in (".pcapng", ".pcap"):
        if base.endswith(ext):
            base = base[:-len(ext)]
            break
    return base + ".keys"


def main(argv):
    keylog = None
    paths = []
    args = argv[1:]
    i = 0
    while i < len(args):
        if args[i] in ("-k", "--keylog") and i + 1 < len(args):
            keylog = args[i + 1]
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
        k = keylog or default_keylog(p)
        if not os.path.isfile(k):
            print("%s: no key log %s" % (p, k), file=sys.stderr)
            return 1
        conns = fixture_for(p, k, version)
        for c in conns:
            print("%s: %s -> %s %s %s sni=%s alpn=%s plaintext c2s %d s2c %d bytes, %d RTMP "
                  "messages %s" % (
                      os.path.basename(p), c["client"], c["server"], c["version"],
                      c["cipher_suite"], c["sni"], c["alpn"],
                      c["plaintext"]["c2s"]["length"], c["plaintext"]["s2c"]["length"],
                      len(c["messages"]),
                      json.dumps(c["message_counts"], separators=(",", ":"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
