//! Distance spaces: how searches and graph construction measure the
//! distance from one query to stored points, over the original `f32`
//! vectors or over quantized codes.
//!
//! A space is a borrowed view of one representation of every slot. Search
//! and build code is generic over [`Space`], so each representation gets
//! its own monomorphised loop with no dispatch per distance.

use alloc::vec::Vec;

use crate::distance::prefetch;
use crate::metric::Metric;
use crate::quant::QuantSearch;
use crate::quant::pq::{ProductQuantizer, Table};
use crate::quant::scalar::{QueryCode, ScalarQuantizer};
use crate::quant::vectors::{Codes, QuantizedVectors};
use crate::search::{Cand, Filter};
use crate::store::PointStore;

/// One representation of the stored points that distances can be measured in.
pub(crate) trait Space {
    /// A query encoded for this space.
    type Query: Default;

    /// Encodes a prepared (checked, normalised under cosine) vector.
    fn encode(&self, prepared: &[f32], q: &mut Self::Query);

    /// Makes the stored point `slot` the query (for graph construction).
    fn load(&self, slot: u32, q: &mut Self::Query);

    /// Internal distance (lower is better) from `q` to `slot`.
    fn dist(&self, q: &Self::Query, slot: u32) -> f32;

    /// Distances to four slots; spaces whose loads can overlap override it.
    #[inline(always)]
    fn dist4(&self, q: &Self::Query, slots: [u32; 4]) -> [f32; 4] {
        slots.map(|s| self.dist(q, s))
    }

    /// Prefetches the first cache line of `slot`'s data.
    fn prefetch(&self, slot: u32);

    /// Prefetches the rest of `slot`'s data.
    fn prefetch_rest(&self, slot: u32);
}

/// Prefetches `bytes` bytes from `p`, skipping the first line.
#[inline(always)]
fn prefetch_lines<T>(p: *const T, bytes: usize) {
    let p = p.cast::<u8>();
    for l in 1..bytes.div_ceil(64) {
        prefetch(p.wrapping_add(l * 64));
    }
}

/// The original vectors.
pub(crate) struct FloatSpace<'a> {
    pub(crate) vectors: &'a [f32],
    pub(crate) dim: usize,
    pub(crate) metric: Metric,
}

impl<'a> FloatSpace<'a> {
    pub(crate) fn of(store: &'a PointStore) -> Self {
        debug_assert!(store.keeps_vectors);
        FloatSpace {
            vectors: &store.vectors,
            dim: store.dim,
            metric: store.metric,
        }
    }

    #[inline(always)]
    fn vector(&self, slot: u32) -> &[f32] {
        let s = slot as usize * self.dim;
        &self.vectors[s..s + self.dim]
    }
}

impl Space for FloatSpace<'_> {
    type Query = Vec<f32>;

    fn encode(&self, prepared: &[f32], q: &mut Vec<f32>) {
        q.clear();
        q.extend_from_slice(prepared);
    }

    fn load(&self, slot: u32, q: &mut Vec<f32>) {
        q.clear();
        q.extend_from_slice(self.vector(slot));
    }

    #[inline(always)]
    fn dist(&self, q: &Vec<f32>, slot: u32) -> f32 {
        self.metric.distance(q, self.vector(slot))
    }

    #[inline(always)]
    fn dist4(&self, q: &Vec<f32>, slots: [u32; 4]) -> [f32; 4] {
        self.metric.distance4(q, slots.map(|s| self.vector(s)))
    }

    #[inline(always)]
    fn prefetch(&self, slot: u32) {
        prefetch(self.vectors.as_ptr().wrapping_add(slot as usize * self.dim));
    }

    /// All lines: on 384-d vectors, capping at 8 lines measured ~12 % fewer QPS.
    #[inline(always)]
    fn prefetch_rest(&self, slot: u32) {
        let p = self.vectors.as_ptr().wrapping_add(slot as usize * self.dim);
        prefetch_lines(p, self.dim * 4);
    }
}

/// Int8 codes (see [`crate::quant::scalar`]); the query, scaled per
/// dimension, is quantized with its own scale, so that a distance is one
/// integer dot product plus a correction.
pub(crate) struct Int8Space<'a> {
    pub(crate) quantizer: &'a ScalarQuantizer,
    pub(crate) codes: &'a [i8],
    pub(crate) norms: &'a [f32],
    pub(crate) dim: usize,
    /// True for `Euclid`; else `Cosine` or `Dot` (others are refused when
    /// quantizing).
    pub(crate) euclid: bool,
}

impl Int8Space<'_> {
    #[inline(always)]
    fn code(&self, slot: u32) -> &[i8] {
        let s = slot as usize * self.dim;
        &self.codes[s..s + self.dim]
    }
}

impl Space for Int8Space<'_> {
    type Query = QueryCode;

    fn encode(&self, prepared: &[f32], q: &mut QueryCode) {
        *q = self.quantizer.query(prepared);
    }

    fn load(&self, slot: u32, q: &mut QueryCode) {
        *q = self
            .quantizer
            .query(&self.quantizer.decode(self.code(slot)));
    }

    #[inline(always)]
    fn dist(&self, q: &QueryCode, slot: u32) -> f32 {
        let c = self.code(slot);
        if self.euclid {
            self.quantizer.l2_squared(q, c, self.norms[slot as usize])
        } else {
            -self.quantizer.dot(q, c)
        }
    }

    #[inline(always)]
    fn prefetch(&self, slot: u32) {
        prefetch(self.codes.as_ptr().wrapping_add(slot as usize * self.dim));
    }

    #[inline(always)]
    fn prefetch_rest(&self, slot: u32) {
        let p = self.codes.as_ptr().wrapping_add(slot as usize * self.dim);
        prefetch_lines(p, self.dim);
    }
}

/// Binary codes (see [`crate::quant::binary`]), scored asymmetrically: the
/// query stays `f32`, centred on the training means, and a code's score is
/// the cosine between that query and the code's ±1 sign vector,
/// `Σ q'ᵢ·sᵢ / (|q'|·√dim)`. Per query, a table holds the partial sum of
/// every possible byte of code at every byte position, so a distance is one
/// look-up per 8 dimensions (far better ranking than Hamming distance to a
/// binarised query, for the same stored bits). The internal distance is
/// `-cosine`.
pub(crate) struct BinarySpace<'a> {
    pub(crate) quantizer: &'a crate::quant::binary::BinaryQuantizer,
    pub(crate) words: &'a [u64],
    /// `u64` words per code.
    pub(crate) width: usize,
}

/// A query in a [`BinarySpace`].
#[derive(Default)]
pub(crate) struct BinaryQuery {
    /// Per byte position of the code, the scaled score of each byte value.
    table: Vec<[f32; 256]>,
    /// Set instead of `table` for a stored point used as the query (graph
    /// construction without originals): scored by Hamming distance.
    bits: Option<Vec<u64>>,
}

impl BinarySpace<'_> {
    #[inline(always)]
    fn code(&self, slot: u32) -> &[u64] {
        let s = slot as usize * self.width;
        &self.words[s..s + self.width]
    }
}

impl Space for BinarySpace<'_> {
    type Query = BinaryQuery;

    fn encode(&self, prepared: &[f32], q: &mut BinaryQuery) {
        let means = self.quantizer.means();
        let dim = means.len();
        let centred: Vec<f32> = prepared.iter().zip(means).map(|(x, m)| x - m).collect();
        let norm = libm::sqrtf(centred.iter().map(|x| x * x).sum::<f32>());
        let scale = if norm > 0.0 {
            1.0 / (norm * libm::sqrtf(dim as f32))
        } else {
            0.0
        };
        q.bits = None;
        q.table.clear();
        for part in centred.chunks(8) {
            // Byte value b: bit j set means +q'ⱼ, clear means −q'ⱼ.
            let mut row = [0f32; 256];
            row[0] = -part.iter().sum::<f32>() * scale;
            for b in 1..256usize {
                let j = b.trailing_zeros() as usize;
                let gain = if j < part.len() {
                    2.0 * part[j] * scale
                } else {
                    0.0
                };
                row[b] = row[b & (b - 1)] + gain;
            }
            q.table.push(row);
        }
        // Codes have whole words: the padding bytes are 0 and score 0.
        q.table.resize(self.width * 8, [0.0; 256]);
    }

    fn load(&self, slot: u32, q: &mut BinaryQuery) {
        q.table.clear();
        q.bits = Some(self.code(slot).to_vec());
    }

    #[inline(always)]
    fn dist(&self, q: &BinaryQuery, slot: u32) -> f32 {
        let code = self.code(slot);
        if let Some(bits) = &q.bits {
            let h = crate::distance::hamming(bits, code);
            return -self.quantizer.similarity(h);
        }
        let mut acc = [0f32; 4];
        for (w, rows) in code.iter().zip(q.table.chunks_exact(8)) {
            let b = w.to_le_bytes();
            acc[0] += rows[0][b[0] as usize] + rows[4][b[4] as usize];
            acc[1] += rows[1][b[1] as usize] + rows[5][b[5] as usize];
            acc[2] += rows[2][b[2] as usize] + rows[6][b[6] as usize];
            acc[3] += rows[3][b[3] as usize] + rows[7][b[7] as usize];
        }
        -((acc[0] + acc[1]) + (acc[2] + acc[3]))
    }

    #[inline(always)]
    fn prefetch(&self, slot: u32) {
        prefetch(self.words.as_ptr().wrapping_add(slot as usize * self.width));
    }

    #[inline(always)]
    fn prefetch_rest(&self, slot: u32) {
        let p = self.words.as_ptr().wrapping_add(slot as usize * self.width);
        prefetch_lines(p, self.width * 8);
    }
}

/// Product-quantized codes (see [`crate::quant::pq`]): asymmetric distances
/// through a per-query lookup table.
pub(crate) struct PqSpace<'a> {
    pub(crate) quantizer: &'a ProductQuantizer,
    pub(crate) codes: &'a [u8],
    pub(crate) m: usize,
    pub(crate) metric: Metric,
}

impl PqSpace<'_> {
    #[inline(always)]
    fn code(&self, slot: u32) -> &[u8] {
        let s = slot as usize * self.m;
        &self.codes[s..s + self.m]
    }
}

impl Space for PqSpace<'_> {
    type Query = Option<Table>;

    fn encode(&self, prepared: &[f32], q: &mut Option<Table>) {
        *q = self.quantizer.lookup_table(prepared, self.metric).ok();
    }

    /// The table of the point's decoded vector: `m · 256 · dim/m` work, so
    /// building a graph from PQ codes alone is slow (keep the originals).
    fn load(&self, slot: u32, q: &mut Option<Table>) {
        let decoded = self
            .quantizer
            .decode(self.code(slot))
            .expect("stored codes are valid");
        self.encode(&decoded, q);
    }

    #[inline(always)]
    fn dist(&self, q: &Option<Table>, slot: u32) -> f32 {
        q.as_ref()
            .expect("query encoded before use")
            .distance(self.code(slot))
    }

    #[inline(always)]
    fn prefetch(&self, slot: u32) {
        prefetch(self.codes.as_ptr().wrapping_add(slot as usize * self.m));
    }

    #[inline(always)]
    fn prefetch_rest(&self, slot: u32) {
        let p = self.codes.as_ptr().wrapping_add(slot as usize * self.m);
        prefetch_lines(p, self.m);
    }
}

/// Exact top-`k` in `space` over the live points of `store` that `filter`
/// allows, best first.
pub(crate) fn exact_top_k<S: Space>(
    space: &S,
    q: &S::Query,
    store: &PointStore,
    k: usize,
    filter: Option<&dyn Filter>,
) -> Vec<Cand> {
    use alloc::collections::BinaryHeap;
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Cand> = BinaryHeap::with_capacity(k + 1);
    for s in 0..store.slot_count() as u32 {
        if !store.is_live(s) || filter.is_some_and(|f| !f.allows(s)) {
            continue;
        }
        let dist = space.dist(q, s);
        if heap.len() < k {
            heap.push(Cand { dist, slot: s });
        } else if let Some(top) = heap.peek()
            && dist < top.dist
        {
            heap.pop();
            heap.push(Cand { dist, slot: s });
        }
    }
    heap.into_sorted_vec()
}

/// A way to view an index's points as a [`Space`]; lets build and search
/// code re-borrow the view around mutations of the graph.
pub(crate) trait SpaceOf {
    /// The query type of the space.
    type Q: Default;
    /// The space.
    type S<'a>: Space<Query = Self::Q>;
    /// The view of `h`'s points (the representation must exist).
    fn view<'a>(store: &'a PointStore, quant: Option<&'a QuantizedVectors>) -> Self::S<'a>;
    /// The view of an HNSW index's points.
    #[inline(always)]
    fn of(h: &crate::hnsw::Hnsw) -> Self::S<'_> {
        Self::view(&h.store, h.quant.as_ref())
    }
}

/// The original vectors.
pub(crate) struct FloatOf;
impl SpaceOf for FloatOf {
    type Q = Vec<f32>;
    type S<'a> = FloatSpace<'a>;
    fn view<'a>(store: &'a PointStore, _: Option<&'a QuantizedVectors>) -> FloatSpace<'a> {
        FloatSpace::of(store)
    }
}

/// Int8 codes.
pub(crate) struct Int8Of;
impl SpaceOf for Int8Of {
    type Q = QueryCode;
    type S<'a> = Int8Space<'a>;
    fn view<'a>(store: &'a PointStore, quant: Option<&'a QuantizedVectors>) -> Int8Space<'a> {
        match quant.map(|q| &q.codes) {
            Some(Codes::Int8 {
                quantizer,
                codes,
                norms,
                ..
            }) => Int8Space {
                quantizer,
                codes,
                norms,
                dim: store.dim,
                euclid: store.metric == Metric::Euclid,
            },
            _ => unreachable!("int8 space of an index without int8 codes"),
        }
    }
}

/// Binary codes.
pub(crate) struct BinaryOf;
impl SpaceOf for BinaryOf {
    type Q = BinaryQuery;
    type S<'a> = BinarySpace<'a>;
    fn view<'a>(_: &'a PointStore, quant: Option<&'a QuantizedVectors>) -> BinarySpace<'a> {
        match quant.map(|q| &q.codes) {
            Some(Codes::Binary { quantizer, words }) => BinarySpace {
                quantizer,
                words,
                width: quantizer.words(),
            },
            _ => unreachable!("binary space of an index without binary codes"),
        }
    }
}

/// Product-quantized codes.
pub(crate) struct PqOf;
impl SpaceOf for PqOf {
    type Q = Option<crate::quant::pq::Table>;
    type S<'a> = PqSpace<'a>;
    fn view<'a>(store: &'a PointStore, quant: Option<&'a QuantizedVectors>) -> PqSpace<'a> {
        match quant.map(|q| &q.codes) {
            Some(Codes::Product { quantizer, codes }) => PqSpace {
                quantizer,
                codes,
                m: quantizer.m(),
                metric: store.metric,
            },
            _ => unreachable!("pq space of an index without pq codes"),
        }
    }
}

/// The best `n` candidates of an exact scan (`params.k` before
/// oversampling), in the space a quantized index searches, finished by
/// [`finish`]; the shared path of every index's exact search.
pub(crate) fn scan(
    store: &PointStore,
    quant: Option<&QuantizedVectors>,
    q: &[f32],
    k: usize,
    qp: &QuantSearch,
    filter: Option<&dyn Filter>,
) -> Vec<Cand> {
    fn run<K: SpaceOf>(
        store: &PointStore,
        quant: Option<&QuantizedVectors>,
        q: &[f32],
        n: usize,
        filter: Option<&dyn Filter>,
    ) -> Vec<Cand> {
        let space = K::view(store, quant);
        let mut qs = K::Q::default();
        space.encode(q, &mut qs);
        exact_top_k(&space, &qs, store, n, filter)
    }
    match quant_in_use(store, quant, qp) {
        None => run::<FloatOf>(store, quant, q, k, filter),
        Some(qv) => {
            let n = qp.candidates(k).max(k);
            let found = match qv.codes {
                Codes::Int8 { .. } => run::<Int8Of>(store, quant, q, n, filter),
                Codes::Binary { .. } => run::<BinaryOf>(store, quant, q, n, filter),
                Codes::Product { .. } => run::<PqOf>(store, quant, q, n, filter),
            };
            finish(store, qv, q, qp, found)
        }
    }
}

/// The quantized vectors a search with `qp` compares, if any: none without
/// quantization, or when asked to ignore it while the originals are kept.
pub(crate) fn quant_in_use<'a>(
    store: &PointStore,
    quant: Option<&'a QuantizedVectors>,
    qp: &QuantSearch,
) -> Option<&'a QuantizedVectors> {
    quant.filter(|_| !(qp.ignore && store.keeps_vectors))
}

/// Finishes candidates found in a quantized space: rescored with the
/// originals (when kept and `rescore` is not false) and re-sorted, or, for
/// binary codes, Hamming distances turned into the metric's direction.
pub(crate) fn finish(
    store: &PointStore,
    qv: &QuantizedVectors,
    q: &[f32],
    qp: &QuantSearch,
    mut found: Vec<Cand>,
) -> Vec<Cand> {
    if store.keeps_vectors && qp.rescore != Some(false) {
        for c in &mut found {
            c.dist = store.metric.distance(q, store.vector(c.slot));
        }
        found.sort_unstable();
    } else if matches!(qv.codes, Codes::Binary { .. }) && !store.metric.higher_is_better() {
        // Binary distances are `-cosine` to the sign vector, not on a
        // distance's scale: report `1 - cosine`, in [0, 2].
        for c in &mut found {
            c.dist += 1.0;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;
    use crate::quant::binary::BinaryQuantizer;

    /// The table-driven binary score equals the cosine between the centred
    /// query and the code's sign vector, computed directly, on every
    /// dimension count 1..=200 (partial bytes and words included).
    #[test]
    fn binary_table_score_matches_direct_computation() {
        let mut rng = Rng::new(9);
        for dim in 1..=200usize {
            let vectors: Vec<Vec<f32>> = (0..5)
                .map(|_| (0..dim).map(|_| rng.next_f32_signed()).collect())
                .collect();
            let quantizer =
                BinaryQuantizer::train(vectors.iter().map(|v| v.as_slice()), dim).unwrap();
            let words: Vec<u64> = vectors.iter().flat_map(|v| quantizer.encode(v)).collect();
            let space = BinarySpace {
                quantizer: &quantizer,
                words: &words,
                width: quantizer.words(),
            };
            let query: Vec<f32> = (0..dim).map(|_| rng.next_f32_signed()).collect();
            let mut q = BinaryQuery::default();
            space.encode(&query, &mut q);
            let centred: Vec<f32> = query
                .iter()
                .zip(quantizer.means())
                .map(|(x, m)| x - m)
                .collect();
            let norm = libm::sqrtf(centred.iter().map(|x| x * x).sum::<f32>());
            for (slot, v) in vectors.iter().enumerate() {
                let direct: f32 = centred
                    .iter()
                    .zip(v.iter().zip(quantizer.means()))
                    .map(|(c, (x, m))| if x > m { *c } else { -c })
                    .sum::<f32>()
                    / (norm * libm::sqrtf(dim as f32));
                let got = -space.dist(&q, slot as u32);
                assert!(
                    (got - direct).abs() <= 1e-4,
                    "dim {dim} slot {slot}: table {got} vs direct {direct}"
                );
            }
            // A stored point as the query scores by Hamming agreement.
            space.load(0, &mut q);
            assert_eq!(space.dist(&q, 0), -1.0);
        }
    }
}
