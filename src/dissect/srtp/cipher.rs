//! AES for SRTP: counter mode (RFC 3711 §4.1.1) and the AES-CM key derivation PRF (§4.3.3;
//! RFC 6188 §7 for AES-256). The blocks come from the `aes` crate: ring has no raw AES block
//! or counter mode.

use super::MasterKey;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};

/// AES with a 128- or 256-bit key.
pub(crate) enum Aes {
    A128(Box<aes::Aes128>),
    A256(Box<aes::Aes256>),
}

/// AES blocks encrypted at once in counter mode.
const BATCH: usize = 8;

impl Aes {
    /// An AES key schedule; `None` unless the key is 16 or 32 bytes.
    pub(crate) fn new(key: &[u8]) -> Option<Aes> {
        match key.len() {
            16 => aes::Aes128::new_from_slice(key).ok().map(|a| Aes::A128(Box::new(a))),
            32 => aes::Aes256::new_from_slice(key).ok().map(|a| Aes::A256(Box::new(a))),
            _ => None,
        }
    }

    /// XORs `data` with the AES counter-mode keystream starting at counter block `iv`
    /// (RFC 3711 §4.1.1: block j is E(k, IV + j)).
    pub(crate) fn ctr_xor(&self, iv: &[u8; 16], data: &mut [u8]) {
        let mut ctr = u128::from_be_bytes(*iv);
        for chunk in data.chunks_mut(16 * BATCH) {
            let mut blocks = [GenericArray::from([0u8; 16]); BATCH];
            let n = chunk.len().div_ceil(16);
            for b in blocks.iter_mut().take(n) {
                *b = GenericArray::from(ctr.to_be_bytes());
                ctr = ctr.wrapping_add(1);
            }
            let blocks = blocks.get_mut(..n).unwrap_or(&mut []);
            match self {
                Aes::A128(a) => a.encrypt_blocks(blocks),
                Aes::A256(a) => a.encrypt_blocks(blocks),
            }
            for (d, k) in chunk.iter_mut().zip(blocks.iter().flat_map(|b| b.iter())) {
                *d ^= k;
            }
        }
    }
}

/// RFC 3711 §4.3.1 with the AES-CM PRF of §4.3.3 (kdr = 0, so `index DIV kdr` is 0):
/// x = (label ‖ 0⁴⁸) XOR master_salt, output = AES-CM keystream of the master key at
/// IV = x·2¹⁶. A 96-bit GCM master salt is first multiplied by 2¹⁶ (RFC 7714 §11, erratum
/// 4938).
pub fn kdf(master: &MasterKey, label: u8, out: &mut [u8]) -> Option<()> {
    let aes = Aes::new(master.key())?;
    let mut iv = [0u8; 16];
    iv.get_mut(..master.salt().len())?.copy_from_slice(master.salt());
    *iv.get_mut(7)? ^= label;
    out.fill(0);
    aes.ctr_xor(&iv, out);
    Some(())
}

/// §4.1.1: IV = (k_s·2¹⁶) XOR (SSRC·2⁶⁴) XOR (i·2¹⁶), for the 112-bit session salt k_s,
/// the SSRC and the 48-bit packet index (SRTP) or 31-bit SRTCP index.
pub(crate) fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    for (d, s) in iv.iter_mut().zip(salt) {
        *d = *s;
    }
    for (d, s) in iv.iter_mut().skip(4).zip(ssrc.to_be_bytes()) {
        *d ^= s;
    }
    for (d, s) in iv.iter_mut().skip(8).zip(index.to_be_bytes().into_iter().skip(2)) {
        *d ^= s;
    }
    iv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::srtp::Profile;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        // RFC 3711 B.2: session key, salt F0F1…FD, SSRC 0, index 0.
        let aes = Aes::new(&hex("2B7E151628AED2A6ABF7158809CF4F3C")).unwrap();
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
        let iv = cm_iv(&salt, 0, 0);
        assert_eq!(iv.to_vec(), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
        let mut ks = vec![0u8; 0xff02 * 16];
        aes.ctr_xor(&iv, &mut ks);
        let block = |j: usize| ks[j * 16..j * 16 + 16].to_vec();
        assert_eq!(block(0), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(block(1), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
        assert_eq!(block(2), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
        assert_eq!(block(0xfeff), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
        assert_eq!(block(0xff00), hex("362B7C3C6773516318A077D7FC5073AE"));
        assert_eq!(block(0xff01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
    }

    #[test]
    fn rfc3711_b3_key_derivation() {
        let m = MasterKey::new(
            Profile::AesCm128HmacSha1_80,
            &hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
            &hex("0EC675AD498AFEEBB6960B3AABE6"),
        )
        .unwrap();
        let mut key = [0u8; 16];
        kdf(&m, 0, &mut key).unwrap();
        assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut salt = [0u8; 14];
        kdf(&m, 2, &mut salt).unwrap();
        assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        // B.3 lists 94 bytes of auth key output; HMAC-SHA1 uses the first 20.
        let mut auth = [0u8; 94];
        kdf(&m, 1, &mut auth).unwrap();
        assert_eq!(
            auth.to_vec(),
            hex("CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE E049646C43D9327AD175578EF7227098
                 6371C10C9A369AC2F94A8C5FBCDDDC25 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2")
        );
    }
}
