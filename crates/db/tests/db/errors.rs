//! Every error path returns its typed error and changes nothing stored.

use grape_core::PointData;
use grape_core::payload::{FieldSchema, Filter, PointId};
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};
use grape_db::{Error, PointSelector};
use serde_json::json;

use crate::common::*;

#[test]
fn errors_are_typed_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_collection("c", &config()).unwrap();
    db.upsert("c", points(5, 0..120)).unwrap();
    let before = full_scroll(&db, "c");
    let seq = db.info("c").unwrap().write_seq;
    let all = PayloadSelector::All(true);
    let vecs = VectorSelector::All(true);

    // Unknown collection, on every call.
    let unknown = |r: Result<(), Error>| {
        assert!(
            matches!(r, Err(Error::UnknownCollection(ref n)) if n == "nope"),
            "{r:?}"
        );
    };
    unknown(db.upsert("nope", points(1, 0..1)).map(drop));
    unknown(db.get("nope", &[PointId::Num(1)], &all, &vecs).map(drop));
    unknown(db.delete("nope", &[PointId::Num(1)]).map(drop));
    unknown(db.delete_by_filter("nope", &Filter::new()).map(drop));
    unknown(db.scroll("nope", None, None, 1, &all, &vecs).map(drop));
    unknown(db.count("nope", None).map(drop));
    unknown(
        db.query("nope", &QueryRequest::nearest(vec![1.0; DIM], 1))
            .map(drop),
    );
    unknown(db.create_payload_index("nope", "a", FieldSchema::Keyword));
    unknown(
        db.set_payload(
            "nope",
            &PointSelector::Ids(vec![]),
            payload(json!({})),
            None,
        )
        .map(drop),
    );
    unknown(db.snapshot("nope").map(drop));
    unknown(db.info("nope").map(drop));
    unknown(db.optimize("nope"));

    // Collections.
    assert!(matches!(
        db.create_collection("c", &config()),
        Err(Error::AlreadyExists(_))
    ));
    for bad in ["", "a/b", "..", ".hidden", "x\0y", &"n".repeat(300)] {
        assert!(
            matches!(
                db.create_collection(bad, &config()),
                Err(Error::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    let e = db
        .create_collection("d", &json!({"vectors": {"size": 0, "distance": "Cosine"}}))
        .unwrap_err();
    assert!(
        matches!(e, Error::Core(grape_core::Error::InvalidConfig(_))),
        "{e}"
    );
    assert!(e.is_invalid_input());

    // Points: one bad point in a batch rejects the whole batch.
    let mut batch = points(6, 1000..1010);
    batch[7].vectors.insert(String::new(), vec![1.0; DIM + 1]);
    let e = db.upsert("c", batch.clone()).unwrap_err();
    assert!(
        matches!(e, Error::Core(grape_core::Error::DimensionMismatch { expected: DIM, got }) if got == DIM + 1)
    );
    assert_eq!(
        e.to_string(),
        format!("dimension mismatch: expected {DIM}, got {}", DIM + 1)
    );
    let mut v = vec![0.5; DIM];
    v[2] = f32::NAN;
    batch[7].vectors.insert(String::new(), v);
    assert!(matches!(
        db.upsert("c", batch.clone()),
        Err(Error::Core(grape_core::Error::NonFiniteComponent {
            index: 2,
            ..
        }))
    ));
    batch[7].vectors.insert(String::new(), vec![0.0; DIM]);
    assert!(matches!(
        db.upsert("c", batch.clone()),
        Err(Error::Core(grape_core::Error::ZeroVector))
    ));
    batch[7].vectors.clear();
    batch[7].vectors.insert("other".into(), vec![1.0; DIM]);
    let e = db.upsert("c", batch.clone()).unwrap_err();
    assert!(e.to_string().contains("points[7]"), "{e}");
    let mut bad_sparse = PointData::dense(PointId::Num(5000), vec![1.0; DIM], payload(json!({})));
    bad_sparse.sparse.insert(
        "s".into(),
        grape_core::SparseVector {
            indices: vec![1, 1],
            values: vec![1.0, 2.0],
        },
    );
    assert!(db.upsert("c", vec![bad_sparse]).is_err());

    // Queries and filters.
    assert!(matches!(
        db.query("c", &QueryRequest::nearest(vec![1.0; 3], 1)),
        Err(Error::Core(grape_core::Error::DimensionMismatch { .. }))
    ));
    assert!(Filter::from_json_str(r#"{"must": [{"key": "a", "match": {"nope": 1}}]}"#).is_err());
    let e = db
        .set_payload(
            "c",
            &PointSelector::Ids(vec![PointId::Num(1)]),
            payload(json!({"a": 1})),
            Some("a[[["),
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::Core(grape_core::Error::InvalidParameter(_))),
        "{e}"
    );
    assert!(
        db.delete_payload_keys(
            "c",
            &PointSelector::Ids(vec![PointId::Num(1)]),
            &["b..c".into()]
        )
        .is_err()
    );
    assert!(matches!(
        db.create_payload_index("c", "a[[", FieldSchema::Keyword),
        Err(Error::Core(_))
    ));

    // Snapshots.
    assert!(matches!(
        db.restore("r", b"garbage", false),
        Err(Error::InvalidSnapshot(_))
    ));
    let mut snap = db.snapshot("c").unwrap();
    assert!(matches!(
        db.restore("c", &snap, false),
        Err(Error::AlreadyExists(_))
    ));
    let last = snap.len() - 1;
    snap[last] ^= 0xff;
    assert!(matches!(
        db.restore("c", &snap, true),
        Err(Error::InvalidSnapshot(_))
    ));

    // Nothing changed.
    assert_same_records(&full_scroll(&db, "c"), &before);
    assert_eq!(db.info("c").unwrap().write_seq, seq);
    assert_eq!(db.list_collections().unwrap(), ["c"]);

    // Closed.
    db.shutdown().unwrap();
    assert!(matches!(db.count("c", None), Err(Error::Closed)));
    assert!(matches!(
        db.upsert("c", points(1, 0..1)),
        Err(Error::Closed)
    ));
    assert!(matches!(db.list_collections(), Err(Error::Closed)));
    let db = open(dir.path());
    assert_same_records(&full_scroll(&db, "c"), &before);
}

#[test]
fn a_corrupted_database_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("grape.redb"),
        b"this is not a redb file at all".repeat(200),
    )
    .unwrap();
    let e = grape_db::Database::open(dir.path(), Default::default()).unwrap_err();
    assert!(!e.is_invalid_input(), "{e}");
}

#[test]
fn deleting_a_payload_index_checks_the_collection_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_collection("c", &config()).unwrap();
    db.create_payload_index("c", "a", FieldSchema::Keyword)
        .unwrap();
    let seq = db.info("c").unwrap().write_seq;
    assert!(matches!(
        db.delete_payload_index("nope", "a"),
        Err(Error::UnknownCollection(ref n)) if n == "nope"
    ));
    let e = db.delete_payload_index("c", "a[[").unwrap_err();
    assert!(
        matches!(e, Error::Core(grape_core::Error::InvalidParameter(ref m)) if m.contains("a[[")),
        "{e}"
    );
    assert!(e.is_invalid_input());
    assert_eq!(db.info("c").unwrap().write_seq, seq);
    assert_eq!(
        db.info("c").unwrap().payload_indexes,
        [("a".to_string(), FieldSchema::Keyword)]
    );
}
