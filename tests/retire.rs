//! Flows leave the table as they end — closed TCP connections after TIME_WAIT, DNS flows after
//! 30 s idle — and their records and report entries are read back from the spill logs: the
//! report must not change, and memory must stay low.

#![cfg(unix)]

mod common;

use common::synth::{Conn, Pcap, ACK};
use std::path::Path;
use std::process::Command;

/// Runs the library on a capture with the given flow limits; the report and the flow table's
/// spilled bytes.
fn analyse_with(path: &Path, flows: streamscope::flow::FlowLimits) -> (serde_json::Value, u64) {
    let (engine, summary) = common::analyse(path, streamscope::Config { flows, ..Default::default() });
    let spilled = engine.flows.ended_footprint().1;
    (streamscope::report::json::build(&engine, &summary), spilled)
}

#[test]
fn ended_flows_leave_the_table_and_the_report_stays_the_same() {
    // 6,000 short HTTP connections and 6,000 DNS query/answer pairs over ten minutes of
    // capture time: closed connections leave the table after 60 s, DNS flows after 30 s idle.
    let path = std::env::temp_dir().join(format!("streamscope-retire-{}.pcap", std::process::id()));
    let mut p = Pcap::create(&path);
    let query: &[u8] = &[
        0x1a, 0x2b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o',
        b'm', 0, 0, 1, 0, 1,
    ];
    let mut answer = query.to_vec();
    answer[2] = 0x81;
    answer[3] = 0x80;
    answer[7] = 1;
    answer.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]);
    for i in 0..6_000u32 {
        let port = 10_000 + (i % 50_000) as u16;
        let mut c = Conn::open(&mut p, port, 80);
        c.send(&mut p, format!("GET /x{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        c.reply(&mut p, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        p.tcp(c.c, c.s, c.cseq, c.sseq, 0x11, &[]);
        p.tcp(c.s, c.c, c.sseq, c.cseq + 1, 0x11, &[]);
        p.tcp(c.c, c.s, c.cseq + 1, c.sseq + 1, ACK, &[]);
        let host = [10, 1, (i >> 8) as u8, i as u8];
        p.udp((host, port), ([10, 0, 0, 53], 53), query);
        p.udp(([10, 0, 0, 53], 53), (host, port), &answer);
        p.1 += 100_000; // 0.1 s between connections
    }
    drop(p);
    let kept =
        streamscope::flow::FlowLimits { tcp_closed_secs: 1 << 30, ended_memory: usize::MAX, ..Default::default() };
    let spilled = streamscope::flow::FlowLimits { ended_memory: 0, ..Default::default() };
    let out = Command::new(env!("CARGO_BIN_EXE_streamscope"))
        .arg(&path)
        .args(["--report", "json", "-q", "--stats"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rss = common::peak_rss_kib(&out.stderr);
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (a, a_spilled) = analyse_with(&path, kept);
    let (b, b_spilled) = analyse_with(&path, spilled);
    let _ = std::fs::remove_file(&path);
    assert_eq!(a_spilled, 0);
    assert!(b_spilled >= 12_000 * 184, "every ended flow's record went to the file: {b_spilled}");
    let closed = |r: &serde_json::Value| r["capture"]["flow_table"]["closed_expired"].as_u64().unwrap();
    let idle = |r: &serde_json::Value| r["capture"]["flow_table"]["idle_expired"].as_u64().unwrap();
    assert_eq!(closed(&a), 0);
    assert!(closed(&b) > 5_000, "closed connections left after 60 s: {}", closed(&b));
    assert!(idle(&b) > 5_000 && idle(&a) > 5_000, "DNS flows left after 30 s: {}", idle(&b));
    assert_eq!(b["flows"].as_array().unwrap().len(), 12_000);
    assert_eq!(b["flows"].as_array().unwrap().iter().filter(|f| f["protocol"] == "dns").count(), 6_000);
    for r in [&b, &c] {
        assert_eq!(r["flows"], a["flows"], "flows read back from the spill file equal the ones kept");
        assert_eq!(r["http"], a["http"]);
    }
    assert_eq!(a["http"].as_array().unwrap().len(), 6_000);
    assert!(rss < 100 * 1024, "peak RSS {rss} KiB");
}
