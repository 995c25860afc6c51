#!/usr/bin/env python3
"""Write ffprobe-derived fixtures for the MPEG-TS segments an HLS capture carries.

usage: python3 samples/ts-fixture.py CAPTURE...

tshark exports the HTTP objects of CAPTURE (--export-objects http), and ffprobe reads each
.ts object: the format's start time and, per stream, the codec, the start time and the largest
packet PTS. Written to `fixtures/<CAPTURE name>.ts.json` (or $FIXTURE_OUT). Deterministic.
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
            for obj in sorted(os.listdir(tmp)):
                if not obj.endswith(".ts"):
                    continue
                base = obj.split("(")[0] + (".ts" if "(" in obj else "")
                segments.setdefault(base, probe(os.path.join(tmp, obj)))
        outdir = os.environ.get("FIXTURE_OUT") or os.path.join(d, "fixtures")
        os.makedirs(outdir, exist_ok=True)
        doc = {"capture": name, "ffprobe_version": version,
               "commands": ["tshark -r %s -q --export-objects http,DIR" % name,
                            "ffprobe -v error -show_entries format=start_time:stream=index,codec_name,start_time -of json SEGMENT",
                            "ffprobe -v error -select_streams N -show_entries packet=pts_time -of csv=p=0 SEGMENT"],
               "segments": segments}
        with open(os.path.join(outdir, name + ".ts.json"), "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")
        print("%s: %d segments" % (name, len(segments)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
