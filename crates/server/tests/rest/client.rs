//! A minimal HTTP/1.1 client (one request per connection) and helpers to
//! start a server in process.

use std::net::SocketAddr;
use std::path::Path;

use grape_server::{Config, Running};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status and body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// Config for a test server on a free loopback port, without gRPC.
pub fn config(dir: &Path) -> Config {
    let mut c = Config::new(dir);
    c.http_port = 0;
    c.grpc_port = None;
    c
}

pub async fn start(config: Config) -> Running {
    grape_server::start(config).await.expect("server starts")
}

/// Sends raw body bytes.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read reply");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete reply");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "chunked replies are not expected: {head}"
    );
    let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
    Reply { status, body }
}

/// Sends a JSON body (`Value::Null`: none).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Reply {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).unwrap()
    };
    raw(addr, method, path, headers, &bytes).await
}

/// A call that must succeed; returns Qdrant's `result`.
pub async fn ok(addr: SocketAddr, method: &str, path: &str, body: Value) -> Value {
    let r = call(addr, method, path, &[], &body).await;
    assert_eq!(r.status, 200, "{method} {path}: {:?}", r.body);
    assert_eq!(r.body["status"], "ok", "{:?}", r.body);
    assert!(r.body["time"].is_number());
    r.body["result"].clone()
}

/// Asserts Qdrant's error shape with `status` and returns the message.
pub fn expect_error(r: &Reply, status: u16) -> String {
    assert_eq!(r.status, status, "{:?}", r.body);
    let message = r.body["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {:?}", r.body))
        .to_string();
    assert!(r.body["time"].is_number(), "{:?}", r.body);
    assert!(r.body.get("result").is_none());
    message
}

/// Every point of collection `name` with payload and vector, in id order.
pub async fn all_points(addr: SocketAddr, name: &str) -> Value {
    ok(
        addr,
        "POST",
        &format!("/collections/{name}/points/scroll"),
        json!({"limit": 10_000, "with_payload": true, "with_vector": true}),
    )
    .await["points"]
        .clone()
}
