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
