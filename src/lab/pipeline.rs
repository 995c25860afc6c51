//! Following the same media from ingest to delivery. An RTMP publish carries video keyframes
//! stamped with RTMP timestamps (ms); the server repackages them into HLS/DASH segments (first
//! PTS / tfdt) or relays them to RTMP players (RTMP timestamps again). The two clocks differ by
//! a constant, found by matching keyframes: among the candidate offsets (a delivered unit's
//! media start minus each ingest keyframe's timestamp), the one that puts the most delivered
//! units within 1 ms of an ingest keyframe wins (ties: fewer units delivered before they were
//! ingested, then the smaller offset).

use super::sessions::{exchanges, media_start};
use super::tap::{Keyframe, LabTap};
use super::{ts_of, PipelineRow, Unmatched};
use crate::engine::Engine;
use crate::flow::{Direction, FlowId};
use crate::time::Timestamp;
use serde_json::Value;

/// Largest distance between a delivered unit's media start and an ingest keyframe, ms.
pub const MATCH_TOLERANCE_MS: f64 = 1.0;
/// Delivered units whose media starts seed the candidate offsets.
const SEED_UNITS: usize = 3;
/// Most ingest keyframes tried as candidates per seed.
const MAX_CANDIDATES: usize = 20_000;

/// A unit that left toward a viewer.
#[derive(Debug, Clone)]
struct Unit {
    protocol: &'static str,
    flow: FlowId,
    group: String,
    client: String,
    uri: Option<String>,
    /// Media start on the delivery's clock, ms.
    media_ms: f64,
    delivery: Timestamp,
    delivery_frame: Option<u64>,
    delivery_end: Option<Timestamp>,
}

/// An ingest: the keyframes of one RTMP publish, sorted by media time.
struct Ingest<'a> {
    flow: FlowId,
    by_media: Vec<&'a Keyframe>,
}

impl Ingest<'_> {
    /// The keyframe within the tolerance of `media_ms`, and the one after it.
    fn find(&self, media_ms: f64) -> Option<(&Keyframe, Option<&Keyframe>)> {
        let i = self.by_media.partition_point(|k| (k.media_ms as f64) < media_ms - MATCH_TOLERANCE_MS - 1e-6);
        let k = self.by_media.get(i).copied()?;
        if (k.media_ms as f64 - media_ms).abs() > MATCH_TOLERANCE_MS + 1e-6 {
            return None;
        }
        let next = self.by_media.iter().skip(i + 1).copied().find(|n| n.media_ms > k.media_ms);
        Some((k, next))
    }
}

/// The pipeline rows, and the delivered units that matched nothing.
pub fn build(engine: &Engine, report: &Value, tap: &LabTap) -> (Vec<PipelineRow>, Vec<Unmatched>) {
    let ingests = ingests(report, tap);
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    if ingests.is_empty() {
        return (rows, unmatched);
    }
    let mut groups: Vec<(String, Vec<Unit>)> = Vec::new();
    for u in units(engine, report, tap, &mut unmatched) {
        match groups.iter_mut().find(|(g, _)| *g == u.group) {
            Some((_, v)) => v.push(u),
            None => groups.push((u.group.clone(), vec![u])),
        }
    }
    for (_, units) in groups {
        let best = ingests
            .iter()
            .filter(|i| !units.iter().all(|u| u.flow == i.flow))
            .filter_map(|i| best_offset(i, &units).map(|(off, score)| (i, off, score)))
            .max_by(|a, b| a.2.cmp(&b.2).then(b.1.abs().total_cmp(&a.1.abs())));
        let Some((ingest, offset, _)) = best else {
            unmatched.extend(units.iter().map(|u| Unmatched {
                delivery_protocol: u.protocol,
                flow: u.flow,
                uri: u.uri.clone(),
                reason: "no ingest keyframe lines up with this player's media times".into(),
            }));
            continue;
        };
        for u in units {
            match ingest.find(u.media_ms - offset) {
                Some((k, next)) => rows.push(PipelineRow {
                    ingest_protocol: "rtmp",
                    delivery_protocol: u.protocol,
                    ingest_flow: ingest.flow,
                    delivery_flow: u.flow,
                    group: u.group,
                    client: u.client,
                    unit: u.uri.is_none().then(|| "keyframe".to_string()),
                    uri: u.uri,
                    media_time_s: Some(k.media_ms as f64 / 1000.0),
                    offset_s: offset / 1000.0,
                    ingest_ts: k.ts,
                    ingest_frame: k.frame,
                    // A segment is complete when the next keyframe arrives; an RTMP relay
                    // forwards frame by frame, so there is no unit end to wait for.
                    ingest_end_ts: next.filter(|_| u.protocol != "rtmp").map(|n| n.ts),
                    delivery_ts: u.delivery,
                    delivery_frame: u.delivery_frame,
                    delivery_end_ts: u.delivery_end,
                }),
                None => unmatched.push(Unmatched {
                    delivery_protocol: u.protocol,
                    flow: u.flow,
                    uri: u.uri,
                    reason: format!(
                        "media start {:.3} s (ingest clock) is not within {MATCH_TOLERANCE_MS} ms of an ingest keyframe",
                        (u.media_ms - offset) / 1000.0
                    ),
                }),
            }
        }
    }
    rows.sort_by_key(|r| (r.delivery_ts, r.delivery_flow));
    (rows, unmatched)
}

/// RTMP publishes with keyframes.
fn ingests<'a>(report: &Value, tap: &'a LabTap) -> Vec<Ingest<'a>> {
    let roles: Vec<(u64, &str)> = report
        .get("rtmp")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e.get("flow")?.as_u64()?, e.get("role")?.as_str().unwrap_or("unknown"))))
                .collect()
        })
        .unwrap_or_default();
    let mut out: Vec<Ingest<'a>> = tap
        .keyframe_flows()
        .filter(|(f, d)| *d == Direction::C2S && roles.iter().any(|(rf, role)| *rf == u64::from(*f) && *role != "play"))
        .map(|(flow, dir)| {
            let mut by_media: Vec<&Keyframe> = tap.keyframes(flow, dir).iter().collect();
            by_media.sort_by_key(|k| (k.media_ms, k.ts));
            Ingest { flow, by_media }
        })
        .collect();
    out.sort_by_key(|i| i.flow);
    out
}

/// Delivered units: HLS/DASH media segments with a video start, and RTMP play keyframes.
fn units(engine: &Engine, report: &Value, tap: &LabTap, unmatched: &mut Vec<Unmatched>) -> Vec<Unit> {
    let mut out = Vec::new();
    for (x, fam, key) in exchanges(engine, report) {
        if !matches!(x.get("kind").and_then(Value::as_str), Some("segment" | "part")) {
            continue;
        }
        let Some(flow) = x.get("flow").and_then(Value::as_u64).and_then(|f| FlowId::try_from(f).ok()) else {
            continue;
        };
        let uri = x.get("uri").and_then(Value::as_str).map(str::to_string);
        let status = x.get("status").and_then(Value::as_u64).unwrap_or(0);
        if !(200..300).contains(&status) {
            let reason = if status == 0 { "no response".to_string() } else { format!("HTTP status {status}") };
            unmatched.push(Unmatched { delivery_protocol: fam, flow, uri, reason });
            continue;
        }
        let Some(delivery) = x.get("response_start_ts").and_then(ts_of) else {
            unmatched.push(Unmatched { delivery_protocol: fam, flow, uri, reason: "no response".into() });
            continue;
        };
        match media_start(&x) {
            Some((media_s, true)) => out.push(Unit {
                protocol: fam,
                flow,
                group: key,
                client: x.get("client").and_then(Value::as_str).unwrap_or("").to_string(),
                uri,
                media_ms: media_s * 1000.0,
                delivery,
                delivery_frame: tap.frame_at(flow, delivery),
                delivery_end: x.get("response_end_ts").and_then(ts_of),
            }),
            Some((_, false)) => unmatched.push(Unmatched {
                delivery_protocol: fam,
                flow,
                uri,
                reason: "no video in the segment (matching is by video keyframes)".into(),
            }),
            None => unmatched.push(Unmatched {
                delivery_protocol: fam,
                flow,
                uri,
                reason: "media time unknown (segment not read: cut, encrypted or an unknown container)".into(),
            }),
        }
    }
    for e in report.get("rtmp").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        if e.get("role").and_then(Value::as_str) != Some("play") {
            continue;
        }
        let Some(flow) = e.get("flow").and_then(Value::as_u64).and_then(|f| FlowId::try_from(f).ok()) else {
            continue;
        };
        let client = engine.flows.record(flow).map(|r| crate::report::addr(r.client)).unwrap_or_default();
        for k in tap.keyframes(flow, Direction::S2C) {
            out.push(Unit {
                protocol: "rtmp",
                flow,
                group: format!("rtmp:{flow}"),
                client: client.clone(),
                uri: None,
                media_ms: k.media_ms as f64,
                delivery: k.ts,
                delivery_frame: Some(k.frame),
                delivery_end: None,
            });
        }
    }
    out
}

/// The offset (delivery media ms − ingest media ms) that lines up the most units, and its
/// score (matched units, then minus the units that would have left before they arrived).
fn best_offset(ingest: &Ingest<'_>, units: &[Unit]) -> Option<(f64, (usize, i64))> {
    let mut best: Option<(f64, (usize, i64))> = None;
    for seed in units.iter().take(SEED_UNITS) {
        // A unit cannot leave before it arrived, nor (in a lab) sit for more than ten minutes.
        let plausible = |k: &&&Keyframe| k.ts <= seed.delivery && seed.delivery.ms_since(k.ts) <= 600_000.0;
        for k in ingest.by_media.iter().filter(plausible).take(MAX_CANDIDATES) {
            let off = seed.media_ms - k.media_ms as f64;
            let mut matched = 0usize;
            let mut acausal = 0i64;
            for u in units {
                if let Some((m, _)) = ingest.find(u.media_ms - off) {
                    matched += 1;
                    if m.ts > u.delivery {
                        acausal += 1;
                    }
                }
            }
            let score = (matched, -acausal);
            let better = match &best {
                None => true,
                Some((b_off, b_score)) => score > *b_score || (score == *b_score && off.abs() < b_off.abs()),
            };
            if better && matched > 0 {
                best = Some((off, score));
            }
        }
    }
    best
}

/// RTP packets a relay received on one flow and sent on another (TURN, media relays): every
/// video frame's last packet (marker bit) becomes a pipeline row, and each stream a summary.
pub fn relayed_rtp(engine: &Engine, report: &Value, rows: &mut Vec<PipelineRow>) -> Vec<super::Relay> {
    let Some(seen) = engine.app.signalled.rtp_sightings.as_ref() else { return Vec::new() };
    let srtp = |flow: FlowId, ssrc: u32| {
        let want = format!("0x{ssrc:08x}");
        report.get("rtp").and_then(Value::as_array).into_iter().flatten().any(|s| {
            s.get("flow").and_then(Value::as_u64) == Some(u64::from(flow))
                && s.get("ssrc").and_then(Value::as_str) == Some(want.as_str())
                && s.get("srtp").and_then(Value::as_bool) == Some(true)
        })
    };
    let mut per: Vec<((u32, FlowId, FlowId), Vec<f64>)> = Vec::new();
    for r in &seen.relayed {
        let key = (r.ssrc, r.first.flow, r.then.flow);
        let ms = r.then.ts.ms_since(r.first.ts);
        match per.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(ms),
            None => per.push((key, vec![ms])),
        }
        if !r.marker {
            continue;
        }
        let proto = if srtp(r.first.flow, r.ssrc) { "srtp" } else { "rtp" };
        let client = engine.flows.record(r.then.flow).map(|f| crate::report::addr(f.client)).unwrap_or_default();
        rows.push(PipelineRow {
            ingest_protocol: proto,
            delivery_protocol: proto,
            ingest_flow: r.first.flow,
            delivery_flow: r.then.flow,
            group: format!("webrtc:{}", r.then.flow),
            client,
            uri: None,
            unit: Some(format!("ssrc 0x{:08x} seq {}", r.ssrc, r.seq)),
            media_time_s: None,
            offset_s: 0.0,
            ingest_ts: r.first.ts,
            ingest_frame: r.first.frame,
            ingest_end_ts: None,
            delivery_ts: r.then.ts,
            delivery_frame: Some(r.then.frame),
            delivery_end_ts: None,
        });
    }
    rows.sort_by_key(|r| (r.delivery_ts, r.delivery_flow));
    per.into_iter()
        .filter_map(|((ssrc, from_flow, to_flow), v)| {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let packets = v.len() as u64;
            let median = super::median(v)?;
            Some(super::Relay { ssrc, from_flow, to_flow, packets, latency_ms: (min, median, max) })
        })
        .collect()
}
