#!/usr/bin/env python3
"""Write tshark-derived reference fixtures for sample captures.

usage: python3 samples/tshark-fixture.py samples/*.pcap*

For every capture FILE this writes, into a `fixtures/` directory next to the
capture:

  fixtures/<FILE>.json      per-flow aggregates from one `tshark -T fields` run
  fixtures/<FILE>.conv.txt  raw `tshark -q -z conv,tcp -z conv,udp` output

tshark is run with the capture's directory as working directory and only the
file name on the command line, so the recorded command is machine independent.
Standard library only; output is deterministic for a given capture and tshark.
"""
import json
import os
import re
import subprocess
import sys
from decimal import Decimal

FIELDS = [
    "frame.number", "frame.time_epoch", "frame.len",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.srcport", "tcp.dstport", "tcp.stream", "tcp.len",
    "udp.srcport", "udp.dstport", "udp.stream", "udp.length",
    "icmp.type", "icmpv6.type",
]


def tshark_cmd(name):
    cmd = ["tshark", "-r", name, "-n", "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=l"]
    for f in FIELDS:
        cmd += ["-e", f]
    return cmd


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


def aggregate(lines):
    flows = {}
    frames = 0
    for line in lines:
        if not line:
            continue
        frames += 1
        v = dict(zip(FIELDS, line.split("\t")))
        for f in FIELDS:
            v.setdefault(f, "")
        if v["icmp.type"] or v["icmpv6.type"]:
            continue
        if v["tcp.stream"]:
            transport = "tcp"
            stream = int(v["tcp.stream"])
            sport, dport = v["tcp.srcport"], v["tcp.dstport"]
            payload = int(v["tcp.len"] or 0)
        elif v["udp.stream"]:
            transport = "udp"
            stream = int(v["udp.stream"])
            sport, dport = v["udp.srcport"], v["udp.dstport"]
            payload = max(int(v["udp.length"] or 8) - 8, 0)
        else:
            continue
        src = endpoint(v["ip.src"], v["ipv6.src"], sport)
        dst = endpoint(v["ip.dst"], v["ipv6.dst"], dport)
        flen = int(v["frame.len"])
        ts = v["frame.time_epoch"]
        key = (transport, stream)
        fl = flows.get(key)
        if fl is None:
            fl = flows[key] = {
                "transport": transport, "stream": stream, "a": src, "b": dst,
                "packets_a2b": 0, "packets_b2a": 0,
                "bytes_a2b": 0, "bytes_b2a": 0,
                "frame_bytes_a2b": 0, "frame_bytes_b2a": 0,
                "first_ts": ts, "last_ts": ts,
            }
        d = "a2b" if (src, dst) == (fl["a"], fl["b"]) else "b2a"
        fl["packets_" + d] += 1
        fl["bytes_" + d] += payload
        fl["frame_bytes_" + d] += flen
        if Decimal(ts) < Decimal(fl["first_ts"]):
            fl["first_ts"] = ts
        if Decimal(ts) > Decimal(fl["last_ts"]):
            fl["last_ts"] = ts
    ordered = sorted(flows.values(),
                     key=lambda f: (Decimal(f["first_ts"]), f["transport"], f["stream"]))
    return frames, ordered


def fixture_for(path, version):
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    cmd = tshark_cmd(name)
    res = subprocess.run(cmd, cwd=directory, check=True, capture_output=True, text=True)
    frames, flows = aggregate(res.stdout.split("\n"))
    # FIXTURE_OUT puts the fixtures elsewhere (e.g. for captures in a read-only folder).
    outdir = os.environ.get("FIXTURE_OUT") or os.path.join(directory, "fixtures")
    os.makedirs(outdir, exist_ok=True)
    doc = {
        "capture": name,
        "tshark_version": version,
        "command": " ".join(cmd),
        "frames": frames,
        "flows": flows,
    }
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    conv = subprocess.run(["tshark", "-r", name, "-q", "-z", "conv,tcp", "-z", "conv,udp"],
                          cwd=directory, check=True, capture_output=True, text=True)
    with open(os.path.join(outdir, name + ".conv.txt"), "w") as f:
        f.write(conv.stdout)
    return frames, len(flows)


def main(argv):
    paths = [p for p in argv[1:] if os.path.isfile(p)]
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    version = tshark_version()
    for p in sorted(set(paths), key=os.path.basename):
        frames, nflows = fixture_for(p, version)
        print("%s: %d frames, %d flows" % (os.path.basename(p), frames, nflows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
