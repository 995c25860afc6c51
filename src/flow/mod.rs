//! The flow table: bidirectional TCP connections and UDP 5-tuples, their orientation, counters
//! and TCP analysis. It knows nothing of application protocols: it hands in-order bytes, gaps
//! and ends to whoever drives it.

pub mod ended;
pub mod reassembly;
pub mod slab;
mod tcp;

pub use reassembly::{Chunk, ReasmLimits, ReasmStats};
pub use tcp::TcpStats;

use crate::time::Timestamp;
use crate::wire::TcpHeader;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use tcp::TcpConn;

pub use ended::EndedFlows;
pub use slab::IdSlab;

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
    /// Anomalies the application layer raised on the flow, moved here when the flow is
    /// retired (while it is open they are counted by its driver).
    pub anomalies: u64,
}

/// Limits of the flow table.
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    /// Flows open at once; packets of further new flows are counted but not tracked.
    pub max_flows: usize,
    /// A UDP 5-tuple idle this long (capture time) ends; the next packet starts a new flow.
    pub udp_timeout_secs: u64,
    /// A TCP connection idle this long ends and its buffers are released.
    pub tcp_idle_secs: u64,
    /// A TCP connection closed (FIN both ways, or RST) and idle this long leaves the table:
    /// Linux's TIME_WAIT, during which the 4-tuple is not reused and late segments still
    /// belong to the old connection.
    pub tcp_closed_secs: u64,
    /// Bytes of ended flows' records kept in memory before they go to a temporary file.
    pub ended_memory: usize,
    /// Per-direction reassembly caps.
    pub reasm: ReasmLimits,
    /// Out-of-order bytes buffered across all connections.
    pub max_total_buffered: usize,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_flows: 200_000,
            udp_timeout_secs: 300,
            tcp_idle_secs: 900,
            tcp_closed_secs: 60,
            ended_memory: crate::spill::DEFAULT_BUDGET,
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
    /// Closed TCP connections that left the table after their TIME_WAIT.
    pub closed_expired: u64,
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

/// A flow still in the table: its record and what the table needs to follow it.
struct Live {
    rec: FlowRecord,
    /// First sequence number seen per direction (the SYN's when seen; TCP only).
    base_seq: PerDir<Option<u32>>,
    /// Reassembly and analysis state while the connection is open (TCP only).
    conn: Option<Box<TcpConn>>,
    /// Idle timeout set by the driver for this flow, instead of the table's.
    idle_secs: Option<u64>,
}

/// The bidirectional flow table. Flows get ids in order of creation; a flow that ends leaves
/// the table once its driver has had its last look ([`FlowTable::retire`]) and only its
/// record is kept, compactly and spilled to disk past a budget.
pub struct FlowTable {
    map: HashMap<FlowKey, FlowId, ahash::RandomState>,
    live: IdSlab<Live>,
    ended: EndedFlows,
    /// Flows created so far (the next flow's id).
    created: u32,
    /// Flows ended since the last [`FlowTable::retire`].
    retiring: Vec<FlowId>,
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
            live: IdSlab::default(),
            ended: EndedFlows::new(limits.ended_memory),
            created: 0,
            retiring: Vec::new(),
            limits,
            is_service_port,
            total_buffered: 0,
            stats: TableStats::default(),
        }
    }

    /// Flows created so far (ids are `0..len()`).
    pub fn len(&self) -> usize {
        self.created as usize
    }

    /// Whether no flow was created.
    pub fn is_empty(&self) -> bool {
        self.created == 0
    }

    /// One flow's record (a copy; ended flows' are read back from their store).
    pub fn record(&self, id: FlowId) -> Option<FlowRecord> {
        match self.live.get(id) {
            Some(l) => Some(l.rec.clone()),
            None => self.ended.get(id),
        }
    }

    /// Every flow's record, in order of creation.
    pub fn iter(&self) -> impl Iterator<Item = FlowRecord> + '_ {
        (0..self.created).filter_map(|id| self.record(id))
    }

    /// Whether flow `id` has left the table (its record is final).
    pub fn is_retired(&self, id: FlowId) -> bool {
        self.ended.contains(id)
    }

    /// Mutable access to a flow still in the table (for the detection label).
    pub fn record_mut(&mut self, id: FlowId) -> Option<&mut FlowRecord> {
        self.live.get_mut(id).map(|l| &mut l.rec)
    }

    /// Sets how long flow `id` may stay idle (capture time) before it ends, instead of the
    /// table's timeout for its transport (a one-shot exchange need not wait minutes).
    pub fn set_idle_timeout(&mut self, id: FlowId, secs: u64) {
        if let Some(l) = self.live.get_mut(id) {
            l.idle_secs = Some(secs);
        }
    }

    /// Flows currently in the lookup map.
    pub fn active(&self) -> usize {
        self.map.len()
    }

    /// Moves the flows that ended since the last call out of the table, each with the
    /// anomalies its driver counted (`anomalies` is asked once per flow, and may forget it).
    pub fn retire(&mut self, anomalies: &mut dyn FnMut(FlowId) -> u64) {
        if self.retiring.is_empty() {
            return;
        }
        let mut ids = std::mem::take(&mut self.retiring);
        for &id in &ids {
            if let Some(mut l) = self.live.remove(id) {
                if let Some(c) = &l.conn {
                    self.total_buffered = self.total_buffered.saturating_sub(c.buffered());
                }
                l.rec.anomalies += anomalies(id);
                self.ended.push(&l.rec);
            }
        }
        ids.clear();
        self.retiring = ids;
    }

    /// Bytes of ended flows' records in memory, and spilled to disk.
    pub fn ended_footprint(&self) -> (usize, u64) {
        self.ended.footprint()
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
        if self.map.len() >= self.limits.max_flows || self.created == FlowId::MAX {
            self.stats.flows_over_cap += 1;
            return None;
        }
        let id = self.created;
        self.created += 1;
        let rec = FlowRecord {
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
            anomalies: 0,
        };
        let conn = (transport == TransportKind::Tcp).then(|| Box::new(TcpConn::default()));
        self.live.insert(id, Live { rec, base_seq: PerDir::default(), conn, idle_secs: None });
        self.map.insert(key, id);
        Some(id)
    }

    fn count(&mut self, id: FlowId, dir: Direction, bytes: usize, ts: Timestamp) {
        if let Some(r) = self.record_mut(id) {
            let d = &mut r.dirs[dir];
            d.packets += 1;
            d.bytes += bytes as u64;
            r.first_ts = r.first_ts.min(ts);
            r.last_ts = r.last_ts.max(ts);
        }
    }

    fn direction_of(&self, id: FlowId, src: SocketAddr) -> Direction {
        match self.live.get(id).map(|l| &l.rec) {
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
                if self.live.get(id).is_some_and(|l| {
                    l.rec.last_ts.plus_secs(l.idle_secs.unwrap_or(self.limits.udp_timeout_secs)) < ts
                }) =>
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
        if let Some(l) = self.live.get_mut(id) {
            l.base_seq[dir].get_or_insert(h.seq);
        }
        if new {
            self.started(id, dir, ts, h.has(SYN), sink);
        }
        self.count(id, dir, payload_len, ts);
        let limits = self.limits.reasm;
        let over_budget = self.total_buffered > self.limits.max_total_buffered;
        let Some(Live { conn: Some(conn), rec, .. }) = self.live.get_mut(id) else {
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
        if let Some(r) = self.live.get(id).map(|l| &l.rec) {
            let note = FlowNote::Started { transport: r.transport, client: r.client, server: r.server, with_syn };
            sink.note(id, dir, ts, note);
        }
    }

    /// Wireshark's rule: a SYN whose sequence number differs from the first one seen in its
    /// direction opens a new connection on the same 4-tuple (a repeated SYN is the same one,
    /// even after FIN or RST).
    fn conn_reused_by_syn(&self, id: FlowId, src: SocketAddr, seq: u32) -> bool {
        let dir = self.direction_of(id, src);
        match self.live.get(id).and_then(|l| l.base_seq[dir]) {
            Some(base) => base != seq,
            None => false,
        }
    }

    fn release(&mut self, id: FlowId) {
        if let Some(c) = self.live.get_mut(id).and_then(|l| l.conn.take()) {
            self.total_buffered = self.total_buffered.saturating_sub(c.buffered());
        }
    }

    /// Ends a flow: flushes reassembly, tells the sink, frees its state; the flow leaves the
    /// table at the next [`FlowTable::retire`].
    fn end_flow(&mut self, id: FlowId, ts: Timestamp, sink: &mut dyn FlowSink) {
        let Some(l) = self.live.get_mut(id) else { return };
        if let Some(conn) = l.conn.as_mut() {
            let stats = l.rec.tcp.get_or_insert_with(TcpStats::default);
            conn.finish(id, ts, stats, sink);
        } else if l.rec.transport == TransportKind::Udp {
            sink.end(id, Direction::C2S, ts);
            sink.end(id, Direction::S2C, ts);
        }
        let key = FlowKey::new(l.rec.transport, l.rec.client, l.rec.server);
        self.release(id);
        if self.map.get(&key) == Some(&id) {
            self.map.remove(&key);
        }
        self.retiring.push(id);
    }

    /// Ends flows idle longer than their timeout (capture time), freeing their state.
    pub fn sweep(&mut self, now: Timestamp, sink: &mut dyn FlowSink) {
        let (udp, tcp, closed) = (self.limits.udp_timeout_secs, self.limits.tcp_idle_secs, self.limits.tcp_closed_secs);
        let mut idle: Vec<(FlowId, bool)> = self
            .map
            .values()
            .copied()
            .filter_map(|id| {
                let l = self.live.get(id)?;
                let is_closed = l.rec.transport == TransportKind::Tcp && l.conn.is_none();
                let t = match l.rec.transport {
                    TransportKind::Udp => l.idle_secs.unwrap_or(udp),
                    TransportKind::Tcp if is_closed => closed,
                    TransportKind::Tcp => l.idle_secs.unwrap_or(tcp),
                };
                (l.rec.last_ts.plus_secs(t) < now).then_some((id, is_closed))
            })
            .collect();
        idle.sort_unstable();
        for (id, is_closed) in idle {
            if is_closed {
                self.stats.closed_expired += 1;
            } else {
                self.stats.idle_expired += 1;
            }
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
