//! The RTMP chunk stream of one direction (Adobe RTMP specification 1.0, §5.3): basic
//! headers of 1–3 bytes, message headers of type 0–3, extended timestamps (also on type 3
//! continuation chunks), the sender's chunk size, Abort, interleaved chunk streams and
//! message reassembly with no cap on message size beyond the 24-bit length field. After a
//! capture gap, or when a connection is joined mid-way, it resynchronises on a plausible
//! type-0 header instead of decoding garbage.

use crate::time::Timestamp;
use std::collections::HashMap;

/// Chunk stream ids with state kept at once; more is treated as corruption.
const MAX_STREAMS: usize = 256;
/// Bytes of partly assembled messages kept at once.
const MAX_PARTIAL: usize = 64 << 20;
/// Chunk sizes tried when resynchronising on a connection joined mid-way.
const CHUNK_SIZE_GUESSES: [usize; 10] = [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 60000, 65536];
/// Message types a resynchronisation may lock on to.
const KNOWN_TYPES: [u8; 15] = [1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22];

/// A whole RTMP message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Chunk stream id it arrived on.
    pub csid: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// Absolute message timestamp (ms).
    pub timestamp: u32,
    /// The body.
    pub body: &'a [u8],
    /// Capture time of the segment carrying its first chunk.
    pub first_ts: Timestamp,
    /// Capture time of the segment carrying its last byte.
    pub last_ts: Timestamp,
}

/// Counters of one direction.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ChunkStats {
    /// Chunks parsed.
    pub chunks: u64,
    /// Messages completed.
    pub messages: u64,
    /// Times the parser resynchronised after a gap or a mid-way join.
    pub resyncs: u64,
    /// Bytes skipped while looking for a chunk boundary.
    pub skipped_bytes: u64,
    /// Message timestamps count from an unknown origin (joined mid-way on type-1 headers).
    pub relative_timestamps: bool,
}

#[derive(Debug, Default)]
struct StreamState {
    opened: bool,
    timestamp: u32,
    delta: u32,
    len: u32,
    type_id: u8,
    stream_id: u32,
    /// The extended timestamp of the last header, when it used one.
    ext: Option<u32>,
    buf: Vec<u8>,
    in_progress: bool,
    first_ts: Timestamp,
}

impl StreamState {
    /// The message this stream's current header describes, with `body`.
    fn message<'a>(&self, csid: u32, body: &'a [u8], first_ts: Timestamp, last_ts: Timestamp) -> Message<'a> {
        Message {
            csid,
            type_id: self.type_id,
            stream_id: self.stream_id,
            timestamp: self.timestamp,
            body,
            first_ts,
            last_ts,
        }
    }
}

/// What the reader reports besides messages.
#[derive(Debug)]
pub enum Note {
    /// A recoverable oddity.
    Anomaly(String),
    /// The reader locked on to the chunk stream again (offset skipped, chunk size guessed).
    Resynced {
        /// Bytes skipped.
        skipped: u64,
        /// The chunk size now assumed.
        chunk_size: usize,
    },
}

/// Parses one direction's chunk stream.
#[derive(Debug)]
pub struct ChunkReader {
    chunk_size: usize,
    streams: HashMap<u32, StreamState>,
    /// The chunk whose payload is being read: its csid and the bytes it still holds.
    cur: Option<(u32, usize)>,
    partial: usize,
    synced: bool,
    guess_chunk_size: bool,
    last_timestamp: Option<u32>,
    /// Counters.
    pub stats: ChunkStats,
}

/// The reader's answer to a call: bytes consumed and, when stopped short, bytes needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes used.
    pub consumed: usize,
    /// When non-zero: bytes needed (from the first unconsumed one) to go on.
    pub needed: usize,
}

enum Header {
    Need(usize),
    Bad(&'static str),
    Ok { fmt: u8, csid: u32, hdr_len: usize, ts: u32, ext: bool, len: u32, type_id: u8, stream_id: u32 },
}

fn be24(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([0, *b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([*b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?, *b.get(at + 3)?]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([*b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?, *b.get(at + 3)?]))
}

impl ChunkReader {
    /// A reader at the start of the chunk stream (after the handshake), chunk size 128.
    pub fn new() -> Self {
        ChunkReader {
            chunk_size: 128,
            streams: HashMap::new(),
            cur: None,
            partial: 0,
            synced: true,
            guess_chunk_size: false,
            last_timestamp: None,
            stats: ChunkStats::default(),
        }
    }

    /// A reader that must first find a chunk boundary (a connection joined mid-way), and
    /// whose chunk size is unknown.
    pub fn mid_stream() -> Self {
        let mut r = Self::new();
        r.synced = false;
        r.guess_chunk_size = true;
        r
    }

    /// The sender's current chunk size.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Bytes were lost: forget partial messages and look for a chunk boundary again.
    pub fn gap(&mut self) {
        self.cur = None;
        for s in self.streams.values_mut() {
            s.buf = Vec::new();
            s.in_progress = false;
        }
        self.partial = 0;
        self.synced = false;
    }

    fn parse_header(&self, d: &[u8]) -> Header {
        let Some(&b0) = d.first() else { return Header::Need(1) };
        let fmt = b0 >> 6;
        let (csid, mut p) = match b0 & 0x3f {
            0 => match d.get(1) {
                Some(&b1) => (64 + u32::from(b1), 2),
                None => return Header::Need(2),
            },
            1 => match (d.get(1), d.get(2)) {
                (Some(&b1), Some(&b2)) => (64 + u32::from(b1) + 256 * u32::from(b2), 3),
                _ => return Header::Need(3),
            },
            n => (u32::from(n), 1),
        };
        let mh = match fmt {
            0 => 11,
            1 => 7,
            2 => 3,
            _ => 0,
        };
        if d.len() < p + mh {
            return Header::Need(p + mh);
        }
        let prev = self.streams.get(&csid);
        let (mut ts, mut len, mut type_id, mut stream_id) = match prev {
            Some(s) => (0, s.len, s.type_id, s.stream_id),
            None => (0, 0, 0, 0),
        };
        let mut ext = false;
        if fmt <= 2 {
            ts = be24(d, p).unwrap_or(0);
        }
        if fmt <= 1 {
            len = be24(d, p + 3).unwrap_or(0);
            type_id = d.get(p + 6).copied().unwrap_or(0);
        }
        if fmt == 0 {
            stream_id = le32(d, p + 7).unwrap_or(0);
        }
        p += mh;
        if fmt <= 2 && ts == 0x00FF_FFFF {
            match be32(d, p) {
                Some(v) => {
                    ts = v;
                    ext = true;
                    p += 4;
                }
                None => return Header::Need(p + 4),
            }
        } else if fmt == 3 {
            // §5.3.1.3: a type-3 chunk repeats the extended timestamp when the stream's last
            // header had one. Some senders omit it, so it is taken only when it matches.
            if let Some(e) = prev.and_then(|s| s.ext) {
                match be32(d, p) {
                    Some(v) if v == e => {
                        p += 4;
                        ext = true;
                    }
                    Some(_) => {}
                    None => return Header::Need(p + 4),
                }
            }
        }
        // A type-1 header carries length and type, so a stream first seen that way (joined
        // mid-way) can still be followed; types 2 and 3 cannot.
        if fmt >= 2 && prev.is_none_or(|s| !s.opened) {
            return Header::Bad("chunk on a chunk stream never opened");
        }
        Header::Ok { fmt, csid, hdr_len: p, ts, ext, len, type_id, stream_id }
    }

    /// Feeds in-order bytes; calls `on_msg` for each whole message and `on_note` for oddities.
    pub fn feed(
        &mut self,
        d: &[u8],
        ts: Timestamp,
        on_msg: &mut dyn FnMut(&Message<'_>),
        on_note: &mut dyn FnMut(Note),
    ) -> Fed {
        let mut pos = 0usize;
        loop {
            if !self.synced {
                match self.resync(d.get(pos..).unwrap_or(&[])) {
                    Ok((skip, cs, confirmed)) => {
                        pos += skip;
                        self.stats.skipped_bytes += skip as u64;
                        self.stats.resyncs += 1;
                        self.synced = true;
                        self.chunk_size = cs;
                        if confirmed {
                            // The continuation headers showed the sender's chunk size.
                            self.guess_chunk_size = false;
                        }
                        self.open_for_type1(d.get(pos..).unwrap_or(&[]));
                        on_note(Note::Resynced { skipped: skip as u64, chunk_size: cs });
                    }
                    Err((skip, needed)) => {
                        self.stats.skipped_bytes += skip as u64;
                        return Fed { consumed: pos + skip, needed };
                    }
                }
            }
            let rest = d.get(pos..).unwrap_or(&[]);
            if let Some((csid, left)) = self.cur {
                if rest.is_empty() {
                    return Fed { consumed: pos, needed: 0 };
                }
                let n = left.min(rest.len());
                let chunk = rest.get(..n).unwrap_or(&[]);
                pos += n;
                let left = left - n;
                self.cur = if left == 0 { None } else { Some((csid, left)) };
                let Some(s) = self.streams.get_mut(&csid) else { continue };
                s.buf.extend_from_slice(chunk);
                self.partial += n;
                if s.buf.len() >= s.len as usize {
                    let body = std::mem::take(&mut s.buf);
                    self.partial = self.partial.saturating_sub(body.len());
                    s.in_progress = false;
                    let m = s.message(csid, &body, s.first_ts, ts);
                    self.complete(&m, on_msg);
                    // Keep the allocation for the stream's next message (video frames are
                    // similar in size), unless it is unusually large.
                    if body.capacity() <= 1 << 20 {
                        if let Some(s) = self.streams.get_mut(&csid) {
                            if s.buf.capacity() == 0 {
                                let mut body = body;
                                body.clear();
                                s.buf = body;
                            }
                        }
                    }
                }
                continue;
            }
            if rest.is_empty() {
                return Fed { consumed: pos, needed: 0 };
            }
            let (fmt, csid, hdr_len, hts, ext, len, type_id, stream_id) = match self.parse_header(rest) {
                Header::Need(n) => return Fed { consumed: pos, needed: n },
                Header::Bad(what) => {
                    on_note(Note::Anomaly(format!("{what}; resynchronising")));
                    self.gap();
                    continue;
                }
                Header::Ok { fmt, csid, hdr_len, ts, ext, len, type_id, stream_id } => {
                    (fmt, csid, hdr_len, ts, ext, len, type_id, stream_id)
                }
            };
            if !self.streams.contains_key(&csid) && self.streams.len() >= MAX_STREAMS {
                on_note(Note::Anomaly(format!("more than {MAX_STREAMS} chunk streams; resynchronising")));
                self.gap();
                continue;
            }
            self.stats.chunks += 1;
            pos += hdr_len;
            let chunk_size = self.chunk_size;
            if fmt == 1 && self.streams.get(&csid).is_none_or(|s| !s.opened) {
                if !self.stats.relative_timestamps {
                    on_note(Note::Anomaly(format!("type-1 chunk on chunk stream {csid}, never opened")));
                }
                self.open_for_type1(rest);
            }
            let s = self.streams.entry(csid).or_default();
            let continuation = fmt == 3 && s.in_progress;
            if !continuation {
                if s.in_progress {
                    on_note(Note::Anomaly(format!("message on chunk stream {csid} interrupted by a new one")));
                    self.partial = self.partial.saturating_sub(s.buf.len());
                    s.buf = Vec::new();
                }
                match fmt {
                    0 => {
                        s.timestamp = hts;
                        s.delta = hts;
                    }
                    1 | 2 => {
                        s.delta = hts;
                        s.timestamp = s.timestamp.wrapping_add(hts);
                    }
                    _ => s.timestamp = s.timestamp.wrapping_add(s.delta),
                }
                if fmt <= 2 {
                    s.ext = ext.then_some(hts);
                }
                s.opened = true;
                s.len = len;
                s.type_id = type_id;
                s.stream_id = stream_id;
                s.first_ts = ts;
                s.in_progress = true;
                self.last_timestamp = Some(s.timestamp);
            }
            let total = s.len as usize;
            let left_in_msg = total.saturating_sub(s.buf.len());
            let in_chunk = left_in_msg.min(chunk_size);
            let avail = d.len().saturating_sub(pos);
            if s.buf.is_empty() && in_chunk == total && avail >= total {
                // The whole message is in this chunk and in this buffer: no copy.
                let body = d.get(pos..pos + total).unwrap_or(&[]);
                pos += total;
                s.in_progress = false;
                let m = s.message(csid, body, s.first_ts, ts);
                self.complete(&m, on_msg);
                continue;
            }
            if self.partial + in_chunk > MAX_PARTIAL {
                on_note(Note::Anomaly("partly assembled messages exceed 64 MiB; resynchronising".into()));
                self.gap();
                continue;
            }
            if total > 0 {
                s.buf.reserve(total.min(MAX_PARTIAL).saturating_sub(s.buf.len()));
            }
            self.cur = Some((csid, in_chunk));
            if in_chunk == 0 {
                // A zero-length message completes at once.
                self.cur = None;
                s.in_progress = false;
                let m = s.message(csid, &[], ts, ts);
                self.complete(&m, on_msg);
            }
        }
    }

    /// Resynchronised on a type-1 header: its chunk stream was opened before the capture
    /// saw it; open it now (stream id guessed from the type, timestamps relative).
    fn open_for_type1(&mut self, d: &[u8]) {
        let Some(&b0) = d.first() else { return };
        if b0 >> 6 != 1 {
            return;
        }
        let csid = u32::from(b0 & 0x3f);
        let type_id = d.get(7).copied().unwrap_or(0);
        let s = self.streams.entry(csid).or_default();
        if !s.opened {
            s.opened = true;
            s.stream_id = if (1..=6).contains(&type_id) { 0 } else { 1 };
            self.stats.relative_timestamps = true;
        }
    }

    /// Applies protocol control that changes framing (§5.4.1 Set Chunk Size, §5.4.2 Abort),
    /// then hands the message on.
    fn complete(&mut self, m: &Message<'_>, on_msg: &mut dyn FnMut(&Message<'_>)) {
        self.stats.messages += 1;
        if m.stream_id == 0 || m.csid == 2 {
            match (m.type_id, be32(m.body, 0)) {
                (1, Some(v)) => {
                    self.chunk_size = (v & 0x7fff_ffff).max(1) as usize;
                    self.guess_chunk_size = false;
                }
                (2, Some(cs)) => {
                    if let Some(s) = self.streams.get_mut(&cs) {
                        self.partial = self.partial.saturating_sub(s.buf.len());
                        s.buf = Vec::new();
                        s.in_progress = false;
                        if self.cur.is_some_and(|(c, _)| c == cs) {
                            self.cur = None;
                        }
                    }
                }
                _ => {}
            }
        }
        on_msg(m);
    }

    /// Looks for a type-0 chunk header that is plausible and confirmed by the chunk headers
    /// that must follow it. A message longer than the chunk size confirms (and, on a
    /// connection joined mid-way, tells) the chunk size by its type-3 continuation headers;
    /// one that fits in a chunk is only taken when nothing better turns up. Returns (bytes
    /// to skip, chunk size) or (bytes that can be dropped, bytes needed).
    fn resync(&self, d: &[u8]) -> Result<(usize, usize, bool), (usize, usize)> {
        const WINDOW: usize = 256 * 1024;
        let sizes: Vec<usize> = if self.guess_chunk_size {
            let mut v: Vec<usize> = CHUNK_SIZE_GUESSES.to_vec();
            v.retain(|&c| c != self.chunk_size);
            v.insert(0, self.chunk_size);
            v
        } else {
            vec![self.chunk_size]
        };
        let mut fallback: Option<(usize, usize)> = None;
        let mut i = 0usize;
        while i + 12 <= d.len() {
            match self.candidate(d, i, &sizes) {
                Candidate::Confirmed(cs) => return Ok((i, cs, true)),
                Candidate::Plausible(cs) => {
                    if !self.guess_chunk_size {
                        return Ok((i, cs, false));
                    }
                    fallback.get_or_insert((i, cs));
                }
                Candidate::NeedsMore if d.len() - i < WINDOW => {
                    let from = fallback.map_or(i, |f| f.0);
                    return Err((from, d.len() - from + 1));
                }
                _ => {}
            }
            i += 1;
        }
        match fallback {
            Some(f) if d.len() - f.0 >= WINDOW => Ok((f.0, f.1, false)),
            Some((at, _)) => Err((at, d.len() - at + 1)),
            None => {
                let keep = d.len().min(11);
                Err((d.len() - keep, keep + 1))
            }
        }
    }

    fn candidate(&self, d: &[u8], i: usize, sizes: &[usize]) -> Candidate {
        // A type-0 header (absolute timestamp, length, type, stream id) or, since senders use
        // type 1 for every media message after the first, a type-1 header (delta, length,
        // type) on a low chunk stream id.
        let Some(&b0) = d.get(i) else { return Candidate::No };
        let fmt = b0 >> 6;
        let csid = b0 & 0x3f;
        if fmt > 1 || csid < 2 {
            return Candidate::No;
        }
        let (Some(ts), Some(len), Some(&type_id)) = (be24(d, i + 1), be24(d, i + 4), d.get(i + 7)) else {
            return Candidate::No;
        };
        let len = len as usize;
        if !KNOWN_TYPES.contains(&type_id) || len == 0 {
            return Candidate::No;
        }
        if fmt == 0 {
            match le32(d, i + 8) {
                Some(sid) if sid <= 0xffff => {}
                _ => return Candidate::No,
            }
            if let (Some(last), true) = (self.last_timestamp, ts != 0x00FF_FFFF) {
                if ts.abs_diff(last) > 600_000 {
                    return Candidate::No;
                }
            }
        } else if ts > 60_000 && ts != 0x00FF_FFFF {
            return Candidate::No;
        }
        let ext = ts == 0x00FF_FFFF;
        let hdr = if fmt == 0 { 12 } else { 8 } + if ext { 4 } else { 0 };
        let mut needs_more = false;
        let mut plausible = None;
        for &cs in sizes {
            // Walk the chunk boundaries of this message: each must carry a type-3 header.
            let mut pos = i + hdr;
            let mut left = len;
            let mut checked = 0;
            let mut ok = true;
            let mut walked = false;
            loop {
                let take = left.min(cs);
                pos += take;
                left -= take;
                if left == 0 {
                    walked = true;
                    break;
                }
                match d.get(pos) {
                    Some(&nb) if nb == (0xC0 | csid) => {
                        checked += 1;
                        pos += if ext { 5 } else { 1 };
                    }
                    Some(_) => {
                        ok = false;
                        break;
                    }
                    None => break,
                }
            }
            if !ok {
                continue;
            }
            // Decide only on bytes seen: the same verdict whether the data came at once or
            // in pieces (a longer wait is cut short only past the window).
            let window_full = d.len() - i >= 256 * 1024;
            if !walked && !window_full {
                needs_more = true;
                break;
            }
            if checked > 0 {
                return Candidate::Confirmed(cs);
            }
            if len > cs {
                continue;
            }
            // One chunk: the next byte must start another header on a plausible stream.
            match d.get(pos) {
                Some(&nb) if nb & 0x3f >= 2 || nb >> 6 == 0 => {
                    plausible.get_or_insert(cs);
                }
                Some(_) => {}
                None if window_full => {}
                None => {
                    needs_more = true;
                    break;
                }
            }
        }
        match (plausible, needs_more) {
            (_, true) => Candidate::NeedsMore,
            (Some(cs), false) => Candidate::Plausible(cs),
            (None, false) => Candidate::No,
        }
    }
}

enum Candidate {
    No,
    /// A header confirmed by its continuation chunks, with this chunk size.
    Confirmed(usize),
    /// A one-chunk message followed by something header-like.
    Plausible(usize),
    /// Confirmation lies beyond the data.
    NeedsMore,
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds chunks of one message on `csid` with fmt 0 then fmt 3 continuation headers.
    fn chunked(csid: u8, type_id: u8, ts: u32, body: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = vec![csid];
        out.extend_from_slice(&ts.min(0xFFFFFF).to_be_bytes()[1..]);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.push(type_id);
        out.extend_from_slice(&1u32.to_le_bytes());
        if ts >= 0xFFFFFF {
            out.extend_from_slice(&ts.to_be_bytes());
        }
        for (i, c) in body.chunks(chunk).enumerate() {
            if i > 0 {
                out.push(0xC0 | csid);
                if ts >= 0xFFFFFF {
                    out.extend_from_slice(&ts.to_be_bytes());
                }
            }
            out.extend_from_slice(c);
        }
        out
    }

    fn run(r: &mut ChunkReader, data: &[u8], cut: usize) -> Vec<(u8, u32, Vec<u8>)> {
        let mut got = Vec::new();
        let mut stash: Vec<u8> = Vec::new();
        for piece in data.chunks(cut.max(1)) {
            stash.extend_from_slice(piece);
            let fed =
                r.feed(&stash, Timestamp(0), &mut |m| got.push((m.type_id, m.timestamp, m.body.to_vec())), &mut |_| {});
            stash.drain(..fed.consumed);
        }
        got
    }

    #[test]
    fn reassembles_across_chunks_with_extended_timestamps_at_any_cut() {
        let body: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut data = chunked(6, 9, 0x0100_0000, &body, 128);
        data.extend(chunked(4, 8, 5, b"audio", 128));
        for cut in [1, 2, 3, 7, 13, 128, 129, 5000] {
            let got = run(&mut ChunkReader::new(), &data, cut);
            assert_eq!(got.len(), 2, "cut {cut}");
            assert_eq!(got[0], (9, 0x0100_0000, body.clone()));
            assert_eq!(got[1], (8, 5, b"audio".to_vec()));
        }
    }

    #[test]
    fn set_chunk_size_applies_to_following_chunks() {
        let mut data = chunked(2, 1, 0, &4096u32.to_be_bytes(), 128);
        let body = vec![7u8; 5000];
        data.extend(chunked(6, 9, 40, &body, 4096));
        let got = run(&mut ChunkReader::new(), &data, 100);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].2.len(), 5000);
    }

    #[test]
    fn resyncs_mid_way_and_guesses_chunk_size() {
        let body = vec![1u8; 9000];
        let mut data = vec![0x55u8; 37]; // the tail of some earlier message
        data.extend(chunked(6, 9, 1000, &body, 4096));
        data.extend(chunked(6, 9, 1033, &body, 4096));
        let mut r = ChunkReader::mid_stream();
        let got = run(&mut r, &data, 1448);
        assert_eq!(got.len(), 2);
        assert_eq!(r.chunk_size(), 4096);
        assert_eq!(r.stats.skipped_bytes, 37);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 7u32;
        let g: Vec<u8> = (0..20000)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        for cut in [1, 17, 1448] {
            run(&mut ChunkReader::new(), &g, cut);
            run(&mut ChunkReader::mid_stream(), &g, cut);
        }
    }
}
