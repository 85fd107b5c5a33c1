//! The one error type of `grape-core`.

use alloc::string::String;

/// Everything that can go wrong in `grape-core`.
///
/// Each variant says whether it is the caller's fault (bad input, to be
/// reported as a 4xx by a server) or data that cannot be trusted (a corrupt
/// or unsupported byte stream). The core has no internal failures of its own:
/// it does no I/O.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Caller input: a vector's length differs from the index's dimension.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The length of the vector that was passed.
        got: usize,
    },
    /// Caller input: a vector component is NaN or infinite.
    #[error("vector component {index} is not a finite number ({value})")]
    NonFiniteComponent {
        /// Position of the first bad component.
        index: usize,
        /// Its value (NaN, inf or -inf).
        value: f32,
    },
    /// Caller input: a zero vector has no direction, so cosine is undefined.
    #[error("zero vector cannot be indexed or searched under cosine distance")]
    ZeroVector,
    /// Caller input: no live point has this id.
    #[error("unknown point id {0}")]
    UnknownId(u64),
    /// Caller input: a configuration value is out of its allowed range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Caller input: a search parameter is out of its allowed range.
    #[error("invalid search parameter: {0}")]
    InvalidParameter(String),
    /// Caller input: the index is full (internal ids are 32-bit).
    #[error("index is full: at most {0} points")]
    CapacityExceeded(usize),
    /// Caller input: a filter is malformed; the message names the field.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// Caller input: a query (tree, fusion, text) is malformed; the message names the field.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// Caller input: a sparse vector is malformed (lengths differ, duplicate
    /// or unsorted indices, non-finite values).
    #[error("invalid sparse vector: {0}")]
    InvalidSparseVector(String),
    /// Data: the bytes do not start with Grape's magic number.
    #[error("not a Grape index: bad magic number")]
    BadMagic,
    /// Data: the bytes were written by a format version this build cannot read.
    #[error("unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version found in the header.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// Data: the bytes end before the header or body is complete.
    #[error("truncated index bytes: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes the header says there are.
        expected: usize,
        /// Bytes actually present.
        got: usize,
    },
    /// Data: the checksum does not match the body.
    #[error("index bytes are corrupted: checksum mismatch")]
    ChecksumMismatch,
    /// Data: the body decoded but describes an impossible index.
    #[error("index bytes are corrupted: {0}")]
    Corrupted(String),
    /// Storage: the embedder's vector arena could not grow (e.g. its disk
    /// is full); the operation changed nothing.
    #[error("vector storage failed: {0}")]
    VectorStorage(String),
}

impl Error {
    /// A stable machine-readable name of the variant, for adapters (the npm
    /// package's `error.code`, the server's error bodies).
    pub fn code(&self) -> &'static str {
        match self {
            Error::DimensionMismatch { .. } => "dimension_mismatch",
            Error::NonFiniteComponent { .. } => "non_finite",
            Error::ZeroVector => "zero_vector",
            Error::UnknownId(_) => "unknown_id",
            Error::InvalidConfig(_) => "invalid_config",
            Error::InvalidParameter(_) => "invalid_parameter",
            Error::CapacityExceeded(_) => "capacity_exceeded",
            Error::InvalidFilter(_) => "invalid_filter",
            Error::InvalidQuery(_) => "invalid_query",
            Error::InvalidSparseVector(_) => "invalid_sparse_vector",
            Error::BadMagic => "bad_magic",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::Truncated { .. } => "truncated",
            Error::ChecksumMismatch => "checksum_mismatch",
            Error::Corrupted(_) => "corrupted",
            Error::VectorStorage(_) => "vector_storage",
        }
    }

    /// True when the error is the caller's fault (bad vector, id, parameter).
    pub fn is_invalid_input(&self) -> bool {
        !matches!(
            self,
            Error::BadMagic
                | Error::UnsupportedVersion { .. }
                | Error::Truncated { .. }
                | Error::ChecksumMismatch
                | Error::Corrupted(_)
                | Error::VectorStorage(_)
        )
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
