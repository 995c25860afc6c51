//! Record protection for decryption with logged secrets: the TLS 1.2 PRF and key block
//! (RFC 5246 §5, §6.3), AEAD record nonces (RFC 5288 §3, RFC 7905 §2), and the TLS 1.3 key
//! schedule's HKDF-Expand-Label and per-record nonce (RFC 8446 §7.1, §7.3, §5.3).

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::{hkdf, hmac};

/// An AEAD cipher usable for decryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// AES-128-GCM.
    Aes128Gcm,
    /// AES-256-GCM.
    Aes256Gcm,
    /// ChaCha20-Poly1305.
    Chacha20,
}

impl Cipher {
    /// The ring AEAD algorithm.
    pub fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Cipher::Aes128Gcm => &aead::AES_128_GCM,
            Cipher::Aes256Gcm => &aead::AES_256_GCM,
            Cipher::Chacha20 => &aead::CHACHA20_POLY1305,
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Gcm => 16,
            Cipher::Aes256Gcm | Cipher::Chacha20 => 32,
        }
    }
}

/// Hash of the suite's PRF / HKDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

/// The AEAD suites decryption supports: (cipher, hash), by IANA code point.
pub fn aead_suite(code: u16) -> Option<(Cipher, Hash)> {
    use Cipher::*;
    use Hash::*;
    Some(match code {
        0x1301 => (Aes128Gcm, Sha256),
        0x1302 => (Aes256Gcm, Sha384),
        0x1303 => (Chacha20, Sha256),
        0x009c | 0x009e | 0xc02b | 0xc02f | 0x00a2 | 0x00a4 => (Aes128Gcm, Sha256),
        0x009d | 0x009f | 0xc02c | 0xc030 | 0x00a3 | 0x00a5 => (Aes256Gcm, Sha384),
        0xcca8..=0xccaa => (Chacha20, Sha256),
        _ => return None,
    })
}

/// RFC 5246 §5: P_hash(secret, label + seed) truncated to `len`.
pub fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let alg = match hash {
        Hash::Sha256 => hmac::HMAC_SHA256,
        Hash::Sha384 => hmac::HMAC_SHA384,
    };
    let key = hmac::Key::new(alg, secret);
    let mut label_seed = label.to_vec();
    label_seed.extend_from_slice(seed);
    let mut out = Vec::with_capacity(len + 48);
    let mut a = hmac::sign(&key, &label_seed).as_ref().to_vec();
    while out.len() < len {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&a);
        ctx.update(&label_seed);
        out.extend_from_slice(ctx.sign().as_ref());
        a = hmac::sign(&key, &a).as_ref().to_vec();
    }
    out.truncate(len);
    out
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// RFC 8446 §7.1: HKDF-Expand-Label(secret, label, "", len).
pub fn expand_label(hash: Hash, secret: &[u8], label: &str, len: usize) -> Option<Vec<u8>> {
    let alg = match hash {
        Hash::Sha256 => hkdf::HKDF_SHA256,
        Hash::Sha384 => hkdf::HKDF_SHA384,
    };
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    let parts = [info.as_slice()];
    let okm = prk.expand(&parts, Len(len)).ok()?;
    let mut out = vec![0u8; len];
    okm.fill(&mut out).ok()?;
    Some(out)
}

/// RFC 5246 §6.3: the record keys of a TLS 1.2 (or DTLS 1.2, RFC 6347 §4.1.2) connection with
/// an AEAD suite, from its master secret: key_block = PRF(master_secret, "key expansion",
/// server_random + client_random), split as client_write_key, server_write_key,
/// client_write_IV, server_write_IV. GCM (RFC 5288 §3) takes a 4-byte implicit IV and carries
/// the other 8 nonce bytes in each record; ChaCha20-Poly1305 (RFC 7905 §2) a 12-byte IV that
/// is XORed with the sequence number. Returns (client write, server write); `None` for suites
/// that are not AEAD (CBC suites are not decrypted).
pub fn tls12_record_keys(
    suite: u16,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Option<(RecordKey, RecordKey)> {
    let (cipher, hash) = aead_suite(suite)?;
    let explicit = cipher != Cipher::Chacha20;
    let iv_len = if explicit { 4 } else { 12 };
    let kl = cipher.key_len();
    let mut seed = server_random.to_vec();
    seed.extend_from_slice(client_random);
    let block = prf(hash, master, b"key expansion", &seed, 2 * kl + 2 * iv_len);
    let part = |a: usize, n: usize| block.get(a..a + n);
    let client = RecordKey::new(cipher, part(0, kl)?, part(2 * kl, iv_len)?, explicit)?;
    let server = RecordKey::new(cipher, part(kl, kl)?, part(2 * kl + iv_len, iv_len)?, explicit)?;
    Some((client, server))
}

/// One direction's record decryption state.
pub struct RecordKey {
    key: LessSafeKey,
    iv: Vec<u8>,
    /// TLS 1.2 GCM: 4-byte implicit IV and an 8-byte explicit nonce in each record.
    explicit_nonce: bool,
    /// Record sequence number.
    pub seq: u64,
}

impl RecordKey {
    /// A key from raw key and IV bytes.
    pub fn new(cipher: Cipher, key: &[u8], iv: &[u8], explicit_nonce: bool) -> Option<Self> {
        let key = LessSafeKey::new(UnboundKey::new(cipher.algorithm(), key).ok()?);
        Some(RecordKey { key, iv: iv.to_vec(), explicit_nonce, seq: 0 })
    }

    /// TLS 1.3 traffic keys from a traffic secret.
    pub fn tls13(cipher: Cipher, hash: Hash, secret: &[u8]) -> Option<Self> {
        let key = expand_label(hash, secret, "key", cipher.key_len())?;
        let iv = expand_label(hash, secret, "iv", 12)?;
        Self::new(cipher, &key, &iv, false)
    }

    /// Decrypts one DTLS 1.0/1.2 record body (RFC 6347 §4.1.2.1): the 64-bit sequence number
    /// of the TLS AAD and of the ChaCha20 nonce is the record's epoch (16 bits) followed by
    /// its 48-bit sequence number, as both are on the wire; the GCM nonce is the implicit IV
    /// and the record's explicit 8 bytes. `ty` and `version` are the record header's.
    pub fn open_dtls(&mut self, epoch: u16, seq: u64, ty: u8, version: u16, body: &[u8]) -> Option<Vec<u8>> {
        self.seq = u64::from(epoch) << 48 | (seq & 0xFFFF_FFFF_FFFF);
        self.open(&[], ty, version, body, false)
    }

    /// Decrypts one record body. `header` is the 5-byte record header (TLS 1.3 AAD), `ty`
    /// and `version` its fields (TLS 1.2 AAD). Returns the plaintext; the sequence number
    /// advances only on success.
    pub fn open(&mut self, header: &[u8], ty: u8, version: u16, body: &[u8], tls13: bool) -> Option<Vec<u8>> {
        let mut nonce = [0u8; 12];
        let (ciphertext, aad): (&[u8], Vec<u8>) = if self.explicit_nonce {
            let explicit = body.get(..8)?;
            nonce.get_mut(..4)?.copy_from_slice(self.iv.get(..4)?);
            nonce.get_mut(4..)?.copy_from_slice(explicit);
            let ct = body.get(8..)?;
            let plain_len = ct.len().checked_sub(16)?;
            let mut aad = self.seq.to_be_bytes().to_vec();
            aad.push(ty);
            aad.extend_from_slice(&version.to_be_bytes());
            aad.extend_from_slice(&(plain_len as u16).to_be_bytes());
            (ct, aad)
        } else {
            nonce.copy_from_slice(self.iv.get(..12)?);
            for (n, s) in nonce.iter_mut().skip(4).zip(self.seq.to_be_bytes()) {
                *n ^= s;
            }
            let aad = if tls13 {
                header.to_vec()
            } else {
                let plain_len = body.len().checked_sub(16)?;
                let mut aad = self.seq.to_be_bytes().to_vec();
                aad.push(ty);
                aad.extend_from_slice(&version.to_be_bytes());
                aad.extend_from_slice(&(plain_len as u16).to_be_bytes());
                aad
            };
            (body, aad)
        };
        let mut buf = ciphertext.to_vec();
        let plain = self.key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf).ok()?;
        let len = plain.len();
        buf.truncate(len);
        self.seq += 1;
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8448_server_handshake_keys() {
        // RFC 8448 §3: server handshake traffic secret → key and iv.
        let secret = hex::decode("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38").unwrap();
        let key = expand_label(Hash::Sha256, &secret, "key", 16).unwrap();
        let iv = expand_label(Hash::Sha256, &secret, "iv", 12).unwrap();
        assert_eq!(hex::encode(key), "3fce516009c21727d0f2e4e86ee403bc");
        assert_eq!(hex::encode(iv), "5d313eb2671276ee13000b30");
    }

    /// A DTLS 1.2 record sealed by hand as RFC 7905 §2 and RFC 6347 §4.1.2.1 say (nonce: the
    /// IV XOR the 64-bit epoch ‖ sequence number; AAD: epoch ‖ sequence, type, version, length)
    /// and as RFC 5288 §3 says for GCM (implicit salt ‖ explicit 8 bytes on the wire).
    #[test]
    fn dtls_records_chacha20_and_gcm() {
        let (epoch, seq, ty, version) = (1u16, 0x0000_0102_0304u64, 23u8, 0xfefdu16);
        let plain = b"data channel bytes".to_vec();
        let es = u64::from(epoch) << 48 | seq;
        let mut aad = es.to_be_bytes().to_vec();
        aad.push(ty);
        aad.extend_from_slice(&version.to_be_bytes());
        aad.extend_from_slice(&(plain.len() as u16).to_be_bytes());
        // ChaCha20-Poly1305.
        let (key, iv) = ([7u8; 32], [9u8; 12]);
        let mut nonce = iv;
        for (n, s) in nonce.iter_mut().skip(4).zip(es.to_be_bytes()) {
            *n ^= s;
        }
        let k = LessSafeKey::new(UnboundKey::new(&aead::CHACHA20_POLY1305, &key).unwrap());
        let mut body = plain.clone();
        k.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.clone()), &mut body).unwrap();
        let mut rk = RecordKey::new(Cipher::Chacha20, &key, &iv, false).unwrap();
        assert_eq!(rk.open_dtls(epoch, seq, ty, version, &body).as_deref(), Some(&plain[..]));
        assert_eq!(rk.open_dtls(epoch, seq + 1, ty, version, &body), None, "another sequence number");
        assert_eq!(rk.open_dtls(2, seq, ty, version, &body), None, "another epoch");
        // AES-128-GCM: 4-byte salt, 8 explicit nonce bytes in front of the ciphertext.
        let (key, salt, explicit) = ([3u8; 16], [5u8; 4], [1u8, 2, 3, 4, 5, 6, 7, 8]);
        let k = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).unwrap());
        let nonce: [u8; 12] = [&salt[..], &explicit[..]].concat().try_into().unwrap();
        let mut ct = plain.clone();
        k.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut ct).unwrap();
        let body = [&explicit[..], &ct[..]].concat();
        let mut rk = RecordKey::new(Cipher::Aes128Gcm, &key, &salt, true).unwrap();
        assert_eq!(rk.open_dtls(epoch, seq, ty, version, &body).as_deref(), Some(&plain[..]));
        assert_eq!(rk.open_dtls(epoch, seq, 22, version, &body), None, "another content type");
        for cut in 0..body.len() {
            assert_eq!(rk.open_dtls(epoch, seq, ty, version, &body[..cut]), None);
        }
        // Key block: CBC suites are not decrypted.
        assert!(tls12_record_keys(0xc013, &[1; 48], &[2; 32], &[3; 32]).is_none());
        assert!(tls12_record_keys(0xcca9, &[1; 48], &[2; 32], &[3; 32]).is_some());
    }

    #[test]
    fn prf_is_deterministic_and_sized() {
        let a = prf(Hash::Sha256, b"secret", b"key expansion", b"seed", 72);
        assert_eq!(a.len(), 72);
        assert_eq!(a, prf(Hash::Sha256, b"secret", b"key expansion", b"seed", 72));
        assert_ne!(a, prf(Hash::Sha384, b"secret", b"key expansion", b"seed", 72));
    }
}
