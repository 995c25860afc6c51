//! STUN/TURN transactions on real WebRTC, Zoom, WhatsApp, Signal and TURN captures equal
//! tshark's: every request's transaction id and method, and the round-trip time from its first
//! request to its first response, to the microsecond (fixtures: `tshark -T fields` per STUN
//! message, command in each file's first line). Also DTLS facts where tshark shows them.

mod common;

use common::{report, root, shared_captures, tshark_micros};
use std::collections::BTreeMap;

#[test]
fn stun_transactions_equal_tshark() {
    let Some(shared) = shared_captures() else {
        eprintln!("skipped: ../shared/captures is not present");
        return;
    };
    let dir = root().join("tests/fixtures/shared/stun");
    let mut diffs = Vec::new();
    let mut compared = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(cap) = name.strip_suffix(".stun.tsv") else { continue };
        let capture = ["stun", "dtls", "srtp"].iter().map(|d| shared.join(d).join(cap)).find(|p| p.exists()).unwrap();
        // tshark: id → (method, first request µs, first response µs)
        let mut theirs: BTreeMap<String, (u16, Option<i64>, Option<i64>)> = BTreeMap::new();
        for line in std::fs::read_to_string(e.path()).unwrap().lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            let (Some(ts), Some(method), Some(class), Some(id)) = (f.first(), f.get(1), f.get(2), f.get(3)) else {
                continue;
            };
            if id.is_empty() {
                continue;
            }
            let method = u16::from_str_radix(method.trim_start_matches("0x"), 16).unwrap_or(0);
            let class = u16::from_str_radix(class.trim_start_matches("0x"), 16).unwrap_or(0);
            let t = tshark_micros(ts);
            let entry = theirs.entry(id.to_string()).or_insert((method, None, None));
            match class {
                0x0000 => {
                    entry.1.get_or_insert(t);
                }
                // tshark shows the class bits shifted: 0x10 success, 0x11 error.
                0x0010 | 0x0011 => {
                    entry.2.get_or_insert(t);
                }
                _ => {}
            }
        }
        let rep = report(&capture);
        let ours = rep["stun"].as_array().cloned().unwrap_or_default();
        for (id, (method, req, resp)) in &theirs {
            let Some(req) = req else { continue };
            compared += 1;
            let Some(o) = ours.iter().find(|o| o["transaction_id"] == id.as_str() && o["class"] == "request") else {
                diffs.push(format!("{cap}: request {id} (method {method}) not found"));
                continue;
            };
            if common::report_micros(&o["ts"]) != *req {
                diffs.push(format!("{cap}: {id} request time ours {} tshark {req}", o["ts"]));
            }
            match (resp, o["rtt_ms"].as_f64()) {
                (Some(r), Some(rtt)) => {
                    let want = (r - req) as f64 / 1000.0;
                    if (rtt - want).abs() > 0.0015 {
                        diffs.push(format!("{cap}: {id} rtt ours {rtt} tshark {want}"));
                    }
                }
                (None, None) => {}
                (r, o) => diffs.push(format!("{cap}: {id} response tshark {r:?} ours rtt {o:?}")),
            }
        }
    }
    assert!(compared > 100, "only {compared} transactions compared");
    assert!(diffs.is_empty(), "{} differences:\n{}", diffs.len(), diffs.join("\n"));
}

/// DTLS handshakes: version, cipher suite and SRTP profile as tshark decodes them (the values
/// ../shared/captures/MANIFEST.md records from tshark for these captures).
#[test]
fn dtls_handshakes_equal_tshark() {
    let Some(shared) = shared_captures() else {
        return;
    };
    let cases = [
        ("dtls/zeek-dtls12.pcap", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", None),
        (
            "dtls/ndpi-dtls-cert-fragments.pcap",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Some("SRTP_AES128_CM_HMAC_SHA1_80"),
        ),
        ("dtls/ndpi-zoom-stun-dtls-srtp.pcapng", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", None),
        (
            "stun/ndpi-stun-tcp-turn-indications-dtls.pcapng",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Some("SRTP_AEAD_AES_256_GCM"),
        ),
        (
            "srtp/ndpi-google-meet-dtls-srtp.pcapng",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Some("SRTP_AEAD_AES_256_GCM"),
        ),
    ];
    for (cap, suite, profile) in cases {
        let rep = report(&shared.join(cap));
        let dtls = rep["dtls"].as_array().cloned().unwrap_or_default();
        let hit = dtls.iter().find(|d| {
            d["cipher_suite"] == suite && d["srtp_profile"] == profile.map_or(serde_json::Value::Null, Into::into)
        });
        assert!(hit.is_some(), "{cap}: {suite} / {profile:?} not among {dtls:?}");
        assert!(hit.is_some_and(|d| d["handshake_ms"].is_number()), "{cap}: no handshake time");
    }
}
