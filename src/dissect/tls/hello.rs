//! ClientHello and ServerHello (RFC 8446 §4.1.2, §4.1.3; RFC 5246 §7.4.1; DTLS: RFC 6347
//! §4.2.1, RFC 9147 §5.3) and the extensions streamscope reports: server_name (RFC 6066 §3),
//! ALPN (RFC 7301 §3.1), supported_versions (RFC 8446 §4.2.1), use_srtp (RFC 5764 §4.1.1) and
//! connection_id (RFC 9146 §3).

/// What a hello says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Hello {
    /// legacy_version.
    pub legacy_version: u16,
    /// The 32-byte random.
    pub random: [u8; 32],
    /// ClientHello: offered suites; ServerHello: the chosen one.
    pub cipher_suites: Vec<u16>,
    /// server_name host names.
    pub sni: Option<String>,
    /// ALPN protocols (offered, or the one selected).
    pub alpn: Vec<String>,
    /// supported_versions (offered, or the one selected).
    pub versions: Vec<u16>,
    /// use_srtp: the protection profiles (offered, or the one selected).
    pub srtp_profiles: Vec<u16>,
    /// use_srtp: the length of the MKI.
    pub srtp_mki_len: u8,
    /// connection_id: the CID the sender wants to receive in the records sent to it (present
    /// and possibly empty when the extension is there).
    pub connection_id: Option<Vec<u8>>,
}

use crate::dissect::be16;

struct R<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

/// Parses a ClientHello (`client == true`) or ServerHello body (after the 4-byte handshake
/// header). Extensions that are malformed are skipped; a malformed fixed part is `None`.
pub fn parse(body: &[u8], client: bool) -> Option<Hello> {
    parse_any(body, client, false)
}

/// [`parse`] for DTLS (after the 12-byte DTLS handshake header): a DTLS ClientHello has a
/// cookie after the session id (RFC 6347 §4.2.1; `legacy_cookie` in RFC 9147 §5.3).
pub fn parse_dtls(body: &[u8], client: bool) -> Option<Hello> {
    parse_any(body, client, true)
}

fn parse_any(body: &[u8], client: bool, dtls: bool) -> Option<Hello> {
    let mut r = R { b: body, p: 0 };
    let mut h = Hello { legacy_version: r.u16()?, ..Hello::default() };
    h.random.copy_from_slice(r.take(32)?);
    r.vec8()?; // legacy_session_id
    if client && dtls {
        r.vec8()?; // cookie
    }
    if client {
        let suites = r.vec16()?;
        h.cipher_suites = suites.chunks_exact(2).filter_map(|c| be16(c, 0)).collect();
        r.vec8()?; // compression methods
    } else {
        h.cipher_suites = vec![r.u16()?];
        r.u8()?;
    }
    let Some(exts) = r.vec16() else { return Some(h) };
    let mut e = R { b: exts, p: 0 };
    while let (Some(ty), Some(data)) = (e.u16(), e.vec16()) {
        let mut d = R { b: data, p: 0 };
        match ty {
            0 if client => {
                if let Some(list) = d.vec16() {
                    let mut l = R { b: list, p: 0 };
                    while let (Some(kind), Some(name)) = (l.u8(), l.vec16()) {
                        if kind == 0 {
                            h.sni = Some(String::from_utf8_lossy(name).into_owned());
                        }
                    }
                }
            }
            16 => {
                if let Some(list) = d.vec16() {
                    let mut l = R { b: list, p: 0 };
                    while let Some(p) = l.vec8() {
                        h.alpn.push(String::from_utf8_lossy(p).into_owned());
                    }
                }
            }
            43 => {
                if client {
                    if let Some(list) = d.vec8() {
                        h.versions = list.chunks_exact(2).filter_map(|c| be16(c, 0)).collect();
                    }
                } else if let Some(v) = d.u16() {
                    h.versions = vec![v];
                }
            }
            14 => {
                // use_srtp: SRTPProtectionProfiles<2..2^16-1>, srtp_mki<0..255>.
                if let Some(list) = d.vec16() {
                    h.srtp_profiles = list.chunks_exact(2).filter_map(|c| be16(c, 0)).collect();
                    h.srtp_mki_len = d.vec8().map_or(0, |m| m.len() as u8);
                }
            }
            54 => h.connection_id = d.vec8().map(<[u8]>::to_vec),
            _ => {}
        }
    }
    Some(h)
}

/// RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
pub const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11,
    0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// A protocol version's name.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        0xfeff => "DTLS 1.0".into(),
        0xfefd => "DTLS 1.2".into(),
        0xfefc => "DTLS 1.3".into(),
        other => format!("0x{other:04x}"),
    }
}

/// IANA names of common cipher suites (others are shown as hex).
pub fn suite_name(s: u16) -> String {
    let n = match s {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x009e => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009f => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        _ => return format!("0x{s:04x}"),
    };
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_with_sni_alpn_versions() {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[7; 32]);
        b.push(0);
        b.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]);
        b.extend_from_slice(&[1, 0]);
        let mut ext = Vec::new();
        let host = b"example.com";
        let mut sni = vec![0, (host.len() + 3) as u8, 0, 0, host.len() as u8];
        sni.extend_from_slice(host);
        ext.extend_from_slice(&[0, 0, 0, sni.len() as u8]);
        ext.extend_from_slice(&sni);
        ext.extend_from_slice(&[0, 16, 0, 5, 0, 3, 2, b'h', b'2']);
        ext.extend_from_slice(&[0, 43, 0, 5, 4, 3, 4, 3, 3]);
        b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        b.extend_from_slice(&ext);
        let h = parse(&b, true).unwrap();
        assert_eq!(h.sni.as_deref(), Some("example.com"));
        assert_eq!(h.alpn, ["h2"]);
        assert_eq!(h.versions, [0x0304, 0x0303]);
        assert_eq!(h.cipher_suites, [0x1301, 0xc02f]);
        for cut in 0..b.len() {
            let _ = parse(&b[..cut], true);
        }
    }

    #[test]
    fn dtls_hellos_with_cookie_use_srtp_and_connection_id() {
        // ClientHello: version, random, empty session id, a 3-byte cookie, one suite, null
        // compression, use_srtp (two profiles, no MKI) and connection_id "abc".
        let mut b = vec![0xfe, 0xfd];
        b.extend_from_slice(&[9; 32]);
        b.extend_from_slice(&[0, 3, 1, 2, 3, 0, 2, 0xc0, 0x2b, 1, 0]);
        let ext = [0, 14, 0, 7, 0, 4, 0, 8, 0, 1, 0, 0, 54, 0, 4, 3, b'a', b'b', b'c'];
        b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        b.extend_from_slice(&ext);
        let h = parse_dtls(&b, true).unwrap();
        assert_eq!(h.cipher_suites, [0xc02b]);
        assert_eq!((h.srtp_profiles.as_slice(), h.srtp_mki_len), (&[8u16, 1][..], 0));
        assert_eq!(h.connection_id.as_deref(), Some(&b"abc"[..]));
        // Read as TLS, the cookie shifts everything: no extensions come out right.
        assert_ne!(parse(&b, true).map(|h| h.cipher_suites), Some(vec![0xc02b]));
        for cut in 0..b.len() {
            let _ = parse_dtls(&b[..cut], true);
        }
    }
}
