//! RTMP (Adobe RTMP specification 1.0, §5.2 handshake). Detection: C0 (version 3, or 6 for
//! RTMPE) followed by the 1536-byte C1, sent before the server says anything.

use super::{Over, Probe, ProbeInput, ProtocolSpec};
use crate::flow::Direction;

/// C0 + C1 length.
const C0C1: usize = 1537;

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "rtmp",
    over: Over::Tcp,
    ports: &[1935],
    probe,
    stream: None,
    datagram: None,
    section: "rtmp",
};

/// The client's first flight is C0+C1 (1537 bytes) and starts with version 3 or 6; the
/// server answers S0 with the same version. RDP/TPKT also start with 3 but send far less
/// before the server answers, which tells them apart.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if p.udp {
        return Probe::NoMatch;
    }
    let (client, server) = match p.dir {
        Direction::C2S => (p.data, p.other),
        Direction::S2C => (p.other, p.data),
    };
    match client.first() {
        None => {
            // Only server bytes: S0+S1+S2 = 3073 bytes starting with 3.
            if server.len() > 2 * 1536 && matches!(server.first(), Some(3)) {
                Probe::Match
            } else if server.is_empty() || (matches!(server.first(), Some(3)) && server.len() < 3073) {
                Probe::NeedMore
            } else {
                Probe::NoMatch
            }
        }
        Some(3) | Some(6) => {
            if client.len() >= C0C1 {
                if server.first().is_none_or(|&v| v == 3 || v == 6) {
                    Probe::Match
                } else {
                    Probe::NoMatch
                }
            } else if server.is_empty() {
                Probe::NeedMore
            } else {
                Probe::NoMatch
            }
        }
        Some(_) => Probe::NoMatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(c: &'a [u8], s: &'a [u8]) -> ProbeInput<'a> {
        ProbeInput { dir: Direction::C2S, data: c, other: s, prev: None, udp: false }
    }

    #[test]
    fn c0c1_matches_tpkt_does_not() {
        let mut c = vec![3u8];
        c.extend_from_slice(&[0; 1536]);
        assert_eq!(probe(&input(&c, &[])), Probe::Match);
        assert_eq!(probe(&input(&c[..100], &[])), Probe::NeedMore);
        let tpkt = [3u8, 0, 0, 19, 14, 224, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0];
        assert_eq!(probe(&input(&tpkt, &[3, 0, 0, 19])), Probe::NoMatch);
        assert_eq!(probe(&input(b"GET / HTTP/1.1\r\n", &[])), Probe::NoMatch);
    }
}
