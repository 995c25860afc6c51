//! STUN/TURN detection (RFC 8489 §5 header, RFC 3489 §11.1 classic header, RFC 8656 §12
//! ChannelData).

use super::{be16, be32, Over, Probe, ProbeInput, ProtocolSpec};

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "stun",
    over: Over::Both,
    ports: &[3478, 5349, 19302],
    probe,
    stream: None,
    datagram: None,
    section: "stun",
};

/// RFC 8489 §5: the magic cookie.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// A STUN header: top two bits zero, length a multiple of 4 that fits the data, and either the
/// magic cookie or (classic STUN) a known Binding message type with an exact length.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    let d = p.data;
    if d.len() < 20 {
        return if p.udp || d.first().is_some_and(|b| b & 0xC0 != 0) { Probe::NoMatch } else { Probe::NeedMore };
    }
    let (Some(ty), Some(len), Some(cookie)) = (be16(d, 0), be16(d, 2), be32(d, 4)) else {
        return Probe::NeedMore;
    };
    if ty & 0xC000 != 0 || len % 4 != 0 {
        return Probe::NoMatch;
    }
    let total = 20 + usize::from(len);
    let fits = if p.udp { total == d.len() } else { total <= d.len() || d.len() >= 20 };
    if !fits {
        return Probe::NoMatch;
    }
    if cookie == MAGIC_COOKIE {
        return Probe::Match;
    }
    // RFC 3489: Binding Request / Response / Error Response, Shared Secret Request.
    let classic = matches!(ty, 0x0001 | 0x0101 | 0x0111 | 0x0002);
    if classic && p.udp && total == d.len() {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Direction;

    #[test]
    fn binding_request() {
        let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(&[7u8; 12]);
        let p = ProbeInput { dir: Direction::C2S, data: &m, other: &[], prev: None, udp: true };
        assert_eq!(probe(&p), Probe::Match);
        m[3] = 4;
        let p = ProbeInput { dir: Direction::C2S, data: &m, other: &[], prev: None, udp: true };
        assert_eq!(probe(&p), Probe::NoMatch);
    }
}
