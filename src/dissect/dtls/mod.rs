//! DTLS (RFC 6347, RFC 9147): detection, record headers ([`record`]) and the per-association
//! state the WebRTC demultiplexer keeps ([`association`]): handshake, keys, decryption and
//! the SCTP it carries.

pub mod association;
pub mod record;

use super::{be16, Over, Probe, ProbeInput, ProtocolSpec};

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "dtls",
    over: Over::Udp,
    ports: &[4433, 4740],
    probe,
    stream: None,
    datagram: Some(super::stun::new_datagram),
    section: "dtls",
};

/// A DTLS 1.0/1.2 record header (content type 20–25, version 0xfeff or 0xfefd, length within
/// the datagram); a handshake record makes it certain.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if !p.udp {
        return Probe::NoMatch;
    }
    let d = p.data;
    let (Some(&ct), Some(ver), Some(len)) = (d.first(), be16(d, 1), be16(d, 11)) else {
        return Probe::NoMatch;
    };
    if !(20..=25).contains(&ct) || !matches!(ver, 0xfeff | 0xfefd | 0xfefc) {
        return Probe::NoMatch;
    }
    if 13 + usize::from(len) > d.len() {
        return Probe::NoMatch;
    }
    Probe::Match
}
