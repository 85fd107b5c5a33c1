//! grape-server: Grape's Qdrant-compatible server on [`grape_db`].
//!
//! The `grape` binary serves a data directory over Qdrant's REST API (and,
//! once the gRPC side lands, its gRPC API), so that Qdrant's clients work
//! unchanged. The layers:
//!
//! - [`Service`] (`service.rs`): one `async fn` per Qdrant operation over
//!   Qdrant's JSON shapes, shared by every transport; errors are
//!   [`ApiError`] with their HTTP status and gRPC code.
//! - `rest.rs`: the axum router with Qdrant's paths, response envelope,
//!   auth, metrics, CORS and body limit ([`rest::router`]).
//! - [`Config`]: the server's settings from file, environment and flags.
//! - [`start`] / [`Running::stop`]: open the database, serve, and on stop
//!   finish in-flight requests and shut the database down.
//! - [`cluster`]: in cluster mode (`--node-id`), writes are replicated
//!   through grape-cluster's Raft node, strong reads pass a read barrier,
//!   and `/cluster` reports and changes the membership.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod bench;
pub mod cluster;
mod config;
mod error;
pub mod grpc;
mod metrics;
pub mod rest;
mod server;
mod service;
mod shapes;

pub use config::{
    ClusterConfig, Config, ConfigError, DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT,
    DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_SNAPSHOT_BYTES, PartialConfig,
};
pub use error::{ApiError, ApiResult, ErrorKind, GrpcCode};
pub use metrics::Metrics;
pub use server::{Running, ServerError, shutdown_signal, start};
pub use service::{QDRANT_API_VERSION, Service};
