//! A small TCP model: handshake, MSS segmentation with pacing, delayed ACKs
//! (one ACK every two segments, 40 ms timer), occasional spurious
//! retransmissions and swapped segment pairs, and a FIN/FIN/ACK close.
//!
//! The capture point is next to the client: client packets appear when sent,
//! server packets one RTT after the client packet that triggered them, and the
//! client's reactions to server packets a few tens of microseconds later.
//! Direction 0 is client->server, direction 1 is server->client; side 0 is the
//! client and side 1 the server.

use crate::out::Ep;
use crate::sched::Ctx;
use std::io;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

// Event kinds handled by the TCP engine (apps use K_APP with their own code in `arg`).
pub const K_SYN: u8 = 1;
pub const K_SYNACK: u8 = 2;
pub const K_HSACK: u8 = 3;
pub const K_SEND: u8 = 4;
pub const K_HELD: u8 = 5;
pub const K_RETX: u8 = 6;
pub const K_RCV: u8 = 7;
pub const K_RCVIMM: u8 = 8;
pub const K_DELACK: u8 = 9;
pub const K_CLOSE: u8 = 10;
pub const K_FIN2: u8 = 11;
pub const K_FIN3: u8 = 12;
pub const K_APP: u8 = 20;

/// Probability that a data segment is later retransmitted.
pub const P_RETX: f64 = 0.001;
/// Probability that a data segment and its successor are captured swapped.
pub const P_SWAP: f64 = 0.0005;
const DELACK_US: u64 = 40_000;

#[inline]
pub fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Sender state of one direction plus the receiver's view of that direction.
pub struct Half {
    pub nxt: u32,
    pub buf: Vec<u8>,
    pub rd: usize,
    pub sending: bool,
    pub next_tx: u64,
    /// Pacing in picoseconds per wire byte.
    pub ps_per_byte: u64,
    pub ipid: u16,
    pub ts_off: u32,
    pub win: u16,
    pub ttl: u8,
    // Receiver side of this direction.
    pub rcv_ack: u32,
    pub acked_emitted: u32,
    pub seg_count: u32,
    // Spurious retransmission copy.
    pub retx: Vec<u8>,
    pub retx_seq: u32,
    pub retx_pending: bool,
    // Held (swapped) segment.
    pub held: Vec<u8>,
    pub held_seq: u32,
    pub held_end: u32,
    pub held_pending: bool,
}

impl Half {
    fn new(buf: Vec<u8>, isn: u32, bps: u64, ts_off: u32, win: u16, ttl: u8) -> Half {
        Half {
            nxt: isn,
            buf,
            rd: 0,
            sending: false,
            next_tx: 0,
            ps_per_byte: 8_000_000_000_000 / bps.max(1),
            ipid: (isn >> 16) as u16,
            ts_off,
            win,
            ttl,
            rcv_ack: 0,
            acked_emitted: 0,
            seg_count: 0,
            retx: Vec::new(),
            retx_seq: 0,
            retx_pending: false,
            held: Vec::new(),
            held_seq: 0,
            held_end: 0,
            held_pending: false,
        }
    }

    #[inline]
    pub fn avail(&self) -> usize {
        self.buf.len() - self.rd
    }

    /// Make room before the application appends data (keeps memory bounded).
    #[inline]
    pub fn compact(&mut self) {
        if self.rd == self.buf.len() {
            self.buf.clear();
            self.rd = 0;
        } else if self.rd > (256 << 10) {
            self.buf.drain(..self.rd);
            self.rd = 0;
        }
    }

    #[inline]
    fn gap(&self, wire_len: usize) -> u64 {
        ((wire_len as u64 * self.ps_per_byte) / 1_000_000).max(1)
    }
}

/// What the engine tells the application after an event.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum Note {
    None,
    Established,
    /// The send buffer of this direction ran empty.
    Drained(u8),
    Closed,
}

pub struct Tcp {
    pub ep: [Ep; 2],
    pub v6: bool,
    pub rtt: u64,
    pub cli_delay: u64,
    pub h: [Half; 2],
    pub mss: usize,
    pub cat: usize,
    pub fin_stage: u8,
    pub closed: bool,
    isn: [u32; 2],
}

impl Tcp {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &mut Ctx,
        cli: Ep,
        srv: Ep,
        v6: bool,
        rtt: u64,
        bps_up: u64,
        bps_down: u64,
        cat: usize,
        bufs: (Vec<u8>, Vec<u8>),
    ) -> Tcp {
        let r = &mut ctx.rng;
        let isn = [r.u32(), r.u32()];
        let ts = [r.u32() & 0x7fff_ffff, r.u32() & 0x7fff_ffff];
        let cli_win = 2048 + r.below(6144) as u16;
        let srv_win = 4096 + r.below(4096) as u16;
        let srv_ttl = 64 - r.range(3, 20) as u8;
        Tcp {
            ep: [cli, srv],
            v6,
            rtt,
            cli_delay: r.range(20, 150),
            h: [
                Half::new(bufs.0, isn[0], bps_up, ts[0], cli_win, 64),
                Half::new(bufs.1, isn[1], bps_down, ts[1], srv_win, srv_ttl),
            ],
            mss: if v6 { 1428 } else { 1448 },
            cat,
            fin_stage: 0,
            closed: false,
            isn,
        }
    }

    pub fn take_bufs(&mut self) -> (Vec<u8>, Vec<u8>) {
        (std::mem::take(&mut self.h[0].buf), std::mem::take(&mut self.h[1].buf))
    }

    #[inline]
    fn resp_delay(&self, d: usize) -> u64 {
        if d == 0 {
            self.rtt
        } else {
            self.cli_delay
        }
    }

    fn tsval(&self, side: usize, t: u64) -> u32 {
        ((t / 1000) as u32).wrapping_add(self.h[side].ts_off)
    }

    fn tsecr(&self, side: usize, t: u64) -> u32 {
        if side == 0 {
            (((t.saturating_sub(self.rtt / 2)) / 1000) as u32).wrapping_add(self.h[1].ts_off)
        } else {
            (((t.saturating_sub(self.rtt)) / 1000) as u32).wrapping_add(self.h[0].ts_off)
        }
    }

    /// Write Ethernet/IP/TCP headers of a segment from `side` into ctx.out.pkt.
    #[allow(clippy::too_many_arguments)]
    fn hdr(&mut self, ctx: &mut Ctx, t: u64, side: usize, seq: u32, ack: u32, flags: u8, paylen: usize) {
        let mut opts = [0u8; 20];
        let ol = if flags & SYN != 0 {
            let mss: u16 = if self.v6 { 1440 } else { 1460 };
            opts[0] = 2;
            opts[1] = 4;
            opts[2..4].copy_from_slice(&mss.to_be_bytes());
            opts[4] = 4;
            opts[5] = 2;
            opts[6] = 8;
            opts[7] = 10;
            opts[8..12].copy_from_slice(&self.tsval(side, t).to_be_bytes());
            let ecr = if flags & ACK != 0 { self.tsecr(side, t) } else { 0 };
            opts[12..16].copy_from_slice(&ecr.to_be_bytes());
            opts[16] = 1;
            opts[17] = 3;
            opts[18] = 3;
            opts[19] = 7;
            20
        } else {
            opts[0] = 1;
            opts[1] = 1;
            opts[2] = 8;
            opts[3] = 10;
            opts[4..8].copy_from_slice(&self.tsval(side, t).to_be_bytes());
            opts[8..12].copy_from_slice(&self.tsecr(side, t).to_be_bytes());
            12
        };
        let win = if flags & SYN != 0 { 64240 } else { self.h[side].win };
        let h = &mut self.h[side];
        h.ipid = h.ipid.wrapping_add(1);
        let ipid = h.ipid;
        let ttl = h.ttl;
        let (src, dst) = (&self.ep[side], &self.ep[1 - side]);
        ctx.out.begin_ip(src, dst, self.v6, 6, 20 + ol + paylen, 0, ttl, ipid);
        ctx.out.tcp_hdr(src.port, dst.port, seq, ack, flags, win, &opts[..ol]);
    }

    /// Emit a data segment from side `d` with payload buf[a..b] (or a held/retx copy).
    #[allow(clippy::too_many_arguments)]
    fn emit_data(
        &mut self,
        ctx: &mut Ctx,
        t: u64,
        d: usize,
        seq: u32,
        src: Src,
        a: usize,
        b: usize,
        psh: bool,
    ) -> io::Result<()> {
        let ack = self.h[1 - d].rcv_ack;
        self.h[1 - d].acked_emitted = ack;
        let flags = ACK | if psh { PSH } else { 0 };
        self.hdr(ctx, t, d, seq, ack, flags, b - a);
        let h = &self.h[d];
        let data = match src {
            Src::Buf => &h.buf[a..b],
            Src::Held => &h.held[a..b],
            Src::Retx => &h.retx[a..b],
        };
        ctx.out.pkt.extend_from_slice(data);
        ctx.out.commit(t, self.cat)
    }

    /// Pure ACK from `side` acknowledging the other direction.
    fn emit_ack(&mut self, ctx: &mut Ctx, t: u64, side: usize) -> io::Result<()> {
        let d = 1 - side;
        let ack = self.h[d].rcv_ack;
        self.h[d].acked_emitted = ack;
        self.h[d].seg_count = 0;
        let seq = self.h[side].nxt;
        self.hdr(ctx, t, side, seq, ack, ACK, 0);
        ctx.out.commit(t, self.cat)
    }

    /// Start sending data queued in direction `d` if not already doing so.
    pub fn kick(&mut self, ctx: &mut Ctx, id: u32, t: u64, d: usize) {
        let h = &mut self.h[d];
        if !h.sending && h.avail() > 0 {
            h.sending = true;
            ctx.sched.push(t.max(h.next_tx), id, K_SEND, d as u8, 0);
        }
    }

    /// After a send: schedule the next one or report the buffer drained.
    pub fn after_send(&mut self, ctx: &mut Ctx, id: u32, t: u64, d: usize) -> Note {
        let h = &mut self.h[d];
        if h.held_pending {
            return Note::None;
        }
        if h.avail() > 0 {
            ctx.sched.push(t.max(h.next_tx), id, K_SEND, d as u8, 0);
            Note::None
        } else {
            h.sending = false;
            h.compact();
            Note::Drained(d as u8)
        }
    }

    /// Handle an engine event. For K_SEND/K_HELD the caller must call `after_send`
    /// (after giving the application a chance to refill the buffer).
    pub fn handle(&mut self, ctx: &mut Ctx, id: u32, t: u64, kind: u8, dir: u8, arg: u32) -> io::Result<Note> {
        let d = dir as usize;
        match kind {
            K_SYN => {
                let isn = self.isn[0];
                self.hdr(ctx, t, 0, isn, 0, SYN, 0);
                ctx.out.commit(t, self.cat)?;
                self.h[0].nxt = isn.wrapping_add(1);
                ctx.sched.push(t + self.rtt, id, K_SYNACK, 0, 0);
            }
            K_SYNACK => {
                let isn = self.isn[1];
                self.h[0].rcv_ack = self.isn[0].wrapping_add(1);
                self.h[0].acked_emitted = self.h[0].rcv_ack;
                let ack = self.h[0].rcv_ack;
                self.hdr(ctx, t, 1, isn, ack, SYN | ACK, 0);
                ctx.out.commit(t, self.cat)?;
                self.h[1].nxt = isn.wrapping_add(1);
                ctx.sched.push(t + self.cli_delay, id, K_HSACK, 0, 0);
            }
            K_HSACK => {
                self.h[1].rcv_ack = self.h[1].nxt;
                self.emit_ack(ctx, t, 0)?;
                return Ok(Note::Established);
            }
            K_SEND => self.on_send(ctx, id, t, d)?,
            K_HELD => {
                let (seq, end) = (self.h[d].held_seq, self.h[d].held_end);
                let n = self.h[d].held.len();
                self.emit_data(ctx, t, d, seq, Src::Held, 0, n, false)?;
                let gap = self.h[d].gap(n + 66);
                let h = &mut self.h[d];
                h.held_pending = false;
                h.next_tx = h.next_tx.max(t + gap);
                ctx.sched.push(t + self.resp_delay(d), id, K_RCVIMM, dir, end);
            }
            K_RETX => {
                if self.fin_stage > 0 {
                    self.h[d].retx_pending = false;
                    return Ok(Note::None);
                }
                let seq = self.h[d].retx_seq;
                let n = self.h[d].retx.len();
                self.emit_data(ctx, t, d, seq, Src::Retx, 0, n, true)?;
                self.h[d].retx_pending = false;
                ctx.sched.push(t + self.resp_delay(d), id, K_RCVIMM, dir, seq.wrapping_add(n as u32));
            }
            K_RCV | K_RCVIMM => {
                let h = &mut self.h[d];
                if seq_gt(arg, h.rcv_ack) {
                    h.rcv_ack = arg;
                }
                h.seg_count += 1;
                if self.fin_stage >= 2 {
                    return Ok(Note::None);
                }
                if kind == K_RCVIMM || h.seg_count >= 2 {
                    self.emit_ack(ctx, t, 1 - d)?;
                } else {
                    ctx.sched.push(t + DELACK_US, id, K_DELACK, dir, arg);
                }
            }
            K_DELACK if self.fin_stage < 2 && seq_gt(arg, self.h[d].acked_emitted) => {
                self.emit_ack(ctx, t, 1 - d)?;
            }
            K_CLOSE => {
                let busy = self.h.iter().any(|h| h.avail() > 0 || h.sending || h.held_pending || h.retx_pending);
                if busy {
                    ctx.sched.push(t + 5_000, id, K_CLOSE, 0, 0);
                } else if self.fin_stage == 0 {
                    self.fin_stage = 1;
                    let (seq, ack) = (self.h[0].nxt, self.h[1].rcv_ack);
                    self.h[1].acked_emitted = ack;
                    self.hdr(ctx, t, 0, seq, ack, FIN | ACK, 0);
                    ctx.out.commit(t, self.cat)?;
                    self.h[0].nxt = seq.wrapping_add(1);
                    ctx.sched.push(t + self.rtt, id, K_FIN2, 0, 0);
                }
            }
            K_FIN2 => {
                self.fin_stage = 2;
                self.h[0].rcv_ack = self.h[0].nxt;
                let (seq, ack) = (self.h[1].nxt, self.h[0].rcv_ack);
                self.hdr(ctx, t, 1, seq, ack, FIN | ACK, 0);
                ctx.out.commit(t, self.cat)?;
                self.h[1].nxt = seq.wrapping_add(1);
                ctx.sched.push(t + self.cli_delay, id, K_FIN3, 0, 0);
            }
            K_FIN3 => {
                self.fin_stage = 3;
                self.h[1].rcv_ack = self.h[1].nxt;
                let (seq, ack) = (self.h[0].nxt, self.h[1].rcv_ack);
                self.hdr(ctx, t, 0, seq, ack, ACK, 0);
                ctx.out.commit(t, self.cat)?;
                self.closed = true;
                return Ok(Note::Closed);
            }
            _ => {}
        }
        Ok(Note::None)
    }

    fn on_send(&mut self, ctx: &mut Ctx, id: u32, t: u64, d: usize) -> io::Result<()> {
        let mss = self.mss;
        let avail = self.h[d].avail();
        if avail == 0 || self.h[d].held_pending {
            return Ok(());
        }
        let rd = self.h[d].rd;
        let seq = self.h[d].nxt;
        if avail > mss && ctx.rng.chance(P_SWAP) {
            // Capture the second segment first; the first follows shortly after.
            let lenb = (avail - mss).min(mss);
            let seqb = seq.wrapping_add(mss as u32);
            let end = seqb.wrapping_add(lenb as u32);
            {
                let h = &mut self.h[d];
                h.held.clear();
                h.held.extend_from_slice(&h.buf[rd..rd + mss]);
                h.held_seq = seq;
                h.held_end = end;
                h.held_pending = true;
            }
            let psh = avail == mss + lenb;
            self.emit_data(ctx, t, d, seqb, Src::Buf, rd + mss, rd + mss + lenb, psh)?;
            let gap = self.h[d].gap(lenb + 66);
            let h = &mut self.h[d];
            h.rd += mss + lenb;
            h.nxt = end;
            h.next_tx = t + gap;
            let jitter = ctx.rng.range(15, 250);
            ctx.sched.push(t + gap + jitter, id, K_HELD, d as u8, 0);
            // The receiver sees a hole: immediate duplicate ACK.
            ctx.sched.push(t + self.resp_delay(d), id, K_RCVIMM, d as u8, seq);
            return Ok(());
        }
        let len = avail.min(mss);
        let psh = len == avail;
        self.emit_data(ctx, t, d, seq, Src::Buf, rd, rd + len, psh)?;
        if !self.h[d].retx_pending && ctx.rng.chance(P_RETX) {
            let h = &mut self.h[d];
            h.retx.clear();
            h.retx.extend_from_slice(&h.buf[rd..rd + len]);
            h.retx_seq = seq;
            h.retx_pending = true;
            let delay = self.rtt / 2 + ctx.rng.below(2 * self.rtt + 1) + 200;
            ctx.sched.push(t + delay, id, K_RETX, d as u8, 0);
        }
        let gap = self.h[d].gap(len + 66);
        let h = &mut self.h[d];
        h.rd += len;
        h.nxt = seq.wrapping_add(len as u32);
        h.next_tx = t + gap;
        let end = h.nxt;
        ctx.sched.push(t + self.resp_delay(d), id, K_RCV, d as u8, end);
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Src {
    Buf,
    Held,
    Retx,
}
