//! The SRTP and SRTCP packet transforms: AES counter mode with HMAC-SHA1 (RFC 3711 §3.3,
//! §3.4, §4.1.1, §4.2.1) and AES-GCM (RFC 7714 §8–§10), over session keys derived from one
//! master key (§4.3). HMAC-SHA1 and AES-GCM come from ring. Unprotecting writes the plaintext
//! packet into a caller-owned buffer, so a reused buffer makes the per-packet path
//! allocation-free.

use super::cipher::{cm_iv, kdf, Aes};
use super::{MasterKey, Profile};
use crate::dissect::{be16, be32};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;

/// Why a packet did not unprotect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Shorter than its header, trailer and tag.
    TooShort,
    /// The authentication tag does not match (wrong key, wrong rollover counter, or damage).
    Auth,
}

/// Key derivation labels (RFC 3711 §4.3.1, §4.3.2).
const LABEL_ENC: u8 = 0;
const LABEL_AUTH: u8 = 1;
const LABEL_SALT: u8 = 2;
const LABEL_RTCP: u8 = 3;

enum Enc {
    /// AES-CM with HMAC-SHA1.
    Cm(Aes, hmac::Key),
    /// AES-GCM.
    Gcm(Box<LessSafeKey>),
}

/// The session keys of one direction of SRTP or SRTCP.
struct Session {
    enc: Enc,
    /// Session salt (14 bytes for AES-CM, 12 for GCM; the rest is zero).
    salt: [u8; 14],
}

impl Session {
    fn derive(master: &MasterKey, base: u8) -> Option<Session> {
        let p = master.profile;
        let mut key = [0u8; 32];
        let key = key.get_mut(..p.key_len())?;
        kdf(master, base + LABEL_ENC, key)?;
        let mut salt = [0u8; 14];
        kdf(master, base + LABEL_SALT, salt.get_mut(..p.salt_len())?)?;
        let enc = if p.is_aead() {
            let alg = if p.key_len() == 32 { &aead::AES_256_GCM } else { &aead::AES_128_GCM };
            Enc::Gcm(Box::new(LessSafeKey::new(UnboundKey::new(alg, key).ok()?)))
        } else {
            // §4.2.1: a 160-bit session authentication key.
            let mut auth = [0u8; 20];
            kdf(master, base + LABEL_AUTH, &mut auth)?;
            Enc::Cm(Aes::new(key)?, hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &auth))
        };
        Some(Session { enc, salt })
    }

    /// §4.1.1: the AES-CM IV of a packet.
    fn cm_iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        cm_iv(&self.salt, ssrc, index)
    }

    /// RFC 7714 §8.1 (SRTP: 0x0000 ‖ SSRC ‖ ROC ‖ SEQ) and §9.1 (SRTCP: 0x0000 ‖ SSRC ‖
    /// 0x0000 ‖ 0 ‖ index), XOR the 96-bit session salt.
    fn gcm_iv(&self, ssrc: u32, tail: [u8; 6]) -> Nonce {
        let mut iv = [0u8; 12];
        let parts = ssrc.to_be_bytes().into_iter().chain(tail);
        for (d, s) in iv.iter_mut().skip(2).zip(parts) {
            *d = s;
        }
        for (d, s) in iv.iter_mut().zip(self.salt) {
            *d ^= s;
        }
        Nonce::assume_unique_for_key(iv)
    }
}

/// The length of an RTP header with its CSRC list and header extension (RFC 3550 §5.1,
/// §5.3.1), if `pkt` holds it.
pub fn rtp_header_len(pkt: &[u8]) -> Option<usize> {
    let b0 = *pkt.first()?;
    let mut len = 12 + 4 * usize::from(b0 & 0x0f);
    if b0 & 0x10 != 0 {
        len += 4 + 4 * usize::from(be16(pkt, len + 2)?);
    }
    (len <= pkt.len()).then_some(len)
}

/// Compares an HMAC-SHA1 over `parts` truncated to `tag.len()` with `tag`.
fn hmac_ok(key: &hmac::Key, parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut ctx = hmac::Context::with_key(key);
    for p in parts {
        ctx.update(p);
    }
    let full = ctx.sign();
    full.as_ref().get(..tag.len()).is_some_and(|t| t == tag)
}

fn hmac_tag(key: &hmac::Key, parts: &[&[u8]], len: usize) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(key);
    for p in parts {
        ctx.update(p);
    }
    ctx.sign().as_ref().get(..len).unwrap_or(&[]).to_vec()
}

/// The session keys derived from one master key, for SRTP and SRTCP.
pub struct Transform {
    profile: Profile,
    mki_len: usize,
    rtp: Session,
    rtcp: Session,
}

impl Transform {
    /// Derives the session keys of a master key (RFC 3711 §4.3).
    pub fn new(master: &MasterKey) -> Option<Transform> {
        Some(Transform {
            profile: master.profile,
            mki_len: usize::from(master.mki_len),
            rtp: Session::derive(master, 0)?,
            rtcp: Session::derive(master, LABEL_RTCP)?,
        })
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Unprotects an SRTP packet (RFC 3711 §3.3 steps 4–7, RFC 7714 §10 for GCM) whose
    /// rollover counter is taken to be `roc`: verifies the tag over the packet and the ROC
    /// and writes the RTP packet (header and decrypted payload, no MKI or tag) to `out`.
    pub fn unprotect_rtp(&self, pkt: &[u8], roc: u32, out: &mut Vec<u8>) -> Result<(), Failure> {
        let header = rtp_header_len(pkt).ok_or(Failure::TooShort)?;
        let (seq, ssrc) = (be16(pkt, 2).ok_or(Failure::TooShort)?, be32(pkt, 8).ok_or(Failure::TooShort)?);
        let tag_len = self.profile.rtp_tag_len();
        let end = pkt.len().checked_sub(self.mki_len + tag_len).filter(|e| *e >= header).ok_or(Failure::TooShort)?;
        out.clear();
        match &self.rtp.enc {
            Enc::Cm(aes, auth) => {
                // §4.2: the tag covers the authenticated portion ‖ ROC.
                let (portion, tag) = (pkt.get(..end).unwrap_or(&[]), pkt.get(end + self.mki_len..).unwrap_or(&[]));
                if !hmac_ok(auth, &[portion, &roc.to_be_bytes()], tag) {
                    return Err(Failure::Auth);
                }
                out.extend_from_slice(portion);
                let index = (u64::from(roc) << 16) | u64::from(seq);
                aes.ctr_xor(&self.rtp.cm_iv(ssrc, index), out.get_mut(header..).unwrap_or(&mut []));
            }
            Enc::Gcm(key) => {
                // RFC 7714 §8.2: AAD is the header; the tag ends the ciphertext; MKI after it.
                out.extend_from_slice(pkt.get(..end + tag_len).unwrap_or(&[]));
                let mut tail = [0u8; 6];
                tail.get_mut(..4).unwrap_or(&mut []).copy_from_slice(&roc.to_be_bytes());
                tail.get_mut(4..).unwrap_or(&mut []).copy_from_slice(&seq.to_be_bytes());
                let nonce = self.rtp.gcm_iv(ssrc, tail);
                let (h, body) = out.split_at_mut(header);
                let plain = key.open_in_place(nonce, Aad::from(&*h), body).map_err(|_| Failure::Auth)?.len();
                out.truncate(header + plain);
            }
        }
        Ok(())
    }

    /// Unprotects an SRTCP packet (RFC 3711 §3.4, RFC 7714 §9–§10): verifies the tag,
    /// decrypts when the E flag says so, and writes the compound RTCP packet to `out`.
    /// Returns the SRTCP index.
    pub fn unprotect_rtcp(&self, pkt: &[u8], out: &mut Vec<u8>) -> Result<u32, Failure> {
        let ssrc = be32(pkt, 4).ok_or(Failure::TooShort)?;
        let tag_len = self.profile.rtcp_tag_len();
        out.clear();
        match &self.rtcp.enc {
            Enc::Cm(aes, auth) => {
                // header ‖ encrypted ‖ E‖index ‖ MKI ‖ tag; the tag covers up to the index.
                let end =
                    pkt.len().checked_sub(self.mki_len + tag_len).filter(|e| *e >= 12).ok_or(Failure::TooShort)?;
                let (portion, tag) = (pkt.get(..end).unwrap_or(&[]), pkt.get(end + self.mki_len..).unwrap_or(&[]));
                if !hmac_ok(auth, &[portion], tag) {
                    return Err(Failure::Auth);
                }
                let word = be32(pkt, end - 4).ok_or(Failure::TooShort)?;
                let index = word & 0x7fff_ffff;
                out.extend_from_slice(portion.get(..end - 4).unwrap_or(&[]));
                if word >> 31 == 1 {
                    aes.ctr_xor(&self.rtcp.cm_iv(ssrc, u64::from(index)), out.get_mut(8..).unwrap_or(&mut []));
                }
                Ok(index)
            }
            Enc::Gcm(key) => {
                // RFC 7714 §9.1: header ‖ ciphertext+tag ‖ E‖index ‖ MKI.
                let word_at =
                    pkt.len().checked_sub(self.mki_len + 4).filter(|w| *w >= 8 + tag_len).ok_or(Failure::TooShort)?;
                let word = be32(pkt, word_at).ok_or(Failure::TooShort)?;
                let index = word & 0x7fff_ffff;
                let mut tail = [0u8; 6];
                tail.get_mut(2..).unwrap_or(&mut []).copy_from_slice(&index.to_be_bytes());
                let nonce = self.rtcp.gcm_iv(ssrc, tail);
                let body = pkt.get(..word_at).unwrap_or(&[]);
                if word >> 31 == 1 {
                    // §9.2: AAD = the 8-byte header ‖ E‖index.
                    let mut aad = [0u8; 12];
                    aad.get_mut(..8).unwrap_or(&mut []).copy_from_slice(body.get(..8).unwrap_or(&[0; 8]));
                    aad.get_mut(8..).unwrap_or(&mut []).copy_from_slice(&word.to_be_bytes());
                    out.extend_from_slice(body);
                    let plain = key
                        .open_in_place(nonce, Aad::from(aad), out.get_mut(8..).unwrap_or(&mut []))
                        .map_err(|_| Failure::Auth)?
                        .len();
                    out.truncate(8 + plain);
                } else {
                    // §9.3: not encrypted: AAD = the whole RTCP packet ‖ E‖index, tag only.
                    let (rtcp, tag) = body.split_at_checked(body.len() - tag_len).ok_or(Failure::TooShort)?;
                    let tag = aead::Tag::try_from(tag).map_err(|_| Failure::TooShort)?;
                    out.extend_from_slice(rtcp);
                    out.extend_from_slice(&word.to_be_bytes());
                    key.open_in_place_separate_tag(nonce, Aad::from(out.as_slice()), tag, &mut [], 0..)
                        .map_err(|_| Failure::Auth)?;
                    out.truncate(rtcp.len());
                }
                Ok(index)
            }
        }
    }

    /// Protects an RTP packet (the sender's side of [`Transform::unprotect_rtp`]); used by
    /// tests and fuzzing to make valid SRTP. The MKI, if any, is zeros.
    pub fn protect_rtp(&self, rtp: &[u8], roc: u32) -> Option<Vec<u8>> {
        let header = rtp_header_len(rtp)?;
        let (seq, ssrc) = (be16(rtp, 2)?, be32(rtp, 8)?);
        let mut out = rtp.to_vec();
        match &self.rtp.enc {
            Enc::Cm(aes, auth) => {
                let index = (u64::from(roc) << 16) | u64::from(seq);
                aes.ctr_xor(&self.rtp.cm_iv(ssrc, index), out.get_mut(header..)?);
                let tag = hmac_tag(auth, &[&out, &roc.to_be_bytes()], self.profile.rtp_tag_len());
                out.resize(out.len() + self.mki_len, 0);
                out.extend_from_slice(&tag);
            }
            Enc::Gcm(key) => {
                let mut tail = [0u8; 6];
                tail.get_mut(..4)?.copy_from_slice(&roc.to_be_bytes());
                tail.get_mut(4..)?.copy_from_slice(&seq.to_be_bytes());
                let (h, body) = out.split_at_mut(header);
                let tag = key.seal_in_place_separate_tag(self.rtp.gcm_iv(ssrc, tail), Aad::from(&*h), body).ok()?;
                out.extend_from_slice(tag.as_ref());
                out.resize(out.len() + self.mki_len, 0);
            }
        }
        Some(out)
    }

    /// Protects a compound RTCP packet with SRTCP index `index`, encrypted or (E flag clear)
    /// authenticated only; used by tests and fuzzing.
    pub fn protect_rtcp(&self, rtcp: &[u8], index: u32, encrypt: bool) -> Option<Vec<u8>> {
        let ssrc = be32(rtcp, 4)?;
        let word = (index & 0x7fff_ffff) | if encrypt { 0x8000_0000 } else { 0 };
        let mut out = rtcp.to_vec();
        match &self.rtcp.enc {
            Enc::Cm(aes, auth) => {
                if encrypt {
                    aes.ctr_xor(&self.rtcp.cm_iv(ssrc, u64::from(index & 0x7fff_ffff)), out.get_mut(8..)?);
                }
                out.extend_from_slice(&word.to_be_bytes());
                let tag = hmac_tag(auth, &[&out], self.profile.rtcp_tag_len());
                out.resize(out.len() + self.mki_len, 0);
                out.extend_from_slice(&tag);
            }
            Enc::Gcm(key) => {
                let mut tail = [0u8; 6];
                tail.get_mut(2..)?.copy_from_slice(&(index & 0x7fff_ffff).to_be_bytes());
                let nonce = self.rtcp.gcm_iv(ssrc, tail);
                let tag = if encrypt {
                    let mut aad = out.get(..8)?.to_vec();
                    aad.extend_from_slice(&word.to_be_bytes());
                    key.seal_in_place_separate_tag(nonce, Aad::from(aad), out.get_mut(8..)?).ok()?
                } else {
                    let mut aad = out.clone();
                    aad.extend_from_slice(&word.to_be_bytes());
                    key.seal_in_place_separate_tag(nonce, Aad::from(aad), &mut []).ok()?
                };
                out.extend_from_slice(tag.as_ref());
                out.extend_from_slice(&word.to_be_bytes());
                out.resize(out.len() + self.mki_len, 0);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// Session keys given directly (the RFC 7714 vectors skip the key derivation).
    fn gcm_transform(key: &[u8], salt: &[u8]) -> Transform {
        let alg = if key.len() == 32 { &aead::AES_256_GCM } else { &aead::AES_128_GCM };
        let mut s = [0u8; 14];
        s[..12].copy_from_slice(salt);
        let session =
            || Session { enc: Enc::Gcm(Box::new(LessSafeKey::new(UnboundKey::new(alg, key).unwrap()))), salt: s };
        let profile = if key.len() == 32 { Profile::AeadAes256Gcm } else { Profile::AeadAes128Gcm };
        Transform { profile, mki_len: 0, rtp: session(), rtcp: session() }
    }

    const RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 \
                       61727465 73207472 6573";
    const RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef \
                        deadbeef deadbeef deadbeef";
    const KEY128: &str = "000102030405060708090a0b0c0d0e0f";
    const KEY256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const SALT: &str = "517569642070726f2071756f";

    #[test]
    fn rfc7714_16_srtp_gcm() {
        for (key, protected) in [
            (
                KEY128,
                "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b \
                 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
            ),
            (
                KEY256,
                "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3 b50b2a02 76ffae0f \
                 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
            ),
        ] {
            let t = gcm_transform(&hex(key), &hex(SALT));
            // §16.1.1 IV: 51753c6580c2726f20718414.
            assert_eq!(t.protect_rtp(&hex(RTP), 0).unwrap(), hex(protected));
            let mut out = Vec::new();
            t.unprotect_rtp(&hex(protected), 0, &mut out).unwrap();
            assert_eq!(out, hex(RTP));
            assert_eq!(t.unprotect_rtp(&hex(protected), 1, &mut out), Err(Failure::Auth), "wrong ROC");
            let mut bad = hex(protected);
            bad[20] ^= 1;
            assert_eq!(t.unprotect_rtp(&bad, 0, &mut out), Err(Failure::Auth));
        }
    }

    #[test]
    fn rfc7714_17_srtcp_gcm() {
        for (key, protected, encrypted) in [
            (
                KEY128,
                "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda 4ce09b46 \
                 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4",
                true,
            ),
            (
                KEY256,
                "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1 110555be 8415f658 \
                 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4",
                true,
            ),
            (
                KEY128,
                "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef \
                 deadbeef deadbeef 841dd968 3dd78ec9 2ae58790 125f62b3 000005d4",
                false,
            ),
            (
                KEY256,
                "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef \
                 deadbeef deadbeef 91db4afb feee5a97 8fab4393 ed2615fe 000005d4",
                false,
            ),
        ] {
            let t = gcm_transform(&hex(key), &hex(SALT));
            assert_eq!(t.protect_rtcp(&hex(RTCP), 0x5d4, encrypted).unwrap(), hex(protected));
            let mut out = Vec::new();
            assert_eq!(t.unprotect_rtcp(&hex(protected), &mut out), Ok(0x5d4));
            assert_eq!(out, hex(RTCP));
            let mut bad = hex(protected);
            let n = bad.len();
            bad[n - 1] ^= 1; // the index is authenticated too
            assert_eq!(t.unprotect_rtcp(&bad, &mut out), Err(Failure::Auth));
        }
    }

    #[test]
    fn aes_cm_round_trips_with_roc_and_mki() {
        for profile in [Profile::AesCm128HmacSha1_80, Profile::AesCm128HmacSha1_32] {
            let mut m = MasterKey::from_concat(profile, &(0..30).collect::<Vec<u8>>()).unwrap();
            m.mki_len = 4;
            let t = Transform::new(&m).unwrap();
            let rtp = hex(RTP);
            let p = t.protect_rtp(&rtp, 3).unwrap();
            assert_eq!(p.len(), rtp.len() + 4 + profile.rtp_tag_len());
            assert_ne!(p[12..rtp.len()], rtp[12..]);
            let mut out = Vec::with_capacity(1500);
            t.unprotect_rtp(&p, 3, &mut out).unwrap();
            assert_eq!(out, rtp);
            assert_eq!(t.unprotect_rtp(&p, 2, &mut out), Err(Failure::Auth));
            for encrypt in [true, false] {
                let p = t.protect_rtcp(&hex(RTCP), 77, encrypt).unwrap();
                assert_eq!(p.len(), hex(RTCP).len() + 4 + 4 + 10);
                assert_eq!(t.unprotect_rtcp(&p, &mut out), Ok(77));
                assert_eq!(out, hex(RTCP));
            }
            for cut in 0..p.len() {
                assert!(t.unprotect_rtp(&p[..cut], 3, &mut out).is_err());
            }
        }
    }

    #[test]
    fn short_and_odd_packets_fail_without_panicking() {
        let t = Transform::new(&MasterKey::from_concat(Profile::AeadAes128Gcm, &[9; 28]).unwrap()).unwrap();
        let mut out = Vec::new();
        for len in 0..64 {
            let p = vec![0x9fu8; len];
            assert!(t.unprotect_rtp(&p, 0, &mut out).is_err());
            assert!(t.unprotect_rtcp(&p, &mut out).is_err());
        }
    }
}
