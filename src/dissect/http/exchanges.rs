//! The HTTP exchanges of one connection, whatever the HTTP version: request and response
//! facts with the capture times of their first and last bytes, the classification of streaming
//! exchanges (HLS playlists, DASH manifests, init segments, media segments, LL-HLS parts), the
//! playlists and manifests parsed from fetched bodies, and the report entries. HTTP/1.x
//! ([`super::HttpDissector`]) and HTTP/3 (`quic::h3`) feed it through the same calls.

use super::{dash, fmp4, hls, ts};
use crate::dissect::Ctx;
use crate::flow::FlowId;
use crate::report::{json_ms, json_ts};
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};
use std::io::Read;

/// Body bytes kept for classification (media) or parsing (playlists, manifests).
pub const KEEP_MEDIA: usize = 4096;
/// Body bytes kept of playlists and manifests.
pub const KEEP_TEXT: usize = 4 << 20;
/// Body bytes kept of fMP4 segments (the moov / moof boxes come first).
pub const KEEP_FMP4: usize = 256 * 1024;
/// Exchanges kept per connection in the report.
pub const MAX_EXCHANGES: usize = 100_000;

#[derive(Debug, Default, Clone)]
struct Exchange {
    /// `http/1.0`, `http/1.1` or `h3` (ALPN names).
    version: &'static str,
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

/// What an exchange carries, from the URL, the Content-Type and the body's first bytes.
pub fn classify(uri: &str, content_type: Option<&str>, body: &[u8]) -> &'static str {
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
pub fn resolve(base: &str, reference: &str) -> String {
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
pub fn decoded(body: &[u8], encoding: Option<&str>) -> Vec<u8> {
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

/// A request head, as any HTTP version gives it.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    /// Capture time of the request's first byte.
    pub start: Timestamp,
    /// `http/1.0`, `http/1.1` or `h3`.
    pub version: &'static str,
    /// Method.
    pub method: String,
    /// Request target (HTTP/3: `:path`).
    pub uri: String,
    /// Host header (HTTP/3: `:authority`).
    pub host: Option<String>,
    /// Range header.
    pub range: Option<String>,
    /// User-Agent header (HTTP/3: `user-agent`).
    pub user_agent: Option<String>,
}

/// A final response head.
#[derive(Debug, Clone, Default)]
pub struct ResponseHead {
    /// Capture time of the response's first byte.
    pub start: Timestamp,
    /// Status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Length.
    pub content_length: Option<u64>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
}

/// The exchanges of one connection and what was parsed from their bodies.
#[derive(Default)]
pub struct Exchanges {
    list: Vec<Exchange>,
    not_kept: u64,
    playlists: Vec<Value>,
    manifests: Vec<Value>,
    /// Tracks of the fMP4 init segments fetched on this connection (timescales).
    tracks: Vec<fmp4::Track>,
}

impl Exchanges {
    /// Whether no exchange was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Exchanges recorded.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Exchanges not recorded because of the cap.
    pub fn not_kept(&self) -> u64 {
        self.not_kept
    }

    /// The method of exchange `i`.
    pub fn method(&self, i: usize) -> Option<&str> {
        self.list.get(i).map(|x| x.method.as_str())
    }

    fn alloc(&mut self) -> Option<usize> {
        if self.list.len() >= MAX_EXCHANGES {
            self.not_kept += 1;
            return None;
        }
        self.list.push(Exchange::default());
        Some(self.list.len() - 1)
    }

    /// A request head: emits `http.request` and returns the new exchange's index (None past
    /// the cap).
    pub fn request(&mut self, ctx: &mut Ctx<'_>, dir: crate::flow::Direction, r: RequestHead) -> Option<usize> {
        if ctx.timeline.accepting() {
            ctx.emit(
                Event::new(r.start, Some(ctx.flow), "http", "http.request", Some(dir))
                    .with("method", FieldValue::Str(r.method.clone()))
                    .with("uri", FieldValue::Str(r.uri.clone())),
            );
        } else {
            ctx.timeline.skipped_named("http.request");
        }
        let i = self.alloc()?;
        if let Some(x) = self.list.get_mut(i) {
            x.version = r.version;
            x.ts = Some(r.start);
            x.method = r.method;
            x.uri = r.uri;
            x.host = r.host;
            x.range = r.range;
            x.user_agent = r.user_agent;
        }
        Some(i)
    }

    /// A final response head for exchange `idx` (a new exchange when the request was not
    /// seen): emits `http.response` with the time to first byte; returns the exchange and how
    /// many body bytes to keep.
    pub fn response(
        &mut self,
        ctx: &mut Ctx<'_>,
        dir: crate::flow::Direction,
        idx: Option<usize>,
        version: &'static str,
        r: ResponseHead,
    ) -> Option<(usize, usize)> {
        let status = r.status;
        let mut ttfb = None;
        let i = match idx {
            Some(i) => i,
            // A response without a captured request (joined mid-way).
            None => self.alloc()?,
        };
        let mut keep = KEEP_MEDIA;
        if let Some(x) = self.list.get_mut(i) {
            if x.version.is_empty() {
                x.version = version;
            }
            x.status = Some(r.status);
            x.content_type.clone_from(&r.content_type);
            x.content_length = r.content_length;
            x.content_encoding = r.content_encoding;
            x.response_start = Some(r.start);
            if let Some(end) = x.request_end {
                let ms = r.start.ms_since(end);
                ctx.latency.add("http", "ttfb_ms", ms);
                ttfb = Some(ms);
            }
            let ct = r.content_type.as_deref();
            if matches!(classify(&x.uri, ct, &[]), "playlist" | "manifest") {
                keep = KEEP_TEXT;
            }
            let path = x.uri.split('?').next().unwrap_or("").to_ascii_lowercase();
            if ct.is_some_and(|c| c.eq_ignore_ascii_case("video/mp2t")) || path.ends_with(".ts") {
                x.transport_stream = Some(Box::default());
            }
            // fMP4: the moov or moof sits at the start of the body.
            if [".mp4", ".m4s", ".m4v", ".m4a", ".cmfv", ".cmfa"].iter().any(|e| path.ends_with(e)) {
                keep = KEEP_FMP4;
            }
        }
        if ctx.timeline.accepting() {
            let mut ev = Event::new(r.start, Some(ctx.flow), "http", "http.response", Some(dir))
                .with("status", FieldValue::U64(u64::from(status)));
            ev.latency_ms = ttfb;
            ctx.emit(ev);
        } else {
            ctx.timeline.skipped_named("http.response");
        }
        Some((i, keep))
    }

    /// Response body bytes of exchange `i`; the first `keep` are kept for classification.
    pub fn body(&mut self, i: usize, keep: usize, bytes: &[u8]) {
        if let Some(x) = self.list.get_mut(i) {
            x.body_bytes += bytes.len() as u64;
            if let Some(t) = x.transport_stream.as_mut() {
                t.feed(bytes);
            }
            let room = keep.saturating_sub(x.body.len());
            x.body.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or(&[]));
        }
    }

    /// The request of exchange `i` ended at `ts`.
    pub fn request_end(&mut self, i: usize, ts: Timestamp) {
        if let Some(x) = self.list.get_mut(i) {
            x.request_end = Some(ts);
        }
    }

    /// The response of exchange `i` ended at `ts`: classify it and parse what it carried.
    pub fn response_end(&mut self, ctx: &mut Ctx<'_>, i: usize, ts: Timestamp) {
        let Some(x) = self.list.get_mut(i) else { return };
        x.response_end = Some(ts);
        if ctx.timeline.accepting() {
            // The packet that completes the response: where tshark shows it.
            let mut ev = Event::new(ts, Some(ctx.flow), "http", "http.response.end", Some(crate::flow::Direction::S2C))
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
                        if let (Some(u), true) = (
                            seg.get("uri").and_then(Value::as_str),
                            idx.init_of.len() < crate::dissect::MediaIndex::CAP,
                        ) {
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
                        let close = media.get(n + 1..).and_then(|r| r.find('$')).map_or(media.len(), |c| n + 2 + c);
                        let pre = resolve(&x.uri, media.get(..n).unwrap_or(""));
                        let post = media.get(close..).unwrap_or("").to_string();
                        let idx = &mut ctx.signalled.media;
                        if idx.templates.len() < crate::dissect::MediaIndex::CAP {
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
                if idx.inits.len() < crate::dissect::MediaIndex::CAP {
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

    /// The report entries (section `http`).
    pub fn report(&self, flow: FlowId) -> Vec<Value> {
        self.list
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
                    "flow": flow, "version": if x.version.is_empty() { Value::Null } else { json!(x.version) },
                    "ts": x.ts.map(json_ts), "method": x.method, "uri": x.uri, "host": x.host,
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

    /// The report entries (section `http`) as JSON text, each handed to `out`: the bytes
    /// [`Exchanges::report`]'s values serialise to, without building them (a capture with
    /// tens of thousands of exchanges spends a tenth of its run there otherwise).
    pub fn report_text(&self, flow: FlowId, out: &mut dyn FnMut(&[u8])) {
        use crate::report::{ms_text, opt_ts_text};
        let mut b: Vec<u8> = Vec::with_capacity(640);
        let mut n = itoa::Buffer::new();
        for x in &self.list {
            b.clear();
            let download = match (x.response_start, x.response_end) {
                (Some(a), Some(e)) => Some(e.ms_since(a)),
                _ => None,
            };
            let ttfb = match (x.request_end, x.response_start) {
                (Some(a), Some(e)) => Some(e.ms_since(a)),
                _ => None,
            };
            // Keys in name order, as a serialised `json!` object has them.
            b.extend_from_slice(b"{\"body_bytes\":");
            b.extend_from_slice(n.format(x.body_bytes).as_bytes());
            let field = |b: &mut Vec<u8>, key: &[u8], v: &dyn erased::Json| {
                b.extend_from_slice(key);
                v.write(b);
            };
            field(&mut b, b",\"content_encoding\":", &x.content_encoding);
            field(&mut b, b",\"content_length\":", &x.content_length);
            field(&mut b, b",\"content_type\":", &x.content_type);
            b.extend_from_slice(b",\"download_ms\":");
            ms_text(&mut b, download);
            b.extend_from_slice(b",\"flow\":");
            b.extend_from_slice(n.format(flow).as_bytes());
            field(&mut b, b",\"host\":", &x.host);
            field(&mut b, b",\"kind\":", &if x.kind.is_empty() { "other" } else { x.kind });
            field(&mut b, b",\"media\":", &x.media);
            field(&mut b, b",\"method\":", &x.method);
            field(&mut b, b",\"range\":", &x.range);
            b.extend_from_slice(b",\"request_end_ts\":");
            opt_ts_text(&mut b, x.request_end);
            b.extend_from_slice(b",\"response_end_ts\":");
            opt_ts_text(&mut b, x.response_end);
            b.extend_from_slice(b",\"response_start_ts\":");
            opt_ts_text(&mut b, x.response_start);
            field(&mut b, b",\"status\":", &x.status);
            b.extend_from_slice(b",\"throughput_kbps\":");
            ms_text(&mut b, download.filter(|d| *d > 0.0).map(|d| x.body_bytes as f64 * 8.0 / d));
            b.extend_from_slice(b",\"ts\":");
            opt_ts_text(&mut b, x.ts);
            b.extend_from_slice(b",\"ttfb_ms\":");
            ms_text(&mut b, ttfb);
            field(&mut b, b",\"uri\":", &x.uri);
            field(&mut b, b",\"user_agent\":", &x.user_agent);
            field(&mut b, b",\"version\":", &(!x.version.is_empty()).then_some(x.version));
            b.push(b'}');
            out(&b);
        }
    }

    /// The playlists (`hls`) and manifests (`dash`) parsed.
    pub fn extra_reports(&self) -> Vec<(&'static str, Value)> {
        let hls = self.playlists.iter().map(|p| ("hls", p.clone()));
        hls.chain(self.manifests.iter().map(|m| ("dash", m.clone()))).collect()
    }

    /// `METHOD uri` of the first exchange.
    pub fn headline(&self) -> Option<String> {
        self.list.first().map(|x| format!("{} {}", x.method, x.uri))
    }
}

/// Values written as JSON text by `serde_json` (strings escaped, `None` as `null`), behind one
/// object-safe trait so the entry writer can take them one after the other.
mod erased {
    /// A value that writes itself as JSON.
    pub trait Json {
        /// Appends the value's JSON text.
        fn write(&self, b: &mut Vec<u8>);
    }

    impl<T: serde::Serialize> Json for T {
        fn write(&self, b: &mut Vec<u8>) {
            if serde_json::to_writer(&mut *b, self).is_err() {
                b.extend_from_slice(b"null");
            }
        }
    }
}
