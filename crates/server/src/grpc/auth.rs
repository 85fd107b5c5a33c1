//! API-key checks for every gRPC call, as a tower layer in front of the
//! services: it sees the method path, so a read-only key can be refused on
//! writes before any request is decoded.
//!
//! The key comes from the `api-key` metadata entry or from `authorization:
//! Bearer <key>` and is compared in constant time. With no key configured
//! every call passes. A missing or wrong key is `UNAUTHENTICATED`; the
//! read-only key on a method outside [`READ_METHODS`] is `PERMISSION_DENIED`.
//! `qdrant.Qdrant/HealthCheck` needs no key (Qdrant's own rule).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::codegen::http;

/// The API keys the gRPC server accepts.
#[derive(Debug, Clone, Default)]
pub struct GrpcAuth {
    /// The key that may do everything; `None` with no read-only key: no
    /// authentication at all.
    pub api_key: Option<String>,
    /// The key that may only read (search, scroll, get, count, list, ...).
    pub read_only_key: Option<String>,
}

/// Methods (`/package.Service/Method`) that only read, allowed with the
/// read-only key. Everything else is a write.
pub const READ_METHODS: &[&str] = &[
    "/qdrant.Qdrant/HealthCheck",
    "/qdrant.Collections/Get",
    "/qdrant.Collections/List",
    "/qdrant.Collections/ListCollectionAliases",
    "/qdrant.Collections/ListAliases",
    "/qdrant.Collections/CollectionClusterInfo",
    "/qdrant.Collections/CollectionExists",
    "/qdrant.Collections/ListShardKeys",
    "/qdrant.Points/Get",
    "/qdrant.Points/Search",
    "/qdrant.Points/SearchBatch",
    "/qdrant.Points/SearchGroups",
    "/qdrant.Points/Scroll",
    "/qdrant.Points/Recommend",
    "/qdrant.Points/RecommendBatch",
    "/qdrant.Points/RecommendGroups",
    "/qdrant.Points/Discover",
    "/qdrant.Points/DiscoverBatch",
    "/qdrant.Points/Count",
    "/qdrant.Points/Query",
    "/qdrant.Points/QueryBatch",
    "/qdrant.Points/QueryGroups",
    "/qdrant.Points/Facet",
    "/qdrant.Points/SearchMatrixPairs",
    "/qdrant.Points/SearchMatrixOffsets",
    "/qdrant.Snapshots/List",
    "/qdrant.Snapshots/ListFull",
];

const PUBLIC_METHODS: &[&str] = &["/qdrant.Qdrant/HealthCheck"];

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl GrpcAuth {
    fn enabled(&self) -> bool {
        self.api_key.is_some() || self.read_only_key.is_some()
    }

    /// Whether a call of `path` with these headers may proceed.
    pub fn check(&self, headers: &http::HeaderMap, path: &str) -> Result<(), Status> {
        if !self.enabled() || PUBLIC_METHODS.contains(&path) {
            return Ok(());
        }
        let given = headers
            .get("api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                Status::unauthenticated(
                    "must provide an API key in the api-key metadata or as a Bearer token",
                )
            })?;
        if self.api_key.as_deref().is_some_and(|k| same(k, given)) {
            return Ok(());
        }
        if self
            .read_only_key
            .as_deref()
            .is_some_and(|k| same(k, given))
        {
            if READ_METHODS.contains(&path) {
                return Ok(());
            }
            return Err(Status::permission_denied(format!(
                "the read-only API key may not call {path}"
            )));
        }
        Err(Status::unauthenticated("invalid API key"))
    }
}

/// The tower layer that wraps the gRPC routes with [`GrpcAuth::check`].
#[derive(Debug, Clone)]
pub(crate) struct AuthLayer {
    pub(crate) auth: Arc<GrpcAuth>,
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub(crate) struct AuthService<S> {
    inner: S,
    auth: Arc<GrpcAuth>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.auth.check(request.headers(), request.uri().path()) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn keys() -> GrpcAuth {
        GrpcAuth {
            api_key: Some("secret".into()),
            read_only_key: Some("reader".into()),
        }
    }

    #[test]
    fn keys_are_checked_per_method() {
        let auth = keys();
        let upsert = "/qdrant.Points/Upsert";
        let search = "/qdrant.Points/Search";
        let code = |r: Result<(), Status>| r.err().map(|s| s.code());
        assert_eq!(
            code(auth.check(&headers(&[]), search)),
            Some(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            code(auth.check(&headers(&[("api-key", "wrong")]), search)),
            Some(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            code(auth.check(&headers(&[("api-key", "secret")]), upsert)),
            None
        );
        assert_eq!(
            code(auth.check(&headers(&[("authorization", "Bearer secret")]), upsert)),
            None
        );
        assert_eq!(
            code(auth.check(&headers(&[("api-key", "reader")]), search)),
            None
        );
        assert_eq!(
            code(auth.check(&headers(&[("api-key", "reader")]), upsert)),
            Some(tonic::Code::PermissionDenied)
        );
        // Methods Grape does not know are writes for the read-only key.
        assert_eq!(
            code(auth.check(&headers(&[("api-key", "reader")]), "/qdrant.Points/Other")),
            Some(tonic::Code::PermissionDenied)
        );
        assert_eq!(
            code(auth.check(&headers(&[]), "/qdrant.Qdrant/HealthCheck")),
            None
        );
        assert_eq!(code(GrpcAuth::default().check(&headers(&[]), upsert)), None);
    }
}
