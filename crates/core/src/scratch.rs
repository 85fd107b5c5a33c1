//! Reusable per-query memory, so that a search allocates nothing once warm.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;

use crate::search::Cand;

/// Working memory for searches. Create one per thread (or per worker) and
/// pass it to `search_with`; it grows to the index size once and is reused.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    pub(crate) visited: Visited,
    /// Sorted candidate pool of the unfiltered graph search.
    pub(crate) pool: Vec<Cand>,
    /// Frontier of the filtered graph search (closest on top).
    pub(crate) frontier: BinaryHeap<Reverse<Cand>>,
    /// Results of the filtered graph search (worst on top).
    pub(crate) results: BinaryHeap<Cand>,
    /// The query, checked and normalised.
    pub(crate) query: Vec<f32>,
    /// Neighbour ids waiting for their distance.
    pub(crate) batch: Vec<u32>,
    /// Candidates for neighbour selection.
    pub(crate) cands: Vec<Cand>,
    /// Selected neighbours.
    pub(crate) chosen: Vec<Cand>,
}

impl Scratch {
    /// Empty scratch; it sizes itself on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        use core::mem::size_of;
        self.visited.marks.capacity() * size_of::<u16>()
            + (self.pool.capacity()
                + self.frontier.capacity()
                + self.results.capacity()
                + self.cands.capacity()
                + self.chosen.capacity())
                * size_of::<Cand>()
            + (self.query.capacity() + self.batch.capacity()) * 4
    }
}

/// Visited marks by generation: a slot is visited when its mark equals the
/// current epoch, so starting a new search costs nothing.
#[derive(Debug, Default, Clone)]
pub(crate) struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    /// Starts a new search over `n` slots.
    #[inline]
    pub(crate) fn begin(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `slot`; returns false when it was already marked.
    #[inline(always)]
    pub(crate) fn insert(&mut self, slot: u32) -> bool {
        let m = &mut self.marks[slot as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Visited;

    #[test]
    fn visited_survives_epoch_wrap_around() {
        let mut v = Visited::default();
        for round in 0..70_000u32 {
            v.begin(8);
            assert!(
                v.insert(round % 8),
                "round {round}: fresh slot reported as seen"
            );
            assert!(
                !v.insert(round % 8),
                "round {round}: second insert not detected"
            );
        }
        v.begin(16);
        assert!((0..16).all(|s| v.insert(s)));
    }
}
