//! WebRTC, TURN and DTLS on captures made by real software (coturn with its own clients and a
//! TURN client script over UDP and TCP, openssl s_client/s_server DTLS 1.2, two aiortc peers
//! directly and through coturn) against the tshark fixtures `samples/fixtures/*.webrtc.json`
//! (written by `samples/webrtc-fixture.py`, which records the tshark commands, heuristics and
//! decode-as each capture needed):
//! - every STUN/TURN transaction: id, method, class, direction, retransmissions, error code,
//!   XOR-MAPPED / XOR-RELAYED / XOR-PEER addresses, requested and granted lifetimes, channel,
//!   request and response times to the µs, and the RTT equal to tshark's `stun.time`;
//! - every ChannelData message per channel and direction, what each relayed payload was, and
//!   that no packet of a WebRTC 5-tuple is left unclassified when tshark classified it;
//! - the ICE candidate pairs of the Binding checks (addresses, checks, answers, median RTT,
//!   role, nomination and when);
//! - DTLS per association: records per content type, direction and version, every handshake
//!   message once with its fragment count, HelloVerifyRequest cookies, retransmissions,
//!   cipher suite, SRTP profile and handshake time (first ClientHello to the last Finished);
//! - SRTP packets per SSRC (payload type, first/last sequence number; tshark reads the clear
//!   RTP header) and SRTCP datagrams per flow.
//!
//! Where tshark is blind the test says so next to the assertion and checks the value the
//! fixture read from the raw bytes instead.

mod common;

use common::{report, report_micros, root, tshark_micros};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const CAPTURES: [&str; 4] =
    ["turn-udp-tcp.pcap", "dtls12-openssl.pcap", "webrtc-aiortc.pcap", "webrtc-aiortc-turn.pcap"];

/// One capture: our report, its WebRTC fixture and its flow fixture.
struct Case {
    name: &'static str,
    rep: Value,
    fx: Value,
    conv: Value,
}

fn cases() -> Vec<Case> {
    CAPTURES
        .iter()
        .map(|&name| {
            let read = |p: std::path::PathBuf| -> Value {
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
                    .unwrap()
            };
            Case {
                name,
                rep: report(&root().join("samples").join(name)),
                fx: read(root().join("samples/fixtures").join(format!("{name}.webrtc.json"))),
                conv: read(root().join("samples/fixtures").join(format!("{name}.json"))),
            }
        })
        .collect()
}

fn arr(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A duration in ms (ours or tshark's) in whole µs.
fn ms_micros(v: &Value) -> Option<i64> {
    v.as_f64().map(|ms| (ms * 1000.0).round() as i64)
}

impl Case {
    /// Our flow id and the direction of a fixture entry (by its transport, src and dst).
    fn flow_dir(&self, e: &Value) -> Option<(u64, &'static str)> {
        let (t, src, dst) = (s(&e["transport"]), s(&e["src"]), s(&e["dst"]));
        arr(&self.rep["flows"]).iter().find_map(|f| {
            if f["transport"] != t {
                return None;
            }
            let (c, sv) = (s(&f["client"]), s(&f["server"]));
            let id = f["id"].as_u64()?;
            if (c, sv) == (src, dst) {
                Some((id, "c2s"))
            } else if (c, sv) == (dst, src) {
                Some((id, "s2c"))
            } else {
                None
            }
        })
    }

    fn section(&self, name: &str, flow: u64) -> Vec<Value> {
        arr(&self.rep[name]).into_iter().filter(|e| e["flow"] == flow).collect()
    }

    fn webrtc_flow(&self, flow: u64) -> Option<Value> {
        self.section("webrtc_flows", flow).into_iter().next()
    }

    fn stun_messages(&self) -> Vec<Value> {
        arr(&self.fx["stun"]).into_iter().filter(|m| m["kind"] == "message").collect()
    }

    fn channel_data(&self) -> Vec<Value> {
        arr(&self.fx["stun"]).into_iter().filter(|m| m["kind"] == "channel_data").collect()
    }
}

/// Collects differences and counts the values compared.
#[derive(Default)]
struct Diffs {
    diffs: Vec<String>,
    compared: usize,
}

impl Diffs {
    fn eq(&mut self, what: impl FnOnce() -> String, ours: &Value, theirs: &Value) {
        self.compared += 1;
        if ours != theirs {
            self.diffs.push(format!("{}: ours {ours} tshark {theirs}", what()));
        }
    }

    fn check(self, test: &str, min: usize) {
        eprintln!("{test}: {} values compared", self.compared);
        assert!(self.compared >= min, "{test}: only {} values compared", self.compared);
        assert!(self.diffs.is_empty(), "{test}: {} differences:\n{}", self.diffs.len(), self.diffs.join("\n"));
    }
}

fn micros(v: &Value) -> Value {
    if v.is_null() {
        Value::Null
    } else if v.is_string() {
        tshark_micros(s(v)).into()
    } else {
        report_micros(v).into()
    }
}

/// One STUN/TURN transaction as tshark shows it: its messages in capture order.
struct Txn {
    flow: u64,
    dir: &'static str,
    messages: Vec<Value>,
}

impl Txn {
    fn first(&self) -> &Value {
        &self.messages[0]
    }

    fn requests(&self) -> usize {
        self.messages.iter().filter(|m| m["class"] == "request").count()
    }

    fn response(&self) -> Option<&Value> {
        let first = s(&self.first()["class"]);
        if first != "request" {
            return None;
        }
        self.messages.iter().find(|m| matches!(s(&m["class"]), "success" | "error"))
    }
}

/// tshark's STUN messages grouped into transactions per flow, in order of first appearance.
fn transactions(c: &Case) -> Vec<Txn> {
    let mut out: Vec<Txn> = Vec::new();
    for m in c.stun_messages() {
        let (flow, dir) = c.flow_dir(&m).unwrap_or_else(|| panic!("{}: no flow for {m}", c.name));
        let id = m["transaction_id"].clone();
        match out.iter_mut().find(|t| t.flow == flow && t.first()["transaction_id"] == id) {
            Some(t) => t.messages.push(m),
            None => out.push(Txn { flow, dir, messages: vec![m] }),
        }
    }
    out
}

#[test]
fn stun_turn_transactions_equal_tshark() {
    let mut d = Diffs::default();
    let mut total = 0;
    for c in cases() {
        let ours = arr(&c.rep["stun"]);
        let theirs = transactions(&c);
        total += theirs.len();
        d.eq(|| format!("{}: transactions", c.name), &ours.len().into(), &theirs.len().into());
        for t in &theirs {
            let f = t.first();
            let id = s(&f["transaction_id"]);
            let what = |k: &str| format!("{} flow {} {id} {k}", c.name, t.flow);
            let found: Vec<&Value> = ours.iter().filter(|o| o["flow"] == t.flow && o["transaction_id"] == id).collect();
            let [o] = found.as_slice() else {
                d.diffs.push(format!("{}: {} entries, want 1", what("transaction"), found.len()));
                continue;
            };
            d.eq(|| what("method"), &o["method"], &f["method"]);
            d.eq(|| what("class"), &o["class"], &f["class"]);
            d.eq(|| what("dir"), &o["dir"], &t.dir.into());
            d.eq(|| what("ts"), &micros(&o["ts"]), &micros(&f["ts"]));
            let retrans = if f["class"] == "request" { t.requests() - 1 } else { 0 };
            d.eq(|| what("retransmissions"), &o["retransmissions"], &retrans.into());
            d.eq(|| what("channel"), &o["channel"], &f["channel"]);
            d.eq(|| what("xor_peer_address"), &o["xor_peer_address"], &f["xor_peer_address"]);
            let via = if f["in_turn_channel"] == true { "channel_data".into() } else { Value::Null };
            d.eq(|| what("via"), &o["via"], &via);
            let requested = if f["class"] == "request" { f["lifetime"].clone() } else { Value::Null };
            d.eq(|| what("requested_lifetime_s"), &o["requested_lifetime_s"], &requested);
            // The values a response carries (the first response; the message itself when the
            // transaction has no request or no answer).
            let r = t.response().unwrap_or(f);
            d.eq(|| what("error_code"), &o["error_code"], &r["error_code"]);
            let mapped =
                if r["xor_mapped_address"].is_null() { &r["mapped_address"] } else { &r["xor_mapped_address"] };
            d.eq(|| what("xor_mapped_address"), &o["xor_mapped_address"], mapped);
            d.eq(|| what("xor_relayed_address"), &o["xor_relayed_address"], &r["xor_relayed_address"]);
            d.eq(|| what("lifetime_s"), &o["lifetime_s"], &r["lifetime"]);
            match t.response() {
                Some(r) => {
                    d.eq(|| what("response_ts"), &micros(&o["response_ts"]), &micros(&r["ts"]));
                    // RTT: from the first request to the first response, as tshark's stun.time.
                    let from_times = tshark_micros(s(&r["ts"])) - tshark_micros(s(&f["ts"]));
                    d.eq(|| what("rtt_ms vs frame times"), &ms_micros(&o["rtt_ms"]).into(), &from_times.into());
                    d.eq(
                        || what("rtt_ms vs stun.time"),
                        &ms_micros(&o["rtt_ms"]).into(),
                        &ms_micros(&r["stun_time_ms"]).into(),
                    );
                }
                None => {
                    d.eq(|| what("response_ts"), &o["response_ts"], &Value::Null);
                    d.eq(|| what("rtt_ms"), &o["rtt_ms"], &Value::Null);
                }
            }
        }
    }
    eprintln!("{total} transactions");
    d.check("stun_turn_transactions_equal_tshark", 1000);
}

#[test]
fn channel_data_and_relayed_payloads_equal_tshark() {
    let mut d = Diffs::default();
    for c in cases() {
        // (flow, channel) → per direction: messages, data bytes (the ChannelData length field).
        let mut theirs: BTreeMap<(u64, String), [u64; 4]> = BTreeMap::new();
        let mut per_flow: BTreeMap<u64, u64> = BTreeMap::new();
        let cd = c.channel_data();
        for m in &cd {
            let (flow, dir) = c.flow_dir(m).unwrap();
            let e = theirs.entry((flow, s(&m["channel"]).to_string())).or_default();
            let k = if dir == "c2s" { 0 } else { 1 };
            e[k] += 1;
            e[k + 2] += m["length"].as_u64().unwrap();
            *per_flow.entry(flow).or_default() += 1;
        }
        // The peer each channel was bound to: the ChannelBind request's XOR-PEER-ADDRESS, once
        // its success response came.
        let mut peers: BTreeMap<(u64, String), Value> = BTreeMap::new();
        for t in transactions(&c) {
            if t.first()["method"] == "channel_bind" && t.response().is_some_and(|r| r["class"] == "success") {
                peers.insert((t.flow, s(&t.first()["channel"]).to_string()), t.first()["xor_peer_address"].clone());
            }
        }
        for f in arr(&c.rep["webrtc_flows"]) {
            let flow = f["flow"].as_u64().unwrap();
            let what = |k: &str| format!("{} flow {flow} {k}", c.name);
            d.eq(|| what("channel_data"), &f["channel_data"], &per_flow.get(&flow).copied().unwrap_or(0).into());
            let ours: BTreeMap<String, Value> = f["channels"]
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            for (ch, v) in &ours {
                let key = (flow, ch.clone());
                d.eq(|| what(&format!("{ch} peer")), &v["peer"], peers.get(&key).unwrap_or(&Value::Null));
                d.eq(|| what(&format!("{ch} bound")), &v["bound"], &peers.contains_key(&key).into());
                let want = theirs.get(&key).copied().unwrap_or_default();
                for (i, k) in ["messages_c2s", "messages_s2c", "bytes_c2s", "bytes_s2c"].iter().enumerate() {
                    d.eq(|| what(&format!("{ch} {k}")), &v[*k], &want[i].into());
                }
            }
            for (f2, ch) in theirs.keys() {
                if *f2 == flow && !ours.contains_key(ch) {
                    d.diffs.push(what(&format!("channel {ch} missing")));
                }
            }
        }
    }
    d.check("channel_data_and_relayed_payloads_equal_tshark", 40);
}

/// What each relayed payload was, and that the packets of every WebRTC 5-tuple tshark
/// classified are classified (`unclassified` counts the 5-tuple's own packets only).
#[test]
fn relayed_kinds_and_unclassified_equal_tshark() {
    let mut d = Diffs::default();
    for c in cases() {
        let cd_frames: BTreeSet<u64> = c.channel_data().iter().map(|m| m["frame"].as_u64().unwrap()).collect();
        let mut want: BTreeMap<u64, BTreeMap<&str, u64>> = BTreeMap::new();
        let mut known_frames: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        let mut rtp_outer: BTreeMap<u64, u64> = BTreeMap::new();
        let frame = |e: &Value| e["frame"].as_u64().unwrap();
        for m in arr(&c.fx["stun"]) {
            let (flow, _) = c.flow_dir(&m).unwrap();
            known_frames.entry(flow).or_default().insert(frame(&m));
            if m["in_turn_channel"] == true {
                *want.entry(flow).or_default().entry("stun").or_default() += 1;
            }
            // turn-client.py's text and turnutils_uclient's 0x07 bytes in Send/Data indications:
            // tshark shows the DATA attribute as bytes; nothing in it is STUN, DTLS or RTP.
            if matches!(s(&m["method"]), "send" | "data") && m["class"] == "indication" {
                *want.entry(flow).or_default().entry("other").or_default() += 1;
            }
        }
        let mut dtls_in_channel: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for r in arr(&c.fx["dtls"]) {
            let (flow, _) = c.flow_dir(&r).unwrap();
            known_frames.entry(flow).or_default().insert(frame(&r));
            if cd_frames.contains(&frame(&r)) {
                dtls_in_channel.entry(flow).or_default().insert(frame(&r));
            }
        }
        for (flow, frames) in &dtls_in_channel {
            want.entry(*flow).or_default().insert("dtls", frames.len() as u64);
        }
        for st in arr(&c.fx["rtp"]) {
            let (flow, _) = c.flow_dir(&st).unwrap();
            let n = st["packets"].as_u64().unwrap();
            if st["in_turn_channel"] == true {
                *want.entry(flow).or_default().entry("rtp").or_default() += n;
            } else {
                *rtp_outer.entry(flow).or_default() += n;
            }
        }
        for r in arr(&c.fx["rtcp"]) {
            let (flow, _) = c.flow_dir(&r).unwrap();
            known_frames.entry(flow).or_default().insert(frame(&r));
        }
        // tshark does not dissect SRTCP inside ChannelData at all: the fixture read the RTCP
        // header (version 2, packet type 200–207) from the raw bytes tshark shows as data.
        for r in arr(&c.fx["rtcp_in_channeldata_undissected"]) {
            let (flow, _) = c.flow_dir(&r).unwrap();
            *want.entry(flow).or_default().entry("rtcp").or_default() += 1;
        }
        // ChannelData that tshark found nothing in.
        for m in c.channel_data() {
            let (flow, _) = c.flow_dir(&m).unwrap();
            *want.entry(flow).or_default().entry("other").or_default() += 1;
        }
        for kinds in want.values_mut() {
            let inside: u64 = kinds.iter().filter(|(k, _)| **k != "other").map(|(_, n)| n).sum();
            if let Some(o) = kinds.get_mut("other") {
                *o -= inside;
            }
            kinds.retain(|_, n| *n > 0);
        }
        for f in arr(&c.rep["webrtc_flows"]) {
            let flow = f["flow"].as_u64().unwrap();
            let what = |k: &str| format!("{} flow {flow} {k}", c.name);
            let theirs = serde_json::to_value(want.get(&flow).cloned().unwrap_or_default()).unwrap();
            d.eq(|| what("relayed_kinds"), &f["relayed_kinds"], &theirs);
            let ours = c.section("flows", flow);
            let transport = ours.first().map(|f| f["transport"].clone()).unwrap_or_default();
            if transport == "udp" {
                // tshark's packets on this 5-tuple minus those it classified.
                let conv = arr(&c.conv["flows"]).into_iter().find(|cf| {
                    cf["transport"] == "udp"
                        && c.flow_dir(&serde_json::json!({"transport": "udp", "src": cf["a"], "dst": cf["b"]}))
                            .is_some_and(|(id, _)| id == flow)
                });
                let packets =
                    conv.map_or(0, |cf| cf["packets_a2b"].as_u64().unwrap() + cf["packets_b2a"].as_u64().unwrap());
                let known =
                    known_frames.get(&flow).map_or(0, |f| f.len() as u64) + rtp_outer.get(&flow).copied().unwrap_or(0);
                d.eq(|| what("unclassified"), &f["unclassified"], &(packets - known).into());
            } else {
                // TCP: every STUN/TURN message and ChannelData is compared above; none may be
                // left over.
                d.eq(|| what("unclassified"), &f["unclassified"], &0.into());
                d.eq(|| what("stream_errors"), &f["stream_errors"], &0.into());
            }
        }
        // Every 5-tuple with STUN or DTLS has its entry.
        for flow in known_frames.keys() {
            if c.webrtc_flow(*flow).is_none() {
                d.diffs.push(format!("{} flow {flow}: no webrtc_flows entry", c.name));
            }
        }
    }
    d.check("relayed_kinds_and_unclassified_equal_tshark", 25);
}

/// The ICE candidate pairs tshark's Binding checks imply. Through TURN a check travels from the
/// allocation's relayed address to the channel's peer (RFC 8445 relayed candidates); the
/// fixture gives both (Allocate success XOR-RELAYED-ADDRESS, ChannelBind XOR-PEER-ADDRESS).
#[test]
fn ice_pairs_equal_tshark() {
    let mut d = Diffs::default();
    for c in cases() {
        let txns = transactions(&c);
        let mut relayed: BTreeMap<u64, Value> = BTreeMap::new();
        let mut peers: BTreeMap<(u64, String), Value> = BTreeMap::new();
        for t in &txns {
            let ok = t.response().filter(|r| r["class"] == "success");
            match (s(&t.first()["method"]), ok) {
                ("allocate", Some(r)) => {
                    relayed.insert(t.flow, r["xor_relayed_address"].clone());
                }
                ("channel_bind", Some(_)) => {
                    peers.insert((t.flow, s(&t.first()["channel"]).to_string()), t.first()["xor_peer_address"].clone());
                }
                _ => {}
            }
        }
        let channel_of: BTreeMap<u64, String> =
            c.channel_data().iter().map(|m| (m["frame"].as_u64().unwrap(), s(&m["channel"]).to_string())).collect();
        // (flow, dir, local, remote) → (checks, answered, rtts, first USE-CANDIDATE ts, success ts, controlling, priority)
        type Want = (u64, u64, Vec<i64>, Option<i64>, Vec<i64>, Value, Value);
        let mut want: BTreeMap<(u64, String, String, String), Want> = BTreeMap::new();
        for t in &txns {
            let f = t.first();
            if f["method"] != "binding" || f["class"] != "request" || f["username"].is_null() {
                continue;
            }
            let (local, remote) = if f["in_turn_channel"] == true {
                let ch = channel_of.get(&f["frame"].as_u64().unwrap()).cloned().unwrap_or_default();
                let (r, p) = (relayed.get(&t.flow).cloned(), peers.get(&(t.flow, ch)).cloned());
                let (r, p) = (r.unwrap_or_default(), p.unwrap_or_default());
                if t.dir == "c2s" {
                    (r, p)
                } else {
                    (p, r)
                }
            } else {
                (f["src"].clone(), f["dst"].clone())
            };
            let e = want.entry((t.flow, t.dir.to_string(), s(&local).into(), s(&remote).into())).or_default();
            e.0 += 1;
            let ts = tshark_micros(s(&f["ts"]));
            if f["use_candidate"] == true && e.3.is_none() {
                e.3 = Some(ts);
            }
            if let Some(r) = t.response().filter(|r| r["class"] == "success") {
                e.1 += 1;
                e.2.push(ms_micros(&r["stun_time_ms"]).unwrap());
                e.4.push(tshark_micros(s(&r["ts"])));
            }
            e.5 = match (f["ice_controlling"] == true, f["ice_controlled"] == true) {
                (true, _) => true.into(),
                (_, true) => false.into(),
                _ => e.5.clone(),
            };
            e.6 = f["priority"].clone();
        }
        let ours = arr(&c.rep["ice"]);
        d.eq(|| format!("{}: pairs", c.name), &ours.len().into(), &want.len().into());
        for ((flow, dir, local, remote), (checks, answered, mut rtts, uc, successes, controlling, priority)) in want {
            let what = |k: &str| format!("{} flow {flow} {dir} {local} → {remote} {k}", c.name);
            let found: Vec<&Value> = ours
                .iter()
                .filter(|o| o["flow"] == flow && o["dir"] == dir && o["local"] == local && o["remote"] == remote)
                .collect();
            let [o] = found.as_slice() else {
                d.diffs.push(format!("{}: {} entries", what("pair"), found.len()));
                continue;
            };
            d.eq(|| what("checks"), &o["checks"], &checks.into());
            d.eq(|| what("answered"), &o["answered"], &answered.into());
            rtts.sort_unstable();
            // The report's median is the upper one of an even count.
            d.eq(|| what("rtt_ms"), &ms_micros(&o["rtt_ms"]).into(), &rtts.get(rtts.len() / 2).copied().into());
            d.eq(|| what("controlling"), &o["controlling"], &controlling);
            d.eq(|| what("priority"), &o["priority"], &priority);
            // Nominated (RFC 8445 §8.1.1): a check with USE-CANDIDATE answered with success.
            let nominated = uc.and_then(|u| successes.iter().copied().filter(|&t| t >= u).min());
            d.eq(|| what("nominated"), &o["nominated"], &nominated.is_some().into());
            d.eq(|| what("nominated_ts"), &micros(&o["nominated_ts"]), &nominated.into());
        }
    }
    d.check("ice_pairs_equal_tshark", 40);
}

/// IANA names of the values these captures use.
fn iana(code: &str) -> &'static str {
    match code {
        "0xc030" => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "0xc02b" => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "0x0001" => "SRTP_AES128_CM_HMAC_SHA1_80",
        "0x0008" => "SRTP_AEAD_AES_256_GCM",
        _ => "?",
    }
}

#[test]
fn dtls_associations_equal_tshark() {
    let mut d = Diffs::default();
    for c in cases() {
        let mut by_flow: BTreeMap<u64, Vec<(&'static str, Value)>> = BTreeMap::new();
        for r in arr(&c.fx["dtls"]) {
            let (flow, dir) = c.flow_dir(&r).unwrap();
            by_flow.entry(flow).or_default().push((dir, r));
        }
        let ours_all = arr(&c.rep["dtls"]);
        d.eq(|| format!("{}: associations", c.name), &ours_all.len().into(), &by_flow.len().into());
        for (flow, recs) in by_flow {
            let what = |k: &str| format!("{} flow {flow} {k}", c.name);
            let Some(o) = ours_all.iter().find(|o| o["flow"] == flow) else {
                d.diffs.push(what("no dtls entry"));
                continue;
            };
            d.eq(|| what("records"), &o["records"], &recs.len().into());
            let name = |r: &Value| match s(&r["content"]) {
                n @ ("handshake" | "change_cipher_spec" | "alert" | "application_data") => n.to_string(),
                _ => "other".to_string(),
            };
            let mut content: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
            let mut versions: BTreeMap<String, u64> = BTreeMap::new();
            for (dir, r) in &recs {
                *content.entry("all").or_default().entry(name(r)).or_default() += 1;
                *content.entry(dir).or_default().entry(name(r)).or_default() += 1;
                *versions.entry(s(&r["version"]).to_string()).or_default() += 1;
            }
            let json =
                |m: Option<&BTreeMap<String, u64>>| serde_json::to_value(m.cloned().unwrap_or_default()).unwrap();
            d.eq(|| what("content"), &o["content"], &json(content.get("all")));
            // SCTP (the data channel) inside DTLS: tshark decrypts the application data with the
            // key log but cannot dissect SCTP over DTLS; without keys only the records are
            // countable, per direction.
            d.eq(|| what("content_c2s"), &o["content_c2s"], &json(content.get("c2s")));
            d.eq(|| what("content_s2c"), &o["content_s2c"], &json(content.get("s2c")));
            d.eq(|| what("record_versions"), &o["record_versions"], &serde_json::to_value(&versions).unwrap());
            let alerts = recs.iter().filter(|(_, r)| r["content"] == "alert").count();
            d.eq(|| what("alerts"), &o["alerts"], &alerts.into());

            // Handshake messages, epoch 0, put together from tshark's fragments.
            struct Msg {
                dir: &'static str,
                ty: u64,
                seq: u64,
                len: u64,
                pieces: BTreeSet<(u64, u64)>,
                first_ts: i64,
                done_ts: Option<i64>,
            }
            let mut msgs: Vec<Msg> = Vec::new();
            let mut retransmitted = 0;
            let mut encrypted: BTreeMap<&str, u64> = BTreeMap::new();
            let mut first_finished: BTreeMap<&str, i64> = BTreeMap::new();
            for (dir, r) in &recs {
                if r["content"] != "handshake" {
                    continue;
                }
                let ts = tshark_micros(s(&r["ts"]));
                if r["epoch"].as_u64() != Some(0) {
                    // Encrypted under epoch 1: the Finished (tshark shows it with the key log).
                    *encrypted.entry(dir).or_default() += 1;
                    first_finished.entry(dir).or_insert(ts);
                    continue;
                }
                let mut new = false;
                for h in arr(&r["handshake"]) {
                    let n = |k: &str| h[k].as_u64().unwrap();
                    let (ty, seq, len) = (n("type"), n("message_seq"), n("length"));
                    let piece = (n("fragment_offset"), n("fragment_length"));
                    let i = match msgs.iter().position(|m| m.dir == *dir && m.ty == ty && m.seq == seq && m.len == len)
                    {
                        Some(i) => i,
                        None => {
                            msgs.push(Msg { dir, ty, seq, len, pieces: BTreeSet::new(), first_ts: ts, done_ts: None });
                            msgs.len() - 1
                        }
                    };
                    let m = &mut msgs[i];
                    new |= m.pieces.insert(piece);
                    let mut reach = 0;
                    for &(off, l) in &m.pieces {
                        if off <= reach {
                            reach = reach.max(off + l);
                        }
                    }
                    if reach >= m.len && m.done_ts.is_none() {
                        m.done_ts = Some(ts);
                    }
                }
                if !new {
                    retransmitted += 1;
                }
            }
            let ours_msgs = arr(&o["handshake_messages"]);
            d.eq(|| what("handshake messages"), &ours_msgs.len().into(), &msgs.len().into());
            for (m, om) in msgs.iter().zip(&ours_msgs) {
                let w = |k: &str| what(&format!("{} seq {} type {} {k}", m.dir, m.seq, m.ty));
                d.eq(|| w("dir"), &om["dir"], &m.dir.into());
                d.eq(|| w("type"), &om["type"], &m.ty.into());
                d.eq(|| w("message_seq"), &om["message_seq"], &m.seq.into());
                d.eq(|| w("length"), &om["length"], &m.len.into());
                d.eq(|| w("fragments"), &om["fragments"], &m.pieces.len().into());
                d.eq(|| w("first_ts"), &micros(&om["first_ts"]), &m.first_ts.into());
                d.eq(|| w("ts"), &micros(&om["ts"]), &m.done_ts.into());
            }
            d.eq(
                || what("retransmitted_handshake_records"),
                &o["retransmitted_handshake_records"],
                &retransmitted.into(),
            );
            let enc = serde_json::json!({"c2s": encrypted.get("c2s").copied().unwrap_or(0), "s2c": encrypted.get("s2c").copied().unwrap_or(0)});
            d.eq(|| what("encrypted_handshake_records"), &o["encrypted_handshake_records"], &enc);
            // HelloVerifyRequest (RFC 6347 §4.2.1): its cookie is its length less version and
            // length byte, and the second ClientHello is the first plus that cookie.
            let hvr: Vec<&Msg> = msgs.iter().filter(|m| m.ty == 3).collect();
            let hellos: Vec<&Msg> = msgs.iter().filter(|m| m.ty == 1).collect();
            d.eq(|| what("hello_verify_requests"), &o["hello_verify_requests"], &hvr.len().into());
            let cookie = hvr.last().map(|m| m.len - 3);
            d.eq(|| what("cookie_len"), &o["cookie_len"], &cookie.into());
            if let ([a, b, ..], Some(k)) = (hellos.as_slice(), cookie) {
                d.eq(|| what("second ClientHello - first"), &(b.len - a.len).into(), &k.into());
            }
            let with_cookie = hellos.iter().filter(|h| hvr.iter().any(|v| v.first_ts <= h.first_ts)).count();
            d.eq(|| what("client_hellos_with_cookie"), &o["client_hellos_with_cookie"], &with_cookie.into());

            // Handshake time: the first ClientHello to the later side's Finished.
            let start = hellos.first().map(|m| m.first_ts);
            let end = first_finished.values().max().copied();
            let ms = match (start, end, first_finished.len()) {
                (Some(a), Some(b), 2) => Some(b - a),
                _ => None,
            };
            d.eq(|| what("handshake_ms"), &ms_micros(&o["handshake_ms"]).into(), &ms.into());
            // Version, cipher suite, SRTP profile from the ServerHello.
            let sh = recs.iter().find_map(|(_, r)| {
                arr(&r["handshake"]).into_iter().find(|h| h["type"] == 2).map(|h| (r["version"].clone(), h))
            });
            if let Some((ver, h)) = sh {
                let v = if ver == "0xfefd" { "DTLS 1.2" } else { "DTLS 1.0" };
                d.eq(|| what("version"), &o["version"], &v.into());
                d.eq(|| what("cipher_suite"), &o["cipher_suite"], &iana(s(&h["cipher_suite"])).into());
                let profile = arr(&h["srtp_profiles"]).first().map(|p| iana(s(p)));
                d.eq(|| what("srtp_profile"), &o["srtp_profile"], &profile.into());
            }
        }
    }
    d.check("dtls_associations_equal_tshark", 300);
}

#[test]
fn srtp_streams_equal_tshark() {
    let mut d = Diffs::default();
    for c in cases() {
        let theirs = arr(&c.fx["rtp"]);
        let ours = arr(&c.rep["rtp"]);
        d.eq(|| format!("{}: streams", c.name), &ours.len().into(), &theirs.len().into());
        for t in &theirs {
            let (flow, dir) = c.flow_dir(t).unwrap();
            let ssrc = s(&t["ssrc"]);
            let what = |k: &str| format!("{} flow {flow} {dir} {ssrc} {k}", c.name);
            let found: Vec<&Value> =
                ours.iter().filter(|o| o["flow"] == flow && o["dir"] == dir && o["ssrc"] == ssrc).collect();
            let [o] = found.as_slice() else {
                d.diffs.push(format!("{}: {} entries", what("stream"), found.len()));
                continue;
            };
            d.eq(|| what("packets"), &o["packets"], &t["packets"]);
            let pts: Vec<&String> = t["payload_types"].as_object().unwrap().keys().collect();
            d.eq(|| what("payload types"), &pts.len().into(), &1.into());
            d.eq(|| what("payload_type"), &o["payload_type"].to_string().into(), &pts[0].as_str().into());
            d.eq(|| what("first_seq"), &o["first_seq"], &t["first_seq"]);
            d.eq(|| what("last_seq"), &o["last_seq"], &t["last_seq"]);
            d.eq(|| what("srtp"), &o["srtp"], &t["srtp"]);
            d.eq(|| what("frames (marker bits)"), &o["frames"], &t["markers"]);
        }
        // SRTCP datagrams per flow: those tshark dissected (its RTCP heuristic takes the AES-GCM
        // trailer; the AES-CM one needed `-d udp.port==N,rtcp`, recorded as the second pass) and,
        // inside ChannelData where tshark dissects no SRTCP, those the fixture read from the
        // raw bytes.
        let mut want: BTreeMap<u64, u64> = BTreeMap::new();
        for r in arr(&c.fx["rtcp"]).iter().chain(arr(&c.fx["rtcp_in_channeldata_undissected"]).iter()) {
            *want.entry(c.flow_dir(r).unwrap().0).or_default() += 1;
        }
        let ours = arr(&c.rep["rtcp"]);
        d.eq(|| format!("{}: rtcp flows", c.name), &ours.len().into(), &want.len().into());
        for (flow, n) in want {
            let o = ours.iter().find(|o| o["flow"] == flow).cloned().unwrap_or_default();
            d.eq(|| format!("{} flow {flow} rtcp packets", c.name), &o["packets"], &n.into());
        }
    }
    d.check("srtp_streams_equal_tshark", 60);
}

fn find(list: &[Value], pred: impl Fn(&Value) -> bool) -> &Value {
    list.iter().find(|v| pred(v)).unwrap_or(&Value::Null)
}

/// Regressions found against these fixtures, each named.
#[test]
fn turn_fixes() {
    let all = cases();
    let turn = &all[0];
    let stun = arr(&turn.rep["stun"]);
    // ChannelData on channels above 0x4FFF over TCP (0x6001, uclient's 0x5061), padded to 4
    // bytes: the Refresh requests after them (frames 72, 74, 165) are found and answered.
    for id in ["f07fd647ae1d0d755f73f9c9", "053f27c9bb7e48e8838aeb05", "f0fc3f5b94d2d70ac961c8ba"] {
        let t = find(&stun, |t| t["transaction_id"] == id);
        assert_eq!(t["method"], "refresh", "{id}");
        assert!(t["rtt_ms"].is_number(), "{id}: {t}");
    }
    // turnutils_uclient's payloads (00 00 00 00 07 07 ...) are not STUN.
    assert!(stun.iter().all(|t| t["method"] != "unknown"), "garbage taken as STUN");
    let flows = arr(&turn.rep["webrtc_flows"]);
    let all_flows = arr(&turn.rep["flows"]);
    let by_client = |port: &str| {
        let f = find(&all_flows, |f| f["client"] == format!("127.0.0.1:{port}"));
        find(&flows, |w| w["flow"] == f["id"]).clone()
    };
    // The UDP clients with Send indications: their 5-tuples hold nothing unclassified; the
    // relayed text and 0x07 bytes are counted as relayed "other" payloads.
    let py = by_client("44610");
    assert_eq!((py["unclassified"].as_u64(), py["relayed_kinds"]["other"].as_u64()), (Some(0), Some(10)));
    let uclient = by_client("59363");
    assert_eq!((uclient["unclassified"].as_u64(), uclient["relayed_kinds"]["other"].as_u64()), (Some(0), Some(6)));
    let tcp = by_client("49658");
    assert_eq!(tcp["channels"]["0x5061"]["messages_c2s"], 3);
    assert_eq!(tcp["channels"]["0x5061"]["rfc8656_range"], false);

    // ICE pairs name candidate addresses: the nominated pairs the peers themselves recorded.
    for c in &all[2..] {
        let peers: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("samples").join(c.name.replace(".pcap", ".srtp.json"))).unwrap(),
        )
        .unwrap();
        let nominated = &peers["peers"]["offerer"]["nominated"][0];
        let ice = arr(&c.rep["ice"]);
        let ours = find(&ice, |p| p["nominated"] == true && p["controlling"] == true);
        assert_eq!(ours["local"], nominated["local"]["addr"], "{}: {ice:?}", c.name);
        assert_eq!(ours["remote"], nominated["remote"]["addr"], "{}", c.name);
    }

    // DTLS: the second association's Certificate (6 fragments) and ServerKeyExchange (4) are
    // each one message; one HelloVerifyRequest with a 20-byte cookie.
    let dtls = arr(&all[1].rep["dtls"]);
    let second = find(&dtls, |a| a["srtp_profile"].is_string());
    let msgs = arr(&second["handshake_messages"]);
    let certs: Vec<&Value> = msgs.iter().filter(|m| m["name"] == "certificate").collect();
    assert_eq!(certs.len(), 1);
    assert_eq!((certs[0]["fragments"].as_u64(), certs[0]["length"].as_u64()), (Some(6), Some(1313)));
    assert_eq!(find(&msgs, |m| m["name"] == "server_key_exchange")["fragments"], 4);
    assert_eq!((second["hello_verify_requests"].as_u64(), second["cookie_len"].as_u64()), (Some(1), Some(20)));
}
