//! What the UI shows, built from the JSON report and the timeline's events: the UI reads
//! these rows and never looks at packets or parsers.

use crate::timeline::Event;
use serde_json::Value;

/// One row of the Flows view.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRow {
    /// Flow id as in the report.
    pub id: u64,
    /// Detected protocol (`rtmp`, `rtsp`, `unknown`…).
    pub protocol: String,
    /// `tcp` or `udp`.
    pub transport: String,
    /// Client address:port.
    pub client: String,
    /// Server address:port.
    pub server: String,
    /// Packets client→server and server→client.
    pub packets: (u64, u64),
    /// Payload bytes client→server and server→client.
    pub bytes: (u64, u64),
    /// Seconds between the first and last packet.
    pub duration_s: f64,
    /// Anomalies the report counted on the flow.
    pub anomalies: u64,
    /// First and last packet times, µs since the epoch (to find the flow's packets again).
    pub span_us: (i64, i64),
}

impl FlowRow {
    /// A row straight from the flow table, without going through the JSON report (the UI
    /// refreshes a 500,000-flow table this way several times a second).
    pub fn from_record(r: &crate::flow::FlowRecord, anomalies: u64) -> FlowRow {
        FlowRow {
            id: u64::from(r.id),
            protocol: r.protocol.to_string(),
            transport: r.transport.as_str().to_string(),
            client: crate::report::addr(r.client),
            server: crate::report::addr(r.server),
            packets: (r.dirs.c2s.packets, r.dirs.s2c.packets),
            bytes: (r.dirs.c2s.bytes, r.dirs.s2c.bytes),
            duration_s: r.last_ts.secs_since(r.first_ts).max(0.0),
            anomalies,
            span_us: (r.first_ts.micros(), r.last_ts.micros()),
        }
    }
}

/// One row of the Latency view: a protocol metric's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRow {
    /// Protocol section of the report (`rtmp`, `tcp`, `stun`…).
    pub protocol: String,
    /// Metric name as in the report (`connect_ms`…).
    pub metric: String,
    /// Number of samples.
    pub count: u64,
    /// Minimum, median, 95th percentile and maximum, in milliseconds.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Maximum.
    pub max: f64,
}

/// One row of the Timeline view.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Seconds since the first packet of the capture.
    pub rel_s: f64,
    /// Flow the event belongs to.
    pub flow: Option<u64>,
    /// Protocol that produced it.
    pub protocol: String,
    /// Event name.
    pub name: String,
    /// `c2s`, `s2c` or empty.
    pub dir: &'static str,
    /// Latency of a reply, in milliseconds.
    pub latency_ms: Option<f64>,
    /// The event as JSON, for the detail pane.
    pub json: Value,
}

/// One media stream of the Streams view: an RTP/SRTP SSRC, an RTMP track, an HLS rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRow {
    /// `rtp`, `srtp`, `rtmp`, `hls`.
    pub kind: String,
    /// The flow (or, for HLS, the first flow of the player).
    pub flow: u64,
    /// SSRC, track (`video`/`audio` of a publish/play) or rendition URI.
    pub id: String,
    /// Codec or encoding.
    pub codec: String,
    /// Mean bitrate, kbit/s.
    pub kbps: Option<f64>,
    /// Packets lost (RTP) or stalls (RTMP).
    pub lost: Option<i64>,
    /// Mean jitter, ms.
    pub jitter_ms: Option<f64>,
    /// Seconds per point of the series below.
    pub width_s: u64,
    /// Bitrate over time, kbit/s (HLS: each segment's download time as % of its duration).
    pub series: Vec<f64>,
    /// Loss over time (RTP), packets per point.
    pub loss_series: Vec<f64>,
    /// Jitter over time (RTP), ms.
    pub jitter_series: Vec<f64>,
}

/// One session of the Lab view (report contract `--lab`: `protocols`).
#[derive(Debug, Clone, PartialEq)]
pub struct LabRow {
    /// `rtmp`, `rtsp`, `webrtc`, `hls`, …
    pub protocol: String,
    /// The session's flow.
    pub flow: u64,
    /// What it is.
    pub label: String,
    /// Time to first media, control RTT, delivery latency, jitter (ms; `None` = unknown).
    pub metrics: [Option<f64>; 4],
    /// Phases: name, start (ms after the session's start) and duration (ms).
    pub phases: Vec<(String, f64, f64)>,
    /// How each number was computed: metric, formula, frames.
    pub explain: Vec<(String, String, Vec<u64>)>,
}

/// One matched unit of the Lab view's pipeline (report contract `--lab`: `pipeline`).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRow {
    /// `hls`, `dash`, `rtmp`.
    pub delivery: String,
    /// Delivery flow.
    pub flow: u64,
    /// Segment URI or `keyframe`.
    pub unit: String,
    /// Media time on the ingest's clock, s.
    pub media_s: f64,
    /// Ingest → delivery, ms.
    pub latency_ms: f64,
    /// Complete at the server → delivery, ms.
    pub hold_ms: Option<f64>,
    /// Ingest and delivery frames.
    pub frames: (u64, Option<u64>),
}

/// Columns the Flows view can be sorted by (`s` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowSort {
    /// Report order (first packet).
    Id,
    /// Most bytes first.
    Bytes,
    /// Most packets first.
    Packets,
    /// Longest first.
    Duration,
    /// By protocol name.
    Protocol,
}

impl FlowSort {
    /// The next sort order.
    pub fn next(self) -> Self {
        match self {
            FlowSort::Id => FlowSort::Bytes,
            FlowSort::Bytes => FlowSort::Packets,
            FlowSort::Packets => FlowSort::Duration,
            FlowSort::Duration => FlowSort::Protocol,
            FlowSort::Protocol => FlowSort::Id,
        }
    }
    /// Name for the status bar.
    pub fn label(self) -> &'static str {
        match self {
            FlowSort::Id => "first seen",
            FlowSort::Bytes => "bytes",
            FlowSort::Packets => "packets",
            FlowSort::Duration => "duration",
            FlowSort::Protocol => "protocol",
        }
    }
}

/// Everything the views draw.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Source name for the status bar.
    pub source: String,
    /// Packets read.
    pub packets: u64,
    /// Malformed or truncated packets.
    pub malformed: u64,
    /// Live capture: packets dropped by the kernel, the interface and between the capture
    /// thread and the analyser (`None` when reading a file).
    pub drops: Option<u64>,
    /// Events the timeline had to drop (over its cap).
    pub events_dropped: u64,
    /// Those events counted by name, most first.
    pub dropped_by_name: Vec<(String, u64)>,
    /// Flows.
    pub flows: Vec<FlowRow>,
    /// Latency summaries.
    pub latency: Vec<LatencyRow>,
    /// Events in capture order.
    pub events: Vec<EventRow>,
    /// Where the source is: `reading ~42%`, `capturing`, `done`…
    pub progress: String,
    /// The source's warning (e.g. the file ends mid-packet), when it has one.
    pub warning: Option<String>,
    /// Media streams.
    pub streams: Vec<StreamRow>,
    /// Lab sessions.
    pub lab: Vec<LabRow>,
    /// Lab pipeline.
    pub pipeline: Vec<PipelineRow>,
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

impl Model {
    /// Builds the model from a JSON report (`report::json::build`) and the kept events.
    pub fn new(source: &str, report: &Value, events: &[Event]) -> Model {
        let mut m = Model { source: source.to_string(), ..Model::default() };
        m.update(report, events);
        m
    }

    /// Replaces the flows (when the report lists them: see [`FlowRow::from_record`]), latency
    /// and counters with `report`'s and appends `new_events` (the events kept since the last
    /// update).
    pub fn update(&mut self, report: &Value, new_events: &[Event]) {
        let cap = &report["capture"];
        let first = cap["first_ts"].as_f64().unwrap_or(0.0);
        if let Some(a) = report["flows"].as_array() {
            self.flows = Some(a)
                .map(|a| {
                    a.iter()
                        .map(|fl| FlowRow {
                            id: u(&fl["id"]),
                            protocol: s(&fl["protocol"]),
                            transport: s(&fl["transport"]),
                            client: s(&fl["client"]),
                            server: s(&fl["server"]),
                            packets: (u(&fl["packets_c2s"]), u(&fl["packets_s2c"])),
                            bytes: (u(&fl["bytes_c2s"]), u(&fl["bytes_s2c"])),
                            duration_s: (f(&fl["last_ts"]) - f(&fl["first_ts"])).max(0.0),
                            anomalies: u(&fl["anomalies"]),
                            span_us: (
                                crate::report::micros_of(&fl["first_ts"]).unwrap_or(0),
                                crate::report::micros_of(&fl["last_ts"]).unwrap_or(0),
                            ),
                        })
                        .collect()
                })
                .unwrap_or_default();
        }
        let mut latency = Vec::new();
        if let Some(protos) = report["latency"].as_object() {
            for (proto, metrics) in protos {
                for (metric, m) in metrics.as_object().into_iter().flatten() {
                    latency.push(LatencyRow {
                        protocol: proto.clone(),
                        metric: metric.clone(),
                        count: u(&m["count"]),
                        min: f(&m["min"]),
                        median: f(&m["median"]),
                        p95: f(&m["p95"]),
                        max: f(&m["max"]),
                    });
                }
            }
        }
        self.latency = latency;
        self.events.extend(new_events.iter().map(|e| EventRow {
            rel_s: (e.ts.0 as f64 / 1e9 - first).max(0.0),
            flow: e.flow.map(u64::from),
            protocol: e.protocol.to_string(),
            name: e.name.to_string(),
            dir: match e.dir {
                Some(crate::flow::Direction::C2S) => "c2s",
                Some(crate::flow::Direction::S2C) => "s2c",
                None => "",
            },
            latency_ms: e.latency_ms,
            json: e.to_json(),
        }));
        self.streams = streams(report);
        let lab = &report["lab"];
        self.lab = lab["protocols"].as_array().map(|a| a.iter().map(lab_row).collect()).unwrap_or_default();
        self.pipeline = lab["pipeline"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| PipelineRow {
                        delivery: s(&r["delivery_protocol"]),
                        flow: u(&r["delivery_flow"]),
                        unit: r["uri"].as_str().or(r["unit"].as_str()).unwrap_or("").to_string(),
                        media_s: f(&r["media_time_s"]),
                        latency_ms: f(&r["latency_ms"]),
                        hold_ms: r["server_hold_ms"].as_f64(),
                        frames: (u(&r["ingest_frame"]), r["delivery_frame"].as_u64()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.packets = u(&cap["packets"]);
        self.malformed = u(&cap["malformed"]) + u(&cap["truncated"]);
        self.drops = (cap["format"] == "live")
            .then(|| u(&cap["kernel_dropped"]) + u(&cap["if_dropped"]) + u(&cap["channel_dropped"]));
        self.events_dropped = u(&cap["events_dropped"]);
        let mut by: Vec<(String, u64)> = cap["events_dropped_by_name"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), u(v))).collect())
            .unwrap_or_default();
        by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        self.dropped_by_name = by;
        self.warning = cap["warning"].as_str().map(str::to_string);
    }
}

fn lab_row(v: &Value) -> LabRow {
    let start = crate::report::micros_of(&v["start_ts"]).unwrap_or(0);
    let ms = |x: &Value| crate::report::micros_of(x).map(|m| (m - start) as f64 / 1000.0);
    let keys = ["time_to_first_media_ms", "control_rtt_ms", "delivery_latency_ms", "jitter_ms"];
    LabRow {
        protocol: s(&v["protocol"]),
        flow: u(&v["flow"]),
        label: s(&v["label"]),
        metrics: keys.map(|k| v[k].as_f64()),
        phases: v["phases"]
            .as_array()
            .map(|a| {
                a.iter().map(|p| (s(&p["name"]), ms(&p["start_ts"]).unwrap_or(0.0), f(&p["duration_ms"]))).collect()
            })
            .unwrap_or_default(),
        explain: v["explain"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, e)| {
                        let frames = e["frames"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect());
                        (k.clone(), s(&e["formula"]), frames.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0)).collect()).unwrap_or_default()
}

/// The Streams view's rows from the report's `rtp`, `rtmp` and `hls_players` sections.
fn streams(report: &Value) -> Vec<StreamRow> {
    let mut out = Vec::new();
    for r in report["rtp"].as_array().into_iter().flatten() {
        let series = &r["series"];
        out.push(StreamRow {
            kind: if r["srtp"].as_bool() == Some(true) { "srtp" } else { "rtp" }.into(),
            flow: u(&r["flow"]),
            id: format!("{} {}", s(&r["ssrc"]), s(&r["dir"])),
            codec: r["encoding"].as_str().map_or_else(|| format!("PT {}", u(&r["payload_type"])), str::to_string),
            kbps: r["bitrate_kbps"].as_f64(),
            lost: r["lost"].as_i64(),
            jitter_ms: r["mean_jitter_ms"].as_f64(),
            width_s: series["width_s"].as_u64().unwrap_or(1),
            series: floats(&series["kbps"]),
            loss_series: floats(&series["lost"]),
            jitter_series: floats(&series["jitter_ms"]),
        });
    }
    for r in report["rtmp"].as_array().into_iter().flatten() {
        for track in ["video", "audio"] {
            let t = &r[track];
            if !t.is_object() || u(&t["frames"]) == 0 {
                continue;
            }
            out.push(StreamRow {
                kind: "rtmp".into(),
                flow: u(&r["flow"]),
                id: format!("{track} {} {}", s(&r["role"]), s(&r["stream"])),
                codec: s(&t["codec"]),
                kbps: t["bitrate_kbps"].as_f64(),
                lost: t["stalls"].as_i64(),
                jitter_ms: None,
                width_s: 1,
                series: floats(&t["bitrate_series_kbps"]),
                loss_series: Vec::new(),
                jitter_series: Vec::new(),
            });
        }
    }
    for p in report["hls_players"].as_array().into_iter().flatten() {
        let segs = p["segments"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let mut renditions: Vec<String> = segs.iter().map(|x| s(&x["rendition"])).collect();
        renditions.dedup();
        renditions.sort();
        renditions.dedup();
        for r in renditions {
            let mine: Vec<&Value> = segs.iter().filter(|x| s(&x["rendition"]) == r).collect();
            out.push(StreamRow {
                kind: "hls".into(),
                flow: 0,
                id: format!("{} {r}", s(&p["client"])),
                codec: String::new(),
                kbps: None,
                lost: None,
                jitter_ms: None,
                width_s: 0,
                series: mine.iter().map(|x| f(&x["download_ratio"]) * 100.0).collect(),
                loss_series: Vec::new(),
                jitter_series: Vec::new(),
            });
        }
    }
    out
}
