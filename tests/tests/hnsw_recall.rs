use grape_core::{Hnsw, HnswConfig, Metric, SearchParams, VectorIndex};
use grape_tests::{clustered, recall_at, reference};

#[test]
fn quick_recall() {
    let dim = 64;
    let data = clustered(10_000, dim, 50, 7);
    let queries = clustered(200, dim, 50, 8);
    let mut h = Hnsw::new(HnswConfig::new(dim, Metric::Cosine)).unwrap();
    let t = std::time::Instant::now();
    let pts: Vec<(u64, Vec<f32>)> = data.into_iter().enumerate().map(|(i, v)| (i as u64, v)).collect();
    for (id, v) in &pts {
        h.upsert(*id, v).unwrap();
    }
    eprintln!("build {:?}", t.elapsed());
    let flat = reference(Metric::Cosine, dim, &pts);
    let r = recall_at(&h, &flat, &queries, 10, 64, &|_| true);
    for ef in [16, 128, 512] { eprintln!("ef {ef} recall {}", recall_at(&h, &flat, &queries, 10, ef, &|_| true)); }
    eprintln!("recall {r}");
    let hits = h.search(&queries[0], &SearchParams::top(3), None).unwrap();
    eprintln!("{hits:?}");
    assert!(r > 0.95);
}
