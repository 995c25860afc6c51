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

/// A timestamp as its `Display` prints it (seconds, six decimals), without the formatter.
pub fn ts_text(b: &mut Vec<u8>, ts: Timestamp) {
    let us = ts.micros();
    let (secs, frac) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000));
    b.extend_from_slice(itoa::Buffer::new().format(secs).as_bytes());
    b.push(b'.');
    let f = itoa::Buffer::new().format(frac).len();
    b.extend(std::iter::repeat_n(b'0', 6usize.saturating_sub(f)));
    b.extend_from_slice(itoa::Buffer::new().format(frac).as_bytes());
}

/// A socket address as a JSON string, as its `Display` prints it (no character in it needs
/// escaping); IPv4 without the formatter.
pub fn addr_text(b: &mut Vec<u8>, a: std::net::SocketAddr) {
    use std::io::Write as _;
    b.push(b'"');
    match a {
        std::net::SocketAddr::V4(v4) => {
            let mut n = itoa::Buffer::new();
            for (i, o) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    b.push(b'.');
                }
                b.extend_from_slice(n.format(o).as_bytes());
            }
            b.push(b':');
            b.extend_from_slice(n.format(v4.port()).as_bytes());
        }
        v6 => {
            let _ = write!(b, "{v6}");
        }
    }
    b.push(b'"');
}

/// A duration in ms as [`json_ms`] prints it (`null` when absent or not finite), without a
/// `Value`.
pub fn ms_text(b: &mut Vec<u8>, ms: Option<f64>) {
    use std::io::Write as _;
    match ms.filter(|v| v.is_finite()) {
        Some(ms) => {
            let _ = write!(b, "{:.3}", crate::time::round_ms(ms));
        }
        None => b.extend_from_slice(b"null"),
    }
}

/// An optional timestamp as [`json_ts`] prints it (`null` when absent).
pub fn opt_ts_text(b: &mut Vec<u8>, ts: Option<Timestamp>) {
    match ts {
        Some(t) => ts_text(b, t),
        None => b.extend_from_slice(b"null"),
    }
}
