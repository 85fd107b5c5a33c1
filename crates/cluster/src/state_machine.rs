//! The Raft state machine: applies committed entries to a node's
//! [`grape_db::Database`], and builds and installs snapshots.
//!
//! [`StateMachine`] implements openraft's [`RaftStateMachine`];
//! [`SnapshotBuilder`] its [`RaftSnapshotBuilder`].
//!
//! # Applying
//!
//! A normal entry carries an encoded [`grape_db::Mutation`]; it is applied
//! with [`Database::apply_marked`], which commits the change and the
//! *applied mark* (this module's encoding of the entry's log id and the last
//! membership) in one redb transaction. After a crash the mark names exactly
//! the last entry that is in, and a replay skips entries up to it, so each
//! mutation takes effect once. Blank and membership entries only move the
//! mark ([`Database::set_applied_mark`]). A mutation that fails the same way
//! on every node ([`grape_db::Error::is_deterministic`]) is answered with
//! [`Applied::Failed`] and still marked applied; any other failure is a
//! [`StorageError`], on which openraft stops the node rather than let it
//! diverge. A mutation that cannot be decoded is such a failure too: every
//! mutation in the log was encoded by a leader, so it means a node older
//! than the leader or damaged bytes.
//!
//! The mark is a version byte (1) and then bincode 2 (serde, standard
//! configuration) of the last applied log id and the last membership;
//! [`RaftStateMachine::applied_state`] answers from a copy kept in step
//! with it. The mark follows the database's `Durability`, as the data does:
//! whatever a crash keeps, data and mark agree.
//!
//! # Snapshots
//!
//! A snapshot is [`Database::export_all`] (everything, with the applied
//! mark) in an envelope that carries openraft's [`SnapshotMeta`] and a
//! CRC-32. The same bytes are sent to followers and kept as the node's
//! current snapshot in [`SNAPSHOT_FILE`] (written to a temporary file,
//! fsynced, renamed), so [`RaftStateMachine::get_current_snapshot`] survives
//! restarts. Envelope layout (version 1, integers little-endian):
//!
//! ```text
//! data (export_all) | meta (bincode 2 of SnapshotMeta) | meta length u32
//! | data length u64 | version u32 | magic "GRRAFTSN" | CRC-32 of everything before it, u32
//! ```
//!
//! Installing writes the received snapshot as [`INSTALLING_FILE`], imports
//! it ([`Database::import_all`]: data and mark in one transaction), then
//! renames it to [`SNAPSHOT_FILE`]. Opening a state machine finishes an
//! install that a crash interrupted.
//!
//! A build reads the mark and exports under the same lock as `apply`
//! takes, so its meta names exactly the data it holds (grape-db's export
//! holds off writers while it runs anyway).
//!
//! grape-db's calls block; they run on tokio's blocking pool.

use std::fs::{self, File};
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use grape_db::{Database, Mutation};
use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use crate::log_store::{Failure, blocking, decode, encode, io_error};
use crate::types::{Applied, Command, Node, NodeId, TypeConfig};

/// The current snapshot's file name inside the state machine's directory.
pub const SNAPSHOT_FILE: &str = "raft-snapshot.bin";

/// A received snapshot while it is being installed.
pub const INSTALLING_FILE: &str = "raft-snapshot.installing";

const SNAPSHOT_MAGIC: &[u8; 8] = b"GRRAFTSN";
const SNAPSHOT_VERSION: u32 = 1;

/// The first byte of an applied mark: its format.
const MARK_VERSION: u8 = 1;

type Result<T> = std::result::Result<T, StorageError<NodeId>>;
type Meta = SnapshotMeta<NodeId, Node>;
type Membership = StoredMembership<NodeId, Node>;

/// What the applied mark records: the last applied log id and the last
/// applied membership.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct AppliedState {
    last_applied: Option<LogId<NodeId>>,
    last_membership: Membership,
}

impl AppliedState {
    fn encode(&self) -> std::result::Result<Vec<u8>, Failure> {
        let mut mark = vec![MARK_VERSION];
        mark.extend(encode(self)?);
        Ok(mark)
    }

    fn decode(mark: &[u8]) -> std::result::Result<AppliedState, Failure> {
        match mark.split_first() {
            Some((&MARK_VERSION, body)) => decode(body).map_err(|e| e.context("applied mark")),
            Some((v, _)) => Err(Failure::Format(format!(
                "unsupported applied mark version {v}, expected {MARK_VERSION}"
            ))),
            None => Err(Failure::Format("empty applied mark".to_string())),
        }
    }

    /// The database's mark, decoded; the initial state when it has none.
    fn read(db: &Database) -> std::result::Result<AppliedState, Failure> {
        match db.applied_mark()? {
            Some(mark) => AppliedState::decode(&mark),
            None => Ok(AppliedState::default()),
        }
    }

    fn matches(&self, meta: &Meta) -> bool {
        self.last_applied == meta.last_log_id && self.last_membership == meta.last_membership
    }
}

/// State shared by the state machine and its snapshot builders.
struct Shared {
    db: Database,
    dir: PathBuf,
    /// Held while the database's content or mark changes (`apply`,
    /// `install_snapshot`) and while a builder reads the mark and exports,
    /// so that a snapshot's meta matches its data.
    applying: Mutex<()>,
    /// The meta of [`SNAPSHOT_FILE`]; held while the file is replaced.
    current: Mutex<Option<Meta>>,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Reads and checks a snapshot file; `None` if there is none.
    fn load(&self, name: &str) -> std::result::Result<Option<(Meta, Vec<u8>)>, Failure> {
        let path = self.path(name);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Failure::io(&path, e)),
        };
        let (meta, _) = open_envelope(&bytes).map_err(|e| e.context(path.display().to_string()))?;
        Ok(Some((meta, bytes)))
    }

    /// Replaces [`SNAPSHOT_FILE`] with `bytes` (a sealed snapshot for
    /// `meta`) unless the current one is newer (an install may overtake a
    /// build).
    fn store_current(&self, meta: &Meta, bytes: &[u8]) -> std::result::Result<(), Failure> {
        let mut current = lock(&self.current);
        if current
            .as_ref()
            .is_some_and(|c| c.last_log_id > meta.last_log_id)
        {
            return Ok(());
        }
        write_atomic(&self.dir, SNAPSHOT_FILE, bytes)?;
        *current = Some(meta.clone());
        Ok(())
    }

    fn snapshot_id(&self, last: Option<LogId<NodeId>>) -> String {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        match last {
            Some(l) => format!("{}-{}-{millis}-{n}", l.leader_id, l.index),
            None => format!("none-{millis}-{n}"),
        }
    }
}

/// Applies committed entries to a node's [`Database`] and keeps its
/// snapshots (see the module documentation).
pub struct StateMachine {
    shared: Arc<Shared>,
    /// What the database's mark says (kept in step with it).
    state: AppliedState,
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine")
            .field("dir", &self.shared.dir)
            .field("last_applied", &self.state.last_applied)
            .finish_non_exhaustive()
    }
}

impl StateMachine {
    /// A state machine over `db` keeping its snapshot files in `dir`
    /// (created if missing; not the database's own directory, whose content
    /// grape-db manages).
    ///
    /// Reads the applied mark and the current snapshot, and finishes a
    /// snapshot install that a crash interrupted. Blocking: call it before
    /// starting Raft, or from a blocking task.
    #[allow(
        clippy::result_large_err,
        reason = "openraft's StorageError, as the storage traits and StoreBuilder return it"
    )]
    pub fn new(db: Database, dir: impl AsRef<Path>) -> Result<StateMachine> {
        let dir = dir.as_ref().to_path_buf();
        let shared = Arc::new(Shared {
            db,
            dir,
            applying: Mutex::new(()),
            current: Mutex::new(None),
            next_id: AtomicU64::new(0),
        });
        let state =
            open(&shared).map_err(|e| io_error(ErrorSubject::StateMachine, ErrorVerb::Read, e))?;
        Ok(StateMachine { shared, state })
    }

    /// The database the entries are applied to.
    pub fn database(&self) -> &Database {
        &self.shared.db
    }

    /// The directory of the snapshot files.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

/// Opens the state machine's files: fills `shared.current`, finishes an
/// interrupted install and returns the applied state.
fn open(shared: &Shared) -> std::result::Result<AppliedState, Failure> {
    fs::create_dir_all(&shared.dir).map_err(|e| Failure::io(&shared.dir, e))?;
    for name in [SNAPSHOT_FILE, INSTALLING_FILE] {
        let tmp = shared.path(&tmp_name(name));
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Failure::io(&tmp, e)),
            _ => {}
        }
    }
    *lock(&shared.current) = shared.load(SNAPSHOT_FILE)?.map(|(meta, _)| meta);
    let mut state = AppliedState::read(&shared.db)?;

    let installing = shared.path(INSTALLING_FILE);
    let pending = match shared.load(INSTALLING_FILE) {
        Ok(pending) => pending,
        Err(e) => {
            // Renamed into place only once complete and fsynced: damage is
            // the disk's; the install never happened, the leader resends.
            tracing::warn!("discarding damaged {}: {e}", installing.display());
            remove(&installing)?;
            None
        }
    };
    if let Some((meta, bytes)) = pending {
        if state.last_applied < meta.last_log_id {
            let (_, data) = open_envelope(&bytes)?;
            tracing::info!(
                "finishing the install of snapshot {} interrupted by a crash",
                meta.snapshot_id
            );
            match shared.db.import_all(data) {
                Ok(()) => state = AppliedState::read(&shared.db)?,
                Err(e) if e.is_deterministic() => {
                    tracing::warn!("discarding {}: {e}", installing.display());
                    remove(&installing)?;
                    return Ok(state);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if state.matches(&meta) {
            rename_into_place(&shared.dir, INSTALLING_FILE, SNAPSHOT_FILE)?;
            *lock(&shared.current) = Some(meta);
        } else {
            remove(&installing)?;
        }
    }
    Ok(state)
}

/// Applies `entries` in order. Returns one response per entry and the
/// state the database's mark holds afterwards (also on failure, with the
/// entries before the failing one applied).
fn apply_batch(
    db: &Database,
    mut durable: AppliedState,
    entries: Vec<Entry<TypeConfig>>,
) -> (AppliedState, Result<Vec<Applied>>) {
    let mut responses = Vec::with_capacity(entries.len());
    // Blank and membership entries only move the mark: one write for a run
    // of them, before the next mutation or at the end.
    let mut state = durable.clone();
    let mut unwritten: Option<LogId<NodeId>> = None;
    for entry in entries {
        let log_id = entry.log_id;
        if state
            .last_applied
            .is_some_and(|applied| log_id.index <= applied.index)
        {
            // Already in (a replay after a crash); nobody waits for this
            // answer any more.
            responses.push(Applied::Nothing);
            continue;
        }
        state.last_applied = Some(log_id);
        match entry.payload {
            EntryPayload::Blank => {
                unwritten = Some(log_id);
                responses.push(Applied::Nothing);
            }
            EntryPayload::Membership(membership) => {
                state.last_membership = StoredMembership::new(Some(log_id), membership);
                unwritten = Some(log_id);
                responses.push(Applied::Nothing);
            }
            EntryPayload::Normal(command) => match apply_command(db, &command, &state) {
                Ok(response) => {
                    responses.push(response);
                    durable = state.clone();
                    unwritten = None;
                }
                Err(e) => {
                    let err = io_error(ErrorSubject::Apply(log_id), ErrorVerb::Write, e);
                    return (durable, Err(err));
                }
            },
        }
    }
    if let Some(log_id) = unwritten {
        let written = state
            .encode()
            .and_then(|mark| Ok(db.set_applied_mark(&mark)?));
        if let Err(e) = written {
            let err = io_error(ErrorSubject::Apply(log_id), ErrorVerb::Write, e);
            return (durable, Err(err));
        }
        durable = state;
    }
    (durable, Ok(responses))
}

/// Applies one mutation with `state` (its entry's) as the mark.
fn apply_command(
    db: &Database,
    command: &Command,
    state: &AppliedState,
) -> std::result::Result<Applied, Failure> {
    let mutation = Mutation::decode(&command.mutation)
        .map_err(|e| Failure::from(e).context("decoding the mutation"))?;
    let mark = state.encode()?;
    match db.apply_marked(mutation, &mark) {
        Ok(outcome) => Ok(Applied::Done(outcome.to_json())),
        Err(e) if e.is_deterministic() => Ok(Applied::Failed {
            code: e.code().to_string(),
            message: e.to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, Membership)> {
        Ok((self.state.last_applied, self.state.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let shared = Arc::clone(&self.shared);
        let state = self.state.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _applying = lock(&shared.applying);
            apply_batch(&shared.db, state, entries)
        });
        let (state, result) = task.await.map_err(|e| {
            io_error(
                ErrorSubject::StateMachine,
                ErrorVerb::Write,
                Failure::from(e),
            )
        })?;
        self.state = state;
        result
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            shared: Arc::clone(&self.shared),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let bytes = snapshot.into_inner();
        let shared = Arc::clone(&self.shared);
        let want = meta.clone();
        let state = blocking(move || install(&shared, &want, &bytes))
            .await
            .map_err(|e| {
                let subject = ErrorSubject::Snapshot(Some(meta.signature()));
                io_error(subject, ErrorVerb::Write, e)
            })?;
        self.state = state;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        let shared = Arc::clone(&self.shared);
        let loaded = blocking(move || shared.load(SNAPSHOT_FILE))
            .await
            .map_err(|e| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        Ok(loaded.map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

/// Installs a received snapshot (see the module documentation); returns the
/// database's applied state afterwards.
fn install(
    shared: &Shared,
    meta: &Meta,
    bytes: &[u8],
) -> std::result::Result<AppliedState, Failure> {
    let (sealed, data) = open_envelope(bytes).map_err(|e| e.context("received snapshot"))?;
    if sealed != *meta {
        return Err(Failure::Format(format!(
            "received snapshot holds {sealed}, expected {meta}"
        )));
    }
    write_atomic(&shared.dir, INSTALLING_FILE, bytes)?;
    let state = {
        let _applying = lock(&shared.applying);
        match shared.db.import_all(data) {
            Ok(()) => {}
            Err(e) if e.is_deterministic() => {
                // Rejected, nothing changed: drop the file so that a
                // restart does not try again.
                remove(&shared.path(INSTALLING_FILE))?;
                return Err(Failure::from(e).context("importing the snapshot"));
            }
            // Kept: opening again finishes (or drops) the install.
            Err(e) => return Err(Failure::from(e).context("importing the snapshot")),
        }
        AppliedState::read(&shared.db)?
    };
    if !state.matches(meta) {
        return Err(Failure::Format(format!(
            "snapshot {} holds data applied up to {:?}, its meta says {:?}",
            meta.snapshot_id, state.last_applied, meta.last_log_id
        )));
    }
    let mut current = lock(&shared.current);
    rename_into_place(&shared.dir, INSTALLING_FILE, SNAPSHOT_FILE)?;
    *current = Some(meta.clone());
    Ok(state)
}

/// Builds snapshots of a [`StateMachine`]'s database; runs beside it.
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SnapshotBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotBuilder")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>> {
        let shared = Arc::clone(&self.shared);
        let (meta, bytes) = blocking(move || build(&shared))
            .await
            .map_err(|e| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

fn build(shared: &Shared) -> std::result::Result<(Meta, Vec<u8>), Failure> {
    let (state, data) = {
        let _applying = lock(&shared.applying);
        let state = AppliedState::read(&shared.db)?;
        (state, shared.db.export_all()?)
    };
    let meta = Meta {
        last_log_id: state.last_applied,
        last_membership: state.last_membership,
        snapshot_id: shared.snapshot_id(state.last_applied),
    };
    let bytes = seal_envelope(&meta, data)?;
    shared.store_current(&meta, &bytes)?;
    Ok((meta, bytes))
}

/// Bytes after the meta: meta length u32, data length u64, version u32,
/// magic, CRC-32 u32.
const TRAILER: usize = 4 + 8 + 4 + 8 + 4;

/// The snapshot envelope around `data` (see the module documentation).
/// The data comes first so that the export is extended, not copied.
fn seal_envelope(meta: &Meta, mut data: Vec<u8>) -> std::result::Result<Vec<u8>, Failure> {
    let meta = encode(meta)?;
    let meta_len = u32::try_from(meta.len())
        .map_err(|_| Failure::Format(format!("snapshot meta of {} bytes", meta.len())))?;
    let data_len = data.len() as u64;
    data.reserve(meta.len() + TRAILER);
    data.extend_from_slice(&meta);
    data.extend_from_slice(&meta_len.to_le_bytes());
    data.extend_from_slice(&data_len.to_le_bytes());
    data.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    data.extend_from_slice(SNAPSHOT_MAGIC);
    let crc = crc32fast::hash(&data);
    data.extend_from_slice(&crc.to_le_bytes());
    Ok(data)
}

/// Checks a snapshot envelope; returns its meta and data.
fn open_envelope(bytes: &[u8]) -> std::result::Result<(Meta, &[u8]), Failure> {
    let bad = |what: String| Failure::Format(format!("not a Grape Raft snapshot: {what}"));
    let Some(body_len) = bytes.len().checked_sub(TRAILER) else {
        return Err(bad(format!("{} bytes", bytes.len())));
    };
    let (body, trailer) = bytes.split_at(body_len);
    let (meta_len, trailer) = trailer.split_at(4);
    let (data_len, trailer) = trailer.split_at(8);
    let (version, trailer) = trailer.split_at(4);
    let (magic, crc) = trailer.split_at(8);
    if magic != SNAPSHOT_MAGIC {
        return Err(bad("wrong magic".to_string()));
    }
    let version = u32::from_le_bytes(version.try_into().expect("4 bytes"));
    if version != SNAPSHOT_VERSION {
        return Err(bad(format!(
            "unsupported version {version}, expected {SNAPSHOT_VERSION}"
        )));
    }
    let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    let actual = crc32fast::hash(&bytes[..bytes.len() - 4]);
    if crc != actual {
        return Err(bad(format!(
            "checksum mismatch (stored {crc:#010x}, computed {actual:#010x})"
        )));
    }
    let meta_len = u32::from_le_bytes(meta_len.try_into().expect("4 bytes")) as usize;
    let data_len = u64::from_le_bytes(data_len.try_into().expect("8 bytes"));
    if usize::try_from(data_len)
        .ok()
        .and_then(|d| d.checked_add(meta_len))
        != Some(body_len)
    {
        return Err(bad(format!(
            "{data_len} data and {meta_len} meta bytes in a body of {body_len}"
        )));
    }
    let (data, meta) = body.split_at(body_len - meta_len);
    let meta: Meta = decode(meta).map_err(|e| e.context("snapshot meta"))?;
    Ok((meta, data))
}

fn tmp_name(name: &str) -> String {
    format!("{name}.tmp")
}

fn remove(path: &Path) -> std::result::Result<(), Failure> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Failure::io(path, e)),
        _ => Ok(()),
    }
}

/// Writes `dir/name` so that it is either the old or the whole new content,
/// durably: a temporary file, fsynced, renamed over it, directory fsynced.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::result::Result<(), Failure> {
    let tmp = dir.join(tmp_name(name));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    written.map_err(|e| Failure::io(&tmp, e))?;
    rename_into_place(dir, &tmp_name(name), name)
}

/// Renames `dir/from` to `dir/to` durably.
fn rename_into_place(dir: &Path, from: &str, to: &str) -> std::result::Result<(), Failure> {
    let target = dir.join(to);
    fs::rename(dir.join(from), &target).map_err(|e| Failure::io(&target, e))?;
    sync_dir(dir).map_err(|e| Failure::io(dir, e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
