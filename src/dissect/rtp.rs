//! RTP and RTCP detection (RFC 3550 §5.1 and §6.4, RFC 5761 §4 payload type ranges) on any
//! UDP port, without signalling.

use super::{be16, be32, Over, Probe, ProbeInput, ProtocolSpec};

/// Registry entry for RTP.
pub const RTP_SPEC: ProtocolSpec = ProtocolSpec {
    name: "rtp",
    over: Over::Udp,
    ports: &[5004],
    probe: probe_rtp,
    stream: None,
    datagram: None,
    section: "rtp",
};

/// Registry entry for RTCP.
pub const RTCP_SPEC: ProtocolSpec = ProtocolSpec {
    name: "rtcp",
    over: Over::Udp,
    ports: &[5005],
    probe: probe_rtcp,
    stream: None,
    datagram: None,
    section: "rtcp",
};

/// The fixed RTP header: version 2, a payload type outside the RTCP range (RFC 5761 §4), and
/// room for the CSRC list.
fn rtp_header(d: &[u8]) -> Option<(u16, u32, u32)> {
    let b0 = *d.first()?;
    let b1 = *d.get(1)?;
    if b0 >> 6 != 2 || d.len() < 12 + 4 * usize::from(b0 & 0x0f) {
        return None;
    }
    let pt = b1 & 0x7f;
    if (72..=76).contains(&pt) {
        return None;
    }
    Some((be16(d, 2)?, be32(d, 4)?, be32(d, 8)?))
}

/// RTP needs two datagrams to be believed: the same SSRC with a sequence number a little
/// ahead and a timestamp that did not go far back.
pub fn probe_rtp(p: &ProbeInput<'_>) -> Probe {
    if !p.udp {
        return Probe::NoMatch;
    }
    let Some((seq, _ts, ssrc)) = rtp_header(p.data) else {
        return Probe::NoMatch;
    };
    let Some(prev) = p.prev else {
        return Probe::NeedMore;
    };
    let Some((pseq, _pts, pssrc)) = rtp_header(prev) else {
        return Probe::NeedMore;
    };
    let same_pt = p.data.get(1).map(|b| b & 0x7f) == prev.get(1).map(|b| b & 0x7f);
    let delta = seq.wrapping_sub(pseq);
    if ssrc == pssrc && (1..=32).contains(&delta) && (same_pt || delta <= 4) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// A compound RTCP packet: every sub-packet is version 2 with a type in 192–223 and the
/// lengths add up to the datagram exactly (RFC 3550 §6.1); the first is SR, RR, or (reduced
/// size, RFC 5506) any RTCP type.
pub fn probe_rtcp(p: &ProbeInput<'_>) -> Probe {
    if !p.udp {
        return Probe::NoMatch;
    }
    let d = p.data;
    let mut off = 0usize;
    let mut n = 0;
    while off < d.len() {
        let (Some(&b0), Some(&pt), Some(words)) = (d.get(off), d.get(off + 1), be16(d, off + 2)) else {
            return Probe::NoMatch;
        };
        if b0 >> 6 != 2 || !(192..=223).contains(&pt) || (n == 0 && !(200..=207).contains(&pt)) {
            return Probe::NoMatch;
        }
        off += (usize::from(words) + 1) * 4;
        n += 1;
    }
    if off == d.len() && n > 0 {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Direction;

    fn rtp(seq: u16) -> Vec<u8> {
        let mut v = vec![0x80, 0x00];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        v.extend_from_slice(&0xdeadbeefu32.to_be_bytes());
        v.extend_from_slice(&[0xff; 160]);
        v
    }

    #[test]
    fn two_packets_make_rtp() {
        let (a, b) = (rtp(10), rtp(11));
        let first = ProbeInput { dir: Direction::C2S, data: &a, other: &[], prev: None, udp: true };
        assert_eq!(probe_rtp(&first), Probe::NeedMore);
        let second = ProbeInput { dir: Direction::C2S, data: &b, other: &[], prev: Some(&a), udp: true };
        assert_eq!(probe_rtp(&second), Probe::Match);
        assert_eq!(probe_rtcp(&second), Probe::NoMatch);
    }

    #[test]
    fn compound_rtcp() {
        // RR with no report blocks (1 word + header) followed by an empty SDES.
        let d = [0x80, 201, 0, 1, 0, 0, 0, 1, 0x80, 202, 0, 0];
        let p = ProbeInput { dir: Direction::C2S, data: &d, other: &[], prev: None, udp: true };
        assert_eq!(probe_rtcp(&p), Probe::Match);
        assert_eq!(probe_rtp(&p), Probe::NoMatch);
    }
}
