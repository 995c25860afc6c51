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

/// A playlist entry: what a player knows about one media URI from the latest playlist that
/// listed it.
struct Listed {
    rendition: String,
    duration_s: f64,
    pdt_us: Option<i64>,
}

/// What happened at one instant of a player's session, in capture order.
enum Step<'a> {
    /// A playlist finished arriving (its response's last byte): the player now knows it.
    Playlist(&'a Value, &'a Value),
    /// A request for media (segment, part, init) was sent.
    Media(&'a Value),
    /// A playlist request was sent.
    Reload(&'a Value),
}

/// An exchange's kind; a response still incomplete when the capture ends (a blocking playlist
/// reload still held, say) has none from its body, so the request's path tells.
fn kind(x: &Value) -> &str {
    match x["kind"].as_str() {
        Some("other") | None if x["response_end_ts"].is_null() => {
            let p = path(x["uri"].as_str().unwrap_or("")).to_ascii_lowercase();
            if p.ends_with(".m3u8") || p.ends_with(".m3u") {
                "playlist"
            } else {
                "other"
            }
        }
        Some(k) => k,
        None => "other",
    }
}

/// Whether an exchange's JSON text can be of a kind [`kind`] gives players (a superset, read
/// on the text so the other exchanges of a busy capture are not parsed at all).
fn may_be_player_exchange(text: &[u8]) -> bool {
    const KINDS: [&[u8]; 4] =
        [b"\"kind\":\"playlist\"", b"\"kind\":\"segment\"", b"\"kind\":\"init\"", b"\"kind\":\"part\""];
    KINDS.iter().any(|k| memchr::memmem::find(text, k).is_some())
        || memchr::memchr2_iter(b'm', b'M', text)
            .any(|i| text.get(i..i + 3).is_some_and(|w| w.eq_ignore_ascii_case(b"m3u")))
}

/// EXTINF seconds in µs, rounded (the tag has at most µs precision in practice).
fn duration_us(s: f64) -> i64 {
    (s * 1e6).round() as i64
}

/// The `hls_players` section: one entry per player, a client address and User-Agent that
/// fetched HLS (players behind one address are told apart by their User-Agent).
pub fn build(engine: &Engine) -> Vec<Value> {
    let sections = &engine.app.sections;
    if sections.len("http") == 0 || sections.len("hls") == 0 {
        return Vec::new();
    }
    // Only the exchanges of players are parsed back from the store and kept.
    let hls: Vec<Value> = sections.values_as_stored("hls").collect();
    let http: Vec<Value> = sections
        .texts_as_stored("http")
        .filter(|t| may_be_player_exchange(t))
        .filter_map(|t| serde_json::from_slice::<Value>(&t).ok())
        .filter(|x| matches!(kind(x), "playlist" | "segment" | "init" | "part"))
        .collect();
    // Parsed playlists by (flow, request's first byte).
    let mut parsed: BTreeMap<(u64, i64), &Value> = BTreeMap::new();
    for p in &hls {
        if let (Some(f), Some(t)) = (p["flow"].as_u64(), super::micros_of(&p["request_ts"])) {
            parsed.insert((f, t), p);
        }
    }
    let mut by_player: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for x in &http {
        let Some(f) = x["flow"].as_u64().and_then(|f| engine.flows.record(f as u32)) else { continue };
        let ua = x["user_agent"].as_str().unwrap_or("").to_string();
        by_player.entry((f.client.ip().to_string(), ua)).or_default().push(x);
    }
    by_player.into_iter().map(|((client, ua), xs)| player(&client, &ua, &xs, &parsed)).collect()
}

/// One player's entry, from its exchanges in capture order.
fn player(client: &str, ua: &str, xs: &[&Value], parsed: &BTreeMap<(u64, i64), &Value>) -> Value {
    let mut steps: Vec<(i64, u8, Step<'_>)> = Vec::new();
    for x in xs {
        let Some(at) = super::micros_of(&x["ts"]) else { continue };
        if kind(x) == "playlist" {
            steps.push((at, 1, Step::Reload(x)));
            let key = (x["flow"].as_u64().unwrap_or(u64::MAX), at);
            if let (Some(p), Some(end)) = (parsed.get(&key), super::micros_of(&x["response_end_ts"])) {
                // A playlist that arrives at the instant of a request was known to it.
                steps.push((end, 0, Step::Playlist(x, p)));
            }
        } else {
            steps.push((at, 2, Step::Media(x)));
        }
    }
    steps.sort_by_key(|(t, order, _)| (*t, *order));
    let mut listed: BTreeMap<String, Listed> = BTreeMap::new();
    let mut targets: BTreeMap<String, Option<f64>> = BTreeMap::new();
    let mut hints: BTreeMap<String, String> = BTreeMap::new();
    let mut reloads: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut ll = super::llhls::LowLatency::default();
    let mut segments = Vec::new();
    let mut switches = Vec::new();
    let mut last_rendition: Option<String> = None;
    let mut worst_ratio: Option<f64> = None;
    // Per rendition: the latest live playlist's segments, in order (for the live edge distance).
    let mut edge: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut distances: Vec<i64> = Vec::new();
    for (at, _, step) in steps {
        match step {
            Step::Reload(x) => {
                let uri = x["uri"].as_str().unwrap_or("");
                reloads.entry(path(uri)).or_default().push(at);
                if let Some((msn, part)) = super::llhls::directives(uri) {
                    let key = (x["flow"].as_u64().unwrap_or(u64::MAX), at);
                    ll.reload(x, msn, part, parsed.get(&key).copied());
                }
            }
            Step::Playlist(x, p) => {
                let uri = x["uri"].as_str().unwrap_or("");
                let rendition = path(uri);
                targets.insert(rendition.clone(), p["target_duration_s"].as_f64());
                if p["live"].as_bool() == Some(true) {
                    let list = p["segments"].as_array().into_iter().flatten();
                    edge.insert(
                        rendition.clone(),
                        list.filter_map(|s| s["uri"].as_str()).map(|u| resolve(uri, u)).collect(),
                    );
                } else {
                    edge.remove(&rendition);
                }
                for s in p["segments"].as_array().into_iter().flatten() {
                    let Some(su) = s["uri"].as_str() else { continue };
                    let pdt = s["program_date_time"].as_str().and_then(parse_pdt);
                    let duration_s = s["duration_s"].as_f64().unwrap_or(0.0);
                    listed.insert(resolve(uri, su), Listed { rendition: rendition.clone(), duration_s, pdt_us: pdt });
                }
                for part in super::llhls::ll_field(p, "part_list").as_array().into_iter().flatten() {
                    let Some(pu) = part["uri"].as_str() else { continue };
                    let duration_s = part["duration_s"].as_f64().unwrap_or(0.0);
                    listed.insert(resolve(uri, pu), Listed { rendition: rendition.clone(), duration_s, pdt_us: None });
                }
                match super::llhls::ll_field(p, "preload_hint").as_str() {
                    Some(h) => hints.insert(rendition.clone(), resolve(uri, h)),
                    None => hints.remove(&rendition),
                };
                ll.listed(&rendition, p, |u| resolve(uri, u));
            }
            Step::Media(x) => {
                let p = path(x["uri"].as_str().unwrap_or(""));
                let is_part = x["kind"] == "part" || ll.parts.contains_key(&p) || hints.values().any(|h| *h == p);
                if is_part {
                    let hinted = !listed.contains_key(&p) && hints.values().any(|h| *h == p);
                    ll.fetched(&p, at, x, hinted);
                }
                if x["kind"] == "init" {
                    continue;
                }
                let info = listed.get(&p);
                let rendition = info.map(|i| i.rendition.clone());
                if let (Some(r), Some(prev)) = (&rendition, &last_rendition) {
                    if r != prev {
                        switches.push(json!({"ts": x["ts"], "from": prev, "to": r}));
                    }
                }
                if rendition.is_some() {
                    last_rendition.clone_from(&rendition);
                }
                let duration = info.map(|i| i.duration_s);
                let download = x["download_ms"].as_f64();
                let ratio = match (download, duration) {
                    (Some(d), Some(s)) if s > 0.0 => Some(d / (s * 1000.0)),
                    _ => None,
                };
                if let Some(r) = ratio {
                    worst_ratio = Some(worst_ratio.map_or(r, |w: f64| w.max(r)));
                }
                // Live latency (RFC 8216 §4.3.2.6): the segment's last byte minus the end of its
                // media time, EXT-X-PROGRAM-DATE-TIME + EXTINF, from the latest playlist listing it.
                let latency = match (
                    info.and_then(|i| i.pdt_us.zip(Some(i.duration_s))),
                    super::micros_of(&x["response_end_ts"]),
                ) {
                    (Some((pdt, d)), Some(end)) => Some(json_ms((end - pdt - duration_us(d)) as f64 / 1000.0)),
                    _ => None,
                };
                // Live edge distance: how many segments the latest live playlist the player had
                // lists after this one (0 = the newest segment).
                let distance = rendition
                    .as_ref()
                    .and_then(|r| edge.get(r))
                    .and_then(|list| list.iter().position(|u| *u == p).map(|i| (list.len() - 1 - i) as i64));
                distances.extend(distance);
                segments.push(json!({
                    "uri": x["uri"], "ts": x["ts"], "rendition": rendition, "duration_s": duration,
                    "download_ms": x["download_ms"], "download_ratio": ratio.map(json_ms),
                    "live_latency_ms": latency, "live_edge_distance": distance,
                }));
            }
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
    distances.sort_unstable();
    let median_distance = distances.get(distances.len() / 2).copied();
    let mut v = json!({
        "client": client,
        "user_agent": if ua.is_empty() { Value::Null } else { json!(ua) },
        "playlists": playlists,
        "segments": segments,
        "abr_switches": switches,
        "worst_download_ratio": worst_ratio.map(json_ms),
        "keeping_up": worst_ratio.map(|w| w < 1.0),
        "median_live_edge_distance": median_distance,
    });
    if let (Some(o), Some(l)) = (v.as_object_mut(), ll.to_json()) {
        o.insert("low_latency".into(), l);
    }
    v
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
