//! One suite, run on every kernel available in this build and on this CPU,
//! comparing each with the scalar reference.
//!
//! Uses the crate's seeded [`Rng`] rather than proptest so the same tests run
//! under `wasm32-wasip1` (scripts/test-core-wasm.sh), where the simd128 kernels
//! are exercised.

use super::*;
use crate::Rng;
use alloc::vec::Vec;

/// Longest vector length checked; every length `0..=MAX_LEN` is tried.
pub(super) const MAX_LEN: usize = if cfg!(miri) { 70 } else { 1100 };

/// Allowed `|kernel - scalar|` relative to the sum of the absolute terms.
const TOLERANCE: f64 = 1e-5;

/// One distance function: how to call it and its terms in f64.
struct Op {
    name: &'static str,
    dispatch: fn(&[f32], &[f32]) -> f32,
    with: fn(Kernel, &[f32], &[f32]) -> f32,
    reference: fn(&[f32], &[f32]) -> f32,
    /// The summed term for one pair of elements, computed exactly in f64.
    term: fn(f64, f64) -> f64,
}

impl Op {
    /// The true value, in f64 (exact for the small integers of the exact test).
    fn exact(&self, a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (self.term)(x.into(), y.into()))
            .sum()
    }

    /// Sum of the absolute values of the terms: the scale of the rounding
    /// error of any summation order (a plain relative error is meaningless
    /// when positive and negative terms cancel).
    fn magnitude(&self, a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (self.term)(x.into(), y.into()).abs())
            .sum()
    }
}

const OPS: [Op; 3] = [
    Op {
        name: "dot",
        dispatch: dot,
        with: Kernel::dot,
        reference: scalar::dot,
        term: |x, y| x * y,
    },
    Op {
        name: "l2_squared",
        dispatch: l2_squared,
        with: Kernel::l2_squared,
        reference: scalar::l2_squared,
        term: |x, y| (x - y) * (x - y),
    },
    Op {
        name: "l1",
        dispatch: l1,
        with: Kernel::l1,
        reference: scalar::l1,
        term: |x, y| (x - y).abs(),
    },
];

/// The kernels this CPU (or build) can run.
pub(super) fn available() -> Vec<Kernel> {
    Kernel::ALL
        .into_iter()
        .filter(|k| k.is_available())
        .collect()
}

fn random_vec(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.next_f32_signed()).collect()
}

#[test]
fn names() {
    assert_eq!(Kernel::Scalar.name(), "scalar");
    assert_eq!(Kernel::Avx2Fma.name(), "avx2+fma");
    assert_eq!(Kernel::Simd128.name(), "simd128");
}

#[test]
fn selected_kernel_is_the_expected_one() {
    let k = Kernel::selected();
    assert!(k.is_available());
    assert!(Kernel::Scalar.is_available());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    assert_eq!(k, Kernel::Simd128);
    #[cfg(all(target_arch = "wasm32", not(target_feature = "simd128")))]
    assert_eq!(k, Kernel::Scalar);
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    assert_eq!(
        k == Kernel::Avx2Fma,
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    );
    #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
    assert_eq!(
        k == Kernel::Avx2Fma,
        cfg!(all(target_feature = "avx2", target_feature = "fma"))
    );
    #[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32")))]
    assert_eq!(k, Kernel::Scalar);
    // Scripts that build a specific variant state which kernel they expect,
    // so a RUSTFLAGS that silently did not apply fails the run
    // (scripts/test-core-wasm.sh).
    #[cfg(feature = "std")]
    if let Ok(expected) = std::env::var("GRAPE_EXPECT_KERNEL") {
        assert_eq!(k.name(), expected, "GRAPE_EXPECT_KERNEL");
    }
}

/// The free functions run the selected kernel, bit for bit.
#[test]
fn dispatch_uses_the_selected_kernel() {
    let k = Kernel::selected();
    let mut rng = Rng::new(7);
    for len in [0, 1, 7, 50, 100, 384, 1000] {
        let a = random_vec(&mut rng, len);
        let b = random_vec(&mut rng, len);
        for op in &OPS {
            let via_dispatch = (op.dispatch)(&a, &b);
            let via_kernel = (op.with)(k, &a, &b);
            assert_eq!(
                via_dispatch.to_bits(),
                via_kernel.to_bits(),
                "{} len {len}: dispatch {via_dispatch} vs {} {via_kernel}",
                op.name,
                k.name()
            );
        }
    }
}

/// Each SIMD kernel really runs its own code: its summation order shows in
/// the last bits of at least some results.
#[test]
fn simd_kernels_are_not_scalar_in_disguise() {
    let mut rng = Rng::new(11);
    let pairs: Vec<(Vec<f32>, Vec<f32>)> = (0..20)
        .map(|i| (random_vec(&mut rng, 200 + i), random_vec(&mut rng, 200 + i)))
        .collect();
    for k in available().into_iter().filter(|&k| k != Kernel::Scalar) {
        for op in &OPS {
            let differs = pairs
                .iter()
                .any(|(a, b)| (op.with)(k, a, b).to_bits() != (op.reference)(a, b).to_bits());
            assert!(
                differs,
                "{} {} always equals scalar bit for bit",
                k.name(),
                op.name
            );
        }
    }
}

#[test]
fn small_exact_cases() {
    for k in available() {
        let n = k.name();
        assert_eq!(k.dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0, "{n}");
        assert_eq!(
            k.l2_squared(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]),
            27.0,
            "{n}"
        );
        assert_eq!(k.l1(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 9.0, "{n}");
        assert_eq!(k.l1(&[-1.0, 2.0, -3.0], &[1.0, -2.0, 3.0]), 12.0, "{n}");
        assert_eq!(k.dot(&[], &[]), 0.0, "{n}");
        assert_eq!(k.l2_squared(&[], &[]), 0.0, "{n}");
        assert_eq!(k.l1(&[], &[]), 0.0, "{n}");
        assert_eq!(k.dot(&[2.5], &[-4.0]), -10.0, "{n}");
        assert_eq!(k.l2_squared(&[2.5], &[-4.0]), 42.25, "{n}");
        assert_eq!(k.l1(&[2.5], &[-4.0]), 6.5, "{n}");
    }
    assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
    assert_eq!(l2_squared(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 27.0);
    assert_eq!(l1(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 9.0);
}

/// Small integers make every partial sum exact in f32, so any summation order
/// must give exactly the true value: a dropped, repeated or misplaced element
/// at any position and any length shows as a wrong integer.
#[test]
fn exact_on_small_integers_for_every_length() {
    let max = MAX_LEN.min(300);
    let a_buf: Vec<f32> = (0..max + 3).map(|i| (i % 13) as f32 - 6.0).collect();
    let b_buf: Vec<f32> = (0..max + 3).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
    for k in available() {
        for len in 0..=max {
            for (oa, ob) in [(0, 0), (1, 2), (3, 0)] {
                let (a, b) = (&a_buf[oa..oa + len], &b_buf[ob..ob + len]);
                for op in &OPS {
                    let got = (op.with)(k, a, b);
                    let want = op.exact(a, b);
                    assert_eq!(
                        got as f64,
                        want,
                        "{} {} len {len} offsets ({oa},{ob})",
                        k.name(),
                        op.name
                    );
                }
            }
        }
    }
}

/// The main comparison: random vectors of every length `0..=MAX_LEN`, every
/// pair of start offsets 0..=3 (so the slices are not 32-byte aligned), every
/// kernel against scalar. At offset 3 a slice ends exactly where its
/// allocation ends, so under Miri any read past the end is an error.
#[test]
fn every_kernel_matches_scalar_for_every_length_and_offset() {
    let kernels = available();
    let mut rng = Rng::new(0x0067_7261_7065);
    for len in 0..=MAX_LEN {
        let a_buf = random_vec(&mut rng, len + 3);
        let b_buf = random_vec(&mut rng, len + 3);
        for oa in 0..=3 {
            for ob in 0..=3 {
                let (a, b) = (&a_buf[oa..oa + len], &b_buf[ob..ob + len]);
                for op in &OPS {
                    let want = (op.reference)(a, b) as f64;
                    let scale = op.magnitude(a, b) + 1e-30;
                    for &k in &kernels {
                        let got = (op.with)(k, a, b) as f64;
                        let err = (got - want).abs() / scale;
                        assert!(
                            err <= TOLERANCE,
                            "{} {} len {len} offsets ({oa},{ob}): got {got}, scalar {want}, \
                             error {err:e} of the term magnitude {scale}",
                            k.name(),
                            op.name
                        );
                    }
                }
            }
        }
    }
}

/// A NaN anywhere, including the last (tail) element, reaches the result.
#[test]
fn nan_propagates_from_every_position() {
    for k in available() {
        for len in 1..=40 {
            for pos in [0, len / 2, len - 1] {
                let mut a: Vec<f32> = (0..len).map(|i| i as f32).collect();
                let b: Vec<f32> = (0..len).map(|i| 1.0 - i as f32).collect();
                a[pos] = f32::NAN;
                for op in &OPS {
                    assert!(
                        (op.with)(k, &a, &b).is_nan(),
                        "{} {} len {len} NaN at {pos}",
                        k.name(),
                        op.name
                    );
                }
            }
        }
    }
}

/// Asking for a kernel this build or CPU cannot run panics instead of
/// executing unsupported instructions. (Needs unwinding to observe.)
#[cfg(panic = "unwind")]
#[test]
#[should_panic(expected = "is not available")]
fn unavailable_kernel_panics() {
    // AVX2 and simd128 never both exist, so one kernel is always missing.
    let k = Kernel::ALL
        .into_iter()
        .find(|k| !k.is_available())
        .expect("some kernel is unavailable");
    k.dot(&[1.0], &[1.0]);
}

#[test]
fn prefetch_accepts_any_pointer() {
    let v = [1.0f32; 64];
    prefetch(v.as_ptr());
    prefetch(v.as_ptr().wrapping_add(1000));
    prefetch(core::ptr::null::<f32>());
    prefetch(core::ptr::dangling::<u64>());
    assert_eq!(v[0], 1.0);
}

/// The four-vector kernels agree with the single ones on every length, with
/// each of the five slices at a different misalignment.
#[test]
fn four_vector_kernels_match_scalar_for_every_length_and_offset() {
    type Four = fn(&[f32], [&[f32]; 4]) -> [f32; 4];
    let ops: [(&str, Four, usize); 2] = [("dot4", dot4, 0), ("l2_squared4", l2_squared4, 1)];
    let mut rng = Rng::new(0x0034_7761_7973);
    for len in 0..=MAX_LEN {
        let bufs: Vec<Vec<f32>> = (0..5).map(|_| random_vec(&mut rng, len + 4)).collect();
        for shift in 0..4 {
            let q = &bufs[0][shift..shift + len];
            let v: [&[f32]; 4] = core::array::from_fn(|j| {
                let o = (shift + j + 1) % 4;
                &bufs[j + 1][o..o + len]
            });
            for (name, four, op) in ops {
                let got = four(q, v);
                for j in 0..4 {
                    let op = &OPS[op];
                    let want = (op.reference)(q, v[j]) as f64;
                    let scale = op.magnitude(q, v[j]) + 1e-30;
                    let err = (got[j] as f64 - want).abs() / scale;
                    assert!(
                        err <= TOLERANCE,
                        "{name} ({}) len {len} shift {shift} vector {j}: got {}, scalar {want}, \
                         error {err:e}",
                        Kernel::selected().name(),
                        got[j]
                    );
                }
            }
        }
    }
    // Exact small case: each lane gets its own vector.
    let q = [1.0, 2.0, 3.0];
    let v = [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 1.0, 1.0],
    ];
    assert_eq!(dot4(&q, v.each_ref().map(|x| &x[..])), [1.0, 2.0, 3.0, 6.0]);
    assert_eq!(
        l2_squared4(&q, v.each_ref().map(|x| &x[..])),
        [13.0, 11.0, 9.0, 5.0]
    );
}
