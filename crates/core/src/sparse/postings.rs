//! Posting lists: for one term, the ids of the documents that contain it
//! (sorted) and what each one stores for it.
//!
//! Removing a document tombstones its posting in place; a list rewrites
//! itself without tombstones once they pass a quarter of its length, so the
//! work is amortised and memory follows the live count. Re-adding a
//! tombstoned id revives its posting without moving anything.

use alloc::vec::Vec;

/// What a posting list stores per document, and the per-list statistics
/// that bound its scores.
pub(crate) trait Posting: Copy {
    /// Summary of a list's postings from which a scorer derives an upper
    /// bound (for example the largest value).
    type Stats: Copy;

    /// Statistics of an empty list.
    const EMPTY_STATS: Self::Stats;

    /// The tombstone that marks a removed document.
    const TOMBSTONE: Self;

    /// Whether this is a tombstone.
    fn is_dead(&self) -> bool;

    /// Widens `stats` to cover `self`.
    fn widen(stats: &mut Self::Stats, posting: Self);
}

/// Sparse vectors store the component's value; NaN (never a valid value)
/// is the tombstone. Statistics: smallest and largest value.
impl Posting for f32 {
    type Stats = (f32, f32);
    const EMPTY_STATS: (f32, f32) = (f32::INFINITY, f32::NEG_INFINITY);
    const TOMBSTONE: f32 = f32::NAN;

    fn is_dead(&self) -> bool {
        self.is_nan()
    }

    fn widen(stats: &mut (f32, f32), v: f32) {
        stats.0 = stats.0.min(v);
        stats.1 = stats.1.max(v);
    }
}

/// One term's postings, sorted by document id.
#[derive(Debug, Clone)]
pub(crate) struct PostingList<P: Posting> {
    /// Document ids, strictly increasing.
    pub(crate) ids: Vec<u32>,
    /// One posting per id (tombstones included).
    pub(crate) postings: Vec<P>,
    /// Number of tombstones.
    pub(crate) dead: usize,
    /// Covers every live posting (and perhaps some removed ones until the
    /// next compaction), so bounds derived from it stay valid.
    pub(crate) stats: P::Stats,
}

impl<P: Posting> PostingList<P> {
    /// An empty list.
    pub(crate) fn new() -> Self {
        PostingList {
            ids: Vec::new(),
            postings: Vec::new(),
            dead: 0,
            stats: P::EMPTY_STATS,
        }
    }

    /// Number of live postings (the term's document frequency).
    pub(crate) fn live(&self) -> usize {
        self.ids.len() - self.dead
    }

    /// Adds (or replaces) the posting of document `id`.
    pub(crate) fn insert(&mut self, id: u32, posting: P) {
        debug_assert!(!posting.is_dead());
        P::widen(&mut self.stats, posting);
        if self.ids.last().is_none_or(|&last| last < id) {
            self.ids.push(id);
            self.postings.push(posting);
            return;
        }
        match self.ids.binary_search(&id) {
            Ok(i) => {
                if self.postings[i].is_dead() {
                    self.dead -= 1;
                }
                self.postings[i] = posting;
            }
            Err(i) => {
                self.ids.insert(i, id);
                self.postings.insert(i, posting);
            }
        }
    }

    /// Removes the posting of document `id`; false if it had none.
    pub(crate) fn remove(&mut self, id: u32) -> bool {
        let Ok(i) = self.ids.binary_search(&id) else {
            return false;
        };
        if self.postings[i].is_dead() {
            return false;
        }
        self.postings[i] = P::TOMBSTONE;
        self.dead += 1;
        if self.dead * 4 > self.ids.len() {
            self.compact();
        }
        true
    }

    /// Drops the tombstones, recomputes the statistics and gives back spare
    /// capacity.
    pub(crate) fn compact(&mut self) {
        let mut stats = P::EMPTY_STATS;
        let mut w = 0;
        for r in 0..self.ids.len() {
            let p = self.postings[r];
            if !p.is_dead() {
                self.ids[w] = self.ids[r];
                self.postings[w] = p;
                P::widen(&mut stats, p);
                w += 1;
            }
        }
        self.ids.truncate(w);
        self.postings.truncate(w);
        self.dead = 0;
        self.stats = stats;
        if self.ids.capacity() > 2 * w + 4 {
            self.ids.shrink_to_fit();
            self.postings.shrink_to_fit();
        }
    }

    /// The live `(id, posting)` pairs in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, P)> + '_ {
        self.ids
            .iter()
            .copied()
            .zip(self.postings.iter().copied())
            .filter(|(_, p)| !p.is_dead())
    }

    /// Heap bytes held by the list.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ids.capacity() * core::mem::size_of::<u32>()
            + self.postings.capacity() * core::mem::size_of::<P>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_keeps_ids_sorted_and_revives_tombstones() {
        let mut list = PostingList::<f32>::new();
        for (id, v) in [(5, 0.5), (9, 0.9), (1, 0.1), (7, 0.7)] {
            list.insert(id, v);
        }
        assert_eq!(list.ids, [1, 5, 7, 9]);
        assert_eq!(list.postings, [0.1, 0.5, 0.7, 0.9]);
        // One of four is not more than a quarter: tombstoned, not compacted.
        assert!(list.remove(5));
        assert!(!list.remove(5));
        assert_eq!((list.ids.len(), list.dead, list.live()), (4, 1, 3));
        list.insert(5, 2.0);
        assert_eq!((list.ids.len(), list.dead), (4, 0));
        assert_eq!(list.iter().collect::<Vec<_>>()[1], (5, 2.0));
        assert_eq!(list.stats, (0.1, 2.0));
    }

    #[test]
    fn compaction_drops_tombstones_and_tightens_stats() {
        let mut list = PostingList::<f32>::new();
        for id in 0..8 {
            list.insert(id, id as f32);
        }
        assert!(list.remove(7));
        assert!(list.remove(6));
        // Two of eight is not above a quarter yet.
        assert_eq!(list.ids.len(), 8);
        assert!(list.remove(5));
        assert_eq!(list.ids, [0, 1, 2, 3, 4]);
        assert_eq!(list.dead, 0);
        assert_eq!(list.stats, (0.0, 4.0));
    }
}
