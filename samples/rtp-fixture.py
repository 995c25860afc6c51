#!/usr/bin/env python3
"""Write tshark-derived RTP/RTCP/RTSP/SIP reference fixtures for sample captures.

usage: python3 samples/rtp-fixture.py [--decode-as udp.port==N,rtp ...] CAPTURE...
       FIXTURE_OUT=DIR python3 samples/rtp-fixture.py CAPTURE...

For every capture F this writes fixtures/F.rtp.json next to the capture (or
$FIXTURE_OUT/F.rtp.json) with the sections

  rtsp         every RTSP request/response (method, url, status, CSeq, Session,
               Transport, request/response pairing and response time)
  sdp          every SDP body (exact text) and where it came from
  rtp_packets  one entry per RTP packet (also several per TCP segment for
               RTSP-interleaved "$" frames)
  rtp_streams  tshark's `-z rtp,streams` text, and per-stream statistics this
               script computes itself from rtp_packets (RFC 3550 A.1 / A.8)
  rtcp         one entry per RTCP compound packet (SR/RR/SDES/BYE/...)
  sip          every SIP message (method or status, Call-ID, CSeq, SDP port)
  checks       independent counts (own parser over UDP payloads and over the
               reassembled RTSP TCP byte streams) compared to tshark's

tshark is run in the capture's directory with the bare file name, so the
recorded commands are machine independent.  The exit status is 1 when an
independent count disagrees with tshark.  Standard library only; output is
deterministic for a given capture and tshark version.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal
from tsharklib import run

# Decode-as options per capture (RTP/RTCP on ports that no signalling in the
# capture announces).  --decode-as on the command line adds to every capture.
DECODE_AS = {
    "rtp-udp-random-port.pcap": [
        "udp.port==41234,rtp", "udp.port==41235,rtcp",    # PCMU
        "udp.port==42346,rtp", "udp.port==42347,rtcp",    # H.264, PT 96
    ],
    "rtp-loss-jitter.pcap": [
        "udp.port==40000,rtp", "udp.port==40001,rtcp",    # sender -> relay
        "udp.port==40100,rtp", "udp.port==40101,rtcp",    # relay -> receiver
    ],
}

# RFC 3551 static payload types: clock rates
STATIC_CLOCK = {0: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000, 8: 8000, 9: 8000,
                10: 44100, 11: 44100, 12: 8000, 13: 8000, 14: 90000, 15: 8000, 16: 11025,
                17: 22050, 18: 8000, 25: 90000, 26: 90000, 28: 90000, 31: 90000, 32: 90000,
                33: 90000, 34: 90000}

RTCP_TYPES = {192: "FIR", 193: "NACK", 194: "SMPTETC", 195: "IJ", 200: "SR", 201: "RR",
              202: "SDES", 203: "BYE", 204: "APP", 205: "RTPFB", 206: "PSFB", 207: "XR",
              208: "AVB", 209: "RSI", 210: "TOKEN"}


def tshark_version():
    first = subprocess.run(["tshark", "--version"], check=True, capture_output=True,
                           text=True).stdout.splitlines()[0]
    m = re.match(r"(TShark \(Wireshark\) \S+?)(?: \(|\.?$)", first)
    return m.group(1) if m else first.strip()


def decode_args(specs):
    out = []
    for s in specs:
        out += ["-d", s]
    return out


def unesc(s):
    """PDML `show` text keeps CR/LF as the two-character escapes."""
    return s.replace("\\r", "").replace("\\n", "").strip()


def hexstr(v):
    return bytes.fromhex(v).decode("utf-8", "replace") if v else ""


def ep(ip, port):
    if ip is None:
        return None
    return ("[%s]:%s" % (ip, port)) if ":" in ip else ("%s:%s" % (ip, port))


def fields_of(elem, name):
    return [f.get("show") for f in elem.iter("field") if f.get("name") == name]


def first(elem, name):
    for f in elem.iter("field"):
        if f.get("name") == name:
            return f.get("show")
    return None


def sdp_text(sdp):
    lines = []
    for f in sdp:
        if f.tag == "field" and f.get("value") and f.get("name", "").startswith("sdp."):
            lines.append(hexstr(f.get("value")).rstrip("\r\n"))
    return lines


def rtcp_packet(p):
    """One RTCP packet (one `rtcp` proto element) -> dict."""
    pt = int(first(p, "rtcp.pt"))
    out = {"type": RTCP_TYPES.get(pt, str(pt)), "pt": pt}
    if pt in (200, 201):
        out["ssrc"] = first(p, "rtcp.senderssrc")
        if pt == 200:
            out["ntp_msw"] = int(first(p, "rtcp.timestamp.ntp.msw"))
            out["ntp_lsw"] = int(first(p, "rtcp.timestamp.ntp.lsw"))
            out["rtp_timestamp"] = int(first(p, "rtcp.timestamp.rtp"))
            out["sender_packet_count"] = int(first(p, "rtcp.sender.packetcount"))
            out["sender_octet_count"] = int(first(p, "rtcp.sender.octetcount"))
        blocks, cur = [], None
        keys = {"rtcp.ssrc.fraction": "fraction_lost", "rtcp.ssrc.cum_nr": "cumulative_lost",
                "rtcp.ssrc.ext_high": "ext_highest_seq", "rtcp.ssrc.jitter": "jitter",
                "rtcp.ssrc.lsr": "lsr", "rtcp.ssrc.dlsr": "dlsr"}
        for f in p.iter("field"):
            n = f.get("name")
            if n == "rtcp.ssrc.identifier":
                cur = {"ssrc": f.get("show")}
                blocks.append(cur)
            elif cur is not None and n in keys:
                cur[keys[n]] = int(f.get("show"))
        out["report_blocks"] = blocks
    elif pt == 202:
        items = []
        for f in p.iter("field"):
            if f.get("name") == "rtcp.sdes.ssrc":
                items.append({"ssrc": f.get("show")})
            elif f.get("name") == "rtcp.sdes.text" and items:
                items[-1].setdefault("text", []).append(f.get("show"))
        out["chunks"] = items
    elif pt == 203:
        out["ssrcs"] = fields_of(p, "rtcp.ssrc.identifier")
    return out


def parse_pdml(cmd, cwd):
    """Walk tshark's PDML; return per-kind lists in frame order."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    rtsp, sdps, rtp, rtcp, sip = [], [], [], [], []
    for _, pkt in ET.iterparse(proc.stdout, events=("end",)):
        if pkt.tag != "packet":
            continue
        protos = [c for c in pkt if c.tag == "proto"]
        byname = {}
        for pr in protos:
            byname.setdefault(pr.get("name"), pr)
        fr = byname["frame"]
        num = int(first(fr, "frame.number"))
        ts = first(fr, "frame.time_epoch")
        ip = byname.get("ip") or byname.get("ipv6")
        src_ip = first(ip, "ip.src") or first(ip, "ipv6.src") if ip is not None else None
        dst_ip = first(ip, "ip.dst") or first(ip, "ipv6.dst") if ip is not None else None
        if "tcp" in byname:
            tr, sp, dp = "tcp", first(byname["tcp"], "tcp.srcport"), first(byname["tcp"], "tcp.dstport")
            stream = int(first(byname["tcp"], "tcp.stream"))
        elif "udp" in byname:
            tr, sp, dp = "udp", first(byname["udp"], "udp.srcport"), first(byname["udp"], "udp.dstport")
            stream = int(first(byname["udp"], "udp.stream"))
        else:
            tr = sp = dp = stream = None
        base = {"frame": num, "frame_ts": ts, "src": ep(src_ip, sp), "dst": ep(dst_ip, dp)}
        channel = None
        compound = None
        last_msg = None
        prev = None
        for pr in protos:
            name = pr.get("name")
            if name == "rtsp":
                ch = first(pr, "rtsp.channel")
                if ch is not None:
                    channel = int(ch, 16)
                    prev = name
                    continue
                m = dict(base, transport=tr, tcp_stream=stream)
                req = first(pr, "rtsp.request")
                if req is not None:
                    m.update(kind="request", method=first(pr, "rtsp.method"), url=first(pr, "rtsp.url"))
                else:
                    m.update(kind="response", status=int(first(pr, "rtsp.status")),
                             status_line=unesc(first(pr, "rtsp.response") or ""))
                hdr = {}
                for f in pr:
                    if f.tag == "field" and f.get("name") == "" and ":" in (f.get("show") or ""):
                        k, v = unesc(f.get("show")).split(":", 1)
                        hdr.setdefault(k.strip().lower(), v.strip())
                cseq = hdr.get("cseq")
                m["cseq"] = int(cseq) if cseq and cseq.isdigit() else cseq
                m["session"] = first(pr, "rtsp.session")
                m["transport_header"] = first(pr, "rtsp.transport")
                m["content_type"] = first(pr, "rtsp.content-type")
                rtsp.append(m)
                last_msg = ("rtsp", m)
                for sd in pr.iter("proto"):
                    if sd.get("name") == "sdp":
                        sdps.append(dict(base, carrier="rtsp", cseq=m["cseq"],
                                         message=m.get("method") or m.get("status"),
                                         lines=sdp_text(sd)))
            elif name == "sip":
                m = dict(base, transport=tr)
                meth = first(pr, "sip.Method")
                code = first(pr, "sip.Status-Code")
                m["method"] = meth if first(pr, "sip.Request-Line") is not None else None
                m["status"] = int(code) if code is not None else None
                m["call_id"] = first(pr, "sip.Call-ID")
                m["cseq"] = first(pr, "sip.CSeq")
                m["sdp_media"] = []
                sip.append(m)
                last_msg = ("sip", m)
                for sd in pr.iter("proto"):
                    if sd.get("name") == "sdp":
                        _attach_sip_sdp(m, sd, base, sdps)
            elif name == "sdp":
                if last_msg and last_msg[0] == "sip":
                    _attach_sip_sdp(last_msg[1], pr, base, sdps)
                elif last_msg:
                    sdps.append(dict(base, carrier="rtsp", cseq=last_msg[1]["cseq"],
                                     message=last_msg[1].get("method") or last_msg[1].get("status"),
                                     lines=sdp_text(pr)))
            elif name == "rtp":
                r = dict(base)
                if tr == "tcp":
                    r["channel"] = channel
                r.update(ssrc=first(pr, "rtp.ssrc"), seq=int(first(pr, "rtp.seq")),
                         timestamp=int(first(pr, "rtp.timestamp")), pt=int(first(pr, "rtp.p_type")),
                         marker=int(first(pr, "rtp.marker")))
                rtp.append(r)
            elif name == "rtcp":
                if prev != "rtcp":
                    compound = dict(base)
                    if tr == "tcp":
                        compound["channel"] = channel
                    compound["types"] = []
                    compound["packets"] = []
                    rtcp.append(compound)
                rp = rtcp_packet(pr)
                compound["types"].append(rp["type"])
                compound["packets"].append(rp)
            prev = name
        pkt.clear()
    proc.wait()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return rtsp, sdps, rtp, rtcp, sip


def _attach_sip_sdp(m, sd, base, sdps):
    lines = sdp_text(sd)
    for ln in lines:
        mm = re.match(r"m=(\S+) (\d+)", ln)
        if mm:
            m["sdp_media"].append({"media": mm.group(1), "port": int(mm.group(2))})
    sdps.append(dict(base, carrier="sip", cseq=m["cseq"], message=m["method"] or m["status"],
                     lines=lines))


# ---------------------------------------------------------------------------
def clock_rates(sdps):
    rates, conflicts = {}, set()
    for s in sdps:
        for ln in s["lines"]:
            mm = re.match(r"a=rtpmap:(\d+) ([^/]+)/(\d+)", ln)
            if mm:
                pt, rate = int(mm.group(1)), int(mm.group(3))
                if rates.get(pt, rate) != rate:
                    conflicts.add(pt)
                rates[pt] = rate
    return rates, conflicts


def stream_stats(pkts, clock):
    """RFC 3550 A.1 sequence accounting and A.8 jitter over arrival order."""
    base = pkts[0]["seq"]
    max_seq, cycles = base, 0
    seen, dups, ooo = set(), 0, 0
    t0 = Decimal(pkts[0]["frame_ts"])
    jit, jits, max_delta = 0.0, [], None
    prev_t = prev_ts = None
    for p in pkts:
        seq = p["seq"]
        udelta = (seq - max_seq) & 0xFFFF
        if udelta < 3000:              # in order, with permissible gap (MAX_DROPOUT)
            if seq < max_seq:
                cycles += 65536
            max_seq = seq
            ext = cycles + seq
        elif udelta <= 65536 - 100:    # MAX_MISORDER: a very large jump
            ext = cycles + seq         # (no restart in these captures; counted as is)
        else:                          # duplicate or reordered
            ext = cycles + max_seq - ((max_seq - seq) & 0xFFFF)
        if ext in seen:
            dups += 1
        elif ext < cycles + max_seq:
            ooo += 1
        seen.add(ext)
        t = (Decimal(p["frame_ts"]) - t0)
        if prev_t is not None:
            d = float(t - prev_t) * 1000
            max_delta = d if max_delta is None else max(max_delta, d)
            if clock:
                dts = (p["timestamp"] - prev_ts) & 0xFFFFFFFF
                if dts >= 0x80000000:
                    dts -= 0x100000000
                D = float(t - prev_t) * clock - dts
                jit += (abs(D) - jit) / 16.0
                jits.append(jit)
        prev_t, prev_ts = t, p["timestamp"]
    expected = cycles + max_seq - base + 1
    out = {
        "packets": len(pkts), "first_seq": base, "last_seq": pkts[-1]["seq"],
        "highest_ext_seq": cycles + max_seq, "seq_cycles": cycles // 65536,
        "expected": expected, "lost": expected - len(pkts),
        "lost_unique": expected - len(seen), "duplicates": dups, "out_of_order": ooo,
        "max_delta_ms": round(max_delta, 3) if max_delta is not None else None,
    }
    if clock and jits:
        out["jitter_max_ms"] = round(max(jits) / clock * 1000, 3)
        out["jitter_mean_ms"] = round(sum(jits) / len(jits) / clock * 1000, 3)
        out["jitter_last_ms"] = round(jits[-1] / clock * 1000, 3)
        out["jitter_updates"] = len(jits)
    else:
        out["jitter_max_ms"] = out["jitter_mean_ms"] = out["jitter_last_ms"] = None
        out["jitter_updates"] = 0
    return out


def compute_streams(rtp, rates):
    groups = {}
    for p in rtp:
        key = (p["src"], p["dst"], p.get("channel"), p["ssrc"])
        groups.setdefault(key, []).append(p)
    out = []
    for (src, dst, ch, ssrc), pk in groups.items():
        pts = sorted({p["pt"] for p in pk})
        pt = pk[0]["pt"]
        if pt in rates:
            clock, how = rates[pt], "sdp rtpmap"
        elif pt in STATIC_CLOCK:
            clock, how = STATIC_CLOCK[pt], "static payload type (RFC 3551)"
        else:
            clock, how = None, "unknown"
        s = {"ssrc": ssrc, "src": src, "dst": dst}
        if ch is not None:
            s["channel"] = ch
        s.update(pt=pts if len(pts) > 1 else pt, clock_rate=clock, clock_rate_from=how,
                 first_ts=pk[0]["frame_ts"], last_ts=pk[-1]["frame_ts"])
        s.update(stream_stats(pk, clock))
        out.append(s)
    out.sort(key=lambda s: (Decimal(s["first_ts"]), s["src"], s["dst"], s["ssrc"]))
    return out


# ---------------------------------------------------------------------------
# independent counting (own parsing, no tshark RTP/RTCP/RTSP dissection)
def classify(payload):
    """'rtp' / 'rtcp' / None for one datagram or interleaved frame payload."""
    if len(payload) < 8 or payload[0] >> 6 != 2:
        return None, None
    if 192 <= payload[1] <= 223:
        return "rtcp", None
    if len(payload) < 12:
        return None, None
    return "rtp", ("0x%08x" % int.from_bytes(payload[8:12], "big"),
                   int.from_bytes(payload[2:4], "big"))


def own_udp(name, cwd):
    cmd = ["tshark", "-r", name, "-n", "-Y", "udp", "-T", "fields", "-E", "separator=/t",
           "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "ipv6.dst",
           "-e", "udp.dstport", "-e", "udp.payload"]
    count = {}
    for line in run(cmd, cwd).splitlines():
        v = line.split("\t")
        if len(v) < 7:
            continue
        kind, info = classify(bytes.fromhex(v[6]))
        if kind == "rtp":
            key = (ep(v[0] or v[1], v[2]), ep(v[3] or v[4], v[5]), None, info[0])
            count.setdefault(key, []).append(info[1])
    return shlex.join(cmd), count


def own_interleaved(name, cwd, tcp_streams):
    """Walk the RTSP TCP byte streams ('$' frames and RTSP messages) ourselves."""
    count, cmds = {}, []
    for st in sorted(tcp_streams):
        cmd = ["tshark", "-r", name, "-n", "-q", "-z", "follow,tcp,raw,%d" % st]
        cmds.append(shlex.join(cmd))
        nodes, data = {}, {0: bytearray(), 1: bytearray()}
        for line in run(cmd, cwd).splitlines():
            mm = re.match(r"Node ([01]): (.*)$", line)
            if mm:
                nodes[int(mm.group(1))] = mm.group(2)
                continue
            if re.fullmatch(r"\t?[0-9a-f]+", line):
                data[1 if line.startswith("\t") else 0] += bytes.fromhex(line.strip())
        for d in (0, 1):
            buf, i = data[d], 0
            src, dst = nodes.get(d), nodes.get(1 - d)
            while i < len(buf):
                if buf[i] == 0x24:  # '$'
                    if i + 4 > len(buf):
                        break
                    ch, ln = buf[i + 1], int.from_bytes(buf[i + 2:i + 4], "big")
                    kind, info = classify(bytes(buf[i + 4:i + 4 + ln]))
                    if kind == "rtp":
                        count.setdefault((src, dst, ch, info[0]), []).append(info[1])
                    i += 4 + ln
                else:
                    end = buf.find(b"\r\n\r\n", i)
                    if end < 0:
                        break
                    head = bytes(buf[i:end]).decode("latin-1")
                    mm = re.search(r"(?im)^content-length:\s*(\d+)", head)
                    i = end + 4 + (int(mm.group(1)) if mm else 0)
    return cmds, count


# ---------------------------------------------------------------------------
STREAM_ROW = re.compile(
    r"^\s*([\d.]+)\s+([\d.]+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+(.+?)\s+(\d+)"
    r"\s+(-?\d+) \(([-\d.]+)%\)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)"
    r"\s+([-\d.]+)\s*(X?)\s*$")


def parse_rtp_streams(text):
    """Rows of `tshark -q -z rtp,streams` as dicts (numbers as tshark printed them)."""
    rows = []
    for line in text.splitlines():
        m = STREAM_ROW.match(line)
        if not m:
            continue
        g = m.groups()
        rows.append({"src": ep(g[2], g[3]), "dst": ep(g[4], g[5]), "ssrc": g[6].lower(),
                     "payload": g[7], "packets": int(g[8]), "lost": int(g[9]),
                     "max_delta_ms": float(g[13]), "mean_jitter_ms": float(g[15]),
                     "max_jitter_ms": float(g[16]), "problem": g[17] == "X"})
    return rows


def compare_streams(rows, streams):
    """Where tshark's rtp,streams table and this script's numbers differ."""
    diffs = []
    for r in rows:
        mine = [s for s in streams if (s["src"], s["dst"], s["ssrc"]) == (r["src"], r["dst"], r["ssrc"])]
        if len(mine) != 1:
            diffs.append({"src": r["src"], "dst": r["dst"], "ssrc": r["ssrc"],
                          "what": "stream matches %d computed streams" % len(mine)})
            continue
        s = mine[0]
        d = {}
        if r["packets"] != s["packets"]:
            d["packets"] = [r["packets"], s["packets"]]
        if r["lost"] != s["lost"]:
            d["lost"] = [r["lost"], s["lost"]]
        if s["max_delta_ms"] is not None and abs(r["max_delta_ms"] - s["max_delta_ms"]) > 0.002:
            d["max_delta_ms"] = [r["max_delta_ms"], s["max_delta_ms"]]
        if s["jitter_max_ms"] is not None and abs(r["max_jitter_ms"] - s["jitter_max_ms"]) > 0.002:
            d["max_jitter_ms"] = [r["max_jitter_ms"], s["jitter_max_ms"]]
        if d:
            d.update(src=r["src"], dst=r["dst"], ssrc=r["ssrc"], what="[tshark, computed]")
            diffs.append(d)
    return diffs


def pair_rtsp(rtsp):
    """Pair requests and responses on the same TCP stream by CSeq."""
    open_req = {}
    for m in rtsp:
        key = (m["tcp_stream"], m["cseq"])
        if m["kind"] == "request":
            open_req[key] = m
            m["response_frame"] = None
            m["response_time_ms"] = None
        else:
            req = open_req.pop(key, None)
            m["request_frame"] = req["frame"] if req else None
            if req:
                req["response_frame"] = m["frame"]
                req["response_time_ms"] = round(
                    float(Decimal(m["frame_ts"]) - Decimal(req["frame_ts"])) * 1000, 3)


def dump(obj, f):
    """JSON with one line per list item for the long lists (stable, diffable)."""
    f.write("{\n")
    keys = list(obj)
    for n, k in enumerate(keys):
        v = obj[k]
        f.write(" %s: " % json.dumps(k))
        if isinstance(v, list) and v and isinstance(v[0], dict):
            f.write("[\n" + ",\n".join("  " + json.dumps(x, sort_keys=False) for x in v) + "\n ]")
        elif isinstance(v, dict):
            f.write(json.dumps(v, indent=2).replace("\n", "\n "))
        else:
            f.write(json.dumps(v))
        f.write(",\n" if n < len(keys) - 1 else "\n")
    f.write("}\n")


def fixture(path, extra_decode, version):
    cwd = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    decode = DECODE_AS.get(name, []) + extra_decode
    dargs = decode_args(decode)
    notes = []

    pdml_cmd = ["tshark", "-r", name, "-n"] + dargs + ["-Y", "rtsp || sip || sdp || rtp || rtcp",
                                                        "-T", "pdml"]
    rtsp, sdps, rtp, rtcp, sip = parse_pdml(pdml_cmd, cwd)

    # the same RTP packets once more from `-T fields -E occurrence=a`: several
    # RTP packets of one frame come out as parallel lists that must line up
    fields_cmd = ["tshark", "-r", name, "-n"] + dargs + [
        "-Y", "rtp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
        "-e", "frame.number", "-e", "rtp.ssrc", "-e", "rtp.seq", "-e", "rtp.timestamp",
        "-e", "rtp.p_type", "-e", "rtp.marker"]
    flat = []
    for line in run(fields_cmd, cwd).splitlines():
        v = line.split("\t")
        cols = [x.split(",") for x in v[1:6]]
        if len({len(c) for c in cols}) != 1:
            raise SystemExit("%s: frame %s: rtp field lists of unequal length" % (name, v[0]))
        for ssrc, seq, ts, pt, mk in zip(*cols):
            flat.append((int(v[0]), ssrc, int(seq), int(ts), int(pt), 1 if mk in ("1", "True") else 0))
    mine = [(p["frame"], p["ssrc"], p["seq"], p["timestamp"], p["pt"], p["marker"]) for p in rtp]
    fields_match = flat == mine

    streams_cmd = ["tshark", "-r", name, "-n"] + dargs + ["-q", "-z", "rtp,streams"]
    streams_txt = run(streams_cmd, cwd)

    rates, conflicts = clock_rates(sdps)
    if conflicts:
        notes.append("payload types with different clock rates in different SDPs: %s"
                     % sorted(conflicts))
    streams = compute_streams(rtp, rates)
    ts_rows = parse_rtp_streams(streams_txt)
    ts_diffs = compare_streams(ts_rows, streams)
    if ts_diffs:
        notes.append("tshark's rtp,streams differs from the per-packet computation for %d of %d "
                     "streams (see rtp_streams.tshark_vs_computed); the per-packet numbers were "
                     "checked against an independent parser" % (len(ts_diffs), len(ts_rows)))
    if rtsp:
        notes.append("tshark 4.0 has no RTSP CSeq, response_in or response-time fields: cseq is "
                     "read from tshark's unnamed header items, and requests and responses are "
                     "paired by this script (same TCP stream and CSeq); response_time_ms is computed")
    pair_rtsp(rtsp)

    # independent counts
    udp_cmd, own = own_udp(name, cwd)
    tcp_streams = {m["tcp_stream"] for m in rtsp if m["transport"] == "tcp"}
    il_cmds, own_il = own_interleaved(name, cwd, tcp_streams)
    own.update(own_il)
    ts_groups = {}
    for p in rtp:
        ts_groups.setdefault((p["src"], p["dst"], p.get("channel"), p["ssrc"]), []).append(p["seq"])
    checks = []
    ok = fields_match
    for key in sorted(set(own) | set(ts_groups), key=lambda k: tuple(str(x) for x in k)):
        a, b = own.get(key, []), ts_groups.get(key, [])
        same = a == b
        ok = ok and same
        checks.append({"src": key[0], "dst": key[1], "channel": key[2], "ssrc": key[3],
                       "tshark_packets": len(b), "own_parser_packets": len(a),
                       "same_seq_sequence": same})
    own_total = sum(len(v) for v in own.values())

    out = {
        "capture": name,
        "tshark_version": version,
        "decode_as": decode,
        "commands": {"pdml": shlex.join(pdml_cmd), "rtp_fields": shlex.join(fields_cmd),
                     "rtp_streams": shlex.join(streams_cmd), "own_udp_count": udp_cmd,
                     "own_interleaved_count": il_cmds},
        "counts": {"rtsp_messages": len(rtsp), "sdp_bodies": len(sdps), "rtp_packets": len(rtp),
                   "rtp_streams": len(streams), "rtcp_compounds": len(rtcp),
                   "rtcp_packets": sum(len(c["packets"]) for c in rtcp), "sip_messages": len(sip),
                   "rtp_packets_own_parser": own_total},
        "checks": {"ok": ok, "pdml_equals_fields_occurrence_a": fields_match,
                   "per_stream": checks},
        "clock_rates_from_sdp": {str(k): v for k, v in sorted(rates.items())},
        "notes": notes,
        "rtsp": rtsp,
        "sdp": sdps,
        "rtp_streams": {"tshark_rtp_streams_text": streams_txt, "tshark_rtp_streams": ts_rows,
                        "tshark_vs_computed": ts_diffs, "computed": streams},
        "rtp_packets": rtp,
        "rtcp": rtcp,
        "sip": sip,
    }
    outdir = os.environ.get("FIXTURE_OUT") or os.path.join(cwd, "fixtures")
    os.makedirs(outdir, exist_ok=True)
    dest = os.path.join(outdir, name + ".rtp.json")
    with open(dest, "w") as f:
        dump(out, f)
    print("%s: %d rtsp, %d sdp, %d rtp in %d streams, %d rtcp, %d sip; checks %s"
          % (name, len(rtsp), len(sdps), len(rtp), len(streams), len(rtcp), len(sip),
             "ok" if ok else "FAILED"), file=sys.stderr)
    return ok


def main(argv):
    extra, files = [], []
    it = iter(argv)
    for a in it:
        if a in ("-d", "--decode-as"):
            extra.append(next(it))
        else:
            files.append(a)
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    version = tshark_version()
    ok = True
    for f in files:
        ok = fixture(f, extra, version) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
