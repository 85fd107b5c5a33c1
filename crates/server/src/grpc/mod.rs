//! Qdrant's gRPC API (`qdrant.Collections`, `qdrant.Points`,
//! `qdrant.Snapshots`, `qdrant.Qdrant`) over [`Service`], with tonic.
//!
//! Each method converts its protobuf request into the REST body of the same
//! operation (`convert/`), calls the service, and converts the REST result
//! back, so that REST and gRPC share one implementation and one set of
//! errors. Methods Grape does not implement answer `UNIMPLEMENTED` naming the
//! method. Auth is a tower layer (`auth.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tonic::Status;
use tonic::transport::server::TcpIncoming;

use crate::{ApiError, Service};

mod auth;
mod collections;
pub mod convert;
mod points;
mod snapshots;

pub use auth::{GrpcAuth, READ_METHODS};

/// The code generated from `proto/*.proto` (package `qdrant`): messages,
/// `*_server` modules for the services and `*_client` modules for clients
/// (used by the tests).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("qdrant");
}

/// The default largest request or response message, in bytes (32 MiB, the
/// REST body limit's default).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// How the gRPC server runs: its keys and its message size limit.
#[derive(Debug, Clone)]
pub struct GrpcOptions {
    /// The API keys (none: no authentication).
    pub auth: GrpcAuth,
    /// The largest request or response message in bytes; a larger request
    /// is refused with `OUT_OF_RANGE` before it is decoded.
    pub max_message_bytes: usize,
}

impl Default for GrpcOptions {
    fn default() -> Self {
        GrpcOptions {
            auth: GrpcAuth::default(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// An [`ApiError`] as a gRPC status with the same message.
pub fn status(e: ApiError) -> Status {
    Status::new(tonic::Code::from(e.grpc_code() as i32), e.message())
}

/// The `UNIMPLEMENTED` answer of a method Grape does not serve.
pub(crate) fn unimplemented(method: &str) -> Status {
    Status::unimplemented(format!("qdrant.{method} is not implemented by grape"))
}

/// Seconds since `start`, for the responses' `time` field.
pub(crate) fn elapsed(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// Serves Qdrant's gRPC services for `service` on `listener` with `auth`
/// and the default message size limit, until `shutdown` completes;
/// in-flight calls are finished first.
pub async fn serve(
    service: Service,
    listener: TcpListener,
    auth: GrpcAuth,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let options = GrpcOptions {
        auth,
        ..GrpcOptions::default()
    };
    serve_with(service, listener, options, shutdown).await
}

/// [`serve`] with every option.
pub async fn serve_with(
    service: Service,
    listener: TcpListener,
    options: GrpcOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    use proto::{
        collections_server::CollectionsServer, points_server::PointsServer,
        qdrant_server::QdrantServer, snapshots_server::SnapshotsServer,
    };
    let limit = options.max_message_bytes;
    let collections = CollectionsServer::new(collections::CollectionsApi {
        service: service.clone(),
    })
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    let points = PointsServer::new(points::PointsApi {
        service: service.clone(),
    })
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    let snapshots = SnapshotsServer::new(snapshots::SnapshotsApi {
        service: service.clone(),
    });
    let qdrant = QdrantServer::new(snapshots::QdrantApi { service });
    tonic::transport::Server::builder()
        .layer(auth::AuthLayer {
            auth: Arc::new(options.auth),
        })
        .add_service(qdrant)
        .add_service(collections)
        .add_service(points)
        .add_service(snapshots)
        // TCP_NODELAY: a response is several HTTP/2 frames; with Nagle's
        // algorithm the last ones wait for the client's ACK.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}
