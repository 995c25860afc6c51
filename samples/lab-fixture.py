#!/usr/bin/env python3
"""Write tshark/ffprobe-derived latency-lab fixtures: RTMP ingest matched to HLS/DASH delivery.

usage: python3 samples/lab-fixture.py CAPTURE...
       python3 samples/lab-fixture.py --verify-flv PUBLISHED.flv CAPTURE

For every CAPTURE this writes `fixtures/<CAPTURE name>.lab.json` next to it (or into
$FIXTURE_OUT).  Every value comes from tshark (run in the capture's directory with the bare
file name, so no command holds a path of the machine), from ffprobe on the HTTP objects tshark
exports (`--export-objects http,DIR`), from a few lines of Python reading the fMP4 boxes of
those objects, and from the exported playlist/MPD bodies.  The only other input is, for a
capture made through a delay relay, the sidecar `<capture without .pcap>.relay.json` next to it
(its `relay_port` and `upstream_port` tell the player leg from the server leg; `delay_ms` is
the delay the relay was asked for).  Standard library only; deterministic for a given capture,
sidecar, tshark and ffprobe.  Times are tshark's frame.time_epoch strings cut to 6 decimals
(the captures have microsecond timestamps, the 3 digits cut are always 000): no float rounding.

Sections:

rtmp_video: every FLV video message (type 9) of each publishing RTMP connection (one that
  sends `publish`), in the order tshark reports them: tcp stream, frame number and time of the
  frame in which tshark shows the message (the frame that COMPLETES it), chunk header format,
  absolute RTMP timestamp in ms, keyframe (FLV frame type 1), sequence_header and
  end_of_sequence (AVC/HEVC packet type 0 and 2, the first byte of tshark's rtmpt.video.data:
  tshark 4.0 does not decode the AVC packet type).  ffmpeg ends the stream with an AVC
  end-of-sequence message whose FLV frame type is 1, so tshark shows it as a keyframe; it
  carries no picture and is not a keyframe for the pipeline (nor are sequence headers).  tshark 4.0 and RTMP timestamps: `rtmpt.header.timestamp` is the 24-bit
  header value only in type-0 chunks (the extended timestamp `rtmpt.header.ets` when it is
  0xFFFFFF); type-1/2 chunks carry `rtmpt.header.timestampdelta` and tshark adds a second
  `rtmpt.header.timestamp` item marked "(calculated)" (previous timestamp on that chunk stream
  and direction + delta); type-3 chunks get only the calculated item.  In `-T fields` output
  both kinds come out as rtmpt.header.timestamp, mixed with the deltas of other messages of the
  frame, so this script reads PDML, where every message is its own <proto name="rtmpt">, and
  takes the one rtmpt.header.timestamp of each message.  It re-accumulates the deltas itself
  (per connection, direction and chunk stream) and lists any disagreement in checks.  With
  --verify-flv the list (minus sequence headers) is compared with ffprobe's video packets of
  the FLV the publisher wrote next to its RTMP output (make-lab-samples.sh does this).

http_segments: every HTTP response to a media-segment URI (.ts, .m4s, .m4v, .m4a, .mp4 that is
  not an init segment), in capture order: tcp stream, client ip:port, URI (from the request),
  status, the time of the frame carrying the response's FIRST byte (first_byte_ts) and of the
  frame completing it (complete_ts, the frame tshark shows the response in).  The first byte's
  frame is the lowest frame number in the response's `tcp.segment` list (tshark's list of the
  segments reassembled into that HTTP message; no list = one frame), from a 2-pass run; a
  second pass with `-o tcp.desegment_tcp_streams:FALSE`, where tshark shows each response in
  the frame holding its status line, must give the same frames (checks.first_byte_frames).
  Media start (2xx only): MPEG-TS: the first video packet's PTS in the exported object
  (ffprobe -show_packets, PTS x time base, in seconds); fMP4: tfdt baseMediaDecodeTime /
  mdhd timescale of the video track (or of the only track: .m4a segments are audio-only), the
  init segment found through the MPD SegmentTemplate (`initialization` next to `media`) or an
  HLS EXT-X-MAP; ffprobe's first packet DTS of init+segment is checked against it.

pipeline: the expected latency-lab rows.  Definition:
  * offset: per delivery protocol (HLS MPEG-TS and DASH fMP4 are packaged on different
    timelines: nginx-rtmp adds 0.7 s to MPEG-TS timestamps), the constant that maps segment
    media time (s) onto RTMP video timestamps (s): among the candidates (first segment's first
    video PTS - each keyframe timestamp/1000), where "first segment" is that protocol's first
    2xx video segment response in the capture, the one for which the most segments' first
    video PTS - offset fall within 1 ms of an RTMP keyframe timestamp (every fetch counts; a
    segment matches when some picture keyframe of a publishing connection is within 1 ms).  Ties (possible when every fetched segment also matches the keyframe one GOP away)
    go to the candidates under which no matched segment is delivered before its ending keyframe
    was ingested (delivery_ts >= ingest_end_ts), then to the smallest offset.
  * for each media-segment response (every fetch, every player/flow/leg): media_time_s =
    segment first video PTS - offset; ingest_ts = frame time of the RTMP keyframe message whose
    timestamp is within 1 ms of media_time_s x 1000; ingest_end_ts = frame time of the first
    RTMP picture keyframe after it (the keyframe that ends the segment; null if none);
    delivery_ts = time of the frame with the response's first byte; delivery_end_ts = time of
    the frame completing the response; latency_ms = (delivery_ts - ingest_ts) x 1000 (exact, to
    the microsecond); server_hold_ms = (delivery_ts - ingest_end_ts) x 1000 (null without
    ingest_end_ts).  Also delivery_protocol ("hls" for .ts/.m3u8-announced segments, "dash"
    for .m4v/.m4a/.m4s), leg ("direct", or "player"/"server" through the relay), uri, client,
    tcp_stream.
  * segments that cannot be matched (not 2xx, audio-only, no keyframe within 1 ms) are listed
    in pipeline_unmatched with the reason, not dropped.

phases: per publishing RTMP connection: SYN, C0 (first client payload frame, whose first byte
  is the version 0x03), connect command, its _result (same transaction id), publish command,
  onStatus NetStream.Publish.Start, first picture keyframe (not a sequence header).  Per player: all
  HTTP connections from one client IP to one server port fetching one protocol's URIs (.m3u8
  and .ts: hls; .mpd, .m4v, .m4a, .m4s: dash) are one player, named by the client ip:port of
  its first request: first playlist/MPD request, first byte of its response, first 2xx media
  segment response complete.

relay_check (captures with a relay sidecar): per segment fetched through the relay, the
  player-leg fetch is paired with the server-leg fetch of the same URI that follows its request
  most closely (one to one); delay_ms = delivery_ts(player leg) - delivery_ts(server leg) and
  end_delay_ms = delivery_end_ts(player) - delivery_end_ts(server), which should both be the
  relay's delay_ms (+- its tolerance).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import OrderedDict
from decimal import Decimal
from fractions import Fraction

MAX_PACKET_SIZE = 1048576
SEGMENT_EXT = (".ts", ".m4s", ".m4v", ".m4a", ".mp4")
HLS_EXT = (".m3u8", ".ts")
DASH_EXT = (".mpd", ".m4v", ".m4a", ".m4s")
MATCH_S = Fraction(1, 1000)   # 1 ms


def run(cmd, cwd, binary=False):
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=not binary).stdout


def tshark_version():
    out = run(["tshark", "--version"], None)
    first = out.splitlines()[0]
    m = re.match(r"(TShark \(Wireshark\) \S+?)(?: \(|\.?$)", first)
    return m.group(1) if m else first.strip()


def ffprobe_version():
    return run(["ffprobe", "-version"], None).splitlines()[0]


def ts6(s):
    """tshark's frame.time_epoch string cut to 6 decimals (exact; the cut digits are 0s)."""
    whole, _, frac = s.partition(".")
    frac = (frac + "000000")[:9]
    if frac[6:].strip("0"):
        raise SystemExit("timestamp %s has sub-microsecond digits" % s)
    return "%s.%s" % (whole, frac[:6])


def ms_between(a, b):
    """(a - b) x 1000 from two 6-decimal strings, exact, as a JSON number (3 decimals)."""
    if a is None or b is None:
        return None
    return float((Decimal(a) - Decimal(b)) * 1000)


def endpoint(ip, port):
    return "%s:%s" % (ip, port)


# ---------------------------------------------------------------------------
# TCP frames: times, SYNs, first payload per side

def tcp_frames(name, cwd, cmds):
    fields = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst",
              "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.len", "tcp.payload"]
    cmd = ["tshark", "-r", name, "-n", "-Y", "tcp", "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    cmds["tcp_frames"] = " ".join(cmd)
    times, syn, first_payload = {}, {}, {}
    for line in run(cmd, cwd).splitlines():
        v = dict(zip(fields, line.split("\t")))
        n = int(v["frame.number"])
        times[n] = ts6(v["frame.time_epoch"])
        st = int(v["tcp.stream"])
        if v["tcp.flags.syn"] in ("1", "True") and v["tcp.flags.ack"] in ("0", "False"):
            syn.setdefault(st, (n, times[n], endpoint(v["ip.src"], v["tcp.srcport"])))
        if int(v["tcp.len"] or 0) > 0:
            src = endpoint(v["ip.src"], v["tcp.srcport"])
            first_payload.setdefault((st, src), (n, times[n], v.get("tcp.payload", "")[:2]))
    return times, syn, first_payload


# ---------------------------------------------------------------------------
# RTMP from PDML

def kids(el):
    return [c for c in el if c.tag == "field"]


def rtmp_messages(name, cwd, cmds, checks):
    cmd = ["tshark", "-r", name, "-n", "-o", "rtmpt.max_packet_size:%d" % MAX_PACKET_SIZE,
           "-Y", "rtmpt", "-T", "pdml"]
    cmds["rtmp_pdml"] = " ".join(cmd)
    root = ET.fromstring(run(cmd, cwd))
    msgs = []
    state = {}      # (stream, src, csid) -> {"type", "ts", "tsd"}
    mismatches = []
    for pkt in root.iter("packet"):
        frame = ts = stream = src = dst = None
        ip_s = ip_d = sport = dport = None
        for proto in pkt.findall("proto"):
            pn = proto.get("name")
            if pn == "frame":
                for f in proto.iter("field"):
                    if f.get("name") == "frame.number":
                        frame = int(f.get("show"))
                    elif f.get("name") == "frame.time_epoch":
                        ts = ts6(f.get("show"))
            elif pn == "ip":
                for f in kids(proto):
                    if f.get("name") == "ip.src":
                        ip_s = f.get("show")
                    elif f.get("name") == "ip.dst":
                        ip_d = f.get("show")
            elif pn == "tcp":
                for f in kids(proto):
                    if f.get("name") == "tcp.srcport":
                        sport = f.get("show")
                    elif f.get("name") == "tcp.dstport":
                        dport = f.get("show")
                    elif f.get("name") == "tcp.stream":
                        stream = int(f.get("show"))
                src, dst = endpoint(ip_s, sport), endpoint(ip_d, dport)
            elif pn == "rtmpt":
                m = parse_rtmpt(proto)
                m.update(frame=frame, frame_ts=ts, tcp_stream=stream, src=src, dst=dst)
                if m["kind"] == "message":
                    resolve(m, state, mismatches)
                msgs.append(m)
    checks["rtmp_timestamps_reaccumulated"] = (
        "agree with tshark's for every message" if not mismatches else mismatches[:20])
    return msgs


def parse_rtmpt(proto):
    for f in proto.iter("field"):
        n = f.get("name") or ""
        if n in ("rtmpt.handshake.c0", "rtmpt.handshake.s0", "rtmpt.handshake.c2"):
            return {"kind": "handshake", "part": {"rtmpt.handshake.c0": "c0c1",
                                                   "rtmpt.handshake.s0": "s0s1s2",
                                                   "rtmpt.handshake.c2": "c2"}[n]}
    hdr, body = {}, None
    for c in kids(proto):
        if c.get("show") == "RTMP Header":
            for h in kids(c):
                n = h.get("name") or ""
                if n.startswith("rtmpt.header."):
                    key = n[len("rtmpt.header."):]
                    if "(calculated)" in (h.get("showname") or ""):
                        key += "_calc"
                    hdr[key] = h.get("show")
        elif c.get("show") == "RTMP Body":
            body = c
    m = {"kind": "message", "hdr": hdr, "desc": proto.get("showname") or "",
         "video_type": None, "video_codec": None, "video_first_byte": None,
         "command": None, "txid": None, "code": None}
    if body is not None:
        strings, numbers = [], []
        for f in body.iter("field"):
            n = f.get("name")
            if n == "rtmpt.video.type":
                m["video_type"] = int(f.get("show"))
            elif n == "rtmpt.video.format":
                m["video_codec"] = int(f.get("show"))
            elif n == "rtmpt.video.data":
                m["video_first_byte"] = int((f.get("value") or "ff")[:2], 16)
            elif n in ("amf.string", "amf.longstring"):
                strings.append(f.get("show"))
            elif n == "amf.number":
                numbers.append(f.get("show"))
        if strings:
            m["command"] = strings[0]
            if numbers:
                x = float(numbers[0])
                m["txid"] = int(x) if x.is_integer() else x
            for i, s in enumerate(strings[:-1]):
                if s == "code":
                    m["code"] = strings[i + 1]
                    break
    return m


def resolve(m, state, mismatches):
    """Type (inherited for fmt 2/3) and absolute timestamp (tshark's) of one message."""
    h = m["hdr"]
    fmt, csid = int(h["format"]), int(h["csid"])
    key = (m["tcp_stream"], m["src"], csid)
    prev = state.get(key)
    if "typeid" in h:
        typ = int(h["typeid"], 16)
    elif prev is not None:
        typ = prev["type"]
    else:
        typ = None
    if fmt == 0:
        raw = int(h["timestamp"])
        if raw == 0xFFFFFF and "ets" in h:
            raw = int(h["ets"])
        ts, own = raw, raw
        tsd = raw - prev["ts"] if prev else raw
    elif fmt in (1, 2):
        delta = int(h["timestampdelta"])
        ts = int(h["timestamp_calc"]) if "timestamp_calc" in h else None
        own = (prev["ts"] if prev else 0) + delta
        if ts is None:   # extended timestamp: tshark shows no calculated value
            ts = own
        tsd = delta
    else:
        ts = int(h["timestamp_calc"])
        own = (prev["ts"] + prev["tsd"]) if prev else 0
        tsd = prev["tsd"] if prev else 0
    if own != ts:
        mismatches.append("frame %d csid %d fmt %d: tshark %d, re-accumulated %d"
                          % (m["frame"], csid, fmt, ts, own))
    state[key] = {"type": typ, "ts": ts, "tsd": tsd}
    m.update(type=typ, fmt=fmt, csid=csid, timestamp=ts)


def rtmp_sections(msgs, syn, first_payload):
    """(rtmp_video rows, keyframes [(ts_ms, frame_ts, frame)], publish phases)."""
    publishers = []
    for m in msgs:
        if m["kind"] == "message" and m["type"] == 20 and m["command"] == "publish":
            if m["tcp_stream"] not in [p[0] for p in publishers]:
                publishers.append((m["tcp_stream"], m["src"], m["dst"]))
    video, phases = [], []
    for st, client, server in publishers:
        mine = [m for m in msgs if m["tcp_stream"] == st]
        for m in mine:
            if m["kind"] == "message" and m["src"] == client and m["type"] == 9:
                codec = m["video_codec"]
                avc = codec in (7, 12)
                video.append(OrderedDict([
                    ("tcp_stream", st), ("frame", m["frame"]), ("frame_ts", m["frame_ts"]),
                    ("fmt", m["fmt"]), ("timestamp_ms", m["timestamp"]),
                    ("keyframe", m["video_type"] == 1),
                    ("sequence_header", avc and m["video_first_byte"] == 0),
                    ("end_of_sequence", avc and m["video_first_byte"] == 2)]))

        def first(pred):
            for m in mine:
                if m["kind"] == "message" and pred(m):
                    return m
            return None
        connect = first(lambda m: m["src"] == client and m["type"] == 20 and m["command"] == "connect")
        result = first(lambda m: connect is not None and m["src"] == server and m["type"] == 20
                       and m["command"] == "_result" and m["txid"] == connect["txid"])
        publish = first(lambda m: m["src"] == client and m["type"] == 20 and m["command"] == "publish")
        started = first(lambda m: m["src"] == server and m["type"] == 20 and m["command"] == "onStatus"
                        and m["code"] == "NetStream.Publish.Start")
        key = next((v for v in video if v["tcp_stream"] == st and is_picture_key(v)), None)
        c0 = first_payload.get((st, client))
        s = syn.get(st)
        hs = next((m for m in mine if m["kind"] == "handshake" and m["part"] == "c0c1"), None)

        def at(m):
            return m["frame_ts"] if m else None
        phases.append(OrderedDict([
            ("tcp_stream", st), ("client", client), ("server", server),
            ("syn_ts", s[1] if s and s[2] == client else None),
            ("c0_ts", c0[1] if c0 and c0[2] == "03" else None),
            ("c0c1_complete_ts", at(hs)),
            ("connect_ts", at(connect)), ("connect_result_ts", at(result)),
            ("publish_ts", at(publish)), ("publish_start_ts", at(started)),
            ("first_keyframe_ts", key["frame_ts"] if key else None)]))
    keys = [(v["timestamp_ms"], v["frame_ts"], v["frame"]) for v in video if is_picture_key(v)]
    return video, keys, phases


def is_picture_key(v):
    """A keyframe carrying a picture: not the sequence header, not the end-of-sequence tag
    (ffmpeg's flv muxer ends the stream with an AVC end-of-sequence message whose FLV frame
    type is 1, keyframe)."""
    return v["keyframe"] and not v["sequence_header"] and not v["end_of_sequence"]


# ---------------------------------------------------------------------------
# HTTP

def http_messages(name, cwd, cmds, checks):
    fields = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst",
              "tcp.dstport", "http.request.method", "http.request.uri", "http.response.code",
              "http.request_in", "tcp.segment", "http.content_length_header", "http.content_type"]
    cmd = ["tshark", "-r", name, "-n", "-2", "-Y", "http", "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    cmds["http"] = " ".join(cmd)
    reqs, resps = {}, []
    for line in run(cmd, cwd).splitlines():
        v = dict(zip(fields, line.split("\t")))
        n = int(v["frame.number"])
        if v["http.request.method"]:
            if "," in v["http.request.method"]:
                raise SystemExit("frame %d: several HTTP requests in one frame" % n)
            reqs[n] = {"frame": n, "ts": ts6(v["frame.time_epoch"]), "tcp_stream": int(v["tcp.stream"]),
                       "client": endpoint(v["ip.src"], v["tcp.srcport"]),
                       "server": endpoint(v["ip.dst"], v["tcp.dstport"]),
                       "method": v["http.request.method"], "uri": v["http.request.uri"]}
        if v["http.response.code"]:
            if "," in v["http.response.code"]:
                raise SystemExit("frame %d: several HTTP responses in one frame" % n)
            segs = [int(x) for x in v["tcp.segment"].split(",") if x]
            resps.append({"frame": n, "tcp_stream": int(v["tcp.stream"]),
                          "client": endpoint(v["ip.dst"], v["tcp.dstport"]),
                          "server": endpoint(v["ip.src"], v["tcp.srcport"]),
                          "status": int(v["http.response.code"]),
                          "request_frame": int(v["http.request_in"]) if v["http.request_in"] else None,
                          "first_frame": min(segs) if segs else n,
                          "content_length": int(v["http.content_length_header"])
                          if v["http.content_length_header"] else None,
                          "content_type": v["http.content_type"] or None})
    for r in resps:
        q = reqs.get(r["request_frame"])
        r["uri"] = q["uri"] if q else None
        r["request_ts"] = q["ts"] if q else None
    # second pass: without TCP reassembly, tshark shows each response where its status line is
    cmd2 = ["tshark", "-r", name, "-n", "-2", "-o", "tcp.desegment_tcp_streams:FALSE",
            "-Y", "http.response", "-T", "fields", "-E", "separator=/t", "-e", "frame.number",
            "-e", "tcp.stream"]
    cmds["http_first_bytes"] = " ".join(cmd2)
    by_stream = {}
    for line in run(cmd2, cwd).splitlines():
        f, st = line.split("\t")
        by_stream.setdefault(int(st), []).append(int(f))
    mine = {}
    for r in resps:
        mine.setdefault(r["tcp_stream"], []).append(r["first_frame"])
    checks["first_byte_frames"] = ("tcp.segment minimum equals the desegment-off response frame for "
                                   "all %d responses" % len(resps)
                                   if mine == by_stream else
                                   {"tcp_segment": {str(k): v for k, v in sorted(mine.items())},
                                    "desegment_off": {str(k): v for k, v in sorted(by_stream.items())}})
    return sorted(reqs.values(), key=lambda q: q["frame"]), resps


def export_objects(name, cwd, tmp, cmds, resps):
    """Map every response to the file tshark exported for it (or None)."""
    cmd = ["tshark", "-r", name, "-n", "-q", "--export-objects", "http," + tmp]
    run(cmd, cwd)
    cmds["export_objects"] = " ".join(cmd[:-1] + ["http,DIR"])
    seen = {}
    for r in sorted(resps, key=lambda r: r["frame"]):
        base = os.path.basename((r["uri"] or "").split("?")[0]) or "object"
        k = seen.get(base, 0)
        seen[base] = k + 1
        stem, ext = os.path.splitext(base)
        fn = base if k == 0 else "%s(%d)%s" % (stem, k, ext)
        path = os.path.join(tmp, fn)
        r["object"] = path if os.path.isfile(path) else None
        if r["object"] and r["content_length"] is not None and os.path.getsize(path) != r["content_length"]:
            raise SystemExit("exported %s has %d bytes, the response's Content-Length is %d"
                             % (fn, os.path.getsize(path), r["content_length"]))


# ---------------------------------------------------------------------------
# media

def boxes(b, off=0, end=None):
    end = len(b) if end is None else end
    while off + 8 <= end:
        size = int.from_bytes(b[off:off + 4], "big")
        typ = b[off + 4:off + 8].decode("latin-1")
        hdr = 8
        if size == 1:
            size, hdr = int.from_bytes(b[off + 8:off + 16], "big"), 16
        elif size == 0:
            size = end - off
        if size < hdr:
            return
        yield typ, off + hdr, min(off + size, end)
        off += size


def child(b, typ, start, end):
    return [(c, e) for t, c, e in boxes(b, start, end) if t == typ]


def init_tracks(b):
    """{track_id: (handler, timescale)} of an init segment."""
    out = {}
    for c, e in child(b, "moov", 0, len(b)):
        for tc, te in child(b, "trak", c, e):
            tid = None
            for hc, he in child(b, "tkhd", tc, te):
                v = b[hc]
                tid = int.from_bytes(b[hc + 12:hc + 16] if v == 0 else b[hc + 20:hc + 24], "big")
            for mc, me in child(b, "mdia", tc, te):
                scale = hdlr = None
                for dc, de in child(b, "mdhd", mc, me):
                    v = b[dc]
                    scale = int.from_bytes(b[dc + 12:dc + 16] if v == 0 else b[dc + 20:dc + 24], "big")
                for hc, he in child(b, "hdlr", mc, me):
                    hdlr = b[hc + 8:hc + 12].decode("latin-1")
                out[tid] = (hdlr, scale)
    return out


def tfdts(b):
    """{track_id: first baseMediaDecodeTime} of a media segment."""
    out = {}
    for c, e in child(b, "moof", 0, len(b)):
        for tc, te in child(b, "traf", c, e):
            tid = dt = None
            for hc, he in child(b, "tfhd", tc, te):
                tid = int.from_bytes(b[hc + 4:hc + 8], "big")
            for dc, de in child(b, "tfdt", tc, te):
                v = b[dc]
                dt = int.from_bytes(b[dc + 4:dc + 8] if v == 0 else b[dc + 4:dc + 12], "big")
            if tid is not None and dt is not None:
                out.setdefault(tid, dt)
    return out


def ffprobe_first(path, select):
    """(first packet's pts/dts x time base as Fraction, number of packets) of a stream."""
    out = json.loads(run(["ffprobe", "-v", "error", "-select_streams", select, "-show_entries",
                          "stream=time_base:packet=pts,dts", "-of", "json", path], None))
    st = out.get("streams") or []
    pk = out.get("packets") or []
    if not st or not pk:
        return None, 0
    num, den = st[0]["time_base"].split("/")
    tb = Fraction(int(num), int(den))
    first = pk[0]
    v = first.get("pts") if first.get("pts") is not None else first.get("dts")
    return (Fraction(int(v)) * tb if v is not None else None), len(pk)


def fmt_s(x):
    return None if x is None else float(round(Fraction(x), 6))


def media_start(r, inits, tmp, checks):
    """Fill r["media"] for a 2xx media-segment response."""
    path = r["object"]
    data = open(path, "rb").read()
    if r["uri"].endswith(".ts"):
        v, n = ffprobe_first(path, "v:0")
        if v is not None:
            r["media"] = {"track": "video", "start": v, "from": "ffprobe first video packet PTS"}
        else:
            a, _ = ffprobe_first(path, "a:0")
            r["media"] = {"track": "audio" if a is not None else None, "start": a,
                          "from": "ffprobe first audio packet PTS" if a is not None else "no packets"}
        return
    if not child(data, "moof", 0, len(data)):
        r["media"] = None   # init segment
        return
    init = inits.get(r["uri"])
    if init is None or init not in r["_objects"]:
        r["media"] = {"track": None, "start": None, "from": "no init segment for %s" % r["uri"]}
        return
    ib = open(r["_objects"][init], "rb").read()
    tracks = init_tracks(ib)
    dts = tfdts(data)
    pick = [(tid, h, s) for tid, (h, s) in sorted(tracks.items()) if tid in dts and h == "vide"]
    if not pick:
        pick = [(tid, h, s) for tid, (h, s) in sorted(tracks.items()) if tid in dts]
    if not pick:
        r["media"] = {"track": None, "start": None, "from": "no tfdt for the init's tracks"}
        return
    tid, h, scale = pick[0]
    start = Fraction(dts[tid], scale)
    r["media"] = {"track": {"vide": "video", "soun": "audio"}.get(h, h), "start": start,
                  "from": "tfdt / mdhd timescale (track %d, timescale %d)" % (tid, scale)}
    joined = os.path.join(tmp, "joined.mp4")
    with open(joined, "wb") as f:
        f.write(ib + data)
    probe, _ = ffprobe_first(joined, "v:0" if h == "vide" else "a:0")
    if probe != start:
        checks.setdefault("fmp4_tfdt_vs_ffprobe", []).append(
            "%s: tfdt %s s, ffprobe first packet %s s" % (r["uri"], fmt_s(start), fmt_s(probe)))
    os.unlink(joined)


def init_map(resps, reqs):
    """{segment URI: init URI} from the MPD SegmentTemplates and HLS EXT-X-MAP lines exported."""
    out = {}
    templates, maps = set(), []
    for r in resps:
        if not r.get("object") or r["status"] // 100 != 2 or not r["uri"]:
            continue
        base = r["uri"].rsplit("/", 1)[0] + "/"
        if r["uri"].endswith(".mpd"):
            text = open(r["object"], encoding="utf-8", errors="replace").read()
            for m in re.finditer(r"<SegmentTemplate\b([^>]*)>", text):
                attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                if "media" in attrs and "initialization" in attrs:
                    templates.add((base, attrs["media"], attrs["initialization"]))
        elif r["uri"].endswith(".m3u8"):
            text = open(r["object"], encoding="utf-8", errors="replace").read()
            init = None
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("#EXT-X-MAP:"):
                    m = re.search(r'URI="([^"]*)"', line)
                    init = base + m.group(1) if m else None
                elif line and not line.startswith("#") and init:
                    maps.append((base + line, init))
    for q in reqs:
        u = q["uri"]
        for base, media, init in sorted(templates):
            rx = re.escape(base + media)
            rx = re.sub(r"\\\$(Number|Time)(%0\d+d)?\\\$", r"\\d+", rx)
            rx = rx.replace(re.escape("$RepresentationID$"), "([^/]+)")
            m = re.match("^" + rx + "$", u)
            if m:
                ini = base + init
                if m.groups():
                    ini = ini.replace("$RepresentationID$", m.group(1))
                out[u] = ini
                break
    for seg, init in maps:
        out.setdefault(seg, init)
    return out


def protocol_of(uri):
    u = (uri or "").split("?")[0]
    if u.endswith(HLS_EXT):
        return "hls"
    if u.endswith(DASH_EXT):
        return "dash"
    return None


# ---------------------------------------------------------------------------

def keyframe_at(keys, t):
    """Index of the keyframe within 1 ms of t (seconds, Fraction), or None."""
    best = None
    for i, (ms, _, _) in enumerate(keys):
        d = abs(Fraction(ms, 1000) - t)
        if d <= MATCH_S and (best is None or d < best[0]):
            best = (d, i)
    return best[1] if best else None


def choose_offset(segs, keys, frames_ts):
    """segs: [(start Fraction, delivery_ts)] of one protocol, capture order."""
    if not segs or not keys:
        return None, []
    first = segs[0][0]
    cands = sorted({first - Fraction(ms, 1000) for ms, _, _ in keys})
    table = []
    for off in cands:
        n, causal = 0, True
        for start, delivered in segs:
            i = keyframe_at(keys, start - off)
            if i is None:
                continue
            n += 1
            if i + 1 < len(keys) and Decimal(delivered) < Decimal(keys[i + 1][1]):
                causal = False
        table.append((off, n, causal))
    best = max(table, key=lambda x: (x[1], x[2], -x[0]))
    return best[0], table


def leg_of(r, relay):
    if relay is None:
        return "direct"
    port = int(r["server"].rsplit(":", 1)[1])
    if port == relay["relay_port"]:
        return "player"
    if port == relay["upstream_port"]:
        return "server"
    return "other"


def build(path, version, ffversion):
    d, name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    cmds, checks, notes = OrderedDict(), OrderedDict(), []
    side = os.path.join(d, re.sub(r"\.pcap(ng)?$", "", name) + ".relay.json")
    relay = None
    if os.path.isfile(side):
        relay = json.load(open(side))
    times, syn, first_payload = tcp_frames(name, d, cmds)
    msgs = rtmp_messages(name, d, cmds, checks)
    video, keys, rtmp_phases = rtmp_sections(msgs, syn, first_payload)
    reqs, resps = http_messages(name, d, cmds, checks)
    tmp = tempfile.mkdtemp()
    try:
        export_objects(name, d, tmp, cmds, resps)
        objects = {r["uri"]: r["object"] for r in resps
                   if r.get("object") and r["status"] // 100 == 2 and r["uri"]}
        inits = init_map(resps, reqs)
        segs = []
        for r in resps:
            u = (r["uri"] or "").split("?")[0]
            if not u.endswith(SEGMENT_EXT):
                continue
            r["_objects"] = objects
            r["media"] = None
            if r["status"] // 100 == 2 and r["object"]:
                media_start(r, inits, tmp, checks)
                if r["media"] is None:
                    continue     # an init segment
            elif "init" in os.path.basename(u):
                continue
            segs.append(r)
        cmds["ffprobe_ts"] = "ffprobe -v error -select_streams v:0 -show_entries stream=time_base:packet=pts,dts -of json OBJECT"
        cmds["ffprobe_fmp4_check"] = ("ffprobe -v error -select_streams v:0 (a:0 for audio-only) "
                                      "-show_entries stream=time_base:packet=pts,dts -of json INIT+OBJECT")
    finally:
        shutil.rmtree(tmp)

    http_segments = []
    for r in segs:
        m = r["media"] or {}
        http_segments.append(OrderedDict([
            ("tcp_stream", r["tcp_stream"]), ("client", r["client"]), ("server", r["server"]),
            ("leg", leg_of(r, relay)), ("delivery_protocol", protocol_of(r["uri"])),
            ("uri", r["uri"]), ("status", r["status"]), ("content_length", r["content_length"]),
            ("request_ts", r["request_ts"]),
            ("first_byte_frame", r["first_frame"]), ("first_byte_ts", times[r["first_frame"]]),
            ("complete_frame", r["frame"]), ("complete_ts", times[r["frame"]]),
            ("media_track", m.get("track")), ("media_start_s", fmt_s(m.get("start"))),
            ("media_start_from", m.get("from"))]))

    # offsets per delivery protocol
    offsets = OrderedDict()
    for proto in ("hls", "dash"):
        vs = [(r["media"]["start"], times[r["first_frame"]]) for r in segs
              if protocol_of(r["uri"]) == proto and r["media"] and r["media"]["track"] == "video"
              and r["media"]["start"] is not None]
        off, table = choose_offset(vs, keys, times)
        if off is None:
            continue
        best = [t for t in table if t[0] == off][0]
        ties = [t for t in table if t[1] == best[1] and t[0] != off]
        offsets[proto] = OrderedDict([
            ("offset_s", fmt_s(off)), ("segments", len(vs)), ("matched", best[1]),
            ("causal", best[2]),
            ("tied_candidates", [OrderedDict([("offset_s", fmt_s(t[0])), ("causal", t[2])])
                                 for t in ties])])
        for r in segs:
            if protocol_of(r["uri"]) == proto:
                r["_offset"] = off

    rows, unmatched = [], []
    for r in segs:
        proto = protocol_of(r["uri"])
        base = OrderedDict([("ingest_protocol", "rtmp"), ("delivery_protocol", proto),
                            ("leg", leg_of(r, relay)), ("uri", r["uri"]), ("client", r["client"]),
                            ("tcp_stream", r["tcp_stream"])])
        m = r["media"]
        reason = None
        if r["status"] // 100 != 2:
            reason = "HTTP status %d" % r["status"]
        elif not m or m["start"] is None:
            reason = "no media start (%s)" % (m["from"] if m else "no object")
        elif m["track"] != "video":
            reason = "no video track (%s-only segment)" % m["track"]
        elif "_offset" not in r:
            reason = "no offset for %s" % proto
        if reason is None:
            t = m["start"] - r["_offset"]
            i = keyframe_at(keys, t)
            if i is None:
                reason = "no RTMP keyframe within 1 ms of media time %s s" % fmt_s(t)
        if reason:
            base.update(status=r["status"], delivery_ts=times[r["first_frame"]], reason=reason)
            unmatched.append(base)
            continue
        ingest = keys[i][1]
        end = keys[i + 1][1] if i + 1 < len(keys) else None
        delivery, delivery_end = times[r["first_frame"]], times[r["frame"]]
        base.update([("media_start_s", fmt_s(m["start"])), ("media_time_s", fmt_s(t)),
                     ("rtmp_timestamp_ms", keys[i][0]), ("ingest_frame", keys[i][2]),
                     ("ingest_ts", ingest), ("ingest_end_ts", end),
                     ("delivery_ts", delivery), ("delivery_end_ts", delivery_end),
                     ("latency_ms", ms_between(delivery, ingest)),
                     ("server_hold_ms", ms_between(delivery, end))])
        rows.append(base)

    # players
    players = OrderedDict()
    for q in reqs:
        proto = protocol_of(q["uri"])
        if proto is None:
            continue
        key = (proto, q["client"].rsplit(":", 1)[0], q["server"])
        players.setdefault(key, []).append(q)
    resp_by_req = {r["request_frame"]: r for r in resps}
    player_phases = []
    for (proto, ip, server), qs in players.items():
        pl = next((q for q in qs if q["uri"].split("?")[0].endswith((".m3u8", ".mpd"))), None)
        plr = resp_by_req.get(pl["frame"]) if pl else None
        firstseg = None
        for q in qs:
            r = resp_by_req.get(q["frame"])
            if r and r in segs and r["status"] // 100 == 2:
                if firstseg is None or r["frame"] < firstseg["frame"]:
                    firstseg = r
        player_phases.append(OrderedDict([
            ("delivery_protocol", proto), ("player", qs[0]["client"]), ("server", server),
            ("leg", leg_of({"server": server}, relay)),
            ("connections", len({q["tcp_stream"] for q in qs})), ("requests", len(qs)),
            ("first_playlist_request_ts", pl["ts"] if pl else None),
            ("first_playlist_uri", pl["uri"] if pl else None),
            ("first_playlist_response_first_byte_ts", times[plr["first_frame"]] if plr else None),
            ("first_segment_uri", firstseg["uri"] if firstseg else None),
            ("first_segment_complete_ts", times[firstseg["frame"]] if firstseg else None)]))

    # summary per protocol and leg
    summary = []
    groups = OrderedDict()
    for row in rows:
        groups.setdefault((row["delivery_protocol"], row["leg"]), []).append(row)
    for (proto, leg), rs in groups.items():
        lat = sorted(x["latency_ms"] for x in rs)
        hold = sorted(x["server_hold_ms"] for x in rs if x["server_hold_ms"] is not None)
        summary.append(OrderedDict([
            ("delivery_protocol", proto), ("leg", leg), ("rows", len(rs)),
            ("latency_ms_min", lat[0]), ("latency_ms_median", lat[len(lat) // 2]),
            ("latency_ms_max", lat[-1]),
            ("server_hold_ms_min", hold[0] if hold else None),
            ("server_hold_ms_max", hold[-1] if hold else None)]))

    relay_check = None
    if relay is not None:
        player = [r for r in segs if leg_of(r, relay) == "player" and r["status"] // 100 == 2]
        server = [r for r in segs if leg_of(r, relay) == "server" and r["status"] // 100 == 2]
        used, pairs = set(), []
        for p in player:
            best = None
            for j, s in enumerate(server):
                if j in used or s["uri"] != p["uri"]:
                    continue
                dt = Decimal(s["request_ts"]) - Decimal(p["request_ts"])
                if dt >= 0 and (best is None or dt < best[0]):
                    best = (dt, j)
            s = None
            if best:
                used.add(best[1])
                s = server[best[1]]
            pairs.append(OrderedDict([
                ("uri", p["uri"]), ("player_client", p["client"]),
                ("server_client", s["client"] if s else None),
                ("player_request_ts", p["request_ts"]),
                ("server_request_ts", s["request_ts"] if s else None),
                ("player_delivery_ts", times[p["first_frame"]]),
                ("server_delivery_ts", times[s["first_frame"]] if s else None),
                ("delay_ms", ms_between(times[p["first_frame"]], times[s["first_frame"]]) if s else None),
                ("end_delay_ms", ms_between(times[p["frame"]], times[s["frame"]]) if s else None)]))
        ds = [x["delay_ms"] for x in pairs if x["delay_ms"] is not None]
        es = [x["end_delay_ms"] for x in pairs if x["end_delay_ms"] is not None]
        relay_check = OrderedDict([
            ("sidecar", os.path.basename(side)), ("relay_port", relay["relay_port"]),
            ("upstream_port", relay["upstream_port"]), ("expected_delay_ms", relay["delay_ms"]),
            ("delay_ms_min", min(ds) if ds else None), ("delay_ms_max", max(ds) if ds else None),
            ("end_delay_ms_min", min(es) if es else None), ("end_delay_ms_max", max(es) if es else None),
            ("segments", pairs)])

    notes.append("RTMP messages are reported by tshark in the frame that completes them; "
                 "frame/frame_ts and ingest_ts are that frame.")
    notes.append("tshark decodes HTTP on these ports by its heuristics; no decode-as is used.")
    doc = OrderedDict([
        ("capture", name), ("tshark_version", version), ("ffprobe_version", ffversion),
        ("commands", cmds), ("checks", checks), ("notes", notes),
        ("offsets", offsets),
        ("phases", OrderedDict([("rtmp_publish", rtmp_phases), ("players", player_phases)])),
        ("summary", summary),
        ("pipeline", rows), ("pipeline_unmatched", unmatched)])
    if relay_check is not None:
        doc["relay_check"] = relay_check
    doc["http_segments"] = http_segments
    doc["rtmp_video"] = video
    return doc, d, name


def dump(doc):
    """JSON with one line per row of the long lists."""
    def block(v, indent):
        pad = " " * indent
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            inner = ",\n".join(pad + "  " + json.dumps(x, ensure_ascii=False) for x in v)
            return "[\n" + inner + "\n" + pad + "]"
        if isinstance(v, dict) and v:
            items = []
            for k, x in v.items():
                items.append(pad + "  " + json.dumps(k) + ": " + block(x, indent + 2))
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        return json.dumps(v, ensure_ascii=False)
    return block(doc, 0) + "\n"


def verify_flv(flv, capture):
    d, name = os.path.dirname(os.path.abspath(capture)), os.path.basename(capture)
    cmds, checks = {}, {}
    times, syn, first_payload = tcp_frames(name, d, cmds)
    msgs = rtmp_messages(name, d, cmds, checks)
    video, _, _ = rtmp_sections(msgs, syn, first_payload)
    ours = [(v["timestamp_ms"], v["keyframe"]) for v in video
            if not v["sequence_header"] and not v["end_of_sequence"]]
    out = json.loads(run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=time_base:packet=dts,flags", "-of", "json", os.path.abspath(flv)], None))
    tb = out["streams"][0]["time_base"]
    if tb != "1/1000":
        print("FLV time base %s, expected 1/1000" % tb, file=sys.stderr)
        return 1
    theirs = [(int(p["dts"]), p["flags"].startswith("K")) for p in out["packets"]]
    if ours != theirs:
        diff = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        print("%s: RTMP video (timestamp, keyframe) differ from the published FLV: %d vs %d messages, "
              "first difference at #%d: %s vs %s" % (name, len(ours), len(theirs), diff,
                                                     ours[diff:diff + 1], theirs[diff:diff + 1]), file=sys.stderr)
        return 1
    if checks.get("rtmp_timestamps_reaccumulated") != "agree with tshark's for every message":
        print("%s: %s" % (name, checks["rtmp_timestamps_reaccumulated"]), file=sys.stderr)
        return 1
    print("%s: %d RTMP video messages (timestamps, keyframe flags) equal the published FLV's packets"
          % (name, len(ours)), file=sys.stderr)
    return 0


def main(argv):
    args = argv[1:]
    if len(args) == 3 and args[0] == "--verify-flv":
        return verify_flv(args[1], args[2])
    paths = [p for p in args if os.path.isfile(p)]
    if not paths or len(paths) != len(args):
        print(__doc__.strip().split("\n\n")[0], file=sys.stderr)
        print("usage: lab-fixture.py CAPTURE... | --verify-flv FLV CAPTURE", file=sys.stderr)
        return 2
    version, ffversion = tshark_version(), ffprobe_version()
    for p in sorted(paths, key=os.path.basename):
        doc, d, name = build(p, version, ffversion)
        outdir = os.environ.get("FIXTURE_OUT") or os.path.join(d, "fixtures")
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, name + ".lab.json"), "w") as f:
            f.write(dump(doc))
        lat = [r["latency_ms"] for r in doc["pipeline"]]
        print("%s: %d RTMP video messages, %d segment responses, %d pipeline rows (latency %s..%s ms), "
              "%d unmatched%s" % (
                  name, len(doc["rtmp_video"]), len(doc["http_segments"]), len(lat),
                  min(lat) if lat else None, max(lat) if lat else None, len(doc["pipeline_unmatched"]),
                  "; relay delay %s..%s ms" % (doc["relay_check"]["delay_ms_min"], doc["relay_check"]["delay_ms_max"])
                  if "relay_check" in doc else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
