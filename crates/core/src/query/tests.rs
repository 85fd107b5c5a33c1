//! Tests of the query tree: JSON parsing, validation and execution against a
//! mock collection with hand-computed results.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::error::{Error, Result};
use crate::payload::{Filter, PointId};
use crate::search::{Hit, SearchParams};

use super::*;

/// Five 2-d points:
///
/// | id | vector     | sparse            | title           |
/// |----|------------|-------------------|-----------------|
/// | 1  | [1, 0]     | {1: 1}            | "red apple pie" |
/// | 2  | [0.8, 0.6] | {1: 0.5, 5: 1}    | "green apple"   |
/// | 3  | [0.6, 0.8] | {5: 2}            | "red car"       |
/// | 4  | [0, 1]     | {9: 1}            | "blue sky"      |
/// | 5  | [-1, 0]    | -                 | -               |
///
/// Dense vector names: "dense" scores by dot product (higher is better),
/// "euclid" by L2 distance (lower is better). Sparse name "sparse", text
/// field "title". Every call is recorded.
struct Mock {
    points: Vec<(u64, [f32; 2])>,
    sparse: Vec<(u64, Vec<(u32, f32)>)>,
    titles: Vec<(u64, &'static str)>,
    calls: RefCell<Vec<String>>,
    /// Debug strings of the filters each search saw.
    filters_seen: RefCell<Vec<Vec<String>>>,
}

impl Mock {
    fn new() -> Self {
        Mock {
            points: vec![
                (1, [1.0, 0.0]),
                (2, [0.8, 0.6]),
                (3, [0.6, 0.8]),
                (4, [0.0, 1.0]),
                (5, [-1.0, 0.0]),
            ],
            sparse: vec![
                (1, vec![(1, 1.0)]),
                (2, vec![(1, 0.5), (5, 1.0)]),
                (3, vec![(5, 2.0)]),
                (4, vec![(9, 1.0)]),
            ],
            titles: vec![
                (1, "red apple pie"),
                (2, "green apple"),
                (3, "red car"),
                (4, "blue sky"),
            ],
            calls: RefCell::new(Vec::new()),
            filters_seen: RefCell::new(Vec::new()),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: String, filters: &[&Filter]) {
        self.calls.borrow_mut().push(call);
        self.filters_seen
            .borrow_mut()
            .push(filters.iter().map(|f| format!("{f:?}")).collect());
    }

    fn dense_score(using: Option<&str>, v: &[f32], p: &[f32; 2]) -> Result<(f32, bool)> {
        match using {
            Some("dense") | None => Ok((v[0] * p[0] + v[1] * p[1], true)),
            Some("euclid") => {
                let (a, b) = (v[0] - p[0], v[1] - p[1]);
                Ok((libm::sqrtf(a * a + b * b), false))
            }
            Some(other) => Err(Error::InvalidQuery(format!("no dense vector {other}"))),
        }
    }

    fn sparse_score(indices: &[u32], values: &[f32], doc: &[(u32, f32)]) -> Option<f32> {
        let mut score = 0.0;
        let mut overlap = false;
        for (i, v) in indices.iter().zip(values) {
            if let Some((_, d)) = doc.iter().find(|(j, _)| j == i) {
                score += v * d;
                overlap = true;
            }
        }
        overlap.then_some(score)
    }

    /// Number of query words in the title.
    fn text_score(query: &str, title: &str) -> f32 {
        query
            .split_whitespace()
            .filter(|w| title.split_whitespace().any(|t| t == *w))
            .count() as f32
    }

    fn take(mut list: ScoredList, limit: usize) -> ScoredList {
        list.sort();
        list.hits.truncate(limit);
        list
    }
}

impl QuerySource for Mock {
    fn dense(
        &self,
        _: &mut crate::Scratch,
        using: Option<&str>,
        vector: &[f32],
        filters: &[&Filter],
        params: &SearchParams,
    ) -> Result<ScoredList> {
        self.record(
            format!(
                "dense {} {vector:?} k={} ef={:?} exact={}",
                using.unwrap_or("-"),
                params.k,
                params.ef,
                params.exact
            ),
            filters,
        );
        let mut list = ScoredList::similarities(Vec::new());
        for (id, p) in &self.points {
            let (score, higher) = Self::dense_score(using, vector, p)?;
            list.higher_is_better = higher;
            list.hits.push(Hit { id: *id, score });
        }
        Ok(Self::take(list, params.k))
    }

    fn sparse(
        &self,
        using: Option<&str>,
        indices: &[u32],
        values: &[f32],
        filters: &[&Filter],
        limit: usize,
    ) -> Result<ScoredList> {
        self.record(
            format!("sparse {} limit={limit}", using.unwrap_or("-")),
            filters,
        );
        let hits = self
            .sparse
            .iter()
            .filter_map(|(id, doc)| {
                Self::sparse_score(indices, values, doc).map(|score| Hit { id: *id, score })
            })
            .collect();
        Ok(Self::take(ScoredList::similarities(hits), limit))
    }

    fn text(
        &self,
        field: Option<&str>,
        query: &str,
        filters: &[&Filter],
        limit: usize,
    ) -> Result<ScoredList> {
        self.record(
            format!("text {} {query:?} limit={limit}", field.unwrap_or("-")),
            filters,
        );
        let hits = self
            .titles
            .iter()
            .map(|(id, t)| Hit {
                id: *id,
                score: Self::text_score(query, t),
            })
            .filter(|h| h.score > 0.0)
            .collect();
        Ok(Self::take(ScoredList::similarities(hits), limit))
    }

    fn vector_of(&self, id: u64, using: Option<&str>) -> Result<StoredVector> {
        self.calls
            .borrow_mut()
            .push(format!("vector_of {id} {}", using.unwrap_or("-")));
        if using == Some("sparse") {
            return self
                .sparse
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, doc)| {
                    StoredVector::Sparse(SparseQuery {
                        indices: doc.iter().map(|p| p.0).collect(),
                        values: doc.iter().map(|p| p.1).collect(),
                    })
                })
                .ok_or(Error::UnknownId(id));
        }
        self.points
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, p)| StoredVector::Dense(p.to_vec()))
            .ok_or(Error::UnknownId(id))
    }

    fn rescore(
        &self,
        using: Option<&str>,
        query: QueryVector<'_>,
        candidates: &[u64],
    ) -> Result<ScoredList> {
        self.calls
            .borrow_mut()
            .push(format!("rescore {} {candidates:?}", using.unwrap_or("-")));
        let mut list = ScoredList::similarities(Vec::new());
        for &id in candidates {
            let score = match query {
                QueryVector::Dense(v) => {
                    let p = &self.points.iter().find(|(i, _)| *i == id).unwrap().1;
                    let (s, higher) = Self::dense_score(using, v, p)?;
                    list.higher_is_better = higher;
                    Some(s)
                }
                QueryVector::Sparse { indices, values } => self
                    .sparse
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, doc)| Self::sparse_score(indices, values, doc).unwrap_or(0.0)),
                QueryVector::Text(q) => self
                    .titles
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, t)| Self::text_score(q, t)),
            };
            if let Some(score) = score {
                list.hits.push(Hit { id, score });
            }
        }
        Ok(list)
    }
}

fn run(json: &str) -> (Vec<Hit>, Mock) {
    let mock = Mock::new();
    let request = QueryRequest::from_json(json).unwrap();
    let hits = execute(&mock, &request).unwrap();
    (hits, mock)
}

fn ids(hits: &[Hit]) -> Vec<u64> {
    hits.iter().map(|h| h.id).collect()
}

fn assert_scores(hits: &[Hit], want: &[(u64, f32)]) {
    assert_eq!(
        ids(hits),
        want.iter().map(|w| w.0).collect::<Vec<_>>(),
        "{hits:?}"
    );
    for (h, (id, s)) in hits.iter().zip(want) {
        assert!(
            (h.score - s).abs() < 1e-5,
            "score of {id}: {} vs {s}",
            h.score
        );
    }
}

fn parse_err(json: &str) -> Error {
    QueryRequest::from_json(json).unwrap_err()
}

// --- parsing ---

#[test]
fn parses_the_hybrid_request_qdrant_client_sends() {
    let r = QueryRequest::from_json(
        r#"{"prefetch":[{"query":[0.1,0.2],"using":"dense","limit":20},
            {"query":{"indices":[1,5],"values":[0.3,0.7]},"using":"sparse","limit":20}],
            "query":{"fusion":"rrf"},"limit":10}"#,
    )
    .unwrap();
    assert_eq!(r.prefetch.len(), 2);
    assert_eq!(r.prefetch[0].query, Some(Query::Dense(vec![0.1, 0.2])));
    assert_eq!(r.prefetch[0].using.as_deref(), Some("dense"));
    assert_eq!(r.prefetch[0].limit, 20);
    assert_eq!(
        r.prefetch[1].query,
        Some(Query::Sparse(SparseQuery {
            indices: vec![1, 5],
            values: vec![0.3, 0.7]
        }))
    );
    assert_eq!(r.query, Some(Query::Fusion(Fusion::rrf())));
    assert_eq!((r.limit, r.offset), (10, 0));
    // The same JSON through serde.
    let via_serde: QueryRequest = serde_json::from_str(
        r#"{"prefetch":[{"query":[0.1,0.2],"using":"dense","limit":20},
            {"query":{"indices":[1,5],"values":[0.3,0.7]},"using":"sparse","limit":20}],
            "query":{"fusion":"rrf"},"limit":10}"#,
    )
    .unwrap();
    assert_eq!(via_serde, r);
}

#[test]
fn parses_every_query_shape() {
    let q = |json: &str| {
        QueryRequest::from_json(&format!(
            r#"{{"prefetch":[{{"query":[1.0]}},{{"query":[2.0]}}],"query":{json}}}"#
        ))
        .unwrap()
        .query
        .unwrap()
    };
    assert_eq!(q("[0.5, -1]"), Query::Dense(vec![0.5, -1.0]));
    assert_eq!(q(r#"{"nearest": [0.5]}"#), Query::Dense(vec![0.5]));
    let sparse = Query::Sparse(SparseQuery {
        indices: vec![7],
        values: vec![0.5],
    });
    assert_eq!(q(r#"{"indices": [7], "values": [0.5]}"#), sparse);
    assert_eq!(
        q(r#"{"nearest": {"indices": [7], "values": [0.5]}}"#),
        sparse
    );
    assert_eq!(q("42"), Query::Id(PointId::Num(42)));
    assert_eq!(
        q(r#"{"nearest": 42, "mmr": null}"#),
        Query::Id(PointId::Num(42))
    );
    let uuid = Query::Id(PointId::Uuid(0x550e8400_e29b_41d4_a716_446655440000));
    assert_eq!(q(r#""550E8400-E29B-41D4-A716-446655440000""#), uuid);
    assert_eq!(q(r#""550e8400e29b41d4a716446655440000""#), uuid);
    assert_eq!(
        q(r#"{"text": "red apple"}"#),
        Query::Text("red apple".into())
    );
    assert_eq!(
        q(r#"{"nearest": {"text": "red", "model": "qdrant/bm25"}}"#),
        Query::Text("red".into())
    );
    assert_eq!(q(r#"{"fusion": "dbsf"}"#), Query::Fusion(Fusion::Dbsf));
    assert_eq!(q(r#"{"rrf": {}}"#), Query::Fusion(Fusion::rrf()));
    assert_eq!(
        q(r#"{"rrf": {"k": 60, "weights": [3.0, 1.0]}}"#),
        Query::Fusion(Fusion::Rrf {
            k: 60,
            weights: Some(vec![3.0, 1.0])
        })
    );
    assert_eq!(
        q(r#"{"weighted": {"weights": [0.7, 0.3]}}"#),
        Query::Fusion(Fusion::Weighted {
            weights: Some(vec![0.7, 0.3])
        })
    );
}

#[test]
fn parses_the_other_request_fields() {
    let r = QueryRequest::from_json(
        r#"{"prefetch": {"query": [1.0], "limit": 5, "filter": {"must": []},
                         "params": {"hnsw_ef": 64, "exact": false}},
            "query": null, "using": null, "filter": {"must_not": []},
            "score_threshold": 0.5, "offset": 3, "limit": 4,
            "with_payload": {"exclude": ["big"]}, "with_vector": ["dense"],
            "params": {"exact": true, "quantization": null}, "lookup_from": null}"#,
    )
    .unwrap();
    // A single prefetch object is a one-element list.
    assert_eq!(r.prefetch.len(), 1);
    assert_eq!(r.prefetch[0].limit, 5);
    assert_eq!(
        r.prefetch[0].params,
        Some(QueryParams {
            hnsw_ef: Some(64),
            exact: false,
            quantization: Default::default(),
        })
    );
    assert!(r.prefetch[0].filter.is_some());
    assert_eq!((r.query.as_ref(), r.using.as_ref()), (None, None));
    assert!(r.filter.is_some());
    assert_eq!(r.score_threshold, Some(0.5));
    assert_eq!((r.offset, r.limit), (3, 4));
    assert_eq!(
        r.with_payload,
        Some(PayloadSelector::Exclude(vec!["big".into()]))
    );
    assert_eq!(
        r.with_vector,
        Some(VectorSelector::Names(vec!["dense".into()]))
    );
    assert_eq!(r.params.map(|p| p.exact), Some(true));

    // Defaults: limit 10 at the root and in prefetches, offset 0.
    let r = QueryRequest::from_json(r#"{"prefetch": [{"query": [1.0]}], "query": [1.0]}"#).unwrap();
    assert_eq!((r.limit, r.offset, r.prefetch[0].limit), (10, 0, 10));
    assert_eq!((r.with_payload, r.with_vector), (None, None));

    // `using: ""` is Qdrant's unnamed default vector.
    let r = QueryRequest::from_json(r#"{"query": [1.0], "using": ""}"#).unwrap();
    assert_eq!(r.using, None);
}

#[test]
fn malformed_requests_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"prefetch":[{"query":[0.1],"limit":0}],"query":{"fusion":"rrf"}}"#,
            "prefetch[0].limit must be at least 1",
        ),
        (
            r#"{"prefetch":[{"query":[0.1]},{"prefetch":{"query":[1.0],"limit":0},"query":[1.0]}],"query":{"fusion":"rrf"}}"#,
            "prefetch[1].prefetch[0].limit must be at least 1",
        ),
        (r#"{"query":[1.0],"limit":0}"#, "limit must be at least 1"),
        (
            r#"{"query":[1.0],"limit":-1}"#,
            "limit: expected a non-negative integer, got -1",
        ),
        (
            r#"{"query":[1.0],"offset":1.5}"#,
            "offset: expected a non-negative integer",
        ),
        (
            r#"{"query":{"fusion":"rrf"}}"#,
            "query: fusion needs at least one prefetch",
        ),
        (
            r#"{"prefetch":[{"query":[0.1]}],"query":{"fusion":"rsf"}}"#,
            r#"query.fusion: unknown fusion "rsf""#,
        ),
        (
            r#"{"prefetch":[{"query":[0.1]},{"query":[0.2]}],"query":{"rrf":{"weights":[1.0]}}}"#,
            "query.rrf.weights has 1 entries but there are 2 prefetches",
        ),
        (
            r#"{"prefetch":[{"query":[0.1]}],"query":{"rrf":{"k":0}}}"#,
            "query.rrf.k must be at least 1",
        ),
        (
            r#"{"prefetch":[{"query":[0.1]}],"query":{"rrf":{"weights":[-1]}}}"#,
            "query.rrf.weights[0] must be a finite number not below 0",
        ),
        (
            r#"{"query":[0.1,"a"]}"#,
            "query[1]: expected a number, got a string",
        ),
        (
            r#"{"query":[1e40]}"#,
            "query[0]: 1e40 is out of range for f32",
        ),
        (r#"{"query":[]}"#, "query: the vector is empty"),
        (r#"{"query":[[0.1],[0.2]]}"#, "query: multi-vectors"),
        (
            r#"{"query":{"indices":[1,2],"values":[0.5]}}"#,
            "query.values has 1 entries but query.indices has 2",
        ),
        (
            r#"{"query":{"indices":[1,1],"values":[0.5,0.5]}}"#,
            "query.indices has index 1 more than once",
        ),
        (
            r#"{"query":{"indices":[-1],"values":[0.5]}}"#,
            "query.indices[0]: expected an integer from 0",
        ),
        (r#"{"query":{"indices":[1]}}"#, "query.values is required"),
        (r#"{"query":{"text":"  "}}"#, "query.text must not be empty"),
        (
            r#"{"query":"not-a-uuid"}"#,
            r#"query: "not-a-uuid" is not a uuid"#,
        ),
        (
            r#"{"query":-3}"#,
            "query: a point id must be an unsigned integer or a uuid",
        ),
        (
            r#"{"query":{"recommend":{"positive":[1]}}}"#,
            "query.recommend: recommend queries are not supported",
        ),
        (
            r#"{"query":{"nearest":[1.0],"mmr":{"diversity":0.5}}}"#,
            "query.mmr is not supported",
        ),
        (r#"{"query":{"foo":1}}"#, "query: unrecognised query"),
        (r#"{"query":true}"#, "query: expected a query, got a bool"),
        (r#"{"query":[1.0],"limt":5}"#, "unknown field limt"),
        (
            r#"{"prefetch":[{"query":[1.0],"offset":2}],"query":[1.0]}"#,
            "unknown field prefetch[0].offset",
        ),
        (
            r#"{"query":[1.0],"lookup_from":{"collection":"x"}}"#,
            "lookup_from is not supported",
        ),
        (
            r#"{"query":[1.0],"params":{"hnsw_ef":0}}"#,
            "params.hnsw_ef must be at least 1",
        ),
        (
            r#"{"query":[1.0],"params":{"exact":1}}"#,
            "params.exact: expected true or false",
        ),
        (
            r#"{"query":[1.0],"with_payload":5}"#,
            "with_payload: expected a bool",
        ),
        (
            r#"{"prefetch":5,"query":[1.0]}"#,
            "prefetch: expected an object or an array",
        ),
        (
            r#"{"limit":5}"#,
            "query is required when there is no prefetch",
        ),
        (
            r#"{"prefetch":[{"query":[0.1]},{"query":[0.2]}]}"#,
            "query is required to combine 2 prefetches",
        ),
        (r#"[1, 2]"#, "request: expected an object"),
        (r#"{"query": [0.1, NaN]}"#, "malformed json"),
        ("not json", "malformed json"),
    ];
    for (json, want) in cases {
        match parse_err(json) {
            Error::InvalidQuery(message) => {
                assert!(message.contains(want), "{json}: {message:?} lacks {want:?}")
            }
            other => panic!("{json}: expected InvalidQuery, got {other:?}"),
        }
    }
}

#[test]
fn malformed_filters_are_filter_errors() {
    match parse_err(r#"{"query":[1.0],"filter":5}"#) {
        Error::InvalidFilter(m) => assert!(m.starts_with("filter: "), "{m}"),
        other => panic!("{other:?}"),
    }
    match parse_err(r#"{"query":[1.0],"filter":{"must":[{"key":"a","range":{"gt":"x"}}]}}"#) {
        Error::InvalidFilter(m) => assert!(m.starts_with("filter: must[0]"), "{m}"),
        other => panic!("{other:?}"),
    }
    match parse_err(r#"{"prefetch":{"query":[1.0],"filter":[]},"query":[1.0]}"#) {
        Error::InvalidFilter(m) => assert!(m.starts_with("prefetch[0].filter"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn serde_errors_carry_the_field() {
    let e = serde_json::from_str::<QueryRequest>(r#"{"query":[1.0],"limit":0}"#).unwrap_err();
    assert!(
        e.to_string()
            .contains("invalid query: limit must be at least 1"),
        "{e}"
    );
}

// --- execution ---

#[test]
fn searches_without_prefetch() {
    // Dot with [1, 0]: 1 -> 1, 2 -> 0.8, 3 -> 0.6, 4 -> 0, 5 -> -1.
    let (hits, mock) = run(r#"{"query": [1.0, 0.0], "using": "dense", "limit": 3}"#);
    assert_scores(&hits, &[(1, 1.0), (2, 0.8), (3, 0.6)]);
    assert_eq!(
        mock.calls(),
        vec!["dense dense [1.0, 0.0] k=3 ef=None exact=false"]
    );
}

#[test]
fn nested_prefetch_then_rrf() {
    // prefetch[0]: sparse {1: 0.3, 5: 0.7}, limit 3: id 3 -> 1.4,
    //   id 2 -> 0.15 + 0.7 = 0.85, id 1 -> 0.3; then re-scored by dot with
    //   [0, 1]: 3 -> 0.8, 2 -> 0.6, 1 -> 0, cut to 2: [3, 2]. Point 4 would
    //   score 1 but is no candidate.
    // prefetch[1]: dot with [1, 0], limit 3: [1, 2, 3].
    // RRF (k = 2): 3: 1/2 + 1/4 = 0.75; 2: 1/3 + 1/3 = 0.666667; 1: 1/2.
    let (hits, mock) = run(r#"{"prefetch": [
              {"prefetch": [{"query": {"indices": [1, 5], "values": [0.3, 0.7]},
                             "using": "sparse", "limit": 3}],
               "query": [0.0, 1.0], "using": "dense", "limit": 2},
              {"query": [1.0, 0.0], "using": "dense", "limit": 3}],
            "query": {"fusion": "rrf"}, "limit": 3}"#);
    assert_scores(&hits, &[(3, 0.75), (2, 2.0 / 3.0), (1, 0.5)]);
    assert_eq!(
        mock.calls(),
        vec![
            "sparse sparse limit=3",
            "rescore dense [1, 2, 3]",
            "dense dense [1.0, 0.0] k=3 ef=None exact=false",
        ]
    );
}

#[test]
fn rrf_parameters_reach_the_fusion() {
    // Lists [1, 2, 3] (dot [1, 0]) and [4, 3, 2] (dot [0, 1]), weights
    // [1, 3], k = 2: 1 / ((pos + 1) / w + 1).
    // List 0 (w 1): 1 -> 1/2, 2 -> 1/3, 3 -> 1/4.
    // List 1 (w 3): 4 -> 1/(1/3 + 1) = 0.75, 3 -> 1/(2/3 + 1) = 0.6,
    //               2 -> 1/(1 + 1) = 0.5.
    // 3: 0.25 + 0.6 = 0.85; 2: 1/3 + 0.5 = 0.833333; 4: 0.75; 1: 0.5.
    let (hits, _) = run(r#"{"prefetch": [{"query": [1.0, 0.0], "limit": 3},
                         {"query": [0.0, 1.0], "limit": 3}],
            "query": {"rrf": {"k": 2, "weights": [1.0, 3.0]}}}"#);
    assert_scores(&hits, &[(3, 0.85), (2, 0.833333), (4, 0.75), (1, 0.5)]);
}

#[test]
fn dbsf_flips_distance_lists() {
    // prefetch[0]: dot with [1, 0]: 1 -> 1, 2 -> 0.8, 3 -> 0.6; mean 0.8,
    //   sd 0.2, lower 0.2, range 1.2: 1 -> 0.666667, 2 -> 0.5, 3 -> 0.333333.
    // prefetch[1]: L2 to [1, 0]: 1 -> 0, 2 -> sqrt 0.4 = 0.632456,
    //   3 -> sqrt 0.8 = 0.894427; negated mean -0.508961, sd 0.459824,
    //   lower -1.888433, range 2.758945: 1 -> 0.684477, 2 -> 0.455238,
    //   3 -> 0.360285.
    // Sums: 1 -> 1.351143, 2 -> 0.955238, 3 -> 0.693618. (Without the
    // flip, 2 would come first.)
    let (hits, _) = run(
        r#"{"prefetch": [{"query": [1.0, 0.0], "using": "dense", "limit": 3},
                         {"query": [1.0, 0.0], "using": "euclid", "limit": 3}],
            "query": {"fusion": "dbsf"}}"#,
    );
    assert_scores(&hits, &[(1, 1.351143), (2, 0.955238), (3, 0.693618)]);
}

#[test]
fn weighted_fusion_in_the_tree() {
    // Dot [1, 0] top 3: 1, 0.8, 0.6 -> min-max 1, 0.5, 0.
    // Text "red" on titles: 1 -> 1, 3 -> 1 (equal scores: both 1).
    // Weights [0.5, 1]: 1 -> 0.5 + 1 = 1.5, 3 -> 0 + 1 = 1, 2 -> 0.25.
    let (hits, _) = run(r#"{"prefetch": [{"query": [1.0, 0.0], "limit": 3},
                         {"query": {"text": "red"}, "using": "title"}],
            "query": {"weighted": {"weights": [0.5, 1.0]}}}"#);
    assert_scores(&hits, &[(1, 1.5), (3, 1.0), (2, 0.25)]);
}

#[test]
fn vector_query_rescores_the_union_of_prefetches() {
    // Candidates: text "apple" -> {1, 2}; dot [0, 1] top 1 -> {4}.
    // Union {1, 2, 4} re-scored by L2 to [0, 1]: 4 -> 0,
    // 2 -> sqrt(0.64 + 0.16) = 0.894427, 1 -> sqrt 2 = 1.414214.
    // Point 3 (L2 sqrt 0.4 = 0.632) is closer than 2 but no candidate.
    let (hits, mock) = run(
        r#"{"prefetch": [{"query": {"text": "apple"}, "using": "title"},
                         {"query": [0.0, 1.0], "limit": 1}],
            "query": [0.0, 1.0], "using": "euclid", "limit": 10}"#,
    );
    assert_scores(
        &hits,
        &[(4, 0.0), (2, 0.894427), (1, core::f32::consts::SQRT_2)],
    );
    assert_eq!(
        mock.calls(),
        vec![
            r#"text title "apple" limit=10"#,
            "dense - [0.0, 1.0] k=1 ef=None exact=false",
            "rescore euclid [1, 2, 4]",
        ]
    );
}

#[test]
fn text_query_searches_the_named_field() {
    // "red apple": 1 -> 2 words, 2 -> 1, 3 -> 1 (tie: lower id first).
    let (hits, mock) = run(r#"{"query": {"text": "red apple"}, "using": "title"}"#);
    assert_scores(&hits, &[(1, 2.0), (2, 1.0), (3, 1.0)]);
    assert_eq!(mock.calls(), vec![r#"text title "red apple" limit=10"#]);
}

#[test]
fn score_threshold_is_strict_for_similarities() {
    // Dot [1, 0]: 1 -> 1, 2 -> 0.8, 3 -> 0.6, 4 -> 0, 5 -> -1.
    // Threshold 0.6: 3 scores exactly 0.6 and is excluded.
    let (hits, _) = run(r#"{"query": [1.0, 0.0], "score_threshold": 0.6}"#);
    assert_eq!(ids(&hits), vec![1, 2]);
    let (hits, _) = run(r#"{"query": [1.0, 0.0], "score_threshold": 0.0}"#);
    assert_eq!(ids(&hits), vec![1, 2, 3]);
}

#[test]
fn score_threshold_is_strict_for_distances() {
    // L2 to [1, 0]: 1 -> 0, 2 -> 0.632, 3 -> 0.894, 4 -> 1.414, 5 -> 2.
    // Lower is better: threshold 2 keeps those below 2, not 5 (exactly 2).
    let (hits, _) = run(r#"{"query": [1.0, 0.0], "using": "euclid", "score_threshold": 2.0}"#);
    assert_eq!(ids(&hits), vec![1, 2, 3, 4]);
    let (hits, _) = run(r#"{"query": [1.0, 0.0], "using": "euclid", "score_threshold": 0.0}"#);
    assert!(hits.is_empty());
    // In a prefetch too: threshold 1 keeps 1, 2, 3.
    let (hits, _) = run(
        r#"{"prefetch": {"query": [1.0, 0.0], "using": "euclid", "score_threshold": 1.0},
            "query": {"fusion": "rrf"}}"#,
    );
    assert_eq!(ids(&hits), vec![1, 2, 3]);
}

#[test]
fn score_threshold_applies_to_fused_scores() {
    // Single list [1, 2, 3, 4, 5] under RRF: 1/2, 1/3, 1/4, 1/5, 1/6.
    // Threshold 0.25 (exact in f32): 3 scores exactly 1/4 and is dropped.
    let (hits, _) = run(r#"{"prefetch": {"query": [1.0, 0.0], "limit": 5},
            "query": {"fusion": "rrf"}, "score_threshold": 0.25}"#);
    assert_scores(&hits, &[(1, 0.5), (2, 1.0 / 3.0)]);
}

#[test]
fn offset_skips_after_fetching_offset_plus_limit() {
    // Dot [1, 0]: [1, 2, 3, 4, 5]; offset 1, limit 2 -> [2, 3], fetched 3.
    let (hits, mock) = run(r#"{"query": [1.0, 0.0], "offset": 1, "limit": 2}"#);
    assert_eq!(ids(&hits), vec![2, 3]);
    assert_eq!(
        mock.calls(),
        vec!["dense - [1.0, 0.0] k=3 ef=None exact=false"]
    );
    // Offset past the end: nothing.
    let (hits, _) = run(r#"{"query": [1.0, 0.0], "offset": 5, "limit": 2}"#);
    assert!(hits.is_empty());
    // With fusion the offset applies to the fused list: RRF of one list is
    // that list; offset 2 limit 2 -> [3, 4].
    let (hits, _) = run(r#"{"prefetch": {"query": [1.0, 0.0], "limit": 5},
            "query": {"fusion": "rrf"}, "offset": 2, "limit": 2}"#);
    assert_eq!(ids(&hits), vec![3, 4]);
}

#[test]
fn prefetch_limit_caps_what_it_passes_up() {
    // The prefetch keeps 2 of dot [1, 0]: {1, 2}; re-scored by dot [0, 1]:
    // 2 -> 0.6, 1 -> 0 even though the root limit is 10.
    let (hits, _) = run(r#"{"prefetch": {"query": [1.0, 0.0], "limit": 2}, "query": [0.0, 1.0]}"#);
    assert_scores(&hits, &[(2, 0.6), (1, 0.0)]);
}

#[test]
fn single_prefetch_without_query_passes_through() {
    let (hits, _) = run(r#"{"prefetch": {"query": [1.0, 0.0], "limit": 3}, "limit": 2}"#);
    assert_scores(&hits, &[(1, 1.0), (2, 0.8)]);
}

#[test]
fn filters_apply_to_every_leaf_with_their_ancestors() {
    let json = r#"{"filter": {"must": [{"key": "a", "match": {"value": 1}}]},
        "prefetch": [
          {"filter": {"must": [{"key": "b", "match": {"value": 2}}]},
           "prefetch": {"query": [1.0, 0.0], "filter": {"must_not": [{"has_id": [9]}]}},
           "query": {"fusion": "rrf"}},
          {"query": {"indices": [1], "values": [1.0]}}],
        "query": {"fusion": "dbsf"}}"#;
    let request = QueryRequest::from_json(json).unwrap();
    let mock = Mock::new();
    execute(&mock, &request).unwrap();
    let show = |f: &Filter| format!("{f:?}");
    let root = show(request.filter.as_ref().unwrap());
    let middle = show(request.prefetch[0].filter.as_ref().unwrap());
    let leaf = show(request.prefetch[0].prefetch[0].filter.as_ref().unwrap());
    assert_eq!(
        *mock.filters_seen.borrow(),
        vec![vec![root.clone(), middle, leaf], vec![root]]
    );
}

#[test]
fn search_params_reach_the_dense_search() {
    let (_, mock) = run(
        r#"{"prefetch": {"query": [1.0, 0.0], "limit": 4, "params": {"hnsw_ef": 64, "exact": true}},
            "query": {"fusion": "rrf"}}"#,
    );
    assert_eq!(
        mock.calls(),
        vec!["dense - [1.0, 0.0] k=4 ef=Some(64) exact=true"]
    );
}

#[test]
fn nearest_by_id_uses_the_stored_vector_and_excludes_the_point() {
    // Point 2 is [0.8, 0.6]; dot: 2 -> 1 (itself, excluded), 3 -> 0.96,
    // 1 -> 0.8, 4 -> 0.6, 5 -> -0.8. Limit 2 -> [3, 1]; the search fetches
    // 3 to make up for the excluded point.
    let (hits, mock) = run(r#"{"query": 2, "using": "dense", "limit": 2}"#);
    assert_scores(&hits, &[(3, 0.96), (1, 0.8)]);
    assert_eq!(
        mock.calls(),
        vec![
            "vector_of 2 dense",
            "dense dense [0.8, 0.6] k=3 ef=None exact=false"
        ]
    );
    // Sparse by id: point 2 is {1: 0.5, 5: 1}: 3 -> 2, 1 -> 0.5, (2 itself
    // 1.25, excluded).
    let (hits, _) = run(r#"{"query": {"nearest": 2}, "using": "sparse"}"#);
    assert_scores(&hits, &[(3, 2.0), (1, 0.5)]);
    // Referenced ids are excluded everywhere, including other prefetches:
    // dot [1, 0] would rank 1 first, RRF leaves it out.
    let (hits, _) = run(
        r#"{"prefetch": [{"query": [1.0, 0.0], "limit": 2}, {"query": 1, "limit": 2}],
            "query": {"fusion": "rrf"}}"#,
    );
    assert!(!ids(&hits).contains(&1), "{hits:?}");
    // An unknown id is the source's error.
    let mock = Mock::new();
    let request = QueryRequest::from_json(r#"{"query": 77}"#).unwrap();
    assert_eq!(execute(&mock, &request), Err(Error::UnknownId(77)));
}

#[test]
fn uuids_need_a_resolving_source() {
    let mock = Mock::new();
    let request =
        QueryRequest::from_json(r#"{"query": "550e8400-e29b-41d4-a716-446655440000"}"#).unwrap();
    let e = execute(&mock, &request).unwrap_err();
    assert!(
        matches!(e, Error::InvalidQuery(ref m) if m.contains("uuid")),
        "{e:?}"
    );
    assert!(mock.calls().is_empty());
}

#[test]
fn execute_validates_built_requests_before_searching() {
    let mock = Mock::new();
    let request = QueryRequest::nearest(vec![1.0, f32::NAN], 3);
    assert_eq!(
        execute(&mock, &request),
        Err(Error::InvalidQuery(
            "query[1] is not a finite number (NaN)".into()
        ))
    );
    let request = QueryRequest {
        prefetch: vec![Prefetch {
            query: Some(Query::Sparse(SparseQuery {
                indices: vec![1],
                values: vec![f32::INFINITY],
            })),
            ..Prefetch::default()
        }],
        query: Some(Query::Fusion(Fusion::Dbsf)),
        ..QueryRequest::default()
    };
    assert_eq!(
        execute(&mock, &request),
        Err(Error::InvalidQuery(
            "prefetch[0].query.values[0] is not a finite number (inf)".into()
        ))
    );
    assert!(mock.calls().is_empty());
}
