//! Sparse vectors and their inverted index with exact, pruned top-k.
//!
//! [`SparseVector`] holds `(index, value)` pairs in Qdrant's JSON shape;
//! [`SparseIndex`] keeps one posting list per dimension and answers exact
//! top-k dot-product queries, skipping postings that cannot reach the top-k
//! (MaxScore). The same pruning engine serves BM25 full-text search
//! (`crate::text`), which scores postings differently.

pub(crate) mod engine;
mod index;
pub(crate) mod postings;
mod vector;

pub use index::{Modifier, SparseIndex};
pub(crate) use index::{idf, shrink_map};
pub use vector::SparseVector;

#[cfg(test)]
mod tests;
