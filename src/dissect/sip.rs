//! SIP detection (RFC 3261 §7.1 request line, §7.2 status line), over UDP or TCP.

use super::{probe_text, Over, Probe, ProbeInput, ProtocolSpec};

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "sip",
    over: Over::Both,
    ports: &[5060, 5061],
    probe,
    stream: None,
    datagram: None,
    section: "sip",
};

/// SIP methods (RFC 3261 and extensions).
pub const METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

/// A request line ending in `SIP/2.0`, or a status line starting with it.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    let r = probe_text(p.data, METHODS, b"SIP/2.0");
    // A datagram is whole: an incomplete first line means it is not SIP.
    if p.udp && r == Probe::NeedMore {
        Probe::NoMatch
    } else {
        r
    }
}
