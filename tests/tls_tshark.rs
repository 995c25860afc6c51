//! TLS facts equal tshark's (fixtures from samples/tls-fixture.py, recorded with the key log):
//! version, cipher suite, SNI, ALPN, ClientHello time, handshake time (ClientHello to the last
//! Finished, as the DTLS contract defines it), records decrypted with no authentication failure; and without the key
//! log the same handshake facts, nothing decrypted.

mod common;

use common::{analyse, report_micros, root, tshark_micros};
use serde_json::Value;
use std::sync::Arc;
use streamscope::dissect::tls::keylog::KeyLog;
use streamscope::Config;

fn tls_entries(capture: &str, with_keys: bool) -> Value {
    let samples = root().join("samples");
    let keylog = with_keys.then(|| {
        let k = samples.join(capture.replace(".pcapng", ".keys"));
        Arc::new(KeyLog::load(k.to_str().unwrap()).unwrap())
    });
    let (e, s) = analyse(&samples.join(capture), Config { keylog, ..Config::default() });
    streamscope::report::json::build(&e, &s)
}

#[test]
fn rtmps_tls_facts_equal_tshark() {
    let samples = root().join("samples/fixtures");
    let mut n = 0;
    for e in std::fs::read_dir(&samples).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(cap) = name.strip_suffix(".tls.json") else { continue };
        let fx: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
        for with_keys in [true, false] {
            let r = tls_entries(cap, with_keys);
            let flows = fx["flows"].as_array().unwrap();
            let ours = r["tls"].as_array().unwrap();
            assert_eq!(ours.len(), flows.len(), "{cap}");
            for (o, t) in ours.iter().zip(flows) {
                assert_eq!(o["version"], t["version"], "{cap}");
                assert_eq!(o["cipher_suite"], t["cipher_suite"], "{cap}");
                assert_eq!(o["sni"], t["sni"], "{cap}");
                assert_eq!(o["alpn"], t["alpn"], "{cap}");
                assert_eq!(report_micros(&o["client_hello_ts"]), tshark_micros(t["client_hello_ts"].as_str().unwrap()));
                let want = tshark_micros(t["last_finished_ts"].as_str().unwrap())
                    - tshark_micros(t["client_hello_ts"].as_str().unwrap());
                let got = (o["handshake_ms"].as_f64().unwrap() * 1000.0).round() as i64;
                assert!((got - want).abs() <= 1, "{cap} keys={with_keys}: handshake {got} µs, tshark {want} µs");
                assert_eq!(o["decrypted"], with_keys);
                if with_keys {
                    assert_eq!(o["application"], "rtmp");
                    assert_eq!(o["c2s"]["auth_failures"], 0);
                    assert_eq!(o["s2c"]["auth_failures"], 0);
                    assert!(o["c2s"]["decrypted"].as_u64().unwrap() > 100);
                    assert_eq!(r["rtmp"][0]["role"], "publish");
                } else {
                    assert!(r.get("rtmp").is_none(), "no RTMP without keys");
                }
            }
            n += 1;
        }
    }
    assert!(n >= 4);
}

#[test]
fn wrong_key_log_fails_authentication_not_the_run() {
    let samples = root().join("samples");
    let mut bogus = String::new();
    // The right client random with a wrong secret: every record must fail authentication.
    let fx: Value = serde_json::from_str(
        &std::fs::read_to_string(samples.join("fixtures/rtmps12-publish-keylog.pcapng.tls.json")).unwrap(),
    )
    .unwrap();
    let random = fx["flows"][0]["client_random"].as_str().unwrap();
    bogus.push_str(&format!("CLIENT_RANDOM {random} {}\n", "ab".repeat(48)));
    let keylog = Some(Arc::new(KeyLog::parse(&bogus)));
    let (e, s) = analyse(&samples.join("rtmps12-publish-keylog.pcapng"), Config { keylog, ..Config::default() });
    let r = streamscope::report::json::build(&e, &s);
    let t = &r["tls"][0];
    assert!(t["c2s"]["auth_failures"].as_u64().unwrap() > 100);
    assert_eq!(t["c2s"]["decrypted"], 0);
    assert!(r.get("rtmp").is_none());
}
