//! AVX2 + FMA kernels for x86_64.
//!
//! Shape of every kernel: a main loop over 32 floats per iteration with four
//! independent 8-lane accumulators (so consecutive FMAs do not wait on each
//! other's latency), then at most one 16-float and one 8-float step into
//! otherwise idle accumulators, then the last 0..=7 floats through one masked
//! load (no scalar tail loop), then one horizontal sum.
//!
//! Lengths: the kernels work on `min(a.len(), b.len())` elements, so a length
//! mismatch in a release build can never read out of bounds (the public
//! dispatchers `debug_assert` equal lengths).

use core::arch::x86_64::*;

/// Sliding window for tail masks: the 8 lanes starting at `8 - r` have the
/// high bit set in exactly the first `r` lanes (`0 <= r <= 8`).
static TAIL_MASK: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// Mask selecting the first `r` lanes of a 256-bit vector, `r <= 8`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn tail_mask(r: usize) -> __m256i {
    debug_assert!(r <= 8);
    let start = 8 - r.min(8);
    // SAFETY: `start <= 8`, so the 8 `i32`s at `start..start + 8` lie inside the
    // 16-element `TAIL_MASK`; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(TAIL_MASK.as_ptr().add(start).cast()) }
}

/// Masked loads of the first `n - i` (< 8) floats at `i` of `a` and `b`;
/// the other lanes are 0.0.
///
/// # Safety
///
/// `i <= n`, `n - i <= 8`, and `n <= a.len()`, `n <= b.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn load_tail(a: *const f32, b: *const f32, i: usize, n: usize) -> (__m256, __m256) {
    let mask = tail_mask(n - i);
    // SAFETY: the caller guarantees `i <= n <= len`, so `a.add(i)`/`b.add(i)`
    // stay in (or one past) their slices; `maskload` reads only the lanes whose
    // mask bit is set, i.e. the `n - i` floats at `i..n`, which are in bounds,
    // and never faults on the masked-off lanes; no alignment requirement.
    unsafe {
        (
            _mm256_maskload_ps(a.add(i), mask),
            _mm256_maskload_ps(b.add(i), mask),
        )
    }
}

/// Sum of the 8 lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi); // 4 lanes
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s)); // 2 lanes
    let s = _mm_add_ss(s, _mm_movehdup_ps(s)); // 1 lane
    _mm_cvtss_f32(s)
}

/// Generates one kernel from its per-8-lane step `$step(acc, x, y) -> acc`.
macro_rules! kernel {
    ($(#[$doc:meta])* $name:ident, $step:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// The CPU must support AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn $name(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut acc0 = _mm256_setzero_ps();
            let mut acc1 = _mm256_setzero_ps();
            let mut acc2 = _mm256_setzero_ps();
            let mut acc3 = _mm256_setzero_ps();
            let mut i = 0;
            while i + 32 <= n {
                // SAFETY: `i + 32 <= n <= a.len(), b.len()`, so the four 8-float
                // loads at `i`, `i + 8`, `i + 16`, `i + 24` are in bounds; `loadu`
                // has no alignment requirement.
                unsafe {
                    acc0 = $step(acc0, _mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                    acc1 = $step(acc1, _mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8)));
                    acc2 = $step(acc2, _mm256_loadu_ps(pa.add(i + 16)), _mm256_loadu_ps(pb.add(i + 16)));
                    acc3 = $step(acc3, _mm256_loadu_ps(pa.add(i + 24)), _mm256_loadu_ps(pb.add(i + 24)));
                }
                i += 32;
            }
            if i + 16 <= n {
                // SAFETY: `i + 16 <= n <= a.len(), b.len()`: both 8-float loads
                // at `i` and `i + 8` are in bounds; unaligned loads.
                unsafe {
                    acc0 = $step(acc0, _mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                    acc1 = $step(acc1, _mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8)));
                }
                i += 16;
            }
            if i + 8 <= n {
                // SAFETY: `i + 8 <= n <= a.len(), b.len()`; unaligned load.
                unsafe {
                    acc2 = $step(acc2, _mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                }
                i += 8;
            }
            if i < n {
                // SAFETY: here `i < n` and `n - i < 8` (the step above took any
                // full 8), and `n <= a.len(), b.len()`: `load_tail`'s contract.
                let (x, y) = unsafe { load_tail(pa, pb, i, n) };
                // Masked-off lanes are 0.0 in both, which adds 0.0 for every metric.
                acc3 = $step(acc3, x, y);
            }
            hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)))
        }
    };
}

/// `acc + x * y`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn dot_step(acc: __m256, x: __m256, y: __m256) -> __m256 {
    _mm256_fmadd_ps(x, y, acc)
}

/// `acc + (x - y)^2`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn l2_step(acc: __m256, x: __m256, y: __m256) -> __m256 {
    let d = _mm256_sub_ps(x, y);
    _mm256_fmadd_ps(d, d, acc)
}

/// `acc + |x - y|` (clears the sign bit).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn l1_step(acc: __m256, x: __m256, y: __m256) -> __m256 {
    let d = _mm256_sub_ps(x, y);
    _mm256_add_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0), d))
}

kernel!(
    /// Dot product (AVX2 + FMA).
    dot,
    dot_step
);
kernel!(
    /// Squared Euclidean distance (AVX2 + FMA).
    l2_squared,
    l2_step
);
kernel!(
    /// Manhattan distance (AVX2 + FMA).
    l1,
    l1_step
);
