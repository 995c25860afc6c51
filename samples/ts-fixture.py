#!/usr/bin/env python3
"""Write ffprobe-derived fixtures for the media segments (MPEG-TS, fragmented MP4) a capture carries.

usage: python3 samples/ts-fixture.py CAPTURE...

tshark exports the HTTP objects of CAPTURE (--export-objects http), and ffprobe reads each
.ts object (the format's start time and, per stream, the codec, the start time and the largest
packet PTS) and each fMP4 media segment (.m4s) behind its init segment (init-streamN.m4s for
DASH, init.mp4 for HLS): per stream the start time and the end time (last packet PTS plus its
duration). Written to `fixtures/<CAPTURE name>.ts.json` (or $FIXTURE_OUT). Deterministic.
"""
import json
import os
import subprocess
import sys
import tempfile


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "format=start_time:stream=index,codec_name,start_time", "-of", "json", path],
                         check=True, capture_output=True, text=True).stdout
    info = json.loads(out)
    streams = []
    for s in info.get("streams", []):
        pts = subprocess.run(["ffprobe", "-v", "error", "-select_streams", str(s["index"]),
                              "-show_entries", "packet=pts_time", "-of", "csv=p=0", path],
                             check=True, capture_output=True, text=True).stdout
        times = [float(x.strip(",")) for x in pts.split() if x.strip(",")]
        streams.append({"codec": s.get("codec_name"), "start_time": s.get("start_time"),
                        "max_pts_time": "%.6f" % max(times) if times else None})
    return {"start_time": info.get("format", {}).get("start_time"), "streams": streams}


def probe_fmp4(init, seg, tmp):
    joined = os.path.join(tmp, "joined.mp4")
    with open(joined, "wb") as f:
        f.write(open(init, "rb").read() + open(seg, "rb").read())
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=index,codec_type,start_time",
                          "-of", "json", joined], check=True, capture_output=True, text=True).stdout
    streams = []
    for s in json.loads(out).get("streams", []):
        pk = subprocess.run(["ffprobe", "-v", "error", "-select_streams", str(s["index"]), "-show_entries",
                             "packet=pts_time,duration_time", "-of", "csv=p=0", joined],
                            check=True, capture_output=True, text=True).stdout
        rows = [r.strip(",").split(",") for r in pk.split() if r.strip(",")]
        ends = [float(p) + float(d) for p, d in rows if p != "N/A" and d != "N/A"]
        end = max(ends) if ends else None
        streams.append({"type": s.get("codec_type"), "start_time": s.get("start_time"),
                        "end_time": "%.6f" % end if end is not None else None, "packets": len(rows)})
    return {"streams": streams}


def main(argv):
    paths = [p for p in argv[1:] if os.path.isfile(p)]
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    version = subprocess.run(["ffprobe", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    for p in sorted(paths):
        d, name = os.path.dirname(os.path.abspath(p)), os.path.basename(p)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["tshark", "-r", name, "-q", "--export-objects", "http," + tmp],
                           cwd=d, check=True, capture_output=True)
            segments = {}
            objs = sorted(os.listdir(tmp))
            inits = [o for o in objs if "init" in o and "(" not in o]
            for obj in objs:
                ext = os.path.splitext(obj)[1]
                base = obj.split("(")[0] + (ext if "(" in obj else "")
                if obj.endswith(".ts"):
                    segments.setdefault(base, probe(os.path.join(tmp, obj)))
                elif obj.endswith(".m4s") and "init" not in obj and inits:
                    stream = [i for i in inits if "stream" in obj and i.replace("init-", "").split(".")[0] in obj]
                    init = stream[0] if stream else inits[0]
                    segments.setdefault(base, probe_fmp4(os.path.join(tmp, init), os.path.join(tmp, obj), tmp))
        outdir = os.environ.get("FIXTURE_OUT") or os.path.join(d, "fixtures")
        os.makedirs(outdir, exist_ok=True)
        doc = {"capture": name, "ffprobe_version": version,
               "commands": ["tshark -r %s -q --export-objects http,DIR" % name,
                            "ffprobe -v error -show_entries format=start_time:stream=index,codec_name,start_time -of json SEGMENT",
                            "ffprobe -v error -select_streams N -show_entries packet=pts_time -of csv=p=0 SEGMENT",
                            "fMP4: ffprobe -v error -select_streams N -show_entries packet=pts_time,duration_time -of csv=p=0 INIT+SEGMENT"],
               "segments": segments}
        with open(os.path.join(outdir, name + ".ts.json"), "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")
        print("%s: %d segments" % (name, len(segments)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
