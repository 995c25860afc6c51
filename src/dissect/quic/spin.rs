//! The latency spin bit (RFC 9000 §17.4): in 1-RTT packets the client sends the inverse of the
//! last spin value it received and the server echoes the last value it received, so the value
//! seen in one direction flips once per round trip. An on-path observer takes the time between
//! two consecutive edges (value changes) in the same direction as one RTT sample. Packets that
//! arrive out of order (a packet number below the largest seen, when known) are ignored, as
//! the RFC advises; without keys the capture order is used.

use crate::time::Timestamp;

/// Samples kept per connection.
pub const MAX_SAMPLES: usize = 10_000;

/// The spin state of one direction.
#[derive(Debug, Default, Clone)]
pub struct SpinObserver {
    last: Option<bool>,
    last_edge: Option<Timestamp>,
    largest_pn: Option<u64>,
    /// Edges (value changes) seen.
    pub edges: u64,
}

impl SpinObserver {
    /// One 1-RTT packet with spin value `spin`, packet number `pn` if decrypted, at `ts`.
    /// Returns an RTT sample in milliseconds at the second and later edges.
    pub fn packet(&mut self, spin: bool, pn: Option<u64>, ts: Timestamp) -> Option<f64> {
        if let Some(pn) = pn {
            if self.largest_pn.is_some_and(|l| pn < l) {
                return None;
            }
            self.largest_pn = Some(pn);
        }
        let prev = self.last.replace(spin);
        if prev.is_none_or(|p| p == spin) {
            return None;
        }
        self.edges += 1;
        let sample = self.last_edge.map(|e| ts.ms_since(e));
        self.last_edge = Some(ts);
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: i64) -> Timestamp {
        Timestamp(ms * 1_000_000)
    }

    #[test]
    fn edges_give_rtt_samples() {
        let mut s = SpinObserver::default();
        // 0 0 1 1 0 1: edges at 20 ms, 50 ms and 60 ms.
        let spins = [(0, false), (10, false), (20, true), (30, true), (50, false), (60, true)];
        let got: Vec<_> =
            spins.iter().enumerate().filter_map(|(i, (t, b))| s.packet(*b, Some(i as u64), ts(*t))).collect();
        assert_eq!(got, vec![30.0, 10.0]);
        assert_eq!(s.edges, 3);
    }

    #[test]
    fn reordered_packets_are_ignored_and_constant_spin_gives_nothing() {
        let mut s = SpinObserver::default();
        assert_eq!(s.packet(false, Some(5), ts(0)), None);
        // A late packet with an older number and the other value is not an edge.
        assert_eq!(s.packet(true, Some(3), ts(1)), None);
        assert_eq!(s.edges, 0);
        let mut c = SpinObserver::default();
        for i in 0..100 {
            assert_eq!(c.packet(true, None, ts(i)), None);
        }
        assert_eq!(c.edges, 0);
    }
}
