//! DTLS 1.0/1.2 handshake messages of one association (RFC 6347 §4.2): fragments put back
//! together by `message_seq`, `fragment_offset` and `fragment_length` so each message is
//! reported once with the number of fragments it came in; HelloVerifyRequest cookies; and
//! flights sent again (retransmitted after a timeout, RFC 6347 §4.2.4).

use crate::dissect::be16;
use crate::flow::{Direction, PerDir};
use crate::report::json_ts;
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Handshake messages tracked per association (a full DTLS 1.2 handshake has about 12).
const MAX_MESSAGES: usize = 64;
/// Longest message whose bytes are kept (longer ones are tracked by byte ranges only).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Bytes kept for all messages of an association.
const MAX_BUFFERED: usize = 256 * 1024;
/// Distinct byte ranges tracked per message (a message cut finer is given up on).
const MAX_RANGES: usize = 64;

/// Handshake message names (RFC 5246 §7.4, RFC 6347 §4.3.2, RFC 5077 §3.3).
pub fn handshake_name(t: u8) -> &'static str {
    match t {
        0 => "hello_request",
        1 => "client_hello",
        2 => "server_hello",
        3 => "hello_verify_request",
        4 => "new_session_ticket",
        11 => "certificate",
        12 => "server_key_exchange",
        13 => "certificate_request",
        14 => "server_hello_done",
        15 => "certificate_verify",
        16 => "client_key_exchange",
        20 => "finished",
        _ => "unknown",
    }
}

/// One handshake message, whole or still missing fragments.
#[derive(Debug, Clone)]
struct Message {
    dir: Direction,
    msg_type: u8,
    seq: u16,
    length: u32,
    /// Fragments received (retransmitted copies not counted).
    fragments: u32,
    /// Byte ranges received, sorted and merged: `[start, end)`.
    ranges: Vec<(u32, u32)>,
    /// The message body, when short enough to keep.
    body: Option<Vec<u8>>,
    first_ts: Timestamp,
    complete_ts: Option<Timestamp>,
    /// Too many ranges: no longer tracked.
    given_up: bool,
}

impl Message {
    fn covers(&self, start: u32, end: u32) -> bool {
        start >= end || self.ranges.iter().any(|&(s, e)| s <= start && end <= e)
    }

    fn add(&mut self, start: u32, end: u32) {
        if start >= end {
            return;
        }
        self.ranges.push((start, end));
        self.ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.ranges.len());
        for &(s, e) in &self.ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.ranges = merged;
        if self.ranges.len() > MAX_RANGES {
            self.given_up = true;
            self.ranges.clear();
            self.body = None;
        }
    }

    fn complete(&self) -> bool {
        self.length == 0 || self.ranges.first().is_some_and(|&(s, e)| s == 0 && e >= self.length)
    }
}

/// The handshake side of one DTLS association.
#[derive(Debug, Default)]
pub struct Handshakes {
    messages: Vec<Message>,
    buffered: usize,
    /// Handshake fragments beyond [`MAX_MESSAGES`] messages, not tracked.
    over_cap: u64,
    /// HelloVerifyRequests received (RFC 6347 §4.2.1), and the length of the last cookie.
    hello_verify_requests: u64,
    cookie_len: Option<u8>,
    /// ClientHellos that echo a cookie.
    client_hellos_with_cookie: u64,
    /// Handshake records whose bytes had all been received before (a flight sent again).
    retransmitted_records: u64,
    /// Runs of such records from one side: flights sent again.
    retransmitted_flights: u64,
    in_retransmission: PerDir<bool>,
    /// Handshake records under a new epoch (DTLS 1.2: the encrypted Finished) per direction.
    encrypted: PerDir<u64>,
    /// Records per record-layer version.
    record_versions: BTreeMap<u16, u64>,
}

impl Handshakes {
    /// Walks the DTLS records of one datagram (RFC 6347 §4.1: type, version, epoch, 48-bit
    /// sequence number, length) and takes in their handshake fragments.
    pub fn datagram(&mut self, ctx: &mut crate::dissect::Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp) {
        let mut off = 0usize;
        while let (Some(&ct), Some(ver), Some(epoch), Some(len)) =
            (d.get(off), be16(d, off + 1), be16(d, off + 3), be16(d, off + 11))
        {
            let len = usize::from(len);
            let Some(frag) = d.get(off + 13..off + 13 + len) else { break };
            *self.record_versions.entry(ver).or_insert(0) += 1;
            if ct == 22 {
                if epoch == 0 {
                    self.record(ctx, dir, frag, ts);
                } else {
                    // Encrypted: one handshake message a record (the Finished); a second one
                    // from the same side is the flight sent again.
                    self.encrypted[dir] += 1;
                    if self.encrypted[dir] > 1 {
                        self.retransmitted(dir);
                    } else {
                        self.progress();
                    }
                }
            }
            off += 13 + len;
        }
    }

    /// The handshake messages in one epoch-0 record (RFC 6347 §4.2.2: type, length,
    /// message_seq, fragment_offset, fragment_length, then the fragment).
    fn record(&mut self, ctx: &mut crate::dissect::Ctx<'_>, dir: Direction, rec: &[u8], ts: Timestamp) {
        let mut off = 0usize;
        let mut any_new = false;
        let mut any_old = false;
        while let (Some(&t), Some(length), Some(seq), Some(f_off), Some(f_len)) =
            (rec.get(off), be24(rec, off + 1), be16(rec, off + 4), be24(rec, off + 6), be24(rec, off + 9))
        {
            let Some(body) = rec.get(off + 12..off + 12 + f_len as usize) else { break };
            off += 12 + f_len as usize;
            let end = f_off.saturating_add(f_len);
            if end > length {
                ctx.anomaly(
                    "dtls",
                    ts,
                    Some(dir),
                    format!("handshake fragment {f_off}+{f_len} beyond length {length}"),
                );
                continue;
            }
            match self.fragment(dir, t, length, seq, f_off, body, ts) {
                Some(true) => any_new = true,
                Some(false) => any_old = true,
                None => {}
            }
            if let Some(i) = self.just_completed(dir, seq, t) {
                self.completed(ctx, i, ts);
            }
        }
        if any_new {
            self.progress();
        } else if any_old {
            self.retransmitted(dir);
        }
    }

    /// Takes in one fragment: `Some(true)` when it brought new bytes, `Some(false)` when all of
    /// them had been seen, `None` when not tracked.
    #[allow(clippy::too_many_arguments)]
    fn fragment(
        &mut self,
        dir: Direction,
        t: u8,
        length: u32,
        seq: u16,
        f_off: u32,
        body: &[u8],
        ts: Timestamp,
    ) -> Option<bool> {
        let end = f_off.saturating_add(body.len() as u32);
        // The same message_seq with another type or length is a new handshake on the 5-tuple.
        let idx =
            self.messages.iter().rposition(|m| m.dir == dir && m.seq == seq && m.msg_type == t && m.length == length);
        let i = match idx {
            Some(i) => i,
            None => {
                if self.messages.len() >= MAX_MESSAGES {
                    self.over_cap += 1;
                    return None;
                }
                let keep = length as usize <= MAX_MESSAGE_BYTES && self.buffered + length as usize <= MAX_BUFFERED;
                if keep {
                    self.buffered += length as usize;
                }
                self.messages.push(Message {
                    dir,
                    msg_type: t,
                    seq,
                    length,
                    fragments: 0,
                    ranges: Vec::new(),
                    body: keep.then(|| vec![0; length as usize]),
                    first_ts: ts,
                    complete_ts: None,
                    given_up: false,
                });
                self.messages.len() - 1
            }
        };
        let m = self.messages.get_mut(i)?;
        if m.given_up {
            return None;
        }
        // A zero-length message (ServerHelloDone) is new the first time only.
        if m.covers(f_off, end) && (m.fragments > 0 || length > 0) {
            return Some(false);
        }
        m.fragments += 1;
        if let Some(dst) = m.body.as_mut().and_then(|b| b.get_mut(f_off as usize..end as usize)) {
            dst.copy_from_slice(body);
        }
        m.add(f_off, end);
        Some(true)
    }

    /// The index of message (`dir`, `seq`, `t`) if it has just become whole.
    fn just_completed(&mut self, dir: Direction, seq: u16, t: u8) -> Option<usize> {
        let i = self.messages.iter().rposition(|m| m.dir == dir && m.seq == seq && m.msg_type == t)?;
        let m = self.messages.get(i)?;
        (m.complete_ts.is_none() && !m.given_up && m.complete()).then_some(i)
    }

    /// Message `i` is whole at `ts` (the capture time of its last fragment).
    fn completed(&mut self, ctx: &mut crate::dissect::Ctx<'_>, i: usize, ts: Timestamp) {
        let Some(m) = self.messages.get_mut(i) else { return };
        m.complete_ts = Some(ts);
        let body = m.body.as_deref().unwrap_or(&[]);
        let mut ev = Event::new(
            ts,
            Some(ctx.flow),
            "dtls",
            format!("dtls.handshake.{}", handshake_name(m.msg_type)),
            Some(m.dir),
        )
        .with("message_seq", FieldValue::U64(u64::from(m.seq)))
        .with("length", FieldValue::U64(u64::from(m.length)))
        .with("fragments", FieldValue::U64(u64::from(m.fragments)));
        match m.msg_type {
            3 => {
                // HelloVerifyRequest (RFC 6347 §4.2.1): server_version, cookie<0..2^8-1>.
                self.hello_verify_requests += 1;
                self.cookie_len = body.get(2).copied();
                if let Some(&c) = body.get(2) {
                    ev = ev.with("cookie_len", FieldValue::U64(u64::from(c)));
                }
            }
            1 => {
                // ClientHello: client_version, random(32), session_id<0..32>, cookie<0..2^8-1>.
                let cookie = body.get(34).and_then(|&sid| body.get(35 + usize::from(sid))).copied().unwrap_or(0);
                if cookie > 0 {
                    self.client_hellos_with_cookie += 1;
                    ev = ev.with("cookie_len", FieldValue::U64(u64::from(cookie)));
                }
            }
            _ => {}
        }
        // ClientHello and ServerHello have their own events (dtls.handshake.client_hello on the
        // first, dtls.handshake.server_hello): the rest are announced here.
        if !matches!(m.msg_type, 1 | 2) {
            ctx.emit(ev);
        }
    }

    /// New handshake bytes from either side: any retransmitted flight has ended.
    fn progress(&mut self) {
        self.in_retransmission = PerDir::default();
    }

    fn retransmitted(&mut self, dir: Direction) {
        self.retransmitted_records += 1;
        if !self.in_retransmission[dir] {
            self.in_retransmission[dir] = true;
            self.retransmitted_flights += 1;
        }
    }

    /// The association's handshake facts, added to its `dtls` report entry.
    pub fn annotate(&self, entry: &mut Value) {
        let Some(o) = entry.as_object_mut() else { return };
        let messages: Vec<Value> = self
            .messages
            .iter()
            .map(|m| {
                json!({
                    "dir": m.dir.as_str(), "type": m.msg_type, "name": handshake_name(m.msg_type),
                    "message_seq": m.seq, "length": m.length, "fragments": m.fragments,
                    "complete": m.complete_ts.is_some(), "first_ts": json_ts(m.first_ts),
                    "ts": m.complete_ts.map(json_ts),
                })
            })
            .collect();
        o.insert("handshake_messages".into(), Value::Array(messages));
        o.insert("hello_verify_requests".into(), json!(self.hello_verify_requests));
        o.insert("cookie_len".into(), json!(self.cookie_len));
        o.insert("client_hellos_with_cookie".into(), json!(self.client_hellos_with_cookie));
        o.insert("retransmitted_handshake_records".into(), json!(self.retransmitted_records));
        o.insert("retransmitted_flights".into(), json!(self.retransmitted_flights));
        o.insert("encrypted_handshake_records".into(), json!({"c2s": self.encrypted.c2s, "s2c": self.encrypted.s2c}));
        let versions: serde_json::Map<String, Value> =
            self.record_versions.iter().map(|(v, n)| (format!("0x{v:04x}"), json!(n))).collect();
        o.insert("record_versions".into(), Value::Object(versions));
        if self.over_cap > 0 {
            o.insert("handshake_fragments_not_tracked".into(), json!(self.over_cap));
        }
    }
}

/// A 24-bit big-endian number.
fn be24(b: &[u8], at: usize) -> Option<u32> {
    let hi = u32::from(*b.get(at)?);
    Some(hi << 16 | u32::from(be16(b, at + 1)?))
}
