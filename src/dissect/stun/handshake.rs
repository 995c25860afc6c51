//! DTLS 1.0/1.2 handshake messages of one association (RFC 6347 §4.2): fragments put back
//! together by `message_seq`, `fragment_offset` and `fragment_length` so each message is
//! reported once with the number of fragments it came in; HelloVerifyRequest cookies; and
//! flights sent again (retransmitted after a timeout, RFC 6347 §4.2.4).

use crate::dissect::be16;
use crate::flow::{Direction, FlowId, PerDir};
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
    /// HelloVerifyRequest, ClientHello: the cookie's length.
    cookie_len: Option<u8>,
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
    /// Records per content type and direction.
    content: PerDir<BTreeMap<&'static str, u64>>,
}

/// Record content type names, as in the association's `content` counts.
fn content_name(ct: u8) -> &'static str {
    match ct {
        20 => "change_cipher_spec",
        21 => "alert",
        22 => "handshake",
        23 => "application_data",
        _ => "other",
    }
}

/// What taking in a datagram produced, for the caller to emit.
#[derive(Debug, Clone, PartialEq)]
enum Note {
    /// Message `i` became whole.
    Completed(usize),
    /// A fragment that does not fit its message.
    Bad(String),
}

impl Handshakes {
    /// Walks the DTLS records of one datagram (RFC 6347 §4.1: type, version, epoch, 48-bit
    /// sequence number, length) and takes in their handshake fragments; each message that
    /// became whole is an event `dtls.handshake.<name>` (ClientHello and ServerHello have
    /// theirs already), a fragment that does not fit an anomaly.
    pub fn datagram(&mut self, ctx: &mut crate::dissect::Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp) {
        let mut notes = Vec::new();
        self.take(dir, d, ts, &mut notes);
        for n in notes {
            match n {
                Note::Completed(i) => {
                    if let Some(ev) = self.event(ctx.flow, i) {
                        ctx.emit(ev);
                    }
                }
                Note::Bad(what) => ctx.anomaly("dtls", ts, Some(dir), what),
            }
        }
    }

    fn take(&mut self, dir: Direction, d: &[u8], ts: Timestamp, notes: &mut Vec<Note>) {
        let mut off = 0usize;
        while let (Some(&ct), Some(ver), Some(epoch), Some(len)) =
            (d.get(off), be16(d, off + 1), be16(d, off + 3), be16(d, off + 11))
        {
            let len = usize::from(len);
            let Some(frag) = d.get(off + 13..off + 13 + len) else { break };
            *self.record_versions.entry(ver).or_insert(0) += 1;
            *self.content[dir].entry(content_name(ct)).or_insert(0) += 1;
            if ct == 22 {
                if epoch == 0 {
                    self.record(dir, frag, ts, notes);
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
    fn record(&mut self, dir: Direction, rec: &[u8], ts: Timestamp, notes: &mut Vec<Note>) {
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
                notes.push(Note::Bad(format!("handshake fragment {f_off}+{f_len} beyond length {length}")));
                continue;
            }
            match self.fragment(dir, t, length, seq, f_off, body, ts) {
                Some(true) => any_new = true,
                Some(false) => any_old = true,
                None => {}
            }
            if let Some(i) = self.just_completed(dir, seq, t) {
                self.completed(i, ts);
                notes.push(Note::Completed(i));
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
                    cookie_len: None,
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
    fn completed(&mut self, i: usize, ts: Timestamp) {
        let Some(m) = self.messages.get_mut(i) else { return };
        m.complete_ts = Some(ts);
        let body = m.body.as_deref().unwrap_or(&[]);
        match m.msg_type {
            3 => {
                // HelloVerifyRequest (RFC 6347 §4.2.1): server_version, cookie<0..2^8-1>.
                m.cookie_len = body.get(2).copied();
                self.hello_verify_requests += 1;
                self.cookie_len = m.cookie_len;
            }
            1 => {
                // ClientHello: client_version, random(32), session_id<0..32>, cookie<0..2^8-1>.
                m.cookie_len = body.get(34).and_then(|&sid| body.get(35 + usize::from(sid))).copied();
                if m.cookie_len.is_some_and(|c| c > 0) {
                    self.client_hellos_with_cookie += 1;
                }
            }
            _ => {}
        }
    }

    /// The event announcing whole message `i`; none for ClientHello and ServerHello, which
    /// have theirs already (`dtls.handshake.client_hello` on the first one,
    /// `dtls.handshake.server_hello`).
    fn event(&self, flow: FlowId, i: usize) -> Option<Event> {
        let m = self.messages.get(i)?;
        if matches!(m.msg_type, 1 | 2) {
            return None;
        }
        let name = format!("dtls.handshake.{}", handshake_name(m.msg_type));
        let mut ev = Event::new(m.complete_ts?, Some(flow), "dtls", name, Some(m.dir))
            .with("message_seq", FieldValue::U64(u64::from(m.seq)))
            .with("length", FieldValue::U64(u64::from(m.length)))
            .with("fragments", FieldValue::U64(u64::from(m.fragments)));
        if let Some(c) = m.cookie_len {
            ev = ev.with("cookie_len", FieldValue::U64(u64::from(c)));
        }
        Some(ev)
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
        o.insert("content_c2s".into(), json!(self.content.c2s));
        o.insert("content_s2c".into(), json!(self.content.s2c));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Body byte at offset `i` of a test message.
    fn byte(i: u32) -> u8 {
        (i.wrapping_mul(31) >> 2) as u8
    }

    /// A DTLS 1.2 record of `epoch` holding handshake fragments (type, length, seq, offset,
    /// fragment length).
    fn record(epoch: u16, frags: &[(u8, u32, u16, u32, u32)]) -> Vec<u8> {
        let mut body = Vec::new();
        for &(t, length, seq, off, len) in frags {
            body.push(t);
            body.extend_from_slice(&length.to_be_bytes()[1..]);
            body.extend_from_slice(&seq.to_be_bytes());
            body.extend_from_slice(&off.to_be_bytes()[1..]);
            body.extend_from_slice(&len.to_be_bytes()[1..]);
            body.extend((off..off + len).map(byte));
        }
        let mut r = vec![22, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(&body);
        r
    }

    fn take(h: &mut Handshakes, dir: Direction, d: &[u8], t: i64) -> Vec<Note> {
        let mut notes = Vec::new();
        h.take(dir, d, Timestamp(t), &mut notes);
        notes
    }

    #[test]
    fn fragments_out_of_order_make_one_message() {
        let mut h = Handshakes::default();
        assert!(take(&mut h, Direction::S2C, &record(0, &[(11, 300, 2, 200, 100)]), 1).is_empty());
        assert!(take(&mut h, Direction::S2C, &record(0, &[(11, 300, 2, 0, 120)]), 2).is_empty());
        // Overlapping the first two: still new bytes (120..200).
        let n = take(&mut h, Direction::S2C, &record(0, &[(11, 300, 2, 100, 110)]), 3);
        assert_eq!(n, vec![Note::Completed(0)]);
        let m = &h.messages[0];
        assert_eq!((m.fragments, m.complete_ts, m.first_ts), (3, Some(Timestamp(3)), Timestamp(1)));
        assert_eq!(m.body.as_deref(), Some(&(0..300).map(byte).collect::<Vec<_>>()[..]));
        assert_eq!((h.retransmitted_records, h.retransmitted_flights), (0, 0));
        let ev = h.event(7, 0).unwrap();
        assert_eq!(ev.name, "dtls.handshake.certificate");
        assert!(ev.fields.contains(&("fragments", FieldValue::U64(3))));
    }

    #[test]
    fn flights_sent_again_are_counted_once_per_run() {
        let mut h = Handshakes::default();
        let flight = record(0, &[(2, 40, 1, 0, 40), (14, 0, 2, 0, 0)]);
        take(&mut h, Direction::S2C, &flight, 1);
        assert_eq!(h.messages.len(), 2);
        // The whole flight again, in two datagrams: one retransmitted flight, two records.
        take(&mut h, Direction::S2C, &record(0, &[(2, 40, 1, 0, 40)]), 2);
        take(&mut h, Direction::S2C, &record(0, &[(14, 0, 2, 0, 0)]), 3);
        assert_eq!((h.retransmitted_records, h.retransmitted_flights), (2, 1));
        assert_eq!(h.messages.iter().map(|m| m.fragments).collect::<Vec<_>>(), vec![1, 1]);
        // The client answers, then the server sends its flight a second time.
        take(&mut h, Direction::C2S, &record(0, &[(16, 33, 2, 0, 33)]), 4);
        take(&mut h, Direction::S2C, &flight, 5);
        assert_eq!((h.retransmitted_records, h.retransmitted_flights), (3, 2));
        // Encrypted Finished: the second from one side is a retransmission.
        take(&mut h, Direction::C2S, &record(1, &[(20, 12, 3, 0, 12)]), 6);
        take(&mut h, Direction::C2S, &record(1, &[(20, 12, 3, 0, 12)]), 7);
        assert_eq!(h.encrypted.c2s, 2);
        assert_eq!((h.retransmitted_records, h.retransmitted_flights), (4, 3));
    }

    #[test]
    fn hello_verify_request_cookie() {
        let mut h = Handshakes::default();
        // ClientHello without, HelloVerifyRequest with a 20-byte cookie, ClientHello echoing it.
        let mut hvr = record(0, &[(3, 23, 0, 0, 23)]);
        let at = hvr.len() - 23;
        hvr[at..at + 3].copy_from_slice(&[0xfe, 0xff, 20]);
        take(&mut h, Direction::S2C, &hvr, 1);
        let mut ch = record(0, &[(1, 60, 1, 0, 60)]);
        let at = ch.len() - 60;
        ch[at + 34] = 0; // no session id
        ch[at + 35] = 20; // cookie length
        take(&mut h, Direction::C2S, &ch, 2);
        assert_eq!((h.hello_verify_requests, h.cookie_len, h.client_hellos_with_cookie), (1, Some(20), 1));
        assert!(h.event(0, 0).unwrap().fields.contains(&("cookie_len", FieldValue::U64(20))));
        assert!(h.event(0, 1).is_none(), "ClientHello has its own event");
    }

    #[test]
    fn bad_and_oversized_input_is_bounded() {
        let mut h = Handshakes::default();
        let n = take(&mut h, Direction::C2S, &record(0, &[(11, 10, 0, 5, 10)]), 1);
        assert!(matches!(n.as_slice(), [Note::Bad(_)]));
        assert!(h.messages.is_empty());
        // Longer than kept: tracked by ranges only, still completes.
        let big = MAX_MESSAGE_BYTES as u32 + 1;
        take(&mut h, Direction::C2S, &record(0, &[(11, big, 1, 0, 1000)]), 2);
        assert!(h.messages[0].body.is_none());
        for i in 0..MAX_MESSAGES as u16 + 10 {
            take(&mut h, Direction::S2C, &record(0, &[(12, 4, i, 0, 4)]), 3);
        }
        assert_eq!(h.messages.len(), MAX_MESSAGES);
        assert_eq!(h.over_cap, 11);
        // A message cut into more pieces than tracked ranges is given up, not grown.
        let mut g = Handshakes::default();
        for i in 0..(MAX_RANGES as u32 + 2) {
            take(&mut g, Direction::S2C, &record(0, &[(11, 1000, 0, i * 3, 1)]), 4);
        }
        assert!(g.messages[0].given_up && g.messages[0].ranges.is_empty());
        // Every cut of a record parses without panicking.
        let r = record(0, &[(11, 300, 2, 0, 120), (12, 9, 3, 0, 9)]);
        for cut in 0..r.len() {
            let _ = take(&mut Handshakes::default(), Direction::C2S, &r[..cut], 0);
        }
        let mut v = serde_json::json!({});
        h.annotate(&mut v);
        assert_eq!(v["handshake_fragments_not_tracked"], 11);
    }
}
