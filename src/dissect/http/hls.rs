//! HLS playlists (RFC 8216 and draft-pantos-hls-rfc8216bis for LL-HLS): media playlists
//! (EXTINF, TARGETDURATION, MEDIA-SEQUENCE, DISCONTINUITY, PROGRAM-DATE-TIME, MAP, BYTERANGE,
//! KEY, ENDLIST, PART, PART-INF, PRELOAD-HINT, SERVER-CONTROL, RENDITION-REPORT) and master
//! playlists (STREAM-INF variants, MEDIA renditions).

use serde_json::{json, Value};

/// Attribute lists (RFC 8216 §4.2): `KEY=value,KEY="quoted, value"`.
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some((k, v)) = rest.split_once('=') else { break };
        let (value, next) = if let Some(q) = v.strip_prefix('"') {
            match q.split_once('"') {
                Some((val, after)) => (val, after.strip_prefix(',').unwrap_or(after)),
                None => (q, ""),
            }
        } else {
            match v.split_once(',') {
                Some((val, after)) => (val, after),
                None => (v, ""),
            }
        };
        out.push((k.trim().to_string(), value.to_string()));
        rest = next;
    }
    out
}

fn attr<'a>(a: &'a [(String, String)], k: &str) -> Option<&'a str> {
    a.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

/// Gives the parts waiting for their Parent Segment its Media Sequence Number and their index
/// in it, and moves them to `out`.
fn number_parts(pending: &mut Vec<Value>, msn: u64, out: &mut Vec<Value>) {
    for (i, mut p) in pending.drain(..).enumerate() {
        if let Some(o) = p.as_object_mut() {
            o.insert("msn".into(), json!(msn));
            o.insert("part".into(), json!(i));
        }
        out.push(p);
    }
}

/// A parsed playlist, as the `hls` report section shows it.
pub fn parse(body: &[u8], uri: &str) -> Option<Value> {
    let text = String::from_utf8_lossy(body);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("#EXTM3U") {
        return None;
    }
    let mut target = None;
    let mut media_sequence: Option<u64> = None;
    let mut live = true;
    let mut segments = Vec::new();
    let mut variants = Vec::new();
    let mut renditions = Vec::new();
    let mut parts = 0u64;
    // EXT-X-PART tags (rfc8216bis §4.4.4.9) precede the EXTINF of their Parent Segment; those
    // after the last segment belong to the one in progress.
    let mut part_list: Vec<Value> = Vec::new();
    let mut pending_parts: Vec<Value> = Vec::new();
    let mut part_target = None;
    let mut server_control = None;
    let mut preload_hint = None;
    let mut preload_hint_type = None;
    let mut rendition_reports = 0u64;
    let mut discontinuities = 0u64;
    let mut keys = Vec::new();
    let mut map = None;
    let mut pending_inf: Option<f64> = None;
    let mut pending_pdt: Option<String> = None;
    let mut pending_range: Option<String> = None;
    let mut pending_variant: Option<Vec<(String, String)>> = None;
    let mut pending_discontinuity = false;
    for l in lines {
        if let Some(t) = l.strip_prefix('#') {
            let (tag, val) = t.split_once(':').unwrap_or((t, ""));
            match tag {
                "EXT-X-TARGETDURATION" => target = val.parse::<f64>().ok(),
                "EXT-X-MEDIA-SEQUENCE" => media_sequence = val.parse().ok(),
                "EXT-X-ENDLIST" => live = false,
                "EXT-X-PLAYLIST-TYPE" if val == "VOD" => live = false,
                "EXTINF" => pending_inf = val.split(',').next().and_then(|d| d.trim().parse().ok()),
                "EXT-X-PROGRAM-DATE-TIME" => pending_pdt = Some(val.to_string()),
                "EXT-X-BYTERANGE" => pending_range = Some(val.to_string()),
                "EXT-X-DISCONTINUITY" => {
                    discontinuities += 1;
                    pending_discontinuity = true;
                }
                "EXT-X-KEY" => {
                    let a = attributes(val);
                    keys.push(json!({"method": attr(&a, "METHOD"), "uri": attr(&a, "URI")}));
                }
                "EXT-X-MAP" => map = attr(&attributes(val), "URI").map(str::to_string),
                "EXT-X-STREAM-INF" => pending_variant = Some(attributes(val)),
                "EXT-X-MEDIA" => {
                    let a = attributes(val);
                    renditions.push(json!({
                        "type": attr(&a, "TYPE"), "group_id": attr(&a, "GROUP-ID"), "name": attr(&a, "NAME"),
                        "language": attr(&a, "LANGUAGE"), "uri": attr(&a, "URI"),
                    }));
                }
                "EXT-X-PART" => {
                    parts += 1;
                    let a = attributes(val);
                    pending_parts.push(json!({
                        "uri": attr(&a, "URI"),
                        "duration_s": attr(&a, "DURATION").and_then(|v| v.parse::<f64>().ok()),
                        "independent": attr(&a, "INDEPENDENT") == Some("YES"),
                        "byterange": attr(&a, "BYTERANGE"),
                        "gap": attr(&a, "GAP") == Some("YES"),
                    }));
                }
                "EXT-X-PART-INF" => {
                    part_target = attr(&attributes(val), "PART-TARGET").and_then(|v| v.parse::<f64>().ok())
                }
                "EXT-X-SERVER-CONTROL" => {
                    let a = attributes(val);
                    server_control = Some(json!({
                        "can_block_reload": attr(&a, "CAN-BLOCK-RELOAD") == Some("YES"),
                        "part_hold_back": attr(&a, "PART-HOLD-BACK").and_then(|v| v.parse::<f64>().ok()),
                        "hold_back": attr(&a, "HOLD-BACK").and_then(|v| v.parse::<f64>().ok()),
                    }));
                }
                "EXT-X-PRELOAD-HINT" => {
                    let a = attributes(val);
                    preload_hint = attr(&a, "URI").map(str::to_string);
                    preload_hint_type = attr(&a, "TYPE").map(str::to_string);
                }
                "EXT-X-RENDITION-REPORT" => rendition_reports += 1,
                _ => {}
            }
            continue;
        }
        // A URI line ends a segment or a variant.
        if let Some(a) = pending_variant.take() {
            variants.push(json!({
                "uri": l, "bandwidth": attr(&a, "BANDWIDTH").and_then(|v| v.parse::<u64>().ok()),
                "resolution": attr(&a, "RESOLUTION"), "codecs": attr(&a, "CODECS"),
                "frame_rate": attr(&a, "FRAME-RATE").and_then(|v| v.parse::<f64>().ok()),
            }));
        } else if let Some(d) = pending_inf.take() {
            let msn = media_sequence.unwrap_or(0) + segments.len() as u64;
            segments.push(json!({
                "uri": l, "duration_s": d, "program_date_time": pending_pdt.take(),
                "byterange": pending_range.take(), "discontinuity": pending_discontinuity, "msn": msn,
            }));
            pending_discontinuity = false;
            number_parts(&mut pending_parts, msn, &mut part_list);
        }
    }
    // §4.4.3.2: the segment in progress has the next Media Sequence Number.
    let next_msn = media_sequence.unwrap_or(0) + segments.len() as u64;
    // Its PROGRAM-DATE-TIME, when the playlist gives one before its parts.
    let open_pdt = pending_pdt.take();
    number_parts(&mut pending_parts, next_msn, &mut part_list);
    let master = !variants.is_empty() || (!renditions.is_empty() && segments.is_empty());
    Some(json!({
        "uri": uri,
        "master": master,
        "live": live && !master,
        "target_duration_s": target,
        "media_sequence": media_sequence,
        "segments": segments,
        "variants": variants,
        "renditions": renditions,
        "discontinuities": discontinuities,
        "keys": keys,
        "map": map,
        "low_latency": {
            "parts": parts, "part_target_s": part_target, "server_control": server_control,
            "preload_hint": preload_hint, "preload_hint_type": preload_hint_type,
            "rendition_reports": rendition_reports, "part_list": part_list,
            "open_segment_program_date_time": open_pdt,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_and_master() {
        let media = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:7\n\
#EXT-X-PROGRAM-DATE-TIME:2026-12-02T05:00:00.000Z\n#EXTINF:4.000,\nx7.ts\n#EXTINF:3.5,\nx8.ts\n#EXT-X-ENDLIST\n";
        let v = parse(media, "/x.m3u8").unwrap();
        assert_eq!(v["live"], false);
        assert_eq!(v["media_sequence"], 7);
        assert_eq!(v["segments"][1]["uri"], "x8.ts");
        assert_eq!(v["segments"][0]["program_date_time"], "2026-12-02T05:00:00.000Z");
        let master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\"\nlow.m3u8\n";
        let m = parse(master, "/m.m3u8").unwrap();
        assert_eq!(m["master"], true);
        assert_eq!(m["variants"][0]["codecs"], "avc1.64001e,mp4a.40.2");
        assert!(parse(b"<html>", "/").is_none());
    }

    #[test]
    fn low_latency_parts_are_numbered() {
        let ll = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.2\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n#EXT-X-MEDIA-SEQUENCE:4\n\
#EXT-X-PART:DURATION=0.2,URI=\"s4.p0.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.2,URI=\"s4.p1.m4s\"\n\
#EXTINF:0.4,\ns4.m4s\n#EXT-X-PROGRAM-DATE-TIME:2026-12-02T05:00:00.400Z\n\
#EXT-X-PART:DURATION=0.2,URI=\"s5.p0.m4s\",INDEPENDENT=YES\n\
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s5.p1.m4s\"\n";
        let v = parse(ll, "/l.m3u8?_HLS_msn=5&_HLS_part=0").unwrap();
        let ll = &v["low_latency"];
        assert_eq!(ll["parts"], 3);
        assert_eq!(ll["part_list"][1]["msn"], 4);
        assert_eq!(ll["part_list"][1]["part"], 1);
        assert_eq!(ll["part_list"][2]["msn"], 5);
        assert_eq!(ll["part_list"][2]["part"], 0);
        assert_eq!(ll["part_list"][0]["independent"], true);
        assert_eq!(ll["preload_hint"], "s5.p1.m4s");
        assert_eq!(ll["preload_hint_type"], "PART");
        assert_eq!(ll["open_segment_program_date_time"], "2026-12-02T05:00:00.400Z");
        assert_eq!(v["segments"][0]["msn"], 4);
    }
}
