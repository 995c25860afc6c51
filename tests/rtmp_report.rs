//! The `rtmp` report section on real captures: roles, names (masked unless --show-secrets),
//! latencies that equal the frame times tshark shows for the same messages, message counts,
//! media tracks, and a connection joined mid-way.

mod common;

use common::{analyse, root, tshark_micros};
use serde_json::Value;
use streamscope::Config;

fn rtmp_section(capture: &str, show: bool) -> Vec<Value> {
    let (e, s) = analyse(&root().join("samples").join(capture), Config { show_secrets: show, ..Config::default() });
    let r = streamscope::report::json::build(&e, &s);
    r["rtmp"].as_array().cloned().unwrap_or_default()
}

fn fixture(capture: &str) -> Value {
    let p = root().join("samples/fixtures").join(format!("{capture}.rtmp.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// tshark's frame time (µs) of the first message matching `pred`.
fn frame_us(flow: &Value, pred: impl Fn(&Value) -> bool) -> i64 {
    let m = flow["messages"].as_array().unwrap().iter().find(|m| pred(m)).expect("message in fixture");
    tshark_micros(m["frame_ts"].as_str().unwrap())
}

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn publish_and_play_sessions_with_latencies_from_tshark_frames() {
    let cap = "rtmp-publish-play.pcapng";
    let ours = rtmp_section(cap, false);
    let fx = fixture(cap);
    assert_eq!(ours.len(), 2);
    for (r, f) in ours.iter().zip(fx["flows"].as_array().unwrap()) {
        assert_eq!(r["app"], "live");
        assert_eq!(r["stream"], "st****", "stream keys are masked by default");
        let connect = frame_us(f, |m| m["command"] == "connect");
        let result = frame_us(f, |m| m["command"] == "_result" && m["transaction_id"] == 1);
        assert!((ms(&r["connect_ms"]) - (result - connect) as f64 / 1000.0).abs() < 0.0015, "{}", r["connect_ms"]);
        let create = frame_us(f, |m| m["command"] == "createStream");
        let tx = f["messages"].as_array().unwrap().iter().find(|m| m["command"] == "createStream").unwrap()
            ["transaction_id"]
            .clone();
        let created = frame_us(f, |m| m["command"] == "_result" && m["transaction_id"] == tx);
        assert!((ms(&r["create_stream_ms"]) - (created - create) as f64 / 1000.0).abs() < 0.0015);
        // Message counts per type equal tshark's.
        let mut theirs = std::collections::BTreeMap::new();
        for m in f["messages"].as_array().unwrap() {
            *theirs.entry(m["type"].as_u64().unwrap()).or_insert(0u64) += 1;
        }
        let names = [(8, "audio"), (9, "video"), (20, "amf0_command"), (18, "amf0_data"), (1, "set_chunk_size")];
        for (t, n) in names {
            assert_eq!(r["messages"][n].as_u64().unwrap_or(0), theirs.get(&t).copied().unwrap_or(0), "{n}");
        }
        assert_eq!(r["handshake"]["kind"], "digest", "ffmpeg uses the digest handshake");
        assert_eq!(r["chunk_size_s2c"], 4096, "nginx-rtmp's chunk size");
    }
    let (publish, play) = (&ours[0], &ours[1]);
    assert_eq!(publish["role"], "publish");
    assert_eq!(play["role"], "play");
    let f0 = &fx["flows"][0];
    let p = frame_us(f0, |m| m["command"] == "publish");
    let started = frame_us(f0, |m| m["code"] == "NetStream.Publish.Start");
    assert!((ms(&publish["publish_ms"]) - (started - p) as f64 / 1000.0).abs() < 0.0015);
    let f1 = &fx["flows"][1];
    let p = frame_us(f1, |m| m["command"] == "play");
    let started = frame_us(f1, |m| m["code"] == "NetStream.Play.Start");
    assert!((ms(&play["play_ms"]) - (started - p) as f64 / 1000.0).abs() < 0.0015);
    // Media: H.264 + AAC at 15 fps as ffmpeg was told; onMetaData says the same.
    assert_eq!(publish["video"]["codec"], "avc");
    assert_eq!(publish["audio"]["codec"], "aac");
    assert!((ms(&publish["video"]["fps"]) - 15.0).abs() < 0.1);
    assert_eq!(publish["metadata_fps"].as_f64(), Some(15.0));
    assert_eq!(publish["metadata"]["width"].as_f64(), Some(320.0));
    assert!(publish["video"]["keyframes"].as_u64().unwrap() >= 2);
    assert_eq!(publish["video"]["stalls"], 0);
    // Commands in order, with onStatus codes.
    let names: Vec<&str> =
        publish["commands"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        &names[..8],
        ["connect", "_result", "releaseStream", "FCPublish", "createStream", "_result", "publish", "onStatus"]
    );
}

#[test]
fn show_secrets_reveals_the_stream_key() {
    let ours = rtmp_section("rtmp-publish-play.pcapng", true);
    assert_eq!(ours[0]["stream"], "streamscope");
}

#[test]
fn chunk_size_8192_on_port_19350() {
    let ours = rtmp_section("rtmp-port19350-chunk8192.pcap", false);
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["chunk_size_c2s"], 8192);
    assert_eq!(ours[0]["chunk_size_s2c"], 8192);
    assert_eq!(ours[0]["role"], "publish");
    assert!(ours[0]["video"]["frames"].as_u64().unwrap() > 20);
}

#[test]
fn connection_joined_mid_way_resynchronises() {
    let ours = rtmp_section("tcp-midstream.pcap", false);
    let mid =
        ours.iter().find(|r| r["chunk_stream"]["c2s"]["resyncs"].as_u64() > Some(0)).expect("a resynchronised flow");
    assert_eq!(mid["chunk_stream"]["c2s"]["relative_timestamps"], true);
    // Everything after the first confirmed chunk boundary is decoded: ~170 of the 180
    // messages the publisher sent after the cut.
    assert!(mid["messages"]["audio"].as_u64().unwrap() > 100, "{}", mid["messages"]);
    assert!(mid["messages"]["video"].as_u64().unwrap() > 30);
    assert_eq!(mid["video"]["codec"], "avc");
}
