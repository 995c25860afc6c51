//! QUIC (RFC 9000, RFC 9369 v2, version negotiation, Google QUIC detection): long and short
//! headers, versions, connection IDs, packet types, Retry; Initial packets decrypted (RFC 9001
//! §5.2) to read the ClientHello's SNI and ALPN and the ServerHello's cipher suite (CRYPTO frames
//! reassembled by offset across packets); with a TLS key log (`--keylog`), Handshake and 1-RTT
//! packets decrypted too, key updates followed, frames parsed, STREAM data reassembled and
//! HTTP/3 dissected into HTTP exchanges; the spin bit's RTT samples; handshake time. Report
//! section `quic` (and `http`, `hls`, `dash` for what HTTP/3 carried).

pub mod crypto;
pub mod decrypt;
pub mod frames;
pub mod h3;
pub mod huffman;
pub mod initial;
pub mod qpack;
pub mod spin;
pub mod streams;

mod dissector;

pub use dissector::QuicDissector;

use super::{be32, DatagramDissector, Over, Probe, ProbeInput, ProtocolSpec};

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "quic",
    over: Over::Udp,
    ports: &[443, 4433, 8443],
    probe,
    stream: None,
    datagram: Some(new_dissector),
    section: "quic",
};

fn new_dissector() -> Box<dyn DatagramDissector> {
    Box::new(QuicDissector::default())
}

/// Whether a version number is one streamscope recognises.
pub fn known_version(v: u32) -> bool {
    matches!(v, 0 | 1 | 0x6b33_43cf) || v & 0xffff_ff00 == 0xff00_0000 || v & 0x0f0f_0f0f == 0x0a0a_0a0a || {
        // Google QUIC versions are ASCII "Q0nn" / "T0nn".
        let b = v.to_be_bytes();
        (b[0] == b'Q' || b[0] == b'T') && b[1..].iter().all(u8::is_ascii_digit)
    }
}

/// A long header with the fixed bit, a known version and connection ids of at most 20
/// bytes; or a gQUIC public header carrying a Q0xx version.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if !p.udp {
        return Probe::NoMatch;
    }
    let d = p.data;
    let Some(&first) = d.first() else {
        return Probe::NoMatch;
    };
    if first & 0x80 != 0 {
        let Some(v) = be32(d, 1) else {
            return Probe::NoMatch;
        };
        if !known_version(v) {
            return Probe::NoMatch;
        }
        let dcil = usize::from(d.get(5).copied().unwrap_or(255));
        let scil = usize::from(d.get(6 + dcil).copied().unwrap_or(255));
        if dcil > 20 || scil > 20 || 7 + dcil + scil > d.len() {
            return Probe::NoMatch;
        }
        // RFC 9000 §17.2: the fixed bit is 1 except in Version Negotiation.
        if v != 0 && first & 0x40 == 0 {
            return Probe::NoMatch;
        }
        return Probe::Match;
    }
    // gQUIC public header: flags with the version bit (0x01) and an 8-byte CID (0x08).
    if first & 0x09 == 0x09 && first & 0x80 == 0 {
        if let Some(v) = be32(d, 9) {
            let b = v.to_be_bytes();
            if b[0] == b'Q' && b[1..].iter().all(u8::is_ascii_digit) {
                return Probe::Match;
            }
        }
    }
    Probe::NoMatch
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn version_name(v: u32) -> String {
    match v {
        0 => "version negotiation".into(),
        1 => "v1".into(),
        0x6b33_43cf => "v2".into(),
        v if v & 0xffff_ff00 == 0xff00_0000 => format!("draft-{}", v & 0xff),
        v => {
            let b = v.to_be_bytes();
            if (b[0] == b'Q' || b[0] == b'T') && b[1..].iter().all(u8::is_ascii_digit) {
                format!("gQUIC {}", String::from_utf8_lossy(&b))
            } else {
                format!("0x{v:08x}")
            }
        }
    }
}
