//! [`ApiError`]: the one error of the server's service layer, mapped to an
//! HTTP status (REST) and a gRPC status code in one place.

use std::fmt;

/// What kind of failure an [`ApiError`] is; decides the HTTP status and the
/// gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or invalid (bad JSON, wrong dimension, NaN,
    /// bad filter, unknown field): HTTP 400, gRPC `InvalidArgument`.
    BadRequest,
    /// The collection, alias, point or snapshot does not exist: HTTP 404,
    /// gRPC `NotFound`.
    NotFound,
    /// The thing to create exists already: HTTP 409, gRPC `AlreadyExists`.
    Conflict,
    /// No API key, or a wrong one: HTTP 401, gRPC `Unauthenticated`.
    Unauthorized,
    /// The key may not do this (a read-only key on a write): HTTP 403, gRPC
    /// `PermissionDenied`.
    Forbidden,
    /// The request body is larger than the configured limit: HTTP 413, gRPC
    /// `ResourceExhausted`.
    PayloadTooLarge,
    /// Grape does not implement this (yet): HTTP 501, gRPC `Unimplemented`.
    NotImplemented,
    /// The server is shutting down, the database is closed, or the cluster
    /// has no leader: HTTP 503, gRPC `Unavailable`.
    Unavailable,
    /// The operation did not finish in time (a cluster write that was not
    /// confirmed; it may still be applied): HTTP 504, gRPC
    /// `DeadlineExceeded`.
    Timeout,
    /// A failure of the machine or of stored data: HTTP 500, gRPC `Internal`.
    Internal,
}

/// The gRPC status codes the server uses, with tonic's numbering, so the
/// gRPC layer can convert with `tonic::Code::from_i32(code as i32)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum GrpcCode {
    /// `INVALID_ARGUMENT` (3).
    InvalidArgument = 3,
    /// `DEADLINE_EXCEEDED` (4).
    DeadlineExceeded = 4,
    /// `NOT_FOUND` (5).
    NotFound = 5,
    /// `ALREADY_EXISTS` (6).
    AlreadyExists = 6,
    /// `PERMISSION_DENIED` (7).
    PermissionDenied = 7,
    /// `RESOURCE_EXHAUSTED` (8).
    ResourceExhausted = 8,
    /// `UNIMPLEMENTED` (12).
    Unimplemented = 12,
    /// `INTERNAL` (13).
    Internal = 13,
    /// `UNAVAILABLE` (14).
    Unavailable = 14,
    /// `UNAUTHENTICATED` (16).
    Unauthenticated = 16,
}

/// An error of the service layer: a kind and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// A [`ErrorKind::BadRequest`] error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// A [`ErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A [`ErrorKind::NotImplemented`] error naming what is missing.
    pub fn not_implemented(what: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::NotImplemented,
            format!("{what} is not implemented by grape"),
        )
    }

    /// A [`ErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The error of item `i` of a batch request, named `searches[i]`.
    pub fn in_batch(self, i: usize) -> ApiError {
        ApiError::new(self.kind(), format!("searches[{i}]: {}", self.message()))
    }

    /// The message for the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status code of this error (Qdrant's choices).
    pub fn http_status(&self) -> u16 {
        match self.kind {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::Internal => 500,
            ErrorKind::NotImplemented => 501,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
        }
    }

    /// The gRPC status code of this error.
    pub fn grpc_code(&self) -> GrpcCode {
        match self.kind {
            ErrorKind::BadRequest => GrpcCode::InvalidArgument,
            ErrorKind::NotFound => GrpcCode::NotFound,
            ErrorKind::Conflict => GrpcCode::AlreadyExists,
            ErrorKind::Unauthorized => GrpcCode::Unauthenticated,
            ErrorKind::Forbidden => GrpcCode::PermissionDenied,
            ErrorKind::PayloadTooLarge => GrpcCode::ResourceExhausted,
            ErrorKind::NotImplemented => GrpcCode::Unimplemented,
            ErrorKind::Unavailable => GrpcCode::Unavailable,
            ErrorKind::Timeout => GrpcCode::DeadlineExceeded,
            ErrorKind::Internal => GrpcCode::Internal,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<grape_db::Error> for ApiError {
    fn from(e: grape_db::Error) -> Self {
        let kind = match &e {
            grape_db::Error::UnknownCollection(_) | grape_db::Error::UnknownAlias(_) => {
                ErrorKind::NotFound
            }
            grape_db::Error::AlreadyExists(_) => ErrorKind::Conflict,
            grape_db::Error::Closed => ErrorKind::Unavailable,
            e if e.is_invalid_input() => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        };
        let message = match &e {
            grape_db::Error::UnknownCollection(name) => {
                format!("Not found: Collection `{name}` doesn't exist!")
            }
            grape_db::Error::UnknownAlias(name) => {
                format!("Not found: Alias `{name}` doesn't exist!")
            }
            other => other.to_string(),
        };
        ApiError::new(kind, message)
    }
}

impl From<grape_core::Error> for ApiError {
    fn from(e: grape_core::Error) -> Self {
        ApiError::from(grape_db::Error::from(e))
    }
}

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_errors_map_to_qdrant_status_codes() {
        let unknown = ApiError::from(grape_db::Error::UnknownCollection("c".into()));
        assert_eq!(unknown.http_status(), 404);
        assert_eq!(unknown.grpc_code(), GrpcCode::NotFound);
        let exists = ApiError::from(grape_db::Error::AlreadyExists("c".into()));
        assert_eq!(exists.http_status(), 409);
        let dim = ApiError::from(grape_core::Error::DimensionMismatch {
            expected: 3,
            got: 2,
        });
        assert_eq!(dim.http_status(), 400);
        assert_eq!(dim.grpc_code(), GrpcCode::InvalidArgument);
        let corrupt = ApiError::from(grape_core::Error::ChecksumMismatch);
        assert_eq!(corrupt.http_status(), 500);
    }
}
