//! RTMP (Adobe RTMP specification 1.0): handshake (§5.2), chunk stream (§5.3), protocol
//! control and user control messages (§5.4, §7.1.7), AMF0 commands and data (§7.1, §7.2) and
//! FLV audio/video payloads, summarised per connection (report section `rtmp`).

pub mod amf0;
pub mod chunk;
pub mod flv;
pub mod session;

use super::{Ctx, Over, Probe, ProbeInput, Progress, ProtocolSpec, StreamDissector, StreamStart};
use crate::flow::{Direction, FlowId, PerDir};
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use chunk::{ChunkReader, Note};
use session::Session;

/// C0 + C1 length (1 + 1536), also S0 + S1.
const C0C1: usize = 1537;
/// Each side's handshake: C0 + C1 + C2 (or S0 + S1 + S2).
const HANDSHAKE: usize = 1 + 2 * 1536;

/// Registry entry.
pub const SPEC: ProtocolSpec = ProtocolSpec {
    name: "rtmp",
    over: Over::Tcp,
    ports: &[1935],
    probe,
    stream: Some(new_dissector),
    datagram: None,
    section: "rtmp",
};

fn new_dissector(start: StreamStart) -> Box<dyn StreamDissector> {
    Box::new(RtmpDissector::new(start))
}

pub(crate) use super::{be16, be32};

pub(crate) fn be24(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([0, *b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?]))
}

/// The client's first flight is C0+C1 (1537 bytes) and starts with version 3 or 6; the
/// server answers S0 with the same version. RDP/TPKT also start with 3 but send far less
/// before the server answers, which tells them apart.
pub fn probe(p: &ProbeInput<'_>) -> Probe {
    if p.udp {
        return Probe::NoMatch;
    }
    let (client, server) = match p.dir {
        Direction::C2S => (p.data, p.other),
        Direction::S2C => (p.other, p.data),
    };
    match client.first() {
        None => {
            // Only server bytes: S0+S1+S2 = 3073 bytes starting with 3.
            if server.len() >= HANDSHAKE && matches!(server.first(), Some(3)) {
                Probe::Match
            } else if server.is_empty() || (matches!(server.first(), Some(3)) && server.len() < HANDSHAKE) {
                Probe::NeedMore
            } else {
                Probe::NoMatch
            }
        }
        Some(3) | Some(6) => {
            if client.len() >= C0C1 {
                if server.first().is_none_or(|&v| v == 3 || v == 6) {
                    Probe::Match
                } else {
                    Probe::NoMatch
                }
            } else if server.is_empty() {
                Probe::NeedMore
            } else {
                Probe::NoMatch
            }
        }
        Some(_) => Probe::NoMatch,
    }
}

/// One direction: handshake bytes first (unless joined mid-way), then chunks.
#[derive(Debug)]
struct Side {
    /// Handshake bytes still expected.
    handshake_left: usize,
    /// The handshake bytes kept for the echo checks (at most 3073).
    hs: Vec<u8>,
    reader: ChunkReader,
    encrypted: bool,
}

/// The RTMP dissector of one TCP connection.
pub struct RtmpDissector {
    sides: PerDir<Side>,
    session: Session,
}

impl RtmpDissector {
    /// A dissector for a connection seen from its start, or joined mid-way.
    pub fn new(start: StreamStart) -> Self {
        let side = || match start {
            StreamStart::Beginning => Side {
                handshake_left: HANDSHAKE,
                hs: Vec::with_capacity(HANDSHAKE),
                reader: ChunkReader::new(),
                encrypted: false,
            },
            StreamStart::MidStream => {
                Side { handshake_left: 0, hs: Vec::new(), reader: ChunkReader::mid_stream(), encrypted: false }
            }
        };
        RtmpDissector { sides: PerDir::new(side(), side()), session: Session::default() }
    }

    fn handshake_bytes(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) -> usize {
        let side = &mut self.sides[dir];
        let n = side.handshake_left.min(data.len());
        let before = side.hs.len();
        side.hs.extend_from_slice(data.get(..n).unwrap_or(&[]));
        side.handshake_left -= n;
        let after = side.hs.len();
        let hs = &mut self.session.handshake;
        if before == 0 && n > 0 {
            let v = side.hs.first().copied();
            match dir {
                Direction::C2S => {
                    hs.c0_version = v;
                    hs.c0_ts = Some(ts);
                }
                Direction::S2C => {
                    hs.s0_version = v;
                    hs.s0_ts = Some(ts);
                    if let (Some(s0), Some(c0)) = (hs.s0_ts, hs.c0_ts) {
                        ctx.latency.add("rtmp", "handshake_ms", s0.ms_since(c0));
                    }
                }
            }
            if v == Some(6) {
                side.encrypted = true;
                ctx.anomaly("rtmp", ts, Some(dir), "RTMPE (version 6): the session is encrypted".into());
            } else if v != Some(3) {
                ctx.anomaly("rtmp", ts, Some(dir), format!("unexpected RTMP version {}", v.unwrap_or(0)));
            }
        }
        let first_done = before < C0C1 && after >= C0C1;
        let all_done = before < HANDSHAKE && after >= HANDSHAKE;
        if first_done {
            let time = be32(&side.hs, 1);
            let zero = be32(&side.hs, 5);
            let (name, field) = match dir {
                Direction::C2S => {
                    hs.c1_time = time;
                    hs.kind = Some(if zero.unwrap_or(0) == 0 { "simple" } else { "digest" });
                    ("rtmp.handshake.c0c1", "c1_time")
                }
                Direction::S2C => {
                    hs.s1_time = time;
                    ("rtmp.handshake.s0s1", "s1_time")
                }
            };
            let mut ev = Event::new(ts, Some(ctx.flow), "rtmp", name, Some(dir))
                .with("version", FieldValue::U64(u64::from(side.hs.first().copied().unwrap_or(0))))
                .with(field, FieldValue::U64(u64::from(time.unwrap_or(0))));
            if dir == Direction::C2S {
                ev = ev.with("kind", FieldValue::Str(hs.kind.unwrap_or("simple").into()));
            } else if let (Some(s0), Some(c0)) = (hs.s0_ts, hs.c0_ts) {
                ev = ev.latency(s0.ms_since(c0));
            }
            ctx.emit(ev);
        }
        if all_done {
            let name = if dir == Direction::C2S { "rtmp.handshake.c2" } else { "rtmp.handshake.s2" };
            ctx.emit(Event::new(ts, Some(ctx.flow), "rtmp", name, Some(dir)));
            self.check_echo(ctx, ts);
        }
        n
    }

    /// In the simple handshake C2 echoes S1 and S2 echoes C1 (§5.2.4): both random fields.
    fn check_echo(&mut self, ctx: &mut Ctx<'_>, ts: Timestamp) {
        let (c, s) = (&self.sides.c2s.hs, &self.sides.s2c.hs);
        if c.len() < HANDSHAKE || s.len() < HANDSHAKE || self.session.handshake.kind != Some("simple") {
            return;
        }
        let rnd = |b: &Vec<u8>, at: usize| b.get(at + 8..at + 1536).map(<[u8]>::to_vec);
        let c2_echoes_s1 = rnd(c, C0C1) == rnd(s, 1);
        let s2_echoes_c1 = rnd(s, C0C1) == rnd(c, 1);
        let ok = c2_echoes_s1 && s2_echoes_c1;
        self.session.handshake.echo_ok = Some(ok);
        if !ok {
            ctx.anomaly("rtmp", ts, None, "handshake: C2/S2 do not echo S1/C1".into());
        }
    }
}

impl StreamDissector for RtmpDissector {
    fn on_data(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) -> Progress {
        let mut used = 0;
        if self.sides[dir].handshake_left > 0 {
            used = self.handshake_bytes(ctx, dir, data, ts);
            if self.sides[dir].handshake_left > 0 {
                return Progress::Done;
            }
        }
        if self.sides[dir].encrypted {
            return Progress::Done;
        }
        let rest = data.get(used..).unwrap_or(&[]);
        let session = &mut self.session;
        let side = &mut self.sides[dir];
        let before = side.reader.stats.chunks;
        let mut notes = Vec::new();
        let fed = side.reader.feed(rest, ts, &mut |m| session.on_message(ctx, dir, m), &mut |n| notes.push(n));
        let _ = before;
        session.sent[dir] += fed.consumed as u64;
        for n in notes {
            match n {
                Note::Anomaly(what) => ctx.anomaly("rtmp", ts, Some(dir), what),
                Note::Resynced { skipped, chunk_size } => ctx.emit(
                    Event::new(ts, Some(ctx.flow), "rtmp", "rtmp.resync", Some(dir))
                        .with("skipped", FieldValue::U64(skipped))
                        .with("chunk_size", FieldValue::U64(chunk_size as u64)),
                ),
            }
        }
        if fed.needed > 0 {
            Progress::NeedMore { consumed: used + fed.consumed, needed: fed.needed }
        } else {
            Progress::Done
        }
    }

    fn on_gap(&mut self, ctx: &mut Ctx<'_>, dir: Direction, len: u64) {
        let side = &mut self.sides[dir];
        if side.handshake_left > 0 {
            let skip = (len.min(side.handshake_left as u64)) as usize;
            side.handshake_left -= skip;
            side.hs.clear();
        }
        side.reader.gap();
        self.session.sent[dir] += len;
        let _ = ctx;
    }

    fn report(&self, flow: FlowId, show_secrets: bool) -> Vec<serde_json::Value> {
        let stats = serde_json::json!({
            "c2s": self.sides.c2s.reader.stats,
            "s2c": self.sides.s2c.reader.stats,
        });
        vec![self.session.report(flow, show_secrets, stats)]
    }

    fn headline(&self) -> Option<String> {
        Some(format!("{} {}", self.session.role(), self.session.handshake.kind.unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(c: &'a [u8], s: &'a [u8]) -> ProbeInput<'a> {
        ProbeInput { dir: Direction::C2S, data: c, other: s, prev: None, udp: false }
    }

    #[test]
    fn c0c1_matches_tpkt_does_not() {
        let mut c = vec![3u8];
        c.extend_from_slice(&[0; 1536]);
        assert_eq!(probe(&input(&c, &[])), Probe::Match);
        assert_eq!(probe(&input(&c[..100], &[])), Probe::NeedMore);
        let tpkt = [3u8, 0, 0, 19, 14, 224, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0];
        assert_eq!(probe(&input(&tpkt, &[3, 0, 0, 19])), Probe::NoMatch);
        assert_eq!(probe(&input(b"GET / HTTP/1.1\r\n", &[])), Probe::NoMatch);
    }
}
