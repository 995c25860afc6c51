#!/usr/bin/env python3
"""Two aiortc peers in one process: audio + video + a data channel, with keys recorded.

usage: python3 webrtc-peers.py --seconds 5 --keylog K.keys --srtp-json K.srtp.json \
           [--turn HOST:PORT --turn-user U --turn-password P] [--srtp-profile NAME]

The offerer ("offerer") and the answerer ("answerer") are aiortc RTCPeerConnections in one
asyncio loop; signalling is done in-process (offer/answer with complete candidate lists).
Each sends a 440/660 Hz Opus tone and a 160x120, 10 fps VP8 test pattern; the offerer opens
a data channel "chat" and the two trade a few text messages.

ICE is restricted to 127.0.0.1: aioice's host address discovery is replaced by
["127.0.0.1"] and no STUN server is configured, so nothing leaves loopback.  With --turn the
offerer uses only a relayed candidate from that TURN server (iceTransportPolicy "relay", UDP)
while the answerer keeps its host candidate, so the offerer's media runs in TURN ChannelData.

Recorded:
  --keylog FILE     the DTLS 1.2 key log in SSLKEYLOGFILE format (CLIENT_RANDOM lines), from
                    pyOpenSSL's keylog callback set on every DTLS context aiortc creates;
  --srtp-json FILE  per direction the SRTP profile, master key and salt (hex and base64) that
                    aiortc hands to libsrtp (taken from the pylibsrtp Policy objects built from
                    the DTLS-SRTP exporter), the DTLS and ICE role of each peer, the SSRCs each
                    peer sends, the nominated candidate pairs and the data channel messages.
--srtp-profile NAME restricts the offered DTLS-SRTP profiles to one (e.g. SRTP_AES128_CM_SHA1_80);
by default aiortc offers AEAD_AES_256_GCM, AEAD_AES_128_GCM, AES128_CM_SHA1_80.
"""
import argparse
import asyncio
import base64
import contextvars
import fractions
import json
import math
import sys
import time

import aioice.ice
from av import AudioFrame, VideoFrame

import aiortc.rtcdtlstransport as dtlsmod
from aiortc import (MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection)
from aiortc.rtcconfiguration import RTCIceTransportPolicy

# --- loopback only -------------------------------------------------------------------------
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []

# --- DTLS key log --------------------------------------------------------------------------
KEYLOG_LINES = []
_orig_ctx = dtlsmod.RTCCertificate._create_ssl_context


def _ctx_with_keylog(self, srtp_profiles):
    ctx = _orig_ctx(self, srtp_profiles)
    def cb(conn, line):
        line = line.decode("ascii")
        if line not in KEYLOG_LINES:  # both peers log the same secret
            KEYLOG_LINES.append(line)

    ctx.set_keylog_callback(cb)
    return ctx


dtlsmod.RTCCertificate._create_ssl_context = _ctx_with_keylog

# --- SRTP keys: record every pylibsrtp Policy aiortc builds in _setup_srtp -------------------
CURRENT_TRANSPORT = contextvars.ContextVar("transport", default=None)
POLICIES = {}  # id(transport) -> list of (direction, key+salt bytes, libsrtp profile)
_OrigPolicy = dtlsmod.Policy
PROFILE_NAMES = {p.libsrtp_profile: p for p in dtlsmod.SRTP_PROFILES}


class RecordingPolicy(_OrigPolicy):
    def __init__(self, key=None, ssrc_type=_OrigPolicy.SSRC_ANY_INBOUND, ssrc_value=0,
                 srtp_profile=_OrigPolicy.SRTP_PROFILE_AES128_CM_SHA1_80):
        super().__init__(key=key, ssrc_type=ssrc_type, ssrc_value=ssrc_value, srtp_profile=srtp_profile)
        t = CURRENT_TRANSPORT.get()
        if t is not None:
            direction = "rx" if ssrc_type == _OrigPolicy.SSRC_ANY_INBOUND else "tx"
            POLICIES.setdefault(id(t), []).append((direction, bytes(key), srtp_profile))


dtlsmod.Policy = RecordingPolicy
EXPORTER = {}
_orig_setup = dtlsmod.RTCDtlsTransport._setup_srtp


def _setup_srtp(self):
    token = CURRENT_TRANSPORT.set(self)
    try:
        _orig_setup(self)
    finally:
        CURRENT_TRANSPORT.reset(token)


dtlsmod.RTCDtlsTransport._setup_srtp = _setup_srtp


# --- media ---------------------------------------------------------------------------------
class ToneTrack(MediaStreamTrack):
    """48 kHz mono sine tone in 20 ms frames."""
    kind = "audio"

    def __init__(self, freq):
        super().__init__()
        self.freq = freq
        self.n = 0
        self.start = None

    async def recv(self):
        rate, samples = 48000, 960
        if self.start is None:
            self.start = time.time()
        else:
            wait = self.start + self.n / rate - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        pcm = bytearray()
        for i in range(samples):
            v = int(8000 * math.sin(2 * math.pi * self.freq * (self.n + i) / rate))
            pcm += v.to_bytes(2, "little", signed=True)
        frame = AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(bytes(pcm))
        frame.pts = self.n
        frame.sample_rate = rate
        frame.time_base = fractions.Fraction(1, rate)
        self.n += samples
        return frame


class PatternTrack(MediaStreamTrack):
    """160x120 yuv420p moving gradient at 10 fps."""
    kind = "video"

    def __init__(self, shade):
        super().__init__()
        self.shade = shade
        self.i = 0
        self.start = None

    async def recv(self):
        fps = 10
        if self.start is None:
            self.start = time.time()
        else:
            wait = self.start + self.i / fps - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = VideoFrame(width=160, height=120, format="yuv420p")
        for k, p in enumerate(frame.planes):
            stride, size = p.line_size, p.buffer_size
            if k == 0:
                row = bytes(((x * 2 + self.i * 8) & 0xFF) for x in range(stride))
                p.update(row * (size // stride))
            else:
                p.update(bytes([(self.shade + 40 * k) & 0xFF]) * size)
        frame.pts = self.i * 9000
        frame.time_base = fractions.Fraction(1, 90000)
        self.i += 1
        return frame


# --- run -----------------------------------------------------------------------------------
def b(x):
    return {"hex": x.hex(), "base64": base64.b64encode(x).decode("ascii")}


def pair_info(pc):
    conn = pc.sctp.transport.transport._connection if pc.sctp else None
    if conn is None:
        for t in pc.getTransceivers():
            conn = t.sender.transport.transport._connection
            break
    out = []
    for comp, pair in sorted(conn._nominated.items()):
        lc, rc = pair.local_candidate, pair.remote_candidate
        out.append({"component": comp,
                    "local": {"type": lc.type, "addr": "%s:%d" % (lc.host, lc.port)},
                    "remote": {"type": rc.type, "addr": "%s:%d" % (rc.host, rc.port)}})
    return conn, out


async def run(args):
    turn = None
    if args.turn:
        turn = RTCIceServer(urls="turn:%s?transport=udp" % args.turn,
                            username=args.turn_user, credential=args.turn_password)
        cfg_off = RTCConfiguration(iceServers=[turn], iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    else:
        cfg_off = RTCConfiguration(iceServers=[])
    cfg_ans = RTCConfiguration(iceServers=[])
    if args.srtp_profile:
        want = [p for p in dtlsmod.SRTP_PROFILES if p.openssl_profile.decode() == args.srtp_profile]
        if not want:
            sys.exit("unknown SRTP profile %s" % args.srtp_profile)
        dtlsmod.SRTP_PROFILES[:] = want

    peers = {"offerer": RTCPeerConnection(cfg_off), "answerer": RTCPeerConnection(cfg_ans)}
    tracks = {"offerer": (ToneTrack(440), PatternTrack(60)), "answerer": (ToneTrack(660), PatternTrack(180))}
    for name, pc in peers.items():
        for t in tracks[name]:
            pc.addTrack(t)
    messages = []
    opened = asyncio.Event()
    chan = peers["offerer"].createDataChannel("chat")

    @chan.on("open")
    def _open():
        opened.set()

    @chan.on("message")
    def _off_msg(m):
        messages.append({"to": "offerer", "ts": time.time(), "text": m})

    @peers["answerer"].on("datachannel")
    def _dc(ch):
        @ch.on("message")
        def _ans_msg(m):
            messages.append({"to": "answerer", "ts": time.time(), "text": m})
            ch.send("pong " + m.split(" ", 1)[1])

    connected = asyncio.Event()

    @peers["offerer"].on("connectionstatechange")
    def _state():
        if peers["offerer"].connectionState == "connected":
            connected.set()

    offer = await peers["offerer"].createOffer()
    await peers["offerer"].setLocalDescription(offer)
    await peers["answerer"].setRemoteDescription(peers["offerer"].localDescription)
    answer = await peers["answerer"].createAnswer()
    await peers["answerer"].setLocalDescription(answer)
    await peers["offerer"].setRemoteDescription(peers["answerer"].localDescription)

    await asyncio.wait_for(connected.wait(), 20)
    await asyncio.wait_for(opened.wait(), 20)
    t0 = time.time()
    for i in range(5):
        chan.send("ping %d" % i)
        await asyncio.sleep(0.5)
    await asyncio.sleep(max(0.0, args.seconds - (time.time() - t0)))

    # gather what was used before closing
    info = {"peers": {}, "directions": [], "data_channel": {"label": chan.label, "messages": messages}}
    dtls_by_peer = {}
    for name, pc in peers.items():
        trs = pc.getTransceivers()
        dtls = trs[0].sender.transport
        dtls_by_peer[name] = dtls
        conn, pairs = pair_info(pc)
        sends = {}
        for t in trs:
            s = t.sender
            sends[t.kind] = "0x%08x" % s._ssrc
            if t.kind == "video":
                sends["video_rtx"] = "0x%08x" % s._rtx_ssrc
        info["peers"][name] = {
            "ice_role": "controlling" if conn.ice_controlling else "controlled",
            "ice_ufrag": conn.local_username,
            "dtls_role": dtls._role,
            "ice_transport_policy": "relay" if (name == "offerer" and turn) else "all",
            "nominated": pairs,
            "sends_ssrcs": sends,
            "local_candidates": ["%s %s:%d" % (c.type, c.host, c.port) for c in conn.local_candidates],
        }
    names = list(peers)
    for name in names:
        other = [n for n in names if n != name][0]
        pol = {d: (k, p) for d, k, p in POLICIES[id(dtls_by_peer[name])]}
        k, prof = pol["tx"]
        spec = PROFILE_NAMES[prof]
        key, salt = k[:spec.key_length], k[spec.key_length:]
        rk = {d: kk for d, kk, _ in POLICIES[id(dtls_by_peer[other])]}["rx"]
        assert rk == k, "sender's tx key differs from receiver's rx key"
        info["directions"].append({
            "from": name, "to": other,
            "sender_dtls_role": info["peers"][name]["dtls_role"],
            "srtp_profile": spec.openssl_profile.decode(),
            "master_key": b(key), "master_salt": b(salt),
            "ssrcs": info["peers"][name]["sends_ssrcs"],
        })
    info["srtp_profile"] = info["directions"][0]["srtp_profile"]
    if turn:
        info["turn"] = {"server": args.turn, "transport": "udp", "username": args.turn_user,
                        "password": args.turn_password, "realm": args.turn_realm,
                        "used_by": "offerer", "note": "test credentials of a throwaway server"}
    info["note"] = ("master key/salt per direction as given to libsrtp (RFC 5764 4.2: the DTLS "
                    "client's write key/salt protect what the client sends); the same keys "
                    "protect SRTP and SRTCP of that direction")

    for pc in peers.values():
        await pc.close()
    await asyncio.sleep(0.3)
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--keylog", required=True)
    ap.add_argument("--srtp-json", required=True)
    ap.add_argument("--turn")
    ap.add_argument("--turn-user")
    ap.add_argument("--turn-password")
    ap.add_argument("--turn-realm", help="only recorded in --srtp-json")
    ap.add_argument("--srtp-profile")
    args = ap.parse_args()
    info = asyncio.run(run(args))
    with open(args.keylog, "w") as f:
        f.write("".join(line + "\n" for line in KEYLOG_LINES))
    # message times depend on the run; keep only what was said, in order
    for m in info["data_channel"]["messages"]:
        m.pop("ts")
    with open(args.srtp_json, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print("keylog lines: %d, directions: %d, profile %s" % (len(KEYLOG_LINES), len(info["directions"]),
                                                             info["srtp_profile"]))


if __name__ == "__main__":
    main()
