//! RTSP 1.0 (RFC 2326 §6.1 request line, §7.1 status line) and 2.0 (RFC 7826) detection.

use super::{probe_text, Over, Probe, ProbeInput, ProtocolSpec};

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "rtsp",
    over: Over::Tcp,
    ports: &[554, 8554],
    probe,
    stream: None,
    datagram: None,
    section: "rtsp",
};

/// RTSP methods (RFC 2326 §10, RFC 7826 §13).
pub const METHODS: &[&str] = &[
    "OPTIONS",
    "DESCRIBE",
    "ANNOUNCE",
    "SETUP",
    "PLAY",
    "PAUSE",
    "RECORD",
    "TEARDOWN",
    "GET_PARAMETER",
    "SET_PARAMETER",
    "REDIRECT",
    "PLAY_NOTIFY",
];

/// A request line ending in `RTSP/1.0`/`RTSP/2.0`, or a status line starting with it.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if p.udp {
        return Probe::NoMatch;
    }
    probe_text(p.data, METHODS, b"RTSP/")
}
