//! Score fusion and the multi-stage query tree.
//!
//! [`QueryRequest`] is Qdrant's universal query (`POST /points/query`):
//! prefetches (dense, sparse or text searches, each with its own filter and
//! limit, nestable) feed a fusion ([`rrf`], [`dbsf`], [`weighted`]) or a
//! re-scoring with another vector, then `score_threshold`, `offset` and
//! `limit`. [`execute`] runs it against any [`QuerySource`].
//!
//! ```
//! use grape_core::query::QueryRequest;
//!
//! let request = QueryRequest::from_json(
//!     r#"{"prefetch": [{"query": [0.1, 0.2], "using": "dense", "limit": 20},
//!                      {"query": {"indices": [1, 5], "values": [0.3, 0.7]}, "using": "sparse", "limit": 20}],
//!         "query": {"fusion": "rrf"}, "limit": 10}"#,
//! )
//! .unwrap();
//! assert_eq!(request.prefetch.len(), 2);
//! ```

mod exec;
mod fusion;
pub(crate) mod parse;
pub(crate) mod tree;

pub use exec::{QuerySource, QueryVector, StoredVector, execute, execute_with};
pub use fusion::{DEFAULT_RRF_K, ScoredList, dbsf, rrf, weighted};
pub use tree::{
    DEFAULT_LIMIT, Fusion, PayloadSelector, Prefetch, Query, QueryParams, QueryRequest,
    SparseQuery, VectorSelector,
};

#[cfg(test)]
mod tests;
