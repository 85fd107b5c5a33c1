//! Distance kernels: a scalar reference and SIMD versions, the fastest chosen once.
//!
//! The free functions [`dot`], [`l2_squared`] and [`l1`] are what the indexes
//! call on their hot path. Each one dispatches to the best [`Kernel`] for the
//! machine:
//!
//! - x86_64 with the `std` feature: AVX2 + FMA when the CPU has both, detected
//!   at run time on first use and cached in an atomic, so every later call
//!   costs one relaxed load and a predictable branch before the kernel call
//!   (and nothing when the build already enables `avx2` and `fma`);
//! - x86_64 without `std`: AVX2 + FMA only if the build enables both target
//!   features (`-C target-feature=+avx2,+fma` or a suitable `-C target-cpu`);
//! - wasm32: simd128 if the build enables it (`-C target-feature=+simd128`);
//!   wasm has no run-time detection;
//! - everything else: the scalar reference in [`scalar`].
//!
//! SIMD kernels add in a different order than the scalar loops, so results
//! agree with [`scalar`] to rounding, not bit for bit.
//!
//! The quantized kernels [`dot_i8`] (int8 codes, `int8.rs`) and [`hamming`]
//! (packed bits, `bits.rs`) dispatch the same way; each file holds its scalar
//! reference, AVX2 and simd128 versions. They are integer sums, so every
//! kernel equals its reference exactly.

mod bits;
mod int8;
pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm32;
#[cfg(all(
    target_arch = "x86_64",
    any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
))]
mod x86;

#[cfg(test)]
mod tests;

// The best kernel known at compile time, used when no run-time check picks a
// better one: simd128 where the build enables it, scalar otherwise.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use scalar as baseline;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use wasm32 as baseline;

/// An implementation of the distance functions.
///
/// Every variant exists on every target so the names are portable; use
/// [`Kernel::is_available`] to see which ones can run here and
/// [`Kernel::selected`] for the one [`dot`], [`l2_squared`] and [`l1`] use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Plain loops ([`scalar`]); always available, the reference for the others.
    Scalar,
    /// x86_64 AVX2 with fused multiply-add, 8 lanes.
    Avx2Fma,
    /// WebAssembly 128-bit SIMD, 4 lanes.
    Simd128,
}

impl Kernel {
    /// All kernels, whether available here or not.
    pub const ALL: [Kernel; 3] = [Kernel::Scalar, Kernel::Avx2Fma, Kernel::Simd128];

    /// Short lower-case name: `"scalar"`, `"avx2+fma"` or `"simd128"`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2Fma => "avx2+fma",
            Kernel::Simd128 => "simd128",
        }
    }

    /// The kernel the free functions [`dot`], [`l2_squared`] and [`l1`] use.
    pub fn selected() -> Kernel {
        if avx2_fma() {
            Kernel::Avx2Fma
        } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
            Kernel::Simd128
        } else {
            Kernel::Scalar
        }
    }

    /// Whether this kernel can run on this CPU with this build.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            Kernel::Avx2Fma => avx2_fma(),
            Kernel::Simd128 => cfg!(all(target_arch = "wasm32", target_feature = "simd128")),
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn unavailable(self) -> ! {
        panic!(
            "distance kernel {} is not available on this CPU or build",
            self.name()
        )
    }
}

/// Whether the AVX2 + FMA kernels may run: detected once at run time with
/// `std`, a compile-time fact otherwise (always false off x86_64).
#[inline(always)]
fn avx2_fma() -> bool {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        detect::avx2_fma()
    }
    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    {
        cfg!(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod detect {
    use core::sync::atomic::{AtomicU8, Ordering};

    const UNKNOWN: u8 = 0;
    const ABSENT: u8 = 1;
    const PRESENT: u8 = 2;

    /// AVX2 + FMA support of this CPU: `UNKNOWN` until the first call.
    static AVX2_FMA: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// Whether the CPU supports AVX2 and FMA. The hot path (AVX2 present,
    /// after the first call) is one relaxed load and one compare.
    #[inline(always)]
    pub(super) fn avx2_fma() -> bool {
        if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
            return true; // the whole build already requires them
        }
        AVX2_FMA.load(Ordering::Relaxed) == PRESENT || not_present_or_unknown()
    }

    /// The rest of [`avx2_fma`], out of line: `false` once detected absent
    /// (the scalar kernels then dominate the cost of this call), detection
    /// on first use.
    #[cold]
    #[inline(never)]
    fn not_present_or_unknown() -> bool {
        if AVX2_FMA.load(Ordering::Relaxed) == ABSENT {
            return false;
        }
        let present = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        // Relaxed is enough: every thread computes the same value from the CPU,
        // and nothing else is published through this atomic.
        AVX2_FMA.store(if present { PRESENT } else { ABSENT }, Ordering::Relaxed);
        present
    }
}

/// Defines the dispatching free function and the [`Kernel`] method of one
/// distance function implemented in `scalar`, `x86` and `wasm32`.
macro_rules! distance_fns {
    ($( $(#[$doc:meta])* $name:ident; )*) => {
        $(
            $(#[$doc])*
            ///
            /// `a` and `b` must have equal lengths (checked in debug builds; in
            /// release the extra elements of the longer slice are ignored). Any
            /// length, including 0, and any alignment is fine. Uses
            /// [`Kernel::selected`].
            #[inline]
            pub fn $name(a: &[f32], b: &[f32]) -> f32 {
                debug_assert_eq!(a.len(), b.len(), "vectors of different lengths");
                #[cfg(all(
                    target_arch = "x86_64",
                    any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
                ))]
                if avx2_fma() {
                    // SAFETY: `avx2_fma()` is true only if `is_x86_feature_detected!`
                    // found AVX2 and FMA on this CPU (std), or the build enables both
                    // target features (no std).
                    return unsafe { x86::$name(a, b) };
                }
                baseline::$name(a, b)
            }
        )*

        impl Kernel {
            $(
                #[doc = concat!("[`", stringify!($name), "`] computed with this kernel.")]
                ///
                /// For tests and benchmarks. Panics if the kernel is not
                /// [available](Kernel::is_available).
                #[inline]
                pub fn $name(self, a: &[f32], b: &[f32]) -> f32 {
                    debug_assert_eq!(a.len(), b.len(), "vectors of different lengths");
                    match self {
                        Kernel::Scalar => return scalar::$name(a, b),
                        #[cfg(all(
                            target_arch = "x86_64",
                            any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
                        ))]
                        Kernel::Avx2Fma if avx2_fma() => {
                            // SAFETY: `avx2_fma()` is true only if AVX2 and FMA were
                            // detected on this CPU (std) or are enabled for the build.
                            return unsafe { x86::$name(a, b) };
                        }
                        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                        Kernel::Simd128 => return wasm32::$name(a, b),
                        #[allow(unreachable_patterns)]
                        _ => {}
                    }
                    self.unavailable()
                }
            )*
        }
    };
}

distance_fns! {
    /// Dot product `Σ a[i] * b[i]`.
    dot;
    /// Squared Euclidean distance `Σ (a[i] - b[i])²`.
    l2_squared;
    /// Manhattan distance `Σ |a[i] - b[i]|`.
    l1;
}

macro_rules! distance4_fns {
    ($( $(#[$doc:meta])* $name:ident, $single:ident; )*) => {
        $(
            $(#[$doc])*
            #[inline]
            pub fn $name(q: &[f32], v: [&[f32]; 4]) -> [f32; 4] {
                debug_assert!(v.iter().all(|x| x.len() == q.len()), "vectors of different lengths");
                #[cfg(all(
                    target_arch = "x86_64",
                    any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
                ))]
                if avx2_fma() {
                    // SAFETY: `avx2_fma()` is true only if `is_x86_feature_detected!`
                    // found AVX2 and FMA on this CPU (std), or the build enables both
                    // target features (no std).
                    return unsafe { x86::$name(q, v) };
                }
                // Elsewhere four calls of the single kernel (simd128 or scalar).
                v.map(|x| $single(q, x))
            }
        )*
    };
}

distance4_fns! {
    /// Dot products of `q` with four vectors at once: on x86_64 their loads
    /// interleave so that cache misses overlap. Equal to four [`dot`] calls
    /// up to rounding.
    dot4, dot;
    /// Squared Euclidean distances of `q` to four vectors at once (see [`dot4`]).
    l2_squared4, l2_squared;
}

/// Hints the CPU to fetch the cache line holding `p` into all cache levels
/// (`_mm_prefetch` with `_MM_HINT_T0` on x86_64; a no-op elsewhere).
///
/// Never dereferences `p`: any pointer, even null or dangling, is fine.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing observable and never
    // faults, whatever the address (null, unmapped); SSE, which provides it, is
    // part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Dot product `Σ a[i] * b[i]` of two `i8` code vectors (scalar
/// quantization), accumulated in `i32`.
///
/// Exact whenever the result fits in `i32` (always for lengths up to
/// 131,071); beyond that it wraps, identically on every kernel. Works on
/// `min(a.len(), b.len())` elements (equal lengths are checked in debug
/// builds). Uses [`Kernel::selected`].
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    debug_assert_eq!(a.len(), b.len(), "vectors of different lengths");
    #[cfg(all(
        target_arch = "x86_64",
        any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
    ))]
    if avx2_fma() {
        // SAFETY: `avx2_fma()` is true only if AVX2 (and FMA) were detected on
        // this CPU (std) or are enabled for the whole build (no std).
        return unsafe { int8::x86::dot_i8(a, b) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return int8::wasm32::dot_i8(a, b);
    #[allow(unreachable_code)]
    int8::scalar::dot_i8(a, b)
}

/// Hamming distance of two bit vectors packed in `u64` words (binary
/// quantization): the number of bit positions where they differ.
///
/// Exact whenever the count fits in `u32`; works on `min(a.len(), b.len())`
/// words (equal lengths are checked in debug builds). Uses
/// [`Kernel::selected`].
#[inline]
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    debug_assert_eq!(a.len(), b.len(), "vectors of different lengths");
    #[cfg(all(
        target_arch = "x86_64",
        any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
    ))]
    if avx2_fma() {
        // SAFETY: `avx2_fma()` is true only if AVX2 (and FMA) were detected on
        // this CPU (std) or are enabled for the whole build (no std).
        return unsafe { bits::x86::hamming(a, b) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return bits::wasm32::hamming(a, b);
    #[allow(unreachable_code)]
    bits::scalar::hamming(a, b)
}

impl Kernel {
    /// [`dot_i8`] computed with this kernel.
    ///
    /// For tests and benchmarks. Panics if the kernel is not
    /// [available](Kernel::is_available).
    #[inline]
    pub fn dot_i8(self, a: &[i8], b: &[i8]) -> i32 {
        debug_assert_eq!(a.len(), b.len(), "vectors of different lengths");
        match self {
            Kernel::Scalar => return int8::scalar::dot_i8(a, b),
            #[cfg(all(
                target_arch = "x86_64",
                any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
            ))]
            Kernel::Avx2Fma if avx2_fma() => {
                // SAFETY: `avx2_fma()` is true only if AVX2 (and FMA) were
                // detected on this CPU (std) or are enabled for the build.
                return unsafe { int8::x86::dot_i8(a, b) };
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernel::Simd128 => return int8::wasm32::dot_i8(a, b),
            #[allow(unreachable_patterns)]
            _ => {}
        }
        self.unavailable()
    }

    /// [`hamming`] computed with this kernel.
    ///
    /// For tests and benchmarks. Panics if the kernel is not
    /// [available](Kernel::is_available).
    #[inline]
    pub fn hamming(self, a: &[u64], b: &[u64]) -> u32 {
        debug_assert_eq!(a.len(), b.len(), "vectors of different lengths");
        match self {
            Kernel::Scalar => return bits::scalar::hamming(a, b),
            #[cfg(all(
                target_arch = "x86_64",
                any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
            ))]
            Kernel::Avx2Fma if avx2_fma() => {
                // SAFETY: `avx2_fma()` is true only if AVX2 (and FMA) were
                // detected on this CPU (std) or are enabled for the build.
                return unsafe { bits::x86::hamming(a, b) };
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernel::Simd128 => return bits::wasm32::hamming(a, b),
            #[allow(unreachable_patterns)]
            _ => {}
        }
        self.unavailable()
    }
}
