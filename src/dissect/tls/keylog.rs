//! TLS key log files (the SSLKEYLOGFILE format of NSS, also written by OpenSSL, GnuTLS and
//! Python): `LABEL <client_random hex> <secret hex>` per line.

use std::collections::HashMap;

/// The secrets logged for one connection (keyed by its ClientHello random).
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    /// TLS 1.2 and earlier: the 48-byte master secret (`CLIENT_RANDOM`).
    pub master: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_EARLY_TRAFFIC_SECRET` (0-RTT data).
    pub client_early: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic: Option<Vec<u8>>,
}

/// All secrets of a key log file.
#[derive(Debug, Default)]
pub struct KeyLog {
    by_random: HashMap<[u8; 32], Secrets>,
    /// Lines that could not be used.
    pub bad_lines: usize,
}

impl KeyLog {
    /// Parses the text of a key log file. Comments and unknown labels are skipped.
    pub fn parse(text: &str) -> KeyLog {
        let mut log = KeyLog::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(label), Some(random), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
                log.bad_lines += 1;
                continue;
            };
            let (Ok(random), Ok(secret)) = (hex::decode(random), hex::decode(secret)) else {
                log.bad_lines += 1;
                continue;
            };
            let Ok(random) = <[u8; 32]>::try_from(random.as_slice()) else {
                log.bad_lines += 1;
                continue;
            };
            let s = log.by_random.entry(random).or_default();
            match label {
                "CLIENT_RANDOM" => s.master = Some(secret),
                "CLIENT_EARLY_TRAFFIC_SECRET" => s.client_early = Some(secret),
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => s.client_handshake = Some(secret),
                "SERVER_HANDSHAKE_TRAFFIC_SECRET" => s.server_handshake = Some(secret),
                "CLIENT_TRAFFIC_SECRET_0" => s.client_traffic = Some(secret),
                "SERVER_TRAFFIC_SECRET_0" => s.server_traffic = Some(secret),
                _ => {}
            }
        }
        log
    }

    /// Reads and parses a key log file.
    pub fn load(path: &str) -> std::io::Result<KeyLog> {
        Ok(Self::parse(&std::fs::read_to_string(path)?))
    }

    /// The secrets for a ClientHello random.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&Secrets> {
        self.by_random.get(client_random)
    }

    /// Connections with secrets.
    pub fn len(&self) -> usize {
        self.by_random.len()
    }

    /// Whether no secret was read.
    pub fn is_empty(&self) -> bool {
        self.by_random.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels() {
        let r = "aa".repeat(32);
        let text = format!(
            "# comment\nCLIENT_RANDOM {r} {}\nCLIENT_TRAFFIC_SECRET_0 {r} {}\nbogus\n",
            "11".repeat(48),
            "22".repeat(32)
        );
        let log = KeyLog::parse(&text);
        let s = log.get(&[0xaa; 32]).unwrap();
        assert_eq!(s.master.as_ref().unwrap().len(), 48);
        assert_eq!(s.client_traffic.as_ref().unwrap().len(), 32);
        assert_eq!(log.bad_lines, 1);
    }
}
