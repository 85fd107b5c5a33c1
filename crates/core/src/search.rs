//! What every index shares at query time: parameters, hits, filters,
//! query planning and the exact top-k scan.

use alloc::vec::Vec;
use core::cmp::Ordering;

use crate::error::{Error, Result};
use crate::quant::QuantSearch;
use crate::store::PointStore;

/// One search result: the point's id and its score under the index's metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The point's external id.
    pub id: u64,
    /// Similarity (cosine, dot: higher is better) or distance (euclid,
    /// manhattan: lower is better), as Qdrant reports it.
    pub score: f32,
}

/// Parameters of one search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchParams {
    /// How many results to return.
    pub k: usize,
    /// Size of the HNSW candidate list (`ef`); `None` uses the index's
    /// default. Raised to `k` when smaller. Ignored by exact search.
    pub ef: Option<usize>,
    /// Force an exact scan (the result is then the true top-k, unless the
    /// scan compares quantized codes without rescoring).
    pub exact: bool,
    /// How a quantized index uses its codes (ignored without quantization).
    pub quantization: QuantSearch,
}

impl SearchParams {
    /// Top-`k` with the index's default `ef`.
    pub fn top(k: usize) -> Self {
        SearchParams {
            k,
            ef: None,
            exact: false,
            quantization: QuantSearch::default(),
        }
    }

    /// Sets `ef`.
    pub fn with_ef(mut self, ef: usize) -> Self {
        self.ef = Some(ef);
        self
    }

    /// Sets `exact`.
    pub fn with_exact(mut self, exact: bool) -> Self {
        self.exact = exact;
        self
    }

    /// Sets the quantization parameters.
    pub fn with_quantization(mut self, quantization: QuantSearch) -> Self {
        self.quantization = quantization;
        self
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.ef == Some(0) {
            return Err(Error::InvalidParameter("ef must be at least 1".into()));
        }
        self.quantization.check()
    }
}

/// A restriction of a search to some points, given over internal ids
/// (see `internal_id`). Payload indexes implement it; so does any
/// `Fn(u32) -> bool`.
pub trait Filter {
    /// Whether the point with this internal id may be returned.
    fn allows(&self, internal_id: u32) -> bool;

    /// How many points the filter allows, if it knows cheaply (exactly or
    /// as an estimate). Without it the index estimates by sampling.
    fn cardinality(&self) -> Option<usize> {
        None
    }
}

impl<F: Fn(u32) -> bool> Filter for F {
    fn allows(&self, internal_id: u32) -> bool {
        self(internal_id)
    }
}

/// How a search was (or will be) executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Exact scan over the allowed points.
    Exact,
    /// Graph search.
    Graph,
}

/// Number of slots sampled to estimate a filter's selectivity.
const SAMPLE: usize = 512;

/// Estimated number of live points a filter allows.
pub(crate) fn estimate_allowed(store: &PointStore, filter: &dyn Filter) -> usize {
    if let Some(c) = filter.cardinality() {
        return c.min(store.live);
    }
    let n = store.slot_count();
    if n <= SAMPLE {
        return (0..n as u32)
            .filter(|&s| store.is_live(s) && filter.allows(s))
            .count();
    }
    // Evenly strided deterministic sample; a fixed stride keeps the result
    // reproducible (the core has no entropy of its own).
    let (mut seen, mut hit) = (0usize, 0usize);
    let step = n as f64 / SAMPLE as f64;
    for i in 0..SAMPLE {
        let s = (i as f64 * step) as u32;
        if store.is_live(s) {
            seen += 1;
            if filter.allows(s) {
                hit += 1;
            }
        }
    }
    if seen == 0 {
        return 0;
    }
    // Round up: under-estimating sends rare filters to the graph, where
    // recall suffers; over-estimating only costs a scan.
    (hit * store.live).div_ceil(seen)
}

/// A candidate during search: internal distance (lower is better) and slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub(crate) dist: f32,
    pub(crate) slot: u32,
}

impl PartialEq for Cand {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cand {
    /// By distance, ties by slot, so results are deterministic.
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.slot.cmp(&other.slot))
    }
}

/// Turns candidates (best first) into hits with user-facing scores.
pub(crate) fn to_hits(store: &PointStore, cands: &[Cand], k: usize) -> Vec<Hit> {
    cands
        .iter()
        .take(k)
        .map(|c| Hit {
            id: store.keys[c.slot as usize],
            score: store.metric.score(c.dist),
        })
        .collect()
}
