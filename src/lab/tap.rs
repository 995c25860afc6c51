//! The lab's event collector: sees every event as it is emitted (even when the timeline keeps
//! none) and keeps the little the lab needs — the first time each kind of event happened on a
//! flow, the frame numbers behind event times, RTMP keyframes by media time, media arrival
//! jitter and the control protocol's reply latencies. Every table has a cap.

use crate::flow::{Direction, FlowId};
use crate::time::Timestamp;
use crate::timeline::{Event, EventTap, FieldValue};
use std::collections::HashMap;

/// Most flows whose first events are remembered.
pub const MAX_FLOWS: usize = 100_000;
/// Most distinct event kinds remembered per flow.
pub const MAX_KINDS_PER_FLOW: usize = 64;
/// Most (time, frame) pairs kept in all.
pub const MAX_FRAMES: usize = 2_000_000;
/// Most keyframes kept in all.
pub const MAX_KEYFRAMES: usize = 500_000;
/// Most reply latencies kept per flow.
pub const MAX_REPLIES_PER_FLOW: usize = 4096;

/// Key of the first RTP packet that carried a payload (see [`LabTap::first`]).
pub const MEDIA_KEY: &str = "rtp.media";

/// The first event of one kind on a flow.
#[derive(Debug, Clone)]
pub struct First {
    /// Event name, qualified where one name covers several things
    /// (`rtmp.command._result:connect`, `rtmp.command.onStatus:NetStream.Publish.Start`,
    /// `rtsp.request:PLAY`).
    pub key: String,
    /// Capture time.
    pub ts: Timestamp,
    /// Frame number.
    pub frame: u64,
    /// Latency measured at the event, if any.
    pub latency_ms: Option<f64>,
}

/// A video keyframe (not a sequence header) carried by RTMP.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keyframe {
    /// RTMP timestamp, ms.
    pub media_ms: i64,
    /// Capture time of the packet that completed the message.
    pub ts: Timestamp,
    /// That packet's frame number.
    pub frame: u64,
}

/// RFC 3550 §6.4.1 interarrival jitter of media units against their media timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Jitter {
    last: Option<(Timestamp, f64)>,
    /// Current estimate, ms.
    pub jitter_ms: f64,
    /// Units seen.
    pub units: u64,
}

impl Jitter {
    /// One media unit that arrived at `arrival` with media time `media_ms`.
    pub fn add(&mut self, arrival: Timestamp, media_ms: f64) {
        if let Some((t, m)) = self.last {
            // D(i,j) = (Rj − Ri) − (Sj − Si); J += (|D| − J) / 16
            let d = arrival.ms_since(t) - (media_ms - m);
            self.jitter_ms += (d.abs() - self.jitter_ms) / 16.0;
        }
        self.last = Some((arrival, media_ms));
        self.units += 1;
    }
}

/// What the lab collected from the event stream.
#[derive(Debug, Default)]
pub struct LabTap {
    firsts: HashMap<FlowId, Vec<First>>,
    frames: HashMap<FlowId, Vec<(i64, u64)>>,
    frames_kept: usize,
    keyframes: HashMap<(FlowId, Direction), Vec<Keyframe>>,
    keyframes_kept: usize,
    /// Video arrival jitter per RTMP flow and direction.
    pub video_jitter: HashMap<(FlowId, Direction), Jitter>,
    replies: HashMap<FlowId, Vec<(&'static str, f64)>>,
    /// Entries not kept because a cap was reached.
    pub capped: u64,
}

fn field<'a>(ev: &'a Event, key: &str) -> Option<&'a FieldValue> {
    ev.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

fn field_str<'a>(ev: &'a Event, key: &str) -> Option<&'a str> {
    match field(ev, key) {
        Some(FieldValue::Str(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn field_bool(ev: &Event, key: &str) -> bool {
    matches!(field(ev, key), Some(FieldValue::Bool(true)))
}

fn field_i64(ev: &Event, key: &str) -> Option<i64> {
    match field(ev, key) {
        Some(FieldValue::U64(v)) => i64::try_from(*v).ok(),
        Some(FieldValue::I64(v)) => Some(*v),
        _ => None,
    }
}

/// The key an event is remembered under (see [`First::key`]).
fn kind_key(ev: &Event) -> String {
    let name = ev.name.as_ref();
    let qualifier = match name {
        "rtmp.command._result" | "rtmp.command._error" => field_str(ev, "request"),
        "rtmp.command.onStatus" => field_str(ev, "code"),
        "rtsp.request" | "rtsp.response" => field_str(ev, "method"),
        _ => None,
    };
    match qualifier {
        Some(q) => format!("{name}:{q}"),
        None => name.to_string(),
    }
}

impl LabTap {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first event of kind `key` on `flow`.
    pub fn first(&self, flow: FlowId, key: &str) -> Option<&First> {
        self.firsts.get(&flow)?.iter().find(|f| f.key == key)
    }

    /// The first event on `flow` whose kind starts with `prefix`.
    pub fn first_prefixed(&self, flow: FlowId, prefix: &str) -> Option<&First> {
        self.firsts.get(&flow)?.iter().filter(|f| f.key.starts_with(prefix)).min_by_key(|f| f.ts)
    }

    /// The frame number of an event on `flow` emitted at exactly `ts`, if one was seen.
    pub fn frame_at(&self, flow: FlowId, ts: Timestamp) -> Option<u64> {
        let v = self.frames.get(&flow)?;
        let t = ts.micros();
        let i = v.partition_point(|(x, _)| *x < t);
        v.get(i).filter(|(x, _)| *x == t).map(|(_, f)| *f)
    }

    /// RTMP video keyframes of a flow in one direction, in arrival order.
    pub fn keyframes(&self, flow: FlowId, dir: Direction) -> &[Keyframe] {
        self.keyframes.get(&(flow, dir)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Flows and directions that carried RTMP keyframes.
    pub fn keyframe_flows(&self) -> impl Iterator<Item = (FlowId, Direction)> + '_ {
        self.keyframes.keys().copied()
    }

    /// Reply latencies of one protocol on a flow.
    pub fn replies(&self, flow: FlowId, protocol: &str) -> Vec<f64> {
        self.replies
            .get(&flow)
            .map(|v| v.iter().filter(|(p, _)| *p == protocol).map(|(_, l)| *l).collect())
            .unwrap_or_default()
    }

    fn remember_first(&mut self, flow: FlowId, ev: &Event, key: String) {
        if !self.firsts.contains_key(&flow) && self.firsts.len() >= MAX_FLOWS {
            self.capped += 1;
            return;
        }
        let list = self.firsts.entry(flow).or_default();
        if list.iter().any(|f| f.key == key) {
            return;
        }
        if list.len() >= MAX_KINDS_PER_FLOW {
            self.capped += 1;
            return;
        }
        list.push(First { key, ts: ev.ts, frame: ev.frame, latency_ms: ev.latency_ms });
    }

    fn remember_frame(&mut self, flow: FlowId, ev: &Event) {
        if ev.frame == 0 {
            return;
        }
        let v = self.frames.entry(flow).or_default();
        let t = ev.ts.micros();
        if v.last().is_some_and(|(x, _)| *x == t) {
            return;
        }
        if self.frames_kept >= MAX_FRAMES {
            self.capped += 1;
            return;
        }
        // Events of a flow come in capture order; a capture whose clock went back is kept sorted.
        let at = v.partition_point(|(x, _)| *x <= t);
        v.insert(at, (t, ev.frame));
        self.frames_kept += 1;
    }

    fn remember_video(&mut self, flow: FlowId, ev: &Event) {
        let (Some(dir), Some(media_ms)) = (ev.dir, field_i64(ev, "timestamp")) else { return };
        if field_bool(ev, "sequence_header") {
            return;
        }
        self.video_jitter.entry((flow, dir)).or_default().add(ev.ts, media_ms as f64);
        if !field_bool(ev, "keyframe") {
            return;
        }
        if self.keyframes_kept >= MAX_KEYFRAMES {
            self.capped += 1;
            return;
        }
        self.keyframes.entry((flow, dir)).or_default().push(Keyframe { media_ms, ts: ev.ts, frame: ev.frame });
        self.keyframes_kept += 1;
    }
}

impl EventTap for LabTap {
    fn observe(&mut self, ev: &Event) {
        let Some(flow) = ev.flow else { return };
        self.remember_first(flow, ev, kind_key(ev));
        if ev.name == "rtp.stream.start" && field_i64(ev, "payload_bytes").is_some_and(|n| n > 0) {
            // Media, not a hole-punching packet (ffmpeg sends empty RTP to open NATs).
            self.remember_first(flow, ev, MEDIA_KEY.to_string());
        }
        self.remember_frame(flow, ev);
        if ev.name == "rtmp.video" {
            self.remember_video(flow, ev);
        }
        if let Some(l) = ev.latency_ms {
            if ev.protocol != "tcp" && !ev.name.starts_with("rtmp.handshake") {
                let v = self.replies.entry(flow).or_default();
                if v.len() < MAX_REPLIES_PER_FLOW {
                    v.push((ev.protocol, l));
                } else {
                    self.capped += 1;
                }
            }
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_follows_rfc3550() {
        let mut j = Jitter::default();
        let t = |ms: i64| Timestamp(ms * 1_000_000);
        j.add(t(0), 0.0);
        j.add(t(100), 66.0); // D = 34
        assert!((j.jitter_ms - 34.0 / 16.0).abs() < 1e-9);
        j.add(t(166), 132.0); // D = 0
        assert!((j.jitter_ms - (34.0 / 16.0) * 15.0 / 16.0).abs() < 1e-9);
        assert_eq!(j.units, 3);
    }

    #[test]
    fn frames_are_found_by_exact_time_and_firsts_are_qualified() {
        let mut tap = LabTap::new();
        let mut ev = Event::new(Timestamp(5_000), Some(3), "rtmp", "rtmp.command._result", Some(Direction::S2C))
            .with("request", FieldValue::Str("connect".into()))
            .latency(4.0);
        ev.frame = 9;
        tap.observe(&ev);
        let mut later = ev.clone();
        later.ts = Timestamp(9_000);
        later.frame = 12;
        tap.observe(&later);
        assert_eq!(tap.first(3, "rtmp.command._result:connect").map(|f| f.frame), Some(9));
        assert_eq!(tap.frame_at(3, Timestamp(9_000)), Some(12));
        assert_eq!(tap.frame_at(3, Timestamp(8_000)), None);
        assert_eq!(tap.replies(3, "rtmp"), vec![4.0, 4.0]);
    }
}
