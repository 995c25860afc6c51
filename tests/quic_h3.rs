//! QUIC decryption with a TLS key log and HTTP/3 over it, against the sample made by real
//! software (samples/make-quic-samples.sh: aioquic server and clients; QUIC v1 with AES-128-GCM
//! and a key update, v2 with ChaCha20-Poly1305, v1 with AES-256-GCM) and its fixture
//! (samples/quic-fixture.py: every packet tshark decrypts, and each exchange's frames, with
//! what tshark cannot decode taken from the peers' log):
//! - per connection and direction, the packets decrypted in each packet number space and their
//!   packet numbers equal tshark's, with no decryption failure; the frame types counted equal
//!   tshark's; key updates equal the key phase flips tshark shows;
//! - every HTTP/3 exchange (method, path, host, status, content type, body length, and the
//!   capture times of the packets carrying the request's first byte and FIN and the response's
//!   first byte and FIN, to the µs) equals the fixture and the peers' log;
//! - the spin bit RTT samples equal those computed from tshark's spin bits and times;
//! - without keys, or with wrong ones, nothing is decrypted and nothing breaks.

mod common;

use common::{analyse, report_micros, root, shared_captures, tshark_micros};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use streamscope::dissect::tls::keylog::KeyLog;
use streamscope::Config;

const CAPTURE: &str = "quic-h3-keylog.pcap";

fn run(capture: &Path, keylog: Option<KeyLog>) -> Value {
    let (e, s) = analyse(capture, Config { keylog: keylog.map(Arc::new), ..Config::default() });
    streamscope::report::json::build(&e, &s)
}

fn sample_report() -> Value {
    let samples = root().join("samples");
    let keys = KeyLog::load(samples.join("quic-h3-keylog.keys").to_str().unwrap()).unwrap();
    run(&samples.join(CAPTURE), Some(keys))
}

fn fixture() -> Value {
    let path = root().join("samples/fixtures").join(format!("{CAPTURE}.quic.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// tshark's packets of one connection (UDP stream).
fn packets_of(fx: &Value, udp_stream: u64) -> Vec<&Value> {
    fx["packets"].as_array().unwrap().iter().filter(|p| p["udp_stream"] == udp_stream).collect()
}

/// Our `quic` entry for the connection whose first client Initial has this DCID.
fn quic_entry<'a>(rep: &'a Value, dcid: &str) -> &'a Value {
    rep["quic"].as_array().unwrap().iter().find(|q| q["dcid"] == dcid).unwrap_or_else(|| panic!("no connection {dcid}"))
}

fn first_dcid(pk: &[&Value]) -> String {
    pk.iter().find(|p| p["dir"] == "c2s" && p["packet_type"] == "initial").unwrap()["dcid"].as_str().unwrap().into()
}

/// RFC 9000 §19 frame type → the name streamscope counts it under.
fn frame_name(t: u64) -> &'static str {
    match t {
        0x00 => "padding",
        0x01 => "ping",
        0x02 => "ack",
        0x03 => "ack_ecn",
        0x04 => "reset_stream",
        0x05 => "stop_sending",
        0x06 => "crypto",
        0x07 => "new_token",
        0x08..=0x0f => "stream",
        0x10 => "max_data",
        0x11 => "max_stream_data",
        0x12 | 0x13 => "max_streams",
        0x14 => "data_blocked",
        0x15 => "stream_data_blocked",
        0x16 | 0x17 => "streams_blocked",
        0x18 => "new_connection_id",
        0x19 => "retire_connection_id",
        0x1a => "path_challenge",
        0x1b => "path_response",
        0x1c => "connection_close",
        0x1d => "connection_close_app",
        0x1e => "handshake_done",
        _ => "other",
    }
}

/// Packet numbers in arrival order as inclusive ranges of consecutive numbers.
fn ranges(pns: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &pn in pns {
        match out.last_mut() {
            Some(last) if last.1 + 1 == pn => last.1 = pn,
            _ => out.push((pn, pn)),
        }
    }
    out
}

#[test]
fn decrypted_packets_equal_tshark() {
    let rep = sample_report();
    let fx = fixture();
    let conns = fx["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 3);
    assert_eq!(rep["quic"].as_array().unwrap().len(), 3);
    let mut total = 0;
    for c in conns {
        let pk = packets_of(&fx, c["udp_stream"].as_u64().unwrap());
        let q = quic_entry(&rep, &first_dcid(&pk));
        let label = c["label"].as_str().unwrap();
        assert_eq!(q["packets_failed"], 0, "{label}");
        assert_eq!(q["packets_no_keys"], 0, "{label}");
        assert_eq!(q["packets_decrypted"].as_u64().unwrap() as usize, pk.len(), "{label}");
        assert_eq!(q["unknown_frames"], 0, "{label}");
        assert_eq!(q["malformed_frames"], 0, "{label}");
        total += pk.len();
        for dir in ["c2s", "s2c"] {
            for space in ["initial", "handshake", "1rtt"] {
                let pns: Vec<u64> = pk
                    .iter()
                    .filter(|p| p["dir"] == dir && p["packet_type"] == space)
                    .map(|p| p["packet_number"].as_u64().unwrap())
                    .collect();
                let ours = &q[dir]["decrypted"][space];
                assert_eq!(ours.as_u64().unwrap_or(0) as usize, pns.len(), "{label} {dir} {space}");
                let want: Vec<Value> = ranges(&pns).iter().map(|(a, b)| serde_json::json!([a, b])).collect();
                let got = q[dir]["packet_numbers"][space]["ranges"].as_array().cloned().unwrap_or_default();
                assert_eq!(got, want, "{label} {dir} {space} packet numbers");
            }
            // Key updates: the key phase flips tshark shows in this direction.
            let phases: Vec<u64> = pk
                .iter()
                .filter(|p| p["dir"] == dir && p["header"] == "short")
                .map(|p| p["key_phase"].as_u64().unwrap())
                .collect();
            let flips = phases.windows(2).filter(|w| w[0] != w[1]).count() as u64;
            assert_eq!(q[dir]["key_updates"].as_u64().unwrap(), flips, "{label} {dir} key updates");
        }
        // Frame types of all decrypted packets.
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for p in &pk {
            for t in p["frame_types"].as_array().unwrap() {
                *want.entry(frame_name(t.as_u64().unwrap()).to_string()).or_default() += 1;
            }
        }
        let got: BTreeMap<String, u64> =
            q["frames"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect();
        assert_eq!(got, want, "{label} frame types");
    }
    assert_eq!(total, 132);
    // Connection A asked for a key update; both sides moved to key phase 1.
    let a = quic_entry(&rep, &first_dcid(&packets_of(&fx, 0)));
    assert_eq!(a["c2s"]["key_updates"], 1);
    assert_eq!(a["s2c"]["key_updates"], 1);
    let suites: Vec<&str> =
        rep["quic"].as_array().unwrap().iter().map(|q| q["cipher_suite"].as_str().unwrap()).collect();
    assert_eq!(suites, ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384"]);
    let versions: Vec<&str> = rep["quic"].as_array().unwrap().iter().map(|q| q["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["v1", "v2", "v1"]);
}

#[test]
fn http3_exchanges_equal_fixture_and_logs() {
    let rep = sample_report();
    let fx = fixture();
    let ours = rep["http"].as_array().unwrap();
    let xs = fx["exchanges"].as_array().unwrap();
    assert_eq!(ours.len(), xs.len());
    assert_eq!(xs.len(), 8);
    for x in xs {
        let pk = packets_of(&fx, x["udp_stream"].as_u64().unwrap());
        let flow = quic_entry(&rep, &first_dcid(&pk))["flow"].clone();
        let at = |k: &str| tshark_micros(x[k].as_str().unwrap());
        let o = ours
            .iter()
            .find(|o| o["flow"] == flow && o["uri"] == x["path"] && report_micros(&o["ts"]) == at("request_first_ts"))
            .unwrap_or_else(|| panic!("exchange {x} not found"));
        let what = format!("{} {}", x["connection"], x["path"]);
        assert_eq!(o["version"], "h3", "{what}");
        assert_eq!(o["method"], x["method"], "{what}");
        assert_eq!(o["host"], "streamscope.test:4433", "{what}");
        assert_eq!(o["status"], x["status"], "{what}");
        assert_eq!(o["content_type"], x["content_type"], "{what}");
        assert_eq!(o["content_length"], x["body_bytes"], "{what}");
        assert_eq!(o["body_bytes"], x["body_bytes"], "{what}");
        assert_eq!(report_micros(&o["request_end_ts"]), at("request_end_ts"), "{what} request end");
        assert_eq!(report_micros(&o["response_start_ts"]), at("response_first_ts"), "{what} response start");
        assert_eq!(report_micros(&o["response_end_ts"]), at("response_end_ts"), "{what} response end");
        let ttfb = (o["ttfb_ms"].as_f64().unwrap() * 1000.0).round() as i64;
        assert_eq!(ttfb, at("response_first_ts") - at("request_end_ts"), "{what} ttfb");
        let download = (o["download_ms"].as_f64().unwrap() * 1000.0).round() as i64;
        assert_eq!(download, at("response_end_ts") - at("response_first_ts"), "{what} download");
        let kind = if x["path"].as_str().unwrap().ends_with(".m3u8") { "playlist" } else { "segment" };
        assert_eq!(o["kind"], kind, "{what}");
        if x["path"] == "/hls/seg0.ts" {
            assert!(o["media"]["packets"].as_u64().unwrap() > 0, "{what}: MPEG-TS read from the HTTP/3 body");
        }
    }
    // The playlist parsed from each HTTP/3 body lists the three segments.
    let hls = rep["hls"].as_array().unwrap();
    assert_eq!(hls.len(), 3);
    for p in hls {
        let segs: Vec<&str> = p["segments"].as_array().unwrap().iter().map(|s| s["uri"].as_str().unwrap()).collect();
        assert_eq!(segs, ["seg0.ts", "seg1.ts", "seg2.ts"]);
    }
    // QPACK: aioquic's encoder used the dynamic table in connection A (the sample's later
    // requests refer to entries its encoder stream inserted).
    let a = quic_entry(&rep, &first_dcid(&packets_of(&fx, 0)));
    assert!(a["http3"]["qpack_inserts_c2s"].as_u64().unwrap() > 0);
    assert!(a["http3"]["qpack_inserts_s2c"].as_u64().unwrap() > 0);
    assert_eq!(a["http3"]["qpack_errors"], 0);
}

/// RFC 9000 §17.4 from tshark's view: per direction, in capture order and ignoring packets
/// numbered below the largest seen, the time between consecutive spin value changes.
fn spin_samples(pk: &[&Value]) -> Vec<i64> {
    let mut out = Vec::new();
    // Per direction: largest packet number, last spin value, time of the last edge.
    type Spin = (Option<u64>, Option<u64>, Option<i64>);
    let mut state: BTreeMap<&str, Spin> = BTreeMap::new();
    for p in pk.iter().filter(|p| p["header"] == "short") {
        let dir = p["dir"].as_str().unwrap();
        let (largest, last, edge) = state.entry(dir).or_default();
        let pn = p["packet_number"].as_u64().unwrap();
        if largest.is_some_and(|l| pn < l) {
            continue;
        }
        *largest = Some(pn);
        let spin = p["spin_bit"].as_u64().unwrap();
        let ts = tshark_micros(p["ts"].as_str().unwrap());
        if last.is_some_and(|l| l != spin) {
            if let Some(e) = *edge {
                out.push(ts - e);
            }
            *edge = Some(ts);
        }
        *last = Some(spin);
    }
    out
}

#[test]
fn spin_bit_rtt_equals_tshark_spin_bits() {
    let rep = sample_report();
    let fx = fixture();
    for c in fx["connections"].as_array().unwrap() {
        let pk = packets_of(&fx, c["udp_stream"].as_u64().unwrap());
        let q = quic_entry(&rep, &first_dcid(&pk));
        let want = spin_samples(&pk);
        assert!(!want.is_empty(), "aioquic spins the bit on every connection");
        let got: Vec<i64> = q["spin_rtt_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v.as_f64().unwrap() * 1000.0).round() as i64)
            .collect();
        assert_eq!(got, want, "{}", c["label"]);
    }
    assert!(rep["latency"]["quic"]["spin_rtt_ms"]["count"].as_u64().unwrap() > 10);
}

#[test]
fn without_keys_only_initials_and_the_spin_bit() {
    let rep = run(&root().join("samples").join(CAPTURE), None);
    assert!(rep.get("http").is_none());
    for q in rep["quic"].as_array().unwrap() {
        assert_eq!(q["packets_failed"], 0);
        assert_eq!(q["packets_decrypted"], q["initials_decrypted"]);
        assert_eq!(q["initials_decrypted"], 3, "the client's two Initials and the server's one");
        assert!(q["packets_no_keys"].as_u64().unwrap() > 0);
        assert_eq!(q["keys"], false);
        // The spin bit is outside header protection: still observed.
        assert!(q["spin_rtt_ms"].as_array().is_some_and(|a| !a.is_empty()));
    }
}

#[test]
fn wrong_secrets_fail_authentication_not_the_run() {
    let samples = root().join("samples");
    let text = std::fs::read_to_string(samples.join("quic-h3-keylog.keys")).unwrap();
    // The right client randoms with every secret replaced.
    let bogus: String = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} {} {}\n", f[0], f[1], "5a".repeat(f[2].len() / 2))
        })
        .collect();
    let rep = run(&samples.join(CAPTURE), Some(KeyLog::parse(&bogus)));
    assert!(rep.get("http").is_none());
    for q in rep["quic"].as_array().unwrap() {
        assert_eq!(q["keys"], true);
        assert!(q["packets_failed"].as_u64().unwrap() > 0);
        assert_eq!(q["packets_decrypted"], q["initials_decrypted"]);
    }
}

/// The secrets in a pcapng Decryption Secrets Block (type 0x0000000A, TLS key log 0x544c534b).
fn pcapng_dsb_keylog(path: &Path) -> String {
    let d = std::fs::read(path).unwrap();
    let (mut p, mut out) = (0usize, String::new());
    while p + 12 <= d.len() {
        let u32le = |at: usize| u32::from_le_bytes(d[at..at + 4].try_into().unwrap()) as usize;
        let (ty, len) = (u32le(p), u32le(p + 4));
        if ty == 0x0a && u32le(p + 8) == 0x544c_534b {
            out.push_str(&String::from_utf8_lossy(&d[p + 16..p + 16 + u32le(p + 12)]));
        }
        p += len.max(12);
    }
    out
}

/// A third-party QUIC v2 capture whose pcapng carries its key log: every packet decrypts
/// (Initial, 0-RTT with the early secret, Handshake, 1-RTT) with no failure, and the HTTP/3
/// exchange tshark decodes there (the request in 0-RTT, the response HEADERS then DATA) is found.
#[test]
fn quic_v2_capture_with_embedded_secrets() {
    let Some(shared) = shared_captures() else {
        eprintln!("skipped: ../shared/captures is not present");
        return;
    };
    let cap = shared.join("quic/ndpi-quic-v2-http3.pcapng");
    let keys = KeyLog::parse(&pcapng_dsb_keylog(&cap));
    assert!(!keys.is_empty());
    let rep = run(&cap, Some(keys));
    let q = &rep["quic"][0];
    assert_eq!(q["version"], "v2");
    assert_eq!(q["packets_failed"], 0);
    assert_eq!(q["packets_no_keys"], 0);
    assert_eq!(q["c2s"]["decrypted"]["0rtt"], 1);
    assert!(q["c2s"]["decrypted"]["1rtt"].as_u64().unwrap() > 0);
    assert!(q["s2c"]["decrypted"]["1rtt"].as_u64().unwrap() > 0);
    let h = &rep["http"][0];
    assert_eq!(h["version"], "h3");
    assert_eq!(
        (h["method"].as_str(), h["uri"].as_str(), h["host"].as_str()),
        (Some("GET"), Some("/index.html"), Some("test"))
    );
    assert_eq!(h["status"], 200);
    assert_eq!(h["content_type"], "text/html; charset=utf-8");
}
