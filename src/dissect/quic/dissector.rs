//! The QUIC dissector of one UDP flow: packets (RFC 9000 §17) and coalesced packets (§12.2),
//! their protection removed with the Initial keys or the key log's secrets, their frames (§19)
//! handed to CRYPTO and STREAM reassembly, the TLS hellos read from CRYPTO, HTTP/3 fed with
//! the streams, and the spin bit observed.

use super::decrypt::{AppKeys, DirKeys, Opened, Space};
use super::frames::{self, Frame};
use super::spin::{SpinObserver, MAX_SAMPLES};
use super::streams::{Reassembly, Streams};
use super::{crypto::PacketKeys, h3::H3, hex, initial, version_name};
use crate::dissect::tls::crypto::{aead_suite, Cipher, Hash};
use crate::dissect::tls::hello::{self, Hello};
use crate::dissect::{be32, Ctx, DatagramDissector};
use crate::flow::{Direction, FlowId, PerDir};
use crate::report::{json_ms, json_ts};
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// CRYPTO bytes read per packet number space and direction (hellos and EncryptedExtensions
/// come first; certificates after them are not needed).
const MAX_CRYPTO: u64 = 64 * 1024;
/// Packet number ranges kept per direction and space.
const MAX_PN_RANGES: usize = 256;
/// QUIC v2 (RFC 9369).
const V2: u32 = 0x6b33_43cf;

/// Packet numbers seen, as inclusive ranges in arrival order (consecutive numbers merged).
#[derive(Debug, Default, Clone)]
struct PnRanges {
    ranges: Vec<(u64, u64)>,
    dropped: u64,
}

impl PnRanges {
    fn add(&mut self, pn: u64) {
        if let Some(last) = self.ranges.last_mut() {
            if last.1.checked_add(1) == Some(pn) {
                last.1 = pn;
                return;
            }
        }
        if self.ranges.len() < MAX_PN_RANGES {
            self.ranges.push((pn, pn));
        } else {
            self.dropped += 1;
        }
    }
}

/// What one direction did.
#[derive(Default)]
struct Side {
    keys: DirKeys,
    /// CRYPTO streams of the Initial and Handshake spaces.
    crypto: [Reassembly; 2],
    /// Contiguous CRYPTO bytes not yet forming a whole TLS handshake message.
    crypto_buf: [Vec<u8>; 2],
    /// Room left for out-of-order CRYPTO bytes (starts at [`MAX_CRYPTO`] once used).
    crypto_room: [Option<usize>; 2],
    decrypted: BTreeMap<&'static str, u64>,
    failed: BTreeMap<&'static str, u64>,
    no_keys: BTreeMap<&'static str, u64>,
    pns: BTreeMap<&'static str, PnRanges>,
    spin: SpinObserver,
    /// Length of the Destination Connection ID in short headers sent this way.
    short_dcid_len: Option<usize>,
}

/// The QUIC dissector of one UDP flow.
#[derive(Default)]
pub struct QuicDissector {
    version: Option<u32>,
    dcid: Option<Vec<u8>>,
    scid: Option<Vec<u8>>,
    packets: BTreeMap<&'static str, u64>,
    hello: Option<Hello>,
    server_hello: Option<Hello>,
    alpn_selected: Option<String>,
    /// The version the current Initial keys are for.
    initial_version: Option<u32>,
    /// A Retry was seen: the client's next Initial brings a new DCID for the Initial keys.
    rekey_initial: bool,
    sides: PerDir<Side>,
    keys_derived: bool,
    secrets_found: bool,
    first_initial: Option<Timestamp>,
    first_short_c2s: Option<Timestamp>,
    handshake_done: Option<Timestamp>,
    retry: bool,
    offered_versions: Vec<u32>,
    gquic: bool,
    frames: BTreeMap<&'static str, u64>,
    unknown_frames: u64,
    malformed_frames: u64,
    streams: Streams,
    h3: H3,
    close: Option<Value>,
    spin_samples: Vec<f64>,
}

fn count(map: &mut BTreeMap<&'static str, u64>, key: &'static str) {
    *map.entry(key).or_insert(0) += 1;
}

impl QuicDissector {
    /// After the ClientHello: 0-RTT key candidates from the key log's early secret (RFC 9001
    /// §5.6; the suite is the resumed session's, so each suite of the secret's hash length is
    /// tried until one authenticates).
    fn derive_early_keys(&mut self, ctx: &mut Ctx<'_>) {
        let (Some(log), Some(c)) = (ctx.keylog, &self.hello) else { return };
        let Some(early) = log.get(&c.random).and_then(|s| s.client_early.as_deref()) else { return };
        let v2 = self.version == Some(V2);
        let suites: &[(Cipher, Hash)] = if early.len() == 48 {
            &[(Cipher::Aes256Gcm, Hash::Sha384)]
        } else {
            &[(Cipher::Aes128Gcm, Hash::Sha256), (Cipher::Chacha20, Hash::Sha256)]
        };
        self.sides.c2s.keys.early =
            suites.iter().filter_map(|(c, h)| PacketKeys::from_secret(*c, *h, early, v2)).collect();
    }

    /// After the ServerHello: packet keys for the Handshake and 1-RTT spaces from the key log.
    fn derive_keys(&mut self, ctx: &mut Ctx<'_>) {
        if self.keys_derived {
            return;
        }
        let (Some(log), Some(c), Some(s)) = (ctx.keylog, &self.hello, &self.server_hello) else { return };
        self.keys_derived = true;
        let Some(secrets) = log.get(&c.random) else { return };
        self.secrets_found = true;
        let Some((cipher, hash)) = s.cipher_suites.first().and_then(|&suite| aead_suite(suite)) else { return };
        let v2 = self.version == Some(V2);
        let k = |s: &Option<Vec<u8>>| s.as_deref().and_then(|s| PacketKeys::from_secret(cipher, hash, s, v2));
        self.sides.c2s.keys.handshake = k(&secrets.client_handshake);
        self.sides.s2c.keys.handshake = k(&secrets.server_handshake);
        self.sides.c2s.keys.app = k(&secrets.client_traffic).map(AppKeys::new);
        self.sides.s2c.keys.app = k(&secrets.server_traffic).map(AppKeys::new);
    }

    /// One long-header packet at the start of `d`; returns its length.
    fn long(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp) -> Option<usize> {
        let first = *d.first()?;
        let version = be32(d, 1)?;
        let dcil = usize::from(*d.get(5)?);
        let dcid = d.get(6..6 + dcil)?;
        let scil = usize::from(*d.get(6 + dcil)?);
        let scid = d.get(7 + dcil..7 + dcil + scil)?;
        let mut p = 7 + dcil + scil;
        if version == 0 {
            count(&mut self.packets, "version_negotiation");
            self.offered_versions = d.get(p..)?.chunks_exact(4).filter_map(|c| be32(c, 0)).collect();
            return Some(d.len());
        }
        if version & 0x0f0f_0f0f == 0x0a0a_0a0a {
            // A greased version (RFC 9000 §15): no further meaning.
            count(&mut self.packets, "grease");
            return Some(d.len());
        }
        self.version.get_or_insert(version);
        let ty = (first >> 4) & 0x03;
        // RFC 9369 §3.2 swaps the v2 type codes.
        let kind = match (version == V2, ty) {
            (false, 0) | (true, 1) => "initial",
            (false, 1) | (true, 2) => "0rtt",
            (false, 2) | (true, 3) => "handshake",
            _ => "retry",
        };
        count(&mut self.packets, kind);
        if kind == "retry" {
            self.retry = true;
            self.rekey_initial = true;
            ctx.emit(Event::new(ts, Some(ctx.flow), "quic", "quic.retry", Some(dir)));
            return Some(d.len());
        }
        // Short headers sent the other way carry this packet's SCID as their DCID.
        self.sides[dir.flip()].short_dcid_len.get_or_insert(scid.len());
        if kind == "initial" {
            let token = initial::varint(d, &mut p)?;
            p = p.checked_add(usize::try_from(token).ok()?)?;
        }
        let len = usize::try_from(initial::varint(d, &mut p)?).ok()?;
        let end = p.checked_add(len)?.min(d.len());
        if kind == "initial" && dir == Direction::C2S {
            if self.first_initial.is_none() {
                self.first_initial = Some(ts);
                self.dcid = Some(dcid.to_vec());
                self.scid = Some(scid.to_vec());
                ctx.emit(
                    Event::new(ts, Some(ctx.flow), "quic", "quic.initial", Some(dir))
                        .with("version", FieldValue::Str(version_name(version)))
                        .with("dcid", FieldValue::Str(hex(dcid))),
                );
            }
            // RFC 9001 §5.2: both sides' Initial keys come from the DCID of the client's first
            // Initial; after a Retry from the next one's (RFC 9000 §17.2.5.2), and after Version
            // Negotiation from the first Initial of the new version.
            if self.initial_version != Some(version) || self.rekey_initial {
                self.initial_version = Some(version);
                self.rekey_initial = false;
                self.sides.c2s.keys.initial = initial::initial_keys(dcid, version, true);
                self.sides.s2c.keys.initial = initial::initial_keys(dcid, version, false);
            }
        }
        let packet = d.get(..end)?;
        let space = match kind {
            "initial" => Space::Initial,
            "handshake" => Space::Handshake,
            // 0-RTT: application data space, CLIENT_EARLY_TRAFFIC_SECRET.
            _ => Space::App,
        };
        let opened = self.sides[dir].keys.open_long(space, packet, p);
        let label = if kind == "0rtt" { "0rtt" } else { space.name() };
        self.opened(ctx, dir, space, label, opened, ts);
        Some(end)
    }

    /// One short-header (1-RTT) packet: the rest of the datagram.
    fn short(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp) {
        count(&mut self.packets, "short");
        if dir == Direction::C2S && self.first_short_c2s.is_none() {
            self.first_short_c2s = Some(ts);
            if let Some(start) = self.first_initial {
                let ms = ts.ms_since(start);
                ctx.latency.add("quic", "handshake_ms", ms);
                ctx.emit(Event::new(ts, Some(ctx.flow), "quic", "quic.handshake.done", Some(dir)).latency(ms));
            }
        }
        let spin = d.first().is_some_and(|f| f & 0x20 != 0);
        let mut pn = None;
        match self.sides[dir].short_dcid_len {
            Some(cid_len) => {
                let opened = self.sides[dir].keys.open_short(d, 1 + cid_len);
                if let Opened::Plain { pn: n, .. } = &opened {
                    pn = Some(*n);
                }
                self.opened(ctx, dir, Space::App, Space::App.name(), opened, ts);
            }
            None => count(&mut self.sides[dir].no_keys, Space::App.name()),
        }
        // The spin bit is not header-protected (RFC 9001 §5.4.1 masks the low 5 bits only).
        let edge = self.sides[dir].spin.packet(spin, pn, ts);
        if let Some(ms) = edge {
            if self.spin_samples.len() < MAX_SAMPLES {
                self.spin_samples.push(ms);
            }
            ctx.latency.add("quic", "spin_rtt_ms", ms);
        }
    }

    /// Counts an opened packet (under `label`: the space, or `0rtt`) and dissects its frames.
    fn opened(
        &mut self,
        ctx: &mut Ctx<'_>,
        dir: Direction,
        space: Space,
        label: &'static str,
        opened: Opened,
        ts: Timestamp,
    ) {
        let side = &mut self.sides[dir];
        match opened {
            Opened::NoKeys => count(&mut side.no_keys, label),
            Opened::Failed => {
                count(&mut side.failed, label);
                let failed: u64 = side.failed.values().sum();
                if failed == 1 {
                    ctx.anomaly("quic", ts, Some(dir), format!("{label} packet failed to decrypt"));
                }
            }
            Opened::Plain { pn, frames, key_update, .. } => {
                count(&mut side.decrypted, label);
                side.pns.entry(label).or_default().add(pn);
                if key_update {
                    let n = side.keys.key_updates();
                    ctx.emit(
                        Event::new(ts, Some(ctx.flow), "quic", "quic.key_update", Some(dir))
                            .with("packet_number", FieldValue::U64(pn))
                            .with("updates", FieldValue::U64(n)),
                    );
                }
                self.frames(ctx, dir, space, &frames, ts);
            }
        }
    }

    /// RFC 9000 §19: the frames of a decrypted packet.
    fn frames(&mut self, ctx: &mut Ctx<'_>, dir: Direction, space: Space, payload: &[u8], ts: Timestamp) {
        let (list, err) = frames::parse(payload);
        for f in &list {
            count(&mut self.frames, f.name());
            match f {
                Frame::Crypto { offset, data } => self.crypto(ctx, dir, space, *offset, data, ts),
                Frame::Stream { stream, offset, fin, data } => {
                    let delivery = self.streams.push(*stream, dir, *offset, data, *fin);
                    let h3 = self.hello.as_ref().is_some_and(|h| h.alpn.iter().any(|a| a.starts_with("h3")));
                    if h3 && (!delivery.data.is_empty() || delivery.finished) {
                        self.h3.stream_data(ctx, *stream, dir, &delivery.data, delivery.finished, ts);
                    }
                }
                Frame::HandshakeDone if self.handshake_done.is_none() => {
                    self.handshake_done = Some(ts);
                    let mut ev = Event::new(ts, Some(ctx.flow), "quic", "quic.handshake_done_frame", Some(dir));
                    if let Some(start) = self.first_initial {
                        ev = ev.latency(ts.ms_since(start));
                    }
                    ctx.emit(ev);
                }
                Frame::ConnectionClose { app, error, frame_type, reason } => {
                    let reason = String::from_utf8_lossy(reason).into_owned();
                    ctx.emit(
                        Event::new(ts, Some(ctx.flow), "quic", "quic.connection_close", Some(dir))
                            .with("error", FieldValue::U64(*error))
                            .with("application", FieldValue::Bool(*app))
                            .with("reason", FieldValue::Str(reason.clone())),
                    );
                    if self.close.is_none() {
                        self.close = Some(json!({
                            "ts": json_ts(ts), "dir": dir.as_str(), "application": app,
                            "error": error, "frame_type": frame_type, "reason": reason,
                        }));
                    }
                }
                _ => {}
            }
        }
        if let Some(e) = err {
            if e.unknown {
                self.unknown_frames += 1;
            } else {
                self.malformed_frames += 1;
            }
            let what = match e.frame_type {
                Some(t) if e.unknown => {
                    format!("unknown frame type 0x{t:x} at offset {}; rest of packet skipped", e.offset)
                }
                Some(t) => format!("frame type 0x{t:x} cut short at offset {}", e.offset),
                None => format!("frame type cut short at offset {}", e.offset),
            };
            ctx.anomaly("quic", ts, Some(dir), what);
        }
    }

    /// CRYPTO data: TLS handshake messages of the Initial (hellos) and Handshake
    /// (EncryptedExtensions) spaces.
    fn crypto(&mut self, ctx: &mut Ctx<'_>, dir: Direction, space: Space, offset: u64, data: &[u8], ts: Timestamp) {
        let i = match space {
            Space::Initial => 0,
            Space::Handshake => 1,
            Space::App => return,
        };
        let side = &mut self.sides[dir];
        let (Some(r), Some(buf), Some(room)) =
            (side.crypto.get_mut(i), side.crypto_buf.get_mut(i), side.crypto_room.get_mut(i))
        else {
            return;
        };
        if r.delivered() >= MAX_CRYPTO || offset >= MAX_CRYPTO {
            return;
        }
        let budget = room.get_or_insert(MAX_CRYPTO as usize);
        let d = r.push(offset, data, false, budget);
        buf.extend_from_slice(&d.data);
        let mut messages = Vec::new();
        while let (Some(&ty), Some(len)) = (buf.first(), crate::dissect::rtmp::be24(buf, 1)) {
            let Some(body) = buf.get(4..4 + len as usize) else { break };
            messages.push((ty, body.to_vec()));
            buf.drain(..4 + len as usize);
        }
        for (ty, body) in messages {
            self.handshake_message(ctx, dir, ty, &body, ts);
        }
    }

    fn handshake_message(&mut self, ctx: &mut Ctx<'_>, dir: Direction, ty: u8, body: &[u8], ts: Timestamp) {
        match (ty, dir) {
            (1, Direction::C2S) if self.hello.is_none() => {
                if let Some(h) = hello::parse(body, true) {
                    let mut ev = Event::new(ts, Some(ctx.flow), "quic", "quic.client_hello", Some(dir));
                    if let Some(sni) = &h.sni {
                        ev = ev.with("sni", FieldValue::Str(sni.clone()));
                    }
                    ctx.emit(ev.with("alpn", FieldValue::Json(json!(h.alpn))));
                    self.hello = Some(h);
                    self.derive_early_keys(ctx);
                    self.derive_keys(ctx);
                }
            }
            (2, Direction::S2C) if self.server_hello.is_none() => {
                if let Some(h) = hello::parse(body, false) {
                    let mut ev = Event::new(ts, Some(ctx.flow), "quic", "quic.server_hello", Some(dir));
                    if let Some(s) = h.cipher_suites.first() {
                        ev = ev.with("cipher_suite", FieldValue::Str(hello::suite_name(*s)));
                    }
                    ctx.emit(ev);
                    self.server_hello = Some(h);
                    self.derive_keys(ctx);
                }
            }
            (8, Direction::S2C) => {
                // TLS 1.3 EncryptedExtensions: the selected ALPN (RFC 7301 §3.1).
                let mut r = body.get(2..).unwrap_or(&[]);
                while let (Some(t), Some(l)) = (crate::dissect::be16(r, 0), crate::dissect::be16(r, 2)) {
                    let l = usize::from(l);
                    if t == 16 {
                        if let Some(p) = r.get(7..4 + l) {
                            self.alpn_selected = Some(String::from_utf8_lossy(p).into_owned());
                        }
                    }
                    r = r.get(4 + l..).unwrap_or(&[]);
                }
            }
            _ => {}
        }
    }

    fn side_report(&self, dir: Direction) -> Value {
        let s = &self.sides[dir];
        let pns: BTreeMap<&str, Value> =
            s.pns.iter().map(|(k, r)| (*k, json!({"ranges": r.ranges, "not_kept": r.dropped}))).collect();
        json!({
            "decrypted": s.decrypted,
            "failed": s.failed,
            "no_keys": s.no_keys,
            "packet_numbers": pns,
            "key_updates": s.keys.key_updates(),
            "spin_edges": s.spin.edges,
        })
    }
}

impl DatagramDissector for QuicDissector {
    fn on_datagram(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) {
        let mut p = 0usize;
        // Coalesced packets (RFC 9000 §12.2): long headers carry their length.
        while let Some(&first) = data.get(p) {
            let rest = data.get(p..).unwrap_or(&[]);
            if first & 0x80 == 0 {
                if p > 0 && first & 0x40 == 0 {
                    // Padding after coalesced packets, not a packet.
                    break;
                }
                if first & 0x40 == 0 && self.version.is_none() {
                    // gQUIC public header.
                    self.gquic = true;
                    count(&mut self.packets, "gquic");
                    if let Some(v) = be32(rest, 9) {
                        self.version.get_or_insert(v);
                    }
                } else {
                    self.short(ctx, dir, rest, ts);
                }
                break;
            }
            match self.long(ctx, dir, rest, ts) {
                Some(n) if n > 0 => p += n,
                _ => {
                    count(&mut self.packets, "malformed");
                    break;
                }
            }
        }
    }

    fn report(&self, flow: FlowId, _show: bool) -> Vec<Value> {
        let handshake = match (self.first_initial, self.first_short_c2s) {
            (Some(a), Some(b)) => json_ms(b.ms_since(a)),
            _ => Value::Null,
        };
        let sum = |f: fn(&Side) -> &BTreeMap<&'static str, u64>| -> u64 {
            f(&self.sides.c2s).values().sum::<u64>() + f(&self.sides.s2c).values().sum::<u64>()
        };
        let initial = |f: fn(&Side) -> &BTreeMap<&'static str, u64>| -> u64 {
            f(&self.sides.c2s).get("initial").copied().unwrap_or(0)
                + f(&self.sides.s2c).get("initial").copied().unwrap_or(0)
        };
        let spin = if self.spin_samples.is_empty() {
            Value::Null
        } else {
            Value::Array(self.spin_samples.iter().map(|ms| json_ms(*ms)).collect())
        };
        vec![json!({
            "flow": flow,
            "version": self.version.map(version_name),
            "version_hex": self.version.map(|v| format!("0x{v:08x}")),
            "dcid": self.dcid.as_deref().map(hex),
            "scid": self.scid.as_deref().map(hex),
            "sni": self.hello.as_ref().and_then(|h| h.sni.clone()),
            "alpn": self.hello.as_ref().map(|h| h.alpn.clone()),
            "alpn_selected": self.alpn_selected,
            "cipher_suite": self.server_hello.as_ref().and_then(|h| h.cipher_suites.first()).map(|s| hello::suite_name(*s)),
            "packets": self.packets,
            "initials_decrypted": initial(|s| &s.decrypted),
            "initial_failures": initial(|s| &s.failed),
            "keys": self.secrets_found,
            "packets_decrypted": sum(|s| &s.decrypted),
            "packets_failed": sum(|s| &s.failed),
            "packets_no_keys": sum(|s| &s.no_keys),
            "c2s": self.side_report(Direction::C2S),
            "s2c": self.side_report(Direction::S2C),
            "frames": self.frames,
            "unknown_frames": self.unknown_frames,
            "malformed_frames": self.malformed_frames,
            "streams": self.streams.len(),
            "streams_cut": self.streams.broken(),
            "http3": if self.h3.is_empty() { Value::Null } else { self.h3.summary() },
            "connection_close": self.close,
            "handshake_done_ts": self.handshake_done.map(json_ts),
            "spin_rtt_ms": spin,
            "retry": self.retry,
            "offered_versions": self.offered_versions.iter().map(|v| format!("0x{v:08x}")).collect::<Vec<_>>(),
            "handshake_ms": handshake,
            "gquic": self.gquic,
        })]
    }

    fn extra_reports(&self, flow: FlowId, _show: bool) -> Vec<(&'static str, Value)> {
        self.h3.extra_reports(flow)
    }

    fn headline(&self) -> Option<String> {
        let sni = self.hello.as_ref().and_then(|h| h.sni.clone());
        match (sni, self.h3.headline()) {
            (Some(s), Some(h)) => Some(format!("{s} {h}")),
            (s, h) => s.or(h),
        }
    }
}
