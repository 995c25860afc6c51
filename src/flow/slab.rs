//! Per-flow state indexed by flow id, for the flows still open only: an ended flow's slot is
//! reused by the next new flow, so what grows with the number of flows ever seen is one `u32`
//! per flow, not the state. Values live in fixed-size chunks, so growing never copies the
//! whole table nor leaves half of it unused, as doubling a `Vec` would.

use super::FlowId;

const NONE: u32 = u32::MAX;
/// Values per chunk.
const CHUNK: usize = 4096;

/// Values of type `T` by flow id, stored densely for the ids that have one.
#[derive(Debug)]
pub struct IdSlab<T> {
    /// Flow id → index in `items` (or `NONE`).
    slots: Vec<u32>,
    /// Chunks of `CHUNK` values (each allocated once at full size, never grown).
    chunks: Vec<Vec<Option<T>>>,
    /// Values ever placed (the next new room).
    used: usize,
    free: Vec<u32>,
}

impl<T> Default for IdSlab<T> {
    fn default() -> Self {
        IdSlab { slots: Vec::new(), chunks: Vec::new(), used: 0, free: Vec::new() }
    }
}

impl<T> IdSlab<T> {
    fn room(&self, at: u32) -> Option<&Option<T>> {
        let at = at as usize;
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    fn room_mut(&mut self, at: u32) -> Option<&mut Option<T>> {
        let at = at as usize;
        self.chunks.get_mut(at / CHUNK)?.get_mut(at % CHUNK)
    }

    /// A room for a new value: a freed one, or the next one (a new chunk when needed).
    fn new_room(&mut self) -> u32 {
        if let Some(at) = self.free.pop() {
            return at;
        }
        let at = self.used;
        self.used += 1;
        if at.is_multiple_of(CHUNK) {
            let mut chunk = Vec::with_capacity(CHUNK);
            chunk.resize_with(CHUNK, || None);
            self.chunks.push(chunk);
        }
        at as u32
    }

    /// Sets the value of `id` (replacing any).
    pub fn insert(&mut self, id: FlowId, value: T) {
        let i = id as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, NONE);
        }
        let current = self.slots.get(i).copied().unwrap_or(NONE);
        let at = if current == NONE { self.new_room() } else { current };
        if let Some(room) = self.room_mut(at) {
            *room = Some(value);
        }
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = at;
        }
    }

    /// The value of `id`.
    pub fn get(&self, id: FlowId) -> Option<&T> {
        let at = *self.slots.get(id as usize)?;
        self.room(at)?.as_ref()
    }

    /// The value of `id`, mutable.
    pub fn get_mut(&mut self, id: FlowId) -> Option<&mut T> {
        let at = *self.slots.get(id as usize)?;
        self.room_mut(at)?.as_mut()
    }

    /// Takes the value of `id` out; its room goes to the next insert.
    pub fn remove(&mut self, id: FlowId) -> Option<T> {
        let slot = self.slots.get_mut(id as usize)?;
        let at = std::mem::replace(slot, NONE);
        let v = self.room_mut(at)?.take();
        if v.is_some() {
            self.free.push(at);
        }
        v
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.used - self.free.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_reused_and_ids_stay_apart() {
        let mut s: IdSlab<String> = IdSlab::default();
        for id in 0..10 {
            s.insert(id, format!("v{id}"));
        }
        assert_eq!(s.remove(3).as_deref(), Some("v3"));
        assert_eq!(s.remove(3), None);
        assert_eq!(s.get(3), None);
        s.insert(10, "v10".into());
        assert_eq!(s.used, 10, "the room of 3 was reused");
        assert_eq!(s.get(10).map(String::as_str), Some("v10"));
        assert_eq!(s.get(4).map(String::as_str), Some("v4"));
        s.insert(4, "again".into());
        assert_eq!(s.get(4).map(String::as_str), Some("again"));
        assert_eq!(s.len(), 10);
        assert_eq!(s.get(1_000_000), None);
        if let Some(v) = s.get_mut(0) {
            v.push('!');
        }
        assert_eq!(s.get(0).map(String::as_str), Some("v0!"));
    }

    #[test]
    fn many_values_across_chunks() {
        let mut s: IdSlab<u64> = IdSlab::default();
        for id in 0..(3 * CHUNK as u32 + 5) {
            s.insert(id, u64::from(id) * 7);
        }
        for id in (0..(3 * CHUNK as u32 + 5)).step_by(2) {
            assert_eq!(s.remove(id), Some(u64::from(id) * 7));
        }
        assert_eq!(s.chunks.len(), 4);
        for id in 0..(3 * CHUNK as u32 + 5) {
            assert_eq!(s.get(id).copied(), (id % 2 == 1).then_some(u64::from(id) * 7));
        }
        let before = s.chunks.len();
        for id in 100_000..(100_000 + CHUNK as u32) {
            s.insert(id, 1);
        }
        assert_eq!(s.chunks.len(), before, "the 6,147 freed rooms are reused before any new chunk");
    }
}
