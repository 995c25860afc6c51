#!/usr/bin/env python3
"""Minimal userspace 802.1Q / 802.1ad "trunk port" used by make-samples.sh.

Some kernels are built without VLAN support (no 8021q module, no tc
act_vlan), so VLAN subinterfaces cannot be created.  This helper gives the
same result on the wire: each TAP device carries untagged frames for the
kernel's normal IP/TCP/UDP stack, and the helper bridges them onto a trunk
interface (one end of a veth pair), pushing the configured tag stack on the
way out and popping it on the way in.

usage: vlan-tap-bridge.py --trunk IF --seconds N [--ready FILE] TAP=TAGS ...
  TAGS is the outer-first tag stack, e.g.  8100.100  or  88a8.200,8100.300

The TAP devices must already exist (ip tuntap add mode tap ...).
Runs until --seconds elapsed or it is killed.  Standard library only.
"""
import argparse
import fcntl
import os
import select
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
VLAN_TPIDS = (0x8100, 0x88A8)


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def parse_tags(spec):
    tags = []
    for part in spec.split(","):
        tpid, vid = part.split(".")
        tags.append((int(tpid, 16), int(vid)))
    return tuple(tags)


def push_tags(frame, tags):
    hdr = b"".join(struct.pack("!HH", tpid, vid & 0x0FFF) for tpid, vid in tags)
    return frame[:12] + hdr + frame[12:]


def pop_tags(frame):
    tags = []
    while len(frame) >= 18:
        (etype,) = struct.unpack_from("!H", frame, 12)
        if etype not in VLAN_TPIDS:
            break
        (tci,) = struct.unpack_from("!H", frame, 14)
        tags.append((etype, tci & 0x0FFF))
        frame = frame[:12] + frame[16:]
    return tuple(tags), frame


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trunk", required=True)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--ready")
    ap.add_argument("ports", nargs="+", metavar="TAP=TAGS")
    args = ap.parse_args()

    trunk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    trunk.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    trunk.bind((args.trunk, 0))

    tap_by_fd = {}
    fd_by_tags = {}
    for p in args.ports:
        name, spec = p.split("=", 1)
        tags = parse_tags(spec)
        fd = open_tap(name)
        tap_by_fd[fd] = tags
        fd_by_tags[tags] = fd

    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")

    deadline = time.monotonic() + args.seconds
    cmsg_space = socket.CMSG_SPACE(AUXDATA.size)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        rd, _, _ = select.select([trunk] + list(tap_by_fd), [], [], min(left, 0.5))
        for r in rd:
            if r is trunk:
                data, anc, _flags, addr = trunk.recvmsg(65536, cmsg_space)
                if addr[2] == PACKET_OUTGOING:
                    continue
                for level, ctype, cdata in anc:
                    if level == SOL_PACKET and ctype == PACKET_AUXDATA and len(cdata) >= AUXDATA.size:
                        st, _l, _s, _m, _n, tci, tpid = AUXDATA.unpack_from(cdata)
                        if st & TP_STATUS_VLAN_VALID:
                            if not st & TP_STATUS_VLAN_TPID_VALID:
                                tpid = 0x8100
                            data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
                tags, inner = pop_tags(data)
                fd = fd_by_tags.get(tags)
                if fd is not None:
                    os.write(fd, inner)
            else:
                frame = os.read(r, 65536)
                trunk.send(push_tags(frame, tap_by_fd[r]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
