//! Payload indexes over REST: create, delete, and what survives a restart.

use serde_json::{Value, json};

use crate::client::{call, config, expect_error, ok, start};

fn schema_fields(info: &Value) -> Vec<String> {
    let mut keys: Vec<String> = info["payload_schema"]
        .as_object()
        .expect("payload_schema is an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn deleting_a_payload_index_keeps_filters_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path())).await;
    let addr = server.rest_addr();
    ok(
        addr,
        "PUT",
        "/collections/c",
        json!({"vectors": {"size": 2, "distance": "Dot"}}),
    )
    .await;
    let points: Vec<_> = (0..10)
        .map(|i| json!({"id": i, "vector": [1.0, i as f32], "payload": {"kind": if i % 2 == 0 {"even"} else {"odd"}, "n": i}}))
        .collect();
    ok(
        addr,
        "PUT",
        "/collections/c/points?wait=true",
        json!({"points": points}),
    )
    .await;
    for (field, schema) in [("kind", "keyword"), ("n", "integer")] {
        ok(
            addr,
            "PUT",
            "/collections/c/index?wait=true",
            json!({"field_name": field, "field_schema": schema}),
        )
        .await;
    }
    let info = ok(addr, "GET", "/collections/c", Value::Null).await;
    assert_eq!(schema_fields(&info), ["kind", "n"]);

    let r = ok(
        addr,
        "DELETE",
        "/collections/c/index/kind?wait=true",
        Value::Null,
    )
    .await;
    assert_eq!(r["status"], "completed");
    let info = ok(addr, "GET", "/collections/c", Value::Null).await;
    assert_eq!(schema_fields(&info), ["n"]);
    // A field without an index: still an UpdateResult (Qdrant's answer).
    let r = ok(addr, "DELETE", "/collections/c/index/kind", Value::Null).await;
    assert_eq!(r["status"], "acknowledged");

    // Filters on the dropped key scan the payloads instead.
    let even =
        json!({"filter": {"must": [{"key": "kind", "match": {"value": "even"}}]}, "exact": true});
    let count = ok(addr, "POST", "/collections/c/points/count", even.clone()).await;
    assert_eq!(count["count"], 5);

    // Errors: unknown collection 404, a malformed key 400; nothing changes.
    let r = call(
        addr,
        "DELETE",
        "/collections/nope/index/kind",
        &[],
        &Value::Null,
    )
    .await;
    expect_error(&r, 404);
    let r = call(
        addr,
        "DELETE",
        "/collections/c/index/a[[",
        &[],
        &Value::Null,
    )
    .await;
    let message = expect_error(&r, 400);
    assert!(message.contains("a[["), "{message}");
    let info = ok(addr, "GET", "/collections/c", Value::Null).await;
    assert_eq!(schema_fields(&info), ["n"]);

    server.stop().await.unwrap();
    let server = start(config(dir.path())).await;
    let addr = server.rest_addr();
    let info = ok(addr, "GET", "/collections/c", Value::Null).await;
    assert_eq!(schema_fields(&info), ["n"]);
    let count = ok(addr, "POST", "/collections/c/points/count", even).await;
    assert_eq!(count["count"], 5);
    server.stop().await.unwrap();
}
