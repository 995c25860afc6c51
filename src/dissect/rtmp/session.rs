//! What one RTMP connection did: commands and their replies, control messages, media tracks
//! and ingest health, summarised for the `rtmp` report section (report contract).

use super::amf0::{self, Amf0};
use super::chunk::Message;
use super::flv;
use crate::dissect::Ctx;
use crate::flow::{Direction, FlowId, PerDir};
use crate::report::{json_ms, json_ts};
use crate::session::latency::Pending;
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Commands kept in the report per connection.
const MAX_COMMANDS: usize = 2000;
/// Seconds of media time kept in a track's bitrate series.
const MAX_SERIES: usize = 24 * 3600;
/// A media timestamp jump larger than this is a stall.
const STALL_MS: u32 = 1000;

/// Message type names used in the `messages` counts (Adobe RTMP specification 1.0 §5.4, §7.1).
pub fn type_name(t: u8) -> &'static str {
    match t {
        1 => "set_chunk_size",
        2 => "abort",
        3 => "ack",
        4 => "user_control",
        5 => "window_ack_size",
        6 => "set_peer_bandwidth",
        8 => "audio",
        9 => "video",
        15 => "amf3_data",
        16 => "amf3_shared_object",
        17 => "amf3_command",
        18 => "amf0_data",
        19 => "amf0_shared_object",
        20 => "amf0_command",
        22 => "aggregate",
        _ => "unknown",
    }
}

/// §7.1.7 user control event names.
fn user_control_name(e: u16) -> &'static str {
    match e {
        0 => "stream_begin",
        1 => "stream_eof",
        2 => "stream_dry",
        3 => "set_buffer_length",
        4 => "stream_is_recorded",
        6 => "ping_request",
        7 => "ping_response",
        31 => "buffer_empty",
        32 => "buffer_ready",
        _ => "unknown",
    }
}

#[derive(Debug, Default)]
struct Track {
    codec: Option<&'static str>,
    frames: u64,
    keyframes: u64,
    sequence_headers: u64,
    bytes: u64,
    first_media: Option<u32>,
    last_media: u32,
    first_capture: Option<Timestamp>,
    last_capture: Timestamp,
    last_key_media: Option<u32>,
    gop_sum_ms: u64,
    gops: u64,
    stalls: u64,
    max_gap_ms: u32,
    /// Capture-clock time minus media-clock time since the first frame (ms): its growth is
    /// the send backlog.
    backlog_first: Option<f64>,
    backlog_last: f64,
    backlog_max: f64,
    composition_max: Option<i32>,
    enhanced: bool,
    /// Bytes per second of media time, for the bitrate series.
    per_second: Vec<u64>,
}

impl Track {
    fn frame(&mut self, media_ts: u32, capture: Timestamp, bytes: usize) {
        self.frames += 1;
        self.bytes += bytes as u64;
        match self.first_media {
            None => {
                self.first_media = Some(media_ts);
                self.first_capture = Some(capture);
            }
            Some(_) => {
                let gap = media_ts.wrapping_sub(self.last_media);
                if gap < 0x8000_0000 {
                    self.max_gap_ms = self.max_gap_ms.max(gap);
                    if gap > STALL_MS {
                        self.stalls += 1;
                    }
                }
            }
        }
        self.last_media = media_ts;
        self.last_capture = capture;
        if let Some(fm) = self.first_media {
            let sec = (media_ts.wrapping_sub(fm) / 1000) as usize;
            if sec < MAX_SERIES {
                if self.per_second.len() <= sec {
                    self.per_second.resize(sec + 1, 0);
                }
                if let Some(b) = self.per_second.get_mut(sec) {
                    *b += bytes as u64;
                }
            }
        }
        if let (Some(fm), Some(fc)) = (self.first_media, self.first_capture) {
            let backlog = capture.ms_since(fc) - f64::from(media_ts.wrapping_sub(fm));
            if self.backlog_first.is_none() {
                self.backlog_first = Some(backlog);
                self.backlog_max = backlog;
            }
            self.backlog_last = backlog;
            self.backlog_max = self.backlog_max.max(backlog);
        }
    }

    fn media_secs(&self) -> Option<f64> {
        let first = self.first_media?;
        let d = self.last_media.wrapping_sub(first);
        (d > 0 && d < 0x8000_0000).then(|| f64::from(d) / 1000.0)
    }

    fn to_json(&self, video: bool) -> Value {
        let secs = self.media_secs();
        let bitrate = secs.map(|s| json_ms(self.bytes as f64 * 8.0 / s / 1000.0)).unwrap_or(Value::Null);
        let mut v = json!({
            "codec": self.codec,
            "frames": self.frames,
            "bytes": self.bytes,
            "bitrate_kbps": bitrate,
            "sequence_headers": self.sequence_headers,
            "first_timestamp_ms": self.first_media,
            "last_timestamp_ms": self.first_media.map(|_| self.last_media),
            "max_timestamp_gap_ms": self.first_media.map(|_| self.max_gap_ms),
            "stalls": self.stalls,
            "backlog_first_ms": self.backlog_first.map(json_ms),
            "backlog_last_ms": self.backlog_first.map(|_| json_ms(self.backlog_last)),
            "backlog_max_ms": self.backlog_first.map(|_| json_ms(self.backlog_max)),
            "bitrate_series_kbps": self.per_second.iter().map(|b| json_ms(*b as f64 * 8.0 / 1000.0)).collect::<Vec<_>>(),
        });
        if let (Some(o), true) = (v.as_object_mut(), video) {
            o.insert("keyframes".into(), json!(self.keyframes));
            let fps =
                secs.filter(|_| self.frames > 1).map(|s| json_ms((self.frames - 1) as f64 / s)).unwrap_or(Value::Null);
            o.insert("fps".into(), fps);
            let gop = (self.gops > 0).then(|| json_ms(self.gop_sum_ms as f64 / self.gops as f64 / 1000.0));
            o.insert("gop_s".into(), gop.unwrap_or(Value::Null));
            o.insert("max_composition_time_ms".into(), json!(self.composition_max));
            o.insert("enhanced_rtmp".into(), json!(self.enhanced));
        }
        v
    }
}

#[derive(Debug, Clone)]
struct Command {
    ts: Timestamp,
    dir: Direction,
    name: String,
    transaction_id: Option<f64>,
    code: Option<String>,
}

/// Handshake facts (§5.2).
#[derive(Debug, Default, Clone)]
pub struct HandshakeInfo {
    /// C0 version byte.
    pub c0_version: Option<u8>,
    /// S0 version byte.
    pub s0_version: Option<u8>,
    /// Capture time of C0 (first client byte).
    pub c0_ts: Option<Timestamp>,
    /// Capture time of S0 (first server byte).
    pub s0_ts: Option<Timestamp>,
    /// `simple` or `digest` (the C1 version field is non-zero in the digest handshake).
    pub kind: Option<&'static str>,
    /// Whether C2 echoes S1 and S2 echoes C1 (simple handshake only).
    pub echo_ok: Option<bool>,
    /// C1 time field.
    pub c1_time: Option<u32>,
    /// S1 time field.
    pub s1_time: Option<u32>,
}

/// The state and summary of one RTMP connection.
#[derive(Debug, Default)]
pub struct Session {
    /// Handshake facts.
    pub handshake: HandshakeInfo,
    role: Option<&'static str>,
    app: Option<String>,
    tc_url: Option<String>,
    flash_ver: Option<String>,
    four_cc_list: Option<Value>,
    stream: Option<String>,
    publish_type: Option<String>,
    chunk_size: PerDir<Option<u32>>,
    window_ack_size: PerDir<Option<u32>>,
    peer_bandwidth: PerDir<Option<u32>>,
    messages: BTreeMap<&'static str, u64>,
    commands: Vec<Command>,
    commands_dropped: u64,
    pending: Pending<(Direction, u64), String>,
    publish_at: Option<Timestamp>,
    play_at: Option<Timestamp>,
    connect_at: Option<Timestamp>,
    connect_ms: Option<f64>,
    create_stream_ms: Option<f64>,
    publish_ms: Option<f64>,
    play_ms: Option<f64>,
    first_keyframe_ms: Option<f64>,
    pings: Pending<u32>,
    ping_rtt: Vec<f64>,
    video: PerDir<Track>,
    audio: PerDir<Track>,
    metadata: Option<Value>,
    /// Chunk-stream bytes each side sent (for RTMP Acknowledgement comparisons).
    pub sent: PerDir<u64>,
    acked: PerDir<Option<u32>>,
    max_unacked: PerDir<u64>,
    amf_errors: u64,
}

/// Masks a secret unless secrets may be shown: the first two characters, then stars.
pub fn mask(s: &str, show: bool) -> String {
    if show {
        return s.to_string();
    }
    let head: String = s.chars().take(2).collect();
    if s.chars().count() <= 2 {
        "****".into()
    } else {
        format!("{head}****")
    }
}

/// Masks the query of a URL (stream keys are often passed as `?key=…`).
fn mask_url(u: &str, show: bool) -> String {
    match u.split_once('?') {
        Some((base, _)) if !show => format!("{base}?****"),
        _ => u.to_string(),
    }
}

fn info_code(values: &[Amf0<'_>]) -> Option<String> {
    values.iter().skip(2).find_map(|v| v.get("code").and_then(Amf0::as_str)).map(str::to_string)
}

impl Session {
    /// The role, once a publish or play was seen.
    pub fn role(&self) -> &'static str {
        self.role.unwrap_or("unknown")
    }

    /// Handles one whole message from `dir`.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, dir: Direction, m: &Message<'_>) {
        let name = type_name(m.type_id);
        *self.messages.entry(name).or_insert(0) += 1;
        let mut ev = ctx.timeline.accepting().then(|| {
            Event::new(m.last_ts, Some(ctx.flow), "rtmp", format!("rtmp.{name}"), Some(dir))
                .with("type_id", FieldValue::U64(u64::from(m.type_id)))
                .with("csid", FieldValue::U64(u64::from(m.csid)))
                .with("stream_id", FieldValue::U64(u64::from(m.stream_id)))
                .with("timestamp", FieldValue::U64(u64::from(m.timestamp)))
                .with("length", FieldValue::U64(m.body.len() as u64))
        });
        match m.type_id {
            1 | 5 | 6 => {
                let v = super::be32(m.body, 0).map(|v| v & 0x7fff_ffff);
                match m.type_id {
                    1 => self.chunk_size[dir] = v,
                    5 => self.window_ack_size[dir] = v,
                    _ => self.peer_bandwidth[dir] = v,
                }
                if let (Some(e), Some(v)) = (ev.as_mut(), v) {
                    e.fields.push(("value", FieldValue::U64(u64::from(v))));
                }
            }
            3 => {
                if let Some(seq) = super::be32(m.body, 0) {
                    self.acked[dir] = Some(seq);
                    // The peer's bytes not yet acknowledged (sequence numbers wrap at 2^32).
                    let peer_sent = self.sent[dir.flip()];
                    let unacked = (peer_sent as u32).wrapping_sub(seq);
                    if unacked < 0x8000_0000 {
                        let mx = &mut self.max_unacked[dir.flip()];
                        *mx = (*mx).max(u64::from(unacked));
                    }
                    if let Some(e) = ev.as_mut() {
                        e.fields.push(("sequence", FieldValue::U64(u64::from(seq))));
                    }
                }
            }
            4 => self.user_control(ctx, dir, m, &mut ev),
            8 => self.audio_msg(dir, m.timestamp, m.first_ts, m.body, &mut ev),
            9 => self.video_msg(dir, m.timestamp, m.first_ts, m.body, &mut ev),
            15 | 17 => {
                // AMF3 data/command: a format byte (0) then, in practice, AMF0 values.
                let body = m.body.get(1..).unwrap_or(&[]);
                self.amf(ctx, dir, m, body, m.type_id == 17, &mut ev);
            }
            18 | 20 => self.amf(ctx, dir, m, m.body, m.type_id == 20, &mut ev),
            22 => self.aggregate(dir, m, &mut ev),
            _ => {}
        }
        if let Some(e) = ev {
            ctx.emit(e);
        } else {
            ctx.timeline.skipped();
        }
    }

    fn user_control(&mut self, ctx: &mut Ctx<'_>, dir: Direction, m: &Message<'_>, ev: &mut Option<Event>) {
        let Some(kind) = super::be16(m.body, 0) else { return };
        let value = super::be32(m.body, 2);
        if let Some(e) = ev.as_mut() {
            e.name = format!("rtmp.user_control.{}", user_control_name(kind)).into();
            e.fields.push(("event_type", FieldValue::U64(u64::from(kind))));
        }
        match (kind, value) {
            (6, Some(t)) => self.pings.request(t, m.last_ts, ()),
            (7, Some(t)) => {
                if let Some((ms, ())) = self.pings.reply(&t, m.first_ts) {
                    self.ping_rtt.push(ms);
                    ctx.latency.add("rtmp", "ping_rtt_ms", ms);
                    if let Some(e) = ev.as_mut() {
                        e.latency_ms = Some(ms);
                    }
                }
            }
            _ => {}
        }
        let _ = dir;
    }

    fn video_msg(&mut self, dir: Direction, media_ts: u32, capture: Timestamp, body: &[u8], ev: &mut Option<Event>) {
        let Some(tag) = flv::video(body) else { return };
        let t = &mut self.video[dir];
        t.codec = Some(tag.codec);
        t.enhanced |= tag.enhanced;
        if tag.sequence_header {
            t.sequence_headers += 1;
        }
        if tag.is_frame() {
            t.frame(media_ts, capture, body.len());
            if let Some(c) = tag.composition_time {
                t.composition_max = Some(t.composition_max.map_or(c, |m| m.max(c)));
            }
            if tag.is_key() {
                t.keyframes += 1;
                if let Some(prev) = t.last_key_media {
                    let d = media_ts.wrapping_sub(prev);
                    if d < 0x8000_0000 {
                        t.gop_sum_ms += u64::from(d);
                        t.gops += 1;
                    }
                }
                t.last_key_media = Some(media_ts);
                if self.first_keyframe_ms.is_none() {
                    if let Some(c) = self.connect_at {
                        self.first_keyframe_ms = Some(capture.ms_since(c));
                    }
                }
            }
        }
        if let Some(e) = ev.as_mut() {
            e.fields.push(("codec", FieldValue::Str(tag.codec.into())));
            e.fields.push(("keyframe", FieldValue::Bool(tag.is_key())));
            e.fields.push(("sequence_header", FieldValue::Bool(tag.sequence_header)));
            if let Some(c) = tag.composition_time {
                e.fields.push(("composition_time", FieldValue::I64(i64::from(c))));
            }
        }
    }

    fn audio_msg(&mut self, dir: Direction, media_ts: u32, capture: Timestamp, body: &[u8], ev: &mut Option<Event>) {
        let Some(tag) = flv::audio(body) else { return };
        let t = &mut self.audio[dir];
        t.codec = Some(tag.codec);
        if tag.sequence_header {
            t.sequence_headers += 1;
        } else {
            t.frame(media_ts, capture, body.len());
        }
        if let Some(e) = ev.as_mut() {
            e.fields.push(("codec", FieldValue::Str(tag.codec.into())));
            e.fields.push(("sequence_header", FieldValue::Bool(tag.sequence_header)));
        }
    }

    /// §7.1.6 aggregate message: a sequence of FLV tags (type, size, timestamp, stream id,
    /// body, back pointer) whose timestamps are rebased on the message's own.
    fn aggregate(&mut self, dir: Direction, m: &Message<'_>, ev: &mut Option<Event>) {
        let b = m.body;
        let mut p = 0usize;
        let mut first_tag_ts: Option<u32> = None;
        let mut tags = 0u64;
        while let (Some(&ty), Some(size)) = (b.get(p), super::be24(b, p + 1)) {
            let size = size as usize;
            let (Some(lo), Some(&hi)) = (super::be24(b, p + 4), b.get(p + 7)) else { break };
            let tag_ts = lo | (u32::from(hi) << 24);
            let Some(body) = b.get(p + 11..p + 11 + size) else { break };
            let base = *first_tag_ts.get_or_insert(tag_ts);
            let ts = m.timestamp.wrapping_add(tag_ts.wrapping_sub(base));
            match ty {
                8 => self.audio_msg(dir, ts, m.first_ts, body, &mut None),
                9 => self.video_msg(dir, ts, m.first_ts, body, &mut None),
                _ => {}
            }
            tags += 1;
            p += 11 + size + 4;
        }
        if let Some(e) = ev.as_mut() {
            e.fields.push(("tags", FieldValue::U64(tags)));
        }
    }

    fn amf(
        &mut self,
        ctx: &mut Ctx<'_>,
        dir: Direction,
        m: &Message<'_>,
        body: &[u8],
        command: bool,
        ev: &mut Option<Event>,
    ) {
        let (values, err) = amf0::decode_all(body);
        if let Some(e) = err {
            self.amf_errors += 1;
            ctx.anomaly("rtmp", m.last_ts, Some(dir), format!("AMF0 error at offset {}: {}", e.offset, e.what));
        }
        let Some(name) = values.first().and_then(Amf0::as_str).map(str::to_string) else { return };
        if let Some(e) = ev.as_mut() {
            let kind = if command { "command" } else { "data" };
            e.name = format!("rtmp.{kind}.{name}").into();
        }
        if !command {
            // @setDataFrame("onMetaData", {...}) or onMetaData({...}).
            let meta = values.iter().skip(1).find(|v| matches!(v, Amf0::Object(_)));
            if name == "@setDataFrame" || name == "onMetaData" {
                if let Some(meta) = meta {
                    let j = meta.to_json();
                    if let Some(e) = ev.as_mut() {
                        e.fields.push(("metadata", FieldValue::Json(j.clone())));
                    }
                    self.metadata = Some(j);
                }
            }
            return;
        }
        let txid = values.get(1).and_then(Amf0::as_f64);
        let code = info_code(&values);
        let show = ctx.show_secrets;
        let mut latency = None;
        match name.as_str() {
            "connect" => {
                let obj = values.get(2);
                let s = |k: &str| obj.and_then(|o| o.get(k)).and_then(Amf0::as_str).map(str::to_string);
                self.app = s("app");
                self.tc_url = s("tcUrl");
                self.flash_ver = s("flashVer");
                self.four_cc_list = obj.and_then(|o| o.get("fourCcList")).map(Amf0::to_json);
                self.connect_at = Some(m.last_ts);
            }
            "publish" => {
                self.role = Some("publish");
                self.stream = values.get(3).and_then(Amf0::as_str).map(str::to_string);
                self.publish_type = values.get(4).and_then(Amf0::as_str).map(str::to_string);
                self.publish_at = Some(m.last_ts);
            }
            "play" => {
                self.role = Some("play");
                self.stream = values.get(3).and_then(Amf0::as_str).map(str::to_string);
                self.play_at = Some(m.last_ts);
            }
            "_result" | "_error" => {
                if let Some((ms, req)) = txid.and_then(|t| self.pending.reply(&(dir.flip(), t.to_bits()), m.first_ts)) {
                    latency = Some(ms);
                    match req.as_str() {
                        "connect" => {
                            self.connect_ms = Some(ms);
                            ctx.latency.add("rtmp", "connect_ms", ms);
                        }
                        "createStream" => {
                            self.create_stream_ms = Some(ms);
                            ctx.latency.add("rtmp", "create_stream_ms", ms);
                        }
                        _ => ctx.latency.add("rtmp", "command_ms", ms),
                    }
                    if let Some(e) = ev.as_mut() {
                        e.fields.push(("request", FieldValue::Str(req)));
                    }
                }
            }
            "onStatus" => {
                let c = code.as_deref().unwrap_or("");
                if c == "NetStream.Publish.Start" {
                    if let Some(start) = self.publish_at.take() {
                        let ms = m.first_ts.ms_since(start);
                        self.publish_ms = Some(ms);
                        latency = Some(ms);
                        ctx.latency.add("rtmp", "publish_ms", ms);
                    }
                } else if c == "NetStream.Play.Start" {
                    if let Some(start) = self.play_at.take() {
                        let ms = m.first_ts.ms_since(start);
                        self.play_ms = Some(ms);
                        latency = Some(ms);
                        ctx.latency.add("rtmp", "play_ms", ms);
                    }
                }
            }
            _ => {}
        }
        // Any command with a non-zero transaction id may be answered by _result/_error.
        if let Some(t) = txid.filter(|t| *t > 0.0 && name != "_result" && name != "_error") {
            self.pending.request((dir, t.to_bits()), m.last_ts, name.clone());
        }
        if let Some(e) = ev.as_mut() {
            if let Some(t) = txid {
                e.fields.push(("transaction_id", FieldValue::F64(t)));
            }
            if let Some(c) = &code {
                e.fields.push(("code", FieldValue::Str(c.clone())));
            }
            if matches!(name.as_str(), "publish" | "play") {
                let s = values.get(3).and_then(Amf0::as_str).unwrap_or("");
                e.fields.push(("stream", FieldValue::Str(mask(s, show))));
            }
            if name == "connect" {
                if let Some(a) = &self.app {
                    e.fields.push(("app", FieldValue::Str(a.clone())));
                }
                if let Some(u) = &self.tc_url {
                    e.fields.push(("tc_url", FieldValue::Str(mask_url(u, show))));
                }
            }
            e.latency_ms = latency;
        }
        if self.commands.len() < MAX_COMMANDS {
            self.commands.push(Command { ts: m.last_ts, dir, name, transaction_id: txid, code });
        } else {
            self.commands_dropped += 1;
        }
    }

    /// Records the handshake latency (C0 to S0).
    pub fn handshake_latency(&self) -> Option<f64> {
        Some(self.handshake.s0_ts?.ms_since(self.handshake.c0_ts?))
    }

    /// The report entry.
    pub fn report(&self, flow: FlowId, show: bool, stats: Value) -> Value {
        let media_dir = if self.role == Some("play") { Direction::S2C } else { Direction::C2S };
        let ms = |v: Option<f64>| v.map(json_ms).unwrap_or(Value::Null);
        let commands: Vec<Value> = self
            .commands
            .iter()
            .map(|c| {
                json!({"ts": json_ts(c.ts), "dir": c.dir.as_str(), "name": c.name,
                       "transaction_id": c.transaction_id, "code": c.code})
            })
            .collect();
        let hs = &self.handshake;
        let mut messages = Map::new();
        for (k, v) in &self.messages {
            messages.insert((*k).into(), json!(v));
        }
        let video = &self.video[media_dir];
        let audio = &self.audio[media_dir];
        let skew = match (video.first_media, audio.first_media) {
            (Some(_), Some(_)) => Some(i64::from(video.last_media) - i64::from(audio.last_media)),
            _ => None,
        };
        let ping = if self.ping_rtt.is_empty() {
            Value::Null
        } else {
            let mut v = self.ping_rtt.clone();
            v.sort_by(f64::total_cmp);
            json_ms(v.get(v.len() / 2).copied().unwrap_or(f64::NAN))
        };
        json!({
            "flow": flow,
            "role": self.role(),
            "app": self.app,
            "tc_url": self.tc_url.as_deref().map(|u| mask_url(u, show)),
            "flash_ver": self.flash_ver,
            "four_cc_list": self.four_cc_list,
            "stream": self.stream.as_deref().map(|s| mask(s, show)),
            "publish_type": self.publish_type,
            "handshake": {
                "c0_version": hs.c0_version, "s0_version": hs.s0_version, "kind": hs.kind,
                "echo_ok": hs.echo_ok, "encrypted": hs.c0_version == Some(6),
                "c0_ts": hs.c0_ts.map(json_ts), "s0_ts": hs.s0_ts.map(json_ts),
            },
            "handshake_ms": ms(self.handshake_latency()),
            "connect_ms": ms(self.connect_ms),
            "create_stream_ms": ms(self.create_stream_ms),
            "publish_ms": ms(self.publish_ms),
            "play_ms": ms(self.play_ms),
            "first_keyframe_ms": ms(self.first_keyframe_ms),
            "ping_rtt_ms": ping,
            "chunk_size_c2s": self.chunk_size.c2s,
            "chunk_size_s2c": self.chunk_size.s2c,
            "window_ack_size_c2s": self.window_ack_size.c2s,
            "window_ack_size_s2c": self.window_ack_size.s2c,
            "peer_bandwidth_c2s": self.peer_bandwidth.c2s,
            "peer_bandwidth_s2c": self.peer_bandwidth.s2c,
            "messages": Value::Object(messages),
            "commands": commands,
            "commands_not_kept": self.commands_dropped,
            "video": video.to_json(true),
            "audio": audio.to_json(false),
            "av_skew_ms": skew,
            "metadata_fps": self.metadata.as_ref().and_then(|m| m.get("framerate").or_else(|| m.get("fps"))).cloned(),
            "metadata": self.metadata,
            "ingest": {
                "direction": media_dir.as_str(),
                "bytes_sent": self.sent[media_dir],
                "last_ack": self.acked[media_dir.flip()],
                "max_unacked_bytes": self.max_unacked[media_dir],
                "backlog_growth_ms": video.backlog_first.map(|f| json_ms(video.backlog_last - f)),
            },
            "amf_errors": self.amf_errors,
            "chunk_stream": stats,
        })
    }
}
