use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use serde_json::json;

use super::{Collection, CollectionConfig, PointData, ScoredPoint, TextConfig};
use crate::payload::{FieldSchema, Filter, Payload, PointId};
use crate::query::QueryRequest;
use crate::sparse::{Modifier, SparseVector};
use crate::text::{Bm25Params, Tokenizer};
use crate::{Error, HnswConfig, Metric};

fn payload(v: serde_json::Value) -> Payload {
    v.as_object().expect("object").clone()
}

/// Six small documents with a 3-d dense vector, a sparse vector and text.
fn collection() -> Collection {
    let mut config = CollectionConfig::default();
    config.dense.insert(
        String::new(),
        HnswConfig::new(3, Metric::Cosine).full_scan_threshold(0),
    );
    config.sparse.insert("keywords".into(), Modifier::None);
    config.text.insert(
        "body".into(),
        TextConfig {
            tokenizer: Tokenizer::new(),
            bm25: Bm25Params::new(1.2, 0.75),
        },
    );
    let mut c = Collection::new(config).unwrap();
    let docs = [
        (1, [1.0, 0.0, 0.0], "red apples and green pears", "fruit", 3),
        (2, [0.9, 0.1, 0.0], "apples grow on trees", "fruit", 5),
        (3, [0.0, 1.0, 0.0], "the sea is deep and blue", "nature", 8),
        (
            4,
            [0.0, 0.9, 0.1],
            "blue whales swim in the deep sea",
            "animal",
            1,
        ),
        (5, [0.0, 0.0, 1.0], "trees and forests", "nature", 2),
        (6, [0.5, 0.5, 0.0], "苹果和梨", "fruit", 4),
    ];
    let points = docs
        .iter()
        .map(|&(id, v, body, kind, n)| {
            let mut sparse = BTreeMap::new();
            sparse.insert(
                "keywords".to_string(),
                SparseVector::new(vec![id as u32, 100], vec![1.0, 0.5]).unwrap(),
            );
            PointData {
                id: PointId::Num(id),
                vectors: BTreeMap::from([(String::new(), v.to_vec())]),
                sparse,
                payload: payload(json!({"body": body, "kind": kind, "n": n})),
            }
        })
        .collect();
    c.upsert(points).unwrap();
    c
}

fn ids(hits: &[ScoredPoint]) -> Vec<u64> {
    hits.iter()
        .map(|h| match h.id {
            PointId::Num(n) => n,
            PointId::Uuid(_) => panic!("uuid"),
        })
        .collect()
}

fn query(c: &Collection, json: &str) -> Vec<u64> {
    ids(&c.query(&QueryRequest::from_json(json).unwrap()).unwrap())
}

#[test]
fn dense_sparse_and_text_searches_with_filters() {
    let c = collection();
    assert_eq!(c.len(), 6);
    assert_eq!(
        query(&c, r#"{"query": [1.0, 0.05, 0.0], "limit": 2}"#),
        [1, 2]
    );
    let filtered = r#"{"query": [1.0, 0.05, 0.0], "limit": 2,
        "filter": {"must": {"key": "kind", "match": {"value": "nature"}}}}"#;
    assert_eq!(query(&c, filtered), [3, 5]);
    let sparse = r#"{"query": {"indices": [4], "values": [2.0]}, "using": "keywords", "limit": 3}"#;
    assert_eq!(query(&c, sparse)[0], 4);
    let text = r#"{"query": {"text": "deep blue sea"}, "using": "body", "limit": 2}"#;
    assert_eq!(query(&c, text), [3, 4]);
    let cjk = r#"{"query": {"text": "苹果"}, "using": "body", "limit": 3}"#;
    assert_eq!(query(&c, cjk), [6]);
}

#[test]
fn hybrid_rrf_with_prefetch_and_payload_index() {
    let mut c = collection();
    c.create_payload_index("kind", FieldSchema::Keyword)
        .unwrap();
    let hybrid = r#"{
        "prefetch": [
            {"query": [0.0, 1.0, 0.0], "limit": 3},
            {"query": {"text": "apples trees"}, "using": "body", "limit": 3}
        ],
        "query": {"fusion": "rrf"},
        "filter": {"must_not": {"key": "kind", "match": {"value": "animal"}}},
        "limit": 4
    }"#;
    // Dense list (4 filtered out): 3 (cos 1), 6 (0.71), 2 (0.11). Text list:
    // 2 (apples + trees), then 5 and 1 (one term each, 5 shorter).
    // RRF with Qdrant's k = 2: 2 -> 1/(2+2) + 1/(0+2) = 0.75; 3 -> 1/2;
    // 5 -> 1/(1+2) = 0.333 = 6's 1/(1+2), tie broken by the lower id; 1 -> 1/4.
    assert_eq!(query(&c, hybrid), [2, 3, 5, 6]);
    // Rescoring a prefetch with another vector orders its candidates only.
    let rescore = r#"{"prefetch": {"query": {"text": "apples"}, "using": "body", "limit": 2},
                     "query": [0.0, 1.0, 0.0], "limit": 5}"#;
    assert_eq!(query(&c, rescore), [2, 1]);
}

#[test]
fn upsert_replace_delete_and_filters() {
    let mut c = collection();
    let f = Filter::from_json_str(r#"{"must": {"key": "n", "range": {"gte": 4}}}"#).unwrap();
    assert_eq!(c.count(Some(&f)), 3);
    // Replacing point 3 moves it in every index.
    c.upsert(vec![PointData::dense(
        PointId::Num(3),
        vec![1.0, 0.0, 0.0],
        payload(json!({"body": "apples", "n": 0})),
    )])
    .unwrap();
    assert_eq!(c.len(), 6);
    assert_eq!(c.count(Some(&f)), 2);
    assert_eq!(
        query(
            &c,
            r#"{"query": {"text": "sea"}, "using": "body", "limit": 5}"#
        ),
        [4]
    );
    assert_eq!(c.payload(&PointId::Num(3)).unwrap()["n"], json!(0));
    assert_eq!(c.delete(&[PointId::Num(3), PointId::Num(77)]), 1);
    assert_eq!(c.len(), 5);
    assert!(!query(&c, r#"{"query": [1.0, 0.0, 0.0], "limit": 10}"#).contains(&3));
    let fruit =
        Filter::from_json_str(r#"{"must": {"key": "kind", "match": {"value": "fruit"}}}"#).unwrap();
    assert_eq!(c.delete_by_filter(&fruit), 3);
    assert_eq!(
        query(&c, r#"{"query": [0.0, 0.0, 1.0], "limit": 10}"#),
        [5, 4]
    );
}

#[test]
fn bad_points_change_nothing() {
    let mut c = collection();
    let good = PointData::dense(PointId::Num(10), vec![1.0, 1.0, 1.0], Payload::new());
    let bad = PointData::dense(PointId::Num(11), vec![1.0, 1.0], Payload::new());
    assert_eq!(
        c.upsert(vec![good.clone(), bad]).unwrap_err(),
        Error::DimensionMismatch {
            expected: 3,
            got: 2
        }
    );
    assert_eq!(c.len(), 6);
    let mut unknown = good.clone();
    unknown.vectors.insert("nope".into(), vec![1.0]);
    assert!(matches!(c.upsert(vec![unknown]), Err(Error::InvalidQuery(m)) if m.contains("nope")));
    let zero = PointData::dense(PointId::Num(12), vec![0.0; 3], Payload::new());
    assert_eq!(c.upsert(vec![zero]).unwrap_err(), Error::ZeroVector);
    // Not all zero, but its norm underflows: the same check as the index's.
    let tiny = PointData::dense(PointId::Num(13), vec![1e-30; 3], Payload::new());
    assert_eq!(c.upsert(vec![tiny]).unwrap_err(), Error::ZeroVector);
    assert!(
        c.query(
            &QueryRequest::from_json(r#"{"query": [1.0, 0.0, 0.0], "using": "other"}"#).unwrap()
        )
        .is_err()
    );
    assert_eq!(c.len(), 6);
}

#[test]
fn dropping_a_payload_index_keeps_filters_answering() {
    let mut c = collection();
    c.create_payload_index("kind", FieldSchema::Keyword)
        .unwrap();
    c.create_payload_index("n", FieldSchema::Integer).unwrap();
    let fruit =
        Filter::from_json_str(r#"{"must": {"key": "kind", "match": {"value": "fruit"}}}"#).unwrap();
    let filtered = r#"{"query": [1.0, 0.05, 0.0], "limit": 5,
        "filter": {"must": {"key": "kind", "match": {"value": "fruit"}}}}"#;
    let before = query(&c, filtered);
    assert!(c.drop_payload_index("kind"));
    assert!(!c.drop_payload_index("kind"), "already dropped");
    assert!(!c.drop_payload_index("missing"));
    assert_eq!(
        c.payload_index_fields(),
        [("n".to_string(), FieldSchema::Integer)]
    );
    // Filters on the key now scan the payloads, with the same answers.
    assert_eq!(c.count(Some(&fruit)), 3);
    assert_eq!(query(&c, filtered), before);
    // The byte format no longer carries it.
    let back = Collection::from_bytes(&c.to_bytes()).unwrap();
    assert_eq!(
        back.payload_index_fields(),
        [("n".to_string(), FieldSchema::Integer)]
    );
    assert_eq!(back.count(Some(&fruit)), 3);
}
