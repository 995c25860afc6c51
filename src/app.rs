//! The application layer driver: detection (decode-as, content probes, port hints) and the
//! pinned dissector of each flow. It receives the flow table's deliveries through
//! [`FlowSink`] and owns the engine-side buffering of dissectors that need more bytes.

use crate::dissect::buffered::Buffered;
use crate::dissect::{spec_by_name, Ctx, DatagramDissector, Probe, ProbeInput, StreamStart, REGISTRY};
use crate::flow::{Direction, FlowId, FlowNote, FlowSink, PerDir, TransportKind};
use crate::session::latency::LatencyBook;
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue, Timeline};
use std::net::SocketAddr;

/// Builds the dissector context from the application layer's parts (disjoint borrows).
macro_rules! ctx {
    ($s:ident, $flow:expr, $f:ident, $show:expr) => {
        Ctx {
            flow: $flow,
            timeline: &mut $s.timeline,
            latency: &mut $s.latency,
            show_secrets: $show,
            anomalies: &mut $f.anomalies,
            keylog: $s.keylog.as_deref(),
            client: $f.client,
            server: $f.server,
            signalled: &mut $s.signalled,
            srtp_keys: &$s.srtp_keys,
        }
    };
}

/// Bytes per direction a TCP probe may look at before the flow is declared unknown.
const PROBE_BYTES: usize = 8192;
/// Datagrams a UDP flow is probed for before it is declared unknown.
const PROBE_DATAGRAMS: u32 = 8;
/// Bytes of a UDP datagram kept for the next probe.
const PREV_KEEP: usize = 32;
/// Bytes all probing flows together may hold (TCP first bytes, UDP datagrams kept for the
/// replay): a flood of flows that each leave a probe waiting must not hold gigabytes. Past it,
/// TCP probes decide on what they have and UDP datagrams are not kept for the replay.
const PROBE_BUDGET: usize = 32 << 20;

/// A `--decode-as` rule: this transport and port is this protocol.
#[derive(Debug, Clone)]
pub struct DecodeAs {
    /// TCP or UDP.
    pub transport: TransportKind,
    /// Port on either side.
    pub port: u16,
    /// Registry index of the protocol.
    pub spec: usize,
}

impl std::str::FromStr for DecodeAs {
    type Err = String;
    /// Parses `tcp:19350=rtmp` or `udp:40000=rtp`.
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("--decode-as wants TRANSPORT:PORT=PROTOCOL such as tcp:19350=rtmp, not {s:?}");
        let (lhs, proto) = s.split_once('=').ok_or_else(err)?;
        let (t, port) = lhs.split_once(':').ok_or_else(err)?;
        let transport = match t.to_ascii_lowercase().as_str() {
            "tcp" => TransportKind::Tcp,
            "udp" => TransportKind::Udp,
            _ => return Err(err()),
        };
        let port: u16 = port.parse().map_err(|_| err())?;
        let name = proto.to_ascii_lowercase();
        let (spec, s) = spec_by_name(&name).ok_or_else(|| {
            let names: Vec<&str> = REGISTRY.iter().map(|s| s.name).collect();
            format!("unknown protocol {proto:?} in --decode-as (known: {})", names.join(", "))
        })?;
        if !s.runs_over(transport == TransportKind::Udp) {
            return Err(format!("{} does not run over {}", s.name, transport.as_str()));
        }
        Ok(DecodeAs { transport, port, spec })
    }
}

struct Probing {
    /// TCP: first bytes of each direction. UDP: unused.
    buf: PerDir<Vec<u8>>,
    /// TCP: the order in which the bytes arrived, for replay once a protocol matches.
    log: Vec<(Direction, Timestamp, usize, usize)>,
    /// UDP: the previous datagram's first bytes, per direction.
    prev: PerDir<Prev>,
    /// UDP: the datagrams seen while probing, replayed to the dissector on a match.
    held: Vec<(Direction, Timestamp, Vec<u8>)>,
    datagrams: u32,
    /// Registry indexes in the order to probe (port hints first), computed once per flow
    /// (one byte each, inline: a flow table of a million probing flows stays small).
    order: ProbeOrder,
    /// Bytes of `buf` and `held`, counted in the budget shared by all probes.
    reserved: usize,
    budget: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Probes a flow can run, at most (the registry holds fewer).
const MAX_PROBES: usize = 16;

/// Registry indexes in the order to probe, inline.
#[derive(Clone, Copy)]
struct ProbeOrder {
    idx: [u8; MAX_PROBES],
    len: u8,
}

impl ProbeOrder {
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.idx.iter().take(usize::from(self.len)).map(|&i| usize::from(i))
    }
}

/// The first bytes of a datagram, inline.
#[derive(Clone, Copy, Default)]
struct Prev {
    len: u8,
    bytes: [u8; PREV_KEEP],
}

impl Prev {
    fn get(&self) -> Option<&[u8]> {
        self.bytes.get(..usize::from(self.len)).filter(|b| !b.is_empty())
    }

    fn set(&mut self, data: &[u8]) {
        let n = data.len().min(PREV_KEEP);
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(..n), data.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.len = n as u8;
    }
}

impl Probing {
    /// Takes `n` bytes from the shared budget; false (nothing taken) when it has not got them.
    fn reserve(&mut self, n: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if self.budget.load(Relaxed).saturating_add(n) > PROBE_BUDGET {
            return false;
        }
        self.budget.fetch_add(n, Relaxed);
        self.reserved += n;
        true
    }

    /// Gives back everything taken (the held bytes were handed on).
    fn release(&mut self) {
        self.budget.fetch_sub(std::mem::take(&mut self.reserved), std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Probing {
    fn drop(&mut self) {
        self.release();
    }
}

enum State {
    Probing(Box<Probing>),
    Stream(Box<Buffered>),
    Datagram(Box<dyn DatagramDissector>),
    /// Labelled (or unknown) without a dissector.
    Passive,
    /// Ended; nothing is kept.
    Done,
}

struct FlowApp {
    state: State,
    transport: TransportKind,
    client: SocketAddr,
    server: SocketAddr,
    with_syn: bool,
    spec: Option<usize>,
    anomalies: u64,
    ended: PerDir<bool>,
}

/// Application-layer state of every flow.
pub struct AppLayer {
    /// Flows still open (a flow's state goes when the flow table retires it).
    flows: crate::flow::IdSlab<FlowApp>,
    decode_as: Vec<DecodeAs>,
    /// Where events go.
    pub timeline: Timeline,
    /// Latency samples.
    pub latency: LatencyBook,
    /// Report entries per section, gathered as flows end (compact, spilled past a budget).
    pub sections: crate::report::store::SectionStore,
    /// Flows whose protocol label changed since the engine last looked.
    pub relabeled: Vec<(FlowId, &'static str, &'static str)>,
    /// Whether secrets may be shown.
    pub show_secrets: bool,
    /// Dissectors that rejected their stream.
    pub rejected: u64,
    /// Bytes held by all probes (shared with each probe, which gives its share back when it
    /// is dropped).
    probe_budget: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Times the probe budget was full: a TCP probe decided early, or a UDP datagram was not
    /// kept for the replay.
    pub probe_over_budget: u64,
    /// TLS secrets for decryption (`--keylog`).
    pub keylog: Option<std::sync::Arc<crate::dissect::tls::keylog::KeyLog>>,
    /// Media announced by signalling.
    pub signalled: crate::dissect::Signalled,
    /// SRTP master keys from the command line (`--srtp-key`).
    pub srtp_keys: Vec<crate::dissect::srtp::KeySpec>,
}

impl AppLayer {
    /// A new application layer.
    pub fn new(decode_as: Vec<DecodeAs>, timeline: Timeline, show_secrets: bool) -> Self {
        AppLayer {
            flows: crate::flow::IdSlab::default(),
            decode_as,
            timeline,
            latency: LatencyBook::default(),
            sections: crate::report::store::SectionStore::default(),
            relabeled: Vec::new(),
            show_secrets,
            rejected: 0,
            probe_budget: Default::default(),
            probe_over_budget: 0,
            keylog: None,
            signalled: crate::dissect::Signalled::default(),
            srtp_keys: Vec::new(),
        }
    }

    /// Anomalies raised on a flow.
    pub fn anomalies(&self, flow: FlowId) -> u64 {
        self.flows.get(flow).map_or(0, |f| f.anomalies)
    }

    /// Forgets a flow the flow table retired; gives the anomalies counted on it.
    pub fn retire(&mut self, flow: FlowId) -> u64 {
        self.flows.remove(flow).map_or(0, |f| f.anomalies)
    }

    fn start(
        &mut self,
        flow: FlowId,
        transport: TransportKind,
        client: SocketAddr,
        server: SocketAddr,
        with_syn: bool,
    ) {
        let forced = self
            .decode_as
            .iter()
            .find(|r| r.transport == transport && (r.port == server.port() || r.port == client.port()))
            .map(|r| r.spec);
        self.flows.insert(
            flow,
            FlowApp {
                state: State::Probing(Box::new(Probing {
                    buf: PerDir::default(),
                    log: Vec::new(),
                    prev: PerDir::default(),
                    held: Vec::new(),
                    datagrams: 0,
                    order: Self::probe_order(transport, client, server),
                    reserved: 0,
                    budget: self.probe_budget.clone(),
                })),
                transport,
                client,
                server,
                with_syn,
                spec: None,
                anomalies: 0,
                ended: PerDir::default(),
            },
        );
        if let Some(spec) = forced {
            self.pin(flow, spec, "decode-as");
        } else if transport == TransportKind::Udp {
            // Media announced by RTSP/SIP signalling is pinned at once, like Wireshark's
            // conversations set up by SDP.
            let announced = self.signalled.for_flow(client, server).map(|b| (b.protocol, b.session.clone()));
            if let Some((protocol, session)) = announced {
                if let Some((spec, _)) = spec_by_name(protocol) {
                    self.pin(flow, spec, "signalling");
                    if let Some(s) = session {
                        self.signalled.flow_session.insert(flow, s);
                    }
                }
            }
        }
    }

    /// Pins a flow to a protocol and creates its dissector.
    fn pin(&mut self, flow: FlowId, spec: usize, how: &'static str) {
        let Some(s) = REGISTRY.get(spec) else { return };
        let Some(f) = self.flows.get_mut(flow) else {
            return;
        };
        f.spec = Some(spec);
        f.state = match (f.transport, s.stream, s.datagram) {
            (TransportKind::Tcp, Some(new), _) => {
                let start =
                    if f.with_syn || how == "content" { StreamStart::Beginning } else { StreamStart::MidStream };
                State::Stream(Box::new(Buffered::new(new(start))))
            }
            (TransportKind::Udp, _, Some(new)) => State::Datagram(new()),
            _ => State::Passive,
        };
        self.relabeled.push((flow, s.name, how));
    }

    fn give_up(&mut self, flow: FlowId) {
        let Some(f) = self.flows.get_mut(flow) else {
            return;
        };
        // A TCP connection joined mid-way may never show a recognisable start: fall back to
        // the port hint, like Wireshark's port table.
        let fallback = (f.transport == TransportKind::Tcp && !f.with_syn)
            .then(|| REGISTRY.iter().position(|s| s.runs_over(false) && (s.ports.contains(&f.server.port()))))
            .flatten();
        match fallback {
            Some(spec) => self.pin(flow, spec, "port"),
            None => f.state = State::Passive,
        }
    }

    fn probe_order(transport: TransportKind, client: SocketAddr, server: SocketAddr) -> ProbeOrder {
        let udp = transport == TransportKind::Udp;
        let ports = [server.port(), client.port()];
        let hinted = |i: usize| REGISTRY.get(i).is_some_and(|s| s.ports.iter().any(|p| ports.contains(p)));
        let runs = |i: usize| REGISTRY.get(i).is_some_and(|s| s.runs_over(udp));
        let mut order = ProbeOrder { idx: [0; MAX_PROBES], len: 0 };
        // Port hints first, then the rest, each in registry order.
        let candidates = (0..REGISTRY.len()).filter(|&i| runs(i) && hinted(i));
        for i in candidates.chain((0..REGISTRY.len()).filter(|&i| runs(i) && !hinted(i))) {
            if let (Some(slot), Ok(i)) = (order.idx.get_mut(usize::from(order.len)), u8::try_from(i)) {
                *slot = i;
                order.len += 1;
            }
        }
        order
    }

    /// Feeds stream bytes to the flow's dissector with engine-side buffering.
    fn feed(&mut self, flow: FlowId, dir: Direction, data: &[u8], ts: Timestamp) {
        let show = self.show_secrets;
        let Some(f) = self.flows.get_mut(flow) else {
            return;
        };
        let State::Stream(st) = &mut f.state else {
            return;
        };
        let mut ctx = ctx!(self, flow, f, show);
        if let Some(e) = st.feed(&mut ctx, dir, data, ts) {
            self.rejected += 1;
            let name = f.spec.and_then(|s| REGISTRY.get(s)).map_or("stream", |s| s.name);
            ctx.anomaly(name, ts, Some(dir), format!("dissector gave up at offset {}: {}", e.offset, e.what));
        }
    }

    /// Handles one UDP datagram of a flow.
    pub fn datagram(&mut self, flow: FlowId, dir: Direction, data: &[u8], ts: Timestamp) {
        let show = self.show_secrets;
        let Some(f) = self.flows.get_mut(flow) else {
            return;
        };
        match &mut f.state {
            State::Probing(p) => {
                let prev = p.prev[dir].get();
                let input = ProbeInput { dir, data, other: &[], prev, udp: true };
                let hit =
                    p.order.iter().find(|&s| REGISTRY.get(s).is_some_and(|spec| (spec.probe)(&input) == Probe::Match));
                p.prev[dir].set(data);
                p.datagrams += 1;
                let exhausted = p.datagrams >= PROBE_DATAGRAMS;
                match hit {
                    Some(spec) => {
                        let held = std::mem::take(&mut p.held);
                        p.release();
                        self.pin(flow, spec, "content");
                        for (d, t, bytes) in held {
                            self.datagram_to_dissector(flow, d, &bytes, t, show);
                        }
                        self.datagram_to_dissector(flow, dir, data, ts, show);
                    }
                    None if exhausted => self.give_up(flow),
                    None if p.reserve(data.len()) => {
                        // Most flows never send a second datagram: room for one at first.
                        p.held.reserve_exact(1);
                        p.held.push((dir, ts, data.to_vec()));
                    }
                    None => self.probe_over_budget += 1,
                }
            }
            State::Datagram(_) => {
                // The first media: an RTP packet with a payload (ffmpeg's NAT hole-punching
                // packets are bare headers).
                let media = data.len() > 12 && !crate::dissect::rtp::is_rtcp(data);
                if let (true, Some(s)) = (media, self.signalled.flow_session.get(&flow)) {
                    if !self.signalled.first_media.contains_key(s) {
                        self.signalled.first_media.insert(s.clone(), ts);
                    }
                }
                self.datagram_to_dissector(flow, dir, data, ts, show)
            }
            _ => {}
        }
    }

    fn datagram_to_dissector(&mut self, flow: FlowId, dir: Direction, data: &[u8], ts: Timestamp, show: bool) {
        let Some(f) = self.flows.get_mut(flow) else {
            return;
        };
        if let State::Datagram(d) = &mut f.state {
            let mut ctx = ctx!(self, flow, f, show);
            d.on_datagram(&mut ctx, dir, data, ts);
        }
    }

    fn probe_stream(&mut self, flow: FlowId, dir: Direction, data: &[u8], ts: Timestamp) {
        let Some(f) = self.flows.get_mut(flow) else {
            return;
        };
        let State::Probing(p) = &mut f.state else {
            return;
        };
        let room = PROBE_BYTES.saturating_sub(p.buf[dir].len());
        let mut take = data.len().min(room);
        // Past the shared budget the probes decide on what they have.
        let starved = take > 0 && !p.reserve(take);
        if starved {
            take = 0;
            self.probe_over_budget += 1;
        }
        let start = p.buf[dir].len();
        p.buf[dir].extend_from_slice(data.get(..take).unwrap_or(&[]));
        p.log.push((dir, ts, start, start + take));
        let overflow = take < data.len();
        let (hit, need_more) = crate::dissect::probe_stream(p.order.iter(), &p.buf.c2s, &p.buf.s2c);
        let decided =
            starved || hit.is_some() || !need_more || p.buf.c2s.len() >= PROBE_BYTES || p.buf.s2c.len() >= PROBE_BYTES;
        if !decided {
            return;
        }
        let State::Probing(p) = std::mem::replace(&mut f.state, State::Passive) else {
            return;
        };
        match hit {
            Some(spec) => self.pin(flow, spec, "content"),
            None => self.give_up(flow),
        }
        // Replay what the probes saw, in arrival order, then the rest of this chunk.
        for &(d, t, a, b) in &p.log {
            if let Some(bytes) = p.buf[d].get(a..b) {
                self.feed(flow, d, bytes, t);
            }
        }
        if overflow {
            self.feed(flow, dir, data.get(take..).unwrap_or(&[]), ts);
        }
    }
}

impl FlowSink for AppLayer {
    fn data(&mut self, flow: FlowId, dir: Direction, data: &[u8], ts: Timestamp) {
        match self.flows.get(flow).map(|f| &f.state) {
            Some(State::Probing(_)) => self.probe_stream(flow, dir, data, ts),
            Some(State::Stream(_)) => self.feed(flow, dir, data, ts),
            _ => {}
        }
    }

    fn gap(&mut self, flow: FlowId, dir: Direction, len: u64) {
        let show = self.show_secrets;
        let Some(f) = self.flows.get_mut(flow) else {
            return;
        };
        match &mut f.state {
            State::Probing(p) => {
                // What was buffered no longer lines up with what follows: probe afresh.
                p.buf[dir].clear();
                p.log.retain(|(d, ..)| *d != dir);
            }
            State::Stream(st) => {
                let mut ctx = ctx!(self, flow, f, show);
                st.gap(&mut ctx, dir, len);
            }
            _ => {}
        }
    }

    fn end(&mut self, flow: FlowId, dir: Direction, ts: Timestamp) {
        let show = self.show_secrets;
        let Some(f) = self.flows.get_mut(flow) else {
            return;
        };
        if f.ended[dir] {
            return;
        }
        f.ended[dir] = true;
        let both = f.ended.c2s && f.ended.s2c;
        let mut ctx = ctx!(self, flow, f, show);
        match &mut f.state {
            State::Stream(st) => st.end(&mut ctx, dir, ts),
            State::Datagram(d) if both => d.on_end(&mut ctx, ts),
            _ => {}
        }
        if both {
            let section = f.spec.and_then(|s| REGISTRY.get(s)).map(|s| s.section);
            let entries = match &f.state {
                State::Stream(st) => {
                    for (sec, v) in st.dissector().extra_reports(flow, show) {
                        self.sections.push(sec, &v);
                    }
                    let sections = &mut self.sections;
                    let written = section.is_some_and(|sec| {
                        st.dissector().report_text(flow, show, &mut |t| sections.push_text(sec, u64::from(flow), t))
                    });
                    if written {
                        Vec::new()
                    } else {
                        st.dissector().report(flow, show)
                    }
                }
                State::Datagram(d) => {
                    for (sec, v) in d.extra_reports(flow, show) {
                        self.sections.push(sec, &v);
                    }
                    d.report(flow, show)
                }
                _ => Vec::new(),
            };
            if let Some(section) = section {
                for v in &entries {
                    self.sections.push(section, v);
                }
            }
            f.state = State::Done;
        }
    }

    fn note(&mut self, flow: FlowId, dir: Direction, ts: Timestamp, note: FlowNote) {
        match note {
            FlowNote::Started { transport, client, server, with_syn } => {
                self.start(flow, transport, client, server, with_syn);
                if !self.timeline.accepting() {
                    // Not built when nothing would keep it (a headless report): counted only.
                    self.timeline.skipped_named("flow.start");
                    return;
                }
                let proto = transport.as_str();
                self.timeline.push(
                    Event::new(ts, Some(flow), proto, "flow.start", Some(dir))
                        .with("client", FieldValue::Str(crate::report::addr(client)))
                        .with("server", FieldValue::Str(crate::report::addr(server))),
                );
            }
            FlowNote::Handshake(ms) => {
                self.latency.add("tcp", "handshake_rtt_ms", ms);
                self.timeline.push(Event::new(ts, Some(flow), "tcp", "tcp.handshake", Some(dir)).latency(ms));
            }
            FlowNote::Closed => self.timeline.push(Event::new(ts, Some(flow), "tcp", "tcp.close", Some(dir))),
            FlowNote::Reset => self.timeline.push(Event::new(ts, Some(flow), "tcp", "tcp.reset", Some(dir))),
            FlowNote::Retransmission | FlowNote::ZeroWindow => {
                let name = if note == FlowNote::ZeroWindow { "tcp.zero_window" } else { "tcp.retransmission" };
                if self.timeline.accepting() {
                    self.timeline.push(Event::new(ts, Some(flow), "tcp", name, Some(dir)));
                } else {
                    self.timeline.skipped();
                }
            }
        }
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;

    #[test]
    fn every_probe_fits_the_inline_order() {
        assert!(REGISTRY.len() <= MAX_PROBES);
        let c: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let s: SocketAddr = "10.0.0.2:53".parse().unwrap();
        let udp = AppLayer::probe_order(TransportKind::Udp, c, s);
        let names: Vec<&str> = udp.iter().map(|i| REGISTRY[i].name).collect();
        assert_eq!(names.first(), Some(&"dns"), "the port hint goes first: {names:?}");
        assert_eq!(names.len(), REGISTRY.iter().filter(|s| s.runs_over(true)).count());
        let tcp = AppLayer::probe_order(TransportKind::Tcp, c, "10.0.0.2:1935".parse().unwrap());
        assert_eq!(tcp.iter().next().map(|i| REGISTRY[i].name), Some("rtmp"));
    }

    #[test]
    fn prev_keeps_the_first_bytes() {
        let mut p = Prev::default();
        assert_eq!(p.get(), None);
        p.set(&[7; 100]);
        assert_eq!(p.get(), Some(&[7u8; PREV_KEEP][..]));
        p.set(&[1, 2]);
        assert_eq!(p.get(), Some(&[1u8, 2][..]));
        p.set(&[]);
        assert_eq!(p.get(), None);
    }
}
