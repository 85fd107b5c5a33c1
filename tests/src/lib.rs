//! Shared fixtures for Grape's cross-crate tests: generated data and recall.

use grape_core::{FlatIndex, Metric, Rng, SearchParams, VectorIndex};

/// `n` points of `dim` dimensions around `clusters` random centres, with
/// Gaussian-ish noise: structured like real embeddings, unlike uniform noise.
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    let centres: Vec<Vec<f32>> =
        (0..clusters).map(|_| (0..dim).map(|_| rng.next_f32_signed()).collect()).collect();
    (0..n)
        .map(|_| {
            let c = &centres[rng.below(clusters as u64) as usize];
            c.iter()
                .map(|&x| {
                    // Sum of three uniforms: a cheap bell-shaped perturbation.
                    let noise: f32 = (0..3).map(|_| rng.next_f32_signed()).sum::<f32>() / 3.0;
                    x + 0.35 * noise
                })
                .collect()
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
        let truth = exact.search(q, &SearchParams::top(k), Some(&f_exact)).unwrap();
        let got = index.search(q, &SearchParams::top(k).with_ef(ef), Some(&f_index)).unwrap();
        let ids: std::collections::HashSet<u64> = got.iter().map(|h| h.id).collect();
        for h in &got {
            assert!(allowed(h.id), "search returned point {} which the filter rejects", h.id);
        }
        wanted += truth.len();
        found += truth.iter().filter(|h| ids.contains(&h.id)).count();
    }
    if wanted == 0 { 1.0 } else { found as f64 / wanted as f64 }
}

/// A flat index holding the same points, as the reference.
pub fn reference(metric: Metric, dim: usize, points: &[(u64, Vec<f32>)]) -> FlatIndex {
    let mut flat = FlatIndex::new(dim, metric).unwrap();
    for (id, v) in points {
        flat.upsert(*id, v).unwrap();
    }
    flat
}
