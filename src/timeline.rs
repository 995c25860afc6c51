//! Events and the timeline store. Dissectors and the flow table emit [`Event`]s in capture
//! order; the store keeps them (up to a cap, counting what it had to drop) or streams them out
//! as NDJSON for `--events`.

use crate::flow::{Direction, FlowId};
use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::io::Write;

/// One typed field value of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// Unsigned integer.
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// Floating point (durations in ms, rates…).
    F64(f64),
    /// Text.
    Str(String),
    /// Flag.
    Bool(bool),
    /// Structured value (lists, nested objects).
    Json(Value),
}

impl FieldValue {
    /// The value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::U64(v) => Value::from(*v),
            FieldValue::I64(v) => Value::from(*v),
            FieldValue::F64(v) => crate::report::json_ms(*v),
            FieldValue::Str(s) => Value::from(s.as_str()),
            FieldValue::Bool(b) => Value::from(*b),
            FieldValue::Json(v) => v.clone(),
        }
    }
}

/// Something that happened at a capture time on a flow.
#[derive(Debug, Clone)]
pub struct Event {
    /// Capture time of the packet that completed the event.
    pub ts: Timestamp,
    /// The flow, when the event belongs to one.
    pub flow: Option<FlowId>,
    /// Protocol that produced the event (`tcp`, `udp`, `rtmp`, …).
    pub protocol: &'static str,
    /// Dotted event name (`tcp.handshake`, `rtmp.command.connect`, …).
    pub name: Cow<'static, str>,
    /// Direction of the packet, when it has one.
    pub dir: Option<Direction>,
    /// A latency measured at this event, in ms.
    pub latency_ms: Option<f64>,
    /// The event's own fields, in order.
    pub fields: Vec<(&'static str, FieldValue)>,
    /// Number (1-based, as tshark's `frame.number`) of the captured frame being processed when
    /// the event was emitted — the packet that completed it; 0 when not known. Set by
    /// [`Timeline::push`].
    pub frame: u64,
}

impl Event {
    /// A new event without fields.
    pub fn new(
        ts: Timestamp,
        flow: Option<FlowId>,
        protocol: &'static str,
        name: impl Into<Cow<'static, str>>,
        dir: Option<Direction>,
    ) -> Self {
        Event { ts, flow, protocol, name: name.into(), dir, latency_ms: None, fields: Vec::new(), frame: 0 }
    }

    /// Adds a field.
    pub fn with(mut self, key: &'static str, value: FieldValue) -> Self {
        self.fields.push((key, value));
        self
    }

    /// Sets the latency measured at this event.
    pub fn latency(mut self, ms: f64) -> Self {
        self.latency_ms = Some(ms);
        self
    }

    /// The event as one JSON object, as `--events` prints it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("ts".into(), crate::report::json_ts(self.ts));
        m.insert("flow".into(), self.flow.map(Value::from).unwrap_or(Value::Null));
        m.insert("protocol".into(), Value::from(self.protocol));
        m.insert("event".into(), Value::from(self.name.as_ref()));
        m.insert("dir".into(), self.dir.map(|d| Value::from(d.as_str())).unwrap_or(Value::Null));
        if self.frame > 0 {
            m.insert("frame".into(), Value::from(self.frame));
        }
        if let Some(l) = self.latency_ms {
            m.insert("latency_ms".into(), crate::report::json_ms(l));
        }
        for (k, v) in &self.fields {
            m.insert((*k).into(), v.to_json());
        }
        Value::Object(m)
    }
}

/// Something that looks at every event as it is emitted, whether or not the store keeps it
/// (the latency lab's collector). It must keep its own memory bounded.
pub trait EventTap: Send {
    /// Sees one event.
    fn observe(&mut self, ev: &Event);
    /// The tap as `Any`, so its owner can read what it collected.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Where events go.
pub struct Timeline {
    kept: Vec<Event>,
    /// Number of the frame being processed (stamped on each event pushed).
    pub frame: u64,
    tap: Option<Box<dyn EventTap>>,
    cap: usize,
    /// Events not kept because the cap was reached.
    pub dropped: u64,
    /// The events not kept, counted by name (at most [`Timeline::MAX_DROPPED_NAMES`] names;
    /// the rest under `other`).
    pub dropped_by_name: std::collections::BTreeMap<String, u64>,
    /// Events emitted in all.
    pub total: u64,
    stream: Option<Box<dyn Write + Send>>,
    /// Set when writing the stream failed (e.g. a closed pipe); later events are not written.
    pub stream_error: Option<String>,
}

impl Timeline {
    /// Most distinct names counted in [`Timeline::dropped_by_name`].
    pub const MAX_DROPPED_NAMES: usize = 256;

    /// A store that keeps up to `cap` events in memory.
    pub fn new(cap: usize) -> Self {
        Timeline {
            kept: Vec::new(),
            frame: 0,
            tap: None,
            cap,
            dropped: 0,
            dropped_by_name: Default::default(),
            total: 0,
            stream: None,
            stream_error: None,
        }
    }

    /// A timeline that writes every event as an NDJSON line and keeps none.
    pub fn streaming(out: Box<dyn Write + Send>) -> Self {
        Timeline {
            kept: Vec::new(),
            frame: 0,
            tap: None,
            cap: 0,
            dropped: 0,
            dropped_by_name: Default::default(),
            total: 0,
            stream: Some(out),
            stream_error: None,
        }
    }

    /// Whether a new event would be kept or written (callers may skip building one if not;
    /// it is still counted by [`Timeline::skipped`]).
    pub fn accepting(&self) -> bool {
        self.stream.is_some() || self.tap.is_some() || self.kept.len() < self.cap
    }

    /// Sets the tap that sees every event from now on.
    pub fn set_tap(&mut self, tap: Box<dyn EventTap>) {
        self.tap = Some(tap);
    }

    /// The tap, if one is set.
    pub fn tap(&self) -> Option<&dyn EventTap> {
        self.tap.as_deref()
    }

    /// Counts an event that was not built because the store was full.
    pub fn skipped(&mut self) {
        self.total += 1;
        self.dropped += 1;
    }

    /// Adds an event.
    pub fn push(&mut self, mut ev: Event) {
        self.total += 1;
        if ev.frame == 0 {
            ev.frame = self.frame;
        }
        if let Some(tap) = self.tap.as_mut() {
            tap.observe(&ev);
        }
        if let Some(out) = self.stream.as_mut() {
            if self.stream_error.is_none() {
                let line = ev.to_json().to_string();
                if let Err(e) = out.write_all(line.as_bytes()).and_then(|_| out.write_all(b"\n")) {
                    self.stream_error = Some(e.to_string());
                }
            }
            return;
        }
        if self.kept.len() < self.cap {
            self.kept.push(ev);
        } else {
            self.dropped += 1;
            self.count_dropped(ev.name.as_ref());
        }
    }

    /// Counts an event named `name` that was not built because nothing would keep it (the
    /// same counts as building it and letting [`Timeline::push`] drop it).
    pub fn skipped_named(&mut self, name: &str) {
        self.total += 1;
        self.dropped += 1;
        self.count_dropped(name);
    }

    /// Aggregates a dropped event by name, for the UI's "not kept" line.
    fn count_dropped(&mut self, name: &str) {
        if let Some(n) = self.dropped_by_name.get_mut(name) {
            *n += 1;
        } else if self.dropped_by_name.len() < Self::MAX_DROPPED_NAMES {
            self.dropped_by_name.insert(name.to_string(), 1);
        } else {
            *self.dropped_by_name.entry("other".into()).or_default() += 1;
        }
    }

    /// The events kept, in capture order.
    pub fn events(&self) -> &[Event] {
        &self.kept
    }

    /// Flushes the NDJSON stream, if any.
    pub fn flush(&mut self) {
        if let Some(out) = self.stream.as_mut() {
            if let Err(e) = out.flush() {
                self.stream_error.get_or_insert(e.to_string());
            }
        }
    }
}
