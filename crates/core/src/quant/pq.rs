//! Product quantization (Jégou, Douze, Schmid 2011).
//!
//! A vector of `dim` components is cut into `m` sub-vectors of `dim / m`
//! components each. Every sub-space has its own codebook of up to 256
//! centroids, trained by k-means, so a vector is stored as `m` bytes: the index
//! of the nearest centroid in each sub-space. With `f32` input that is a
//! compression of `4 * dim / m` (16x for 64-d and `m = 16`).
//!
//! Search uses asymmetric distance computation (ADC): the query stays in
//! `f32`; [`ProductQuantizer::lookup_table`] computes its distance to every
//! centroid of every sub-space once, and [`Table::distance`] then scores a code
//! with `m` table look-ups. The metrics are all sums over components, so the
//! sum of the sub-space distances is the distance to the decoded vector.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::rng::Rng;

/// Centroids per sub-space when there are enough training vectors: one byte.
pub const MAX_CENTROIDS: usize = 256;

/// A trained product quantizer: `m` codebooks of `k` centroids each.
///
/// Training is deterministic for a seed. The quantizer derives
/// `bincode::Encode`/`Decode` so the byte format can carry it; after decoding
/// untrusted bytes, call [`ProductQuantizer::check`].
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub struct ProductQuantizer {
    dim: u32,
    m: u32,
    /// Centroids per sub-space, `1..=256`.
    k: u32,
    /// Layout: sub-space, then centroid, then the `dim / m` components.
    codebooks: Vec<f32>,
}

/// Per-query distances to every centroid: `m` rows of 256 entries.
///
/// Entries for centroid numbers at or above the quantizer's `k` are
/// `f32::INFINITY`, so no code byte can index out of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    rows: Vec<[f32; MAX_CENTROIDS]>,
}

impl Table {
    /// The ADC distance of a code: the sum of one entry per sub-space.
    ///
    /// Lower is better, on the scale of [`Metric`]'s internal distance
    /// (squared L2 for `Euclid`, `-dot` for `Dot` and `Cosine`, L1 for
    /// `Manhattan`). `code` must have `m` bytes (checked in debug builds;
    /// in release, extra bytes or rows are ignored).
    #[inline]
    pub fn distance(&self, code: &[u8]) -> f32 {
        debug_assert_eq!(code.len(), self.rows.len(), "code length differs from m");
        // Four independent accumulators break the add dependency chain.
        let mut acc = [0.0f32; 4];
        let mut rows = self.rows.chunks_exact(4);
        let mut codes = code.chunks_exact(4);
        for (r, c) in (&mut rows).zip(&mut codes) {
            acc[0] += r[0][c[0] as usize];
            acc[1] += r[1][c[1] as usize];
            acc[2] += r[2][c[2] as usize];
            acc[3] += r[3][c[3] as usize];
        }
        for (r, &c) in rows.remainder().iter().zip(codes.remainder()) {
            acc[0] += r[c as usize];
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3])
    }

    /// Number of sub-spaces (rows).
    pub fn m(&self) -> usize {
        self.rows.len()
    }
}

impl ProductQuantizer {
    /// Trains `m` codebooks on `vectors`, `n` row-major vectors of `dim`
    /// components, with `iterations` rounds of k-means seeded by `seed`.
    ///
    /// Each sub-space gets `min(256, n)` centroids: with fewer than 256
    /// training vectors the codebooks are smaller (codes still use one byte).
    /// Initialisation is k-means++ from [`Rng`]; a cluster left empty by an
    /// iteration takes the training point farthest from its centroid, so the
    /// result depends only on the input and the seed.
    ///
    /// Errors: [`Error::InvalidConfig`] if `dim` or `m` is 0, `dim` is not a
    /// multiple of `m`, `vectors` is empty or its length not a multiple of
    /// `dim`; [`Error::NonFiniteComponent`] for a NaN or infinite component.
    pub fn train(
        vectors: &[f32],
        dim: usize,
        m: usize,
        iterations: usize,
        seed: u64,
    ) -> Result<Self> {
        if dim == 0 {
            return Err(Error::InvalidConfig(
                "pq dim must be at least 1".to_string(),
            ));
        }
        if m == 0 {
            return Err(Error::InvalidConfig("pq m must be at least 1".to_string()));
        }
        if !dim.is_multiple_of(m) {
            return Err(Error::InvalidConfig(alloc::format!(
                "pq dim {dim} is not a multiple of m {m}"
            )));
        }
        if u32::try_from(dim).is_err() {
            return Err(Error::InvalidConfig(alloc::format!(
                "pq dim {dim} is too large"
            )));
        }
        if vectors.is_empty() {
            return Err(Error::InvalidConfig(
                "pq training needs at least one vector".to_string(),
            ));
        }
        if !vectors.len().is_multiple_of(dim) {
            return Err(Error::InvalidConfig(alloc::format!(
                "pq training data length {} is not a multiple of dim {dim}",
                vectors.len()
            )));
        }
        if let Some((index, &value)) = vectors.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFiniteComponent {
                index: index % dim,
                value,
            });
        }
        let n = vectors.len() / dim;
        let sub = dim / m;
        let k = n.min(MAX_CENTROIDS);
        let mut rng = Rng::new(seed);
        let mut codebooks = Vec::with_capacity(m * k * sub);
        let mut data = Vec::with_capacity(n * sub);
        for s in 0..m {
            data.clear();
            for row in vectors.chunks_exact(dim) {
                data.extend_from_slice(&row[s * sub..(s + 1) * sub]);
            }
            codebooks.extend(kmeans(&data, sub, k, iterations, &mut rng));
        }
        Ok(ProductQuantizer {
            dim: dim as u32,
            m: m as u32,
            k: k as u32,
            codebooks,
        })
    }

    /// Checks that a decoded quantizer is consistent; [`Error::Corrupted`] if not.
    pub fn check(&self) -> Result<()> {
        let (dim, m, k) = (self.dim as usize, self.m as usize, self.k as usize);
        if dim == 0 || m == 0 || dim % m != 0 {
            return Err(Error::Corrupted(alloc::format!(
                "pq dim {dim} and m {m} are inconsistent"
            )));
        }
        if k == 0 || k > MAX_CENTROIDS {
            return Err(Error::Corrupted(alloc::format!(
                "pq centroid count {k} is out of range"
            )));
        }
        if self.codebooks.len() != k * dim {
            return Err(Error::Corrupted(alloc::format!(
                "pq codebooks hold {} values, expected {}",
                self.codebooks.len(),
                k * dim
            )));
        }
        if self.codebooks.iter().any(|v| !v.is_finite()) {
            return Err(Error::Corrupted(
                "pq codebooks hold a non-finite value".to_string(),
            ));
        }
        Ok(())
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim as usize
    }

    /// Number of sub-spaces, which is also the code length in bytes.
    pub fn m(&self) -> usize {
        self.m as usize
    }

    /// Centroids per sub-space (256 unless trained on fewer vectors).
    pub fn centroids(&self) -> usize {
        self.k as usize
    }

    fn sub(&self) -> usize {
        (self.dim / self.m) as usize
    }

    /// Centroid `c` of sub-space `s`.
    fn centroid(&self, s: usize, c: usize) -> &[f32] {
        let sub = self.sub();
        let at = (s * self.k as usize + c) * sub;
        &self.codebooks[at..at + sub]
    }

    fn check_dim(&self, got: usize) -> Result<()> {
        if got != self.dim() {
            return Err(Error::DimensionMismatch {
                expected: self.dim(),
                got,
            });
        }
        Ok(())
    }

    /// The code of `vector`: per sub-space, the nearest centroid (squared L2).
    ///
    /// [`Error::DimensionMismatch`] if `vector` does not have `dim` components.
    pub fn encode(&self, vector: &[f32]) -> Result<Vec<u8>> {
        self.check_dim(vector.len())?;
        let sub = self.sub();
        let code = vector
            .chunks_exact(sub)
            .enumerate()
            .map(|(s, part)| {
                let block =
                    &self.codebooks[s * self.k as usize * sub..(s + 1) * self.k as usize * sub];
                nearest(part, block, sub).0 as u8
            })
            .collect();
        Ok(code)
    }

    /// The vector a code stands for: its centroids, concatenated.
    ///
    /// [`Error::InvalidParameter`] if `code` does not have `m` bytes or names
    /// a centroid at or above [`centroids`](Self::centroids).
    pub fn decode(&self, code: &[u8]) -> Result<Vec<f32>> {
        if code.len() != self.m() {
            return Err(Error::InvalidParameter(alloc::format!(
                "pq code length {} differs from m {}",
                code.len(),
                self.m()
            )));
        }
        let mut out = Vec::with_capacity(self.dim());
        for (s, &c) in code.iter().enumerate() {
            if c as usize >= self.centroids() {
                return Err(Error::InvalidParameter(alloc::format!(
                    "pq code byte {s} is {c}, but there are only {} centroids",
                    self.centroids()
                )));
            }
            out.extend_from_slice(self.centroid(s, c as usize));
        }
        Ok(out)
    }

    /// The ADC table of `query` under `metric`: its distance to every centroid
    /// of every sub-space, on the scale of [`Table::distance`].
    ///
    /// For `Cosine` the query must already be unit length (as stored vectors
    /// are); the table then holds `-dot`. [`Error::DimensionMismatch`] if
    /// `query` does not have `dim` components.
    pub fn lookup_table(&self, query: &[f32], metric: Metric) -> Result<Table> {
        self.check_dim(query.len())?;
        let sub = self.sub();
        let rows = query
            .chunks_exact(sub)
            .enumerate()
            .map(|(s, part)| {
                let mut row = [f32::INFINITY; MAX_CENTROIDS];
                for (c, slot) in row.iter_mut().enumerate().take(self.centroids()) {
                    *slot = metric.distance(part, self.centroid(s, c));
                }
                row
            })
            .collect();
        Ok(Table { rows })
    }
}

/// Squared L2 between two short slices; a plain loop the compiler vectorises.
#[inline]
fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index and squared distance of the centroid in `block` nearest to `point`.
/// Ties go to the lower index.
fn nearest(point: &[f32], block: &[f32], sub: usize) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (c, centroid) in block.chunks_exact(sub).enumerate() {
        let d = l2(point, centroid);
        if d < best.1 {
            best = (c, d);
        }
    }
    best
}

/// k-means on `data` (row-major, rows of `sub`): k-means++ initialisation,
/// then at most `iterations` Lloyd rounds (stopping early once no point
/// changes cluster, which gives the same result). Returns `k * sub` values.
fn kmeans(data: &[f32], sub: usize, k: usize, iterations: usize, rng: &mut Rng) -> Vec<f32> {
    let n = data.len() / sub;
    let point = |i: usize| &data[i * sub..(i + 1) * sub];

    // k-means++: each next centroid is a point drawn with probability
    // proportional to its squared distance to the nearest chosen centroid.
    let mut centroids = Vec::with_capacity(k * sub);
    let first = rng.below(n as u64) as usize;
    centroids.extend_from_slice(point(first));
    let mut best: Vec<f32> = (0..n).map(|i| l2(point(i), point(first))).collect();
    for _ in 1..k {
        let total: f64 = best.iter().map(|&d| d as f64).sum();
        let pick = if total > 0.0 {
            let mut target = rng.next_f64() * total;
            let mut pick = n - 1;
            for (i, &d) in best.iter().enumerate() {
                target -= d as f64;
                if target < 0.0 && d > 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        } else {
            // Every point sits on a centroid already: duplicates are harmless.
            rng.below(n as u64) as usize
        };
        let chosen = point(pick);
        centroids.extend_from_slice(chosen);
        for (i, b) in best.iter_mut().enumerate() {
            let d = l2(point(i), chosen);
            if d < *b {
                *b = d;
            }
        }
    }

    let mut assign = vec![usize::MAX; n];
    let mut error = vec![0.0f32; n];
    let mut sums = vec![0.0f64; k * sub];
    let mut counts = vec![0usize; k];
    for _ in 0..iterations {
        let mut changed = false;
        for i in 0..n {
            let (c, d) = nearest(point(i), &centroids, sub);
            if assign[i] != c {
                assign[i] = c;
                changed = true;
            }
            error[i] = d;
        }
        if !changed {
            break;
        }
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        for (i, &c) in assign.iter().enumerate() {
            counts[c] += 1;
            for (s, &x) in sums[c * sub..(c + 1) * sub].iter_mut().zip(point(i)) {
                *s += x as f64;
            }
        }
        // Empty clusters take the worst-served points, farthest first
        // (ties by index), so re-seeding needs no randomness.
        let mut worst: Vec<usize> = Vec::new();
        if counts.contains(&0) {
            worst = (0..n).collect();
            worst.sort_by(|&a, &b| error[b].total_cmp(&error[a]).then(a.cmp(&b)));
        }
        let mut next_worst = worst.into_iter();
        for c in 0..k {
            let target = &mut centroids[c * sub..(c + 1) * sub];
            if counts[c] > 0 {
                let inv = 1.0 / counts[c] as f64;
                for (t, &s) in target.iter_mut().zip(&sums[c * sub..(c + 1) * sub]) {
                    *t = (s * inv) as f32;
                }
            } else if let Some(p) = next_worst.next() {
                target.copy_from_slice(point(p));
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` points of `dim` components around `clusters` random centres.
    fn clustered(n: usize, dim: usize, clusters: usize, spread: f32, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let centres: Vec<f32> = (0..clusters * dim).map(|_| rng.next_f32_signed()).collect();
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let c = rng.below(clusters as u64) as usize;
            for j in 0..dim {
                out.push(centres[c * dim + j] + spread * rng.next_f32_signed());
            }
        }
        out
    }

    fn mse(pq: &ProductQuantizer, data: &[f32]) -> f64 {
        let dim = pq.dim();
        let mut total = 0.0f64;
        for v in data.chunks_exact(dim) {
            let back = pq.decode(&pq.encode(v).unwrap()).unwrap();
            total += l2(v, &back) as f64;
        }
        total / data.len() as f64
    }

    #[test]
    fn training_is_deterministic_for_a_seed() {
        let data = clustered(600, 16, 10, 0.1, 1);
        let a = ProductQuantizer::train(&data, 16, 4, 8, 42).unwrap();
        let b = ProductQuantizer::train(&data, 16, 4, 8, 42).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.codebooks.len(), 4 * 256 * 4);
        let c = ProductQuantizer::train(&data, 16, 4, 8, 43).unwrap();
        assert_ne!(a.codebooks, c.codebooks);
    }

    #[test]
    fn training_lowers_reconstruction_error_versus_random_codebooks() {
        let (dim, m, n) = (32, 8, 2000);
        let data = clustered(n, dim, 20, 0.2, 2);
        let trained = ProductQuantizer::train(&data, dim, m, 15, 7).unwrap();
        // Random codebooks: each centroid is a sub-vector of a random training vector.
        let sub = dim / m;
        let mut rng = Rng::new(7);
        let mut codebooks = Vec::new();
        for s in 0..m {
            for _ in 0..256 {
                let i = rng.below(n as u64) as usize;
                codebooks.extend_from_slice(&data[i * dim + s * sub..i * dim + (s + 1) * sub]);
            }
        }
        let random = ProductQuantizer {
            dim: dim as u32,
            m: m as u32,
            k: 256,
            codebooks,
        };
        random.check().unwrap();
        let (e_trained, e_random) = (mse(&trained, &data), mse(&random, &data));
        std::println!(
            "pq reconstruction mse: trained {e_trained:.5}, random codebooks {e_random:.5}"
        );
        assert!(
            e_trained < 0.8 * e_random,
            "trained mse {e_trained} vs random {e_random}"
        );
    }

    #[test]
    fn adc_distance_equals_distance_to_decoded_vector() {
        let data = clustered(1000, 24, 8, 0.3, 3);
        let pq = ProductQuantizer::train(&data, 24, 6, 10, 5).unwrap();
        let queries = clustered(20, 24, 8, 0.3, 4);
        for metric in [Metric::Euclid, Metric::Dot, Metric::Manhattan] {
            for q in queries.chunks_exact(24) {
                let table = pq.lookup_table(q, metric).unwrap();
                assert_eq!(table.m(), 6);
                for v in data.chunks_exact(24).take(50) {
                    let code = pq.encode(v).unwrap();
                    let adc = table.distance(&code);
                    let exact = metric.distance(q, &pq.decode(&code).unwrap());
                    assert!(
                        (adc - exact).abs() <= 1e-4 * (1.0 + exact.abs()),
                        "{metric:?}: adc {adc} vs decoded {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn hand_computed_table_and_codes() {
        // dim 2, m 2, one centroid per value: codebooks [0], [10] then [1], [5].
        let pq = ProductQuantizer {
            dim: 2,
            m: 2,
            k: 2,
            codebooks: vec![0.0, 10.0, 1.0, 5.0],
        };
        pq.check().unwrap();
        assert_eq!(pq.encode(&[9.0, 2.0]).unwrap(), vec![1, 0]);
        assert_eq!(pq.decode(&[1, 0]).unwrap(), vec![10.0, 1.0]);
        let t = pq.lookup_table(&[9.0, 2.0], Metric::Euclid).unwrap();
        // (9-10)^2 + (2-1)^2 = 2; (9-0)^2 + (2-5)^2 = 90.
        assert_eq!(t.distance(&[1, 0]), 2.0);
        assert_eq!(t.distance(&[0, 1]), 90.0);
        let t = pq.lookup_table(&[9.0, 2.0], Metric::Dot).unwrap();
        // -(9*10 + 2*5) = -100.
        assert_eq!(t.distance(&[1, 1]), -100.0);
        assert!(t.distance(&[2, 0]).is_infinite());
    }

    #[test]
    fn pq_with_rescoring_reaches_recall_at_10() {
        let (n, dim, m, nq) = (5000, 64, 16, 100);
        let data = clustered(n, dim, 50, 0.5, 11);
        let queries = clustered(nq, dim, 50, 0.5, 11 ^ 0xFF);
        let pq = ProductQuantizer::train(&data, dim, m, 20, 3).unwrap();
        let codes: Vec<u8> = data
            .chunks_exact(dim)
            .flat_map(|v| pq.encode(v).unwrap())
            .collect();
        assert_eq!(codes.len(), n * m); // 16 bytes per 256-byte vector: 16x
        let top = |scores: &mut Vec<(f32, usize)>, k: usize| -> Vec<usize> {
            scores.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            scores.iter().take(k).map(|s| s.1).collect()
        };
        let (mut hits, mut hits_no_rescore) = (0, 0);
        for q in queries.chunks_exact(dim) {
            let mut exact: Vec<(f32, usize)> = data
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, v)| (l2(q, v), i))
                .collect();
            let truth = top(&mut exact, 10);
            let table = pq.lookup_table(q, Metric::Euclid).unwrap();
            let mut approx: Vec<(f32, usize)> = codes
                .chunks_exact(m)
                .enumerate()
                .map(|(i, c)| (table.distance(c), i))
                .collect();
            let candidates = top(&mut approx, 100);
            hits_no_rescore += candidates[..10]
                .iter()
                .filter(|i| truth.contains(i))
                .count();
            let mut rescored: Vec<(f32, usize)> = candidates
                .iter()
                .map(|&i| (l2(q, &data[i * dim..(i + 1) * dim]), i))
                .collect();
            let found = top(&mut rescored, 10);
            hits += found.iter().filter(|i| truth.contains(i)).count();
        }
        let recall = hits as f64 / (nq * 10) as f64;
        let raw = hits_no_rescore as f64 / (nq * 10) as f64;
        std::println!("pq recall@10: {recall:.3} with rescoring of top 100, {raw:.3} without");
        assert!(recall >= 0.9, "recall@10 {recall} (no rescoring {raw})");
    }

    #[test]
    fn fewer_than_256_vectors_give_fewer_centroids() {
        let data = clustered(40, 8, 4, 0.1, 6);
        let pq = ProductQuantizer::train(&data, 8, 2, 5, 1).unwrap();
        assert_eq!(pq.centroids(), 40);
        pq.check().unwrap();
        // Every training vector is its own centroid: exact reconstruction.
        assert!(mse(&pq, &data) < 1e-12);
        assert!(matches!(
            pq.decode(&[40, 0]),
            Err(Error::InvalidParameter(_))
        ));
    }

    #[test]
    fn invalid_configs_give_typed_errors() {
        let data = vec![0.5f32; 12 * 10];
        let bad = |r: Result<ProductQuantizer>| matches!(r, Err(Error::InvalidConfig(_)));
        assert!(bad(ProductQuantizer::train(&data, 12, 5, 3, 0)));
        assert!(bad(ProductQuantizer::train(&data, 12, 0, 3, 0)));
        assert!(bad(ProductQuantizer::train(&data, 0, 1, 3, 0)));
        assert!(bad(ProductQuantizer::train(&[], 12, 4, 3, 0)));
        assert!(bad(ProductQuantizer::train(&data[..13], 12, 4, 3, 0)));
        let err = ProductQuantizer::train(&data, 12, 5, 3, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: pq dim 12 is not a multiple of m 5"
        );
        let mut nan = data.clone();
        nan[14] = f32::NAN;
        assert!(matches!(
            ProductQuantizer::train(&nan, 12, 4, 3, 0),
            Err(Error::NonFiniteComponent { index: 2, .. })
        ));
        let pq = ProductQuantizer::train(&data, 12, 4, 3, 0).unwrap();
        assert_eq!(
            pq.encode(&[0.0; 11]),
            Err(Error::DimensionMismatch {
                expected: 12,
                got: 11
            })
        );
        assert!(pq.lookup_table(&[0.0; 13], Metric::Dot).is_err());
        assert!(matches!(
            pq.decode(&[0; 3]),
            Err(Error::InvalidParameter(_))
        ));
    }

    #[test]
    fn bincode_round_trip_and_corruption_check() {
        let data = clustered(300, 8, 5, 0.2, 9);
        let pq = ProductQuantizer::train(&data, 8, 4, 5, 2).unwrap();
        let config = bincode::config::standard();
        let bytes = bincode::encode_to_vec(&pq, config).unwrap();
        let (back, used): (ProductQuantizer, usize) =
            bincode::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(back, pq);
        back.check().unwrap();
        let mut broken = pq.clone();
        broken.codebooks.pop();
        assert!(matches!(broken.check(), Err(Error::Corrupted(_))));
        broken.k = 300;
        assert!(matches!(broken.check(), Err(Error::Corrupted(_))));
    }
}
