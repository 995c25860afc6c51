//! SCTP packets (RFC 9260 §3): the common header, the chunk walk (type, flags, length, value,
//! padding to 4 bytes) that never reads past the packet, the CRC32c checksum (RFC 9260 §6.8,
//! Appendix A), and the chunks streamscope reads: DATA (§3.3.1), INIT and INIT ACK (§3.3.2,
//! §3.3.3), SACK (§3.3.4), FORWARD-TSN (RFC 3758 §3.2), I-DATA (RFC 8260 §2.1) and RE-CONFIG's
//! outgoing SSN reset request (RFC 6525 §4.1).

use crate::dissect::{be16, be32};

/// RFC 9260 §3.1: source port, destination port, verification tag, checksum.
pub const COMMON_HEADER: usize = 12;

/// The common header of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Verification tag.
    pub vtag: u32,
    /// The checksum as on the wire (CRC32c, its bytes in little-endian order).
    pub checksum: u32,
}

/// The common header, if the packet has one.
pub fn header(p: &[u8]) -> Option<Header> {
    Some(Header {
        src_port: be16(p, 0)?,
        dst_port: be16(p, 2)?,
        vtag: be32(p, 4)?,
        checksum: u32::from_le_bytes(p.get(8..12)?.try_into().ok()?),
    })
}

/// Chunk type names (RFC 9260 §3.2, RFC 4895, RFC 5061, RFC 3758, RFC 6525, RFC 8260, RFC 4820).
pub fn chunk_name(t: u8) -> &'static str {
    match t {
        0 => "data",
        1 => "init",
        2 => "init_ack",
        3 => "sack",
        4 => "heartbeat",
        5 => "heartbeat_ack",
        6 => "abort",
        7 => "shutdown",
        8 => "shutdown_ack",
        9 => "error",
        10 => "cookie_echo",
        11 => "cookie_ack",
        12 => "ecne",
        13 => "cwr",
        14 => "shutdown_complete",
        15 => "auth",
        64 => "i_data",
        128 => "asconf_ack",
        130 => "re_config",
        132 => "pad",
        192 => "forward_tsn",
        193 => "asconf",
        194 => "i_forward_tsn",
        _ => "unknown",
    }
}

/// One chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Chunk type.
    pub ty: u8,
    /// Chunk flags.
    pub flags: u8,
    /// The value: `length - 4` bytes, without padding.
    pub value: &'a [u8],
}

/// What walking the chunks found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A whole chunk.
    Chunk(Chunk<'a>),
    /// A chunk whose length is below 4 or past the packet's end: the walk stops here.
    BadLength {
        /// Offset of the chunk in the packet.
        offset: usize,
        /// Its length field.
        length: u16,
    },
}

/// The chunks after the common header. A bad length ends the walk with [`Item::BadLength`].
pub fn chunks(p: &[u8]) -> Chunks<'_> {
    Chunks { p, off: COMMON_HEADER, done: false }
}

/// Iterator over a packet's chunks (see [`chunks`]).
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    p: &'a [u8],
    off: usize,
    done: bool,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        if self.done || self.off >= self.p.len() {
            return None;
        }
        let at = self.off;
        let (Some(&ty), Some(&flags), Some(length)) = (self.p.get(at), self.p.get(at + 1), be16(self.p, at + 2)) else {
            self.done = true;
            return Some(Item::BadLength { offset: at, length: 0 });
        };
        let len = usize::from(length);
        let value = if len >= 4 { self.p.get(at + 4..at + len) } else { None };
        let Some(value) = value else {
            self.done = true;
            return Some(Item::BadLength { offset: at, length });
        };
        // RFC 9260 §3.2: padded to a multiple of 4; the last chunk's padding may be missing.
        self.off = at + len.div_ceil(4) * 4;
        Some(Item::Chunk(Chunk { ty, flags, value }))
    }
}

/// Whether `p` looks like an SCTP packet: a common header and chunks that fill it exactly,
/// with a known first chunk type.
pub fn probe(p: &[u8]) -> bool {
    if p.len() < COMMON_HEADER + 4 {
        return false;
    }
    let mut n = 0;
    for item in chunks(p) {
        match item {
            Item::Chunk(c) if n > 0 || chunk_name(c.ty) != "unknown" => n += 1,
            _ => return false,
        }
    }
    n > 0
}

/// CRC32c (Castagnoli, reflected polynomial 0x82F63B78) lookup table. Built at compile time:
/// an index out of range would fail the build, not a run.
#[allow(clippy::indexing_slicing)]
const CRC32C: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0x82F6_3B78 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// The CRC32c of a packet with its checksum field taken as zero (RFC 9260 Appendix A).
pub fn crc32c(p: &[u8]) -> u32 {
    let mut crc = !0u32;
    for (i, &b) in p.iter().enumerate() {
        let b = if (8..12).contains(&i) { 0 } else { b };
        let idx = usize::from((crc as u8) ^ b);
        crc = CRC32C.get(idx).copied().unwrap_or(0) ^ (crc >> 8);
    }
    !crc
}

/// DATA (RFC 9260 §3.3.1) or I-DATA (RFC 8260 §2.1) chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data<'a> {
    /// Transmission sequence number.
    pub tsn: u32,
    /// Stream identifier.
    pub stream: u16,
    /// DATA: stream sequence number; I-DATA: none.
    pub ssn: Option<u16>,
    /// I-DATA: message identifier.
    pub mid: Option<u32>,
    /// I-DATA: fragment sequence number (0 on the first fragment).
    pub fsn: u32,
    /// Payload protocol identifier (I-DATA: only on the first fragment).
    pub ppid: Option<u32>,
    /// U: unordered.
    pub unordered: bool,
    /// B: first fragment of a message.
    pub begin: bool,
    /// E: last fragment of a message.
    pub end: bool,
    /// The user data.
    pub payload: &'a [u8],
}

/// Reads a DATA (type 0) or I-DATA (type 64) chunk.
pub fn data<'a>(c: &Chunk<'a>) -> Option<Data<'a>> {
    let v = c.value;
    let (unordered, begin, end) = (c.flags & 0x04 != 0, c.flags & 0x02 != 0, c.flags & 0x01 != 0);
    match c.ty {
        0 => Some(Data {
            tsn: be32(v, 0)?,
            stream: be16(v, 4)?,
            ssn: Some(be16(v, 6)?),
            mid: None,
            fsn: 0,
            ppid: Some(be32(v, 8)?),
            unordered,
            begin,
            end,
            payload: v.get(12..)?,
        }),
        64 => {
            // TSN, stream, reserved, MID, then PPID (B set) or FSN (B clear).
            let ppid_or_fsn = be32(v, 12)?;
            Some(Data {
                tsn: be32(v, 0)?,
                stream: be16(v, 4)?,
                ssn: None,
                mid: Some(be32(v, 8)?),
                fsn: if begin { 0 } else { ppid_or_fsn },
                ppid: begin.then_some(ppid_or_fsn),
                unordered,
                begin,
                end,
                payload: v.get(16..)?,
            })
        }
        _ => None,
    }
}

/// INIT or INIT ACK (RFC 9260 §3.3.2, §3.3.3): the fixed part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Init {
    /// Initiate tag (the peer's verification tag from now on).
    pub initiate_tag: u32,
    /// Advertised receiver window credit.
    pub a_rwnd: u32,
    /// Number of outbound streams.
    pub out_streams: u16,
    /// Number of inbound streams.
    pub in_streams: u16,
    /// Initial TSN.
    pub initial_tsn: u32,
}

/// Reads the fixed part of INIT or INIT ACK.
pub fn init(c: &Chunk<'_>) -> Option<Init> {
    let v = c.value;
    Some(Init {
        initiate_tag: be32(v, 0)?,
        a_rwnd: be32(v, 4)?,
        out_streams: be16(v, 8)?,
        in_streams: be16(v, 10)?,
        initial_tsn: be32(v, 12)?,
    })
}

/// SACK (RFC 9260 §3.3.4): cumulative TSN ack, window, gap ack blocks and duplicate TSNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sack {
    /// Cumulative TSN ack.
    pub cumulative_tsn_ack: u32,
    /// Advertised receiver window credit.
    pub a_rwnd: u32,
    /// Gap ack blocks.
    pub gap_blocks: u16,
    /// Duplicate TSNs reported.
    pub duplicates: u16,
}

/// Reads a SACK.
pub fn sack(c: &Chunk<'_>) -> Option<Sack> {
    let v = c.value;
    Some(Sack {
        cumulative_tsn_ack: be32(v, 0)?,
        a_rwnd: be32(v, 4)?,
        gap_blocks: be16(v, 8)?,
        duplicates: be16(v, 10)?,
    })
}

/// The new cumulative TSN of a FORWARD-TSN or I-FORWARD-TSN (RFC 3758 §3.2, RFC 8260 §2.3).
pub fn forward_tsn(c: &Chunk<'_>) -> Option<u32> {
    be32(c.value, 0)
}

/// The streams an Outgoing SSN Reset Request of a RE-CONFIG chunk resets (RFC 6525 §4.1: an
/// empty list means all streams); a data channel is closed by resetting its stream (RFC 8831
/// §6.7). Other RE-CONFIG parameters are skipped. At most `max` streams are returned.
pub fn reset_streams(c: &Chunk<'_>, max: usize) -> Vec<Option<u16>> {
    let mut out = Vec::new();
    let v = c.value;
    let mut off = 0usize;
    while let (Some(ty), Some(len)) = (be16(v, off), be16(v, off + 2)) {
        let len = usize::from(len);
        let Some(p) = v.get(off + 4..off + len.max(4)) else { break };
        if ty == 13 {
            // Request, response and last-assigned TSN (12 bytes), then the stream numbers.
            let list = p.get(12..).unwrap_or(&[]);
            if list.len() < 2 {
                out.push(None);
            }
            out.extend(list.chunks_exact(2).filter_map(|s| be16(s, 0)).map(Some).take(max));
        }
        if len < 4 {
            break;
        }
        off += len.div_ceil(4) * 4;
        if out.len() >= max {
            break;
        }
    }
    out.truncate(max);
    out
}

/// The first cause code of an ABORT or ERROR chunk (RFC 9260 §3.3.10).
pub fn cause(c: &Chunk<'_>) -> Option<u16> {
    be16(c.value, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first SCTP packet of webrtc-aiortc.pcap (frame 9, decrypted): an INIT whose checksum
    /// tshark's CRC-32C check calls good.
    const INIT: &str = "13881388000000001af912b80100001e5cdb78a800100000ffffffff8af1991ac000000480080006c0820000";

    #[test]
    fn init_packet_from_aiortc() {
        let p = hex::decode("13881388000000000000000001000020").unwrap();
        assert!(header(&p).is_some());
        let p = hex::decode(INIT).unwrap();
        let h = header(&p).unwrap();
        assert_eq!((h.src_port, h.dst_port, h.vtag), (5000, 5000, 0));
        assert_eq!(crc32c(&p), h.checksum);
        let items: Vec<Item<'_>> = chunks(&p).collect();
        assert_eq!(items.len(), 1);
        let Item::Chunk(c) = items[0] else { panic!() };
        assert_eq!((c.ty, c.value.len()), (1, 26));
        let i = init(&c).unwrap();
        assert_eq!(
            (i.initiate_tag, i.out_streams, i.in_streams, i.initial_tsn),
            (0x5cdb_78a8, 65535, 65535, 0x8af1_991a)
        );
        assert!(probe(&p));
        for cut in 0..p.len() {
            let _ = chunks(&p[..cut]).count();
            let _ = probe(&p[..cut]);
        }
    }

    #[test]
    fn crc32c_check_value() {
        // The CRC-32C check value: "123456789" → 0xE3069283 (with the checksum field, bytes
        // 8..12, being part of the input here, a 12-byte prefix keeps them out of the way).
        let mut d = vec![0u8; 12];
        d.extend_from_slice(b"123456789");
        let mut plain = !0u32;
        for &b in &d {
            plain = CRC32C[usize::from((plain as u8) ^ b)] ^ (plain >> 8);
        }
        assert_eq!(crc32c(&d), !plain);
        let mut crc = !0u32;
        for &b in b"123456789" {
            crc = CRC32C[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
        }
        assert_eq!(!crc, 0xE306_9283);
    }

    #[test]
    fn bad_lengths_stop_the_walk() {
        let mut p = vec![0u8; 12];
        p.extend_from_slice(&[3, 0, 0, 2]);
        assert_eq!(chunks(&p).collect::<Vec<_>>(), vec![Item::BadLength { offset: 12, length: 2 }]);
        p[15] = 40;
        assert_eq!(chunks(&p).collect::<Vec<_>>(), vec![Item::BadLength { offset: 12, length: 40 }]);
        assert!(!probe(&p));
        // DATA and I-DATA shorter than their fixed parts read as nothing.
        let c = Chunk { ty: 0, flags: 3, value: &[0, 0, 0, 1, 0, 2] };
        assert_eq!(data(&c), None);
        let c = Chunk { ty: 64, flags: 2, value: &[0; 16] };
        assert_eq!(data(&c).map(|d| (d.ppid, d.fsn, d.payload.len())), Some((Some(0), 0, 0)));
        // RE-CONFIG with a bad parameter length does not loop or panic.
        let c = Chunk { ty: 130, flags: 0, value: &[0, 13, 0, 0, 0, 13, 0, 2] };
        assert!(reset_streams(&c, 8).len() <= 8);
    }
}
