//! The one error type of `grape-db`.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in `grape-db`.
///
/// Each variant says whether it is the caller's fault (a server maps those
/// to 4xx, see [`Error::is_invalid_input`]) or a failure of the machine or
/// of stored data (5xx). A call that returns an error leaves every
/// committed point, payload and collection as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Caller input: no collection has this name.
    #[error("unknown collection {0:?}")]
    UnknownCollection(String),
    /// Caller input: no alias has this name.
    #[error("unknown alias {0:?}")]
    UnknownAlias(String),
    /// Caller input: a collection with this name exists already.
    #[error("collection {0:?} already exists")]
    AlreadyExists(String),
    /// Caller input: the name cannot name a collection (it also names the
    /// collection's index file).
    #[error("invalid collection name {name:?}: {reason}")]
    InvalidName {
        /// The name that was given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Caller input (dimension, NaN, zero vector, filter, query, config) as
    /// the core reports it; [`grape_core::Error::is_invalid_input`] tells.
    #[error(transparent)]
    Core(#[from] grape_core::Error),
    /// Caller input: the bytes given to [`crate::Database::restore`] are not
    /// a collection in the portable format, or are damaged.
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(grape_core::Error),
    /// Caller input: the snapshot cannot be stored durably (its dense
    /// vector keeps only quantized codes, so the originals that the
    /// database must keep to rebuild the index are gone).
    #[error("snapshot cannot be restored: {0}")]
    Unrestorable(String),
    /// Caller input: the bytes given to [`crate::Mutation::decode`] are not
    /// an encoded mutation (bad magic number, unknown version, checksum
    /// mismatch, trailing bytes, or a field that does not parse).
    #[error("invalid mutation: {0}")]
    InvalidMutation(String),
    /// Caller input: the bytes given to [`crate::Database::import_all`] are
    /// not an [`crate::Database::export_all`] blob, or are damaged.
    #[error("invalid export: {0}")]
    InvalidExport(String),
    /// Stored data: a file of the database is damaged; names the file.
    #[error("{} is corrupted: {detail}", file.display())]
    Corrupted {
        /// The damaged file.
        file: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Machine: the disk is full; nothing of the failed call was committed.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// Machine: an I/O error on a file of the database.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Machine: the storage engine (redb) failed.
    #[error("storage error: {0}")]
    Storage(Box<redb::Error>),
    /// Caller: the database was shut down ([`crate::Database::shutdown`]).
    #[error("the database is shut down")]
    Closed,
    /// Internal: a background task of the async API did not finish.
    #[error("background task failed: {0}")]
    TaskFailed(String),
}

impl Error {
    /// True when the error is the caller's fault.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Error::UnknownCollection(_)
            | Error::UnknownAlias(_)
            | Error::AlreadyExists(_)
            | Error::InvalidName { .. }
            | Error::InvalidSnapshot(_)
            | Error::Unrestorable(_)
            | Error::InvalidMutation(_)
            | Error::InvalidExport(_)
            | Error::Closed => true,
            Error::Core(e) => e.is_invalid_input(),
            _ => false,
        }
    }

    /// True when the failed call changed nothing and the same call on a
    /// database in the same state fails the same way on every machine: the
    /// error follows from the call's input and the database's content
    /// alone. [`crate::Database::apply_marked`] still records its mark after
    /// such an error, so that a replicated log never re-applies the entry.
    ///
    /// Deterministic: [`Error::UnknownCollection`], [`Error::UnknownAlias`],
    /// [`Error::AlreadyExists`], [`Error::InvalidName`],
    /// [`Error::InvalidSnapshot`], [`Error::Unrestorable`],
    /// [`Error::InvalidMutation`], [`Error::InvalidExport`], and
    /// [`Error::Core`] when [`grape_core::Error::is_invalid_input`] (wrong
    /// dimension, bad filter, bad configuration ...). Every caller-input
    /// error but [`Error::Closed`], which depends on the process, not on the
    /// input.
    ///
    /// Not deterministic: [`Error::Closed`], [`Error::Corrupted`],
    /// [`Error::DiskFull`], [`Error::Io`], [`Error::Storage`],
    /// [`Error::TaskFailed`], and core storage or data errors
    /// ([`grape_core::Error::VectorStorage`] ...).
    pub fn is_deterministic(&self) -> bool {
        !matches!(self, Error::Closed) && self.is_invalid_input()
    }

    /// A stable machine-readable name of the variant.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownCollection(_) => "unknown_collection",
            Error::UnknownAlias(_) => "unknown_alias",
            Error::AlreadyExists(_) => "already_exists",
            Error::InvalidName { .. } => "invalid_name",
            Error::Core(e) => e.code(),
            Error::InvalidSnapshot(_) => "invalid_snapshot",
            Error::Unrestorable(_) => "unrestorable",
            Error::InvalidMutation(_) => "invalid_mutation",
            Error::InvalidExport(_) => "invalid_export",
            Error::Corrupted { .. } => "corrupted",
            Error::DiskFull(_) => "disk_full",
            Error::Io { .. } => "io",
            Error::Storage(_) => "storage",
            Error::Closed => "closed",
            Error::TaskFailed(_) => "task_failed",
        }
    }

    /// An I/O error on `path`, as [`Error::DiskFull`] when the disk is full.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        let path = path.into();
        if is_disk_full(&source) {
            return Error::DiskFull(format!("writing {}: {source}", path.display()));
        }
        Error::Io { path, source }
    }
}

fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::QuotaExceeded
}

/// The database file, as errors name it (relative to the database directory).
pub(crate) const REDB_FILE: &str = "grape.redb";

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Io(io) if is_disk_full(&io) => {
                Error::DiskFull(format!("writing {REDB_FILE}: {io}"))
            }
            redb::Error::Corrupted(detail) => Error::Corrupted {
                file: PathBuf::from(REDB_FILE),
                detail,
            },
            other => Error::Storage(Box::new(other)),
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::from(redb::Error::from(e))
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
