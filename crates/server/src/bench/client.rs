//! The load generator's clients: one HTTP/1.1 keep-alive connection (hyper)
//! or one gRPC channel (tonic) per simulated client, sending requests the
//! way Qdrant's clients do.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use crate::grpc::proto::{self, points_client::PointsClient};

/// One REST client: a single keep-alive HTTP/1.1 connection.
#[derive(Debug)]
pub struct Http {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Http {
    /// Opens a connection to `addr` (`TCP_NODELAY`, as HTTP clients do).
    pub async fn connect(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Http {
            sender,
            host: addr.to_string(),
        })
    }

    /// Sends one request with a JSON body (empty for none) and reads the
    /// whole response.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("building the request: {e}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{path}: reading the body: {e}"))?
            .to_bytes();
        Ok((status, body))
    }

    /// [`Http::call`], failing unless the status is 200.
    pub async fn ok(&mut self, method: Method, path: &str, body: Bytes) -> Result<Bytes, String> {
        let (status, body) = self.call(method, path, body).await?;
        if status != StatusCode::OK {
            return Err(format!(
                "{path}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(body)
    }
}

#[derive(Deserialize)]
struct QueryReply {
    result: QueryResult,
}

#[derive(Deserialize)]
struct QueryResult {
    points: Vec<IdOnly>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: u64,
}

#[derive(Deserialize)]
struct CountReply {
    result: CountResult,
}

#[derive(Deserialize)]
struct CountResult {
    count: u64,
}

/// The ids of a `/points/query` response, best first.
pub fn query_ids(body: &[u8]) -> Result<Vec<u64>, String> {
    let reply: QueryReply =
        serde_json::from_slice(body).map_err(|e| format!("query response: {e}"))?;
    Ok(reply.result.points.into_iter().map(|p| p.id).collect())
}

/// The count of a `/points/count` response.
pub fn count_of(body: &[u8]) -> Result<u64, String> {
    let reply: CountReply =
        serde_json::from_slice(body).map_err(|e| format!("count response: {e}"))?;
    Ok(reply.result.count)
}

/// One gRPC client: its own channel (one HTTP/2 connection).
pub async fn grpc_connect(addr: SocketAddr) -> Result<PointsClient<Channel>, String> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("gRPC endpoint: {e}"))?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| format!("connecting gRPC to {addr}: {e}"))?;
    Ok(PointsClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
}

/// The integer ids of a gRPC `Query` response, best first.
pub fn grpc_ids(reply: &proto::QueryResponse) -> Vec<u64> {
    reply
        .result
        .iter()
        .filter_map(|p| match p.id.as_ref()?.point_id_options.as_ref()? {
            proto::point_id::PointIdOptions::Num(n) => Some(*n),
            proto::point_id::PointIdOptions::Uuid(_) => None,
        })
        .collect()
}

/// A gRPC `Points/Query` request for the nearest neighbours of `vector`,
/// without payload or vectors, as `qdrant-client`'s `query_points` sends
/// it.
pub fn grpc_query(collection: &str, vector: &[f32], k: u64, ef: u64) -> proto::QueryPoints {
    proto::QueryPoints {
        collection_name: collection.into(),
        query: Some(proto::Query {
            variant: Some(proto::query::Variant::Nearest(proto::VectorInput {
                variant: Some(proto::vector_input::Variant::Dense(proto::DenseVector {
                    data: vector.to_vec(),
                })),
            })),
        }),
        limit: Some(k),
        params: Some(proto::SearchParams {
            hnsw_ef: Some(ef),
            ..proto::SearchParams::default()
        }),
        with_payload: Some(proto::WithPayloadSelector {
            selector_options: Some(proto::with_payload_selector::SelectorOptions::Enable(false)),
        }),
        ..proto::QueryPoints::default()
    }
}

/// The JSON body of a REST `/points/query` request for the same search.
pub fn rest_query(vector: &[f32], k: u64, ef: u64) -> serde_json::Value {
    serde_json::json!({
        "query": vector,
        "limit": k,
        "params": {"hnsw_ef": ef},
        "with_payload": false,
        "with_vector": false,
    })
}

/// A gRPC point with an integer id, a dense vector and `{"row": row}`.
pub fn grpc_point(id: u64, vector: &[f32]) -> proto::PointStruct {
    let mut payload = serde_json::Map::new();
    payload.insert("row".into(), serde_json::Value::from(id));
    proto::PointStruct {
        id: Some(proto::PointId {
            point_id_options: Some(proto::point_id::PointIdOptions::Num(id)),
        }),
        payload: crate::grpc::convert::common::json_to_payload(&payload),
        vectors: Some(proto::Vectors {
            vectors_options: Some(proto::vectors::VectorsOptions::Vector(proto::Vector {
                vector: Some(proto::vector::Vector::Dense(proto::DenseVector {
                    data: vector.to_vec(),
                })),
                ..proto::Vector::default()
            })),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_query_and_count_responses() {
        let body = br#"{"result":{"points":[{"id":7,"version":0,"score":0.9},{"id":3,"version":0,"score":0.5}]},"status":"ok","time":0.001}"#;
        assert_eq!(query_ids(body).unwrap(), vec![7, 3]);
        assert!(query_ids(br#"{"status":{"error":"x"}}"#).is_err());
        assert_eq!(
            count_of(br#"{"result":{"count":42},"status":"ok"}"#).unwrap(),
            42
        );
    }
}
