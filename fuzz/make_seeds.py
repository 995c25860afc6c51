#!/usr/bin/env python3
"""Writes the hand-made inputs of tests/fuzz-regressions/ (run from the repository root).

File names are `<fuzz target>-<short name>.bin`; tests/fuzz_regressions.rs replays each one
through its target's code path (fuzz/src/lib.rs). Inputs found by the fuzzers are copied there
by hand after `cargo fuzz tmin`.
"""
import os
import struct

OUT = os.path.join("tests", "fuzz-regressions")
LINK_TYPES = [0, 1, 12, 101, 108, 113, 228, 229, 276]  # packet_decode's first byte picks one


def put(name, data):
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(data)


def ipv4(proto, payload, ihl=5, total=None, frag=0):
    total = 20 + len(payload) if total is None else total
    h = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag, 64, proto, 0,
                    bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return h + payload


def tcp(sport, dport, seq, ack, flags, payload=b"", doff=5):
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, 65535, 0, 0) + payload


def udp(sport, dport, payload, length=None):
    length = 8 + len(payload) if length is None else length
    return struct.pack(">HHHH", sport, dport, length, 0) + payload


def pcap(link, frames):
    b = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link)
    for i, f in enumerate(frames):
        b += struct.pack("<IIII", 1700000000, i, len(f), len(f)) + f
    return b


def block(btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


SHB = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(link, tsoffset=None):
    opts = b""
    if tsoffset is not None:
        opts += struct.pack("<HHq", 14, 8, tsoffset)
    if opts:
        opts += struct.pack("<HH", 0, 0)
    return block(1, struct.pack("<HHI", link, 0, 65535) + opts)


def epb(iface, ticks, data):
    return block(6, struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data)


def ld(link):
    return bytes([LINK_TYPES.index(link)])


def main():
    os.makedirs(OUT, exist_ok=True)
    good = pcap(101, [ipv4(6, tcp(40000, 1935, 1, 0, 0x02))])

    # --- pipeline: capture files that are broken in interesting ways
    put("pipeline-empty", b"")
    put("pipeline-truncated-pcap-header", good[:10])
    put("pipeline-pcap-record-cut", good[:24 + 16 + 7])
    put("pipeline-pcap-caplen-huge", good[:24] + struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 60) + b"\x45" * 20)
    put("pipeline-pcapng-bogus-block-length", SHB + struct.pack("<II", 1, 7) + b"\0" * 12)
    put("pipeline-pcapng-block-length-below-12", SHB + struct.pack("<II", 6, 4) + b"\0" * 28)
    put("pipeline-pcapng-block-length-128mib", SHB + idb(101) + struct.pack("<II", 6, 128 << 20) + b"\0" * 64)
    put("pipeline-pcapng-epb-unknown-interface", SHB + epb(3, 0, ipv4(17, udp(1, 2, b"x"))))
    put("pipeline-pcap-unsupported-link", pcap(147, [b"\0" * 30]))
    # Two interfaces whose if_tsoffset puts their packets ~290 years apart on either side of
    # the epoch: later segments of one TCP connection are stamped long before earlier ones.
    seg = lambda seq, data: ipv4(6, tcp(40000, 1935, seq, 0, 0x18, data))
    put("pipeline-pcapng-extreme-tsoffsets",
        SHB + idb(101, 9_000_000_000) + idb(101, -9_000_000_000)
        + epb(0, 0, seg(100, b"a")) + epb(0, 1, seg(105, b"f")) + epb(1, 2, seg(102, b"c")))
    # The first packet ~290 years before the epoch, the second ~290 years after it: the
    # capture's span does not fit in an i64 of nanoseconds.
    rtp = lambda n: ipv4(17, udp(5000, 5004, bytes([0x80, 0x60, 0, n]) + b"\0" * 8))
    put("pipeline-pcapng-capture-span-overflow",
        SHB + idb(101, -9_000_000_000) + idb(101, 9_000_000_000) + epb(0, 0, rtp(1)) + epb(1, 0, rtp(2)))
    put("pipeline-gtp-in-gtp-in-gtp",
        pcap(101, [ipv4(17, udp(2152, 2152, bytes([0x30, 0xFF, 0, 40, 0, 0, 0, 1])
                                  + ipv4(17, udp(2152, 2152, bytes([0x30, 0xFF, 0, 12, 0, 0, 0, 1]) + ipv4(1, b"")))))]))
    put("pipeline-ipv4-fragments-overlapping",
        pcap(101, [ipv4(17, b"A" * 16, frag=0x2000), ipv4(17, b"B" * 16, frag=0x2001), ipv4(17, b"C" * 8, frag=1)]))

    # --- packet_decode: one frame, first byte = link type index
    put("packet_decode-ipv4-ihl15-in-20-bytes", ld(101) + ipv4(6, b"", ihl=15, total=20))
    put("packet_decode-ipv4-total-len-below-header", ld(101) + ipv4(17, udp(1, 2, b"abc"), total=8))
    put("packet_decode-tcp-data-offset-0", ld(228) + ipv4(6, tcp(1, 2, 0, 0, 0x10, b"xyz", doff=0)))
    put("packet_decode-tcp-data-offset-15-short", ld(228) + ipv4(6, tcp(1, 2, 0, 0, 0x10, b"xyz", doff=15)))
    put("packet_decode-udp-length-below-8", ld(101) + ipv4(17, udp(1, 2, b"abcdef", length=3)))
    put("packet_decode-udp-length-beyond-packet", ld(101) + ipv4(17, udp(1, 2, b"abcdef", length=9000)))
    put("packet_decode-ethernet-endless-vlan-tags", ld(1) + b"\0" * 12 + b"\x81\x00\x00\x01" * 12)
    put("packet_decode-sll2-short", ld(276) + b"\x08\x00" + b"\0" * 10)
    put("packet_decode-null-3-bytes", ld(0) + b"\x02\0\0")
    put("packet_decode-gtp-extension-chain", bytes([0x34, 0xFF, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0x85])
        + b"\x01\0\0\x85" * 8 + b"\x01\0\0\0" + b"\x45" + b"\0" * 19)
    put("packet_decode-gtp-extension-zero-units", bytes([0x34, 0xFF, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0x85, 0, 0, 0, 0]))

    # --- probes: first byte = length of the "other"/"prev" part, then the data
    put("probes-rtmp-c0-only", b"\0\x03")
    put("probes-http-request-line", b"\0GET / HTTP/1.1\r\n")
    put("probes-rtsp-no-newline", b"\0OPTIONS rtsp://h/x RTSP/1.0" + b" " * 5000)
    put("probes-tls-record-header-only", b"\0\x16\x03\x01")
    put("probes-stun-magic-short", b"\0\x00\x01\x00\x00\x21\x12\xa4\x42")
    put("probes-quic-long-header-cut", b"\0\xc3\x00\x00\x00\x01\x08")
    put("probes-rtp-after-prev", b"\x0c\x80\x60\x00\x01\0\0\0\0\0\0\0\x01\x80\x60\x00\x02\0\0\0\xa0\0\0\0\x01")

    # --- reassembly: op codes (see fuzz/src/lib.rs)
    put("reassembly-inorder-ooo-flush", bytes([5, 0, 0, 0, 0x10, 0, 0, 10, 0, 10, 10, 0, 20, 10, 6]))
    put("reassembly-wrap-and-ack", bytes([0, 0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 32, 0, 32, 32, 5, 0, 64, 6]))
    # max_buffered_bytes 16, max_segments 4: three 1-byte holes, then two 40-byte segments; one
    # hole is skipped per push, so the buffer keeps growing past the cap.
    put("reassembly-cap-exceeded-after-skip",
        bytes([0xC0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 1, 0, 4, 1, 0, 6, 1, 0, 8, 40, 0, 56, 40]))
    put("reassembly-fin-then-ack-past-fin", bytes([0, 0, 0, 0, 0, 0x10, 0, 8, 5, 0, 9, 6]))

    # --- reassembly_split: isn(4) n(1) overlap(1) n x (len, key), then the stream
    put("reassembly_split-wrap-4cuts",
        b"\xff\xff\xff\xfc\x04\x05" + bytes([1, 7, 2, 1, 3, 9, 0, 0]) + bytes(range(40)))
    put("reassembly_split-one-byte-segments-reversed",
        b"\0\0\0\0\x10\x00" + b"".join(bytes([1, 255 - i]) for i in range(16)) + b"abcdefghijklmnopq")


if __name__ == "__main__":
    main()
