//! `e` / `E`: the current view's visible rows as CSV (RFC 4180 quoting) or JSON, in the order
//! shown.

use super::state::{State, Tab};

/// Quotes a field when it holds a comma, quote or line break (RFC 4180 §2).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The rows being exported, header first (built by [`rows`], written as CSV or JSON).
fn line(out: &mut Vec<Vec<String>>, cells: &[String]) {
    out.push(cells.to_vec());
}

/// The visible rows of the current view as CSV, header first.
pub fn csv(st: &State) -> String {
    let mut out = String::new();
    for cells in rows(st) {
        let v: Vec<String> = cells.iter().map(|c| field(c)).collect();
        out.push_str(&v.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The visible rows of the current view as a JSON array of objects keyed by the CSV header;
/// cells that are numbers become JSON numbers.
pub fn json(st: &State) -> String {
    let all = rows(st);
    let Some((head, body)) = all.split_first() else { return "[]\n".into() };
    let objects: Vec<serde_json::Value> = body
        .iter()
        .map(|cells| {
            let mut m = serde_json::Map::new();
            for (k, v) in head.iter().zip(cells) {
                let value = match v.parse::<serde_json::Number>() {
                    Ok(n) if !v.is_empty() => serde_json::Value::Number(n),
                    _ if v.is_empty() => serde_json::Value::Null,
                    _ => serde_json::Value::from(v.as_str()),
                };
                m.insert(k.clone(), value);
            }
            serde_json::Value::Object(m)
        })
        .collect();
    format!("{}\n", serde_json::Value::Array(objects))
}

/// The packets of a flow row: transport, endpoints and time span.
pub fn flow_match(f: &super::model::FlowRow) -> Option<crate::capture::extract::FlowMatch> {
    Some(crate::capture::extract::FlowMatch {
        tcp: f.transport == "tcp",
        a: f.client.parse().ok()?,
        b: f.server.parse().ok()?,
        first: crate::time::Timestamp(f.span_us.0 * 1000),
        // The report's times are cut to the µs: the last packet may be up to 999 ns later.
        last: crate::time::Timestamp(f.span_us.1 * 1000 + 999),
    })
}

/// File name for the current view's export.
pub fn file_name(st: &State) -> String {
    match st.tab {
        Tab::Flows => "streamscope-flows.csv".into(),
        Tab::Timeline => match st.flow_filter {
            Some(f) => format!("streamscope-timeline-flow{f}.csv"),
            None => "streamscope-timeline.csv".into(),
        },
        Tab::Latency => "streamscope-latency.csv".into(),
        Tab::Streams => "streamscope-streams.csv".into(),
        Tab::Lab => "streamscope-lab.csv".into(),
    }
}

fn rows(st: &State) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let m = &st.model;
    match st.tab {
        Tab::Flows => {
            let head = [
                "id",
                "protocol",
                "transport",
                "client",
                "server",
                "packets_c2s",
                "packets_s2c",
                "bytes_c2s",
                "bytes_s2c",
                "duration_s",
                "anomalies",
            ];
            line(&mut out, &head.map(String::from));
            for f in st.visible_flows().into_iter().filter_map(|i| m.flows.get(i)) {
                line(
                    &mut out,
                    &[
                        f.id.to_string(),
                        f.protocol.clone(),
                        f.transport.clone(),
                        f.client.clone(),
                        f.server.clone(),
                        f.packets.0.to_string(),
                        f.packets.1.to_string(),
                        f.bytes.0.to_string(),
                        f.bytes.1.to_string(),
                        format!("{:.6}", f.duration_s),
                        f.anomalies.to_string(),
                    ],
                );
            }
        }
        Tab::Timeline => {
            line(&mut out, &["time_s", "flow", "protocol", "dir", "event", "latency_ms", "fields"].map(String::from));
            for e in st.visible_events().into_iter().filter_map(|i| m.events.get(i)) {
                line(
                    &mut out,
                    &[
                        format!("{:.6}", e.rel_s),
                        e.flow.map(|f| f.to_string()).unwrap_or_default(),
                        e.protocol.clone(),
                        e.dir.to_string(),
                        e.name.clone(),
                        e.latency_ms.map(|l| format!("{l:.3}")).unwrap_or_default(),
                        e.json.to_string(),
                    ],
                );
            }
        }
        Tab::Latency => {
            line(&mut out, &["protocol", "metric", "count", "min", "median", "p95", "max"].map(String::from));
            for l in st.visible_latency().into_iter().filter_map(|i| m.latency.get(i)) {
                line(
                    &mut out,
                    &[
                        l.protocol.clone(),
                        l.metric.clone(),
                        l.count.to_string(),
                        format!("{:.3}", l.min),
                        format!("{:.3}", l.median),
                        format!("{:.3}", l.p95),
                        format!("{:.3}", l.max),
                    ],
                );
            }
        }
        Tab::Streams => {
            let head = ["kind", "flow", "stream", "codec", "kbps", "lost", "jitter_ms", "width_s", "series"];
            line(&mut out, &head.map(String::from));
            let opt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_default();
            for x in st.visible_streams().into_iter().filter_map(|i| m.streams.get(i)) {
                let series: Vec<String> = x.series.iter().map(|v| format!("{v:.3}")).collect();
                line(
                    &mut out,
                    &[
                        x.kind.clone(),
                        x.flow.to_string(),
                        x.id.clone(),
                        x.codec.clone(),
                        opt(x.kbps),
                        x.lost.map(|l| l.to_string()).unwrap_or_default(),
                        opt(x.jitter_ms),
                        x.width_s.to_string(),
                        series.join(" "),
                    ],
                );
            }
        }
        Tab::Lab => {
            let head = [
                "protocol",
                "flow",
                "session",
                "time_to_first_media_ms",
                "control_rtt_ms",
                "delivery_latency_ms",
                "jitter_ms",
                "phases",
            ];
            line(&mut out, &head.map(String::from));
            for x in st.visible_lab().into_iter().filter_map(|i| m.lab.get(i)) {
                let phases: Vec<String> = x.phases.iter().map(|(n, _, d)| format!("{n}={d:.3}")).collect();
                let mut cells = vec![x.protocol.clone(), x.flow.to_string(), x.label.clone()];
                cells.extend(x.metrics.iter().map(|v| v.map(|x| format!("{x:.3}")).unwrap_or_default()));
                cells.push(phases.join(" "));
                line(&mut out, &cells);
            }
        }
    }
    out
}
