//! Latency measurement shared by all protocols: a bounded table of requests waiting for their
//! reply, and per-protocol, per-metric sample sets summarised as count/min/median/p95/max.

use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

/// Requests waiting for a reply, keyed by whatever pairs them (CSeq, transaction id, …), each
/// with a value the caller wants back (e.g. the request's name). Holds at most `cap`
/// requests; the oldest is evicted (and counted) when full.
#[derive(Debug)]
pub struct Pending<K: Hash + Eq + Clone, V = ()> {
    waiting: HashMap<K, (Timestamp, V)>,
    order: VecDeque<K>,
    cap: usize,
    /// Requests evicted unanswered because the table was full.
    pub evicted: u64,
}

impl<K: Hash + Eq + Clone, V> Pending<K, V> {
    /// A table for at most `cap` outstanding requests.
    pub fn new(cap: usize) -> Self {
        Pending { waiting: HashMap::new(), order: VecDeque::new(), cap: cap.max(1), evicted: 0 }
    }

    /// Records a request completed at `ts`. A repeated key keeps the first time (a
    /// retransmitted request does not reset the clock).
    pub fn request(&mut self, key: K, ts: Timestamp, value: V) {
        if self.waiting.contains_key(&key) {
            return;
        }
        while self.waiting.len() >= self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    if self.waiting.remove(&old).is_some() {
                        self.evicted += 1;
                    }
                }
                None => break,
            }
        }
        self.order.push_back(key.clone());
        self.waiting.insert(key, (ts, value));
    }

    /// Matches a reply whose first byte was captured at `ts`: the latency in ms and the
    /// request's value.
    pub fn reply(&mut self, key: &K, ts: Timestamp) -> Option<(f64, V)> {
        let (start, v) = self.waiting.remove(key)?;
        if self.order.len() > 2 * self.cap {
            let waiting = &self.waiting;
            self.order.retain(|k| waiting.contains_key(k));
        }
        Some((ts.ms_since(start), v))
    }

    /// Requests still waiting.
    pub fn outstanding(&self) -> usize {
        self.waiting.len()
    }
}

impl<K: Hash + Eq + Clone, V> Default for Pending<K, V> {
    fn default() -> Self {
        Self::new(256)
    }
}

/// Most samples kept per metric; beyond it the summary is over the first ones (and says so).
const MAX_SAMPLES: usize = 1_000_000;

/// Samples of one metric.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    values: Vec<f64>,
    /// Samples seen in all (may exceed those kept).
    pub count: u64,
}

impl Samples {
    /// Adds a sample.
    pub fn add(&mut self, v: f64) {
        self.count += 1;
        if self.values.len() < MAX_SAMPLES && v.is_finite() {
            self.values.push(v);
        }
    }

    /// count, min, median, p95, max (nearest-rank percentiles).
    pub fn summary(&self) -> Option<Summary> {
        if self.values.is_empty() {
            return None;
        }
        let mut v = self.values.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let rank = |p: f64| -> f64 {
            let idx = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            v.get(idx).copied().unwrap_or(f64::NAN)
        };
        Some(Summary {
            count: self.count,
            min: v.first().copied().unwrap_or(f64::NAN),
            median: rank(0.5),
            p95: rank(0.95),
            max: v.last().copied().unwrap_or(f64::NAN),
        })
    }

    /// The samples kept, in arrival order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

/// A metric's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Median (nearest rank).
    pub median: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// Largest.
    pub max: f64,
}

/// All latency samples, by protocol and metric name (e.g. `tcp` / `handshake_rtt_ms`).
#[derive(Debug, Default)]
pub struct LatencyBook {
    metrics: BTreeMap<(&'static str, &'static str), Samples>,
}

impl LatencyBook {
    /// Adds a sample in ms.
    pub fn add(&mut self, protocol: &'static str, metric: &'static str, ms: f64) {
        self.metrics.entry((protocol, metric)).or_default().add(ms);
    }

    /// Iterates over (protocol, metric, samples).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static str, &Samples)> {
        self.metrics.iter().map(|((p, m), s)| (*p, *m, s))
    }

    /// The `latency` object of the report contract.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (p, m, s) in self.iter() {
            let Some(sum) = s.summary() else { continue };
            let entry = out.entry(p.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(obj) = entry {
                let ms = crate::report::json_ms;
                obj.insert(
                    m.to_string(),
                    serde_json::json!({
                        "count": sum.count, "min": ms(sum.min), "median": ms(sum.median),
                        "p95": ms(sum.p95), "max": ms(sum.max)
                    }),
                );
            }
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_matches_and_caps() {
        let mut p: Pending<u32, &str> = Pending::new(2);
        p.request(1, Timestamp(0), "a");
        p.request(1, Timestamp(5_000_000), "a"); // retransmission keeps the first time
        p.request(2, Timestamp(1_000_000), "b");
        p.request(3, Timestamp(2_000_000), "c"); // evicts 1
        assert_eq!(p.evicted, 1);
        assert_eq!(p.reply(&1, Timestamp(9_000_000)), None);
        assert_eq!(p.reply(&2, Timestamp(4_000_000)), Some((3.0, "b")));
        assert_eq!(p.outstanding(), 1);
    }

    #[test]
    fn nearest_rank_summary() {
        let mut s = Samples::default();
        for v in 1..=20 {
            s.add(f64::from(v));
        }
        let sum = s.summary().unwrap();
        assert_eq!((sum.count, sum.min, sum.median, sum.p95, sum.max), (20, 1.0, 10.0, 19.0, 20.0));
    }
}
