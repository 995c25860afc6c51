//! RTSP 1.0 (RFC 2326) and 2.0 (RFC 7826): requests and responses paired by CSeq with their
//! latency, sessions, Transport headers and SDP bodies binding the media (UDP ports, which are
//! announced to the flow table's media detection, and interleaved channels), and RTP/RTCP
//! interleaved in the connection (`$`, RFC 2326 §10.12) analysed like any RTP.
//! Report section `rtsp` (and `rtp`/`rtcp` for interleaved media).

pub mod transport;

use super::rtp::RtpDissector;
use super::textmsg::{self, Parsed};
use super::{
    probe_text, sdp, Ctx, DatagramDissector, DissectError, MediaBinding, Over, Probe, ProbeInput, Progress,
    ProtocolSpec, StreamDissector, StreamStart,
};
use crate::flow::{Direction, FlowId, PerDir};
use crate::report::{json_ms, json_ts};
use crate::session::latency::Pending;
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};

/// Requests kept in the report per connection.
const MAX_REQUESTS: usize = 10_000;

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "rtsp",
    over: Over::Tcp,
    ports: &[554, 8554],
    probe,
    stream: Some(new_dissector),
    datagram: None,
    section: "rtsp",
};

fn new_dissector(start: StreamStart) -> Box<dyn StreamDissector> {
    let lost = start == StreamStart::MidStream;
    Box::new(RtspDissector { lost: PerDir::new(lost, lost), ..RtspDissector::default() })
}

/// Where the next message or interleaved frame starts after a gap or a mid-way join: a
/// request or status line, or a `$` frame followed by another `$` frame (or the end).
fn resync(d: &[u8]) -> Option<usize> {
    (0..d.len()).find(|&i| {
        let rest = d.get(i..).unwrap_or(&[]);
        if rest.starts_with(b"RTSP/1.0 ") || rest.starts_with(b"RTSP/2.0 ") {
            return true;
        }
        if METHODS.iter().any(|m| rest.starts_with(m.as_bytes()) && rest.get(m.len()) == Some(&b' ')) {
            return true;
        }
        match (rest.first(), rest.get(1), super::be16(rest, 2)) {
            (Some(b'$'), Some(&ch), Some(len)) if ch < 32 => {
                let next = 4 + usize::from(len);
                rest.get(next).is_none_or(|&b| b == b'$' || b == b'R')
            }
            _ => false,
        }
    })
}

/// RTSP methods (RFC 2326 §10, RFC 7826 §13).
pub const METHODS: &[&str] = &[
    "OPTIONS",
    "DESCRIBE",
    "ANNOUNCE",
    "SETUP",
    "PLAY",
    "PAUSE",
    "RECORD",
    "TEARDOWN",
    "GET_PARAMETER",
    "SET_PARAMETER",
    "REDIRECT",
    "PLAY_NOTIFY",
];

/// A request line ending in `RTSP/1.0`/`RTSP/2.0`, or a status line starting with it.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if p.udp {
        return Probe::NoMatch;
    }
    probe_text(p.data, METHODS, b"RTSP/")
}

struct Request {
    ts: Timestamp,
    method: String,
    url: String,
    cseq: Option<u64>,
    session: Option<String>,
    status: Option<u16>,
    latency_ms: Option<f64>,
    transport: Option<String>,
}

/// The RTSP dissector of one connection.
#[derive(Default)]
pub struct RtspDissector {
    requests: Vec<Request>,
    requests_not_kept: u64,
    pending: Pending<(Direction, u64), usize>,
    interleaved: RtpDissector,
    interleaved_frames: u64,
    sdp: Vec<sdp::Media>,
    /// The last SETUP's control URL, to find its SDP media.
    setup_media: Option<sdp::Media>,
    /// Per direction: not at a message boundary (joined mid-way, or after a gap).
    lost: PerDir<bool>,
    resyncs: u64,
    skipped: u64,
    /// Capture time of the first interleaved RTP packet.
    first_interleaved_rtp: Option<Timestamp>,
}

impl RtspDissector {
    fn message(
        &mut self,
        ctx: &mut Ctx<'_>,
        dir: Direction,
        m: &textmsg::TextMessage<'_>,
        first_ts: Timestamp,
        ts: Timestamp,
    ) {
        let cseq = m.header("CSeq").and_then(|v| v.trim().parse::<u64>().ok());
        let session = m.header("Session").map(|s| s.split(';').next().unwrap_or("").trim().to_string());
        if m.header("Content-Type").is_some_and(|c| c.to_ascii_lowercase().contains("sdp")) {
            self.sdp = sdp::parse(m.body).media;
            // Interleaved RTP takes its clock rates from the SDP's rtpmap lines.
            for md in &self.sdp {
                for pt in &md.payload_types {
                    if let Some((enc, rate)) = md.codec(*pt) {
                        self.interleaved.hint(*pt, enc, rate);
                    }
                }
            }
        }
        if let Some(rest) = m.start.strip_prefix("RTSP/") {
            // Response: RTSP/1.0 200 OK
            let status = rest.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
            let mut ev = Event::new(first_ts, Some(ctx.flow), "rtsp", "rtsp.response", Some(dir))
                .with("status", FieldValue::U64(u64::from(status.unwrap_or(0))));
            if let Some(c) = cseq {
                ev = ev.with("cseq", FieldValue::U64(c));
                if let Some((ms, idx)) = self.pending.reply(&(dir.flip(), c), first_ts) {
                    ev.latency_ms = Some(ms);
                    if let Some(r) = self.requests.get_mut(idx) {
                        r.status = status;
                        r.latency_ms = Some(ms);
                        if r.session.is_none() {
                            r.session.clone_from(&session);
                        }
                        ctx.latency.add("rtsp", "latency_ms", ms);
                        let method = r.method.clone();
                        ev = ev.with("method", FieldValue::Str(method.clone()));
                        if method == "SETUP" {
                            let t = m.header("Transport").map(transport::parse);
                            self.bind(ctx, t.as_ref(), session.clone());
                        }
                    }
                }
            }
            ctx.emit(ev);
            return;
        }
        let mut parts = m.start.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let url = parts.next().unwrap_or("").to_string();
        if method == "SETUP" {
            self.setup_media =
                self.sdp.iter().find(|md| md.control.as_deref().is_some_and(|c| url.ends_with(c))).cloned();
        }
        let transport = m.header("Transport").map(str::to_string);
        let mut ev = Event::new(ts, Some(ctx.flow), "rtsp", "rtsp.request", Some(dir))
            .with("method", FieldValue::Str(method.clone()))
            .with("url", FieldValue::Str(url.clone()));
        if let Some(c) = cseq {
            ev = ev.with("cseq", FieldValue::U64(c));
        }
        ctx.emit(ev);
        if self.requests.len() < MAX_REQUESTS {
            if let Some(c) = cseq {
                self.pending.request((dir, c), ts, self.requests.len());
            }
            self.requests.push(Request { ts, method, url, cseq, session, status: None, latency_ms: None, transport });
        } else {
            self.requests_not_kept += 1;
        }
    }

    /// A SETUP reply: announce the media ports, remember interleaved channels.
    fn bind(&mut self, ctx: &mut Ctx<'_>, t: Option<&transport::Transport>, session: Option<String>) {
        let Some(t) = t else { return };
        let media = self.setup_media.take();
        let codecs: Vec<(u8, String, u32)> = media
            .as_ref()
            .map(|m| m.payload_types.iter().filter_map(|pt| m.codec(*pt).map(|(e, r)| (*pt, e, r))).collect())
            .unwrap_or_default();
        let binding = |protocol: &'static str| MediaBinding {
            protocol,
            codecs: codecs.clone(),
            by: "rtsp",
            flow: ctx.flow,
            session: session.as_ref().map(|s| format!("rtsp:{s}")),
            secure: media.as_ref().is_some_and(sdp::Media::is_secure),
            srtp_keys: media.as_ref().map(sdp::Media::srtp_keys).unwrap_or_default(),
        };
        let (rtp, rtcp) = (binding("rtp"), binding("rtcp"));
        for ports in [t.client_port, t.server_port].into_iter().flatten() {
            ctx.signalled.announce(ports.0, rtp.clone());
            ctx.signalled.announce(ports.1, rtcp.clone());
        }
        let _ = t.interleaved;
    }
}

impl StreamDissector for RtspDissector {
    fn on_data(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) -> Progress {
        let mut pos = 0usize;
        loop {
            if self.lost[dir] {
                let rest = data.get(pos..).unwrap_or(&[]);
                match resync(rest) {
                    Some(i) => {
                        pos += i;
                        self.lost[dir] = false;
                        self.resyncs += 1;
                        self.skipped += i as u64;
                    }
                    None => {
                        // Keep the tail: a boundary may straddle the next segment.
                        let keep = rest.len().min(8);
                        self.skipped += (rest.len() - keep) as u64;
                        return Progress::NeedMore { consumed: data.len() - keep, needed: keep + 1 };
                    }
                }
            }
            let rest = data.get(pos..).unwrap_or(&[]);
            let Some(&first) = rest.first() else { return Progress::Done };
            if first == b'$' {
                // RFC 2326 §10.12: '$', channel, 16-bit length, then the RTP or RTCP packet.
                let (Some(&channel), Some(len)) = (rest.get(1), super::be16(rest, 2)) else {
                    return Progress::NeedMore { consumed: pos, needed: 4 };
                };
                let len = usize::from(len);
                let Some(payload) = rest.get(4..4 + len) else {
                    return Progress::NeedMore { consumed: pos, needed: 4 + len };
                };
                self.interleaved_frames += 1;
                if !payload.is_empty() {
                    if channel % 2 == 0 && self.first_interleaved_rtp.is_none() && !super::rtp::is_rtcp(payload) {
                        self.first_interleaved_rtp = Some(ts);
                    }
                    self.interleaved.on_channel(ctx, dir, channel, payload, ts);
                }
                pos += 4 + len;
                continue;
            }
            match textmsg::parse(rest) {
                Parsed::Message(m) => {
                    let len = m.len;
                    self.message(ctx, dir, &m, ts, ts);
                    pos += len;
                }
                Parsed::Need(n) => return Progress::NeedMore { consumed: pos, needed: n },
                Parsed::Bad(what) if self.requests.is_empty() && self.interleaved_frames == 0 => {
                    return Progress::Reject(DissectError { offset: pos, what: what.into() })
                }
                Parsed::Bad(what) => {
                    ctx.anomaly("rtsp", ts, Some(dir), format!("{what}; resynchronising"));
                    self.lost[dir] = true;
                    pos += 1;
                }
            }
        }
    }

    fn on_gap(&mut self, _ctx: &mut Ctx<'_>, dir: Direction, _len: u64) {
        self.lost[dir] = true;
    }

    fn report(&self, flow: FlowId, _show: bool) -> Vec<Value> {
        self.requests
            .iter()
            .map(|r| {
                json!({
                    "flow": flow, "ts": json_ts(r.ts), "method": r.method, "url": r.url, "cseq": r.cseq,
                    "session": r.session, "status": r.status, "latency_ms": r.latency_ms.map(json_ms),
                    "transport": r.transport,
                    // SETUP → PLAY → first RTP: for PLAY/RECORD, the first interleaved RTP after
                    // it (UDP media is filled in by the report from the media flows).
                    "first_rtp_ms": match (r.method.as_str(), self.first_interleaved_rtp) {
                        ("PLAY" | "RECORD", Some(t)) if t >= r.ts => json_ms(t.ms_since(r.ts)),
                        _ => Value::Null,
                    },
                })
            })
            .collect()
    }

    fn extra_reports(&self, flow: FlowId, show: bool) -> Vec<(&'static str, Value)> {
        let mut out = self.interleaved.extra_reports(flow, show);
        out.push((
            "rtsp_connections",
            json!({
                "flow": flow, "requests": self.requests.len() as u64 + self.requests_not_kept,
                "interleaved_frames": self.interleaved_frames, "resyncs": self.resyncs, "skipped_bytes": self.skipped,
            }),
        ));
        out
    }

    fn headline(&self) -> Option<String> {
        self.requests.iter().find(|r| r.method == "DESCRIBE" || r.method == "ANNOUNCE").map(|r| r.url.clone())
    }
}
