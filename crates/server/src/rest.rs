//! The REST API: Qdrant's paths over [`Service`], wrapped in Qdrant's
//! envelope (`{"result", "status": "ok", "time"}` or `{"status": {"error"},
//! "time"}`), with API-key auth, per-route metrics, a body size limit and
//! optional CORS.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::metrics::Metrics;
use crate::service::Service;

/// Who may call the REST API: an optional full-access key and an optional
/// read-only key. With neither, everyone may do everything.
#[derive(Debug, Clone, Default)]
pub struct RestAuth {
    /// The key that may do everything.
    pub api_key: Option<String>,
    /// The key that may only read.
    pub read_only_key: Option<String>,
}

fn key_matches(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

impl RestAuth {
    /// Checks a request's key (`api-key` header or `Authorization: Bearer`)
    /// for a read (`read`) or a write: 401 for a missing or wrong key, 403
    /// for the read-only key on a write.
    pub fn check(&self, headers: &HeaderMap, read: bool) -> ApiResult<()> {
        if self.api_key.is_none() && self.read_only_key.is_none() {
            return Ok(());
        }
        let given = headers
            .get("api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
            })
            .map(str::trim);
        let Some(given) = given else {
            return Err(ApiError::new(
                ErrorKind::Unauthorized,
                "Must provide an API key or an Authorization bearer token",
            ));
        };
        // Compare with both keys whatever the first result, so the time
        // does not tell which one matched.
        let full = self
            .api_key
            .as_deref()
            .is_some_and(|k| key_matches(given, k));
        let read_only = self
            .read_only_key
            .as_deref()
            .is_some_and(|k| key_matches(given, k));
        if full || (read_only && read) {
            Ok(())
        } else if read_only {
            Err(ApiError::new(
                ErrorKind::Forbidden,
                "Forbidden: the read-only API key cannot perform this operation",
            ))
        } else {
            Err(ApiError::new(
                ErrorKind::Unauthorized,
                "Invalid API key or JWT",
            ))
        }
    }
}

/// POST routes that only read.
const READ_POSTS: &[&str] = &[
    "/collections/{collection_name}/points",
    "/collections/{collection_name}/points/scroll",
    "/collections/{collection_name}/points/count",
    "/collections/{collection_name}/points/search",
    "/collections/{collection_name}/points/search/batch",
    "/collections/{collection_name}/points/recommend",
    "/collections/{collection_name}/points/recommend/batch",
    "/collections/{collection_name}/points/query",
    "/collections/{collection_name}/points/query/batch",
];

/// Whether a request to `route` with `method` only reads.
fn is_read(method: &Method, route: &str) -> bool {
    method == Method::GET
        || method == Method::HEAD
        || (method == Method::POST && READ_POSTS.contains(&route))
}

/// Everything the REST handlers share.
#[derive(Clone)]
struct AppState {
    service: Service,
    metrics: Arc<Metrics>,
    auth: Arc<RestAuth>,
}

/// Settings of the REST router.
#[derive(Debug, Clone)]
pub struct RestOptions {
    /// Who may call.
    pub auth: RestAuth,
    /// Largest request body in bytes (413 beyond).
    pub max_request_bytes: usize,
    /// Largest snapshot upload in bytes.
    pub max_snapshot_bytes: usize,
    /// Answer CORS requests from any origin.
    pub cors: bool,
}

/// Qdrant's success envelope.
fn ok(start: Instant, result: Value) -> Response {
    let body = json!({"result": result, "status": "ok", "time": start.elapsed().as_secs_f64()});
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Qdrant's error envelope with the error's status code.
fn fail(start: Instant, e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"status": {"error": e.message()}, "time": start.elapsed().as_secs_f64()});
    (status, axum::Json(body)).into_response()
}

fn respond(start: Instant, r: ApiResult<Value>) -> Response {
    match r {
        Ok(v) => ok(start, v),
        Err(e) => fail(start, &e),
    }
}

/// The request body as JSON: an empty body is `null`; a body over the
/// limit is 413, anything that is not JSON (including `NaN`) 400.
fn json_body(body: Result<Bytes, BytesRejection>) -> ApiResult<Value> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorKind::PayloadTooLarge,
                "request body exceeds the size limit",
            )
        } else {
            ApiError::bad_request(format!("cannot read the request body: {e}"))
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("Json deserialize error: {e}")))
}

/// The `wait` query parameter (default false, as in Qdrant).
fn wait(query: &RawQuery) -> bool {
    query.0.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "wait=true" || kv == "wait=1" || kv == "wait")
    })
}

type Body_ = Result<Bytes, BytesRejection>;

/// Builds the REST router over `service`.
pub fn router(service: Service, options: RestOptions) -> (Router, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let state = AppState {
        service,
        metrics: Arc::clone(&metrics),
        auth: Arc::new(options.auth),
    };
    let c = "/collections/{collection_name}";
    let api = Router::new()
        .route("/", get(root))
        .route("/metrics", get(metrics_text))
        .route("/telemetry", get(telemetry))
        .route("/cluster", get(cluster))
        .route("/collections", get(list_collections))
        .route("/aliases", get(list_aliases))
        .route("/collections/aliases", post(update_aliases))
        .route(
            c,
            get(get_collection)
                .put(create_collection)
                .patch(update_collection)
                .delete(delete_collection),
        )
        .route(&format!("{c}/exists"), get(collection_exists))
        .route(&format!("{c}/aliases"), get(collection_aliases))
        .route(&format!("{c}/index"), put(create_index))
        .route(
            &format!("{c}/index/{{field_name}}"),
            axum::routing::delete(delete_index),
        )
        .route(&format!("{c}/points"), put(upsert).post(get_points))
        .route(&format!("{c}/points/{{id}}"), get(get_point))
        .route(&format!("{c}/points/delete"), post(delete_points))
        .route(
            &format!("{c}/points/payload"),
            post(set_payload).put(overwrite_payload),
        )
        .route(&format!("{c}/points/payload/delete"), post(delete_payload))
        .route(&format!("{c}/points/payload/clear"), post(clear_payload))
        .route(&format!("{c}/points/batch"), post(batch_update))
        .route(&format!("{c}/points/scroll"), post(scroll))
        .route(&format!("{c}/points/count"), post(count))
        .route(&format!("{c}/points/search"), post(search))
        .route(&format!("{c}/points/search/batch"), post(search_batch))
        .route(&format!("{c}/points/recommend"), post(recommend))
        .route(
            &format!("{c}/points/recommend/batch"),
            post(recommend_batch),
        )
        .route(&format!("{c}/points/query"), post(query))
        .route(&format!("{c}/points/query/batch"), post(query_batch))
        .route(
            &format!("{c}/snapshots"),
            get(list_snapshots).post(create_snapshot),
        )
        .route(&format!("{c}/snapshots/recover"), put(recover_snapshot))
        .route(
            &format!("{c}/snapshots/upload"),
            post(upload_snapshot).layer(DefaultBodyLimit::max(options.max_snapshot_bytes)),
        )
        .route(
            &format!("{c}/snapshots/{{snapshot_name}}"),
            get(download_snapshot).delete(delete_snapshot),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), auth))
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(options.max_request_bytes))
        .with_state(state);
    let api = if options.cors {
        api.layer(tower_http::cors::CorsLayer::permissive())
    } else {
        api
    };
    (api, metrics)
}

fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string())
}

/// Auth middleware: every route but the health checks.
async fn auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = route_of(&req);
    let read = is_read(req.method(), &route);
    match state.auth.check(req.headers(), read) {
        Ok(()) => next.run(req).await,
        Err(e) => fail(Instant::now(), &e),
    }
}

/// Metrics middleware: counts and times every routed request.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_of(&req);
    let method = req.method().clone();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let took = start.elapsed();
    state.metrics.observe(method.as_str(), &route, status, took);
    let micros = took.as_micros();
    if status >= 500 {
        tracing::warn!(%method, route, status, micros, "request failed");
    } else {
        tracing::debug!(%method, route, status, micros, "request");
    }
    response
}

async fn not_found(req: Request) -> Response {
    fail(
        Instant::now(),
        &ApiError::not_found(format!(
            "no route for {} {}",
            req.method(),
            req.uri().path()
        )),
    )
}

async fn root(State(s): State<AppState>) -> Response {
    axum::Json(s.service.root_info()).into_response()
}

async fn healthz() -> &'static str {
    "healthz check passed"
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.service.ready().await {
        (StatusCode::OK, "all shards are ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "the database is not ready").into_response()
    }
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    let points = s.service.points_per_collection().await.unwrap_or_default();
    let text = s.metrics.render(&points);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

async fn telemetry(State(s): State<AppState>) -> Response {
    let t = Instant::now();
    respond(t, s.service.telemetry().await)
}

async fn cluster(State(s): State<AppState>) -> Response {
    let t = Instant::now();
    respond(t, s.service.cluster_info().await)
}

async fn list_collections(State(s): State<AppState>) -> Response {
    let t = Instant::now();
    respond(t, s.service.list_collections().await)
}

async fn list_aliases(State(s): State<AppState>) -> Response {
    let t = Instant::now();
    respond(t, s.service.list_aliases().await)
}

async fn update_aliases(State(s): State<AppState>, body: Body_) -> Response {
    let t = Instant::now();
    let r = match json_body(body) {
        Ok(b) => s.service.update_aliases(b).await,
        Err(e) => Err(e),
    };
    respond(t, r)
}

async fn get_collection(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let t = Instant::now();
    respond(t, s.service.get_collection(&name).await)
}

async fn collection_exists(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let t = Instant::now();
    respond(t, s.service.collection_exists(&name).await)
}

async fn collection_aliases(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let t = Instant::now();
    respond(t, s.service.list_collection_aliases(&name).await)
}

async fn delete_collection(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let t = Instant::now();
    respond(t, s.service.delete_collection(&name).await)
}

/// Handlers taking the collection name and a JSON body.
macro_rules! body_handlers {
    ($($handler:ident => $method:ident;)*) => {$(
        async fn $handler(
            State(s): State<AppState>,
            Path(name): Path<String>,
            body: Body_,
        ) -> Response {
            let t = Instant::now();
            let r = match json_body(body) {
                Ok(b) => s.service.$method(&name, b).await,
                Err(e) => Err(e),
            };
            respond(t, r)
        }
    )*};
}

/// Handlers taking the collection name, a JSON body and `?wait=`.
macro_rules! write_handlers {
    ($($handler:ident => $method:ident;)*) => {$(
        async fn $handler(
            State(s): State<AppState>,
            Path(name): Path<String>,
            query: RawQuery,
            body: Body_,
        ) -> Response {
            let t = Instant::now();
            let r = match json_body(body) {
                Ok(b) => s.service.$method(&name, b, wait(&query)).await,
                Err(e) => Err(e),
            };
            respond(t, r)
        }
    )*};
}

body_handlers! {
    create_collection => create_collection;
    update_collection => update_collection;
    get_points => get_points;
    scroll => scroll_points;
    count => count_points;
    search => search_points;
    search_batch => search_batch;
    recommend => recommend_points;
    recommend_batch => recommend_batch;
    query => query_points;
    query_batch => query_batch;
    recover_snapshot => recover_snapshot;
}

write_handlers! {
    upsert => upsert_points;
    delete_points => delete_points;
    set_payload => set_payload;
    overwrite_payload => overwrite_payload;
    delete_payload => delete_payload;
    clear_payload => clear_payload;
    batch_update => batch_update;
    create_index => create_field_index;
}

async fn get_point(
    State(s): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let t = Instant::now();
    respond(t, s.service.get_point(&name, &id).await)
}

async fn delete_index(
    State(s): State<AppState>,
    Path((name, field)): Path<(String, String)>,
    query: RawQuery,
) -> Response {
    let t = Instant::now();
    respond(
        t,
        s.service
            .delete_field_index(&name, &field, wait(&query))
            .await,
    )
}

async fn create_snapshot(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let t = Instant::now();
    respond(t, s.service.create_snapshot(&name).await)
}

async fn list_snapshots(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let t = Instant::now();
    respond(t, s.service.list_snapshots(&name).await)
}

async fn delete_snapshot(
    State(s): State<AppState>,
    Path((name, snapshot)): Path<(String, String)>,
) -> Response {
    let t = Instant::now();
    respond(t, s.service.delete_snapshot(&name, &snapshot).await)
}

async fn download_snapshot(
    State(s): State<AppState>,
    Path((name, snapshot)): Path<(String, String)>,
) -> Response {
    let t = Instant::now();
    let path = match s.service.snapshot_path(&name, &snapshot).await {
        Ok(p) => p,
        Err(e) => return fail(t, &e),
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )],
            Body::from(bytes),
        )
            .into_response(),
        Err(e) => fail(
            t,
            &ApiError::internal(format!("cannot read {}: {e}", path.display())),
        ),
    }
}

/// `POST /collections/{name}/snapshots/upload`: the snapshot as a
/// multipart form field (Qdrant's `snapshot`) or as the raw body.
async fn upload_snapshot(
    State(s): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let t = Instant::now();
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let bytes = if multipart {
        read_multipart(req, &s).await
    } else {
        Bytes::from_request(req, &s).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorKind::PayloadTooLarge,
                    "snapshot exceeds the upload limit",
                )
            } else {
                ApiError::bad_request(e.to_string())
            }
        })
    };
    let r = match bytes {
        Ok(b) => s.service.upload_snapshot(&name, b.to_vec()).await,
        Err(e) => Err(e),
    };
    respond(t, r)
}

async fn read_multipart(req: Request, s: &AppState) -> ApiResult<Bytes> {
    let mut form = axum::extract::Multipart::from_request(req, s)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?
    {
        if field.name() == Some("snapshot") || field.file_name().is_some() {
            return field.bytes().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        ErrorKind::PayloadTooLarge,
                        "snapshot exceeds the upload limit",
                    )
                } else {
                    ApiError::bad_request(e.to_string())
                }
            });
        }
    }
    Err(ApiError::bad_request(
        "multipart body has no snapshot field",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn auth_accepts_both_header_forms_and_limits_the_read_only_key() {
        let auth = RestAuth {
            api_key: Some("secret".into()),
            read_only_key: Some("reader".into()),
        };
        assert!(
            auth.check(&headers(&[("api-key", "secret")]), false)
                .is_ok()
        );
        assert!(
            auth.check(&headers(&[("authorization", "Bearer secret")]), false)
                .is_ok()
        );
        assert!(auth.check(&headers(&[("api-key", "reader")]), true).is_ok());
        let e = auth
            .check(&headers(&[("api-key", "reader")]), false)
            .unwrap_err();
        assert_eq!(e.http_status(), 403);
        let e = auth.check(&headers(&[]), true).unwrap_err();
        assert_eq!(e.http_status(), 401);
        let e = auth
            .check(&headers(&[("api-key", "secreT")]), true)
            .unwrap_err();
        assert_eq!(e.http_status(), 401);
        assert!(RestAuth::default().check(&headers(&[]), false).is_ok());
    }

    #[test]
    fn reads_are_gets_and_the_search_posts() {
        assert!(is_read(&Method::GET, "/collections"));
        assert!(is_read(
            &Method::POST,
            "/collections/{collection_name}/points/query"
        ));
        assert!(!is_read(
            &Method::POST,
            "/collections/{collection_name}/points/delete"
        ));
        assert!(!is_read(
            &Method::PUT,
            "/collections/{collection_name}/points"
        ));
    }
}
