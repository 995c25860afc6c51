//! Where the report entries of ended flows wait for the report: compact JSON text, not
//! `serde_json::Value` trees (a tree of a 500-byte HTTP exchange takes ~1.3 KB of heap), and
//! past a memory budget in an unlinked temporary file. What stays in memory per entry is its
//! place (24 bytes), so a capture with millions of exchanges keeps a flat footprint.
//!
//! Entries come back in two orders: the order they were stored in (flows end in that order),
//! and the report's order (by flow id, stable: a flow's entries keep their own order).

use crate::spill::SpillLog;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Bytes of entry text kept in memory before they go to the spill file.
pub const MEMORY_BUDGET: usize = crate::spill::DEFAULT_BUDGET;

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
    log: SpillLog,
    /// Entries that could not be stored (over 4 GiB of text), dropped and counted.
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
            .field("log", &self.log)
            .finish()
    }
}

impl SectionStore {
    /// A store that keeps up to `budget` bytes of text in memory (0: every entry goes to disk).
    pub fn with_budget(budget: usize) -> Self {
        SectionStore { sections: BTreeMap::new(), log: SpillLog::new(budget), dropped: 0 }
    }

    /// Stores one entry of `section`.
    pub fn push(&mut self, section: &'static str, entry: &Value) {
        let flow = entry.get("flow").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let placed = self.log.append_with(|buf| {
            let start = buf.len();
            serde_json::to_writer(&mut *buf, entry).map_err(|_| ())?;
            if buf.len() - start > u32::MAX as usize {
                return Err(());
            }
            Ok(())
        });
        match placed {
            Some((offset, len)) => {
                let len = len as u32;
                self.sections.entry(section).or_default().push(Place { flow, offset, len });
            }
            None => self.dropped += 1,
        }
    }

    /// Stores one entry of `section` given as JSON text (an object), for flow `flow`.
    pub fn push_text(&mut self, section: &'static str, flow: u64, text: &[u8]) {
        let Ok(len) = u32::try_from(text.len()) else {
            self.dropped += 1;
            return;
        };
        let offset = self.log.append(text);
        self.sections.entry(section).or_default().push(Place { flow, offset, len });
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

    fn places(&self, section: &str, by_flow: bool) -> Vec<Place> {
        let mut v = self.sections.get(section).cloned().unwrap_or_default();
        if by_flow {
            v.sort_by_key(|p| p.flow);
        }
        v
    }

    /// The JSON text of each entry of `section`, in report order (by flow, stable).
    pub fn texts(&self, section: &str) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        self.places(section, true).into_iter().filter_map(move |p| self.log.read(p.offset, p.len as usize))
    }

    /// Each entry of `section` parsed, in report order (by flow, stable).
    pub fn values(&self, section: &str) -> impl Iterator<Item = Value> + '_ {
        self.texts(section).filter_map(|t| serde_json::from_slice(&t).ok())
    }

    /// The JSON text of each entry of `section`, in the order it was stored.
    pub fn texts_as_stored(&self, section: &str) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        self.places(section, false).into_iter().filter_map(move |p| self.log.read(p.offset, p.len as usize))
    }

    /// Each entry of `section` parsed, in the order it was stored.
    pub fn values_as_stored(&self, section: &str) -> impl Iterator<Item = Value> + '_ {
        self.places(section, false)
            .into_iter()
            .filter_map(move |p| self.log.read(p.offset, p.len as usize))
            .filter_map(|t| serde_json::from_slice(&t).ok())
    }

    /// Bytes of entry text held in memory, and written to the spill file.
    pub fn footprint(&self) -> (usize, u64) {
        self.log.footprint()
    }
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
