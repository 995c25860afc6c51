#!/usr/bin/env python3
"""A minimal Low-Latency HLS origin with blocking playlist reload (standard library only).

Written for the samples because no LL-HLS origin could be installed from Debian, PyPI or npm.
It follows draft-pantos-hls-rfc8216bis (the LL-HLS revision of RFC 8216) as far as one
rendition needs:

* Media: it starts the encoder command given after `--` (ffmpeg writing fragmented MP4 to its
  stdout: `-f mp4 -movflags empty_moov+default_base_moof+frag_keyframe -frag_duration D pipe:1`)
  and reads it box by box.  `ftyp`+`moov` is the init segment (EXT-X-MAP, `init.mp4`); each
  `moof`+`mdat` is one Partial Segment (§4.4.4.9 EXT-X-PART) `segN.partK.m4s`, its duration
  from the `trun` sample durations (or the `tfhd`/`trex` defaults), INDEPENDENT=YES when its
  first sample is a sync sample.  A fragment that starts with a sync sample starts a new Media
  Segment `segN.m4s`, the concatenation of its parts (so segments are GOPs).
* Playlist `live.m3u8` (§4.4.3.7 EXT-X-PART-INF, §4.4.3.8 EXT-X-SERVER-CONTROL with
  CAN-BLOCK-RELOAD=YES and PART-HOLD-BACK = 3 x PART-TARGET, §4.4.5.3 EXT-X-PRELOAD-HINT of the
  next part): the last --window complete segments, EXT-X-PART tags for the segments of the last
  three target durations and for the segment in progress, EXT-X-PROGRAM-DATE-TIME on every
  segment (the wall clock at the start of the segment's media: the first fragment's media end
  is taken to be the moment it arrived, later ones follow by decode time).
* Blocking Playlist Reload (§6.2.5.2): `live.m3u8?_HLS_msn=N[&_HLS_part=M]` is held until the
  playlist contains Media Segment N (without _HLS_part) or Partial Segment M of Segment N (or a
  later one); `_HLS_msn` more than two segments past the one in progress gets 400; a request
  still unsatisfied after three target durations gets 503 (§6.2.5.2: "at least three times
  the Target Duration").  A part or segment that is announced but not yet there (the preload
  hint, §6.2.5.3) is held the same way until it exists.
* HTTP/1.1 with keep-alive and Content-Length; `Cache-Control: no-cache` on playlists.  With
  --www DIR it also serves DIR/player.html and DIR/hls.min.js (the sample's player page).

On exit (SIGTERM/SIGINT, or --seconds) it stops the encoder and writes --log (JSON): every part
(msn, part, duration, independent, the wall-clock time it became available) and every
playlist request (query, received, answered, status, what the answer contained).

usage: llhls-origin.py --port 8097 --log origin.json [--seconds S] [--window 6] [--www DIR] -- ENCODER...
"""
import argparse
import datetime
import json
import signal
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def boxes(data, start=0, end=None):
    """(type, payload start, box end) of each ISO BMFF box in data[start:end] (ISO/IEC 14496-12 §4.2)."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head:
            return
        yield kind.decode("latin-1"), pos + head, pos + size
        pos += size


def child(data, start, end, path):
    """The payload (start, end) of the box at `path` (a list of types) inside data[start:end]."""
    for kind, s, e in boxes(data, start, end):
        if kind == path[0]:
            return (s, e) if len(path) == 1 else child(data, s, e, path[1:])
    return None


def init_info(init):
    """Timescale (mdhd) and default sample duration (trex) of the single track."""
    timescale, default_duration = 1, 0
    mdhd = child(init, 0, len(init), ["moov", "trak", "mdia", "mdhd"])
    if mdhd:
        s, _ = mdhd
        timescale = struct.unpack(">I", init[s + 20:s + 24] if init[s] == 1 else init[s + 12:s + 16])[0]
    trex = child(init, 0, len(init), ["moov", "mvex", "trex"])
    if trex:
        s, _ = trex
        default_duration = struct.unpack(">I", init[s + 12:s + 16])[0]
    return timescale, default_duration


def fragment_info(frag, trex_duration):
    """(base decode time, duration in timescale units, first sample is sync) of a moof+mdat."""
    traf = child(frag, 0, len(frag), ["moof", "traf"])
    if not traf:
        raise ValueError("moof without traf")
    ts, te = traf
    default_duration, default_flags, base, total, sync = trex_duration, 0, 0, 0, False
    for kind, s, e in boxes(frag, ts, te):
        flags = struct.unpack(">I", frag[s:s + 4])[0] & 0xFFFFFF
        version = frag[s]
        if kind == "tfhd":
            p = s + 8
            if flags & 0x01:
                p += 8
            if flags & 0x02:
                p += 4
            if flags & 0x08:
                default_duration = struct.unpack(">I", frag[p:p + 4])[0]
                p += 4
            if flags & 0x10:
                p += 4
            if flags & 0x20:
                default_flags = struct.unpack(">I", frag[p:p + 4])[0]
        elif kind == "tfdt":
            base = struct.unpack(">Q", frag[s + 4:s + 12])[0] if version == 1 else struct.unpack(">I", frag[s + 4:s + 8])[0]
        elif kind == "trun":
            count = struct.unpack(">I", frag[s + 4:s + 8])[0]
            p = s + 8
            if flags & 0x01:
                p += 4
            first_flags = None
            if flags & 0x04:
                first_flags = struct.unpack(">I", frag[p:p + 4])[0]
                p += 4
            for i in range(count):
                d = default_duration
                f = default_flags
                if flags & 0x100:
                    d = struct.unpack(">I", frag[p:p + 4])[0]
                    p += 4
                if flags & 0x200:
                    p += 4
                if flags & 0x400:
                    f = struct.unpack(">I", frag[p:p + 4])[0]
                    p += 4
                if flags & 0x800:
                    p += 4
                if i == 0:
                    f = first_flags if first_flags is not None else f
                    # sample_is_non_sync_sample is bit 16 of the sample flags (§8.8.3.1).
                    sync = not (f >> 16) & 1
                total += d
    return base, total, sync


class Stream:
    """The parts and segments made so far, and the condition blocked requests wait on."""

    def __init__(self, window):
        self.cond = threading.Condition()
        self.window = window
        self.init = None
        self.timescale = 1
        self.trex_duration = 0
        self.anchor = None          # wall-clock seconds at decode time 0
        self.segments = []          # [{"msn", "parts": [part], "pdt"}]; the last may be open
        self.open = False           # is the last segment still taking parts?
        self.done = False
        self.part_log = []

    def add_init(self, data):
        with self.cond:
            self.init = data
            self.timescale, self.trex_duration = init_info(data)
            self.cond.notify_all()

    def add_fragment(self, data, now):
        base, duration, sync = fragment_info(data, self.trex_duration)
        with self.cond:
            if self.anchor is None:
                self.anchor = now - (base + duration) / self.timescale
            if sync or not self.segments:
                self.open = False
            if not self.open:
                msn = len(self.segments)
                pdt = self.anchor + base / self.timescale
                self.segments.append({"msn": msn, "parts": [], "pdt": pdt})
                self.open = True
            seg = self.segments[-1]
            part = {"msn": seg["msn"], "part": len(seg["parts"]), "data": data,
                    "duration": duration / self.timescale, "independent": sync, "available": now}
            seg["parts"].append(part)
            self.part_log.append({k: v for k, v in part.items() if k != "data"})
            self.cond.notify_all()

    # --- queries, with self.cond held ---
    def complete(self):
        """Complete segments (all but an open last one)."""
        return self.segments[:-1] if self.open else list(self.segments)

    def has(self, msn, part):
        """Does the playlist now contain segment msn (part None) or its part `part`, or later?"""
        done = self.complete()
        if done and done[-1]["msn"] >= msn:
            return True
        if part is None or not self.open:
            return False
        cur = self.segments[-1]
        return cur["msn"] > msn or (cur["msn"] == msn and len(cur["parts"]) > part)

    def next_msn(self):
        return self.segments[-1]["msn"] + (0 if self.open else 1) if self.segments else 0

    def find_part(self, msn, part):
        if msn < len(self.segments):
            parts = self.segments[msn]["parts"]
            if part < len(parts) and (msn < len(self.segments) - 1 or not self.open or part < len(parts)):
                return parts[part]
        return None

    def find_segment(self, msn):
        done = self.complete()
        if msn < len(done):
            return b"".join(p["data"] for p in done[msn]["parts"])
        return None

    def target_duration(self):
        durs = [sum(p["duration"] for p in s["parts"]) for s in self.complete()]
        return max(1, round(max(durs))) if durs else 1

    def part_target(self):
        durs = [p["duration"] for s in self.segments for p in s["parts"]]
        return max(durs) if durs else 0.2

    def playlist(self):
        done = self.complete()
        shown = done[-self.window:]
        target = self.target_duration()
        part_target = self.part_target()
        lines = ["#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-TARGETDURATION:%d" % target,
                 "#EXT-X-PART-INF:PART-TARGET=%.5f" % part_target,
                 "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.5f" % (3 * part_target),
                 "#EXT-X-MEDIA-SEQUENCE:%d" % (shown[0]["msn"] if shown else self.next_msn()),
                 '#EXT-X-MAP:URI="init.mp4"']
        # Parts are listed for the segments of the last three target durations (§4.4.4.9).
        with_parts, acc = set(), 0.0
        for s in reversed(done):
            if acc >= 3 * target:
                break
            with_parts.add(s["msn"])
            acc += sum(p["duration"] for p in s["parts"])

        def parts_of(s):
            for p in s["parts"]:
                lines.append('#EXT-X-PART:DURATION=%.5f,URI="seg%d.part%d.m4s"%s' % (
                    p["duration"], p["msn"], p["part"], ",INDEPENDENT=YES" if p["independent"] else ""))

        for s in shown:
            lines.append("#EXT-X-PROGRAM-DATE-TIME:" + iso(s["pdt"]))
            if s["msn"] in with_parts:
                parts_of(s)
            lines.append("#EXTINF:%.5f," % sum(p["duration"] for p in s["parts"]))
            lines.append("seg%d.m4s" % s["msn"])
        nxt = (self.next_msn(), 0)
        if self.open:
            cur = self.segments[-1]
            lines.append("#EXT-X-PROGRAM-DATE-TIME:" + iso(cur["pdt"]))
            parts_of(cur)
            nxt = (cur["msn"], len(cur["parts"]))
        lines.append('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg%d.part%d.m4s"' % nxt)
        return ("\n".join(lines) + "\n").encode(), [s["msn"] for s in shown], nxt


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def reader(stream, pipe):
    """Reads the encoder's fragmented MP4, box by box."""
    buf = b""
    pending = b""
    while True:
        chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            size, kind = struct.unpack(">I4s", buf[:8])
            if size == 1:
                if len(buf) < 16:
                    break
                size = struct.unpack(">Q", buf[8:16])[0]
            if size < 8 or len(buf) < size:
                break
            box, buf = buf[:size], buf[size:]
            kind = kind.decode("latin-1")
            pending += box
            if kind == "moov":
                stream.add_init(pending)
                pending = b""
            elif kind == "mdat":
                stream.add_fragment(pending, time.time())
                pending = b""
    with stream.cond:
        stream.done = True
        stream.cond.notify_all()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llhls-origin"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype, nocache=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        if nocache:
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def hold(self, ready):
        """Waits until ready() (with the stream's lock held) or three target durations pass."""
        st = self.server.stream
        with st.cond:
            deadline = time.time() + 3 * st.target_duration()
            while not ready():
                left = deadline - time.time()
                if left <= 0 or st.done:
                    return False
                st.cond.wait(left)
            return True

    def do_GET(self):
        st = self.server.stream
        url = urlsplit(self.path)
        name = url.path.rsplit("/", 1)[-1]
        received = time.time()
        if name == "live.m3u8":
            q = parse_qs(url.query)
            try:
                msn = int(q["_HLS_msn"][0]) if "_HLS_msn" in q else None
                part = int(q["_HLS_part"][0]) if "_HLS_part" in q else None
            except ValueError:
                msn, part = None, None
                return self.send(400, b"bad _HLS_ directive\n", "text/plain")
            entry = {"query": url.query, "msn": msn, "part": part, "received": received}
            status = 200
            if msn is not None:
                with st.cond:
                    too_far = msn > st.next_msn() + 2
                if too_far:
                    status = 400
                elif not self.hold(lambda: st.has(msn, part)):
                    status = 503
            if status != 200:
                entry.update(status=status, answered=time.time())
                self.server.requests.append(entry)
                return self.send(status, b"", "text/plain")
            with st.cond:
                body, shown, nxt = st.playlist()
            entry.update(status=200, answered=time.time(), segments=shown, preload_hint=list(nxt))
            self.server.requests.append(entry)
            return self.send(200, body, "application/vnd.apple.mpegurl", nocache=True)
        if name == "init.mp4":
            if not self.hold(lambda: st.init is not None):
                return self.send(503, b"", "text/plain")
            return self.send(200, st.init, "video/mp4")
        if name.startswith("seg") and name.endswith(".m4s"):
            stem = name[3:-4]
            try:
                if ".part" in stem:
                    msn, part = (int(x) for x in stem.split(".part"))
                    # A part announced by the preload hint (or about to be) is held until it exists.
                    ok = self.hold(lambda: st.find_part(msn, part) is not None or st.has(msn, None)
                                   or st.next_msn() > msn + 1)
                    with st.cond:
                        p = st.find_part(msn, part) if ok else None
                    if p:
                        return self.send(200, p["data"], "video/iso.segment")
                else:
                    msn = int(stem)
                    self.hold(lambda: st.find_segment(msn) is not None)
                    with st.cond:
                        data = st.find_segment(msn)
                    if data:
                        return self.send(200, data, "video/iso.segment")
            except ValueError:
                pass
            return self.send(404, b"", "text/plain")
        static = {"player.html": "text/html", "hls.min.js": "application/javascript"}
        if self.server.www and name in static:
            with open("%s/%s" % (self.server.www, name), "rb") as f:
                return self.send(200, f.read(), static[name])
        self.send(404, b"", "text/plain")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--window", type=int, default=6)
    ap.add_argument("--www", help="directory holding player.html and hls.min.js, served as they are")
    ap.add_argument("encoder", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.encoder[1:] if a.encoder[:1] == ["--"] else a.encoder
    if not cmd:
        ap.error("the encoder command goes after --")
    stream = Stream(a.window)
    enc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    threading.Thread(target=reader, args=(stream, enc.stdout), daemon=True).start()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.stream, srv.requests, srv.www = stream, [], a.www
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("listening on 127.0.0.1:%d" % a.port, flush=True)
    stop.wait(a.seconds)
    srv.shutdown()
    if enc.poll() is None:
        enc.terminate()
    try:
        enc.wait(5)
    except subprocess.TimeoutExpired:
        enc.kill()
        enc.wait()
    with open(a.log, "w") as f:
        json.dump({"parts": stream.part_log, "playlist_requests": srv.requests}, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
