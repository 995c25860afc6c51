//! LL-HLS blocking playlist reload (draft-pantos-hls-rfc8216bis §6.2.5.2) by hls.js in
//! lowLatencyMode against an origin that holds `_HLS_msn`/`_HLS_part` requests: streamscope's
//! hold time of every blocking request equals the fixture's (request's last byte to the
//! response's first byte, tshark frame times) to the µs, so does whether the playlist returned
//! holds the part asked for, and every part the playlists listed is fetched or not as the
//! capture shows (`samples/hls-live-fixture.py`).

mod common;

use common::{report, report_micros, root, tshark_micros};
use serde_json::Value;

fn load() -> (Value, Value) {
    let fx: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("samples/fixtures/llhls-blocking.pcap.llhls.json")).unwrap(),
    )
    .unwrap();
    (report(&root().join("samples/llhls-blocking.pcap")), fx)
}

fn ms_micros(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    let (a, b) = s.split_once('.').unwrap_or((s, "0"));
    Some(a.parse::<i64>().unwrap() * 1000 + format!("{b:0<3}")[..3].parse::<i64>().unwrap())
}

fn player<'a>(rep: &'a Value, fx: &Value) -> &'a Value {
    let p = &fx["players"][0];
    rep["hls_players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["client"] == p["client"] && o["user_agent"] == p["user_agent"])
        .expect("the hls.js player")
}

#[test]
fn hold_times_equal_the_fixture() {
    let (rep, fx) = load();
    let ll = &player(&rep, &fx)["low_latency"];
    let ours = ll["blocking_reloads"].as_array().unwrap();
    let theirs = fx["players"][0]["blocking_reloads"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len());
    assert!(theirs.len() >= 40, "{}", theirs.len());
    for (o, t) in ours.iter().zip(theirs) {
        let uri = t["uri"].as_str().unwrap();
        assert_eq!(o["uri"], uri);
        assert_eq!(report_micros(&o["ts"]), tshark_micros(t["request_end_ts"].as_str().unwrap()), "{uri}");
        assert_eq!((&o["msn"], &o["part"]), (&t["msn"], &t["part"]), "{uri}");
        let got = o["hold_ms"].as_f64().map(|h| (h * 1000.0).round() as i64);
        assert_eq!(got, ms_micros(&t["hold_ms"]), "{uri} hold µs");
        assert_eq!(o["status"], t["status"], "{uri}");
        assert_eq!(o["satisfied"], t["satisfied"], "{uri} satisfied");
    }
    let s = &ll["blocking_summary"];
    assert_eq!(s["count"].as_u64(), Some(theirs.len() as u64));
    assert_eq!(s["unsatisfied"].as_u64(), Some(theirs.iter().filter(|t| t["satisfied"] == false).count() as u64));
}

#[test]
fn every_listed_part_fetched_or_not_as_the_capture_shows() {
    let (rep, fx) = load();
    let ll = &player(&rep, &fx)["low_latency"];
    let ours = ll["parts"].as_array().unwrap();
    let theirs = fx["players"][0]["parts"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "parts listed");
    let mut fetched = 0;
    for t in theirs {
        let uri = t["uri"].as_str().unwrap();
        let o = ours.iter().find(|o| o["uri"] == uri).unwrap_or_else(|| panic!("{uri} not listed"));
        assert_eq!((&o["msn"], &o["part"]), (&t["msn"], &t["part"]), "{uri}");
        assert_eq!(o["fetched"], t["fetched"], "{uri} fetched");
        if t["fetched"] == true {
            assert_eq!(report_micros(&o["ts"]), tshark_micros(t["fetch_ts"].as_str().unwrap()), "{uri}");
            assert_eq!(o["preload_hint"], t["before_listed"], "{uri} preload hint");
            fetched += 1;
        }
    }
    let s = &ll["parts_summary"];
    assert_eq!(s["fetched"].as_u64(), Some(fetched));
    assert_eq!(s["not_fetched"].as_u64(), Some(theirs.len() as u64 - fetched));
    assert!(fetched >= 40, "{fetched}");
    assert!(s["part_target_s"].as_f64().is_some());
}
