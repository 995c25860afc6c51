#!/usr/bin/env python3
"""Write a tshark-derived fixture of RTP relayed between flows (a TURN server receiving a
packet on one 5-tuple and sending it on another).

usage: python3 samples/relay-fixture.py CAPTURE...

For every CAPTURE this writes `fixtures/<CAPTURE name>.relay.json`: tshark decodes every RTP
packet (with the heuristics WebRTC needs: RTP on any UDP port, inside STUN/TURN ChannelData and
Data indications), and for each packet (SSRC, sequence number) seen on a second UDP stream
within 10 s of the first sighting, the pair is a relayed packet. Per (SSRC, from-stream,
to-stream): the packet count and the min/median/max of the time between the two sightings
(exact, from tshark's time strings, in ms to the µs); and every relayed packet with the marker
bit (one row per video frame). Streams are named by their endpoints so a test can map them to
its own flow ids. tshark runs in the capture's directory with the bare file name, so the
recorded command holds no absolute path. Standard library only; deterministic.
"""
import json
import os
import subprocess
import sys

HEURISTICS = ["rtp_udp", "rtp_stun", "stun_turn", "dtls_stun"]
FIELDS = ["frame.number", "frame.time_epoch", "udp.stream", "ip.src", "udp.srcport", "ip.dst",
          "udp.dstport", "rtp.ssrc", "rtp.seq", "rtp.marker"]
SAME_PACKET_US = 10_000_000


def micros(s):
    secs, _, frac = s.partition(".")
    return int(secs) * 1_000_000 + int((frac + "000000")[:6])


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main(argv):
    paths = [p for p in argv[1:] if os.path.isfile(p)]
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    for p in sorted(paths):
        d, name = os.path.dirname(os.path.abspath(p)), os.path.basename(p)
        cmd = ["tshark", "-r", name, "-n"]
        for h in HEURISTICS:
            cmd += ["--enable-heuristic", h]
        cmd += ["-Y", "rtp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=l"]
        for f in FIELDS:
            cmd += ["-e", f]
        out = subprocess.run(cmd, cwd=d, check=True, capture_output=True, text=True).stdout
        streams, seen, pairs = {}, {}, []
        for line in out.splitlines():
            v = dict(zip(FIELDS, line.split("\t")))
            stream = int(v["udp.stream"])
            ends = sorted(["%s:%s" % (v["ip.src"], v["udp.srcport"]), "%s:%s" % (v["ip.dst"], v["udp.dstport"])])
            streams.setdefault(stream, ends)
            key = (int(v["rtp.ssrc"], 16), int(v["rtp.seq"]))
            at = {"stream": stream, "frame": int(v["frame.number"]), "ts": v["frame.time_epoch"][:17],
                  "us": micros(v["frame.time_epoch"])}
            first = seen.get(key)
            if first is None or at["us"] - first["us"] > SAME_PACKET_US:
                seen[key] = at
            elif first["stream"] != stream:
                pairs.append((key, v["rtp.marker"] in ("1", "True"), first, at))
        per = {}
        for (ssrc, seq), marker, a, b in pairs:
            per.setdefault((ssrc, a["stream"], b["stream"]), []).append(b["us"] - a["us"])
        relays = [{"ssrc": "0x%08x" % ssrc, "from": streams[f], "to": streams[t], "packets": len(v),
                   "min_ms": round(min(v) / 1000, 3), "median_ms": round(median(v) / 1000, 3),
                   "max_ms": round(max(v) / 1000, 3)}
                  for (ssrc, f, t), v in sorted(per.items())]
        markers = [{"ssrc": "0x%08x" % ssrc, "seq": seq, "from": streams[a["stream"]], "to": streams[b["stream"]],
                    "ingest_frame": a["frame"], "ingest_ts": a["ts"], "delivery_frame": b["frame"],
                    "delivery_ts": b["ts"], "latency_ms": round((b["us"] - a["us"]) / 1000, 3)}
                   for (ssrc, seq), marker, a, b in pairs if marker]
        fx = {"capture": name, "tshark_version": version, "command": " ".join(cmd),
              "rtp_packets": len(out.splitlines()), "relayed_packets": len(pairs),
              "relays": relays, "marker_rows": markers}
        outdir = os.environ.get("FIXTURE_OUT") or os.path.join(d, "fixtures")
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, name + ".relay.json"), "w") as f:
            json.dump(fx, f, indent=1, sort_keys=True)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
