#!/usr/bin/env python3
"""Small RTSP server for the streamscope samples (GStreamer gst-rtsp-server).

Serves on ADDRESS:PORT (default 127.0.0.1:8554):

  /test  PLAY:   H.264 (videotestsrc 160x120@10, x264enc, rtph264pay pt=96)
                 (x264enc threads=1: one slice per frame)
                 + Opus (audiotestsrc 440 Hz, opusenc, rtpopuspay pt=97)
  /rec   RECORD: accepts an ANNOUNCE/RECORD push of up to two streams and
                 throws the media away (decodebin ! fakesink)

Writes "ready" to --ready FILE once listening and exits by itself after
--seconds.  Needs python3-gi, gir1.2-gst-rtsp-server-1.0 and the GStreamer
base/good/ugly plugins (x264enc, opusenc) from Debian.

usage: rtsp-server.py [--port 8554] [--udp-ports MIN-MAX] [--seconds 60] [--ready FILE]
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PLAY = (
    "( videotestsrc is-live=true pattern=ball "
    "! video/x-raw,width=160,height=120,framerate=10/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast bitrate=100 key-int-max=10 threads=1 "
    "! video/x-h264,profile=constrained-baseline "
    "! rtph264pay name=pay0 pt=96 config-interval=-1 "
    "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 "
    "! audio/x-raw,rate=48000,channels=1 "
    "! opusenc bitrate=16000 frame-size=20 "
    "! rtpopuspay name=pay1 pt=97 )"
)
RECORD = "( decodebin name=depay0 ! fakesink async=false  decodebin name=depay1 ! fakesink async=false )"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--ready")
    ap.add_argument("--udp-ports", help="MIN-MAX: server RTP/RTCP UDP ports (default: any)")
    a = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(a.address)
    server.set_service(str(a.port))
    mounts = server.get_mount_points()

    play = GstRtspServer.RTSPMediaFactory()
    play.set_launch(PLAY)
    play.set_shared(False)
    if a.udp_ports:
        lo, hi = (int(x) for x in a.udp_ports.split("-"))
        pool = GstRtspServer.RTSPAddressPool()
        pool.add_range(a.address, a.address, lo, hi, 0)  # unicast range (ttl 0)
        play.set_address_pool(pool)
    mounts.add_factory("/test", play)

    rec = GstRtspServer.RTSPMediaFactory()
    rec.set_launch(RECORD)
    rec.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
    rec.set_latency(100)
    mounts.add_factory("/rec", rec)

    if server.attach(None) == 0:
        print("cannot listen on %s:%d" % (a.address, a.port), file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.timeout_add(int(a.seconds * 1000), loop.quit)
    print("rtsp-server: listening on rtsp://%s:%d/test and /rec" % (a.address, a.port),
          file=sys.stderr, flush=True)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
