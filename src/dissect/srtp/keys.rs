//! SRTP master keys and where they come from: the `--srtp-key` option, SDP security
//! descriptions (RFC 4568 `a=crypto`), and the DTLS-SRTP key exporter (RFC 5764 §4.2).
//! Master keys are secrets: their `Debug` output shows the profile only.

use super::Profile;
use crate::dissect::tls::crypto::{self, Hash};
use crate::flow::{Direction, FlowId};

/// The longest master key (AES-256).
pub const MAX_KEY: usize = 32;
/// The longest master salt (112 bits).
pub const MAX_SALT: usize = 14;

/// A master key and salt for one protection profile (RFC 3711 §3.2.1).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MasterKey {
    /// The protection profile the key is for.
    pub profile: Profile,
    key: [u8; MAX_KEY],
    salt: [u8; MAX_SALT],
    /// Length of the MKI field each packet carries (0: none).
    pub mki_len: u8,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("profile", &self.profile)
            .field("key", &"<secret>")
            .field("mki_len", &self.mki_len)
            .finish()
    }
}

impl MasterKey {
    /// A master key from its key and salt, which must have the profile's lengths.
    pub fn new(profile: Profile, key: &[u8], salt: &[u8]) -> Option<MasterKey> {
        if key.len() != profile.key_len() || salt.len() != profile.salt_len() {
            return None;
        }
        let mut m = MasterKey { profile, key: [0; MAX_KEY], salt: [0; MAX_SALT], mki_len: 0 };
        m.key.get_mut(..key.len())?.copy_from_slice(key);
        m.salt.get_mut(..salt.len())?.copy_from_slice(salt);
        Some(m)
    }

    /// A master key from `key ‖ salt` (the SDES `inline:` and `--srtp-key` layout).
    pub fn from_concat(profile: Profile, bytes: &[u8]) -> Option<MasterKey> {
        if bytes.len() != profile.key_len() + profile.salt_len() {
            return None;
        }
        let (key, salt) = bytes.split_at(profile.key_len());
        Self::new(profile, key, salt)
    }

    /// The master key bytes.
    pub fn key(&self) -> &[u8] {
        self.key.get(..self.profile.key_len()).unwrap_or(&[])
    }

    /// The master salt bytes.
    pub fn salt(&self) -> &[u8] {
        self.salt.get(..self.profile.salt_len()).unwrap_or(&[])
    }
}

/// Decodes standard base64 (RFC 4648 §4), padding optional; `None` on any other character.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character cannot encode a byte.
    (bits < 6).then_some(out)
}

/// Parses the value of an SDP `a=crypto` attribute (RFC 4568 §9.1):
/// `<tag> <crypto-suite> inline:<base64 key‖salt>[|<lifetime>][|<MKI>:<length>]`, using the
/// first key parameter. Unknown suites and malformed keys give `None`.
pub fn parse_sdes(value: &str) -> Option<MasterKey> {
    let mut it = value.split_whitespace();
    let _tag = it.next()?;
    let profile = Profile::from_name(it.next()?)?;
    let params = it.next()?;
    let first = params.split(';').next()?;
    let inline = first.strip_prefix("inline:")?;
    let mut parts = inline.split('|');
    let bytes = base64_decode(parts.next()?)?;
    let mut key = MasterKey::from_concat(profile, &bytes)?;
    for p in parts {
        // The MKI parameter has a colon; a lifetime does not (RFC 4568 §6.1).
        if let Some((_value, len)) = p.split_once(':') {
            let len: u8 = len.parse().ok()?;
            if !(1..=128).contains(&len) {
                return None;
            }
            key.mki_len = len;
        }
    }
    Some(key)
}

/// Which streams a `--srtp-key` applies to. Unset fields match anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selector {
    /// Only the stream with this SSRC.
    pub ssrc: Option<u32>,
    /// Only streams of this flow (its report `id`).
    pub flow: Option<FlowId>,
    /// Only packets sent in this direction of the flow.
    pub dir: Option<Direction>,
}

impl Selector {
    /// Whether a stream of `flow` with `ssrc`, sent in `dir`, is selected.
    pub fn matches(&self, flow: FlowId, dir: Direction, ssrc: u32) -> bool {
        self.ssrc.is_none_or(|s| s == ssrc) && self.flow.is_none_or(|f| f == flow) && self.dir.is_none_or(|d| d == dir)
    }

    /// Whether the selector names a stream or flow (not just `any`): such a key makes the
    /// stream SRTP even when nothing else says so.
    pub fn is_specific(&self) -> bool {
        self.ssrc.is_some() || self.flow.is_some()
    }

    /// How many fields are set (more specific keys are tried first).
    pub fn specificity(&self) -> u8 {
        u8::from(self.ssrc.is_some()) + u8::from(self.flow.is_some()) + u8::from(self.dir.is_some())
    }
}

/// One `--srtp-key` option: `[SELECTOR:]PROFILE:BASE64`, where SELECTOR is `any` or a
/// comma-separated list of `ssrc=0xHEX`, `flow=N` and `dir=c2s|s2c`, PROFILE an IANA
/// DTLS-SRTP or SDES suite name, and BASE64 the master key followed by the master salt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The streams the key is for.
    pub selector: Selector,
    /// The master key.
    pub key: MasterKey,
}

impl std::str::FromStr for KeySpec {
    type Err = String;

    fn from_str(s: &str) -> Result<KeySpec, String> {
        let usage = "--srtp-key wants [SELECTOR:]PROFILE:BASE64 (SELECTOR: any, or ssrc=0xHEX, flow=N, dir=c2s|s2c \
                     joined by commas; BASE64: master key then master salt)";
        let parts: Vec<&str> = s.split(':').collect();
        let (sel, profile, b64) = match parts.as_slice() {
            [p, k] => ("any", *p, *k),
            [s, p, k] => (*s, *p, *k),
            _ => return Err(format!("{usage}; got {} parts", parts.len())),
        };
        let mut selector = Selector::default();
        if !sel.eq_ignore_ascii_case("any") {
            for cond in sel.split(',') {
                let (name, value) = cond.split_once('=').ok_or_else(|| format!("{usage}; bad selector {cond:?}"))?;
                match name.trim().to_ascii_lowercase().as_str() {
                    "ssrc" => {
                        let v = value.trim();
                        let hex = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X"));
                        let parsed = match hex {
                            Some(h) => u32::from_str_radix(h, 16),
                            None => v.parse(),
                        };
                        selector.ssrc = Some(parsed.map_err(|_| format!("--srtp-key: bad SSRC {v:?}"))?);
                    }
                    "flow" => {
                        selector.flow =
                            Some(value.trim().parse().map_err(|_| format!("--srtp-key: bad flow id {value:?}"))?);
                    }
                    "dir" => {
                        selector.dir = Some(match value.trim().to_ascii_lowercase().as_str() {
                            "c2s" => Direction::C2S,
                            "s2c" => Direction::S2C,
                            _ => return Err(format!("--srtp-key: dir is c2s or s2c, not {value:?}")),
                        })
                    }
                    _ => return Err(format!("{usage}; unknown selector {name:?}")),
                }
            }
        }
        let profile = Profile::from_name(profile).ok_or_else(|| {
            let names: Vec<&str> = super::PROFILES.iter().map(|p| p.iana_name()).collect();
            format!(
                "--srtp-key: unknown profile {profile:?} (known: {}, or their SDES or OpenSSL names)",
                names.join(", ")
            )
        })?;
        let bytes = base64_decode(b64).ok_or("--srtp-key: the key is not valid base64")?;
        let want = profile.key_len() + profile.salt_len();
        let key = MasterKey::from_concat(profile, &bytes).ok_or_else(|| {
            format!(
                "--srtp-key: {} wants {want} bytes of key and salt, the key has {}",
                profile.iana_name(),
                bytes.len()
            )
        })?;
        Ok(KeySpec { selector, key })
    }
}

/// The PRF hash of a DTLS 1.2 cipher suite (RFC 5246 §5: SHA-256 unless the suite names
/// SHA-384).
pub fn prf_hash(suite: u16) -> Hash {
    match crypto::aead_suite(suite) {
        Some((_, h)) => h,
        None => match suite {
            0xc024 | 0xc028 | 0xc026 | 0xc02a | 0xc032 | 0xc02e | 0x00a7 | 0x00ab | 0x00ad | 0x00af => Hash::Sha384,
            _ => Hash::Sha256,
        },
    }
}

/// RFC 5764 §4.2: the SRTP master keys of a DTLS 1.2 association, exported (RFC 5705) with
/// the label "EXTRACTOR-dtls_srtp" over client_random ‖ server_random and split as
/// client_write_key, server_write_key, client_write_salt, server_write_salt. Returns the
/// keys of (the DTLS client's sending direction, the server's).
pub fn dtls_srtp_keys(
    profile: Profile,
    hash: Hash,
    master_secret: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Option<(MasterKey, MasterKey)> {
    let (kl, sl) = (profile.key_len(), profile.salt_len());
    let mut seed = [0u8; 64];
    seed.get_mut(..32)?.copy_from_slice(client_random);
    seed.get_mut(32..)?.copy_from_slice(server_random);
    let block = crypto::prf(hash, master_secret, b"EXTRACTOR-dtls_srtp", &seed, 2 * (kl + sl));
    let client = MasterKey::new(profile, block.get(..kl)?, block.get(2 * kl..2 * kl + sl)?)?;
    let server = MasterKey::new(profile, block.get(kl..2 * kl)?, block.get(2 * kl + sl..2 * (kl + sl))?)?;
    Some((client, server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        // RFC 4648 §10.
        for (plain, enc) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes(), "{enc}");
        }
        assert_eq!(base64_decode("Zm9v!"), None);
        assert_eq!(base64_decode("Z"), None);
    }

    #[test]
    fn sdes_crypto_lines() {
        // RFC 4568 §4's example attribute.
        let k =
            parse_sdes("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4").unwrap();
        assert_eq!(k.profile, Profile::AesCm128HmacSha1_80);
        assert_eq!(k.mki_len, 4);
        assert_eq!(k.key(), b"=-n@%^x!Bjufr9)?");
        assert_eq!(k.salt(), b",#5h\\`=&]{qiPQ");
        let g = parse_sdes("2 AEAD_AES_256_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9RdWlkIHBybyBxdW8=")
            .unwrap();
        assert_eq!(g.profile, Profile::AeadAes256Gcm);
        assert_eq!(g.salt(), b"Quid pro quo");
        assert_eq!(g.mki_len, 0);
        assert!(format!("{g:?}").contains("<secret>"));
        assert!(parse_sdes("1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR").is_none());
        assert!(parse_sdes("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVm").is_none());
    }

    #[test]
    fn key_specs() {
        let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
        let k: KeySpec = format!("SRTP_AES128_CM_HMAC_SHA1_80:{b64}").parse().unwrap();
        assert_eq!(k.selector, Selector::default());
        let k: KeySpec = format!("ssrc=0xDEADBEEF,dir=s2c:aes_cm_128_hmac_sha1_32:{b64}").parse().unwrap();
        assert_eq!(k.selector.ssrc, Some(0xdead_beef));
        assert_eq!(k.selector.dir, Some(Direction::S2C));
        assert_eq!(k.key.profile, Profile::AesCm128HmacSha1_32);
        assert!(k.selector.matches(7, Direction::S2C, 0xdead_beef));
        assert!(!k.selector.matches(7, Direction::C2S, 0xdead_beef));
        let k: KeySpec = format!("flow=3:SRTP_AES128_CM_HMAC_SHA1_80:{b64}").parse().unwrap();
        assert_eq!(k.selector.flow, Some(3));
        assert!(format!("any:SRTP_AEAD_AES_128_GCM:{b64}").parse::<KeySpec>().is_err(), "GCM wants 28 bytes");
        assert!(format!("port=3:SRTP_AES128_CM_HMAC_SHA1_80:{b64}").parse::<KeySpec>().is_err());
        assert!("SRTP_AES128_CM_HMAC_SHA1_80".parse::<KeySpec>().is_err());
        assert!(format!("SRTP_FOO:{b64}").parse::<KeySpec>().is_err());
    }

    #[test]
    fn exporter_splits_client_and_server_keys() {
        let (c, s) = dtls_srtp_keys(Profile::AesCm128HmacSha1_80, Hash::Sha256, &[7; 48], &[1; 32], &[2; 32]).unwrap();
        let block = crypto::prf(Hash::Sha256, &[7; 48], b"EXTRACTOR-dtls_srtp", &[[1u8; 32], [2; 32]].concat(), 60);
        assert_eq!(c.key(), &block[..16]);
        assert_eq!(s.key(), &block[16..32]);
        assert_eq!(c.salt(), &block[32..46]);
        assert_eq!(s.salt(), &block[46..60]);
        assert_eq!(prf_hash(0xc02b), Hash::Sha256);
        assert_eq!(prf_hash(0xc030), Hash::Sha384);
        assert_eq!(prf_hash(0xc009), Hash::Sha256);
    }
}
