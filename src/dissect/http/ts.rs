//! MPEG-2 transport stream segments (ISO/IEC 13818-1 §2.4.3 packets, §2.4.4 PAT/PMT, §2.4.3.7
//! PES headers) as HLS delivers them: streams and their types, PES timestamps (the media time a
//! segment covers), continuity-counter errors and lost sync, fed incrementally as the body
//! arrives.

use serde_json::{json, Value};

const PACKET: usize = 188;
/// Elementary streams tracked per segment.
const MAX_STREAMS: usize = 32;

#[derive(Debug, Clone, Default)]
struct Stream {
    pid: u16,
    stream_type: Option<u8>,
    cc: Option<u8>,
    first_pts: Option<u64>,
    min_pts: Option<u64>,
    max_pts: Option<u64>,
    pes: u64,
}

/// Incremental transport-stream reader for one segment.
#[derive(Debug, Default, Clone)]
pub struct TsReader {
    partial: Vec<u8>,
    packets: u64,
    sync_errors: u64,
    cc_errors: u64,
    pmt_pids: Vec<u16>,
    streams: Vec<Stream>,
}

fn pts_at(b: &[u8]) -> Option<u64> {
    let (b0, b1, b2, b3, b4) = (*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?, *b.get(4)?);
    Some(
        (u64::from(b0 >> 1) & 0x07) << 30
            | u64::from(b1) << 22
            | u64::from(b2 >> 1) << 15
            | u64::from(b3) << 7
            | u64::from(b4 >> 1),
    )
}

impl TsReader {
    /// Feeds more body bytes.
    pub fn feed(&mut self, mut d: &[u8]) {
        if !self.partial.is_empty() {
            let need = PACKET - self.partial.len();
            let take = need.min(d.len());
            self.partial.extend_from_slice(d.get(..take).unwrap_or(&[]));
            d = d.get(take..).unwrap_or(&[]);
            if self.partial.len() == PACKET {
                let p = std::mem::take(&mut self.partial);
                self.packet(&p);
            }
        }
        let mut chunks = d.chunks_exact(PACKET);
        for p in chunks.by_ref() {
            self.packet(p);
        }
        self.partial.extend_from_slice(chunks.remainder());
    }

    fn stream(&mut self, pid: u16) -> Option<&mut Stream> {
        if let Some(i) = self.streams.iter().position(|s| s.pid == pid) {
            return self.streams.get_mut(i);
        }
        if self.streams.len() >= MAX_STREAMS {
            return None;
        }
        self.streams.push(Stream { pid, ..Stream::default() });
        self.streams.last_mut()
    }

    fn packet(&mut self, p: &[u8]) {
        self.packets += 1;
        if p.first() != Some(&0x47) {
            self.sync_errors += 1;
            return;
        }
        let (Some(&b1), Some(&b2), Some(&b3)) = (p.get(1), p.get(2), p.get(3)) else { return };
        let pid = (u16::from(b1 & 0x1f) << 8) | u16::from(b2);
        let pusi = b1 & 0x40 != 0;
        let afc = (b3 >> 4) & 0x03;
        let cc = b3 & 0x0f;
        let mut off = 4usize;
        let mut discontinuity = false;
        if afc & 0x02 != 0 {
            let af_len = usize::from(p.get(4).copied().unwrap_or(0));
            discontinuity = af_len > 0 && p.get(5).is_some_and(|f| f & 0x80 != 0);
            off += 1 + af_len;
        }
        if pid == 0x1fff || afc & 0x01 == 0 {
            return;
        }
        let payload = p.get(off..).unwrap_or(&[]);
        // §2.4.3.3: the counter goes up by one per packet with payload (a repeat is allowed once).
        let pmt = self.pmt_pids.contains(&pid);
        if let Some(s) = self.stream(pid) {
            if let Some(prev) = s.cc {
                if !discontinuity && cc != (prev + 1) & 0x0f && cc != prev {
                    self.cc_errors += 1;
                }
            }
            if let Some(s) = self.stream(pid) {
                s.cc = Some(cc);
            }
        }
        if !pusi {
            return;
        }
        if pid == 0 {
            self.pat(payload);
        } else if pmt {
            self.pmt(payload);
        } else if payload.starts_with(&[0, 0, 1]) {
            // PES header: stream id, length, flags, header length, then PTS/DTS.
            let flags = payload.get(7).copied().unwrap_or(0);
            let pts = if flags & 0x80 != 0 { payload.get(9..14).and_then(pts_at) } else { None };
            if let (Some(s), Some(pts)) = (self.stream(pid), pts) {
                s.pes += 1;
                s.first_pts.get_or_insert(pts);
                s.min_pts = Some(s.min_pts.map_or(pts, |m| m.min(pts)));
                s.max_pts = Some(s.max_pts.map_or(pts, |m| m.max(pts)));
            }
        }
    }

    fn section(payload: &[u8]) -> &[u8] {
        let pointer = usize::from(payload.first().copied().unwrap_or(0));
        let sec = payload.get(1 + pointer..).unwrap_or(&[]);
        let len = usize::from(u16::from_be_bytes([
            sec.get(1).copied().unwrap_or(0) & 0x0f,
            sec.get(2).copied().unwrap_or(0),
        ]));
        // Without the CRC (4 bytes) at the end.
        sec.get(..(3 + len).saturating_sub(4).min(sec.len())).unwrap_or(&[])
    }

    fn pat(&mut self, payload: &[u8]) {
        let sec = Self::section(payload);
        let mut off = 8;
        while let (Some(&p0), Some(&p1), Some(&h), Some(&l)) =
            (sec.get(off), sec.get(off + 1), sec.get(off + 2), sec.get(off + 3))
        {
            let program = u16::from_be_bytes([p0, p1]);
            let pid = (u16::from(h & 0x1f) << 8) | u16::from(l);
            if program != 0 && !self.pmt_pids.contains(&pid) && self.pmt_pids.len() < MAX_STREAMS {
                self.pmt_pids.push(pid);
            }
            off += 4;
        }
    }

    fn pmt(&mut self, payload: &[u8]) {
        let sec = Self::section(payload);
        let info = usize::from(u16::from_be_bytes([
            sec.get(10).copied().unwrap_or(0) & 0x0f,
            sec.get(11).copied().unwrap_or(0),
        ]));
        let mut off = 12 + info;
        while let (Some(&ty), Some(&h), Some(&l), Some(&ih), Some(&il)) =
            (sec.get(off), sec.get(off + 1), sec.get(off + 2), sec.get(off + 3), sec.get(off + 4))
        {
            let pid = (u16::from(h & 0x1f) << 8) | u16::from(l);
            if let Some(s) = self.stream(pid) {
                s.stream_type = Some(ty);
            }
            off += 5 + usize::from(u16::from_be_bytes([ih & 0x0f, il]));
        }
    }

    /// The earliest PTS of any elementary stream, in seconds.
    pub fn start_s(&self) -> Option<f64> {
        self.streams.iter().filter_map(|s| s.min_pts).min().map(|p| p as f64 / 90_000.0)
    }

    /// What the segment holds, for the report.
    pub fn summary(&self) -> Value {
        let kind = |t: Option<u8>| match t {
            Some(0x1b) => "h264",
            Some(0x24) => "hevc",
            Some(0x0f) => "aac",
            Some(0x03 | 0x04) => "mpeg-audio",
            Some(0x15) => "id3",
            Some(0x81) => "ac3",
            Some(_) => "other",
            None => "unknown",
        };
        let streams: Vec<Value> = self
            .streams
            .iter()
            .filter(|s| s.pes > 0)
            .map(|s| {
                json!({
                    "pid": s.pid, "type": kind(s.stream_type), "pes": s.pes,
                    "first_pts_s": s.first_pts.map(|p| p as f64 / 90_000.0),
                    "min_pts_s": s.min_pts.map(|p| p as f64 / 90_000.0),
                    "max_pts_s": s.max_pts.map(|p| p as f64 / 90_000.0),
                })
            })
            .collect();
        let start = self.start_s();
        let end = self.streams.iter().filter_map(|s| s.max_pts).max().map(|p| p as f64 / 90_000.0);
        json!({
            "container": "mpeg-ts", "packets": self.packets, "sync_errors": self.sync_errors,
            "continuity_errors": self.cc_errors, "start_pts_s": start,
            "pts_span_s": match (start, end) { (Some(a), Some(b)) => Some(b - a), _ => None },
            "streams": streams,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(pid: u16, pusi: bool, cc: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x47, (if pusi { 0x40 } else { 0 }) | (pid >> 8) as u8, pid as u8, 0x10 | cc];
        p.extend_from_slice(payload);
        p.resize(188, 0xff);
        p
    }

    #[test]
    fn pes_pts_and_continuity() {
        // PES with PTS 900000 (10 s): '0010' marker, PTS bits.
        let pts: u64 = 900_000;
        let b = [
            0x21 | (((pts >> 30) as u8 & 0x07) << 1),
            (pts >> 22) as u8,
            (((pts >> 15) as u8) << 1) | 1,
            (pts >> 7) as u8,
            ((pts as u8) << 1) | 1,
        ];
        let mut pes = vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5];
        pes.extend_from_slice(&b);
        let mut data = pkt(0x100, true, 0, &pes);
        data.extend(pkt(0x100, false, 1, &[]));
        data.extend(pkt(0x100, false, 3, &[])); // skipped 2
        let mut r = TsReader::default();
        for c in data.chunks(100) {
            r.feed(c);
        }
        assert_eq!(r.packets, 3);
        assert_eq!(r.cc_errors, 1);
        assert_eq!(r.start_s(), Some(10.0));
    }
}
