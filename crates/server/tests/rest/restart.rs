//! Stopping and starting the server on the same directory keeps every
//! write acknowledged with `wait=true`; metrics count requests per route.

use serde_json::json;

use crate::client::{all_points, call, config, ok, start};

#[tokio::test]
async fn acknowledged_writes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path())).await;
    let addr = server.rest_addr();
    ok(
        addr,
        "PUT",
        "/collections/docs",
        json!({"vectors": {"size": 4, "distance": "Euclid"}}),
    )
    .await;
    let points: Vec<_> = (0..300u64)
        .map(|i| {
            let x = i as f32;
            json!({"id": i, "vector": [x, x * 0.5, 1.0, -x], "payload": {"i": i, "even": i % 2 == 0}})
        })
        .collect();
    ok(
        addr,
        "PUT",
        "/collections/docs/points?wait=true",
        json!({"points": points}),
    )
    .await;
    ok(
        addr,
        "POST",
        "/collections/docs/points/delete?wait=true",
        json!({"filter": {"must": [{"key": "even", "match": {"value": false}}]}}),
    )
    .await;
    ok(
        addr,
        "POST",
        "/collections/docs/points/payload?wait=true",
        json!({"payload": {"tag": "kept"}, "points": [0, 2]}),
    )
    .await;
    ok(
        addr,
        "POST",
        "/collections/aliases",
        json!({"actions": [{"create_alias": {"collection_name": "docs", "alias_name": "latest"}}]}),
    )
    .await;
    let before = all_points(addr, "docs").await;
    assert_eq!(before.as_array().unwrap().len(), 150);

    let metrics = call(addr, "GET", "/metrics", &[], &json!(null)).await;
    let text = metrics.body.as_str().unwrap().to_string();
    assert!(
        text.contains(
            "grape_rest_requests_total{method=\"PUT\",route=\"/collections/{collection_name}/points\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("grape_collection_points{collection=\"docs\"} 150"),
        "{text}"
    );
    assert!(
        text.contains("grape_rest_request_duration_seconds_count"),
        "{text}"
    );

    server.stop().await.unwrap();

    let server = start(config(dir.path())).await;
    let addr = server.rest_addr();
    assert_eq!(all_points(addr, "docs").await, before);
    let p = ok(addr, "GET", "/collections/latest/points/2", json!(null)).await;
    assert_eq!(p["payload"], json!({"i": 2, "even": true, "tag": "kept"}));
    let hits = ok(
        addr,
        "POST",
        "/collections/latest/points/query",
        json!({"query": [10.0, 5.0, 1.0, -10.0], "limit": 1}),
    )
    .await;
    assert_eq!(hits["points"][0]["id"], 10);
    server.stop().await.unwrap();
}
