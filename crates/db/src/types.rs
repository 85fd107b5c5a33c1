//! What the database returns.

use std::collections::BTreeMap;

use grape_core::payload::{FieldSchema, Filter, Payload, PointId};
use grape_core::{CollectionStats, SparseVector};

pub use crate::record::PayloadSizes;

/// The vectors of a returned point. Dense vectors are in the form the
/// collection stores them (unit length under cosine, as Qdrant returns them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vectors {
    /// Dense vectors by name (`""` for the unnamed one).
    pub dense: BTreeMap<String, Vec<f32>>,
    /// Sparse vectors by name.
    pub sparse: BTreeMap<String, SparseVector>,
}

/// A point as `get` and `scroll` return it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its id.
    pub id: PointId,
    /// The selected part of its payload (`None` when not asked for).
    pub payload: Option<Payload>,
    /// The selected vectors (`None` when not asked for).
    pub vectors: Option<Vectors>,
}

/// A query hit with what the request's `with_payload` / `with_vector` ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRecord {
    /// The point's id.
    pub id: PointId,
    /// Its score in the last stage that scored it.
    pub score: f32,
    /// The selected part of its payload (`None` when not asked for).
    pub payload: Option<Payload>,
    /// The selected vectors (`None` when not asked for).
    pub vectors: Option<Vectors>,
}

/// One collection, as [`crate::Database::info`] describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInfo {
    /// Its name.
    pub name: String,
    /// The create-collection JSON it was created with (`None` when it was
    /// restored from a snapshot).
    pub config_json: Option<String>,
    /// Number of points.
    pub points: usize,
    /// Sizes of its in-memory indexes.
    pub stats: CollectionStats,
    /// Payload indexes, in creation order.
    pub payload_indexes: Vec<(String, FieldSchema)>,
    /// Its write sequence number: bumped by every committed write.
    pub write_seq: u64,
    /// The write sequence number its index file reflects, if there is one.
    pub persisted_seq: Option<u64>,
}

/// redb's page cache counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Reads served from the cache.
    pub read_hits: u64,
    /// Reads that went to the file.
    pub read_misses: u64,
    /// Pages evicted because the cache was full.
    pub evictions: u64,
    /// Bytes in the cache.
    pub used_bytes: usize,
}

/// Sizes of the whole database, for monitoring.
#[derive(Debug, Clone, PartialEq)]
pub struct DbStats {
    /// Per collection: name, points, in-memory sizes.
    pub collections: Vec<(String, usize, CollectionStats)>,
    /// Size of `grape.redb` in bytes.
    pub redb_bytes: u64,
    /// Total size of the index files in bytes.
    pub index_bytes: u64,
    /// Total size of the mapped vector files (disk-mmap storage) in bytes.
    pub mapped_vector_bytes: u64,
    /// redb's cache counters.
    pub cache: CacheStats,
    /// Payload bytes written since open: JSON and stored (compressed).
    pub payload: PayloadSizes,
}

/// Which points a payload update applies to (Qdrant's `points` or `filter`).
#[derive(Debug, Clone, PartialEq)]
pub enum PointSelector {
    /// These ids (unknown ones are skipped).
    Ids(Vec<PointId>),
    /// Every point matching the filter.
    Filter(Filter),
}
