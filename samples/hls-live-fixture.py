#!/usr/bin/env python3
"""Write tshark-derived live HLS fixtures: per player and segment fetch, the live latency from
EXT-X-PROGRAM-DATE-TIME (RFC 8216 §4.3.2.6), the rendition, and the ABR switches; and, for
LL-HLS, every blocking playlist reload (rfc8216bis §6.2.5.2) with its hold time and every part
listed with whether it was fetched.

usage: python3 samples/hls-live-fixture.py CAPTURE...

For every CAPTURE (tshark runs in its directory with the bare name; commands are recorded):

* `fixtures/<CAPTURE>.pdt.json`: players are (client address, User-Agent).  Walking each
  player's requests and responses in capture order, the player knows a playlist from the
  frame that completes its response (tshark's `http.file_data`, `-2` to link it to its
  request); each segment request gets the URI, the rendition (the playlist path that last
  listed it before the request), its EXTINF duration and EXT-X-PROGRAM-DATE-TIME from that
  playlist, and the frame completing its response (the last byte): expected live latency =
  arrival - (PDT + duration), in µs.  ABR switches: consecutive segment requests from
  different renditions.
* `fixtures/<CAPTURE>.llhls.json` when a request carries `_HLS_msn`: per blocking playlist
  request `_HLS_msn`/`_HLS_part` from the query, the request's frame (its last byte), the frame
  with the response's first byte (the lowest of tshark's `tcp.segment` list, or the response
  frame itself when it is one segment; checked against a second tshark pass with
  `-o tcp.desegment_tcp_streams:FALSE`, where each response is shown in its first frame; a
  response whose body never completed in the capture is only in that second pass, which gives
  its first byte and status),
  hold = first byte - request end, the status, and whether the returned playlist holds the
  requested part or segment or a later one (a part index past the last part of a completed
  segment asks for part 0 of the next one); and per player every EXT-X-PART any of its
  playlists listed, with its first fetch (request frame time) or none, and whether that fetch
  came before any playlist listed the part (a preload-hint fetch).

Times are tshark's frame.time_epoch strings cut to µs.  Standard library only; deterministic.
"""
import calendar
import json
import os
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport",
          "http.request.method", "http.request.uri", "http.user_agent", "http.response.code",
          "http.request_in", "http.content_type", "tcp.segment"]


def tshark(name, d, extra, fields, display="http"):
    cmd = ["tshark", "-r", name, "-n", "-2"] + extra + ["-Y", display, "-T", "fields", "-E", "separator=/t",
                                                         "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, cwd=d, check=True, capture_output=True, text=True).stdout
    return cmd, [dict(zip(fields, line.split("\t"))) for line in out.splitlines()]


def us(t):
    """frame.time_epoch string -> µs (truncated, as the captures are µs or cut to µs)."""
    secs, _, frac = t.partition(".")
    return int(secs) * 1_000_000 + int((frac + "000000")[:6])


def ts(u):
    return "%d.%06d" % divmod(u, 1_000_000)


def ms(u):
    sign = "-" if u < 0 else ""
    return "%s%d.%03d" % ((sign,) + divmod(abs(u), 1000))


def unescape(s):
    """tshark's text rendering of a body: \\n, \\r, \\t, \\\\, \\xNN."""
    return re.sub(r"\\(x[0-9a-fA-F]{2}|.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(
        m.group(1), chr(int(m.group(1)[1:], 16)) if m.group(1).startswith("x") else m.group(1)), s)


def pdt_us(s):
    """ISO 8601 date-time (2026-12-02T08:09:35.718+0000 / ...Z / +00:00) -> µs since the epoch."""
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$", s)
    y, mo, d, h, mi, se, frac, tz = m.groups()
    off = 0
    if tz and tz not in ("Z",):
        hh, mm = int(tz[1:3]), int(tz[-2:])
        off = (hh * 3600 + mm * 60) * (1 if tz[0] == "+" else -1)
    secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(se))) - off
    return secs * 1_000_000 + int(((frac or "") + "000000")[:6])


def parse_playlist(body):
    """Segments [(uri, msn, duration_us, pdt_us|None)], parts [(uri, msn, index)], EXTINF kept exact."""
    seq, segs, parts, pending_parts = 0, [], [], []
    inf = pdt = None
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            seq = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            v = line.split(":", 1)[1].split(",")[0]
            whole, _, frac = v.partition(".")
            inf = int(whole) * 1_000_000 + int((frac + "000000")[:6])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = pdt_us(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PART:"):
            pending_parts.append(re.search(r'URI="([^"]*)"', line).group(1))
        elif line and not line.startswith("#") and inf is not None:
            msn = seq + len(segs)
            segs.append((line, msn, inf, pdt))
            parts += [(u, msn, i) for i, u in enumerate(pending_parts)]
            inf = pdt = None
            pending_parts = []
    parts += [(u, seq + len(segs), i) for i, u in enumerate(pending_parts)]
    return segs, parts


def resolve(base, ref):
    ref = ref.split("?")[0]
    if ref.startswith("/"):
        return ref
    if "://" in ref:
        return "/" + ref.split("://", 1)[1].split("/", 1)[1]
    return base.split("?")[0].rsplit("/", 1)[0] + "/" + ref


def satisfied(segs, parts, msn, part):
    complete = max((m for _, m, _, _ in segs), default=None)
    positions = [(m, i) for _, m, i in parts]
    latest = max(positions, default=None)

    def reached(want):
        return (complete is not None and complete >= want[0]) or (latest is not None and latest >= want)
    if part is None:
        return complete is not None and complete >= msn
    count = sum(1 for m, _ in positions if m == msn)
    if complete is not None and complete >= msn and count and part >= count:
        return reached((msn + 1, 0))
    return reached((msn, part))


def main(argv):
    paths = [p for p in argv[1:] if os.path.isfile(p)]
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    for p in sorted(paths):
        d, name = os.path.dirname(os.path.abspath(p)), os.path.basename(p)
        cmd1, rows = tshark(name, d, [], FIELDS)
        cmd2, bodies = tshark(name, d, [], ["frame.number", "http.file_data"],
                              'http.response and http.content_type contains "mpegurl"')
        cmd3, first = tshark(name, d, ["-o", "tcp.desegment_tcp_streams:FALSE"],
                             ["frame.number", "http.request_in", "http.response.code"], "http.response")
        body_of = {int(b["frame.number"]): unescape(b["http.file_data"]) for b in bodies}
        # Undesegmented, each response shows in the frame with its first byte, also one whose
        # body never completed in the capture (the first pass does not show that one at all).
        first_of = {int(f["http.request_in"]): (int(f["frame.number"]), int(f["http.response.code"]))
                    for f in first if f.get("http.request_in")}
        requests = {}
        for r in rows:
            if r.get("http.request.method"):
                src = r["ip.src"] or "[%s]" % r["ipv6.src"]
                requests[int(r["frame.number"])] = {
                    "frame": int(r["frame.number"]), "us": us(r["frame.time_epoch"]), "uri": r["http.request.uri"],
                    "player": (src, r.get("http.user_agent", "")), "response": None}
        for r in rows:
            if r.get("http.response.code") and r.get("http.request_in"):
                frame = int(r["frame.number"])
                segs = [int(s) for s in r.get("tcp.segment", "").split(",") if s]
                start = min(segs) if segs else frame
                if first_of.get(int(r["http.request_in"]), (None,))[0] != start:
                    raise SystemExit("%s: response in frame %d: first byte frame %d not confirmed by the "
                                     "undesegmented pass" % (name, frame, start))
                req = requests[int(r["http.request_in"])]
                req["response"] = {"frame": frame, "end_us": us(r["frame.time_epoch"]), "first_frame": start,
                                   "status": int(r["http.response.code"]), "body": body_of.get(frame)}
        for req_frame, (start, status) in first_of.items():
            req = requests.get(req_frame)
            if req is not None and req["response"] is None:
                # Started but never completed in the capture: first byte and status only.
                req["response"] = {"frame": None, "end_us": None, "first_frame": start, "status": status,
                                   "body": None}
        # frame times of first-byte frames that are not HTTP frames themselves
        cmd4, all_frames = tshark(name, d, [], ["frame.number", "frame.time_epoch"], "frame")
        frame_us = {int(f["frame.number"]): us(f["frame.time_epoch"]) for f in all_frames}
        players = {}
        for req in sorted(requests.values(), key=lambda q: q["frame"]):
            players.setdefault(req["player"], []).append(req)
        pdt_out, ll_out = [], []
        for (client, ua), reqs in sorted(players.items()):
            steps = []
            for q in reqs:
                steps.append((q["us"], 1, "request", q))
                resp = q["response"]
                if resp and resp["body"] is not None and resp["end_us"] is not None:
                    steps.append((resp["end_us"], 0, "playlist", q))
            steps.sort(key=lambda s: (s[0], s[1], s[3]["frame"]))
            listed, segments, switches, last, edge = {}, [], [], None, {}
            reloads, parts, hints = [], {}, {}
            for _, _, kind, q in steps:
                path = q["uri"].split("?")[0]
                if kind == "playlist":
                    body = q["response"]["body"]
                    segs, pts = parse_playlist(body)
                    for u, msn, dur, pdt in segs:
                        listed[resolve(q["uri"], u)] = (path, dur, pdt)
                    # The live edge: the latest live playlist's segments of this rendition.
                    if "#EXT-X-ENDLIST" in body or "#EXT-X-PLAYLIST-TYPE:VOD" in body:
                        edge.pop(path, None)
                    else:
                        edge[path] = [resolve(q["uri"], u) for u, _, _, _ in segs]
                    for u, msn, i in pts:
                        listed.setdefault(resolve(q["uri"], u), (path, None, None))
                        e = parts.setdefault(resolve(q["uri"], u), {"uri": resolve(q["uri"], u), "msn": msn,
                                                                     "part": i, "fetched": False})
                        e.update(msn=msn, part=i)
                        e.setdefault("listed_us", q["response"]["end_us"])
                    continue
                resp = q["response"]
                if path.endswith((".m3u8", ".m3u")):
                    qs = parse_qs(urlsplit(q["uri"]).query)
                    if "_HLS_msn" in qs:
                        msn = int(qs["_HLS_msn"][0])
                        part = int(qs["_HLS_part"][0]) if "_HLS_part" in qs else None
                        entry = {"uri": q["uri"], "msn": msn, "part": part, "request_frame": q["frame"],
                                 "request_end_ts": ts(q["us"]), "status": None, "response_first_frame": None,
                                 "response_first_ts": None, "hold_ms": None, "satisfied": None}
                        if resp:
                            first_us = frame_us[resp["first_frame"]]
                            entry.update(status=resp["status"], response_first_frame=resp["first_frame"],
                                         response_first_ts=ts(first_us), hold_ms=ms(first_us - q["us"]))
                            if resp["body"] is not None:
                                entry["satisfied"] = satisfied(*parse_playlist(resp["body"]), msn, part)
                        reloads.append(entry)
                    continue
                info = listed.get(path)
                if path in parts or (info is None and "part" in path):
                    e = parts.setdefault(path, {"uri": path, "msn": None, "part": None, "fetched": False})
                    if not e["fetched"]:
                        e.update(fetched=True, fetch_ts=ts(q["us"]), before_listed="listed_us" not in e)
                if info is None or info[1] is None:
                    continue
                rendition, dur, pdt = info
                if last is not None and rendition != last:
                    switches.append({"ts": ts(q["us"]), "from": last, "to": rendition})
                last = rendition
                lst = edge.get(rendition, [])
                dist = len(lst) - 1 - lst.index(path) if path in lst else None
                seg = {"uri": q["uri"], "request_ts": ts(q["us"]), "rendition": rendition,
                       "duration_us": dur, "program_date_time_us": pdt, "response_end_ts": None,
                       "live_latency_ms": None, "live_edge_distance": dist}
                if resp and resp["end_us"] is not None:
                    seg["response_end_ts"] = ts(resp["end_us"])
                    if pdt is not None:
                        seg["live_latency_ms"] = ms(resp["end_us"] - pdt - dur)
                segments.append(seg)
            pdt_out.append({"client": client, "user_agent": ua, "segments": segments, "abr_switches": switches})
            if reloads:
                plist = sorted(parts.values(), key=lambda e: (e["msn"] if e["msn"] is not None else -1,
                                                              e["part"] if e["part"] is not None else -1, e["uri"]))
                for e in plist:
                    e.pop("listed_us", None)
                ll_out.append({"client": client, "user_agent": ua, "blocking_reloads": reloads, "parts": plist})
        outdir = os.environ.get("FIXTURE_OUT") or os.path.join(d, "fixtures")
        os.makedirs(outdir, exist_ok=True)
        cmds = [" ".join(c) for c in (cmd1, cmd2, cmd3, cmd4)]
        with open(os.path.join(outdir, name + ".pdt.json"), "w") as f:
            json.dump({"capture": name, "tshark_version": version, "commands": cmds, "players": pdt_out}, f, indent=1)
            f.write("\n")
        n = sum(1 for pl in pdt_out for s in pl["segments"] if s["live_latency_ms"] is not None)
        print("%s: %d players, %d segment fetches with a live latency" % (name, len(pdt_out), n))
        if ll_out:
            with open(os.path.join(outdir, name + ".llhls.json"), "w") as f:
                json.dump({"capture": name, "tshark_version": version, "commands": cmds, "players": ll_out}, f,
                          indent=1)
                f.write("\n")
            print("%s: %d blocking reloads, %d parts listed" % (
                name, sum(len(pl["blocking_reloads"]) for pl in ll_out), sum(len(pl["parts"]) for pl in ll_out)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
