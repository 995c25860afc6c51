//! SRTP/SRTCP decryption on real WebRTC captures (aiortc peers, directly and through a coturn
//! TURN relay; samples/make-webrtc-samples.sh) with the keys recorded when they were made:
//! through the DTLS-SRTP exporter over the DTLS key log, and as `--srtp-key` options from the
//! master keys aiortc gave libsrtp. Every SRTP and SRTCP packet must authenticate, and each
//! stream's packets and payload types equal tshark's (fixtures from samples/webrtc-fixture.py;
//! tshark reads the clear headers). The OpenSSL DTLS-SRTP association's exported keys equal
//! the keying material OpenSSL exported. Without keys and with a wrong key nothing decrypts.
//! Also: unprotecting is allocation-free once a stream is keyed.

mod common;

use common::{analyse, root};
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;
use streamscope::dissect::srtp::{KeySpec, MasterKey, Selector};
use streamscope::dissect::tls::keylog::KeyLog;
use streamscope::Config;

const WEBRTC: [&str; 2] = ["webrtc-aiortc.pcap", "webrtc-aiortc-turn.pcap"];

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn samples() -> std::path::PathBuf {
    root().join("samples")
}

fn keylog(capture: &str) -> Arc<KeyLog> {
    let k = samples().join(capture.replace(".pcap", ".keys"));
    Arc::new(KeyLog::load(k.to_str().unwrap()).unwrap())
}

/// The master keys of `<capture stem>.srtp.json` as `--srtp-key` options; with `by_ssrc`, one
/// option per SSRC of each direction, else `any` options.
fn recorded_keys(capture: &str, by_ssrc: bool) -> Vec<KeySpec> {
    let fx = json(&samples().join(capture.replace(".pcap", ".srtp.json")));
    let mut out = Vec::new();
    for d in fx["directions"].as_array().unwrap() {
        let key = hex::decode(d["master_key"]["hex"].as_str().unwrap()).unwrap();
        let salt = hex::decode(d["master_salt"]["hex"].as_str().unwrap()).unwrap();
        let b64 = d["master_key"]["base64"].as_str().unwrap();
        let spec: KeySpec = format!("{}:{}", d["srtp_profile"].as_str().unwrap(), base64(&[key, salt].concat()))
            .parse()
            .unwrap_or_else(|e| panic!("{capture}: {e}"));
        assert!(!b64.is_empty());
        if by_ssrc {
            for ssrc in d["ssrcs"].as_object().unwrap().values() {
                let ssrc = u32::from_str_radix(ssrc.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
                out.push(KeySpec { selector: Selector { ssrc: Some(ssrc), ..Selector::default() }, ..spec.clone() });
            }
        } else {
            out.push(spec);
        }
    }
    out
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn report(capture: &str, cfg: Config) -> Value {
    let (e, s) = analyse(&samples().join(capture), cfg);
    streamscope::report::json::build(&e, &s)
}

/// Our flow id and the direction of a packet sent from `src` to `dst`.
fn flow_of(r: &Value, src: &str, dst: &str) -> (u64, &'static str) {
    for f in r["flows"].as_array().unwrap() {
        let (c, s) = (f["client"].as_str().unwrap(), f["server"].as_str().unwrap());
        if (c, s) == (src, dst) {
            return (f["id"].as_u64().unwrap(), "c2s");
        }
        if (c, s) == (dst, src) {
            return (f["id"].as_u64().unwrap(), "s2c");
        }
    }
    panic!("no flow {src} -> {dst}")
}

/// Checks every SRTP stream and SRTCP flow of a WebRTC capture against tshark's fixture.
fn check_all_decrypted(capture: &str, r: &Value, source: &str) {
    let fx = json(&samples().join("fixtures").join(format!("{capture}.webrtc.json")));
    let ours = r["rtp"].as_array().unwrap();
    let streams = fx["rtp"].as_array().unwrap();
    assert!(streams.len() >= 4, "{capture}");
    for t in streams {
        let (flow, dir) = flow_of(r, t["src"].as_str().unwrap(), t["dst"].as_str().unwrap());
        let o = ours
            .iter()
            .find(|o| o["flow"] == flow && o["dir"] == dir && o["ssrc"] == t["ssrc"])
            .unwrap_or_else(|| panic!("{capture}: no stream {t}"));
        let what = format!("{capture} flow {flow} {dir} ssrc {}", t["ssrc"]);
        assert_eq!(o["srtp"], true, "{what}");
        assert_eq!(o["packets"], t["packets"], "{what}");
        assert_eq!(o["decrypted"], t["packets"], "{what}: every packet authenticates");
        assert_eq!(o["auth_failures"], 0, "{what}");
        assert_eq!(o["key_source"], source, "{what}");
        let pts = t["payload_types"].as_object().unwrap();
        assert_eq!(pts.len(), 1, "{what}");
        assert_eq!(o["payload_type"].to_string(), *pts.keys().next().unwrap(), "{what}");
        assert_eq!(o["first_seq"], t["first_seq"], "{what}");
        assert_eq!(o["last_seq"], t["last_seq"], "{what}");
        assert_eq!(o["lost"], 0, "{what}");
    }
    assert_eq!(ours.len(), streams.len(), "{capture}: no stream beyond tshark's");
    // SRTCP: tshark dissects the clear header (and cannot see inside ChannelData): per flow,
    // the datagrams and how many start with an SR.
    let mut per_flow: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let dissected = fx["rtcp"].as_array().unwrap().iter().map(|d| (d, d["packet_types"][0].clone()));
    let raw = fx["rtcp_in_channeldata_undissected"].as_array().unwrap().iter().map(|d| (d, d["first_type"].clone()));
    for (d, first) in dissected.chain(raw) {
        let (flow, _) = flow_of(r, d["src"].as_str().unwrap(), d["dst"].as_str().unwrap());
        let e = per_flow.entry(flow).or_default();
        e.0 += 1;
        e.1 += u64::from(first == "sr");
    }
    assert!(!per_flow.is_empty(), "{capture}");
    for (flow, (datagrams, srs)) in per_flow {
        let o = r["rtcp"].as_array().unwrap().iter().find(|o| o["flow"] == flow).unwrap();
        let what = format!("{capture} rtcp flow {flow}");
        assert_eq!(o["srtcp"], true, "{what}");
        assert_eq!(o["packets"], datagrams, "{what}");
        assert_eq!(o["decrypted"], datagrams, "{what}: every SRTCP packet authenticates");
        assert_eq!(o["auth_failures"], 0, "{what}");
        assert_eq!(o["malformed"], 0, "{what}: the decrypted compounds parse");
        assert_eq!(o["counts"]["sr"], srs, "{what}");
        // Inside the encryption: SDES follows every SR/RR (RFC 3550 §6.1), and LSR/DLSR gives RTTs.
        assert!(o["counts"]["sdes"].as_u64().unwrap() > 0, "{what}");
        assert!(!o["rtt_ms"].as_array().unwrap().is_empty(), "{what}");
    }
}

#[test]
fn dtls_keylog_exporter_decrypts_every_srtp_and_srtcp_packet() {
    for capture in WEBRTC {
        let r = report(capture, Config { keylog: Some(keylog(capture)), ..Config::default() });
        for d in r["dtls"].as_array().unwrap() {
            assert_eq!(d["srtp_keys_exported"], true, "{capture}");
            assert!(d.get("srtp_keys").is_none(), "{capture}: secrets only with --show-secrets");
        }
        check_all_decrypted(capture, &r, "dtls");
    }
}

#[test]
fn recorded_master_keys_decrypt_every_srtp_and_srtcp_packet() {
    for capture in WEBRTC {
        for by_ssrc in [false, true] {
            let cfg = Config { srtp_keys: recorded_keys(capture, by_ssrc), ..Config::default() };
            check_all_decrypted(capture, &report(capture, cfg), "option");
        }
    }
}

#[test]
fn exported_keys_equal_the_recorded_ones() {
    // The aiortc captures: the exporter's per-direction keys are the ones libsrtp was given.
    for capture in WEBRTC {
        let r = report(capture, Config { keylog: Some(keylog(capture)), show_secrets: true, ..Config::default() });
        let fx = json(&samples().join(capture.replace(".pcap", ".srtp.json")));
        let d = &r["dtls"].as_array().unwrap()[0];
        for dir in fx["directions"].as_array().unwrap() {
            let side = if dir["sender_dtls_role"] == "client" { "client_write" } else { "server_write" };
            assert_eq!(d["srtp_keys"][side]["master_key"], dir["master_key"]["hex"], "{capture} {side}");
            assert_eq!(d["srtp_keys"][side]["master_salt"], dir["master_salt"]["hex"], "{capture} {side}");
        }
    }
    // OpenSSL's second association negotiated use_srtp (no SRTP sent): the 60 bytes it
    // exported, split by RFC 5764 §4.2. Its suite (0xc030) makes the PRF SHA-384.
    let capture = "dtls12-openssl.pcap";
    let r = report(capture, Config { keylog: Some(keylog(capture)), show_secrets: true, ..Config::default() });
    let fx = json(&samples().join("dtls12-openssl.srtp.json"));
    let with_srtp: Vec<&Value> =
        r["dtls"].as_array().unwrap().iter().filter(|d| d["srtp_profile"] != Value::Null).collect();
    assert_eq!(with_srtp.len(), 1);
    let d = with_srtp[0];
    assert_eq!(d["cipher_suite"], "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    for side in ["client_write", "server_write"] {
        assert_eq!(d["srtp_keys"][side]["master_key"], fx[side]["master_key"]["hex"], "{side}");
        assert_eq!(d["srtp_keys"][side]["master_salt"], fx[side]["master_salt"]["hex"], "{side}");
    }
}

#[test]
fn without_keys_or_with_a_wrong_key_nothing_decrypts() {
    for capture in WEBRTC {
        let r = report(capture, Config::default());
        for o in r["rtp"].as_array().unwrap() {
            assert_eq!((&o["srtp"], &o["decrypted"], &o["auth_failures"]), (&Value::Bool(true), &0.into(), &0.into()));
        }
        let mut wrong = recorded_keys(capture, false);
        for k in &mut wrong {
            let mut bytes = [k.key.key(), k.key.salt()].concat();
            bytes[0] ^= 0x80;
            k.key = MasterKey::from_concat(k.key.profile, &bytes).unwrap();
        }
        let r = report(capture, Config { srtp_keys: wrong, ..Config::default() });
        for o in r["rtp"].as_array().unwrap() {
            assert_eq!(o["decrypted"], 0, "{capture}");
            assert_eq!(o["auth_failures"], o["packets"], "{capture}: every packet fails, none is fatal");
        }
        for o in r["rtcp"].as_array().unwrap() {
            assert_eq!(o["decrypted"], 0, "{capture}");
            assert_eq!(o["auth_failures"], o["packets"], "{capture}");
        }
    }
}

#[test]
fn srtp_key_option_on_the_command_line() {
    let capture = "webrtc-aiortc.pcap";
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_streamscope"));
    cmd.arg(samples().join(capture)).args(["--report", "json"]);
    let fx = json(&samples().join("webrtc-aiortc.srtp.json"));
    for d in fx["directions"].as_array().unwrap() {
        let bytes = [d["master_key"]["hex"].as_str().unwrap(), d["master_salt"]["hex"].as_str().unwrap()].concat();
        let spec = format!("any:{}:{}", d["srtp_profile"].as_str().unwrap(), base64(&hex::decode(bytes).unwrap()));
        cmd.args(["--srtp-key", &spec]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for d in fx["directions"].as_array().unwrap() {
        for secret in [&d["master_key"]["hex"], &d["master_key"]["base64"], &d["master_salt"]["hex"]] {
            assert!(!text.contains(secret.as_str().unwrap()), "a key appeared in the report");
        }
    }
    check_all_decrypted(capture, &serde_json::from_str(&text).unwrap(), "option");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_streamscope"))
        .arg(samples().join(capture))
        .args(["--srtp-key", "SRTP_AES128_CM_HMAC_SHA1_80:c2hvcnQ="])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("wants 30 bytes"));
}

/// Counts the heap allocations of each thread (tests run in parallel).
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn keyed_streams_decrypt_without_allocating() {
    use streamscope::dissect::rtp::RtpDissector;
    use streamscope::dissect::srtp::transform::Transform;
    use streamscope::dissect::srtp::PROFILES;
    use streamscope::dissect::DatagramDissector;
    use streamscope::flow::Direction;
    use streamscope::time::Timestamp;

    for profile in PROFILES {
        let key = MasterKey::from_concat(profile, &[7u8; 44][..profile.key_len() + profile.salt_len()]).unwrap();
        let t = Transform::new(&key).unwrap();
        let packets: Vec<Vec<u8>> = (0..200u16)
            .map(|i| {
                let seq = 65_400u16.wrapping_add(i);
                let mut p = vec![0x90, 111];
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
                p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
                p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]); // one-byte extension
                p.extend_from_slice(&[0x42; 160]);
                t.protect_rtp(&p, u32::from(seq < 65_400)).unwrap()
            })
            .collect();
        let mut rtp = RtpDissector::default();
        rtp.set_dtls_keys(Direction::C2S, key, key);
        let mut parts = streamscope::dissect::Standalone::new(10);
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], 5000).into();
        let mut ctx = parts.ctx(0, addr, addr, &[]);
        let (warm, rest) = packets.split_at(20);
        for p in warm {
            rtp.on_datagram(&mut ctx, Direction::C2S, p, Timestamp(0));
        }
        let before = allocations();
        for p in rest {
            rtp.on_datagram(&mut ctx, Direction::C2S, p, Timestamp(0));
        }
        let allocs = allocations() - before;
        let r = rtp.extra_reports(0, false);
        let (_, s) = &r[0];
        assert_eq!(s["decrypted"], 200, "{profile:?}: across the sequence number wrap");
        assert_eq!(s["payload_bytes"], 200 * 160, "{profile:?}");
        assert_eq!(allocs, 0, "{profile:?}: {allocs} allocations for 180 keyed packets");
    }
}
