//! Deletes and inserts in rounds: recall holds, deleted points never come
//! back, every live point stays reachable and memory stays bounded.

use std::collections::BTreeMap;

use grape_core::{FlatIndex, Metric, Rng, SearchParams, VectorIndex};
use grape_tests::{clustered_draw, recall_at};

use crate::{build, fixture};

#[test]
fn ten_rounds_of_ten_percent_churn() {
    let seed = 21;
    let (pts, queries) = fixture(10_000, seed);
    let mut h = build(&pts, Metric::Cosine, seed);
    let mut live: BTreeMap<u64, Vec<f32>> = pts.into_iter().collect();
    let base_memory = h.memory_bytes();
    let mut rng = Rng::new(seed);
    let mut next_id = 10_000u64;
    for round in 0..10 {
        let ids: Vec<u64> = live.keys().copied().collect();
        let mut removed = Vec::new();
        while removed.len() < 1_000 {
            let id = ids[rng.below(ids.len() as u64) as usize];
            if live.remove(&id).is_some() {
                h.delete(id).unwrap();
                removed.push(id);
            }
        }
        let fresh = clustered_draw(1_000, 64, 10, seed, 1_000 + round);
        for v in fresh {
            h.upsert(next_id, &v).unwrap();
            live.insert(next_id, v);
            next_id += 1;
        }
        assert_eq!(h.len(), 10_000);

        let mut flat = FlatIndex::new(64, Metric::Cosine).unwrap();
        for (id, v) in &live {
            flat.upsert(*id, v).unwrap();
        }
        let r = recall_at(&h, &flat, &queries, 10, 64, &|_| true);
        for q in queries.iter().take(50) {
            for hit in h.search(q, &SearchParams::top(100), None).unwrap() {
                assert!(
                    live.contains_key(&hit.id),
                    "round {round}: deleted point {} returned",
                    hit.id
                );
            }
        }
        let mem = h.memory_bytes();
        println!(
            "seed {seed} round {round}: recall@10 {r:.4}, slots {}, deleted {}, memory {} KiB (start {} KiB)",
            h.slot_count(),
            h.deleted_len(),
            mem >> 10,
            base_memory >> 10
        );
        assert!(r >= 0.95, "round {round}: recall {r} < 0.95 (seed {seed})");
        assert!(
            h.slot_count() <= 11_100,
            "round {round}: {} slots for 10k live points",
            h.slot_count()
        );
        assert!(
            mem <= base_memory * 13 / 10,
            "round {round}: memory grew to {mem} from {base_memory}"
        );
    }
    // Every live point must still be reachable through the graph.
    let mut lost = 0;
    for (id, v) in &live {
        let top = h
            .search(v, &SearchParams::top(1).with_ef(64), None)
            .unwrap();
        if top[0].id != *id {
            lost += 1;
        }
    }
    assert!(
        lost <= 10,
        "{lost} of 10000 live points not found by their own vector after churn"
    );
    // Compaction frees every deleted slot.
    h.compact();
    assert_eq!(h.deleted_len(), 0);
    assert!(h.slot_count() <= 10_000 + 1_100);
}

#[test]
fn deleting_everything_then_refilling() {
    let (pts, _) = fixture(2_000, 4);
    let mut h = build(&pts, Metric::Euclid, 4);
    for (id, _) in &pts {
        h.delete(*id).unwrap();
    }
    assert_eq!(h.len(), 0);
    assert!(
        h.search(&pts[0].1, &SearchParams::top(5), None)
            .unwrap()
            .is_empty()
    );
    h.compact();
    assert_eq!(h.slot_count(), 0, "all slots freed and trimmed");
    for (id, v) in &pts {
        h.upsert(*id + 50_000, v).unwrap();
    }
    let hit = h.search(&pts[3].1, &SearchParams::top(1), None).unwrap()[0];
    assert_eq!(hit.id, 50_003);
}
