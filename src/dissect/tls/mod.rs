//! TLS on any port (RFC 8446, RFC 5246): record layer, ClientHello/ServerHello (SNI, ALPN,
//! versions, cipher suite), handshake timing, alerts; with a key log (`--keylog`), AEAD record
//! decryption for TLS 1.2 and 1.3 and dissection of the protocol inside (RTMPS, HTTPS).
//! Report section `tls`.

pub mod crypto;
pub mod hello;
pub mod keylog;

use super::buffered::Buffered;
use super::{be16, Ctx, Over, Probe, ProbeInput, Progress, ProtocolSpec, StreamDissector, StreamStart, REGISTRY};
use crate::flow::{Direction, FlowId, PerDir};
use crate::report::{json_ms, json_ts};
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use crypto::{aead_suite, RecordKey};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "tls",
    over: Over::Tcp,
    ports: &[443, 8443],
    probe,
    stream: Some(new_dissector),
    datagram: None,
    section: "tls",
};

fn new_dissector(_start: StreamStart) -> Box<dyn StreamDissector> {
    Box::new(TlsDissector::default())
}

/// Largest record body (RFC 8446 §5.2: 2^14 + 256 for ciphertext; TLS 1.2 allows + 2048).
const MAX_RECORD: usize = 16384 + 2048;
/// Handshake bytes buffered per direction (certificate chains can be long).
const MAX_HANDSHAKE_BUF: usize = 256 * 1024;
/// Plaintext examined to find the protocol inside.
const INNER_PROBE_BYTES: usize = 8192;

/// Record type 22 (handshake), version 3.x, a plausible length, handshake type 1 or 2.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if p.udp {
        return Probe::NoMatch;
    }
    let d = p.data;
    match (d.first(), d.get(1), d.get(2)) {
        (Some(22), Some(3), Some(0..=4)) => {}
        (Some(22), Some(3), None) | (Some(22), None, _) => return Probe::NeedMore,
        (None, _, _) => return Probe::NeedMore,
        _ => return Probe::NoMatch,
    }
    let Some(len) = be16(d, 3) else { return Probe::NeedMore };
    if len == 0 || usize::from(len) > MAX_RECORD {
        return Probe::NoMatch;
    }
    match d.get(5) {
        Some(1) | Some(2) => Probe::Match,
        Some(_) => Probe::NoMatch,
        None => Probe::NeedMore,
    }
}

fn content_name(t: u8) -> &'static str {
    match t {
        20 => "change_cipher_spec",
        21 => "alert",
        22 => "handshake",
        23 => "application_data",
        24 => "heartbeat",
        _ => "unknown",
    }
}

#[derive(Default)]
struct Side {
    hs_buf: Vec<u8>,
    /// TLS 1.2: a ChangeCipherSpec was sent, so what follows is protected.
    ccs: bool,
    /// The first protected record after CCS (the Finished) was seen (TLS 1.2).
    finished_ts: Option<Timestamp>,
    key: Option<RecordKey>,
    /// TLS 1.3: the application traffic key, used after this side's Finished.
    next_key: Option<RecordKey>,
    records: BTreeMap<&'static str, u64>,
    decrypted: u64,
    failures: u64,
    /// Plaintext kept until the inner protocol is known, and the order it came in.
    probe_buf: Vec<u8>,
}

/// The TLS dissector of one connection.
#[derive(Default)]
pub struct TlsDissector {
    sides: PerDir<Side>,
    client: Option<hello::Hello>,
    server: Option<hello::Hello>,
    hrr: bool,
    client_hello_ts: Option<Timestamp>,
    server_hello_ts: Option<Timestamp>,
    done_ts: Option<Timestamp>,
    alerts: Vec<Value>,
    keys_tried: bool,
    keys_found: bool,
    inner: Option<(usize, Buffered)>,
    inner_given_up: bool,
    probe_log: Vec<(Direction, Timestamp, usize, usize)>,
}

impl TlsDissector {
    fn version(&self) -> Option<u16> {
        let s = self.server.as_ref()?;
        Some(s.versions.first().copied().unwrap_or(s.legacy_version))
    }

    fn tls13(&self) -> bool {
        self.version() == Some(0x0304)
    }

    fn suite(&self) -> Option<u16> {
        self.server.as_ref().and_then(|s| s.cipher_suites.first().copied())
    }

    /// After the ServerHello: derive the record keys from the key log, if it has this
    /// connection's secrets.
    fn derive_keys(&mut self, ctx: &mut Ctx<'_>) {
        if self.keys_tried {
            return;
        }
        self.keys_tried = true;
        let (Some(log), Some(c), Some(s), Some(suite)) = (ctx.keylog, &self.client, &self.server, self.suite()) else {
            return;
        };
        let Some(secrets) = log.get(&c.random) else { return };
        let Some((cipher, hash)) = aead_suite(suite) else { return };
        if self.tls13() {
            let k = |s: &Option<Vec<u8>>| s.as_deref().and_then(|s| RecordKey::tls13(cipher, hash, s));
            let (ch, sh) = (k(&secrets.client_handshake), k(&secrets.server_handshake));
            let (ct, st) = (k(&secrets.client_traffic), k(&secrets.server_traffic));
            self.keys_found = ct.is_some() || st.is_some();
            // Without handshake secrets, start at the traffic keys (handshake records fail).
            let (c_first, c_next) = if ch.is_some() { (ch, ct) } else { (ct, None) };
            let (s_first, s_next) = if sh.is_some() { (sh, st) } else { (st, None) };
            self.sides.c2s.key = c_first;
            self.sides.c2s.next_key = c_next;
            self.sides.s2c.key = s_first;
            self.sides.s2c.next_key = s_next;
        } else if let Some(master) = &secrets.master {
            let (c2s, s2c) = crypto::tls12_record_keys(suite, master, &c.random, &s.random).unzip();
            self.sides.c2s.key = c2s;
            self.sides.s2c.key = s2c;
            self.keys_found = self.sides.c2s.key.is_some();
        }
    }

    /// Handshake messages of one direction (plaintext, or decrypted).
    fn handshake(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp, protected: bool) {
        let side = &mut self.sides[dir];
        if side.hs_buf.len() + data.len() > MAX_HANDSHAKE_BUF {
            side.hs_buf.clear();
            ctx.anomaly("tls", ts, Some(dir), "handshake message larger than 256 KiB; skipped".into());
            return;
        }
        side.hs_buf.extend_from_slice(data);
        loop {
            let buf = &self.sides[dir].hs_buf;
            let (Some(&ty), Some(len)) = (buf.first(), super::rtmp::be24(buf, 1)) else { break };
            let len = len as usize;
            let Some(body) = buf.get(4..4 + len) else { break };
            let body = body.to_vec();
            self.sides[dir].hs_buf.drain(..4 + len);
            self.message(ctx, dir, ty, &body, ts, protected);
        }
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, dir: Direction, ty: u8, body: &[u8], ts: Timestamp, protected: bool) {
        match (ty, dir) {
            (1, Direction::C2S) => {
                let h = hello::parse(body, true);
                if self.client_hello_ts.is_none() {
                    self.client_hello_ts = Some(ts);
                }
                let mut ev = Event::new(ts, Some(ctx.flow), "tls", "tls.handshake.client_hello", Some(dir));
                if let Some(h) = &h {
                    if let Some(sni) = &h.sni {
                        ev = ev.with("sni", FieldValue::Str(sni.clone()));
                    }
                    ev = ev.with("alpn", FieldValue::Json(json!(h.alpn)));
                }
                ctx.emit(ev);
                if h.is_none() {
                    ctx.anomaly("tls", ts, Some(dir), "malformed ClientHello".into());
                }
                // After a HelloRetryRequest the second ClientHello keeps the first random.
                if self.client.is_none() {
                    self.client = h;
                }
            }
            (2, Direction::S2C) => {
                let h = hello::parse(body, false);
                let is_hrr = h.as_ref().is_some_and(|h| h.random == hello::HRR_RANDOM);
                let name = if is_hrr { "tls.handshake.hello_retry_request" } else { "tls.handshake.server_hello" };
                let mut ev = Event::new(ts, Some(ctx.flow), "tls", name, Some(dir));
                if let Some(h) = &h {
                    let v = h.versions.first().copied().unwrap_or(h.legacy_version);
                    ev = ev.with("version", FieldValue::Str(hello::version_name(v)));
                    if let Some(s) = h.cipher_suites.first() {
                        ev = ev.with("cipher_suite", FieldValue::Str(hello::suite_name(*s)));
                    }
                }
                if let Some(c) = self.client_hello_ts {
                    ev = ev.latency(ts.ms_since(c));
                }
                ctx.emit(ev);
                if is_hrr {
                    self.hrr = true;
                    return;
                }
                self.server_hello_ts = Some(ts);
                self.server = h;
                self.derive_keys(ctx);
            }
            (8, Direction::S2C) if protected => {
                // TLS 1.3 EncryptedExtensions: the selected ALPN lives here.
                let mut r = body.get(2..).unwrap_or(&[]);
                while let (Some(t), Some(l)) = (be16(r, 0), be16(r, 2)) {
                    let l = usize::from(l);
                    if t == 16 {
                        if let (Some(s), Some(p)) = (self.server.as_mut(), r.get(7..4 + l)) {
                            s.alpn = vec![String::from_utf8_lossy(p).into_owned()];
                        }
                    }
                    r = r.get(4 + l..).unwrap_or(&[]);
                }
            }
            (20, _) if self.tls13() => {
                // Finished: with TLS 1.3 the next records use the application traffic key.
                let side = &mut self.sides[dir];
                if let Some(k) = side.next_key.take() {
                    side.key = Some(k);
                }
                if dir == Direction::C2S {
                    self.finish(ctx, ts);
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, ts: Timestamp) {
        if self.done_ts.is_some() {
            return;
        }
        self.done_ts = Some(ts);
        let mut ev = Event::new(ts, Some(ctx.flow), "tls", "tls.handshake.done", None);
        if let Some(c) = self.client_hello_ts {
            let ms = ts.ms_since(c);
            ctx.latency.add("tls", "handshake_ms", ms);
            ev = ev.latency(ms);
        }
        ctx.emit(ev);
    }

    /// A protected record: note handshake completion, decrypt when possible.
    fn protected(&mut self, ctx: &mut Ctx<'_>, dir: Direction, header: &[u8], ty: u8, body: &[u8], ts: Timestamp) {
        let tls13 = self.tls13();
        if !tls13 && self.sides[dir].finished_ts.is_none() {
            // TLS 1.2: the first protected record after CCS is this side's Finished.
            self.sides[dir].finished_ts = Some(ts);
            if self.sides.c2s.finished_ts.is_some() && self.sides.s2c.finished_ts.is_some() {
                self.finish(ctx, ts);
            }
        }
        if tls13 && dir == Direction::C2S && ty == 23 && !self.keys_found {
            // Without keys, the client's first protected record is its Finished.
            self.finish(ctx, ts);
        }
        let version = be16(header, 1).unwrap_or(0x0303);
        let side = &mut self.sides[dir];
        let Some(key) = side.key.as_mut() else { return };
        let Some(mut plain) = key.open(header, ty, version, body, tls13) else {
            side.failures += 1;
            return;
        };
        side.decrypted += 1;
        let inner_type = if tls13 {
            // RFC 8446 §5.2: strip zero padding; the last non-zero byte is the real type.
            while plain.last() == Some(&0) {
                plain.pop();
            }
            plain.pop().unwrap_or(0)
        } else {
            ty
        };
        match inner_type {
            22 => self.handshake(ctx, dir, &plain, ts, true),
            23 => self.application(ctx, dir, &plain, ts),
            21 => self.alert(ctx, dir, &plain, ts, true),
            _ => {}
        }
    }

    fn alert(&mut self, ctx: &mut Ctx<'_>, dir: Direction, body: &[u8], ts: Timestamp, decrypted: bool) {
        let (level, desc) = (body.first().copied(), body.get(1).copied());
        if self.alerts.len() < 32 {
            self.alerts.push(json!({"ts": json_ts(ts), "dir": dir.as_str(), "level": level, "description": desc, "decrypted": decrypted}));
        }
        ctx.emit(
            Event::new(ts, Some(ctx.flow), "tls", "tls.alert", Some(dir))
                .with("level", FieldValue::U64(u64::from(level.unwrap_or(0))))
                .with("description", FieldValue::U64(u64::from(desc.unwrap_or(0)))),
        );
    }

    /// Decrypted application bytes: find the protocol inside, then dissect it.
    fn application(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) {
        if let Some((_, inner)) = self.inner.as_mut() {
            inner.feed(ctx, dir, data, ts);
            return;
        }
        if self.inner_given_up {
            return;
        }
        let side = &mut self.sides[dir];
        let start = side.probe_buf.len();
        side.probe_buf.extend_from_slice(data);
        self.probe_log.push((dir, ts, start, start + data.len()));
        let (c, s) = (&self.sides.c2s.probe_buf, &self.sides.s2c.probe_buf);
        let inner_candidates = REGISTRY
            .iter()
            .enumerate()
            .filter(|(_, spec)| spec.runs_over(false) && spec.stream.is_some() && spec.name != "tls")
            .map(|(i, _)| i);
        let (hit, undecided) = super::probe_stream(inner_candidates, c, s);
        let too_much = c.len() > INNER_PROBE_BYTES || s.len() > INNER_PROBE_BYTES;
        match hit.and_then(|i| REGISTRY.get(i).map(|s| (i, s))) {
            Some((i, spec)) => {
                let Some(new) = spec.stream else { return };
                let mut inner = Buffered::new(new(StreamStart::Beginning));
                let log = std::mem::take(&mut self.probe_log);
                for (d, t, a, b) in log {
                    if let Some(bytes) = self.sides[d].probe_buf.get(a..b) {
                        inner.feed(ctx, d, bytes, t);
                    }
                }
                self.sides.c2s.probe_buf = Vec::new();
                self.sides.s2c.probe_buf = Vec::new();
                ctx.emit(
                    Event::new(ts, Some(ctx.flow), "tls", "tls.application", None)
                        .with("protocol", FieldValue::Str(spec.name.into())),
                );
                self.inner = Some((i, inner));
            }
            None if !undecided || too_much => {
                self.inner_given_up = true;
                self.probe_log.clear();
                self.sides.c2s.probe_buf = Vec::new();
                self.sides.s2c.probe_buf = Vec::new();
            }
            None => {}
        }
    }
}

impl StreamDissector for TlsDissector {
    fn on_data(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) -> Progress {
        let mut pos = 0usize;
        loop {
            let rest = data.get(pos..).unwrap_or(&[]);
            if rest.is_empty() {
                return Progress::Done;
            }
            let (Some(&ty), Some(len)) = (rest.first(), be16(rest, 3)) else {
                return Progress::NeedMore { consumed: pos, needed: 5 };
            };
            let len = usize::from(len);
            if !(20..=24).contains(&ty) || rest.get(1) != Some(&3) || len > MAX_RECORD {
                return Progress::Reject(super::DissectError { offset: pos, what: "not a TLS record".into() });
            }
            let Some(body) = rest.get(5..5 + len) else {
                return Progress::NeedMore { consumed: pos, needed: 5 + len };
            };
            let header = rest.get(..5).unwrap_or(&[]);
            pos += 5 + len;
            let tls13 = self.tls13();
            let protected = ty == 23 || (self.sides[dir].ccs && !tls13 && ty != 20);
            let name = if protected && ty != 23 { "protected" } else { content_name(ty) };
            *self.sides[dir].records.entry(name).or_insert(0) += 1;
            if protected {
                self.protected(ctx, dir, header, ty, body, ts);
                continue;
            }
            match ty {
                20 if !tls13 => self.sides[dir].ccs = true,
                21 => self.alert(ctx, dir, body, ts, false),
                22 => self.handshake(ctx, dir, body, ts, false),
                _ => {}
            }
        }
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_>, dir: Direction, len: u64) {
        // Record boundaries are lost: stop dissecting this direction.
        self.sides[dir].hs_buf.clear();
        self.sides[dir].key = None;
        if let Some((_, inner)) = self.inner.as_mut() {
            inner.gap(ctx, dir, len);
        }
    }

    fn on_end(&mut self, ctx: &mut Ctx<'_>, dir: Direction, ts: Timestamp) {
        if let Some((_, inner)) = self.inner.as_mut() {
            inner.end(ctx, dir, ts);
        }
    }

    fn report(&self, flow: FlowId, _show_secrets: bool) -> Vec<Value> {
        let side = |s: &Side| json!({"records": s.records, "decrypted": s.decrypted, "auth_failures": s.failures});
        let handshake_ms = match (self.client_hello_ts, self.done_ts) {
            (Some(a), Some(b)) => json_ms(b.ms_since(a)),
            _ => Value::Null,
        };
        let server_hello_ms = match (self.client_hello_ts, self.server_hello_ts) {
            (Some(a), Some(b)) => json_ms(b.ms_since(a)),
            _ => Value::Null,
        };
        let inner = self.inner.as_ref().and_then(|(i, _)| REGISTRY.get(*i)).map(|s| s.name);
        vec![json!({
            "flow": flow,
            "sni": self.client.as_ref().and_then(|c| c.sni.clone()),
            "version": self.version().map(hello::version_name),
            "cipher_suite": self.suite().map(hello::suite_name),
            "alpn": self.server.as_ref().and_then(|s| s.alpn.first().cloned()),
            "alpn_offered": self.client.as_ref().map(|c| c.alpn.clone()),
            "handshake_ms": handshake_ms,
            "server_hello_ms": server_hello_ms,
            "hello_retry_request": self.hrr,
            "client_hello_ts": self.client_hello_ts.map(json_ts),
            "decrypted": self.keys_found,
            "application": inner,
            "alerts": self.alerts,
            "c2s": side(&self.sides.c2s),
            "s2c": side(&self.sides.s2c),
        })]
    }

    fn extra_reports(&self, flow: FlowId, show_secrets: bool) -> Vec<(&'static str, Value)> {
        let Some((i, inner)) = &self.inner else { return Vec::new() };
        let Some(spec) = REGISTRY.get(*i) else { return Vec::new() };
        let d = inner.dissector();
        let mut out: Vec<(&'static str, Value)> =
            d.report(flow, show_secrets).into_iter().map(|v| (spec.section, v)).collect();
        out.extend(d.extra_reports(flow, show_secrets));
        out
    }

    fn headline(&self) -> Option<String> {
        self.client.as_ref().and_then(|c| c.sni.clone())
    }
}
