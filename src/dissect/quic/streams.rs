//! Reassembly of QUIC STREAM and CRYPTO data by offset (RFC 9000 §2.2, §19.6, §19.8):
//! retransmitted and overlapping ranges are trimmed, out-of-order ranges wait (bounded), and
//! the contiguous bytes are handed on in order with the end of the stream (FIN, §4.5).

use crate::flow::Direction;
use std::collections::BTreeMap;

/// Out-of-order bytes held for one stream.
pub const MAX_PENDING_PER_STREAM: usize = 4 << 20;
/// Out-of-order bytes held for a whole connection.
pub const MAX_PENDING_TOTAL: usize = 32 << 20;
/// Streams tracked per connection (both directions counted separately).
pub const MAX_STREAMS: usize = 65_536;

/// One direction of one stream.
#[derive(Debug, Default)]
pub struct Reassembly {
    /// Offset of the next byte to deliver.
    next: u64,
    /// Ranges received ahead of `next`, by offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// The final size, once a FIN was seen.
    final_size: Option<u64>,
    /// All bytes through the final size were delivered.
    finished: bool,
    /// Data was dropped because a cap was hit: nothing more is delivered.
    broken: bool,
}

/// What one frame's data made deliverable.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Contiguous bytes, in order, continuing the previous delivery.
    pub data: Vec<u8>,
    /// The stream ended with this delivery.
    pub finished: bool,
}

impl Reassembly {
    /// Bytes delivered so far.
    pub fn delivered(&self) -> u64 {
        self.next
    }

    /// Whether the stream was delivered through its FIN.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Whether data was dropped (a cap was hit).
    pub fn broken(&self) -> bool {
        self.broken
    }

    /// Adds `data` at `offset` (with `fin` when the frame ends the stream); returns what became
    /// deliverable. `budget` is the connection's remaining room for out-of-order bytes; it is
    /// charged and refunded as bytes wait and leave.
    pub fn push(&mut self, offset: u64, data: &[u8], fin: bool, budget: &mut usize) -> Delivery {
        let mut out = Delivery::default();
        if self.finished || self.broken {
            return out;
        }
        let end = offset.saturating_add(data.len() as u64);
        if fin && self.final_size.is_none() {
            self.final_size = Some(end);
        }
        if end > self.next {
            // Trim what was already delivered (retransmissions, overlaps).
            let skip = usize::try_from(self.next.saturating_sub(offset)).unwrap_or(usize::MAX);
            let fresh = data.get(skip.min(data.len())..).unwrap_or(&[]);
            let at = offset.max(self.next);
            if at == self.next {
                out.data.extend_from_slice(fresh);
                self.next = end;
            } else {
                let longer = self.pending.get(&at).is_none_or(|old| old.len() < fresh.len());
                if longer {
                    let old = self.pending.get(&at).map_or(0, Vec::len);
                    let add = fresh.len() - old;
                    if add > *budget || self.pending_bytes + add > MAX_PENDING_PER_STREAM {
                        self.broken = true;
                        self.release(budget);
                        return out;
                    }
                    *budget -= add;
                    self.pending_bytes += add;
                    self.pending.insert(at, fresh.to_vec());
                }
            }
        }
        // Pending ranges that now touch the delivered prefix.
        while let Some((&off, _)) = self.pending.first_key_value() {
            if off > self.next {
                break;
            }
            let Some((off, chunk)) = self.pending.pop_first() else { break };
            self.pending_bytes -= chunk.len();
            *budget += chunk.len();
            let chunk_end = off + chunk.len() as u64;
            if chunk_end > self.next {
                let skip = usize::try_from(self.next - off).unwrap_or(usize::MAX);
                out.data.extend_from_slice(chunk.get(skip.min(chunk.len())..).unwrap_or(&[]));
                self.next = chunk_end;
            }
        }
        if self.final_size.is_some_and(|f| self.next >= f) {
            self.finished = true;
            out.finished = true;
            self.release(budget);
        }
        out
    }

    fn release(&mut self, budget: &mut usize) {
        *budget += self.pending_bytes;
        self.pending_bytes = 0;
        self.pending.clear();
    }
}

/// The stream reassemblies of one connection, keyed by stream id and sending direction.
#[derive(Debug)]
pub struct Streams {
    map: BTreeMap<(u64, bool), Reassembly>,
    budget: usize,
    /// Frames for streams beyond [`MAX_STREAMS`], not followed.
    pub untracked_frames: u64,
}

impl Default for Streams {
    fn default() -> Self {
        Streams { map: BTreeMap::new(), budget: MAX_PENDING_TOTAL, untracked_frames: 0 }
    }
}

impl Streams {
    /// Feeds one STREAM frame sent in direction `dir`.
    pub fn push(&mut self, stream: u64, dir: Direction, offset: u64, data: &[u8], fin: bool) -> Delivery {
        let key = (stream, dir == Direction::C2S);
        if !self.map.contains_key(&key) && self.map.len() >= MAX_STREAMS {
            self.untracked_frames += 1;
            return Delivery::default();
        }
        self.map.entry(key).or_default().push(offset, data, fin, &mut self.budget)
    }

    /// Streams seen (each direction of a bidirectional stream counts once).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no stream was seen.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Streams whose data was cut because a cap was hit.
    pub fn broken(&self) -> usize {
        self.map.values().filter(|r| r.broken()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let mut budget = 1000;
        let mut r = Reassembly::default();
        assert_eq!(r.push(0, b"abc", false, &mut budget).data, b"abc");
        // Ahead: held.
        assert_eq!(r.push(6, b"ghi", true, &mut budget), Delivery::default());
        assert_eq!(budget, 997);
        // Overlapping retransmission of "bc" plus new "def".
        let d = r.push(1, b"bcdef", false, &mut budget);
        assert_eq!(d.data, b"defghi");
        assert!(d.finished);
        assert_eq!(budget, 1000);
        assert!(r.finished());
        assert_eq!(r.push(0, b"abc", false, &mut budget), Delivery::default());
    }

    #[test]
    fn empty_fin_and_caps() {
        let mut budget = 4;
        let mut r = Reassembly::default();
        assert_eq!(r.push(0, b"ab", false, &mut budget).data, b"ab");
        let d = r.push(2, b"", true, &mut budget);
        assert!(d.finished && d.data.is_empty());
        let mut r = Reassembly::default();
        let d = r.push(10, b"too much data", false, &mut budget);
        assert_eq!(d, Delivery::default());
        assert!(r.broken());
        assert_eq!(budget, 4);
    }
}
