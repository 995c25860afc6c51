//! The latency lab (`--lab`): one row per protocol session with its phases on one time axis
//! (time to first media, control RTT, delivery latency, jitter), and the pipeline table that
//! follows the same media from a server's ingest (RTMP publish) to its delivery (HLS/DASH
//! segments, RTMP play). Every number carries the formula and the frame numbers behind it, so
//! it can be checked by hand in tshark (`frame.number == N`).
//!
//! The lab reads what the dissectors already produced — the report sections and, through
//! [`tap::LabTap`], the event stream — and knows nothing of parsing.

pub mod output;
pub mod pipeline;
pub mod sessions;
pub mod tap;

use crate::engine::Engine;
use crate::flow::FlowId;
use crate::report::{json_ms, json_ts};
use crate::time::Timestamp;
use serde_json::{json, Map, Value};

/// One step of a session, between two packets.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Phase name (`tcp_handshake`, `connect`, `playlist_ttfb`, …).
    pub name: &'static str,
    /// When it started.
    pub start: Timestamp,
    /// When it ended.
    pub end: Timestamp,
    /// Frame that started it, when known.
    pub start_frame: Option<u64>,
    /// Frame that ended it, when known.
    pub end_frame: Option<u64>,
}

impl Phase {
    /// Duration in ms.
    pub fn duration_ms(&self) -> f64 {
        self.end.ms_since(self.start)
    }
}

/// A number with how it was computed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metric {
    /// The value in ms, or `None` when the capture cannot tell.
    pub value_ms: Option<f64>,
    /// How it was computed (or why it is unknown).
    pub formula: String,
    /// Frames to look at.
    pub frames: Vec<u64>,
}

impl Metric {
    /// A known value.
    pub fn known(value_ms: f64, formula: impl Into<String>, frames: Vec<u64>) -> Self {
        Metric { value_ms: Some(value_ms), formula: formula.into(), frames }
    }

    /// An unknown value, with the reason.
    pub fn unknown(why: impl Into<String>) -> Self {
        Metric { value_ms: None, formula: why.into(), frames: Vec::new() }
    }

    fn explain_json(&self) -> Value {
        json!({ "formula": self.formula, "frames": self.frames })
    }
}

/// One protocol session: an RTMP connection, an RTSP session, a WebRTC 5-tuple, an HLS/DASH
/// player, a TLS/QUIC connection, a SIP call.
#[derive(Debug, Clone)]
pub struct Session {
    /// `rtmp`, `rtsp`, `webrtc`, `hls`, `dash`, `tls`, `quic`, `sip`.
    pub protocol: &'static str,
    /// The session's (first) flow.
    pub flow: FlowId,
    /// What it is (`publish live/…`, the playlist URI, the SNI…).
    pub label: String,
    /// Client endpoint.
    pub client: String,
    /// Server endpoint.
    pub server: String,
    /// When the session started (first phase's start, or its first packet).
    pub start: Timestamp,
    /// Its phases, in order.
    pub phases: Vec<Phase>,
    /// From the session's first packet to its first media.
    pub time_to_first_media: Metric,
    /// The control protocol's request→reply time.
    pub control_rtt: Metric,
    /// Median ingest→delivery latency of the media this session delivered.
    pub delivery_latency: Metric,
    /// RFC 3550 §6.4.1 jitter of the media units against their media timestamps.
    pub jitter: Metric,
    /// Median live latency from EXT-X-PROGRAM-DATE-TIME to arrival (HLS), when known.
    pub pdt_latency: Option<Metric>,
    /// Delivery-side grouping key, used to bind pipeline rows to the session.
    pub group: String,
}

/// One delivered unit (segment or keyframe) matched to its ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRow {
    /// `rtmp`.
    pub ingest_protocol: &'static str,
    /// `hls`, `dash`, `rtmp`.
    pub delivery_protocol: &'static str,
    /// Ingest flow.
    pub ingest_flow: FlowId,
    /// Delivery flow.
    pub delivery_flow: FlowId,
    /// The delivery session's group key (see [`Session::group`]).
    pub group: String,
    /// Viewer endpoint.
    pub client: String,
    /// Segment URI (HTTP delivery).
    pub uri: Option<String>,
    /// What the unit is when it has no URI (`keyframe`, `ssrc 0x… seq N`).
    pub unit: Option<String>,
    /// Media time on the ingest's clock, s (`None` for relayed RTP: no common media clock is
    /// needed, the packet itself is the same).
    pub media_time_s: Option<f64>,
    /// Delivery media time minus ingest media time, s (found by matching keyframes).
    pub offset_s: f64,
    /// When the unit's first frame (its keyframe) entered the server.
    pub ingest_ts: Timestamp,
    /// Frame of `ingest_ts`.
    pub ingest_frame: u64,
    /// When the next keyframe (the unit's end) entered the server.
    pub ingest_end_ts: Option<Timestamp>,
    /// When the unit started leaving toward the viewer (response's first byte).
    pub delivery_ts: Timestamp,
    /// Frame of `delivery_ts`.
    pub delivery_frame: Option<u64>,
    /// When the unit finished arriving (response's last byte).
    pub delivery_end_ts: Option<Timestamp>,
}

impl PipelineRow {
    /// `delivery_ts − ingest_ts`, ms.
    pub fn latency_ms(&self) -> f64 {
        self.delivery_ts.ms_since(self.ingest_ts)
    }

    /// `delivery_ts − ingest_end_ts`, ms: how long the server held a complete unit.
    pub fn server_hold_ms(&self) -> Option<f64> {
        self.ingest_end_ts.map(|e| self.delivery_ts.ms_since(e))
    }
}

/// A delivered unit that could not be matched, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmatched {
    /// Delivery protocol.
    pub delivery_protocol: &'static str,
    /// Delivery flow.
    pub flow: FlowId,
    /// Segment URI, if any.
    pub uri: Option<String>,
    /// Why.
    pub reason: String,
}

/// Every packet of one RTP stream that a relay (a TURN server, a media relay) received on
/// one flow and sent on another, summarised.
#[derive(Debug, Clone, PartialEq)]
pub struct Relay {
    /// SSRC.
    pub ssrc: u32,
    /// Flow it came in on.
    pub from_flow: FlowId,
    /// Flow it went out on.
    pub to_flow: FlowId,
    /// Packets seen on both.
    pub packets: u64,
    /// Smallest, median and largest time between the two sightings, ms.
    pub latency_ms: (f64, f64, f64),
}

/// The whole lab.
#[derive(Debug, Clone, Default)]
pub struct Lab {
    /// Sessions by start time.
    pub sessions: Vec<Session>,
    /// Matched units by delivery time.
    pub pipeline: Vec<PipelineRow>,
    /// Units that could not be matched.
    pub unmatched: Vec<Unmatched>,
    /// RTP relayed between flows, per stream.
    pub relays: Vec<Relay>,
}

/// Timestamp from a report time value.
pub(crate) fn ts_of(v: &Value) -> Option<Timestamp> {
    crate::report::micros_of(v).map(|m| Timestamp(m * 1000))
}

/// Median of some values (mean of the middle two for an even count).
pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mid = |i: usize| v.get(i).copied();
    if n % 2 == 1 {
        mid(n / 2)
    } else {
        Some((mid(n / 2 - 1)? + mid(n / 2)?) / 2.0)
    }
}

/// Runs the lab over an analysed capture and its report (`report::json::build`). Without a
/// [`tap::LabTap`] on the engine's timeline there is nothing to go on and the lab is empty.
pub fn analyse(engine: &Engine, report: &Value) -> Lab {
    let Some(tap) = engine.app.timeline.tap().and_then(|t| t.as_any().downcast_ref::<tap::LabTap>()) else {
        return Lab::default();
    };
    let mut sessions = sessions::build(engine, report, tap);
    let (mut pipeline, unmatched) = pipeline::build(engine, report, tap);
    let relays = pipeline::relayed_rtp(engine, report, &mut pipeline);
    for s in &mut sessions {
        let rows: Vec<&PipelineRow> = pipeline.iter().filter(|r| r.group == s.group).collect();
        if rows.is_empty() {
            continue;
        }
        if let Some(m) = median(rows.iter().map(|r| r.latency_ms()).collect()) {
            let frames = rows.first().map(|r| [Some(r.ingest_frame), r.delivery_frame]).unwrap_or_default();
            s.delivery_latency = Metric::known(
                m,
                format!(
                    "median over {} delivered units of (first byte out toward the viewer − its first frame in from the {} ingest); see pipeline",
                    rows.len(),
                    rows.first().map_or("", |r| r.ingest_protocol)
                ),
                frames.into_iter().flatten().collect(),
            );
        }
    }
    sessions.sort_by_key(|s| (s.start, s.flow));
    Lab { sessions, pipeline, unmatched, relays }
}

/// Turns on what the lab needs on an engine about to read a capture: the event collector and
/// the RTP relay sightings (both bounded).
pub fn enable(engine: &mut Engine) {
    engine.app.timeline.set_tap(Box::new(tap::LabTap::new()));
    engine.app.signalled.rtp_sightings = Some(Default::default());
}

/// Adds the lab to a report (`report::json::build`) under `lab`, for the UI.
pub fn attach(engine: &Engine, report: &mut Value) {
    let lab = analyse(engine, report).to_json();
    if let Some(o) = report.as_object_mut() {
        o.insert("lab".into(), lab);
    }
}

fn metric_json(m: &Metric) -> Value {
    m.value_ms.map(json_ms).unwrap_or(Value::Null)
}

impl Lab {
    /// The lab as the report contract's `--lab --format json` object.
    pub fn to_json(&self) -> Value {
        let protocols: Vec<Value> = self
            .sessions
            .iter()
            .map(|s| {
                let phases: Vec<Value> = s
                    .phases
                    .iter()
                    .map(|p| {
                        json!({
                            "name": p.name,
                            "start_ts": json_ts(p.start),
                            "end_ts": json_ts(p.end),
                            "duration_ms": json_ms(p.duration_ms()),
                            "start_frame": p.start_frame,
                            "end_frame": p.end_frame,
                        })
                    })
                    .collect();
                let mut explain = Map::new();
                explain.insert("time_to_first_media_ms".into(), s.time_to_first_media.explain_json());
                explain.insert("control_rtt_ms".into(), s.control_rtt.explain_json());
                explain.insert("delivery_latency_ms".into(), s.delivery_latency.explain_json());
                explain.insert("jitter_ms".into(), s.jitter.explain_json());
                let mut o = json!({
                    "protocol": s.protocol,
                    "flow": s.flow,
                    "label": s.label,
                    "client": s.client,
                    "server": s.server,
                    "start_ts": json_ts(s.start),
                    "phases": phases,
                    "time_to_first_media_ms": metric_json(&s.time_to_first_media),
                    "control_rtt_ms": metric_json(&s.control_rtt),
                    "delivery_latency_ms": metric_json(&s.delivery_latency),
                    "jitter_ms": metric_json(&s.jitter),
                });
                if let (Some(p), Some(obj)) = (&s.pdt_latency, o.as_object_mut()) {
                    obj.insert("pdt_latency_ms".into(), metric_json(p));
                    explain.insert("pdt_latency_ms".into(), p.explain_json());
                }
                if let Some(obj) = o.as_object_mut() {
                    obj.insert("explain".into(), Value::Object(explain));
                }
                o
            })
            .collect();
        let pipeline: Vec<Value> = self
            .pipeline
            .iter()
            .map(|r| {
                let frames: Vec<u64> = [Some(r.ingest_frame), r.delivery_frame].into_iter().flatten().collect();
                json!({
                    "ingest_protocol": r.ingest_protocol,
                    "delivery_protocol": r.delivery_protocol,
                    "ingest_flow": r.ingest_flow,
                    "delivery_flow": r.delivery_flow,
                    "client": r.client,
                    "uri": r.uri,
                    "unit": r.unit,
                    "media_time_s": r.media_time_s,
                    "offset_s": r.offset_s,
                    "ingest_ts": json_ts(r.ingest_ts),
                    "ingest_frame": r.ingest_frame,
                    "ingest_end_ts": r.ingest_end_ts.map(json_ts),
                    "delivery_ts": json_ts(r.delivery_ts),
                    "delivery_frame": r.delivery_frame,
                    "delivery_end_ts": r.delivery_end_ts.map(json_ts),
                    "latency_ms": json_ms(r.latency_ms()),
                    "server_hold_ms": r.server_hold_ms().map(json_ms),
                    "explain": {
                        "formula": "latency_ms = delivery_ts (first byte of the unit toward the viewer) − ingest_ts (the RTMP message carrying its first keyframe); server_hold_ms = delivery_ts − ingest_end_ts (the next keyframe, which completes the unit)",
                        "frames": frames,
                    },
                })
            })
            .collect();
        let unmatched: Vec<Value> = self
            .unmatched
            .iter()
            .map(
                |u| json!({"delivery_protocol": u.delivery_protocol, "flow": u.flow, "uri": u.uri, "reason": u.reason}),
            )
            .collect();
        let relays: Vec<Value> = self
            .relays
            .iter()
            .map(|r| {
                json!({
                    "ssrc": format!("0x{:08x}", r.ssrc),
                    "from_flow": r.from_flow,
                    "to_flow": r.to_flow,
                    "packets": r.packets,
                    "min_ms": json_ms(r.latency_ms.0),
                    "median_ms": json_ms(r.latency_ms.1),
                    "max_ms": json_ms(r.latency_ms.2),
                })
            })
            .collect();
        json!({ "protocols": protocols, "pipeline": pipeline, "unmatched": unmatched, "relays": relays })
    }
}
