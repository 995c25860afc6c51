//! What each HLS player did, reconstructed from its HTTP exchanges and the playlists it
//! fetched (report section `hls_players`): playlist reload cadence against the target duration,
//! the rendition of every segment and each ABR switch, segment download time against segment
//! duration (is the player keeping up), and, for segments with EXT-X-PROGRAM-DATE-TIME, the live
//! latency: arrival of the segment minus the end of its media time.

use super::{json_ms, json_ts};
use crate::engine::Engine;
use crate::time::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An ISO 8601 date-time (RFC 8216 §4.3.2.6: `2026-12-02T05:00:00.000Z`, or with an offset)
/// in microseconds since the epoch.
pub fn parse_pdt(s: &str) -> Option<i64> {
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, sec) = (num(0, 4)?, num(5, 7)?, num(8, 10)?, num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = s.get(19..)?;
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        let mut padded = digits.clone();
        padded.truncate(6);
        while padded.len() < 6 {
            padded.push('0');
        }
        micros = padded.parse().ok()?;
        rest = frac.get(digits.len()..)?;
    }
    let offset_s = match rest.chars().next() {
        None | Some('Z') | Some('z') => 0,
        Some(sign @ ('+' | '-')) => {
            let hh: i64 = rest.get(1..3)?.parse().ok()?;
            let mm: i64 = rest.get(rest.len() - 2..)?.parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if sign == '+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Some(secs * 1_000_000 + micros)
}

fn path(u: &str) -> String {
    u.split(['?', '#']).next().unwrap_or("").to_string()
}

fn resolve(base: &str, reference: &str) -> String {
    let r = path(reference);
    if r.starts_with('/') {
        return r;
    }
    if let Some(rest) = r.strip_prefix("http://").or_else(|| r.strip_prefix("https://")) {
        return rest.find('/').map_or("/".into(), |i| rest.get(i..).unwrap_or("/").to_string());
    }
    let b = path(base);
    let dir = b.rfind('/').map_or("/", |i| b.get(..=i).unwrap_or("/"));
    format!("{dir}{r}")
}

/// The `hls_players` section: one entry per client address that fetched HLS.
pub fn build(engine: &Engine) -> Vec<Value> {
    let sections = &engine.app.sections;
    let (Some(http), Some(hls)) = (sections.get("http"), sections.get("hls")) else { return Vec::new() };
    // Segment path → (playlist path, EXTINF duration s, PDT µs).
    let mut listed: BTreeMap<String, (String, f64, Option<i64>)> = BTreeMap::new();
    let mut targets: BTreeMap<String, Option<f64>> = BTreeMap::new();
    for p in hls {
        let uri = p["uri"].as_str().unwrap_or("");
        targets.insert(path(uri), p["target_duration_s"].as_f64());
        for s in p["segments"].as_array().into_iter().flatten() {
            let Some(su) = s["uri"].as_str() else { continue };
            let pdt = s["program_date_time"].as_str().and_then(parse_pdt);
            listed.insert(resolve(uri, su), (path(uri), s["duration_s"].as_f64().unwrap_or(0.0), pdt));
        }
    }
    let mut by_client: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for x in http {
        let Some(f) = x["flow"].as_u64().and_then(|f| engine.flows.record(f as u32)) else { continue };
        if matches!(x["kind"].as_str(), Some("playlist" | "segment" | "init" | "part")) {
            by_client.entry(f.client.ip().to_string()).or_default().push(x);
        }
    }
    let mut out = Vec::new();
    for (client, mut xs) in by_client {
        xs.sort_by_key(|x| super::micros_of(&x["ts"]).unwrap_or(0));
        let mut reloads: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut segments = Vec::new();
        let mut switches = Vec::new();
        let mut last_rendition: Option<String> = None;
        let mut worst_ratio: Option<f64> = None;
        for x in &xs {
            let p = path(x["uri"].as_str().unwrap_or(""));
            let at = super::micros_of(&x["ts"]);
            match x["kind"].as_str() {
                Some("playlist") => reloads.entry(p).or_default().extend(at),
                Some("segment" | "part") => {
                    let info = listed.get(&p);
                    let rendition = info.map(|i| i.0.clone());
                    if let (Some(r), Some(prev)) = (&rendition, &last_rendition) {
                        if r != prev {
                            switches.push(json!({"ts": x["ts"], "from": prev, "to": r}));
                        }
                    }
                    if rendition.is_some() {
                        last_rendition.clone_from(&rendition);
                    }
                    let duration = info.map(|i| i.1);
                    let download = x["download_ms"].as_f64();
                    let ratio = match (download, duration) {
                        (Some(d), Some(s)) if s > 0.0 => Some(d / (s * 1000.0)),
                        _ => None,
                    };
                    if let Some(r) = ratio {
                        worst_ratio = Some(worst_ratio.map_or(r, |w: f64| w.max(r)));
                    }
                    // Live latency: arrival minus the end of the segment's media time.
                    let latency = match (info.and_then(|i| i.2), duration, super::micros_of(&x["response_end_ts"])) {
                        (Some(pdt), Some(d), Some(end)) => Some(json_ms((end - pdt) as f64 / 1000.0 - d * 1000.0)),
                        _ => None,
                    };
                    segments.push(json!({
                        "uri": x["uri"], "ts": x["ts"], "rendition": rendition, "duration_s": duration,
                        "download_ms": x["download_ms"], "download_ratio": ratio.map(json_ms),
                        "live_latency_ms": latency,
                    }));
                }
                _ => {}
            }
        }
        let playlists: Vec<Value> = reloads
            .iter()
            .map(|(p, times)| {
                let mut gaps: Vec<i64> =
                    times.windows(2).filter_map(|w| w.get(1).zip(w.first()).map(|(b, a)| b - a)).collect();
                gaps.sort_unstable();
                let median = gaps.get(gaps.len() / 2).map(|g| json_ms(*g as f64 / 1000.0));
                json!({
                    "uri": p, "fetches": times.len(), "median_reload_ms": median,
                    "target_duration_s": targets.get(p).copied().flatten(),
                    "first_ts": times.first().map(|t| json_ts(Timestamp(t * 1000))),
                })
            })
            .collect();
        out.push(json!({
            "client": client,
            "playlists": playlists,
            "segments": segments,
            "abr_switches": switches,
            "worst_download_ratio": worst_ratio.map(json_ms),
            "keeping_up": worst_ratio.map(|w| w < 1.0),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_date_time() {
        assert_eq!(parse_pdt("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(parse_pdt("2026-12-02T05:00:00.000Z"), Some(1_796_187_600_000_000));
        assert_eq!(parse_pdt("2026-12-02T06:00:00+01:00"), Some(1_796_187_600_000_000));
        assert_eq!(parse_pdt("garbage"), None);
    }
}
