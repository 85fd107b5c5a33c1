//! Disk-mmap vector storage: collections whose dense vectors live in
//! mapped files answer exactly as in-memory ones, across writes, deletes,
//! optimize, reopen with the index file and rebuild without it.

use grape_core::payload::PointId;
use grape_db::{Database, DbOptions, VectorStorage};
use serde_json::json;

use crate::common::{DIM, answers, config, full_scroll, open, points};

fn on_disk_config() -> serde_json::Value {
    let mut c = config();
    c["vectors"]["on_disk"] = json!(true);
    c
}

/// Loads the same points into an in-memory and an on-disk collection.
fn load(db: &Database) {
    db.create_collection("mem", &config()).unwrap();
    db.create_collection("disk", &on_disk_config()).unwrap();
    for range in [0..1_500, 1_500..3_000] {
        let batch = points(3, range);
        db.upsert("mem", batch.clone()).unwrap();
        db.upsert("disk", batch).unwrap();
    }
    let gone: Vec<PointId> = (0..3_000).step_by(7).map(PointId::Num).collect();
    db.delete("mem", &gone).unwrap();
    db.delete("disk", &gone).unwrap();
}

fn assert_alike(db: &Database) {
    assert_eq!(answers(db, "disk"), answers(db, "mem"));
    assert_eq!(full_scroll(db, "disk"), full_scroll(db, "mem"));
    let stats = db.stats().unwrap();
    let dense = |name: &str| {
        let (_, _, s) = stats.collections.iter().find(|c| c.0 == name).unwrap();
        s.dense[0].2
    };
    // The in-memory vectors alone are 3,000 × DIM floats.
    assert!(dense("mem") >= 2_500 * DIM * 4, "{}", dense("mem"));
    assert!(
        dense("disk") < dense("mem") - 2_500 * DIM * 4,
        "{}",
        dense("disk")
    );
    assert!(stats.mapped_vector_bytes >= 2_500 * DIM as u64 * 4);
}

#[test]
fn on_disk_vectors_answer_as_in_memory_ones_across_reopen_and_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    load(&db);
    assert_alike(&db);
    db.optimize("disk").unwrap();
    db.optimize("mem").unwrap();
    assert_alike(&db);
    db.shutdown().unwrap();
    drop(db);
    // The mapped files were unlinked when created: nothing is left behind.
    let left = std::fs::read_dir(dir.path().join("vectors"))
        .unwrap()
        .count();
    assert_eq!(left, 0, "mapped files left in vectors/");

    let db = open(dir.path()); // from the index files
    assert_alike(&db);
    db.shutdown().unwrap();
    drop(db);
    for entry in std::fs::read_dir(dir.path().join("index")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let db = open(dir.path()); // rebuilt from redb
    assert_alike(&db);
    db.upsert("disk", points(4, 5_000..5_100)).unwrap();
    db.upsert("mem", points(4, 5_000..5_100)).unwrap();
    assert_alike(&db);
}

#[test]
fn database_default_puts_every_vector_on_disk_unless_a_collection_says_no() {
    let dir = tempfile::tempdir().unwrap();
    let options = DbOptions {
        vector_storage: VectorStorage::DiskMmap,
        ..DbOptions::default()
    };
    let db = Database::open(dir.path(), options).unwrap();
    let mut in_memory = config();
    in_memory["vectors"]["on_disk"] = json!(false);
    db.create_collection("mem", &in_memory).unwrap();
    db.create_collection("disk", &config()).unwrap();
    for range in [0..1_500, 1_500..3_000] {
        db.upsert("mem", points(3, range.clone())).unwrap();
        db.upsert("disk", points(3, range)).unwrap();
    }
    let gone: Vec<PointId> = (0..3_000).step_by(7).map(PointId::Num).collect();
    db.delete("mem", &gone).unwrap();
    db.delete("disk", &gone).unwrap();
    assert_alike(&db);
    // Named vectors say it per vector.
    db.create_collection(
        "named",
        &json!({"vectors": {
            "a": {"size": 4, "distance": "Dot", "on_disk": false},
            "b": {"size": 4, "distance": "Dot"}
        }}),
    )
    .unwrap();
    let named: Vec<grape_core::PointData> = (0..2_000u64)
        .map(|i| {
            let v = vec![i as f32, 1.0, 2.0, 3.0];
            let mut p =
                grape_core::PointData::dense(PointId::Num(i), v.clone(), Default::default());
            p.vectors = [("a".to_string(), v.clone()), ("b".to_string(), v)].into();
            p
        })
        .collect();
    db.upsert("named", named).unwrap();
    let stats = db.stats().unwrap();
    let (_, _, s) = stats.collections.iter().find(|c| c.0 == "named").unwrap();
    let bytes: std::collections::HashMap<&str, usize> =
        s.dense.iter().map(|d| (d.0.as_str(), d.2)).collect();
    assert!(bytes["a"] >= 2_000 * 16, "{bytes:?}");
    assert!(bytes["b"] < 2_000 * 16, "{bytes:?}");
}

#[test]
fn on_disk_must_be_a_boolean() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut bad = config();
    bad["vectors"]["on_disk"] = json!("yes");
    let e = db.create_collection("c", &bad).unwrap_err();
    assert!(e.is_invalid_input(), "{e:?}");
    assert!(e.to_string().contains("on_disk"), "{e}");
    assert!(!db.collection_exists("c").unwrap());
}
