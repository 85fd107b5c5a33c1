//! Qdrant's legacy search and recommend endpoints, batches, and Grape's
//! text query, over REST.

use serde_json::{Value, json};

use crate::client::{call, config, expect_error, ok, start};

fn ids(hits: &Value) -> Vec<u64> {
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn legacy_search_recommend_and_text_queries() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path())).await;
    let addr = server.rest_addr();
    ok(
        addr,
        "PUT",
        "/collections/c",
        json!({
            "vectors": {"v": {"size": 2, "distance": "Euclid"}},
            "text_fields": {"body": {}}
        }),
    )
    .await;
    let docs = [
        "red apples and pears",
        "green apples",
        "a red car",
        "blue sky",
    ];
    let points: Vec<_> = docs
        .iter()
        .enumerate()
        .map(
            |(i, d)| json!({"id": i + 1, "vector": {"v": [i as f32, 0.0]}, "payload": {"body": d}}),
        )
        .collect();
    ok(
        addr,
        "PUT",
        "/collections/c/points?wait=true",
        json!({"points": points}),
    )
    .await;

    // Legacy search with a named vector: Euclid scores ascend.
    let hits = ok(
        addr,
        "POST",
        "/collections/c/points/search",
        json!({"vector": {"name": "v", "vector": [0.9, 0.0]}, "limit": 2, "with_payload": true}),
    )
    .await;
    assert_eq!(ids(&hits), [2, 1]);
    assert_eq!(hits[0]["payload"]["body"], "green apples");
    assert!(hits[0]["score"].as_f64().unwrap() < hits[1]["score"].as_f64().unwrap());
    let batch = ok(
        addr,
        "POST",
        "/collections/c/points/search/batch",
        json!({"searches": [
            {"vector": {"name": "v", "vector": [3.0, 0.0]}, "limit": 1},
            {"vector": {"name": "v", "vector": [0.0, 0.0]}, "limit": 1, "offset": 1}
        ]}),
    )
    .await;
    assert_eq!(ids(&batch[0]), [4]);
    assert_eq!(ids(&batch[1]), [2]);
    assert_eq!(
        batch[0][0]["payload"],
        Value::Null,
        "payload is off by default"
    );

    // Recommend: 2·avg(positive) − avg(negative), examples excluded.
    // positive [2, 0] (id 3), negative [0, 0] (id 1): query [4, 0].
    let hits = ok(
        addr,
        "POST",
        "/collections/c/points/recommend",
        json!({"positive": [3], "negative": [1], "using": "v", "limit": 2}),
    )
    .await;
    assert_eq!(ids(&hits), [4, 2]);
    let r = call(
        addr,
        "POST",
        "/collections/c/points/recommend",
        &[],
        &json!({"positive": [3], "using": "v", "strategy": "best_score"}),
    )
    .await;
    expect_error(&r, 501);
    let r = call(
        addr,
        "POST",
        "/collections/c/points/recommend",
        &[],
        &json!({"positive": [99], "using": "v"}),
    )
    .await;
    expect_error(&r, 404);

    // Grape's BM25 text query, alone and fused with a vector search.
    let res = ok(
        addr,
        "POST",
        "/collections/c/points/query",
        json!({"query": {"text": "red apples"}, "using": "body", "limit": 3}),
    )
    .await;
    assert_eq!(ids(&res["points"])[0], 1);
    let res = ok(
        addr,
        "POST",
        "/collections/c/points/query/batch",
        json!({"searches": [
            {"prefetch": [
                {"query": {"text": "car"}, "using": "body", "limit": 5},
                {"query": [2.0, 0.0], "using": "v", "limit": 5}
             ],
             "query": {"fusion": "rrf"}, "limit": 1},
            {"query": {"nearest": [0.0, 0.0]}, "using": "v", "limit": 1}
        ]}),
    )
    .await;
    assert_eq!(ids(&res[0]["points"]), [3]);
    assert_eq!(ids(&res[1]["points"]), [1]);
    let r = call(
        addr,
        "POST",
        "/collections/c/points/query",
        &[],
        &json!({"query": [1.0, 0.0], "using": "v", "limt": 3}),
    )
    .await;
    let message = expect_error(&r, 400);
    assert!(message.contains("limt"), "{message}");
    server.stop().await.unwrap();
}
