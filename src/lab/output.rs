//! The lab as text (a table for people) and CSV (one tidy table for spreadsheets).

use super::{Lab, Metric};
use crate::report::{json_ms, json_ts};
use std::fmt::Write as _;

fn ms(m: &Metric) -> String {
    m.value_ms.map_or_else(|| "—".to_string(), |v| format!("{v:.3}"))
}

/// The comparison table, the phases of each session and the pipeline, as text.
pub fn text(lab: &Lab) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Latency lab: {} sessions, {} delivered units matched to their ingest",
        lab.sessions.len(),
        lab.pipeline.len()
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<7} {:>5}  {:<60} {:>14} {:>12} {:>13} {:>10}",
        "proto", "flow", "session", "first media ms", "control ms", "delivery ms", "jitter ms"
    );
    for x in &lab.sessions {
        let who = format!("{} {} → {}", x.label, x.client, x.server);
        let who: String = who.chars().take(60).collect();
        let _ = writeln!(
            s,
            "{:<7} {:>5}  {:<60} {:>14} {:>12} {:>13} {:>10}",
            x.protocol,
            x.flow,
            who,
            ms(&x.time_to_first_media),
            ms(&x.control_rtt),
            ms(&x.delivery_latency),
            ms(&x.jitter)
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Phases (ms from the session's start: start +duration):");
    for x in &lab.sessions {
        if x.phases.is_empty() {
            continue;
        }
        let steps: Vec<String> = x
            .phases
            .iter()
            .map(|p| format!("{} @{:.3} +{:.3}", p.name, p.start.ms_since(x.start), p.duration_ms()))
            .collect();
        let _ = writeln!(s, "  {} flow {}: {}", x.protocol, x.flow, steps.join(" | "));
    }
    if !lab.pipeline.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Pipeline (latency = first byte toward the viewer − first frame in; hold = − next keyframe in):"
        );
        let _ = writeln!(
            s,
            "{:<6} {:>5} {:<28} {:>10} {:>11} {:>10}  frames",
            "via", "flow", "unit", "media s", "latency ms", "hold ms"
        );
        const SHOWN: usize = 40;
        for r in lab.pipeline.iter().take(SHOWN) {
            let unit: String = r.uri.clone().or_else(|| r.unit.clone()).unwrap_or_default().chars().take(28).collect();
            let _ = writeln!(
                s,
                "{:<6} {:>5} {:<28} {:>10} {:>11.3} {:>10}  {}→{}",
                r.delivery_protocol,
                r.delivery_flow,
                unit,
                r.media_time_s.map_or_else(|| "—".into(), |m| format!("{m:.3}")),
                r.latency_ms(),
                r.server_hold_ms().map_or_else(|| "—".into(), |h| format!("{h:.3}")),
                r.ingest_frame,
                r.delivery_frame.map_or_else(|| "?".into(), |f| f.to_string())
            );
        }
    }
    if lab.pipeline.len() > 40 {
        let _ = writeln!(s, "  … {} more rows (all of them with --format json or csv)", lab.pipeline.len() - 40);
    }
    if !lab.relays.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Relayed RTP (the same packet in on one flow, out on another):");
        for r in &lab.relays {
            let _ = writeln!(
                s,
                "  ssrc 0x{:08x} flow {} → {}: {} packets, held {:.3} / {:.3} / {:.3} ms (min / median / max)",
                r.ssrc, r.from_flow, r.to_flow, r.packets, r.latency_ms.0, r.latency_ms.1, r.latency_ms.2
            );
        }
    }
    if !lab.unmatched.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Not matched ({}):", lab.unmatched.len());
        for u in lab.unmatched.iter().take(20) {
            let _ = writeln!(
                s,
                "  {} flow {} {}: {}",
                u.delivery_protocol,
                u.flow,
                u.uri.as_deref().unwrap_or(""),
                u.reason
            );
        }
    }
    s
}

/// RFC 4180 field quoting.
fn q(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(v: Option<f64>) -> String {
    v.map(|x| json_ms(x).to_string()).filter(|x| x != "null").unwrap_or_default()
}

/// The lab as one CSV table: a `session` row per session, a `phase` row per phase and a
/// `pipeline` row per matched unit; empty cells where a column does not apply.
pub fn csv(lab: &Lab) -> String {
    let mut s = String::from(
        "row,protocol,flow,label,client,server,phase,start_ts,end_ts,duration_ms,time_to_first_media_ms,control_rtt_ms,delivery_latency_ms,jitter_ms,delivery_protocol,uri,media_time_s,ingest_ts,delivery_ts,latency_ms,server_hold_ms\r\n",
    );
    for x in &lab.sessions {
        let _ = write!(
            s,
            "session,{},{},{},{},{},,{},,,{},{},{},{},,,,,,,\r\n",
            x.protocol,
            x.flow,
            q(&x.label),
            q(&x.client),
            q(&x.server),
            json_ts(x.start),
            num(x.time_to_first_media.value_ms),
            num(x.control_rtt.value_ms),
            num(x.delivery_latency.value_ms),
            num(x.jitter.value_ms)
        );
        for p in &x.phases {
            let _ = write!(
                s,
                "phase,{},{},{},{},{},{},{},{},{},,,,,,,,,,,\r\n",
                x.protocol,
                x.flow,
                q(&x.label),
                q(&x.client),
                q(&x.server),
                p.name,
                json_ts(p.start),
                json_ts(p.end),
                num(Some(p.duration_ms()))
            );
        }
    }
    for r in &lab.pipeline {
        let _ = write!(
            s,
            "pipeline,{},{},,{},,,,,,,,,,{},{},{},{},{},{},{}\r\n",
            r.ingest_protocol,
            r.delivery_flow,
            q(&r.client),
            r.delivery_protocol,
            q(r.uri.as_deref().unwrap_or("")),
            r.media_time_s.map(|m| m.to_string()).unwrap_or_default(),
            json_ts(r.ingest_ts),
            json_ts(r.delivery_ts),
            num(Some(r.latency_ms())),
            num(r.server_hold_ms())
        );
    }
    s
}
