//! `PATCH /collections/{name}`: server tuning is accepted, index parameters
//! equal to the current ones are accepted, changes are a 400 naming the
//! field and leave the collection unchanged.

use serde_json::{Value, json};

use crate::client::{call, config, expect_error, ok, start};

#[tokio::test]
async fn collection_updates_accept_what_grape_honours_and_name_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path())).await;
    let addr = server.rest_addr();
    ok(
        addr,
        "PUT",
        "/collections/c",
        json!({"vectors": {"v": {"size": 2, "distance": "Dot", "hnsw_config": {"m": 8, "ef_construct": 64}}}}),
    )
    .await;
    let before = ok(addr, "GET", "/collections/c", Value::Null).await;
    for body in [
        json!({"optimizers_config": {"indexing_threshold": 10000}}),
        json!({"params": {"replication_factor": 1}, "metadata": {"team": "x"}}),
        json!({"hnsw_config": {"m": 8, "ef_construct": 64, "max_indexing_threads": 2}}),
        json!({"vectors": {"v": {"hnsw_config": {"m": 8}}}}),
        json!({"hnsw_config": {"m": null}, "quantization_config": null}),
    ] {
        assert_eq!(ok(addr, "PATCH", "/collections/c", body).await, true);
    }
    let cases = [
        (json!({"hnsw_config": {"m": 32}}), "hnsw_config.m"),
        (
            json!({"vectors": {"v": {"hnsw_config": {"ef_construct": 100}}}}),
            "vectors.v.hnsw_config.ef_construct",
        ),
        (
            json!({"quantization_config": {"scalar": {"type": "int8"}}}),
            "quantization_config",
        ),
        (
            json!({"vectors": {"v": {"on_disk": true}}}),
            "vectors.v.on_disk",
        ),
        (
            json!({"vectors": {"w": {"hnsw_config": {"m": 8}}}}),
            "\"w\"",
        ),
        (json!({"hnsw_config": {"mm": 8}}), "mm"),
    ];
    for (body, names) in cases {
        let r = call(addr, "PATCH", "/collections/c", &[], &body).await;
        let message = expect_error(&r, 400);
        assert!(message.contains(names), "{body}: {message}");
    }
    let r = call(addr, "PATCH", "/collections/nope", &[], &json!({})).await;
    expect_error(&r, 404);
    let after = ok(addr, "GET", "/collections/c", Value::Null).await;
    assert_eq!(after["config"], before["config"]);
    assert_eq!(
        after["config"]["params"]["vectors"]["v"]["hnsw_config"]["m"],
        8
    );
    server.stop().await.unwrap();
}
