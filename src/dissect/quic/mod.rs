//! QUIC (RFC 9000, RFC 9369 v2, version negotiation, Google QUIC detection): long and short
//! headers, versions, connection IDs, packet types, Retry; the client's Initial packets
//! decrypted (RFC 9001 §5) to read the ClientHello's SNI and ALPN (CRYPTO frames reassembled by
//! offset across packets); handshake time. Report section `quic`.

pub mod initial;

use super::{be32, Ctx, DatagramDissector, Over, Probe, ProbeInput, ProtocolSpec};
use crate::flow::{Direction, FlowId};
use crate::report::json_ms;
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// CRYPTO bytes reassembled per connection (a ClientHello is a few KB).
const MAX_CRYPTO: u64 = 64 * 1024;

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "quic",
    over: Over::Udp,
    ports: &[443, 4433, 8443],
    probe,
    stream: None,
    datagram: Some(new_dissector),
    section: "quic",
};

fn new_dissector() -> Box<dyn DatagramDissector> {
    Box::new(QuicDissector::default())
}

/// Whether a version number is one streamscope recognises.
pub fn known_version(v: u32) -> bool {
    matches!(v, 0 | 1 | 0x6b33_43cf) || v & 0xffff_ff00 == 0xff00_0000 || v & 0x0f0f_0f0f == 0x0a0a_0a0a || {
        // Google QUIC versions are ASCII "Q0nn" / "T0nn".
        let b = v.to_be_bytes();
        (b[0] == b'Q' || b[0] == b'T') && b[1..].iter().all(u8::is_ascii_digit)
    }
}

/// A long header with the fixed bit, a known version and connection ids of at most 20
/// bytes; or a gQUIC public header carrying a Q0xx version.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if !p.udp {
        return Probe::NoMatch;
    }
    let d = p.data;
    let Some(&first) = d.first() else {
        return Probe::NoMatch;
    };
    if first & 0x80 != 0 {
        let Some(v) = be32(d, 1) else {
            return Probe::NoMatch;
        };
        if !known_version(v) {
            return Probe::NoMatch;
        }
        let dcil = usize::from(d.get(5).copied().unwrap_or(255));
        let scil = usize::from(d.get(6 + dcil).copied().unwrap_or(255));
        if dcil > 20 || scil > 20 || 7 + dcil + scil > d.len() {
            return Probe::NoMatch;
        }
        // RFC 9000 §17.2: the fixed bit is 1 except in Version Negotiation.
        if v != 0 && first & 0x40 == 0 {
            return Probe::NoMatch;
        }
        return Probe::Match;
    }
    // gQUIC public header: flags with the version bit (0x01) and an 8-byte CID (0x08).
    if first & 0x09 == 0x09 && first & 0x80 == 0 {
        if let Some(v) = be32(d, 9) {
            let b = v.to_be_bytes();
            if b[0] == b'Q' && b[1..].iter().all(u8::is_ascii_digit) {
                return Probe::Match;
            }
        }
    }
    Probe::NoMatch
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn version_name(v: u32) -> String {
    match v {
        0 => "version negotiation".into(),
        1 => "v1".into(),
        0x6b33_43cf => "v2".into(),
        v if v & 0xffff_ff00 == 0xff00_0000 => format!("draft-{}", v & 0xff),
        v => {
            let b = v.to_be_bytes();
            if (b[0] == b'Q' || b[0] == b'T') && b[1..].iter().all(u8::is_ascii_digit) {
                format!("gQUIC {}", String::from_utf8_lossy(&b))
            } else {
                format!("0x{v:08x}")
            }
        }
    }
}

/// The QUIC dissector of one UDP flow.
#[derive(Default)]
pub struct QuicDissector {
    version: Option<u32>,
    dcid: Option<Vec<u8>>,
    scid: Option<Vec<u8>>,
    packets: BTreeMap<&'static str, u64>,
    crypto: BTreeMap<u64, Vec<u8>>,
    hello: Option<super::tls::hello::Hello>,
    decrypted: u64,
    failures: u64,
    first_initial: Option<Timestamp>,
    first_short_c2s: Option<Timestamp>,
    retry: bool,
    offered_versions: Vec<u32>,
    gquic: bool,
}

impl QuicDissector {
    fn count(&mut self, kind: &'static str) {
        *self.packets.entry(kind).or_insert(0) += 1;
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
            self.count("version_negotiation");
            self.offered_versions = d.get(p..)?.chunks_exact(4).filter_map(|c| be32(c, 0)).collect();
            return Some(d.len());
        }
        if version & 0x0f0f_0f0f == 0x0a0a_0a0a {
            // A greased version (RFC 9000 §15): no further meaning.
            self.count("grease");
            return Some(d.len());
        }
        self.version.get_or_insert(version);
        let ty = (first >> 4) & 0x03;
        // RFC 9369 §3.2 swaps the v2 type codes.
        let kind = match (version == 0x6b33_43cf, ty) {
            (false, 0) | (true, 1) => "initial",
            (false, 1) | (true, 2) => "0rtt",
            (false, 2) | (true, 3) => "handshake",
            _ => "retry",
        };
        self.count(kind);
        if kind == "retry" {
            self.retry = true;
            ctx.emit(Event::new(ts, Some(ctx.flow), "quic", "quic.retry", Some(dir)));
            return Some(d.len());
        }
        if kind == "initial" {
            let token = initial::varint(d, &mut p)?;
            p += token as usize;
        }
        let len = initial::varint(d, &mut p)? as usize;
        let end = (p + len).min(d.len());
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
            self.initial(ctx, d.get(..end)?, p, dcid, version, ts);
        }
        Some(end)
    }

    fn initial(
        &mut self,
        ctx: &mut Ctx<'_>,
        packet: &[u8],
        pn_offset: usize,
        dcid: &[u8],
        version: u32,
        ts: Timestamp,
    ) {
        if self.hello.is_some() {
            return;
        }
        let Some(keys) = initial::InitialKeys::new(dcid, version, true) else { return };
        let Some((_pn, frames)) = keys.open(packet, pn_offset) else {
            self.failures += 1;
            return;
        };
        self.decrypted += 1;
        for (off, data) in initial::crypto_frames(&frames) {
            if off + (data.len() as u64) <= MAX_CRYPTO {
                self.crypto.entry(off).or_insert_with(|| data.to_vec());
            }
        }
        // The contiguous CRYPTO stream from offset 0.
        let mut stream = Vec::new();
        for (off, data) in &self.crypto {
            let have = stream.len() as u64;
            if *off > have {
                break;
            }
            stream.extend_from_slice(data.get((have - off) as usize..).unwrap_or(&[]));
        }
        let (Some(1), Some(len)) = (stream.first().copied(), super::rtmp::be24(&stream, 1)) else { return };
        let Some(body) = stream.get(4..4 + len as usize) else { return };
        if let Some(h) = super::tls::hello::parse(body, true) {
            let mut ev = Event::new(ts, Some(ctx.flow), "quic", "quic.client_hello", Some(Direction::C2S));
            if let Some(sni) = &h.sni {
                ev = ev.with("sni", FieldValue::Str(sni.clone()));
            }
            ctx.emit(ev.with("alpn", FieldValue::Json(json!(h.alpn))));
            self.hello = Some(h);
            self.crypto.clear();
        }
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
                    self.count("gquic");
                    if let Some(v) = be32(rest, 9) {
                        self.version.get_or_insert(v);
                    }
                } else {
                    self.count("short");
                    if dir == Direction::C2S && self.first_short_c2s.is_none() {
                        self.first_short_c2s = Some(ts);
                        if let Some(start) = self.first_initial {
                            let ms = ts.ms_since(start);
                            ctx.latency.add("quic", "handshake_ms", ms);
                            ctx.emit(
                                Event::new(ts, Some(ctx.flow), "quic", "quic.handshake.done", Some(dir)).latency(ms),
                            );
                        }
                    }
                }
                break;
            }
            match self.long(ctx, dir, rest, ts) {
                Some(n) if n > 0 => p += n,
                _ => {
                    self.count("malformed");
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
        vec![json!({
            "flow": flow,
            "version": self.version.map(version_name),
            "version_hex": self.version.map(|v| format!("0x{v:08x}")),
            "dcid": self.dcid.as_deref().map(hex),
            "scid": self.scid.as_deref().map(hex),
            "sni": self.hello.as_ref().and_then(|h| h.sni.clone()),
            "alpn": self.hello.as_ref().map(|h| h.alpn.clone()),
            "packets": self.packets,
            "initials_decrypted": self.decrypted,
            "initial_failures": self.failures,
            "retry": self.retry,
            "offered_versions": self.offered_versions.iter().map(|v| format!("0x{v:08x}")).collect::<Vec<_>>(),
            "handshake_ms": handshake,
            "gquic": self.gquic,
        })]
    }

    fn headline(&self) -> Option<String> {
        self.hello.as_ref().and_then(|h| h.sni.clone())
    }
}
