//! UDP flows: one RTP stream (with its RTCP sender reports) and DNS exchanges.

use crate::out::{Ep, CAT_RTP, CAT_SMALL};
use crate::sched::{rnd, Ctx};
use std::io::{self, Write};

pub const K_RTP: u8 = 1;
pub const K_RTCP: u8 = 2;
pub const K_DNSQ: u8 = 3;
pub const K_DNSR: u8 = 4;

/// Probability that a video RTP packet is lost before the capture point.
pub const P_VIDEO_LOSS: f64 = 0.005;

/// NTP seconds at the Unix epoch.
const NTP_UNIX: u64 = 2_208_988_800;

pub struct Rtp {
    pub src: Ep,
    pub dst: Ep,
    pub v6: bool,
    pub video: bool,
    pub ssrc: u32,
    pub peer_ssrc: u32,
    seq: u16,
    ts0: u32,
    t0: u64,
    pub end_t: u64,
    n: u64,
    pkts_left: u32,
    frame_ts: u32,
    frame_key: bool,
    frame_first: bool,
    avg_pkts: f64,
    key_every: u64,
    sent_pkts: u32,
    sent_octets: u32,
    ipid: u16,
    ttl: u8,
    rtp_done: bool,
    rtcp_done: bool,
    cname: u32,
    base_unix_us: u64,
    /// SRTP-style protection (set by the caller after `new`): each RTP packet carries a
    /// 10-byte auth tag after its payload, and RTCP goes out as SRTCP (header and SSRC in
    /// clear, the rest random, then the E flag + index and a 10-byte tag).
    pub srtp: bool,
    srtcp_index: u32,
}

/// Length of the SRTP/SRTCP authentication tag (HMAC-SHA1-80).
const SRTP_TAG: usize = 10;

impl Rtp {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &mut Ctx,
        src: Ep,
        dst: Ep,
        v6: bool,
        video: bool,
        ssrc: u32,
        peer_ssrc: u32,
        t0: u64,
        end_t: u64,
        local_sender: bool,
        base_unix_us: u64,
    ) -> Rtp {
        let r = &mut ctx.rng;
        let vbps = r.range(600_000, 2_000_000) as f64;
        Rtp {
            src,
            dst,
            v6,
            video,
            ssrc,
            peer_ssrc,
            seq: r.u32() as u16,
            ts0: r.u32(),
            t0,
            end_t,
            n: 0,
            pkts_left: 0,
            frame_ts: 0,
            frame_key: false,
            frame_first: false,
            avg_pkts: vbps / 8.0 / 30.0 / 1100.0,
            key_every: 30 * r.range(2, 4),
            sent_pkts: 0,
            sent_octets: 0,
            ipid: r.u32() as u16,
            ttl: if local_sender { 64 } else { 64 - r.range(4, 20) as u8 },
            rtp_done: false,
            rtcp_done: false,
            cname: r.u32(),
            base_unix_us,
            srtp: false,
            srtcp_index: 0,
        }
    }

    pub fn start(&mut self, ctx: &mut Ctx, id: u32) {
        ctx.sched.push(self.t0, id, K_RTP, 0, 0);
        let first = self.t0 + ctx.rng.range(1_000_000, 5_000_000);
        ctx.sched.push(first, id, K_RTCP, 0, 0);
    }

    fn begin(&mut self, ctx: &mut Ctx, rtcp: bool, paylen: usize) {
        self.ipid = self.ipid.wrapping_add(1);
        let tos = if self.video { 0x88 } else { 0xb8 };
        let (sp, dp) = if rtcp { (self.src.port + 1, self.dst.port + 1) } else { (self.src.port, self.dst.port) };
        ctx.out.begin_ip(&self.src, &self.dst, self.v6, 17, 8 + paylen, tos, self.ttl, self.ipid);
        ctx.out.udp_hdr(sp, dp, paylen);
    }

    /// Returns true when the stream is finished.
    pub fn handle(&mut self, ctx: &mut Ctx, id: u32, t: u64, kind: u8) -> io::Result<bool> {
        match kind {
            K_RTP => self.on_rtp(ctx, id, t)?,
            K_RTCP => self.on_rtcp(ctx, id, t)?,
            _ => {}
        }
        Ok(self.rtp_done && self.rtcp_done)
    }

    fn on_rtp(&mut self, ctx: &mut Ctx, id: u32, t: u64) -> io::Result<()> {
        if self.pkts_left == 0 && t >= self.end_t {
            self.rtp_done = true;
            return Ok(());
        }
        let (pt, marker, ts, plen, next);
        if self.video {
            if self.pkts_left == 0 {
                let key = self.n.is_multiple_of(self.key_every);
                let k = self.avg_pkts * if key { 5.0 } else { 0.9 } * ctx.rng.uniform(0.6, 1.4);
                self.pkts_left = (k.round() as u32).max(1);
                self.frame_key = key;
                self.frame_first = true;
                self.frame_ts = self.ts0.wrapping_add((self.n * 3000) as u32);
                self.n += 1;
            }
            self.pkts_left -= 1;
            pt = 96u8;
            marker = self.pkts_left == 0;
            ts = self.frame_ts;
            plen = ctx.rng.range(1000, 1200) as usize;
            next = if self.pkts_left > 0 {
                t + ctx.rng.range(30, 200)
            } else {
                (self.t0 + self.n * 1_000_000 / 30 + ctx.rng.below(3000)).max(t + 1)
            };
        } else {
            pt = 0;
            marker = self.n == 0;
            ts = self.ts0.wrapping_add((self.n * 160) as u32);
            plen = 160;
            self.n += 1;
            next = (self.t0 + self.n * 20_000 + ctx.rng.below(1500)).max(t + 1);
        }
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let lost = self.video && ctx.rng.chance(P_VIDEO_LOSS);
        if !lost {
            let tag = if self.srtp { SRTP_TAG } else { 0 };
            self.begin(ctx, false, 12 + plen + tag);
            let p = &mut ctx.out.pkt;
            p.push(0x80);
            p.push(((marker as u8) << 7) | pt);
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&ts.to_be_bytes());
            p.extend_from_slice(&self.ssrc.to_be_bytes());
            if self.video {
                // FU-A fragment of an H.264 slice.
                let nal = if self.frame_key { 5u8 } else { 1u8 };
                let ind = if self.frame_key { 0x7c } else { 0x5c };
                let fu = ((self.frame_first as u8) << 7) | ((marker as u8) << 6) | nal;
                p.extend_from_slice(&[ind, fu]);
                p.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, plen - 2));
            } else {
                p.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, plen));
            }
            if tag > 0 {
                p.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, tag));
            }
            ctx.out.commit(t, CAT_RTP)?;
            self.sent_pkts += 1;
            self.sent_octets = self.sent_octets.wrapping_add(plen as u32);
        }
        self.frame_first = false;
        ctx.sched.push(next, id, K_RTP, 0, 0);
        Ok(())
    }

    fn on_rtcp(&mut self, ctx: &mut Ctx, id: u32, t: u64) -> io::Result<()> {
        let bye = t >= self.end_t;
        // SR with one report block + SDES CNAME (+ BYE at the end).
        let cname_len = 16usize; // "user12345678@host" style, fixed length below
        let sdes_len = 4 + 4 + 2 + cname_len + 2; // hdr, ssrc, item hdr, text, end+pad
        let sdes_len = (sdes_len + 3) & !3;
        let len = 52 + sdes_len + if bye { 8 } else { 0 };
        let srtcp_extra = if self.srtp { 4 + SRTP_TAG } else { 0 };
        self.begin(ctx, true, len + srtcp_extra);
        let rtcp_start = ctx.out.pkt.len();
        let unix_us = self.base_unix_us + t;
        let ntp_sec = (unix_us / 1_000_000 + NTP_UNIX) as u32;
        let ntp_frac = (((unix_us % 1_000_000) << 32) / 1_000_000) as u32;
        let clock = if self.video { 90 } else { 8 };
        let rtp_ts = self.ts0.wrapping_add(((t.saturating_sub(self.t0)) / 1000 * clock) as u32);
        let jitter = ctx.rng.range(5, 200) as u32;
        let lost = if self.video { ctx.rng.below(4) as u32 } else { 0 };
        let p = &mut ctx.out.pkt;
        p.extend_from_slice(&[0x81, 200, 0, 12]);
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(&ntp_sec.to_be_bytes());
        p.extend_from_slice(&ntp_frac.to_be_bytes());
        p.extend_from_slice(&rtp_ts.to_be_bytes());
        p.extend_from_slice(&self.sent_pkts.to_be_bytes());
        p.extend_from_slice(&self.sent_octets.to_be_bytes());
        p.extend_from_slice(&self.peer_ssrc.to_be_bytes());
        p.push(if lost > 0 { 1 } else { 0 });
        p.extend_from_slice(&lost.to_be_bytes()[1..]);
        p.extend_from_slice(&(self.seq as u32 + 65536).to_be_bytes());
        p.extend_from_slice(&jitter.to_be_bytes());
        p.extend_from_slice(&((ntp_sec << 16) | (ntp_frac >> 16)).wrapping_sub(5 << 16).to_be_bytes());
        p.extend_from_slice(&(ctx.rng.range(1000, 60000) as u32).to_be_bytes());
        // SDES
        p.extend_from_slice(&[0x81, 202]);
        p.extend_from_slice(&((sdes_len / 4 - 1) as u16).to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(&[1, cname_len as u8]);
        let _ = std::io::Write::write_fmt(p, format_args!("u{:08x}@phone.", self.cname));
        let pad = sdes_len - (4 + 4 + 2 + cname_len);
        p.resize(p.len() + pad, 0);
        if bye {
            p.extend_from_slice(&[0x81, 203, 0, 1]);
            p.extend_from_slice(&self.ssrc.to_be_bytes());
        }
        if self.srtp {
            // SRTCP: everything after the first 8 bytes is encrypted, then E|index and a tag.
            let enc = rnd(&mut ctx.rng, &ctx.blk, len - 8);
            let p = &mut ctx.out.pkt;
            p[rtcp_start + 8..rtcp_start + len].copy_from_slice(enc);
            self.srtcp_index = self.srtcp_index.wrapping_add(1) & 0x7fff_ffff;
            p.extend_from_slice(&(0x8000_0000 | self.srtcp_index).to_be_bytes());
            p.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, SRTP_TAG));
        }
        ctx.out.commit(t, CAT_RTP)?;
        if bye {
            self.rtcp_done = true;
        } else {
            let next = t + ctx.rng.range(4_500_000, 5_500_000);
            ctx.sched.push(next.min(self.end_t + 20_000).max(t + 1), id, K_RTCP, 0, 0);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- DNS

const DNS_NAMES: [&str; 8] = [
    "edge-{}.cdn.example.net",
    "live.example.com",
    "ingest-{}.stream.example.org",
    "api.example.com",
    "img-{}.static.example.net",
    "time.example.org",
    "tracker-{}.example.com",
    "push.example.net",
];

pub struct Dns {
    pub cli: Ep,
    pub srv: Ep,
    pub v6: bool,
    id: u16,
    name: u8,
    num: u32,
    aaaa: bool,
    nx: bool,
    answers: u8,
    pub delay: u64,
    ipid: u16,
}

impl Dns {
    pub fn new(ctx: &mut Ctx, cli: Ep, srv: Ep, v6: bool) -> Dns {
        let r = &mut ctx.rng;
        Dns {
            cli,
            srv,
            v6,
            id: r.u32() as u16,
            name: r.below(DNS_NAMES.len() as u64) as u8,
            num: r.range(1, 400) as u32,
            aaaa: r.chance(0.3),
            nx: r.chance(0.04),
            answers: r.range(1, 3) as u8,
            delay: if r.chance(0.7) { r.range(300, 3000) } else { r.range(5000, 60000) },
            ipid: r.u32() as u16,
        }
    }

    pub fn start(&mut self, ctx: &mut Ctx, id: u32, t: u64) {
        ctx.sched.push(t, id, K_DNSQ, 0, 0);
    }

    fn qname(&self, v: &mut Vec<u8>) {
        let tmpl = DNS_NAMES[self.name as usize];
        let mut name = [0u8; 64];
        let n = {
            let mut w = &mut name[..];
            let (a, b) = tmpl.split_once("{}").unwrap_or((tmpl, ""));
            let _ = if b.is_empty() && a == tmpl { write!(w, "{}", a) } else { write!(w, "{}{}{}", a, self.num, b) };
            64 - w.len()
        };
        for label in name[..n].split(|&c| c == b'.') {
            v.push(label.len() as u8);
            v.extend_from_slice(label);
        }
        v.push(0);
        v.extend_from_slice(&(if self.aaaa { 28u16 } else { 1u16 }).to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
    }

    pub fn handle(&mut self, ctx: &mut Ctx, id: u32, t: u64, kind: u8) -> io::Result<bool> {
        let s = &mut ctx.scratch;
        s.clear();
        let query = kind == K_DNSQ;
        s.extend_from_slice(&self.id.to_be_bytes());
        if query {
            s.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
            self.qname(s);
        } else {
            let an = if self.nx { 0 } else { self.answers };
            s.extend_from_slice(&[0x81, if self.nx { 0x83 } else { 0x80 }, 0, 1, 0, an, 0, 0, 0, 0]);
            self.qname(s);
            for i in 0..an {
                s.extend_from_slice(&[0xc0, 0x0c]);
                s.extend_from_slice(&(if self.aaaa { 28u16 } else { 1u16 }).to_be_bytes());
                s.extend_from_slice(&[0, 1, 0, 0, 0x01, 0x2c]);
                if self.aaaa {
                    s.extend_from_slice(&[
                        0,
                        16,
                        0x20,
                        0x01,
                        0x0d,
                        0xb8,
                        0,
                        0x64,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        (self.num >> 8) as u8,
                        self.num as u8,
                        i,
                    ]);
                } else {
                    s.extend_from_slice(&[0, 4, 198, 51, 100, 100 + i]);
                }
            }
        }
        self.ipid = self.ipid.wrapping_add(1);
        let (src, dst, ttl) = if query { (&self.cli, &self.srv, 64) } else { (&self.srv, &self.cli, 58) };
        let len = ctx.scratch.len();
        ctx.out.begin_ip(src, dst, self.v6, 17, 8 + len, 0, ttl, self.ipid);
        ctx.out.udp_hdr(src.port, dst.port, len);
        ctx.out.pkt.extend_from_slice(&ctx.scratch);
        ctx.out.commit(t, CAT_SMALL)?;
        if query {
            // A few queries go unanswered.
            if ctx.rng.chance(0.02) {
                return Ok(true);
            }
            ctx.sched.push(t + self.delay, id, K_DNSR, 0, 0);
            return Ok(false);
        }
        Ok(true)
    }
}
