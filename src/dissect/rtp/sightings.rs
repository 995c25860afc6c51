//! Where the same RTP packet (SSRC and sequence number) was seen on more than one flow: a
//! TURN server or media relay receiving it on one 5-tuple and sending it on another. The
//! latency lab turns each pair into the time the relay held the packet. Recorded only when the
//! lab asks (it costs a table lookup per RTP packet); every table has a cap.

use crate::flow::{Direction, FlowId};
use crate::time::Timestamp;
use std::collections::HashMap;

/// Most packets remembered at once.
pub const MAX_SEEN: usize = 500_000;
/// Most relayed packets recorded.
pub const MAX_PAIRS: usize = 200_000;
/// A later sighting further away than this is a new packet (the sequence number wrapped).
const SAME_PACKET_WITHIN_NS: i64 = 10_000_000_000;

/// One sighting of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    /// Flow it was seen on.
    pub flow: FlowId,
    /// Direction on that flow.
    pub dir: Direction,
    /// Capture time.
    pub ts: Timestamp,
    /// Frame number.
    pub frame: u64,
}

/// One packet seen first on one flow, then on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relayed {
    /// SSRC.
    pub ssrc: u32,
    /// Sequence number.
    pub seq: u16,
    /// Marker bit (the last packet of a video frame).
    pub marker: bool,
    /// Where it came in.
    pub first: Sighting,
    /// Where it went out.
    pub then: Sighting,
}

/// The table of sightings.
#[derive(Debug, Default)]
pub struct RtpSightings {
    seen: HashMap<(u32, u16), Sighting>,
    /// Packets seen on two flows, in the order the second sighting happened.
    pub relayed: Vec<Relayed>,
    /// Sightings not recorded because a table was full.
    pub capped: u64,
}

impl RtpSightings {
    /// Records one RTP packet.
    pub fn see(&mut self, ssrc: u32, seq: u16, marker: bool, at: Sighting) {
        let room = self.seen.len() < MAX_SEEN;
        match self.seen.get_mut(&(ssrc, seq)) {
            Some(first) if at.ts.0.saturating_sub(first.ts.0) <= SAME_PACKET_WITHIN_NS => {
                if first.flow != at.flow {
                    if self.relayed.len() < MAX_PAIRS {
                        self.relayed.push(Relayed { ssrc, seq, marker, first: *first, then: at });
                    } else {
                        self.capped += 1;
                    }
                }
            }
            Some(old) => *old = at,
            None if room => {
                self.seen.insert((ssrc, seq), at);
            }
            None => self.capped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(flow: FlowId, ms: i64) -> Sighting {
        Sighting { flow, dir: Direction::C2S, ts: Timestamp(ms * 1_000_000), frame: ms as u64 }
    }

    #[test]
    fn a_packet_on_a_second_flow_is_relayed_once_per_flow_and_wraps_start_over() {
        let mut s = RtpSightings::default();
        s.see(7, 1, true, at(0, 100));
        s.see(7, 1, true, at(0, 101)); // a duplicate on the same flow: not a relay
        s.see(7, 1, true, at(3, 102));
        assert_eq!(s.relayed.len(), 1);
        assert_eq!((s.relayed[0].first.flow, s.relayed[0].then.flow), (0, 3));
        // 20 s later the same number is a new packet (the sequence wrapped).
        s.see(7, 1, false, at(3, 20_102));
        s.see(7, 1, false, at(0, 20_110));
        assert_eq!(s.relayed.len(), 2);
        assert_eq!((s.relayed[1].first.flow, s.relayed[1].then.flow), (3, 0));
    }
}
