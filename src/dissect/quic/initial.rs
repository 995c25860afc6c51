//! QUIC Initial packet protection (RFC 9001 §5.2 keys from the client's Destination Connection
//! ID, §5.4 header protection with AES-ECB, §5.3 AES-128-GCM payload; RFC 9369 §3.3 QUIC v2
//! salt and labels), and the frames of a decrypted Initial (RFC 9000 §19: PADDING, PING, ACK,
//! CRYPTO, CONNECTION_CLOSE).

use crate::dissect::tls::crypto::{expand_label, Hash};
use ring::aead::{self, quic::HeaderProtectionKey, Aad, LessSafeKey, Nonce, UnboundKey};
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

/// Initial keys of one side.
pub struct InitialKeys {
    key: LessSafeKey,
    iv: [u8; 12],
    hp: HeaderProtectionKey,
}

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

impl InitialKeys {
    /// The keys of the client (`client == true`) or server for this DCID and version.
    pub fn new(dcid: &[u8], version: u32, client: bool) -> Option<Self> {
        let v2 = version == 0x6b33_43cf;
        let salt = if v2 { &SALT_V2[..] } else { &SALT_V1[..] };
        // HKDF-Extract(salt, DCID) is HMAC-SHA256 keyed with the salt.
        let initial = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), dcid);
        let secret = expand_label(Hash::Sha256, initial.as_ref(), if client { "client in" } else { "server in" }, 32)?;
        let (kl, il, hl) =
            if v2 { ("quicv2 key", "quicv2 iv", "quicv2 hp") } else { ("quic key", "quic iv", "quic hp") };
        let key = expand_label(Hash::Sha256, &secret, kl, 16)?;
        let iv = expand_label(Hash::Sha256, &secret, il, 12)?;
        let hp = expand_label(Hash::Sha256, &secret, hl, 16)?;
        Some(InitialKeys {
            key: LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).ok()?),
            iv: iv.try_into().ok()?,
            hp: HeaderProtectionKey::new(&aead::quic::AES_128, &hp).ok()?,
        })
    }

    /// Removes header protection and decrypts one Initial packet: `packet` is the whole packet
    /// (header through the end of its Length), `pn_offset` where the packet number starts.
    /// Returns the packet number and the plaintext frames.
    pub fn open(&self, packet: &[u8], pn_offset: usize) -> Option<(u64, Vec<u8>)> {
        let sample = packet.get(pn_offset + 4..pn_offset + 20)?;
        let mask = self.hp.new_mask(sample).ok()?;
        let mut header = packet.get(..pn_offset + 4)?.to_vec();
        let first = header.first_mut()?;
        *first ^= mask.first()? & 0x0f;
        let pn_len = usize::from(*first & 0x03) + 1;
        let mut pn = 0u64;
        for i in 0..pn_len {
            let b = header.get_mut(pn_offset + i)?;
            *b ^= mask.get(1 + i)?;
            pn = (pn << 8) | u64::from(*b);
        }
        header.truncate(pn_offset + pn_len);
        let mut nonce = self.iv;
        for (n, b) in nonce.iter_mut().rev().zip(pn.to_le_bytes()) {
            *n ^= b;
        }
        let mut payload = packet.get(pn_offset + pn_len..)?.to_vec();
        let plain =
            self.key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&header), &mut payload).ok()?;
        let len = plain.len();
        payload.truncate(len);
        Some((pn, payload))
    }
}

/// The CRYPTO frames of decrypted Initial frames: (offset, data).
pub fn crypto_frames(frames: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p < frames.len() {
        let Some(ty) = varint(frames, &mut p) else { break };
        match ty {
            0x00 | 0x01 => {}
            0x02 | 0x03 => {
                // ACK: largest, delay, range count, first range, ranges, [ECN counts].
                let (Some(_), Some(_), Some(count), Some(_)) =
                    (varint(frames, &mut p), varint(frames, &mut p), varint(frames, &mut p), varint(frames, &mut p))
                else {
                    break;
                };
                for _ in 0..count.min(256) {
                    if varint(frames, &mut p).is_none() || varint(frames, &mut p).is_none() {
                        return out;
                    }
                }
                if ty == 0x03 {
                    for _ in 0..3 {
                        if varint(frames, &mut p).is_none() {
                            return out;
                        }
                    }
                }
            }
            0x06 => {
                let (Some(off), Some(len)) = (varint(frames, &mut p), varint(frames, &mut p)) else { break };
                let Some(data) = frames.get(p..p + len as usize) else { break };
                out.push((off, data));
                p += len as usize;
            }
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9001_a1_client_keys() {
        // RFC 9001 Appendix A.1: DCID 0x8394c8f03e515708.
        let dcid = hex::decode("8394c8f03e515708").unwrap();
        let k = InitialKeys::new(&dcid, 1, true).unwrap();
        assert_eq!(hex::encode(k.iv), "fa044b2f42a3fd3b46fb255c");
    }
}
