//! Discrete-event scheduler shared by all flows, plus the generation context.

use crate::out::Out;
use crate::rng::Rng;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Flow id used for global (spawner) events.
pub const SPAWNER: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
pub struct Ev {
    pub t: u64,
    n: u64,
    pub flow: u32,
    pub kind: u8,
    pub dir: u8,
    pub arg: u32,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.t == o.t && self.n == o.n
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    // Reversed: BinaryHeap is a max-heap, we want the earliest (t, n) first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.cmp(&self.t).then(o.n.cmp(&self.n))
    }
}

pub struct Sched {
    heap: BinaryHeap<Ev>,
    n: u64,
    /// Number of queued events per flow slot (a slot is recycled only when it reaches 0).
    pub pending: Vec<u32>,
}

impl Sched {
    pub fn new() -> Sched {
        Sched { heap: BinaryHeap::with_capacity(1 << 16), n: 0, pending: Vec::new() }
    }

    #[inline]
    pub fn push(&mut self, t: u64, flow: u32, kind: u8, dir: u8, arg: u32) {
        if flow != SPAWNER {
            self.pending[flow as usize] += 1;
        }
        self.n += 1;
        self.heap.push(Ev { t, n: self.n, flow, kind, dir, arg });
    }

    #[inline]
    pub fn pop(&mut self) -> Option<Ev> {
        let e = self.heap.pop()?;
        if e.flow != SPAWNER {
            self.pending[e.flow as usize] -= 1;
        }
        Some(e)
    }
}

/// Size of the block of random bytes that payloads are sliced from.
pub const BLK: usize = 1 << 20;

pub struct Ctx {
    pub sched: Sched,
    pub rng: Rng,
    pub out: Out,
    /// Random bytes (BLK + 64 KiB slack) used as payload filler.
    pub blk: Vec<u8>,
    /// Reusable scratch buffer for building application messages.
    pub scratch: Vec<u8>,
}

/// A random slice of `len` (<= 64 KiB) filler bytes.
#[inline]
pub fn rnd<'a>(rng: &mut Rng, blk: &'a [u8], len: usize) -> &'a [u8] {
    let off = rng.below(BLK as u64) as usize;
    &blk[off..off + len]
}
