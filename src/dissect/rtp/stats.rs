//! Per-stream RTP statistics the way RFC 3550 defines them: extended sequence numbers and
//! loss (§A.1, §A.3), interarrival jitter (§6.4.1, §A.8), plus duplicates, reordering, the
//! largest gap between arrivals, frames (marker bit) and bitrate.

use crate::time::Timestamp;

/// Clock rates tried when the payload type's rate is not known: jitter is computed for each,
/// and the one matching the observed timestamp rate is reported.
pub const CANDIDATE_RATES: [u32; 6] = [8000, 16000, 44100, 48000, 90000, 32000];

/// RFC 3551 §6 static payload types: (encoding name, clock rate).
pub fn static_payload(pt: u8) -> Option<(&'static str, u32)> {
    Some(match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        5 => ("DVI4", 8000),
        6 => ("DVI4", 16000),
        7 => ("LPC", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        10 | 11 => ("L16", 44100),
        12 => ("QCELP", 8000),
        13 => ("CN", 8000),
        14 => ("MPA", 90000),
        15 => ("G728", 8000),
        16 => ("DVI4", 11025),
        17 => ("DVI4", 22050),
        18 => ("G729", 8000),
        25 => ("CelB", 90000),
        26 => ("JPEG", 90000),
        28 => ("nv", 90000),
        31 => ("H261", 90000),
        32 => ("MPV", 90000),
        33 => ("MP2T", 90000),
        34 => ("H263", 90000),
        _ => return None,
    })
}

/// Statistics of one RTP stream (one SSRC in one direction of one flow).
#[derive(Debug, Clone)]
pub struct StreamStats {
    /// SSRC.
    pub ssrc: u32,
    /// Last payload type seen.
    pub payload_type: u8,
    /// Packets received (including duplicates).
    pub packets: u64,
    /// Packets whose sequence number was already seen.
    pub duplicates: u64,
    /// Packets older than the highest sequence number (not duplicates).
    pub out_of_order: u64,
    /// First sequence number.
    pub first_seq: u16,
    base_ext: u64,
    max_ext: u64,
    last_seq: u16,
    seen: Box<[u64; 16]>,
    /// Largest time between consecutive arrivals (ms).
    pub max_delta_ms: f64,
    last_arrival: Option<Timestamp>,
    first_arrival: Timestamp,
    /// Marker bits (frames, for video).
    pub markers: u64,
    /// Payload bytes.
    pub payload_bytes: u64,
    jitter: [Jitter; CANDIDATE_RATES.len()],
    /// A rate given by signalling or the static table; `None` → estimated.
    pub known_rate: Option<u32>,
    /// Encoding name (SDP rtpmap or the static table).
    pub encoding: Option<String>,
    first_rtp_ts: u32,
    last_rtp_ts: u32,
    /// Bitrate, loss and jitter over time.
    pub series: Series,
}

/// Most buckets a stream's time series keeps; past it, neighbours merge and buckets widen.
pub const SERIES_BUCKETS: usize = 300;

/// One time bucket of a stream's series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bucket {
    bytes: u64,
    packets: u64,
    /// Highest extended sequence number at the bucket's last packet.
    max_ext: u64,
    /// Jitter (in timestamp units, per candidate rate) at the bucket's last packet.
    jitter: [f32; CANDIDATE_RATES.len()],
}

/// A stream's bitrate, loss and jitter over time, in at most [`SERIES_BUCKETS`] buckets of
/// `width_s` seconds (1 s, doubling as the stream grows longer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    buckets: Vec<Bucket>,
    width_s: u64,
}

impl Series {
    fn bucket(&mut self, secs: f64) -> Option<&mut Bucket> {
        if self.width_s == 0 {
            self.width_s = 1;
        }
        let mut i = (secs.max(0.0) as u64) / self.width_s;
        while i >= SERIES_BUCKETS as u64 {
            // Merge neighbours: the later one's end state, both ones' counts.
            let merged: Vec<Bucket> = self
                .buckets
                .chunks(2)
                .map(|c| {
                    let mut b = c.last().copied().unwrap_or_default();
                    b.bytes = c.iter().map(|x| x.bytes).sum();
                    b.packets = c.iter().map(|x| x.packets).sum();
                    b
                })
                .collect();
            self.buckets = merged;
            self.width_s *= 2;
            i = (secs.max(0.0) as u64) / self.width_s;
        }
        let i = i as usize;
        while self.buckets.len() <= i {
            let prev = self.buckets.last().map(|b| Bucket { bytes: 0, packets: 0, ..*b }).unwrap_or_default();
            self.buckets.push(prev);
        }
        self.buckets.get_mut(i)
    }

    /// Seconds per bucket.
    pub fn width_s(&self) -> u64 {
        self.width_s.max(1)
    }

    /// Payload kbit/s per bucket.
    pub fn kbps(&self) -> Vec<f64> {
        let w = self.width_s() as f64;
        self.buckets.iter().map(|b| b.bytes as f64 * 8.0 / w / 1000.0).collect()
    }

    /// Packets lost per bucket: sequence numbers that became due in it minus packets received
    /// in it (negative when late packets arrive).
    pub fn lost(&self, base_ext: u64) -> Vec<i64> {
        let mut prev = base_ext.saturating_sub(1);
        self.buckets
            .iter()
            .map(|b| {
                let due = b.max_ext.saturating_sub(prev) as i64;
                prev = prev.max(b.max_ext);
                due - b.packets as i64
            })
            .collect()
    }

    /// Jitter (ms) at the end of each bucket, for the candidate rate `rate`.
    pub fn jitter_ms(&self, rate: u32) -> Vec<f64> {
        let Some(idx) = CANDIDATE_RATES.iter().position(|r| *r == rate) else { return Vec::new() };
        self.buckets
            .iter()
            .map(|b| f64::from(b.jitter.get(idx).copied().unwrap_or(0.0)) * 1000.0 / f64::from(rate))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Jitter {
    prev_transit: Option<f64>,
    j: f64,
    max: f64,
    sum: f64,
    n: u64,
}

impl Jitter {
    fn update(&mut self, arrival_units: f64, rtp_ts: u32) {
        // RFC 3550 §A.8: transit = arrival - timestamp, in timestamp units.
        let transit = arrival_units - f64::from(rtp_ts);
        if let Some(prev) = self.prev_transit {
            let mut d = transit - prev;
            // Timestamps wrap at 2^32.
            let wrap = 4_294_967_296.0;
            if d > wrap / 2.0 {
                d -= wrap;
            } else if d < -wrap / 2.0 {
                d += wrap;
            }
            self.j += (d.abs() - self.j) / 16.0;
            self.max = self.max.max(self.j);
            self.sum += self.j;
            self.n += 1;
        }
        self.prev_transit = Some(transit);
    }
}

impl StreamStats {
    /// A stream starting with this packet.
    pub fn new(ssrc: u32, seq: u16, rtp_ts: u32, arrival: Timestamp, known_rate: Option<u32>) -> Self {
        StreamStats {
            ssrc,
            payload_type: 0,
            packets: 0,
            duplicates: 0,
            out_of_order: 0,
            first_seq: seq,
            base_ext: u64::from(seq) + (1 << 16),
            max_ext: u64::from(seq) + (1 << 16),
            last_seq: seq,
            seen: Box::new([0; 16]),
            max_delta_ms: 0.0,
            last_arrival: None,
            first_arrival: arrival,
            markers: 0,
            payload_bytes: 0,
            jitter: [Jitter::default(); CANDIDATE_RATES.len()],
            known_rate,
            encoding: None,
            first_rtp_ts: rtp_ts,
            last_rtp_ts: rtp_ts,
            series: Series::default(),
        }
    }

    fn seen_bit(&mut self, ext: u64) -> bool {
        // A 1024-packet window of sequence numbers seen, for duplicate detection.
        let i = (ext % 1024) as usize;
        let (w, b) = (i / 64, i % 64);
        match self.seen.get_mut(w) {
            Some(word) => {
                let was = *word & (1 << b) != 0;
                *word |= 1 << b;
                was
            }
            None => false,
        }
    }

    fn clear_bits(&mut self, from_ext: u64, to_ext: u64) {
        // Sequence numbers newly inside the window were not seen yet.
        let n = to_ext.saturating_sub(from_ext).min(1024);
        for k in 0..n {
            let i = ((from_ext + 1 + k) % 1024) as usize;
            if let Some(word) = self.seen.get_mut(i / 64) {
                *word &= !(1 << (i % 64));
            }
        }
    }

    /// Accounts for one packet.
    pub fn add(&mut self, seq: u16, rtp_ts: u32, pt: u8, marker: bool, payload: usize, arrival: Timestamp) {
        self.packets += 1;
        self.payload_type = pt;
        self.payload_bytes += payload as u64;
        if marker {
            self.markers += 1;
        }
        // §A.1: extend the 16-bit number relative to the highest seen (wraps add a cycle).
        let ext = if self.packets == 1 {
            self.max_ext
        } else if seq.wrapping_sub(self.last_seq) < 0x8000 {
            let mut cycles = self.max_ext - u64::from(self.last_seq);
            if seq < self.last_seq {
                cycles += 1 << 16;
            }
            cycles + u64::from(seq)
        } else {
            let cycles = self.max_ext - u64::from(self.last_seq);
            let e = cycles + u64::from(seq);
            if seq > self.last_seq {
                e.saturating_sub(1 << 16)
            } else {
                e
            }
        };
        if self.packets > 1 {
            if ext > self.max_ext {
                self.clear_bits(self.max_ext, ext);
                self.max_ext = ext;
                self.last_seq = seq;
            } else if self.max_ext - ext < 1024 && self.seen_bit_peek(ext) {
                self.duplicates += 1;
            } else {
                self.out_of_order += 1;
            }
            if ext < self.base_ext {
                self.base_ext = ext;
            }
        }
        let _ = self.seen_bit(ext);
        if let Some(last) = self.last_arrival {
            self.max_delta_ms = self.max_delta_ms.max(arrival.ms_since(last));
        }
        self.last_arrival = Some(arrival);
        self.last_rtp_ts = rtp_ts;
        let secs = arrival.secs_since(self.first_arrival);
        for (j, rate) in self.jitter.iter_mut().zip(CANDIDATE_RATES) {
            j.update(secs * f64::from(rate), rtp_ts);
        }
        let (max_ext, jitter) = (self.max_ext, self.jitter.map(|j| j.j as f32));
        if let Some(b) = self.series.bucket(secs) {
            b.bytes += payload as u64;
            b.packets += 1;
            b.max_ext = b.max_ext.max(max_ext);
            b.jitter = jitter;
        }
    }

    /// The series as JSON: `width_s`, `kbps`, `lost` and `jitter_ms` per bucket.
    pub fn series_json(&self) -> serde_json::Value {
        let rate = self.clock_rate();
        serde_json::json!({
            "width_s": self.series.width_s(),
            "kbps": self.series.kbps().into_iter().map(crate::report::json_ms).collect::<Vec<_>>(),
            "lost": self.series.lost(self.base_ext),
            "jitter_ms": rate.map(|r| self.series.jitter_ms(r).into_iter().map(crate::report::json_ms).collect::<Vec<_>>()),
        })
    }

    fn seen_bit_peek(&self, ext: u64) -> bool {
        let i = (ext % 1024) as usize;
        self.seen.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Expected packets (§A.3).
    pub fn expected(&self) -> u64 {
        self.max_ext - self.base_ext + 1
    }

    /// Packets lost: expected minus distinct packets received (duplicates do not hide loss).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - (self.packets - self.duplicates) as i64
    }

    /// The highest sequence number (16-bit).
    pub fn last_seq(&self) -> u16 {
        self.max_ext as u16
    }

    /// The clock rate: the known one, else the candidate nearest the observed timestamp rate.
    pub fn clock_rate(&self) -> Option<u32> {
        if let Some(r) = self.known_rate {
            return Some(r);
        }
        let secs = self.last_arrival?.secs_since(self.first_arrival);
        if secs < 0.2 {
            return None;
        }
        let ticks = f64::from(self.last_rtp_ts.wrapping_sub(self.first_rtp_ts));
        let observed = ticks / secs;
        CANDIDATE_RATES.iter().copied().min_by(|a, b| {
            let da = (f64::from(*a) - observed).abs() / f64::from(*a);
            let db = (f64::from(*b) - observed).abs() / f64::from(*b);
            da.total_cmp(&db)
        })
    }

    /// (max, mean over the n−1 updates, last) jitter in ms, at the stream's clock rate.
    pub fn jitter_ms(&self) -> Option<(f64, f64, f64)> {
        let rate = self.clock_rate()?;
        let idx = CANDIDATE_RATES.iter().position(|r| *r == rate);
        let j = match idx {
            Some(i) => *self.jitter.get(i)?,
            None => return None,
        };
        if j.n == 0 {
            return None;
        }
        let to_ms = 1000.0 / f64::from(rate);
        Some((j.max * to_ms, j.sum / j.n as f64 * to_ms, j.j * to_ms))
    }

    /// Payload bitrate over the stream's duration (kbit/s).
    pub fn bitrate_kbps(&self) -> Option<f64> {
        let secs = self.last_arrival?.secs_since(self.first_arrival);
        (secs > 0.0).then(|| self.payload_bytes as f64 * 8.0 / secs / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: f64) -> Timestamp {
        Timestamp((ms * 1e6) as i64)
    }

    #[test]
    fn loss_duplicates_reorder_and_wrap() {
        let mut s = StreamStats::new(1, 65530, 0, t(0.0), Some(8000));
        let mut now = 0.0;
        for seq in [65530u16, 65531, 65533, 65532, 65534, 65534, 0, 1, 4] {
            s.add(seq, u32::from(seq) * 160, 0, false, 160, t(now));
            now += 20.0;
        }
        assert_eq!(s.packets, 9);
        assert_eq!(s.duplicates, 1);
        assert_eq!(s.out_of_order, 1);
        assert_eq!(s.expected(), 11); // 65530 ..= 4 across the wrap
        assert_eq!(s.lost(), 3); // 65535, 2, 3
        assert_eq!(s.last_seq(), 4);
    }

    #[test]
    fn series_counts_loss_per_second_and_widens_past_the_cap() {
        let mut s = StreamStats::new(1, 0, 0, t(0.0), Some(8000));
        // 50 packets a second for 3 s; 5 lost in the second second.
        for i in 0..150u32 {
            if (60..65).contains(&i) {
                continue;
            }
            s.add(i as u16, i * 160, 0, false, 100, t(f64::from(i) * 20.0));
        }
        assert_eq!(s.series.width_s(), 1);
        assert_eq!(s.series.lost(s.base_ext), vec![0, 5, 0]);
        assert_eq!(s.series.kbps(), vec![40.0, 36.0, 40.0]);
        // A packet 1000 s later: 1001 one-second buckets do not fit in 300, so they widen to 4 s.
        s.add(150, 150 * 160, 0, false, 100, t(1_000_000.0));
        assert_eq!(s.series.width_s(), 4);
        assert!(s.series.kbps().len() <= SERIES_BUCKETS);
        assert_eq!(s.series.lost(s.base_ext).iter().sum::<i64>(), 5);
    }

    #[test]
    fn jitter_of_a_perfect_stream_is_zero_and_delay_shows() {
        let mut s = StreamStats::new(1, 0, 0, t(0.0), None);
        for i in 0..100u32 {
            let extra = if i == 50 { 30.0 } else { 0.0 };
            s.add(i as u16, i * 160, 0, false, 160, t(f64::from(i) * 20.0 + extra));
        }
        assert_eq!(s.clock_rate(), Some(8000));
        let (max, mean, _) = s.jitter_ms().unwrap();
        // One packet 30 ms late: |D| = 30 ms then 30 ms back: J jumps to 30/16 ms first.
        assert!((max - 30.0 / 16.0 - (30.0 - 30.0 / 16.0) / 16.0).abs() < 1e-6, "{max}");
        assert!(mean > 0.0 && mean < max);
    }
}
