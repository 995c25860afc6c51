//! HTTP/1.x detection (RFC 9112 §3 request line, §4 status line).

use super::{probe_text, Over, Probe, ProbeInput, ProtocolSpec};

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "http",
    over: Over::Tcp,
    ports: &[80, 8080, 8000, 8088],
    probe,
    stream: None,
    datagram: None,
    section: "http",
};

/// HTTP methods (RFC 9110 §9 and common extensions).
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// A request line ending in `HTTP/1.x`, or a status line starting with it.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if p.udp {
        return Probe::NoMatch;
    }
    probe_text(p.data, METHODS, b"HTTP/1.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Direction;

    #[test]
    fn rtsp_is_not_http() {
        let p = ProbeInput {
            dir: Direction::C2S,
            data: b"OPTIONS rtsp://h/ RTSP/1.0\r\n",
            other: &[],
            prev: None,
            udp: false,
        };
        assert_eq!(probe(&p), Probe::NoMatch);
        assert_eq!(crate::dissect::rtsp::probe(&p), Probe::Match);
    }
}
