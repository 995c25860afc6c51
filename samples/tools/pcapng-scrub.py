#!/usr/bin/env python3
"""Remove host-describing options from pcapng files, in place.

dumpcap records the capturing machine's CPU model and kernel version in the
Section Header Block (shb_hardware, shb_os) and in each Interface Description
Block (if_os, if_hardware).  The samples do not need them, so they are dropped;
every other block and option (if_name, if_filter, if_tsresol, shb_userappl,
...) is copied unchanged.  The section length is set to -1 ("not specified"),
which is always valid.

usage: pcapng-scrub.py FILE.pcapng ...        (standard library only)
"""
import struct
import sys

SHB = 0x0A0D0D0A
IDB = 0x00000001
DROP = {SHB: {2, 3}, IDB: {12, 15}}  # shb_hardware, shb_os / if_os, if_hardware
FIXED = {SHB: 16, IDB: 8}  # bytes of fixed body before the options


def pad4(n):
    return (n + 3) & ~3


def filter_options(data, endian, drop):
    out = b""
    pos = 0
    while pos + 4 <= len(data):
        code, length = struct.unpack_from(endian + "HH", data, pos)
        if code == 0:
            break
        value = data[pos + 4:pos + 4 + length]
        pos += 4 + pad4(length)
        if code in drop:
            continue
        out += struct.pack(endian + "HH", code, length) + value + b"\0" * (pad4(length) - length)
    return out + struct.pack(endian + "HH", 0, 0)


def scrub(buf):
    out = bytearray()
    pos = 0
    endian = "<"
    while pos + 12 <= len(buf):
        (btype,) = struct.unpack_from("<I", buf, pos)
        if btype == SHB:
            magic = buf[pos + 8:pos + 12]
            endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
        (blen,) = struct.unpack_from(endian + "I", buf, pos + 4)
        block = buf[pos:pos + blen]
        pos += blen
        if btype in DROP:
            fixed = bytearray(block[8:8 + FIXED[btype]])
            if btype == SHB:
                struct.pack_into(endian + "q", fixed, 8, -1)
            opts = filter_options(block[8 + FIXED[btype]:blen - 4], endian, DROP[btype])
            body = bytes(fixed) + opts if len(opts) > 4 else bytes(fixed)
            total = 12 + len(body)
            block = struct.pack(endian + "II", btype, total) + body + struct.pack(endian + "I", total)
        out += block
    if pos != len(buf):
        raise ValueError("trailing bytes / truncated block")
    return bytes(out)


def main(argv):
    for path in argv[1:]:
        with open(path, "rb") as f:
            buf = f.read()
        if buf[:4] != struct.pack("<I", SHB):
            print("%s: not pcapng, skipped" % path, file=sys.stderr)
            continue
        new = scrub(buf)
        with open(path, "wb") as f:
            f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
