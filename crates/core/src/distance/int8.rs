//! Dot product of two `i8` code vectors, accumulated in `i32`.
//!
//! Every implementation adds the products `a[i] * b[i]` (each at most
//! `128 * 128 = 16384` in magnitude) into 32-bit lanes with wrapping
//! addition. Integer addition modulo 2³² is associative, so all kernels agree
//! with [`scalar`] exactly, whatever their order, and the result is the true
//! dot product whenever it fits in `i32` (always for lengths up to 131,071).
//!
//! Like the float kernels they work on `min(a.len(), b.len())` elements.

/// The reference: a plain loop.
pub mod scalar {
    /// `Σ a[i] * b[i]` over `min(a.len(), b.len())` elements, wrapping in `i32`.
    pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        a.iter().zip(b).fold(0i32, |s, (&x, &y)| {
            s.wrapping_add(i32::from(x) * i32::from(y))
        })
    }
}

/// AVX2: 16 codes per step sign-extended to `i16` (`_mm256_cvtepi8_epi16`),
/// multiplied and pairwise added into `i32` lanes (`_mm256_madd_epi16`; a
/// pair is at most `2 * 16384`, so nothing saturates).
#[cfg(all(
    target_arch = "x86_64",
    any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
))]
pub(super) mod x86 {
    use core::arch::x86_64::*;

    /// Products of the 16 codes at `pa` and `pb`, as 8 `i32` pair sums.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2, and 16 bytes must be readable at `pa` and `pb`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn step16(pa: *const i8, pb: *const i8) -> __m256i {
        // SAFETY: the caller guarantees 16 readable bytes at each pointer;
        // `loadu` has no alignment requirement.
        let (x, y) = unsafe { (_mm_loadu_si128(pa.cast()), _mm_loadu_si128(pb.cast())) };
        _mm256_madd_epi16(_mm256_cvtepi8_epi16(x), _mm256_cvtepi8_epi16(y))
    }

    /// [`super::scalar::dot_i8`] with AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_si256();
        let mut acc1 = _mm256_setzero_si256();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: `i + 32 <= n <= a.len(), b.len()`: both 16-byte steps
            // are in bounds; AVX2 is guaranteed by the caller.
            unsafe {
                acc0 = _mm256_add_epi32(acc0, step16(pa.add(i), pb.add(i)));
                acc1 = _mm256_add_epi32(acc1, step16(pa.add(i + 16), pb.add(i + 16)));
            }
            i += 32;
        }
        if i + 16 <= n {
            // SAFETY: `i + 16 <= n`: in bounds; AVX2 is guaranteed by the caller.
            acc0 = _mm256_add_epi32(acc0, unsafe { step16(pa.add(i), pb.add(i)) });
            i += 16;
        }
        let acc = _mm256_add_epi32(acc0, acc1);
        let s = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        let head = _mm_cvtsi128_si32(s);
        head.wrapping_add(super::scalar::dot_i8(&a[i..n], &b[i..n]))
    }
}

/// simd128: 16 codes per step, sign-extended to `i16` in two halves and
/// multiplied with pairwise adds into `i32` lanes (`i32x4_dot_i16x8`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) mod wasm32 {
    use core::arch::wasm32::*;

    /// [`super::scalar::dot_i8`] with simd128.
    pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = i32x4_splat(0);
        let mut acc1 = i32x4_splat(0);
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: `i + 16 <= n <= a.len(), b.len()`, so 16 bytes are
            // readable at both offsets; `v128.load` has no alignment requirement.
            let (x, y) = unsafe { (v128_load(pa.add(i).cast()), v128_load(pb.add(i).cast())) };
            acc0 = i32x4_add(
                acc0,
                i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y)),
            );
            acc1 = i32x4_add(
                acc1,
                i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y)),
            );
            i += 16;
        }
        let acc = i32x4_add(acc0, acc1);
        let head = i32x4_extract_lane::<0>(acc)
            .wrapping_add(i32x4_extract_lane::<1>(acc))
            .wrapping_add(i32x4_extract_lane::<2>(acc))
            .wrapping_add(i32x4_extract_lane::<3>(acc));
        head.wrapping_add(super::scalar::dot_i8(&a[i..n], &b[i..n]))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kernel;
    use crate::Rng;
    use alloc::vec::Vec;

    use super::super::tests::{MAX_LEN, available};

    fn random_codes(rng: &mut Rng, len: usize) -> Vec<i8> {
        (0..len).map(|_| rng.next_u64() as u8 as i8).collect()
    }

    /// The true dot product in i64 (no wrapping at these lengths).
    fn exact(a: &[i8], b: &[i8]) -> i64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| i64::from(x) * i64::from(y))
            .sum()
    }

    #[test]
    fn dot_i8_small_cases() {
        for k in available() {
            let n = k.name();
            assert_eq!(k.dot_i8(&[], &[]), 0, "{n}");
            assert_eq!(k.dot_i8(&[1, 2, 3], &[4, 5, 6]), 32, "{n}");
            assert_eq!(k.dot_i8(&[-128], &[-128]), 16384, "{n}");
            assert_eq!(k.dot_i8(&[-128; 40], &[127; 40]), -128 * 127 * 40, "{n}");
            assert_eq!(k.dot_i8(&[-128; 1000], &[-128; 1000]), 16_384_000, "{n}");
        }
    }

    /// Every kernel equals the scalar reference and the true value exactly,
    /// for every length 0..=1100 and unaligned starts.
    #[test]
    fn dot_i8_kernels_match_scalar_exactly() {
        let mut rng = Rng::new(21);
        let a_buf = random_codes(&mut rng, MAX_LEN + 3);
        let b_buf = random_codes(&mut rng, MAX_LEN + 3);
        for k in available() {
            for len in 0..=MAX_LEN {
                for (oa, ob) in [(0, 0), (1, 2), (3, 1)] {
                    let (a, b) = (&a_buf[oa..oa + len], &b_buf[ob..ob + len]);
                    let want = super::scalar::dot_i8(a, b);
                    assert_eq!(i64::from(want), exact(a, b), "scalar len {len}");
                    assert_eq!(
                        k.dot_i8(a, b),
                        want,
                        "{} len {len} offsets {oa},{ob}",
                        k.name()
                    );
                }
            }
        }
    }

    #[test]
    fn dispatch_uses_the_selected_kernel() {
        let mut rng = Rng::new(5);
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 64, 384, 1000] {
            let a = random_codes(&mut rng, len);
            let b = random_codes(&mut rng, len);
            assert_eq!(
                super::super::dot_i8(&a, &b),
                Kernel::selected().dot_i8(&a, &b)
            );
        }
    }
}
