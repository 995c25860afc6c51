//! Applications running over the TCP model: RTMP publishing, HLS over HTTP/1.1,
//! and short request/response connections.

use crate::sched::{rnd, Ctx};
use crate::tcp::{Note, Tcp, K_APP, K_CLOSE, K_HELD, K_SEND, K_SYN};
use std::io::{self, Write};

// ---------------------------------------------------------------- AMF0 / RTMP

fn amf_str(v: &mut Vec<u8>, s: &str) {
    v.push(0x02);
    v.extend_from_slice(&(s.len() as u16).to_be_bytes());
    v.extend_from_slice(s.as_bytes());
}
fn amf_num(v: &mut Vec<u8>, n: f64) {
    v.push(0x00);
    v.extend_from_slice(&n.to_be_bytes());
}
fn amf_bool(v: &mut Vec<u8>, b: bool) {
    v.push(0x01);
    v.push(b as u8);
}
fn amf_null(v: &mut Vec<u8>) {
    v.push(0x05);
}
fn amf_key(v: &mut Vec<u8>, k: &str) {
    v.extend_from_slice(&(k.len() as u16).to_be_bytes());
    v.extend_from_slice(k.as_bytes());
}
fn amf_obj_start(v: &mut Vec<u8>) {
    v.push(0x03);
}
fn amf_obj_end(v: &mut Vec<u8>) {
    v.extend_from_slice(&[0, 0, 9]);
}

fn be24(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes()[1..]);
}

/// Serialize one RTMP message into chunks of `chunk` bytes. `fmt` is 0 (full
/// header, `ts` absolute) or 1 (`ts` is a delta, same message stream).
#[allow(clippy::too_many_arguments)]
fn rtmp_msg(buf: &mut Vec<u8>, chunk: usize, csid: u8, fmt: u8, ts: u32, typ: u8, msid: u32, payload: &[u8]) {
    buf.push((fmt << 6) | csid);
    be24(buf, ts);
    be24(buf, payload.len() as u32);
    buf.push(typ);
    if fmt == 0 {
        buf.extend_from_slice(&msid.to_le_bytes());
    }
    let mut off = 0;
    loop {
        let n = chunk.min(payload.len() - off);
        buf.extend_from_slice(&payload[off..off + n]);
        off += n;
        if off >= payload.len() {
            break;
        }
        buf.push(0xC0 | csid);
    }
}

const AVC_SEQ_HDR: &[u8] = &[
    0x17, 0x00, 0x00, 0x00, 0x00, // keyframe, AVC sequence header, cts 0
    0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x1a, // avcC v1, High@3.1, 1 SPS of 26 bytes
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00,
    0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60, // SPS
    0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, // 1 PPS of 6 bytes
];
const AAC_SEQ_HDR: &[u8] = &[0xAF, 0x00, 0x12, 0x10];

pub const RTMP_SERVERS: [[u8; 4]; 4] = [[203, 0, 113, 10], [203, 0, 113, 11], [203, 0, 113, 12], [203, 0, 113, 13]];

pub struct Rtmp {
    stage: u8,
    host: u8,
    port: u16,
    key: u32,
    end_t: u64,
    think: u64,
    media_t0: u64,
    vframe: u32,
    aframe: u32,
    last_vts: u32,
    last_ats: u32,
    avg_frame: f64,
    key_frac: f64,
    width: u32,
    height: u32,
    vbps: u64,
}

const RA_SRV_HS: u32 = 1;
const RA_SRV_CONNECT: u32 = 2;
const RA_SRV_CS: u32 = 3;
const RA_SRV_STATUS: u32 = 4;
const RA_VIDEO: u32 = 5;
const RA_AUDIO: u32 = 6;

const GOP: u32 = 60; // keyframe every 2 s at 30 fps

impl Rtmp {
    pub fn new(ctx: &mut Ctx, host: u8, port: u16, end_t: u64) -> Rtmp {
        let r = &mut ctx.rng;
        let vbps = r.range(1_800_000, 3_200_000);
        let (width, height) = if r.chance(0.6) { (1280, 720) } else { (1920, 1080) };
        Rtmp {
            stage: 0,
            host,
            port,
            key: r.u32(),
            end_t,
            think: r.range(100, 2000),
            media_t0: 0,
            vframe: 0,
            aframe: 0,
            last_vts: 0,
            last_ats: 0,
            avg_frame: vbps as f64 / 8.0 / 30.0,
            key_frac: r.uniform(4.5, 6.5),
            width,
            height,
            vbps,
        }
    }

    fn on_established(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, id: u32, t: u64) {
        let h = &mut tcp.h[0];
        h.compact();
        h.buf.push(0x03); // C0: version 3
        h.buf.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // C1 time + zero
        h.buf.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, 1528));
        tcp.kick(ctx, id, t, 0);
    }

    fn on_drained(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, id: u32, t: u64, d: u8) {
        let srv_at = t + tcp.rtt + self.think;
        match (d, self.stage) {
            (0, 0) => {
                ctx.sched.push(srv_at, id, K_APP, 0, RA_SRV_HS);
                self.stage = 1;
            }
            (1, 1) => {
                // C2, then connect (default chunk size 128), then Set Chunk Size 4096.
                let s = &mut ctx.scratch;
                s.clear();
                amf_str(s, "connect");
                amf_num(s, 1.0);
                amf_obj_start(s);
                amf_key(s, "app");
                amf_str(s, "live");
                amf_key(s, "type");
                amf_str(s, "nonprivate");
                amf_key(s, "flashVer");
                amf_str(s, "FMLE/3.0 (compatible; FMSc/1.0)");
                let ip = RTMP_SERVERS[self.host as usize];
                let url = format!("rtmp://{}.{}.{}.{}:{}/live", ip[0], ip[1], ip[2], ip[3], self.port);
                amf_key(s, "swfUrl");
                amf_str(s, &url);
                amf_key(s, "tcUrl");
                amf_str(s, &url);
                amf_obj_end(s);
                let h = &mut tcp.h[0];
                h.compact();
                h.buf.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, 1536));
                rtmp_msg(&mut h.buf, 128, 3, 0, 0, 20, 0, &ctx.scratch);
                rtmp_msg(&mut h.buf, 128, 2, 0, 0, 1, 0, &4096u32.to_be_bytes());
                tcp.kick(ctx, id, t, 0);
                self.stage = 2;
            }
            (0, 2) => {
                ctx.sched.push(srv_at, id, K_APP, 0, RA_SRV_CONNECT);
                self.stage = 3;
            }
            (1, 3) => {
                let key = format!("live_{:08x}", self.key);
                let h = &mut tcp.h[0];
                h.compact();
                for (i, cmd) in ["releaseStream", "FCPublish"].iter().enumerate() {
                    let s = &mut ctx.scratch;
                    s.clear();
                    amf_str(s, cmd);
                    amf_num(s, 2.0 + i as f64);
                    amf_null(s);
                    amf_str(s, &key);
                    rtmp_msg(&mut h.buf, 4096, 3, 1, 0, 20, 0, s);
                }
                let s = &mut ctx.scratch;
                s.clear();
                amf_str(s, "createStream");
                amf_num(s, 4.0);
                amf_null(s);
                rtmp_msg(&mut h.buf, 4096, 3, 1, 0, 20, 0, s);
                tcp.kick(ctx, id, t, 0);
                self.stage = 4;
            }
            (0, 4) => {
                ctx.sched.push(srv_at, id, K_APP, 0, RA_SRV_CS);
                self.stage = 5;
            }
            (1, 5) => {
                let key = format!("live_{:08x}", self.key);
                let h = &mut tcp.h[0];
                h.compact();
                let s = &mut ctx.scratch;
                s.clear();
                amf_str(s, "publish");
                amf_num(s, 5.0);
                amf_null(s);
                amf_str(s, &key);
                amf_str(s, "live");
                rtmp_msg(&mut h.buf, 4096, 8, 0, 0, 20, 1, s);
                // @setDataFrame onMetaData (AMF0 data, type 18)
                s.clear();
                amf_str(s, "@setDataFrame");
                amf_str(s, "onMetaData");
                s.push(0x08);
                s.extend_from_slice(&12u32.to_be_bytes());
                let nums: [(&str, f64); 9] = [
                    ("duration", 0.0),
                    ("width", self.width as f64),
                    ("height", self.height as f64),
                    ("videodatarate", (self.vbps / 1000) as f64),
                    ("framerate", 30.0),
                    ("videocodecid", 7.0),
                    ("audiodatarate", 64.0),
                    ("audiosamplerate", 44100.0),
                    ("audiocodecid", 10.0),
                ];
                for (k, v) in nums {
                    amf_key(s, k);
                    amf_num(s, v);
                }
                amf_key(s, "audiosamplesize");
                amf_num(s, 16.0);
                amf_key(s, "stereo");
                amf_bool(s, true);
                amf_key(s, "encoder");
                amf_str(s, "obs-output module (libobs version 29.1.3)");
                amf_obj_end(s);
                rtmp_msg(&mut h.buf, 4096, 4, 0, 0, 18, 1, s);
                tcp.kick(ctx, id, t, 0);
                self.media_t0 = t + 300;
                ctx.sched.push(self.media_t0, id, K_APP, 0, RA_VIDEO);
                ctx.sched.push(self.media_t0 + 150, id, K_APP, 0, RA_AUDIO);
                self.stage = 6;
            }
            (0, 6) => {
                ctx.sched.push(srv_at, id, K_APP, 0, RA_SRV_STATUS);
                self.stage = 7;
            }
            _ => {}
        }
    }

    fn on_app(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, id: u32, t: u64, code: u32) {
        match code {
            RA_SRV_HS => {
                let h = &mut tcp.h[1];
                h.compact();
                h.buf.push(0x03);
                h.buf.extend_from_slice(&[0, 0, 0, 0, 0x0d, 0x0e, 0x0a, 0x0d]);
                h.buf.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, 1528));
                h.buf.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, 1536));
                tcp.kick(ctx, id, t, 1);
            }
            RA_SRV_CONNECT => {
                let h = &mut tcp.h[1];
                h.compact();
                rtmp_msg(&mut h.buf, 128, 2, 0, 0, 5, 0, &2_500_000u32.to_be_bytes());
                rtmp_msg(&mut h.buf, 128, 2, 1, 0, 6, 0, &[0x00, 0x26, 0x25, 0xa0, 0x02]);
                rtmp_msg(&mut h.buf, 128, 2, 1, 0, 1, 0, &4096u32.to_be_bytes());
                let s = &mut ctx.scratch;
                s.clear();
                amf_str(s, "_result");
                amf_num(s, 1.0);
                amf_obj_start(s);
                amf_key(s, "fmsVer");
                amf_str(s, "FMS/3,0,1,123");
                amf_key(s, "capabilities");
                amf_num(s, 31.0);
                amf_obj_end(s);
                amf_obj_start(s);
                amf_key(s, "level");
                amf_str(s, "status");
                amf_key(s, "code");
                amf_str(s, "NetConnection.Connect.Success");
                amf_key(s, "description");
                amf_str(s, "Connection succeeded.");
                amf_key(s, "objectEncoding");
                amf_num(s, 0.0);
                amf_obj_end(s);
                rtmp_msg(&mut h.buf, 4096, 3, 0, 0, 20, 0, s);
                tcp.kick(ctx, id, t, 1);
            }
            RA_SRV_CS => {
                let h = &mut tcp.h[1];
                h.compact();
                let s = &mut ctx.scratch;
                s.clear();
                amf_str(s, "_result");
                amf_num(s, 4.0);
                amf_null(s);
                amf_num(s, 1.0);
                rtmp_msg(&mut h.buf, 4096, 3, 1, 0, 20, 0, s);
                tcp.kick(ctx, id, t, 1);
            }
            RA_SRV_STATUS => {
                let h = &mut tcp.h[1];
                h.compact();
                let s = &mut ctx.scratch;
                s.clear();
                amf_str(s, "onStatus");
                amf_num(s, 0.0);
                amf_null(s);
                amf_obj_start(s);
                amf_key(s, "level");
                amf_str(s, "status");
                amf_key(s, "code");
                amf_str(s, "NetStream.Publish.Start");
                amf_key(s, "description");
                amf_str(s, "Stream is now published.");
                amf_obj_end(s);
                rtmp_msg(&mut h.buf, 4096, 5, 0, 0, 20, 1, s);
                tcp.kick(ctx, id, t, 1);
            }
            RA_VIDEO => {
                if self.stage >= 8 {
                    return;
                }
                if t >= self.end_t {
                    self.stage = 8;
                    ctx.sched.push(t + 1000, id, K_CLOSE, 0, 0);
                    return;
                }
                let n = self.vframe;
                let ts = (n as u64 * 1000 / 30) as u32;
                let h = &mut tcp.h[0];
                h.compact();
                if n == 0 {
                    rtmp_msg(&mut h.buf, 4096, 6, 0, 0, 9, 1, AVC_SEQ_HDR);
                }
                let key = n.is_multiple_of(GOP);
                let r = &mut ctx.rng;
                let size = if key {
                    self.avg_frame * self.key_frac * r.uniform(0.85, 1.15)
                } else {
                    let p = (self.avg_frame * GOP as f64 - self.avg_frame * self.key_frac) / (GOP - 1) as f64;
                    p * r.uniform(0.6, 1.4)
                };
                let size = (size as usize).clamp(2000, 60000);
                let s = &mut ctx.scratch;
                s.clear();
                s.extend_from_slice(&[if key { 0x17 } else { 0x27 }, 0x01, 0, 0, 0]);
                s.extend_from_slice(&((size - 9) as u32).to_be_bytes());
                s.push(if key { 0x65 } else { 0x41 });
                s.extend_from_slice(rnd(r, &ctx.blk, size - 10));
                let delta = ts - self.last_vts;
                rtmp_msg(&mut h.buf, 4096, 6, 1, delta, 9, 1, s);
                self.last_vts = ts;
                self.vframe += 1;
                tcp.kick(ctx, id, t, 0);
                let next = self.media_t0 + (self.vframe as u64 * 1_000_000) / 30 + ctx.rng.below(2000);
                ctx.sched.push(next.max(t + 1), id, K_APP, 0, RA_VIDEO);
            }
            RA_AUDIO => {
                if self.stage >= 8 {
                    return;
                }
                let n = self.aframe;
                let ts = (n as u64 * 1024 * 1000 / 44100) as u32;
                let h = &mut tcp.h[0];
                h.compact();
                if n == 0 {
                    rtmp_msg(&mut h.buf, 4096, 4, 0, 0, 8, 1, AAC_SEQ_HDR);
                }
                let r = &mut ctx.rng;
                let len = r.range(150, 250) as usize;
                let s = &mut ctx.scratch;
                s.clear();
                s.extend_from_slice(&[0xAF, 0x01]);
                s.extend_from_slice(rnd(r, &ctx.blk, len));
                let delta = ts - self.last_ats;
                rtmp_msg(&mut h.buf, 4096, 4, 1, delta, 8, 1, s);
                self.last_ats = ts;
                self.aframe += 1;
                tcp.kick(ctx, id, t, 0);
                let next = self.media_t0 + 150 + (self.aframe as u64 * 1024 * 1_000_000) / 44100 + ctx.rng.below(1000);
                ctx.sched.push(next.max(t + 1), id, K_APP, 0, RA_AUDIO);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- HLS over HTTP/1.1

pub const HLS_SERVERS4: [[u8; 4]; 4] = [[198, 51, 100, 20], [198, 51, 100, 21], [198, 51, 100, 22], [198, 51, 100, 23]];

const UAS: [&str; 4] = [
    "AppleCoreMedia/1.0.0.21G93 (iPhone; U; CPU OS 17_6 like Mac OS X; en_us)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "ExoPlayerLib/2.19.1 (Linux; Android 14) ",
    "VLC/3.0.21 LibVLC/3.0.21",
];

pub struct Hls {
    stage: u8,
    host: u8,
    ua: u8,
    seg_n: u32,
    seg_dur: u64,
    end_t: u64,
    think: u64,
    fetch_t0: u64,
    burst: u32,
    body_left: usize,
    ts_idx: u32,
    cc: [u8; 4],
}

const HA_SRV_PL: u32 = 1;
const HA_SRV_SEG: u32 = 2;
const HA_NEXT: u32 = 3;

impl Hls {
    /// `initial`: a player that was already running when the capture started
    /// (no start-up burst of segment fetches).
    pub fn new(ctx: &mut Ctx, host: u8, end_t: u64, initial: bool) -> Hls {
        let r = &mut ctx.rng;
        Hls {
            stage: 0,
            host,
            ua: r.below(UAS.len() as u64) as u8,
            seg_n: r.range(1000, 90000) as u32,
            seg_dur: if r.chance(0.7) { 6_000_000 } else { 4_000_000 },
            end_t,
            think: r.range(200, 3000),
            fetch_t0: 0,
            burst: if initial { 0 } else { 2 },
            body_left: 0,
            ts_idx: 0,
            cc: [0; 4],
        }
    }

    fn request(&self, tcp: &mut Tcp, ctx: &mut Ctx, path: std::fmt::Arguments) {
        let s = &mut ctx.scratch;
        s.clear();
        let _ = write!(
            s,
            "GET {} HTTP/1.1\r\nHost: cdn{}.example.com\r\nUser-Agent: {}\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: keep-alive\r\n\r\n",
            path,
            self.host,
            UAS[self.ua as usize]
        );
        let h = &mut tcp.h[0];
        h.compact();
        h.buf.extend_from_slice(s);
    }

    fn on_established(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, id: u32, t: u64) {
        self.fetch_t0 = t;
        self.request(tcp, ctx, format_args!("/live/stream.m3u8"));
        tcp.kick(ctx, id, t, 0);
        self.stage = 1;
    }

    fn on_drained(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, id: u32, t: u64, d: u8) {
        match (d, self.stage) {
            (0, 1) => {
                ctx.sched.push(t + tcp.rtt + self.think, id, K_APP, 0, HA_SRV_PL);
                self.stage = 2;
            }
            (1, 3) => {
                let n = self.seg_n;
                self.request(tcp, ctx, format_args!("/live/seg{}.ts", n));
                let at = t + ctx.rng.range(200, 3000);
                tcp.kick(ctx, id, at, 0);
                self.stage = 4;
            }
            (0, 4) => {
                ctx.sched.push(t + tcp.rtt + self.think, id, K_APP, 0, HA_SRV_SEG);
                self.stage = 5;
            }
            (1, 6) if self.body_left == 0 => {
                self.seg_n += 1;
                let next = if self.burst > 0 {
                    self.burst -= 1;
                    t + ctx.rng.range(500, 5000)
                } else {
                    (self.fetch_t0 + self.seg_dur).max(t + 1000)
                };
                ctx.sched.push(next, id, K_APP, 0, HA_NEXT);
                self.stage = 7;
            }
            _ => {}
        }
    }

    fn on_app(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, id: u32, t: u64, code: u32) {
        match code {
            HA_SRV_PL => {
                let mut body = [0u8; 512];
                let mut w = &mut body[..];
                let sd = self.seg_dur / 1_000_000;
                let _ = write!(
                    w,
                    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
                    sd, self.seg_n
                );
                for i in 0..3 {
                    let _ = write!(w, "#EXTINF:{}.000,\nseg{}.ts\n", sd, self.seg_n + i);
                }
                let blen = 512 - w.len();
                let s = &mut ctx.scratch;
                s.clear();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: application/vnd.apple.mpegurl\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n",
                    blen
                );
                s.extend_from_slice(&body[..blen]);
                let h = &mut tcp.h[1];
                h.compact();
                h.buf.extend_from_slice(s);
                tcp.kick(ctx, id, t, 1);
                self.stage = 3;
            }
            HA_SRV_SEG => {
                let len = 188 * ctx.rng.range(2660, 5580) as usize;
                let s = &mut ctx.scratch;
                s.clear();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: video/mp2t\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nCache-Control: max-age=60\r\nConnection: keep-alive\r\n\r\n",
                    len
                );
                let h = &mut tcp.h[1];
                h.compact();
                h.buf.extend_from_slice(s);
                self.body_left = len;
                self.ts_idx = 0;
                self.stage = 6;
                self.refill(tcp, ctx, 1);
                tcp.kick(ctx, id, t, 1);
            }
            HA_NEXT => {
                if t >= self.end_t {
                    self.stage = 8;
                    ctx.sched.push(t, id, K_CLOSE, 0, 0);
                    return;
                }
                self.fetch_t0 = t;
                self.request(tcp, ctx, format_args!("/live/stream.m3u8"));
                tcp.kick(ctx, id, t, 0);
                self.stage = 1;
            }
            _ => {}
        }
    }

    /// Append MPEG-TS packets of the segment body being served.
    fn refill(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, d: usize) {
        if d != 1 || self.stage != 6 || self.body_left == 0 {
            return;
        }
        let h = &mut tcp.h[1];
        h.compact();
        let mut n = (self.body_left / 188).min(512);
        while n > 0 {
            let i = self.ts_idx;
            let (pid, slot): (u16, usize) = match i {
                0 => (0x0000, 0),
                1 => (0x1000, 3),
                _ if i % 9 == 5 => (0x0101, 2),
                _ => (0x0100, 1),
            };
            let pusi = i < 2 || i % 64 == 2;
            let cc = self.cc[slot];
            self.cc[slot] = (cc + 1) & 0x0f;
            let b = &mut h.buf;
            let start = b.len();
            b.push(0x47);
            b.push(((pusi as u8) << 6) | (pid >> 8) as u8);
            b.push(pid as u8);
            b.push(0x10 | cc);
            if i == 0 {
                // PAT: program 1 -> PMT PID 0x1000
                b.extend_from_slice(&[0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00]);
                b.extend_from_slice(&[0x2a, 0xb1, 0x04, 0xb2]);
                b.resize(start + 188, 0xff);
            } else if i == 1 {
                // PMT: H.264 on 0x100, AAC on 0x101
                b.extend_from_slice(&[
                    0x00, 0x02, 0xb0, 0x17, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00, 0x1b, 0xe1, 0x00,
                    0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0, 0x00,
                ]);
                b.extend_from_slice(&[0x2f, 0x44, 0xb9, 0x9b]);
                b.resize(start + 188, 0xff);
            } else if pusi {
                b.extend_from_slice(&[0x00, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x80, 0x80, 0x05]);
                b.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, 184 - 9));
            } else {
                b.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, 184));
            }
            self.ts_idx += 1;
            self.body_left -= 188;
            n -= 1;
        }
    }
}

// ---------------------------------------------------------------- short connections

pub struct Short {
    stage: u8,
    http: bool,
    req_len: usize,
    resp_len: usize,
    think: u64,
    n: u32,
}

const SA_SRV: u32 = 1;

impl Short {
    pub fn new(ctx: &mut Ctx, http: bool) -> Short {
        let r = &mut ctx.rng;
        let resp_len = if r.chance(0.75) { r.range(100, 6000) } else { r.range(6000, 30000) } as usize;
        Short { stage: 0, http, req_len: r.range(40, 400) as usize, resp_len, think: r.range(100, 5000), n: r.u32() }
    }

    fn on_established(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, id: u32, t: u64) {
        let s = &mut ctx.scratch;
        s.clear();
        if self.http {
            let _ = write!(
                s,
                "GET /api/v1/ping?id={} HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: okhttp/4.12.0\r\nAccept: application/json\r\n\r\n",
                self.n
            );
        } else {
            s.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, self.req_len));
        }
        let h = &mut tcp.h[0];
        h.compact();
        h.buf.extend_from_slice(s);
        tcp.kick(ctx, id, t, 0);
        self.stage = 1;
    }

    fn on_drained(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, id: u32, t: u64, d: u8) {
        match (d, self.stage) {
            (0, 1) => {
                ctx.sched.push(t + tcp.rtt + self.think, id, K_APP, 0, SA_SRV);
                self.stage = 2;
            }
            (1, 3) => {
                ctx.sched.push(t + ctx.rng.range(100, 20_000), id, K_CLOSE, 0, 0);
                self.stage = 4;
            }
            _ => {}
        }
    }

    fn on_app(&mut self, tcp: &mut Tcp, ctx: &mut Ctx, id: u32, t: u64, _code: u32) {
        let s = &mut ctx.scratch;
        s.clear();
        if self.http {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                self.resp_len
            );
            let pre: &[u8] = b"{\"status\":\"ok\",\"pad\":\"";
            s.extend_from_slice(pre);
            let fill = self.resp_len - pre.len() - 2;
            for i in 0..fill {
                s.push(b'a' + ((i as u32).wrapping_add(self.n) % 26) as u8);
            }
            s.extend_from_slice(b"\"}");
        } else {
            s.extend_from_slice(rnd(&mut ctx.rng, &ctx.blk, self.resp_len));
        }
        let h = &mut tcp.h[1];
        h.compact();
        h.buf.extend_from_slice(s);
        tcp.kick(ctx, id, t, 1);
        self.stage = 3;
    }
}

// ---------------------------------------------------------------- dispatcher

pub enum App {
    Rtmp(Rtmp),
    Hls(Hls),
    Short(Short),
}

pub struct TcpFlow {
    pub tcp: Tcp,
    pub app: App,
}

/// Below this many queued bytes the application is asked to refill.
const LOW_WATER: usize = 64 << 10;

impl TcpFlow {
    pub fn start(&mut self, ctx: &mut Ctx, id: u32, t: u64) {
        ctx.sched.push(t, id, K_SYN, 0, 0);
    }

    /// Returns true when the connection is finished.
    pub fn handle(&mut self, ctx: &mut Ctx, id: u32, t: u64, kind: u8, dir: u8, arg: u32) -> io::Result<bool> {
        let TcpFlow { tcp, app } = self;
        if tcp.closed {
            return Ok(true);
        }
        let note = if kind == K_APP {
            match app {
                App::Rtmp(a) => a.on_app(tcp, ctx, id, t, arg),
                App::Hls(a) => a.on_app(tcp, ctx, id, t, arg),
                App::Short(a) => a.on_app(tcp, ctx, id, t, arg),
            }
            Note::None
        } else {
            let n = tcp.handle(ctx, id, t, kind, dir, arg)?;
            if kind == K_SEND || kind == K_HELD {
                let d = dir as usize;
                if tcp.h[d].avail() < LOW_WATER {
                    if let App::Hls(a) = app {
                        a.refill(tcp, ctx, d);
                    }
                }
                tcp.after_send(ctx, id, t, d)
            } else {
                n
            }
        };
        match note {
            Note::None => {}
            Note::Closed => return Ok(true),
            Note::Established => match app {
                App::Rtmp(a) => a.on_established(tcp, ctx, id, t),
                App::Hls(a) => a.on_established(tcp, ctx, id, t),
                App::Short(a) => a.on_established(tcp, ctx, id, t),
            },
            Note::Drained(d) => match app {
                App::Rtmp(a) => a.on_drained(tcp, ctx, id, t, d),
                App::Hls(a) => a.on_drained(tcp, ctx, id, t, d),
                App::Short(a) => a.on_drained(tcp, ctx, id, t, d),
            },
        }
        Ok(false)
    }
}
