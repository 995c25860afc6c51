//! HTTP/3 (RFC 9114) over the reassembled streams of a decrypted QUIC connection: frames
//! (§7.2: DATA, HEADERS, CANCEL_PUSH, SETTINGS, PUSH_PROMISE, GOAWAY, MAX_PUSH_ID; reserved
//! and unknown types skipped, §9), unidirectional stream types (§6.2: control, push; RFC 9204
//! §4.2: QPACK encoder and decoder), request streams (§4.1) turned into HTTP exchanges with
//! QPACK-decoded fields, and header blocks blocked on the dynamic table (RFC 9204 §2.1.2) held
//! until the encoder stream catches up.

use super::initial::varint;
use super::qpack::{DynamicTable, Field, SectionError};
use crate::dissect::http::exchanges::{Exchanges, RequestHead, ResponseHead};
use crate::dissect::Ctx;
use crate::flow::{Direction, FlowId, PerDir};
use crate::time::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Largest HEADERS / SETTINGS / control frame payload buffered.
const MAX_FRAME: u64 = 256 * 1024;
/// Stream bytes held per stream direction while its header block is blocked.
const MAX_BLOCKED_BYTES: usize = 1 << 20;
/// Stream bytes held for all blocked streams of a connection.
const MAX_BLOCKED_TOTAL: usize = 16 << 20;
/// Request streams tracked per connection.
const MAX_REQUEST_STREAMS: usize = 65_536;
/// SETTINGS pairs kept per side.
const MAX_SETTINGS: usize = 64;

/// §7.2: a frame type's name.
pub fn frame_name(ty: u64) -> &'static str {
    match ty {
        0x00 => "data",
        0x01 => "headers",
        0x03 => "cancel_push",
        0x04 => "settings",
        0x05 => "push_promise",
        0x07 => "goaway",
        0x0d => "max_push_id",
        t if t >= 0x21 && (t - 0x21) % 0x1f == 0 => "reserved",
        _ => "unknown",
    }
}

/// What the frame reader produced.
enum Item {
    /// A complete frame other than DATA: type, payload, capture time of its first byte.
    Frame(u64, Vec<u8>, Timestamp),
    /// The header of a DATA frame was read.
    DataStart,
    /// DATA payload bytes (a DATA frame may be split over many items).
    Data(Vec<u8>),
}

/// Reads HTTP/3 frames from the in-order bytes of one stream direction.
#[derive(Default)]
struct FrameReader {
    /// Type and length bytes read so far (at most 16), or the payload of a buffered frame.
    buf: Vec<u8>,
    /// In a payload: its type, bytes left, whether it is buffered.
    payload: Option<(u64, u64, bool)>,
    start: Timestamp,
    /// A frame was too large to buffer: the stream is no longer read.
    broken: bool,
}

impl FrameReader {
    /// The next item from `data[*pos..]`, advancing `pos`; None when `data` is used up.
    fn next(&mut self, data: &[u8], pos: &mut usize, ts: Timestamp) -> Option<Item> {
        loop {
            if self.broken {
                *pos = data.len();
                return None;
            }
            let rest = data.get(*pos..).unwrap_or(&[]);
            match self.payload {
                None => {
                    let (Some(&b), true) = (rest.first(), self.buf.len() < 16) else {
                        if !rest.is_empty() {
                            self.broken = true;
                        }
                        return None;
                    };
                    if self.buf.is_empty() {
                        self.start = ts;
                    }
                    self.buf.push(b);
                    *pos += 1;
                    let mut p = 0;
                    let (Some(ty), Some(len)) = (varint(&self.buf, &mut p), varint(&self.buf, &mut p)) else {
                        continue;
                    };
                    self.buf.clear();
                    if ty == 0x00 {
                        self.payload = (len > 0).then_some((ty, len, false));
                        return Some(Item::DataStart);
                    }
                    let keep = matches!(frame_name(ty), "headers" | "settings" | "goaway" | "push_promise");
                    if keep && len > MAX_FRAME {
                        self.broken = true;
                        return None;
                    }
                    self.payload = Some((ty, len, keep));
                    if len == 0 {
                        self.payload = None;
                        return Some(Item::Frame(ty, Vec::new(), self.start));
                    }
                }
                Some((ty, left, keep)) => {
                    if rest.is_empty() {
                        return None;
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    let chunk = rest.get(..n).unwrap_or(&[]);
                    *pos += n;
                    let left = left - n as u64;
                    self.payload = if left == 0 { None } else { Some((ty, left, keep)) };
                    if ty == 0x00 {
                        return Some(Item::Data(chunk.to_vec()));
                    }
                    if keep {
                        self.buf.extend_from_slice(chunk);
                    }
                    if left == 0 {
                        return Some(Item::Frame(ty, std::mem::take(&mut self.buf), self.start));
                    }
                }
            }
        }
    }
}

/// A header block waiting for dynamic table inserts, and the stream bytes that came after it.
struct Blocked {
    required: u64,
    block: Vec<u8>,
    start: Timestamp,
    /// Later bytes of the stream with their capture times; `true` marks the FIN.
    queued: Vec<(Vec<u8>, Timestamp, bool)>,
    bytes: usize,
}

/// One direction of a request stream.
#[derive(Default)]
struct Half {
    reader: FrameReader,
    blocked: Option<Blocked>,
    /// A final HEADERS was processed (later HEADERS are trailers).
    head_done: bool,
}

/// A client-initiated bidirectional stream: a request and its response (§4.1).
#[derive(Default)]
struct RequestStream {
    halves: PerDir<Half>,
    exchange: Option<usize>,
    keep: usize,
}

/// What a unidirectional stream is (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UniKind {
    Control,
    Push,
    Encoder,
    Decoder,
    Other(u64),
}

struct UniStream {
    dir: Direction,
    /// Known once the type varint is read.
    kind: Option<UniKind>,
    head: Vec<u8>,
    reader: FrameReader,
}

/// The HTTP/3 state of one QUIC connection.
#[derive(Default)]
pub struct H3 {
    requests: BTreeMap<u64, RequestStream>,
    uni: BTreeMap<u64, UniStream>,
    /// Dynamic tables, by the direction of the field sections they decode (fed by the
    /// encoder stream of the same direction).
    tables: PerDir<DynamicTable>,
    settings: PerDir<Vec<(u64, u64)>>,
    exchanges: Exchanges,
    frames: BTreeMap<&'static str, u64>,
    uni_types: BTreeMap<&'static str, u64>,
    qpack_errors: u64,
    blocked_sections: u64,
    /// Stream directions waiting for the dynamic table now, and the bytes they hold.
    blocked_now: usize,
    blocked_bytes: usize,
    untracked_streams: u64,
    goaway: Option<u64>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn field<'a>(fields: &'a [Field], name: &str) -> Option<&'a [u8]> {
    fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v.as_slice())
}

impl H3 {
    /// Whether anything HTTP/3 was seen.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.uni.is_empty()
    }

    /// In-order bytes of stream `id` sent in direction `dir`; `fin` when they end it.
    pub fn stream_data(&mut self, ctx: &mut Ctx<'_>, id: u64, dir: Direction, data: &[u8], fin: bool, ts: Timestamp) {
        let client_initiated = id & 0x01 == 0;
        let uni = id & 0x02 != 0;
        if uni {
            self.uni_data(ctx, id, dir, data, ts);
            return;
        }
        if !client_initiated {
            // §6.1: server-initiated bidirectional streams are not used by HTTP/3.
            return;
        }
        if !self.requests.contains_key(&id) && self.requests.len() >= MAX_REQUEST_STREAMS {
            self.untracked_streams += 1;
            return;
        }
        let half = &mut self.requests.entry(id).or_default().halves[dir];
        if let Some(b) = half.blocked.as_mut() {
            if b.bytes + data.len() > MAX_BLOCKED_BYTES || self.blocked_bytes + data.len() > MAX_BLOCKED_TOTAL {
                // Too much waiting on the encoder stream: give this stream direction up.
                self.blocked_bytes -= b.bytes;
                self.blocked_now -= 1;
                half.blocked = None;
                half.reader.broken = true;
                self.qpack_errors += 1;
                return;
            }
            b.bytes += data.len();
            self.blocked_bytes += data.len();
            b.queued.push((data.to_vec(), ts, fin));
            return;
        }
        self.read_request_stream(ctx, id, dir, data, ts);
        if fin {
            match self.requests.get_mut(&id).and_then(|rs| rs.halves[dir].blocked.as_mut()) {
                // The FIN waits behind the blocked header block.
                Some(b) => b.queued.push((Vec::new(), ts, true)),
                None => self.stream_end(ctx, id, dir, ts),
            }
        }
    }

    /// Frames of a request stream direction; stops (queuing the rest) when a header block is
    /// blocked.
    fn read_request_stream(&mut self, ctx: &mut Ctx<'_>, id: u64, dir: Direction, data: &[u8], ts: Timestamp) {
        let mut pos = 0usize;
        loop {
            let Some(rs) = self.requests.get_mut(&id) else { return };
            let Some(item) = rs.halves[dir].reader.next(data, &mut pos, ts) else { return };
            match item {
                Item::DataStart => *self.frames.entry("data").or_insert(0) += 1,
                Item::Data(bytes) => {
                    if let (Direction::S2C, Some(i)) = (dir, rs.exchange) {
                        if rs.halves.s2c.head_done {
                            self.exchanges.body(i, rs.keep, &bytes);
                        }
                    }
                }
                Item::Frame(ty, payload, start) => {
                    *self.frames.entry(frame_name(ty)).or_insert(0) += 1;
                    if ty != 0x01 {
                        continue;
                    }
                    match self.tables[dir].decode_section(&payload) {
                        Ok(fields) => self.headers(ctx, id, dir, &fields, start),
                        Err(SectionError::Blocked(required)) => {
                            self.blocked_sections += 1;
                            let mut rest = data.get(pos..).unwrap_or(&[]).to_vec();
                            if self.blocked_bytes + rest.len() > MAX_BLOCKED_TOTAL {
                                rest.clear();
                                self.qpack_errors += 1;
                            }
                            let bytes = rest.len();
                            self.blocked_bytes += bytes;
                            self.blocked_now += 1;
                            let queued = if rest.is_empty() { Vec::new() } else { vec![(rest, ts, false)] };
                            if let Some(rs) = self.requests.get_mut(&id) {
                                rs.halves[dir].blocked =
                                    Some(Blocked { required, block: payload, start, queued, bytes });
                            }
                            return;
                        }
                        Err(SectionError::Bad(why)) => {
                            self.qpack_errors += 1;
                            ctx.anomaly("quic", start, Some(dir), format!("HTTP/3 stream {id}: QPACK: {why}"));
                        }
                    }
                }
            }
        }
    }

    /// A decoded field section of request stream `id`.
    fn headers(&mut self, ctx: &mut Ctx<'_>, id: u64, dir: Direction, fields: &[Field], start: Timestamp) {
        let Some(rs) = self.requests.get_mut(&id) else { return };
        if rs.halves[dir].head_done {
            // Trailers (§4.1).
            return;
        }
        let get = |n: &str| field(fields, n).map(text);
        match dir {
            Direction::C2S => {
                rs.halves.c2s.head_done = true;
                let head = RequestHead {
                    start,
                    version: "h3",
                    method: get(":method").unwrap_or_default(),
                    uri: get(":path").unwrap_or_default(),
                    host: get(":authority").or_else(|| get("host")),
                    range: get("range"),
                    user_agent: get("user-agent"),
                };
                rs.exchange = self.exchanges.request(ctx, dir, head);
            }
            Direction::S2C => {
                let status = get(":status").and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
                if (100..200).contains(&status) {
                    // Interim response.
                    return;
                }
                rs.halves.s2c.head_done = true;
                let head = ResponseHead {
                    start,
                    status,
                    content_type: get("content-type"),
                    content_length: get("content-length").and_then(|v| v.trim().parse().ok()),
                    content_encoding: get("content-encoding"),
                };
                let idx = rs.exchange;
                match self.exchanges.response(ctx, dir, idx, "h3", head) {
                    Some((i, keep)) => {
                        rs.exchange = Some(i);
                        rs.keep = keep;
                    }
                    None => rs.exchange = None,
                }
            }
        }
    }

    /// Stream `id`'s direction `dir` ended (all bytes through the FIN delivered).
    fn stream_end(&mut self, ctx: &mut Ctx<'_>, id: u64, dir: Direction, ts: Timestamp) {
        let Some(rs) = self.requests.get(&id) else { return };
        let Some(i) = rs.exchange else { return };
        match dir {
            Direction::C2S => self.exchanges.request_end(i, ts),
            Direction::S2C if rs.halves.s2c.head_done => self.exchanges.response_end(ctx, i, ts),
            Direction::S2C => {}
        }
    }

    /// Retries blocked header blocks of direction `dir` after its table grew.
    fn unblock(&mut self, ctx: &mut Ctx<'_>, dir: Direction) {
        if self.blocked_now == 0 {
            return;
        }
        let count = self.tables[dir].insert_count();
        let ready: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, rs)| rs.halves[dir].blocked.as_ref().is_some_and(|b| b.required <= count))
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            let Some(b) = self.requests.get_mut(&id).and_then(|rs| rs.halves[dir].blocked.take()) else { continue };
            self.blocked_now -= 1;
            self.blocked_bytes -= b.bytes;
            match self.tables[dir].decode_section(&b.block) {
                Ok(fields) => self.headers(ctx, id, dir, &fields, b.start),
                Err(_) => {
                    self.qpack_errors += 1;
                    ctx.anomaly("quic", b.start, Some(dir), format!("HTTP/3 stream {id}: QPACK section undecodable"));
                }
            }
            for (data, ts, fin) in b.queued {
                // Re-enter the normal path: a later block may block again and re-queue.
                self.stream_data(ctx, id, dir, &data, fin, ts);
            }
        }
    }

    fn uni_data(&mut self, ctx: &mut Ctx<'_>, id: u64, dir: Direction, data: &[u8], ts: Timestamp) {
        if !self.uni.contains_key(&id) && self.uni.len() >= MAX_REQUEST_STREAMS {
            self.untracked_streams += 1;
            return;
        }
        let s = self.uni.entry(id).or_insert_with(|| UniStream {
            dir,
            kind: None,
            head: Vec::new(),
            reader: FrameReader::default(),
        });
        let mut data = data;
        if s.kind.is_none() {
            // §6.2: the stream type, a variable-length integer.
            let Some((&b, rest)) = data.split_first() else { return };
            s.head.push(b);
            data = rest;
            let mut p = 0;
            let mut need_more = true;
            while need_more {
                if let Some(t) = varint(&s.head, &mut p) {
                    s.kind = Some(match t {
                        0x00 => UniKind::Control,
                        0x01 => UniKind::Push,
                        0x02 => UniKind::Encoder,
                        0x03 => UniKind::Decoder,
                        t => UniKind::Other(t),
                    });
                    let name = match s.kind {
                        Some(UniKind::Control) => "control",
                        Some(UniKind::Push) => "push",
                        Some(UniKind::Encoder) => "qpack_encoder",
                        Some(UniKind::Decoder) => "qpack_decoder",
                        _ => "other",
                    };
                    *self.uni_types.entry(name).or_insert(0) += 1;
                    need_more = false;
                } else if let Some((&b, rest)) = data.split_first() {
                    s.head.push(b);
                    data = rest;
                    p = 0;
                } else {
                    return;
                }
            }
        }
        let Some(s) = self.uni.get_mut(&id) else { return };
        let sdir = s.dir;
        match s.kind {
            Some(UniKind::Encoder) => {
                let before = self.tables[sdir].insert_count();
                if !self.tables[sdir].feed_encoder_stream(data) && self.tables[sdir].broken().is_some() {
                    if data.is_empty() {
                        return;
                    }
                    self.qpack_errors += 1;
                    let why = self.tables[sdir].broken().unwrap_or("invalid");
                    ctx.anomaly("quic", ts, Some(sdir), format!("QPACK encoder stream: {why}"));
                }
                if self.tables[sdir].insert_count() > before {
                    self.unblock(ctx, sdir);
                }
            }
            Some(UniKind::Control) => {
                let mut pos = 0usize;
                while let Some(item) = s.reader.next(data, &mut pos, ts) {
                    let (ty, payload) = match item {
                        Item::Frame(ty, payload, _) => (ty, payload),
                        Item::DataStart => (0x00, Vec::new()),
                        Item::Data(_) => continue,
                    };
                    *self.frames.entry(frame_name(ty)).or_insert(0) += 1;
                    match ty {
                        0x04 => {
                            // §7.2.4: SETTINGS, identifier/value pairs.
                            let mut p = 0;
                            while let (Some(k), Some(v)) = (varint(&payload, &mut p), varint(&payload, &mut p)) {
                                if self.settings[sdir].len() < MAX_SETTINGS {
                                    self.settings[sdir].push((k, v));
                                }
                                if k == 0x01 {
                                    // SETTINGS_QPACK_MAX_TABLE_CAPACITY bounds the table the
                                    // peer's encoder fills for this side (RFC 9204 §3.2.3).
                                    self.tables[sdir.flip()].set_max_capacity(v);
                                }
                            }
                        }
                        0x07 => {
                            let mut p = 0;
                            self.goaway = varint(&payload, &mut p);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// The exchanges (section `http`) and parsed playlists/manifests.
    pub fn extra_reports(&self, flow: FlowId) -> Vec<(&'static str, Value)> {
        let mut out: Vec<(&'static str, Value)> =
            self.exchanges.report(flow).into_iter().map(|v| ("http", v)).collect();
        out.extend(self.exchanges.extra_reports());
        out
    }

    /// HTTP/3 facts for the `quic` entry.
    pub fn summary(&self) -> Value {
        let settings = |s: &Vec<(u64, u64)>| {
            s.iter().map(|(k, v)| (format!("0x{k:x}"), json!(v))).collect::<serde_json::Map<String, Value>>()
        };
        json!({
            "exchanges": self.exchanges.len(),
            "frames": self.frames,
            "unidirectional_streams": self.uni_types,
            "settings_c2s": settings(&self.settings.c2s),
            "settings_s2c": settings(&self.settings.s2c),
            "qpack_inserts_c2s": self.tables.c2s.insert_count(),
            "qpack_inserts_s2c": self.tables.s2c.insert_count(),
            "qpack_blocked_sections": self.blocked_sections,
            "qpack_errors": self.qpack_errors,
            "untracked_streams": self.untracked_streams,
            "goaway": self.goaway,
        })
    }

    /// `METHOD path` of the first exchange.
    pub fn headline(&self) -> Option<String> {
        self.exchanges.headline()
    }
}
