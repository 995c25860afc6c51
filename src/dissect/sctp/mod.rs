//! SCTP over DTLS (RFC 8261) as WebRTC data channels use it (RFC 8831): one SCTP association
//! per DTLS association, fed the decrypted records (one SCTP packet each). Per association the
//! chunks by type and direction, the INIT / INIT ACK parameters and setup time, DATA and I-DATA
//! with duplicate TSNs (retransmissions) counted once and fragmented messages put back
//! together, and per stream the data channel DCEP opened (RFC 8832: label, protocol, channel
//! type) with its messages and bytes per direction. Report section `sctp`; events `sctp.init`,
//! `sctp.init_ack`, `sctp.abort`, `sctp.shutdown`, `datachannel.open`, `datachannel.ack`,
//! `datachannel.close`, `datachannel.message` (bounded).

pub mod chunks;
pub mod dcep;

use crate::dissect::Ctx;
use crate::flow::{Direction, FlowId, PerDir};
use crate::report::{json_ms, json_ts};
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use chunks::{Chunk, Item};
use dcep::Kind;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Streams tracked per association (WebRTC allows 65535).
const MAX_STREAMS: usize = 1024;
/// TSNs remembered per direction to recognise retransmitted DATA.
const MAX_TSNS: usize = 16_384;
/// Fragments waiting for the rest of their message, per direction.
const MAX_FRAGMENTS: usize = 4096;
/// Bytes of a DCEP message kept while it is put together (an OPEN with a long label).
const MAX_DCEP_BYTES: usize = 64 * 1024;
/// `datachannel.message` events per association.
const MAX_MESSAGE_EVENTS: u64 = 2000;
/// INIT / INIT ACK chunks listed in the report.
const MAX_INITS: usize = 16;
/// Streams one RE-CONFIG reset request may close.
const MAX_RESET: usize = 256;

/// One fragment of a message not yet whole.
#[derive(Debug, Clone)]
struct Frag {
    stream: u16,
    ppid: Option<u32>,
    begin: bool,
    end: bool,
    len: usize,
    /// The bytes, kept for DCEP messages only.
    bytes: Option<Vec<u8>>,
}

/// One direction of the association.
#[derive(Debug, Default)]
struct Side {
    /// TSNs are kept relative to the first one seen (or the INIT's initial TSN).
    base_tsn: Option<u32>,
    seen: BTreeSet<u32>,
    /// Relative TSNs below this were forgotten; seeing one again is a retransmission.
    floor: u32,
    data_chunks: u64,
    duplicates: u64,
    /// DATA fragments by relative TSN.
    frags: BTreeMap<u32, Frag>,
    /// I-DATA fragments by (stream, unordered, MID), then FSN.
    ifrags: BTreeMap<(u16, bool, u32), BTreeMap<u32, Frag>>,
    frags_dropped: u64,
    messages: u64,
    bytes: u64,
    vtag: Option<u32>,
}

impl Side {
    fn rel(&mut self, tsn: u32) -> u32 {
        tsn.wrapping_sub(*self.base_tsn.get_or_insert(tsn))
    }

    /// Whether this TSN is new (and remembers it).
    fn first_time(&mut self, tsn: u32) -> bool {
        let r = self.rel(tsn);
        if r < self.floor || !self.seen.insert(r) {
            return false;
        }
        if self.seen.len() > MAX_TSNS {
            if let Some(low) = self.seen.pop_first() {
                self.floor = low.saturating_add(1);
            }
        }
        true
    }

    fn pending(&self) -> usize {
        self.frags.len() + self.ifrags.values().map(BTreeMap::len).sum::<usize>()
    }
}

/// A data channel (one SCTP stream).
#[derive(Debug, Default, Clone)]
struct Stream {
    label: Option<String>,
    protocol: Option<String>,
    channel_type: Option<u8>,
    priority: Option<u16>,
    reliability: Option<u32>,
    opened: Option<(Timestamp, Direction)>,
    acked: Option<Timestamp>,
    closed: Option<Timestamp>,
    messages: PerDir<u64>,
    bytes: PerDir<u64>,
    kinds: BTreeMap<&'static str, u64>,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    dcep_malformed: u64,
}

/// A whole message.
struct Msg<'a> {
    stream: u16,
    ppid: u32,
    len: usize,
    bytes: Option<&'a [u8]>,
}

/// One SCTP association inside a DTLS association.
#[derive(Debug, Default)]
pub struct Association {
    packets: PerDir<u64>,
    ports: Option<(u16, u16)>,
    chunks: PerDir<BTreeMap<&'static str, u64>>,
    inits: Vec<Value>,
    first_init: Option<Timestamp>,
    setup_ms: Option<f64>,
    sides: PerDir<Side>,
    streams: BTreeMap<u16, Stream>,
    streams_over_cap: u64,
    checksum_ok: u64,
    checksum_bad: u64,
    checksum_zero: u64,
    malformed: u64,
    vtag_mismatches: u64,
    aborts: u64,
    message_events: u64,
}

impl Association {
    /// One SCTP packet (a decrypted DTLS record) from `dir`.
    pub fn packet(&mut self, ctx: &mut Ctx<'_>, dir: Direction, p: &[u8], ts: Timestamp) {
        let Some(h) = chunks::header(p) else {
            self.malformed += 1;
            ctx.anomaly("sctp", ts, Some(dir), format!("SCTP packet of {} bytes has no common header", p.len()));
            return;
        };
        self.packets[dir] += 1;
        if self.ports.is_none() && dir == Direction::C2S {
            self.ports = Some((h.src_port, h.dst_port));
        }
        // RFC 9260 §6.8: CRC32c; a zero checksum is allowed inside DTLS (RFC 9653).
        match h.checksum {
            0 => self.checksum_zero += 1,
            c if c == chunks::crc32c(p) => self.checksum_ok += 1,
            _ => {
                self.checksum_bad += 1;
                if self.checksum_bad == 1 {
                    ctx.anomaly("sctp", ts, Some(dir), "SCTP checksum (CRC32c) does not match".into());
                }
            }
        }
        let mut has_init = false;
        for item in chunks::chunks(p) {
            match item {
                Item::Chunk(c) => {
                    has_init |= c.ty == 1;
                    *self.chunks[dir].entry(chunks::chunk_name(c.ty)).or_insert(0) += 1;
                    self.chunk(ctx, dir, &c, ts);
                }
                Item::BadLength { offset, length } => {
                    self.malformed += 1;
                    ctx.anomaly("sctp", ts, Some(dir), format!("SCTP chunk at {offset} has a bad length {length}"));
                }
            }
        }
        // RFC 9260 §8.5: every packet but one with INIT carries the peer's initiate tag.
        match self.sides[dir].vtag {
            Some(v) if !has_init && v != h.vtag => self.vtag_mismatches += 1,
            _ => {}
        }
    }

    fn chunk(&mut self, ctx: &mut Ctx<'_>, dir: Direction, c: &Chunk<'_>, ts: Timestamp) {
        match c.ty {
            0 | 64 => self.data(ctx, dir, c, ts),
            1 | 2 => {
                let Some(i) = chunks::init(c) else { return };
                let name = if c.ty == 1 { "init" } else { "init_ack" };
                // The initiate tag is what the peer puts in the packets it sends here.
                self.sides[dir.flip()].vtag = Some(i.initiate_tag);
                let side = &mut self.sides[dir];
                if side.base_tsn.is_none() {
                    side.base_tsn = Some(i.initial_tsn);
                }
                self.first_init.get_or_insert(ts);
                if self.inits.len() < MAX_INITS {
                    self.inits.push(json!({
                        "ts": json_ts(ts), "dir": dir.as_str(), "chunk": name, "initiate_tag": i.initiate_tag,
                        "a_rwnd": i.a_rwnd, "out_streams": i.out_streams, "in_streams": i.in_streams,
                        "initial_tsn": i.initial_tsn,
                    }));
                }
                ctx.emit(
                    Event::new(ts, Some(ctx.flow), "sctp", format!("sctp.{name}"), Some(dir))
                        .with("initiate_tag", FieldValue::U64(u64::from(i.initiate_tag)))
                        .with("out_streams", FieldValue::U64(u64::from(i.out_streams)))
                        .with("in_streams", FieldValue::U64(u64::from(i.in_streams)))
                        .with("initial_tsn", FieldValue::U64(u64::from(i.initial_tsn))),
                );
            }
            11 => {
                // COOKIE ACK: the association is up (RFC 9260 §5.1).
                if let (None, Some(start)) = (self.setup_ms, self.first_init) {
                    let ms = ts.ms_since(start);
                    self.setup_ms = Some(ms);
                    ctx.latency.add("sctp", "setup_ms", ms);
                    ctx.emit(Event::new(ts, Some(ctx.flow), "sctp", "sctp.established", Some(dir)).latency(ms));
                }
            }
            6 | 7 => {
                let name = if c.ty == 6 { "sctp.abort" } else { "sctp.shutdown" };
                let mut ev = Event::new(ts, Some(ctx.flow), "sctp", name, Some(dir));
                if c.ty == 6 {
                    self.aborts += 1;
                    if let Some(cause) = chunks::cause(c) {
                        ev = ev.with("cause", FieldValue::U64(u64::from(cause)));
                    }
                }
                ctx.emit(ev);
            }
            192 | 194 => {
                // FORWARD-TSN: the sender gave up on everything up to this TSN (RFC 3758).
                if let Some(t) = chunks::forward_tsn(c) {
                    let side = &mut self.sides[dir];
                    let upto = side.rel(t);
                    let before = side.pending();
                    side.frags.retain(|&k, _| k > upto);
                    side.frags_dropped += (before - side.pending()) as u64;
                }
            }
            130 => {
                // RE-CONFIG: resetting a stream closes its data channel (RFC 8831 §6.7).
                for s in chunks::reset_streams(c, MAX_RESET) {
                    let ids: Vec<u16> = match s {
                        Some(id) => vec![id],
                        None => self.streams.keys().copied().collect(),
                    };
                    for id in ids {
                        if let Some(st) = self.stream_mut(id) {
                            if st.closed.is_none() {
                                st.closed = Some(ts);
                                ctx.emit(
                                    Event::new(ts, Some(ctx.flow), "datachannel", "datachannel.close", Some(dir))
                                        .with("stream", FieldValue::U64(u64::from(id))),
                                );
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// DATA / I-DATA: a new TSN is taken in, a message that became whole delivered.
    fn data(&mut self, ctx: &mut Ctx<'_>, dir: Direction, c: &Chunk<'_>, ts: Timestamp) {
        let Some(d) = chunks::data(c) else {
            self.malformed += 1;
            return;
        };
        let side = &mut self.sides[dir];
        side.data_chunks += 1;
        if !side.first_time(d.tsn) {
            side.duplicates += 1;
            return;
        }
        if d.begin && d.end {
            let Some(ppid) = d.ppid else { return };
            let msg = Msg { stream: d.stream, ppid, len: d.payload.len(), bytes: Some(d.payload) };
            self.deliver(ctx, dir, &msg, ts);
            return;
        }
        if side.pending() >= MAX_FRAGMENTS {
            side.frags_dropped += 1;
            return;
        }
        // DCEP messages are kept whole to be read; I-DATA names the PPID on the first fragment only.
        let keep = match d.mid {
            None => d.ppid == Some(dcep::PPID_DCEP),
            Some(mid) => {
                d.ppid == Some(dcep::PPID_DCEP)
                    || side
                        .ifrags
                        .get(&(d.stream, d.unordered, mid))
                        .and_then(|m| m.get(&0))
                        .is_some_and(|f| f.ppid == Some(dcep::PPID_DCEP))
            }
        };
        let frag = Frag {
            stream: d.stream,
            ppid: d.ppid,
            begin: d.begin,
            end: d.end,
            len: d.payload.len(),
            bytes: keep.then(|| d.payload.to_vec()),
        };
        let whole = match d.mid {
            Some(mid) => {
                let key = (d.stream, d.unordered, mid);
                side.ifrags.entry(key).or_default().insert(d.fsn, frag);
                take_i_message(side, key)
            }
            None => {
                let r = side.rel(d.tsn);
                side.frags.insert(r, frag);
                take_run(side, r)
            }
        };
        if let Some((ppid, stream, len, bytes)) = whole {
            let bytes = bytes.filter(|b| b.len() == len);
            let msg = Msg { stream, ppid, len, bytes: bytes.as_deref() };
            self.deliver(ctx, dir, &msg, ts);
        }
    }

    fn stream_mut(&mut self, id: u16) -> Option<&mut Stream> {
        if !self.streams.contains_key(&id) && self.streams.len() >= MAX_STREAMS {
            self.streams_over_cap += 1;
            return None;
        }
        Some(self.streams.entry(id).or_default())
    }

    /// A whole message on a stream: DCEP opens or acknowledges the channel (RFC 8832 §6),
    /// anything else is a data channel message (RFC 8831 §6.6).
    fn deliver(&mut self, ctx: &mut Ctx<'_>, dir: Direction, m: &Msg<'_>, ts: Timestamp) {
        let kind = Kind::from_ppid(m.ppid);
        let flow = ctx.flow;
        let Some(st) = self.stream_mut(m.stream) else { return };
        if kind == Kind::Dcep {
            match m.bytes.and_then(dcep::parse) {
                Some(dcep::Message::Open(o)) => {
                    let ev = Event::new(ts, Some(flow), "datachannel", "datachannel.open", Some(dir))
                        .with("stream", FieldValue::U64(u64::from(m.stream)))
                        .with("label", FieldValue::Str(o.label.clone()))
                        .with("protocol", FieldValue::Str(o.protocol.clone()))
                        .with("channel_type", FieldValue::Str(dcep::channel_type_name(o.channel_type).into()));
                    st.opened = Some((ts, dir));
                    st.channel_type = Some(o.channel_type);
                    st.priority = Some(o.priority);
                    st.reliability = Some(o.reliability);
                    st.label = Some(o.label);
                    st.protocol = Some(o.protocol);
                    ctx.emit(ev);
                }
                Some(dcep::Message::Ack) => {
                    st.acked.get_or_insert(ts);
                    ctx.emit(
                        Event::new(ts, Some(flow), "datachannel", "datachannel.ack", Some(dir))
                            .with("stream", FieldValue::U64(u64::from(m.stream))),
                    );
                }
                Some(dcep::Message::Unknown(_)) | None => st.dcep_malformed += 1,
            }
            return;
        }
        let len = kind.user_len(m.len);
        st.messages[dir] += 1;
        st.bytes[dir] += len as u64;
        *st.kinds.entry(kind.name()).or_insert(0) += 1;
        st.first_ts.get_or_insert(ts);
        st.last_ts = Some(ts);
        let label = st.label.clone();
        let side = &mut self.sides[dir];
        side.messages += 1;
        side.bytes += len as u64;
        self.message_events += 1;
        if self.message_events <= MAX_MESSAGE_EVENTS {
            let mut ev = Event::new(ts, Some(flow), "datachannel", "datachannel.message", Some(dir))
                .with("stream", FieldValue::U64(u64::from(m.stream)))
                .with("kind", FieldValue::Str(kind.name().into()))
                .with("ppid", FieldValue::U64(u64::from(m.ppid)))
                .with("length", FieldValue::U64(len as u64));
            if let Some(l) = label {
                ev = ev.with("label", FieldValue::Str(l));
            }
            ctx.emit(ev);
        }
    }

    /// The association's `sctp` report entry.
    pub fn report(&self, flow: FlowId) -> Value {
        let pd = |f: &dyn Fn(&Side) -> u64| json!({"c2s": f(&self.sides.c2s), "s2c": f(&self.sides.s2c)});
        let mut all: BTreeMap<&'static str, u64> = BTreeMap::new();
        for m in [&self.chunks.c2s, &self.chunks.s2c] {
            for (k, v) in m {
                *all.entry(k).or_insert(0) += v;
            }
        }
        let channels: Vec<Value> = self
            .streams
            .iter()
            .map(|(id, s)| {
                json!({
                    "stream_id": id, "label": s.label, "protocol": s.protocol,
                    "channel_type": s.channel_type.map(dcep::channel_type_name),
                    "priority": s.priority, "reliability_parameter": s.reliability,
                    "opened_ts": s.opened.map(|(t, _)| json_ts(t)), "opened_by": s.opened.map(|(_, d)| d.as_str()),
                    "acked_ts": s.acked.map(json_ts), "closed_ts": s.closed.map(json_ts),
                    "messages_c2s": s.messages.c2s, "messages_s2c": s.messages.s2c,
                    "bytes_c2s": s.bytes.c2s, "bytes_s2c": s.bytes.s2c, "kinds": s.kinds,
                    "first_ts": s.first_ts.map(json_ts), "last_ts": s.last_ts.map(json_ts),
                    "dcep_malformed": s.dcep_malformed,
                })
            })
            .collect();
        json!({
            "flow": flow,
            "src_port": self.ports.map(|p| p.0), "dst_port": self.ports.map(|p| p.1),
            "verification_tags": {"c2s": self.sides.c2s.vtag, "s2c": self.sides.s2c.vtag},
            "packets": {"c2s": self.packets.c2s, "s2c": self.packets.s2c},
            "chunks": all, "chunks_c2s": self.chunks.c2s, "chunks_s2c": self.chunks.s2c,
            "init": self.inits, "setup_ms": self.setup_ms.map(json_ms),
            "data_chunks": pd(&|s| s.data_chunks), "duplicate_tsns": pd(&|s| s.duplicates),
            "messages": pd(&|s| s.messages), "bytes": pd(&|s| s.bytes),
            "fragments_pending": pd(&|s| s.pending() as u64), "fragments_dropped": pd(&|s| s.frags_dropped),
            "checksum": {"ok": self.checksum_ok, "bad": self.checksum_bad, "zero": self.checksum_zero},
            "malformed": self.malformed, "vtag_mismatches": self.vtag_mismatches, "aborts": self.aborts,
            "streams_over_cap": self.streams_over_cap,
            "message_events_dropped": self.message_events.saturating_sub(MAX_MESSAGE_EVENTS),
            "datachannels": channels,
        })
    }
}

/// What a whole message gives: PPID, stream, length and (when kept) its bytes.
type Whole = (u32, u16, usize, Option<Vec<u8>>);

/// DATA fragments (RFC 9260 §6.9): a message is the run of consecutive TSNs from a B fragment
/// to an E fragment on one stream. Takes the run through `r` out of `side` once it is whole.
fn take_run(side: &mut Side, r: u32) -> Option<Whole> {
    let stream = side.frags.get(&r)?.stream;
    let mut start = r;
    while !side.frags.get(&start)?.begin {
        start = start.checked_sub(1)?;
        if side.frags.get(&start)?.stream != stream {
            return None;
        }
    }
    let mut end = r;
    while !side.frags.get(&end)?.end {
        end = end.checked_add(1)?;
        if side.frags.get(&end)?.stream != stream {
            return None;
        }
    }
    let ppid = side.frags.get(&start)?.ppid?;
    let mut len = 0;
    let mut bytes: Option<Vec<u8>> = Some(Vec::new());
    for k in start..=end {
        let f = side.frags.remove(&k)?;
        len += f.len;
        match (bytes.as_mut(), f.bytes) {
            (Some(b), Some(fb)) if b.len() + fb.len() <= MAX_DCEP_BYTES => b.extend_from_slice(&fb),
            _ => bytes = None,
        }
    }
    Some((ppid, stream, len, bytes))
}

/// I-DATA fragments (RFC 8260 §2.1): a message is FSN 0 (with B) to the fragment with E, all
/// FSNs present.
fn take_i_message(side: &mut Side, key: (u16, bool, u32)) -> Option<Whole> {
    let frags = side.ifrags.get(&key)?;
    let first = frags.get(&0).filter(|f| f.begin)?;
    let (last_fsn, _) = frags.iter().find(|(_, f)| f.end)?;
    if frags.len() as u64 != u64::from(*last_fsn) + 1 {
        return None;
    }
    let ppid = first.ppid?;
    let frags = side.ifrags.remove(&key)?;
    let len = frags.values().map(|f| f.len).sum();
    let mut bytes = Vec::new();
    for f in frags.values() {
        bytes.extend_from_slice(f.bytes.as_deref().unwrap_or(&[]));
    }
    let bytes = (ppid == dcep::PPID_DCEP && bytes.len() == len && len <= MAX_DCEP_BYTES).then_some(bytes);
    Some((ppid, key.0, len, bytes))
}

#[cfg(test)]
mod tests;
