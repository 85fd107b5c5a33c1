//! How a database is opened.

/// How durable an acknowledged write is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every acknowledged write is on disk (redb's `Durability::Immediate`:
    /// the commit fsyncs before the call returns). The default.
    #[default]
    Immediate,
    /// Opt-in faster ingest: commits use redb's `Durability::None` (kept in
    /// memory, no fsync) and every `commit_every`-th commit is durable and
    /// makes the ones before it durable too, as do [`crate::Database::flush`]
    /// and [`crate::Database::shutdown`]. A crash loses at most the writes
    /// acknowledged since the last durable commit; what survives is always a
    /// prefix of the acknowledged writes.
    Relaxed {
        /// Commits between two durable ones (at least 1).
        commit_every: u32,
    },
}

/// Where the original dense vectors that searches read are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VectorStorage {
    /// On the heap. The default.
    #[default]
    Memory,
    /// In memory-mapped files under `<dir>/vectors/` (memmap2), paged in
    /// and out by the operating system: resident memory follows what
    /// searches touch, not the collection size. The files are caches
    /// refilled at open from the index file or redb, never a source of
    /// truth.
    DiskMmap,
}

/// Options of [`crate::Database::open`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Durability of acknowledged writes.
    pub durability: Durability,
    /// Write a collection's index file after this many points were written
    /// to it since its last one (`None`: only on flush and shutdown).
    pub persist_every: Option<usize>,
    /// redb's page cache in bytes (`None`: redb's default).
    pub cache_size: Option<usize>,
    /// Log rebuild progress every this many points.
    pub progress_every: usize,
    /// Where dense vectors live when the collection's configuration does
    /// not say: Qdrant's per-vector `"on_disk": true` selects
    /// [`VectorStorage::DiskMmap`] and `false` [`VectorStorage::Memory`]
    /// whatever this is.
    pub vector_storage: VectorStorage,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            durability: Durability::Immediate,
            persist_every: Some(100_000),
            cache_size: None,
            progress_every: 10_000,
            vector_storage: VectorStorage::Memory,
        }
    }
}
