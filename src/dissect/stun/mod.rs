//! STUN/TURN/ICE and what shares their 5-tuple (RFC 7983 demultiplexing by first byte: STUN
//! 0–3, DTLS 20–63, TURN ChannelData 64–79, RTP/RTCP 128–191), over UDP or TCP: STUN
//! transactions with their RTT and retransmissions, TURN allocations and relayed data (inner
//! packets demultiplexed again), the ICE candidate-pair table, DTLS records and handshake
//! (version, cipher suite, SRTP profile, handshake time), and SRTP/SRTCP header statistics.
//! Report sections `stun`, `ice`, `dtls`, `rtp`, `rtcp`.

pub mod handshake;
pub mod message;
pub mod turn;

use super::rtp::RtpDissector;
use super::srtp;
use super::{
    be16, be32, Ctx, DatagramDissector, Over, Probe, ProbeInput, Progress, ProtocolSpec, StreamDissector, StreamStart,
};
use crate::flow::{Direction, FlowId, PerDir};
use crate::report::{json_ms, json_ts};
use crate::session::latency::Pending;
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use message::{Class, StunMessage};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use turn::{Turn, Via};

/// Transactions kept in the report per flow.
const MAX_TRANSACTIONS: usize = 20_000;
/// Candidate pairs kept per flow.
const MAX_PAIRS: usize = 1024;

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "stun",
    over: Over::Both,
    ports: &[3478, 5349, 19302],
    probe,
    stream: Some(new_stream),
    datagram: Some(new_datagram),
    section: "stun",
};

fn new_stream(_start: StreamStart) -> Box<dyn StreamDissector> {
    Box::new(WebRtcMux::default())
}

/// The WebRTC demultiplexer, also used for flows first seen as DTLS.
pub(crate) fn new_datagram() -> Box<dyn DatagramDissector> {
    Box::new(WebRtcMux::default())
}

/// RFC 8489 §5: the magic cookie.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// A STUN header: top two bits zero, length a multiple of 4 that fits the data, and either the
/// magic cookie or (classic STUN) a known Binding message type with an exact length.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    // ICE-TCP (RFC 6544 §3) frames each packet with a 16-bit length (RFC 4571).
    if !p.udp && be32(p.data, 6) == Some(MAGIC_COOKIE) && be16(p.data, 0).is_some_and(|l| l >= 20) {
        return Probe::Match;
    }
    let d = p.data;
    if d.len() < 20 {
        return if p.udp || d.first().is_some_and(|b| b & 0xC0 != 0) { Probe::NoMatch } else { Probe::NeedMore };
    }
    let (Some(ty), Some(len), Some(cookie)) = (be16(d, 0), be16(d, 2), be32(d, 4)) else {
        return Probe::NeedMore;
    };
    if ty & 0xC000 != 0 || len % 4 != 0 {
        return Probe::NoMatch;
    }
    let total = 20 + usize::from(len);
    let fits = if p.udp { total == d.len() } else { total <= d.len() || d.len() >= 20 };
    if !fits {
        return Probe::NoMatch;
    }
    if cookie == MAGIC_COOKIE {
        return Probe::Match;
    }
    // RFC 3489: Binding Request / Response / Error Response, Shared Secret Request.
    let classic = matches!(ty, 0x0001 | 0x0101 | 0x0111 | 0x0002);
    if classic && p.udp && total == d.len() {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Direction;

    #[test]
    fn binding_request() {
        let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(&[7u8; 12]);
        let p = ProbeInput { dir: Direction::C2S, data: &m, other: &[], prev: None, udp: true };
        assert_eq!(probe(&p), Probe::Match);
        m[3] = 4;
        let p = ProbeInput { dir: Direction::C2S, data: &m, other: &[], prev: None, udp: true };
        assert_eq!(probe(&p), Probe::NoMatch);
    }
}

#[derive(Debug, Clone)]
struct Transaction {
    ts: Timestamp,
    dir: Direction,
    method: u16,
    class: Class,
    id: [u8; 12],
    rtt_ms: Option<f64>,
    error_code: Option<u16>,
    mapped: Option<String>,
    retransmissions: u64,
    lifetime: Option<u32>,
    /// The ICE pair a Binding check belongs to.
    pair: Option<String>,
    /// Capture time of the first response.
    response_ts: Option<Timestamp>,
    /// LIFETIME of the request (the granted one is `lifetime`).
    requested_lifetime: Option<u32>,
    /// XOR-RELAYED-ADDRESS of the response.
    relayed: Option<String>,
    /// XOR-PEER-ADDRESS of the request or indication.
    peer: Option<String>,
    /// CHANNEL-NUMBER of a ChannelBind.
    channel: Option<u16>,
    /// How a relayed message crossed the 5-tuple (`channel_data`, `send_indication`, …).
    via: Option<&'static str>,
}

#[derive(Debug, Clone, Default)]
struct Pair {
    /// Sender of the checks (ICE: the controlling or controlled agent checking this pair).
    local_dir: Option<Direction>,
    /// The checking agent's candidate (the checks' source) and the one it checks (their
    /// destination); for checks relayed through TURN, the relayed and peer addresses.
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    ufrag: String,
    checks: u64,
    answered: u64,
    rtts: Vec<f64>,
    priority: Option<u32>,
    controlling: Option<bool>,
    nominated_ts: Option<Timestamp>,
    use_candidate_pending: bool,
}

#[derive(Debug, Default)]
struct Dtls {
    records: u64,
    version: Option<u16>,
    cipher: Option<u16>,
    srtp_profile: Option<u16>,
    first_client_hello: Option<Timestamp>,
    /// The first epoch-1 handshake record (the Finished) of each side.
    finished: PerDir<Option<Timestamp>>,
    content: BTreeMap<&'static str, u64>,
    alerts: u64,
    /// The DTLS client's direction and ClientHello random (RFC 6347 §4.2.1: the same in a
    /// ClientHello repeated with a cookie).
    client_random: Option<(Direction, [u8; 32])>,
    /// The MKI length use_srtp selected.
    srtp_mki_len: u8,
    /// SRTP master keys exported from a key-logged master secret: (client write, server
    /// write). Secrets: reported only with `--show-secrets`.
    srtp_keys: Option<(srtp::MasterKey, srtp::MasterKey)>,
}

/// The demultiplexing dissector of a WebRTC/TURN 5-tuple.
#[derive(Default)]
pub struct WebRtcMux {
    transactions: Vec<Transaction>,
    /// Requests waiting for their response: transaction id → index.
    pending: Pending<[u8; 12], usize>,
    pairs: BTreeMap<String, Pair>,
    dtls: Option<Dtls>,
    media: RtpDissector,
    channel_data: u64,
    relayed: u64,
    fingerprint_failures: u64,
    other: u64,
    /// TCP: bytes that did not parse as STUN framing.
    stream_errors: u64,
    /// TCP: whether each direction uses RFC 4571 length framing (ICE-TCP), once known.
    framed: PerDir<Option<bool>>,
    /// TURN allocation, channels and relayed payloads.
    turn: Turn,
    /// DTLS handshake messages (fragments reassembled), cookies, retransmitted flights.
    handshakes: Option<handshake::Handshakes>,
}

fn hex12(id: &[u8; 12]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn dtls_version(v: u16) -> &'static str {
    match v {
        0xfeff => "DTLS 1.0",
        0xfefd => "DTLS 1.2",
        0xfefc => "DTLS 1.3",
        _ => "unknown",
    }
}

/// IANA DTLS-SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2).
fn srtp_profile_name(p: u16) -> String {
    match p {
        0x0001 => "SRTP_AES128_CM_HMAC_SHA1_80".into(),
        0x0002 => "SRTP_AES128_CM_HMAC_SHA1_32".into(),
        0x0005 => "SRTP_NULL_HMAC_SHA1_80".into(),
        0x0006 => "SRTP_NULL_HMAC_SHA1_32".into(),
        0x0007 => "SRTP_AEAD_AES_128_GCM".into(),
        0x0008 => "SRTP_AEAD_AES_256_GCM".into(),
        other => format!("0x{other:04x}"),
    }
}

impl WebRtcMux {
    /// One packet of the 5-tuple, demultiplexed by its first byte (RFC 7983 §7), then counted
    /// by what it was: a packet of the 5-tuple that is none of these is `unclassified`; one
    /// relayed inside TURN (`via`) counts among the relayed kinds instead.
    fn packet(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp, via: Option<&Via>) {
        let kind = self.demux(ctx, dir, d, ts, via);
        match via {
            Some(_) => self.turn.count(kind),
            None if kind == "other" => self.other += 1,
            None => {}
        }
    }

    /// Hands a packet to its dissector; what it was (`stun`, `dtls`, `channel_data`, `rtp`,
    /// `rtcp`, or `other`).
    fn demux(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp, via: Option<&Via>) -> &'static str {
        match d.first() {
            Some(0..=3) => {
                let stun = self.stun(ctx, dir, d, ts, via);
                if stun {
                    "stun"
                } else {
                    "other"
                }
            }
            Some(20..=63) => {
                self.dtls(ctx, dir, d, ts);
                self.handshakes.get_or_insert_with(Default::default).datagram(ctx, dir, d, ts);
                "dtls"
            }
            Some(&b) if turn::is_channel_byte(b) && via.is_none() => {
                // TURN ChannelData (RFC 8656 §12.4), not nested.
                let Some((channel, inner)) = turn::channel_data(d) else { return "other" };
                self.channel_data += 1;
                let via = self.turn.via_channel(channel, dir, inner.len());
                self.packet(ctx, dir, inner, ts, Some(&via));
                "channel_data"
            }
            Some(128..=191) => {
                self.media.on_datagram(ctx, dir, d, ts);
                if super::rtp::is_rtcp(d) {
                    "rtcp"
                } else {
                    "rtp"
                }
            }
            _ => "other",
        }
    }

    /// A STUN message (relayed through TURN when `via` is set); false when `d` is not one: it
    /// must carry the magic cookie or be an RFC 3489 message (see [`message::plausible`]), and
    /// a relayed one must fill its DATA attribute or ChannelData exactly.
    fn stun(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp, via: Option<&Via>) -> bool {
        if !message::plausible(d, via.is_some()) {
            return false;
        }
        let Some(m) = message::parse(d) else {
            return false;
        };
        if m.fingerprint_ok == Some(false) {
            self.fingerprint_failures += 1;
            ctx.anomaly("stun", ts, Some(dir), "FINGERPRINT does not match the message".into());
        }
        let class = m.class.unwrap_or(Class::Indication);
        let name = format!("stun.{}.{}", message::method_name(m.method), class.name());
        let mut ev = Event::new(ts, Some(ctx.flow), "stun", name, Some(dir))
            .with("transaction_id", FieldValue::Str(hex12(&m.transaction_id)));
        if let Some(v) = via {
            ev.fields.push(("via", FieldValue::Str(v.name().into())));
        }
        match class {
            Class::Request | Class::Indication => {
                if via.is_none() {
                    self.turn.request(&m);
                }
                if let Some(data) = m.data {
                    // A TURN Send/Data indication carries a packet: demultiplex it too.
                    self.relayed += 1;
                    if via.is_none() {
                        let inner = self.turn.via_indication(dir, m.peer);
                        self.packet(ctx, dir, data, ts, Some(&inner));
                    }
                }
                if class == Class::Request {
                    match self.pending_index(&m.transaction_id) {
                        Some(i) => {
                            if let Some(t) = self.transactions.get_mut(i) {
                                t.retransmissions += 1;
                            }
                        }
                        None => {
                            self.new_transaction(&m, class, dir, ts, via);
                            if m.method == 1 {
                                let pair = self.check(ctx, dir, &m, ts, via);
                                if let Some(t) = self.transactions.last_mut() {
                                    t.pair = pair;
                                }
                            }
                        }
                    }
                } else {
                    self.new_transaction(&m, class, dir, ts, via);
                }
            }
            Class::Success | Class::Error => {
                if via.is_none() {
                    self.turn.response(&m, class);
                }
                if let Some((ms, i)) = self.pending.reply(&m.transaction_id, ts) {
                    ev.latency_ms = Some(ms);
                    ctx.latency.add("stun", "rtt_ms", ms);
                    if let Some(t) = self.transactions.get_mut(i) {
                        t.rtt_ms = Some(ms);
                        t.response_ts = Some(ts);
                        t.error_code = m.error_code;
                        t.mapped = m.mapped.map(|a| a.to_string());
                        t.relayed = m.relayed.map(|a| a.to_string());
                        t.lifetime = m.lifetime;
                        if class == Class::Success && t.method == 1 {
                            if let Some(p) = t.pair.as_ref().and_then(|k| self.pairs.get_mut(k)) {
                                p.answered += 1;
                                p.rtts.push(ms);
                                if p.use_candidate_pending && p.nominated_ts.is_none() {
                                    p.nominated_ts = Some(ts);
                                }
                            }
                        }
                    }
                } else {
                    // A response whose request was not captured.
                    self.new_transaction(&m, class, dir, ts, via);
                }
            }
        }
        if let Some(c) = m.error_code {
            ev.fields.push(("error_code", FieldValue::U64(u64::from(c))));
        }
        ctx.emit(ev);
        true
    }

    fn pending_index(&mut self, id: &[u8; 12]) -> Option<usize> {
        self.transactions.iter().rposition(|t| &t.id == id && t.rtt_ms.is_none() && t.class == Class::Request)
    }

    fn new_transaction(&mut self, m: &StunMessage<'_>, class: Class, dir: Direction, ts: Timestamp, via: Option<&Via>) {
        if self.transactions.len() >= MAX_TRANSACTIONS {
            return;
        }
        if class == Class::Request {
            self.pending.request(m.transaction_id, ts, self.transactions.len());
        }
        self.transactions.push(Transaction {
            ts,
            dir,
            method: m.method,
            class,
            id: m.transaction_id,
            rtt_ms: None,
            error_code: m.error_code,
            mapped: m.mapped.map(|a| a.to_string()),
            retransmissions: 0,
            lifetime: m.lifetime,
            pair: None,
            response_ts: None,
            requested_lifetime: if class == Class::Request { m.lifetime } else { None },
            relayed: m.relayed.map(|a| a.to_string()),
            peer: m.peer.map(|a| a.to_string()),
            channel: m.channel,
            via: via.map(Via::name),
        });
    }

    /// An ICE connectivity check (RFC 8445 §7.2.4): a Binding request with USERNAME, sent from
    /// the checking agent's local candidate to the remote one. On the 5-tuple those are the
    /// sender's and receiver's addresses; relayed through TURN (`via`), the allocation's
    /// relayed address and the peer's (RFC 8445 §5.1.1.2: the relayed candidate).
    fn check(
        &mut self,
        ctx: &mut Ctx<'_>,
        dir: Direction,
        m: &StunMessage<'_>,
        ts: Timestamp,
        via: Option<&Via>,
    ) -> Option<String> {
        let user = m.username.as_ref()?;
        let (local, remote) = match via {
            Some(v) => v.endpoints(dir),
            None => match dir {
                Direction::C2S => (Some(ctx.client), Some(ctx.server)),
                Direction::S2C => (Some(ctx.server), Some(ctx.client)),
            },
        };
        let addr = |a: Option<SocketAddr>| a.map_or_else(|| "?".to_string(), |a| a.to_string());
        let key = format!("{}|{}|{}|{}", dir.as_str(), addr(local), addr(remote), user);
        if !self.pairs.contains_key(&key) && self.pairs.len() >= MAX_PAIRS {
            return None;
        }
        let p = self.pairs.entry(key.clone()).or_default();
        p.local_dir = Some(dir);
        p.local = local;
        p.remote = remote;
        p.ufrag.clone_from(user);
        p.checks += 1;
        p.priority = m.priority.or(p.priority);
        p.controlling = m.controlling.or(p.controlling);
        if m.use_candidate {
            p.use_candidate_pending = true;
        }
        let _ = ts;
        Some(key)
    }

    fn dtls(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp) {
        let st = self.dtls.get_or_insert_with(Dtls::default);
        let mut server_hello = None;
        // Records (RFC 6347 §4.1): type, version, epoch, 48-bit sequence, length, fragment.
        let mut off = 0usize;
        while let (Some(&ct), Some(ver), Some(epoch), Some(len)) =
            (d.get(off), be16(d, off + 1), be16(d, off + 3), be16(d, off + 11))
        {
            let len = usize::from(len);
            let Some(frag) = d.get(off + 13..off + 13 + len) else { break };
            st.records += 1;
            let name = match ct {
                20 => "change_cipher_spec",
                21 => "alert",
                22 => "handshake",
                23 => "application_data",
                _ => "other",
            };
            *st.content.entry(name).or_insert(0) += 1;
            if ct == 21 {
                st.alerts += 1;
            }
            if ct == 22 && epoch == 0 {
                // Handshake header (RFC 6347 §4.2.2): type, length, message_seq,
                // fragment_offset, fragment_length, then the body.
                let hs_type = frag.first().copied();
                let body = frag.get(12..).unwrap_or(&[]);
                let fragment_offset = super::rtmp::be24(frag, 6);
                match hs_type {
                    Some(1) => {
                        // client_version(2) then the 32-byte random, in the first fragment.
                        let random = body.get(2..34).and_then(|r| <[u8; 32]>::try_from(r).ok());
                        if let (Some(0), Some(r)) = (fragment_offset, random) {
                            st.client_random = Some((dir, r));
                        }
                        if st.first_client_hello.is_none() {
                            st.first_client_hello = Some(ts);
                            ctx.emit(Event::new(ts, Some(ctx.flow), "dtls", "dtls.handshake.client_hello", Some(dir)));
                        }
                    }
                    Some(2) => {
                        // DTLS ServerHello has no cookie: the TLS parser reads it as is.
                        if let Some(h) = super::tls::hello::parse(body, false) {
                            st.version = Some(h.versions.first().copied().unwrap_or(h.legacy_version));
                            st.cipher = h.cipher_suites.first().copied();
                            let (profile, mki) = use_srtp(body).unzip();
                            st.srtp_profile = profile;
                            st.srtp_mki_len = mki.unwrap_or(0);
                            server_hello = Some(h.random);
                        }
                        ctx.emit(Event::new(ts, Some(ctx.flow), "dtls", "dtls.handshake.server_hello", Some(dir)));
                    }
                    _ => {}
                }
            }
            if ct == 22 && epoch >= 1 && st.finished[dir].is_none() {
                st.finished[dir] = Some(ts);
                if let (Some(a), Some(b), Some(start)) = (st.finished.c2s, st.finished.s2c, st.first_client_hello) {
                    let done = a.max(b);
                    let ms = done.ms_since(start);
                    ctx.latency.add("dtls", "handshake_ms", ms);
                    ctx.emit(Event::new(done, Some(ctx.flow), "dtls", "dtls.handshake.done", None).latency(ms));
                }
            }
            if st.version.is_none() {
                st.version = Some(ver);
            }
            off += 13 + len;
        }
        if let Some(server_random) = server_hello {
            self.srtp_keys(ctx, &server_random, ts);
        }
    }

    /// After a ServerHello that negotiated use_srtp: mark the media as SRTP and, with the
    /// association's master secret in the key log, export its SRTP keys (RFC 5764 §4.2).
    fn srtp_keys(&mut self, ctx: &mut Ctx<'_>, server_random: &[u8; 32], ts: Timestamp) {
        let Some(st) = self.dtls.as_mut() else { return };
        let Some(code) = st.srtp_profile else { return };
        self.media.set_srtp_hint();
        let Some(profile) = srtp::Profile::from_dtls(code) else { return };
        // The exporter here is the TLS 1.2 PRF: DTLS 1.2 only.
        let (Some(0xfefd), Some(suite), Some((client_dir, client_random))) = (st.version, st.cipher, st.client_random)
        else {
            return;
        };
        let Some(master) = ctx.keylog.and_then(|k| k.get(&client_random)).and_then(|s| s.master.as_deref()) else {
            return;
        };
        let hash = srtp::keys::prf_hash(suite);
        let Some((mut c, mut s)) = srtp::keys::dtls_srtp_keys(profile, hash, master, &client_random, server_random)
        else {
            return;
        };
        c.mki_len = st.srtp_mki_len;
        s.mki_len = st.srtp_mki_len;
        st.srtp_keys = Some((c, s));
        self.media.set_dtls_keys(client_dir, c, s);
        ctx.emit(
            Event::new(ts, Some(ctx.flow), "dtls", "dtls.srtp.keys_exported", Some(client_dir.flip()))
                .with("srtp_profile", FieldValue::Str(profile.iana_name().into())),
        );
    }
}

/// The SRTP protection profile a ServerHello selects and its MKI length (use_srtp,
/// RFC 5764 §4.1.1).
fn use_srtp(server_hello: &[u8]) -> Option<(u16, u8)> {
    // Skip version(2) random(32) session id, suite(2), compression(1) to the extensions.
    let sid = usize::from(*server_hello.get(34)?);
    let mut off = 35 + sid + 3;
    let ext_len = usize::from(be16(server_hello, off)?);
    off += 2;
    let end = off + ext_len;
    while off + 4 <= end {
        let (t, l) = (be16(server_hello, off)?, usize::from(be16(server_hello, off + 2)?));
        if t == 14 {
            // profiles<2..2^16-1>, then srtp_mki<0..255>.
            let list = usize::from(be16(server_hello, off + 4)?);
            let mki = server_hello.get(off + 6 + list).copied().unwrap_or(0);
            return Some((be16(server_hello, off + 6)?, mki));
        }
        off += 4 + l;
    }
    None
}

impl DatagramDissector for WebRtcMux {
    fn on_datagram(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) {
        self.packet(ctx, dir, data, ts, None);
    }

    fn extra_reports(&self, flow: FlowId, show: bool) -> Vec<(&'static str, Value)> {
        StreamDissector::extra_reports(self, flow, show)
    }
}

impl StreamDissector for WebRtcMux {
    /// STUN over TCP (RFC 8489 §6.2.2) and TURN over TCP (RFC 8656 §12.5: ChannelData padded
    /// to 4 bytes); anything else is taken as RFC 4571 framing (16-bit length prefix).
    fn on_data(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) -> Progress {
        let mut pos = 0usize;
        if self.framed[dir].is_none() {
            match (be32(data, 4), be32(data, 6)) {
                (Some(message::MAGIC_COOKIE), _) => self.framed[dir] = Some(false),
                (_, Some(message::MAGIC_COOKIE)) => self.framed[dir] = Some(true),
                (_, None) => return Progress::NeedMore { consumed: 0, needed: 10 },
                // No STUN first: a length prefix (RFC 4571) starts with a small high byte, while
                // DTLS (20–63), ChannelData (64–79) and RTP (128–191) start higher.
                _ => self.framed[dir] = Some(data.first().is_some_and(|b| *b < 20)),
            }
        }
        let framed = self.framed[dir] == Some(true);
        loop {
            let rest = data.get(pos..).unwrap_or(&[]);
            let Some(&b0) = rest.first() else { return Progress::Done };
            let Some(l) = be16(rest, 2).map(usize::from) else {
                return Progress::NeedMore { consumed: pos, needed: 4 };
            };
            let total = match b0 {
                _ if framed => {
                    let Some(framed_len) = be16(rest, 0).map(usize::from) else {
                        return Progress::NeedMore { consumed: pos, needed: 2 };
                    };
                    let Some(p) = rest.get(2..2 + framed_len) else {
                        return Progress::NeedMore { consumed: pos, needed: 2 + framed_len };
                    };
                    self.packet(ctx, dir, p, ts, None);
                    pos += 2 + framed_len;
                    continue;
                }
                0..=3 => 20 + l,
                b if turn::is_channel_byte(b) => turn::channel_data_tcp_len(l),
                _ => {
                    let Some(framed) = be16(rest, 0).map(usize::from) else {
                        return Progress::NeedMore { consumed: pos, needed: 2 };
                    };
                    let Some(p) = rest.get(2..2 + framed) else {
                        return Progress::NeedMore { consumed: pos, needed: 2 + framed };
                    };
                    if framed == 0 {
                        self.stream_errors += 1;
                        return Progress::Done;
                    }
                    self.packet(ctx, dir, p, ts, None);
                    pos += 2 + framed;
                    continue;
                }
            };
            let Some(msg) = rest.get(..total) else { return Progress::NeedMore { consumed: pos, needed: total } };
            self.packet(ctx, dir, msg, ts, None);
            pos += total;
        }
    }

    fn extra_reports(&self, flow: FlowId, show: bool) -> Vec<(&'static str, Value)> {
        let mut out: Vec<(&'static str, Value)> = self
            .transactions
            .iter()
            .map(|t| {
                (
                    "stun",
                    json!({
                        "flow": flow, "ts": json_ts(t.ts), "dir": t.dir.as_str(), "transaction_id": hex12(&t.id),
                        "method": message::method_name(t.method), "class": t.class.name(),
                        "rtt_ms": t.rtt_ms.map(json_ms), "error_code": t.error_code,
                        "xor_mapped_address": t.mapped, "retransmissions": t.retransmissions, "lifetime_s": t.lifetime,
                        "response_ts": t.response_ts.map(json_ts), "requested_lifetime_s": t.requested_lifetime,
                        "xor_relayed_address": t.relayed, "xor_peer_address": t.peer,
                        "channel": t.channel.map(|c| format!("0x{c:04x}")), "via": t.via,
                    }),
                )
            })
            .collect();
        for p in self.pairs.values() {
            let mut rtts = p.rtts.clone();
            rtts.sort_by(f64::total_cmp);
            let median = rtts.get(rtts.len() / 2).copied();
            out.push((
                "ice",
                json!({
                    "flow": flow, "local": p.local.map(|a| a.to_string()), "remote": p.remote.map(|a| a.to_string()),
                    // Which end of the 5-tuple sent the checks.
                    "dir": p.local_dir.map(Direction::as_str),
                    "ufrag": super::rtmp::session::mask(&p.ufrag, show),
                    "checks": p.checks, "answered": p.answered, "rtt_ms": median.map(json_ms),
                    "priority": p.priority, "controlling": p.controlling,
                    "nominated": p.nominated_ts.is_some(), "nominated_ts": p.nominated_ts.map(json_ts),
                }),
            ));
        }
        if let Some(d) = &self.dtls {
            let handshake = match (d.finished.c2s, d.finished.s2c, d.first_client_hello) {
                (Some(a), Some(b), Some(s)) => json_ms(a.max(b).ms_since(s)),
                _ => Value::Null,
            };
            let key =
                |k: &srtp::MasterKey| json!({"master_key": hex::encode(k.key()), "master_salt": hex::encode(k.salt())});
            let keys = d
                .srtp_keys
                .as_ref()
                .filter(|_| show)
                .map(|(c, s)| json!({"client_write": key(c), "server_write": key(s)}));
            let mut entry = json!({
                "flow": flow, "version": d.version.map(dtls_version),
                "cipher_suite": d.cipher.map(super::tls::hello::suite_name),
                "srtp_profile": d.srtp_profile.map(srtp_profile_name), "handshake_ms": handshake,
                "records": d.records, "content": d.content, "alerts": d.alerts,
                "srtp_keys_exported": d.srtp_keys.is_some(),
            });
            if let (Some(k), Some(o)) = (keys, entry.as_object_mut()) {
                o.insert("srtp_keys".into(), k);
            }
            out.push(("dtls", entry));
        }
        // The media reports itself as SRTP (DTLS-SRTP marked it so), with what it decrypted.
        out.extend(self.media.extra_reports(flow, show));
        out.push((
            "webrtc_flows",
            json!({
                "flow": flow, "channel_data": self.channel_data, "relayed": self.relayed,
                "fingerprint_failures": self.fingerprint_failures, "unclassified": self.other,
                "stream_errors": self.stream_errors,
            }),
        ));
        self.annotate(&mut out);
        out
    }
}

impl WebRtcMux {
    /// Adds the TURN facts to the flow's `webrtc_flows` entry and the handshake messages to its
    /// `dtls` entry.
    fn annotate(&self, out: &mut [(&'static str, Value)]) {
        for (sec, v) in out.iter_mut() {
            match (*sec, v.as_object_mut()) {
                ("webrtc_flows", Some(o)) => {
                    for (k, val) in self.turn.report() {
                        o.insert(k.into(), val);
                    }
                }
                ("dtls", Some(_)) => {
                    if let Some(h) = &self.handshakes {
                        h.annotate(v);
                    }
                }
                _ => {}
            }
        }
    }
}
