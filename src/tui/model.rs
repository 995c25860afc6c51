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
    /// Events the timeline had to drop (over its cap).
    pub events_dropped: u64,
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

    /// Replaces the flows, latency and counters with `report`'s and appends `new_events`
    /// (the events kept since the last update).
    pub fn update(&mut self, report: &Value, new_events: &[Event]) {
        let cap = &report["capture"];
        let first = cap["first_ts"].as_f64().unwrap_or(0.0);
        self.flows = report["flows"]
            .as_array()
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
                    })
                    .collect()
            })
            .unwrap_or_default();
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
        self.packets = u(&cap["packets"]);
        self.malformed = u(&cap["malformed"]) + u(&cap["truncated"]);
        self.events_dropped = u(&cap["events_dropped"]);
        self.warning = cap["warning"].as_str().map(str::to_string);
    }
}
