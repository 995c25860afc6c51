//! The SRTP state of one flow: a cryptographic context per SSRC and direction (RFC 3711
//! §3.2.3), each bound to the master key that first authenticated one of its packets, with
//! its rollover counter (§3.3.1), and the counts the report shows. Master keys come, in
//! this order, from the flow's DTLS-SRTP handshake, from `--srtp-key` (most specific
//! selector first) and from SDP `a=crypto` lines bound to the sender's then the receiver's
//! port; a stream tries them until one authenticates.

use super::cipher::Transform;
use super::MasterKey;
use crate::dissect::{be16, be32, Ctx};
use crate::flow::{Direction, PerDir};
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};

/// Master keys (with their derived session keys) kept per flow.
const MAX_KEYS: usize = 16;
/// Streams (SSRC, direction, SRTP or SRTCP) tracked per flow.
const MAX_STREAMS: usize = 256;
/// Candidate keys tried on a packet of a stream not yet keyed.
const MAX_CANDIDATES: usize = 8;
/// Packets of a stream nothing says is SRTP on which `any` keys are tried before the stream
/// is taken for plain RTP.
const TENTATIVE_PACKETS: u64 = 16;

/// Where a stream's key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The DTLS-SRTP exporter over a key-logged master secret.
    Dtls,
    /// An SDP `a=crypto` line.
    Sdes,
    /// A `--srtp-key` option.
    Option,
}

impl Source {
    /// The name shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Dtls => "dtls",
            Source::Sdes => "sdes",
            Source::Option => "option",
        }
    }
}

/// The receiver's packet index state of one SRTP stream (RFC 3711 §3.3.1): the rollover
/// counter and the highest sequence number authenticated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Roc {
    roc: u32,
    s_l: u16,
    started: bool,
}

impl Roc {
    /// Appendix A: the rollover counter `v` of a packet with sequence number `seq`.
    pub fn estimate(&self, seq: u16) -> u32 {
        if !self.started {
            return self.roc;
        }
        let (s_l, seq) = (i32::from(self.s_l), i32::from(seq));
        if s_l < 32_768 {
            if seq - s_l > 32_768 {
                self.roc.wrapping_sub(1)
            } else {
                self.roc
            }
        } else if s_l - 32_768 > seq {
            self.roc.wrapping_add(1)
        } else {
            self.roc
        }
    }

    /// §3.3.1: after a packet authenticated, move ROC and s_l forward.
    pub fn update(&mut self, seq: u16, v: u32) {
        if !self.started {
            *self = Roc { roc: v, s_l: seq, started: true };
        } else if v == self.roc.wrapping_add(1) {
            self.roc = v;
            self.s_l = seq;
        } else if v == self.roc && seq > self.s_l {
            self.s_l = seq;
        }
    }

    /// The current rollover counter.
    pub fn roc(&self) -> u32 {
        self.roc
    }
}

/// What the report says about one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounts {
    /// Whether the stream is SRTP (signalled, selected by a key, or a key authenticated it).
    pub srtp: bool,
    /// Packets authenticated and decrypted.
    pub decrypted: u64,
    /// Packets that failed authentication with every key tried.
    pub auth_failures: u64,
    /// Where the stream's key came from.
    pub key_source: Option<&'static str>,
}

struct Stream {
    dir: Direction,
    ssrc: u32,
    rtcp: bool,
    key: Option<usize>,
    source: Option<Source>,
    roc: Roc,
    /// Something other than an `any` key says this is SRTP.
    known: bool,
    decrypted: u64,
    auth_failures: u64,
    /// Packets tried without success before a key was bound.
    unkeyed_tries: u64,
    anomaly_raised: bool,
}

/// What [`SrtpState::unprotect`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated; the plaintext packet is in the output buffer.
    Decrypted,
    /// No key authenticated it.
    Failed,
    /// No key applies (or the packet has no SSRC): analyse it as it is.
    NoKey,
}

/// The SRTP/SRTCP decryption state of one flow.
#[derive(Default)]
pub struct SrtpState {
    keys: Vec<(MasterKey, Transform)>,
    dtls: PerDir<Option<MasterKey>>,
    streams: Vec<Stream>,
    candidates: Vec<(MasterKey, Source, bool)>,
    /// Signalling or DTLS-SRTP said this flow carries SRTP.
    pub hinted: bool,
    /// Streams beyond the cap (not decrypted).
    pub streams_over_cap: u64,
}

impl SrtpState {
    /// Installs the keys a DTLS-SRTP handshake exported: `client` protects what the DTLS
    /// client sends (in `client_dir`), `server` the other direction. A new handshake re-keys
    /// the streams that used the previous one.
    pub fn set_dtls_keys(&mut self, client_dir: Direction, client: MasterKey, server: MasterKey) {
        self.dtls[client_dir] = Some(client);
        self.dtls[client_dir.flip()] = Some(server);
        self.hinted = true;
        for s in self.streams.iter_mut().filter(|s| s.source == Some(Source::Dtls)) {
            s.key = None;
            s.roc = Roc::default();
        }
    }

    /// Whether any key source may apply to this flow (DTLS keys, `--srtp-key` options).
    pub fn has_dtls_keys(&self) -> bool {
        self.dtls.c2s.is_some() || self.dtls.s2c.is_some()
    }

    /// The counts of one stream (`rtcp`: its SRTCP context).
    pub fn counts(&self, dir: Direction, ssrc: u32, rtcp: bool) -> StreamCounts {
        let Some(s) = self.streams.iter().find(|s| s.dir == dir && s.ssrc == ssrc && s.rtcp == rtcp) else {
            return StreamCounts { srtp: self.hinted, ..StreamCounts::default() };
        };
        let srtp = self.hinted || s.known || s.decrypted > 0;
        StreamCounts {
            srtp,
            decrypted: s.decrypted,
            auth_failures: if srtp { s.auth_failures } else { 0 },
            key_source: s.source.map(Source::as_str),
        }
    }

    /// The SRTCP counts of the whole flow.
    pub fn rtcp_counts(&self) -> StreamCounts {
        let mut c = StreamCounts { srtp: self.hinted, ..StreamCounts::default() };
        for s in self.streams.iter().filter(|s| s.rtcp) {
            let one = self.counts(s.dir, s.ssrc, true);
            c.srtp |= one.srtp;
            c.decrypted += one.decrypted;
            c.auth_failures += one.auth_failures;
            c.key_source = c.key_source.or(one.key_source);
        }
        c
    }

    fn transform(&mut self, key: &MasterKey) -> Option<usize> {
        if let Some(i) = self.keys.iter().position(|(k, _)| k == key) {
            return Some(i);
        }
        if self.keys.len() >= MAX_KEYS {
            return None;
        }
        self.keys.push((*key, Transform::new(key)?));
        Some(self.keys.len() - 1)
    }

    /// The keys to try on a stream not keyed yet, best first; whether one of them marks the
    /// stream as SRTP.
    fn gather(&mut self, ctx: &Ctx<'_>, dir: Direction, ssrc: u32, rtcp: bool) {
        self.candidates.clear();
        let push = |c: &mut Vec<(MasterKey, Source, bool)>, k: MasterKey, s: Source, known: bool| {
            if c.len() < MAX_CANDIDATES && !c.iter().any(|(x, _, _)| *x == k) {
                c.push((k, s, known));
            }
        };
        if rtcp {
            // SRTCP uses the master key of the same SSRC's SRTP (RFC 3711 §3.4).
            let bound = self.streams.iter().find(|s| s.dir == dir && s.ssrc == ssrc && !s.rtcp);
            if let (Some(i), Some(src)) = (bound.and_then(|s| s.key), bound.and_then(|s| s.source)) {
                if let Some((k, _)) = self.keys.get(i) {
                    push(&mut self.candidates, *k, src, true);
                }
            }
        }
        if let Some(k) = self.dtls[dir] {
            push(&mut self.candidates, k, Source::Dtls, true);
        }
        // Most specific selectors first (no sorting: this runs per packet until keyed).
        for level in (0..=3).rev() {
            let matching = ctx
                .srtp_keys
                .iter()
                .filter(|k| k.selector.specificity() == level && k.selector.matches(ctx.flow, dir, ssrc));
            for k in matching {
                push(&mut self.candidates, k.key, Source::Option, k.selector.is_specific());
            }
        }
        // SDES: the key in an SDP protects what the endpoint that announced the port sends.
        let (sender, receiver) = match dir {
            Direction::C2S => (ctx.client.port(), ctx.server.port()),
            Direction::S2C => (ctx.server.port(), ctx.client.port()),
        };
        for port in [sender, receiver] {
            if let Some(b) = ctx.signalled.get(port) {
                for k in &b.srtp_keys {
                    push(&mut self.candidates, *k, Source::Sdes, true);
                }
            }
        }
    }

    /// Authenticates and decrypts one SRTP (`rtcp == false`) or SRTCP packet sent in `dir`,
    /// writing the plain packet to `out`. Failures are counted, never fatal.
    pub fn unprotect(
        &mut self,
        ctx: &mut Ctx<'_>,
        dir: Direction,
        pkt: &[u8],
        rtcp: bool,
        ts: Timestamp,
        out: &mut Vec<u8>,
    ) -> Verdict {
        let Some(ssrc) = be32(pkt, if rtcp { 4 } else { 8 }) else { return Verdict::NoKey };
        let seq = be16(pkt, 2).unwrap_or(0);
        let idx = match self.streams.iter().position(|s| s.dir == dir && s.ssrc == ssrc && s.rtcp == rtcp) {
            Some(i) => i,
            None if self.streams.len() < MAX_STREAMS => {
                self.streams.push(Stream {
                    dir,
                    ssrc,
                    rtcp,
                    key: None,
                    source: None,
                    roc: Roc::default(),
                    known: self.hinted,
                    decrypted: 0,
                    auth_failures: 0,
                    unkeyed_tries: 0,
                    anomaly_raised: false,
                });
                self.streams.len() - 1
            }
            None => {
                self.streams_over_cap += 1;
                return Verdict::NoKey;
            }
        };
        let bound = self.streams.get(idx).and_then(|s| s.key.map(|k| (k, s.roc)));
        if let Some((k, roc)) = bound {
            let v = roc.estimate(seq);
            let ok = self.keys.get(k).is_some_and(|(_, t)| try_one(t, pkt, rtcp, v, out));
            let Some(s) = self.streams.get_mut(idx) else { return Verdict::NoKey };
            if ok {
                s.decrypted += 1;
                if !rtcp {
                    s.roc.update(seq, v);
                }
                return Verdict::Decrypted;
            }
            s.auth_failures += 1;
            if !s.anomaly_raised {
                s.anomaly_raised = true;
                let what = format!(
                    "{} packet of SSRC 0x{ssrc:08x} failed authentication with the stream's key (seq {seq}, ROC {v})",
                    if rtcp { "SRTCP" } else { "SRTP" }
                );
                ctx.anomaly("srtp", ts, Some(dir), what);
            }
            return Verdict::Failed;
        }
        self.gather(ctx, dir, ssrc, rtcp);
        let known = self.candidates.iter().any(|(_, _, k)| *k);
        let Some(s) = self.streams.get_mut(idx) else { return Verdict::NoKey };
        s.known |= known;
        if self.candidates.is_empty() || (!s.known && s.unkeyed_tries >= TENTATIVE_PACKETS) {
            return Verdict::NoKey;
        }
        let candidates = std::mem::take(&mut self.candidates);
        let mut hit = None;
        for (key, source, _) in &candidates {
            let Some(k) = self.transform(key) else { continue };
            // A stream's first packet: the rollover counter starts at 0 (§3.3.1).
            if self.keys.get(k).is_some_and(|(_, t)| try_one(t, pkt, rtcp, 0, out)) {
                hit = Some((k, *source));
                break;
            }
        }
        self.candidates = candidates;
        let Some(s) = self.streams.get_mut(idx) else { return Verdict::NoKey };
        match hit {
            Some((k, source)) => {
                s.key = Some(k);
                s.source = Some(source);
                s.decrypted += 1;
                if !rtcp {
                    s.roc.update(seq, 0);
                }
                ctx.emit(
                    Event::new(ts, Some(ctx.flow), "srtp", "srtp.keyed", Some(dir))
                        .with("ssrc", FieldValue::Str(format!("0x{ssrc:08x}")))
                        .with("srtcp", FieldValue::Bool(rtcp))
                        .with("key_source", FieldValue::Str(source.as_str().into())),
                );
                Verdict::Decrypted
            }
            None => {
                s.unkeyed_tries += 1;
                s.auth_failures += 1;
                Verdict::Failed
            }
        }
    }
}

fn try_one(t: &Transform, pkt: &[u8], rtcp: bool, roc: u32, out: &mut Vec<u8>) -> bool {
    if rtcp {
        t.unprotect_rtcp(pkt, out).is_ok()
    } else {
        t.unprotect_rtp(pkt, roc, out).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_follows_wraps_and_reordering() {
        let mut r = Roc::default();
        r.update(65_534, r.estimate(65_534));
        assert_eq!(r.estimate(65_535), 0);
        assert_eq!(r.estimate(2), 1, "past the wrap");
        r.update(2, 1);
        assert_eq!(r.roc(), 1);
        assert_eq!(r.estimate(65_530), 0, "a late packet from before the wrap");
        r.update(65_530, 0);
        assert_eq!(r.roc(), 1);
        assert_eq!(r.estimate(40_000), 0, "more than half the space back");
        r.update(20_000, r.estimate(20_000));
        assert_eq!(r.estimate(40_000), 1);
        r.update(40_000, 1);
        assert_eq!(r.estimate(100), 2);
    }
}
