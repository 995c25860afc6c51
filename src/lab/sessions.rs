//! Per-protocol phase breakdowns: what each session did, step by step, on the capture's clock.
//!
//! - RTMP: TCP handshake → RTMP handshake (C0C1→C2) → `connect` → `publish`/`play` → first
//!   keyframe.
//! - RTSP: each request → its reply (OPTIONS, DESCRIBE, SETUP, PLAY/RECORD) → first RTP.
//! - SIP: INVITE → final response → first RTP of the call.
//! - WebRTC: first STUN check → nomination → DTLS handshake → first (S)RTP.
//! - HLS/DASH (per player): playlist request → first byte → playlist complete → first segment
//!   complete → last segment complete (steady state).
//! - TLS/QUIC: first ClientHello → handshake done.

use super::tap::{First, LabTap};
use super::{median, ts_of, Metric, Phase, Session};
use crate::engine::Engine;
use crate::flow::{Direction, FlowId};
use crate::time::Timestamp;
use serde_json::Value;

/// All sessions found in the capture.
pub fn build(engine: &Engine, report: &Value, tap: &LabTap) -> Vec<Session> {
    let mut out = Vec::new();
    rtmp(engine, report, tap, &mut out);
    rtsp(engine, report, tap, &mut out);
    sip(engine, report, tap, &mut out);
    webrtc(engine, report, tap, &mut out);
    players(engine, report, tap, &mut out);
    handshakes(engine, report, tap, &mut out);
    out
}

fn section<'a>(report: &'a Value, name: &str) -> &'a [Value] {
    report.get(name).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn flow_of(v: &Value) -> Option<FlowId> {
    v.get("flow").and_then(Value::as_u64).and_then(|f| FlowId::try_from(f).ok())
}

fn endpoints(engine: &Engine, flow: FlowId) -> (String, String) {
    engine
        .flows
        .record(flow)
        .map(|r| (crate::report::addr(r.client), crate::report::addr(r.server)))
        .unwrap_or_default()
}

fn phase(name: &'static str, a: &First, b: &First) -> Option<Phase> {
    (b.ts >= a.ts).then(|| Phase {
        name,
        start: a.ts,
        end: b.ts,
        start_frame: Some(a.frame).filter(|f| *f > 0),
        end_frame: Some(b.frame).filter(|f| *f > 0),
    })
}

fn point(ts: Timestamp, frame: Option<u64>) -> First {
    First { key: String::new(), ts, frame: frame.unwrap_or(0), latency_ms: None }
}

fn frames(list: &[&First]) -> Vec<u64> {
    list.iter().map(|f| f.frame).filter(|f| *f > 0).collect()
}

fn control_rtt(tap: &LabTap, flow: FlowId, protocol: &'static str, what: &str) -> Metric {
    let replies = tap.replies(flow, protocol);
    let n = replies.len();
    match median(replies) {
        Some(m) => Metric::known(
            m,
            format!("median of {n} {what} latencies (request's last packet → reply's first packet)"),
            Vec::new(),
        ),
        None => Metric::unknown(format!("no {what} answered")),
    }
}

/// The jitter of the RTP streams on some flows: the largest mean RFC 3550 jitter.
fn rtp_jitter(report: &Value, flows: &[FlowId]) -> Metric {
    let streams: Vec<&Value> =
        section(report, "rtp").iter().filter(|s| flow_of(s).is_some_and(|f| flows.contains(&f))).collect();
    let worst = streams
        .iter()
        .filter_map(|s| Some((s.get("mean_jitter_ms")?.as_f64()?, s.get("ssrc")?.as_str()?.to_string())))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match worst {
        Some((j, ssrc)) => Metric::known(
            j,
            format!(
                "mean RFC 3550 §6.4.1 interarrival jitter of RTP stream {ssrc} (the worst of {} streams; report section rtp)",
                streams.len()
            ),
            Vec::new(),
        ),
        None => Metric::unknown("no RTP stream with a known clock rate"),
    }
}

fn rtmp(engine: &Engine, report: &Value, tap: &LabTap, out: &mut Vec<Session>) {
    for e in section(report, "rtmp") {
        let Some(flow) = flow_of(e) else { continue };
        let role = e.get("role").and_then(Value::as_str).unwrap_or("unknown");
        let dir = match role {
            "play" => Direction::S2C,
            "publish" => Direction::C2S,
            _ if tap.keyframes(flow, Direction::C2S).is_empty() => Direction::S2C,
            _ => Direction::C2S,
        };
        let f = |k: &str| tap.first(flow, k);
        let mut phases = Vec::new();
        let syn = f("flow.start").filter(|_| f("tcp.handshake").is_some());
        if let (Some(a), Some(b)) = (syn, f("tcp.handshake")) {
            phases.extend(phase("tcp_handshake", a, b));
        }
        if let (Some(a), Some(b)) =
            (f("rtmp.handshake.c0c1"), f("rtmp.handshake.c2").or_else(|| f("rtmp.handshake.s2")))
        {
            phases.extend(phase("rtmp_handshake", a, b));
        }
        if let (Some(a), Some(b)) =
            (f("rtmp.command.connect"), f("rtmp.command._result:connect").or_else(|| f("rtmp.command._error:connect")))
        {
            phases.extend(phase("connect", a, b));
        }
        let (cmd, status) = if dir == Direction::C2S {
            ("rtmp.command.publish", "rtmp.command.onStatus:NetStream.Publish.Start")
        } else {
            ("rtmp.command.play", "rtmp.command.onStatus:NetStream.Play.Start")
        };
        let started = f(status);
        if let (Some(a), Some(b)) = (f(cmd), started) {
            phases.extend(phase(if dir == Direction::C2S { "publish" } else { "play" }, a, b));
        }
        let first_kf = tap.keyframes(flow, dir).first().map(|k| point(k.ts, Some(k.frame)));
        if let (Some(a), Some(b)) = (started.or(f(cmd)), first_kf.as_ref()) {
            phases.extend(phase("first_keyframe", a, b));
        }
        let ttfm = match (syn, first_kf.as_ref()) {
            (Some(a), Some(b)) => Metric::known(
                b.ts.ms_since(a.ts),
                "first video keyframe message (its last packet) − TCP SYN",
                frames(&[a, b]),
            ),
            (None, _) => Metric::unknown("the connection's start (SYN) is not in the capture"),
            (_, None) => Metric::unknown("no video keyframe"),
        };
        let jitter = match tap.video_jitter.get(&(flow, dir)) {
            Some(j) if j.units > 1 => Metric::known(
                j.jitter_ms,
                format!(
                    "RFC 3550 §6.4.1 jitter over {} video messages: J += (|(Rj−Ri) − (Sj−Si)| − J)/16, R = capture time, S = RTMP timestamp",
                    j.units
                ),
                Vec::new(),
            ),
            _ => Metric::unknown("fewer than two video messages"),
        };
        let app = e.get("app").and_then(Value::as_str).unwrap_or("");
        let stream = e.get("stream").and_then(Value::as_str).unwrap_or("");
        let (client, server) = endpoints(engine, flow);
        let start = phases.first().map(|p| p.start).or(f("flow.start").map(|x| x.ts)).unwrap_or_default();
        out.push(Session {
            protocol: "rtmp",
            flow,
            label: format!("{role} {app}/{stream}"),
            client,
            server,
            start,
            phases,
            time_to_first_media: ttfm,
            control_rtt: control_rtt(tap, flow, "rtmp", "RTMP command"),
            delivery_latency: Metric::unknown(if dir == Direction::C2S {
                "an ingest: see the pipeline for what its media became"
            } else {
                "no ingest of this media in the capture"
            }),
            jitter,
            pdt_latency: None,
            group: format!("rtmp:{flow}"),
        });
    }
}

fn rtsp(engine: &Engine, report: &Value, tap: &LabTap, out: &mut Vec<Session>) {
    let entries = section(report, "rtsp");
    let mut flows: Vec<FlowId> = entries.iter().filter_map(flow_of).collect();
    flows.dedup();
    for flow in flows {
        let f = |k: &str| tap.first(flow, k);
        let mut phases = Vec::new();
        for (m, name) in [
            ("OPTIONS", "options"),
            ("DESCRIBE", "describe"),
            ("ANNOUNCE", "announce"),
            ("SETUP", "setup"),
            ("PLAY", "play"),
            ("RECORD", "record"),
        ] {
            if let (Some(a), Some(b)) = (f(&format!("rtsp.request:{m}")), f(&format!("rtsp.response:{m}"))) {
                phases.extend(phase(name, a, b));
            }
        }
        // The media: UDP flows pinned by this connection's sessions, or RTP interleaved on it.
        let sessions: Vec<String> = entries
            .iter()
            .filter(|e| flow_of(e) == Some(flow))
            .filter_map(|e| e.get("session").and_then(Value::as_str).map(|s| format!("rtsp:{s}")))
            .collect();
        let mut media: Vec<FlowId> =
            engine.app.signalled.flow_session.iter().filter(|(_, s)| sessions.contains(s)).map(|(f, _)| *f).collect();
        media.push(flow);
        media.sort_unstable();
        media.dedup();
        let first_rtp = media.iter().filter_map(|m| tap.first(*m, super::tap::MEDIA_KEY)).min_by_key(|x| x.ts);
        // Servers often send the first RTP before the PLAY reply: measure from the request.
        let go = f("rtsp.request:PLAY").or(f("rtsp.request:RECORD"));
        if let (Some(a), Some(b)) = (go, first_rtp) {
            phases.extend(phase("first_rtp", a, b));
        }
        let first_req = tap.first_prefixed(flow, "rtsp.request:");
        let ttfm = match (first_req, first_rtp) {
            (Some(a), Some(b)) if b.ts >= a.ts => {
                Metric::known(b.ts.ms_since(a.ts), "first RTP packet − first RTSP request", frames(&[a, b]))
            }
            _ => Metric::unknown("no RTP after the first RTSP request"),
        };
        let (client, server) = endpoints(engine, flow);
        let label = entries
            .iter()
            .find(|e| flow_of(e) == Some(flow))
            .and_then(|e| e.get("url").and_then(Value::as_str))
            .unwrap_or("")
            .to_string();
        let start = first_req.map(|x| x.ts).or(phases.first().map(|p| p.start)).unwrap_or_default();
        out.push(Session {
            protocol: "rtsp",
            flow,
            label,
            client,
            server,
            start,
            phases,
            time_to_first_media: ttfm,
            control_rtt: control_rtt(tap, flow, "rtsp", "RTSP request"),
            delivery_latency: Metric::unknown("no ingest of this media in the capture"),
            jitter: rtp_jitter(report, &media),
            pdt_latency: None,
            group: format!("rtsp:{flow}"),
        });
    }
}

fn sip(engine: &Engine, report: &Value, tap: &LabTap, out: &mut Vec<Session>) {
    for e in section(report, "sip") {
        let Some(flow) = flow_of(e) else { continue };
        let Some(invite) = e.get("ts").and_then(ts_of) else { continue };
        let inv = point(invite, tap.frame_at(flow, invite));
        let mut phases = Vec::new();
        let setup_ms = e.get("setup_ms").and_then(Value::as_f64);
        let final_at = setup_ms.map(|ms| Timestamp(invite.0 + (ms * 1e6).round() as i64));
        let fin = final_at.map(|t| point(t, tap.frame_at(flow, t)));
        if let Some(b) = &fin {
            phases.extend(phase("call_setup", &inv, b));
        }
        let call = e.get("call_id").and_then(Value::as_str).unwrap_or("");
        let media: Vec<FlowId> =
            engine.app.signalled.flow_session.iter().filter(|(_, s)| s.as_str() == call).map(|(f, _)| *f).collect();
        let first_rtp = media.iter().filter_map(|m| tap.first(*m, super::tap::MEDIA_KEY)).min_by_key(|x| x.ts);
        if let (Some(a), Some(b)) = (&fin, first_rtp) {
            phases.extend(phase("first_media", a, b));
        }
        let ttfm = match first_rtp {
            Some(b) if b.ts >= invite => {
                Metric::known(b.ts.ms_since(invite), "first RTP packet of the call − INVITE", frames(&[&inv, b]))
            }
            _ => Metric::unknown("no RTP bound to the call by its SDP"),
        };
        let trying = tap.first(flow, "sip.response.100").filter(|t| t.ts >= invite);
        let rtt = match trying {
            Some(t) => {
                Metric::known(t.ts.ms_since(invite), "100 Trying − INVITE (hop-by-hop reply)", frames(&[&inv, t]))
            }
            None => Metric::unknown("no 100 Trying (other SIP replies wait for people, not the network)"),
        };
        let (client, server) = endpoints(engine, flow);
        out.push(Session {
            protocol: "sip",
            flow,
            label: call.to_string(),
            client,
            server,
            start: invite,
            phases,
            time_to_first_media: ttfm,
            control_rtt: rtt,
            delivery_latency: Metric::unknown("no ingest of this media in the capture"),
            jitter: rtp_jitter(report, &media),
            pdt_latency: None,
            group: format!("sip:{call}"),
        });
    }
}

fn webrtc(engine: &Engine, report: &Value, tap: &LabTap, out: &mut Vec<Session>) {
    for r in engine.flows.iter() {
        let flow = r.id;
        let f = |k: &str| tap.first(flow, k);
        let check = f("stun.binding.request");
        let media = f(super::tap::MEDIA_KEY);
        let dtls = f("dtls.handshake.client_hello");
        if check.is_none() || (media.is_none() && dtls.is_none()) {
            continue;
        }
        let mut phases = Vec::new();
        let pairs: Vec<&Value> = section(report, "ice").iter().filter(|p| flow_of(p) == Some(flow)).collect();
        let nominated = pairs.iter().filter_map(|p| p.get("nominated_ts").and_then(ts_of)).min();
        let nom = nominated.map(|t| point(t, tap.frame_at(flow, t)));
        if let (Some(a), Some(b)) = (check, nom.as_ref().or(f("stun.binding.success"))) {
            phases.extend(phase(if nom.is_some() { "ice_nomination" } else { "ice_first_check" }, a, b));
        }
        let done = f("dtls.handshake.done");
        if let (Some(a), Some(b)) = (dtls, done) {
            phases.extend(phase("dtls_handshake", a, b));
        }
        if let (Some(a), Some(b)) = (done.or(nom.as_ref()), media) {
            phases.extend(phase("first_media", a, b));
        }
        let first = [check, f("stun.allocate.request")].into_iter().flatten().min_by_key(|x| x.ts);
        let ttfm = match (first, media) {
            (Some(a), Some(b)) if b.ts >= a.ts => Metric::known(
                b.ts.ms_since(a.ts),
                "first (S)RTP packet − first STUN request on the 5-tuple",
                frames(&[a, b]),
            ),
            _ => Metric::unknown("no (S)RTP after the first STUN request"),
        };
        let pair_rtts: Vec<f64> = pairs.iter().filter_map(|p| p.get("rtt_ms").and_then(Value::as_f64)).collect();
        let rtt = match median(pair_rtts.clone()) {
            Some(m) => Metric::known(
                m,
                format!(
                    "median of the ICE pairs' median binding-check RTT ({} pairs; report section ice)",
                    pair_rtts.len()
                ),
                Vec::new(),
            ),
            None => control_rtt(tap, flow, "stun", "STUN transaction"),
        };
        let (client, server) = endpoints(engine, flow);
        let sni = section(report, "dtls")
            .iter()
            .find(|d| flow_of(d) == Some(flow))
            .and_then(|d| d.get("srtp_profile").and_then(Value::as_str))
            .unwrap_or("");
        out.push(Session {
            protocol: "webrtc",
            flow,
            label: if sni.is_empty() { "ICE/DTLS/SRTP".to_string() } else { format!("DTLS-SRTP {sni}") },
            client,
            server,
            start: first.map(|x| x.ts).unwrap_or(r.first_ts),
            phases,
            time_to_first_media: ttfm,
            control_rtt: rtt,
            delivery_latency: Metric::unknown("no ingest of this media in the capture"),
            jitter: rtp_jitter(report, &[flow]),
            pdt_latency: None,
            group: format!("webrtc:{flow}"),
        });
    }
}

/// The HLS/DASH family of an HTTP exchange, given what its player fetched.
fn family(x: &Value, has_playlist: bool, has_manifest: bool) -> Option<&'static str> {
    let kind = x.get("kind").and_then(Value::as_str).unwrap_or("");
    let uri = x.get("uri").and_then(Value::as_str).unwrap_or("");
    let path = uri.split(['?', '#']).next().unwrap_or("");
    match kind {
        "playlist" => Some("hls"),
        "manifest" => Some("dash"),
        "segment" | "init" | "part" => Some(match (has_playlist, has_manifest) {
            (true, false) => "hls",
            (false, true) => "dash",
            _ if path.ends_with(".ts") || path.ends_with(".aac") || path.ends_with(".vtt") => "hls",
            _ if has_manifest => "dash",
            _ => "hls",
        }),
        _ => None,
    }
}

/// A player's key: viewer IP, server endpoint and family.
pub(crate) fn player_key(x: &Value, family: &str) -> String {
    let client = x.get("client").and_then(Value::as_str).unwrap_or("");
    let ip = client.rsplit_once(':').map_or(client, |(ip, _)| ip);
    let server = x.get("server").and_then(Value::as_str).unwrap_or("");
    format!("{family}:{ip}>{server}")
}

/// The HTTP exchanges of the report, each with its flow's endpoints, HLS/DASH family and player
/// key, in request order.
pub(crate) fn exchanges(engine: &Engine, report: &Value) -> Vec<(Value, &'static str, String)> {
    let endpoint = |f: FlowId, server: bool| {
        engine
            .flows
            .record(f)
            .map(|r| Value::from(crate::report::addr(if server { r.server } else { r.client })))
            .unwrap_or(Value::Null)
    };
    let mut xs: Vec<Value> = section(report, "http")
        .iter()
        .filter_map(|x| {
            let f = flow_of(x)?;
            let mut x = x.clone();
            let o = x.as_object_mut()?;
            o.insert("client".into(), endpoint(f, false));
            o.insert("server".into(), endpoint(f, true));
            Some(x)
        })
        .collect();
    xs.sort_by_key(|x| x.get("ts").and_then(crate::report::micros_of).unwrap_or(i64::MAX));
    let base = |x: &Value| player_key(x, "");
    let mut out = Vec::new();
    for x in &xs {
        let key = base(x);
        let same = |k: &str| xs.iter().any(|y| base(y) == key && y.get("kind").and_then(Value::as_str) == Some(k));
        if let Some(fam) = family(x, same("playlist"), same("manifest")) {
            let k = player_key(x, fam);
            out.push((x.clone(), fam, k));
        }
    }
    out
}

/// Media start of a segment, s, on its own clock (first video PTS / video fragment start), and
/// whether it is video.
pub(crate) fn media_start(x: &Value) -> Option<(f64, bool)> {
    let m = x.get("media")?;
    match m.get("container").and_then(Value::as_str)? {
        "mpeg-ts" => {
            let streams = m.get("streams")?.as_array()?;
            let video = |s: &&Value| {
                matches!(
                    s.get("type").and_then(Value::as_str),
                    Some("h264" | "hevc" | "h265" | "mpeg2video" | "mpeg1video")
                )
            };
            if let Some(v) = streams.iter().find(video) {
                return Some((v.get("first_pts_s")?.as_f64()?, true));
            }
            Some((m.get("start_pts_s")?.as_f64()?, false))
        }
        "fmp4" => {
            let frags = m.get("fragments")?.as_array()?;
            let start = |want: Option<&str>| {
                frags
                    .iter()
                    .filter(|f| want.is_none_or(|w| f.get("type").and_then(Value::as_str) == Some(w)))
                    .filter_map(|f| f.get("start_s").and_then(Value::as_f64))
                    .min_by(f64::total_cmp)
            };
            match start(Some("vide")) {
                Some(s) => Some((s, true)),
                None => Some((start(None)?, false)),
            }
        }
        _ => None,
    }
}

fn players(engine: &Engine, report: &Value, tap: &LabTap, out: &mut Vec<Session>) {
    let xs = exchanges(engine, report);
    let mut keys: Vec<&String> = xs.iter().map(|(_, _, k)| k).collect();
    keys.dedup();
    let mut seen = std::collections::HashSet::new();
    for key in keys {
        if !seen.insert(key.clone()) {
            continue;
        }
        let mine: Vec<&(Value, &'static str, String)> = xs.iter().filter(|(_, _, k)| k == key).collect();
        let Some((_, fam, _)) = mine.first() else { continue };
        let fam: &'static str = fam;
        let is_list = |x: &Value| matches!(x.get("kind").and_then(Value::as_str), Some("playlist" | "manifest"));
        // A media segment that was delivered (a 404 for a segment not yet made is not media).
        let is_media = |x: &Value| {
            matches!(x.get("kind").and_then(Value::as_str), Some("segment" | "part"))
                && x.get("status").and_then(Value::as_u64).is_some_and(|s| (200..300).contains(&s))
        };
        let at = |x: &Value, k: &str| {
            let t = x.get(k).and_then(ts_of)?;
            let frame = flow_of(x).and_then(|f| tap.frame_at(f, t));
            Some(point(t, frame))
        };
        let list = mine.iter().map(|(x, _, _)| x).find(|x| is_list(x));
        let segs: Vec<&Value> = mine.iter().map(|(x, _, _)| x).filter(|x| is_media(x)).collect();
        let mut phases = Vec::new();
        let req = list.and_then(|x| at(x, "ts"));
        let first_byte = list.and_then(|x| at(x, "response_start_ts"));
        let list_done = list.and_then(|x| at(x, "response_end_ts"));
        if let (Some(a), Some(b)) = (&req, &first_byte) {
            phases.extend(phase(if fam == "hls" { "playlist_ttfb" } else { "manifest_ttfb" }, a, b));
        }
        if let (Some(a), Some(b)) = (&first_byte, &list_done) {
            phases.extend(phase(if fam == "hls" { "playlist_download" } else { "manifest_download" }, a, b));
        }
        let first_seg = segs.first().and_then(|x| at(x, "response_end_ts"));
        let last_seg = segs.last().and_then(|x| at(x, "response_end_ts"));
        if let (Some(a), Some(b)) = (&list_done, &first_seg) {
            phases.extend(phase("first_segment", a, b));
        }
        if let (Some(a), Some(b)) = (&first_seg, &last_seg) {
            if segs.len() > 1 {
                phases.extend(phase("steady_state", a, b));
            }
        }
        let ttfm = match (&req, &first_seg) {
            (Some(a), Some(b)) if b.ts >= a.ts => Metric::known(
                b.ts.ms_since(a.ts),
                "first media segment's last byte − first playlist/manifest request",
                frames(&[a, b]),
            ),
            _ => Metric::unknown("no media segment after a playlist/manifest request"),
        };
        let ttfbs: Vec<f64> = mine
            .iter()
            .map(|(x, _, _)| x)
            .filter(|x| is_list(x))
            .filter_map(|x| x.get("ttfb_ms").and_then(Value::as_f64))
            .collect();
        let n = ttfbs.len();
        let rtt = match median(ttfbs) {
            Some(m) => Metric::known(
                m,
                format!("median TTFB of {n} playlist/manifest fetches (request's last byte → response's first byte)"),
                Vec::new(),
            ),
            None => Metric::unknown("no playlist/manifest answered"),
        };
        let mut j = super::tap::Jitter::default();
        for x in &segs {
            if let (Some(t), Some((m, _))) = (x.get("response_end_ts").and_then(ts_of), media_start(x)) {
                j.add(t, m * 1000.0);
            }
        }
        let jitter = if j.units > 1 {
            Metric::known(
                j.jitter_ms,
                format!(
                    "RFC 3550 §6.4.1 jitter over {} segments: arrival = response's last byte, media time = first PTS / tfdt",
                    j.units
                ),
                Vec::new(),
            )
        } else {
            Metric::unknown("fewer than two segments with a known media time")
        };
        let client_ip = key.split_once(':').map(|(_, r)| r.split('>').next().unwrap_or("")).unwrap_or("");
        let pdt = pdt_latency(report, client_ip);
        let first = mine.first().map(|(x, _, _)| x);
        let label = list.or(first).and_then(|x| x.get("uri").and_then(Value::as_str)).unwrap_or("").to_string();
        let flow = first.map_or(0, |x| flow_of(x).unwrap_or(0));
        let client = first.and_then(|x| x.get("client").and_then(Value::as_str)).unwrap_or("").to_string();
        let server = first.and_then(|x| x.get("server").and_then(Value::as_str)).unwrap_or("").to_string();
        let start = req.as_ref().map(|r| r.ts).or(first.and_then(|x| x.get("ts").and_then(ts_of))).unwrap_or_default();
        let delivery = match &pdt {
            Some(p) => p.clone(),
            None => Metric::unknown("no ingest of these segments in the capture and no PROGRAM-DATE-TIME"),
        };
        out.push(Session {
            protocol: fam,
            flow,
            label,
            client,
            server,
            start,
            phases,
            time_to_first_media: ttfm,
            control_rtt: rtt,
            delivery_latency: delivery,
            jitter,
            pdt_latency: pdt,
            group: key.clone(),
        });
    }
}

/// Median live latency from EXT-X-PROGRAM-DATE-TIME (report section `hls_players`).
fn pdt_latency(report: &Value, client_ip: &str) -> Option<Metric> {
    let players = section(report, "hls_players");
    // Every player at that address (players behind one address differ by User-Agent).
    let v: Vec<f64> = players
        .iter()
        .filter(|p| p.get("client").and_then(Value::as_str) == Some(client_ip))
        .filter_map(|p| p.get("segments").and_then(Value::as_array))
        .flatten()
        .filter_map(|s| s.get("live_latency_ms").and_then(Value::as_f64))
        .collect();
    let n = v.len();
    let m = median(v)?;
    Some(Metric::known(
        m,
        format!("median over {n} segments of (segment's last byte − end of its media time by EXT-X-PROGRAM-DATE-TIME)"),
        Vec::new(),
    ))
}

fn handshakes(engine: &Engine, report: &Value, tap: &LabTap, out: &mut Vec<Session>) {
    for (sec, proto, hello, done) in [
        ("tls", "tls", "tls.handshake.client_hello", "tls.handshake.done"),
        ("quic", "quic", "quic.client_hello", "quic.handshake.done"),
    ] {
        for e in section(report, sec) {
            let Some(flow) = flow_of(e) else { continue };
            let (Some(a), b) = (tap.first(flow, hello).or(tap.first(flow, "quic.initial")), tap.first(flow, done))
            else {
                continue;
            };
            let phases: Vec<Phase> = b.and_then(|b| phase("handshake", a, b)).into_iter().collect();
            let rtt = match engine.flows.record(flow).and_then(|r| r.tcp).and_then(|t| t.handshake_rtt_ms) {
                Some(ms) => Metric::known(ms, "TCP handshake RTT (SYN → ACK, tcp.analysis.initial_rtt)", Vec::new()),
                None if proto == "quic" => match b {
                    Some(b) => Metric::known(
                        b.ts.ms_since(a.ts),
                        "QUIC handshake (first Initial → handshake done): one round trip plus the server's work",
                        frames(&[a, b]),
                    ),
                    None => Metric::unknown("handshake not completed in the capture"),
                },
                None => Metric::unknown("the TCP handshake is not in the capture"),
            };
            let (client, server) = endpoints(engine, flow);
            let label = e.get("sni").and_then(Value::as_str).unwrap_or("").to_string();
            out.push(Session {
                protocol: proto,
                flow,
                label,
                client,
                server,
                start: a.ts,
                phases,
                time_to_first_media: Metric::unknown("a transport, not a media protocol"),
                control_rtt: rtt,
                delivery_latency: Metric::unknown("a transport, not a media protocol"),
                jitter: Metric::unknown("a transport, not a media protocol"),
                pdt_latency: None,
                group: format!("{proto}:{flow}"),
            });
        }
    }
}
