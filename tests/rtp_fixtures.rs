//! RTSP, SIP and RTP on captures made by real software (gst-rtsp-server with ffmpeg and
//! GStreamer clients over UDP and TCP-interleaved, an RTSP RECORD push, SIPp calls, an RTP
//! relay with a recorded drop/delay list), against fixtures from samples/rtp-fixture.py:
//! - every RTP stream: packets, loss (RFC 3550 A.3), duplicates, reordering, first/last
//!   sequence, max delta and RFC 3550 A.8 jitter equal the values computed from tshark's
//!   per-packet fields (tshark's own `rtp,streams` has no jitter for dynamic payload types and
//!   miscounts `$` frames sharing a segment; the fixture computes from per-packet fields);
//! - every RTSP request: method, URL, CSeq, status and response time (µs);
//! - SIP: the call's setup time (INVITE to its final response) from the frame times.

mod common;

use common::{report, root, tshark_micros};
use serde_json::Value;

fn fixtures() -> Vec<(String, Value)> {
    let dir = root().join("samples/fixtures");
    let mut v: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let cap = name.strip_suffix(".rtp.json")?.to_string();
            Some((cap, serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// (src, dst) of a report entry's flow and direction.
fn ends(rep: &Value, flow: u64, dir: &str) -> (String, String) {
    let f = &rep["flows"][flow as usize];
    let (c, s) = (f["client"].as_str().unwrap().to_string(), f["server"].as_str().unwrap().to_string());
    if dir == "c2s" {
        (c, s)
    } else {
        (s, c)
    }
}

fn close(a: &Value, b: &Value, tol: f64) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= tol,
        _ => false,
    }
}

#[test]
fn rtp_streams_equal_the_fixture() {
    let mut diffs = Vec::new();
    let mut n = 0;
    for (cap, fx) in fixtures() {
        let rep = report(&root().join("samples").join(&cap));
        let ours = rep["rtp"].as_array().cloned().unwrap_or_default();
        let theirs = fx["rtp_streams"]["computed"].as_array().unwrap();
        if ours.len() != theirs.len() {
            diffs.push(format!("{cap}: {} streams, fixture {}", ours.len(), theirs.len()));
        }
        for t in theirs {
            n += 1;
            let found = ours.iter().find(|o| {
                o["ssrc"] == t["ssrc"] && {
                    let (src, dst) = ends(&rep, o["flow"].as_u64().unwrap(), o["dir"].as_str().unwrap());
                    (src.as_str(), dst.as_str()) == (t["src"].as_str().unwrap(), t["dst"].as_str().unwrap())
                }
            });
            let Some(o) = found else {
                diffs.push(format!("{cap}: stream {} {} -> {} missing", t["ssrc"], t["src"], t["dst"]));
                continue;
            };
            let tag = format!("{cap} {} {}->{}", t["ssrc"], t["src"], t["dst"]);
            // A dynamic payload type with no SDP: the fixture (like tshark) has no clock rate;
            // streamscope estimates it from the timestamps and still reports jitter.
            let unknown_clock = t["clock_rate"].is_null();
            if unknown_clock && (o["clock_rate_from"] != "timestamps" || !o["max_jitter_ms"].is_number()) {
                diffs.push(format!("{tag}: no estimated clock rate or jitter: {o}"));
            }
            for (k, theirs_k) in [
                ("packets", "packets"),
                ("lost", "lost_unique"),
                ("duplicates", "duplicates"),
                ("out_of_order", "out_of_order"),
                ("first_seq", "first_seq"),
                ("last_seq", "last_seq"),
                ("clock_rate", "clock_rate"),
            ] {
                if unknown_clock && k == "clock_rate" {
                    continue;
                }
                if o[k].as_i64() != t[theirs_k].as_i64() {
                    diffs.push(format!("{tag}: {k} ours {} fixture {}", o[k], t[theirs_k]));
                }
            }
            for (k, theirs_k) in [
                ("max_delta_ms", "max_delta_ms"),
                ("max_jitter_ms", "jitter_max_ms"),
                ("mean_jitter_ms", "jitter_mean_ms"),
            ] {
                if unknown_clock && k != "max_delta_ms" {
                    continue;
                }
                if !(close(&o[k], &t[theirs_k], 0.0015) || o[k].is_null() && t[theirs_k].is_null()) {
                    diffs.push(format!("{tag}: {k} ours {} fixture {}", o[k], t[theirs_k]));
                }
            }
        }
    }
    assert!(n >= 10, "only {n} streams compared");
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn loss_matches_the_relay_drop_list() {
    let relay: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("samples/rtp-loss-jitter.relay.json")).unwrap())
            .unwrap();
    let dropped = relay["dropped_seqs"].as_array().map_or(0, Vec::len);
    assert!(dropped > 0, "relay log: {relay}");
    let rep = report(&root().join("samples/rtp-loss-jitter.pcap"));
    let streams = rep["rtp"].as_array().unwrap();
    let losses: Vec<i64> = streams.iter().map(|s| s["lost"].as_i64().unwrap()).collect();
    assert!(losses.contains(&0), "the sender leg loses nothing: {losses:?}");
    assert!(
        losses.contains(&(dropped as i64)),
        "the receiver leg loses what the relay dropped ({dropped}): {losses:?}"
    );
}

#[test]
fn rtsp_requests_equal_the_fixture() {
    let mut diffs = Vec::new();
    let mut n = 0;
    for (cap, fx) in fixtures() {
        let theirs: Vec<&Value> = fx["rtsp"].as_array().unwrap().iter().filter(|r| r["kind"] == "request").collect();
        if theirs.is_empty() {
            continue;
        }
        let rep = report(&root().join("samples").join(&cap));
        let ours = rep["rtsp"].as_array().cloned().unwrap_or_default();
        if ours.len() != theirs.len() {
            diffs.push(format!("{cap}: {} requests, fixture {}", ours.len(), theirs.len()));
        }
        for t in theirs {
            n += 1;
            let Some(o) = ours.iter().find(|o| {
                o["cseq"] == t["cseq"] && o["method"] == t["method"] && {
                    let (src, _) = ends(&rep, o["flow"].as_u64().unwrap(), "c2s");
                    src == t["src"].as_str().unwrap()
                }
            }) else {
                diffs.push(format!("{cap}: {} cseq {} missing", t["method"], t["cseq"]));
                continue;
            };
            if o["url"] != t["url"] {
                diffs.push(format!("{cap} cseq {}: url {} vs {}", t["cseq"], o["url"], t["url"]));
            }
            if common::report_micros(&o["ts"]) != tshark_micros(t["frame_ts"].as_str().unwrap()) {
                diffs.push(format!("{cap} cseq {}: ts {} vs {}", t["cseq"], o["ts"], t["frame_ts"]));
            }
            match (t["response_time_ms"].as_f64(), o["latency_ms"].as_f64()) {
                (Some(want), Some(got)) if (want - got).abs() <= 0.0015 => {}
                (None, None) => {}
                (w, g) => {
                    diffs.push(format!("{cap} {} cseq {}: latency ours {g:?} fixture {w:?}", t["method"], t["cseq"]))
                }
            }
        }
    }
    assert!(n >= 15, "only {n} requests compared");
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn sip_call_setup_equals_frame_times() {
    let (cap, fx) = fixtures().into_iter().find(|(c, _)| c.starts_with("sip")).expect("sip fixture");
    let msgs = fx["sip"].as_array().unwrap();
    let invite = msgs.iter().find(|m| m["method"] == "INVITE").unwrap();
    let ok =
        msgs.iter().find(|m| m["status"] == 200 && m["cseq"].as_str().is_some_and(|c| c.ends_with("INVITE"))).unwrap();
    let want = (tshark_micros(ok["frame_ts"].as_str().unwrap()) - tshark_micros(invite["frame_ts"].as_str().unwrap()))
        as f64
        / 1000.0;
    let rep = report(&root().join("samples").join(&cap));
    let call = rep["sip"].as_array().unwrap().iter().find(|c| c["call_id"] == invite["call_id"]).expect("the call");
    assert_eq!(call["final_status"], 200);
    assert!((call["setup_ms"].as_f64().unwrap() - want).abs() <= 0.0015, "{} vs {want}", call["setup_ms"]);
    assert!(call["first_media_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(call["rtp_streams"].as_array().unwrap().len(), 2, "both directions bound to the call");
    // The media flows were pinned by the SDP, not guessed.
    assert!(rep["flows"].as_array().unwrap().iter().any(|f| f["detected_by"] == "signalling"));
}

#[test]
fn play_to_first_rtp_equals_frame_times() {
    let mut n = 0;
    for (cap, fx) in fixtures() {
        let plays: Vec<&Value> = fx["rtsp"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["method"] == "PLAY" || r["method"] == "RECORD")
            .collect();
        if plays.is_empty() {
            continue;
        }
        let rep = report(&root().join("samples").join(&cap));
        for p in plays {
            let at = tshark_micros(p["frame_ts"].as_str().unwrap());
            // The first RTP packet (of any stream of the capture) after the PLAY/RECORD request.
            let first = fx["rtp_packets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| tshark_micros(r["frame_ts"].as_str().unwrap()))
                .filter(|t| *t >= at)
                .min()
                .unwrap();
            let ours = rep["rtsp"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["method"] == p["method"] && r["cseq"] == p["cseq"] && common::report_micros(&r["ts"]) == at)
                .unwrap_or_else(|| panic!("{cap}: {} not found", p["method"]));
            let got = ours["first_rtp_ms"].as_f64().unwrap_or(f64::NAN);
            let want = (first - at) as f64 / 1000.0;
            assert!((got - want).abs() <= 0.0015, "{cap} {}: first RTP {got} ms, frames say {want}", p["method"]);
            n += 1;
        }
    }
    assert!(n >= 4, "{n}");
}
