//! Scalar int8 quantization.
//!
//! Every component `x` of every vector maps to one signed byte `c` in
//! `-127..=127` through one affine map shared by the whole collection:
//! `x ≈ offset + step * c`. The range `[offset - 127 step, offset + 127 step]`
//! comes from training: the central `quantile` fraction of all component
//! values (as Qdrant's `quantile`, default 0.99), so that a few outliers do
//! not stretch the step; values outside it are clipped to its ends.
//!
//! Distances are estimated from the codes with the affine correction, so that
//! the estimates are on the same scale as the float distances:
//!
//! - `x·y ≈ n·offset² + offset·step·(Σc + Σd) + step²·Σ c·d`
//! - `|x − y|² ≈ step²·(Σc² + Σd² − 2 Σ c·d)` (the offset cancels)
//!
//! `Σ c·d` is the integer kernel [`crate::distance::dot_i8`]; `Σc` and `Σc²`
//! are per-vector constants ([`CodeSums`]) computed once at encoding. Cosine
//! is the dot product of normalised vectors.

use alloc::format;
use alloc::vec::Vec;

use crate::{Error, Result, Rng, distance};

/// Default fraction of component values kept inside the clipping range, as
/// Qdrant's `quantile`.
pub const DEFAULT_QUANTILE: f32 = 0.99;

/// Largest code magnitude: codes are in `-MAX_CODE..=MAX_CODE` (−128 is never
/// produced, so the range is symmetric around `offset`).
const MAX_CODE: f32 = 127.0;

/// At most this many component values are kept for calibration; larger
/// training sets are sampled (reservoir sampling with a fixed seed, so the
/// result depends only on the input).
const MAX_SAMPLE: usize = 1 << 20;

/// Seed of the calibration sample.
const SAMPLE_SEED: u64 = 0x5EED_0F1A;

/// The per-vector constants of a code vector that the distance estimates need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodeSums {
    /// `Σ c[i]`.
    pub sum: i32,
    /// `Σ c[i]²`.
    pub sum_sq: i32,
}

impl CodeSums {
    /// The sums of `codes` (codes of at most 133,000 components never overflow).
    pub fn of(codes: &[i8]) -> Self {
        CodeSums {
            sum: codes.iter().map(|&c| i32::from(c)).sum(),
            sum_sq: distance::dot_i8(codes, codes),
        }
    }
}

/// A trained int8 scalar quantizer: the clipping range of one collection.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarQuantizer {
    dim: usize,
    /// The value of code 0: the middle of the clipping range.
    offset: f32,
    /// The value of one code step; 0 when every training value was equal.
    step: f32,
}

impl ScalarQuantizer {
    /// Calibrates on `vectors` (each of length `dim`): the clipping range
    /// holds the central `quantile` fraction of all component values
    /// (`(1 − quantile)/2` of them are clipped at each end). `quantile` must
    /// be in `[0.5, 1]`; 1 keeps the full range. Deterministic.
    ///
    /// Errors: [`Error::InvalidParameter`] for a `dim` of 0, a quantile out of
    /// range or no vectors; [`Error::DimensionMismatch`] and
    /// [`Error::NonFiniteComponent`] for a bad vector.
    pub fn train<'a>(
        vectors: impl Iterator<Item = &'a [f32]>,
        dim: usize,
        quantile: f32,
    ) -> Result<Self> {
        if dim == 0 {
            return Err(Error::InvalidParameter(
                "quantization dim must be at least 1".into(),
            ));
        }
        if !(0.5..=1.0).contains(&quantile) {
            return Err(Error::InvalidParameter(format!(
                "quantile must be in [0.5, 1], got {quantile}"
            )));
        }
        let mut sample: Vec<f32> = Vec::new();
        let mut seen: u64 = 0;
        let mut rng = Rng::new(SAMPLE_SEED);
        for v in vectors {
            check(v, dim)?;
            for &x in v {
                if sample.len() < MAX_SAMPLE {
                    sample.push(x);
                } else {
                    let j = rng.below(seen + 1) as usize;
                    if j < MAX_SAMPLE {
                        sample[j] = x;
                    }
                }
                seen += 1;
            }
        }
        if sample.is_empty() {
            return Err(Error::InvalidParameter(
                "quantization training needs at least one vector".into(),
            ));
        }
        let n = sample.len();
        // Rounded: 0.99 is not exact in f32, and 1000 values must clip 5 at each end.
        let cut = libm::round((1.0 - f64::from(quantile)) / 2.0 * n as f64) as usize;
        let cut = cut.min((n - 1) / 2);
        let (lo_rank, hi_rank) = (cut, n - 1 - cut);
        let (_, &mut lo, _) = sample.select_nth_unstable_by(lo_rank, f32::total_cmp);
        let (_, &mut hi, _) = sample.select_nth_unstable_by(hi_rank, f32::total_cmp);
        Ok(Self::with_range(dim, lo, hi))
    }

    /// A quantizer for the clipping range `[lo, hi]` (`lo <= hi`, both
    /// finite), without training; used by tests and for loading.
    pub fn with_range(dim: usize, lo: f32, hi: f32) -> Self {
        debug_assert!(lo <= hi && lo.is_finite() && hi.is_finite());
        ScalarQuantizer {
            dim,
            offset: lo / 2.0 + hi / 2.0,
            step: (hi / 2.0 - lo / 2.0) / MAX_CODE,
        }
    }

    /// The quantizer from its two parameters, as [`parts`](Self::parts)
    /// returns them (bit-exact round trip, for persistence).
    pub(crate) fn from_parts(dim: usize, offset: f32, step: f32) -> Self {
        ScalarQuantizer { dim, offset, step }
    }

    /// `(offset, step)`: the value of code 0 and of one code step.
    pub(crate) fn parts(&self) -> (f32, f32) {
        (self.offset, self.step)
    }

    /// The vector length this quantizer encodes.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The clipping range `(lo, hi)`: values outside are stored as its ends.
    pub fn range(&self) -> (f32, f32) {
        (
            self.offset - MAX_CODE * self.step,
            self.offset + MAX_CODE * self.step,
        )
    }

    /// The value of one code step (the quantization error of an in-range
    /// value is at most half of it).
    pub fn step(&self) -> f32 {
        self.step
    }

    /// The codes of `v`: each component rounded to the nearest code, clipped
    /// to the range. `v` must have length [`dim`](Self::dim) (only checked in
    /// debug builds; validate user input before encoding).
    pub fn encode(&self, v: &[f32]) -> Vec<i8> {
        debug_assert_eq!(v.len(), self.dim, "vector of the wrong length");
        let inv = if self.step > 0.0 {
            1.0 / self.step
        } else {
            0.0
        };
        v.iter()
            .map(|&x| libm::roundf(((x - self.offset) * inv).clamp(-MAX_CODE, MAX_CODE)) as i8)
            .collect()
    }

    /// The approximate vector of `codes`: `offset + step * c` per component.
    pub fn decode(&self, codes: &[i8]) -> Vec<f32> {
        codes
            .iter()
            .map(|&c| self.offset + self.step * f32::from(c))
            .collect()
    }

    /// Estimated dot product of the vectors encoded as `a` and `b`, with their
    /// [`CodeSums`]; equals the dot product of the decoded vectors up to
    /// float rounding.
    pub fn dot(&self, a: &[i8], sa: CodeSums, b: &[i8], sb: CodeSums) -> f32 {
        let cd = distance::dot_i8(a, b) as f32;
        let (o, s) = (self.offset, self.step);
        self.dim as f32 * o * o + o * s * (sa.sum as f32 + sb.sum as f32) + s * s * cd
    }

    /// Estimated squared Euclidean distance of the vectors encoded as `a` and
    /// `b`; equals the distance of the decoded vectors up to float rounding.
    pub fn l2_squared(&self, a: &[i8], sa: CodeSums, b: &[i8], sb: CodeSums) -> f32 {
        let cd = i64::from(distance::dot_i8(a, b));
        let diff = i64::from(sa.sum_sq) + i64::from(sb.sum_sq) - 2 * cd;
        self.step * self.step * diff as f32
    }
}

/// Checks the length and finiteness of a training vector.
fn check(v: &[f32], dim: usize) -> Result<()> {
    if v.len() != dim {
        return Err(Error::DimensionMismatch {
            expected: dim,
            got: v.len(),
        });
    }
    if let Some((index, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(Error::NonFiniteComponent { index, value });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// `n` points of length `dim` around `clusters` random centres.
    fn clustered(seed: u64, n: usize, dim: usize, clusters: usize) -> Vec<Vec<f32>> {
        let mut rng = Rng::new(seed);
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dim).map(|_| rng.next_f32_signed()).collect())
            .collect();
        (0..n)
            .map(|_| {
                let c = &centres[rng.below(clusters as u64) as usize];
                c.iter().map(|&x| x + 0.4 * rng.next_f32_signed()).collect()
            })
            .collect()
    }

    fn top_k(scores: impl Iterator<Item = f32>, k: usize) -> Vec<usize> {
        let mut s: Vec<(usize, f32)> = scores.enumerate().collect();
        s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        s.into_iter().take(k).map(|(i, _)| i).collect()
    }

    #[test]
    fn training_errors_name_the_problem() {
        let v = [1.0f32, 2.0];
        let e = ScalarQuantizer::train([&v[..]].into_iter(), 2, 0.3).unwrap_err();
        assert_eq!(
            e,
            Error::InvalidParameter("quantile must be in [0.5, 1], got 0.3".into())
        );
        let e = ScalarQuantizer::train([&v[..]].into_iter(), 3, 0.99).unwrap_err();
        assert_eq!(
            e,
            Error::DimensionMismatch {
                expected: 3,
                got: 2
            }
        );
        let bad = [1.0, f32::NAN];
        let e = ScalarQuantizer::train([&bad[..]].into_iter(), 2, 0.99).unwrap_err();
        assert!(matches!(e, Error::NonFiniteComponent { index: 1, .. }));
        let e = ScalarQuantizer::train(core::iter::empty(), 2, 0.99).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(m) if m.contains("at least one vector")));
        assert!(ScalarQuantizer::train(core::iter::empty(), 0, 0.99).is_err());
    }

    /// Values 0..=999 (hand-computed ranks): quantile 0.99 clips 5 values at
    /// each end, so the range is [5, 994]; quantile 1 keeps [0, 999].
    #[test]
    fn quantile_sets_the_clipping_range() {
        let values: Vec<f32> = (0..1000).rev().map(|i| i as f32).collect();
        let rows: Vec<&[f32]> = values.chunks(10).collect();
        let q = ScalarQuantizer::train(rows.iter().copied(), 10, 0.99).unwrap();
        let (lo, hi) = q.range();
        assert!(
            (lo - 5.0).abs() < 1e-3 && (hi - 994.0).abs() < 1e-3,
            "{lo} {hi}"
        );
        let q = ScalarQuantizer::train(rows.iter().copied(), 10, 1.0).unwrap();
        let (lo, hi) = q.range();
        assert!(
            (lo - 0.0).abs() < 1e-3 && (hi - 999.0).abs() < 1e-3,
            "{lo} {hi}"
        );
        // Deterministic.
        assert_eq!(
            ScalarQuantizer::train(rows.iter().copied(), 10, 0.9).unwrap(),
            ScalarQuantizer::train(rows.iter().copied(), 10, 0.9).unwrap()
        );
    }

    /// Range [-1, 1.54]: step 0.01, offset 0.27 (hand-computed); in-range
    /// values come back within half a step, out-of-range values as the ends.
    #[test]
    fn encode_decode_error_is_at_most_half_a_step() {
        let q = ScalarQuantizer::with_range(4, -1.0, 1.54);
        assert!((q.step() - 0.01).abs() < 1e-6);
        assert_eq!(q.encode(&[0.27, -1.0, 1.54, 0.275]), vec![0, -127, 127, 1]);
        assert_eq!(
            q.encode(&[-5.0, 9.0, -1.005, 1.6]),
            vec![-127, 127, -127, 127]
        );
        let mut rng = Rng::new(3);
        let half = q.step() / 2.0 + 1e-6;
        for _ in 0..2000 {
            let v: Vec<f32> = (0..4).map(|_| rng.next_f32_signed() * 1.3 + 0.27).collect();
            let back = q.decode(&q.encode(&v));
            let (lo, hi) = q.range();
            for (&x, &y) in v.iter().zip(&back) {
                let want = x.clamp(lo, hi);
                assert!((want - y).abs() <= half, "{x} -> {y}, range {lo}..{hi}");
            }
        }
    }

    #[test]
    fn constant_training_data_encodes_to_zero() {
        let v = [0.5f32; 8];
        let q = ScalarQuantizer::train([&v[..]].into_iter(), 8, 0.99).unwrap();
        assert_eq!(q.step(), 0.0);
        assert_eq!(q.encode(&v), vec![0; 8]);
        assert_eq!(q.decode(&[0; 8]), v.to_vec());
    }

    /// The estimates equal the float distances of the decoded vectors.
    #[test]
    fn estimates_equal_distances_of_decoded_vectors() {
        let data = clustered(9, 50, 37, 4);
        let q = ScalarQuantizer::train(data.iter().map(|v| &v[..]), 37, 0.99).unwrap();
        for pair in data.windows(2) {
            let (a, b) = (q.encode(&pair[0]), q.encode(&pair[1]));
            let (sa, sb) = (CodeSums::of(&a), CodeSums::of(&b));
            let (da, db) = (q.decode(&a), q.decode(&b));
            let dot = distance::scalar::dot(&da, &db);
            let l2 = distance::scalar::l2_squared(&da, &db);
            assert!((q.dot(&a, sa, &b, sb) - dot).abs() <= 1e-3 * (1.0 + dot.abs()));
            assert!((q.l2_squared(&a, sa, &b, sb) - l2).abs() <= 1e-3 * (1.0 + l2));
            // And stay close to the true float values.
            let true_dot = distance::scalar::dot(&pair[0], &pair[1]);
            assert!(
                (dot - true_dot).abs() < 0.05 * (1.0 + true_dot.abs()),
                "{dot} {true_dot}"
            );
        }
    }

    /// Top-10 by the int8 dot estimate against the float top-10 on clustered
    /// data (2,000 x 64, 50 queries): mean overlap must be at least 0.9.
    #[test]
    fn int8_dot_top10_overlaps_float_top10() {
        // Queries come from the same 20 clusters (about 100 points each), so
        // the top 10 must be ordered inside a cluster.
        let mut data = clustered(42, 2050, 64, 20);
        let queries = data.split_off(2000);
        let q = ScalarQuantizer::train(data.iter().map(|v| &v[..]), 64, DEFAULT_QUANTILE).unwrap();
        let codes: Vec<(Vec<i8>, CodeSums)> = data
            .iter()
            .map(|v| {
                let c = q.encode(v);
                let s = CodeSums::of(&c);
                (c, s)
            })
            .collect();
        let (mut overlap_dot, mut overlap_l2) = (0usize, 0usize);
        for query in &queries {
            let qc = q.encode(query);
            let qs = CodeSums::of(&qc);
            let exact = top_k(data.iter().map(|v| distance::dot(query, v)), 10);
            let approx = top_k(codes.iter().map(|(c, s)| q.dot(&qc, qs, c, *s)), 10);
            overlap_dot += approx.iter().filter(|i| exact.contains(i)).count();
            let exact = top_k(data.iter().map(|v| -distance::l2_squared(query, v)), 10);
            let approx = top_k(codes.iter().map(|(c, s)| -q.l2_squared(&qc, qs, c, *s)), 10);
            overlap_l2 += approx.iter().filter(|i| exact.contains(i)).count();
        }
        let dot = overlap_dot as f64 / (10.0 * queries.len() as f64);
        let l2 = overlap_l2 as f64 / (10.0 * queries.len() as f64);
        #[cfg(feature = "std")]
        std::println!("int8 top-10 overlap: dot {dot:.3}, l2 {l2:.3}");
        assert!(dot >= 0.9, "dot overlap {dot}");
        assert!(l2 >= 0.9, "l2 overlap {l2}");
    }
}
