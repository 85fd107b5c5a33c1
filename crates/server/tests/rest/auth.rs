//! API keys: 401 without or with a wrong key, 403 for the read-only key on
//! a write (which changes nothing), health checks open.

use serde_json::json;

use crate::client::{call, config, expect_error, start};

#[tokio::test]
async fn keys_gate_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.api_key = Some("full-secret".into());
    cfg.read_only_api_key = Some("read-secret".into());
    let server = start(cfg).await;
    let addr = server.rest_addr();
    let full = [("api-key", "full-secret")];
    let bearer = [("Authorization", "Bearer full-secret")];
    let reader = [("api-key", "read-secret")];

    let create = json!({"vectors": {"size": 2, "distance": "Dot"}});
    let r = call(addr, "PUT", "/collections/c", &[], &create).await;
    expect_error(&r, 401);
    let r = call(
        addr,
        "PUT",
        "/collections/c",
        &[("api-key", "full-secreT")],
        &create,
    )
    .await;
    expect_error(&r, 401);
    let r = call(addr, "PUT", "/collections/c", &reader, &create).await;
    expect_error(&r, 403);
    let r = call(addr, "GET", "/collections/c/exists", &full, &json!(null)).await;
    assert_eq!(
        r.body["result"]["exists"], false,
        "rejected writes created nothing"
    );

    let r = call(addr, "PUT", "/collections/c", &bearer, &create).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let points = json!({"points": [{"id": 1, "vector": [1.0, 2.0]}]});
    let r = call(
        addr,
        "PUT",
        "/collections/c/points?wait=true",
        &full,
        &points,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // The read-only key reads, including the POST reads, but cannot write.
    let r = call(addr, "GET", "/collections", &reader, &json!(null)).await;
    assert_eq!(r.status, 200);
    let r = call(
        addr,
        "POST",
        "/collections/c/points/query",
        &reader,
        &json!({"query": [1.0, 0.0]}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["result"]["points"][0]["id"], 1);
    let r = call(
        addr,
        "POST",
        "/collections/c/points/delete?wait=true",
        &reader,
        &json!({"points": [1]}),
    )
    .await;
    expect_error(&r, 403);
    let r = call(
        addr,
        "POST",
        "/collections/c/points/count",
        &reader,
        &json!({}),
    )
    .await;
    assert_eq!(
        r.body["result"]["count"], 1,
        "the forbidden delete deleted nothing"
    );
    let r = call(addr, "GET", "/collections", &[], &json!(null)).await;
    expect_error(&r, 401);

    // Health checks need no key.
    for path in ["/healthz", "/livez", "/readyz"] {
        let r = call(addr, "GET", path, &[], &json!(null)).await;
        assert_eq!(r.status, 200, "{path}");
    }
    server.stop().await.unwrap();
}
