//! Flows and per-direction packet and byte counts, first and last times, equal what tshark
//! reports for the same captures (fixtures recorded by samples/tshark-fixture.py).

mod common;

use common::{report, report_micros, root, shared_captures, tshark_micros};
use serde_json::Value;
use std::path::Path;

fn endpoints(f: &Value) -> (String, String, String) {
    (
        f["transport"].as_str().unwrap().to_string(),
        f["a"].as_str().unwrap().to_string(),
        f["b"].as_str().unwrap().to_string(),
    )
}

/// tshark starts a new UDP "conversation" on one 5-tuple each time signalling (SDP in SIP or
/// RTSP) sets it up again, where streamscope keeps one flow per 5-tuple until it idles out:
/// merge tshark's UDP streams of one 5-tuple (packets and bytes per direction added, first and
/// last times widened) before comparing.
fn merge_udp(flows: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for f in flows {
        let same = |o: &Value| {
            f["transport"] == "udp"
                && o["transport"] == "udp"
                && ((o["a"] == f["a"] && o["b"] == f["b"]) || (o["a"] == f["b"] && o["b"] == f["a"]))
        };
        let Some(o) = out.iter_mut().find(|o| same(o)) else {
            out.push(f.clone());
            continue;
        };
        let flipped = o["a"] != f["a"];
        for (k, kf) in [
            ("packets_a2b", if flipped { "packets_b2a" } else { "packets_a2b" }),
            ("packets_b2a", if flipped { "packets_a2b" } else { "packets_b2a" }),
            ("bytes_a2b", if flipped { "bytes_b2a" } else { "bytes_a2b" }),
            ("bytes_b2a", if flipped { "bytes_a2b" } else { "bytes_b2a" }),
        ] {
            let sum = o[k].as_u64().unwrap_or(0) + f[kf].as_u64().unwrap_or(0);
            o[k] = Value::from(sum);
        }
        if tshark_micros(f["last_ts"].as_str().unwrap()) > tshark_micros(o["last_ts"].as_str().unwrap()) {
            o["last_ts"] = f["last_ts"].clone();
        }
        if tshark_micros(f["first_ts"].as_str().unwrap()) < tshark_micros(o["first_ts"].as_str().unwrap()) {
            o["first_ts"] = f["first_ts"].clone();
        }
    }
    out
}

/// Compares one capture with its fixture; returns a list of differences.
fn compare(capture: &Path, fixture: &Path) -> Vec<String> {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let rep = report(capture);
    let ours = rep["flows"].as_array().unwrap();
    let theirs = &merge_udp(fx["flows"].as_array().unwrap());
    let mut diffs = Vec::new();
    if rep["capture"]["packets"].as_u64() != fx["frames"].as_u64() {
        diffs.push(format!("frames: ours {} tshark {}", rep["capture"]["packets"], fx["frames"]));
    }
    if ours.len() != theirs.len() {
        diffs.push(format!("flow count: ours {} tshark {}", ours.len(), theirs.len()));
    }
    let mut used = vec![false; ours.len()];
    for t in theirs {
        let (transport, a, b) = endpoints(t);
        let t_first = tshark_micros(t["first_ts"].as_str().unwrap());
        // The same endpoints may carry several flows (port reuse): take the unused one that
        // starts at the same time.
        let found = ours.iter().enumerate().find(|(i, o)| {
            !used[*i]
                && o["transport"] == transport.as_str()
                && ((o["client"] == a.as_str() && o["server"] == b.as_str())
                    || (o["client"] == b.as_str() && o["server"] == a.as_str()))
                && report_micros(&o["first_ts"]) == t_first
        });
        let Some((i, o)) = found else {
            diffs.push(format!("tshark flow {transport} {a} <-> {b} at {} not found", t["first_ts"]));
            continue;
        };
        used[i] = true;
        let a_is_client = o["client"] == a.as_str();
        let (pa, pb, ba, bb) = if a_is_client {
            (&o["packets_c2s"], &o["packets_s2c"], &o["bytes_c2s"], &o["bytes_s2c"])
        } else {
            (&o["packets_s2c"], &o["packets_c2s"], &o["bytes_s2c"], &o["bytes_c2s"])
        };
        for (name, ours, theirs) in [
            ("packets_a2b", pa, &t["packets_a2b"]),
            ("packets_b2a", pb, &t["packets_b2a"]),
            ("bytes_a2b", ba, &t["bytes_a2b"]),
            ("bytes_b2a", bb, &t["bytes_b2a"]),
        ] {
            if ours.as_u64() != theirs.as_u64() {
                diffs.push(format!("{transport} {a} <-> {b}: {name} ours {ours} tshark {theirs}"));
            }
        }
        if report_micros(&o["last_ts"]) != tshark_micros(t["last_ts"].as_str().unwrap()) {
            diffs.push(format!("{transport} {a} <-> {b}: last_ts ours {} tshark {}", o["last_ts"], t["last_ts"]));
        }
    }
    diffs
}

fn check_dir(captures: &Path, fixtures: &Path) -> usize {
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(fixtures).unwrap().flatten().map(|e| e.path()).collect();
    entries.sort();
    for fixture in entries {
        let name = fixture.file_name().unwrap().to_string_lossy().to_string();
        let Some(capture_name) = name.strip_suffix(".json") else { continue };
        let capture = captures.join(capture_name);
        if !capture.exists() {
            continue;
        }
        checked += 1;
        for d in compare(&capture, &fixture) {
            failures.push(format!("{capture_name}: {d}"));
        }
    }
    assert!(failures.is_empty(), "{} differences from tshark:\n{}", failures.len(), failures.join("\n"));
    checked
}

#[test]
fn samples_agree_with_tshark() {
    let samples = root().join("samples");
    let n = check_dir(&samples, &samples.join("fixtures"));
    assert!(n >= 5, "expected fixtures for the shipped samples, found {n}");
}

#[test]
fn shared_captures_agree_with_tshark() {
    let Some(shared) = shared_captures() else {
        eprintln!("skipped: ../shared/captures is not present");
        return;
    };
    let fixtures = root().join("tests").join("fixtures").join("shared");
    let mut n = 0;
    for dir in std::fs::read_dir(&fixtures).unwrap().flatten() {
        if dir.path().is_dir() {
            n += check_dir(&shared.join(dir.file_name()), &dir.path());
        }
    }
    assert!(n > 0);
}
