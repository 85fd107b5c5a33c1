//! Exact top-k over posting lists with MaxScore dynamic pruning, shared by
//! sparse vectors (dot product) and BM25 (term weights).
//!
//! A query is a list of posting lists, one per query term; a [`Scorer`]
//! turns a posting of term `t` into a contribution and gives an upper bound
//! for a whole list. A document's score is the sum of its contributions.
//!
//! MaxScore (Turtle and Flood, 1995): terms sorted by upper bound; once the
//! k-th best score θ is known, the longest prefix of terms whose bounds sum
//! to at most θ is "non-essential": a document found only there cannot
//! enter the top-k, so only the essential lists are walked, and the
//! non-essential lists are probed (by galloping search) for the documents
//! the essential lists yield, in decreasing bound order, stopping as soon
//! as the partial score plus the remaining bounds cannot beat θ.
//!
//! The essential lists are walked a window of document ids at a time
//! (as Lucene's MaxScore scorer does): their postings in the window are
//! added term at a time into a dense accumulator, then the window's
//! documents are finished in id order. This avoids merging cursors posting
//! by posting.
//!
//! Contributions are added in one canonical order, decreasing upper bound
//! (ties: higher term index first). The essential terms are always a
//! prefix of that order and the non-essential ones are probed in it, so the
//! pruned and the exhaustive search add the same numbers in the same order
//! and compute bit-identical scores: they agree exactly.
//!
//! Documents are finished in increasing id order and ties rank the lower id
//! first, so a new document must beat θ strictly; bounds carry a small
//! slack for floating-point rounding, so pruning never drops a document the
//! exhaustive search would keep.

use alloc::collections::BinaryHeap;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::{Ordering, Reverse};

use hashbrown::HashMap;

use super::postings::{Posting, PostingList};
use crate::search::Filter;

/// How a query term's postings are scored.
pub(crate) trait Scorer<P: Posting> {
    /// Contribution of one live posting of query term `term`.
    fn score(&self, term: usize, posting: P) -> f32;

    /// Bounds for query term `term` over a list with statistics `stats`:
    /// `upper` is at least every contribution [`score`](Self::score) can
    /// give (before rounding), `magnitude` at least every contribution's
    /// absolute value.
    fn bounds(&self, term: usize, stats: &P::Stats) -> Bounds;
}

/// See [`Scorer::bounds`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) upper: f64,
    pub(crate) magnitude: f64,
}

/// Work counters of one search, for tests of pruning.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Work {
    /// Postings scored.
    pub(crate) scored: usize,
}

/// A scored document, ordered best first by `>`: higher score, then lower id.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    score: f32,
    id: u32,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.id.cmp(&self.id))
    }
}

/// Past every document id.
const END: u64 = u64::MAX;

/// A position in one posting list, on a live posting or at the end
/// (between moves).
struct Cursor<'a, P: Posting> {
    ids: &'a [u32],
    postings: &'a [P],
    pos: usize,
    /// Index of the term in the canonical order.
    term: usize,
    /// Upper bound of the term's contributions, clamped at zero.
    upper: f64,
}

impl<'a, P: Posting> Cursor<'a, P> {
    fn new(list: &'a PostingList<P>, term: usize, upper: f64) -> Self {
        let mut c = Cursor {
            ids: &list.ids,
            postings: &list.postings,
            pos: 0,
            term,
            upper,
        };
        c.skip_dead();
        c
    }

    #[inline]
    fn doc(&self) -> u64 {
        match self.ids.get(self.pos) {
            Some(&id) => u64::from(id),
            None => END,
        }
    }

    #[inline]
    fn posting(&self) -> P {
        self.postings[self.pos]
    }

    #[inline]
    fn skip_dead(&mut self) {
        while self.pos < self.postings.len() && self.postings[self.pos].is_dead() {
            self.pos += 1;
        }
    }

    /// Moves to the first live posting with id `>= target` (galloping,
    /// then binary search).
    fn seek(&mut self, target: u32) {
        let len = self.ids.len();
        if self.pos >= len || self.ids[self.pos] >= target {
            self.skip_dead();
            return;
        }
        // Everything before `lo` is below the target.
        let mut lo = self.pos + 1;
        let mut hi = lo;
        let mut step = 1;
        while hi < len && self.ids[hi] < target {
            lo = hi + 1;
            hi += step;
            step *= 2;
        }
        let hi = hi.min(len);
        self.pos = lo + self.ids[lo..hi].partition_point(|&id| id < target);
        self.skip_dead();
    }
}

/// Largest window of document ids in the pruned search. Windows start at
/// [`FIRST_WINDOW`] ids and double, so that θ is known early.
const WINDOW: usize = 4096;
/// See [`WINDOW`].
const FIRST_WINDOW: usize = 64;

/// The query's terms in increasing upper bound (ties: lower term first),
/// their clamped upper bounds, and the rounding slack for the pruning
/// tests. The canonical order of contributions is the reverse.
fn plan<P: Posting, S: Scorer<P>>(
    lists: &[&PostingList<P>],
    scorer: &S,
) -> (Vec<(usize, f64)>, f64) {
    let mut magnitude = 0.0f64;
    let mut order: Vec<(usize, f64)> = lists
        .iter()
        .enumerate()
        .map(|(t, list)| {
            let b = scorer.bounds(t, &list.stats);
            magnitude += b.magnitude;
            (t, b.upper.max(0.0))
        })
        .collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    // A score is a sum of at most n f32 contributions, each within a few
    // ulps of its exact value; this covers their rounding (and that of the
    // f64 sums) with room to spare, and is strictly positive so that a
    // bound equal to θ never prunes.
    let slack =
        (lists.len() as f64 + 8.0) * f64::from(f32::EPSILON) * magnitude + f64::MIN_POSITIVE;
    (order, slack)
}

/// Exact top-`k` of the documents that have a posting in at least one of
/// `lists` (query term `t` is `lists[t]`), best first (ties: lower id
/// first), pruned with MaxScore.
pub(crate) fn top_k_pruned<P: Posting, S: Scorer<P>>(
    lists: &[&PostingList<P>],
    scorer: &S,
    k: usize,
    filter: Option<&dyn Filter>,
    work: &mut Work,
) -> Vec<(u32, f32)> {
    let n = lists.len();
    if k == 0 || n == 0 {
        return Vec::new();
    }
    let (order, slack) = plan(lists, scorer);
    let mut cursors: Vec<Cursor<'_, P>> = order
        .iter()
        .map(|&(t, upper)| Cursor::new(lists[t], t, upper))
        .collect();
    // cum[i]: the sum of the bounds of cursors 0..=i (the i + 1 weakest).
    let mut cum = Vec::with_capacity(n);
    let mut sum = 0.0f64;
    for c in &cursors {
        sum += c.upper;
        cum.push(sum);
    }

    let mut heap: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(k.min(1024) + 1);
    let mut theta = f64::NEG_INFINITY;
    // Cursors [0, first) are non-essential.
    let mut first = 0usize;
    let mut acc = vec![0.0f32; WINDOW];
    let mut seen = [0u64; WINDOW / 64];
    let mut size = FIRST_WINDOW;

    while first < n {
        let mut base = END;
        for c in &cursors[first..] {
            base = base.min(c.doc());
        }
        if base == END {
            break;
        }
        let end = base + size as u64;
        // Essential terms of this window, added strongest first.
        let window_first = first;
        for c in cursors[window_first..].iter_mut().rev() {
            let term = c.term;
            while c.pos < c.ids.len() && u64::from(c.ids[c.pos]) < end {
                let p = c.postings[c.pos];
                if !p.is_dead() {
                    let d = (u64::from(c.ids[c.pos]) - base) as usize;
                    acc[d] += scorer.score(term, p);
                    seen[d / 64] |= 1 << (d % 64);
                    work.scored += 1;
                }
                c.pos += 1;
            }
            c.skip_dead();
        }
        // Finish the window's documents in id order.
        for (word, slot) in seen[..size / 64].iter_mut().enumerate() {
            let mut bits = core::mem::take(slot);
            while bits != 0 {
                let d = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let mut score = core::mem::take(&mut acc[d]);
                let id = (base + d as u64) as u32;
                if filter.is_some_and(|f| !f.allows(id)) {
                    continue;
                }
                let mut competitive = true;
                for i in (0..window_first).rev() {
                    if f64::from(score) + cum[i] + slack <= theta {
                        competitive = false;
                        break;
                    }
                    let c = &mut cursors[i];
                    c.seek(id);
                    if c.doc() == u64::from(id) {
                        score += scorer.score(c.term, c.posting());
                        work.scored += 1;
                    }
                }
                if !competitive {
                    continue;
                }
                let cand = Ranked { score, id };
                if heap.len() < k {
                    heap.push(Reverse(cand));
                } else if let Some(mut worst) = heap.peek_mut()
                    && cand > worst.0
                {
                    *worst = Reverse(cand);
                } else {
                    continue;
                }
                if heap.len() == k
                    && let Some(worst) = heap.peek()
                {
                    theta = f64::from(worst.0.score);
                    while first < n && cum[first] + slack <= theta {
                        first += 1;
                    }
                }
            }
        }
        size = (size * 2).min(WINDOW);
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|Reverse(r)| (r.id, r.score))
        .collect()
}

/// The same result as [`top_k_pruned`], by scoring every live posting of
/// every list, term at a time in the canonical order, into an accumulator:
/// the reference.
/// Exact top-`k` over `candidates` (the points a restrictive filter
/// allows), scoring each one directly: `value(term, id)` looks its value up.
/// The sums run in the same order as [`top_k_exhaustive`], so for the same
/// candidates the result is bit for bit the same; a candidate sharing no term
/// with the query is left out, as there.
pub(crate) fn top_k_candidates<P: Posting, S: Scorer<P>>(
    lists: &[&PostingList<P>],
    scorer: &S,
    k: usize,
    candidates: impl Iterator<Item = u32>,
    value: impl Fn(usize, u32) -> Option<P>,
) -> Vec<(u32, f32)> {
    if k == 0 {
        return Vec::new();
    }
    let (order, _) = plan(lists, scorer);
    let mut all: Vec<Ranked> = Vec::new();
    for id in candidates {
        let mut score = 0.0f32;
        let mut shared = false;
        for &(t, _) in order.iter().rev() {
            if let Some(p) = value(t, id) {
                score += scorer.score(t, p);
                shared = true;
            }
        }
        if shared {
            all.push(Ranked { score, id });
        }
    }
    all.sort_unstable_by(|a, b| b.cmp(a));
    all.truncate(k);
    all.into_iter().map(|r| (r.id, r.score)).collect()
}

pub(crate) fn top_k_exhaustive<P: Posting, S: Scorer<P>>(
    lists: &[&PostingList<P>],
    scorer: &S,
    k: usize,
    filter: Option<&dyn Filter>,
    work: &mut Work,
) -> Vec<(u32, f32)> {
    if k == 0 {
        return Vec::new();
    }
    let (order, _) = plan(lists, scorer);
    let mut acc: HashMap<u32, f32> = HashMap::new();
    for &(t, _) in order.iter().rev() {
        for (id, p) in lists[t].iter() {
            work.scored += 1;
            *acc.entry(id).or_insert(0.0) += scorer.score(t, p);
        }
    }
    let mut all: Vec<Ranked> = acc
        .into_iter()
        .filter(|&(id, _)| filter.is_none_or(|f| f.allows(id)))
        .map(|(id, score)| Ranked { score, id })
        .collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    all.truncate(k);
    all.into_iter().map(|r| (r.id, r.score)).collect()
}
