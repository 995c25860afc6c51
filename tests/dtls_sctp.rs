//! DTLS decryption, SCTP data channels, TURN allocation lifetimes and DTLS 1.3 records on
//! captures made by real software, against tshark and what the software that made them logged:
//! - every protected DTLS 1.2 record of `dtls12-openssl.pcap` (openssl s_client/s_server,
//!   AES-256-GCM) and of the aiortc captures (AES-128-GCM, directly and through TURN) decrypts
//!   with the key log, record for record where tshark decrypted it with the same key log
//!   (`samples/fixtures/*.dtls.json`, written by `samples/dtls-fixture.py`): per flow and
//!   direction the counts, and for openssl each application data record's frame, length and
//!   text, and the close_notify alerts;
//! - the SCTP inside the aiortc DTLS (tshark cannot dissect SCTP over DTLS, so the fixture
//!   script hands it the decrypted packets in a raw-IP pcap): chunks per type and direction,
//!   checksums, verification tags, INIT / INIT ACK, the DCEP OPEN and ACK, every data channel
//!   message (frame, direction, stream, length), and the channel's label and ten messages
//!   equal to what `samples/tools/webrtc-peers.py` logged sending (`*.srtp.json`);
//! - TURN allocations (`turn-udp-tcp.pcap`, `webrtc-aiortc-turn.pcap`) against the STUN
//!   messages tshark decoded (`*.webrtc.json`) and the steps `turn-client.py` recorded;
//! - the DTLS 1.3 records of `../shared/captures/dtls/zeek-dtls13-cid.pcap` against tshark's
//!   fields; tshark 4.0 leaves the unified-header records as data, so those are checked
//!   against the header bits read from the bytes tshark shows (skipped without `../shared`).

mod common;

use common::{analyse, root, shared_captures, tshark_micros};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use streamscope::dissect::tls::keylog::KeyLog;
use streamscope::Config;

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn arr(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

/// A report timestamp in µs.
fn us(v: &Value) -> i64 {
    tshark_micros(&v.to_string())
}

/// Our report and events of a sample, with its key log if `keys`.
fn run(name: &str, keys: Option<KeyLog>) -> (Value, Vec<Value>) {
    let cfg = Config { keylog: keys.map(Arc::new), ..Config::default() };
    let (engine, summary) = analyse(&root().join("samples").join(name), cfg);
    let events = engine.app.timeline.events().iter().map(|e| e.to_json()).collect();
    (streamscope::report::json::build(&engine, &summary), events)
}

fn keylog(name: &str) -> KeyLog {
    let p = root().join("samples").join(name.replace(".pcap", ".keys"));
    KeyLog::load(p.to_str().unwrap()).unwrap()
}

/// Flow and direction of a fixture entry's `src` → `dst`.
struct Flows(Vec<(u64, String, String)>);

impl Flows {
    fn new(rep: &Value) -> Flows {
        Flows(
            arr(&rep["flows"]).iter().map(|f| (n(&f["id"]), s(&f["client"]).into(), s(&f["server"]).into())).collect(),
        )
    }

    fn of(&self, e: &Value) -> (u64, &'static str) {
        let (src, dst) = (s(&e["src"]), s(&e["dst"]));
        for (id, c, sv) in &self.0 {
            if c == src && sv == dst {
                return (*id, "c2s");
            }
            if c == dst && sv == src {
                return (*id, "s2c");
            }
        }
        panic!("no flow {src} -> {dst}");
    }

    fn endpoints(&self, flow: u64) -> (String, String) {
        let (_, c, sv) = self.0.iter().find(|(id, ..)| *id == flow).unwrap();
        (c.clone(), sv.clone())
    }
}

fn entry(list: &[Value], flow: u64) -> &Value {
    list.iter().find(|e| n(&e["flow"]) == flow).unwrap_or_else(|| panic!("no entry for flow {flow}"))
}

/// Every protected record tshark decrypted is decrypted here: per flow and direction, no
/// authentication failure.
fn decrypted_counts_equal(name: &str, rep: &Value, fx: &Value) -> u64 {
    let flows = Flows::new(rep);
    let mut want: BTreeMap<u64, BTreeMap<&str, u64>> = BTreeMap::new();
    for r in arr(&fx["records"]) {
        assert_eq!(r["decrypted"], true, "{name}: tshark could not decrypt frame {}", r["frame"]);
        let (flow, dir) = flows.of(&r);
        *want.entry(flow).or_default().entry(dir).or_default() += 1;
    }
    let dtls = arr(&rep["dtls"]);
    let mut total = 0;
    for (flow, dirs) in &want {
        let d = entry(&dtls, *flow);
        assert_eq!(d["decryption"], "keys", "{name} flow {flow}");
        assert_eq!(d["decrypt_failures"], serde_json::json!({"c2s": 0, "s2c": 0}), "{name} flow {flow}");
        for dir in ["c2s", "s2c"] {
            let w = dirs.get(dir).copied().unwrap_or(0);
            assert_eq!(n(&d["decrypted_records"][dir]), w, "{name} flow {flow} {dir} decrypted records");
            assert_eq!(n(&d["not_decrypted_records"][dir]), 0, "{name} flow {flow} {dir}");
            total += w;
        }
    }
    total
}

#[test]
fn dtls12_openssl_plaintext_equals_tshark() {
    let name = "dtls12-openssl.pcap";
    let fx = json(&root().join("samples/fixtures").join(format!("{name}.dtls.json")));
    let (rep, events) = run(name, Some(keylog(name)));
    assert_eq!(decrypted_counts_equal(name, &rep, &fx), 14, "2 Finished, 3 application data, 2 alerts each");
    let flows = Flows::new(&rep);
    // Each application data record: frame, flow, direction, plaintext length and text.
    let theirs: Vec<(u64, u64, &str, u64, String)> = arr(&fx["records"])
        .iter()
        .filter(|r| r["content"] == "application_data")
        .map(|r| {
            let (flow, dir) = flows.of(r);
            (n(&r["frame"]), flow, dir, n(&r["decrypted_length"]), s(&r["text"]).to_string())
        })
        .collect();
    let ours: Vec<(u64, u64, &str, u64, String)> = events
        .iter()
        .filter(|e| e["event"] == "dtls.application_data")
        .map(|e| {
            let dir = if e["dir"] == "c2s" { "c2s" } else { "s2c" };
            (n(&e["frame"]), n(&e["flow"]), dir, n(&e["length"]), s(&e["text"]).to_string())
        })
        .collect();
    assert_eq!(theirs.len(), 6);
    assert_eq!(ours, theirs);
    assert!(ours.iter().all(|o| o.4.starts_with("streamscope dtls ") && o.4.ends_with('\n')));
    // close_notify (level 1, description 0) both ways, decrypted.
    let dtls = arr(&rep["dtls"]);
    for r in arr(&fx["records"]).iter().filter(|r| r["content"] == "alert") {
        let (flow, dir) = flows.of(r);
        let found = arr(&entry(&dtls, flow)["decrypted_alerts"]).into_iter().any(|a| {
            a["dir"] == dir
                && us(&a["ts"]) == tshark_micros(s(&r["ts"]))
                && a["level"] == r["alert"]["level"]
                && a["description"] == r["alert"]["description"]
        });
        assert!(found, "alert of frame {} not decrypted", r["frame"]);
    }
    for d in &dtls {
        assert_eq!(d["carries"], "unknown", "not SCTP");
    }
}

/// What tshark saw of the SCTP in one flow.
#[derive(Default)]
struct SctpFacts {
    chunks: BTreeMap<&'static str, BTreeMap<String, u64>>,
    packets: BTreeMap<&'static str, u64>,
    vtags: BTreeMap<&'static str, BTreeSet<u64>>,
    inits: Vec<(String, String, u64, u64, u64, u64)>,
    /// (frame, dir, stream, length) of each new DATA chunk that is not DCEP.
    messages: Vec<(u64, String, u64, u64)>,
    duplicates: BTreeMap<&'static str, u64>,
    /// DCEP OPEN: (dir, stream, label, protocol, channel type, priority, reliability).
    opens: Vec<(String, u64, String, String, u64, u64, u64)>,
    /// DCEP ACK: (dir, stream).
    acks: Vec<(String, u64)>,
    checksums_good: u64,
}

fn sctp_facts(fx: &Value, flows: &Flows) -> BTreeMap<u64, SctpFacts> {
    let mut out: BTreeMap<u64, SctpFacts> = BTreeMap::new();
    let mut seen: BTreeSet<(u64, &str, u64)> = BTreeSet::new();
    for p in arr(&fx["sctp"]) {
        let (flow, dir) = flows.of(&p);
        let f = out.entry(flow).or_default();
        *f.packets.entry(dir).or_default() += 1;
        if p["checksum_status"] == "1" {
            f.checksums_good += 1;
        }
        let chunks = arr(&p["chunks"]);
        if !chunks.iter().any(|c| c["name"] == "init") {
            f.vtags.entry(dir).or_default().insert(n(&p["verification_tag"]));
        }
        let mut dcep = arr(&p["dcep"]).into_iter();
        for c in chunks {
            *f.chunks.entry(dir).or_default().entry(s(&c["name"]).to_string()).or_default() += 1;
            match s(&c["name"]) {
                "init" | "init_ack" => f.inits.push((
                    dir.into(),
                    s(&c["name"]).into(),
                    n(&c["initiate_tag"]),
                    n(&c["initial_tsn"]),
                    n(&c["out_streams"]),
                    n(&c["in_streams"]),
                )),
                "data" => {
                    assert!(c["b"] == true && c["e"] == true, "unfragmented messages in these captures");
                    if !seen.insert((flow, dir, n(&c["tsn"]))) {
                        *f.duplicates.entry(dir).or_default() += 1;
                        continue;
                    }
                    let stream = n(&c["stream"]);
                    if n(&c["ppid"]) == 50 {
                        let m = dcep.next().expect("tshark's rtcdc for PPID 50");
                        match n(&m["message_type"]) {
                            3 => f.opens.push((
                                dir.into(),
                                stream,
                                s(&m["label"]).into(),
                                s(&m["protocol"]).into(),
                                n(&m["channel_type"]),
                                n(&m["priority"]),
                                n(&m["reliability"]),
                            )),
                            2 => f.acks.push((dir.into(), stream)),
                            other => panic!("DCEP message type {other}"),
                        }
                    } else {
                        let len = if matches!(n(&c["ppid"]), 56 | 57) { 0 } else { n(&c["data_length"]) };
                        f.messages.push((n(&p["frame"]), dir.into(), stream, len));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn aiortc_data_channel_equals_tshark_and_the_peers_log() {
    for name in ["webrtc-aiortc.pcap", "webrtc-aiortc-turn.pcap"] {
        let fx = json(&root().join("samples/fixtures").join(format!("{name}.dtls.json")));
        let log = json(&root().join("samples").join(name.replace(".pcap", ".srtp.json")));
        let (rep, events) = run(name, Some(keylog(name)));
        let total = decrypted_counts_equal(name, &rep, &fx);
        assert_eq!(total, arr(&fx["records"]).len() as u64);
        let flows = Flows::new(&rep);
        let facts = sctp_facts(&fx, &flows);
        let sctp = arr(&rep["sctp"]);
        assert_eq!(sctp.len(), facts.len(), "{name}: SCTP associations");
        assert_eq!(facts.len(), if name.contains("turn") { 2 } else { 1 }, "{name}: each leg of the relay is a flow");
        eprintln!(
            "{name}: {total} protected records decrypted, {} SCTP packets, {} messages in {} flow(s)",
            arr(&fx["sctp"]).len(),
            facts.values().map(|f| f.messages.len()).sum::<usize>(),
            facts.len()
        );
        // The offerer's endpoints: its candidates, and the TURN client whose allocation
        // relayed one of them.
        let mut offerer: BTreeSet<String> = arr(&log["peers"]["offerer"]["local_candidates"])
            .iter()
            .map(|c| s(c).rsplit(' ').next().unwrap().to_string())
            .collect();
        for a in arr(&rep["turn_allocations"]) {
            if offerer.contains(s(&a["relayed_address"])) {
                offerer.insert(s(&a["client"]).to_string());
            }
        }
        let said: Vec<(bool, u64)> = arr(&log["data_channel"]["messages"])
            .iter()
            .map(|m| (m["to"] == "answerer", s(&m["text"]).len() as u64))
            .collect();
        assert_eq!(said.len(), 10, "{name}: webrtc-peers.py sent 10 messages");
        for (flow, f) in &facts {
            let o = entry(&sctp, *flow);
            let what = |k: &str| format!("{name} flow {flow}: {k}");
            for dir in ["c2s", "s2c"] {
                let want = serde_json::to_value(f.chunks.get(dir).cloned().unwrap_or_default()).unwrap();
                assert_eq!(o[format!("chunks_{dir}")], want, "{}", what("chunks"));
                assert_eq!(n(&o["packets"][dir]), f.packets.get(dir).copied().unwrap_or(0), "{}", what("packets"));
                let tags: Vec<u64> = f.vtags.get(dir).map(|t| t.iter().copied().collect()).unwrap_or_default();
                assert_eq!(tags, vec![n(&o["verification_tags"][dir])], "{}", what("verification tag"));
                assert_eq!(n(&o["duplicate_tsns"][dir]), f.duplicates.get(dir).copied().unwrap_or(0));
            }
            assert_eq!(n(&o["checksum"]["ok"]), f.checksums_good, "{}", what("CRC32c good as tshark says"));
            assert_eq!((n(&o["checksum"]["bad"]), n(&o["malformed"])), (0, 0), "{}", what("bad"));
            let inits: Vec<(String, String, u64, u64, u64, u64)> = arr(&o["init"])
                .iter()
                .map(|i| {
                    let f = |k: &str| n(&i[k]);
                    (
                        s(&i["dir"]).into(),
                        s(&i["chunk"]).into(),
                        f("initiate_tag"),
                        f("initial_tsn"),
                        f("out_streams"),
                        f("in_streams"),
                    )
                })
                .collect();
            assert_eq!(inits, f.inits, "{}", what("INIT / INIT ACK"));
            // The data channel DCEP opened.
            let chans = arr(&o["datachannels"]);
            assert_eq!(chans.len(), 1, "{}", what("channels"));
            let ch = &chans[0];
            let [(odir, stream, label, protocol, ctype, prio, rel)] = f.opens.as_slice() else { panic!("one OPEN") };
            assert_eq!(n(&ch["stream_id"]), *stream);
            assert_eq!((s(&ch["label"]), s(&ch["protocol"])), (label.as_str(), protocol.as_str()));
            assert_eq!(label, s(&log["data_channel"]["label"]), "{}", what("label as webrtc-peers.py named it"));
            assert_eq!(
                (ch["channel_type"].clone(), n(&ch["priority"]), n(&ch["reliability_parameter"])),
                ("reliable".into(), *prio, *rel)
            );
            assert_eq!(*ctype, 0);
            assert_eq!(s(&ch["opened_by"]), odir);
            assert_eq!(f.acks.len(), 1);
            assert!(ch["acked_ts"].is_number());
            // Every message: frame, direction, stream, length.
            let ours: Vec<(u64, String, u64, u64)> = events
                .iter()
                .filter(|e| e["event"] == "datachannel.message" && n(&e["flow"]) == *flow)
                .map(|e| (n(&e["frame"]), s(&e["dir"]).into(), n(&e["stream"]), n(&e["length"])))
                .collect();
            assert_eq!(ours, f.messages, "{}", what("messages"));
            // What the peers' script says it sent: who sent each message, and its length.
            let (client, _) = flows.endpoints(*flow);
            let c2s_is_offerer = offerer.contains(&client);
            let sent: Vec<(bool, u64)> = ours.iter().map(|m| ((m.1 == "c2s") == c2s_is_offerer, m.3)).collect();
            assert_eq!(sent, said, "{}", what("messages as webrtc-peers.py logged them"));
            let (mc, ms) = (n(&ch["messages_c2s"]), n(&ch["messages_s2c"]));
            assert_eq!((mc + ms, n(&ch["bytes_c2s"]) + n(&ch["bytes_s2c"])), (10, 60), "{}", what("10 × 6 bytes"));
            assert_eq!(ch["kinds"], serde_json::json!({"string": 10}));
        }
    }
}

#[test]
fn without_keys_or_with_a_wrong_key_nothing_decrypts() {
    let name = "webrtc-aiortc.pcap";
    let (rep, events) = run(name, None);
    let d = &arr(&rep["dtls"])[0];
    assert_eq!(d["decryption"], "no_key_log");
    assert_eq!(n(&d["not_decrypted_records"]["c2s"]) + n(&d["not_decrypted_records"]["s2c"]), 36);
    assert!(rep["sctp"].is_null() && !events.iter().any(|e| s(&e["event"]).starts_with("datachannel.")));
    // The right client random with another master secret: every record fails to authenticate.
    let text = std::fs::read_to_string(root().join("samples").join(name.replace(".pcap", ".keys"))).unwrap();
    let wrong: String = text
        .lines()
        .map(|l| {
            let mut p: Vec<String> = l.split(' ').map(str::to_string).collect();
            p[2] = "00".repeat(48);
            p.join(" ") + "\n"
        })
        .collect();
    let (rep, events) = run(name, Some(KeyLog::parse(&wrong)));
    let d = &arr(&rep["dtls"])[0];
    assert_eq!(n(&d["decrypt_failures"]["c2s"]) + n(&d["decrypt_failures"]["s2c"]), 36);
    assert_eq!(n(&d["decrypted_records"]["c2s"]) + n(&d["decrypted_records"]["s2c"]), 0);
    assert_eq!(events.iter().filter(|e| e["event"] == "anomaly" && e["protocol"] == "dtls").count(), 2, "one a side");
}

/// A Refresh: requested lifetime, granted lifetime, error code, response time (µs).
type Refresh = (Option<u64>, Option<u64>, Option<u64>, i64);

/// One TURN allocation as the STUN messages show it.
#[derive(Debug, PartialEq)]
struct Alloc {
    created_us: i64,
    relayed: String,
    requested: Option<u64>,
    lifetime: u64,
    refreshes: Vec<Refresh>,
    deleted_us: Option<i64>,
    permissions: BTreeMap<String, u64>,
    channels: BTreeMap<String, u64>,
}

fn expected_allocations(fx: &Value, flows: &Flows) -> BTreeMap<u64, Vec<Alloc>> {
    let mut out: BTreeMap<u64, Vec<Alloc>> = BTreeMap::new();
    let mut requests: BTreeMap<String, Value> = BTreeMap::new();
    let mut answered: BTreeSet<String> = BTreeSet::new();
    for m in arr(&fx["stun"]).iter().filter(|m| m["kind"] == "message" && m["in_turn_channel"] != true) {
        let id = s(&m["transaction_id"]).to_string();
        match s(&m["class"]) {
            "request" => {
                requests.entry(id).or_insert_with(|| m.clone());
                continue;
            }
            "success" | "error" => {}
            _ => continue,
        }
        if !answered.insert(id.clone()) {
            continue; // the same response twice
        }
        let (flow, _) = flows.of(m);
        let req = requests.get(&id).cloned().unwrap_or_default();
        let ts = tshark_micros(s(&m["ts"]));
        let list = out.entry(flow).or_default();
        let ok = m["class"] == "success";
        match s(&m["method"]) {
            "allocate" if ok => list.push(Alloc {
                created_us: ts,
                relayed: s(&m["xor_relayed_address"]).into(),
                requested: req["lifetime"].as_u64(),
                lifetime: n(&m["lifetime"]),
                refreshes: Vec::new(),
                deleted_us: None,
                permissions: BTreeMap::new(),
                channels: BTreeMap::new(),
            }),
            "refresh" => {
                let a = list.last_mut().unwrap();
                let granted = if ok { m["lifetime"].as_u64() } else { None };
                a.refreshes.push((req["lifetime"].as_u64(), granted, m["error_code"].as_u64(), ts));
                if granted == Some(0) {
                    a.deleted_us = Some(ts);
                }
            }
            "create_permission" | "channel_bind" if ok => {
                let a = list.last_mut().unwrap();
                let ip = s(&req["xor_peer_address"]).rsplit_once(':').unwrap().0.to_string();
                let p = a.permissions.entry(ip).or_insert(u64::MAX);
                *p = p.wrapping_add(1);
                if m["method"] == "channel_bind" {
                    let c = a.channels.entry(s(&req["channel"]).to_string()).or_insert(u64::MAX);
                    *c = c.wrapping_add(1);
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn turn_allocations_equal_the_stun_messages() {
    for name in ["turn-udp-tcp.pcap", "webrtc-aiortc-turn.pcap"] {
        let fx = json(&root().join("samples/fixtures").join(format!("{name}.webrtc.json")));
        let (rep, _) = run(name, None);
        let flows = Flows::new(&rep);
        let want = expected_allocations(&fx, &flows);
        let ours = arr(&rep["turn_allocations"]);
        assert_eq!(ours.len(), want.values().map(Vec::len).sum::<usize>(), "{name}: allocations");
        eprintln!(
            "{name}: {} allocations, {} refreshes, {} permissions, {} channels",
            ours.len(),
            ours.iter().map(|a| arr(&a["refreshes"]).len()).sum::<usize>(),
            ours.iter().map(|a| arr(&a["permissions"]).len()).sum::<usize>(),
            ours.iter().map(|a| arr(&a["channels"]).len()).sum::<usize>()
        );
        for (flow, list) in &want {
            let mine: Vec<&Value> = ours.iter().filter(|a| n(&a["flow"]) == *flow).collect();
            assert_eq!(mine.len(), list.len(), "{name} flow {flow}");
            for (o, w) in mine.iter().zip(list) {
                let got = Alloc {
                    created_us: us(&o["created_ts"]),
                    relayed: s(&o["relayed_address"]).into(),
                    requested: o["requested_lifetime_s"].as_u64(),
                    lifetime: n(&o["lifetime_s"]),
                    refreshes: arr(&o["refreshes"])
                        .iter()
                        .map(|r| {
                            let e = r["error_code"].as_u64();
                            (r["requested_lifetime_s"].as_u64(), r["granted_lifetime_s"].as_u64(), e, us(&r["ts"]))
                        })
                        .collect(),
                    deleted_us: o["deleted_ts"].is_number().then(|| us(&o["deleted_ts"])),
                    permissions: arr(&o["permissions"])
                        .iter()
                        .map(|p| (s(&p["peer"]).into(), n(&p["refreshes"])))
                        .collect(),
                    channels: arr(&o["channels"])
                        .iter()
                        .map(|c| (s(&c["channel"]).into(), n(&c["refreshes"])))
                        .collect(),
                };
                assert_eq!(&got, w, "{name} flow {flow}");
                // Seconds-long captures: nothing expires; what is not deleted is still active, to
                // expire `last lifetime` after its last success.
                assert!(o["expired_ts"].is_null(), "{name} flow {flow}");
                let state = if w.deleted_us.is_some() { "deleted" } else { "active" };
                assert_eq!(o["state"], state, "{name} flow {flow}");
                if state == "active" {
                    let last = w
                        .refreshes
                        .iter()
                        .rev()
                        .find(|r| r.1.is_some())
                        .map_or((w.created_us, w.lifetime), |r| (r.3, r.1.unwrap()));
                    assert_eq!(us(&o["expires_ts"]), last.0 + last.1 as i64 * 1_000_000, "{name} flow {flow}");
                }
            }
        }
    }
    // The steps turn-client.py recorded (UDP, then TCP): 600 s granted, a refresh asking 300
    // granted 600 (coturn's minimum), then LIFETIME 0.
    let creds = json(&root().join("samples/turn-udp-tcp.credentials.json"));
    let (rep, _) = run("turn-udp-tcp.pcap", None);
    let ours = arr(&rep["turn_allocations"]);
    for transport in ["udp", "tcp"] {
        let steps: Vec<Value> =
            arr(&creds["turn_client_py_steps"]).into_iter().filter(|st| st["transport"] == transport).collect();
        let relayed = steps.iter().find_map(|st| st["xor_relayed_address"].as_str()).unwrap();
        let a = ours.iter().find(|a| a["relayed_address"] == relayed).expect("turn-client.py's allocation");
        assert_eq!(
            (a["transport"].as_str(), n(&a["lifetime_s"]), a["state"].as_str()),
            (Some(transport), 600, Some("deleted"))
        );
        let refresh: Vec<(u64, u64)> = steps
            .iter()
            .filter(|st| st["method"] == "refresh" && st["class"] == "success")
            .map(|st| {
                let req = steps.iter().find(|r| r["transaction_id"] == st["transaction_id"] && r["class"] == "request");
                (n(&req.unwrap()["lifetime"]), n(&st["lifetime"]))
            })
            .collect();
        let mine: Vec<(u64, u64)> =
            arr(&a["refreshes"]).iter().map(|r| (n(&r["requested_lifetime_s"]), n(&r["granted_lifetime_s"]))).collect();
        assert_eq!(mine, refresh);
        assert_eq!(refresh, vec![(300, 600), (0, 0)]);
        let channel =
            steps.iter().rev().filter(|st| st["method"] == "channel_bind").find_map(|st| st["channel"].as_str());
        assert_eq!(arr(&a["channels"]).first().map(|c| c["channel"].clone()), channel.map(Value::from));
    }
}

/// A DTLS 1.3 unified header (RFC 9147 §4) read by this test from the bytes tshark shows as
/// data: (epoch bits, CID, total record length).
fn unified(first: &[u8], cid_len: usize) -> (u64, Vec<u8>, usize) {
    let b = first[0];
    assert_eq!(b >> 5, 1, "0b001xxxxx");
    let c = if b & 0x10 != 0 { cid_len } else { 0 };
    let seq = if b & 0x08 != 0 { 2 } else { 1 };
    assert!(b & 0x04 != 0, "these records carry a length");
    let at = 1 + c + seq;
    let len = usize::from(u16::from_be_bytes([first[at], first[at + 1]]));
    (u64::from(b & 0x03), first[1..1 + c].to_vec(), at + 2 + len)
}

#[test]
fn dtls13_records_equal_tshark() {
    let Some(shared) = shared_captures() else {
        eprintln!("../shared/captures absent: skipped");
        return;
    };
    let cap = shared.join("dtls/zeek-dtls13-cid.pcap");
    let fx = json(&root().join("tests/fixtures/shared/dtls/zeek-dtls13-cid.pcap.dtls13.json"));
    let (engine, summary) = analyse(&cap, Config::default());
    let rep = streamscope::report::json::build(&engine, &summary);
    let flows = Flows::new(&rep);
    let dtls = arr(&rep["dtls"]);
    // Per flow: handshake records, CIDs from the hellos, unified records by direction and epoch.
    #[derive(Default)]
    struct F {
        handshake: u64,
        messages: BTreeSet<(String, u64, u64)>,
        cids: BTreeMap<&'static str, String>,
        by_epoch: BTreeMap<&'static str, BTreeMap<String, u64>>,
        seen_cid: BTreeMap<&'static str, String>,
        server_hello: Option<(String, Vec<String>)>,
        offered: Vec<String>,
        frames: Vec<(&'static str, Value)>,
    }
    let mut per: BTreeMap<u64, F> = BTreeMap::new();
    for fr in arr(&fx["frames"]) {
        let (flow, dir) = flows.of(&fr);
        per.entry(flow).or_default().frames.push((dir, fr));
    }
    let mut unified_total = 0;
    for (flow, f) in per.iter_mut() {
        // The hellos first (the CID lengths), then the records.
        for (dir, fr) in &f.frames {
            for r in arr(&fr["records"]) {
                for h in arr(&r["handshake"]) {
                    let other = if *dir == "c2s" { "s2c" } else { "c2s" };
                    if let Some(cid) = h["connection_id"].as_str() {
                        f.cids.insert(other, cid.to_string());
                    }
                    let versions: Vec<String> =
                        arr(&h["supported_versions"]).iter().map(|v| s(v).to_string()).collect();
                    if n(&h["type"]) == 1 {
                        f.offered = versions.clone();
                    }
                    let hrr = s(&h["random"]) == "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c";
                    if n(&h["type"]) == 2 && !hrr {
                        f.server_hello = Some((s(&h["cipher_suite"]).into(), versions));
                    }
                }
            }
        }
        for (dir, fr) in &f.frames {
            match s(&fr["tshark"]) {
                "dtls" => {
                    for r in arr(&fr["records"]) {
                        assert_eq!(
                            (n(&r["content_type"]), n(&r["epoch"])),
                            (22, 0),
                            "flow {flow}: plaintext handshake only"
                        );
                        f.handshake += 1;
                        for h in arr(&r["handshake"]) {
                            f.messages.insert((dir.to_string(), n(&h["type"]), n(&h["message_seq"])));
                        }
                    }
                }
                "data" => {
                    let first = hex::decode(s(&fr["first_bytes"])).unwrap();
                    let cid_len = f.cids.get(dir).map_or(0, |c| c.len() / 2);
                    let (epoch, cid, len) = unified(&first, cid_len);
                    assert_eq!(
                        len as u64,
                        n(&fr["data_length"]),
                        "flow {flow} frame {}: one record a datagram",
                        fr["frame"]
                    );
                    *f.by_epoch.entry(dir).or_default().entry(epoch.to_string()).or_default() += 1;
                    if !cid.is_empty() {
                        f.seen_cid.insert(dir, hex::encode(cid));
                    }
                    unified_total += 1;
                }
                other => panic!("frame {}: {other}", fr["frame"]),
            }
        }
        let o = entry(&dtls, *flow);
        let what = |k: &str| format!("flow {flow}: {k}");
        assert_eq!(n(&o["content"]["handshake"]), f.handshake, "{}", what("handshake records"));
        let unified: u64 = f.by_epoch.values().flat_map(|m| m.values()).sum();
        assert_eq!(o["content"]["ciphertext"].as_u64().unwrap_or(0), unified, "{}", what("unified-header records"));
        assert_eq!(n(&o["records"]), f.handshake + unified, "{}", what("records"));
        for dir in ["c2s", "s2c"] {
            let want = serde_json::to_value(f.by_epoch.get(dir).cloned().unwrap_or_default()).unwrap();
            assert_eq!(o["dtls13_ciphertext_by_epoch"][dir], want, "{}", what("records by epoch"));
            assert_eq!(
                o["connection_ids"][dir].as_str(),
                f.cids.get(dir).map(String::as_str),
                "{}",
                what("CIDs negotiated")
            );
            assert_eq!(
                o["dtls13_connection_ids_seen"][dir].as_str(),
                f.seen_cid.get(dir).map(String::as_str),
                "{}",
                what("CIDs in records")
            );
        }
        assert_eq!(n(&o["dtls13_cid_length_guessed"]), 0);
        let ours: BTreeSet<(String, u64, u64)> = arr(&o["handshake_messages"])
            .iter()
            .map(|m| (s(&m["dir"]).to_string(), n(&m["type"]), n(&m["message_seq"])))
            .collect();
        assert_eq!(ours, f.messages, "{}", what("handshake messages"));
        match &f.server_hello {
            Some((suite, versions)) => {
                assert_eq!((suite.as_str(), versions.as_slice()), ("0x1301", &["0xfefc".to_string()][..]));
                assert_eq!(o["version"], "DTLS 1.3", "{}", what("version from supported_versions"));
                assert_eq!(o["cipher_suite"], "TLS_AES_128_GCM_SHA256");
                assert_eq!(o["decryption"], "dtls13_not_supported");
                assert!(o["handshake_ms"].is_number(), "{}", what("handshake time"));
            }
            None => {
                // Only ClientHellos offering DTLS 1.3: the record layer's 1.2 says nothing.
                assert_eq!(f.offered, vec!["0xfefc".to_string()]);
                assert!(o["version"].is_null(), "{}", what("no version without a ServerHello"));
                assert_eq!(o["offered_versions"], serde_json::json!(["DTLS 1.3"]));
            }
        }
    }
    assert_eq!(unified_total, 25, "the 25 records tshark 4.0 leaves as data");
    assert_eq!(per.values().filter(|f| f.server_hello.is_some()).count(), 2);
}
