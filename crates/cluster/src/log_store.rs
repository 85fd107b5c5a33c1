//! The Raft log and vote of one node, in their own redb file.
//!
//! [`LogStore`] implements openraft's [`RaftLogStorage`] and
//! [`RaftLogReader`] over `<dir>/raft.redb` ([`LOG_FILE`]). The file is
//! separate from `grape-db`'s because redb allows one writer per file: the
//! log is appended by the Raft core while the state machine writes the
//! database, and neither should wait for the other's commits.
//!
//! Layout (format 1):
//! - table `logs`: log index (`u64`) -> the entry, bincode 2 (serde,
//!   standard config);
//! - table `meta`: `format` -> `[1]`, `vote`, `last_purged_log_id`,
//!   `committed` -> bincode 2 of openraft's `Vote` / `LogId`.
//!
//! bincode rather than JSON: an entry's command is an opaque byte string
//! (an encoded mutation, often a batch of vectors) that JSON would write as
//! an array of decimal numbers, several times its size; openraft's log
//! types use no serde feature that bincode lacks (untagged or flattened
//! enums), and grape-db already uses bincode 2.
//!
//! Every write is one redb transaction committed with
//! [`redb::Durability::Immediate`]: an `append` batch, a `truncate`, a
//! `purge` (which deletes the entries and records `last_purged_log_id`
//! together) and each vote/committed update. openraft serialises the calls
//! (`&mut self`), and each call returns only after its commit, so writes are
//! applied in the order they were issued. redb's work runs on tokio's
//! blocking pool, not on the runtime's worker threads.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, Entry, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader,
    StorageError, StorageIOError, Vote,
};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{NodeId, TypeConfig};

/// The log store's file name inside a node's directory.
pub const LOG_FILE: &str = "raft.redb";

/// The on-disk format this code writes and reads.
const FORMAT: u8 = 1;

/// Replication reads stop adding entries once this many encoded bytes are
/// collected (at least one entry is always returned), so that a run of large
/// upserts does not become one huge `AppendEntries` request.
const READ_LIMIT_BYTES: usize = 8 << 20;

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const KEY_FORMAT: &str = "format";
const KEY_VOTE: &str = "vote";
const KEY_PURGED: &str = "last_purged_log_id";
const KEY_COMMITTED: &str = "committed";

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

/// The Raft log and vote of one node (see the module documentation).
///
/// Cloning is cheap and shares the open file; openraft's log reader is a
/// clone.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: redb::Database,
    path: PathBuf,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl LogStore {
    /// Opens (or creates) the log store in `dir` (the file [`LOG_FILE`];
    /// `dir` is created if missing).
    ///
    /// Fails if the file is open already (in this or another process), is
    /// damaged, or was written in another format.
    #[allow(
        clippy::result_large_err,
        reason = "openraft's StorageError, as the storage traits and StoreBuilder return it"
    )]
    pub fn open(dir: impl AsRef<Path>) -> Result<LogStore> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, Failure::io(dir, e)))?;
        let path = dir.join(LOG_FILE);
        let db = open_file(&path).map_err(|e| {
            let e = e.context(format!("opening {}", path.display()));
            io_error(ErrorSubject::Store, ErrorVerb::Read, e)
        })?;
        Ok(LogStore {
            inner: Arc::new(Inner { db, path }),
        })
    }

    /// The log store's file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the blocking pool; a failure becomes a
    /// [`StorageIOError`] about `subject`/`verb`.
    async fn run<T, F>(&self, subject: ErrorSubject<NodeId>, verb: ErrorVerb, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&redb::Database) -> std::result::Result<T, Failure> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        blocking(move || f(&inner.db))
            .await
            .map_err(|e| io_error(subject, verb, e))
    }

    async fn read_meta<T>(
        &self,
        key: &'static str,
        subject: ErrorSubject<NodeId>,
    ) -> Result<Option<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.run(subject, ErrorVerb::Read, move |db| {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            get_meta(&meta, key)
        })
        .await
    }

    async fn write_meta<T>(
        &self,
        key: &'static str,
        value: Option<&T>,
        subject: ErrorSubject<NodeId>,
    ) -> Result<()>
    where
        T: Serialize,
    {
        let bytes = value
            .map(encode)
            .transpose()
            .map_err(|e| io_error(subject.clone(), ErrorVerb::Write, e))?;
        self.run(subject, ErrorVerb::Write, move |db| {
            let txn = begin_write(db)?;
            {
                let mut meta = txn.open_table(META)?;
                match &bytes {
                    Some(bytes) => {
                        meta.insert(key, bytes.as_slice())?;
                    }
                    None => {
                        meta.remove(key)?;
                    }
                }
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }
}

fn open_file(path: &Path) -> std::result::Result<redb::Database, Failure> {
    let db = redb::Database::create(path)?;
    let txn = begin_write(&db)?;
    {
        let mut meta = txn.open_table(META)?;
        let found = meta.get(KEY_FORMAT)?.map(|v| v.value().to_vec());
        match found.as_deref() {
            None => {
                meta.insert(KEY_FORMAT, [FORMAT].as_slice())?;
            }
            Some([FORMAT]) => {}
            Some(other) => {
                return Err(Failure::Format(format!(
                    "unsupported log store format {other:?}, expected [{FORMAT}]"
                )));
            }
        }
        txn.open_table(LOGS)?;
    }
    txn.commit()?;
    Ok(db)
}

fn begin_write(db: &redb::Database) -> std::result::Result<redb::WriteTransaction, Failure> {
    let mut txn = db.begin_write()?;
    txn.set_durability(redb::Durability::Immediate)?;
    Ok(txn)
}

fn get_meta<T, M>(meta: &M, key: &str) -> std::result::Result<Option<T>, Failure>
where
    T: DeserializeOwned,
    M: ReadableTable<&'static str, &'static [u8]>,
{
    match meta.get(key)? {
        Some(v) => decode(v.value())
            .map(Some)
            .map_err(|e| e.context(format!("meta key {key:?}"))),
        None => Ok(None),
    }
}

/// `range` as owned bounds, for moving into a blocking task.
fn owned_bounds<RB: RangeBounds<u64>>(range: &RB) -> (Bound<u64>, Bound<u64>) {
    (range.start_bound().cloned(), range.end_bound().cloned())
}

fn read_entries(
    db: &redb::Database,
    bounds: (Bound<u64>, Bound<u64>),
    limit_bytes: usize,
) -> std::result::Result<Vec<Entry<TypeConfig>>, Failure> {
    // redb panics on an inverted range; openraft may ask for an empty one.
    let empty = match bounds {
        (Bound::Included(s), Bound::Excluded(e)) => s >= e,
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Excluded(s), Bound::Excluded(e)) => s.saturating_add(1) >= e,
        (Bound::Excluded(s), Bound::Included(e)) => s >= e,
        _ => false,
    };
    if empty {
        return Ok(Vec::new());
    }
    let txn = db.begin_read()?;
    let logs = txn.open_table(LOGS)?;
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    for item in logs.range::<u64>(bounds)? {
        let (index, value) = item?;
        let index = index.value();
        let value = value.value();
        let entry: Entry<TypeConfig> =
            decode(value).map_err(|e| e.context(format!("log entry {index}")))?;
        if entry.log_id.index != index {
            return Err(Failure::Format(format!(
                "log entry stored at index {index} has log id {}",
                entry.log_id
            )));
        }
        entries.push(entry);
        bytes += value.len();
        if bytes >= limit_bytes {
            break;
        }
    }
    Ok(entries)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let bounds = owned_bounds(&range);
        self.run(ErrorSubject::Logs, ErrorVerb::Read, move |db| {
            read_entries(db, bounds, usize::MAX)
        })
        .await
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let bounds = (Bound::Included(start), Bound::Excluded(end));
        self.run(ErrorSubject::Logs, ErrorVerb::Read, move |db| {
            read_entries(db, bounds, READ_LIMIT_BYTES)
        })
        .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        self.run(ErrorSubject::Logs, ErrorVerb::Read, |db| {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            let last_purged_log_id: Option<LogId<NodeId>> = get_meta(&meta, KEY_PURGED)?;
            let logs = txn.open_table(LOGS)?;
            let last = match logs.last()? {
                Some((index, value)) => {
                    let index = index.value();
                    let entry: Entry<TypeConfig> = decode(value.value())
                        .map_err(|e| e.context(format!("log entry {index}")))?;
                    Some(entry.log_id)
                }
                None => None,
            };
            Ok(LogState {
                last_log_id: last.or(last_purged_log_id),
                last_purged_log_id,
            })
        })
        .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<()> {
        self.write_meta(KEY_VOTE, Some(vote), ErrorSubject::Vote)
            .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>> {
        self.read_meta(KEY_VOTE, ErrorSubject::Vote).await
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<()> {
        self.write_meta(KEY_COMMITTED, committed.as_ref(), ErrorSubject::Store)
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>> {
        self.read_meta(KEY_COMMITTED, ErrorSubject::Store).await
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        self.run(ErrorSubject::Logs, ErrorVerb::Write, move |db| {
            let txn = begin_write(db)?;
            {
                let mut logs = txn.open_table(LOGS)?;
                for entry in &entries {
                    let bytes = encode(entry)
                        .map_err(|e| e.context(format!("log entry {}", entry.log_id)))?;
                    logs.insert(entry.log_id.index, bytes.as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
        .await?;
        // Committed with `Durability::Immediate`: the entries are on disk.
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let since = log_id.index;
        self.run(ErrorSubject::Log(log_id), ErrorVerb::Delete, move |db| {
            let txn = begin_write(db)?;
            txn.open_table(LOGS)?.retain_in(since.., |_, _| false)?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let bytes = encode(&log_id)
            .map_err(|e| io_error(ErrorSubject::Log(log_id), ErrorVerb::Delete, e))?;
        let upto = log_id.index;
        self.run(ErrorSubject::Log(log_id), ErrorVerb::Delete, move |db| {
            let txn = begin_write(db)?;
            {
                let mut meta = txn.open_table(META)?;
                let current: Option<LogId<NodeId>> = get_meta(&meta, KEY_PURGED)?;
                // openraft purges forward only; never move the pointer back.
                if current.is_some_and(|c| c.index >= upto) {
                    return Ok(());
                }
                meta.insert(KEY_PURGED, bytes.as_slice())?;
                txn.open_table(LOGS)?.retain_in(..=upto, |_, _| false)?;
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }
}

/// A failure inside a storage task, converted to openraft's
/// [`StorageIOError`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// redb failed (I/O, corruption, ...).
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    /// A value could not be encoded.
    #[error("cannot encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// Stored bytes could not be decoded.
    #[error("cannot decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// Stored or received bytes are not in the expected format.
    #[error("{0}")]
    Format(String),
    /// grape-db failed.
    #[error("grape-db ({code}): {0}", code = .0.code())]
    Db(#[from] grape_db::Error),
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A blocking task panicked or was cancelled.
    #[error("storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A failure with what was being done.
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// The failure.
        source: Box<Failure>,
    },
}

impl Failure {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Failure {
        Failure::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn context(self, context: impl Into<String>) -> Failure {
        Failure::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {
        $(impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::Redb(e.into())
            }
        })*
    };
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// Runs `f` on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> std::result::Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> std::result::Result<T, Failure> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await?
}

/// openraft's error for a failed storage operation.
pub(crate) fn io_error(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    failure: impl std::error::Error + 'static,
) -> StorageError<NodeId> {
    StorageIOError::new(subject, verb, AnyError::new(&failure)).into()
}

/// Encodes a value for storage: bincode 2 over serde, standard config.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> std::result::Result<Vec<u8>, Failure> {
    Ok(bincode::serde::encode_to_vec(
        value,
        bincode::config::standard(),
    )?)
}

/// Decodes what [`encode`] wrote; trailing bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, Failure> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())?;
    if read != bytes.len() {
        return Err(Failure::Format(format!(
            "{} trailing bytes after the value",
            bytes.len() - read
        )));
    }
    Ok(value)
}
