//! Capture timestamps. The core never reads the wall clock: every time comes from the capture.

use std::fmt;

/// A capture timestamp in nanoseconds since the Unix epoch.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from whole seconds and a nanosecond part.
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(i64::from(nanos)))
    }

    /// Builds a timestamp from a tick count at `units_per_sec` ticks per second plus an offset
    /// in seconds (pcapng `if_tsresol` / `if_tsoffset`).
    pub fn from_ticks(ticks: u64, units_per_sec: u64, offset_secs: i64) -> Self {
        let units = u128::from(units_per_sec.max(1));
        let t = u128::from(ticks);
        let secs = (t / units) as i64;
        let frac = ((t % units) * 1_000_000_000 / units) as u32;
        Self::from_secs_nanos(secs.saturating_add(offset_secs), frac)
    }

    /// Microseconds since the epoch (truncated toward minus infinity).
    pub fn micros(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Milliseconds elapsed from `earlier` to `self`, as a float (negative if earlier is later).
    pub fn ms_since(self, earlier: Timestamp) -> f64 {
        (i128::from(self.0) - i128::from(earlier.0)) as f64 / 1e6
    }

    /// Seconds elapsed from `earlier` to `self`.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (i128::from(self.0) - i128::from(earlier.0)) as f64 / 1e9
    }

    /// Nanoseconds from `earlier` to `self`, saturating at the i64 range.
    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// This timestamp plus a duration in seconds (saturating).
    pub fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add((secs as i64).saturating_mul(1_000_000_000)))
    }
}

impl fmt::Display for Timestamp {
    /// Seconds since the epoch with exactly six decimals (microsecond precision), as the report
    /// contract fixes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.micros();
        let secs = us.div_euclid(1_000_000);
        let frac = us.rem_euclid(1_000_000);
        write!(f, "{secs}.{frac:06}")
    }
}

/// Rounds a millisecond duration to microsecond precision for output.
pub fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_at_various_resolutions() {
        assert_eq!(Timestamp::from_ticks(1_500_000, 1_000_000, 0), Timestamp(1_500_000_000));
        assert_eq!(Timestamp::from_ticks(1_500_000_001, 1_000_000_000, 0), Timestamp(1_500_000_001));
        // 2^-10 s resolution: 1024 ticks = 1 s
        assert_eq!(Timestamp::from_ticks(1536, 1024, 10), Timestamp(11_500_000_000));
    }

    #[test]
    fn display_has_six_decimals() {
        assert_eq!(Timestamp(1_700_000_000_123_456_789).to_string(), "1700000000.123456");
        assert_eq!(Timestamp(5_000).to_string(), "0.000005");
    }
}
