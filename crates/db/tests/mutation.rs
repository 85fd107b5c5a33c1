//! Mutations as values: their bytes, `apply` against the direct calls,
//! applied marks across reopening and replay, and whole-database export
//! and import (what grape-cluster's Raft state machine relies on).

use std::collections::BTreeMap;
use std::path::Path;

use grape_core::payload::{FieldSchema, Filter, Payload, PointId};
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};
use grape_core::{Collection, CollectionConfig, PointData, SparseVector};
use grape_db::{
    AliasOp, AsyncDatabase, Database, DbOptions, Error, Mutation, Outcome, PointSelector, Record,
};
use serde_json::{Value, json};

const UUID: u128 = 0x5f3c_1a2b_0000_4000_8000_0000_0000_0000;

fn open(dir: &Path) -> Database {
    Database::open(dir, DbOptions::default()).expect("open")
}

fn payload(v: Value) -> Payload {
    v.as_object().expect("an object").clone()
}

/// Point `i`'s id: integers, and every fifth a UUID.
fn id(i: u64) -> PointId {
    if i % 5 == 4 {
        PointId::Uuid(UUID + u128::from(i))
    } else {
        PointId::Num(i)
    }
}

fn vector(i: u64, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|j| ((i * 7 + j as u64 * 3) as f32 * 0.37).sin() + 0.2)
        .collect()
}

fn docs_config() -> Value {
    json!({"vectors": {"size": 4, "distance": "Cosine"}, "sparse_vectors": {"s": {}}})
}

fn named_config() -> Value {
    json!({"vectors": {"a": {"size": 3, "distance": "Dot"}, "b": {"size": 2, "distance": "Euclid"}}})
}

/// Dense vectors kept in memory only as int8 codes.
fn quant_config() -> Value {
    json!({
        "vectors": {"size": 4, "distance": "Cosine"},
        "quantization_config": {"scalar": {"type": "int8", "keep_originals": false}}
    })
}

/// Points of collection "docs": dense + sparse, nested payloads.
fn docs_points(range: std::ops::Range<u64>) -> Vec<PointData> {
    range
        .map(|i| {
            let color = ["red", "blue"][(i % 2) as usize];
            let mut p = PointData::dense(
                id(i),
                vector(i, 4),
                payload(json!({
                    "n": i,
                    "group": i % 3,
                    "tags": {"color": color, "deep": {"x": i * 2}},
                    "list": [i, "text", {"k": null}]
                })),
            );
            let a = (i % 20) as u32;
            p.sparse.insert(
                "s".into(),
                SparseVector::new(vec![a, a + 3], vec![0.5, 1.0 + i as f32 / 10.0]).unwrap(),
            );
            p
        })
        .collect()
}

/// Points of collection "named": two named dense vectors.
fn named_points(range: std::ops::Range<u64>) -> Vec<PointData> {
    range
        .map(|i| PointData {
            id: id(i),
            vectors: BTreeMap::from([("a".into(), vector(i, 3)), ("b".into(), vector(i + 50, 2))]),
            sparse: BTreeMap::new(),
            payload: payload(json!({"i": i})),
        })
        .collect()
}

fn filter(v: Value) -> Filter {
    Filter::from_value(&v).expect("a filter")
}

/// A collection in the core's portable format, as `restore` takes it.
fn portable(range: std::ops::Range<u64>) -> Vec<u8> {
    let config = CollectionConfig::from_value(&docs_config()).unwrap();
    let mut c = Collection::new(config).unwrap();
    c.upsert(docs_points(range)).unwrap();
    c.to_bytes()
}

/// Every variant, with inputs that succeed, change nothing and fail.
fn script() -> Vec<Mutation> {
    let group = |g: u64| filter(json!({"must": [{"key": "group", "match": {"value": g}}]}));
    vec![
        Mutation::CreateCollection {
            name: "docs".into(),
            config: docs_config(),
        },
        Mutation::CreateCollection {
            name: "named".into(),
            config: named_config(),
        },
        // Fails: exists already.
        Mutation::CreateCollection {
            name: "docs".into(),
            config: docs_config(),
        },
        Mutation::Upsert {
            collection: "docs".into(),
            points: docs_points(0..30),
        },
        Mutation::Upsert {
            collection: "named".into(),
            points: named_points(0..12),
        },
        // Fails: wrong dimension.
        Mutation::Upsert {
            collection: "docs".into(),
            points: vec![PointData::dense(
                PointId::Num(100),
                vec![1.0, 2.0],
                Payload::new(),
            )],
        },
        // Fails: unknown collection.
        Mutation::Upsert {
            collection: "nowhere".into(),
            points: docs_points(0..1),
        },
        Mutation::CreatePayloadIndex {
            collection: "docs".into(),
            field: "group".into(),
            schema: FieldSchema::Integer,
        },
        Mutation::SetPayload {
            collection: "docs".into(),
            selector: PointSelector::Ids(vec![PointId::Num(1), id(4), PointId::Num(999)]),
            payload: payload(json!({"flag": true, "obj": {"a": [1, 2]}})),
            key: None,
        },
        Mutation::SetPayload {
            collection: "docs".into(),
            selector: PointSelector::Filter(group(1)),
            payload: payload(json!({"extra": 1.5})),
            key: Some("tags".into()),
        },
        // Changes nothing: no point has these ids.
        Mutation::SetPayload {
            collection: "docs".into(),
            selector: PointSelector::Ids(vec![PointId::Num(500)]),
            payload: payload(json!({"never": 1})),
            key: None,
        },
        // Fails: not a key path.
        Mutation::SetPayload {
            collection: "docs".into(),
            selector: PointSelector::Ids(vec![PointId::Num(1)]),
            payload: payload(json!({"x": 1})),
            key: Some("a..b".into()),
        },
        Mutation::OverwritePayload {
            collection: "docs".into(),
            selector: PointSelector::Ids(vec![PointId::Num(3)]),
            payload: payload(json!({"only": "this", "group": 2})),
        },
        Mutation::DeletePayload {
            collection: "docs".into(),
            selector: PointSelector::Filter(group(2)),
            keys: vec!["tags.color".into(), "list".into()],
        },
        Mutation::ClearPayload {
            collection: "docs".into(),
            selector: PointSelector::Ids(vec![PointId::Num(5)]),
        },
        Mutation::DeletePoints {
            collection: "docs".into(),
            selector: PointSelector::Ids(vec![PointId::Num(0), id(9), PointId::Num(12345)]),
        },
        Mutation::DeletePoints {
            collection: "docs".into(),
            selector: PointSelector::Filter(filter(json!({
                "must": [{"key": "group", "match": {"value": 0}}],
                "should": [
                    {"key": "n", "range": {"gte": 10.5, "lt": 25}},
                    {"has_id": [7, 8]}
                ],
                "must_not": [{"is_empty": {"key": "tags.deep"}}]
            }))),
        },
        // Changes nothing: no point matches.
        Mutation::DeletePoints {
            collection: "docs".into(),
            selector: PointSelector::Filter(group(7)),
        },
        Mutation::DeletePayloadIndex {
            collection: "docs".into(),
            field: "group".into(),
        },
        Mutation::DeletePayloadIndex {
            collection: "docs".into(),
            field: "group".into(),
        },
        Mutation::CreatePayloadIndex {
            collection: "docs".into(),
            field: "tags.color".into(),
            schema: FieldSchema::Keyword,
        },
        Mutation::UpdateAliases {
            ops: vec![
                AliasOp::Create {
                    alias: "a".into(),
                    collection: "docs".into(),
                },
                AliasOp::Create {
                    alias: "b".into(),
                    collection: "named".into(),
                },
            ],
        },
        Mutation::UpdateAliases {
            ops: vec![
                AliasOp::Rename {
                    from: "a".into(),
                    to: "c".into(),
                },
                AliasOp::Delete { alias: "b".into() },
            ],
        },
        // Fails: no such alias (and the create before it is undone).
        Mutation::UpdateAliases {
            ops: vec![
                AliasOp::Create {
                    alias: "d".into(),
                    collection: "docs".into(),
                },
                AliasOp::Delete {
                    alias: "nope".into(),
                },
            ],
        },
        Mutation::RestoreCollection {
            name: "copy".into(),
            bytes: portable(40..50),
            replace: false,
        },
        // Fails: exists, and no replace.
        Mutation::RestoreCollection {
            name: "copy".into(),
            bytes: portable(50..52),
            replace: false,
        },
        Mutation::RestoreCollection {
            name: "copy".into(),
            bytes: portable(60..65),
            replace: true,
        },
        // Fails: not a collection.
        Mutation::RestoreCollection {
            name: "broken".into(),
            bytes: vec![1, 2, 3],
            replace: true,
        },
        Mutation::DeleteCollection {
            name: "named".into(),
        },
        Mutation::DeleteCollection {
            name: "named".into(),
        },
        Mutation::Upsert {
            collection: "docs".into(),
            points: docs_points(28..33),
        },
    ]
}

/// The direct call that `m` names: what `apply` must match.
fn direct(db: &Database, m: &Mutation) -> grape_db::Result<Outcome> {
    Ok(match m.clone() {
        Mutation::CreateCollection { name, config } => {
            db.create_collection(&name, &config)?;
            Outcome::Done
        }
        Mutation::DeleteCollection { name } => Outcome::Existed(db.delete_collection(&name)?),
        Mutation::Upsert { collection, points } => Outcome::Seq(db.upsert(&collection, points)?),
        Mutation::DeletePoints {
            collection,
            selector: PointSelector::Ids(ids),
        } => Outcome::Count(db.delete(&collection, &ids)?),
        Mutation::DeletePoints {
            collection,
            selector: PointSelector::Filter(f),
        } => Outcome::Count(db.delete_by_filter(&collection, &f)?),
        Mutation::SetPayload {
            collection,
            selector,
            payload,
            key,
        } => Outcome::Count(db.set_payload(&collection, &selector, payload, key.as_deref())?),
        Mutation::OverwritePayload {
            collection,
            selector,
            payload,
        } => Outcome::Count(db.overwrite_payload(&collection, &selector, payload)?),
        Mutation::DeletePayload {
            collection,
            selector,
            keys,
        } => Outcome::Count(db.delete_payload_keys(&collection, &selector, &keys)?),
        Mutation::ClearPayload {
            collection,
            selector,
        } => Outcome::Count(db.clear_payload(&collection, &selector)?),
        Mutation::CreatePayloadIndex {
            collection,
            field,
            schema,
        } => {
            db.create_payload_index(&collection, &field, schema)?;
            Outcome::Done
        }
        Mutation::DeletePayloadIndex { collection, field } => {
            Outcome::Existed(db.delete_payload_index(&collection, &field)?)
        }
        Mutation::UpdateAliases { ops } => {
            db.update_aliases(&ops)?;
            Outcome::Done
        }
        Mutation::RestoreCollection {
            name,
            bytes,
            replace,
        } => Outcome::Count(db.restore(&name, &bytes, replace)?),
    })
}

/// A result with the error as its code, to compare.
fn code(r: grape_db::Result<Outcome>) -> Result<Outcome, &'static str> {
    r.map_err(|e| e.code())
}

/// What a user can see of one collection.
#[derive(Debug, PartialEq)]
struct Seen {
    name: String,
    config_json: Option<String>,
    payload_indexes: Vec<(String, FieldSchema)>,
    write_seq: u64,
    points: Vec<Record>,
    /// Ids and scores of a few queries.
    hits: Vec<Vec<(PointId, f32)>>,
    /// Counts of a filter on an indexed key.
    counts: Vec<usize>,
}

/// What a user can see of a database.
#[derive(Debug, PartialEq)]
struct State {
    collections: Vec<Seen>,
    aliases: Vec<(String, String)>,
}

fn queries(db: &Database, name: &str) -> Vec<QueryRequest> {
    let config = db.collection_config(name).unwrap();
    let mut out = Vec::new();
    for (vector, c) in &config.dense {
        for i in 0..3 {
            let mut q = QueryRequest::nearest(vector_for(c.dim, 1000 + i), 5);
            if !vector.is_empty() {
                q.using = Some(vector.clone());
            }
            out.push(q);
        }
    }
    for vector in config.sparse.keys() {
        out.push(
            QueryRequest::from_value(&json!({
                "query": {"indices": [1, 4, 7], "values": [1.0, 0.5, 0.2]},
                "using": vector,
                "limit": 5
            }))
            .unwrap(),
        );
    }
    out
}

fn vector_for(dim: usize, seed: u64) -> Vec<f32> {
    vector(seed, dim)
}

fn seen(db: &Database) -> State {
    let mut collections = Vec::new();
    for name in db.list_collections().unwrap() {
        let info = db.info(&name).unwrap();
        let (points, next) = db
            .scroll(
                &name,
                None,
                None,
                100_000,
                &PayloadSelector::All(true),
                &VectorSelector::All(true),
            )
            .unwrap();
        assert_eq!(next, None);
        let hits = queries(db, &name)
            .iter()
            .map(|q| {
                db.query(&name, q)
                    .unwrap()
                    .into_iter()
                    .map(|h| (h.id, h.score))
                    .collect()
            })
            .collect::<Vec<Vec<_>>>();
        assert!(points.is_empty() || hits.iter().all(|h| !h.is_empty()));
        let counts = (0..3)
            .map(|g| {
                let color = ["red", "blue", "green"][g];
                let f = filter(json!({"must": [{"key": "tags.color", "match": {"value": color}}]}));
                db.count(&name, Some(&f)).unwrap()
            })
            .collect();
        collections.push(Seen {
            name,
            config_json: info.config_json,
            payload_indexes: info.payload_indexes,
            write_seq: info.write_seq,
            points,
            hits,
            counts,
        });
    }
    State {
        collections,
        aliases: db.list_aliases().unwrap(),
    }
}

/// Equal states, dense vectors within a tolerance (a collection stored
/// from the portable format holds them normalised once more).
fn assert_same(a: &State, b: &State) {
    assert_eq!(a.aliases, b.aliases);
    let names = |s: &State| {
        s.collections
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(a), names(b));
    for (x, y) in a.collections.iter().zip(&b.collections) {
        let n = &x.name;
        assert_eq!(x.config_json, y.config_json, "{n}");
        assert_eq!(x.payload_indexes, y.payload_indexes, "{n}");
        assert_eq!(x.write_seq, y.write_seq, "{n}");
        assert_eq!(x.hits, y.hits, "{n}");
        assert_eq!(x.counts, y.counts, "{n}");
        assert_eq!(x.points.len(), y.points.len(), "{n}");
        for (p, q) in x.points.iter().zip(&y.points) {
            assert_eq!(p.id, q.id, "{n}");
            assert_eq!(p.payload, q.payload, "{n} {}", p.id);
            let (vp, vq) = (p.vectors.as_ref().unwrap(), q.vectors.as_ref().unwrap());
            assert_eq!(vp.sparse, vq.sparse, "{n} {}", p.id);
            assert_eq!(
                vp.dense.keys().collect::<Vec<_>>(),
                vq.dense.keys().collect::<Vec<_>>()
            );
            for (k, v) in &vp.dense {
                let w = &vq.dense[k];
                assert_eq!(v.len(), w.len());
                assert!(
                    v.iter().zip(w).all(|(s, t)| (s - t).abs() < 1e-5),
                    "{n} {} {k:?}: {v:?} vs {w:?}",
                    p.id
                );
            }
        }
    }
}

fn mark(i: u64) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

fn mark_number(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().expect("an 8-byte mark"))
}

// --- bytes ---

#[test]
fn every_variant_round_trips_through_its_bytes() {
    let script = script();
    let mut kinds = std::collections::HashSet::new();
    for m in &script {
        kinds.insert(std::mem::discriminant(m));
        let bytes = m.encode();
        assert_eq!(&Mutation::decode(&bytes).unwrap(), m);
    }
    assert_eq!(kinds.len(), 12, "every variant is in the script");
    // What a log splits and routes by.
    let upsert = &script[3];
    assert_eq!(upsert.collection(), Some("docs"));
    assert_eq!(upsert.point_count(), 30);
    assert_eq!(script[0].point_count(), 0);
    let aliases = script
        .iter()
        .find(|m| matches!(m, Mutation::UpdateAliases { .. }))
        .unwrap();
    assert_eq!(aliases.collection(), None);
    let restore = script
        .iter()
        .find(|m| matches!(m, Mutation::RestoreCollection { .. }))
        .unwrap();
    assert_eq!(restore.collection(), Some("copy"));
}

#[test]
fn damaged_bytes_are_an_invalid_mutation_error() {
    let m = &script()[3];
    let bytes = m.encode();
    let rejected = |b: &[u8]| match Mutation::decode(b) {
        Err(e @ Error::InvalidMutation(_)) => {
            assert!(e.is_invalid_input() && e.is_deterministic());
            e.to_string()
        }
        other => panic!("expected an invalid mutation error, got {other:?}"),
    };
    // Every flipped byte: magic, version, checksum or body.
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x10;
        rejected(&bad);
    }
    for cut in [0, 3, 8, 9, bytes.len() / 2, bytes.len() - 1] {
        rejected(&bytes[..cut]);
    }
    let mut longer = bytes.clone();
    longer.push(0);
    rejected(&longer);
    let mut version = bytes.clone();
    version[4] = 2;
    assert!(rejected(&version).contains("version 2"));
    // A body that decodes, followed by garbage the checksum covers.
    let empty = Mutation::DeleteCollection { name: "x".into() }.encode();
    let mut body = empty[9..].to_vec();
    body.extend_from_slice(&[0, 0]);
    let mut resealed = empty[..5].to_vec();
    resealed.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    resealed.extend_from_slice(&body);
    assert!(rejected(&resealed).contains("trailing"));
}

#[test]
fn outcomes_round_trip_through_json() {
    for o in [
        Outcome::Done,
        Outcome::Seq(12),
        Outcome::Count(0),
        Outcome::Existed(true),
    ] {
        assert_eq!(Outcome::from_json(&o.to_json()), Some(o));
    }
    assert_eq!(Outcome::from_json(&json!({"seq": -1})), None);
    assert_eq!(Outcome::from_json(&json!({"count": 1, "seq": 2})), None);
}

// --- apply ---

#[test]
fn apply_gives_the_direct_calls_result_and_state() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (by_call, by_apply) = (open(d1.path()), open(d2.path()));
    let mut failures = 0;
    for (i, m) in script().into_iter().enumerate() {
        let want = code(direct(&by_call, &m));
        // Through the bytes, as a log carries it.
        let m = Mutation::decode(&m.encode()).unwrap();
        let got = code(by_apply.apply(m));
        assert_eq!(got, want, "step {i}");
        failures += usize::from(got.is_err());
        assert_eq!(seen(&by_apply), seen(&by_call), "step {i}");
    }
    assert_eq!(failures, 7, "the script's failing steps failed");
    assert_eq!(
        by_apply.applied_mark().unwrap(),
        None,
        "apply writes no mark"
    );
}

// --- apply_marked ---

#[test]
fn marked_changes_and_their_mark_survive_reopening() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let reference = open(d1.path());
    {
        let db = open(d2.path());
        assert_eq!(db.applied_mark().unwrap(), None);
        for (i, m) in script().into_iter().enumerate() {
            let want = code(reference.apply(m.clone()));
            assert_eq!(code(db.apply_marked(m, &mark(i as u64 + 1))), want);
            assert_eq!(db.applied_mark().unwrap(), Some(mark(i as u64 + 1)));
        }
        db.shutdown().unwrap();
    }
    let db = open(d2.path());
    assert_eq!(
        db.applied_mark().unwrap(),
        Some(mark(script().len() as u64))
    );
    assert_eq!(seen(&db), seen(&reference));
}

#[test]
fn a_failing_mutation_changes_nothing_and_advances_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let db = open(dir.path());
        for (i, m) in script()[..5].iter().enumerate() {
            let _ = db.apply_marked(m.clone(), &mark(i as u64 + 1));
        }
        let before = seen(&db);
        let wrong_dimension = Mutation::Upsert {
            collection: "docs".into(),
            points: vec![
                PointData::dense(PointId::Num(1), vector(1, 4), Payload::new()),
                PointData::dense(PointId::Num(2), vec![1.0; 7], Payload::new()),
            ],
        };
        let e = db.apply_marked(wrong_dimension, &mark(6)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Core(grape_core::Error::DimensionMismatch {
                    expected: 4,
                    got: 7
                })
            ),
            "{e}"
        );
        assert!(e.is_deterministic());
        assert_eq!(db.applied_mark().unwrap(), Some(mark(6)));
        let unknown = Mutation::DeletePoints {
            collection: "nowhere".into(),
            selector: PointSelector::Ids(vec![PointId::Num(1)]),
        };
        let e = db.apply_marked(unknown, &mark(7)).unwrap_err();
        assert!(matches!(e, Error::UnknownCollection(ref n) if n == "nowhere"));
        assert_eq!(db.applied_mark().unwrap(), Some(mark(7)));
        assert_eq!(seen(&db), before);
        db.shutdown().unwrap();
        before
    };
    let db = open(dir.path());
    assert_eq!(db.applied_mark().unwrap(), Some(mark(7)));
    assert_eq!(seen(&db), before);
}

#[test]
fn a_mutation_that_changes_nothing_still_advances_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.apply_marked(script()[0].clone(), &mark(1)).unwrap();
    db.apply_marked(script()[3].clone(), &mark(2)).unwrap();
    let before = seen(&db);
    let no_ops = [
        (
            Mutation::DeletePoints {
                collection: "docs".into(),
                selector: PointSelector::Ids(vec![PointId::Num(777)]),
            },
            Outcome::Count(0),
        ),
        (
            Mutation::ClearPayload {
                collection: "docs".into(),
                selector: PointSelector::Filter(filter(
                    json!({"must": [{"key": "n", "match": {"value": 4242}}]}),
                )),
            },
            Outcome::Count(0),
        ),
        (
            Mutation::DeletePayloadIndex {
                collection: "docs".into(),
                field: "none".into(),
            },
            Outcome::Existed(false),
        ),
        (
            Mutation::DeleteCollection {
                name: "nothing".into(),
            },
            Outcome::Existed(false),
        ),
        (Mutation::UpdateAliases { ops: Vec::new() }, Outcome::Done),
    ];
    for (i, (m, want)) in no_ops.into_iter().enumerate() {
        let n = i as u64 + 3;
        assert_eq!(db.apply_marked(m, &mark(n)).unwrap(), want);
        assert_eq!(db.applied_mark().unwrap(), Some(mark(n)));
    }
    assert_eq!(seen(&db), before);
}

#[test]
fn an_error_of_the_machine_does_not_advance_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path());
        db.apply_marked(script()[0].clone(), &mark(1)).unwrap();
        db.shutdown().unwrap();
        let e = db.apply_marked(script()[3].clone(), &mark(2)).unwrap_err();
        assert!(matches!(e, Error::Closed));
        assert!(!e.is_deterministic());
        assert!(db.set_applied_mark(&mark(3)).is_err());
    }
    let db = open(dir.path());
    assert_eq!(db.applied_mark().unwrap(), Some(mark(1)));
    assert_eq!(db.info("docs").unwrap().points, 0);
}

#[test]
fn replaying_the_log_after_reopening_skips_what_is_applied() {
    let log: Vec<(Mutation, Vec<u8>)> = script()
        .into_iter()
        .enumerate()
        .map(|(i, m)| (m, mark(i as u64 + 1)))
        .collect();
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = open(reference_dir.path());
    for (m, _) in &log {
        let _ = reference.apply(m.clone());
    }
    let want = seen(&reference);
    for applied_before in [0, 1, 4, 11, 20, log.len() - 1, log.len()] {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(dir.path());
            for (m, mk) in &log[..applied_before] {
                let _ = db.apply_marked(m.clone(), mk);
            }
            db.shutdown().unwrap();
        }
        // The state machine after a restart: the log is replayed from its
        // start, entries at or below the applied mark are skipped.
        let db = open(dir.path());
        let applied = db.applied_mark().unwrap().map_or(0, |b| mark_number(&b));
        assert_eq!(applied, applied_before as u64);
        for (m, mk) in &log {
            if mark_number(mk) <= applied {
                continue;
            }
            let _ = db.apply_marked(m.clone(), mk);
        }
        assert_eq!(seen(&db), want, "after {applied_before} applied entries");
        assert_eq!(db.applied_mark().unwrap(), Some(mark(log.len() as u64)));
    }
}

#[test]
fn a_mark_set_alone_is_kept_and_changes_no_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path());
        assert_eq!(db.applied_mark().unwrap(), None);
        db.apply_marked(script()[0].clone(), &mark(1)).unwrap();
        db.set_applied_mark(b"membership entry 2").unwrap();
        assert_eq!(
            db.applied_mark().unwrap().as_deref(),
            Some(&b"membership entry 2"[..])
        );
    }
    let db = open(dir.path());
    assert_eq!(
        db.applied_mark().unwrap().as_deref(),
        Some(&b"membership entry 2"[..])
    );
    assert_eq!(db.list_collections().unwrap(), vec!["docs".to_string()]);
    assert_eq!(db.info("docs").unwrap().points, 0);
}

// --- export / import ---

/// A database with every kind of content: three collections (one keeping
/// only quantized codes in memory, one with named vectors, payload
/// indexes), aliases, a mark.
fn source(dir: &Path) -> Database {
    let db = open(dir);
    for (i, m) in script().into_iter().enumerate() {
        let _ = db.apply_marked(m, &mark(i as u64 + 1));
    }
    db.create_collection("quant", &quant_config()).unwrap();
    db.create_collection("named", &named_config()).unwrap();
    let mut points = docs_points(0..40);
    for p in &mut points {
        p.sparse.clear();
    }
    db.upsert("quant", points).unwrap();
    db.upsert("named", named_points(0..20)).unwrap();
    db.create_payload_index("named", "i", FieldSchema::Integer)
        .unwrap();
    db.update_aliases(&[AliasOp::Create {
        alias: "q".into(),
        collection: "quant".into(),
    }])
    .unwrap();
    db.set_applied_mark(&mark(100)).unwrap();
    db
}

#[test]
fn an_export_imported_into_a_fresh_database_reproduces_everything() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let src = source(d1.path());
    let blob = src.export_all().unwrap();
    let want = seen(&src);
    assert_eq!(want.collections.len(), 4);
    {
        let dst = open(d2.path());
        dst.import_all(&blob).unwrap();
        assert_same(&seen(&dst), &want);
        assert_eq!(dst.applied_mark().unwrap(), Some(mark(100)));
        // Quantized-only vectors come back from the stored originals.
        let (quant, _) = dst
            .scroll(
                "quant",
                None,
                None,
                1,
                &PayloadSelector::All(false),
                &VectorSelector::All(true),
            )
            .unwrap();
        assert_eq!(quant[0].vectors.as_ref().unwrap().dense[""].len(), 4);
        dst.shutdown().unwrap();
    }
    let dst = open(d2.path());
    assert_same(&seen(&dst), &want);
    assert_eq!(dst.applied_mark().unwrap(), Some(mark(100)));
    // Both continue alike: the same next entry gives the same outcome.
    let next = Mutation::Upsert {
        collection: "docs".into(),
        points: docs_points(90..95),
    };
    assert_eq!(
        dst.apply_marked(next.clone(), &mark(101)).unwrap(),
        src.apply_marked(next, &mark(101)).unwrap()
    );
    assert_same(&seen(&dst), &seen(&src));
}

#[test]
fn an_import_replaces_the_whole_content_of_a_database() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let src = source(d1.path());
    let blob = src.export_all().unwrap();
    let dst = open(d2.path());
    dst.create_collection("old", &docs_config()).unwrap();
    dst.upsert("old", docs_points(0..5)).unwrap();
    dst.create_collection("docs", &named_config()).unwrap();
    dst.upsert("docs", named_points(0..3)).unwrap();
    dst.update_aliases(&[
        AliasOp::Create {
            alias: "x".into(),
            collection: "old".into(),
        },
        AliasOp::Create {
            alias: "c".into(),
            collection: "old".into(),
        },
    ])
    .unwrap();
    dst.set_applied_mark(&mark(7)).unwrap();

    dst.import_all(&blob).unwrap();
    let want = seen(&src);
    assert_same(&seen(&dst), &want);
    assert!(matches!(dst.info("old"), Err(Error::UnknownCollection(_))));
    assert_eq!(dst.resolve_alias("x").unwrap(), None);
    assert_eq!(dst.resolve_alias("c").unwrap().as_deref(), Some("docs"));
    assert_eq!(dst.applied_mark().unwrap(), Some(mark(100)));
    dst.shutdown().unwrap();
    drop(dst);
    let dst = open(d2.path());
    assert_same(&seen(&dst), &want);
    assert_eq!(dst.applied_mark().unwrap(), Some(mark(100)));

    // An empty database's export empties it, mark included.
    let d3 = tempfile::tempdir().unwrap();
    dst.import_all(&open(d3.path()).export_all().unwrap())
        .unwrap();
    assert!(dst.list_collections().unwrap().is_empty());
    assert!(dst.list_aliases().unwrap().is_empty());
    assert_eq!(dst.applied_mark().unwrap(), None);
}

#[test]
fn a_damaged_export_is_rejected_and_changes_nothing() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let blob = source(d1.path()).export_all().unwrap();
    let dst = open(d2.path());
    dst.create_collection("old", &docs_config()).unwrap();
    dst.upsert("old", docs_points(0..5)).unwrap();
    dst.update_aliases(&[AliasOp::Create {
        alias: "x".into(),
        collection: "old".into(),
    }])
    .unwrap();
    dst.set_applied_mark(&mark(7)).unwrap();
    let before = seen(&dst);
    let mut damaged = Vec::new();
    for i in [0, 4, 6, 20, blob.len() / 2, blob.len() - 1] {
        let mut bad = blob.clone();
        bad[i] ^= 0x01;
        damaged.push(bad);
    }
    for cut in [0, 5, 9, blob.len() / 3, blob.len() - 1] {
        damaged.push(blob[..cut].to_vec());
    }
    let mut longer = blob.clone();
    longer.push(7);
    damaged.push(longer);
    damaged.push(Mutation::DeleteCollection { name: "old".into() }.encode());
    for bad in damaged {
        let e = dst.import_all(&bad).unwrap_err();
        assert!(matches!(e, Error::InvalidExport(_)), "{e}");
        assert_eq!(seen(&dst), before);
        assert_eq!(dst.applied_mark().unwrap(), Some(mark(7)));
    }
}

// --- async ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_twins_do_what_the_blocking_calls_do() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let db = AsyncDatabase::open(d1.path().to_path_buf(), DbOptions::default())
        .await
        .unwrap();
    assert_eq!(db.applied_mark().await.unwrap(), None);
    assert_eq!(db.apply(script()[0].clone()).await.unwrap(), Outcome::Done);
    assert_eq!(
        db.apply_marked(script()[3].clone(), mark(2)).await.unwrap(),
        Outcome::Seq(1)
    );
    db.set_applied_mark(mark(3)).await.unwrap();
    assert_eq!(db.applied_mark().await.unwrap(), Some(mark(3)));
    let blob = db.export_all().await.unwrap();
    let other = AsyncDatabase::open(d2.path().to_path_buf(), DbOptions::default())
        .await
        .unwrap();
    other.import_all(blob).await.unwrap();
    assert_eq!(other.applied_mark().await.unwrap(), Some(mark(3)));
    assert_same(&seen(other.blocking()), &seen(db.blocking()));
}
