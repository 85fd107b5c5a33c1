//! Public-API tests of grape-core, one binary (see STYLE.md, Tests).

mod churn;
mod collection;
mod errors;
mod filter;
mod format;
mod hnsw;
mod quant;

use grape_core::{Hnsw, HnswConfig, Metric, VectorIndex};

/// Points with their ids.
pub type Points = Vec<(u64, Vec<f32>)>;

/// 10k clustered 64-d points with ids 0..n, and 200 queries from the same clusters.
pub fn fixture(n: usize, seed: u64) -> (Points, Vec<Vec<f32>>) {
    let dim = 64;
    let pts = grape_tests::clustered(n, dim, 10, seed)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v))
        .collect();
    let queries = grape_tests::clustered_draw(200, dim, 10, seed, seed ^ 0xabc);
    (pts, queries)
}

/// An HNSW index over `pts` that always uses the graph (no small-collection scan).
pub fn build(pts: &[(u64, Vec<f32>)], metric: Metric, seed: u64) -> Hnsw {
    let dim = pts[0].1.len();
    let cfg = HnswConfig::new(dim, metric)
        .seed(seed)
        .full_scan_threshold(0);
    let mut h = Hnsw::new(cfg).unwrap();
    for (id, v) in pts {
        h.upsert(*id, v).unwrap();
    }
    assert_eq!(h.len(), pts.len());
    h
}
