//! QUIC packet protection with known secrets (RFC 9001 §5): packet keys from a TLS traffic
//! secret, header protection (§5.4, AES or ChaCha20 by the negotiated suite), AEAD payload
//! protection (§5.3), packet number recovery (RFC 9000 §17.1, Appendix A.3) and key update
//! (§6: the next generation's secrets). QUIC v2 uses its own labels (RFC 9369 §3.3.2).

use crate::dissect::tls::crypto::{expand_label, Cipher, Hash};
use ring::aead::{quic, Aad, LessSafeKey, Nonce, UnboundKey};

/// The protection of one packet number space in one direction, for one key phase.
pub struct PacketKeys {
    cipher: Cipher,
    hash: Hash,
    v2: bool,
    /// The traffic secret these keys come from (kept for the next key update).
    secret: Vec<u8>,
    key: LessSafeKey,
    iv: [u8; 12],
    /// Header protection does not change with key updates (RFC 9001 §6).
    hp_raw: Vec<u8>,
    hp: quic::HeaderProtectionKey,
}

/// A packet whose header protection was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unprotected {
    /// The header through the packet number, unmasked (the AEAD's associated data).
    pub header: Vec<u8>,
    /// The unmasked first byte.
    pub first: u8,
    /// Bytes of the packet number (1..=4).
    pub pn_len: usize,
    /// The packet number as sent (its low `8 * pn_len` bits).
    pub truncated_pn: u64,
}

fn hp_algorithm(cipher: Cipher) -> &'static quic::Algorithm {
    match cipher {
        Cipher::Aes128Gcm => &quic::AES_128,
        Cipher::Aes256Gcm => &quic::AES_256,
        Cipher::Chacha20 => &quic::CHACHA20,
    }
}

/// `label` with the v2 prefix where RFC 9369 §3.3.2 wants it ("quic key" → "quicv2 key").
fn label(v2: bool, name: &str) -> String {
    if v2 {
        format!("quicv2 {name}")
    } else {
        format!("quic {name}")
    }
}

impl PacketKeys {
    /// RFC 9001 §5.1: key, IV and header protection key from a traffic secret.
    pub fn from_secret(cipher: Cipher, hash: Hash, secret: &[u8], v2: bool) -> Option<Self> {
        let key = expand_label(hash, secret, &label(v2, "key"), cipher.key_len())?;
        let iv = expand_label(hash, secret, &label(v2, "iv"), 12)?;
        let hp_raw = expand_label(hash, secret, &label(v2, "hp"), cipher.key_len())?;
        Self::build(cipher, hash, secret.to_vec(), &key, &iv, hp_raw, v2)
    }

    fn build(
        cipher: Cipher,
        hash: Hash,
        secret: Vec<u8>,
        key: &[u8],
        iv: &[u8],
        hp_raw: Vec<u8>,
        v2: bool,
    ) -> Option<Self> {
        Some(PacketKeys {
            cipher,
            hash,
            v2,
            secret,
            key: LessSafeKey::new(UnboundKey::new(cipher.algorithm(), key).ok()?),
            iv: iv.try_into().ok()?,
            hp: quic::HeaderProtectionKey::new(hp_algorithm(cipher), &hp_raw).ok()?,
            hp_raw,
        })
    }

    /// RFC 9001 §6.1: the keys of the next key phase. The secret becomes
    /// HKDF-Expand-Label(secret, "quic ku", "", hash length); header protection stays.
    pub fn next_generation(&self) -> Option<Self> {
        let len = match self.hash {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        };
        let secret = expand_label(self.hash, &self.secret, &label(self.v2, "ku"), len)?;
        let key = expand_label(self.hash, &secret, &label(self.v2, "key"), self.cipher.key_len())?;
        let iv = expand_label(self.hash, &secret, &label(self.v2, "iv"), 12)?;
        Self::build(self.cipher, self.hash, secret, &key, &iv, self.hp_raw.clone(), self.v2)
    }

    /// The IV (tests compare it with the RFC's).
    #[cfg(test)]
    pub(crate) fn iv(&self) -> [u8; 12] {
        self.iv
    }

    /// The AEAD of these keys.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// RFC 9001 §5.4: removes header protection. `packet` starts at the packet's first byte
    /// and runs at least to the end of its payload; `pn_offset` is where the packet number
    /// starts; `long` selects the 4 (long header) or 5 (short header) masked bits of the first
    /// byte. The sample starts 4 bytes after `pn_offset` (§5.4.2).
    pub fn unprotect(&self, packet: &[u8], pn_offset: usize, long: bool) -> Option<Unprotected> {
        let sample = packet.get(pn_offset + 4..pn_offset + 4 + 16)?;
        let mask = self.hp.new_mask(sample).ok()?;
        let bits = if long { 0x0f } else { 0x1f };
        let first = packet.first()? ^ (mask.first()? & bits);
        let pn_len = usize::from(first & 0x03) + 1;
        let mut header = packet.get(..pn_offset + pn_len)?.to_vec();
        *header.first_mut()? = first;
        let mut pn = 0u64;
        for i in 0..pn_len {
            let b = header.get_mut(pn_offset + i)?;
            *b ^= mask.get(1 + i)?;
            pn = (pn << 8) | u64::from(*b);
        }
        Some(Unprotected { header, first, pn_len, truncated_pn: pn })
    }

    /// RFC 9001 §5.3: decrypts a payload protected with packet number `pn` and the
    /// unprotected `header` as associated data. Returns the plaintext frames.
    pub fn open(&self, pn: u64, header: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = self.iv;
        for (n, b) in nonce.iter_mut().rev().zip(pn.to_le_bytes()) {
            *n ^= b;
        }
        let mut buf = ciphertext.to_vec();
        let len = self.key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(header), &mut buf).ok()?.len();
        buf.truncate(len);
        Some(buf)
    }
}

/// RFC 9000 Appendix A.3: the full packet number closest to the next expected one, from the
/// `pn_len` low bytes received and the largest packet number seen so far in the space.
pub fn decode_packet_number(largest: Option<u64>, truncated: u64, pn_len: usize) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let bits = 8 * pn_len.clamp(1, 4) as u32;
    let win = 1u64 << bits;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | (truncated & mask);
    if candidate.saturating_add(hwin) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9000_a3_example() {
        // Largest acknowledged 0xa82f30ea, 16-bit truncated 0x9b32 → 0xa82f9b32.
        assert_eq!(decode_packet_number(Some(0xa82f_30ea), 0x9b32, 2), 0xa82f_9b32);
        assert_eq!(decode_packet_number(None, 0, 1), 0);
        assert_eq!(decode_packet_number(Some(0xff), 0x01, 1), 0x101);
        assert_eq!(decode_packet_number(Some(0x100), 0xff, 1), 0xff);
    }

    #[test]
    fn rfc9001_a5_chacha20_short_header() {
        // RFC 9001 Appendix A.5: a ChaCha20-Poly1305 short-header packet, pn 654360564.
        let secret = hex::decode("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b").unwrap();
        let k = PacketKeys::from_secret(Cipher::Chacha20, Hash::Sha256, &secret, false).unwrap();
        assert_eq!(hex::encode(k.iv), "e0459b3474bdd0e44a41c144");
        assert_eq!(hex::encode(&k.hp_raw), "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
        let packet = hex::decode("4cfe4189655e5cd55c41f69080575d7999c25a5bfb").unwrap();
        let u = k.unprotect(&packet, 1, false).unwrap();
        assert_eq!(u.first, 0x42);
        assert_eq!(u.pn_len, 3);
        let pn = decode_packet_number(Some(654_360_563), u.truncated_pn, u.pn_len);
        assert_eq!(pn, 654_360_564);
        let plain = k.open(pn, &u.header, packet.get(1 + u.pn_len..).unwrap()).unwrap();
        assert_eq!(plain, vec![0x01]);
        // Key update: a different key and IV, the same header protection.
        let n = k.next_generation().unwrap();
        assert_ne!(n.iv, k.iv);
        assert_eq!(n.hp_raw, k.hp_raw);
    }

    #[test]
    fn rfc9001_a1_server_initial_labels() {
        // RFC 9001 Appendix A.1: the server's initial secret → its key, iv and hp.
        let secret = hex::decode("3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b").unwrap();
        let k = PacketKeys::from_secret(Cipher::Aes128Gcm, Hash::Sha256, &secret, false).unwrap();
        assert_eq!(hex::encode(k.iv), "0ac1493ca1905853b0bba03e");
        assert_eq!(hex::encode(&k.hp_raw), "c206b8d9b9f0f37644430b490eeaa314");
    }
}
