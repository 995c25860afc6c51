//! Every RTMP message streamscope decodes equals what tshark reports (fixtures recorded by
//! samples/rtmp-fixture.py from `tshark -T pdml` with rtmpt.max_packet_size raised): type,
//! chunk stream, message stream, timestamp, length, command name, transaction id, status code,
//! and the capture time of the frame that completed it, to the microsecond.

mod common;

use common::{root, shared_captures, tshark_micros};
use serde_json::Value;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use streamscope::capture::file;
use streamscope::dissect::tls::keylog::KeyLog;
use streamscope::{Config, Engine};

/// RTMP events per (client, server, dir), in order.
type ByDirection = HashMap<(String, String, String), Vec<Value>>;

/// Our RTMP events per (client, server, dir), in order.
fn our_messages(capture: &Path, keylog: Option<&Path>) -> (ByDirection, Value) {
    let keylog = keylog.map(|k| std::sync::Arc::new(KeyLog::load(k.to_str().unwrap()).unwrap()));
    let mut engine = Engine::new(Config { max_events: 10_000_000, keylog, ..Config::default() });
    let summary = file::read_path(capture.to_str().unwrap(), |p| {
        engine.process(p);
        ControlFlow::Continue(())
    })
    .unwrap();
    engine.finish();
    let report = streamscope::report::json::build(&engine, &summary);
    let mut out: ByDirection = HashMap::new();
    for ev in engine.app.timeline.events() {
        if ev.protocol != "rtmp" {
            continue;
        }
        let j = ev.to_json();
        let Some(flow) = ev.flow.and_then(|f| engine.flows.record(f)) else { continue };
        let key = (flow.client.to_string(), flow.server.to_string(), ev.dir.map_or("", |d| d.as_str()).to_string());
        out.entry(key).or_default().push(j);
    }
    (out, report)
}

fn compare(capture: &Path, fixture: &Path, keylog: Option<&Path>) -> Vec<String> {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let (ours, _report) = our_messages(capture, keylog);
    let mut diffs = Vec::new();
    let mut compared = 0;
    for f in fx["flows"].as_array().unwrap() {
        let (c, s) = (f["client"].as_str().unwrap().to_string(), f["server"].as_str().unwrap().to_string());
        for dir in ["c2s", "s2c"] {
            let theirs: Vec<&Value> = f["messages"].as_array().unwrap().iter().filter(|m| m["dir"] == dir).collect();
            let empty = Vec::new();
            let mine: Vec<&Value> = ours
                .get(&(c.clone(), s.clone(), dir.to_string()))
                .unwrap_or(&empty)
                .iter()
                .filter(|e| e.get("type_id").is_some())
                .collect();
            if mine.len() != theirs.len() {
                diffs.push(format!("{c}->{s} {dir}: {} messages, tshark {}", mine.len(), theirs.len()));
            }
            for (i, (m, t)) in mine.iter().zip(theirs.iter()).enumerate() {
                compared += 1;
                let name = m["event"].as_str().unwrap_or("");
                let command = name.strip_prefix("rtmp.command.").or_else(|| name.strip_prefix("rtmp.data."));
                let checks = [
                    ("type", m["type_id"].clone(), t["type"].clone()),
                    ("csid", m["csid"].clone(), t["csid"].clone()),
                    ("stream_id", m["stream_id"].clone(), t["stream_id"].clone()),
                    ("timestamp", m["timestamp"].clone(), t["timestamp"].clone()),
                    ("length", m["length"].clone(), t["length"].clone()),
                    ("command", command.map(Value::from).unwrap_or(Value::Null), t["command"].clone()),
                    ("code", m.get("code").cloned().unwrap_or(Value::Null), t["code"].clone()),
                ];
                for (what, a, b) in checks {
                    if a.as_u64().zip(b.as_u64()).map_or(a != b, |(x, y)| x != y) && !(a.is_null() && b.is_null()) {
                        diffs.push(format!("{c}->{s} {dir} message {i}: {what} ours {a} tshark {b}"));
                    }
                }
                if let Some(tx) = t["transaction_id"].as_f64() {
                    if m["transaction_id"].as_f64() != Some(tx) {
                        diffs.push(format!(
                            "{c}->{s} {dir} message {i}: transaction_id ours {} tshark {tx}",
                            m["transaction_id"]
                        ));
                    }
                }
                let ts = common::report_micros(&m["ts"]);
                if ts != tshark_micros(t["frame_ts"].as_str().unwrap()) {
                    diffs.push(format!(
                        "{c}->{s} {dir} message {i}: completed at {} tshark frame {}",
                        m["ts"], t["frame_ts"]
                    ));
                }
            }
        }
        // Handshake parts: C0+C1 and C2 from the client; S0+S1+S2 (our s2 event) from the server.
        // RTMP fixtures name it "handshake"; TLS fixtures "rtmp_handshake" (inside TLS).
        let hs = if f["rtmp_handshake"].is_object() { &f["rtmp_handshake"] } else { &f["handshake"] };
        for (key, dir, event) in [
            ("c0c1_frame_ts", "c2s", "rtmp.handshake.c0c1"),
            ("c2_frame_ts", "c2s", "rtmp.handshake.c2"),
            ("s0s1s2_frame_ts", "s2c", "rtmp.handshake.s2"),
        ] {
            let Some(want) = hs[key].as_str() else { continue };
            let got =
                ours.get(&(c.clone(), s.clone(), dir.to_string())).and_then(|v| v.iter().find(|e| e["event"] == event));
            match got {
                Some(e) if common::report_micros(&e["ts"]) == tshark_micros(want) => {}
                other => {
                    diffs.push(format!("{c}->{s}: {event} ours {:?} tshark {want}", other.map(|e| e["ts"].to_string())))
                }
            }
        }
    }
    assert!(compared > 0 || fx["flows"].as_array().unwrap().is_empty());
    diffs
}

fn check(captures: &Path, fixtures: &Path) -> usize {
    let mut n = 0;
    let mut failures = Vec::new();
    for e in std::fs::read_dir(fixtures).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(cap) = name.strip_suffix(".rtmp.json") else { continue };
        let capture = captures.join(cap);
        if !capture.exists() {
            continue;
        }
        n += 1;
        failures.extend(compare(&capture, &e.path(), None).into_iter().map(|d| format!("{cap}: {d}")));
    }
    assert!(failures.is_empty(), "{} differences from tshark:\n{}", failures.len(), failures.join("\n"));
    n
}

#[test]
fn sample_rtmp_messages_equal_tshark() {
    let samples = root().join("samples");
    assert!(check(&samples, &samples.join("fixtures")) >= 2);
}

#[test]
fn shared_rtmp_messages_equal_tshark() {
    let Some(shared) = shared_captures() else {
        eprintln!("skipped: ../shared/captures is not present");
        return;
    };
    assert!(check(&shared.join("rtmp"), &root().join("tests/fixtures/shared/rtmp")) >= 2);
}

/// RTMPS: with the key log, the RTMP inside TLS 1.3 and TLS 1.2 equals what tshark's
/// decrypted stream holds (parsed by the fixture script's chunk parser: tshark will not hand
/// TLS plaintext to its RTMP dissector), message by message, with the frame times.
#[test]
fn rtmps_messages_equal_the_decrypted_stream() {
    let samples = root().join("samples");
    let mut n = 0;
    let mut failures = Vec::new();
    for e in std::fs::read_dir(samples.join("fixtures")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(cap) = name.strip_suffix(".tls.json") else { continue };
        let keys = samples.join(cap.replace(".pcapng", ".keys"));
        n += 1;
        failures.extend(compare(&samples.join(cap), &e.path(), Some(&keys)).into_iter().map(|d| format!("{cap}: {d}")));
    }
    assert!(n >= 2);
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}
