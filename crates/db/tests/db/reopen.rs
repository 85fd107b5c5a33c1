//! Reopening: with the index file, without it, with a damaged or stale one.

use std::fs;
use std::path::Path;

use grape_core::payload::{FieldSchema, Filter, PointId};
use grape_db::{Database, DbOptions, Durability, PointSelector};
use serde_json::json;

use crate::common::*;

/// Every point and the answers to the test queries.
type State = (Vec<grape_db::Record>, Vec<Vec<(PointId, f32)>>);

/// A collection with writes of every kind, shut down cleanly.
fn build(dir: &Path) -> State {
    let db = open(dir);
    db.create_collection("c", &config()).unwrap();
    db.upsert("c", points(3, 0..400)).unwrap();
    db.create_payload_index("c", "group", FieldSchema::Integer)
        .unwrap();
    db.set_payload(
        "c",
        &PointSelector::Ids(vec![PointId::Num(1)]),
        payload(json!({"x": 1})),
        None,
    )
    .unwrap();
    db.delete("c", &[PointId::Num(2), PointId::Num(3)]).unwrap();
    let f = Filter::from_json_str(r#"{"must": [{"key": "i", "range": {"gte": 390}}]}"#).unwrap();
    db.delete_by_filter("c", &f).unwrap();
    let snapshot = (full_scroll(&db, "c"), answers(&db, "c"));
    db.shutdown().unwrap();
    snapshot
}

fn index_path(dir: &Path) -> std::path::PathBuf {
    dir.join("index").join("c.grape")
}

fn check(dir: &Path, want: &State) -> Database {
    let db = open(dir);
    assert_same_records(&full_scroll(&db, "c"), &want.0);
    assert_eq!(answers(&db, "c"), want.1);
    let info = db.info("c").unwrap();
    assert_eq!(
        info.payload_indexes,
        [("group".to_string(), FieldSchema::Integer)]
    );
    assert_eq!(info.persisted_seq, Some(info.write_seq));
    db
}

#[test]
fn reopen_with_and_without_the_index_file_gives_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let want = build(dir.path());
    assert!(index_path(dir.path()).exists());
    check(dir.path(), &want).shutdown().unwrap();
    fs::remove_file(index_path(dir.path())).unwrap();
    let db = check(dir.path(), &want);
    // The rebuild wrote the file again.
    assert!(index_path(dir.path()).exists());
    drop(db);
    // Dropping without shutdown also closes; the data is still there.
    check(dir.path(), &want).shutdown().unwrap();
}

#[test]
fn a_damaged_index_file_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let want = build(dir.path());
    let good = fs::read(index_path(dir.path())).unwrap();
    let damages: Vec<Vec<u8>> = vec![
        {
            let mut b = good.clone();
            let mid = b.len() / 2;
            b[mid] ^= 0xff;
            b[mid + 1] ^= 0x55;
            b
        },
        {
            let mut b = good.clone();
            b[20] ^= 1; // the sequence number in the header
            b
        },
        good[..good.len() / 3].to_vec(),
        good[..10].to_vec(),
        Vec::new(),
        b"not an index at all".repeat(100),
    ];
    for bad in damages {
        fs::write(index_path(dir.path()), &bad).unwrap();
        let db = check(dir.path(), &want);
        db.shutdown().unwrap();
        assert!(fs::read(index_path(dir.path())).unwrap().len() > 32);
    }
}

#[test]
fn an_index_file_of_an_older_write_is_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let _ = build(dir.path());
    let old = fs::read(index_path(dir.path())).unwrap();
    let db = open(dir.path());
    db.upsert("c", points(4, 1000..1010)).unwrap();
    db.delete("c", &[PointId::Num(5)]).unwrap();
    let want = (full_scroll(&db, "c"), answers(&db, "c"));
    db.shutdown().unwrap();
    fs::write(index_path(dir.path()), &old).unwrap();
    check(dir.path(), &want).shutdown().unwrap();

    // A file left by a deleted collection of the same name is not loaded.
    let db = open(dir.path());
    let file = fs::read(index_path(dir.path())).unwrap();
    db.delete_collection("c").unwrap();
    db.create_collection("c", &config()).unwrap();
    db.shutdown().unwrap();
    fs::write(index_path(dir.path()), &file).unwrap();
    let db = open(dir.path());
    assert_eq!(db.count("c", None).unwrap(), 0);
    assert!(full_scroll(&db, "c").is_empty());
}

#[test]
fn relaxed_durability_keeps_everything_after_a_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let options = DbOptions {
        durability: Durability::Relaxed { commit_every: 4 },
        persist_every: Some(150),
        ..DbOptions::default()
    };
    let db = Database::open(dir.path(), options.clone()).unwrap();
    db.create_collection("c", &config()).unwrap();
    for b in 0..10 {
        db.upsert("c", points(b, b * 50..b * 50 + 50)).unwrap();
    }
    // persist_every wrote the index file along the way.
    assert!(db.info("c").unwrap().persisted_seq.is_some());
    let want = (full_scroll(&db, "c"), answers(&db, "c"));
    db.shutdown().unwrap();
    let db = Database::open(dir.path(), options).unwrap();
    assert_same_records(&full_scroll(&db, "c"), &want.0);
    assert_eq!(answers(&db, "c"), want.1);
}

#[test]
fn a_dropped_payload_index_stays_dropped_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let want = build(dir.path());
    let db = open(dir.path());
    db.create_payload_index("c", "text", FieldSchema::Keyword)
        .unwrap();
    let seq = db.info("c").unwrap().write_seq;
    assert!(db.delete_payload_index("c", "group").unwrap());
    assert_eq!(db.info("c").unwrap().write_seq, seq + 1);
    // Nothing to drop: no write.
    assert!(!db.delete_payload_index("c", "group").unwrap());
    assert!(!db.delete_payload_index("c", "never").unwrap());
    assert_eq!(db.info("c").unwrap().write_seq, seq + 1);
    let expect = [("text".to_string(), FieldSchema::Keyword)];
    assert_eq!(db.info("c").unwrap().payload_indexes, expect);
    // The points and the answers (filters included) are unchanged.
    assert_same_records(&full_scroll(&db, "c"), &want.0);
    assert_eq!(answers(&db, "c"), want.1);
    db.shutdown().unwrap();
    for without_index_file in [false, true] {
        if without_index_file {
            fs::remove_file(index_path(dir.path())).unwrap();
        }
        let db = open(dir.path());
        assert_eq!(db.info("c").unwrap().payload_indexes, expect);
        assert_same_records(&full_scroll(&db, "c"), &want.0);
        assert_eq!(answers(&db, "c"), want.1);
        db.shutdown().unwrap();
    }
}
