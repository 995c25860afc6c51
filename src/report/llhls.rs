//! Low-Latency HLS per player (draft-pantos-hls-rfc8216bis): blocking playlist reloads
//! (§6.2.5.2: `_HLS_msn=N[&_HLS_part=M]` held by the server until the playlist holds that
//! segment or part; the hold is the request's TTFB) and whether the playlist that came back
//! holds what was asked for; the Partial Segments the playlists listed (§4.4.4.9), which of
//! them the player fetched, their download time against PART-TARGET (§4.4.3.7), and fetches of
//! the EXT-X-PRELOAD-HINT resource (§4.4.5.3) before any playlist listed it.

use super::{json_ms, micros_of};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A field of a parsed playlist's `low_latency` object (null when absent).
pub fn ll_field<'a>(playlist: &'a Value, key: &str) -> &'a Value {
    playlist.get("low_latency").and_then(|l| l.get(key)).unwrap_or(&Value::Null)
}

/// The delivery directives of a playlist request (§6.2.5.1): `_HLS_msn` and `_HLS_part`.
pub fn directives(uri: &str) -> Option<(u64, Option<u64>)> {
    let query = uri.split_once('?')?.1.split('#').next().unwrap_or("");
    let get = |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse::<u64>().ok());
    Some((get("_HLS_msn")?, get("_HLS_part")))
}

/// A position in the stream: (Media Sequence Number, part index); a whole segment is its
/// position after every part.
type Pos = (u64, u64);

/// Whether `playlist` (the parsed `hls` entry) holds the segment or part a blocking request
/// asked for, or a later one. §6.2.5.2: a part index past the last part of a completed Parent
/// Segment asks for part 0 of the next segment.
pub fn satisfied(playlist: &Value, msn: u64, part: Option<u64>) -> bool {
    let complete = playlist["segments"].as_array().into_iter().flatten().filter_map(|s| s["msn"].as_u64()).max();
    let parts: Vec<Pos> = ll_field(playlist, "part_list")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["msn"].as_u64()?, p["part"].as_u64()?)))
        .collect();
    let latest_part = parts.iter().max().copied();
    let reached = |want: Pos| complete.is_some_and(|c| c >= want.0) || latest_part.is_some_and(|p| p >= want);
    match part {
        None => complete.is_some_and(|c| c >= msn),
        Some(m) => {
            let in_segment = parts.iter().filter(|p| p.0 == msn).count() as u64;
            let segment_done = complete.is_some_and(|c| c >= msn);
            if segment_done && in_segment > 0 && m >= in_segment {
                reached((msn + 1, 0))
            } else {
                reached((msn, m))
            }
        }
    }
}

/// One Partial Segment a playlist listed to the player.
#[derive(Default)]
pub struct Part {
    /// Parent segment's Media Sequence Number and the part's index in it.
    pub pos: Pos,
    /// EXT-X-PART DURATION.
    pub duration_s: Option<f64>,
    /// The rendition's playlist path.
    pub rendition: String,
    /// The fetch: request first byte (µs) and the exchange.
    pub fetch: Option<(i64, Value)>,
    /// Requested when it was the preload hint and not yet listed.
    pub hinted: bool,
}

/// What one player did with LL-HLS.
#[derive(Default)]
pub struct LowLatency {
    /// One entry per blocking playlist request, in request order.
    pub reloads: Vec<Value>,
    /// Parts by path.
    pub parts: BTreeMap<String, Part>,
    /// PART-TARGET per rendition.
    pub part_target: BTreeMap<String, f64>,
    /// Part-like requests for the preload hint of the latest playlist.
    pub hint_fetches: Vec<Value>,
}

impl LowLatency {
    /// A blocking playlist request `x` (an `http` entry) and the playlist it returned, if parsed.
    pub fn reload(&mut self, x: &Value, msn: u64, part: Option<u64>, playlist: Option<&Value>) {
        let hold = match (micros_of(&x["request_end_ts"]), micros_of(&x["response_start_ts"])) {
            (Some(a), Some(b)) => json_ms((b - a) as f64 / 1000.0),
            _ => Value::Null,
        };
        self.reloads.push(json!({
            "ts": x["ts"], "uri": x["uri"], "msn": msn, "part": part, "status": x["status"],
            "hold_ms": hold, "satisfied": playlist.map(|p| satisfied(p, msn, part)),
        }));
    }

    /// The parts a playlist from `rendition` lists.
    pub fn listed(&mut self, rendition: &str, playlist: &Value, resolve: impl Fn(&str) -> String) {
        if let Some(t) = ll_field(playlist, "part_target_s").as_f64() {
            self.part_target.insert(rendition.to_string(), t);
        }
        for p in ll_field(playlist, "part_list").as_array().into_iter().flatten() {
            let (Some(u), Some(msn), Some(i)) = (p["uri"].as_str(), p["msn"].as_u64(), p["part"].as_u64()) else {
                continue;
            };
            let e = self.parts.entry(resolve(u)).or_default();
            e.pos = (msn, i);
            e.duration_s = p["duration_s"].as_f64();
            e.rendition = rendition.to_string();
        }
    }

    /// A part fetch `x` at `at` µs; `hint` when it was the preload hint and not listed yet.
    pub fn fetched(&mut self, path: &str, at: i64, x: &Value, hint: bool) {
        let e = self.parts.entry(path.to_string()).or_default();
        if e.fetch.is_none() {
            e.fetch = Some((at, x.clone()));
        }
        if hint {
            e.hinted = true;
            self.hint_fetches.push(json!({"ts": x["ts"], "uri": x["uri"], "ttfb_ms": x["ttfb_ms"]}));
        }
    }

    /// The player's `low_latency` object, or None when it did nothing LL-HLS.
    pub fn to_json(&self) -> Option<Value> {
        if self.reloads.is_empty() && self.parts.is_empty() {
            return None;
        }
        let mut holds: Vec<f64> = self.reloads.iter().filter_map(|r| r["hold_ms"].as_f64()).collect();
        holds.sort_by(f64::total_cmp);
        let mut parts: Vec<(&String, &Part)> = self.parts.iter().filter(|(_, p)| !p.rendition.is_empty()).collect();
        parts.sort_by_key(|(u, p)| (p.rendition.clone(), p.pos, (*u).clone()));
        let target = self.part_target.values().copied().fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
        let mut over_target = 0u64;
        let list: Vec<Value> = parts
            .iter()
            .map(|(u, p)| {
                let download = p.fetch.as_ref().and_then(|(_, x)| x["download_ms"].as_f64());
                let t = self.part_target.get(&p.rendition).copied();
                if let (Some(d), Some(t)) = (download, t) {
                    over_target += u64::from(d > t * 1000.0);
                }
                json!({
                    "uri": u, "rendition": p.rendition, "msn": p.pos.0, "part": p.pos.1, "duration_s": p.duration_s,
                    "fetched": p.fetch.is_some(), "ts": p.fetch.as_ref().map(|(_, x)| x["ts"].clone()),
                    "ttfb_ms": p.fetch.as_ref().map(|(_, x)| x["ttfb_ms"].clone()),
                    "download_ms": download.map(json_ms), "preload_hint": p.hinted,
                })
            })
            .collect();
        let fetched = parts.iter().filter(|(_, p)| p.fetch.is_some()).count();
        Some(json!({
            "blocking_reloads": self.reloads,
            "blocking_summary": {
                "count": self.reloads.len(),
                "unsatisfied": self.reloads.iter().filter(|r| r["satisfied"] == false).count(),
                "median_hold_ms": holds.get(holds.len() / 2).copied().map(json_ms),
                "max_hold_ms": holds.last().copied().map(json_ms),
            },
            "parts": list,
            "parts_summary": {
                "listed": parts.len(), "fetched": fetched, "not_fetched": parts.len() - fetched,
                "preload_hint_fetches": self.hint_fetches.len(), "part_target_s": target,
                "downloads_over_part_target": over_target,
            },
            "preload_hint_fetches": self.hint_fetches,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playlist(segments: &[u64], parts: &[(u64, u64)]) -> Value {
        json!({
            "segments": segments.iter().map(|m| json!({"msn": m})).collect::<Vec<_>>(),
            "low_latency": {"part_list": parts.iter().map(|(m, p)| json!({"msn": m, "part": p})).collect::<Vec<_>>()},
        })
    }

    #[test]
    fn delivery_directives() {
        assert_eq!(directives("/l.m3u8?_HLS_msn=5&_HLS_part=2"), Some((5, Some(2))));
        assert_eq!(directives("/l.m3u8?_HLS_msn=5"), Some((5, None)));
        assert_eq!(directives("/l.m3u8?x=1"), None);
        assert_eq!(directives("/l.m3u8"), None);
    }

    #[test]
    fn satisfied_by_part_segment_or_later() {
        let p = playlist(&[3, 4], &[(4, 0), (4, 1), (4, 2), (5, 0)]);
        assert!(satisfied(&p, 5, Some(0)));
        assert!(!satisfied(&p, 5, Some(1)));
        assert!(satisfied(&p, 4, None));
        assert!(!satisfied(&p, 5, None));
        // Past the last part of completed segment 4: part 0 of segment 5.
        assert!(satisfied(&p, 4, Some(3)));
        let q = playlist(&[3], &[(3, 0), (3, 1), (4, 0)]);
        assert!(satisfied(&q, 3, Some(2)));
        assert!(!satisfied(&q, 4, Some(1)));
    }
}
