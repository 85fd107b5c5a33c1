//! grape-db: Grape's durable embedded vector database.
//!
//! A [`Database`] is a directory: `grape.redb` holds every collection's
//! configuration and points and is the source of truth; `index/<name>.grape`
//! holds each collection's search state (graphs, quantizers, sparse, text
//! and payload indexes) so that opening does not rebuild it. Searching,
//! filtering and scoring are [`grape_core`]'s; this crate stores, recovers
//! and serialises access.
//!
//! ```
//! use grape_core::payload::PointId;
//! use grape_core::query::{PayloadSelector, QueryRequest};
//! use grape_core::PointData;
//! use grape_db::{Database, DbOptions};
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path(), DbOptions::default()).unwrap();
//! db.create_collection("docs", &json!({"vectors": {"size": 3, "distance": "Cosine"}}))
//!     .unwrap();
//! let payload = json!({"title": "first"}).as_object().unwrap().clone();
//! db.upsert("docs", vec![PointData::dense(PointId::Num(1), vec![1.0, 0.0, 0.0], payload)])
//!     .unwrap();
//! let mut request = QueryRequest::nearest(vec![0.9, 0.1, 0.0], 1);
//! request.with_payload = Some(PayloadSelector::All(true));
//! let hits = db.query("docs", &request).unwrap();
//! assert_eq!(hits[0].id, PointId::Num(1));
//! assert_eq!(hits[0].payload.as_ref().unwrap()["title"], "first");
//! db.shutdown().unwrap();
//! ```
#![warn(missing_docs)]
// `unsafe` only in `mmap` (mapping a file), each block with its SAFETY line.
#![deny(unsafe_code)]

mod aliases;
mod asynch;
mod db;
mod error;
mod index_file;
#[allow(unsafe_code)]
mod mmap;
mod mutation;
mod options;
mod record;
mod types;

pub use aliases::AliasOp;
pub use asynch::AsyncDatabase;
pub use db::Database;
pub use error::{Error, Result};
pub use mutation::{Mutation, Outcome};
pub use options::{DbOptions, Durability, VectorStorage};
pub use types::{
    CacheStats, CollectionInfo, DbStats, PayloadSizes, PointSelector, Record, ScoredRecord, Vectors,
};
