//! Bad input: the right status, Qdrant's error shape, data unchanged.

use serde_json::json;

use crate::client::{all_points, call, config, expect_error, ok, raw, start};

#[tokio::test]
async fn bad_requests_get_qdrant_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_request_bytes = 4096;
    let server = start(cfg).await;
    let addr = server.rest_addr();
    ok(
        addr,
        "PUT",
        "/collections/docs",
        json!({"vectors": {"size": 3, "distance": "Cosine"}}),
    )
    .await;
    ok(
        addr,
        "PUT",
        "/collections/docs/points?wait=true",
        json!({"points": [
            {"id": 1, "vector": [1.0, 0.0, 0.0], "payload": {"color": "red"}},
            {"id": 2, "vector": [0.0, 1.0, 0.0], "payload": {"color": "blue"}},
        ]}),
    )
    .await;
    let before = all_points(addr, "docs").await;
    assert_eq!(before.as_array().unwrap().len(), 2);
    let upsert = "/collections/docs/points?wait=true";

    // Malformed JSON.
    let r = raw(addr, "PUT", upsert, &[], b"{\"points\": [").await;
    expect_error(&r, 400);
    // A NaN literal is not JSON.
    let r = raw(
        addr,
        "PUT",
        upsert,
        &[],
        b"{\"points\": [{\"id\": 1, \"vector\": [NaN, 0, 0]}]}",
    )
    .await;
    expect_error(&r, 400);
    // Wrong dimension, in the second point of a batch: nothing is written.
    let r = call(
        addr,
        "PUT",
        upsert,
        &[],
        &json!({"points": [
            {"id": 1, "vector": [0.0, 0.0, 1.0], "payload": {"color": "green"}},
            {"id": 3, "vector": [1.0, 0.0]},
        ]}),
    )
    .await;
    let message = expect_error(&r, 400);
    assert!(message.contains("dimension"), "{message}");
    // A zero vector under cosine.
    let r = call(
        addr,
        "PUT",
        upsert,
        &[],
        &json!({"points": [{"id": 4, "vector": [0.0, 0.0, 0.0]}]}),
    )
    .await;
    expect_error(&r, 400);
    // Unknown collection.
    let r = call(
        addr,
        "PUT",
        "/collections/nope/points?wait=true",
        &[],
        &json!({"points": [{"id": 1, "vector": [1.0, 0.0, 0.0]}]}),
    )
    .await;
    let message = expect_error(&r, 404);
    assert!(message.contains("nope"), "{message}");
    let r = call(addr, "GET", "/collections/nope", &[], &json!(null)).await;
    expect_error(&r, 404);
    // Oversized body.
    let big: Vec<f32> = vec![0.5; 2000];
    let r = call(
        addr,
        "PUT",
        upsert,
        &[],
        &json!({"points": [{"id": 9, "vector": big}]}),
    )
    .await;
    expect_error(&r, 413);
    // A bad filter in a delete deletes nothing.
    let r = call(
        addr,
        "POST",
        "/collections/docs/points/delete?wait=true",
        &[],
        &json!({"filter": {"must": [{"key": "color", "matc": {"value": "red"}}]}}),
    )
    .await;
    let message = expect_error(&r, 400);
    assert!(message.contains("matc"), "{message}");
    // A bad filter in a search.
    let r = call(
        addr,
        "POST",
        "/collections/docs/points/query",
        &[],
        &json!({"query": [1.0, 0.0, 0.0], "filter": {"must": [{"key": "color", "range": {"gt": "x"}}]}}),
    )
    .await;
    expect_error(&r, 400);
    // A query vector with the wrong dimension.
    let r = call(
        addr,
        "POST",
        "/collections/docs/points/query",
        &[],
        &json!({"query": [1.0, 0.0]}),
    )
    .await;
    expect_error(&r, 400);
    // A batch whose second operation is invalid applies none of them.
    let r = call(
        addr,
        "POST",
        "/collections/docs/points/batch?wait=true",
        &[],
        &json!({"operations": [
            {"delete": {"points": [1]}},
            {"set_payload": {"payload": "not an object", "points": [2]}},
        ]}),
    )
    .await;
    expect_error(&r, 400);
    // Creating an existing collection is a conflict.
    let r = call(
        addr,
        "PUT",
        "/collections/docs",
        &[],
        &json!({"vectors": {"size": 5, "distance": "Dot"}}),
    )
    .await;
    expect_error(&r, 409);

    assert_eq!(all_points(addr, "docs").await, before);
    let info = ok(addr, "GET", "/collections/docs", json!(null)).await;
    assert_eq!(info["points_count"], 2);
    assert_eq!(info["config"]["params"]["vectors"]["size"], 3);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_and_points_are_404_and_deleting_a_missing_collection_is_false() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path())).await;
    let addr = server.rest_addr();
    let r = call(addr, "GET", "/no/such/route", &[], &json!(null)).await;
    expect_error(&r, 404);
    assert_eq!(
        ok(addr, "DELETE", "/collections/ghost", json!(null)).await,
        false
    );
    ok(
        addr,
        "PUT",
        "/collections/c",
        json!({"vectors": {"size": 2, "distance": "Dot"}}),
    )
    .await;
    let r = call(addr, "GET", "/collections/c/points/7", &[], &json!(null)).await;
    expect_error(&r, 404);
    server.stop().await.unwrap();
}
