//! MPEG-DASH manifests (ISO/IEC 23009-1 §5.3): the MPD's type and timing attributes, periods,
//! adaptation sets, representations (bandwidth, codecs, resolution), segment templates and
//! timelines, and UTCTiming — read with a small tag scanner (an MPD is plain XML without the
//! parts that need a full parser).

use serde_json::{json, Map, Value};

/// Tags of the document in order: (name without namespace prefix, attributes).
fn tags(xml: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        rest = rest.get(start + 1..).unwrap_or("");
        if rest.starts_with('/') || rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let Some(end) = rest.find('>') else { break };
        let inner = rest.get(..end).unwrap_or("").trim_end_matches('/');
        rest = rest.get(end + 1..).unwrap_or("");
        let (name, attrs) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
        let name = name.rsplit(':').next().unwrap_or(name).to_string();
        let mut list = Vec::new();
        let mut a = attrs;
        while let Some(eq) = a.find('=') {
            let key = a.get(..eq).unwrap_or("").trim().to_string();
            let after = a.get(eq + 1..).unwrap_or("").trim_start();
            let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else { break };
            let body = after.get(1..).unwrap_or("");
            let Some(close) = body.find(q) else { break };
            list.push((key, body.get(..close).unwrap_or("").to_string()));
            a = body.get(close + 1..).unwrap_or("");
        }
        out.push((name, list));
        if out.len() > 100_000 {
            break;
        }
    }
    out
}

fn attr<'a>(a: &'a [(String, String)], k: &str) -> Option<&'a str> {
    a.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

fn obj(a: &[(String, String)], keys: &[(&str, &str)]) -> Value {
    let mut m = Map::new();
    for (k, out) in keys {
        if let Some(v) = attr(a, k) {
            let val = v.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(v));
            m.insert((*out).to_string(), val);
        }
    }
    Value::Object(m)
}

/// A parsed manifest, as the `dash` report section shows it; `None` if it is not an MPD.
pub fn parse(body: &[u8], uri: &str) -> Option<Value> {
    let text = String::from_utf8_lossy(body);
    let tags = tags(&text);
    let (_, mpd) = tags.iter().find(|(n, _)| n == "MPD")?;
    let mut periods = 0u64;
    let mut sets = Vec::new();
    let mut timeline_entries = 0u64;
    let mut utc = Vec::new();
    for (name, a) in &tags {
        match name.as_str() {
            "Period" => periods += 1,
            "AdaptationSet" => sets.push(json!({
                "attributes": obj(a, &[("id", "id"), ("mimeType", "mime_type"), ("contentType", "content_type"), ("lang", "lang")]),
                "representations": [], "segment_template": null,
            })),
            "Representation" => {
                let r = obj(a, &[("id", "id"), ("bandwidth", "bandwidth"), ("codecs", "codecs"), ("width", "width"),
                                 ("height", "height"), ("frameRate", "frame_rate"), ("mimeType", "mime_type")]);
                if let Some(list) = sets.last_mut().and_then(|s| s.get_mut("representations")).and_then(Value::as_array_mut) {
                    list.push(r);
                }
            }
            "SegmentTemplate" => {
                let t = obj(a, &[("media", "media"), ("initialization", "initialization"), ("timescale", "timescale"),
                                 ("duration", "duration"), ("startNumber", "start_number")]);
                if let Some(s) = sets.last_mut() {
                    s["segment_template"] = t;
                }
            }
            "S" => timeline_entries += 1,
            "UTCTiming" => utc.push(obj(a, &[("schemeIdUri", "scheme"), ("value", "value")])),
            _ => {}
        }
    }
    Some(json!({
        "uri": uri,
        "type": attr(mpd, "type").unwrap_or("static"),
        "live": attr(mpd, "type") == Some("dynamic"),
        "media_presentation_duration": attr(mpd, "mediaPresentationDuration"),
        "min_buffer_time": attr(mpd, "minBufferTime"),
        "availability_start_time": attr(mpd, "availabilityStartTime"),
        "minimum_update_period": attr(mpd, "minimumUpdatePeriod"),
        "periods": periods,
        "adaptation_sets": sets,
        "segment_timeline_entries": timeline_entries,
        "utc_timing": utc,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_style_mpd() {
        let mpd = br#"<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT3.0S" minBufferTime="PT2.0S">
 <Period id="0" start="PT0.0S">
  <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
   <Representation id="0" codecs="avc1.64000d" bandwidth="150000" width="320" height="240">
    <SegmentTemplate timescale="10240" initialization="init-stream$RepresentationID$.m4s" media="chunk-stream$RepresentationID$-$Number%05d$.m4s" startNumber="1">
     <SegmentTimeline><S t="0" d="10240" r="2" /></SegmentTimeline>
    </SegmentTemplate>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>"#;
        let v = parse(mpd, "/manifest.mpd").unwrap();
        assert_eq!(v["type"], "static");
        assert_eq!(v["adaptation_sets"][0]["representations"][0]["bandwidth"], 150000);
        assert_eq!(v["adaptation_sets"][0]["segment_template"]["timescale"], 10240);
        assert_eq!(v["segment_timeline_entries"], 1);
        assert!(parse(b"<html></html>", "/").is_none());
        for cut in 0..mpd.len() {
            let _ = parse(&mpd[..cut], "/");
        }
    }
}
