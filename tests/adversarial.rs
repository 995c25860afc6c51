//! Hostile input against the real binary: memory stays bounded by the caps and every cap says
//! what it dropped. Each case writes a capture built to exhaust one table — a million flows'
//! worth of one-packet flows, a TCP stream whose holes are never filled, RTMP messages that
//! never complete, a 4 GB Content-Length, a huge SDP — runs `streamscope --report json` on it
//! and checks the report's counters and the child's peak resident memory (getrusage).

#![cfg(unix)]

mod common;

use common::synth::{Conn, Pcap, PSH_ACK};
use std::path::PathBuf;
use std::process::Command;

/// Peak RSS any case may reach, in KiB.
const MAX_RSS_KIB: i64 = 150 * 1024;

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("streamscope-adv-{}-{name}", std::process::id()))
}

/// Runs the binary on a capture; returns the report and the child's own peak RSS in KiB
/// (`--stats`, read from its VmHWM: getrusage's figure for a child started by vfork includes
/// the test process's own peak).
fn run(path: &PathBuf, extra: &[&str]) -> (serde_json::Value, i64) {
    let out = Command::new(env!("CARGO_BIN_EXE_streamscope"))
        .arg(path)
        .args(["--report", "json", "-q", "--stats"])
        .args(extra)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rss = common::peak_rss_kib(&out.stderr);
    eprintln!("{}: peak RSS {rss} KiB", path.display());
    (serde_json::from_slice(&out.stdout).unwrap(), rss)
}

#[test]
fn a_flood_of_one_packet_flows_is_capped_and_counted() {
    let path = tmp("flows.pcap");
    let mut p = Pcap::create(&path);
    let n: u32 = 300_000;
    for i in 0..n {
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        p.udp((src, 1024 + (i % 50_000) as u16), ([10, 255, 0, 1], 5004), b"not much of anything");
    }
    drop(p);
    let (r, rss) = run(&path, &["--max-flows", "20000"]);
    assert_eq!(r["flows"].as_array().unwrap().len(), 20_000);
    assert_eq!(r["capture"]["flow_table"]["flows_over_cap"], 280_000);
    assert_eq!(r["capture"]["flow_table"]["packets_untracked"], 280_000);
    assert_eq!(r["capture"]["packets"], n);
    assert!(rss < MAX_RSS_KIB, "peak RSS {rss} KiB");
}

#[test]
fn a_tcp_stream_whose_holes_never_fill_is_bounded() {
    let path = tmp("holes.pcap");
    let mut p = Pcap::create(&path);
    let mut c = Conn::open(&mut p, 40000, 8080);
    c.send(&mut p, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // 60,000 segments of 1,400 bytes, each one segment past a hole: 84 MB out of order.
    for i in 0..20_000u32 {
        let seq = c.cseq.wrapping_add(1400 + i * 2800);
        p.tcp(c.c, c.s, seq, c.sseq, PSH_ACK, &[0x41; 1400]);
    }
    drop(p);
    let (r, rss) = run(&path, &[]);
    let tcp = &r["flows"][0]["tcp"];
    assert!(tcp["reassembly_cap_drops"].as_u64().unwrap() > 0, "{tcp}");
    assert!(rss < MAX_RSS_KIB, "peak RSS {rss} KiB");
}

#[test]
fn rtmp_messages_that_never_complete_are_bounded() {
    let path = tmp("rtmp.pcap");
    let mut p = Pcap::create(&path);
    let mut c = Conn::open(&mut p, 40001, 1935);
    // Handshake: C0C1, S0S1S2, C2.
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0u8, 1536));
    c.send(&mut p, &c0c1);
    let mut s = vec![3u8];
    s.extend(std::iter::repeat_n(0u8, 3072));
    c.reply(&mut p, &s);
    c.send(&mut p, &[0u8; 1536]);
    // 60 chunk streams each start a 16 MB video message and then only ever send type-3
    // continuation chunks of 128 bytes, round-robin: ~40 MB in, no message completes.
    let mut data = Vec::new();
    for csid in 4u8..64 {
        data.extend_from_slice(&[csid, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0]);
        data.extend_from_slice(&[0x17; 128]);
    }
    for round in 0..5_000u32 {
        for csid in 4u8..64 {
            data.push(0xC0 | csid);
            data.extend_from_slice(&[(round % 251) as u8; 128]);
        }
        if data.len() > 1 << 20 {
            c.send(&mut p, &data);
            data.clear();
        }
    }
    c.send(&mut p, &data);
    drop(p);
    let (r, rss) = run(&path, &[]);
    assert_eq!(r["flows"][0]["protocol"], "rtmp");
    assert!(r["rtmp"].as_array().is_some_and(|a| !a.is_empty()), "{}", r["rtmp"]);
    assert!(rss < MAX_RSS_KIB, "peak RSS {rss} KiB");
}

#[test]
fn a_4_gb_content_length_streams_through() {
    let path = tmp("http.pcap");
    let mut p = Pcap::create(&path);
    let mut c = Conn::open(&mut p, 40002, 80);
    c.send(&mut p, b"GET /huge.ts HTTP/1.1\r\nHost: x\r\n\r\n");
    c.reply(&mut p, b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: 4294967296\r\n\r\n");
    // 50 MB of MPEG-TS null packets arrive; the other 4 GB never do.
    let mut ts = vec![0x47u8, 0x1f, 0xff, 0x10];
    ts.extend(std::iter::repeat_n(0xffu8, 184));
    let block: Vec<u8> = ts.iter().copied().cycle().take(188 * 7 * 100).collect();
    for _ in 0..(50_000_000 / block.len()) {
        c.reply(&mut p, &block);
    }
    drop(p);
    let (r, rss) = run(&path, &[]);
    let x = &r["http"][0];
    assert_eq!(x["content_length"], 4_294_967_296u64);
    assert!(x["body_bytes"].as_u64().unwrap() >= 49_000_000, "{x}");
    assert!(rss < MAX_RSS_KIB, "peak RSS {rss} KiB");
}

#[test]
fn a_huge_sdp_is_capped() {
    let path = tmp("sdp.pcap");
    let mut p = Pcap::create(&path);
    let mut c = Conn::open(&mut p, 40003, 554);
    c.send(&mut p, b"DESCRIBE rtsp://x/y RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    let mut sdp = String::from("v=0\r\no=- 0 0 IN IP4 10.0.0.2\r\ns=x\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n");
    for i in 0..20_000u32 {
        sdp.push_str(&format!(
            "m=video {} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track{i}\r\n",
            10_000 + i * 2
        ));
    }
    let head =
        format!("RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n", sdp.len());
    c.reply(&mut p, head.as_bytes());
    c.reply(&mut p, sdp.as_bytes());
    drop(p);
    let (r, rss) = run(&path, &[]);
    assert_eq!(r["rtsp"][0]["status"], 200);
    assert!(rss < MAX_RSS_KIB, "peak RSS {rss} KiB");
}

#[test]
fn a_flood_of_flows_that_keep_their_probes_waiting_is_bounded() {
    // 20,000 UDP flows of one 8 KB datagram each (kept for the replay while the flow is
    // probed) and 10,000 TCP connections each sending 8 KB of an HTTP request line that never
    // ends (the HTTP probe keeps asking for more): ~240 MB of probe buffers without a budget.
    let path = tmp("probes.pcap");
    let mut p = Pcap::create(&path);
    let big = vec![0x5au8; 8000];
    for i in 0..20_000u32 {
        let src = [10, 1, (i >> 8) as u8, i as u8];
        p.udp((src, 20_000 + (i % 40_000) as u16), ([10, 255, 0, 2], 9), &big);
    }
    let mut line = b"GET /".to_vec();
    line.extend(std::iter::repeat_n(b'a', 7_000));
    for i in 0..10_000u32 {
        let mut c = Conn::open(&mut p, 10_000 + i as u16, 8000);
        c.send(&mut p, &line);
    }
    drop(p);
    let (r, rss) = run(&path, &[]);
    assert_eq!(r["flows"].as_array().unwrap().len(), 30_000);
    assert!(r["capture"]["probe_over_budget"].as_u64().unwrap() > 1_000, "{}", r["capture"]);
    assert!(rss < MAX_RSS_KIB, "peak RSS {rss} KiB");
}
