//! An append-only log of byte records that keeps its newest bytes in memory up to a budget and
//! writes the rest to an unlinked temporary file. What ended (a flow's final record, a
//! section's report entry) goes here, so memory stays flat however long the capture is.

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

/// Bytes kept in memory by default before they go to the file.
pub const DEFAULT_BUDGET: usize = 4 << 20;

/// The log. Offsets are logical: they stay valid whether the bytes are in memory or on disk.
pub struct SpillLog {
    /// Bytes not yet written out; the first is at logical offset `spilled`.
    pending: Vec<u8>,
    spilled: u64,
    file: Option<File>,
    /// Set when no spill file could be made or written: everything stays in memory.
    no_spill: bool,
    budget: usize,
}

impl std::fmt::Debug for SpillLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpillLog").field("in_memory", &self.pending.len()).field("spilled", &self.spilled).finish()
    }
}

impl SpillLog {
    /// A log that keeps up to `budget` bytes in memory (0: every record goes to disk at once).
    pub fn new(budget: usize) -> Self {
        SpillLog { pending: Vec::new(), spilled: 0, file: None, no_spill: false, budget }
    }

    /// Appends one record written by `write` into the log's buffer; gives its offset and
    /// length, or `None` (nothing kept) when `write` fails.
    pub fn append_with<E>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Option<(u64, usize)> {
        if self.pending.capacity() == 0 && self.budget > 0 && self.budget < usize::MAX / 2 {
            // Room for the whole budget and one typical record: the buffer never doubles past it.
            self.pending.reserve_exact(self.budget + (64 << 10));
        }
        let start = self.pending.len();
        if write(&mut self.pending).is_err() {
            self.pending.truncate(start);
            return None;
        }
        let len = self.pending.len() - start;
        let offset = self.spilled + start as u64;
        if self.pending.len() > self.budget {
            self.spill();
        }
        Some((offset, len))
    }

    /// Appends `bytes`; gives their offset.
    pub fn append(&mut self, bytes: &[u8]) -> u64 {
        let r = self.append_with(|b| {
            b.extend_from_slice(bytes);
            Ok::<(), ()>(())
        });
        r.map_or(0, |(o, _)| o)
    }

    /// Writes the pending bytes to the spill file (made on first use).
    fn spill(&mut self) {
        if self.no_spill {
            return;
        }
        if self.file.is_none() {
            self.file = spill_file();
            if self.file.is_none() {
                self.no_spill = true;
                return;
            }
        }
        let Some(f) = self.file.as_mut() else { return };
        if f.write_all(&self.pending).is_err() {
            // Part of the bytes may be in the file, the offsets must stay valid: keep the
            // file for what was spilled before, and everything from here on in memory.
            self.no_spill = true;
            return;
        }
        self.spilled += self.pending.len() as u64;
        self.pending.clear();
    }

    /// The bytes at `offset..offset + len`.
    pub fn read(&self, offset: u64, len: usize) -> Option<Cow<'_, [u8]>> {
        if offset >= self.spilled {
            let from = usize::try_from(offset - self.spilled).ok()?;
            return self.pending.get(from..from.checked_add(len)?).map(Cow::Borrowed);
        }
        let f = self.file.as_ref()?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset).ok()?;
        Some(Cow::Owned(buf))
    }

    /// Fills `buf` with the bytes at `offset` (no allocation); false when they are not there.
    pub fn read_into(&self, offset: u64, buf: &mut [u8]) -> bool {
        if offset >= self.spilled {
            let Ok(from) = usize::try_from(offset - self.spilled) else { return false };
            return match from.checked_add(buf.len()).and_then(|end| self.pending.get(from..end)) {
                Some(src) => {
                    buf.copy_from_slice(src);
                    true
                }
                None => false,
            };
        }
        self.file.as_ref().is_some_and(|f| f.read_exact_at(buf, offset).is_ok())
    }

    /// Bytes held in memory, and written to the file.
    pub fn footprint(&self) -> (usize, u64) {
        (self.pending.len(), self.spilled)
    }
}

/// A new temporary file, already unlinked so that it goes away with the process.
fn spill_file() -> Option<File> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir();
    for _ in 0..8 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(".streamscope-{}-{n}-{nanos}.spill", std::process::id()));
        let opened = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path);
        if let Ok(f) = opened {
            // Unlinked at once: nothing is left behind, whatever way the process ends.
            let _ = std::fs::remove_file(&path);
            return Some(f);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_from_memory_and_disk() {
        for budget in [0, 100, 1 << 20] {
            let mut log = SpillLog::new(budget);
            let recs: Vec<Vec<u8>> = (0..300u32).map(|i| vec![(i % 256) as u8; (i as usize * 13) % 97 + 1]).collect();
            let at: Vec<u64> = recs.iter().map(|r| log.append(r)).collect();
            for (r, &o) in recs.iter().zip(&at) {
                assert_eq!(log.read(o, r.len()).unwrap().as_ref(), r.as_slice(), "budget {budget}");
                let mut buf = vec![0u8; r.len()];
                assert!(log.read_into(o, &mut buf));
                assert_eq!(&buf, r);
            }
            let (mem, disk) = log.footprint();
            assert!(mem <= budget.max(97), "budget {budget}: {mem} in memory");
            assert_eq!(mem as u64 + disk, recs.iter().map(|r| r.len() as u64).sum::<u64>());
            assert!(log.read(mem as u64 + disk, 1).is_none(), "past the end");
        }
    }

    #[test]
    fn a_failed_write_keeps_nothing() {
        let mut log = SpillLog::new(1 << 10);
        log.append(b"abc");
        assert!(log
            .append_with(|b| {
                b.extend_from_slice(b"partial");
                Err(())
            })
            .is_none());
        assert_eq!(log.footprint().0, 3);
    }
}
