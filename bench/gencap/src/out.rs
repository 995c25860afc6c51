//! Capture file writer (classic pcap or pcapng) and Ethernet/IP/L4 header builders.
//!
//! Every packet is assembled in one reusable buffer (`Out::pkt`) and then copied
//! into a large `BufWriter`, so the hot path performs no allocation.

use std::fs::File;
use std::io::{self, BufWriter, Write};

/// Traffic classes used for the byte/packet mix statistics.
pub const CAT_RTMP: usize = 0;
pub const CAT_HLS: usize = 1;
pub const CAT_RTP: usize = 2;
pub const CAT_SMALL: usize = 3;
pub const NCAT: usize = 4;
pub const CAT_NAMES: [&str; NCAT] = ["rtmp", "hls", "rtp", "small"];

pub const ETH_HDR: usize = 14;
pub const ROUTER_MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x10];

/// One end of a flow as seen on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Ep {
    pub v4: [u8; 4],
    pub v6: [u8; 16],
    pub port: u16,
    pub mac: [u8; 6],
}

impl Ep {
    pub fn new4(ip: [u8; 4], port: u16, mac: [u8; 6]) -> Ep {
        Ep { v4: ip, v6: [0; 16], port, mac }
    }
    pub fn new6(ip: [u8; 16], port: u16, mac: [u8; 6]) -> Ep {
        Ep { v4: [0; 4], v6: ip, port, mac }
    }
}

/// MAC address of a local host, derived from its address (locally administered).
pub fn host_mac4(ip: [u8; 4]) -> [u8; 6] {
    [0x02, 0x42, ip[0], ip[1], ip[2], ip[3]]
}
pub fn host_mac6(ip: [u8; 16]) -> [u8; 6] {
    [0x02, 0x66, ip[12], ip[13], ip[14], ip[15]]
}

pub struct Out {
    w: BufWriter<Box<dyn Write>>,
    /// Packet being built (Ethernet frame).
    pub pkt: Vec<u8>,
    pcapng: bool,
    checksums: bool,
    base_us: u64,
    last_us: u64,
    /// Offset of the L4 header in `pkt` and whether the packet is IPv6 (for checksums).
    l4_off: usize,
    v6: bool,
    proto: u8,
    /// Bytes written to the file so far (including file/record headers).
    pub file_bytes: u64,
    pub packets: u64,
    pub cat_bytes: [u64; NCAT],
    pub cat_pkts: [u64; NCAT],
    pub last_t: u64,
}

impl Out {
    pub fn create(path: &str, pcapng: bool, checksums: bool, base_us: u64) -> io::Result<Out> {
        // "-" writes the capture to standard output.
        let f: Box<dyn Write> = if path == "-" { Box::new(io::stdout()) } else { Box::new(File::create(path)?) };
        let mut o = Out {
            w: BufWriter::with_capacity(4 << 20, f),
            pkt: Vec::with_capacity(65536),
            pcapng,
            checksums,
            base_us,
            last_us: 0,
            l4_off: 0,
            v6: false,
            proto: 0,
            file_bytes: 0,
            packets: 0,
            cat_bytes: [0; NCAT],
            cat_pkts: [0; NCAT],
            last_t: 0,
        };
        o.write_file_header()?;
        Ok(o)
    }

    fn write_file_header(&mut self) -> io::Result<()> {
        let mut h: Vec<u8> = Vec::with_capacity(128);
        if self.pcapng {
            // Section Header Block with shb_userappl option.
            let appl = b"gencap";
            let opt_len = 4 + pad4(appl.len()) + 4;
            let total = (28 + opt_len) as u32;
            h.extend_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
            h.extend_from_slice(&total.to_le_bytes());
            h.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&(-1i64).to_le_bytes());
            h.extend_from_slice(&4u16.to_le_bytes());
            h.extend_from_slice(&(appl.len() as u16).to_le_bytes());
            h.extend_from_slice(appl);
            h.resize(h.len() + pad4(appl.len()) - appl.len(), 0);
            h.extend_from_slice(&[0, 0, 0, 0]);
            h.extend_from_slice(&total.to_le_bytes());
            // Interface Description Block: Ethernet, snaplen 262144, default us resolution.
            h.extend_from_slice(&1u32.to_le_bytes());
            h.extend_from_slice(&20u32.to_le_bytes());
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&262_144u32.to_le_bytes());
            h.extend_from_slice(&20u32.to_le_bytes());
        } else {
            h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
            h.extend_from_slice(&2u16.to_le_bytes());
            h.extend_from_slice(&4u16.to_le_bytes());
            h.extend_from_slice(&0i32.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes());
            h.extend_from_slice(&262_144u32.to_le_bytes());
            h.extend_from_slice(&1u32.to_le_bytes());
        }
        self.w.write_all(&h)?;
        self.file_bytes += h.len() as u64;
        Ok(())
    }

    /// Start a packet: Ethernet + IPv4/IPv6 header for an L4 segment of `l4_len` bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn begin_ip(&mut self, src: &Ep, dst: &Ep, v6: bool, proto: u8, l4_len: usize, tos: u8, ttl: u8, ipid: u16) {
        let p = &mut self.pkt;
        p.clear();
        p.extend_from_slice(&dst.mac);
        p.extend_from_slice(&src.mac);
        if v6 {
            p.extend_from_slice(&[0x86, 0xdd]);
            let flow = (ipid as u32) & 0xfffff;
            let w0: u32 = (6 << 28) | ((tos as u32) << 20) | flow;
            p.extend_from_slice(&w0.to_be_bytes());
            p.extend_from_slice(&(l4_len as u16).to_be_bytes());
            p.push(proto);
            p.push(ttl);
            p.extend_from_slice(&src.v6);
            p.extend_from_slice(&dst.v6);
        } else {
            p.extend_from_slice(&[0x08, 0x00]);
            let tot = (20 + l4_len) as u16;
            let start = p.len();
            p.extend_from_slice(&[0x45, tos]);
            p.extend_from_slice(&tot.to_be_bytes());
            p.extend_from_slice(&ipid.to_be_bytes());
            p.extend_from_slice(&[0x40, 0x00, ttl, proto, 0, 0]);
            p.extend_from_slice(&src.v4);
            p.extend_from_slice(&dst.v4);
            let c = !fold(sum_words(&p[start..start + 20], 0));
            p[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
        }
        self.l4_off = p.len();
        self.v6 = v6;
        self.proto = proto;
    }

    /// TCP header (20 bytes + options). Checksum is zero unless --checksums.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp_hdr(&mut self, sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, win: u16, opts: &[u8]) {
        let p = &mut self.pkt;
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ack.to_be_bytes());
        let off = ((20 + opts.len()) / 4) as u8;
        p.push(off << 4);
        p.push(flags);
        p.extend_from_slice(&win.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(opts);
    }

    pub fn udp_hdr(&mut self, sport: u16, dport: u16, payload_len: usize) {
        let p = &mut self.pkt;
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
    }

    /// Finish the packet in `pkt` and write it with timestamp `t` (microseconds since start).
    #[inline]
    pub fn commit(&mut self, t: u64, cat: usize) -> io::Result<()> {
        // UDP over IPv6 must carry a checksum (RFC 8200); everything else only with --checksums.
        if self.checksums || (self.v6 && self.proto == 17) {
            self.fill_l4_checksum();
        }
        // Strictly increasing timestamps.
        let mut ts = self.base_us + t;
        if ts <= self.last_us {
            ts = self.last_us + 1;
        }
        self.last_us = ts;
        self.last_t = ts - self.base_us;
        let len = self.pkt.len();
        if self.pcapng {
            let padded = pad4(len);
            let total = (32 + padded) as u32;
            let mut h = [0u8; 28];
            h[0..4].copy_from_slice(&6u32.to_le_bytes());
            h[4..8].copy_from_slice(&total.to_le_bytes());
            h[8..12].copy_from_slice(&0u32.to_le_bytes());
            h[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
            h[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
            h[20..24].copy_from_slice(&(len as u32).to_le_bytes());
            h[24..28].copy_from_slice(&(len as u32).to_le_bytes());
            self.w.write_all(&h)?;
            self.w.write_all(&self.pkt)?;
            let zeros = [0u8; 4];
            self.w.write_all(&zeros[..padded - len])?;
            self.w.write_all(&total.to_le_bytes())?;
            self.file_bytes += total as u64;
        } else {
            let mut h = [0u8; 16];
            h[0..4].copy_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
            h[4..8].copy_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
            h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
            h[12..16].copy_from_slice(&(len as u32).to_le_bytes());
            self.w.write_all(&h)?;
            self.w.write_all(&self.pkt)?;
            self.file_bytes += 16 + len as u64;
        }
        self.packets += 1;
        self.cat_bytes[cat] += len as u64;
        self.cat_pkts[cat] += 1;
        Ok(())
    }

    fn fill_l4_checksum(&mut self) {
        let l4 = self.l4_off;
        let p = &mut self.pkt;
        let l4_len = p.len() - l4;
        let mut s: u64 = 0;
        if self.v6 {
            s = sum_words(&p[ETH_HDR + 8..ETH_HDR + 40], s);
        } else {
            s = sum_words(&p[ETH_HDR + 12..ETH_HDR + 20], s);
        }
        s += self.proto as u64 + l4_len as u64;
        let ck_off = if self.proto == 6 { l4 + 16 } else { l4 + 6 };
        p[ck_off] = 0;
        p[ck_off + 1] = 0;
        s = sum_words(&p[l4..], s);
        let mut c = !fold(s);
        if self.proto == 17 && c == 0 {
            c = 0xffff;
        }
        p[ck_off..ck_off + 2].copy_from_slice(&c.to_be_bytes());
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.w.flush()?;
        let mut f = self.w.into_inner().map_err(|e| e.into_error())?;
        f.flush()
    }
}

#[inline]
pub fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// One's-complement style sum of big-endian 16-bit words (odd trailing byte padded).
fn sum_words(b: &[u8], mut s: u64) -> u64 {
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        s += (v >> 48) + ((v >> 32) & 0xffff) + ((v >> 16) & 0xffff) + (v & 0xffff);
    }
    let r = chunks.remainder();
    let mut i = 0;
    while i + 1 < r.len() {
        s += u16::from_be_bytes([r[i], r[i + 1]]) as u64;
        i += 2;
    }
    if i < r.len() {
        s += (r[i] as u64) << 8;
    }
    s
}

fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}
