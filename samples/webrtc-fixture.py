#!/usr/bin/env python3
"""Write tshark-derived WebRTC fixtures: STUN/TURN messages, DTLS records, SRTP and SRTCP.

usage: python3 samples/webrtc-fixture.py CAPTURE...

For every CAPTURE this writes `fixtures/<CAPTURE name>.webrtc.json` next to it (or into
$FIXTURE_OUT).  If a key log `<capture stem>.keys` sits next to the capture, tshark gets
`-o tls.keylog_file:<stem>.keys` and decrypts DTLS 1.2.

tshark options used on every capture (recorded in the fixture with each command):
  --enable-heuristic rtp_udp    RTP/SRTP on UDP ports no signalling announced (WebRTC's
                                random ICE ports); STUN and DTLS on UDP are found by
                                heuristics that are on by default
  --enable-heuristic rtp_stun   RTP/SRTP inside TURN ChannelData (off by default)
  --enable-heuristic dtls_stun  DTLS inside TURN ChannelData (off by default)
  --enable-heuristic stun_turn  STUN (ICE checks) inside TURN ChannelData (off by default)
A second pass adds `-d udp.port==N,rtcp` for the plain-UDP ports on which the first pass left
RTCP-looking datagrams (version 2, packet type 200-207) undissected: tshark's RTCP heuristic
takes SRTCP with an AES-GCM trailer but not the 14-byte AES-CM one (SRTCP index + 80-bit tag).
Only those datagrams are taken from the second pass, because the decode-as also turns the
STUN, DTLS and SRTP on that port into RTCP.  SRTCP inside TURN ChannelData is not dissected by
tshark at all (its rtcp_stun heuristic does not take it): such messages are listed under
`rtcp_in_channeldata_undissected` with the header fields read from tshark's `data.data` bytes.

Contents:
  stun     every STUN/TURN message and ChannelData message: frame, frame.time_epoch,
           transport and udp/tcp stream, src/dst, method, class, transaction id, error code,
           XOR-MAPPED / XOR-RELAYED / XOR-PEER address, lifetime, channel number, username,
           ICE attributes, and tshark's request/response links and stun.time (ms)
  dtls     every DTLS record: frame, time, content type, version, epoch, sequence number,
           length, handshake messages (type, length, message_seq, fragment offset/length; the
           ServerHello's cipher suite, use_srtp profiles of the hellos), alert, and with a key log the decrypted application data length
  rtp      per (flow, SSRC): packets, payload types, first/last sequence number and time,
           markers, whether carried in TURN ChannelData
  rtcp     every RTCP/SRTCP datagram tshark dissects: packet types, sender SSRC, SRTCP
           E flag and index, malformed flag, and which pass found it
  rtp_streams_text   tshark -q -z rtp,streams with the first pass's options
Standard library only; deterministic for a given capture, key log and tshark.  tshark runs in
the capture's directory with bare file names, so the commands hold no absolute path.
"""
import json
import os
import re
import subprocess
import sys
from tsharklib import tshark_version, run, as_list, find_all, first, num

HEUR = ["--enable-heuristic", "rtp_udp", "--enable-heuristic", "rtp_stun",
        "--enable-heuristic", "dtls_stun", "--enable-heuristic", "stun_turn"]
LAYERS = "frame ip ipv6 udp tcp stun classicstun dtls rtp rtcp srtcp data _ws.malformed"
METHODS = {0x001: "binding", 0x003: "allocate", 0x004: "refresh", 0x006: "send", 0x007: "data",
           0x008: "create_permission", 0x009: "channel_bind", 0x00a: "connect",
           0x00b: "connection_bind", 0x00c: "connection_attempt"}
CLASSES = {0x0000: "request", 0x0001: "indication", 0x0010: "success", 0x0011: "error"}
CONTENT = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data",
           24: "heartbeat"}
HANDSHAKE = {0: "hello_request", 1: "client_hello", 2: "server_hello", 3: "hello_verify_request",
             4: "new_session_ticket", 11: "certificate", 12: "server_key_exchange",
             13: "certificate_request", 14: "server_hello_done", 15: "certificate_verify",
             16: "client_key_exchange", 20: "finished"}
RTCP_PT = {200: "sr", 201: "rr", 202: "sdes", 203: "bye", 204: "app", 205: "rtpfb", 206: "psfb",
           207: "xr"}


def frame_info(layers):
    fr = layers["frame"]
    info = {"frame": int(fr["frame.number"]), "ts": fr["frame.time_epoch"]}
    ip = layers.get("ip") or layers.get("ipv6") or {}
    if isinstance(ip, list):
        ip = ip[0]
    src = ip.get("ip.src") or ("[%s]" % ip.get("ipv6.src") if ip.get("ipv6.src") else "?")
    dst = ip.get("ip.dst") or ("[%s]" % ip.get("ipv6.dst") if ip.get("ipv6.dst") else "?")
    if "udp" in layers:
        u = layers["udp"]
        info.update(transport="udp", stream=int(u["udp.stream"]),
                    src="%s:%s" % (src, u["udp.srcport"]), dst="%s:%s" % (dst, u["udp.dstport"]))
    elif "tcp" in layers:
        t = layers["tcp"]
        info.update(transport="tcp", stream=int(t["tcp.stream"]),
                    src="%s:%s" % (src, t["tcp.srcport"]), dst="%s:%s" % (dst, t["tcp.dstport"]))
    return info


def address(att):
    ip, port = att.get("stun.att.ipv4") or att.get("stun.att.ipv6"), att.get("stun.att.port")
    if ip is None or port is None:
        return None
    return ("%s:%s" if ":" not in ip else "[%s]:%s") % (ip, port)


def stun_messages(layers, base):
    out = []
    in_channel = False
    for st in as_list(layers.get("stun")):
        m = dict(base)
        if in_channel:
            m["in_turn_channel"] = True
        if "stun.channel" in st:
            in_channel = True
            m.update(kind="channel_data", channel="0x%04x" % num(st["stun.channel"]),
                     length=num(st.get("stun.length")))
            out.append(m)
            continue
        tt = st.get("stun.type_tree", {})
        method, cls = num(tt.get("stun.type.method")), num(tt.get("stun.type.class"))
        m.update(kind="message", method=METHODS.get(method, "0x%03x" % method if method is not None else None),
                 method_code=method, **{"class": CLASSES.get(cls, cls)},
                 transaction_id=(st.get("stun.id") or "").replace(":", ""))
        for k, name in (("stun.response-to", "response_to_frame"), ("stun.response-in", "response_in_frame")):
            if k in st:
                m[name] = int(st[k])
        if "stun.time" in st:
            m["stun_time_ms"] = round(float(st["stun.time"]) * 1000, 6)
        attrs = find_all(st.get("stun.attributes", {}), "stun.attribute_tree")
        m["attributes"] = ["0x%04x" % num(a["stun.att.type"]) for a in attrs if "stun.att.type" in a]
        for a in attrs:
            t = num(a.get("stun.att.type"))
            if t == 0x0009:
                m["error_code"] = num(a["stun.att.error.class"]) * 100 + num(a["stun.att.error"])
                m["error_reason"] = a.get("stun.att.error.reason")
            elif t == 0x0020:
                m["xor_mapped_address"] = address(a)
            elif t == 0x0016:
                m["xor_relayed_address"] = address(a)
            elif t == 0x0012:
                m.setdefault("xor_peer_address", address(a))
            elif t == 0x0001:
                m["mapped_address"] = address(a)
            elif t == 0x000d:
                m["lifetime"] = num(a["stun.att.lifetime"])
            elif t == 0x000c:
                m["channel"] = "0x%04x" % num(a["stun.att.channelnum"])
            elif t == 0x0006:
                m["username"] = a.get("stun.att.username")
            elif t == 0x0014:
                m["realm"] = a.get("stun.att.realm")
            elif t == 0x0024:
                m["priority"] = num(a.get("stun.att.priority"))
            elif t == 0x0025:
                m["use_candidate"] = True
            elif t == 0x8029:
                m["ice_controlled"] = True
            elif t == 0x802a:
                m["ice_controlling"] = True
        out.append(m)
    return out


def dtls_records(layers, base, decrypted):
    out = []
    for d in as_list(layers.get("dtls")):
        for rec in find_all(d, "dtls.record"):
            ct = num(rec.get("dtls.record.content_type"))
            r = dict(base)
            r.update(content_type=ct, content=CONTENT.get(ct), version="0x%04x" % num(rec["dtls.record.version"]),
                     epoch=num(rec.get("dtls.record.epoch")),
                     sequence_number=num(rec.get("dtls.record.sequence_number")),
                     length=num(rec.get("dtls.record.length")))
            hs = []
            for h in as_list(rec.get("dtls.handshake")):
                if not isinstance(h, dict) or "dtls.handshake.type" not in h:
                    continue
                ht = num(h["dtls.handshake.type"])
                e = {"type": ht, "name": HANDSHAKE.get(ht), "length": num(h.get("dtls.handshake.length")),
                     "message_seq": num(h.get("dtls.handshake.message_seq")),
                     "fragment_offset": num(h.get("dtls.handshake.fragment_offset")),
                     "fragment_length": num(h.get("dtls.handshake.fragment_length"))}
                if ht == 2 and "dtls.handshake.ciphersuite" in h:
                    e["cipher_suite"] = "0x%04x" % num(h["dtls.handshake.ciphersuite"])
                if ht in (1, 2):
                    prof = find_all(h, "dtls.use_srtp.protection_profile")
                    if prof:
                        e["srtp_profiles"] = ["0x%04x" % num(x) for x in prof]
                hs.append(e)
            if hs:
                r["handshake"] = hs
            elif ct == 22:
                r["handshake"] = "encrypted"
            if ct == 21:
                al = rec.get("dtls.alert_message")
                if isinstance(al, dict):
                    r["alert"] = {"level": num(al.get("dtls.alert_message.level")),
                                  "description": num(al.get("dtls.alert_message.desc"))}
                else:
                    r["alert"] = "encrypted"
            if ct == 23 and decrypted:
                r["decrypted_length"] = decrypted.pop(0) if decrypted else None
            out.append(r)
    return out


def rtcp_header(hexbytes):
    b = bytes.fromhex(hexbytes.replace(":", ""))
    if len(b) >= 8 and b[0] >> 6 == 2 and 200 <= b[1] <= 207:
        return {"first_pt": b[1], "first_type": RTCP_PT[b[1]], "sender_ssrc": "0x%08x" % int.from_bytes(b[4:8], "big"),
                "length": len(b)}
    return None


def rtcp_entry(layers, base, pass_name):
    """One entry per datagram carrying RTCP/SRTCP (tshark may show a compound packet as
    several rtcp/srtcp layers)."""
    found = [(name, r) for name in ("rtcp", "srtcp") for r in as_list(layers.get(name))]
    if not found:
        return []
    pts = [num(p) for _, r in found for p in find_all(r, "rtcp.pt")]
    ssrcs = [num(x) for _, r in found for x in find_all(r, "rtcp.senderssrc")]
    e = dict(base)
    e.update(layers=[n for n, _ in found], packet_types=[RTCP_PT.get(p, p) for p in pts],
             sender_ssrc="0x%08x" % ssrcs[0] if ssrcs else None, found_by=pass_name)
    idx = [x for _, r in found for x in find_all(r, "srtcp.index")]
    if idx or any(n == "srtcp" for n, _ in found):
        ef = [x for _, r in found for x in find_all(r, "srtcp.e")]
        e["srtcp_e"] = ef[0] == "1" if ef else None
        e["srtcp_index"] = num(idx[0]) if idx else None
    if "_ws.malformed" in layers:
        e["malformed"] = True
    return [e]


def analyse(name, cwd, keys, version):
    opts = ["-n"] + HEUR + (["-o", "tls.keylog_file:" + keys] if keys else [])
    commands = []
    cmd1 = ["tshark", "-r", name] + opts + ["-T", "json", "--no-duplicate-keys", "-J", LAYERS]
    commands.append({"purpose": "every frame, parsed for STUN, DTLS, RTP and RTCP", "command": " ".join(cmd1)})
    frames = json.loads(run(cmd1, cwd) or "[]")
    stun, dtls, rtcp, rtp_pkts, undissected_in_channel = [], [], [], [], []
    plain_candidates = {}  # frame -> (stream, dst port)
    for p in frames:
        layers = p["_source"]["layers"]
        base = frame_info(layers)
        if "transport" not in base:
            continue
        stun += stun_messages(layers, base)
        decrypted = [num(d.get("data.len")) for d in as_list(layers.get("data"))] if keys and "dtls" in layers else []
        dtls += dtls_records(layers, base, decrypted)
        rtcp += rtcp_entry(layers, base, "first")
        in_channel = any("stun.channel" in s for s in as_list(layers.get("stun")))
        for r in as_list(layers.get("rtp")):
            if r.get("rtp.version") != "2" or "rtp.ssrc" not in r:
                continue
            rtp_pkts.append(dict(base, ssrc="0x%08x" % num(r["rtp.ssrc"]), pt=num(r["rtp.p_type"]),
                                 seq=num(r["rtp.seq"]), marker=r.get("rtp.marker") == "1",
                                 srtp="srtp.auth_tag" in r or "srtp.enc_payload" in r, in_channel=in_channel))
        known = any(k in layers for k in ("dtls", "rtp", "rtcp", "srtcp")) or \
            any("stun.channel" not in s for s in as_list(layers.get("stun")))
        if not known and "data" in layers and base["transport"] == "udp":
            h = rtcp_header(as_list(layers["data"])[-1].get("data.data", ""))
            if h is None:
                continue
            if in_channel:
                undissected_in_channel.append(dict(base, **h))
            else:
                plain_candidates[base["frame"]] = (base["stream"], int(base["dst"].rsplit(":", 1)[1]))

    decode_as = []
    if plain_candidates:
        ports = {}
        for fr in sorted(plain_candidates):
            stream, port = plain_candidates[fr]
            ports.setdefault(stream, port)
        for port in sorted(set(ports.values())):
            decode_as += ["-d", "udp.port==%d,rtcp" % port]
        cmd2 = ["tshark", "-r", name] + opts + decode_as + ["-T", "json", "--no-duplicate-keys", "-J", LAYERS]
        commands.append({"purpose": "second pass: RTCP-looking datagrams the first pass left as data, decoded as RTCP "
                                    "by port (only those frames are taken from it)", "command": " ".join(cmd2)})
        for p in json.loads(run(cmd2, cwd) or "[]"):
            layers = p["_source"]["layers"]
            base = frame_info(layers)
            if base["frame"] in plain_candidates:
                rtcp += rtcp_entry(layers, base, "second")
        rtcp.sort(key=lambda e: e["frame"])

    streams = {}
    for r in rtp_pkts:
        k = (r["transport"], r["stream"], r["src"], r["dst"], r["ssrc"])
        s = streams.get(k)
        if s is None:
            s = streams[k] = {"transport": r["transport"], "stream": r["stream"], "src": r["src"], "dst": r["dst"],
                              "ssrc": r["ssrc"], "in_turn_channel": r["in_channel"], "srtp": r["srtp"],
                              "packets": 0, "payload_types": {}, "markers": 0,
                              "first_frame": r["frame"], "first_ts": r["ts"], "first_seq": r["seq"]}
        s["packets"] += 1
        s["payload_types"][str(r["pt"])] = s["payload_types"].get(str(r["pt"]), 0) + 1
        s["markers"] += r["marker"]
        s.update(last_frame=r["frame"], last_ts=r["ts"], last_seq=r["seq"])
    rtp = sorted(streams.values(), key=lambda s: (s["first_frame"], s["ssrc"]))

    cmd3 = ["tshark", "-r", name] + opts + ["-q", "-z", "rtp,streams"]
    commands.append({"purpose": "tshark's RTP stream statistics", "command": " ".join(cmd3)})
    rtp_text = run(cmd3, cwd).splitlines()

    return {
        "capture": name, "tshark_version": version, "commands": commands,
        "key_log": keys,
        "decode_as": {"heuristics": [h for h in HEUR if h != "--enable-heuristic"],
                      "second_pass": [a for a in decode_as if a != "-d"]},
        "counts": {"frames": len(frames),
                   "stun_messages": sum(1 for s in stun if s["kind"] == "message"),
                   "channel_data": sum(1 for s in stun if s["kind"] == "channel_data"),
                   "dtls_records": len(dtls), "rtp_packets": len(rtp_pkts), "rtcp_datagrams": len(rtcp),
                   "rtcp_in_channeldata_undissected": len(undissected_in_channel)},
        "stun": stun, "dtls": dtls, "rtp": rtp, "rtcp": rtcp,
        "rtcp_in_channeldata_undissected": undissected_in_channel,
        "rtp_streams_text": rtp_text,
    }


def main(argv):
    paths = [p for p in argv[1:] if os.path.isfile(p)]
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    version = tshark_version()
    for p in sorted(set(paths), key=os.path.basename):
        cwd, name = os.path.dirname(os.path.abspath(p)), os.path.basename(p)
        stem = name.rsplit(".", 1)[0]
        keys = stem + ".keys" if os.path.isfile(os.path.join(cwd, stem + ".keys")) else None
        doc = analyse(name, cwd, keys, version)
        outdir = os.environ.get("FIXTURE_OUT") or os.path.join(cwd, "fixtures")
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, name + ".webrtc.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        c = doc["counts"]
        print("%s: %d STUN, %d ChannelData, %d DTLS records, %d RTP, %d RTCP (+%d undissected in ChannelData)"
              % (name, c["stun_messages"], c["channel_data"], c["dtls_records"], c["rtp_packets"],
                 c["rtcp_datagrams"], c["rtcp_in_channeldata_undissected"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
