//! TCP reassembly of one direction (RFC 9293 §3.4 sequence space, wrap-safe): delivers each
//! byte once, in order, with the capture time of the segment that carried it; buffers
//! out-of-order segments under caps; turns bytes the capture never saw into explicit gaps.

use crate::time::Timestamp;
use std::collections::BTreeMap;

/// Caps on what one direction may buffer.
#[derive(Debug, Clone, Copy)]
pub struct ReasmLimits {
    /// Out-of-order bytes buffered before the hole is declared a gap.
    pub max_buffered_bytes: usize,
    /// Out-of-order segments buffered before the hole is declared a gap.
    pub max_segments: usize,
    /// Time within which a segment filling a hole counts as out-of-order rather than a
    /// retransmission, when no handshake RTT is known (Wireshark's 3 ms default).
    pub ooo_threshold_ns: i64,
}

impl Default for ReasmLimits {
    fn default() -> Self {
        ReasmLimits { max_buffered_bytes: 1 << 20, max_segments: 512, ooo_threshold_ns: 3_000_000 }
    }
}

/// Counters of one direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReasmStats {
    /// Segments carrying only bytes already seen, or refilling a hole too late to be reordering.
    pub retransmissions: u64,
    /// Segments partly overlapping bytes already seen.
    pub overlaps: u64,
    /// Segments that filled a hole shortly after later bytes were seen (reordering).
    pub out_of_order: u64,
    /// Bytes never seen by the capture, delivered as gaps.
    pub gap_bytes: u64,
    /// Times a cap forced a hole to be given up.
    pub cap_drops: u64,
}

/// What the reassembler hands on.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// In-order bytes and the capture time of the segment that carried them.
    Data(&'a [u8], Timestamp),
    /// Bytes that were never captured.
    Gap(u64),
}

#[derive(Debug)]
struct Segment {
    data: Vec<u8>,
    ts: Timestamp,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of stream offset 0; set by the SYN or the first segment seen.
    origin: Option<u32>,
    /// Stream offset of the next byte to deliver.
    delivered: u64,
    /// Highest stream offset seen so far, and when.
    max_end: u64,
    max_end_ts: Timestamp,
    pending: BTreeMap<u64, Segment>,
    buffered: usize,
    fin_at: Option<u64>,
    /// Counters.
    pub stats: ReasmStats,
}

impl Reassembler {
    /// Starts the stream at `seq` (the SYN's sequence number + 1), if not started yet.
    pub fn start_at(&mut self, seq: u32) {
        if self.origin.is_none() {
            self.origin = Some(seq);
        }
    }

    /// Whether the stream has a known origin.
    pub fn started(&self) -> bool {
        self.origin.is_some()
    }

    /// Bytes currently buffered out of order.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Stream offset (relative to the origin) of a sequence number, wrap-safe: the distance
    /// from the next expected byte is taken as a signed 32-bit value.
    fn offset(&self, seq: u32) -> Option<i64> {
        let origin = self.origin?;
        let next = origin.wrapping_add(self.delivered as u32);
        Some(self.delivered as i64 + i64::from(seq.wrapping_sub(next) as i32))
    }

    #[allow(clippy::too_many_arguments)]
    /// Adds a segment's payload. `fin` marks the segment carrying FIN. `ooo_ns` is the
    /// reordering window (the handshake RTT when known).
    pub fn push(
        &mut self,
        seq: u32,
        payload: &[u8],
        fin: bool,
        ts: Timestamp,
        limits: &ReasmLimits,
        ooo_ns: Option<i64>,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        self.start_at(seq);
        let Some(off) = self.offset(seq) else { return };
        let len = payload.len() as i64;
        if fin {
            self.fin_at = Some((off + len).max(0) as u64);
        }
        if len == 0 {
            return;
        }
        let end = off + len;
        let delivered = self.delivered as i64;
        if end <= delivered {
            self.stats.retransmissions += 1;
            return;
        }
        let (off, payload) = if off < delivered {
            self.stats.overlaps += 1;
            let skip = (delivered - off) as usize;
            (delivered as u64, payload.get(skip..).unwrap_or(&[]))
        } else {
            (off as u64, payload)
        };
        let end = end as u64;
        if off < self.max_end && end <= self.max_end {
            // Fills a hole below the highest byte seen: reordering if soon enough.
            let window = ooo_ns.unwrap_or(limits.ooo_threshold_ns);
            if ts.nanos_since(self.max_end_ts) < window {
                self.stats.out_of_order += 1;
            } else {
                self.stats.retransmissions += 1;
            }
        }
        if end > self.max_end {
            self.max_end = end;
            self.max_end_ts = ts;
        }
        if off == self.delivered {
            out(Chunk::Data(payload, ts));
            self.delivered = end;
            self.drain(out);
        } else {
            match self.pending.get(&off) {
                Some(s) if s.data.len() >= payload.len() => {
                    self.stats.retransmissions += 1;
                    return;
                }
                _ => {}
            }
            if let Some(old) = self.pending.insert(off, Segment { data: payload.to_vec(), ts }) {
                self.buffered -= old.data.len();
            }
            self.buffered += payload.len();
            // Over a cap: give up holes, oldest first, until back under it.
            while self.buffered > limits.max_buffered_bytes || self.pending.len() > limits.max_segments {
                self.stats.cap_drops += 1;
                self.skip_first_hole(out);
            }
        }
    }

    /// The peer acknowledged up to `ack`: bytes below it that the capture never saw are lost
    /// to the capture, so the hole becomes a gap at once.
    pub fn peer_acked(&mut self, ack: u32, out: &mut dyn FnMut(Chunk<'_>)) {
        let Some(mut ack_off) = self.offset(ack) else {
            return;
        };
        if let Some(f) = self.fin_at {
            // The FIN occupies one sequence number (RFC 9293 §3.4).
            if ack_off as u64 == f + 1 {
                ack_off = f as i64;
            }
        }
        if ack_off <= self.delivered as i64 {
            return;
        }
        let ack_off = ack_off as u64;
        let hole_end = match self.pending.keys().next() {
            Some(&first) => first.min(ack_off),
            None => ack_off,
        };
        if hole_end > self.delivered {
            let gap = hole_end - self.delivered;
            self.stats.gap_bytes += gap;
            out(Chunk::Gap(gap));
            self.delivered = hole_end;
            self.max_end = self.max_end.max(hole_end);
            self.drain(out);
        }
    }

    /// Declares the first hole a gap and delivers what follows it.
    fn skip_first_hole(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        if let Some(&first) = self.pending.keys().next() {
            if first > self.delivered {
                let gap = first - self.delivered;
                self.stats.gap_bytes += gap;
                out(Chunk::Gap(gap));
                self.delivered = first;
            }
            self.drain(out);
        }
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.delivered {
                break;
            }
            let seg = entry.remove();
            self.buffered -= seg.data.len();
            let end = start + seg.data.len() as u64;
            if end <= self.delivered {
                continue;
            }
            let skip = (self.delivered - start) as usize;
            if let Some(rest) = seg.data.get(skip..) {
                out(Chunk::Data(rest, seg.ts));
            }
            self.delivered = end;
        }
    }

    /// End of the stream (FIN, RST, idle or end of capture): delivers whatever is buffered,
    /// with gaps for the holes.
    pub fn flush(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while !self.pending.is_empty() {
            self.skip_first_hole(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(r: &mut Reassembler, seq: u32, data: &[u8], got: &mut Vec<String>) {
        let l = ReasmLimits::default();
        r.push(seq, data, false, Timestamp(0), &l, None, &mut |c| got.push(fmt(c)));
    }

    fn fmt(c: Chunk<'_>) -> String {
        match c {
            Chunk::Data(d, _) => String::from_utf8_lossy(d).into_owned(),
            Chunk::Gap(n) => format!("<gap {n}>"),
        }
    }

    #[test]
    fn in_order_out_of_order_and_retransmission() {
        let mut r = Reassembler::default();
        r.start_at(1000);
        let mut got = Vec::new();
        collect(&mut r, 1000, b"abc", &mut got);
        collect(&mut r, 1006, b"ghi", &mut got);
        collect(&mut r, 1003, b"def", &mut got);
        collect(&mut r, 1000, b"abc", &mut got);
        collect(&mut r, 1007, b"hijk", &mut got);
        assert_eq!(got, ["abc", "def", "ghi", "jk"]);
        assert_eq!(r.stats.retransmissions, 1);
        assert_eq!(r.stats.overlaps, 1);
        assert_eq!(r.stats.out_of_order, 1);
    }

    #[test]
    fn sequence_wrap() {
        let mut r = Reassembler::default();
        r.start_at(u32::MAX - 1);
        let mut got = Vec::new();
        collect(&mut r, u32::MAX - 1, b"ab", &mut got);
        collect(&mut r, 0, b"cd", &mut got);
        collect(&mut r, 2, b"ef", &mut got);
        assert_eq!(got.concat(), "abcdef");
    }

    #[test]
    fn ack_above_hole_is_a_gap() {
        let mut r = Reassembler::default();
        r.start_at(0);
        let mut got = Vec::new();
        collect(&mut r, 0, b"ab", &mut got);
        collect(&mut r, 5, b"fg", &mut got);
        r.peer_acked(7, &mut |c| got.push(fmt(c)));
        assert_eq!(got, ["ab", "<gap 3>", "fg"]);
        assert_eq!(r.stats.gap_bytes, 3);
    }

    #[test]
    fn caps_force_gaps() {
        let mut r = Reassembler::default();
        r.start_at(0);
        let l = ReasmLimits { max_buffered_bytes: 10, max_segments: 100, ooo_threshold_ns: 0 };
        let mut got = Vec::new();
        for i in 0..5u32 {
            r.push(100 + i * 4, b"wxyz", false, Timestamp(0), &l, None, &mut |c| got.push(fmt(c)));
        }
        assert_eq!(r.stats.cap_drops, 1);
        assert_eq!(got[0], "<gap 100>");
        assert!(r.buffered() <= 10);
    }

    #[test]
    fn flush_delivers_with_gaps() {
        let mut r = Reassembler::default();
        r.start_at(0);
        let mut got = Vec::new();
        collect(&mut r, 4, b"ef", &mut got);
        r.flush(&mut |c| got.push(fmt(c)));
        assert_eq!(got, ["<gap 4>", "ef"]);
    }
}
