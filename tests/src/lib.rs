//! Shared fixtures for Grape's cross-crate tests: generated data and recall.

use grape_core::{FlatIndex, Metric, Rng, SearchParams, VectorIndex};

/// `n` points of `dim` dimensions in `clusters` clusters, each cluster a
/// random 8-dimensional subspace around a random centre plus a little
/// isotropic noise: like real embeddings, the data has a low intrinsic
/// dimension (uniform noise in 64 dimensions has none, and no index finds
/// neighbours there, since all distances are nearly equal). The same seed
/// gives the same cluster layout, so queries drawn with `seed` and another
/// `draw` seed come from the same distribution.
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    clustered_draw(n, dim, clusters, seed, seed ^ 0x5eed)
}

/// As [`clustered`], drawing the points with `draw` from the layout of `seed`.
pub fn clustered_draw(
    n: usize,
    dim: usize,
    clusters: usize,
    seed: u64,
    draw: u64,
) -> Vec<Vec<f32>> {
    const LATENT: usize = 24;
    let mut rng = Rng::new(seed);
    let layout: Vec<(Vec<f32>, Vec<Vec<f32>>)> = (0..clusters)
        .map(|_| {
            let centre = (0..dim).map(|_| rng.next_f32_signed()).collect();
            let basis = (0..LATENT)
                .map(|_| (0..dim).map(|_| rng.next_f32_signed() * 0.5).collect())
                .collect();
            (centre, basis)
        })
        .collect();
    let mut rng = Rng::new(draw);
    (0..n)
        .map(|_| {
            let (centre, basis) = &layout[rng.below(clusters as u64) as usize];
            let mut v = centre.clone();
            for b in basis {
                let z = rng.next_f32_signed();
                v.iter_mut().zip(b).for_each(|(x, &e)| *x += z * e);
            }
            v.iter_mut()
                .for_each(|x| *x += 0.02 * rng.next_f32_signed());
            v
        })
        .collect()
}

/// Recall@k of `index` against exact search, over `queries`, for points
/// the `allowed` predicate (over external ids) keeps.
pub fn recall_at(
    index: &dyn VectorIndex,
    exact: &FlatIndex,
    queries: &[Vec<f32>],
    k: usize,
    ef: usize,
    allowed: &dyn Fn(u64) -> bool,
) -> f64 {
    let mut found = 0usize;
    let mut wanted = 0usize;
    let f_index = |s: u32| index.external_id(s).is_some_and(allowed);
    let f_exact = |s: u32| exact.external_id(s).is_some_and(allowed);
    for q in queries {
        let truth = exact
            .search(q, &SearchParams::top(k), Some(&f_exact))
            .unwrap();
        let got = index
            .search(q, &SearchParams::top(k).with_ef(ef), Some(&f_index))
            .unwrap();
        let ids: std::collections::HashSet<u64> = got.iter().map(|h| h.id).collect();
        for h in &got {
            assert!(
                allowed(h.id),
                "search returned point {} which the filter rejects",
                h.id
            );
        }
        wanted += truth.len();
        found += truth.iter().filter(|h| ids.contains(&h.id)).count();
    }
    if wanted == 0 {
        1.0
    } else {
        found as f64 / wanted as f64
    }
}

/// A flat index holding the same points, as the reference.
pub fn reference(metric: Metric, dim: usize, points: &[(u64, Vec<f32>)]) -> FlatIndex {
    let mut flat = FlatIndex::new(dim, metric).unwrap();
    for (id, v) in points {
        flat.upsert(*id, v).unwrap();
    }
    flat
}
