use grape_core::{FlatIndex, Hnsw, HnswConfig, Metric, SearchParams, VectorIndex};
use grape_tests::{recall_at, reference};

use crate::{build, fixture};

const SEED: u64 = 7;

#[test]
fn recall_at_ef64_on_clustered_data() {
    for metric in [Metric::Cosine, Metric::Euclid, Metric::Dot] {
        let (pts, queries) = fixture(10_000, SEED);
        let h = build(&pts, metric, SEED);
        let flat = reference(metric, 64, &pts);
        let r = recall_at(&h, &flat, &queries, 10, 64, &|_| true);
        println!("seed {SEED} {metric:?}: recall@10 at ef=64 = {r:.4}");
        assert!(r >= 0.95, "{metric:?}: recall@10 {r} < 0.95 (seed {SEED})");
    }
}

#[test]
fn recall_after_deleting_a_fifth() {
    let (pts, queries) = fixture(10_000, SEED);
    let mut h = build(&pts, Metric::Cosine, SEED);
    let mut flat = reference(Metric::Cosine, 64, &pts);
    let mut rng = grape_core::Rng::new(SEED);
    let mut gone = std::collections::HashSet::new();
    while gone.len() < 2_000 {
        let id = rng.below(10_000);
        if gone.insert(id) {
            h.delete(id).unwrap();
            flat.delete(id).unwrap();
        }
    }
    assert_eq!(h.len(), 8_000);
    for q in &queries {
        for hit in h.search(q, &SearchParams::top(50), None).unwrap() {
            assert!(!gone.contains(&hit.id), "deleted point {} returned", hit.id);
        }
    }
    let r = recall_at(&h, &flat, &queries, 10, 64, &|_| true);
    println!("seed {SEED}: recall@10 after deletes = {r:.4}");
    assert!(r >= 0.95, "recall {r} after deletes (seed {SEED})");
}

#[test]
fn exact_tiny_case_and_scores() {
    // Hand-checked scores in Qdrant's conventions, through the graph.
    let pts = [(1u64, [1.0f32, 0.0]), (2, [0.0, 2.0]), (3, [3.0, 4.0])];
    for (metric, want) in [
        (Metric::Dot, [(3u64, 7.0f32), (2, 2.0), (1, 1.0)]),
        (
            Metric::Euclid,
            [(1, 0.0), (2, 5.0f32.sqrt()), (3, 20.0f32.sqrt())],
        ),
        (Metric::Manhattan, [(1, 0.0), (2, 3.0), (3, 6.0)]),
    ] {
        let q = match metric {
            Metric::Dot => [1.0, 1.0],
            _ => [1.0, 0.0],
        };
        let cfg = HnswConfig::new(2, metric).full_scan_threshold(0);
        let mut h = Hnsw::new(cfg).unwrap();
        let mut f = FlatIndex::new(2, metric).unwrap();
        for (id, v) in &pts {
            h.upsert(*id, v).unwrap();
            f.upsert(*id, v).unwrap();
        }
        for index in [&h as &dyn VectorIndex, &f] {
            let got = index.search(&q, &SearchParams::top(3), None).unwrap();
            let got: Vec<(u64, f32)> = got.iter().map(|h| (h.id, h.score)).collect();
            assert_eq!(got.len(), 3, "{metric:?}");
            for ((gi, gs), (wi, ws)) in got.iter().zip(&want) {
                assert_eq!(gi, wi, "{metric:?}: {got:?}");
                assert!((gs - ws).abs() < 1e-5, "{metric:?}: {got:?}");
            }
        }
    }
}

#[test]
fn cosine_stores_unit_vectors_and_scores_in_minus_one_to_one() {
    let mut h = Hnsw::new(HnswConfig::new(3, Metric::Cosine)).unwrap();
    h.upsert(9, &[3.0, 0.0, 4.0]).unwrap();
    let v = h.vector(9).unwrap();
    assert!((v[0] - 0.6).abs() < 1e-6 && (v[2] - 0.8).abs() < 1e-6);
    let hit = h
        .search(&[-3.0, 0.0, -4.0], &SearchParams::top(1), None)
        .unwrap()[0];
    assert!((hit.score + 1.0).abs() < 1e-6);
}

#[test]
fn upsert_replaces_the_vector() {
    let (pts, _) = fixture(3_000, 3);
    let mut h = build(&pts, Metric::Cosine, 3);
    let new = pts[17].1.clone();
    h.upsert(5, &new).unwrap();
    assert_eq!(h.len(), 3_000);
    let hits = h.search(&new, &SearchParams::top(2), None).unwrap();
    let ids: Vec<u64> = hits.iter().map(|x| x.id).collect();
    assert!(ids.contains(&5) && ids.contains(&17), "{ids:?}");
    let old = h.search(&pts[5].1, &SearchParams::top(1), None).unwrap();
    assert_ne!(old[0].id, 5, "old vector of 5 still indexed");
}

#[test]
fn same_seed_same_graph_other_seed_other_graph() {
    let (pts, _) = fixture(2_000, 11);
    let a = build(&pts, Metric::Cosine, 1).to_bytes();
    let b = build(&pts, Metric::Cosine, 1).to_bytes();
    let c = build(&pts, Metric::Cosine, 2).to_bytes();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn every_point_finds_itself() {
    let (pts, _) = fixture(5_000, 5);
    let h = build(&pts, Metric::Euclid, 5);
    let lost: Vec<u64> = pts
        .iter()
        .filter(|(id, v)| {
            h.search(v, &SearchParams::top(1).with_ef(64), None)
                .unwrap()[0]
                .id
                != *id
        })
        .map(|(id, _)| *id)
        .collect();
    assert!(
        lost.len() <= 5,
        "{} of 5000 points not found by their own vector: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

#[test]
fn empty_and_k_zero() {
    let h = Hnsw::new(HnswConfig::new(4, Metric::Dot)).unwrap();
    assert!(
        h.search(&[1.0; 4], &SearchParams::top(10), None)
            .unwrap()
            .is_empty()
    );
    let (pts, _) = fixture(100, 1);
    let h = build(&pts, Metric::Dot, 1);
    assert!(
        h.search(&pts[0].1, &SearchParams::top(0), None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        h.search(&pts[0].1, &SearchParams::top(500), None)
            .unwrap()
            .len(),
        100
    );
}

#[test]
fn optimize_layout_keeps_points_and_recall() {
    let (pts, queries) = fixture(5_000, 31);
    let mut h = build(&pts, Metric::Cosine, 31);
    for id in (0..5_000).step_by(9) {
        h.delete(id).unwrap();
    }
    let flat = {
        let kept: Vec<(u64, Vec<f32>)> =
            pts.iter().filter(|(id, _)| id % 9 != 0).cloned().collect();
        reference(Metric::Cosine, 64, &kept)
    };
    let before = recall_at(&h, &flat, &queries, 10, 64, &|_| true);
    h.optimize_layout();
    assert_eq!(h.deleted_len(), 0);
    assert_eq!(h.slot_count(), h.len(), "no free or deleted slots remain");
    for (id, _) in &pts {
        assert_eq!(h.vector(*id).is_some(), id % 9 != 0, "point {id}");
        if let Some(v) = h.vector(*id) {
            assert_eq!(Some(v), flat.vector(*id));
            let s = h.internal_id(*id).unwrap();
            assert_eq!(h.external_id(s), Some(*id));
        }
    }
    let after = recall_at(&h, &flat, &queries, 10, 64, &|_| true);
    println!("recall@10 before layout {before:.4}, after {after:.4}");
    assert!(
        after >= 0.95 && after >= before - 0.01,
        "recall {before} -> {after}"
    );
    let back = Hnsw::from_bytes(&h.to_bytes()).unwrap();
    assert_eq!(back.len(), h.len());
    h.upsert(1_000_000, &pts[0].1).unwrap();
    assert_eq!(
        h.search(&pts[0].1, &SearchParams::top(1), None).unwrap()[0].score,
        1.0
    );
}

/// Many exact duplicates rewritten in chunks (upsert = delete + insert, so
/// deleted copies pile up between compactions): every search still returns
/// `k` hits, and they are the true top-`k` by score (ties among duplicates
/// may pick any of the equal points).
#[test]
fn duplicates_under_rewrites_still_return_k_hits() {
    // 13 directions per round; the first coordinate carries the round, so a
    // rewritten point duplicates the others rewritten in the same round.
    let vector = |id: u64, round: u64| -> Vec<f32> {
        let mut v: Vec<f32> = (0..8).map(|d| ((id * 7 + d) % 13) as f32 + 1.0).collect();
        v[0] = round as f32 + 1.0;
        v
    };
    let queries: Vec<Vec<f32>> = (0..40u64)
        .map(|s| {
            (0..8u64)
                .map(|d| ((s * 13 + d).wrapping_mul(2_654_435_761) % 1000) as f32 / 500.0 - 1.0)
                .collect()
        })
        .collect();
    for metric in [Metric::Cosine, Metric::Euclid, Metric::Dot] {
        let cfg = HnswConfig::new(8, metric).seed(SEED).full_scan_threshold(0);
        let mut h = Hnsw::new(cfg).unwrap();
        for id in 0..600 {
            h.upsert(id, &vector(id, 0)).unwrap();
        }
        let (mut checks, mut misses) = (0, 0);
        for round in 1..=6u64 {
            let n = 600 + round * 100;
            let ids: Vec<u64> = (0..n).collect();
            for chunk in ids.chunks(256) {
                for &id in chunk {
                    h.upsert(id, &vector(id, round)).unwrap();
                }
                for q in &queries {
                    for k in [1, 10, 50] {
                        let got = h.search(q, &SearchParams::top(k), None).unwrap();
                        let want = h
                            .search(q, &SearchParams::top(k).with_exact(true), None)
                            .unwrap();
                        assert_eq!(
                            got.len(),
                            want.len(),
                            "{metric:?} round {round}: {} of {k} hits, {} live, {} deleted",
                            got.len(),
                            h.len(),
                            h.deleted_len()
                        );
                        let exact = got.iter().zip(&want).all(|(g, w)| {
                            (g.score - w.score).abs() <= 1e-4 * w.score.abs().max(1.0)
                        });
                        if !exact {
                            misses += 1;
                        }
                        checks += 1;
                    }
                }
            }
        }
        println!("{metric:?}: {misses} of {checks} searches not the exact top-k");
        // The graph over 26 distinct directions is approximate like any
        // other (measured: cosine 65, euclid 80, dot 607 misses of 3000).
        let floor = if metric == Metric::Dot { 0.7 } else { 0.95 };
        let exact = 1.0 - misses as f64 / checks as f64;
        assert!(
            exact >= floor,
            "{metric:?}: exact top-k in {exact:.3} < {floor}"
        );
        assert!(checks > 0);
    }
}

/// `m = 0` (Qdrant's "no graph") stores points without linking them: every
/// search is exact, so its answers equal the flat index's through upserts,
/// deletes, compaction, the layout pass and a byte round trip.
#[test]
fn m_zero_builds_no_graph_and_answers_exactly() {
    let (pts, queries) = fixture(3_000, 5);
    let cfg = HnswConfig::new(64, Metric::Cosine)
        .m(0)
        .full_scan_threshold(0);
    let mut h = Hnsw::new(cfg).unwrap();
    let mut flat = reference(Metric::Cosine, 64, &[]);
    for (id, v) in &pts {
        h.upsert(*id, v).unwrap();
        flat.upsert(*id, v).unwrap();
    }
    // An m = 16 graph takes 132 B per point at level 0 alone; no graph
    // leaves a count, a level and an upper-list offset per slot.
    assert!(
        h.graph_memory_bytes() <= h.slot_count() * 20,
        "{}",
        h.graph_memory_bytes()
    );
    let same = |h: &Hnsw, flat: &FlatIndex| {
        for q in &queries {
            let a = h.search(q, &SearchParams::top(10), None).unwrap();
            let b = flat.search(q, &SearchParams::top(10), None).unwrap();
            let ids = |v: &[grape_core::Hit]| v.iter().map(|x| x.id).collect::<Vec<_>>();
            assert_eq!(ids(&a), ids(&b));
        }
    };
    same(&h, &flat);
    for id in (0..3_000).step_by(4) {
        h.delete(id).unwrap();
        flat.delete(id).unwrap();
    }
    same(&h, &flat);
    h.compact();
    assert_eq!(h.deleted_len(), 0);
    h.upsert(7, &pts[8].1).unwrap();
    flat.upsert(7, &pts[8].1).unwrap();
    h.optimize_layout();
    same(&h, &flat);
    let back = Hnsw::from_bytes(&h.to_bytes()).unwrap();
    assert_eq!(back.config().m, 0);
    same(&back, &flat);
}

/// A heap-backed stand-in for grape-db's mapped file: grows by doubling up
/// to a fixed limit of values, then refuses, as a full disk would.
#[derive(Debug)]
struct LimitedArena {
    values: Vec<f32>,
    limit: usize,
}

impl grape_core::VectorArena for LimitedArena {
    fn as_slice(&self) -> &[f32] {
        &self.values
    }
    fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.values
    }
    fn capacity(&self) -> usize {
        self.values.capacity()
    }
    fn reserve(&mut self, additional: usize) -> Result<(), String> {
        if self.values.len() + additional > self.limit {
            return Err(format!("no room for {additional} more values"));
        }
        self.values.reserve(additional);
        Ok(())
    }
    fn extend_from_slice(&mut self, values: &[f32]) -> Result<(), String> {
        self.reserve(values.len())?;
        self.values.extend_from_slice(values);
        Ok(())
    }
    fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
    }
}

/// Vectors moved into an embedder's arena answer every search as the heap
/// does, through inserts, deletes, compaction, layout and bytes; an arena
/// that cannot grow fails the insert with `VectorStorage` and leaves the
/// index as it was (the replaced point keeps its old vector).
#[test]
fn vector_arena_matches_heap_and_fails_cleanly_when_full() {
    let (pts, queries) = fixture(2_000, 9);
    let mut heap = build(&pts[..1_000], Metric::Cosine, 9);
    let mut mapped = build(&pts[..1_000], Metric::Cosine, 9);
    let arena = LimitedArena {
        values: vec![9.0; 17], // replaced: the arena is emptied first
        limit: 1_500 * 64,
    };
    mapped.set_vector_arena(Box::new(arena)).unwrap();
    assert!(mapped.uses_vector_arena() && !heap.uses_vector_arena());
    assert!(mapped.vector_memory_bytes() < heap.vector_memory_bytes());
    let same = |a: &Hnsw, b: &Hnsw| {
        for q in &queries {
            let x = a.search(q, &SearchParams::top(10), None).unwrap();
            let y = b.search(q, &SearchParams::top(10), None).unwrap();
            assert_eq!(x, y);
        }
    };
    same(&heap, &mapped);
    for (id, v) in &pts[1_000..1_400] {
        heap.upsert(*id, v).unwrap();
        mapped.upsert(*id, v).unwrap();
    }
    for id in (0..1_400).step_by(3) {
        heap.delete(id).unwrap();
        mapped.delete(id).unwrap();
    }
    heap.optimize_layout();
    mapped.optimize_layout();
    same(&heap, &mapped);
    assert_eq!(mapped.to_bytes(), heap.to_bytes());

    // Fill the arena to its limit, then one more insert must fail cleanly.
    mapped.try_reserve(10_000).unwrap_err();
    let mut id = 10_000u64;
    let err = loop {
        match mapped.upsert(id, &pts[(id % 2_000) as usize].1) {
            Ok(()) => id += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, grape_core::Error::VectorStorage(_)),
        "{err:?}"
    );
    assert_eq!(mapped.len(), heap.len() + (id - 10_000) as usize);
    let before = mapped.to_bytes();
    let old = mapped.vector(1).unwrap().to_vec();
    let e = mapped.upsert(1, &pts[5].1).unwrap_err();
    assert!(matches!(e, grape_core::Error::VectorStorage(_)), "{e:?}");
    assert_eq!(mapped.vector(1).unwrap(), old.as_slice(), "old vector kept");
    assert_eq!(mapped.to_bytes(), before, "nothing changed");
}
