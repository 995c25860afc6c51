//! TCP connection analysis (RFC 9293): handshake RTT, retransmissions, reordering, zero
//! windows, capture gaps, FIN/RST, and the two reassemblers.

use super::reassembly::{Chunk, ReasmLimits, Reassembler};
use super::{Direction, FlowId, FlowNote, FlowSink, PerDir};
use crate::time::Timestamp;
use crate::wire::transport::flags::{ACK, FIN, RST, SYN};
use crate::wire::TcpHeader;
use serde::Serialize;

/// TCP analysis of one connection, as reported.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct TcpStats {
    /// SYN to the ACK that completes the handshake (Wireshark's `tcp.analysis.initial_rtt`).
    pub handshake_rtt_ms: Option<f64>,
    /// Retransmitted segments (both directions).
    pub retransmissions: u64,
    /// Segments that arrived out of order (both directions).
    pub out_of_order: u64,
    /// Segments partly overlapping bytes already seen.
    pub overlaps: u64,
    /// Segments advertising a zero receive window (not SYN/FIN/RST).
    pub zero_window: u64,
    /// Payload bytes never captured, delivered to dissectors as gaps.
    pub gaps: u64,
    /// Times a reassembly cap gave up waiting for a hole.
    pub reassembly_cap_drops: u64,
    /// The connection was joined after its SYN.
    pub midstream: bool,
    /// FIN seen from the client / the server.
    pub fin: PerDir<bool>,
    /// A RST was seen.
    pub rst: bool,
}

/// What a segment did to the connection.
#[derive(Debug, Default)]
pub struct SegmentOutcome {
    /// The connection is over (FIN both ways, or RST); its state can be released.
    pub closed: bool,
}

/// Live state of one TCP connection.
#[derive(Debug, Default)]
pub struct TcpConn {
    dirs: PerDir<Reassembler>,
    syn_ts: Option<Timestamp>,
    synack_seen: bool,
    handshake_done: bool,
    rtt_ns: Option<i64>,
    ended: PerDir<bool>,
    seen_any: bool,
}

impl TcpConn {
    /// Out-of-order bytes buffered in both directions.
    pub fn buffered(&self) -> usize {
        self.dirs.c2s.buffered() + self.dirs.s2c.buffered()
    }

    /// Analyses one segment and reassembles its payload.
    #[allow(clippy::too_many_arguments)]
    pub fn on_segment(
        &mut self,
        id: FlowId,
        dir: Direction,
        h: &TcpHeader,
        payload: &[u8],
        payload_len: usize,
        ts: Timestamp,
        limits: &ReasmLimits,
        over_budget: bool,
        stats: &mut TcpStats,
        sink: &mut dyn FlowSink,
    ) -> SegmentOutcome {
        let first = !self.seen_any;
        self.seen_any = true;
        if h.has(SYN) {
            if !h.has(ACK) && dir == Direction::C2S && self.syn_ts.is_none() {
                self.syn_ts = Some(ts);
            }
            if h.has(ACK) && dir == Direction::S2C {
                self.synack_seen = true;
                // The SYN-ACK acknowledges the client's ISN + 1: the client's stream starts there.
                self.dirs.c2s.start_at(h.ack);
            }
            self.dirs[dir].start_at(h.seq.wrapping_add(1));
        } else if first {
            stats.midstream = true;
        }
        if !self.handshake_done && dir == Direction::C2S && h.has(ACK) && !h.has(SYN) && self.synack_seen {
            self.handshake_done = true;
            if let Some(syn) = self.syn_ts {
                let rtt = ts.nanos_since(syn);
                self.rtt_ns = Some(rtt);
                let ms = rtt as f64 / 1e6;
                stats.handshake_rtt_ms = Some(ms);
                sink.note(id, dir, ts, FlowNote::Handshake(ms));
            }
        }
        if h.window == 0 && h.flags & (SYN | FIN | RST) == 0 {
            stats.zero_window += 1;
            sink.note(id, dir, ts, FlowNote::ZeroWindow);
        }
        let retrans_before = stats.retransmissions;
        let (this, other) = self.dirs.pair_mut(dir);
        let before = this.stats;
        let before_other = other.stats;
        let mut deliver = |c: Chunk<'_>, dir: Direction| match c {
            Chunk::Data(bytes, t) => sink.data(id, dir, bytes, t),
            Chunk::Gap(n) => sink.gap(id, dir, n),
        };
        // Only the captured part of a snaplen-cut segment can be delivered; the rest is a gap.
        if !self.ended[dir] {
            let fin = h.has(FIN);
            this.push(h.seq, payload, fin, ts, limits, self.rtt_ns, &mut |c| deliver(c, dir));
            if payload_len > payload.len() {
                this.peer_acked(h.seq.wrapping_add(payload_len as u32), &mut |c| deliver(c, dir));
            }
            if over_budget && this.buffered() > 0 {
                this.flush(&mut |c| deliver(c, dir));
            }
        }
        if h.has(ACK) && !self.ended[dir.flip()] {
            other.peer_acked(h.ack, &mut |c| deliver(c, dir.flip()));
        }
        accumulate(stats, &before, &this.stats);
        accumulate(stats, &before_other, &other.stats);
        if stats.retransmissions > retrans_before {
            sink.note(id, dir, ts, FlowNote::Retransmission);
        }
        let mut outcome = SegmentOutcome::default();
        if h.has(FIN) {
            stats.fin[dir] = true;
        }
        if h.has(RST) {
            stats.rst = true;
            sink.note(id, dir, ts, FlowNote::Reset);
            self.finish(id, ts, stats, sink);
            outcome.closed = true;
        } else if stats.fin.c2s && stats.fin.s2c && h.has(ACK) && !h.has(FIN) {
            // The last ACK after both FINs.
            sink.note(id, dir, ts, FlowNote::Closed);
            self.finish(id, ts, stats, sink);
            outcome.closed = true;
        }
        outcome
    }

    /// Flushes both directions and tells the sink they ended.
    pub fn finish(&mut self, id: FlowId, ts: Timestamp, stats: &mut TcpStats, sink: &mut dyn FlowSink) {
        for dir in [Direction::C2S, Direction::S2C] {
            if self.ended[dir] {
                continue;
            }
            let r = &mut self.dirs[dir];
            let before = r.stats;
            r.flush(&mut |c| match c {
                Chunk::Data(bytes, t) => sink.data(id, dir, bytes, t),
                Chunk::Gap(n) => sink.gap(id, dir, n),
            });
            accumulate(stats, &before, &r.stats);
            self.ended[dir] = true;
            sink.end(id, dir, ts);
        }
    }
}

fn accumulate(stats: &mut TcpStats, before: &super::ReasmStats, after: &super::ReasmStats) {
    stats.retransmissions += after.retransmissions - before.retransmissions;
    stats.out_of_order += after.out_of_order - before.out_of_order;
    stats.overlaps += after.overlaps - before.overlaps;
    stats.gaps += after.gap_bytes - before.gap_bytes;
    stats.reassembly_cap_drops += after.cap_drops - before.cap_drops;
}
