//! Vector quantization: scalar int8, binary and product quantizers, and
//! their use by the indexes.
//!
//! An index with quantization keeps one code per point beside (or instead
//! of) the original vector. Searches walk the graph, or scan, comparing
//! codes; then, when the originals are at hand, the best
//! `k × oversampling` candidates are rescored with the original vectors
//! ([`QuantSearch`] mirrors Qdrant's `quantization` search parameters).

pub mod binary;
pub mod pq;
pub mod scalar;
pub(crate) mod vectors;

use crate::error::{Error, Result};
use crate::metric::Metric;

/// At most this many vectors train a product quantizer (faiss's default
/// sample is 256 × 39 for 256 centroids; more adds time, not quality).
pub(crate) const PQ_TRAIN_MAX: usize = 256 * 40;
/// k-means rounds of product-quantizer training.
pub(crate) const PQ_ITERATIONS: usize = 16;
/// Seed of product-quantizer training.
pub(crate) const PQ_SEED: u64 = 0x0050_5121;

/// How an index quantizes its vectors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantization {
    /// One signed byte per component (4× smaller than `f32`), with the
    /// range clipped to the central `quantile` of the values (Qdrant's
    /// `scalar` with `type: int8`; default quantile
    /// [`scalar::DEFAULT_QUANTILE`]).
    Scalar {
        /// Fraction of component values inside the clipping range, in `[0.5, 1]`.
        quantile: f32,
    },
    /// One bit per component (32× smaller), compared by Hamming distance;
    /// meant to be rescored with the originals.
    Binary,
    /// Product quantization: `m` one-byte codes per vector (`4 · dim / m`×
    /// smaller); `dim` must be a multiple of `m`.
    Product {
        /// Number of sub-spaces, which is the code length in bytes.
        m: usize,
    },
}

impl Quantization {
    /// Int8 scalar quantization with the default quantile.
    pub fn int8() -> Self {
        Quantization::Scalar {
            quantile: scalar::DEFAULT_QUANTILE,
        }
    }

    /// Product quantization compressing `dim`-dimensional `f32` vectors
    /// `ratio` times (Qdrant's `compression`: 4, 8, 16, 32 or 64), i.e.
    /// `m = 4 · dim / ratio`.
    pub fn product_with_compression(dim: usize, ratio: usize) -> Result<Self> {
        if ratio == 0 || !(4 * dim).is_multiple_of(ratio) || 4 * dim / ratio == 0 {
            return Err(Error::InvalidConfig(alloc::format!(
                "compression x{ratio} does not divide {dim}-dimensional vectors into whole bytes"
            )));
        }
        let q = Quantization::Product { m: 4 * dim / ratio };
        q.check(dim, Metric::Dot)?;
        Ok(q)
    }

    /// Checks the configuration for `dim`-dimensional vectors under `metric`.
    pub(crate) fn check(&self, dim: usize, metric: Metric) -> Result<()> {
        match *self {
            Quantization::Scalar { quantile } => {
                if !(0.5..=1.0).contains(&quantile) {
                    return Err(Error::InvalidConfig(alloc::format!(
                        "quantile must be in [0.5, 1], got {quantile}"
                    )));
                }
                if metric == Metric::Manhattan {
                    return Err(Error::InvalidConfig(
                        "int8 quantization supports the cosine, dot and euclid metrics, not manhattan"
                            .into(),
                    ));
                }
            }
            Quantization::Binary => {}
            Quantization::Product { m } => {
                if m == 0 || m > dim || !dim.is_multiple_of(m) {
                    return Err(Error::InvalidConfig(alloc::format!(
                        "product quantization needs m in 1..={dim} dividing the dimension {dim}, got {m}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Per-search quantization parameters, as Qdrant's `quantization` search
/// parameters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QuantSearch {
    /// Search the original vectors, not the codes (only when the index
    /// keeps them). Default false.
    pub ignore: bool,
    /// Rescore the candidates with the original vectors. `None` rescores
    /// whenever the originals are kept.
    pub rescore: Option<bool>,
    /// Candidates taken from the codes before rescoring, as a multiple of
    /// `k` (at least 1; `None` is 1).
    pub oversampling: Option<f32>,
}

impl QuantSearch {
    pub(crate) fn check(&self) -> Result<()> {
        if let Some(o) = self.oversampling
            && !(1.0..=1.0e6).contains(&o)
        {
            return Err(Error::InvalidParameter(alloc::format!(
                "oversampling must be in [1, 1e6], got {o}"
            )));
        }
        Ok(())
    }

    /// How many candidates to take from the codes for a top-`k`.
    pub(crate) fn candidates(&self, k: usize) -> usize {
        let o = self.oversampling.unwrap_or(1.0);
        libm::ceilf(k as f32 * o) as usize
    }
}
