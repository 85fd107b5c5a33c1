//! Collections in the portable byte format: everything a collection holds
//! (named dense vectors with and without quantization, sparse vectors,
//! BM25 text, payloads and payload indexes, deleted points) survives
//! `to_bytes` / `from_bytes`, answers queries the same, and keeps working.

use std::collections::BTreeMap;

use grape_core::payload::{FieldSchema, PointId};
use grape_core::query::QueryRequest;
use grape_core::sparse::{Modifier, SparseVector};
use grape_core::text::{Bm25Params, Tokenizer};
use grape_core::{
    Collection, CollectionConfig, DenseQuantization, Error, HnswConfig, Metric, PointData,
    Quantization, TextConfig,
};
use serde_json::json;

const WORDS: [&str; 12] = [
    "apple", "pear", "river", "stone", "cloud", "forest", "ocean", "sand", "light", "storm",
    "bread", "glass",
];

fn config(keep_originals: bool) -> CollectionConfig {
    let mut c = CollectionConfig::default();
    c.dense.insert(
        String::new(),
        HnswConfig::new(32, Metric::Cosine).full_scan_threshold(0),
    );
    c.dense
        .insert("small".into(), HnswConfig::new(8, Metric::Euclid));
    c.quantization.insert(
        String::new(),
        DenseQuantization {
            quantization: Quantization::int8(),
            keep_originals,
        },
    );
    c.sparse.insert("terms".into(), Modifier::Idf);
    c.text.insert(
        "body".into(),
        TextConfig {
            tokenizer: Tokenizer::new().english_stop_words(true),
            bm25: Bm25Params::default(),
        },
    );
    c
}

/// `n` points: clustered 32-d vectors, an 8-d vector on every other point,
/// a sparse vector, a three-word body and a kind.
fn points(n: usize, seed: u64) -> Vec<PointData> {
    let big = grape_tests::clustered(n, 32, 8, seed);
    let small = grape_tests::clustered(n, 8, 4, seed + 1);
    (0..n)
        .map(|i| {
            let mut vectors = BTreeMap::from([(String::new(), big[i].clone())]);
            if i % 2 == 0 {
                vectors.insert("small".into(), small[i].clone());
            }
            let w = |k: usize| WORDS[(i * 7 + k * 5) % WORDS.len()];
            let sparse = BTreeMap::from([(
                "terms".to_string(),
                SparseVector::new(vec![(i % 50) as u32, 1000], vec![1.0, 0.25]).unwrap(),
            )]);
            let id = if i % 10 == 3 {
                PointId::Uuid(0x1234_5678_9abc_def0_u128 << 64 | i as u128)
            } else {
                PointId::Num(i as u64)
            };
            let body = format!("{} {} the {}", w(0), w(1), w(2));
            let kind = ["a", "b", "c"][i % 3];
            let payload = json!({"body": body, "kind": kind, "n": i});
            PointData {
                id,
                vectors,
                sparse,
                payload: payload.as_object().unwrap().clone(),
            }
        })
        .collect()
}

const QUERIES: [&str; 6] = [
    r#"{"query": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                  0.7, 0.8, 0.9, 1.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.1, 0.2],
        "limit": 10, "filter": {"must": [{"key": "kind", "match": {"value": "b"}}]}}"#,
    r#"{"query": [1, 0, 0, 0, 0, 0, 0, 1], "using": "small", "limit": 5}"#,
    r#"{"query": {"indices": [7, 1000], "values": [1.0, 1.0]}, "using": "terms", "limit": 10}"#,
    r#"{"query": {"text": "apple river storm"}, "using": "body", "limit": 10}"#,
    r#"{"prefetch": [{"query": {"text": "forest ocean"}, "using": "body", "limit": 20},
                     {"query": {"indices": [3], "values": [1.0]}, "using": "terms", "limit": 20}],
        "query": {"fusion": "rrf"}, "limit": 10}"#,
    r#"{"query": {"text": "glass bread"}, "using": "body", "limit": 10,
        "filter": {"must": [{"key": "n", "range": {"gte": 100, "lt": 900}}]}}"#,
];

fn answers(c: &Collection) -> Vec<Vec<(PointId, f32)>> {
    QUERIES
        .iter()
        .map(|q| {
            let req = QueryRequest::from_json(q).unwrap();
            let hits = c.query(&req).unwrap();
            assert!(!hits.is_empty(), "no hits for {q}");
            hits.iter().map(|h| (h.id, h.score)).collect()
        })
        .collect()
}

fn built(keep_originals: bool) -> Collection {
    let mut c = Collection::new(config(keep_originals)).unwrap();
    c.upsert(points(2_000, 5)).unwrap();
    c.create_payload_index("kind", FieldSchema::Keyword)
        .unwrap();
    c.create_payload_index("n", FieldSchema::Integer).unwrap();
    let gone: Vec<PointId> = (0..2_000)
        .step_by(9)
        .map(|i| PointId::Num(i as u64))
        .collect();
    c.delete(&gone);
    c
}

#[test]
fn round_trip_answers_the_same() {
    for keep in [true, false] {
        let c = built(keep);
        let stats = c.stats();
        assert_eq!(stats.points, c.len());
        let bytes = c.to_bytes();
        let back = Collection::from_bytes(&bytes).unwrap();
        assert_eq!(back.len(), c.len());
        assert_eq!(back.to_bytes(), bytes, "re-encoding is stable");
        assert_eq!(answers(&back), answers(&c), "keep_originals {keep}");
        assert_eq!(
            back.config().quantization[""].keep_originals,
            keep,
            "quantization config survives"
        );
        assert_eq!(back.payload_index_fields().len(), 2);
        let probe = PointId::Num(10);
        assert_eq!(back.payload(&probe), c.payload(&probe));
        assert_eq!(back.vector(&probe, "").is_some(), keep);
        assert_eq!(back.vector(&probe, "small"), c.vector(&probe, "small"));
    }
}

/// A loaded collection keeps working: upserts reuse freed offsets, deletes
/// and filters agree with a collection that never went through bytes.
#[test]
fn loaded_collection_keeps_working() {
    let mut a = built(true);
    let mut b = Collection::from_bytes(&a.to_bytes()).unwrap();
    let more = points(2_300, 6).split_off(2_000);
    a.upsert(more.clone()).unwrap();
    b.upsert(more).unwrap();
    let kind_c = grape_core::payload::Filter::from_value(
        &json!({"must": [{"key": "kind", "match": {"value": "c"}}]}),
    )
    .unwrap();
    assert_eq!(a.delete_by_filter(&kind_c), b.delete_by_filter(&kind_c));
    assert_eq!(a.len(), b.len());
    assert_eq!(answers(&a), answers(&b));

    // `optimize` compacts and renumbers the graphs: the same points, payloads
    // and filters answer, and the renumbered collection survives bytes.
    let before = answers(&a);
    let probe = PointId::Num(2_100);
    let payload = a.payload(&probe).cloned();
    a.optimize().unwrap();
    assert_eq!(a.len(), b.len());
    assert_eq!(a.payload(&probe).cloned(), payload);
    assert_eq!(a.vector(&probe, "small"), b.vector(&probe, "small"));
    let same = answers(&a)
        .iter()
        .zip(&before)
        .map(|(x, y)| x.iter().filter(|h| y.contains(h)).count())
        .sum::<usize>();
    let total = before.iter().map(Vec::len).sum::<usize>();
    assert!(same * 100 >= total * 95, "{same} of {total} hits kept");
    let c = Collection::from_bytes(&a.to_bytes()).unwrap();
    assert_eq!(answers(&c), answers(&a));
}

/// Quantization starts once the index holds enough points; `optimize`
/// retrains; a quantization for an unknown vector is refused.
#[test]
fn quantization_lifecycle() {
    let mut c = Collection::new(config(true)).unwrap();
    c.upsert(points(500, 7)).unwrap();
    let before = c.stats();
    c.upsert(points(1_200, 8)).unwrap();
    let after = c.stats();
    // Int8 codes (32 bytes a point) were added to the 128-byte originals.
    assert!(after.dense[0].2 > before.dense[0].2, "{before:?} {after:?}");
    c.optimize().unwrap();
    assert_eq!(answers(&c).len(), QUERIES.len());

    let mut bad = config(true);
    bad.quantization.insert(
        "nope".into(),
        DenseQuantization {
            quantization: Quantization::Binary,
            keep_originals: true,
        },
    );
    assert!(matches!(Collection::new(bad), Err(Error::InvalidConfig(_))));
}

/// Damaged collection bytes never load: every truncation and byte flips
/// across the whole body give typed errors.
#[test]
fn damaged_bytes_are_rejected() {
    let mut c = Collection::new(config(true)).unwrap();
    c.upsert(points(60, 9)).unwrap();
    let bytes = c.to_bytes();
    for len in (0..bytes.len()).step_by(7) {
        assert!(
            Collection::from_bytes(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for at in (0..bytes.len()).step_by(5) {
        let mut d = bytes.clone();
        d[at] ^= 0x41;
        assert!(Collection::from_bytes(&d).is_err(), "flip at {at}");
    }
    // Index bytes are not collection bytes, and the other way round.
    let h = grape_core::Hnsw::new(HnswConfig::new(4, Metric::Dot)).unwrap();
    assert!(matches!(
        Collection::from_bytes(&h.to_bytes()),
        Err(Error::Corrupted(_))
    ));
    assert!(grape_core::AnyIndex::from_bytes(&bytes).is_err());
}

/// Qdrant's create-collection JSON: single and named vectors, per-vector
/// and collection-wide HNSW and quantization settings, sparse modifiers,
/// Grape's text fields; errors name the field.
#[test]
fn config_from_qdrant_json() {
    let c = CollectionConfig::from_json(
        r#"{"vectors": {"size": 8, "distance": "Dot"}, "shard_number": 2, "on_disk_payload": true}"#,
    )
    .unwrap();
    assert_eq!(c.dense[""].dim, 8);
    assert_eq!(c.dense[""].metric, Metric::Dot);
    assert!(c.quantization.is_empty());

    let c = CollectionConfig::from_json(
        r#"{
        "vectors": {
            "title": {"size": 16, "distance": "Cosine", "hnsw_config": {"m": 8}},
            "body": {"size": 64, "distance": "Euclid",
                     "quantization_config": {"product": {"compression": "x16", "always_ram": true}}},
            "raw": {"size": 4, "distance": "Manhattan", "quantization_config": "Disabled"}
        },
        "hnsw_config": {"m": 24, "ef_construct": 100, "full_scan_threshold": 16},
        "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99, "keep_originals": false}},
        "sparse_vectors": {"terms": {"modifier": "idf"}, "plain": {}},
        "text_fields": {"body": {"stopwords": "english", "k1": 0.9, "b": 0.4, "min_token_len": 2}}
    }"#,
    )
    .unwrap();
    assert_eq!((c.dense["title"].m, c.dense["body"].m), (8, 24));
    assert_eq!(c.dense["body"].ef_construction, 100);
    // 16 KB of 64-d f32 vectors: 64 points.
    assert_eq!(c.dense["body"].full_scan_threshold, 64);
    assert_eq!(
        c.quantization["title"],
        DenseQuantization {
            quantization: Quantization::Scalar { quantile: 0.99 },
            keep_originals: false
        }
    );
    assert_eq!(
        c.quantization["body"].quantization,
        Quantization::Product { m: 16 }
    );
    assert!(c.quantization["body"].keep_originals);
    assert!(!c.quantization.contains_key("raw"));
    assert_eq!(c.sparse["terms"], Modifier::Idf);
    assert_eq!(c.sparse["plain"], Modifier::None);
    assert_eq!(c.text["body"].bm25.k1, 0.9);
    assert!(c.text["body"].tokenizer.has_english_stop_words());
    Collection::new(c).unwrap();

    for (json, needle) in [
        (
            r#"{"vectors": {"size": 8, "distance": "Cos"}}"#,
            "vectors.distance",
        ),
        (
            r#"{"vectors": {"size": 8}}"#,
            "vectors.distance is required",
        ),
        (
            r#"{"vectors": {"a": {"size": 8, "distance": "Dot", "colour": 1}}}"#,
            "vectors.a.colour",
        ),
        (r#"{"vectorz": {}}"#, "unknown field vectorz"),
        (
            r#"{"vectors": {"size": 50, "distance": "Dot", "quantization_config": {"product": {"compression": "x64"}}}}"#,
            "compression",
        ),
        (
            r#"{"vectors": {"size": 8, "distance": "Manhattan"}, "quantization_config": {"scalar": {}}}"#,
            "manhattan",
        ),
        (
            r#"{"vectors": {"size": 8, "distance": "Dot", "quantization_config": {"scalar": {"type": "uint4"}}}}"#,
            "only int8",
        ),
        (r#"{"vectors": {"size": 0, "distance": "Dot"}}"#, "dim"),
        (
            r#"{"sparse_vectors": {"s": {"modifier": "bm25"}}}"#,
            "sparse_vectors.s.modifier",
        ),
        (r#"{"text_fields": {"t": {"b": 2}}}"#, "text_fields.t"),
        ("{not json", "malformed json"),
    ] {
        match CollectionConfig::from_json(json) {
            Err(Error::InvalidConfig(m)) => assert!(m.contains(needle), "{json}: {m}"),
            other => panic!("{json}: expected InvalidConfig naming {needle}, got {other:?}"),
        }
    }
}

/// Qdrant's `PointStruct`, and the bulk path: one buffer of vectors.
#[test]
fn points_from_json_and_bulk_upsert() {
    let p = PointData::from_value(
        &json!({"id": "6e4f3c6a-1b2d-4e5f-8a9b-0c1d2e3f4a5b",
                "vector": {"": [1, 2, 3], "terms": {"indices": [5, 1], "values": [0.5, 2]}},
                "payload": {"a": 1}}),
        "p",
    )
    .unwrap();
    assert!(matches!(p.id, PointId::Uuid(_)));
    assert_eq!(p.vectors[""], vec![1.0, 2.0, 3.0]);
    assert_eq!(p.sparse["terms"].indices.len(), 2);
    assert_eq!(p.payload["a"], json!(1));
    for (value, needle) in [
        (json!({"id": -1, "vector": [1]}), "p.id"),
        (json!({"id": "nope", "vector": [1]}), "p.id"),
        (json!({"id": 1, "vector": [1, "x"]}), "p.vector[1]"),
        (
            json!({"id": 1, "vector": {"s": {"indices": [1, 1], "values": [1, 2]}}}),
            "p.vector.s",
        ),
        (json!({"id": 1, "payload": [1]}), "p.payload"),
        (json!({"vector": [1]}), "p.id is required"),
    ] {
        match PointData::from_value(&value, "p") {
            Err(Error::InvalidQuery(m)) => assert!(m.contains(needle), "{value}: {m}"),
            other => panic!("{value}: expected InvalidQuery naming {needle}, got {other:?}"),
        }
    }

    let mut c = Collection::new(config(true)).unwrap();
    let data = grape_tests::clustered(1_200, 32, 6, 3);
    let ids: Vec<PointId> = (0..1_200u64).map(PointId::Num).collect();
    let flat: Vec<f32> = data.concat();
    let payloads = (0..1_200)
        .map(|i| json!({"n": i}).as_object().unwrap().clone())
        .collect();
    c.upsert_dense("", &ids, &flat, Some(payloads)).unwrap();
    assert_eq!(c.len(), 1_200);
    assert_eq!(c.payload(&PointId::Num(7)).unwrap()["n"], json!(7));
    let before = c.to_bytes();
    let mut bad = flat.clone();
    bad[40] = f32::NAN;
    assert!(matches!(
        c.upsert_dense("", &ids, &bad, None),
        Err(Error::NonFiniteComponent { .. })
    ));
    assert!(matches!(
        c.upsert_dense("", &ids[..3], &flat[..95], None),
        Err(Error::InvalidQuery(_))
    ));
    assert!(matches!(
        c.upsert_dense("nope", &ids[..1], &flat[..32], None),
        Err(Error::InvalidQuery(_))
    ));
    assert_eq!(
        c.to_bytes(),
        before,
        "a failed bulk upsert changed the collection"
    );
}

/// Returned vectors have Qdrant's shape: a plain array for a collection with
/// only the unnamed vector, an object by name otherwise.
#[test]
fn returned_vectors_have_qdrants_shape() {
    use grape_core::query::VectorSelector;
    let all = VectorSelector::All(true);
    let id = PointId::Num(1);
    let point = |vector: serde_json::Value| {
        PointData::from_value(&json!({"id": 1, "vector": vector}), "p").unwrap()
    };
    let make = |config: serde_json::Value, vector: serde_json::Value| {
        let mut c = Collection::new(CollectionConfig::from_value(&config).unwrap()).unwrap();
        c.upsert(vec![point(vector)]).unwrap();
        c
    };
    let only = make(
        json!({"vectors": {"size": 2, "distance": "Dot"}}),
        json!([1, 2]),
    );
    assert_eq!(only.vectors_value(&id, &all), json!([1.0, 2.0]));
    assert_eq!(
        only.vectors_value(&id, &VectorSelector::All(false)),
        json!({})
    );
    let named = make(
        json!({"vectors": {"a": {"size": 2, "distance": "Dot"}, "b": {"size": 1, "distance": "Dot"}}}),
        json!({"a": [1, 2], "b": [3]}),
    );
    assert_eq!(
        named.vectors_value(&id, &all),
        json!({"a": [1.0, 2.0], "b": [3.0]})
    );
    assert_eq!(
        named.vectors_value(&id, &VectorSelector::Names(vec!["b".into()])),
        json!({"b": [3.0]})
    );
    let with_sparse = make(
        json!({"vectors": {"size": 2, "distance": "Dot"}, "sparse_vectors": {"s": {}}}),
        json!({"": [1, 2], "s": {"indices": [1], "values": [1]}}),
    );
    assert_eq!(
        with_sparse.vectors_value(&id, &all),
        json!({"": [1.0, 2.0]})
    );
}

fn filter(v: serde_json::Value) -> grape_core::payload::Filter {
    grape_core::payload::Filter::from_value(&v).unwrap()
}

fn object(v: serde_json::Value) -> grape_core::payload::Payload {
    v.as_object().unwrap().clone()
}

/// Ids of every point whose `body` matches the text `q`, ascending.
fn text_ids(c: &Collection, q: &str) -> Vec<PointId> {
    let req =
        QueryRequest::from_value(&json!({"query": {"text": q}, "using": "body", "limit": 10_000}))
            .unwrap();
    let mut ids: Vec<PointId> = c.query(&req).unwrap().iter().map(|h| h.id).collect();
    ids.sort();
    ids
}

fn kind_is(k: &str) -> grape_core::payload::Filter {
    filter(json!({"must": [{"key": "kind", "match": {"value": k}}]}))
}

/// Payload updates (Qdrant's set / overwrite / delete keys / clear, by id
/// and by filter) reach filters, counts, payload indexes and BM25 text at
/// once, and what they leave survives bytes.
#[test]
fn payload_updates_reach_every_index() {
    let mut c = Collection::new(config(true)).unwrap();
    c.upsert(points(60, 11)).unwrap();
    c.create_payload_index("kind", FieldSchema::Keyword)
        .unwrap();
    c.create_payload_index("n", FieldSchema::Integer).unwrap();
    c.create_payload_index("flag", FieldSchema::Bool).unwrap();
    let (p0, p1) = (PointId::Num(0), PointId::Num(1));
    let has_n = filter(json!({"must": [{"key": "n", "range": {"gte": 0}}]}));
    let flagged = filter(json!({"must": [{"key": "flag", "match": {"value": true}}]}));
    let (a, b) = (c.count(Some(&kind_is("a"))), c.count(Some(&kind_is("b"))));
    assert_eq!((a, b, c.count(Some(&kind_is("z")))), (20, 20, 0));
    // Point 0's body is "apple forest the bread".
    assert!(text_ids(&c, "apple").contains(&p0));
    assert!(text_ids(&c, "zebra").is_empty());

    // set: given keys replace, others stay; indexed and text fields follow.
    let set = object(json!({"kind": "z", "body": "zebra stripes", "extra": {"x": 1}}));
    assert!(c.set_payload(&p0, set, None).unwrap());
    assert_eq!(c.count(Some(&kind_is("z"))), 1);
    assert_eq!(c.count(Some(&kind_is("a"))), a - 1);
    assert!(c.matches(&p0, &kind_is("z")) && !c.matches(&p0, &kind_is("a")));
    assert_eq!(text_ids(&c, "zebra"), [p0]);
    assert!(!text_ids(&c, "apple").contains(&p0));
    assert_eq!(c.payload(&p0).unwrap()["n"], json!(0));
    let dense_z = r#"{"query": [1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0], "limit": 5, "filter": {"must": {"key": "kind", "match": {"value": "z"}}}}"#;
    let hits = c.query(&QueryRequest::from_json(dense_z).unwrap()).unwrap();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [p0]);

    // set with a key merges into that nested object, creating it if absent.
    assert!(
        c.set_payload(&p0, object(json!({"y": 2})), Some("extra"))
            .unwrap()
    );
    assert!(
        c.set_payload(&p0, object(json!({"t": "u"})), Some("meta.tags"))
            .unwrap()
    );
    let p = c.payload(&p0).unwrap();
    assert_eq!(p["extra"], json!({"x": 1, "y": 2}));
    assert_eq!(p["meta"], json!({"tags": {"t": "u"}}));
    assert!(c.matches(
        &p0,
        &filter(json!({"must": [{"key": "extra.y", "match": {"value": 2}}]}))
    ));
    // A null removes its key.
    assert!(
        c.set_payload(&p0, object(json!({"n": null})), None)
            .unwrap()
    );
    assert!(!c.payload(&p0).unwrap().contains_key("n"));
    assert_eq!(c.count(Some(&has_n)), 59);

    // delete keys: nested paths and top-level keys; absent keys are fine.
    let keys = ["extra.x".to_string(), "body".into(), "nope.deeper".into()];
    assert!(c.delete_payload_keys(&p0, &keys).unwrap());
    assert_eq!(c.payload(&p0).unwrap()["extra"], json!({"y": 2}));
    assert!(text_ids(&c, "zebra").is_empty());
    assert_eq!(c.count(Some(&kind_is("z"))), 1);

    // overwrite: the whole payload goes.
    let over = object(json!({"body": "zebra crossing", "kind": "z"}));
    assert!(c.overwrite_payload(&p1, over.clone()).unwrap());
    assert_eq!(c.payload(&p1), Some(&over));
    assert_eq!(c.count(Some(&kind_is("z"))), 2);
    assert_eq!(c.count(Some(&kind_is("b"))), b - 1);
    assert_eq!(c.count(Some(&has_n)), 58);
    assert_eq!(text_ids(&c, "zebra"), [p1]);

    // Survives bytes, and the loaded copy agrees on every probe.
    let probe = |c: &Collection| {
        (
            ["a", "b", "c", "z"].map(|k| c.count(Some(&kind_is(k)))),
            c.count(Some(&has_n)),
            text_ids(c, "zebra"),
            text_ids(c, "apple"),
            c.payload(&p0).cloned(),
            c.payload(&p1).cloned(),
        )
    };
    let back = Collection::from_bytes(&c.to_bytes()).unwrap();
    assert_eq!(probe(&back), probe(&c));

    // clear: an empty payload, gone from every index.
    assert!(c.clear_payload(&p1).unwrap());
    assert_eq!(c.payload(&p1), Some(&serde_json::Map::new()));
    assert_eq!(c.count(Some(&kind_is("z"))), 1);
    assert!(text_ids(&c, "zebra").is_empty());
    assert!(!c.matches(&p1, &kind_is("z")));
    assert!(c.matches(
        &p1,
        &filter(json!({"must": [{"is_empty": {"key": "kind"}}]}))
    ));

    // Unknown ids: false, nothing changes.
    let before = c.to_bytes();
    let ghost = PointId::Num(999);
    assert!(
        !c.set_payload(&ghost, object(json!({"a": 1})), None)
            .unwrap()
    );
    assert!(
        !c.set_payload(&ghost, object(json!({"a": 1})), Some("x.y"))
            .unwrap()
    );
    assert!(
        !c.overwrite_payload(&ghost, object(json!({"a": 1})))
            .unwrap()
    );
    assert!(!c.delete_payload_keys(&ghost, &["kind".into()]).unwrap());
    assert!(!c.clear_payload(&ghost).unwrap());
    assert!(!c.matches(&ghost, &filter(json!({}))));
    assert_eq!(c.to_bytes(), before);

    // By filter: every matching point, counted.
    let b_now = c.count(Some(&kind_is("b")));
    let set = object(json!({"flag": true, "body": "zebra"}));
    assert_eq!(
        c.set_payload_by_filter(&kind_is("b"), set, None).unwrap(),
        b_now
    );
    assert_eq!(c.count(Some(&flagged)), b_now);
    assert_eq!(text_ids(&c, "zebra").len(), b_now);
    let merged = c
        .set_payload_by_filter(&flagged, object(json!({"w": 1})), Some("sub"))
        .unwrap();
    assert_eq!(merged, b_now);
    let flag_key = ["flag".to_string()];
    assert_eq!(
        c.delete_payload_keys_by_filter(&kind_is("b"), &flag_key)
            .unwrap(),
        b_now
    );
    assert_eq!(c.count(Some(&flagged)), 0);
    let over = object(json!({"kind": "y", "body": "yak"}));
    assert_eq!(
        c.overwrite_payload_by_filter(&kind_is("b"), over).unwrap(),
        b_now
    );
    assert_eq!(c.count(Some(&kind_is("b"))), 0);
    assert_eq!(c.count(Some(&kind_is("y"))), b_now);
    assert_eq!(text_ids(&c, "yak").len(), b_now);
    assert!(text_ids(&c, "zebra").is_empty());
    let back = Collection::from_bytes(&c.to_bytes()).unwrap();
    assert_eq!(probe(&back), probe(&c));
    assert_eq!(text_ids(&back, "yak"), text_ids(&c, "yak"));
    assert_eq!(c.clear_payload_by_filter(&kind_is("y")).unwrap(), b_now);
    assert_eq!(c.count(Some(&kind_is("y"))), 0);
    assert!(text_ids(&c, "yak").is_empty());
    assert_eq!(c.len(), 60, "payload updates never remove points");
    let back = Collection::from_bytes(&c.to_bytes()).unwrap();
    assert_eq!(probe(&back), probe(&c));
}

/// A payload update that fails (a malformed key, an array index far past
/// the end of a point's array) changes nothing, even when it would have
/// succeeded on other points first.
#[test]
fn failed_payload_updates_change_nothing() {
    let mut c = Collection::new(config(true)).unwrap();
    c.upsert(points(30, 12)).unwrap();
    c.create_payload_index("kind", FieldSchema::Keyword)
        .unwrap();
    let long: Vec<u32> = (0..3_000).collect();
    // Point 0 holds a long array, point 1 an empty one.
    c.set_payload(&PointId::Num(0), object(json!({"arr": long})), None)
        .unwrap();
    c.set_payload(&PointId::Num(1), object(json!({"arr": []})), None)
        .unwrap();
    let before = c.to_bytes();
    let p0 = PointId::Num(0);
    let all = filter(json!({}));
    let bad_key = |r: grape_core::Result<_>| {
        assert!(
            matches!(r, Err(Error::InvalidParameter(ref m)) if m.contains("a..b")),
            "{r:?}"
        );
    };
    bad_key(
        c.set_payload(&p0, object(json!({"x": 1})), Some("a..b"))
            .map(|_| ()),
    );
    bad_key(
        c.set_payload_by_filter(&all, object(json!({"x": 1})), Some("a..b"))
            .map(|_| ()),
    );
    let keys = ["kind".to_string(), "a..b".into()];
    bad_key(c.delete_payload_keys(&p0, &keys).map(|_| ()));
    bad_key(c.delete_payload_keys_by_filter(&all, &keys).map(|_| ()));
    // Index 2000 lies inside point 0's array but far past point 1's end.
    let far = c.set_payload_by_filter(&all, object(json!({"x": 1})), Some("arr[2000]"));
    match far {
        Err(Error::InvalidParameter(m)) => {
            assert!(m.contains("arr[2000]") && m.contains("point 1"), "{m}")
        }
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
    assert_eq!(
        c.to_bytes(),
        before,
        "a failed payload update changed the collection"
    );
    // The same merge on point 0 alone succeeds.
    assert!(
        c.set_payload(&p0, object(json!({"x": 1})), Some("arr[2000]"))
            .unwrap()
    );
    assert_eq!(c.payload(&p0).unwrap()["arr"][2000], json!({"x": 1}));
}

/// `ids`, `point_data` and `sparse_vector` read back everything a point
/// holds: re-inserted into a new collection, the points answer exact
/// searches the same.
#[test]
fn points_read_back_and_reinsert() {
    let c = built(true);
    let mut ids: Vec<PointId> = c.ids().copied().collect();
    assert_eq!(ids.len(), c.len());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), c.len(), "ids are unique");
    assert!(
        !ids.contains(&PointId::Num(9)),
        "deleted points are not listed"
    );
    let uuid = PointId::Uuid(0x1234_5678_9abc_def0_u128 << 64 | 13);
    assert!(ids.contains(&uuid));

    let p = c.point_data(&uuid).unwrap();
    assert_eq!(p.id, uuid);
    assert_eq!(p.payload, *c.payload(&uuid).unwrap());
    assert_eq!(p.vectors[""].as_slice(), c.vector(&uuid, "").unwrap());
    assert!(
        !p.vectors.contains_key("small"),
        "point 13 has no small vector"
    );
    assert_eq!(p.sparse["terms"], c.sparse_vector(&uuid, "terms").unwrap());
    assert_eq!(p.sparse["terms"].indices, [13, 1000]);
    assert!(c.point_data(&PointId::Num(9)).is_none());
    assert!(c.sparse_vector(&PointId::Num(9), "terms").is_none());
    assert!(c.sparse_vector(&uuid, "nope").is_none());
    assert_eq!(c.point_data(&PointId::Num(10)).unwrap().vectors.len(), 2);

    let mut copy = Collection::new(c.config().clone()).unwrap();
    copy.upsert(ids.iter().map(|id| c.point_data(id).unwrap()).collect())
        .unwrap();
    assert_eq!(copy.len(), c.len());
    for id in &ids {
        let (x, y) = (c.point_data(id).unwrap(), copy.point_data(id).unwrap());
        assert_eq!((&x.payload, &x.sparse), (&y.payload, &y.sparse));
        assert_eq!(
            x.vectors.keys().collect::<Vec<_>>(),
            y.vectors.keys().collect::<Vec<_>>()
        );
        for (name, v) in &x.vectors {
            let w = &y.vectors[name];
            assert!(
                v.iter().zip(w).all(|(a, b)| (a - b).abs() < 1e-6),
                "{id} {name}"
            );
        }
    }
    // Exact searches (sparse, text, filters) give the same points and scores.
    for q in [
        json!({"query": {"indices": [7, 1000], "values": [1.0, 1.0]}, "using": "terms", "limit": 5000}),
        json!({"query": {"text": "apple river storm"}, "using": "body", "limit": 5000}),
        json!({"query": {"text": "glass"}, "using": "body", "limit": 5000,
               "filter": {"must": [{"key": "kind", "match": {"value": "b"}}]}}),
    ] {
        let run = |c: &Collection| {
            let mut hits: Vec<(PointId, f32)> = c
                .query(&QueryRequest::from_value(&q).unwrap())
                .unwrap()
                .iter()
                .map(|h| (h.id, h.score))
                .collect();
            hits.sort_by_key(|h| h.0);
            hits
        };
        let (x, y) = (run(&c), run(&copy));
        assert!(!x.is_empty());
        assert_eq!(x.len(), y.len(), "{q}");
        for ((i, s), (j, t)) in x.iter().zip(&y) {
            assert_eq!(i, j, "{q}");
            assert!((s - t).abs() < 1e-5, "{q}: {s} vs {t}");
        }
    }
    // Codes-only vectors are left out; the rest is still there.
    let codes = built(false);
    let p = codes.point_data(&PointId::Num(10)).unwrap();
    assert!(!p.vectors.contains_key(""));
    assert!(p.vectors.contains_key("small") && p.sparse.contains_key("terms"));
}
