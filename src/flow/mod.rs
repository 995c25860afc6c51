//! The flow table: bidirectional TCP connections and UDP 5-tuples, their orientation, counters
//! and TCP analysis. It knows nothing of application protocols: it hands in-order bytes, gaps
//! and ends to whoever drives it.

pub mod reassembly;
mod tcp;

pub use reassembly::{Chunk, ReasmLimits, ReasmStats};
pub use tcp::TcpStats;

use crate::time::Timestamp;
use crate::wire::TcpHeader;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use tcp::TcpConn;

/// Index of a flow in the table, stable for the whole run.
pub type FlowId = u32;

/// Which way a packet travels relative to the flow's orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Direction {
    /// Client to server.
    #[serde(rename = "c2s")]
    C2S,
    /// Server to client.
    #[serde(rename = "s2c")]
    S2C,
}

impl Direction {
    /// The other direction.
    pub fn flip(self) -> Direction {
        match self {
            Direction::C2S => Direction::S2C,
            Direction::S2C => Direction::C2S,
        }
    }

    /// `c2s` or `s2c`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::C2S => "c2s",
            Direction::S2C => "s2c",
        }
    }
}

/// One value per direction, indexed by [`Direction`] (no index can be out of range).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PerDir<T> {
    /// Client to server.
    pub c2s: T,
    /// Server to client.
    pub s2c: T,
}

impl<T> PerDir<T> {
    /// Both values, client→server first.
    pub fn new(c2s: T, s2c: T) -> Self {
        PerDir { c2s, s2c }
    }

    /// The value of `dir` and the other one, both mutable.
    pub fn pair_mut(&mut self, dir: Direction) -> (&mut T, &mut T) {
        match dir {
            Direction::C2S => (&mut self.c2s, &mut self.s2c),
            Direction::S2C => (&mut self.s2c, &mut self.c2s),
        }
    }
}

impl<T> std::ops::Index<Direction> for PerDir<T> {
    type Output = T;
    fn index(&self, d: Direction) -> &T {
        match d {
            Direction::C2S => &self.c2s,
            Direction::S2C => &self.s2c,
        }
    }
}

impl<T> std::ops::IndexMut<Direction> for PerDir<T> {
    fn index_mut(&mut self, d: Direction) -> &mut T {
        match d {
            Direction::C2S => &mut self.c2s,
            Direction::S2C => &mut self.s2c,
        }
    }
}

/// Transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// TCP connection.
    Tcp,
    /// UDP 5-tuple.
    Udp,
}

impl TransportKind {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Udp => "udp",
        }
    }
}

/// Per-direction counters.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct DirStats {
    /// Packets (TCP segments or UDP datagrams).
    pub packets: u64,
    /// Transport payload bytes (as the headers declare them, even when the snaplen cut them).
    pub bytes: u64,
}

/// Everything the report says about one flow.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    /// Flow id.
    pub id: FlowId,
    /// TCP or UDP.
    pub transport: TransportKind,
    /// The endpoint that opened the flow.
    pub client: SocketAddr,
    /// The endpoint that was contacted.
    pub server: SocketAddr,
    /// Counters per direction.
    pub dirs: PerDir<DirStats>,
    /// First packet's capture time.
    pub first_ts: Timestamp,
    /// Last packet's capture time.
    pub last_ts: Timestamp,
    /// Protocol name once detected (`unknown` until then).
    pub protocol: &'static str,
    /// How the protocol was decided: `content`, `port` or `decode-as`.
    pub detected_by: Option<&'static str>,
    /// TCP analysis (TCP flows only).
    pub tcp: Option<TcpStats>,
}

/// Limits of the flow table.
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    /// Flows kept; packets of further new flows are counted but not tracked.
    pub max_flows: usize,
    /// A UDP 5-tuple idle this long (capture time) ends; the next packet starts a new flow.
    pub udp_timeout_secs: u64,
    /// A TCP connection idle this long ends and its buffers are released.
    pub tcp_idle_secs: u64,
    /// Per-direction reassembly caps.
    pub reasm: ReasmLimits,
    /// Out-of-order bytes buffered across all connections.
    pub max_total_buffered: usize,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_flows: 500_000,
            udp_timeout_secs: 300,
            tcp_idle_secs: 900,
            reasm: ReasmLimits::default(),
            max_total_buffered: 128 << 20,
        }
    }
}

/// Table-wide counters.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct TableStats {
    /// New flows not tracked because the table was full.
    pub flows_over_cap: u64,
    /// Packets of untracked flows.
    pub packets_untracked: u64,
    /// Flows ended by idleness.
    pub idle_expired: u64,
}

/// What happened to a flow, for the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlowNote {
    /// A new flow began.
    Started {
        /// TCP or UDP.
        transport: TransportKind,
        /// The endpoint taken as the client.
        client: SocketAddr,
        /// The endpoint taken as the server.
        server: SocketAddr,
        /// Whether the flow began with a SYN (TCP).
        with_syn: bool,
    },
    /// The TCP three-way handshake completed; the RTT (SYN to the ACK of the SYN-ACK) in ms.
    Handshake(f64),
    /// A TCP connection closed by FIN from both sides.
    Closed,
    /// A TCP connection was reset.
    Reset,
    /// A retransmitted (or late hole-filling) segment.
    Retransmission,
    /// A segment advertised a zero receive window.
    ZeroWindow,
}

/// What the table tells its driver about a packet.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The flow.
    pub flow: FlowId,
    /// The packet's direction.
    pub dir: Direction,
    /// Set when the flow was created by this packet.
    pub new: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    proto: TransportKind,
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
}

impl FlowKey {
    fn new(proto: TransportKind, a: SocketAddr, b: SocketAddr) -> Self {
        let (x, y) = ((a.ip(), a.port()), (b.ip(), b.port()));
        if x <= y {
            FlowKey { proto, lo: x, hi: y }
        } else {
            FlowKey { proto, lo: y, hi: x }
        }
    }
}

/// Receives the table's deliveries: flow, direction, bytes or gap or end.
pub trait FlowSink {
    /// In-order stream bytes (TCP) with the capture time of the segment that carried them.
    fn data(&mut self, flow: FlowId, dir: Direction, data: &[u8], ts: Timestamp);
    /// Bytes the capture missed.
    fn gap(&mut self, flow: FlowId, dir: Direction, len: u64);
    /// The direction ended (FIN, RST, idle, end of capture).
    fn end(&mut self, flow: FlowId, dir: Direction, ts: Timestamp);
    /// A flow event for the timeline.
    fn note(&mut self, flow: FlowId, dir: Direction, ts: Timestamp, note: FlowNote);
}

/// The bidirectional flow table.
pub struct FlowTable {
    map: HashMap<FlowKey, FlowId, ahash::RandomState>,
    records: Vec<FlowRecord>,
    conns: Vec<Option<Box<TcpConn>>>,
    keys: Vec<FlowKey>,
    /// First sequence number seen per direction of each TCP flow (the SYN's when seen).
    base_seq: Vec<PerDir<Option<u32>>>,
    limits: FlowLimits,
    is_service_port: Box<dyn Fn(u16) -> bool + Send>,
    total_buffered: usize,
    /// Table-wide counters.
    pub stats: TableStats,
}

impl FlowTable {
    /// A table with the given limits. `is_service_port` tells the orientation guess which
    /// ports servers listen on (a hint used only when no SYN was seen).
    pub fn new(limits: FlowLimits, is_service_port: Box<dyn Fn(u16) -> bool + Send>) -> Self {
        FlowTable {
            map: HashMap::default(),
            records: Vec::new(),
            conns: Vec::new(),
            keys: Vec::new(),
            base_seq: Vec::new(),
            limits,
            is_service_port,
            total_buffered: 0,
            stats: TableStats::default(),
        }
    }

    /// All flows so far, in order of creation.
    pub fn records(&self) -> &[FlowRecord] {
        &self.records
    }

    /// One flow.
    pub fn record(&self, id: FlowId) -> Option<&FlowRecord> {
        self.records.get(id as usize)
    }

    /// Mutable access to one flow (for the detection label).
    pub fn record_mut(&mut self, id: FlowId) -> Option<&mut FlowRecord> {
        self.records.get_mut(id as usize)
    }

    /// Flows currently in the lookup map.
    pub fn active(&self) -> usize {
        self.map.len()
    }

    fn guess_client(&self, src: SocketAddr, dst: SocketAddr) -> bool {
        // Orientation without a SYN: a packet from a service port to a non-service port is the
        // server talking; otherwise the first sender is the client.
        let s = (self.is_service_port)(src.port());
        let d = (self.is_service_port)(dst.port());
        !s || d
    }

    fn create(
        &mut self,
        key: FlowKey,
        transport: TransportKind,
        client: SocketAddr,
        server: SocketAddr,
        ts: Timestamp,
    ) -> Option<FlowId> {
        if self.records.len() >= self.limits.max_flows {
            self.stats.flows_over_cap += 1;
            return None;
        }
        let id = self.records.len() as FlowId;
        self.records.push(FlowRecord {
            id,
            transport,
            client,
            server,
            dirs: PerDir::default(),
            first_ts: ts,
            last_ts: ts,
            protocol: "unknown",
            detected_by: None,
            tcp: (transport == TransportKind::Tcp).then(TcpStats::default),
        });
        self.conns.push((transport == TransportKind::Tcp).then(|| Box::new(TcpConn::default())));
        self.keys.push(key);
        self.base_seq.push(PerDir::default());
        self.map.insert(key, id);
        Some(id)
    }

    fn count(&mut self, id: FlowId, dir: Direction, bytes: usize, ts: Timestamp) {
        if let Some(r) = self.records.get_mut(id as usize) {
            let d = &mut r.dirs[dir];
            d.packets += 1;
            d.bytes += bytes as u64;
            r.first_ts = r.first_ts.min(ts);
            r.last_ts = r.last_ts.max(ts);
        }
    }

    fn direction_of(&self, id: FlowId, src: SocketAddr) -> Direction {
        match self.records.get(id as usize) {
            Some(r) if r.client == src => Direction::C2S,
            Some(_) => Direction::S2C,
            None => Direction::C2S,
        }
    }

    /// Places a UDP datagram in its flow and counts it.
    pub fn on_udp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        payload_len: usize,
        ts: Timestamp,
        sink: &mut dyn FlowSink,
    ) -> Option<Placement> {
        let key = FlowKey::new(TransportKind::Udp, src, dst);
        let mut new = false;
        let id = match self.map.get(&key).copied() {
            Some(id)
                if self
                    .records
                    .get(id as usize)
                    .is_some_and(|r| r.last_ts.plus_secs(self.limits.udp_timeout_secs) < ts) =>
            {
                self.end_flow(id, ts, sink);
                new = true;
                self.create_udp(key, src, dst, ts)
            }
            Some(id) => Some(id),
            None => {
                new = true;
                self.create_udp(key, src, dst, ts)
            }
        };
        let Some(id) = id else {
            self.stats.packets_untracked += 1;
            return None;
        };
        let dir = self.direction_of(id, src);
        if new {
            self.started(id, dir, ts, false, sink);
        }
        self.count(id, dir, payload_len, ts);
        Some(Placement { flow: id, dir, new })
    }

    fn create_udp(&mut self, key: FlowKey, src: SocketAddr, dst: SocketAddr, ts: Timestamp) -> Option<FlowId> {
        let (c, s) = if self.guess_client(src, dst) { (src, dst) } else { (dst, src) };
        self.create(key, TransportKind::Udp, c, s, ts)
    }

    /// Places a TCP segment in its connection, analyses it and reassembles its payload,
    /// delivering in-order bytes, gaps and ends to `sink`.
    #[allow(clippy::too_many_arguments)]
    pub fn on_tcp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        h: &TcpHeader,
        payload: &[u8],
        payload_len: usize,
        ts: Timestamp,
        sink: &mut dyn FlowSink,
    ) -> Option<Placement> {
        use crate::wire::transport::flags::{ACK, SYN};
        let key = FlowKey::new(TransportKind::Tcp, src, dst);
        let syn_only = h.has(SYN) && !h.has(ACK);
        let mut new = false;
        let existing = self.map.get(&key).copied();
        let id = match existing {
            Some(id) if syn_only && self.conn_reused_by_syn(id, src, h.seq) => {
                // RFC 9293 §3.5: a new SYN on a closed or different connection starts a new one.
                self.end_flow(id, ts, sink);
                new = true;
                self.create(key, TransportKind::Tcp, src, dst, ts)
            }
            Some(id) => Some(id),
            None => {
                new = true;
                let (c, s) = if h.has(SYN) {
                    if h.has(ACK) {
                        (dst, src)
                    } else {
                        (src, dst)
                    }
                } else if self.guess_client(src, dst) {
                    (src, dst)
                } else {
                    (dst, src)
                };
                self.create(key, TransportKind::Tcp, c, s, ts)
            }
        };
        let Some(id) = id else {
            self.stats.packets_untracked += 1;
            return None;
        };
        let dir = self.direction_of(id, src);
        if let Some(b) = self.base_seq.get_mut(id as usize) {
            b[dir].get_or_insert(h.seq);
        }
        if new {
            self.started(id, dir, ts, h.has(SYN), sink);
        }
        self.count(id, dir, payload_len, ts);
        let limits = self.limits.reasm;
        let over_budget = self.total_buffered > self.limits.max_total_buffered;
        let (Some(Some(conn)), Some(rec)) = (self.conns.get_mut(id as usize), self.records.get_mut(id as usize)) else {
            return Some(Placement { flow: id, dir, new });
        };
        let stats = rec.tcp.get_or_insert_with(TcpStats::default);
        let before = conn.buffered();
        let outcome = conn.on_segment(id, dir, h, payload, payload_len, ts, &limits, over_budget, stats, sink);
        self.total_buffered = self.total_buffered.saturating_sub(before) + conn.buffered();
        if outcome.closed {
            self.release(id);
        }
        Some(Placement { flow: id, dir, new })
    }

    fn started(&self, id: FlowId, dir: Direction, ts: Timestamp, with_syn: bool, sink: &mut dyn FlowSink) {
        if let Some(r) = self.records.get(id as usize) {
            let note = FlowNote::Started { transport: r.transport, client: r.client, server: r.server, with_syn };
            sink.note(id, dir, ts, note);
        }
    }

    /// Wireshark's rule: a SYN whose sequence number differs from the first one seen in its
    /// direction opens a new connection on the same 4-tuple (a repeated SYN is the same one,
    /// even after FIN or RST).
    fn conn_reused_by_syn(&self, id: FlowId, src: SocketAddr, seq: u32) -> bool {
        let dir = self.direction_of(id, src);
        match self.base_seq.get(id as usize).and_then(|b| b[dir]) {
            Some(base) => base != seq,
            None => false,
        }
    }

    fn release(&mut self, id: FlowId) {
        if let Some(slot) = self.conns.get_mut(id as usize) {
            if let Some(c) = slot.take() {
                self.total_buffered = self.total_buffered.saturating_sub(c.buffered());
            }
        }
    }

    /// Ends a flow: flushes reassembly, tells the sink, frees its state.
    fn end_flow(&mut self, id: FlowId, ts: Timestamp, sink: &mut dyn FlowSink) {
        if let (Some(Some(conn)), Some(rec)) = (self.conns.get_mut(id as usize), self.records.get_mut(id as usize)) {
            let stats = rec.tcp.get_or_insert_with(TcpStats::default);
            conn.finish(id, ts, stats, sink);
        } else if self.records.get(id as usize).is_some_and(|r| r.transport == TransportKind::Udp) {
            sink.end(id, Direction::C2S, ts);
            sink.end(id, Direction::S2C, ts);
        }
        self.release(id);
        if let Some(k) = self.keys.get(id as usize) {
            if self.map.get(k) == Some(&id) {
                self.map.remove(k);
            }
        }
    }

    /// Ends flows idle longer than their timeout (capture time), freeing their state.
    pub fn sweep(&mut self, now: Timestamp, sink: &mut dyn FlowSink) {
        let (udp, tcp) = (self.limits.udp_timeout_secs, self.limits.tcp_idle_secs);
        let mut idle: Vec<FlowId> = self
            .map
            .values()
            .copied()
            .filter(|&id| {
                self.records.get(id as usize).is_some_and(|r| {
                    let t = if r.transport == TransportKind::Udp { udp } else { tcp };
                    r.last_ts.plus_secs(t) < now
                })
            })
            .collect();
        idle.sort_unstable();
        self.stats.idle_expired += idle.len() as u64;
        for id in idle {
            self.end_flow(id, now, sink);
        }
    }

    /// End of capture: every flow still open is ended (buffers flushed with gaps).
    pub fn finish(&mut self, now: Timestamp, sink: &mut dyn FlowSink) {
        let mut open: Vec<FlowId> = self.map.values().copied().collect();
        open.sort_unstable();
        for id in open {
            self.end_flow(id, now, sink);
        }
    }
}
