//! SRTP and SRTCP decryption (RFC 3711, RFC 7714): the four protection profiles WebRTC and
//! SDES use, their key derivation, the per-SSRC cryptographic contexts with rollover-counter
//! tracking, and where the master keys come from (`--srtp-key`, SDP `a=crypto` lines, and the
//! DTLS-SRTP exporter over a TLS key log). The RTP dissector calls [`SrtpState::unprotect`] on
//! each packet of a flow that may carry SRTP and analyses what authenticates as plain RTP/RTCP.
//!
//! - [`keys`]: master keys, `--srtp-key` and SDES parsing, the DTLS-SRTP exporter.
//! - [`cipher`]: AES counter mode and the key derivation function.
//! - [`transform`]: the packet transforms (AES-CM + HMAC-SHA1, AES-GCM) for SRTP and SRTCP.
//! - [`context`]: per-flow state: which key each stream uses, its rollover counter, counts.

pub mod cipher;
pub mod context;
pub mod keys;
pub mod transform;

pub use context::{SrtpState, StreamCounts, Verdict};
pub use keys::{KeySpec, MasterKey, Selector};

/// An SRTP protection profile (RFC 5764 §4.1.2, RFC 7714 §14): the transforms and their
/// key, salt and tag sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag (RFC 3711 §5).
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 with a 32-bit SRTP tag (SRTCP keeps 80 bits).
    AesCm128HmacSha1_32,
    /// AEAD_AES_128_GCM (RFC 7714).
    AeadAes128Gcm,
    /// AEAD_AES_256_GCM (RFC 7714).
    AeadAes256Gcm,
}

/// Every profile, for listing names in help and errors.
pub const PROFILES: [Profile; 4] =
    [Profile::AesCm128HmacSha1_80, Profile::AesCm128HmacSha1_32, Profile::AeadAes128Gcm, Profile::AeadAes256Gcm];

impl Profile {
    /// The profile of a DTLS use_srtp code point (RFC 5764 §4.1.2, RFC 7714 §14.2).
    pub fn from_dtls(code: u16) -> Option<Profile> {
        PROFILES.into_iter().find(|p| p.dtls_code() == code)
    }

    /// The DTLS use_srtp code point.
    pub fn dtls_code(self) -> u16 {
        match self {
            Profile::AesCm128HmacSha1_80 => 0x0001,
            Profile::AesCm128HmacSha1_32 => 0x0002,
            Profile::AeadAes128Gcm => 0x0007,
            Profile::AeadAes256Gcm => 0x0008,
        }
    }

    /// The IANA DTLS-SRTP protection profile name.
    pub fn iana_name(self) -> &'static str {
        match self {
            Profile::AesCm128HmacSha1_80 => "SRTP_AES128_CM_HMAC_SHA1_80",
            Profile::AesCm128HmacSha1_32 => "SRTP_AES128_CM_HMAC_SHA1_32",
            Profile::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            Profile::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        }
    }

    /// The SDES crypto-suite name (RFC 4568 §6.2, RFC 7714 §14.1).
    pub fn sdes_name(self) -> &'static str {
        match self {
            Profile::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Profile::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Profile::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Profile::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    /// OpenSSL's (and libsrtp's) name, where it differs from IANA's.
    pub fn openssl_name(self) -> &'static str {
        match self {
            Profile::AesCm128HmacSha1_80 => "SRTP_AES128_CM_SHA1_80",
            Profile::AesCm128HmacSha1_32 => "SRTP_AES128_CM_SHA1_32",
            p => p.iana_name(),
        }
    }

    /// A profile by its IANA DTLS-SRTP, SDES or OpenSSL name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Profile> {
        PROFILES
            .into_iter()
            .find(|p| [p.iana_name(), p.sdes_name(), p.openssl_name()].iter().any(|n| n.eq_ignore_ascii_case(name)))
    }

    /// Master (and session) encryption key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Profile::AeadAes256Gcm => 32,
            _ => 16,
        }
    }

    /// Master salt length in bytes (112 bits for AES-CM, 96 bits for GCM, RFC 7714 §12).
    pub fn salt_len(self) -> usize {
        if self.is_aead() {
            12
        } else {
            14
        }
    }

    /// SRTP authentication tag length in bytes.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Profile::AesCm128HmacSha1_80 => 10,
            Profile::AesCm128HmacSha1_32 => 4,
            Profile::AeadAes128Gcm | Profile::AeadAes256Gcm => 16,
        }
    }

    /// SRTCP authentication tag length in bytes (80 bits for both HMAC profiles, RFC 5764
    /// §4.1.2).
    pub fn rtcp_tag_len(self) -> usize {
        if self.is_aead() {
            16
        } else {
            10
        }
    }

    /// Whether the profile is an AEAD (GCM) one.
    pub fn is_aead(self) -> bool {
        matches!(self, Profile::AeadAes128Gcm | Profile::AeadAes256Gcm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in PROFILES {
            assert_eq!(Profile::from_name(p.iana_name()), Some(p));
            assert_eq!(Profile::from_name(&p.sdes_name().to_lowercase()), Some(p));
            assert_eq!(Profile::from_name(p.openssl_name()), Some(p));
            assert_eq!(Profile::from_dtls(p.dtls_code()), Some(p));
        }
        assert_eq!(Profile::from_name("SRTP_NULL_HMAC_SHA1_80"), None);
        assert_eq!(Profile::from_dtls(5), None);
    }
}
