//! WebAssembly simd128 kernels.
//!
//! Compiled only when the build enables simd128
//! (`-C target-feature=+simd128`): wasm has no runtime feature detection, and a
//! module containing SIMD opcodes fails to validate on an engine without them.
//! Because the feature is enabled for the whole build, the arithmetic
//! intrinsics are safe to call; only the pointer loads need `unsafe`.
//!
//! Shape (as in the x86 kernels): 16 floats per iteration into four
//! independent 4-lane accumulators, then at most one 8-float and one 4-float
//! step into idle accumulators, then the last 1..=3 floats as one zero-padded
//! vector into the fourth, then one horizontal sum (no serial scalar tail).
//! Like the x86 kernels they work on `min(a.len(), b.len())` elements.

use core::arch::wasm32::*;

/// Sum of the 4 lanes of `v`.
#[inline(always)]
fn hsum(v: v128) -> f32 {
    let s = f32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    let s = f32x4_add(s, i32x4_shuffle::<1, 0, 3, 2>(s, s));
    f32x4_extract_lane::<0>(s)
}

/// The 1..=3 floats of `x` in the low lanes, zeros above (zeros for any
/// other length).
#[inline(always)]
fn load_partial(x: &[f32]) -> v128 {
    match *x {
        [x0] => f32x4(x0, 0.0, 0.0, 0.0),
        [x0, x1] => f32x4(x0, x1, 0.0, 0.0),
        [x0, x1, x2] => f32x4(x0, x1, x2, 0.0),
        _ => f32x4_splat(0.0),
    }
}

/// Unaligned load of 4 floats at `p`.
///
/// # Safety
///
/// `p..p + 4` must be in bounds of one slice.
#[inline(always)]
unsafe fn load(p: *const f32) -> v128 {
    // SAFETY: the caller guarantees 4 readable floats at `p`; wasm's
    // `v128.load` has no alignment requirement.
    unsafe { v128_load(p.cast()) }
}

/// Generates one kernel from its per-4-lane step `$step(acc, x, y) -> acc`,
/// which must add exactly 0.0 for lanes where `x` and `y` are both 0.0 (the
/// padding of `load_partial`).
macro_rules! kernel {
    ($(#[$doc:meta])* $name:ident, $step:ident $(,)?) => {
        $(#[$doc])*
        pub fn $name(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut acc0 = f32x4_splat(0.0);
            let mut acc1 = f32x4_splat(0.0);
            let mut acc2 = f32x4_splat(0.0);
            let mut acc3 = f32x4_splat(0.0);
            let mut i = 0;
            while i + 16 <= n {
                // SAFETY: `i + 16 <= n <= a.len(), b.len()`, so the 4-float loads
                // at `i`, `i + 4`, `i + 8`, `i + 12` are in bounds.
                unsafe {
                    acc0 = $step(acc0, load(pa.add(i)), load(pb.add(i)));
                    acc1 = $step(acc1, load(pa.add(i + 4)), load(pb.add(i + 4)));
                    acc2 = $step(acc2, load(pa.add(i + 8)), load(pb.add(i + 8)));
                    acc3 = $step(acc3, load(pa.add(i + 12)), load(pb.add(i + 12)));
                }
                i += 16;
            }
            if i + 8 <= n {
                // SAFETY: `i + 8 <= n <= a.len(), b.len()`: loads at `i`, `i + 4`
                // are in bounds.
                unsafe {
                    acc0 = $step(acc0, load(pa.add(i)), load(pb.add(i)));
                    acc1 = $step(acc1, load(pa.add(i + 4)), load(pb.add(i + 4)));
                }
                i += 8;
            }
            if i + 4 <= n {
                // SAFETY: `i + 4 <= n <= a.len(), b.len()`.
                unsafe {
                    acc2 = $step(acc2, load(pa.add(i)), load(pb.add(i)));
                }
                i += 4;
            }
            if i < n {
                acc3 = $step(acc3, load_partial(&a[i..n]), load_partial(&b[i..n]));
            }
            hsum(f32x4_add(f32x4_add(acc0, acc1), f32x4_add(acc2, acc3)))
        }
    };
}

/// `acc + x * y`.
#[inline(always)]
fn dot_step(acc: v128, x: v128, y: v128) -> v128 {
    f32x4_add(acc, f32x4_mul(x, y))
}

/// `acc + (x - y)^2`.
#[inline(always)]
fn l2_step(acc: v128, x: v128, y: v128) -> v128 {
    let d = f32x4_sub(x, y);
    f32x4_add(acc, f32x4_mul(d, d))
}

/// `acc + |x - y|`.
#[inline(always)]
fn l1_step(acc: v128, x: v128, y: v128) -> v128 {
    f32x4_add(acc, f32x4_abs(f32x4_sub(x, y)))
}

kernel!(
    /// Dot product (simd128).
    dot,
    dot_step,
);
kernel!(
    /// Squared Euclidean distance (simd128).
    l2_squared,
    l2_step,
);
kernel!(
    /// Manhattan distance (simd128).
    l1,
    l1_step,
);
