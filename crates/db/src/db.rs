//! [`Database`]: redb as the source of truth, one in-memory
//! [`grape_core::Collection`] per collection as the search state.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use grape_core::payload::{FieldSchema, Filter, KeyPath, Payload, PayloadStore, PointId};
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};
use grape_core::{Collection, CollectionConfig, FlatIndex, HnswConfig, Metric, PointData};
use grape_core::{Scratch, VectorIndex};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tracing::{info, warn};

use crate::error::{Error, REDB_FILE, Result};
use crate::index_file::{self, Miss};
use crate::mmap::{DISK_FULL, MappedBytes, MappedVectors};
use crate::mutation::Mark;
use crate::options::{DbOptions, Durability, VectorStorage};
use crate::record::{
    PayloadSizes, StoredCollection, decode_payload, decode_point, encode_point, id_key, key_id,
};
use crate::types::{
    CacheStats, CollectionInfo, DbStats, PointSelector, Record, ScoredRecord, Vectors,
};

/// Collection name -> [`StoredCollection`] bytes.
pub(crate) const CATALOGUE: TableDefinition<&str, &[u8]> = TableDefinition::new("collections");
/// Collection uid -> its write sequence number.
pub(crate) const SEQ: TableDefinition<u64, u64> = TableDefinition::new("seq");
/// Database-wide counters (`next_uid`).
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const NEXT_UID: &str = "next_uid";

/// Points applied to the in-memory collection per write-lock hold, so that
/// a long batch does not block searches for its whole length.
const APPLY_CHUNK: usize = 256;
/// Points decoded per core upsert while rebuilding.
const REBUILD_CHUNK: usize = 1024;

pub(crate) fn points_table(uid: u64) -> String {
    format!("points/{uid}")
}

pub(crate) fn points_def(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

thread_local! {
    /// Search memory of this thread, reused by every query it runs.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

fn corrupted(detail: impl Into<String>) -> Error {
    Error::Corrupted {
        file: PathBuf::from(REDB_FILE),
        detail: detail.into(),
    }
}

/// A durable embedded vector database: a directory holding `grape.redb`
/// (every collection's configuration and points: the source of truth) and
/// `index/<name>.grape` (each collection's search state, a cache of what
/// redb holds).
///
/// Cheap to clone (an `Arc` inside); share it between threads. Searches run
/// concurrently with each other and with writes; writes to one collection
/// are serialised.
#[derive(Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    options: DbOptions,
    redb: RwLock<Option<Arc<redb::Database>>>,
    pub(crate) collections: RwLock<HashMap<String, Arc<Handle>>>,
    /// Serialises changes to the set of collections.
    pub(crate) catalogue: Mutex<()>,
    /// Held by `apply_marked`, `set_applied_mark`, `export_all` and
    /// `import_all` (crate::mutation), so that an export's applied mark
    /// matches its data. Taken before `catalogue` and any writer.
    pub(crate) applying: Mutex<()>,
    /// Non-durable commits since the last durable one (relaxed durability).
    pending: AtomicU32,
    closed: AtomicBool,
    pub(crate) payload_raw: AtomicU64,
    pub(crate) payload_stored: AtomicU64,
    /// Bytes of mapped vector files (disk-mmap storage).
    mapped: MappedBytes,
}

/// One open collection.
pub(crate) struct Handle {
    pub(crate) name: String,
    pub(crate) uid: u64,
    pub(crate) table: String,
    pub(crate) config: CollectionConfig,
    pub(crate) index_path: PathBuf,
    /// Dense vectors kept in mapped files (disk-mmap storage).
    pub(crate) disk: Vec<String>,
    /// Held by the one writer of this collection, for the whole write.
    pub(crate) writer: Mutex<WriterState>,
    /// The search state. Under `writer`, it reflects every committed write.
    pub(crate) state: RwLock<Collection>,
}

/// A payload edit.
pub(crate) enum Edit {
    Set(Payload, Option<String>),
    Overwrite(Payload),
    Delete(Vec<String>),
    Clear,
}

pub(crate) struct WriterState {
    pub(crate) seq: u64,
    pub(crate) persisted_seq: Option<u64>,
    pub(crate) since_persist: usize,
    pub(crate) stored: StoredCollection,
    pub(crate) dropped: bool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

/// Checks that `name` can name a collection and its index file.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 255 {
        return bad("must be 1 to 255 bytes long");
    }
    if name.starts_with('.') {
        return bad("must not start with '.'");
    }
    if name.chars().any(|c| {
        c.is_control() || matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
    }) {
        return bad("must not contain control characters or any of / \\ < > : \" | ? *");
    }
    Ok(())
}

/// A stored dense vector in the form the collection searches and returns
/// (unit length under cosine), through the core's own preparation.
fn stored_form(c: &HnswConfig, v: Vec<f32>) -> Vec<f32> {
    if c.metric != Metric::Cosine {
        return v;
    }
    let Ok(mut probe) = FlatIndex::new(c.dim, c.metric) else {
        return v;
    };
    match probe.upsert(0, &v) {
        Ok(()) => probe.vector(0).map_or(v, <[f32]>::to_vec),
        Err(_) => v,
    }
}

/// The first dense vector of `collection` that `points` (its points'
/// data) lack for some live point: one kept only as quantized codes, which
/// cannot be stored back as originals.
pub(crate) fn quantized_only(collection: &Collection, points: &[PointData]) -> Option<String> {
    collection
        .stats()
        .dense
        .into_iter()
        .find(|(vector, live, _, _)| {
            points
                .iter()
                .filter(|p| p.vectors.contains_key(vector))
                .count()
                < *live
        })
        .map(|(vector, _, _, _)| vector)
}

fn selects(selector: &VectorSelector, name: &str) -> bool {
    match selector {
        VectorSelector::All(all) => *all,
        VectorSelector::Names(names) => names.iter().any(|n| n == name),
    }
}

fn wants_vectors(selector: &VectorSelector) -> bool {
    !matches!(selector, VectorSelector::All(false))
}

/// Whether some selected vector is not held in memory: dense vectors
/// quantized without their originals.
fn needs_stored_vectors(config: &CollectionConfig, selector: &VectorSelector) -> bool {
    config
        .quantization
        .iter()
        .any(|(n, q)| !q.keep_originals && selects(selector, n))
}

/// The selected vectors of a stored point.
fn stored_vectors(config: &CollectionConfig, p: PointData, selector: &VectorSelector) -> Vectors {
    Vectors {
        dense: p
            .vectors
            .into_iter()
            .filter(|(n, _)| selects(selector, n))
            .filter_map(|(n, v)| {
                let c = config.dense.get(&n)?;
                Some((n, stored_form(c, v)))
            })
            .collect(),
        sparse: p
            .sparse
            .into_iter()
            .filter(|(n, _)| selects(selector, n))
            .collect(),
    }
}

impl Database {
    /// Opens (or creates) the database in `dir`.
    ///
    /// Each collection's search state is loaded from its index file when
    /// that file reflects exactly the collection's last committed write and
    /// decodes; otherwise it is rebuilt from redb (progress is logged through
    /// `tracing`) and the index file rewritten. A damaged index file is never
    /// fatal: it is rebuilt, with a warning naming the file.
    pub fn open(dir: impl AsRef<Path>, options: DbOptions) -> Result<Database> {
        let dir = dir.as_ref().to_path_buf();
        let index_dir = dir.join("index");
        fs::create_dir_all(&index_dir).map_err(|e| Error::io(&index_dir, e))?;
        let mut builder = redb::Builder::new();
        if let Some(bytes) = options.cache_size {
            builder.set_cache_size(bytes);
        }
        builder.set_repair_callback(|session| {
            info!(progress = session.progress(), "repairing {REDB_FILE}");
        });
        let db = builder.create(dir.join(REDB_FILE))?;
        let inner = Inner {
            dir,
            options,
            redb: RwLock::new(None),
            collections: RwLock::new(HashMap::new()),
            catalogue: Mutex::new(()),
            applying: Mutex::new(()),
            pending: AtomicU32::new(0),
            closed: AtomicBool::new(false),
            payload_raw: AtomicU64::new(0),
            payload_stored: AtomicU64::new(0),
            mapped: MappedBytes::default(),
        };
        // Every table exists from here on.
        let mut txn = db.begin_write()?;
        txn.set_quick_repair(true);
        {
            txn.open_table(CATALOGUE)?;
            txn.open_table(SEQ)?;
            txn.open_table(META)?;
        }
        txn.commit()?;
        let mut entries = Vec::new();
        {
            let read = db.begin_read()?;
            let catalogue = read.open_table(CATALOGUE)?;
            let seqs = read.open_table(SEQ)?;
            for item in catalogue.iter()? {
                let (name, bytes) = item?;
                let name = name.value().to_string();
                let stored = StoredCollection::decode(bytes.value()).map_err(|e| {
                    corrupted(format!("catalogue entry of collection {name:?}: {e}"))
                })?;
                let seq = seqs.get(stored.uid)?.map_or(0, |g| g.value());
                entries.push((name, stored, seq));
            }
        }
        let db = Arc::new(db);
        *write(&inner.redb) = Some(Arc::clone(&db));
        let database = Database {
            inner: Arc::new(inner),
        };
        for (name, stored, seq) in entries {
            let handle = database.inner.load(&db, name.clone(), stored, seq)?;
            write(&database.inner.collections).insert(name, Arc::new(handle));
        }
        Ok(database)
    }

    /// The directory of the database.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Creates collection `name` from Qdrant's create-collection JSON (plus
    /// Grape's `text_fields`), stored as given.
    pub fn create_collection(&self, name: &str, config: &serde_json::Value) -> Result<()> {
        self.create_collection_marked(name, config, &Mark::none())
    }

    /// [`Database::create_collection`], committing `mark` with the change.
    pub(crate) fn create_collection_marked(
        &self,
        name: &str,
        config: &serde_json::Value,
        mark: &Mark<'_>,
    ) -> Result<()> {
        check_name(name)?;
        let parsed = CollectionConfig::from_value(config)?;
        let collection = Collection::new(parsed.clone())?;
        let stored = StoredCollection {
            uid: 0,
            config_json: Some(config.to_string()),
            template: None,
            payload_indexes: Vec::new(),
        };
        self.inner
            .add_collection(name, stored, collection, Vec::new(), false, mark)
    }

    /// Deletes collection `name` with its points and index file; false when
    /// there was none (as Qdrant answers).
    pub fn delete_collection(&self, name: &str) -> Result<bool> {
        self.delete_collection_marked(name, &Mark::none())
    }

    /// [`Database::delete_collection`], committing `mark` with the change.
    pub(crate) fn delete_collection_marked(&self, name: &str, mark: &Mark<'_>) -> Result<bool> {
        let inner = &self.inner;
        let _catalogue = lock(&inner.catalogue);
        let Ok(handle) = inner.handle(name) else {
            inner.check_open()?;
            return Ok(false);
        };
        let mut w = inner.lock_writer(&handle)?;
        let db = inner.redb()?;
        let txn = inner.begin_write(&db)?;
        {
            txn.open_table(CATALOGUE)?.remove(name)?;
            txn.open_table(SEQ)?.remove(handle.uid)?;
            txn.delete_table(points_def(&handle.table))?;
            mark.stage(&txn)?;
        }
        txn.commit()?;
        mark.committed();
        w.dropped = true;
        write(&inner.collections).remove(name);
        if let Err(e) = index_file::remove(&handle.index_path) {
            warn!(collection = name, "cannot remove the index file: {e}");
        }
        Ok(true)
    }

    /// Names of every collection, sorted.
    pub fn list_collections(&self) -> Result<Vec<String>> {
        self.inner.check_open()?;
        let mut names: Vec<String> = read(&self.inner.collections).keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    /// Whether collection `name` exists.
    pub fn collection_exists(&self, name: &str) -> Result<bool> {
        self.inner.check_open()?;
        Ok(read(&self.inner.collections).contains_key(name))
    }

    /// The configuration, size and state of collection `name`.
    pub fn info(&self, name: &str) -> Result<CollectionInfo> {
        let h = self.inner.handle(name)?;
        let w = self.inner.lock_writer(&h)?;
        let c = read(&h.state);
        Ok(CollectionInfo {
            name: h.name.clone(),
            config_json: w.stored.config_json.clone(),
            points: c.len(),
            stats: c.stats(),
            payload_indexes: w.stored.payload_indexes.clone(),
            write_seq: w.seq,
            persisted_seq: w.persisted_seq,
        })
    }

    /// Inserts or replaces points; returns the collection's write sequence
    /// number after the write.
    ///
    /// Every point is checked by the core's rules first; then all of them
    /// are committed in one redb transaction (durable when this returns,
    /// unless [`Durability::Relaxed`]); then they are applied to the search
    /// state in chunks of 256 points. A search running meanwhile sees the
    /// state before the write, after it, or in between with a prefix of the
    /// batch applied (every point whole, never half-updated).
    pub fn upsert(&self, name: &str, points: Vec<PointData>) -> Result<u64> {
        self.upsert_marked(name, points, &Mark::none())
    }

    /// [`Database::upsert`], committing `mark` with the change.
    pub(crate) fn upsert_marked(
        &self,
        name: &str,
        points: Vec<PointData>,
        mark: &Mark<'_>,
    ) -> Result<u64> {
        let inner = &self.inner;
        let h = inner.handle(name)?;
        h.config.check_points(&points)?;
        let mut sizes = PayloadSizes::default();
        let records: Vec<(Vec<u8>, Vec<u8>)> = points
            .iter()
            .map(|p| (id_key(&p.id), encode_point(p, &mut sizes)))
            .collect();
        let mut w = inner.lock_writer(&h)?;
        let db = inner.redb()?;
        if !h.disk.is_empty() {
            // Grow the mapped files first: a full disk fails the call here,
            // before anything is committed.
            write(&h.state)
                .try_reserve(points.len())
                .map_err(arena_error)?;
        }
        inner.commit_points(
            &db,
            &h,
            &mut w,
            records.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
            &sizes,
            mark,
        )?;
        let n = points.len();
        let mut rest = points.into_iter();
        let mut applied = Ok(());
        loop {
            let chunk: Vec<PointData> = rest.by_ref().take(APPLY_CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            if let Err(e) = write(&h.state).upsert(chunk) {
                applied = Err(e);
                break;
            }
        }
        inner.after_write(&h, &mut w, &db, n, applied)?;
        Ok(w.seq)
    }

    /// Checks points by the rules [`Database::upsert`] applies (vector names,
    /// dimensions, finite components, sparse vectors) without writing, so
    /// that an importer can name the bad record before a batch is sent.
    pub fn check_points(&self, name: &str, points: &[PointData]) -> Result<()> {
        let h = self.inner.handle(name)?;
        Ok(h.config.check_points(points)?)
    }

    /// Deletes points by id; returns how many existed.
    pub fn delete(&self, name: &str, ids: &[PointId]) -> Result<usize> {
        self.delete_marked(name, ids, &Mark::none())
    }

    /// [`Database::delete`], committing `mark` with the change.
    pub(crate) fn delete_marked(
        &self,
        name: &str,
        ids: &[PointId],
        mark: &Mark<'_>,
    ) -> Result<usize> {
        let h = self.inner.handle(name)?;
        let mut w = self.inner.lock_writer(&h)?;
        self.inner.delete_locked(&h, &mut w, ids, mark)
    }

    /// Deletes every point matching `filter`; returns how many.
    pub fn delete_by_filter(&self, name: &str, filter: &Filter) -> Result<usize> {
        self.delete_by_filter_marked(name, filter, &Mark::none())
    }

    /// [`Database::delete_by_filter`], committing `mark` with the change.
    pub(crate) fn delete_by_filter_marked(
        &self,
        name: &str,
        filter: &Filter,
        mark: &Mark<'_>,
    ) -> Result<usize> {
        let h = self.inner.handle(name)?;
        let mut w = self.inner.lock_writer(&h)?;
        // Under the writer lock the search state reflects every committed
        // write: the core answers the filter.
        let ids: Vec<PointId> = {
            let c = read(&h.state);
            c.ids()
                .filter(|id| c.matches(id, filter))
                .copied()
                .collect()
        };
        self.inner.delete_locked(&h, &mut w, &ids, mark)
    }

    /// The points with these ids (unknown ids are skipped), in the order
    /// asked, with the selected payload and vectors. Reads the search state,
    /// so it agrees with what searches see.
    pub fn get(
        &self,
        name: &str,
        ids: &[PointId],
        with_payload: &PayloadSelector,
        with_vectors: &VectorSelector,
    ) -> Result<Vec<Record>> {
        let h = self.inner.handle(name)?;
        let mut records = {
            let c = read(&h.state);
            ids.iter()
                .filter_map(|id| {
                    let payload = c.payload(id)?;
                    Some(Record {
                        id: *id,
                        payload: with_payload.select(payload),
                        vectors: memory_vectors(&c, id, with_vectors),
                    })
                })
                .collect::<Vec<_>>()
        };
        self.inner.fill_stored_vectors(
            &h,
            with_vectors,
            records.iter_mut().map(|r| (r.id, &mut r.vectors)),
        )?;
        Ok(records)
    }

    /// One page of points in id order (integers, then UUIDs), starting at
    /// `from` (inclusive), matching `filter`: at most `limit` records and
    /// the id to start the next page at (`None` on the last page). Reads one
    /// consistent snapshot of the committed points.
    pub fn scroll(
        &self,
        name: &str,
        filter: Option<&Filter>,
        from: Option<PointId>,
        limit: usize,
        with_payload: &PayloadSelector,
        with_vectors: &VectorSelector,
    ) -> Result<(Vec<Record>, Option<PointId>)> {
        let h = self.inner.handle(name)?;
        let db = self.inner.redb()?;
        let read = db.begin_read()?;
        let table = read.open_table(points_def(&h.table))?;
        let start = from.map(|id| id_key(&id)).unwrap_or_default();
        let mut out = Vec::new();
        let mut next = None;
        for item in table.range(start.as_slice()..)? {
            let (k, v) = item?;
            let id = key_id(k.value()).map_err(corrupted)?;
            let payload = decode_payload(id, v.value()).map_err(corrupted)?;
            if !filter.is_none_or(|f| f.matches(&id, &payload)) {
                continue;
            }
            if out.len() == limit {
                next = Some(id);
                break;
            }
            let vectors = if wants_vectors(with_vectors) {
                let p = decode_point(id, v.value()).map_err(corrupted)?;
                Some(stored_vectors(&h.config, p, with_vectors))
            } else {
                None
            };
            out.push(Record {
                id,
                payload: with_payload.select(&payload),
                vectors,
            });
        }
        Ok((out, next))
    }

    /// Number of points matching `filter` (all points without one).
    pub fn count(&self, name: &str, filter: Option<&Filter>) -> Result<usize> {
        let h = self.inner.handle(name)?;
        Ok(read(&h.state).count(filter))
    }

    /// Indexes payload field `field` as `schema` (persisted: it survives
    /// reopening and rebuilding).
    pub fn create_payload_index(&self, name: &str, field: &str, schema: FieldSchema) -> Result<()> {
        self.create_payload_index_marked(name, field, schema, &Mark::none())
    }

    /// [`Database::create_payload_index`], committing `mark` with the change.
    pub(crate) fn create_payload_index_marked(
        &self,
        name: &str,
        field: &str,
        schema: FieldSchema,
        mark: &Mark<'_>,
    ) -> Result<()> {
        // The core's own check of the key, on an empty store.
        PayloadStore::new().create_index(field, schema)?;
        let inner = &self.inner;
        let h = inner.handle(name)?;
        let mut w = inner.lock_writer(&h)?;
        let mut stored = w.stored.clone();
        stored.payload_indexes.retain(|(f, _)| f != field);
        stored.payload_indexes.push((field.to_string(), schema));
        let db = inner.redb()?;
        inner.commit_catalogue(&db, &h, &mut w, stored, mark)?;
        // Built under the read lock, so searches continue; nothing else
        // changes the collection meanwhile (this call holds its writer).
        let built = read(&h.state).build_payload_index(field, schema);
        let applied = built.map(|b| write(&h.state).install_payload_index(b));
        inner.after_write(&h, &mut w, &db, 0, applied)
    }

    /// Drops the payload index on `field` (persisted: it stays dropped
    /// after reopening and rebuilding); false when the key had none, and
    /// then nothing is written. Payloads are unchanged; filters on the key
    /// scan them instead.
    pub fn delete_payload_index(&self, name: &str, field: &str) -> Result<bool> {
        self.delete_payload_index_marked(name, field, &Mark::none())
    }

    /// [`Database::delete_payload_index`], committing `mark` with the change.
    pub(crate) fn delete_payload_index_marked(
        &self,
        name: &str,
        field: &str,
        mark: &Mark<'_>,
    ) -> Result<bool> {
        let path = grape_core::payload::KeyPath::parse(field).map_err(|e| {
            grape_core::Error::InvalidParameter(format!("invalid payload index key {field:?}: {e}"))
        })?;
        let same_key = |f: &str| grape_core::payload::KeyPath::parse(f).is_ok_and(|p| p == path);
        let inner = &self.inner;
        let h = inner.handle(name)?;
        let mut w = inner.lock_writer(&h)?;
        if !w.stored.payload_indexes.iter().any(|(f, _)| same_key(f)) {
            return Ok(false);
        }
        let mut stored = w.stored.clone();
        stored.payload_indexes.retain(|(f, _)| !same_key(f));
        let db = inner.redb()?;
        inner.commit_catalogue(&db, &h, &mut w, stored, mark)?;
        write(&h.state).drop_payload_index(field);
        inner.after_write(&h, &mut w, &db, 0, Ok(()))?;
        Ok(true)
    }

    /// Runs a query (Qdrant's universal query) and returns its hits with
    /// the payload and vectors that the request's `with_payload` and
    /// `with_vector` select (none by default).
    pub fn query(&self, name: &str, request: &QueryRequest) -> Result<Vec<ScoredRecord>> {
        let h = self.inner.handle(name)?;
        let no_payload = PayloadSelector::All(false);
        let no_vectors = VectorSelector::All(false);
        let ps = request.with_payload.as_ref().unwrap_or(&no_payload);
        let vs = request.with_vector.as_ref().unwrap_or(&no_vectors);
        let mut hits = {
            let c = read(&h.state);
            let hits = SCRATCH.with(|s| c.query_with(&mut s.borrow_mut(), request))?;
            hits.into_iter()
                .map(|hit| ScoredRecord {
                    id: hit.id,
                    score: hit.score,
                    payload: c.payload(&hit.id).and_then(|p| ps.select(p)),
                    vectors: memory_vectors(&c, &hit.id, vs),
                })
                .collect::<Vec<_>>()
        };
        self.inner
            .fill_stored_vectors(&h, vs, hits.iter_mut().map(|r| (r.id, &mut r.vectors)))?;
        Ok(hits)
    }

    /// Merges `payload` into the payload of the selected points (Qdrant's
    /// `set_payload`, the core's [`Collection::set_payload`] semantics: a
    /// null value removes its key; with `key`, merges into the object at
    /// that path). Returns how many points changed; unknown ids are skipped.
    pub fn set_payload(
        &self,
        name: &str,
        points: &PointSelector,
        payload: Payload,
        key: Option<&str>,
    ) -> Result<usize> {
        self.edit_payload(
            name,
            points,
            Edit::Set(payload, key.map(str::to_string)),
            &Mark::none(),
        )
    }

    /// Replaces the whole payload of the selected points (Qdrant's
    /// `overwrite_payload`); returns how many.
    pub fn overwrite_payload(
        &self,
        name: &str,
        points: &PointSelector,
        payload: Payload,
    ) -> Result<usize> {
        self.edit_payload(name, points, Edit::Overwrite(payload), &Mark::none())
    }

    /// Removes the values at `keys` (payload key paths) from the selected
    /// points (Qdrant's `delete_payload`); returns how many points matched.
    pub fn delete_payload_keys(
        &self,
        name: &str,
        points: &PointSelector,
        keys: &[String],
    ) -> Result<usize> {
        self.edit_payload(name, points, Edit::Delete(keys.to_vec()), &Mark::none())
    }

    /// Empties the payload of the selected points (Qdrant's
    /// `clear_payload`); returns how many.
    pub fn clear_payload(&self, name: &str, points: &PointSelector) -> Result<usize> {
        self.edit_payload(name, points, Edit::Clear, &Mark::none())
    }

    /// One payload edit: the new payloads are worked out first by the core
    /// (on a scratch collection holding one point at a time), committed
    /// with the points' vectors in one transaction, then set in the search
    /// state. Commits `mark` with the change.
    pub(crate) fn edit_payload(
        &self,
        name: &str,
        points: &PointSelector,
        edit: Edit,
        mark: &Mark<'_>,
    ) -> Result<usize> {
        let keys: Vec<&str> = match &edit {
            Edit::Set(_, Some(k)) => vec![k.as_str()],
            Edit::Delete(keys) => keys.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        for k in keys {
            KeyPath::parse(k).map_err(|e| {
                grape_core::Error::InvalidParameter(format!("invalid payload key {k:?}: {e}"))
            })?;
        }
        let inner = &self.inner;
        let h = inner.handle(name)?;
        let mut w = inner.lock_writer(&h)?;
        let mut ids: Vec<PointId> = {
            let c = read(&h.state);
            match points {
                PointSelector::Ids(ids) => ids
                    .iter()
                    .filter(|id| c.payload(id).is_some())
                    .copied()
                    .collect(),
                PointSelector::Filter(f) => {
                    c.ids().filter(|id| c.matches(id, f)).copied().collect()
                }
            }
        };
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(0);
        }
        let db = inner.redb()?;
        let mut scratch = Collection::new(CollectionConfig::default())?;
        let mut sizes = PayloadSizes::default();
        let mut updates = Vec::with_capacity(ids.len());
        {
            let read_txn = db.begin_read()?;
            let table = read_txn.open_table(points_def(&h.table))?;
            for id in ids {
                let Some(v) = table.get(id_key(&id).as_slice())? else {
                    continue;
                };
                let mut p = decode_point(id, v.value()).map_err(corrupted)?;
                let old = std::mem::take(&mut p.payload);
                scratch.upsert(vec![PointData {
                    id,
                    vectors: BTreeMap::new(),
                    sparse: BTreeMap::new(),
                    payload: old,
                }])?;
                match &edit {
                    Edit::Set(patch, key) => {
                        scratch.set_payload(&id, patch.clone(), key.as_deref())?;
                    }
                    Edit::Overwrite(new) => {
                        scratch.overwrite_payload(&id, new.clone())?;
                    }
                    Edit::Delete(keys) => {
                        scratch.delete_payload_keys(&id, keys)?;
                    }
                    Edit::Clear => {
                        scratch.clear_payload(&id)?;
                    }
                }
                p.payload = scratch.payload(&id).cloned().unwrap_or_default();
                scratch.delete(&[id]);
                let record = encode_point(&p, &mut sizes);
                updates.push((id, p.payload, record));
            }
        }
        let keys: Vec<Vec<u8>> = updates.iter().map(|(id, _, _)| id_key(id)).collect();
        inner.commit_points(
            &db,
            &h,
            &mut w,
            keys.iter()
                .zip(&updates)
                .map(|(k, (_, _, record))| (k.as_slice(), record.as_slice())),
            &sizes,
            mark,
        )?;
        let n = updates.len();
        let mut applied = Ok(());
        for chunk in updates.chunks(APPLY_CHUNK) {
            let mut c = write(&h.state);
            for (id, payload, _) in chunk {
                if let Err(e) = c.overwrite_payload(id, payload.clone()) {
                    applied = Err(e);
                }
            }
        }
        inner.after_write(&h, &mut w, &db, n, applied)?;
        Ok(n)
    }

    /// Restores a collection from bytes in the core's portable format (as
    /// [`Database::snapshot`] or the npm package wrote them) as collection
    /// `name`, with its configuration, points, indexes and graphs. An
    /// existing collection of that name is an error unless `replace`, which
    /// swaps it out in the same transaction. Returns the number of points.
    pub fn restore(&self, name: &str, bytes: &[u8], replace: bool) -> Result<usize> {
        self.restore_marked(name, bytes, replace, &Mark::none())
    }

    /// [`Database::restore`], committing `mark` with the change.
    pub(crate) fn restore_marked(
        &self,
        name: &str,
        bytes: &[u8],
        replace: bool,
        mark: &Mark<'_>,
    ) -> Result<usize> {
        check_name(name)?;
        let collection = Collection::from_bytes(bytes).map_err(Error::InvalidSnapshot)?;
        let points: Vec<PointData> = collection
            .ids()
            .filter_map(|id| collection.point_data(id))
            .collect();
        if let Some(vector) = quantized_only(&collection, &points) {
            return Err(Error::Unrestorable(format!(
                "dense vector {vector:?} is kept only as quantized codes"
            )));
        }
        let template = Collection::new(collection.config().clone())
            .map_err(Error::InvalidSnapshot)?
            .to_bytes();
        let stored = StoredCollection {
            uid: 0,
            config_json: None,
            template: Some(template),
            payload_indexes: collection.payload_index_fields(),
        };
        let n = points.len();
        self.inner
            .add_collection(name, stored, collection, points, replace, mark)?;
        Ok(n)
    }

    /// The collection in the core's portable byte format (what the npm
    /// package exports and imports), taken under a read lock: writers keep
    /// committing meanwhile, and the bytes hold every point as of some
    /// committed write (a batch being applied may be partly in).
    pub fn snapshot(&self, name: &str) -> Result<Vec<u8>> {
        let h = self.inner.handle(name)?;
        let bytes = read(&h.state).to_bytes();
        Ok(bytes)
    }

    /// Compacts, renumbers and re-quantizes collection `name`'s indexes
    /// ([`Collection::optimize`]) on a copy, then swaps it in: searches
    /// continue meanwhile, writers to this collection wait.
    pub fn optimize(&self, name: &str) -> Result<()> {
        let h = self.inner.handle(name)?;
        let mut w = self.inner.lock_writer(&h)?;
        let mut copy = read(&h.state).clone();
        copy.optimize()?;
        // A copy holds its vectors on the heap: back into fresh mapped files.
        self.inner.place_vectors(&h.disk, &mut copy)?;
        *write(&h.state) = copy;
        // The index file no longer holds the optimized layout.
        w.persisted_seq = None;
        Ok(())
    }

    /// Sizes of the database: points and memory per collection, file sizes,
    /// redb's cache counters, payload compression since open.
    pub fn stats(&self) -> Result<DbStats> {
        let inner = &self.inner;
        let db = inner.redb()?;
        let handles: Vec<Arc<Handle>> = read(&inner.collections).values().cloned().collect();
        let mut collections: Vec<(String, usize, grape_core::CollectionStats)> = handles
            .iter()
            .map(|h| {
                let c = read(&h.state);
                (h.name.clone(), c.len(), c.stats())
            })
            .collect();
        collections.sort_by(|a, b| a.0.cmp(&b.0));
        let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
        let index_bytes = handles.iter().map(|h| size(&h.index_path)).sum();
        let cache = db.cache_stats();
        Ok(DbStats {
            collections,
            redb_bytes: size(&inner.dir.join(REDB_FILE)),
            index_bytes,
            mapped_vector_bytes: inner.mapped.load(Ordering::Relaxed),
            cache: CacheStats {
                read_hits: cache.read_hits(),
                read_misses: cache.read_misses(),
                evictions: cache.evictions(),
                used_bytes: cache.used_bytes(),
            },
            payload: PayloadSizes {
                raw: inner.payload_raw.load(Ordering::Relaxed),
                stored: inner.payload_stored.load(Ordering::Relaxed),
            },
        })
    }

    /// Makes every acknowledged write durable (relevant with
    /// [`Durability::Relaxed`]) and writes the index file of every
    /// collection that changed since its last one.
    pub fn flush(&self) -> Result<()> {
        let inner = &self.inner;
        let db = inner.redb()?;
        inner.make_durable(&db)?;
        let handles: Vec<Arc<Handle>> = read(&inner.collections).values().cloned().collect();
        for h in handles {
            let mut w = inner.lock_writer(&h)?;
            inner.persist(&h, &mut w, &db)?;
        }
        Ok(())
    }

    /// Flushes and closes the database; later calls return
    /// [`Error::Closed`]. Idempotent. Dropping the last clone of a
    /// [`Database`] does the same, ignoring errors.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.shutdown()
    }
}

/// The selected dense vectors that the search state holds.
fn memory_vectors(c: &Collection, id: &PointId, selector: &VectorSelector) -> Option<Vectors> {
    wants_vectors(selector).then(|| Vectors {
        dense: c.select_vectors(id, selector),
        sparse: c
            .config()
            .sparse
            .keys()
            .filter(|n| selects(selector, n))
            .filter_map(|n| Some((n.clone(), c.sparse_vector(id, n)?)))
            .collect(),
    })
}

impl Inner {
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    pub(crate) fn redb(&self) -> Result<Arc<redb::Database>> {
        read(&self.redb).clone().ok_or(Error::Closed)
    }

    pub(crate) fn handle(&self, name: &str) -> Result<Arc<Handle>> {
        self.check_open()?;
        read(&self.collections)
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownCollection(name.to_string()))
    }

    pub(crate) fn lock_writer<'h>(&self, h: &'h Handle) -> Result<MutexGuard<'h, WriterState>> {
        let w = lock(&h.writer);
        if w.dropped {
            return Err(Error::UnknownCollection(h.name.clone()));
        }
        self.check_open()?;
        Ok(w)
    }

    /// A write transaction with quick repair, durable unless relaxed
    /// durability skips this one.
    /// Writes point records and bumps the collection's write sequence
    /// number (and `mark`) in one transaction; counts the payload bytes once
    /// committed.
    fn commit_points<'a>(
        &self,
        db: &redb::Database,
        h: &Handle,
        w: &mut WriterState,
        records: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        sizes: &PayloadSizes,
        mark: &Mark<'_>,
    ) -> Result<()> {
        let txn = self.begin_write(db)?;
        {
            let mut table = txn.open_table(points_def(&h.table))?;
            for (key, record) in records {
                table.insert(key, record)?;
            }
            txn.open_table(SEQ)?.insert(h.uid, w.seq + 1)?;
            mark.stage(&txn)?;
        }
        txn.commit()?;
        mark.committed();
        w.seq += 1;
        self.payload_raw.fetch_add(sizes.raw, Ordering::Relaxed);
        self.payload_stored
            .fetch_add(sizes.stored, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn begin_write(&self, db: &redb::Database) -> Result<redb::WriteTransaction> {
        let mut txn = db.begin_write()?;
        txn.set_quick_repair(true);
        if let Durability::Relaxed { commit_every } = self.options.durability {
            // redb runs one write transaction at a time: no race here.
            let n = self.pending.load(Ordering::Acquire) + 1;
            if n >= commit_every.max(1) {
                self.pending.store(0, Ordering::Release);
            } else {
                txn.set_durability(redb::Durability::None)?;
                self.pending.store(n, Ordering::Release);
            }
        }
        Ok(txn)
    }

    /// With relaxed durability, a durable empty commit (which makes the
    /// non-durable ones before it durable).
    fn make_durable(&self, db: &redb::Database) -> Result<()> {
        if matches!(self.options.durability, Durability::Relaxed { .. }) {
            let mut txn = db.begin_write()?;
            txn.set_quick_repair(true);
            txn.commit()?;
            self.pending.store(0, Ordering::Release);
        }
        Ok(())
    }

    /// Commits a changed catalogue entry of `h` (payload indexes) as one
    /// write: the entry, the bumped sequence number and `mark` in one
    /// transaction.
    fn commit_catalogue(
        &self,
        db: &redb::Database,
        h: &Handle,
        w: &mut WriterState,
        stored: StoredCollection,
        mark: &Mark<'_>,
    ) -> Result<()> {
        let txn = self.begin_write(db)?;
        {
            txn.open_table(CATALOGUE)?
                .insert(h.name.as_str(), stored.encode().as_slice())?;
            txn.open_table(SEQ)?.insert(h.uid, w.seq + 1)?;
            mark.stage(&txn)?;
        }
        txn.commit()?;
        mark.committed();
        w.seq += 1;
        w.stored = stored;
        Ok(())
    }

    /// Loads collection `name`'s search state from its index file, or
    /// rebuilds it from redb.
    fn load(
        &self,
        db: &redb::Database,
        name: String,
        stored: StoredCollection,
        seq: u64,
    ) -> Result<Handle> {
        let config = stored_config(&name, &stored)?;
        let disk = self.disk_vectors(&name, &stored, &config)?;
        let index_path = index_file::path(&self.dir, &name);
        let table = points_table(stored.uid);
        let (collection, persisted_seq) = match index_file::read(&index_path, stored.uid, seq) {
            Ok(mut c) => {
                info!(collection = %name, points = c.len(), "loaded the index file");
                self.place_vectors(&disk, &mut c)?;
                (c, Some(seq))
            }
            Err(miss) => {
                match miss {
                    Miss::Absent => info!(collection = %name, "no index file: rebuilding"),
                    Miss::Stale(why) => {
                        info!(collection = %name, "index file is stale ({why}): rebuilding");
                    }
                    Miss::Corrupt(why) => warn!(
                        collection = %name,
                        file = %index_path.display(),
                        "index file {} is corrupted ({why}): rebuilding",
                        index_path.display()
                    ),
                }
                let c = self.rebuild(db, &name, &table, &config, &stored)?;
                let persisted = match index_file::write(&index_path, stored.uid, seq, &c) {
                    Ok(_) => Some(seq),
                    Err(e) => {
                        warn!(collection = %name, "cannot write the index file: {e}");
                        None
                    }
                };
                (c, persisted)
            }
        };
        Ok(Handle {
            name,
            uid: stored.uid,
            table,
            config,
            index_path,
            disk,
            writer: Mutex::new(WriterState {
                seq,
                persisted_seq,
                since_persist: 0,
                stored,
                dropped: false,
            }),
            state: RwLock::new(collection),
        })
    }

    /// The dense vectors of a collection that live in mapped files: those
    /// whose create-collection JSON says `"on_disk": true`, and those that
    /// do not say when the database's default is disk-mmap.
    pub(crate) fn disk_vectors(
        &self,
        name: &str,
        stored: &StoredCollection,
        config: &CollectionConfig,
    ) -> Result<Vec<String>> {
        let default = self.options.vector_storage == VectorStorage::DiskMmap;
        let json: Option<serde_json::Value> = match &stored.config_json {
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| corrupted(format!("configuration of collection {name:?}: {e}")))?,
            ),
            None => None,
        };
        let vectors = json.as_ref().and_then(|j| j.get("vectors"));
        let mut disk = Vec::new();
        for vector in config.dense.keys() {
            let params = match vectors {
                Some(v) if vector.is_empty() && v.get("size").is_some() => Some(v),
                Some(v) => v.get(vector.as_str()),
                None => None,
            };
            let on_disk = match params.and_then(|p| p.get("on_disk")) {
                None | Some(serde_json::Value::Null) => default,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(Error::Core(grape_core::Error::InvalidConfig(format!(
                        "vectors{}.on_disk: expected a boolean, got {other}",
                        if vector.is_empty() {
                            String::new()
                        } else {
                            format!(".{vector}")
                        }
                    ))));
                }
            };
            if on_disk {
                disk.push(vector.clone());
            }
        }
        Ok(disk)
    }

    /// Moves the vectors named in `disk` into fresh mapped files.
    pub(crate) fn place_vectors(&self, disk: &[String], c: &mut Collection) -> Result<()> {
        for vector in disk {
            let arena = MappedVectors::create(&self.dir, self.mapped.clone())
                .map_err(|e| Error::io(self.dir.join(crate::mmap::VECTORS_DIR), e))?;
            c.set_vector_arena(vector, Box::new(arena))
                .map_err(arena_error)?;
        }
        Ok(())
    }

    /// The search state of a collection from its points in redb.
    fn rebuild(
        &self,
        db: &redb::Database,
        name: &str,
        table: &str,
        config: &CollectionConfig,
        stored: &StoredCollection,
    ) -> Result<Collection> {
        let mut c = Collection::new(config.clone())
            .map_err(|e| corrupted(format!("configuration of collection {name:?}: {e}")))?;
        // Vectors go straight into their mapped files: a rebuild never holds
        // them all on the heap.
        let disk = self.disk_vectors(name, stored, config)?;
        self.place_vectors(&disk, &mut c)?;
        for (field, schema) in &stored.payload_indexes {
            c.create_payload_index(field, *schema)
                .map_err(|e| corrupted(format!("payload index {field:?} of {name:?}: {e}")))?;
        }
        let read = db.begin_read()?;
        let points = read.open_table(points_def(table))?;
        let total = points.len()?;
        let every = self.options.progress_every.max(1) as u64;
        let mut done = 0u64;
        let mut batch = Vec::with_capacity(REBUILD_CHUNK);
        let mut items = points.iter()?;
        loop {
            let item = items.next().transpose()?;
            let end = item.is_none();
            if let Some((k, v)) = item {
                let id = key_id(k.value()).map_err(corrupted)?;
                batch.push(decode_point(id, v.value()).map_err(corrupted)?);
            }
            if batch.len() == REBUILD_CHUNK || (end && !batch.is_empty()) {
                let n = batch.len() as u64;
                c.upsert(std::mem::take(&mut batch)).map_err(|e| {
                    corrupted(format!("a stored point of {name:?} is rejected: {e}"))
                })?;
                if (done + n) / every > done / every {
                    info!(collection = name, points = done + n, total, "rebuilding");
                }
                done += n;
            }
            if end {
                break;
            }
        }
        if done > 0 {
            c.optimize()?;
        }
        info!(collection = name, points = done, "rebuilt");
        Ok(c)
    }

    /// Registers a new collection holding `collection` and, in the same
    /// transaction, `points` (already checked); with `replace`, an existing
    /// collection of that name goes in that same transaction, as does `mark`.
    fn add_collection(
        &self,
        name: &str,
        mut stored: StoredCollection,
        mut collection: Collection,
        points: Vec<PointData>,
        replace: bool,
        mark: &Mark<'_>,
    ) -> Result<()> {
        let _catalogue = lock(&self.catalogue);
        self.check_open()?;
        let disk = self.disk_vectors(name, &stored, collection.config())?;
        self.place_vectors(&disk, &mut collection)?;
        let old = read(&self.collections).get(name).cloned();
        if old.is_some() && !replace {
            return Err(Error::AlreadyExists(name.to_string()));
        }
        let mut old_writer = match &old {
            Some(h) => Some(self.lock_writer(h)?),
            None => None,
        };
        let db = self.redb()?;
        let mut sizes = PayloadSizes::default();
        let txn = self.begin_write(&db)?;
        let seq = u64::from(!points.is_empty());
        {
            if let Some(h) = &old {
                txn.open_table(SEQ)?.remove(h.uid)?;
                txn.delete_table(points_def(&h.table))?;
            }
            let mut meta = txn.open_table(META)?;
            let uid = meta.get(NEXT_UID)?.map_or(1, |g| g.value());
            meta.insert(NEXT_UID, uid + 1)?;
            stored.uid = uid;
            txn.open_table(CATALOGUE)?
                .insert(name, stored.encode().as_slice())?;
            txn.open_table(SEQ)?.insert(uid, seq)?;
            let mut table = txn.open_table(points_def(&points_table(uid)))?;
            for p in &points {
                table.insert(
                    id_key(&p.id).as_slice(),
                    encode_point(p, &mut sizes).as_slice(),
                )?;
            }
            mark.stage(&txn)?;
        }
        txn.commit()?;
        mark.committed();
        if let Some(w) = &mut old_writer {
            w.dropped = true;
        }
        let index_path = index_file::path(&self.dir, name);
        // A file left by an earlier collection of that name is stale (its uid
        // differs); it goes now.
        if let Err(e) = index_file::remove(&index_path) {
            warn!(collection = name, "cannot remove the old index file: {e}");
        }
        self.payload_raw.fetch_add(sizes.raw, Ordering::Relaxed);
        self.payload_stored
            .fetch_add(sizes.stored, Ordering::Relaxed);
        let handle = Arc::new(Handle {
            name: name.to_string(),
            uid: stored.uid,
            table: points_table(stored.uid),
            config: collection.config().clone(),
            index_path,
            disk,
            writer: Mutex::new(WriterState {
                seq,
                persisted_seq: None,
                since_persist: points.len(),
                stored,
                dropped: false,
            }),
            state: RwLock::new(collection),
        });
        write(&self.collections).insert(name.to_string(), Arc::clone(&handle));
        drop(old_writer);
        if !points.is_empty() {
            let mut w = lock(&handle.writer);
            if let Err(e) = self.persist(&handle, &mut w, &db) {
                warn!(collection = name, "cannot write the index file: {e}");
            }
        }
        Ok(())
    }

    /// Deletes `ids` under the writer lock, committing `mark` with them
    /// (nothing is committed when none exists).
    fn delete_locked(
        &self,
        h: &Handle,
        w: &mut WriterState,
        ids: &[PointId],
        mark: &Mark<'_>,
    ) -> Result<usize> {
        let db = self.redb()?;
        let txn = self.begin_write(&db)?;
        let mut existed = Vec::new();
        {
            let mut table = txn.open_table(points_def(&h.table))?;
            for id in ids {
                if table.remove(id_key(id).as_slice())?.is_some() {
                    existed.push(*id);
                }
            }
            if existed.is_empty() {
                drop(table);
                txn.abort()?;
                return Ok(0);
            }
            txn.open_table(SEQ)?.insert(h.uid, w.seq + 1)?;
            mark.stage(&txn)?;
        }
        txn.commit()?;
        mark.committed();
        w.seq += 1;
        for chunk in existed.chunks(APPLY_CHUNK) {
            write(&h.state).delete(chunk);
        }
        self.after_write(h, w, &db, existed.len(), Ok(()))?;
        Ok(existed.len())
    }

    /// After a committed write: if applying it to the search state failed
    /// (the checks make that unexpected), rebuild the state from redb so
    /// that it agrees again; then write the index file when due.
    fn after_write(
        &self,
        h: &Handle,
        w: &mut WriterState,
        db: &redb::Database,
        points: usize,
        applied: grape_core::Result<()>,
    ) -> Result<()> {
        if let Err(e) = applied {
            warn!(collection = %h.name, "applying a committed write failed ({e}): rebuilding");
            let c = self.rebuild(db, &h.name, &h.table, &h.config, &w.stored)?;
            *write(&h.state) = c;
        }
        w.since_persist += points;
        if self
            .options
            .persist_every
            .is_some_and(|n| w.since_persist >= n.max(1))
            && let Err(e) = self.persist(h, w, db)
        {
            warn!(collection = %h.name, "cannot write the index file: {e}");
        }
        Ok(())
    }

    /// Writes the index file of `h` unless it is up to date. Only after a
    /// durable commit: the file never reflects a write a crash could undo.
    pub(crate) fn persist(
        &self,
        h: &Handle,
        w: &mut WriterState,
        db: &redb::Database,
    ) -> Result<()> {
        if w.persisted_seq == Some(w.seq) {
            return Ok(());
        }
        self.make_durable(db)?;
        let c = read(&h.state);
        index_file::write(&h.index_path, h.uid, w.seq, &c)?;
        w.persisted_seq = Some(w.seq);
        w.since_persist = 0;
        Ok(())
    }

    /// Adds the selected dense vectors that the search state keeps only as
    /// quantized codes, from redb.
    fn fill_stored_vectors<'a>(
        &self,
        h: &Handle,
        selector: &VectorSelector,
        targets: impl Iterator<Item = (PointId, &'a mut Option<Vectors>)>,
    ) -> Result<()> {
        if !wants_vectors(selector) || !needs_stored_vectors(&h.config, selector) {
            return Ok(());
        }
        let db = self.redb()?;
        let read = db.begin_read()?;
        let table = read.open_table(points_def(&h.table))?;
        for (id, vectors) in targets {
            let Some(v) = table.get(id_key(&id).as_slice())? else {
                continue;
            };
            let p = decode_point(id, v.value()).map_err(corrupted)?;
            let stored = stored_vectors(&h.config, p, selector);
            let target = vectors.get_or_insert_with(Vectors::default);
            for (name, v) in stored.dense {
                target.dense.entry(name).or_insert(v);
            }
        }
        Ok(())
    }

    fn shutdown(&self) -> Result<()> {
        let _catalogue = lock(&self.catalogue);
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut first_error = None;
        if let Ok(db) = self.redb() {
            if let Err(e) = self.make_durable(&db) {
                first_error.get_or_insert(e);
            }
            let handles: Vec<Arc<Handle>> = read(&self.collections).values().cloned().collect();
            for h in handles {
                let mut w = lock(&h.writer);
                if w.dropped {
                    continue;
                }
                if let Err(e) = self.persist(&h, &mut w, &db) {
                    warn!(collection = %h.name, "cannot write the index file: {e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        self.closed.store(true, Ordering::Release);
        // Writers hold their lock across commits: taking each one waits
        // for the write in flight, after which none can start.
        for h in read(&self.collections).values() {
            drop(lock(&h.writer));
        }
        if let Some(db) = write(&self.redb).take() {
            // Closes the file now unless a reader still holds it; then it
            // closes when that reader is done.
            if let Ok(db) = Arc::try_unwrap(db)
                && let Err(e) = db.close()
            {
                first_error.get_or_insert(e.into());
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            warn!("shutting the database down: {e}");
        }
    }
}

/// The configuration of a stored collection.
/// A core error from a vector arena, as [`Error::DiskFull`] when the disk
/// is full.
fn arena_error(e: grape_core::Error) -> Error {
    match e {
        grape_core::Error::VectorStorage(m) if m.starts_with(DISK_FULL) => Error::DiskFull(m),
        other => Error::Core(other),
    }
}

pub(crate) fn stored_config(name: &str, stored: &StoredCollection) -> Result<CollectionConfig> {
    let bad = |e: String| corrupted(format!("configuration of collection {name:?}: {e}"));
    if let Some(json) = &stored.config_json {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        return CollectionConfig::from_value(&value).map_err(|e| bad(e.to_string()));
    }
    let template = stored
        .template
        .as_deref()
        .ok_or_else(|| bad("neither JSON nor template".into()))?;
    Collection::from_bytes(template)
        .map(|c| c.config().clone())
        .map_err(|e| bad(e.to_string()))
}
