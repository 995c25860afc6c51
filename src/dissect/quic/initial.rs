//! QUIC Initial packet keys (RFC 9001 §5.2: from the client's Destination Connection ID; RFC
//! 9369 §3.3 QUIC v2 salt and labels), variable-length integers (RFC 9000 §16), and the CRYPTO
//! frames of a decrypted Initial.

use super::crypto::PacketKeys;
use crate::dissect::tls::crypto::{expand_label, Cipher, Hash};
use ring::hmac;

/// RFC 9001 §5.2: the v1 initial salt.
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f,
    0x0a,
];
/// RFC 9369 §3.3.1: the v2 initial salt.
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e,
    0xd9,
];

/// Reads a variable-length integer (RFC 9000 §16) at `*p`.
pub fn varint(b: &[u8], p: &mut usize) -> Option<u64> {
    let first = *b.get(*p)?;
    let len = 1usize << (first >> 6);
    let mut v = u64::from(first & 0x3f);
    for i in 1..len {
        v = (v << 8) | u64::from(*b.get(*p + i)?);
    }
    *p += len;
    Some(v)
}

/// RFC 9001 §5.2 (RFC 9369 §3.3 for v2): the Initial packet keys of the client
/// (`client == true`) or the server, from the client's Destination Connection ID.
/// Other versions (drafts, Google's T0xx) have salts of their own: None.
pub fn initial_keys(dcid: &[u8], version: u32, client: bool) -> Option<PacketKeys> {
    let v2 = version == 0x6b33_43cf;
    if version != 1 && !v2 {
        return None;
    }
    let salt = if v2 { &SALT_V2[..] } else { &SALT_V1[..] };
    // HKDF-Extract(salt, DCID) is HMAC-SHA256 keyed with the salt.
    let initial = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), dcid);
    let secret = expand_label(Hash::Sha256, initial.as_ref(), if client { "client in" } else { "server in" }, 32)?;
    PacketKeys::from_secret(Cipher::Aes128Gcm, Hash::Sha256, &secret, v2)
}

/// The CRYPTO frames of decrypted Initial frames: (offset, data).
pub fn crypto_frames(frames: &[u8]) -> Vec<(u64, &[u8])> {
    super::frames::parse(frames)
        .0
        .into_iter()
        .filter_map(|f| match f {
            super::frames::Frame::Crypto { offset, data } => Some((offset, data)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9001_a1_client_keys() {
        // RFC 9001 Appendix A.1: DCID 0x8394c8f03e515708.
        let dcid = hex::decode("8394c8f03e515708").unwrap();
        let k = initial_keys(&dcid, 1, true).unwrap();
        assert_eq!(hex::encode(k.iv()), "fa044b2f42a3fd3b46fb255c");
        assert_eq!(hex::encode(initial_keys(&dcid, 1, false).unwrap().iv()), "0ac1493ca1905853b0bba03e");
        // Appendix A.2: with the sample d1b1c98d... the mask is 437b9aec36, so the protected
        // header c0 ... 7b9aec34 unprotects to c3 ... 00000002 (packet number 2, 4 bytes).
        let packet =
            hex::decode("c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9b").unwrap();
        let u = k.unprotect(&packet, 18, true).unwrap();
        assert_eq!((u.first, u.pn_len, u.truncated_pn), (0xc3, 4, 2));
        assert_eq!(hex::encode(&u.header), "c300000001088394c8f03e5157080000449e00000002");
    }
}
