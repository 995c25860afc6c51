//! Headless output: the JSON report of `../shared/report-contract.md`, the text report, and
//! the number formats they share.

pub mod json;
pub mod players;
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
