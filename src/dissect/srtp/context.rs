//! The SRTP state of one flow: a cryptographic context per SSRC and direction (RFC 3711
//! §3.2.3), each bound to the master key that first authenticated one of its packets, with
//! its rollover counter (§3.3.1), and the counts the report shows. Master keys come, in
//! this order, from the flow's DTLS-SRTP handshake, from `--srtp-key` (most specific
//! selector first) and from SDP `a=crypto` lines bound to the sender's then the receiver's
//! port; a stream tries them until one authenticates.

use super::transform::Transform;
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
/// Rollover counters tried on a stream's first packets when 0 fails: a capture that starts
/// in the middle of a call keyed by SDES or `--srtp-key` finds its streams past a wrap.
const ROC_GUESSES: u32 = 64;
/// The wider search runs on one unkeyed packet in this many (it costs `ROC_GUESSES` tries per
/// candidate key).
const ROC_SEARCH_EVERY: u64 = 32;

/// Where a stream's key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The DTLS-SRTP exporter over a key-logged master secret.
    Dtls,
    /// An SDP `a=crypto` line.
    Sdes,
    /// A `--srtp-key` option.
    Configured,
}

impl Source {
    /// The name shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Dtls => "dtls",
            Source::Sdes => "sdes",
            Source::Configured => "option",
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
                push(&mut self.candidates, k.key, Source::Configured, k.selector.is_specific());
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
        // A stream's first packet: the rollover counter starts at 0 (§3.3.1); now and then
        // also later ones, for a capture that started mid-call.
        let search = !rtcp && s.unkeyed_tries % ROC_SEARCH_EVERY == 0;
        let rocs = 0..if search { ROC_GUESSES } else { 1 };
        let mut hit = None;
        'rocs: for roc in rocs {
            for (key, source, _) in &candidates {
                let Some(k) = self.transform(key) else { continue };
                if self.keys.get(k).is_some_and(|(_, t)| try_one(t, pkt, rtcp, roc, out)) {
                    hit = Some((k, *source, roc));
                    break 'rocs;
                }
            }
        }
        self.candidates = candidates;
        let Some(s) = self.streams.get_mut(idx) else { return Verdict::NoKey };
        match hit {
            Some((k, source, roc)) => {
                s.key = Some(k);
                s.source = Some(source);
                s.decrypted += 1;
                if !rtcp {
                    s.roc.update(seq, roc);
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

#[cfg(test)]
mod state_tests {
    use super::*;
    use crate::dissect::srtp::{KeySpec, Profile};
    use crate::dissect::{MediaBinding, Signalled};

    fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0x60];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0x55; 100]);
        p
    }

    fn key(fill: u8) -> MasterKey {
        MasterKey::from_concat(Profile::AesCm128HmacSha1_80, &[fill; 30]).unwrap()
    }

    /// Runs `f` with a context of flow 4 between client port 5000 and server port 6000.
    fn with_ctx<R>(keys: &[KeySpec], signalled: &mut Signalled, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
        let mut parts = crate::dissect::Standalone::new(100);
        std::mem::swap(&mut parts.signalled, signalled);
        let r = f(&mut parts.ctx(4, ([10, 0, 0, 1], 5000).into(), ([10, 0, 0, 2], 6000).into(), keys));
        std::mem::swap(&mut parts.signalled, signalled);
        r
    }

    #[test]
    fn sdes_key_of_the_senders_port_and_rollover() {
        let (a, b) = (key(1), key(2));
        let mut sig = Signalled::default();
        for (port, k) in [(5000, a), (6000, b)] {
            let binding = MediaBinding {
                protocol: "rtp",
                codecs: Vec::new(),
                by: "sip",
                flow: 0,
                session: None,
                secure: true,
                srtp_keys: vec![k],
            };
            sig.announce(port, binding);
        }
        let (ta, tb) = (Transform::new(&a).unwrap(), Transform::new(&b).unwrap());
        let mut st = SrtpState::default();
        let mut out = Vec::new();
        with_ctx(&[], &mut sig, |ctx| {
            for (i, seq) in [65_534u16, 65_535, 0, 1].into_iter().enumerate() {
                let roc = u32::from(i >= 2);
                let p = ta.protect_rtp(&rtp(7, seq), roc).unwrap();
                assert_eq!(st.unprotect(ctx, Direction::C2S, &p, false, Timestamp(0), &mut out), Verdict::Decrypted);
                assert_eq!(out, rtp(7, seq));
            }
            let p = tb.protect_rtp(&rtp(9, 10), 0).unwrap();
            assert_eq!(st.unprotect(ctx, Direction::S2C, &p, false, Timestamp(0), &mut out), Verdict::Decrypted);
            let p = tb.protect_rtcp(&[0x80, 201, 0, 1, 0, 0, 0, 9], 0, true).unwrap();
            assert_eq!(st.unprotect(ctx, Direction::S2C, &p, true, Timestamp(0), &mut out), Verdict::Decrypted);
            let mut bad = ta.protect_rtp(&rtp(7, 2), 1).unwrap();
            bad[20] ^= 1;
            assert_eq!(st.unprotect(ctx, Direction::C2S, &bad, false, Timestamp(0), &mut out), Verdict::Failed);
            assert_eq!(*ctx.anomalies, 1);
        });
        let c = st.counts(Direction::C2S, 7, false);
        assert_eq!((c.srtp, c.decrypted, c.auth_failures, c.key_source), (true, 4, 1, Some("sdes")));
        assert_eq!(st.counts(Direction::S2C, 9, false).decrypted, 1);
        assert_eq!(st.rtcp_counts().decrypted, 1);
    }

    #[test]
    fn a_stream_joined_after_rollovers_is_found() {
        let k: KeySpec = "ssrc=0x11:SRTP_AEAD_AES_128_GCM:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==".parse().unwrap();
        let t = Transform::new(&k.key).unwrap();
        let mut sig = Signalled::default();
        let mut st = SrtpState::default();
        let mut out = Vec::new();
        with_ctx(&[k], &mut sig, |ctx| {
            for (seq, roc) in [(65_535u16, 5u32), (0, 6), (1, 6)] {
                let p = t.protect_rtp(&rtp(0x11, seq), roc).unwrap();
                assert_eq!(st.unprotect(ctx, Direction::C2S, &p, false, Timestamp(0), &mut out), Verdict::Decrypted);
            }
        });
        assert_eq!(st.counts(Direction::C2S, 0x11, false).decrypted, 3);
    }

    #[test]
    fn any_keys_give_up_on_plain_rtp_but_specific_keys_count_failures() {
        let any: KeySpec = "SRTP_AES128_CM_HMAC_SHA1_80:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB".parse().unwrap();
        let mut sig = Signalled::default();
        let mut st = SrtpState::default();
        let mut out = Vec::new();
        with_ctx(std::slice::from_ref(&any), &mut sig, |ctx| {
            for seq in 0..40 {
                let v = st.unprotect(ctx, Direction::C2S, &rtp(3, seq), false, Timestamp(0), &mut out);
                assert_eq!(v, if seq < 16 { Verdict::Failed } else { Verdict::NoKey });
            }
        });
        assert!(!st.counts(Direction::C2S, 3, false).srtp, "plain RTP stays plain");
        let mut specific = any;
        specific.selector.ssrc = Some(3);
        let mut st = SrtpState::default();
        with_ctx(&[specific], &mut sig, |ctx| {
            for seq in 0..40 {
                assert_eq!(
                    st.unprotect(ctx, Direction::C2S, &rtp(3, seq), false, Timestamp(0), &mut out),
                    Verdict::Failed
                );
            }
        });
        let c = st.counts(Direction::C2S, 3, false);
        assert_eq!((c.srtp, c.decrypted, c.auth_failures), (true, 0, 40));
    }

    #[test]
    fn dtls_keys_come_first_and_a_new_handshake_rekeys() {
        let (c1, s1, c2) = (key(1), key(2), key(3));
        let mut sig = Signalled::default();
        let mut st = SrtpState::default();
        st.set_dtls_keys(Direction::S2C, c1, s1);
        let mut out = Vec::new();
        with_ctx(&[], &mut sig, |ctx| {
            let p = Transform::new(&c1).unwrap().protect_rtp(&rtp(5, 1), 0).unwrap();
            assert_eq!(st.unprotect(ctx, Direction::S2C, &p, false, Timestamp(0), &mut out), Verdict::Decrypted);
            let p = Transform::new(&s1).unwrap().protect_rtp(&rtp(6, 1), 0).unwrap();
            assert_eq!(st.unprotect(ctx, Direction::C2S, &p, false, Timestamp(0), &mut out), Verdict::Decrypted);
            st.set_dtls_keys(Direction::S2C, c2, s1);
            let p = Transform::new(&c2).unwrap().protect_rtp(&rtp(5, 2), 0).unwrap();
            assert_eq!(st.unprotect(ctx, Direction::S2C, &p, false, Timestamp(0), &mut out), Verdict::Decrypted);
        });
        assert_eq!(st.counts(Direction::S2C, 5, false).key_source, Some("dtls"));
        assert_eq!(st.counts(Direction::S2C, 5, false).auth_failures, 0);
    }
}
