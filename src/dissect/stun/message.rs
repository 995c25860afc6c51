//! STUN messages (RFC 8489 §5, §14; TURN attributes RFC 8656 §18; ICE attributes RFC 8445
//! §16.1): header, method and class, and the attributes streamscope reports, with the
//! FINGERPRINT CRC checked (RFC 8489 §14.7).

use crate::dissect::{be16, be32};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// RFC 8489 §5: the magic cookie.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// The message class (RFC 8489 §5: the C1 and C0 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Request.
    Request,
    /// Indication.
    Indication,
    /// Success response.
    Success,
    /// Error response.
    Error,
}

impl Class {
    /// The report-contract name.
    pub fn name(self) -> &'static str {
        match self {
            Class::Request => "request",
            Class::Indication => "indication",
            Class::Success => "success",
            Class::Error => "error",
        }
    }
}

/// Method names (RFC 8489 binding, RFC 8656 TURN).
pub fn method_name(m: u16) -> &'static str {
    match m {
        0x001 => "binding",
        0x002 => "shared_secret",
        0x003 => "allocate",
        0x004 => "refresh",
        0x006 => "send",
        0x007 => "data",
        0x008 => "create_permission",
        0x009 => "channel_bind",
        0x00a => "connect",
        0x00b => "connection_bind",
        0x00c => "connection_attempt",
        _ => "unknown",
    }
}

/// A decoded STUN message, borrowing the datagram.
#[derive(Debug, Clone, Default)]
pub struct StunMessage<'a> {
    /// Method (12 bits).
    pub method: u16,
    /// Class.
    pub class: Option<Class>,
    /// Transaction id (96 bits; RFC 3489 messages: the last 12 of their 16 bytes).
    pub transaction_id: [u8; 12],
    /// RFC 3489 (no magic cookie).
    pub classic: bool,
    /// XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS).
    pub mapped: Option<SocketAddr>,
    /// XOR-RELAYED-ADDRESS.
    pub relayed: Option<SocketAddr>,
    /// XOR-PEER-ADDRESS.
    pub peer: Option<SocketAddr>,
    /// USERNAME (a credential: masked in reports).
    pub username: Option<String>,
    /// ERROR-CODE: class × 100 + number.
    pub error_code: Option<u16>,
    /// REALM.
    pub realm: Option<String>,
    /// LIFETIME seconds.
    pub lifetime: Option<u32>,
    /// CHANNEL-NUMBER.
    pub channel: Option<u16>,
    /// DATA attribute (TURN Send/Data indications).
    pub data: Option<&'a [u8]>,
    /// ICE PRIORITY.
    pub priority: Option<u32>,
    /// ICE USE-CANDIDATE present.
    pub use_candidate: bool,
    /// ICE-CONTROLLING (true) / ICE-CONTROLLED (false).
    pub controlling: Option<bool>,
    /// MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 present.
    pub integrity: bool,
    /// FINGERPRINT: present, and whether its CRC matched.
    pub fingerprint_ok: Option<bool>,
}

fn xor_address(v: &[u8], txid: &[u8; 12], xor: bool) -> Option<SocketAddr> {
    let family = *v.get(1)?;
    let mut port = be16(v, 2)?;
    if xor {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    match family {
        1 => {
            let mut a = be32(v, 4)?;
            if xor {
                a ^= MAGIC_COOKIE;
            }
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port))
        }
        2 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(v.get(4..20)?);
            if xor {
                let mut key = MAGIC_COOKIE.to_be_bytes().to_vec();
                key.extend_from_slice(txid);
                for (b, k) in a.iter_mut().zip(key) {
                    *b ^= k;
                }
            }
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port))
        }
        _ => None,
    }
}

/// RFC 3489 §11.1 message types: Binding Request / Response / Error Response, Shared Secret
/// Request / Response / Error Response.
const CLASSIC_TYPES: [u16; 6] = [0x0001, 0x0101, 0x0111, 0x0002, 0x0102, 0x0112];

/// Whether `d` looks like a STUN message rather than data that merely starts with two zero
/// bits: the header's top bits clear and a length (a multiple of 4) that fits, then either the
/// magic cookie (RFC 8489 §5) with a method other than the reserved 0x000, or no cookie and an
/// RFC 3489 message type (§11.1). With `exact` the message must fill `d` (a datagram, or a
/// packet relayed in a TURN DATA attribute or ChannelData message).
pub fn plausible(d: &[u8], exact: bool) -> bool {
    let (Some(ty), Some(len), Some(cookie)) = (be16(d, 0), be16(d, 2), be32(d, 4)) else {
        return false;
    };
    let total = 20 + usize::from(len);
    if ty & 0xC000 != 0 || len % 4 != 0 || total > d.len() || (exact && total != d.len()) {
        return false;
    }
    if cookie == MAGIC_COOKIE {
        let method = (ty & 0x000F) | ((ty & 0x00E0) >> 1) | ((ty & 0x3E00) >> 2);
        method != 0
    } else {
        CLASSIC_TYPES.contains(&ty)
    }
}

/// Parses a STUN message at the start of `d` (exactly `20 + length` bytes are used).
pub fn parse(d: &[u8]) -> Option<StunMessage<'_>> {
    let ty = be16(d, 0)?;
    let len = usize::from(be16(d, 2)?);
    if ty & 0xC000 != 0 || len % 4 != 0 {
        return None;
    }
    let body = d.get(20..20 + len)?;
    let cookie = be32(d, 4)?;
    let mut m = StunMessage { classic: cookie != MAGIC_COOKIE, ..StunMessage::default() };
    m.transaction_id.copy_from_slice(d.get(8..20)?);
    // RFC 8489 §5: M11..M0 are interleaved with the class bits C1 (bit 8) and C0 (bit 4).
    m.method = (ty & 0x000F) | ((ty & 0x00E0) >> 1) | ((ty & 0x3E00) >> 2);
    m.class = Some(match ty & 0x0110 {
        0x0000 => Class::Request,
        0x0010 => Class::Indication,
        0x0100 => Class::Success,
        _ => Class::Error,
    });
    let mut off = 0usize;
    while let (Some(at), Some(al)) = (be16(body, off), be16(body, off + 2)) {
        let al = usize::from(al);
        let Some(v) = body.get(off + 4..off + 4 + al) else { break };
        let txid = m.transaction_id;
        match at {
            0x0001 => m.mapped = m.mapped.or_else(|| xor_address(v, &txid, false)),
            0x0020 | 0x8020 => m.mapped = xor_address(v, &txid, true).or(m.mapped),
            0x0016 => m.relayed = xor_address(v, &txid, true),
            0x0012 => m.peer = xor_address(v, &txid, true),
            0x0006 => m.username = Some(String::from_utf8_lossy(v).into_owned()),
            0x0009 => {
                let class = u16::from(v.get(2).copied().unwrap_or(0) & 0x07);
                let number = u16::from(v.get(3).copied().unwrap_or(0));
                m.error_code = Some(class * 100 + number);
            }
            0x0014 => m.realm = Some(String::from_utf8_lossy(v).into_owned()),
            0x000D => m.lifetime = be32(v, 0),
            0x000C => m.channel = be16(v, 0),
            0x0013 => m.data = Some(v),
            0x0024 => m.priority = be32(v, 0),
            0x0025 => m.use_candidate = true,
            0x802A => m.controlling = Some(true),
            0x8029 => m.controlling = Some(false),
            0x0008 | 0x001C => m.integrity = true,
            0x8028 => {
                // CRC-32 of the message up to this attribute, XOR 0x5354554e, with the header
                // length covering the fingerprint (RFC 8489 §14.7).
                let upto = d.get(..20 + off).unwrap_or(&[]);
                let want = be32(v, 0);
                let crc = crc32fast::hash(upto) ^ 0x5354_554e;
                m.fingerprint_ok = Some(want == Some(crc));
            }
            _ => {}
        }
        off += 4 + al.div_ceil(4) * 4;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5769_sample_response_ipv4() {
        // RFC 5769 §2.2 sample response (XOR-MAPPED-ADDRESS 192.0.2.1:32853, FINGERPRINT).
        let hex = "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220\
                   002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7\
                   80280004c07d4c96";
        let d = hex::decode(hex.replace(' ', "")).unwrap();
        let m = parse(&d).unwrap();
        assert_eq!(m.method, 1);
        assert_eq!(m.class, Some(Class::Success));
        assert_eq!(m.mapped, Some("192.0.2.1:32853".parse().unwrap()));
        assert!(m.integrity);
        assert_eq!(m.fingerprint_ok, Some(true));
        for cut in 0..d.len() {
            let _ = parse(&d[..cut]);
        }
    }

    #[test]
    fn plausible_needs_cookie_or_classic_type() {
        let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(&[9u8; 12]);
        assert!(plausible(&m, true));
        // turnutils_uclient's payload: type 0x0000, length 0, no cookie.
        let mut junk = vec![0x00, 0x00, 0x00, 0x00, 0x07, 0x07, 0x07, 0x07, 0x7f, 0x13];
        junk.resize(120, 0x07);
        assert!(!plausible(&junk, false));
        junk[0..4].copy_from_slice(&[0x01, 0x00, 0x00, 0x00]);
        assert!(!plausible(&junk, false), "0x0100 is not an RFC 3489 type");
        // Method 0 with the cookie is reserved.
        let mut zero = m.clone();
        zero[1] = 0x00;
        assert!(!plausible(&zero, true));
        // RFC 3489 Binding Request (no cookie) must fill the datagram exactly.
        let mut classic = m.clone();
        classic[4..8].copy_from_slice(&[1, 2, 3, 4]);
        assert!(plausible(&classic, true));
        classic.push(0);
        assert!(!plausible(&classic, true));
        assert!(plausible(&classic, false));
        for cut in 0..m.len() {
            assert!(!plausible(&m[..cut], false));
        }
    }
}
