//! Fragmented MP4 (ISO/IEC 14496-12) as HLS (fMP4) and DASH deliver it: the init segment's
//! tracks (tkhd id, mdhd timescale, hdlr type) and each media segment's fragments (tfhd, tfdt
//! base media decode time, trun sample durations): the media time a segment covers.

use serde_json::{json, Value};

/// A track of an init segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track {
    /// tkhd track_ID.
    pub id: u32,
    /// mdhd timescale.
    pub timescale: u32,
    /// hdlr handler type (`vide`, `soun`, …).
    pub handler: [u8; 4],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([*b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?, *b.get(at + 3)?]))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some((u64::from(be32(b, at)?) << 32) | u64::from(be32(b, at + 4)?))
}

/// Iterates over the boxes of `b`: (type, body).
fn boxes(b: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        let size = be32(b, off)? as usize;
        let ty: [u8; 4] = b.get(off + 4..off + 8)?.try_into().ok()?;
        let (header, size) = match size {
            1 => (16, be64(b, off + 8)? as usize),
            0 => (8, b.len() - off),
            n => (8, n),
        };
        if size < header {
            return None;
        }
        // A box cut by the end of what was kept yields what there is; a 64-bit size past the
        // end of memory ends the walk after this box (never wraps around to the start).
        let end = off.saturating_add(size);
        let body = b.get(off + header..end.min(b.len()))?;
        off = end;
        Some((ty, body))
    })
}

fn child<'a>(b: &'a [u8], ty: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(b).find(|(t, _)| t == ty).map(|(_, body)| body)
}

/// The tracks of an init segment (moov).
pub fn init_tracks(b: &[u8]) -> Vec<Track> {
    let Some(moov) = child(b, b"moov") else { return Vec::new() };
    boxes(moov)
        .filter(|(t, _)| t == b"trak")
        .filter_map(|(_, trak)| {
            let tkhd = child(trak, b"tkhd")?;
            let id = if tkhd.first()? == &1 { be32(tkhd, 20)? } else { be32(tkhd, 12)? };
            let mdia = child(trak, b"mdia")?;
            let mdhd = child(mdia, b"mdhd")?;
            let timescale = if mdhd.first()? == &1 { be32(mdhd, 20)? } else { be32(mdhd, 12)? };
            let handler: [u8; 4] = child(mdia, b"hdlr")?.get(8..12)?.try_into().ok()?;
            Some(Track { id, timescale, handler })
        })
        .collect()
}

/// One track's fragment in a media segment: base decode time and summed sample durations
/// (in the track's timescale), and the sample count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// tfhd track_ID.
    pub track: u32,
    /// tfdt baseMediaDecodeTime.
    pub base: Option<u64>,
    /// Sum of the sample durations.
    pub duration: u64,
    /// Samples.
    pub samples: u32,
}

/// The fragments of a media segment (every moof/traf).
pub fn fragments(b: &[u8]) -> Vec<Fragment> {
    let mut out = Vec::new();
    for (_, moof) in boxes(b).filter(|(t, _)| t == b"moof") {
        for (_, traf) in boxes(moof).filter(|(t, _)| t == b"traf") {
            let Some(tfhd) = child(traf, b"tfhd") else { continue };
            let flags = be32(tfhd, 0).unwrap_or(0) & 0x00ff_ffff;
            let Some(track) = be32(tfhd, 4) else { continue };
            let mut off = 8;
            if flags & 0x1 != 0 {
                off += 8;
            }
            if flags & 0x2 != 0 {
                off += 4;
            }
            let default_duration = if flags & 0x8 != 0 { be32(tfhd, off) } else { None };
            let base = child(traf, b"tfdt").and_then(|t| {
                if t.first() == Some(&1) {
                    be64(t, 4)
                } else {
                    be32(t, 4).map(u64::from)
                }
            });
            let mut duration = 0u64;
            let mut samples = 0u32;
            for (_, trun) in boxes(traf).filter(|(t, _)| t == b"trun") {
                let tf = be32(trun, 0).unwrap_or(0) & 0x00ff_ffff;
                let count = be32(trun, 4).unwrap_or(0);
                let mut p = 8 + if tf & 0x1 != 0 { 4 } else { 0 } + if tf & 0x4 != 0 { 4 } else { 0 };
                let per = [0x100u32, 0x200, 0x400, 0x800].iter().filter(|f| tf & **f != 0).count() * 4;
                for _ in 0..count.min(1 << 20) {
                    let d = if tf & 0x100 != 0 { be32(trun, p) } else { default_duration };
                    duration += u64::from(d.unwrap_or(0));
                    p += per;
                    if p > trun.len() + per {
                        break;
                    }
                }
                samples = samples.saturating_add(count);
            }
            out.push(Fragment { track, base, duration, samples });
        }
    }
    out
}

/// A media segment's media time, using the timescales of its init segment.
pub fn summary(b: &[u8], tracks: &[Track]) -> Value {
    let frags = fragments(b);
    let entries: Vec<Value> = frags
        .iter()
        .map(|f| {
            let t = tracks.iter().find(|t| t.id == f.track);
            let scale = t.map(|t| f64::from(t.timescale)).filter(|s| *s > 0.0);
            json!({
                "track": f.track,
                "type": t.map(|t| String::from_utf8_lossy(&t.handler).into_owned()),
                "samples": f.samples,
                "start_s": scale.and_then(|s| f.base.map(|b| b as f64 / s)),
                "duration_s": scale.map(|s| f.duration as f64 / s),
            })
        })
        .collect();
    json!({ "container": "fmp4", "fragments": entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(ty: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(ty);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn init_and_fragment() {
        let mut tkhd = vec![0u8; 12];
        tkhd.extend_from_slice(&1u32.to_be_bytes());
        let mut mdhd = vec![0u8; 12];
        mdhd.extend_from_slice(&90000u32.to_be_bytes());
        let hdlr = [0, 0, 0, 0, 0, 0, 0, 0, b'v', b'i', b'd', b'e'];
        let mdia = [bx(b"mdhd", &mdhd), bx(b"hdlr", &hdlr)].concat();
        let trak = [bx(b"tkhd", &tkhd), bx(b"mdia", &mdia)].concat();
        let init = bx(b"moov", &bx(b"trak", &trak));
        let tracks = init_tracks(&init);
        assert_eq!(tracks, vec![Track { id: 1, timescale: 90000, handler: *b"vide" }]);
        // tfhd with default duration 9000, tfdt v1 base 180000, trun of 10 samples.
        let mut tfhd = vec![0, 0, 0, 0x08];
        tfhd.extend_from_slice(&1u32.to_be_bytes());
        tfhd.extend_from_slice(&9000u32.to_be_bytes());
        let mut tfdt = vec![1, 0, 0, 0];
        tfdt.extend_from_slice(&180000u64.to_be_bytes());
        let mut trun = vec![0, 0, 0, 0];
        trun.extend_from_slice(&10u32.to_be_bytes());
        let traf = [bx(b"tfhd", &tfhd), bx(b"tfdt", &tfdt), bx(b"trun", &trun)].concat();
        let seg = [bx(b"styp", b"msdh"), bx(b"moof", &bx(b"traf", &traf)), bx(b"mdat", &[0; 16])].concat();
        let v = summary(&seg, &tracks);
        assert_eq!(v["fragments"][0]["start_s"], 2.0);
        assert_eq!(v["fragments"][0]["duration_s"], 1.0);
        for cut in 0..seg.len() {
            let _ = summary(&seg[..cut], &tracks);
        }
    }
}
