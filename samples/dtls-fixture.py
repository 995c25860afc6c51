#!/usr/bin/env python3
"""Write tshark-derived fixtures for DTLS decryption, SCTP over DTLS and DTLS 1.3 records.

usage: python3 samples/dtls-fixture.py CAPTURE...           keyed DTLS 1.2 captures
       python3 samples/dtls-fixture.py --dtls13 CAPTURE...  DTLS 1.3 record fields

Keyed captures (a key log `<capture stem>.keys` next to the capture): tshark decrypts DTLS 1.2
with `-o tls.keylog_file:<stem>.keys` (plus the heuristics that find DTLS inside TURN
ChannelData) and the fixture `fixtures/<CAPTURE name>.dtls.json` lists every protected record
(epoch > 0): frame, time, flow, content type, epoch, sequence number, record length, and for
application data the decrypted length, the plaintext (hex) and, when it is printable text, the
text.  tshark 4.0 cannot dissect SCTP inside DTLS (RFC 8261; `dtls.port` offers no `sctp`), so
when the plaintext is an SCTP packet (ports, then a chunk whose length fits) the script writes
each one, with its capture time, into a temporary raw-IPv4 pcap (IP protocol 132, the flow's
addresses) and lets tshark dissect that with `-o sctp.checksum:CRC-32C`: the common header
(ports, verification tag, checksum status) and every chunk (type, flags, length; DATA and
I-DATA: TSN, stream, SSN or MID/FSN, PPID, B/E/U bits, user data length; INIT / INIT ACK:
initiate tag, streams, initial TSN; SACK: cumulative TSN ack) and the WebRTC data channel
messages tshark's `rtcdc` dissector finds on PPID 50 (RFC 8832 DCEP: message type, channel
type, priority, reliability, label, protocol).

--dtls13: for each capture, `<name>.dtls13.json` in tests/fixtures/shared/dtls/ of this
repository: per frame tshark's DTLS records (content type, version, epoch, sequence number,
length, handshake types, ServerHello cipher suite and extensions, supported_versions,
connection_id) or, where tshark 4.0 shows the datagram as `data` (DTLS 1.3 unified-header
records, RFC 9147 section 4, which it cannot decode), the datagram's length and first bytes.

Standard library only; deterministic for a given capture, key log and tshark.  tshark runs in
the capture's directory with bare file names, so the commands hold no absolute path.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
from tsharklib import tshark_version, run, as_list, find_all, first, num

HEUR = ["--enable-heuristic", "dtls_stun", "--enable-heuristic", "stun_turn"]
CONTENT = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
CHUNKS = {0: "data", 1: "init", 2: "init_ack", 3: "sack", 4: "heartbeat", 5: "heartbeat_ack", 6: "abort",
          7: "shutdown", 8: "shutdown_ack", 9: "error", 10: "cookie_echo", 11: "cookie_ack",
          14: "shutdown_complete", 15: "auth", 64: "i_data", 128: "asconf_ack", 130: "re_config",
          132: "pad", 192: "forward_tsn", 193: "asconf", 194: "i_forward_tsn"}
HERE = os.path.dirname(os.path.abspath(__file__))


def unhex(s):
    return bytes.fromhex((s or "").replace(":", ""))


def frame_info(layers):
    fr = layers["frame"]
    info = {"frame": int(fr["frame.number"]), "ts": fr["frame.time_epoch"]}
    ip = layers.get("ip") or {}
    if isinstance(ip, list):
        ip = ip[0]
    u = layers.get("udp") or {}
    if isinstance(u, list):
        u = u[0]
    if u:
        info.update(transport="udp", stream=int(u["udp.stream"]),
                    src="%s:%s" % (ip.get("ip.src"), u["udp.srcport"]),
                    dst="%s:%s" % (ip.get("ip.dst"), u["udp.dstport"]),
                    udp_payload=num(u.get("udp.length")) - 8)
    return info


def printable(b):
    try:
        t = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return t if all(c.isprintable() or c in "\r\n\t" for c in t) else None


def looks_like_sctp(b):
    """An SCTP common header (RFC 9260 section 3.1) then a first chunk whose length fits."""
    if len(b) < 16:
        return False
    length = struct.unpack(">H", b[14:16])[0]
    return 4 <= length <= len(b) - 12


# ---- keyed captures --------------------------------------------------------------------------

def protected_records(layers, base):
    """The records of epoch > 0 in one frame, each with its decrypted application data."""
    out = []
    data = [unhex(d.get("data.data")) for d in as_list(layers.get("data"))]
    for d in as_list(layers.get("dtls")):
        for rec in find_all(d, "dtls.record"):
            ct = num(rec.get("dtls.record.content_type"))
            epoch = num(rec.get("dtls.record.epoch"))
            if not epoch:
                continue
            r = dict(base)
            r.update(content_type=ct, content=CONTENT.get(ct, "other"), epoch=epoch,
                     sequence_number=num(rec.get("dtls.record.sequence_number")),
                     length=num(rec.get("dtls.record.length")))
            if ct == 23:
                plain = data.pop(0) if data else None
                r["decrypted"] = plain is not None
                if plain is not None:
                    r["decrypted_length"] = len(plain)
                    r["plaintext"] = plain.hex()
                    text = printable(plain)
                    if text is not None:
                        r["text"] = text
            elif ct == 21:
                al = rec.get("dtls.alert_message")
                r["decrypted"] = isinstance(al, dict)
                if isinstance(al, dict):
                    r["alert"] = {"level": num(al.get("dtls.alert_message.level")),
                                  "description": num(al.get("dtls.alert_message.desc"))}
            elif ct == 22:
                types = [num(h.get("dtls.handshake.type")) for h in as_list(rec.get("dtls.handshake"))
                         if isinstance(h, dict) and "dtls.handshake.type" in h]
                r["decrypted"] = bool(types)
                r["handshake_types"] = types
            out.append(r)
    return out


def write_sctp_pcap(path, packets):
    """A pcap (LINKTYPE_RAW) of IPv4 datagrams carrying each SCTP packet."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
        for ts, src, dst, payload in packets:
            sec, frac = ts.split(".")
            usec = int((frac + "000000")[:6])
            ip_src = bytes(int(x) for x in src.rsplit(":", 1)[0].split("."))
            ip_dst = bytes(int(x) for x in dst.rsplit(":", 1)[0].split("."))
            total = 20 + len(payload)
            hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 132, 0, ip_src, ip_dst)
            s = 0
            for i in range(0, 20, 2):
                s += (hdr[i] << 8) | hdr[i + 1]
            while s >> 16:
                s = (s & 0xffff) + (s >> 16)
            hdr = hdr[:10] + struct.pack(">H", ~s & 0xffff) + hdr[12:]
            pkt = hdr + payload
            f.write(struct.pack("<IIII", int(sec), usec, len(pkt), len(pkt)))
            f.write(pkt)


def sctp_chunk(c):
    ty = num(c.get("sctp.chunk_type"))
    e = {"type": ty, "name": CHUNKS.get(ty, "unknown"), "flags": num(c.get("sctp.chunk_flags")),
         "length": num(c.get("sctp.chunk_length"))}
    if ty in (0, 64):
        e.update(tsn=num(c.get("sctp.data_tsn_raw") or c.get("sctp.data_tsn")), stream=num(c.get("sctp.data_sid")),
                 ssn=num(c.get("sctp.data_ssn")), mid=num(c.get("sctp.data_mid")), fsn=num(c.get("sctp.data_fsn")),
                 ppid=num(c.get("sctp.data_payload_proto_id")),
                 b=first(c, "sctp.data_b_bit") in ("1", "True"), e=first(c, "sctp.data_e_bit") in ("1", "True"),
                 u=first(c, "sctp.data_u_bit") in ("1", "True"),
                 data_length=num(c.get("sctp.chunk_length")) - (16 if ty == 0 else 20))
    elif ty in (1, 2):
        p = "sctp.init_" if ty == 1 else "sctp.initack_"
        e.update(initiate_tag=num(c.get(p + "initiate_tag")), out_streams=num(c.get(p + "nr_out_streams")),
                 in_streams=num(c.get(p + "nr_in_streams")), initial_tsn=num(c.get(p + "initial_tsn")))
    elif ty == 3:
        e["cumulative_tsn_ack"] = num(c.get("sctp.sack_cumulative_tsn_ack_raw") or c.get("sctp.sack_cumulative_tsn_ack"))
    return e


def sctp_dissect(records, name):
    """tshark's view of the SCTP packets carried in decrypted application data, one temporary
    pcap per flow (the same packets relayed through TURN show up on two flows; in one pcap
    tshark would take the second copy for a retransmission)."""
    streams = sorted({r["stream"] for r in records})
    dissected = {}
    with tempfile.TemporaryDirectory() as tmp:
        for st in streams:
            recs = [r for r in records if r["stream"] == st]
            pcap = "%s.stream%d.sctp.pcap" % (name, st)
            write_sctp_pcap(os.path.join(tmp, pcap), [(r["ts"], r["src"], r["dst"], unhex(r["plaintext"])) for r in recs])
            cmd = ["tshark", "-r", pcap, "-n", "-o", "sctp.checksum:CRC-32C", "-T", "json", "--no-duplicate-keys",
                   "-J", "frame sctp rtcdc data"]
            frames = json.loads(run(cmd, tmp) or "[]")
            for r, p in zip(recs, frames):
                dissected[r["frame"]] = p
    out = []
    for r in records:
        layers = dissected[r["frame"]]["_source"]["layers"]
        sctp = layers.get("sctp") or {}
        rtcdc = as_list(layers.get("rtcdc"))
        chunks = []
        for k, v in sctp.items():
            if "chunk" in k.lower():
                for c in as_list(v):
                    if isinstance(c, dict) and "sctp.chunk_type" in c:
                        chunks.append(sctp_chunk(c))
        e = {"frame": r["frame"], "ts": r["ts"], "stream": r["stream"], "src": r["src"], "dst": r["dst"],
             "sctp_srcport": num(sctp.get("sctp.srcport")), "sctp_dstport": num(sctp.get("sctp.dstport")),
             "verification_tag": num(sctp.get("sctp.verification_tag")),
             "checksum_status": first(sctp, "sctp.checksum.status"), "chunks": chunks}
        dc = []
        for m in rtcdc:
            dc.append({"message_type": num(m.get("rtcdc.message_type")), "channel_type": num(m.get("rtcdc.channel_type")),
                       "priority": num(m.get("rtcdc.priority")),
                       "reliability": num(m.get("rtcdc.reliability_parameter")),
                       "label": m.get("rtcdc.label"), "protocol": m.get("rtcdc.protocol")})
        if dc:
            e["dcep"] = dc
        out.append(e)
    cmd[2] = "<capture>.stream<N>.sctp.pcap"
    return out, {"purpose": "SCTP inside the decrypted application data: each plaintext written by this script, with "
                            "its capture time and the flow's addresses, as an IPv4/SCTP packet into a temporary "
                            "raw-IP pcap per flow (udp.stream N), dissected by tshark (its rtcdc dissector takes "
                            "PPID 50)", "command": " ".join(cmd)}


def keyed(path, version):
    cwd, name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    keys = name.rsplit(".", 1)[0] + ".keys"
    if not os.path.isfile(os.path.join(cwd, keys)):
        sys.exit("%s: no key log %s next to it" % (name, keys))
    cmd = ["tshark", "-r", name, "-n"] + HEUR + ["-o", "tls.keylog_file:" + keys, "-T", "json",
                                                  "--no-duplicate-keys", "-J", "frame ip udp dtls data"]
    frames = json.loads(run(cmd, cwd) or "[]")
    records = []
    for p in frames:
        layers = p["_source"]["layers"]
        if "dtls" not in layers:
            continue
        base = frame_info(layers)
        base.pop("udp_payload", None)
        records += protected_records(layers, base)
    commands = [{"purpose": "every DTLS record, decrypted with the key log", "command": " ".join(cmd)}]
    doc = {"capture": name, "tshark_version": version, "key_log": keys, "commands": commands,
           "records": records}
    sctp_recs = [r for r in records if r.get("plaintext") and looks_like_sctp(unhex(r["plaintext"]))]
    if sctp_recs:
        doc["sctp"], c = sctp_dissect(sctp_recs, name)
        commands.append(c)
    app = [r for r in records if r["content"] == "application_data"]
    doc["counts"] = {"protected_records": len(records), "application_data": len(app),
                     "decrypted": sum(1 for r in records if r.get("decrypted")),
                     "sctp_packets": len(doc.get("sctp", []))}
    out = os.path.join(cwd, "fixtures", name + ".dtls.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("%s: %d protected records, %d application data, %d decrypted, %d SCTP packets"
          % (name, len(records), len(app), doc["counts"]["decrypted"], doc["counts"]["sctp_packets"]))


# ---- DTLS 1.3 records ------------------------------------------------------------------------

def dtls13(path, version):
    cwd, name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    cmd = ["tshark", "-r", name, "-n", "-T", "json", "--no-duplicate-keys", "-J", "frame ip udp dtls data"]
    frames = json.loads(run(cmd, cwd) or "[]")
    out = []
    for p in frames:
        layers = p["_source"]["layers"]
        e = frame_info(layers)
        recs = []
        for d in as_list(layers.get("dtls")):
            for rec in find_all(d, "dtls.record"):
                r = {"content_type": num(rec.get("dtls.record.content_type")),
                     "version": "0x%04x" % num(rec.get("dtls.record.version")),
                     "epoch": num(rec.get("dtls.record.epoch")),
                     "sequence_number": num(rec.get("dtls.record.sequence_number")),
                     "length": num(rec.get("dtls.record.length"))}
                hs = []
                for h in as_list(rec.get("dtls.handshake")):
                    if not isinstance(h, dict) or "dtls.handshake.type" not in h:
                        continue
                    m = {"type": num(h["dtls.handshake.type"]), "length": num(h.get("dtls.handshake.length")),
                         "message_seq": num(h.get("dtls.handshake.message_seq")),
                         "fragment_offset": num(h.get("dtls.handshake.fragment_offset")),
                         "fragment_length": num(h.get("dtls.handshake.fragment_length")),
                         "extensions": [num(x) for x in find_all(h, "dtls.handshake.extension.type")],
                         "supported_versions": ["0x%04x" % num(x) for x in
                                                find_all(h, "dtls.handshake.extensions.supported_version")]}
                    if m["type"] == 2:
                        m["cipher_suite"] = "0x%04x" % num(first(h, "dtls.handshake.ciphersuite"))
                        m["random"] = (first(h, "dtls.handshake.random") or "").replace(":", "")
                    cid = first(h, "dtls.connection_id")
                    if first(h, "dtls.connection_id_length") is not None:
                        m["connection_id"] = (cid or "").replace(":", "")
                    hs.append(m)
                if hs:
                    r["handshake"] = hs
                recs.append(r)
        if recs:
            e["tshark"] = "dtls"
            e["records"] = recs
        elif "data" in layers:
            raw = unhex(as_list(layers["data"])[0].get("data.data"))
            e["tshark"] = "data"
            e["data_length"] = len(raw)
            e["first_bytes"] = raw[:24].hex()
        out.append(e)
    doc = {"capture": name, "tshark_version": version,
           "commands": [{"purpose": "every frame's DTLS records as tshark decodes them; the DTLS 1.3 unified-header "
                                    "records it cannot decode are left as data (their length and first bytes)",
                         "command": " ".join(cmd)}],
           "frames": out}
    dest = os.path.join(HERE, "..", "tests", "fixtures", "shared", "dtls")
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, name + ".dtls13.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("%s: %d frames, %d as DTLS, %d as data" % (name, len(out), sum(1 for e in out if e.get("tshark") == "dtls"),
                                                     sum(1 for e in out if e.get("tshark") == "data")))


def main(argv):
    args = argv[1:]
    mode13 = "--dtls13" in args
    paths = [p for p in args if p != "--dtls13" and os.path.isfile(p)]
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    version = tshark_version()
    for p in sorted(set(paths), key=os.path.basename):
        (dtls13 if mode13 else keyed)(p, version)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
