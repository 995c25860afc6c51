//! HTTP exchanges equal tshark's: every request (method, URI, time of its first byte) and
//! every response (status, Content-Type, Content-Length, time of the frame completing it);
//! HLS playlists parsed from the fetched bodies list the segments the player then fetched.

mod common;

use common::{analyse, report, report_micros, root, shared_captures, tshark_micros};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use streamscope::dissect::tls::keylog::KeyLog;
use streamscope::Config;

/// The report on `capture`, decrypted with the key log tshark was given when the fixture
/// was recorded (`-o tls.keylog_file:NAME` in its command, NAME relative to the capture).
fn report_as_tshark_saw(capture: &Path, fx: &Value) -> Value {
    let keylog =
        fx["command"].as_str().and_then(|c| c.split_whitespace().find_map(|w| w.strip_prefix("tls.keylog_file:")));
    let keylog = keylog.map(|name| {
        let path = capture.parent().unwrap().join(name);
        Arc::new(KeyLog::load(path.to_str().unwrap()).expect("fixture's key log loads"))
    });
    let (engine, summary) = analyse(capture, Config { keylog, ..Config::default() });
    streamscope::report::json::build(&engine, &summary)
}

fn compare(capture: &Path, fixture: &Path) -> Vec<String> {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let rep = report_as_tshark_saw(capture, &fx);
    let ours = rep["http"].as_array().cloned().unwrap_or_default();
    let mut d = Vec::new();
    let msgs = fx["messages"].as_array().unwrap();
    let requests: Vec<&Value> = msgs.iter().filter(|m| m["kind"] == "request").collect();
    let responses: Vec<&Value> = msgs.iter().filter(|m| m["kind"] == "response").collect();
    let with_request = ours.iter().filter(|x| x["method"].as_str().is_some_and(|m| !m.is_empty())).count();
    if with_request != requests.len() {
        d.push(format!("{with_request} requests, tshark {}", requests.len()));
    }
    let answered = ours.iter().filter(|x| x["response_end_ts"].is_number()).count();
    if answered != responses.len() {
        d.push(format!("{answered} complete responses, tshark {}", responses.len()));
    }
    for r in &requests {
        let at = tshark_micros(r["frame_ts"].as_str().unwrap());
        if !ours.iter().any(|x| x["method"] == r["method"] && x["uri"] == r["uri"] && report_micros(&x["ts"]) == at) {
            d.push(format!("request {} {} at {} not found", r["method"], r["uri"], r["frame_ts"]));
        }
    }
    for r in &responses {
        let at = tshark_micros(r["frame_ts"].as_str().unwrap());
        // Two connections can complete responses in frames of the same µs (loopback): take
        // the one that agrees, if any.
        let fields = [("status", "status"), ("content_type", "content_type"), ("content_length", "content_length")];
        let same_time: Vec<&Value> = ours
            .iter()
            .filter(|x| x["response_end_ts"].is_number() && report_micros(&x["response_end_ts"]) == at)
            .collect();
        let found = same_time
            .iter()
            .find(|x| fields.iter().all(|(k, t)| x[*k] == r[*t]))
            .or_else(|| same_time.first())
            .copied();
        match found {
            Some(x) => {
                for (k, t) in fields {
                    if x[k] != r[t] {
                        d.push(format!("response at {}: {k} ours {} tshark {}", r["frame_ts"], x[k], r[t]));
                    }
                }
            }
            None => d.push(format!("response {} at {} not found", r["status"], r["frame_ts"])),
        }
    }
    d
}

fn check(captures: &Path, fixtures: &Path) -> usize {
    let mut n = 0;
    let mut all = Vec::new();
    for e in std::fs::read_dir(fixtures).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(cap) = name.strip_suffix(".http.json") else { continue };
        let capture = captures.join(cap);
        if !capture.exists() {
            continue;
        }
        n += 1;
        all.extend(compare(&capture, &e.path()).into_iter().map(|x| format!("{cap}: {x}")));
    }
    assert!(all.is_empty(), "{} differences from tshark:\n{}", all.len(), all.join("\n"));
    n
}

#[test]
fn sample_http_equals_tshark() {
    let s = root().join("samples");
    assert!(check(&s, &s.join("fixtures")) >= 7);
}

#[test]
fn shared_http_equals_tshark() {
    let Some(shared) = shared_captures() else {
        eprintln!("skipped: ../shared/captures is not present");
        return;
    };
    assert!(check(&shared.join("http-streaming"), &root().join("tests/fixtures/shared/http-streaming")) >= 3);
}

#[test]
fn hls_playlist_lists_the_segments_fetched() {
    let rep = report(&root().join("samples/hls-http-sll2.pcap"));
    let hls = rep["hls"].as_array().unwrap();
    assert!(!hls.is_empty());
    let listed: Vec<&str> = hls[0]["segments"].as_array().unwrap().iter().map(|s| s["uri"].as_str().unwrap()).collect();
    assert_eq!(listed, ["x0.ts", "x1.ts", "x2.ts"]);
    assert_eq!(hls[0]["live"], false, "a VOD playlist (ENDLIST)");
    let fetched: Vec<&str> = rep["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "segment")
        .map(|x| x["uri"].as_str().unwrap().trim_start_matches('/'))
        .collect();
    for s in &listed {
        assert!(fetched.contains(s), "{s} listed but not fetched");
    }
    assert!(rep["http"].as_array().unwrap().iter().filter(|x| x["kind"] == "playlist").count() >= 3);
}

/// The media time of each MPEG-TS segment fetched over HTTP equals what ffprobe reads from the
/// same bytes (exported from the capture by tshark): the segment's start time, each stream's
/// first PTS, and the last video PTS (one picture per PES). Also no continuity errors.
#[test]
fn ts_segments_media_time_equals_ffprobe() {
    let fx: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("samples/fixtures/hls-http-sll2.pcap.ts.json")).unwrap(),
    )
    .unwrap();
    let rep = report(&root().join("samples/hls-http-sll2.pcap"));
    let us = |v: &Value| -> i64 {
        let f = v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap();
        (f * 1e6).round() as i64
    };
    let mut n = 0;
    for x in rep["http"].as_array().unwrap().iter().filter(|x| x["media"].is_object()) {
        let name = x["uri"].as_str().unwrap().trim_start_matches('/');
        let seg = &fx["segments"][name];
        let m = &x["media"];
        assert_eq!(us(&m["start_pts_s"]), us(&seg["start_time"]), "{name} start");
        assert_eq!(m["continuity_errors"], 0);
        for s in seg["streams"].as_array().unwrap() {
            let codec = s["codec"].as_str().unwrap();
            let ours = m["streams"].as_array().unwrap().iter().find(|o| o["type"] == codec).expect(codec);
            assert_eq!(us(&ours["min_pts_s"]), us(&s["start_time"]), "{name} {codec} start");
            if codec == "h264" {
                assert_eq!(us(&ours["max_pts_s"]), us(&s["max_pts_time"]), "{name} last picture");
            }
        }
        n += 1;
    }
    assert_eq!(n, 6, "every segment fetch (3 by curl, 3 by ffmpeg) read");
}

/// fMP4 segments of DASH (one connection per request: the init segment is found through the
/// MPD's SegmentTemplate) and HLS (through EXT-X-MAP): per track the number of samples and the
/// duration equal ffprobe's packets on init+segment exported by tshark, and the start times
/// advance exactly as ffprobe's do (streamscope reports the tfdt decode time; ffprobe adds the
/// init segment's edit-list offset, a constant per track).
#[test]
fn fmp4_segments_media_time_equals_ffprobe() {
    let mut n = 0;
    for cap in ["dash-vod.pcap", "hls-fmp4.pcap"] {
        let fx: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("samples/fixtures").join(format!("{cap}.ts.json"))).unwrap(),
        )
        .unwrap();
        let rep = report(&root().join("samples").join(cap));
        let us = |v: &Value| -> i64 {
            let f = v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap();
            (f * 1e6).round() as i64
        };
        // Per track type: (our start, ffprobe start) of the first segment seen, for offsets.
        let mut first: std::collections::HashMap<String, (i64, i64)> = std::collections::HashMap::new();
        let mut segs: Vec<&Value> = rep["http"].as_array().unwrap().iter().filter(|x| x["kind"] == "segment").collect();
        segs.sort_by_key(|x| x["uri"].as_str().unwrap().to_string());
        for x in segs {
            let name = x["uri"].as_str().unwrap().trim_start_matches('/');
            let seg = &fx["segments"][name];
            for f in x["media"]["fragments"].as_array().unwrap() {
                let kind = if f["type"] == "vide" { "video" } else { "audio" };
                let s = seg["streams"].as_array().unwrap().iter().find(|s| s["type"] == kind).expect(kind);
                assert_eq!(f["samples"].as_u64(), s["packets"].as_u64(), "{cap} {name} {kind} samples");
                let ffprobe_dur = us(&s["end_time"]) - us(&s["start_time"]);
                // The last segment's final AAC frame is trimmed in its trun (the real end of
                // the media); ffprobe counts a whole frame there.
                let last = name.ends_with("00003.m4s") || name == "f2.m4s";
                if last && kind == "audio" {
                    assert!(us(&f["duration_s"]) <= ffprobe_dur, "{cap} {name} {kind} duration");
                } else {
                    assert!((us(&f["duration_s"]) - ffprobe_dur).abs() <= 1, "{cap} {name} {kind} duration");
                }
                let (ours0, theirs0) =
                    *first.entry(format!("{cap}{kind}")).or_insert((us(&f["start_s"]), us(&s["start_time"])));
                assert!(
                    ((us(&f["start_s"]) - ours0) - (us(&s["start_time"]) - theirs0)).abs() <= 1,
                    "{cap} {name} {kind} start"
                );
                n += 1;
            }
        }
    }
    assert!(n >= 18, "{n}");
}

/// The player view: each client's playlist fetches (as tshark counts its GETs), the rendition
/// and EXTINF duration of each segment it fetched, whether it kept up, and no ABR switch with a
/// single rendition.
#[test]
fn hls_players_from_the_exchanges() {
    for cap in ["hls-http-sll2.pcap", "hls-fmp4.pcap"] {
        let rep = report(&root().join("samples").join(cap));
        let fx: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("samples/fixtures").join(format!("{cap}.http.json"))).unwrap(),
        )
        .unwrap();
        let gets = fx["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "request" && m["uri"].as_str().is_some_and(|u| u.ends_with(".m3u8")))
            .count();
        let players = rep["hls_players"].as_array().unwrap();
        let fetched: u64 = players
            .iter()
            .flat_map(|p| p["playlists"].as_array().unwrap())
            .map(|p| p["fetches"].as_u64().unwrap())
            .sum();
        assert_eq!(fetched as usize, gets, "{cap}");
        let hls = &rep["hls"][0];
        for p in players {
            assert!(p["abr_switches"].as_array().unwrap().is_empty());
            for s in p["segments"].as_array().unwrap() {
                let name = s["uri"].as_str().unwrap().trim_start_matches('/');
                let listed = hls["segments"].as_array().unwrap().iter().find(|x| x["uri"] == name).expect(name);
                assert_eq!(s["duration_s"], listed["duration_s"], "{cap} {name}");
                assert_eq!(s["rendition"].as_str().map(|r| r.ends_with(".m3u8")), Some(true));
            }
            if !p["segments"].as_array().unwrap().is_empty() {
                assert_eq!(p["keeping_up"], true, "loopback downloads are far faster than real time");
            }
        }
    }
}
