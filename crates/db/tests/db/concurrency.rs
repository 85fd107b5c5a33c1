//! Searches and snapshots while a writer writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use grape_core::PointData;
use grape_core::payload::PointId;
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};
use serde_json::json;

use crate::common::*;

/// Point `id` as written in round `round`: its vector and payload both
/// encode the round, so a reader can tell whether they belong together.
fn versioned(id: u64, round: u64) -> PointData {
    let mut v = Gen::new(id * 31 + 7).vector();
    v[1] = second(id);
    v[0] = round as f32 + 1.0;
    PointData::dense(
        PointId::Num(id),
        v,
        payload(json!({"id": id, "round": round})),
    )
}

fn second(id: u64) -> f32 {
    1.0 + (id % 97) as f32 / 10.0
}

/// The round a stored (normalised) vector was written in: normalising
/// keeps the ratio of its first two components.
fn round_of_vector(id: u64, v: &[f32]) -> f32 {
    v[0] / v[1] * second(id) - 1.0
}

/// A database with collection "c" holding points `0..n` in round 0.
fn seeded(dir: &std::path::Path, n: u64) -> grape_db::Database {
    let db = open(dir);
    db.create_collection(
        "c",
        &json!({"vectors": {"size": DIM, "distance": "Cosine"}}),
    )
    .unwrap();
    db.upsert("c", (0..n).map(|i| versioned(i, 0)).collect())
        .unwrap();
    db
}

#[test]
fn searches_see_consistent_points_while_a_writer_upserts() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path(), 600);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let db = db.clone();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut g = Gen::new(r);
                let mut last_count = 0;
                let mut searches = 0;
                while !done.load(Ordering::Acquire) || searches < 20 {
                    let mut q = QueryRequest::nearest(g.vector(), 10);
                    q.with_payload = Some(PayloadSelector::All(true));
                    q.with_vector = Some(VectorSelector::All(true));
                    let hits = db.query("c", &q).expect("search never fails");
                    assert_eq!(hits.len(), 10);
                    for h in &hits {
                        let PointId::Num(id) = h.id else { panic!() };
                        let p = h.payload.as_ref().expect("payload");
                        assert_eq!(p["id"], id);
                        let round = p["round"].as_u64().unwrap() as f32;
                        let v = &h.vectors.as_ref().unwrap().dense[""];
                        assert!((round_of_vector(id, v) - round).abs() < 1e-2, "point {id}");
                    }
                    let count = db.count("c", None).unwrap();
                    assert!(count >= last_count, "points never disappear");
                    last_count = count;
                    searches += 1;
                }
                searches
            })
        })
        .collect();
    // Long batches (several apply chunks each): new points and rewrites.
    for round in 1..=6u64 {
        let batch: Vec<PointData> = (0..600 + round * 100)
            .map(|i| versioned(i, round))
            .collect();
        db.upsert("c", batch).unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().expect("reader") >= 20);
    }
    assert_eq!(db.count("c", None).unwrap(), 1200);
}

#[test]
fn a_snapshot_taken_during_writes_restores_to_committed_points() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path(), 800);
    let writer = {
        let db = db.clone();
        thread::spawn(move || {
            for round in 1..=8u64 {
                db.upsert("c", (0..800).map(|i| versioned(i, round)).collect())
                    .unwrap();
                db.delete("c", &[PointId::Num(round)]).unwrap();
            }
        })
    };
    let mut snapshots = Vec::new();
    for _ in 0..6 {
        snapshots.push(db.snapshot("c").unwrap());
        thread::yield_now();
    }
    writer.join().unwrap();
    for (i, bytes) in snapshots.iter().enumerate() {
        let name = format!("r{i}");
        db.restore(&name, bytes, false).unwrap();
        let restored = full_scroll(&db, &name);
        assert!(restored.len() >= 792 && restored.len() <= 800);
        for r in &restored {
            let PointId::Num(id) = r.id else { panic!() };
            let p = r.payload.as_ref().unwrap();
            assert_eq!(p["id"], id);
            let round = p["round"].as_u64().unwrap();
            assert!(round <= 8);
            let v = &r.vectors.as_ref().unwrap().dense[""];
            assert!(
                (round_of_vector(id, v) - round as f32).abs() < 1e-2,
                "point {id} of snapshot {i}"
            );
        }
        // The restored collection searches.
        let hits = db
            .query(&name, &QueryRequest::nearest(vec![1.0; DIM], 5))
            .unwrap();
        assert_eq!(hits.len(), 5);
    }
}
