//! RTP and RTCP (RFC 3550): detection on any UDP port without signalling (§5.1, §6.4,
//! RFC 5761 §4 payload type ranges), per-stream statistics (loss, duplicates, reordering,
//! jitter, bitrate) and RTCP reports with round-trip times from LSR/DLSR (§6.4.1).
//! Report sections `rtp` and `rtcp`.

pub mod rtcp;
pub mod sightings;
pub mod stats;

use super::srtp::{MasterKey, SrtpState, Verdict};
use super::{be16, be32, Ctx, DatagramDissector, Over, Probe, ProbeInput, ProtocolSpec};
use crate::flow::{Direction, FlowId};
use crate::report::json_ms;
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};
use stats::StreamStats;
use std::collections::BTreeMap;

/// Streams tracked per flow (SSRCs beyond are counted, not analysed).
const MAX_STREAMS: usize = 64;
/// Sender reports remembered per flow for round-trip times.
const MAX_SRS: usize = 512;
/// RTT samples and report blocks kept per flow.
const MAX_SAMPLES: usize = 4096;

/// Registry entry for RTP.
pub const RTP_SPEC: ProtocolSpec = ProtocolSpec {
    name: "rtp",
    over: Over::Udp,
    ports: &[5004],
    probe: probe_rtp,
    stream: None,
    datagram: Some(new_dissector),
    section: "rtp",
};

/// Registry entry for RTCP.
pub const RTCP_SPEC: ProtocolSpec = ProtocolSpec {
    name: "rtcp",
    over: Over::Udp,
    ports: &[5005],
    probe: probe_rtcp,
    stream: None,
    datagram: Some(new_dissector),
    section: "rtcp",
};

fn new_dissector() -> Box<dyn DatagramDissector> {
    Box::new(RtpDissector::default())
}

/// The fixed RTP header: version 2, a payload type outside the RTCP range (RFC 5761 §4), and
/// room for the CSRC list.
fn rtp_header(d: &[u8]) -> Option<(u16, u32, u32)> {
    let b0 = *d.first()?;
    let b1 = *d.get(1)?;
    if b0 >> 6 != 2 || d.len() < 12 + 4 * usize::from(b0 & 0x0f) {
        return None;
    }
    let pt = b1 & 0x7f;
    if (72..=76).contains(&pt) {
        return None;
    }
    Some((be16(d, 2)?, be32(d, 4)?, be32(d, 8)?))
}

/// RTP needs two datagrams to be believed: the same SSRC with a sequence number a little
/// ahead and a timestamp that did not go far back.
pub fn probe_rtp(p: &ProbeInput<'_>) -> Probe {
    if !p.udp {
        return Probe::NoMatch;
    }
    let Some((seq, _ts, ssrc)) = rtp_header(p.data) else {
        return Probe::NoMatch;
    };
    let Some(prev) = p.prev else {
        return Probe::NeedMore;
    };
    let Some((pseq, _pts, pssrc)) = rtp_header(prev) else {
        return Probe::NeedMore;
    };
    let same_pt = p.data.get(1).map(|b| b & 0x7f) == prev.get(1).map(|b| b & 0x7f);
    let delta = seq.wrapping_sub(pseq);
    if ssrc == pssrc && (1..=32).contains(&delta) && (same_pt || delta <= 4) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// A compound RTCP packet: every sub-packet is version 2 with a type in 192–223 and the
/// lengths add up to the datagram exactly (RFC 3550 §6.1); the first is SR, RR, or (reduced
/// size, RFC 5506) any RTCP type.
pub fn probe_rtcp(p: &ProbeInput<'_>) -> Probe {
    if !p.udp {
        return Probe::NoMatch;
    }
    let d = p.data;
    let mut off = 0usize;
    let mut n = 0;
    while off < d.len() {
        let (Some(&b0), Some(&pt), Some(words)) = (d.get(off), d.get(off + 1), be16(d, off + 2)) else {
            return Probe::NoMatch;
        };
        if b0 >> 6 != 2 || !(192..=223).contains(&pt) || (n == 0 && !(200..=207).contains(&pt)) {
            return Probe::NoMatch;
        }
        off += (usize::from(words) + 1) * 4;
        n += 1;
    }
    if off == d.len() && n > 0 {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// Whether a datagram is RTCP rather than RTP when both share a port (RFC 5761 §4: RTCP
/// packet types 192–223 fall in RTP payload types 64–95 with the marker bit).
pub fn is_rtcp(d: &[u8]) -> bool {
    matches!(d.get(1), Some(192..=223)) && d.first().is_some_and(|b| b >> 6 == 2)
}

/// The parts of an RTP packet the statistics need (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Payload length (after CSRCs, header extension and padding).
    pub payload_len: usize,
    /// Header extension profile (0xBEDE one-byte, 0x100x two-byte, RFC 8285), if any.
    pub extension: Option<u16>,
}

/// Parses an RTP header, with CSRC list, header extension (§5.3.1) and padding.
pub fn parse_rtp(d: &[u8]) -> Option<RtpHeader> {
    let b0 = *d.first()?;
    let b1 = *d.get(1)?;
    if b0 >> 6 != 2 {
        return None;
    }
    let mut off = 12 + 4 * usize::from(b0 & 0x0f);
    let mut extension = None;
    if b0 & 0x10 != 0 {
        let profile = be16(d, off)?;
        let words = usize::from(be16(d, off + 2)?);
        extension = Some(profile);
        off += 4 + 4 * words;
    }
    let pad = if b0 & 0x20 != 0 { usize::from(*d.last()?) } else { 0 };
    let payload_len = d.len().checked_sub(off)?.checked_sub(pad)?;
    Some(RtpHeader {
        marker: b1 & 0x80 != 0,
        pt: b1 & 0x7f,
        seq: be16(d, 2)?,
        ts: be32(d, 4)?,
        ssrc: be32(d, 8)?,
        payload_len,
        extension,
    })
}

#[derive(Default)]
struct RtcpState {
    counts: BTreeMap<&'static str, u64>,
    packets: u64,
    malformed: u64,
    /// SR NTP middle 32 bits → capture time, for LSR matching.
    srs: BTreeMap<u32, Timestamp>,
    rtt_ms: Vec<f64>,
    blocks: BTreeMap<(u32, u32), Value>,
}

/// The RTP/RTCP dissector of one UDP flow (or of the channels interleaved in an RTSP
/// connection).
#[derive(Default)]
pub struct RtpDissector {
    streams: Vec<(Direction, StreamStats)>,
    /// Interleaved channel of each stream (RTSP `$` framing), by stream index.
    channels: Vec<Option<u8>>,
    current_channel: Option<u8>,
    /// Payload type → (encoding, clock rate) from SDP rtpmap lines.
    hints: Vec<(u8, String, u32)>,
    streams_over_cap: u64,
    not_rtp: u64,
    rtcp: Option<RtcpState>,
    /// SRTP decryption, once signalling, DTLS-SRTP or a `--srtp-key` applies to the flow.
    srtp: Option<Box<SrtpState>>,
    signalling_checked: bool,
    /// Reused buffer for decrypted packets (no allocation per packet).
    plain: Vec<u8>,
}

impl RtpDissector {
    fn rtp(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp) {
        let Some(h) = parse_rtp(d) else {
            self.not_rtp += 1;
            return;
        };
        if let Some(seen) = ctx.signalled.rtp_sightings.as_mut() {
            let at = sightings::Sighting { flow: ctx.flow, dir, ts, frame: ctx.timeline.frame };
            seen.see(h.ssrc, h.seq, h.marker, at);
        }
        let idx = self.streams.iter().position(|(sd, s)| *sd == dir && s.ssrc == h.ssrc);
        let idx = match idx {
            Some(i) => i,
            None if self.streams.len() < MAX_STREAMS => {
                // The clock rate: signalling's (SDP rtpmap) first, then the static table.
                let signalled = ctx.signalled.for_flow(ctx.client, ctx.server);
                // Only for a payload type the SDP lists (ffmpeg's hole-punching packets use PT 0).
                let hinted = self.hints.iter().find(|(p, _, _)| *p == h.pt).map(|(_, e, r)| (Some(e.clone()), *r));
                let from_sdp = hinted.or_else(|| {
                    signalled
                        .and_then(|b| b.codecs.iter().find(|(p, _, _)| *p == h.pt))
                        .map(|(_, e, r)| (Some(e.clone()), *r))
                });
                let (encoding, rate) = match from_sdp {
                    Some((e, r)) => (e, Some(r)),
                    None => (None, stats::static_payload(h.pt).map(|(_, r)| r)),
                };
                let mut st = StreamStats::new(h.ssrc, h.seq, h.ts, ts, rate);
                st.encoding = encoding.or_else(|| stats::static_payload(h.pt).map(|(n, _)| n.to_string()));
                self.streams.push((dir, st));
                self.channels.push(self.current_channel);
                ctx.emit(
                    Event::new(ts, Some(ctx.flow), "rtp", "rtp.stream.start", Some(dir))
                        .with("ssrc", FieldValue::Str(format!("0x{:08x}", h.ssrc)))
                        .with("payload_type", FieldValue::U64(u64::from(h.pt)))
                        .with("payload_bytes", FieldValue::U64(h.payload_len as u64)),
                );
                self.streams.len() - 1
            }
            None => {
                self.streams_over_cap += 1;
                return;
            }
        };
        if let Some((_, s)) = self.streams.get_mut(idx) {
            s.add(h.seq, h.ts, h.pt, h.marker, h.payload_len, ts);
        }
    }

    fn rtcp(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp) {
        let st = self.rtcp.get_or_insert_with(RtcpState::default);
        st.packets += 1;
        let (pkts, ok) = rtcp::parse(d);
        if !ok {
            st.malformed += 1;
        }
        for p in &pkts {
            *st.counts.entry(p.kind()).or_insert(0) += 1;
            let (reporter, blocks) = match p {
                rtcp::Rtcp::Sr { ssrc, ntp, blocks, .. } => {
                    if st.srs.len() >= MAX_SRS {
                        st.srs.pop_first();
                    }
                    st.srs.insert((ntp >> 16) as u32, ts);
                    (*ssrc, blocks.as_slice())
                }
                rtcp::Rtcp::Rr { ssrc, blocks } => (*ssrc, blocks.as_slice()),
                _ => continue,
            };
            for b in blocks {
                // §6.4.1: RTT = arrival of this report − LSR − DLSR, matched to the SR the
                // capture saw.
                let mut rtt = None;
                if b.lsr != 0 {
                    if let Some(sr_ts) = st.srs.get(&b.lsr) {
                        let ms = ts.ms_since(*sr_ts) - f64::from(b.dlsr) / 65.536;
                        rtt = Some(ms);
                        if st.rtt_ms.len() < MAX_SAMPLES {
                            st.rtt_ms.push(ms);
                        }
                        ctx.latency.add("rtcp", "rtt_ms", ms);
                    }
                }
                if st.blocks.len() < MAX_SAMPLES || st.blocks.contains_key(&(reporter, b.ssrc)) {
                    st.blocks.insert(
                        (reporter, b.ssrc),
                        json!({
                            "reporter": format!("0x{reporter:08x}"), "ssrc": format!("0x{:08x}", b.ssrc),
                            "fraction_lost": f64::from(b.fraction_lost) / 256.0, "cumulative_lost": b.cumulative_lost,
                            "highest_seq": b.highest_seq, "jitter": b.jitter, "dir": dir.as_str(),
                        }),
                    );
                }
                let mut ev = Event::new(ts, Some(ctx.flow), "rtcp", format!("rtcp.{}", p.kind()), Some(dir))
                    .with("ssrc", FieldValue::Str(format!("0x{:08x}", b.ssrc)))
                    .with("fraction_lost", FieldValue::U64(u64::from(b.fraction_lost)))
                    .with("cumulative_lost", FieldValue::I64(i64::from(b.cumulative_lost)));
                ev.latency_ms = rtt;
                ctx.emit(ev);
            }
        }
    }
}

impl RtpDissector {
    /// Tells the dissector a payload type's encoding and clock rate (from SDP).
    pub fn hint(&mut self, pt: u8, encoding: String, clock_rate: u32) {
        self.hints.retain(|(p, _, _)| *p != pt);
        if self.hints.len() < 128 {
            self.hints.push((pt, encoding, clock_rate));
        }
    }

    fn srtp_state(&mut self) -> &mut SrtpState {
        self.srtp.get_or_insert_with(Box::default)
    }

    /// Marks the flow as carrying SRTP (DTLS-SRTP negotiated a profile): its streams are
    /// reported as SRTP even without keys.
    pub fn set_srtp_hint(&mut self) {
        self.srtp_state().hinted = true;
    }

    /// Installs the SRTP master keys a DTLS-SRTP handshake exported (RFC 5764 §4.2):
    /// `client` protects what the DTLS client sends in `client_dir`, `server` the rest.
    pub fn set_dtls_keys(&mut self, client_dir: Direction, client: MasterKey, server: MasterKey) {
        self.srtp_state().set_dtls_keys(client_dir, client, server);
    }

    /// One packet from an RTSP interleaved channel.
    pub fn on_channel(&mut self, ctx: &mut Ctx<'_>, dir: Direction, channel: u8, data: &[u8], ts: Timestamp) {
        self.current_channel = Some(channel);
        self.on_datagram(ctx, dir, data, ts);
        self.current_channel = None;
    }
}

impl DatagramDissector for RtpDissector {
    fn on_datagram(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) {
        let rtcp = is_rtcp(data);
        if !self.signalling_checked {
            // Signalling precedes the media it announces: look once.
            self.signalling_checked = true;
            let secure = ctx.signalled.for_flow(ctx.client, ctx.server).is_some_and(|b| b.secure);
            if secure {
                self.set_srtp_hint();
            }
        }
        if self.srtp.is_none() && !ctx.srtp_keys.is_empty() {
            self.srtp_state();
        }
        let mut plain = std::mem::take(&mut self.plain);
        let verdict = match self.srtp.as_mut() {
            Some(s) => s.unprotect(ctx, dir, data, rtcp, ts, &mut plain),
            None => Verdict::NoKey,
        };
        let d = if verdict == Verdict::Decrypted { plain.as_slice() } else { data };
        if rtcp {
            self.rtcp(ctx, dir, d, ts);
        } else {
            self.rtp(ctx, dir, d, ts);
        }
        self.plain = plain;
    }

    fn extra_reports(&self, flow: FlowId, _show: bool) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        for (i, (dir, s)) in self.streams.iter().enumerate() {
            let jitter = s.jitter_ms();
            let channel = self.channels.get(i).copied().flatten();
            let encoding = s.encoding.clone();
            let srtp = self.srtp.as_ref().map(|st| st.counts(*dir, s.ssrc, false)).unwrap_or_default();
            let mut entry = json!({
                    "flow": flow,
                    "dir": dir.as_str(),
                    "ssrc": format!("0x{:08x}", s.ssrc),
                    "payload_type": s.payload_type,
                    "encoding": encoding,
                    "clock_rate": s.clock_rate(),
                    "clock_rate_from": if s.known_rate.is_some() { "signalling or payload type" } else { "timestamps" },
                    "srtp": srtp.srtp,
                    "packets": s.packets,
                    "lost": s.lost(),
                    "expected": s.expected(),
                    "duplicates": s.duplicates,
                    "out_of_order": s.out_of_order,
                    "first_seq": s.first_seq,
                    "last_seq": s.last_seq(),
                    "max_delta_ms": (s.packets > 1).then(|| json_ms(s.max_delta_ms)),
                    "max_jitter_ms": jitter.map(|j| json_ms(j.0)),
                    "mean_jitter_ms": jitter.map(|j| json_ms(j.1)),
                    "frames": s.markers,
                    "payload_bytes": s.payload_bytes,
                    "bitrate_kbps": s.bitrate_kbps().map(json_ms),
                    "interleaved_channel": channel,
                    "series": s.series_json(),
            });
            if let (true, Some(o)) = (srtp.srtp, entry.as_object_mut()) {
                o.insert("decrypted".into(), json!(srtp.decrypted));
                o.insert("auth_failures".into(), json!(srtp.auth_failures));
                o.insert("key_source".into(), json!(srtp.key_source));
            }
            out.push(("rtp", entry));
        }
        if let Some(st) = &self.rtcp {
            let srtcp = self.srtp.as_ref().map(|s| s.rtcp_counts()).unwrap_or_default();
            let mut entry = json!({
                    "flow": flow,
                    "srtcp": srtcp.srtp,
                    "packets": st.packets,
                    "malformed": st.malformed,
                    "counts": st.counts,
                    "rtt_ms": st.rtt_ms.iter().map(|v| json_ms(*v)).collect::<Vec<_>>(),
                    "report_blocks": st.blocks.values().collect::<Vec<_>>(),
            });
            if let (true, Some(o)) = (srtcp.srtp, entry.as_object_mut()) {
                o.insert("decrypted".into(), json!(srtcp.decrypted));
                o.insert("auth_failures".into(), json!(srtcp.auth_failures));
                o.insert("key_source".into(), json!(srtcp.key_source));
            }
            out.push(("rtcp", entry));
        }
        out
    }

    fn headline(&self) -> Option<String> {
        self.streams.first().map(|(_, s)| format!("ssrc 0x{:08x} pt {}", s.ssrc, s.payload_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Direction;

    fn rtp(seq: u16) -> Vec<u8> {
        let mut v = vec![0x80, 0x00];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        v.extend_from_slice(&0xdeadbeefu32.to_be_bytes());
        v.extend_from_slice(&[0xff; 160]);
        v
    }

    #[test]
    fn two_packets_make_rtp() {
        let (a, b) = (rtp(10), rtp(11));
        let first = ProbeInput { dir: Direction::C2S, data: &a, other: &[], prev: None, udp: true };
        assert_eq!(probe_rtp(&first), Probe::NeedMore);
        let second = ProbeInput { dir: Direction::C2S, data: &b, other: &[], prev: Some(&a), udp: true };
        assert_eq!(probe_rtp(&second), Probe::Match);
        assert_eq!(probe_rtcp(&second), Probe::NoMatch);
    }

    #[test]
    fn compound_rtcp() {
        // RR with no report blocks (1 word + header) followed by an empty SDES.
        let d = [0x80, 201, 0, 1, 0, 0, 0, 1, 0x80, 202, 0, 0];
        let p = ProbeInput { dir: Direction::C2S, data: &d, other: &[], prev: None, udp: true };
        assert_eq!(probe_rtcp(&p), Probe::Match);
        assert_eq!(probe_rtp(&p), Probe::NoMatch);
    }
}
