//! Where the report entries of ended flows wait for the report: compact JSON text, not
//! `serde_json::Value` trees (a tree of a 500-byte HTTP exchange takes ~1.3 KB of heap), and
//! past a memory budget in an unlinked temporary file. What stays in memory per entry is its
//! place (24 bytes), so a capture with millions of exchanges keeps a flat footprint.
//!
//! Entries come back in two orders: the order they were stored in (flows end in that order),
//! and the report's order (by flow id, stable: a flow's entries keep their own order).

use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

/// Bytes of entry text kept in memory before they go to the spill file.
pub const MEMORY_BUDGET: usize = 8 << 20;

/// Where one entry's text is, and the flow it belongs to (`u64::MAX`: none).
#[derive(Debug, Clone, Copy)]
struct Place {
    flow: u64,
    offset: u64,
    len: u32,
}

/// Report entries per section, as JSON text, in memory up to a budget and then on disk.
pub struct SectionStore {
    sections: BTreeMap<&'static str, Vec<Place>>,
    /// Text not yet written out; its first byte is at logical offset `spilled`.
    pending: Vec<u8>,
    spilled: u64,
    file: Option<File>,
    /// Set when no spill file could be made: everything stays in memory.
    no_spill: bool,
    budget: usize,
    /// Entries too large to place (over 4 GiB of text), dropped and counted.
    pub dropped: u64,
}

impl Default for SectionStore {
    fn default() -> Self {
        SectionStore::with_budget(MEMORY_BUDGET)
    }
}

impl std::fmt::Debug for SectionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SectionStore")
            .field("sections", &self.sections.keys().collect::<Vec<_>>())
            .field("in_memory", &self.pending.len())
            .field("spilled", &self.spilled)
            .finish()
    }
}

impl SectionStore {
    /// A store that keeps up to `budget` bytes of text in memory (0: every entry goes to disk).
    pub fn with_budget(budget: usize) -> Self {
        SectionStore {
            sections: BTreeMap::new(),
            pending: Vec::new(),
            spilled: 0,
            file: None,
            no_spill: false,
            budget,
            dropped: 0,
        }
    }

    /// Stores one entry of `section`.
    pub fn push(&mut self, section: &'static str, entry: &Value) {
        let flow = entry.get("flow").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let start = self.pending.len();
        if serde_json::to_writer(&mut self.pending, entry).is_err() {
            self.pending.truncate(start);
            self.dropped += 1;
            return;
        }
        let Ok(len) = u32::try_from(self.pending.len() - start) else {
            self.pending.truncate(start);
            self.dropped += 1;
            return;
        };
        let offset = self.spilled + start as u64;
        self.sections.entry(section).or_default().push(Place { flow, offset, len });
        if self.pending.len() > self.budget {
            self.spill();
        }
    }

    /// Writes the pending text to the spill file (made on first use). When no file can be
    /// made or written, the text stays in memory: slower to grow, never lost.
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
            // Part of the text may be in the file; keep the logical offsets valid by never
            // spilling again and keeping what has not been written in memory.
            self.no_spill = true;
            self.file = None;
            return;
        }
        self.spilled += self.pending.len() as u64;
        self.pending.clear();
        if self.pending.capacity() > 2 * self.budget.max(1 << 16) {
            self.pending.shrink_to(self.budget);
        }
    }

    /// Section names with at least one entry, in name order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.sections.keys().copied()
    }

    /// Entries of `section`.
    pub fn len(&self, section: &str) -> usize {
        self.sections.get(section).map_or(0, Vec::len)
    }

    /// Whether the store holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }

    /// The text of one entry.
    fn text(&self, p: &Place) -> Option<Cow<'_, [u8]>> {
        if p.offset >= self.spilled {
            let from = usize::try_from(p.offset - self.spilled).ok()?;
            return self.pending.get(from..from + p.len as usize).map(Cow::Borrowed);
        }
        let f = self.file.as_ref()?;
        let mut buf = vec![0u8; p.len as usize];
        f.read_exact_at(&mut buf, p.offset).ok()?;
        Some(Cow::Owned(buf))
    }

    fn places(&self, section: &str, by_flow: bool) -> Vec<Place> {
        let mut v = self.sections.get(section).cloned().unwrap_or_default();
        if by_flow {
            v.sort_by_key(|p| p.flow);
        }
        v
    }

    /// The JSON text of each entry of `section`, in report order (by flow, stable).
    pub fn texts(&self, section: &str) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        self.places(section, true).into_iter().filter_map(move |p| self.text(&p))
    }

    /// Each entry of `section` parsed, in report order (by flow, stable).
    pub fn values(&self, section: &str) -> impl Iterator<Item = Value> + '_ {
        self.texts(section).filter_map(|t| serde_json::from_slice(&t).ok())
    }

    /// Each entry of `section` parsed, in the order it was stored.
    pub fn values_as_stored(&self, section: &str) -> impl Iterator<Item = Value> + '_ {
        self.places(section, false)
            .into_iter()
            .filter_map(move |p| self.text(&p))
            .filter_map(|t| serde_json::from_slice(&t).ok())
    }

    /// Bytes of entry text held in memory, and written to the spill file.
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
    use serde_json::json;

    fn fill(store: &mut SectionStore) -> Vec<Value> {
        let mut all = Vec::new();
        for i in 0..500u64 {
            let flow = (i * 7919) % 97;
            let v = json!({"flow": flow, "i": i, "uri": format!("/seg{i}.ts"), "t": "1.000001"});
            store.push(if i % 3 == 0 { "hls" } else { "http" }, &v);
            all.push(v);
        }
        store.push("http", &json!({"no_flow": true}));
        all
    }

    #[test]
    fn spilled_entries_read_back_as_stored_and_sorted() {
        let (mut mem, mut disk) = (SectionStore::with_budget(usize::MAX), SectionStore::with_budget(0));
        let all = fill(&mut mem);
        fill(&mut disk);
        assert_eq!(mem.footprint().1, 0, "nothing spilled with an unlimited budget");
        assert!(disk.footprint().1 > 0 && disk.footprint().0 == 0, "everything spilled with budget 0");
        for s in ["http", "hls"] {
            let a: Vec<Value> = mem.values(s).collect();
            let b: Vec<Value> = disk.values(s).collect();
            assert_eq!(a, b);
            let stored: Vec<Value> = disk.values_as_stored(s).collect();
            let expected: Vec<Value> = all
                .iter()
                .filter(|v| (v["i"].as_u64().unwrap_or(u64::MAX) % 3 == 0) == (s == "hls"))
                .cloned()
                .collect();
            assert_eq!(stored.get(..expected.len()), Some(expected.as_slice()));
            // Report order: by flow, and within a flow as stored; no flow sorts last.
            let keys: Vec<(u64, u64)> = a
                .iter()
                .map(|v| (v["flow"].as_u64().unwrap_or(u64::MAX), v["i"].as_u64().unwrap_or(u64::MAX)))
                .collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            assert_eq!(keys, sorted);
        }
        assert_eq!(mem.len("http"), 334);
        assert_eq!(disk.values("http").last(), Some(json!({"no_flow": true})));
    }

    #[test]
    fn text_equals_serialised_value() {
        let mut s = SectionStore::with_budget(0);
        let v = json!({"flow": 3, "x": [1, "a\"b", null, 2.500], "y": {"z": -1}});
        s.push("x", &v);
        let t: Vec<Vec<u8>> = s.texts("x").map(|c| c.into_owned()).collect();
        assert_eq!(t, vec![serde_json::to_vec(&v).unwrap()]);
    }
}
