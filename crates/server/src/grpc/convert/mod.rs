//! Plain conversions between Qdrant's gRPC messages and its REST JSON: each
//! request becomes the REST body that [`crate::Service`] takes, each REST
//! result the gRPC response. No I/O; errors are [`crate::ApiError`]s
//! (INVALID_ARGUMENT for a bad request, INTERNAL for a result of the wrong
//! shape).

pub mod collections;
pub mod common;
pub mod filter;
pub mod points;
pub mod vectors;
