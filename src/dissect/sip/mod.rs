//! SIP (RFC 3261) over UDP or TCP: requests and responses, calls by Call-ID (INVITE,
//! provisional, final, ACK, BYE, CANCEL), call setup time, and the SDP offer/answer whose
//! media ports are announced so the RTP flows are pinned and bound to the call.
//! Report section `sip`.

use super::textmsg::{self, Parsed};
use super::{
    probe_text, sdp, Ctx, DatagramDissector, DissectError, MediaBinding, Over, Probe, ProbeInput, Progress,
    ProtocolSpec, StreamDissector, StreamStart,
};
use crate::flow::{Direction, FlowId};
use crate::report::{json_ms, json_ts};
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Calls remembered per flow.
const MAX_CALLS: usize = 10_000;

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "sip",
    over: Over::Both,
    ports: &[5060, 5061],
    probe,
    stream: Some(new_stream),
    datagram: Some(new_datagram),
    section: "sip",
};

fn new_stream(_start: StreamStart) -> Box<dyn StreamDissector> {
    Box::new(SipDissector::default())
}

fn new_datagram() -> Box<dyn DatagramDissector> {
    Box::new(SipDissector::default())
}

/// SIP methods (RFC 3261 and extensions).
pub const METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

/// A request line ending in `SIP/2.0`, or a status line starting with it.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    let r = probe_text(p.data, METHODS, b"SIP/2.0");
    // A datagram is whole: an incomplete first line means it is not SIP.
    if p.udp && r == Probe::NeedMore {
        Probe::NoMatch
    } else {
        r
    }
}

#[derive(Debug, Default)]
struct Call {
    from: Option<String>,
    to: Option<String>,
    invite_ts: Option<Timestamp>,
    first_response_ms: Option<f64>,
    final_status: Option<u16>,
    setup_ms: Option<f64>,
    ended_by: Option<String>,
    media_ports: Vec<u16>,
    messages: u64,
}

/// The SIP dissector of one flow (UDP datagrams or a TCP stream).
#[derive(Default)]
pub struct SipDissector {
    calls: BTreeMap<String, Call>,
    order: Vec<String>,
    messages: u64,
    malformed: u64,
}

fn strip_tag(v: &str) -> String {
    v.split(';').next().unwrap_or(v).trim().to_string()
}

impl SipDissector {
    fn message(&mut self, ctx: &mut Ctx<'_>, dir: Direction, m: &textmsg::TextMessage<'_>, ts: Timestamp) {
        self.messages += 1;
        // RFC 3261 §7.3.3 compact forms: i = Call-ID, f = From, t = To.
        let call_id = m.header("Call-ID").or_else(|| m.header("i")).unwrap_or("").to_string();
        let cseq = m.header("CSeq").unwrap_or("");
        let cseq_method = cseq.split_whitespace().nth(1).unwrap_or("").to_string();
        if !self.calls.contains_key(&call_id) {
            if self.calls.len() >= MAX_CALLS {
                return;
            }
            self.order.push(call_id.clone());
        }
        let call = self.calls.entry(call_id.clone()).or_default();
        call.messages += 1;
        call.from.get_or_insert_with(|| strip_tag(m.header("From").or_else(|| m.header("f")).unwrap_or("")));
        call.to.get_or_insert_with(|| strip_tag(m.header("To").or_else(|| m.header("t")).unwrap_or("")));
        if m.header("Content-Type").or_else(|| m.header("c")).is_some_and(|c| c.to_ascii_lowercase().contains("sdp")) {
            // RFC 3264: both offer and answer announce where each side receives media.
            for md in sdp::parse(m.body).media {
                let codecs: Vec<(u8, String, u32)> =
                    md.payload_types.iter().filter_map(|pt| md.codec(*pt).map(|(e, r)| (*pt, e, r))).collect();
                let b = |protocol: &'static str| MediaBinding {
                    protocol,
                    codecs: codecs.clone(),
                    by: "sip",
                    flow: ctx.flow,
                    session: Some(call_id.clone()),
                    secure: md.is_secure(),
                    srtp_keys: md.srtp_keys(),
                };
                ctx.signalled.announce(md.port, b("rtp"));
                ctx.signalled.announce(md.port.saturating_add(1), b("rtcp"));
                if !call.media_ports.contains(&md.port) {
                    call.media_ports.push(md.port);
                }
            }
        }
        let mut ev;
        if let Some(rest) = m.start.strip_prefix("SIP/2.0 ") {
            let status = rest.split_whitespace().next().and_then(|c| c.parse::<u16>().ok()).unwrap_or(0);
            ev = Event::new(ts, Some(ctx.flow), "sip", format!("sip.response.{status}"), Some(dir));
            if cseq_method == "INVITE" {
                if let Some(inv) = call.invite_ts {
                    let ms = ts.ms_since(inv);
                    if call.first_response_ms.is_none() {
                        call.first_response_ms = Some(ms);
                    }
                    // An authentication challenge (401/407) is answered by a new INVITE in the same
                    // call: the call's outcome is the final response after it.
                    let challenged = matches!(call.final_status, Some(401 | 407));
                    if status >= 200 && (call.final_status.is_none() || challenged) {
                        call.final_status = Some(status);
                        if !matches!(status, 401 | 407) {
                            call.setup_ms = Some(ms);
                            ctx.latency.add("sip", "setup_ms", ms);
                            ev.latency_ms = Some(ms);
                        }
                    }
                }
            }
        } else {
            let method = m.start.split_whitespace().next().unwrap_or("").to_string();
            ev = Event::new(ts, Some(ctx.flow), "sip", format!("sip.request.{method}"), Some(dir));
            match method.as_str() {
                "INVITE" if call.invite_ts.is_none() => call.invite_ts = Some(ts),
                "BYE" | "CANCEL" => call.ended_by = Some(method.clone()),
                _ => {}
            }
        }
        ev.fields.push(("call_id", FieldValue::Str(call_id)));
        ev.fields.push(("cseq", FieldValue::Str(cseq.to_string())));
        ctx.emit(ev);
    }
}

impl DatagramDissector for SipDissector {
    fn on_datagram(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) {
        match textmsg::parse(data) {
            Parsed::Message(m) => self.message(ctx, dir, &m, ts),
            // Keep-alives (CRLF) and broken datagrams.
            _ if data.iter().all(|b| b.is_ascii_whitespace()) => {}
            _ => self.malformed += 1,
        }
    }

    fn report(&self, flow: FlowId, show: bool) -> Vec<Value> {
        StreamDissector::report(self, flow, show)
    }
}

impl StreamDissector for SipDissector {
    fn on_data(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) -> Progress {
        let mut pos = 0;
        loop {
            // RFC 5626 keep-alives: bare CRLFs between messages.
            while data.get(pos).is_some_and(|b| *b == b'\r' || *b == b'\n') {
                pos += 1;
            }
            let rest = data.get(pos..).unwrap_or(&[]);
            if rest.is_empty() {
                return Progress::Done;
            }
            match textmsg::parse(rest) {
                Parsed::Message(m) => {
                    let len = m.len;
                    self.message(ctx, dir, &m, ts);
                    pos += len;
                }
                Parsed::Need(n) => return Progress::NeedMore { consumed: pos, needed: n },
                Parsed::Bad(what) => return Progress::Reject(DissectError { offset: pos, what: what.into() }),
            }
        }
    }

    fn report(&self, flow: FlowId, _show: bool) -> Vec<Value> {
        self.order
            .iter()
            .filter_map(|id| self.calls.get(id).map(|c| (id, c)))
            .map(|(id, c)| {
                json!({
                    "flow": flow, "call_id": id, "from": c.from, "to": c.to,
                    "ts": c.invite_ts.map(json_ts), "final_status": c.final_status,
                    "setup_ms": c.setup_ms.map(json_ms), "first_response_ms": c.first_response_ms.map(json_ms),
                    "ended_by": c.ended_by, "media_ports": c.media_ports, "messages": c.messages,
                })
            })
            .collect()
    }
}
