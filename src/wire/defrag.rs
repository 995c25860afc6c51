//! IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5) fragment reassembly with caps: at most
//! [`Limits::max_datagrams`] datagrams in progress, each at most 65,535 bytes, and dropped when
//! no fragment arrived for [`Limits::timeout_secs`] of capture time. Every drop is counted.

use crate::time::Timestamp;
use std::collections::HashMap;
use std::net::IpAddr;

/// Caps on reassembly state.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Capture-time seconds after which an incomplete datagram is dropped.
    pub timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_datagrams: 4096, timeout_secs: 30 }
    }
}

/// Counters for the report.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct DefragStats {
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams completed.
    pub reassembled: u64,
    /// Incomplete datagrams dropped by timeout or by the cap.
    pub dropped: u64,
    /// Fragments rejected (beyond 65,535 bytes, or inconsistent).
    pub invalid: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
}

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    have: Vec<(u32, u32)>,
    total: Option<u32>,
    last_ts: Timestamp,
}

/// Reassembles fragmented IP datagrams.
#[derive(Debug, Default)]
pub struct Defragmenter {
    pending: HashMap<Key, Pending>,
    limits: Limits,
    /// Counters.
    pub stats: DefragStats,
}

const MAX_DATAGRAM: u32 = 65_535;

impl Defragmenter {
    /// A reassembler with the given caps.
    pub fn new(limits: Limits) -> Self {
        Defragmenter { pending: HashMap::new(), limits, stats: DefragStats::default() }
    }

    /// Adds one fragment; returns the whole datagram payload when it completes.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        id: u32,
        offset: u32,
        more: bool,
        payload: &[u8],
        ts: Timestamp,
    ) -> Option<Vec<u8>> {
        self.stats.fragments += 1;
        let end = offset.saturating_add(payload.len() as u32);
        if end > MAX_DATAGRAM {
            self.stats.invalid += 1;
            return None;
        }
        let key = Key { src, dst, id, proto };
        if !self.pending.contains_key(&key) {
            self.expire(ts);
            if self.pending.len() >= self.limits.max_datagrams {
                // Drop the stalest datagram to make room.
                if let Some(oldest) = self.pending.iter().min_by_key(|(_, p)| p.last_ts).map(|(k, _)| *k) {
                    self.pending.remove(&oldest);
                    self.stats.dropped += 1;
                }
            }
        }
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            data: Vec::new(),
            have: Vec::new(),
            total: None,
            last_ts: ts,
        });
        p.last_ts = ts;
        if !more {
            if p.total.is_some_and(|t| t != end) || p.have.last().is_some_and(|r| r.1 > end) {
                self.stats.invalid += 1;
                self.pending.remove(&key);
                self.stats.dropped += 1;
                return None;
            }
            p.total = Some(end);
        }
        if p.data.len() < end as usize {
            p.data.resize(end as usize, 0);
        }
        if let Some(dst) = p.data.get_mut(offset as usize..end as usize) {
            dst.copy_from_slice(payload);
        }
        insert_range(&mut p.have, (offset, end));
        let done = matches!((p.total, p.have.as_slice()), (Some(t), [(0, e)]) if *e == t);
        if done {
            self.stats.reassembled += 1;
            return self.pending.remove(&key).map(|p| p.data);
        }
        None
    }

    fn expire(&mut self, now: Timestamp) {
        let timeout = self.limits.timeout_secs;
        let before = self.pending.len();
        self.pending.retain(|_, p| p.last_ts.plus_secs(timeout) >= now);
        self.stats.dropped += (before - self.pending.len()) as u64;
    }

    /// Counts what is still incomplete at the end of the capture as dropped.
    pub fn finish(&mut self) {
        self.stats.dropped += self.pending.len() as u64;
        self.pending.clear();
    }
}

fn insert_range(have: &mut Vec<(u32, u32)>, r: (u32, u32)) {
    have.push(r);
    have.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(have.len());
    for &(s, e) in have.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *have = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let mut d = Defragmenter::new(Limits::default());
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let t = Timestamp(0);
        assert!(d.push(a("10.0.0.1"), a("10.0.0.2"), 17, 7, 1480, true, &data[1480..2960], t).is_none());
        assert!(d.push(a("10.0.0.1"), a("10.0.0.2"), 17, 7, 2960, false, &data[2960..], t).is_none());
        let got = d.push(a("10.0.0.1"), a("10.0.0.2"), 17, 7, 0, true, &data[..1480], t).unwrap();
        assert_eq!(got, data);
        assert_eq!(d.stats.reassembled, 1);
    }

    #[test]
    fn caps_and_timeouts_drop_and_count() {
        let mut d = Defragmenter::new(Limits { max_datagrams: 2, timeout_secs: 1 });
        for id in 0..5 {
            d.push(a("10.0.0.1"), a("10.0.0.2"), 17, id, 0, true, &[0; 8], Timestamp(0));
        }
        assert_eq!(d.stats.dropped, 3);
        d.push(a("10.0.0.1"), a("10.0.0.2"), 17, 99, 0, true, &[0; 8], Timestamp(5_000_000_000));
        assert_eq!(d.stats.dropped, 5);
        assert!(d.push(a("10.0.0.1"), a("10.0.0.2"), 17, 1, 65_000, true, &[0; 1000], Timestamp(0)).is_none());
        assert_eq!(d.stats.invalid, 1);
    }
}
