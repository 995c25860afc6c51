//! `--report text`: the same facts as the JSON report, for people.

use crate::capture::SourceSummary;
use crate::engine::Engine;
use crate::time::Timestamp;
use std::fmt::Write;

fn human_bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i < U.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U.get(i).copied().unwrap_or("B"))
    }
}

/// Renders the text report.
pub fn render(engine: &Engine, source: &SourceSummary) -> String {
    let c = &engine.capture;
    let mut s = String::new();
    let dur = match (c.first_ts, c.last_ts) {
        (Some(a), Some(b)) => b.secs_since(a),
        _ => 0.0,
    };
    let links: Vec<String> = c.link_types.iter().map(|l| l.name()).collect();
    let _ = writeln!(
        s,
        "Capture: {} packets, {} over {:.3} s ({}; link {})",
        c.packets,
        human_bytes(c.bytes),
        dur,
        source.format,
        links.join(", ")
    );
    let _ = writeln!(
        s,
        "  malformed {}  truncated {}  non-IP {}  other transports {}  IP fragments {} (reassembled {}, dropped {})",
        c.malformed,
        c.truncated,
        c.non_ip,
        c.other_transport,
        engine.defrag.stats.fragments,
        engine.defrag.stats.reassembled,
        engine.defrag.stats.dropped
    );
    if source.format == "live" {
        let _ = writeln!(
            s,
            "  drops: kernel {}  interface {}  channel {}",
            source.kernel_dropped.map_or("?".into(), |v| v.to_string()),
            source.if_dropped.map_or("?".into(), |v| v.to_string()),
            source.channel_dropped
        );
    }
    if let Some(w) = &source.warning {
        let _ = writeln!(s, "  warning: {w}");
    }
    let t = engine.flows.stats;
    if t.flows_over_cap > 0 {
        let _ =
            writeln!(s, "  flow table full: {} flows ({} packets) not tracked", t.flows_over_cap, t.packets_untracked);
    }
    let _ = writeln!(s, "\nFlows: {}", engine.flows.len());
    let _ = writeln!(
        s,
        "  {:>5} {:<4} {:<8} {:<46} {:>8} {:>10} {:>8} {:>10} {:>9}  tcp",
        "id", "l4", "proto", "client -> server", "pkts c>s", "bytes c>s", "pkts s>c", "bytes s>c", "dur s"
    );
    let origin = c.first_ts.unwrap_or_default();
    for r in engine.flows.iter() {
        let ends = format!("{} -> {}", r.client, r.server);
        let tcp = r.tcp.map_or(String::new(), |t| {
            let mut parts = Vec::new();
            if let Some(rtt) = t.handshake_rtt_ms {
                parts.push(format!("rtt {rtt:.3} ms"));
            }
            for (n, v) in [
                ("retrans", t.retransmissions),
                ("ooo", t.out_of_order),
                ("zero-win", t.zero_window),
                ("gap B", t.gaps),
            ] {
                if v > 0 {
                    parts.push(format!("{n} {v}"));
                }
            }
            if t.midstream {
                parts.push("mid-stream".into());
            }
            if t.rst {
                parts.push("RST".into());
            }
            parts.join(", ")
        });
        let _ = writeln!(
            s,
            "  {:>5} {:<4} {:<8} {:<46} {:>8} {:>10} {:>8} {:>10} {:>9.3}  {}",
            r.id,
            r.transport.as_str(),
            r.protocol,
            ends,
            r.dirs.c2s.packets,
            r.dirs.c2s.bytes,
            r.dirs.s2c.packets,
            r.dirs.s2c.bytes,
            r.last_ts.secs_since(r.first_ts),
            tcp
        );
    }
    let _ = origin;
    let mut lat = String::new();
    for (p, m, samples) in engine.app.latency.iter() {
        if let Some(x) = samples.summary() {
            let _ = writeln!(
                lat,
                "  {:<8} {:<22} n={:<6} min {:>9.3}  median {:>9.3}  p95 {:>9.3}  max {:>9.3} ms",
                p, m, x.count, x.min, x.median, x.p95, x.max
            );
        }
    }
    if !lat.is_empty() {
        let _ = writeln!(s, "\nLatency:\n{lat}");
    }
    let _ = Timestamp::default();
    s
}
