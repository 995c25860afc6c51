//! `--report json`: one JSON object (report contract: `capture`, `flows`, `latency`, and each
//! protocol's section once its dissector lands).

use super::{json_ms, json_ts, micros_of};
use crate::capture::SourceSummary;
use crate::engine::Engine;
use crate::flow::FlowRecord;
use serde_json::{json, Map, Value};

/// Builds the whole report.
pub fn build(engine: &Engine, source: &SourceSummary) -> Value {
    let mut out = base(engine, source);
    let flows: Vec<Value> = engine.flows.iter().map(|r| flow_json(&r, anomalies(engine, &r))).collect();
    out.insert("flows".into(), Value::Array(flows));
    Value::Object(out)
}

/// Writes the whole report as one line of JSON, the same as [`build`] gives, without holding
/// every flow's or every section entry's JSON in memory at once (a capture with a million
/// flows would need GBs): entries are copied from the section store as text, and only the
/// sections that get cross-section facts are parsed, one entry at a time.
pub fn write(engine: &Engine, source: &SourceSummary, w: &mut impl std::io::Write) -> std::io::Result<()> {
    /// One top-level key's value.
    enum Part<'a> {
        Value(Value),
        Section(&'a str),
        Flows,
    }
    let mut parts: std::collections::BTreeMap<String, Part<'_>> = std::collections::BTreeMap::new();
    parts.insert("capture".into(), Part::Value(capture_json(engine, source)));
    for name in engine.app.sections.names() {
        parts.insert(name.into(), Part::Section(name));
    }
    let players = super::players::build(engine);
    if !players.is_empty() {
        parts.insert("hls_players".into(), Part::Value(Value::Array(players)));
    }
    parts.insert("latency".into(), Part::Value(engine.app.latency.to_json()));
    parts.insert("flows".into(), Part::Flows);
    let joined = Joined::new(engine);
    w.write_all(b"{")?;
    for (i, (k, part)) in parts.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        serde_json::to_writer(&mut *w, k)?;
        w.write_all(b":")?;
        match part {
            Part::Value(v) => serde_json::to_writer(&mut *w, v)?,
            Part::Flows => {
                w.write_all(b"[")?;
                for (i, r) in engine.flows.iter().enumerate() {
                    if i > 0 {
                        w.write_all(b",")?;
                    }
                    write_flow(&mut *w, &r, anomalies(engine, &r))?;
                }
                w.write_all(b"]")?;
            }
            Part::Section(name) => {
                w.write_all(b"[")?;
                if Joined::touches(name) {
                    for (i, mut v) in engine.app.sections.values(name).enumerate() {
                        if i > 0 {
                            w.write_all(b",")?;
                        }
                        joined.apply(name, &mut v);
                        serde_json::to_writer(&mut *w, &v)?;
                    }
                } else {
                    for (i, text) in engine.app.sections.texts(name).enumerate() {
                        if i > 0 {
                            w.write_all(b",")?;
                        }
                        w.write_all(&text)?;
                    }
                }
                w.write_all(b"]")?;
            }
        }
    }
    w.write_all(b"}\n")
}

/// Every section but `flows` (the UI builds its flow rows straight from the flow table).
pub fn base(engine: &Engine, source: &SourceSummary) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("capture".into(), capture_json(engine, source));
    let joined = Joined::new(engine);
    for name in engine.app.sections.names() {
        let entries = engine.app.sections.values(name).map(|mut v| {
            joined.apply(name, &mut v);
            v
        });
        out.insert(name.into(), Value::Array(entries.collect()));
    }
    let players = super::players::build(engine);
    if !players.is_empty() {
        out.insert("hls_players".into(), Value::Array(players));
    }
    out.insert("latency".into(), engine.app.latency.to_json());
    out
}

/// The `capture` section.
fn capture_json(engine: &Engine, source: &SourceSummary) -> Value {
    let c = &engine.capture;
    let link_type = match c.link_types.as_slice() {
        [] => source.link_types.first().map(|l| l.name()).map(Value::from).unwrap_or(Value::Null),
        [one] => Value::from(one.name()),
        many => Value::from(many.iter().map(|l| l.name()).collect::<Vec<_>>().join(",")),
    };
    let mut capture = json!({
        "format": source.format,
        "packets": c.packets,
        "bytes": c.bytes,
        "captured_bytes": c.captured_bytes,
        "first_ts": c.first_ts.map(json_ts).unwrap_or(Value::Null),
        "last_ts": c.last_ts.map(json_ts).unwrap_or(Value::Null),
        "link_type": link_type,
        "malformed": c.malformed,
        "truncated": c.truncated,
        "non_ip": c.non_ip,
        "other_transport": c.other_transport,
        "tunnelled": c.tunnelled,
        "unsupported_link": c.unsupported_link,
        "time_went_back": c.time_went_back,
        "ip_fragments": engine.defrag.stats,
        "flow_table": engine.flows.stats,
        "events": engine.app.timeline.total,
        "events_dropped": engine.app.timeline.dropped,
        "events_dropped_by_name": engine.app.timeline.dropped_by_name,
        "probe_over_budget": engine.app.probe_over_budget,
        "malformed_samples": c.malformed_samples,
        "warning": source.warning,
    });
    if let (Some(obj), true) = (capture.as_object_mut(), source.format == "live") {
        obj.insert("kernel_dropped".into(), json!(source.kernel_dropped));
        obj.insert("if_dropped".into(), json!(source.if_dropped));
        obj.insert("channel_dropped".into(), json!(source.channel_dropped));
        obj.insert("running_as".into(), json!(source.running_as));
    }
    capture
}

/// Facts one section's entries get from elsewhere (another section, signalling, the flow
/// table), gathered once per report so each entry is completed on its own.
struct Joined<'a> {
    engine: &'a Engine,
    /// RTP streams as stored.
    rtp: Vec<RtpSeen>,
}

/// What an RTCP or SIP entry needs of one RTP stream entry.
struct RtpSeen {
    flow: Option<u64>,
    ssrc: Option<Value>,
    clock_rate: Value,
    lost: Value,
    max_jitter_ms: Value,
}

impl<'a> Joined<'a> {
    /// Whether entries of `section` are completed here (the others are copied as they are).
    fn touches(section: &str) -> bool {
        matches!(section, "rtsp" | "rtcp" | "sip" | "rtmp")
    }

    fn new(engine: &'a Engine) -> Self {
        let needed = ["rtcp", "sip"].iter().any(|s| engine.app.sections.len(s) > 0);
        let rtp = if needed {
            engine
                .app
                .sections
                .values_as_stored("rtp")
                .map(|s| {
                    let get = |k: &str| s.get(k).cloned().unwrap_or(Value::Null);
                    RtpSeen {
                        flow: s.get("flow").and_then(Value::as_u64),
                        ssrc: s.get("ssrc").cloned(),
                        clock_rate: get("clock_rate"),
                        lost: get("lost"),
                        max_jitter_ms: get("max_jitter_ms"),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Joined { engine, rtp }
    }

    /// Completes one entry of `section`.
    fn apply(&self, section: &str, e: &mut Value) {
        let engine = self.engine;
        match section {
            "rtsp" => {
                // PLAY/RECORD → first RTP on the UDP ports its SETUP announced.
                let sig = &engine.app.signalled;
                let method = e.get("method").and_then(Value::as_str).unwrap_or("");
                if !matches!(method, "PLAY" | "RECORD") || !e.get("first_rtp_ms").is_some_and(Value::is_null) {
                    return;
                }
                let Some(session) = e.get("session").and_then(Value::as_str).map(|s| format!("rtsp:{s}")) else {
                    return;
                };
                let (Some(first), Some(at)) = (sig.first_media.get(&session), e.get("ts").and_then(micros_of)) else {
                    return;
                };
                if let Some(o) = e.as_object_mut() {
                    o.insert("first_rtp_ms".into(), json_ms((first.micros() - at) as f64 / 1000.0));
                }
            }
            "rtcp" => {
                // Each receiver report next to what the capture point observed for that SSRC.
                let Some(blocks) = e.get_mut("report_blocks").and_then(Value::as_array_mut) else { return };
                for b in blocks {
                    let ssrc = b.get("ssrc").cloned();
                    let seen = self.rtp.iter().find(|s| s.ssrc == ssrc);
                    let rate = seen.and_then(|s| s.clock_rate.as_f64());
                    let jitter = b.get("jitter").and_then(Value::as_f64);
                    if let Some(o) = b.as_object_mut() {
                        o.insert(
                            "jitter_ms".into(),
                            match (jitter, rate) {
                                (Some(j), Some(r)) if r > 0.0 => json_ms(j * 1000.0 / r),
                                _ => Value::Null,
                            },
                        );
                        o.insert("observed_lost".into(), seen.map(|s| s.lost.clone()).unwrap_or(Value::Null));
                        o.insert(
                            "observed_max_jitter_ms".into(),
                            seen.map(|s| s.max_jitter_ms.clone()).unwrap_or(Value::Null),
                        );
                    }
                }
            }
            "sip" => {
                // The call's media: first RTP after the INVITE, and the SSRCs its SDP bound.
                let sig = &engine.app.signalled;
                let Some(call) = e.get("call_id").and_then(Value::as_str).map(str::to_string) else { return };
                let invite = e.get("ts").and_then(micros_of);
                let first = sig.first_media.get(&call).copied();
                let first_ms = match (first, invite) {
                    (Some(t), Some(inv)) => Some(json_ms((t.micros() - inv) as f64 / 1000.0)),
                    _ => None,
                };
                let flows: Vec<u64> =
                    sig.flow_session.iter().filter(|(_, s)| **s == call).map(|(f, _)| u64::from(*f)).collect();
                let ssrcs: Vec<Value> = self
                    .rtp
                    .iter()
                    .filter(|s| s.flow.is_some_and(|f| flows.contains(&f)))
                    .filter_map(|s| s.ssrc.clone())
                    .collect();
                if let Some(o) = e.as_object_mut() {
                    o.insert("first_media_ms".into(), first_ms.unwrap_or(Value::Null));
                    o.insert("rtp_streams".into(), Value::Array(ssrcs));
                }
            }
            "rtmp" => {
                // Ingest health on one axis: the connection's TCP trouble next to the RTMP view.
                let tcp = e
                    .get("flow")
                    .and_then(Value::as_u64)
                    .and_then(|f| engine.flows.record(f as u32))
                    .and_then(|r| r.tcp);
                if let (Some(t), Some(ingest)) = (tcp, e.get_mut("ingest").and_then(Value::as_object_mut)) {
                    ingest.insert("tcp_retransmissions".into(), json!(t.retransmissions));
                    ingest.insert("tcp_zero_window".into(), json!(t.zero_window));
                    ingest.insert("tcp_gap_bytes".into(), json!(t.gaps));
                }
            }
            _ => {}
        }
    }
}

/// A flow's anomalies: those moved into its record when it left the table, and those its
/// application layer still counts while it is open.
pub fn anomalies(engine: &Engine, r: &FlowRecord) -> u64 {
    r.anomalies + engine.app.anomalies(r.id)
}

/// One flow as the contract describes it.
pub fn flow_json(r: &FlowRecord, anomalies: u64) -> Value {
    let mut text = Vec::with_capacity(448);
    flow_text(&mut text, r, anomalies);
    serde_json::from_slice(&text).unwrap_or(Value::Null)
}

/// Writes one flow entry as JSON text: keys in name order and numbers formatted exactly as a
/// `serde_json` object of the same values prints them (so [`build`] and [`write`] agree), without
/// building a `Value` per flow (a million-flow capture spends most of its report time there).
fn write_flow(w: &mut dyn std::io::Write, r: &FlowRecord, anomalies: u64) -> std::io::Result<()> {
    let mut b = Vec::with_capacity(448);
    flow_text(&mut b, r, anomalies);
    w.write_all(&b)
}

/// The text of one flow entry, appended to `b` (see [`write_flow`]).
fn flow_text(b: &mut Vec<u8>, r: &FlowRecord, anomalies: u64) {
    use std::io::Write as _;
    let mut n = itoa::Buffer::new();
    let mut num = |b: &mut Vec<u8>, key: &[u8], v: u64| {
        b.extend_from_slice(key);
        b.extend_from_slice(n.format(v).as_bytes());
    };
    let (c, s) = (&r.dirs.c2s, &r.dirs.s2c);
    num(b, b"{\"anomalies\":", anomalies);
    num(b, b",\"bytes_c2s\":", c.bytes);
    num(b, b",\"bytes_s2c\":", s.bytes);
    b.extend_from_slice(b",\"client\":");
    super::addr_text(b, r.client);
    b.extend_from_slice(b",\"detected_by\":");
    match r.detected_by {
        Some(d) => {
            let _ = serde_json::to_writer(&mut *b, d);
        }
        None => b.extend_from_slice(b"null"),
    }
    b.extend_from_slice(b",\"first_ts\":");
    super::ts_text(b, r.first_ts);
    num(b, b",\"id\":", u64::from(r.id));
    b.extend_from_slice(b",\"last_ts\":");
    super::ts_text(b, r.last_ts);
    num(b, b",\"packets_c2s\":", c.packets);
    num(b, b",\"packets_s2c\":", s.packets);
    b.extend_from_slice(b",\"protocol\":");
    let _ = serde_json::to_writer(&mut *b, r.protocol);
    b.extend_from_slice(b",\"server\":");
    super::addr_text(b, r.server);
    if let Some(t) = &r.tcp {
        let flag = |b: &mut Vec<u8>, key: &[u8], v: bool| {
            b.extend_from_slice(key);
            b.extend_from_slice(if v { b"true" } else { b"false" });
        };
        flag(b, b",\"tcp\":{\"fin_c2s\":", t.fin.c2s);
        flag(b, b",\"fin_s2c\":", t.fin.s2c);
        num(b, b",\"gaps\":", t.gaps);
        match t.handshake_rtt_ms.filter(|v| v.is_finite()) {
            Some(ms) => {
                let _ = write!(b, ",\"handshake_rtt_ms\":{:.3}", crate::time::round_ms(ms));
            }
            None => b.extend_from_slice(b",\"handshake_rtt_ms\":null"),
        }
        flag(b, b",\"midstream\":", t.midstream);
        num(b, b",\"out_of_order\":", t.out_of_order);
        num(b, b",\"overlaps\":", t.overlaps);
        num(b, b",\"reassembly_cap_drops\":", t.reassembly_cap_drops);
        num(b, b",\"retransmissions\":", t.retransmissions);
        flag(b, b",\"rst\":", t.rst);
        num(b, b",\"zero_window\":", t.zero_window);
        b.push(b'}');
    }
    b.extend_from_slice(b",\"transport\":\"");
    b.extend_from_slice(r.transport.as_str().as_bytes());
    b.extend_from_slice(b"\"}");
}

#[cfg(test)]
mod tests {

    use crate::time::Timestamp;

    #[test]
    fn texts_equal_display() {
        for ns in [
            0i64,
            1_000,
            -1_000,
            999_999_000,
            1_764_579_600_000_001_000,
            -1_764_579_600_123_456_000,
            i64::MAX,
            i64::MIN,
        ] {
            let ts = Timestamp(ns);
            let mut b = Vec::new();
            crate::report::ts_text(&mut b, ts);
            assert_eq!(String::from_utf8(b).unwrap(), ts.to_string());
        }
        for a in ["10.0.0.1:0", "255.255.255.255:65535", "[2001:db8::1]:443", "[fe80::1%3]:5353", "[::ffff:1.2.3.4]:80"]
        {
            let a: std::net::SocketAddr = a.parse().unwrap();
            let mut b = Vec::new();
            crate::report::addr_text(&mut b, a);
            assert_eq!(String::from_utf8(b).unwrap(), serde_json::to_string(&a.to_string()).unwrap());
        }
    }
}
