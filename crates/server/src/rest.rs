//! The REST API: Qdrant's paths over [`Service`], wrapped in Qdrant's
//! envelope (`{"result", "status": "ok", "time"}` or `{"status": {"error"},
//! "time"}`), with API-key auth, per-route metrics, a body size limit and
//! optional CORS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value, json};
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

/// A search body whose `key` field is a plain list of numbers, split into
/// that list as `f32`s and the other fields, in one pass: the vector, the
/// bulk of the body, never becomes a `serde_json::Value`. `None` for
/// anything else (another shape, bad JSON, a bad vector), which takes the
/// general path and gets its precise error there.
pub(crate) fn split_dense(bytes: &[u8], key: &str) -> Option<(Map<String, Value>, Vec<f32>)> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (fields, vector) = DenseSplit(key).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some((fields, vector?))
}

/// Reads a JSON object, its field `.0` as a list of `f32`s and every other
/// field as a `Value`.
struct DenseSplit<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for DenseSplit<'_> {
    type Value = (Map<String, Value>, Option<Vec<f32>>);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DenseSplit<'_> {
    type Value = (Map<String, Value>, Option<Vec<f32>>);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an object whose {:?} is a list of numbers", self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Map::new();
        let mut vector = None;
        while let Some(k) = map.next_key::<String>()? {
            if k == self.0 {
                if vector.is_some() {
                    return Err(serde::de::Error::duplicate_field("vector"));
                }
                vector = Some(map.next_value::<Vec<f32>>()?);
            } else {
                fields.insert(k, map.next_value()?);
            }
        }
        Ok((fields, vector))
    }
}

/// The value of query parameter `key`, if given (no percent-decoding: the
/// parameters read this way are plain words and numbers).
fn param<'q>(query: &'q RawQuery, key: &str) -> Option<&'q str> {
    query.0.as_deref()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

/// The `wait` query parameter (default false, as in Qdrant).
fn wait(query: &RawQuery) -> bool {
    query.0.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "wait=true" || kv == "wait=1" || kv == "wait")
    })
}

type Body_ = Result<Bytes, BytesRejection>;

/// One REST route: method, Qdrant's path template, whether it is open
/// (no API key: the health checks) and its handler for that method.
struct Route {
    method: &'static str,
    path: &'static str,
    open: bool,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

const C: &str = "/collections/{collection_name}";
const UPLOAD_PATH: &str = "/collections/{collection_name}/snapshots/upload";

/// Shorthand for a table row.
macro_rules! routes {
    ($($method:literal $path:expr => $handler:ident $(, $open:ident)?;)*) => {
        &[$(Route {
            method: $method,
            path: $path,
            open: routes!(@open $($open)?),
            handler: |m| on(m, $handler),
        }),*]
    };
    (@open) => { false };
    (@open open) => { true };
}

/// Every route the REST API serves: the router is built from this table,
/// and `/openapi.json` is checked against it.
const ROUTES: &[Route] = routes! {
    "GET" "/" => root;
    "GET" "/openapi.json" => openapi;
    "GET" "/metrics" => metrics_text;
    "GET" "/telemetry" => telemetry;
    "GET" "/cluster" => cluster;
    "POST" "/cluster/peer" => add_peer;
    "POST" "/cluster/peer/{peer_id}/promote" => promote_peer;
    "DELETE" "/cluster/peer/{peer_id}" => remove_peer;
    "GET" "/healthz" => healthz, open;
    "GET" "/livez" => healthz, open;
    "GET" "/readyz" => readyz, open;
    "GET" "/collections" => list_collections;
    "GET" "/aliases" => list_aliases;
    "POST" "/collections/aliases" => update_aliases;
    "GET" C => get_collection;
    "PUT" C => create_collection;
    "PATCH" C => update_collection;
    "DELETE" C => delete_collection;
    "GET" "/collections/{collection_name}/exists" => collection_exists;
    "GET" "/collections/{collection_name}/aliases" => collection_aliases;
    "PUT" "/collections/{collection_name}/index" => create_index;
    "DELETE" "/collections/{collection_name}/index/{field_name}" => delete_index;
    "PUT" "/collections/{collection_name}/points" => upsert;
    "POST" "/collections/{collection_name}/points" => get_points;
    "GET" "/collections/{collection_name}/points/{id}" => get_point;
    "POST" "/collections/{collection_name}/points/delete" => delete_points;
    "POST" "/collections/{collection_name}/points/payload" => set_payload;
    "PUT" "/collections/{collection_name}/points/payload" => overwrite_payload;
    "POST" "/collections/{collection_name}/points/payload/delete" => delete_payload;
    "POST" "/collections/{collection_name}/points/payload/clear" => clear_payload;
    "POST" "/collections/{collection_name}/points/batch" => batch_update;
    "POST" "/collections/{collection_name}/points/scroll" => scroll;
    "POST" "/collections/{collection_name}/points/count" => count;
    "POST" "/collections/{collection_name}/points/search" => search;
    "POST" "/collections/{collection_name}/points/search/batch" => search_batch;
    "POST" "/collections/{collection_name}/points/recommend" => recommend;
    "POST" "/collections/{collection_name}/points/recommend/batch" => recommend_batch;
    "POST" "/collections/{collection_name}/points/query" => query;
    "POST" "/collections/{collection_name}/points/query/batch" => query_batch;
    "GET" "/collections/{collection_name}/snapshots" => list_snapshots;
    "POST" "/collections/{collection_name}/snapshots" => create_snapshot;
    "PUT" "/collections/{collection_name}/snapshots/recover" => recover_snapshot;
    "POST" UPLOAD_PATH => upload_snapshot;
    "GET" "/collections/{collection_name}/snapshots/{snapshot_name}" => download_snapshot;
    "DELETE" "/collections/{collection_name}/snapshots/{snapshot_name}" => delete_snapshot;
};

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "PUT" => MethodFilter::PUT,
        "POST" => MethodFilter::POST,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        other => unreachable!("no route uses method {other}"),
    }
}

/// Every `(method, path template)` the REST API serves, in Qdrant's
/// template syntax (`/collections/{collection_name}/points`).
pub fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    ROUTES.iter().map(|r| (r.method, r.path))
}

/// The OpenAPI 3 document of the REST API, as served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Builds the REST router over `service`.
pub fn router(service: Service, options: RestOptions) -> (Router, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let state = AppState {
        service,
        metrics: Arc::clone(&metrics),
        auth: Arc::new(options.auth),
    };
    let mut authed: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    let mut open: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    for route in ROUTES {
        let mut handler = (route.handler)(method_filter(route.method));
        if route.path == UPLOAD_PATH {
            handler = handler.layer(DefaultBodyLimit::max(options.max_snapshot_bytes));
        }
        let group = if route.open { &mut open } else { &mut authed };
        let merged = match group.remove(route.path) {
            Some(existing) => existing.merge(handler),
            None => handler,
        };
        group.insert(route.path, merged);
    }
    let authed = authed
        .into_iter()
        .fold(Router::new(), |r, (path, h)| r.route(path, h))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth));
    let api = open
        .into_iter()
        .fold(authed, |r, (path, h)| r.route(path, h))
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

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
        .into_response()
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

async fn add_peer(State(s): State<AppState>, body: Body_) -> Response {
    let t = Instant::now();
    let r = match json_body(body) {
        Ok(b) => s.service.add_peer(b).await,
        Err(e) => Err(e),
    };
    respond(t, r)
}

/// A node id in the path.
fn peer_id(raw: &str) -> ApiResult<u64> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(format!("peer id {raw:?}: expected an unsigned integer"))
    })
}

async fn promote_peer(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let t = Instant::now();
    let r = match peer_id(&id) {
        Ok(id) => s.service.promote_peer(id).await,
        Err(e) => Err(e),
    };
    respond(t, r)
}

async fn remove_peer(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let t = Instant::now();
    let r = match peer_id(&id) {
        Ok(id) => s.service.remove_peer(id).await,
        Err(e) => Err(e),
    };
    respond(t, r)
}

/// Path of the fault-injection route (see [`fault_routes`]).
pub const FAULT_PATH: &str = "/cluster/fault";

/// **Test only.** `POST /cluster/fault` over `node`'s fault switches,
/// served only by a cluster node started with the hidden
/// `--fault-injection` flag (without it the path does not exist: 404). It
/// is not part of the API, so it lives outside [`routes`] and
/// `openapi.json`. Body (every field optional): `{"partitioned": bool}`
/// cuts the node off from the other nodes or heals it
/// ([`Faults::set_partitioned`](grape_cluster::network::Faults::set_partitioned));
/// `{"ack_before_commit": bool}` turns on a deliberately broken write path
/// that acknowledges writes before they commit
/// ([`Faults::set_ack_before_commit`](grape_cluster::network::Faults::set_ack_before_commit));
/// `{"compact_log": true}` builds a snapshot and purges the log up to it
/// ([`ClusterNode::compact_log`](grape_cluster::ClusterNode::compact_log)).
/// Answers the switches' state (and the snapshot index) in Qdrant's
/// envelope. Requires the full API key when one is configured.
pub fn fault_routes(node: grape_cluster::ClusterNode, auth: RestAuth) -> Router {
    let state = Arc::new((node, auth));
    Router::new()
        .route(FAULT_PATH, axum::routing::post(set_faults))
        .with_state(state)
}

async fn set_faults(
    State(state): State<Arc<(grape_cluster::ClusterNode, RestAuth)>>,
    headers: HeaderMap,
    body: Body_,
) -> Response {
    let t = Instant::now();
    let (node, auth) = &*state;
    let r = async {
        auth.check(&headers, false)?;
        let body = json_body(body)?;
        let map = crate::shapes::object(&body)?;
        let fields = ["partitioned", "ack_before_commit", "compact_log"];
        crate::shapes::check_fields(&map, &fields)?;
        let mut switches = [None; 3];
        for (field, switch) in fields.iter().zip(&mut switches) {
            *switch = match map.get(*field) {
                None => None,
                Some(v) => Some(v.as_bool().ok_or_else(|| {
                    ApiError::bad_request(format!("{field}: expected a boolean"))
                })?),
            };
        }
        let faults = node.faults();
        if let Some(on) = switches[0] {
            faults.set_partitioned(on);
        }
        if let Some(on) = switches[1] {
            faults.set_ack_before_commit(on);
        }
        tracing::warn!(
            partitioned = faults.partitioned(),
            ack_before_commit = faults.ack_before_commit(),
            "fault injection"
        );
        let snapshot = if switches[2] == Some(true) {
            node.compact_log(std::time::Duration::from_secs(60))
                .await
                .map_err(crate::cluster::api_error)?
        } else {
            None
        };
        Ok(json!({
            "partitioned": faults.partitioned(),
            "ack_before_commit": faults.ack_before_commit(),
            "snapshot_index": snapshot,
        }))
    }
    .await;
    respond(t, r)
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
    recover_snapshot => recover_snapshot;
}

/// Handlers of reads taking the collection name, a JSON body and Qdrant's
/// `?consistency=` (in a cluster, a strong value waits on a read barrier).
macro_rules! read_handlers {
    ($($handler:ident => $method:ident;)*) => {$(
        async fn $handler(
            State(s): State<AppState>,
            Path(name): Path<String>,
            query: RawQuery,
            body: Body_,
        ) -> Response {
            let t = Instant::now();
            if let Err(e) = s.service.before_read(param(&query, "consistency")).await {
                return fail(t, &e);
            }
            let r = match json_body(body) {
                Ok(b) => s.service.$method(&name, b).await,
                Err(e) => Err(e),
            };
            respond(t, r)
        }
    )*};
}

read_handlers! {
    get_points => get_points;
    scroll => scroll_points;
    count => count_points;
    search_batch => search_batch;
    recommend => recommend_points;
    recommend_batch => recommend_batch;
    query_batch => query_batch;
}

/// Handlers of the searches with a dense fast path: a plain-list vector in
/// field `$key` goes to `$dense` as floats, any other body to `$general`.
macro_rules! search_handlers {
    ($($handler:ident => $general:ident, $dense:ident, $key:literal;)*) => {$(
        async fn $handler(
            State(s): State<AppState>,
            Path(name): Path<String>,
            query: RawQuery,
            body: Body_,
        ) -> Response {
            let t = Instant::now();
            if let Err(e) = s.service.before_read(param(&query, "consistency")).await {
                return fail(t, &e);
            }
            if let Ok(bytes) = &body
                && let Some((fields, vector)) = split_dense(bytes, $key)
            {
                return respond(t, s.service.$dense(&name, fields, vector).await);
            }
            let r = match json_body(body) {
                Ok(b) => s.service.$general(&name, b).await,
                Err(e) => Err(e),
            };
            respond(t, r)
        }
    )*};
}

search_handlers! {
    search => search_points, search_dense, "vector";
    query => query_points, query_dense, "query";
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
    query: RawQuery,
) -> Response {
    let t = Instant::now();
    if let Err(e) = s.service.before_read(param(&query, "consistency")).await {
        return fail(t, &e);
    }
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

    /// A plain-list vector is split off; anything else is left to the
    /// general path, which names the error.
    #[test]
    fn anything_but_a_json_number_list_takes_the_general_path() {
        let body = br#"{"query": [1, 2.5], "limit": 3, "params": {"hnsw_ef": 8}}"#;
        let (fields, vector) = split_dense(body, "query").unwrap();
        assert_eq!(vector, vec![1.0, 2.5]);
        assert_eq!(
            Value::Object(fields),
            json!({"limit": 3, "params": {"hnsw_ef": 8}})
        );
        for body in [
            &br#"{"query": {"nearest": [1, 2]}}"#[..],
            br#"{"query": [1, 2], "limit": }"#,
            br#"{"limit": 3}"#,
            br#"[1, 2]"#,
            br#"{"query": [1, NaN]}"#,
            br#"{"query": [1, "2"]}"#,
            br#"{"query": [1, 2], "query": [3, 4]}"#,
            br#"{"query": [1, 2]} x"#,
        ] {
            assert!(
                split_dense(body, "query").is_none(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
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
