//! The sparse vector type: checking and normalising.

use alloc::format;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A sparse vector: `values[i]` is the component at dimension `indices[i]`;
/// every other component is zero.
///
/// Serialises to and from Qdrant's JSON shape,
/// `{"indices": [6, 1], "values": [0.5, 0.25]}`. Deserialising checks the
/// vector (see [`SparseVector::validate`]) and sorts it by index, so a
/// deserialised vector is always normalised.
///
/// The fields are public plain data; indexes check what they are given.
#[derive(
    Debug, Clone, PartialEq, Default, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(try_from = "RawSparseVector")]
pub struct SparseVector {
    /// Dimensions of the non-zero components.
    pub indices: Vec<u32>,
    /// Components, one per entry of `indices`.
    pub values: Vec<f32>,
}

/// The unchecked JSON shape, validated into a [`SparseVector`].
#[derive(Deserialize)]
struct RawSparseVector {
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl TryFrom<RawSparseVector> for SparseVector {
    type Error = Error;

    fn try_from(raw: RawSparseVector) -> Result<Self> {
        SparseVector::new(raw.indices, raw.values)
    }
}

impl SparseVector {
    /// Checks `indices` and `values` (see [`validate`](Self::validate)) and
    /// returns the vector sorted by index.
    ///
    /// ```
    /// use grape_core::sparse::SparseVector;
    ///
    /// let v = SparseVector::new(vec![7, 2], vec![0.5, 1.0]).unwrap();
    /// assert_eq!(v.indices, [2, 7]);
    /// assert_eq!(v.values, [1.0, 0.5]);
    /// assert!(SparseVector::new(vec![1, 1], vec![0.5, 1.0]).is_err());
    /// ```
    pub fn new(indices: Vec<u32>, values: Vec<f32>) -> Result<Self> {
        let mut v = SparseVector { indices, values };
        v.normalize()?;
        Ok(v)
    }

    /// Number of stored (non-zero) components.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True when the vector has no stored component.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Checks that `indices` and `values` have equal lengths, that every
    /// value is finite and that no index occurs twice. Order does not
    /// matter here. Errors are [`Error::InvalidSparseVector`] naming the
    /// problem and the position(s) in the vector.
    pub fn validate(&self) -> Result<()> {
        self.check_shape()?;
        if !self.is_sorted() {
            self.sorted_order()?;
        }
        Ok(())
    }

    /// Validates the vector and sorts it by index. Leaves it unchanged on
    /// error.
    pub fn normalize(&mut self) -> Result<()> {
        self.check_shape()?;
        if self.is_sorted() {
            return Ok(());
        }
        let order = self.sorted_order()?;
        self.indices = order.iter().map(|&p| self.indices[p as usize]).collect();
        self.values = order.iter().map(|&p| self.values[p as usize]).collect();
        Ok(())
    }

    /// True when the indices are strictly increasing (the vector is sorted
    /// and free of duplicates).
    pub fn is_sorted(&self) -> bool {
        self.indices.windows(2).all(|w| w[0] < w[1])
    }

    /// The `(index, value)` pairs in stored order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.indices
            .iter()
            .copied()
            .zip(self.values.iter().copied())
    }

    /// Dot product with another vector. Both must be sorted by index
    /// (as [`new`](Self::new), [`normalize`](Self::normalize) and
    /// deserialisation leave them); unsorted input gives a wrong result.
    pub fn dot(&self, other: &SparseVector) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0f32);
        while i < self.indices.len() && j < other.indices.len() {
            match self.indices[i].cmp(&other.indices[j]) {
                core::cmp::Ordering::Less => i += 1,
                core::cmp::Ordering::Greater => j += 1,
                core::cmp::Ordering::Equal => {
                    sum += self.values[i] * other.values[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }

    /// Equal lengths and finite values.
    fn check_shape(&self) -> Result<()> {
        if self.indices.len() != self.values.len() {
            return Err(Error::InvalidSparseVector(format!(
                "indices and values differ in length: {} indices, {} values",
                self.indices.len(),
                self.values.len()
            )));
        }
        if u32::try_from(self.indices.len()).is_err() {
            return Err(Error::InvalidSparseVector(format!(
                "too many components: {}",
                self.indices.len()
            )));
        }
        if let Some(pos) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidSparseVector(format!(
                "value at position {pos} (index {}) is not finite: {}",
                self.indices[pos], self.values[pos]
            )));
        }
        Ok(())
    }

    /// Positions in index order; fails on a duplicate index, naming the
    /// first two positions that hold it.
    fn sorted_order(&self) -> Result<Vec<u32>> {
        let mut order: Vec<u32> = (0..self.indices.len() as u32).collect();
        order.sort_unstable_by_key(|&p| (self.indices[p as usize], p));
        if let Some(w) = order
            .windows(2)
            .find(|w| self.indices[w[0] as usize] == self.indices[w[1] as usize])
        {
            return Err(Error::InvalidSparseVector(format!(
                "duplicate index {} at positions {} and {}",
                self.indices[w[0] as usize], w[0], w[1]
            )));
        }
        Ok(order)
    }
}
