//! The sparse inverted index: one posting list per dimension.

use alloc::format;
use alloc::vec::Vec;

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use super::engine::{self, Bounds, Scorer, Work};
use super::postings::PostingList;
use super::vector::SparseVector;
use crate::error::Result;
use crate::search::Filter;

/// How query weights are adjusted before scoring (Qdrant's sparse vector
/// `modifier`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, Encode, Decode,
)]
#[serde(rename_all = "lowercase")]
pub enum Modifier {
    /// Score is the plain dot product.
    #[default]
    None,
    /// Each query weight is multiplied by the dimension's inverse document
    /// frequency, `ln(1 + (N - df + 0.5) / (df + 0.5))`, with `N` the
    /// number of points that have a sparse vector in this index and `df`
    /// the number of them with a component at that dimension (both live).
    Idf,
}

/// Inverse document frequency, `ln(1 + (n - df + 0.5) / (df + 0.5))`, as
/// Qdrant's `modifier: idf` and BM25 (Lucene's variant, never negative).
pub(crate) fn idf(n: usize, df: usize) -> f32 {
    let (n, df) = (n as f64, df as f64);
    libm::log1p((n - df + 0.5) / (df + 0.5)) as f32
}

/// An inverted index of sparse vectors keyed by internal id, with exact
/// top-k dot-product search.
///
/// ```
/// use grape_core::sparse::{Modifier, SparseIndex, SparseVector};
///
/// let mut index = SparseIndex::new(Modifier::None);
/// index.upsert(1, &SparseVector::new(vec![3, 10], vec![0.5, 1.0]).unwrap()).unwrap();
/// index.upsert(2, &SparseVector::new(vec![10], vec![2.0]).unwrap()).unwrap();
/// let query = SparseVector::new(vec![3, 10], vec![1.0, 1.0]).unwrap();
/// assert_eq!(index.search(&query, 10, None).unwrap(), vec![(2, 2.0), (1, 1.5)]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SparseIndex {
    modifier: Modifier,
    /// Dimension → its postings (only dimensions with a live posting).
    pub(super) lists: HashMap<u32, PostingList<f32>>,
    /// Internal id → its (normalised) vector.
    pub(super) docs: HashMap<u32, SparseVector>,
}

/// Dot product with per-term query weights.
struct DotScorer {
    weights: Vec<f32>,
}

impl Scorer<f32> for DotScorer {
    #[inline]
    fn score(&self, term: usize, value: f32) -> f32 {
        self.weights[term] * value
    }

    fn bounds(&self, term: usize, &(lo, hi): &(f32, f32)) -> Bounds {
        let w = f64::from(self.weights[term]);
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        Bounds {
            upper: (w * lo).max(w * hi),
            magnitude: w.abs() * lo.abs().max(hi.abs()),
        }
    }
}

impl SparseIndex {
    /// An empty index.
    pub fn new(modifier: Modifier) -> Self {
        SparseIndex {
            modifier,
            lists: HashMap::new(),
            docs: HashMap::new(),
        }
    }

    /// The modifier given at creation.
    pub fn modifier(&self) -> Modifier {
        self.modifier
    }

    /// Number of points with a sparse vector (the `N` of [`Modifier::Idf`]).
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when no point has a sparse vector.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Whether `id` has a vector here.
    pub fn contains(&self, id: u32) -> bool {
        self.docs.contains_key(&id)
    }

    /// The stored vector of `id`, sorted by index.
    pub fn get(&self, id: u32) -> Option<&SparseVector> {
        self.docs.get(&id)
    }

    /// Every stored `(id, vector)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &SparseVector)> + '_ {
        self.docs.iter().map(|(&id, v)| (id, v))
    }

    /// Inserts or replaces the vector of `id`. The vector is validated and
    /// stored sorted by index; an empty vector is stored too (the point
    /// then counts in `N` but matches no query). On error nothing changes.
    pub fn upsert(&mut self, id: u32, vector: &SparseVector) -> Result<()> {
        let mut v = vector.clone();
        v.normalize()?;
        self.delete(id);
        for (index, value) in v.iter() {
            self.lists
                .entry(index)
                .or_insert_with(PostingList::new)
                .insert(id, value);
        }
        self.docs.insert(id, v);
        Ok(())
    }

    /// Removes the vector of `id`; false if it had none. Its postings are
    /// tombstoned and compacted away as they accumulate.
    pub fn delete(&mut self, id: u32) -> bool {
        let Some(v) = self.docs.remove(&id) else {
            return false;
        };
        for &index in &v.indices {
            if let Some(list) = self.lists.get_mut(&index) {
                list.remove(id);
                if list.live() == 0 {
                    self.lists.remove(&index);
                }
            }
        }
        shrink_map(&mut self.docs);
        shrink_map(&mut self.lists);
        true
    }

    /// Number of points with a component at dimension `index`.
    pub fn doc_freq(&self, index: u32) -> usize {
        self.lists.get(&index).map_or(0, PostingList::live)
    }

    /// The inverse document frequency [`Modifier::Idf`] applies at
    /// dimension `index`, from the live counts.
    pub fn idf(&self, index: u32) -> f32 {
        idf(self.len(), self.doc_freq(index))
    }

    /// Exact top-`k` points by dot product with `query` (after the
    /// modifier), best first, ties by lower id. Only points sharing at
    /// least one dimension with the query are candidates (so scores may be
    /// negative, and fewer than `k` hits may come back). Pruned with
    /// MaxScore: postings that cannot reach the top-k are skipped.
    ///
    /// Fails with [`crate::Error::InvalidSparseVector`] on a malformed query.
    pub fn search(
        &self,
        query: &SparseVector,
        k: usize,
        filter: Option<&dyn Filter>,
    ) -> Result<Vec<(u32, f32)>> {
        let (lists, dims, scorer) = self.prepare(query)?;
        // A filter that knows it allows few points (a payload index does) is
        // cheaper to serve by scoring those points than by walking postings.
        if let Some(f) = filter
            && let Some(allowed) = f.cardinality()
            && self.scan_pays(&lists, allowed)
        {
            let candidates = self.docs.keys().copied().filter(|&id| f.allows(id));
            let value = |t: usize, id: u32| {
                let v = &self.docs[&id];
                v.indices.binary_search(&dims[t]).ok().map(|i| v.values[i])
            };
            return Ok(engine::top_k_candidates(
                &lists, &scorer, k, candidates, value,
            ));
        }
        Ok(engine::top_k_pruned(
            &lists,
            &scorer,
            k,
            filter,
            &mut Work::default(),
        ))
    }

    /// Whether scoring `allowed` points directly beats walking `lists`: the
    /// scan tests the filter on every point (about a sixteenth of a posting
    /// each) and looks up each query dimension of each allowed point; the
    /// pruned walk touches, in practice, a quarter of the postings or more.
    fn scan_pays(&self, lists: &[&PostingList<f32>], allowed: usize) -> bool {
        let postings: usize = lists.iter().map(|l| l.live()).sum();
        self.docs.len() / 16 + allowed * lists.len().max(1) < postings / 4
    }

    /// Whether [`search`](Self::search) with a filter allowing `allowed`
    /// points scores them directly.
    #[cfg(test)]
    pub(crate) fn plans_scan(&self, query: &SparseVector, allowed: usize) -> bool {
        let (lists, _, _) = self.prepare(query).expect("valid query");
        self.scan_pays(&lists, allowed)
    }

    /// The same result as [`search`](Self::search), scoring every posting
    /// of the query's dimensions: the reference for the pruned search.
    pub fn search_exhaustive(
        &self,
        query: &SparseVector,
        k: usize,
        filter: Option<&dyn Filter>,
    ) -> Result<Vec<(u32, f32)>> {
        let (lists, _, scorer) = self.prepare(query)?;
        Ok(engine::top_k_exhaustive(
            &lists,
            &scorer,
            k,
            filter,
            &mut Work::default(),
        ))
    }

    /// [`search`](Self::search) or [`search_exhaustive`](Self::search_exhaustive)
    /// with work counters.
    #[cfg(test)]
    pub(crate) fn search_counted(
        &self,
        query: &SparseVector,
        k: usize,
        filter: Option<&dyn Filter>,
        pruned: bool,
    ) -> Result<(Vec<(u32, f32)>, Work)> {
        let (lists, _, scorer) = self.prepare(query)?;
        let mut work = Work::default();
        let hits = if pruned {
            engine::top_k_pruned(&lists, &scorer, k, filter, &mut work)
        } else {
            engine::top_k_exhaustive(&lists, &scorer, k, filter, &mut work)
        };
        Ok((hits, work))
    }

    /// Approximate heap bytes held by the index.
    pub fn memory_bytes(&self) -> usize {
        let lists: usize = self.lists.values().map(PostingList::heap_bytes).sum();
        let docs: usize = self
            .docs
            .values()
            .map(|v| v.indices.capacity() * 4 + v.values.capacity() * 4)
            .sum();
        lists
            + docs
            + self.lists.capacity() * (core::mem::size_of::<(u32, PostingList<f32>)>() + 1)
            + self.docs.capacity() * (core::mem::size_of::<(u32, SparseVector)>() + 1)
    }

    /// The query's lists, their dimensions and weights, in index order
    /// (the canonical order).
    fn prepare<'a>(&'a self, query: &SparseVector) -> Result<Prepared<'a>> {
        query.validate()?;
        let mut pairs: Vec<(u32, f32)> = query.iter().collect();
        pairs.sort_unstable_by_key(|p| p.0);
        let mut lists = Vec::with_capacity(pairs.len());
        let mut dims = Vec::with_capacity(pairs.len());
        let mut weights = Vec::with_capacity(pairs.len());
        for (index, w) in pairs {
            if let Some(list) = self.lists.get(&index) {
                let w = match self.modifier {
                    Modifier::None => w,
                    Modifier::Idf => w * idf(self.docs.len(), list.live()),
                };
                lists.push(list);
                dims.push(index);
                weights.push(w);
            }
        }
        Ok((lists, dims, DotScorer { weights }))
    }
}

/// A query's posting lists, their dimensions and its scorer.
type Prepared<'a> = (Vec<&'a PostingList<f32>>, Vec<u32>, DotScorer);

/// Gives back a map's memory once it is mostly empty.
pub(crate) fn shrink_map<K: Eq + core::hash::Hash, V>(map: &mut HashMap<K, V>) {
    if map.len() * 4 < map.capacity() && (map.capacity() > 64 || map.is_empty()) {
        map.shrink_to_fit();
    }
}

/// Body: the modifier, then the points sorted by id with their vectors.
/// The postings are derived data and are rebuilt on decode, so equal
/// contents always encode to equal bytes.
impl Encode for SparseIndex {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> core::result::Result<(), EncodeError> {
        self.modifier.encode(encoder)?;
        let mut ids: Vec<u32> = self.docs.keys().copied().collect();
        ids.sort_unstable();
        (ids.len() as u64).encode(encoder)?;
        for id in ids {
            id.encode(encoder)?;
            self.docs[&id].encode(encoder)?;
        }
        Ok(())
    }
}

impl<Ctx> Decode<Ctx> for SparseIndex {
    fn decode<D: Decoder<Context = Ctx>>(
        decoder: &mut D,
    ) -> core::result::Result<Self, DecodeError> {
        let modifier = Modifier::decode(decoder)?;
        let count = u64::decode(decoder)?;
        let mut index = SparseIndex::new(modifier);
        let mut previous: Option<u32> = None;
        for _ in 0..count {
            let id = u32::decode(decoder)?;
            if previous.is_some_and(|p| p >= id) {
                return Err(DecodeError::OtherString(format!(
                    "sparse index: point ids not strictly increasing at id {id}"
                )));
            }
            previous = Some(id);
            let v = SparseVector::decode(decoder)?;
            v.validate()
                .and_then(|()| {
                    if v.is_sorted() {
                        Ok(())
                    } else {
                        Err(crate::Error::InvalidSparseVector(
                            "indices not sorted".into(),
                        ))
                    }
                })
                .map_err(|e| DecodeError::OtherString(format!("sparse index: point {id}: {e}")))?;
            index
                .upsert(id, &v)
                .map_err(|e| DecodeError::OtherString(format!("sparse index: point {id}: {e}")))?;
        }
        Ok(index)
    }
}

bincode::impl_borrow_decode!(SparseIndex);
