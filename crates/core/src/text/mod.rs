//! Full-text search: a tokenizer and a BM25 index.
//!
//! [`Tokenizer`] splits text into terms (Unicode word boundaries,
//! lowercasing, optional English stop words and stemming, CJK bigrams);
//! [`TextIndex`] scores documents with BM25 ([`Bm25Params`]), keeping
//! document lengths, the mean length and IDF from the live collection
//! itself. A text query runs on the posting lists and MaxScore engine of
//! [`crate::sparse`].

mod index;
mod stopwords;
mod tokenizer;

pub use index::{Bm25Params, TextIndex};
pub use tokenizer::Tokenizer;

#[cfg(test)]
mod tests;
