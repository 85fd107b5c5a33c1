//! A small seeded pseudo-random generator (SplitMix64).
//!
//! The core reads no clock and no OS entropy: every random choice (HNSW levels,
//! sampling) comes from a seed the caller passes, so equal inputs give equal output.

/// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, passes BigCrush,
/// and its state is one integer that the byte format can store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The current state; `Rng::new(rng.state())` continues the same sequence.
    pub fn state(&self) -> u64 {
        self.state
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, n)`; `n` must be non-zero.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        // Lemire's multiply-shift; the tiny bias is irrelevant for sampling.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform `f32` in `[-1, 1)`; handy for generated test data.
    pub fn next_f32_signed(&mut self) -> f32 {
        (self.next_f64() * 2.0 - 1.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn seeded_and_resumable() {
        let mut a = Rng::new(7);
        let first: alloc::vec::Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let mut b = Rng::new(7);
        assert_eq!(
            first,
            (0..5).map(|_| b.next_u64()).collect::<alloc::vec::Vec<_>>()
        );
        let mut c = Rng::new(a.state());
        assert_eq!(a.next_u64(), c.next_u64());
        assert_ne!(Rng::new(8).next_u64(), first[0]);
    }

    #[test]
    fn ranges() {
        let mut r = Rng::new(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
            seen[r.below(10) as usize] = true;
            assert!((-1.0..1.0).contains(&r.next_f32_signed()));
        }
        assert!(seen.iter().all(|&s| s));
    }
}
