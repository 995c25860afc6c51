//! HTTP/1.x (RFC 9112) over reassembled TCP: requests and responses with keep-alive and
//! pipelining, Content-Length, chunked transfer coding (§7.1), bodies without length (until
//! close), 1xx, HEAD, 204/304; the timing of each request's and response's first and last byte;
//! classification of streaming exchanges (HLS playlists, DASH manifests, init segments, media
//! segments, LL-HLS parts) and HLS playlists parsed (gzip/deflate bodies decoded).
//! Report sections `http` and `hls`.

pub mod dash;
pub mod fmp4;
pub mod hls;
pub mod ts;

use super::{
    probe_text, Ctx, DissectError, Over, Probe, ProbeInput, Progress, ProtocolSpec, StreamDissector, StreamStart,
};
use crate::flow::{Direction, FlowId, PerDir};
use crate::report::{json_ms, json_ts};
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::Read;

/// Most header bytes of one message.
const MAX_HEAD: usize = 64 * 1024;
/// Body bytes kept for classification (media) or parsing (playlists, manifests).
const KEEP_MEDIA: usize = 4096;
const KEEP_TEXT: usize = 4 << 20;
/// Body bytes kept of fMP4 segments (the moov / moof boxes come first).
const KEEP_FMP4: usize = 256 * 1024;
/// Exchanges kept per connection in the report.
const MAX_EXCHANGES: usize = 100_000;

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "http",
    over: Over::Tcp,
    ports: &[80, 8080, 8000, 8088],
    probe,
    stream: Some(new_dissector),
    datagram: None,
    section: "http",
};

fn new_dissector(start: StreamStart) -> Box<dyn StreamDissector> {
    let lost = start == StreamStart::MidStream;
    Box::new(HttpDissector { lost: PerDir::new(lost, lost), ..HttpDissector::default() })
}

/// HTTP methods (RFC 9110 §9 and common extensions).
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// A request line ending in `HTTP/1.x`, or a status line starting with it.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if p.udp {
        return Probe::NoMatch;
    }
    probe_text(p.data, METHODS, b"HTTP/1.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Direction;

    #[test]
    fn rtsp_is_not_http() {
        let p = ProbeInput {
            dir: Direction::C2S,
            data: b"OPTIONS rtsp://h/ RTSP/1.0\r\n",
            other: &[],
            prev: None,
            udp: false,
        };
        assert_eq!(probe(&p), Probe::NoMatch);
        assert_eq!(crate::dissect::rtsp::probe(&p), Probe::Match);
    }
}

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    /// Chunked: bytes left in the current chunk (`None`: at a chunk-size line).
    Chunked(Option<u64>),
    UntilClose,
}

#[derive(Debug, Default, Clone)]
struct Exchange {
    ts: Option<Timestamp>,
    request_end: Option<Timestamp>,
    method: String,
    uri: String,
    host: Option<String>,
    range: Option<String>,
    /// The request's User-Agent: tells players behind one address apart (`hls_players`).
    user_agent: Option<String>,
    status: Option<u16>,
    content_type: Option<String>,
    content_length: Option<u64>,
    content_encoding: Option<String>,
    response_start: Option<Timestamp>,
    response_end: Option<Timestamp>,
    body_bytes: u64,
    body: Vec<u8>,
    kind: &'static str,
    /// MPEG-TS segment contents, read as the body arrives.
    transport_stream: Option<Box<ts::TsReader>>,
    media: Option<Value>,
}

/// The message being read in one direction.
struct Current {
    framing: Framing,
    /// Index of the exchange it belongs to.
    exchange: usize,
    keep: usize,
}

/// The HTTP/1.x dissector of one connection.
#[derive(Default)]
pub struct HttpDissector {
    exchanges: Vec<Exchange>,
    not_kept: u64,
    /// Requests waiting for their response, in order (pipelining).
    waiting: VecDeque<usize>,
    cur: PerDir<Option<Current>>,
    /// First byte time of a message whose head is still incomplete.
    head_start: PerDir<Option<Timestamp>>,
    lost: PerDir<bool>,
    playlists: Vec<Value>,
    manifests: Vec<Value>,
    /// Tracks of the fMP4 init segments fetched on this connection (timescales).
    tracks: Vec<fmp4::Track>,
}

/// What an exchange carries, from the URL, the Content-Type and the body's first bytes.
fn classify(uri: &str, content_type: Option<&str>, body: &[u8]) -> &'static str {
    let path = uri.split(['?', '#']).next().unwrap_or("").to_ascii_lowercase();
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let query = uri.split_once('?').map(|(_, q)| q).unwrap_or("");
    if path.ends_with(".m3u8") || path.ends_with(".m3u") || ct.contains("mpegurl") || body.starts_with(b"#EXTM3U") {
        return "playlist";
    }
    if path.ends_with(".mpd") || ct.contains("dash+xml") {
        return "manifest";
    }
    // fMP4: an init segment holds `moov`, a media segment `moof` (ISO/IEC 14496-12).
    let boxes = |name: &[u8]| body.windows(4).take(64).any(|w| w == name);
    if path.contains("init") || ((path.ends_with(".mp4") || path.ends_with(".m4s")) && boxes(b"moov")) {
        return "init";
    }
    if query.contains("_HLS_part") || path.contains(".part") {
        return "part";
    }
    let media_ext = [".ts", ".m4s", ".mp4", ".m4a", ".m4v", ".aac", ".vtt", ".cmfv", ".cmfa"];
    if media_ext.iter().any(|e| path.ends_with(e))
        || ct.starts_with("video/")
        || ct.starts_with("audio/")
        || body.first() == Some(&0x47)
    {
        return "segment";
    }
    "other"
}

/// The path of a URI (no query), with a relative reference resolved against `base`'s directory.
fn resolve(base: &str, reference: &str) -> String {
    let reference = reference.split(['?', '#']).next().unwrap_or("");
    if let Some(rest) = reference.strip_prefix("http://").or_else(|| reference.strip_prefix("https://")) {
        return rest.find('/').map_or("/".to_string(), |i| rest.get(i..).unwrap_or("/").to_string());
    }
    if reference.starts_with('/') {
        return reference.to_string();
    }
    let base = base.split(['?', '#']).next().unwrap_or("");
    let dir = base.rfind('/').map_or("/", |i| base.get(..=i).unwrap_or("/"));
    format!("{dir}{reference}")
}

/// Decodes a gzip or deflate body (text bodies only; bounded).
fn decoded(body: &[u8], encoding: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    let limited = |r: &mut dyn Read, out: &mut Vec<u8>| r.take(KEEP_TEXT as u64).read_to_end(out).is_ok();
    let ok = match encoding.map(str::to_ascii_lowercase).as_deref() {
        Some("gzip") | Some("x-gzip") => limited(&mut flate2::read::GzDecoder::new(body), &mut out),
        Some("deflate") => {
            limited(&mut flate2::read::ZlibDecoder::new(body), &mut out)
                || limited(&mut flate2::read::DeflateDecoder::new(body), &mut out)
        }
        _ => return body.to_vec(),
    };
    if ok {
        out
    } else {
        body.to_vec()
    }
}

impl HttpDissector {
    fn exchange(&mut self) -> Option<usize> {
        if self.exchanges.len() >= MAX_EXCHANGES {
            self.not_kept += 1;
            return None;
        }
        self.exchanges.push(Exchange::default());
        Some(self.exchanges.len() - 1)
    }

    /// Parses a message head at the start of `d`; returns its length, or progress to report.
    fn head(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp) -> Result<usize, Progress> {
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let start = *self.head_start[dir].get_or_insert(ts);
        let incomplete = || {
            if d.len() > MAX_HEAD {
                Progress::Reject(DissectError { offset: 0, what: "header section over 64 KiB".into() })
            } else {
                Progress::NeedMore { consumed: 0, needed: d.len() + 1 }
            }
        };
        let header = |hs: &[httparse::Header<'_>], name: &str| {
            hs.iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        };
        match dir {
            Direction::C2S => {
                let mut req = httparse::Request::new(&mut headers);
                let len = match req.parse(d) {
                    Ok(httparse::Status::Complete(n)) => n,
                    Ok(httparse::Status::Partial) => return Err(incomplete()),
                    Err(e) => {
                        return Err(Progress::Reject(DissectError { offset: 0, what: format!("bad request: {e}") }))
                    }
                };
                let hs = &*req.headers;
                let te = header(hs, "Transfer-Encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
                let cl = header(hs, "Content-Length").and_then(|v| v.parse::<u64>().ok());
                let framing = if te { Framing::Chunked(None) } else { Framing::Length(cl.unwrap_or(0)) };
                let method = req.method.unwrap_or("").to_string();
                let uri = req.path.unwrap_or("").to_string();
                if let Some(i) = self.exchange() {
                    let x = self.exchanges.get_mut(i);
                    if let Some(x) = x {
                        x.ts = Some(start);
                        x.method = method.clone();
                        x.uri = uri.clone();
                        x.host = header(hs, "Host");
                        x.range = header(hs, "Range");
                        x.user_agent = header(hs, "User-Agent");
                    }
                    self.waiting.push_back(i);
                    self.cur[dir] = Some(Current { framing, exchange: i, keep: 0 });
                }
                ctx.emit(
                    Event::new(start, Some(ctx.flow), "http", "http.request", Some(dir))
                        .with("method", FieldValue::Str(method))
                        .with("uri", FieldValue::Str(uri)),
                );
                Ok(len)
            }
            Direction::S2C => {
                let mut resp = httparse::Response::new(&mut headers);
                let len = match resp.parse(d) {
                    Ok(httparse::Status::Complete(n)) => n,
                    Ok(httparse::Status::Partial) => return Err(incomplete()),
                    Err(e) => {
                        return Err(Progress::Reject(DissectError { offset: 0, what: format!("bad response: {e}") }))
                    }
                };
                let status = resp.code.unwrap_or(0);
                let hs = &*resp.headers;
                if (100..200).contains(&status) {
                    // Interim response: the request still waits for its final one.
                    self.head_start[dir] = None;
                    return Ok(len);
                }
                let idx = self.waiting.pop_front();
                let head_req = idx.and_then(|i| self.exchanges.get(i)).is_some_and(|x| x.method == "HEAD");
                let te = header(hs, "Transfer-Encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
                let cl = header(hs, "Content-Length").and_then(|v| v.parse::<u64>().ok());
                let framing = if head_req || status == 204 || status == 304 {
                    Framing::Length(0)
                } else if te {
                    Framing::Chunked(None)
                } else {
                    cl.map_or(Framing::UntilClose, Framing::Length)
                };
                let ct = header(hs, "Content-Type");
                let mut ev = Event::new(start, Some(ctx.flow), "http", "http.response", Some(dir))
                    .with("status", FieldValue::U64(u64::from(status)));
                let i = match idx {
                    Some(i) => i,
                    None => {
                        // A response without a captured request (joined mid-way).
                        let Some(i) = self.exchange() else { return Ok(len) };
                        i
                    }
                };
                let mut keep = KEEP_MEDIA;
                if let Some(x) = self.exchanges.get_mut(i) {
                    x.status = Some(status);
                    x.content_type.clone_from(&ct);
                    x.content_length = cl;
                    x.content_encoding = header(hs, "Content-Encoding");
                    x.response_start = Some(start);
                    if let Some(end) = x.request_end {
                        let ms = start.ms_since(end);
                        ctx.latency.add("http", "ttfb_ms", ms);
                        ev.latency_ms = Some(ms);
                    }
                    if matches!(classify(&x.uri, ct.as_deref(), &[]), "playlist" | "manifest") {
                        keep = KEEP_TEXT;
                    }
                    let path = x.uri.split('?').next().unwrap_or("").to_ascii_lowercase();
                    if ct.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("video/mp2t")) || path.ends_with(".ts") {
                        x.transport_stream = Some(Box::default());
                    }
                    // fMP4: the moov or moof sits at the start of the body.
                    if [".mp4", ".m4s", ".m4v", ".m4a", ".cmfv", ".cmfa"].iter().any(|e| path.ends_with(e)) {
                        keep = KEEP_FMP4;
                    }
                }
                ctx.emit(ev);
                self.cur[dir] = Some(Current { framing, exchange: i, keep });
                Ok(len)
            }
        }
    }

    fn body_bytes(&mut self, dir: Direction, bytes: &[u8]) {
        let Some(c) = &self.cur[dir] else { return };
        let keep = c.keep;
        if dir == Direction::S2C {
            if let Some(x) = self.exchanges.get_mut(c.exchange) {
                x.body_bytes += bytes.len() as u64;
                if let Some(t) = x.transport_stream.as_mut() {
                    t.feed(bytes);
                }
                let room = keep.saturating_sub(x.body.len());
                x.body.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or(&[]));
            }
        }
    }

    /// The message of `dir` ended at `ts`.
    fn complete(&mut self, ctx: &mut Ctx<'_>, dir: Direction, ts: Timestamp) {
        let Some(c) = self.cur[dir].take() else { return };
        self.head_start[dir] = None;
        let Some(x) = self.exchanges.get_mut(c.exchange) else { return };
        match dir {
            Direction::C2S => x.request_end = Some(ts),
            Direction::S2C => {
                x.response_end = Some(ts);
                if ctx.timeline.accepting() {
                    // The packet that completes the response: where tshark shows it.
                    let mut ev = Event::new(ts, Some(ctx.flow), "http", "http.response.end", Some(dir))
                        .with("body_bytes", FieldValue::U64(x.body_bytes));
                    if let Some(s) = x.response_start {
                        ev = ev.with("download_ms", FieldValue::F64(ts.ms_since(s)));
                    }
                    ctx.emit(ev);
                } else {
                    ctx.timeline.skipped();
                }
                let body = decoded(&x.body, x.content_encoding.as_deref());
                x.kind = classify(&x.uri, x.content_type.as_deref(), &body);
                if let (Some(s), true) = (x.response_start, x.body_bytes > 0) {
                    ctx.latency.add("http", "download_ms", ts.ms_since(s));
                }
                if x.kind == "playlist" {
                    if let Some(mut p) = hls::parse(&body, &x.uri) {
                        // EXT-X-MAP: the init segment of the segments listed.
                        if let Some(map) = p.get("map").and_then(Value::as_str) {
                            let init = resolve(&x.uri, map);
                            let idx = &mut ctx.signalled.media;
                            for seg in p.get("segments").and_then(Value::as_array).into_iter().flatten() {
                                if let (Some(u), true) =
                                    (seg.get("uri").and_then(Value::as_str), idx.init_of.len() < super::MediaIndex::CAP)
                                {
                                    idx.init_of.insert(resolve(&x.uri, u), init.clone());
                                }
                            }
                        }
                        if let Some(o) = p.as_object_mut() {
                            o.insert("flow".into(), json!(ctx.flow));
                            o.insert("ts".into(), x.response_end.map(json_ts).unwrap_or(Value::Null));
                            o.insert("request_ts".into(), x.ts.map(json_ts).unwrap_or(Value::Null));
                        }
                        if self.playlists.len() < MAX_EXCHANGES {
                            self.playlists.push(p);
                        }
                    }
                }
                // Only the first bytes were needed to classify media.
                x.body = Vec::new();
                if let Some(t) = x.transport_stream.take() {
                    x.media = Some(t.summary());
                }
                if x.kind == "manifest" {
                    if let Some(mut m) = dash::parse(&body, &x.uri) {
                        // SegmentTemplate with $RepresentationID$ and $Number$: media → init.
                        for set in m.get("adaptation_sets").and_then(Value::as_array).into_iter().flatten() {
                            let t = &set["segment_template"];
                            let (Some(media), Some(init)) = (t["media"].as_str(), t["initialization"].as_str()) else {
                                continue;
                            };
                            for rep in set["representations"].as_array().into_iter().flatten() {
                                let id = match &rep["id"] {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                };
                                let media = media.replace("$RepresentationID$", &id);
                                let init = resolve(&x.uri, &init.replace("$RepresentationID$", &id));
                                let Some(n) = media.find("$Number").or_else(|| media.find("$Time")) else { continue };
                                let close =
                                    media.get(n + 1..).and_then(|r| r.find('$')).map_or(media.len(), |c| n + 2 + c);
                                let pre = resolve(&x.uri, media.get(..n).unwrap_or(""));
                                let post = media.get(close..).unwrap_or("").to_string();
                                let idx = &mut ctx.signalled.media;
                                if idx.templates.len() < super::MediaIndex::CAP {
                                    idx.templates.push((pre, post, init));
                                }
                            }
                        }
                        if let Some(o) = m.as_object_mut() {
                            o.insert("flow".into(), json!(ctx.flow));
                            o.insert("ts".into(), x.response_end.map(json_ts).unwrap_or(Value::Null));
                        }
                        if self.manifests.len() < MAX_EXCHANGES {
                            self.manifests.push(m);
                        }
                    }
                }
                let path = resolve("/", &x.uri);
                if x.kind == "init" {
                    let tracks = fmp4::init_tracks(&body);
                    if !tracks.is_empty() {
                        x.media = Some(json!({"container": "fmp4", "tracks": tracks.iter().map(|t| json!({
                            "id": t.id, "timescale": t.timescale, "type": String::from_utf8_lossy(&t.handler),
                        })).collect::<Vec<_>>()}));
                        let idx = &mut ctx.signalled.media;
                        if idx.inits.len() < super::MediaIndex::CAP {
                            idx.inits.insert(path, tracks.clone());
                        }
                        self.tracks = tracks;
                    }
                } else if x.kind == "segment" && body.windows(4).take(4096).any(|w| w == b"moof") {
                    // The init segment the playlist or manifest names; else this connection's.
                    let tracks = ctx.signalled.media.tracks_for(&path).unwrap_or(&self.tracks);
                    x.media = Some(fmp4::summary(&body, tracks));
                }
            }
        }
    }
}

impl StreamDissector for HttpDissector {
    fn on_data(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) -> Progress {
        let mut pos = 0usize;
        loop {
            let rest = data.get(pos..).unwrap_or(&[]);
            if self.lost[dir] {
                // After a gap or a mid-way join: wait for a request or status line.
                let found = (0..rest.len()).find(|&i| {
                    let r = rest.get(i..).unwrap_or(&[]);
                    r.starts_with(b"HTTP/1.")
                        || METHODS.iter().any(|m| r.starts_with(m.as_bytes()) && r.get(m.len()) == Some(&b' '))
                });
                match found {
                    Some(i) => {
                        pos += i;
                        self.lost[dir] = false;
                        continue;
                    }
                    None => {
                        let keep = rest.len().min(8);
                        return Progress::NeedMore { consumed: data.len() - keep, needed: keep + 1 };
                    }
                }
            }
            match self.cur[dir].as_ref().map(|c| c.framing) {
                None => {
                    // Stray CRLFs between messages (RFC 9112 §2.2).
                    while data.get(pos).is_some_and(|b| *b == b'\r' || *b == b'\n') {
                        pos += 1;
                    }
                    let rest = data.get(pos..).unwrap_or(&[]);
                    if rest.is_empty() {
                        return Progress::Done;
                    }
                    match self.head(ctx, dir, rest, ts) {
                        Ok(n) => {
                            pos += n;
                            if matches!(self.cur[dir].as_ref().map(|c| c.framing), Some(Framing::Length(0))) {
                                self.complete(ctx, dir, ts);
                            }
                        }
                        Err(Progress::NeedMore { needed, .. }) => return Progress::NeedMore { consumed: pos, needed },
                        Err(Progress::Reject(e)) if self.exchanges.is_empty() => {
                            return Progress::Reject(DissectError { offset: pos + e.offset, what: e.what });
                        }
                        Err(Progress::Reject(e)) => {
                            // Known HTTP that went wrong (usually bytes lost to the capture):
                            // look for the next message instead of giving up the connection.
                            ctx.anomaly("http", ts, Some(dir), format!("{}; resynchronising", e.what));
                            self.head_start[dir] = None;
                            self.lost[dir] = true;
                            pos += 1;
                        }
                        Err(Progress::Done) => return Progress::Done,
                    }
                }
                Some(Framing::Length(left)) => {
                    let n = (left as usize).min(rest.len());
                    self.body_bytes(dir, rest.get(..n).unwrap_or(&[]));
                    pos += n;
                    let left = left - n as u64;
                    if let Some(c) = self.cur[dir].as_mut() {
                        c.framing = Framing::Length(left);
                    }
                    if left == 0 {
                        self.complete(ctx, dir, ts);
                    } else {
                        return Progress::Done;
                    }
                }
                Some(Framing::UntilClose) => {
                    self.body_bytes(dir, rest);
                    return Progress::Done;
                }
                Some(Framing::Chunked(Some(left))) => {
                    // Chunk data, then its CRLF.
                    if left > 0 {
                        let n = (left as usize).min(rest.len());
                        self.body_bytes(dir, rest.get(..n).unwrap_or(&[]));
                        pos += n;
                        if let Some(c) = self.cur[dir].as_mut() {
                            c.framing = Framing::Chunked(Some(left - n as u64));
                        }
                        if n as u64 == left {
                            continue;
                        }
                        return Progress::Done;
                    }
                    if rest.len() < 2 {
                        return Progress::NeedMore { consumed: pos, needed: 2 };
                    }
                    pos += 2;
                    if let Some(c) = self.cur[dir].as_mut() {
                        c.framing = Framing::Chunked(None);
                    }
                }
                Some(Framing::Chunked(None)) => {
                    // chunk-size [; ext] CRLF; size 0 ends the body (then trailers, CRLF).
                    let Some(eol) = memchr::memmem::find(rest, b"\r\n") else {
                        return Progress::NeedMore { consumed: pos, needed: rest.len() + 1 };
                    };
                    let line = String::from_utf8_lossy(rest.get(..eol).unwrap_or(&[]));
                    let size = u64::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).ok();
                    match size {
                        Some(0) => {
                            let Some(end) = memchr::memmem::find(rest, b"\r\n\r\n") else {
                                return Progress::NeedMore { consumed: pos, needed: rest.len() + 1 };
                            };
                            pos += end + 4;
                            self.complete(ctx, dir, ts);
                        }
                        Some(n) => {
                            pos += eol + 2;
                            if let Some(c) = self.cur[dir].as_mut() {
                                c.framing = Framing::Chunked(Some(n));
                            }
                        }
                        None => {
                            ctx.anomaly("http", ts, Some(dir), "bad chunk size; resynchronising".into());
                            self.cur[dir] = None;
                            self.lost[dir] = true;
                        }
                    }
                }
            }
        }
    }

    fn on_gap(&mut self, _ctx: &mut Ctx<'_>, dir: Direction, len: u64) {
        // Inside a length-delimited body a gap only shortens it; elsewhere framing is lost.
        match self.cur[dir].as_mut() {
            Some(c) => match c.framing {
                Framing::Length(left) if len < left => {
                    c.framing = Framing::Length(left - len);
                }
                Framing::UntilClose => {}
                _ => {
                    self.cur[dir] = None;
                    self.lost[dir] = true;
                }
            },
            None => self.lost[dir] = true,
        }
    }

    fn on_end(&mut self, ctx: &mut Ctx<'_>, dir: Direction, ts: Timestamp) {
        if matches!(self.cur[dir].as_ref().map(|c| c.framing), Some(Framing::UntilClose)) {
            self.complete(ctx, dir, ts);
        }
    }

    fn report(&self, flow: FlowId, _show: bool) -> Vec<Value> {
        self.exchanges
            .iter()
            .map(|x| {
                let ms = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
                    (Some(a), Some(b)) => json_ms(b.ms_since(a)),
                    _ => Value::Null,
                };
                let download = match (x.response_start, x.response_end) {
                    (Some(a), Some(b)) => Some(b.ms_since(a)),
                    _ => None,
                };
                let throughput = download.filter(|d| *d > 0.0).map(|d| json_ms(x.body_bytes as f64 * 8.0 / d));
                json!({
                    "flow": flow, "ts": x.ts.map(json_ts), "method": x.method, "uri": x.uri, "host": x.host,
                    "range": x.range, "user_agent": x.user_agent, "status": x.status, "content_type": x.content_type,
                    "content_length": x.content_length, "content_encoding": x.content_encoding,
                    "body_bytes": x.body_bytes, "kind": if x.kind.is_empty() { "other" } else { x.kind },
                    "request_end_ts": x.request_end.map(json_ts), "response_start_ts": x.response_start.map(json_ts),
                    "response_end_ts": x.response_end.map(json_ts),
                    "ttfb_ms": ms(x.request_end, x.response_start), "download_ms": download.map(json_ms),
                    "throughput_kbps": throughput,
                    "media": x.media,
                })
            })
            .collect()
    }

    fn extra_reports(&self, _flow: FlowId, _show: bool) -> Vec<(&'static str, Value)> {
        let hls = self.playlists.iter().map(|p| ("hls", p.clone()));
        hls.chain(self.manifests.iter().map(|m| ("dash", m.clone()))).collect()
    }

    fn headline(&self) -> Option<String> {
        self.exchanges.first().map(|x| format!("{} {}", x.method, x.uri))
    }
}
