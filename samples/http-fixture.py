#!/usr/bin/env python3
"""Write tshark-derived HTTP fixtures: every request and response tshark decodes.

usage: python3 samples/http-fixture.py [--keylog KEYS] CAPTURE...

For every CAPTURE this writes `fixtures/<CAPTURE name>.http.json` next to it (or into
$FIXTURE_OUT): per HTTP message its TCP stream, the time of the frame tshark shows it in (for a
request its first and only frame on these captures; for a response the frame that completes
it, i.e. its last byte), method and URI or status, Content-Type and Content-Length.

With --keylog KEYS (an SSLKEYLOGFILE-format TLS key log, e.g. hls-https-keylog.keys) tshark also
gets `-o tls.keylog_file:KEYS`, so HTTP inside TLS is decrypted and decoded; KEYS applies to every
CAPTURE given.  tshark runs in the capture's directory and the key log is passed relative to it
(its bare file name when it sits next to the capture, as in samples/), so the recorded command
holds no absolute path.
Standard library only; deterministic for a given capture, key log and tshark.
"""
import json
import os
import subprocess
import sys

FIELDS = ["tcp.stream", "frame.time_epoch", "http.request.method", "http.request.uri",
          "http.response.code", "http.content_type", "http.content_length_header",
          "ip.src", "ipv6.src", "tcp.srcport"]


def main(argv):
    args, keylog = argv[1:], None
    if "--keylog" in args:
        i = args.index("--keylog")
        if i + 1 >= len(args) or not os.path.isfile(args[i + 1]):
            print("--keylog needs an existing key log file", file=sys.stderr)
            return 2
        keylog = args[i + 1]
        del args[i:i + 2]
    paths = [p for p in args if os.path.isfile(p)]
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    for p in sorted(paths):
        d, name = os.path.dirname(os.path.abspath(p)), os.path.basename(p)
        cmd = ["tshark", "-r", name, "-n"]
        if keylog:
            cmd += ["-o", "tls.keylog_file:" + os.path.relpath(os.path.abspath(keylog), d)]
        cmd += ["-Y", "http", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
        for f in FIELDS:
            cmd += ["-e", f]
        out = subprocess.run(cmd, cwd=d, check=True, capture_output=True, text=True).stdout
        msgs = []
        for line in out.splitlines():
            v = dict(zip(FIELDS, line.split("\t")))
            src = v.get("ip.src") or ("[%s]" % v.get("ipv6.src"))
            m = {"tcp_stream": int(v["tcp.stream"]), "frame_ts": v["frame.time_epoch"],
                 "src": "%s:%s" % (src, v.get("tcp.srcport", ""))}
            if v.get("http.request.method"):
                m.update(kind="request", method=v["http.request.method"], uri=v.get("http.request.uri"))
            elif not v.get("http.response.code"):
                # Body bytes tshark could not put back in a message (missing segments).
                m.update(kind="continuation")
            else:
                m.update(kind="response", status=int(v["http.response.code"]) if v.get("http.response.code") else None,
                         content_type=v.get("http.content_type") or None,
                         content_length=int(v["http.content_length_header"]) if v.get("http.content_length_header") else None)
            msgs.append(m)
        outdir = os.environ.get("FIXTURE_OUT") or os.path.join(d, "fixtures")
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, name + ".http.json"), "w") as f:
            json.dump({"capture": name, "tshark_version": version, "command": " ".join(cmd), "messages": msgs}, f, indent=2)
            f.write("\n")
        print("%s: %d HTTP messages" % (name, len(msgs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
