//! Live HLS with EXT-X-PROGRAM-DATE-TIME (RFC 8216 §4.3.2.6), two renditions, two real players
//! (ffmpeg's HLS demuxer and hls.js in Chromium): per player and segment fetch, streamscope's
//! `hls_players` live latency equals the fixture's (arrival − (PDT + EXTINF), from the playlist
//! bodies tshark exports) to the µs, and so do the rendition of every segment and the ABR
//! switches (`samples/hls-live-fixture.py`).

mod common;

use common::{report, report_micros, root, tshark_micros};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("samples/fixtures").join(name)).unwrap()).unwrap()
}

/// A fixture's "123.456" ms string in µs.
fn ms_micros(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    let neg = s.starts_with('-');
    let (a, b) = s.trim_start_matches('-').split_once('.').unwrap_or((s, "0"));
    let m = a.parse::<i64>().unwrap() * 1000 + format!("{b:0<3}")[..3].parse::<i64>().unwrap();
    Some(if neg { -m } else { m })
}

#[test]
fn live_latency_renditions_and_switches_equal_the_fixture() {
    let rep = report(&root().join("samples/hls-live-pdt.pcap"));
    let fx = fixture("hls-live-pdt.pcap.pdt.json");
    let ours = rep["hls_players"].as_array().unwrap();
    let players = fx["players"].as_array().unwrap();
    assert_eq!(players.len(), 2, "ffmpeg and hls.js");
    assert_eq!(ours.len(), players.len());
    let mut latencies = 0;
    for p in players {
        let ua = p["user_agent"].as_str().unwrap();
        let me = ours
            .iter()
            .find(|o| o["client"] == p["client"] && o["user_agent"] == ua)
            .unwrap_or_else(|| panic!("player {ua}"));
        let mine = me["segments"].as_array().unwrap();
        let theirs = p["segments"].as_array().unwrap();
        assert_eq!(mine.len(), theirs.len(), "{ua}: segment fetches");
        for (m, t) in mine.iter().zip(theirs) {
            let uri = t["uri"].as_str().unwrap();
            assert_eq!(m["uri"], uri, "{ua}");
            assert_eq!(report_micros(&m["ts"]), tshark_micros(t["request_ts"].as_str().unwrap()), "{ua} {uri}");
            assert_eq!(m["rendition"], t["rendition"], "{ua} {uri} rendition");
            let want = ms_micros(&t["live_latency_ms"]);
            let got = m["live_latency_ms"]
                .is_number()
                .then(|| (m["live_latency_ms"].as_f64().unwrap() * 1000.0).round() as i64);
            assert_eq!(got, want, "{ua} {uri} live latency µs");
            // Segments behind the newest one of the latest live playlist the player had.
            assert_eq!(m["live_edge_distance"], t["live_edge_distance"], "{ua} {uri} live edge distance");
            latencies += usize::from(want.is_some());
        }
        let sw: Vec<(i64, &Value, &Value)> = me["abr_switches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (report_micros(&s["ts"]), &s["from"], &s["to"]))
            .collect();
        let want: Vec<(i64, &Value, &Value)> = p["abr_switches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (tshark_micros(s["ts"].as_str().unwrap()), &s["from"], &s["to"]))
            .collect();
        assert_eq!(sw, want, "{ua}: ABR switches");
    }
    assert!(latencies >= 40, "{latencies} segment latencies compared");
    // hls.js was asked for the low rendition and back: both directions are in the capture.
    let hlsjs = ours.iter().find(|o| o["user_agent"].as_str().is_some_and(|u| u.contains("Chrome"))).unwrap();
    assert!(hlsjs["abr_switches"].as_array().unwrap().len() >= 2);
}

/// The playlists each player fetched, as tshark counts its GETs per User-Agent.
#[test]
fn reloads_per_player() {
    let rep = report(&root().join("samples/hls-live-pdt.pcap"));
    let http = fixture("hls-live-pdt.pcap.http.json");
    let gets = http["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["kind"] == "request"
                && m["uri"].as_str().is_some_and(|u| u.split('?').next().unwrap_or("").ends_with(".m3u8"))
        })
        .count();
    let fetched: u64 = rep["hls_players"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["playlists"].as_array().unwrap())
        .map(|p| p["fetches"].as_u64().unwrap())
        .sum();
    assert_eq!(fetched as usize, gets);
    for p in rep["hls_players"].as_array().unwrap() {
        for pl in p["playlists"].as_array().unwrap().iter().filter(|pl| pl["fetches"].as_u64() > Some(5)) {
            // 1 s segments: reloads about every second.
            let m = pl["median_reload_ms"].as_f64().unwrap();
            assert!((900.0..1100.0).contains(&m), "{m}");
        }
    }
}
