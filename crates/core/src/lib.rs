//! grape-core: the pure vector-search core of Grape.
//!
//! No I/O, no threads, no clock: it takes vectors, ids and bytes and gives
//! back hits and bytes. It builds without `std` (`default-features = false`);
//! the `std` feature only adds run-time CPU detection for the SIMD kernels.
//!
//! ```
//! use grape_core::{Hnsw, HnswConfig, Metric, SearchParams, VectorIndex};
//!
//! let mut index = Hnsw::new(HnswConfig::new(3, Metric::Cosine)).unwrap();
//! index.upsert(1, &[1.0, 0.0, 0.0]).unwrap();
//! index.upsert(2, &[0.0, 1.0, 0.0]).unwrap();
//! let hits = index.search(&[0.9, 0.1, 0.0], &SearchParams::top(1), None).unwrap();
//! assert_eq!(hits[0].id, 1);
//!
//! let bytes = index.to_bytes();
//! let again = Hnsw::from_bytes(&bytes).unwrap();
//! assert_eq!(again.len(), 2);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub mod collection;
pub mod distance;
mod error;
mod format;
mod hnsw;
mod index;
mod metric;
pub mod payload;
pub mod quant;
pub mod query;
mod rng;
mod scratch;
mod search;
mod space;
pub mod sparse;
mod store;
mod stream;
pub mod text;

pub use collection::{
    Collection, CollectionConfig, CollectionStats, DenseQuantization, PointData, ScoredPoint,
    TextConfig,
};
pub use error::{Error, Result};
pub use format::{FORMAT_VERSION, MAGIC};
pub use hnsw::{Hnsw, HnswConfig};
pub use index::{AnyIndex, FlatIndex, VectorIndex};
pub use metric::Metric;
pub use quant::{QuantSearch, Quantization};
pub use rng::Rng;
pub use scratch::Scratch;
pub use search::{Filter, Hit, Plan, SearchParams};
pub use sparse::{Modifier, SparseIndex, SparseVector};
pub use store::VectorArena;
pub use stream::ByteSource;
pub use text::{Bm25Params, TextIndex, Tokenizer};
