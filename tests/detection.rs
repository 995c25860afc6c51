//! Protocols are recognised by content, with ports only as a hint: RTMP on port 19350 and RTP
//! on random UDP ports are found without help; `--decode-as` overrides; a connection joined
//! mid-way falls back to the port table.

mod common;

use common::{analyse, report, root, shared_captures};
use std::str::FromStr;
use streamscope::app::DecodeAs;
use streamscope::Config;

fn labels(capture: &str) -> Vec<(String, String, String, String)> {
    let v = report(&root().join("samples").join(capture));
    v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["transport"].as_str().unwrap().to_string(),
                f["server"].as_str().unwrap().rsplit(':').next().unwrap().to_string(),
                f["protocol"].as_str().unwrap().to_string(),
                f["detected_by"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

fn has(l: &[(String, String, String, String)], transport: &str, port: &str, proto: &str, how: &str) -> bool {
    l.iter().any(|(t, p, pr, h)| t == transport && p == port && pr == proto && h == how)
}

#[test]
fn rtmp_on_a_non_default_port_by_content() {
    let l = labels("rtmp-port19350-chunk8192.pcap");
    assert!(has(&l, "tcp", "19350", "rtmp", "content"), "{l:?}");
    let l = labels("rtmp-publish-play.pcapng");
    assert_eq!(l.iter().filter(|x| x.2 == "rtmp" && x.3 == "content").count(), 2, "{l:?}");
}

#[test]
fn rtp_and_rtcp_on_random_udp_ports() {
    let l = labels("rtp-udp-random-port.pcap");
    for (port, proto) in [("41234", "rtp"), ("41235", "rtcp"), ("42346", "rtp"), ("42347", "rtcp")] {
        assert!(has(&l, "udp", port, proto, "content"), "{port} {proto}: {l:?}");
    }
}

#[test]
fn http_over_ipv4_ipv6_sll2_vlan() {
    let l = labels("hls-http-sll2.pcap");
    assert_eq!(l.len(), 6);
    assert!(l.iter().all(|x| x.2 == "http" && x.3 == "content"), "{l:?}");
    let l = labels("vlan-qinq.pcap");
    assert_eq!(l.iter().filter(|x| x.2 == "http").count(), 2, "{l:?}");
    // Plain datagrams of test bytes are not mistaken for RTP or RTCP.
    assert!(l.iter().filter(|x| x.0 == "udp").all(|x| x.2 == "unknown"), "{l:?}");
}

#[test]
fn midstream_connection_falls_back_to_the_port_hint() {
    let l = labels("tcp-midstream.pcap");
    assert!(has(&l, "tcp", "1935", "rtmp", "port"), "{l:?}");
    assert!(has(&l, "tcp", "1935", "rtmp", "content"), "{l:?}");
    let v = report(&root().join("samples").join("tcp-midstream.pcap"));
    let mid = v["flows"].as_array().unwrap().iter().find(|f| f["detected_by"] == "port").unwrap();
    assert_eq!(mid["tcp"]["midstream"], true);
    assert_eq!(mid["tcp"]["handshake_rtt_ms"], serde_json::Value::Null);
}

#[test]
fn decode_as_overrides_content() {
    let cfg = Config { decode_as: vec![DecodeAs::from_str("udp:5005=rtp").unwrap()], ..Config::default() };
    let (e, _) = analyse(&root().join("samples").join("vlan-qinq.pcap"), cfg);
    let forced: Vec<_> = e.flows.iter().filter(|r| r.server.port() == 5005).collect();
    assert!(!forced.is_empty());
    assert!(forced.iter().all(|r| r.protocol == "rtp" && r.detected_by == Some("decode-as")));
    assert!(DecodeAs::from_str("tcp:1=nosuch").is_err());
    assert!(DecodeAs::from_str("udp:1=rtmp").is_err());
}

#[test]
fn tunnelled_rtmp_on_port_6002_is_found_by_content() {
    let Some(shared) = shared_captures() else {
        eprintln!("skipped: ../shared/captures is not present");
        return;
    };
    // GTP-U tunnelled RTMP on port 6002 (tshark decodes it as X11 unless told).
    let v = report(&shared.join("rtmp").join("ndpi-rtmp-play-and-gtp.pcapng"));
    let flows = v["flows"].as_array().unwrap();
    assert!(
        flows.iter().any(|f| f["server"].as_str().unwrap().ends_with(":6002") && f["protocol"] == "rtmp"),
        "{flows:?}"
    );
    assert!(v["capture"]["tunnelled"].as_u64().unwrap() > 0);
}
