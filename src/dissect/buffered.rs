//! Engine-side buffering for stream dissectors (Suricata's convention): a dissector that
//! answers `NeedMore` gets the unconsumed bytes back, joined with what arrives next, once
//! enough has arrived. Used by the application layer and by dissectors that carry another
//! protocol inside (TLS with a key log).

use super::{Ctx, DissectError, Progress, StreamDissector};
use crate::flow::{Direction, PerDir};
use crate::time::Timestamp;

/// Most bytes kept for a dissector that asked for more before they are treated as a gap.
pub const MAX_STASH: usize = 16 << 20;

/// A stream dissector with its per-direction stash.
pub struct Buffered {
    d: Box<dyn StreamDissector>,
    stash: PerDir<Vec<u8>>,
    need: PerDir<usize>,
    failed: bool,
}

impl Buffered {
    /// Wraps a dissector.
    pub fn new(d: Box<dyn StreamDissector>) -> Self {
        Buffered { d, stash: PerDir::default(), need: PerDir::default(), failed: false }
    }

    /// The dissector.
    pub fn dissector(&self) -> &dyn StreamDissector {
        self.d.as_ref()
    }

    /// Whether the dissector rejected its stream.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Feeds in-order bytes; returns the error the first time the dissector rejects.
    pub fn feed(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) -> Option<DissectError> {
        if self.failed {
            return None;
        }
        let result = if self.stash[dir].is_empty() {
            let r = self.d.on_data(ctx, dir, data, ts);
            if let Progress::NeedMore { consumed, needed } = &r {
                self.stash[dir].extend_from_slice(data.get(*consumed..).unwrap_or(&[]));
                self.need[dir] = *needed;
            }
            r
        } else {
            self.stash[dir].extend_from_slice(data);
            if self.stash[dir].len() < self.need[dir] {
                if self.stash[dir].len() > MAX_STASH {
                    let dropped = self.stash[dir].len() as u64;
                    self.stash[dir] = Vec::new();
                    let what =
                        format!("dissector waited for more than {} MiB; skipped {dropped} bytes", MAX_STASH >> 20);
                    ctx.anomaly("stream", ts, Some(dir), what);
                    self.d.on_gap(ctx, dir, dropped);
                }
                return None;
            }
            let mut buf = std::mem::take(&mut self.stash[dir]);
            let r = self.d.on_data(ctx, dir, &buf, ts);
            match &r {
                Progress::Done | Progress::Reject(_) => buf.clear(),
                Progress::NeedMore { consumed, needed } => {
                    buf.drain(..(*consumed).min(buf.len()));
                    self.need[dir] = *needed;
                }
            }
            self.stash[dir] = buf;
            r
        };
        match result {
            Progress::Reject(e) => {
                self.failed = true;
                Some(e)
            }
            _ => None,
        }
    }

    /// Bytes of one direction were lost.
    pub fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Direction, len: u64) {
        self.stash[dir].clear();
        self.need[dir] = 0;
        if !self.failed {
            self.d.on_gap(ctx, dir, len);
        }
    }

    /// One direction ended.
    pub fn end(&mut self, ctx: &mut Ctx<'_>, dir: Direction, ts: Timestamp) {
        if !self.failed {
            self.d.on_end(ctx, dir, ts);
        }
    }
}
