//! Snapshots: create, list, download, restore by upload and by location;
//! locations outside the snapshot directory are refused.

use serde_json::json;

use crate::client::{all_points, call, config, expect_error, ok, raw, start};

#[tokio::test]
async fn snapshots_round_trip_and_stay_inside_their_directory() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path())).await;
    let addr = server.rest_addr();
    ok(
        addr,
        "PUT",
        "/collections/docs",
        json!({"vectors": {"size": 2, "distance": "Dot"}}),
    )
    .await;
    let points: Vec<_> = (1..=20u64)
        .map(|i| json!({"id": i, "vector": [i as f32, 1.0], "payload": {"i": i}}))
        .collect();
    ok(
        addr,
        "PUT",
        "/collections/docs/points?wait=true",
        json!({"points": points}),
    )
    .await;
    let before = all_points(addr, "docs").await;
    let snap = ok(addr, "POST", "/collections/docs/snapshots", json!(null)).await;
    let snap_name = snap["name"].as_str().unwrap().to_string();
    let listed = ok(addr, "GET", "/collections/docs/snapshots", json!(null)).await;
    assert_eq!(listed[0]["name"], snap_name.as_str());

    // Download, then upload the bytes as a new collection.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /collections/docs/snapshots/{snap_name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut reply = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut reply)
        .await
        .unwrap();
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let bytes = &reply[split + 4..];
    assert_eq!(bytes.len() as u64, snap["size"].as_u64().unwrap());
    let r = raw(
        addr,
        "POST",
        "/collections/copy/snapshots/upload",
        &[],
        bytes,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(all_points(addr, "copy").await, before);

    // Recover by file name after deleting points.
    ok(
        addr,
        "POST",
        "/collections/docs/points/delete?wait=true",
        json!({"points": [1, 2, 3]}),
    )
    .await;
    ok(
        addr,
        "PUT",
        "/collections/docs/snapshots/recover",
        json!({"location": snap_name}),
    )
    .await;
    assert_eq!(all_points(addr, "docs").await, before);

    // Files outside the snapshot directory, and names that climb out.
    let secret = dir.path().join("grape.redb");
    let r = call(
        addr,
        "PUT",
        "/collections/docs/snapshots/recover",
        &[],
        &json!({"location": format!("file://{}", secret.display())}),
    )
    .await;
    expect_error(&r, 403);
    let r = call(
        addr,
        "PUT",
        "/collections/docs/snapshots/recover",
        &[],
        &json!({"location": "../../grape.redb"}),
    )
    .await;
    expect_error(&r, 400);
    // Garbage bytes are a bad snapshot and leave the collection alone.
    let r = raw(
        addr,
        "POST",
        "/collections/docs/snapshots/upload",
        &[],
        b"not a snapshot",
    )
    .await;
    expect_error(&r, 400);
    assert_eq!(all_points(addr, "docs").await, before);
    server.stop().await.unwrap();
}
