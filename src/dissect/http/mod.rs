//! HTTP/1.x (RFC 9112) over reassembled TCP: requests and responses with keep-alive and
//! pipelining, Content-Length, chunked transfer coding (§7.1), bodies without length (until
//! close), 1xx, HEAD, 204/304; the timing of each request's and response's first and last byte;
//! classification of streaming exchanges (HLS playlists, DASH manifests, init segments, media
//! segments, LL-HLS parts) and HLS playlists parsed (gzip/deflate bodies decoded).
//! Report sections `http` and `hls`.

pub mod dash;
pub mod exchanges;
pub mod fmp4;
pub mod hls;
pub mod ts;

use super::{
    probe_text, Ctx, DissectError, Over, Probe, ProbeInput, Progress, ProtocolSpec, StreamDissector, StreamStart,
};
use crate::flow::{Direction, FlowId, PerDir};
use crate::time::Timestamp;
use exchanges::{Exchanges, RequestHead, ResponseHead};
use serde_json::Value;
use std::collections::VecDeque;

/// Most header bytes of one message.
const MAX_HEAD: usize = 64 * 1024;

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
    exchanges: Exchanges,
    /// Requests waiting for their response, in order (pipelining).
    waiting: VecDeque<usize>,
    cur: PerDir<Option<Current>>,
    /// First byte time of a message whose head is still incomplete.
    head_start: PerDir<Option<Timestamp>>,
    lost: PerDir<bool>,
}

impl HttpDissector {
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
                let version = if req.version == Some(0) { "http/1.0" } else { "http/1.1" };
                let head = RequestHead {
                    start,
                    version,
                    method: req.method.unwrap_or("").to_string(),
                    uri: req.path.unwrap_or("").to_string(),
                    host: header(hs, "Host"),
                    range: header(hs, "Range"),
                    user_agent: header(hs, "User-Agent"),
                };
                if let Some(i) = self.exchanges.request(ctx, dir, head) {
                    self.waiting.push_back(i);
                    self.cur[dir] = Some(Current { framing, exchange: i, keep: 0 });
                }
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
                let head_req = idx.and_then(|i| self.exchanges.method(i)) == Some("HEAD");
                let te = header(hs, "Transfer-Encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
                let cl = header(hs, "Content-Length").and_then(|v| v.parse::<u64>().ok());
                let framing = if head_req || status == 204 || status == 304 {
                    Framing::Length(0)
                } else if te {
                    Framing::Chunked(None)
                } else {
                    cl.map_or(Framing::UntilClose, Framing::Length)
                };
                let version = if resp.version == Some(0) { "http/1.0" } else { "http/1.1" };
                let head = ResponseHead {
                    start,
                    status,
                    content_type: header(hs, "Content-Type"),
                    content_length: cl,
                    content_encoding: header(hs, "Content-Encoding"),
                };
                let Some((i, keep)) = self.exchanges.response(ctx, dir, idx, version, head) else { return Ok(len) };
                self.cur[dir] = Some(Current { framing, exchange: i, keep });
                Ok(len)
            }
        }
    }

    fn body_bytes(&mut self, dir: Direction, bytes: &[u8]) {
        if let (Some(c), Direction::S2C) = (&self.cur[dir], dir) {
            self.exchanges.body(c.exchange, c.keep, bytes);
        }
    }

    /// The message of `dir` ended at `ts`.
    fn complete(&mut self, ctx: &mut Ctx<'_>, dir: Direction, ts: Timestamp) {
        let Some(c) = self.cur[dir].take() else { return };
        self.head_start[dir] = None;
        match dir {
            Direction::C2S => self.exchanges.request_end(c.exchange, ts),
            Direction::S2C => self.exchanges.response_end(ctx, c.exchange, ts),
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
        self.exchanges.report(flow)
    }

    fn report_text(&self, flow: FlowId, _show: bool, out: &mut dyn FnMut(&[u8])) -> bool {
        self.exchanges.report_text(flow, out);
        true
    }

    fn extra_reports(&self, _flow: FlowId, _show: bool) -> Vec<(&'static str, Value)> {
        self.exchanges.extra_reports()
    }

    fn headline(&self) -> Option<String> {
        self.exchanges.headline()
    }
}
