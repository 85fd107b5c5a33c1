//! Generated collections and helpers shared by the tests.

use grape_core::PointData;
use grape_core::payload::{Payload, PointId};
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};
use grape_db::{Database, DbOptions, Record};
use serde_json::{Value, json};

pub const DIM: usize = 8;

/// A collection with a dense cosine vector, a sparse vector and a text field.
pub fn config() -> Value {
    json!({
        "vectors": {"size": DIM, "distance": "Cosine"},
        "sparse_vectors": {"s": {}},
        "text_fields": {"text": {}}
    })
}

/// Deterministic test data from the core's seeded generator.
pub struct Gen(grape_core::Rng);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen(grape_core::Rng::new(seed))
    }

    pub fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub fn float(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    pub fn vector(&mut self) -> Vec<f32> {
        (0..DIM).map(|_| self.float()).collect()
    }
}

pub fn payload(v: Value) -> Payload {
    v.as_object().expect("an object").clone()
}

const WORDS: [&str; 8] = [
    "apple", "river", "stone", "cloud", "green", "light", "north", "paper",
];

/// Point `i` of a generated set: integer ids, and every fifth a UUID.
pub fn point(g: &mut Gen, i: u64) -> PointData {
    let id = if i % 5 == 4 {
        PointId::Uuid(0x1000_0000_0000_0000_0000_0000_0000_0000 + u128::from(i))
    } else {
        PointId::Num(i)
    };
    let text = format!(
        "{} {} {}",
        WORDS[(i % 8) as usize],
        WORDS[((i / 8) % 8) as usize],
        WORDS[(g.next() % 8) as usize]
    );
    let mut p = PointData::dense(
        id,
        g.vector(),
        payload(json!({"i": i, "group": i % 3, "text": text})),
    );
    let a = (g.next() % 50) as u32;
    p.sparse.insert(
        "s".into(),
        grape_core::SparseVector::new(
            vec![a, a + 1 + (i % 7) as u32],
            vec![0.5, 1.0 + i as f32 / 100.0],
        )
        .unwrap(),
    );
    p
}

pub fn points(seed: u64, range: std::ops::Range<u64>) -> Vec<PointData> {
    let mut g = Gen::new(seed);
    range.map(|i| point(&mut g, i)).collect()
}

pub fn open(dir: &std::path::Path) -> Database {
    Database::open(dir, DbOptions::default()).expect("open")
}

/// Every point of the collection with payload and vectors, in id order.
pub fn full_scroll(db: &Database, name: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut from = None;
    loop {
        let (page, next) = db
            .scroll(
                name,
                None,
                from,
                97,
                &PayloadSelector::All(true),
                &VectorSelector::All(true),
            )
            .expect("scroll");
        out.extend(page);
        match next {
            Some(n) => from = Some(n),
            None => return out,
        }
    }
}

/// Ids and scores of a few queries: dense, sparse, text, hybrid, filtered.
pub fn answers(db: &Database, name: &str) -> Vec<Vec<(PointId, f32)>> {
    let mut g = Gen::new(99);
    let mut requests = Vec::new();
    for _ in 0..5 {
        requests.push(QueryRequest::nearest(g.vector(), 10));
    }
    requests.push(
        QueryRequest::from_value(&json!({"query": {"indices": [3, 4, 10], "values": [1.0, 0.5, 0.2]}, "using": "s", "limit": 10}))
            .unwrap(),
    );
    // BM25 scores tie often on generated text, and ties rank by the
    // point's internal offset, which a rebuild renumbers: ask for every
    // match and compare the lists sorted by score, then id.
    requests.push(
        QueryRequest::from_value(
            &json!({"query": {"text": "river stone"}, "using": "text", "limit": 1000}),
        )
        .unwrap(),
    );
    requests.push(
        QueryRequest::from_value(&json!({
            "prefetch": [
                {"query": g.vector(), "limit": 20},
                {"query": {"indices": [5, 6], "values": [1.0, 0.5]}, "using": "s", "limit": 20}
            ],
            "query": {"fusion": "rrf"},
            "filter": {"must": [{"key": "group", "match": {"value": 1}}]},
            "limit": 10
        }))
        .unwrap(),
    );
    requests
        .iter()
        .map(|r| {
            let mut hits: Vec<(PointId, f32)> = db
                .query(name, r)
                .expect("query")
                .into_iter()
                .map(|h| (h.id, h.score))
                .collect();
            hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            hits
        })
        .collect()
}

/// Asserts two lists of records are equal, vectors within a tolerance.
pub fn assert_same_records(a: &[Record], b: &[Record]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.id, y.id);
        assert_eq!(x.payload, y.payload, "payload of {}", x.id);
        let (vx, vy) = (x.vectors.as_ref().unwrap(), y.vectors.as_ref().unwrap());
        assert_eq!(vx.sparse, vy.sparse, "sparse of {}", x.id);
        assert_eq!(
            vx.dense.keys().collect::<Vec<_>>(),
            vy.dense.keys().collect::<Vec<_>>()
        );
        for (k, v) in &vx.dense {
            let w = &vy.dense[k];
            assert!(
                v.iter().zip(w).all(|(p, q)| (p - q).abs() < 1e-5),
                "vector {k:?} of {}",
                x.id
            );
        }
    }
}
