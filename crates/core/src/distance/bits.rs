//! Hamming distance of two bit vectors stored as `u64` words: the number of
//! set bits in `a[i] ^ b[i]`, summed.
//!
//! Counts add with wrapping in `u32`; integer addition is associative, so
//! every kernel agrees with [`scalar`] exactly (and with the true count
//! whenever it fits in `u32`: always below 67 million words).
//!
//! Like the float kernels they work on `min(a.len(), b.len())` words.

/// The reference: a plain loop with `u64::count_ones`.
pub mod scalar {
    /// `Σ popcount(a[i] ^ b[i])` over `min(a.len(), b.len())` words.
    pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
        a.iter()
            .zip(b)
            .fold(0u32, |s, (&x, &y)| s.wrapping_add((x ^ y).count_ones()))
    }
}

/// AVX2: four words per step; the popcount of each byte from two lookups of
/// a 16-entry nibble table (`_mm256_shuffle_epi8`), bytes summed into the
/// four 64-bit lanes with `_mm256_sad_epu8`. Needs no `popcnt` instruction.
#[cfg(all(
    target_arch = "x86_64",
    any(feature = "std", all(target_feature = "avx2", target_feature = "fma"))
))]
pub(super) mod x86 {
    use core::arch::x86_64::*;

    /// [`super::scalar::hamming`] with AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn hamming(a: &[u64], b: &[u64]) -> u32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // Popcount of 0..=15, once per 128-bit half (shuffle works per half).
        let table = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, //
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
        );
        let low4 = _mm256_set1_epi8(0x0f);
        let zero = _mm256_setzero_si256();
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        while i + 4 <= n {
            // SAFETY: `i + 4 <= n <= a.len(), b.len()`: 32 bytes are readable at
            // both offsets; `loadu` has no alignment requirement.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(pa.add(i).cast()),
                    _mm256_loadu_si256(pb.add(i).cast()),
                )
            };
            let v = _mm256_xor_si256(x, y);
            let lo = _mm256_and_si256(v, low4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low4);
            // At most 8 per byte: no overflow.
            let per_byte = _mm256_add_epi8(
                _mm256_shuffle_epi8(table, lo),
                _mm256_shuffle_epi8(table, hi),
            );
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(per_byte, zero));
            i += 4;
        }
        let s = _mm_add_epi64(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let head = (_mm_cvtsi128_si64(s) as u64).wrapping_add(_mm_extract_epi64::<1>(s) as u64);
        // Truncation is the documented wrapping of the u32 count.
        (head as u32).wrapping_add(super::scalar::hamming(&a[i..n], &b[i..n]))
    }
}

/// simd128: two words per step, `i8x16_popcnt` per byte, widened with
/// pairwise adds into four `u32` lanes.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) mod wasm32 {
    use core::arch::wasm32::*;

    /// [`super::scalar::hamming`] with simd128.
    pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = u32x4_splat(0);
        let mut i = 0;
        while i + 2 <= n {
            // SAFETY: `i + 2 <= n <= a.len(), b.len()`: 16 bytes are readable at
            // both offsets; `v128.load` has no alignment requirement.
            let (x, y) = unsafe { (v128_load(pa.add(i).cast()), v128_load(pb.add(i).cast())) };
            let per_byte = i8x16_popcnt(v128_xor(x, y));
            let per_u16 = u16x8_extadd_pairwise_u8x16(per_byte);
            acc = i32x4_add(acc, u32x4_extadd_pairwise_u16x8(per_u16));
            i += 2;
        }
        let head = u32x4_extract_lane::<0>(acc)
            .wrapping_add(u32x4_extract_lane::<1>(acc))
            .wrapping_add(u32x4_extract_lane::<2>(acc))
            .wrapping_add(u32x4_extract_lane::<3>(acc));
        head.wrapping_add(super::scalar::hamming(&a[i..n], &b[i..n]))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kernel;
    use crate::Rng;
    use alloc::vec::Vec;

    use super::super::tests::{MAX_LEN, available};

    /// Words with varied densities: random, sparse (AND of two) and dense
    /// (OR of two), so counts are not all near 32.
    fn random_words(rng: &mut Rng, len: usize) -> Vec<u64> {
        (0..len)
            .map(|i| match i % 3 {
                0 => rng.next_u64(),
                1 => rng.next_u64() & rng.next_u64(),
                _ => rng.next_u64() | rng.next_u64(),
            })
            .collect()
    }

    /// Bit by bit, without any popcount.
    fn bit_by_bit(a: &[u64], b: &[u64]) -> u32 {
        let mut n = 0;
        for (&x, &y) in a.iter().zip(b) {
            for bit in 0..64 {
                if (x >> bit) & 1 != (y >> bit) & 1 {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn hamming_small_cases() {
        for k in available() {
            let n = k.name();
            assert_eq!(k.hamming(&[], &[]), 0, "{n}");
            assert_eq!(k.hamming(&[0b1011], &[0b0110]), 3, "{n}");
            assert_eq!(k.hamming(&[u64::MAX; 5], &[0; 5]), 320, "{n}");
            assert_eq!(k.hamming(&[u64::MAX; 9], &[u64::MAX; 9]), 0, "{n}");
            assert_eq!(k.hamming(&[1 << 63, 0, 0, 0, 1], &[0; 5]), 2, "{n}");
        }
    }

    /// Every kernel equals the scalar reference exactly, and the reference
    /// equals a bit-by-bit count, for every length 0..=1100 words and
    /// unaligned starts.
    #[test]
    fn hamming_kernels_match_bit_by_bit_count() {
        let mut rng = Rng::new(33);
        let a_buf = random_words(&mut rng, MAX_LEN + 3);
        let b_buf = random_words(&mut rng, MAX_LEN + 3);
        for len in 0..=MAX_LEN.min(300) {
            let (a, b) = (&a_buf[1..1 + len], &b_buf[2..2 + len]);
            assert_eq!(super::scalar::hamming(a, b), bit_by_bit(a, b), "len {len}");
        }
        for k in available() {
            for len in 0..=MAX_LEN {
                for (oa, ob) in [(0, 0), (1, 2), (3, 1)] {
                    let (a, b) = (&a_buf[oa..oa + len], &b_buf[ob..ob + len]);
                    let want = super::scalar::hamming(a, b);
                    assert_eq!(
                        k.hamming(a, b),
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
        let mut rng = Rng::new(6);
        for len in [0, 1, 2, 3, 4, 5, 6, 8, 13, 64, 1000] {
            let a = random_words(&mut rng, len);
            let b = random_words(&mut rng, len);
            assert_eq!(
                super::super::hamming(&a, &b),
                Kernel::selected().hamming(&a, &b)
            );
        }
    }
}
