//! Distance kernels: a scalar reference and SIMD versions chosen once.
//!
//! PLACEHOLDER: scalar only; SIMD versions are being written.

pub mod scalar;

/// Dot product of two equal-length slices.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    scalar::dot(a, b)
}

/// Squared Euclidean distance of two equal-length slices.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    scalar::l2_squared(a, b)
}

/// Manhattan (L1) distance of two equal-length slices.
#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    scalar::l1(a, b)
}

/// Hint the CPU to fetch the cache line at `p` (no-op where unsupported).
#[inline(always)]
pub fn prefetch<T>(_p: *const T) {}
