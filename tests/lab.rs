//! The latency lab against values computed independently from tshark's fields, ffprobe and
//! the playlist/MPD bodies (`samples/lab-fixture.py` → `samples/fixtures/*.lab.json`):
//! ffmpeg publishes RTMP to nginx-rtmp, which repackages it as HLS and DASH fetched by ffmpeg
//! players; a second capture puts a relay holding every response for exactly 50 ms between
//! the HLS player and nginx, and the measured delivery latency must move by that (± 1 ms).

mod common;

use common::{root, tshark_micros};
use serde_json::Value;
use streamscope::Config;

/// Runs the pipeline with the lab's collector and returns the lab as JSON.
fn lab(sample: &str) -> Value {
    let path = root().join("samples").join(sample);
    let (engine, summary) = common::analyse_prepared(&path, Config::default(), streamscope::lab::enable);
    let report = streamscope::report::json::build(&engine, &summary);
    streamscope::lab::analyse(&engine, &report).to_json()
}

fn fixture(sample: &str) -> Value {
    let p = root().join("samples/fixtures").join(format!("{sample}.lab.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A fixture time string or our JSON number, in µs.
fn us(v: &Value) -> i64 {
    match v {
        Value::Null => i64::MIN,
        Value::String(s) => tshark_micros(s),
        other => common::report_micros(other),
    }
}

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Every matched unit of the fixture is one of ours with the same media time, ingest and
/// delivery times (µs) and latency; nothing extra on either side.
fn pipelines_agree(ours: &[Value], theirs: &[Value]) {
    assert_eq!(ours.len(), theirs.len(), "pipeline rows");
    for t in theirs {
        let o = ours
            .iter()
            .find(|o| {
                o["uri"] == t["uri"] && o["client"] == t["client"] && us(&o["delivery_ts"]) == us(&t["delivery_ts"])
            })
            .unwrap_or_else(|| panic!("no row for {t}"));
        assert_eq!(o["delivery_protocol"], t["delivery_protocol"], "{t}");
        assert!((ms(&o["media_time_s"]) - ms(&t["media_time_s"])).abs() < 1e-9, "{o}\n{t}");
        assert_eq!(us(&o["ingest_ts"]), us(&t["ingest_ts"]), "{o}\n{t}");
        assert_eq!(o["ingest_frame"], t["ingest_frame"], "{o}\n{t}");
        assert_eq!(us(&o["ingest_end_ts"]), us(&t["ingest_end_ts"]), "{o}\n{t}");
        assert_eq!(us(&o["delivery_end_ts"]), us(&t["delivery_end_ts"]), "{o}\n{t}");
        assert_eq!(o["latency_ms"].to_string(), format!("{:.3}", ms(&t["latency_ms"])), "{o}\n{t}");
        let hold = t["server_hold_ms"].as_f64().map_or("null".to_string(), |h| format!("{h:.3}"));
        assert_eq!(o["server_hold_ms"].to_string(), hold, "{o}\n{t}");
    }
}

#[test]
fn rtmp_to_hls_and_dash_pipeline_equals_tshark_and_ffprobe() {
    let sample = "lab-rtmp-hls-dash.pcap";
    let (ours, theirs) = (lab(sample), fixture(sample));
    pipelines_agree(ours["pipeline"].as_array().unwrap(), theirs["pipeline"].as_array().unwrap());
    // Both delivery protocols matched, each at its own clock offset.
    for (proto, rows) in [("hls", 10), ("dash", 7)] {
        let n = ours["pipeline"].as_array().unwrap().iter().filter(|r| r["delivery_protocol"] == proto).count();
        assert_eq!(n, rows, "{proto}");
        let offset = ours["pipeline"].as_array().unwrap().iter().find(|r| r["delivery_protocol"] == proto).unwrap()
            ["offset_s"]
            .as_f64()
            .unwrap();
        assert!((offset - ms(&theirs["offsets"][proto]["offset_s"])).abs() < 1e-9, "{proto} offset {offset}");
    }
    // What could not be matched, and why: audio-only DASH segments and 404s.
    let mut a: Vec<String> = ours["unmatched"].as_array().unwrap().iter().map(|u| u["uri"].to_string()).collect();
    let mut b: Vec<String> =
        theirs["pipeline_unmatched"].as_array().unwrap().iter().map(|u| u["uri"].to_string()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn the_lab_table_lists_both_delivery_protocols_with_their_phases() {
    let sample = "lab-rtmp-hls-dash.pcap";
    let (ours, theirs) = (lab(sample), fixture(sample));
    let sessions = ours["protocols"].as_array().unwrap();
    let publish = &theirs["phases"]["rtmp_publish"][0];
    let rtmp = sessions.iter().find(|s| s["protocol"] == "rtmp").unwrap();
    let phase = |s: &Value, name: &str| -> (i64, i64) {
        let p =
            s["phases"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}: {s}"));
        (us(&p["start_ts"]), us(&p["end_ts"]))
    };
    assert_eq!(phase(rtmp, "tcp_handshake").0, us(&publish["syn_ts"]));
    assert_eq!(phase(rtmp, "rtmp_handshake").0, us(&publish["c0_ts"]));
    assert_eq!(phase(rtmp, "connect"), (us(&publish["connect_ts"]), us(&publish["connect_result_ts"])));
    assert_eq!(phase(rtmp, "publish"), (us(&publish["publish_ts"]), us(&publish["publish_start_ts"])));
    assert_eq!(phase(rtmp, "first_keyframe").1, us(&publish["first_keyframe_ts"]));
    let ttfm = us(&publish["first_keyframe_ts"]) - us(&publish["syn_ts"]);
    assert_eq!(rtmp["time_to_first_media_ms"].to_string(), format!("{:.3}", ttfm as f64 / 1000.0));
    for p in theirs["phases"]["players"].as_array().unwrap() {
        let proto = p["delivery_protocol"].as_str().unwrap();
        let s = sessions
            .iter()
            .find(|s| s["protocol"] == proto && s["client"] == p["player"])
            .unwrap_or_else(|| panic!("no {proto} session for {p}"));
        let ttfb = if proto == "hls" { "playlist_ttfb" } else { "manifest_ttfb" };
        assert_eq!(
            phase(s, ttfb),
            (us(&p["first_playlist_request_ts"]), us(&p["first_playlist_response_first_byte_ts"]))
        );
        assert_eq!(phase(s, "first_segment").1, us(&p["first_segment_complete_ts"]));
        let ttfm = us(&p["first_segment_complete_ts"]) - us(&p["first_playlist_request_ts"]);
        assert_eq!(s["time_to_first_media_ms"].to_string(), format!("{:.3}", ttfm as f64 / 1000.0));
        // Delivery latency: the median of this player's pipeline rows in the fixture.
        let mut lat: Vec<f64> = theirs["pipeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["delivery_protocol"] == proto)
            .map(|r| ms(&r["latency_ms"]))
            .collect();
        lat.sort_by(f64::total_cmp);
        let n = lat.len();
        let median = if n % 2 == 1 { lat[n / 2] } else { (lat[n / 2 - 1] + lat[n / 2]) / 2.0 };
        assert!(
            (ms(&s["delivery_latency_ms"]) - median).abs() < 0.0015,
            "{proto}: {} vs {median}",
            s["delivery_latency_ms"]
        );
        // Every number says how it was computed and which frames to look at.
        assert!(s["explain"]["time_to_first_media_ms"]["frames"].as_array().unwrap().len() == 2, "{s}");
    }
}

#[test]
fn a_relay_holding_responses_50_ms_moves_the_delivery_latency_by_50_ms() {
    let sample = "lab-hls-relay-delay.pcap";
    let (ours, theirs) = (lab(sample), fixture(sample));
    pipelines_agree(ours["pipeline"].as_array().unwrap(), theirs["pipeline"].as_array().unwrap());
    let check = &theirs["relay_check"];
    let delay = ms(&check["expected_delay_ms"]);
    let rows = ours["pipeline"].as_array().unwrap();
    let mut pairs = 0;
    for seg in check["segments"].as_array().unwrap() {
        let row = |client: &Value| {
            rows.iter()
                .find(|r| r["uri"] == seg["uri"] && r["client"] == *client)
                .unwrap_or_else(|| panic!("no row for {seg}"))
        };
        let (player, server) = (row(&seg["player_client"]), row(&seg["server_client"]));
        // Same media, same ingest: only the delivery moved.
        assert_eq!(player["ingest_ts"], server["ingest_ts"]);
        let moved = ms(&player["latency_ms"]) - ms(&server["latency_ms"]);
        assert!((moved - delay).abs() <= 1.0, "{}: moved {moved} ms", seg["uri"]);
        pairs += 1;
    }
    assert!(pairs >= 5, "{pairs}");
    // And the sessions' delivery latency (their medians) moved by it too.
    let sessions = ours["protocols"].as_array().unwrap();
    let hls: Vec<&Value> = sessions.iter().filter(|s| s["protocol"] == "hls").collect();
    assert_eq!(hls.len(), 2, "the player's leg and the relay's leg");
    let relay_port = check["relay_port"].as_u64().unwrap().to_string();
    let (p, s) =
        if hls[0]["server"].as_str().unwrap().ends_with(&relay_port) { (hls[0], hls[1]) } else { (hls[1], hls[0]) };
    let moved = ms(&p["delivery_latency_ms"]) - ms(&s["delivery_latency_ms"]);
    assert!((moved - delay).abs() <= 1.0, "sessions moved {moved} ms");
}

/// WebRTC through TURN: coturn receives each SRTP packet from one peer on one 5-tuple and sends
/// it to the other on another. The lab pairs the two sightings of every packet (same SSRC and
/// sequence number) and reports how long the relay held it — equal to the pairs computed from
/// tshark's RTP fields (`samples/relay-fixture.py`), per stream and per video frame.
#[test]
fn turn_relay_latency_per_packet_equals_tshark() {
    let sample = "webrtc-aiortc-turn.pcap";
    let ours = lab(sample);
    let p = root().join("samples/fixtures").join(format!("{sample}.relay.json"));
    let theirs: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let report = common::report(&root().join("samples").join(sample));
    let ends = |flow: &Value| {
        let f = report["flows"].as_array().unwrap().iter().find(|f| f["id"] == *flow).unwrap();
        let mut v = vec![f["client"].as_str().unwrap().to_string(), f["server"].as_str().unwrap().to_string()];
        v.sort();
        serde_json::json!(v)
    };
    let relays = ours["relays"].as_array().unwrap();
    assert_eq!(relays.len(), theirs["relays"].as_array().unwrap().len());
    for t in theirs["relays"].as_array().unwrap() {
        let o = relays
            .iter()
            .find(|o| o["ssrc"] == t["ssrc"] && ends(&o["from_flow"]) == t["from"] && ends(&o["to_flow"]) == t["to"])
            .unwrap_or_else(|| panic!("no relay {t}"));
        assert_eq!(o["packets"], t["packets"], "{t}");
        for k in ["min_ms", "median_ms", "max_ms"] {
            assert_eq!(o[k].to_string(), format!("{:.3}", ms(&t[k])), "{k} {t}");
        }
    }
    // One pipeline row per marker packet, with its two frames and times.
    let rows: Vec<&Value> =
        ours["pipeline"].as_array().unwrap().iter().filter(|r| r["ingest_protocol"] == "srtp").collect();
    let marked = theirs["marker_rows"].as_array().unwrap();
    assert_eq!(rows.len(), marked.len());
    for t in marked {
        let unit = format!("ssrc {} seq {}", t["ssrc"].as_str().unwrap(), t["seq"]);
        let o = rows.iter().find(|r| r["unit"] == unit.as_str()).unwrap_or_else(|| panic!("no row {unit}"));
        assert_eq!((&o["ingest_frame"], &o["delivery_frame"]), (&t["ingest_frame"], &t["delivery_frame"]), "{unit}");
        assert_eq!(us(&o["ingest_ts"]), us(&t["ingest_ts"]), "{unit}");
        assert_eq!(us(&o["delivery_ts"]), us(&t["delivery_ts"]), "{unit}");
        assert_eq!(o["latency_ms"].to_string(), format!("{:.3}", ms(&t["latency_ms"])), "{unit}");
    }
    // The WebRTC sessions' delivery latency is the relay's: no longer unknown.
    for s in ours["protocols"].as_array().unwrap().iter().filter(|s| s["protocol"] == "webrtc") {
        assert!(s["delivery_latency_ms"].is_number(), "{s}");
    }
}
