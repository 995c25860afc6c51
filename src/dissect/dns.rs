//! DNS (RFC 1035) over UDP, recognised and labelled but not dissected: a capture of streaming
//! traffic carries many one-query flows, and a flow known to be DNS is not held for probing
//! (nor its datagrams kept for a replay that would never come).

use super::{Over, Probe, ProbeInput, ProtocolSpec};

/// DNS, mDNS and LLMNR ports: a hint for the probe order only.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "dns",
    over: Over::Udp,
    ports: &[53, 5353, 5355],
    probe,
    stream: None,
    datagram: None,
    section: "",
};

/// A DNS message: a sane header (RFC 1035 §4.1.1) and a first question whose name, type and
/// class parse (§4.1.2), ending inside the datagram.
fn probe(input: &ProbeInput<'_>) -> Probe {
    if !input.udp {
        return Probe::NoMatch;
    }
    if is_dns_message(input.data) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// Whether `d` parses as a DNS message with at least one question.
pub fn is_dns_message(d: &[u8]) -> bool {
    let (Some(flags), Some(qd), Some(an), Some(ns), Some(ar)) =
        (be16(d, 2), be16(d, 4), be16(d, 6), be16(d, 8), be16(d, 10))
    else {
        return false;
    };
    let opcode = (flags >> 11) & 0xF;
    let z = flags & 0x0040;
    let rcode = flags & 0xF;
    if !matches!(opcode, 0 | 1 | 2 | 4 | 5) || z != 0 || rcode > 11 || !(1..=16).contains(&qd) {
        return false;
    }
    // Each record takes at least 11 bytes: more than the datagram can hold is not DNS.
    let records = usize::from(an) + usize::from(ns) + usize::from(ar);
    if records.saturating_mul(11) > d.len() {
        return false;
    }
    // The first question's name: labels of 1-63 bytes, or a compression pointer, at most
    // 255 bytes in all (§2.3.4, §4.1.4).
    let mut at = 12;
    let mut name_len = 0usize;
    loop {
        let Some(&len) = d.get(at) else { return false };
        match len {
            0 => {
                at += 1;
                break;
            }
            1..=63 => {
                name_len += usize::from(len) + 1;
                at += usize::from(len) + 1;
                if name_len > 255 {
                    return false;
                }
            }
            0xC0..=0xFF => {
                at += 2;
                break;
            }
            _ => return false,
        }
    }
    let (Some(_qtype), Some(qclass)) = (be16(d, at), be16(d, at + 2)) else { return false };
    // IN, CH, HS, NONE, ANY; mDNS sets the top bit (unicast-response / cache-flush).
    matches!(qclass & 0x7FFF, 1 | 3 | 4 | 254 | 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for example.com A, as dig sends it (with an EDNS OPT record).
    const QUERY: &[u8] = &[
        0x1a, 0x2b, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 7, b'e', b'x', b'a', b'm', b'p', b'l',
        b'e', 3, b'c', b'o', b'm', 0, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ];

    #[test]
    fn queries_and_answers_match() {
        assert!(is_dns_message(QUERY));
        let mut answer = QUERY.to_vec();
        answer[2] = 0x81;
        answer[3] = 0x80;
        answer[7] = 1;
        // example.com A 93.184.216.34, name by pointer to offset 12.
        answer.splice(29..29, [0xC0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 216, 34]);
        assert!(is_dns_message(&answer));
    }

    #[test]
    fn other_payloads_do_not() {
        assert!(!is_dns_message(&QUERY[..20]), "name runs past the end");
        let mut bad = QUERY.to_vec();
        bad[12] = 64;
        assert!(!is_dns_message(&bad), "label length 64");
        let mut bad = QUERY.to_vec();
        bad[28] = 9;
        assert!(!is_dns_message(&bad), "class 9");
        // An RTP header with a PCMU payload.
        let mut rtp = vec![0x80, 0x00, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef];
        rtp.extend([0xffu8; 160]);
        assert!(!is_dns_message(&rtp));
        assert!(!is_dns_message(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!is_dns_message(&[]));
    }
}
