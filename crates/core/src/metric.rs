//! Metrics: how a stored vector and a query are compared, and how the
//! internal ordering maps to the score a user sees.

use alloc::vec::Vec;

use crate::distance;
use crate::error::{Error, Result};

/// A similarity or distance measure between two vectors.
///
/// Scores follow Qdrant: `Cosine` and `Dot` are similarities (higher is
/// better), `Euclid` (L2, not squared) and `Manhattan` (L1) are distances
/// (lower is better). Cosine collections store unit-length vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, bincode::Encode, bincode::Decode)]
pub enum Metric {
    /// Cosine similarity; vectors are normalised on the way in.
    Cosine,
    /// Inner product.
    Dot,
    /// Euclidean distance.
    Euclid,
    /// Manhattan distance.
    Manhattan,
}

impl Metric {
    /// Internal distance, where lower is always better: `-dot` for the
    /// similarities, squared L2 for `Euclid`, L1 for `Manhattan`.
    #[inline]
    pub(crate) fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine | Metric::Dot => -distance::dot(a, b),
            Metric::Euclid => distance::l2_squared(a, b),
            Metric::Manhattan => distance::l1(a, b),
        }
    }

    /// [`Metric::distance`] from `q` to four vectors at once.
    #[inline]
    pub(crate) fn distance4(self, q: &[f32], v: [&[f32]; 4]) -> [f32; 4] {
        match self {
            Metric::Cosine | Metric::Dot => distance::dot4(q, v).map(|d| -d),
            Metric::Euclid => distance::l2_squared4(q, v),
            Metric::Manhattan => v.map(|x| distance::l1(q, x)),
        }
    }

    /// The user-facing score of an internal distance.
    #[inline]
    pub(crate) fn score(self, internal: f32) -> f32 {
        match self {
            Metric::Cosine | Metric::Dot => -internal,
            Metric::Euclid => libm::sqrtf(internal),
            Metric::Manhattan => internal,
        }
    }

    /// True for similarities (`Cosine`, `Dot`), where a higher score is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Cosine | Metric::Dot)
    }

    /// Checks `v` for this metric (length, finite components, and under
    /// cosine a norm that can be divided by) and returns the factor the
    /// index applies to it: `1 / |v|` under cosine, `1` otherwise.
    pub(crate) fn check(self, dim: usize, v: &[f32]) -> Result<f32> {
        check_vector(dim, v)?;
        if self != Metric::Cosine {
            return Ok(1.0);
        }
        let norm = libm::sqrtf(distance::dot(v, v));
        if norm == 0.0 || !norm.is_finite() {
            return Err(Error::ZeroVector);
        }
        Ok(1.0 / norm)
    }

    /// Checks `v` and writes the form the index stores and searches with
    /// into `out` (cleared first): a unit vector under cosine, `v` otherwise.
    pub(crate) fn prepare_into(self, dim: usize, v: &[f32], out: &mut Vec<f32>) -> Result<()> {
        let scale = self.check(dim, v)?;
        out.clear();
        out.extend_from_slice(v);
        if self == Metric::Cosine {
            out.iter_mut().for_each(|x| *x *= scale);
        }
        Ok(())
    }
}

/// Rejects vectors of the wrong length or with NaN / infinite components.
pub(crate) fn check_vector(dim: usize, v: &[f32]) -> Result<()> {
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
