//! Headless output: the JSON report of `../shared/report-contract.md`, the text report, and
//! the number formats they share.

pub mod json;
pub mod llhls;
pub mod players;
pub mod store;
pub mod text;

use crate::time::Timestamp;
use serde_json::Value;
use std::net::SocketAddr;

/// A timestamp as a JSON number with exactly microsecond precision.
pub fn json_ts(ts: Timestamp) -> Value {
    number(&ts.to_string())
}

/// A duration in ms as a JSON number rounded to the microsecond (null when not finite).
pub fn json_ms(ms: f64) -> Value {
    if !ms.is_finite() {
        return Value::Null;
    }
    number(&format!("{:.3}", crate::time::round_ms(ms)))
}

fn number(s: &str) -> Value {
    s.parse::<serde_json::Number>().map(Value::Number).unwrap_or(Value::Null)
}

/// `ip:port`, or `[v6]:port`.
pub fn addr(a: SocketAddr) -> String {
    a.to_string()
}

/// A report timestamp (a JSON number of seconds with up to six decimals) back in microseconds,
/// exactly (no float rounding).
pub fn micros_of(v: &Value) -> Option<i64> {
    if !v.is_number() {
        return None;
    }
    let s = v.to_string();
    let neg = s.starts_with('-');
    let (secs, frac) = s.trim_start_matches('-').split_once('.').map_or((s.trim_start_matches('-'), ""), |p| p);
    let mut frac = frac.to_string();
    frac.truncate(6);
    while frac.len() < 6 {
        frac.push('0');
    }
    let m = secs.parse::<i64>().ok()? * 1_000_000 + frac.parse::<i64>().ok()?;
    Some(if neg { -m } else { m })
}
