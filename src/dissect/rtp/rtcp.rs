//! RTCP compound packets (RFC 3550 §6.4–6.6, RFC 4585 §6 feedback, RFC 3611 XR, RFC 5506
//! reduced size). Each sub-packet is parsed on its own: one bad sub-packet ends parsing but
//! keeps the ones before it (webrtc-rs's parser fails the whole compound).

use crate::dissect::{be16, be32};

/// A reception report block (§6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, /256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// One RTCP packet of a compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rtcp {
    /// Sender report (200).
    Sr {
        /// Sender SSRC.
        ssrc: u32,
        /// NTP timestamp (64-bit).
        ntp: u64,
        /// RTP timestamp.
        rtp_ts: u32,
        /// Sender's packet count.
        packets: u32,
        /// Sender's octet count.
        octets: u32,
        /// Report blocks.
        blocks: Vec<ReportBlock>,
    },
    /// Receiver report (201).
    Rr {
        /// Reporter SSRC.
        ssrc: u32,
        /// Report blocks.
        blocks: Vec<ReportBlock>,
    },
    /// Source description (202), with the first CNAME.
    Sdes {
        /// CNAME item, if any.
        cname: Option<String>,
    },
    /// Goodbye (203).
    Bye,
    /// Application-defined (204), with its 4-character name.
    App {
        /// Name.
        name: String,
    },
    /// Transport-layer feedback (205): FMT 1 = NACK, 15 = transport-wide CC.
    Rtpfb {
        /// Feedback message type.
        fmt: u8,
    },
    /// Payload-specific feedback (206): FMT 1 = PLI, 4 = FIR, 15 = application (REMB).
    Psfb {
        /// Feedback message type.
        fmt: u8,
    },
    /// Extended report (207).
    Xr,
    /// Another packet type.
    Other(u8),
}

impl Rtcp {
    /// The report-contract count name.
    pub fn kind(&self) -> &'static str {
        match self {
            Rtcp::Sr { .. } => "sr",
            Rtcp::Rr { .. } => "rr",
            Rtcp::Sdes { .. } => "sdes",
            Rtcp::Bye => "bye",
            Rtcp::App { .. } => "app",
            Rtcp::Rtpfb { .. } => "rtpfb",
            Rtcp::Psfb { .. } => "psfb",
            Rtcp::Xr => "xr",
            Rtcp::Other(_) => "other",
        }
    }
}

fn blocks(b: &[u8], at: usize, count: usize) -> Vec<ReportBlock> {
    (0..count)
        .map_while(|i| {
            let o = at + i * 24;
            let lost = be32(b, o + 4)?;
            let cum = (lost & 0x00ff_ffff) as i32;
            Some(ReportBlock {
                ssrc: be32(b, o)?,
                fraction_lost: (lost >> 24) as u8,
                cumulative_lost: (cum << 8) >> 8,
                highest_seq: be32(b, o + 8)?,
                jitter: be32(b, o + 12)?,
                lsr: be32(b, o + 16)?,
                dlsr: be32(b, o + 20)?,
            })
        })
        .collect()
}

/// Parses a compound packet. Returns the packets parsed and whether all of it parsed.
pub fn parse(d: &[u8]) -> (Vec<Rtcp>, bool) {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < d.len() {
        let (Some(&b0), Some(&pt), Some(words)) = (d.get(off), d.get(off + 1), be16(d, off + 2)) else {
            return (out, false);
        };
        let len = (usize::from(words) + 1) * 4;
        let Some(p) = d.get(off..off + len) else { return (out, false) };
        if b0 >> 6 != 2 {
            return (out, false);
        }
        let count = usize::from(b0 & 0x1f);
        let pkt = match pt {
            200 => match (be32(p, 4), be32(p, 8), be32(p, 12), be32(p, 16), be32(p, 20), be32(p, 24)) {
                (Some(ssrc), Some(hi), Some(lo), Some(rtp_ts), Some(packets), Some(octets)) => Rtcp::Sr {
                    ssrc,
                    ntp: (u64::from(hi) << 32) | u64::from(lo),
                    rtp_ts,
                    packets,
                    octets,
                    blocks: blocks(p, 28, count),
                },
                _ => return (out, false),
            },
            201 => match be32(p, 4) {
                Some(ssrc) => Rtcp::Rr { ssrc, blocks: blocks(p, 8, count) },
                None => return (out, false),
            },
            202 => {
                // First chunk: SSRC then items (type, length, text); CNAME is type 1.
                let mut cname = None;
                let mut i = 8;
                while let (Some(&ty), Some(&l)) = (p.get(i), p.get(i + 1)) {
                    if ty == 0 {
                        break;
                    }
                    if ty == 1 {
                        cname = p.get(i + 2..i + 2 + usize::from(l)).map(|t| String::from_utf8_lossy(t).into_owned());
                        break;
                    }
                    i += 2 + usize::from(l);
                }
                Rtcp::Sdes { cname }
            }
            203 => Rtcp::Bye,
            204 => {
                Rtcp::App { name: p.get(8..12).map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default() }
            }
            205 => Rtcp::Rtpfb { fmt: b0 & 0x1f },
            206 => Rtcp::Psfb { fmt: b0 & 0x1f },
            207 => Rtcp::Xr,
            other => Rtcp::Other(other),
        };
        out.push(pkt);
        off += len;
    }
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sr_with_block_and_sdes() {
        let mut d = vec![0x81, 200, 0, 12];
        d.extend_from_slice(&0x1111_1111u32.to_be_bytes());
        d.extend_from_slice(&[0xAA, 0xBB, 0xCC, 0xDD, 0x11, 0x22, 0x33, 0x44]);
        d.extend_from_slice(&1000u32.to_be_bytes());
        d.extend_from_slice(&5u32.to_be_bytes());
        d.extend_from_slice(&800u32.to_be_bytes());
        d.extend_from_slice(&0x2222_2222u32.to_be_bytes());
        d.extend_from_slice(&[0x10, 0xff, 0xff, 0xfe]); // fraction 16, cumulative -2
        d.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 7, 0xCC, 0xDD, 0x11, 0x22, 0, 1, 0, 0]);
        d.extend_from_slice(&[0x81, 202, 0, 2, 0x11, 0x11, 0x11, 0x11, 1, 2, b'h', b'i']);
        let (pkts, ok) = parse(&d);
        assert!(ok);
        let Rtcp::Sr { blocks, ntp, .. } = &pkts[0] else { panic!() };
        assert_eq!(*ntp, 0xAABB_CCDD_1122_3344);
        assert_eq!(blocks[0].cumulative_lost, -2);
        assert_eq!(blocks[0].fraction_lost, 16);
        assert_eq!(blocks[0].lsr, 0xCCDD_1122);
        assert_eq!(pkts[1], Rtcp::Sdes { cname: Some("hi".into()) });
        for cut in 0..d.len() {
            let _ = parse(&d[..cut]);
        }
    }
}
