//! TLS detection (RFC 8446 §5.1 record layer, §4 handshake): a handshake record carrying a
//! ClientHello or ServerHello.

use super::{be16, Over, Probe, ProbeInput, ProtocolSpec};

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "tls",
    over: Over::Tcp,
    ports: &[443, 8443],
    probe,
    stream: None,
    datagram: None,
    section: "tls",
};

/// Record type 22 (handshake), version 3.x, a plausible length, handshake type 1 or 2.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if p.udp {
        return Probe::NoMatch;
    }
    let d = p.data;
    match (d.first(), d.get(1), d.get(2)) {
        (Some(22), Some(3), Some(0..=4)) => {}
        (Some(22), Some(3), None) | (Some(22), None, _) => return Probe::NeedMore,
        (None, _, _) => return Probe::NeedMore,
        _ => return Probe::NoMatch,
    }
    let Some(len) = be16(d, 3) else {
        return Probe::NeedMore;
    };
    // RFC 8446 §5.1: length must not exceed 2^14 (+2048 for TLS 1.2 ciphertext).
    if len == 0 || len > 16384 + 2048 {
        return Probe::NoMatch;
    }
    match d.get(5) {
        Some(1) | Some(2) => Probe::Match,
        Some(_) => Probe::NoMatch,
        None => Probe::NeedMore,
    }
}
