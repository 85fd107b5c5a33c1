//! The transport-independent service layer: one `async fn` per Qdrant
//! operation, taking the collection name and the request body in Qdrant's
//! REST JSON shape and returning what goes in Qdrant's `"result"` field.
//! The REST routes (`rest.rs`) and the gRPC services both call it, so both
//! transports accept the same documents with the same errors.
//!
//! Every database call runs on tokio's blocking pool (commits fsync and a
//! large query can take a while, and neither may stall the async workers),
//! but for one: a single graph search without filter, bounded work that
//! costs less than the hop to the pool (`run_dense`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use grape_core::PointData;
use grape_core::payload::{Condition, FieldSchema, IdSet, PointId};
use grape_core::query::{Query, QueryRequest, VectorSelector};
use grape_db::{AliasOp, Database, Mutation, Outcome, PointSelector};
use serde_json::{Map, Value, json};

use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::shapes::{
    check_fields, collection_info_json, get, object, opt_filter, opt_usize, point_id, point_ids,
    points_selector, record_json, scored_json, selectors, update_result,
};

/// The version of Qdrant's API that Grape implements, reported as
/// `version` by `GET /` and the gRPC health check. Qdrant's clients warn
/// unless the server's major version equals theirs and the minor versions
/// differ by at most one: 1.19 satisfies both pinned clients
/// (qdrant-client 1.20 for Python, @qdrant/js-client-rest 1.18).
pub const QDRANT_API_VERSION: &str = "1.19.0";

/// Largest `limit + offset` of a graph search run on the async worker.
const INLINE_MAX_HITS: usize = 100;

/// Suffix of snapshot files in the snapshot directory.
const SNAPSHOT_SUFFIX: &str = ".snapshot";

/// The service layer over one [`Database`]. Cheap to clone (an `Arc`
/// inside); every transport holds one.
#[derive(Clone, Debug)]
pub struct Service {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Database,
    snapshots_dir: PathBuf,
    /// This server's node when it runs in a cluster: writes go through it.
    cluster: Option<Cluster>,
}

/// Runs `f` on the blocking pool with a clone of the database.
async fn blocking<T: Send + 'static>(
    db: &Database,
    f: impl FnOnce(&Database) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || f(&db))
        .await
        .map_err(|e| ApiError::internal(format!("background task failed: {e}")))?
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Service {
    /// A service over `db`, keeping collection snapshots under
    /// `snapshots_dir` (one sub-directory per collection).
    pub fn new(db: Database, snapshots_dir: impl Into<PathBuf>) -> Self {
        Service {
            inner: Arc::new(Inner {
                db,
                snapshots_dir: snapshots_dir.into(),
                cluster: None,
            }),
        }
    }

    /// A service over the database of `cluster`'s node: every write is
    /// replicated through Raft.
    pub fn clustered(cluster: Cluster, snapshots_dir: impl Into<PathBuf>) -> Self {
        Service {
            inner: Arc::new(Inner {
                db: cluster.node().database().clone(),
                snapshots_dir: snapshots_dir.into(),
                cluster: Some(cluster),
            }),
        }
    }

    /// The cluster this server is a node of, if any.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.inner.cluster.as_ref()
    }

    /// Before a read with Qdrant's `consistency` parameter (`None`: not
    /// given): in a cluster, a value asking for more than this replica
    /// (`majority`, `quorum`, `all`, a number above 1) waits on a
    /// linearizable read barrier. A bad value is a 400 everywhere.
    pub async fn before_read(&self, consistency: Option<&str>) -> ApiResult<()> {
        let Some(consistency) = consistency else {
            return Ok(());
        };
        let strong = crate::cluster::is_strong(consistency)?;
        match &self.inner.cluster {
            Some(cluster) if strong => cluster.read_barrier().await,
            _ => Ok(()),
        }
    }

    /// The cluster, or the error of a cluster-only call on a single node.
    fn cluster_or_err(&self) -> ApiResult<&Cluster> {
        self.inner.cluster.as_ref().ok_or_else(|| {
            ApiError::bad_request(
                "this server is not running in cluster mode (start it with --node-id)",
            )
        })
    }

    /// `POST /cluster/peer` (Grape): adds a node as a learner.
    pub async fn add_peer(&self, body: Value) -> ApiResult<Value> {
        self.cluster_or_err()?.add_peer(body).await
    }

    /// `POST /cluster/peer/{id}/promote` (Grape): a learner becomes a voter.
    pub async fn promote_peer(&self, id: u64) -> ApiResult<Value> {
        self.cluster_or_err()?.promote(id).await
    }

    /// `DELETE /cluster/peer/{id}`: removes a node from the cluster.
    pub async fn remove_peer(&self, id: u64) -> ApiResult<Value> {
        self.cluster_or_err()?.remove(id).await
    }

    /// The database this service serves.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// The directory holding collection snapshots.
    pub fn snapshots_dir(&self) -> &Path {
        &self.inner.snapshots_dir
    }

    fn db(&self) -> &Database {
        &self.inner.db
    }

    /// The collection that `name` refers to: itself, or the target of the
    /// alias `name`.
    fn resolve(db: &Database, name: &str) -> ApiResult<String> {
        if db.collection_exists(name)? {
            return Ok(name.to_string());
        }
        match db.resolve_alias(name)? {
            Some(target) => Ok(target),
            None => Err(grape_db::Error::UnknownCollection(name.to_string()).into()),
        }
    }

    /// `GET /`: the server's name, the version of Qdrant's API that Grape
    /// implements in `version` (what Qdrant's clients check their own
    /// version against), and Grape's own version in `grape_version`.
    pub fn root_info(&self) -> Value {
        json!({
            "title": "grape - vector search engine",
            "version": QDRANT_API_VERSION,
            "grape_version": env!("CARGO_PKG_VERSION"),
        })
    }

    // --- collections ---

    /// `GET /collections`: `{"collections": [{"name": ..}]}`.
    pub async fn list_collections(&self) -> ApiResult<Value> {
        blocking(self.db(), |db| {
            let names = db.list_collections()?;
            Ok(json!({
                "collections": names.into_iter().map(|n| json!({"name": n})).collect::<Vec<_>>()
            }))
        })
        .await
    }

    /// `GET /collections/{name}/exists`: `{"exists": bool}` (true for an alias too).
    pub async fn collection_exists(&self, name: &str) -> ApiResult<Value> {
        let name = name.to_string();
        blocking(self.db(), move |db| {
            let exists = db.collection_exists(&name)? || db.resolve_alias(&name)?.is_some();
            Ok(json!({ "exists": exists }))
        })
        .await
    }

    /// `GET /collections/{name}`: Qdrant's `CollectionInfo`.
    pub async fn get_collection(&self, name: &str) -> ApiResult<Value> {
        let name = name.to_string();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let info = db.info(&name)?;
            let config = db.collection_config(&name)?;
            Ok(collection_info_json(&info, &config))
        })
        .await
    }

    /// `PUT /collections/{name}`: creates it from Qdrant's create-collection
    /// body (plus Grape's `text_fields`); `true`. An existing collection or
    /// alias of that name is a conflict (409).
    pub async fn create_collection(&self, name: &str, body: Value) -> ApiResult<Value> {
        if self.db().resolve_alias(name)?.is_some() {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                format!("Wrong input: an alias named `{name}` already exists"),
            ));
        }
        let config = if body.is_null() { json!({}) } else { body };
        let m = Mutation::CreateCollection {
            name: name.to_string(),
            config,
        };
        self.submit(m).await.map_err(|e| {
            if e.kind() == ErrorKind::Conflict {
                ApiError::new(
                    ErrorKind::Conflict,
                    format!("Wrong input: Collection `{name}` already exists!"),
                )
            } else {
                e
            }
        })?;
        Ok(Value::Bool(true))
    }

    /// `PATCH /collections/{name}`: Grape accepts the server-tuning parts of
    /// Qdrant's update body (optimizer, params, strict mode, metadata)
    /// without effect: it has no segments or optimizer to tune. HNSW,
    /// quantization, vector storage and sparse-vector parameters are fixed
    /// when the indexes are built: a value equal to the current one is
    /// accepted, a change is a 400 naming the field (nothing is changed).
    pub async fn update_collection(&self, name: &str, body: Value) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(
            &map,
            &[
                "optimizers_config",
                "params",
                "strict_mode_config",
                "metadata",
                "vectors",
                "hnsw_config",
                "quantization_config",
                "sparse_vectors",
            ],
        )?;
        let name = name.to_string();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let config = db.collection_config(&name)?;
            check_collection_update(&map, &config)?;
            Ok(Value::Bool(true))
        })
        .await
    }

    /// `DELETE /collections/{name}`: `true`, or `false` when there was none.
    /// Aliases of the collection are removed with it.
    pub async fn delete_collection(&self, name: &str) -> ApiResult<Value> {
        let (outcome, _) = self
            .submit(Mutation::DeleteCollection {
                name: name.to_string(),
            })
            .await?;
        let deleted = matches!(outcome, Outcome::Existed(true));
        if deleted {
            let ops: Vec<AliasOp> = self
                .db()
                .list_aliases()?
                .into_iter()
                .filter(|(_, c)| c == name)
                .map(|(alias, _)| AliasOp::Delete { alias })
                .collect();
            if !ops.is_empty() {
                self.submit(Mutation::UpdateAliases { ops }).await?;
            }
        }
        Ok(Value::Bool(deleted))
    }

    // --- aliases ---

    /// `POST /collections/aliases`: applies `{"actions": [..]}`
    /// (`create_alias`, `delete_alias`, `rename_alias`) all or nothing; `true`.
    pub async fn update_aliases(&self, body: Value) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(&map, &["actions"])?;
        let actions = get(&map, "actions")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::bad_request("actions: expected a list of alias actions"))?;
        let mut ops = Vec::with_capacity(actions.len());
        for (i, action) in actions.iter().enumerate() {
            ops.push(alias_op(action, i)?);
        }
        self.submit(Mutation::UpdateAliases { ops }).await?;
        Ok(Value::Bool(true))
    }

    /// `GET /aliases`: `{"aliases": [{"alias_name", "collection_name"}]}`.
    pub async fn list_aliases(&self) -> ApiResult<Value> {
        blocking(self.db(), |db| Ok(aliases_json(db.list_aliases()?))).await
    }

    /// `GET /collections/{name}/aliases`: the aliases of one collection.
    pub async fn list_collection_aliases(&self, name: &str) -> ApiResult<Value> {
        let name = name.to_string();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let all = db.list_aliases()?;
            Ok(aliases_json(
                all.into_iter().filter(|(_, c)| *c == name).collect(),
            ))
        })
        .await
    }

    // --- points ---

    /// `PUT /collections/{name}/points`: `{"points": [PointStruct]}` or
    /// `{"batch": {"ids", "vectors", "payloads"}}`; an `UpdateResult`. The
    /// write is committed (durably, by default) before this returns, whatever
    /// `wait` says; `wait` only chooses the status Qdrant would report.
    pub async fn upsert_points(&self, name: &str, body: Value, wait: bool) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(&map, &["points", "batch", "shard_key", "update_filter"])?;
        reject(&map, &["shard_key", "update_filter"])?;
        let points = parse_points(&map)?;
        self.write(
            name,
            |collection| Mutation::Upsert { collection, points },
            wait,
        )
        .await
    }

    /// Applies `m`: straight to the local database, or replicated through
    /// Raft in a cluster (returning once it is committed and applied on
    /// this node). Returns its outcome and the operation id reported to the
    /// client: the collection's write sequence number on a single node, the
    /// Raft log index in a cluster.
    async fn submit(&self, m: Mutation) -> ApiResult<(Outcome, u64)> {
        if let Some(cluster) = &self.inner.cluster {
            // Refuse bad points here rather than through the log, where
            // every replica would apply (and reject) them.
            if let Mutation::Upsert { collection, points } = &m {
                self.db().check_points(collection, points)?;
            }
            return cluster.write(m).await;
        }
        blocking(self.db(), move |db| {
            let collection = m.collection().map(str::to_string);
            let outcome = db.apply(m)?;
            let op = match (outcome, collection) {
                (Outcome::Seq(seq), _) => seq,
                (_, Some(c)) => db.info(&c).map_or(0, |i| i.write_seq),
                (_, None) => 0,
            };
            Ok((outcome, op))
        })
        .await
    }

    /// A write to the collection `name` names (itself or an alias's
    /// target), built by `make` from the resolved name; Qdrant's
    /// `UpdateResult`.
    async fn write(
        &self,
        name: &str,
        make: impl FnOnce(String) -> Mutation,
        wait: bool,
    ) -> ApiResult<Value> {
        let target = self.resolve_for_write(name).await?;
        let (_, op) = self.submit(make(target)).await?;
        Ok(update_result(op, wait))
    }

    /// The collection a write to `name` goes to. In a cluster this replica
    /// may not have applied the collection's creation (or the alias) yet,
    /// though another node acknowledged it: an unknown name is looked up
    /// again after a read barrier before it is an error.
    async fn resolve_for_write(&self, name: &str) -> ApiResult<String> {
        match Self::resolve(self.db(), name) {
            Err(e) if e.kind() == ErrorKind::NotFound => match &self.inner.cluster {
                Some(cluster) => {
                    cluster.read_barrier().await?;
                    Self::resolve(self.db(), name)
                }
                None => Err(e),
            },
            other => other,
        }
    }

    /// `POST /collections/{name}/points`: `{"ids", "with_payload" (default
    /// true), "with_vector" (default false)}`; the found points in the order
    /// asked (unknown ids are skipped).
    pub async fn get_points(&self, name: &str, body: Value) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(
            &map,
            &[
                "ids",
                "with_payload",
                "with_vector",
                "with_vectors",
                "shard_key",
            ],
        )?;
        let ids = point_ids(
            get(&map, "ids").ok_or_else(|| ApiError::bad_request("ids is required"))?,
            "ids",
        )?;
        let (wp, wv) = selectors(&map, true, false)?;
        let name = name.to_string();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let records = db.get(&name, &ids, &wp, &wv)?;
            Ok(Value::Array(records.iter().map(record_json).collect()))
        })
        .await
    }

    /// `GET /collections/{name}/points/{id}`: one point with its payload and
    /// vectors; 404 when there is none.
    pub async fn get_point(&self, name: &str, id: &str) -> ApiResult<Value> {
        let pid: PointId = id
            .parse()
            .map_err(|e: grape_core::Error| ApiError::bad_request(e.to_string()))?;
        let name = name.to_string();
        let shown = id.to_string();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let records = db.get(
                &name,
                &[pid],
                &grape_core::query::PayloadSelector::All(true),
                &VectorSelector::All(true),
            )?;
            records
                .first()
                .map(record_json)
                .ok_or_else(|| ApiError::not_found(format!("No point with id {shown} found")))
        })
        .await
    }

    /// `POST /collections/{name}/points/delete`: `{"points": [ids]}` or
    /// `{"filter": ..}`; an `UpdateResult`.
    pub async fn delete_points(&self, name: &str, body: Value, wait: bool) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(&map, &["points", "filter", "shard_key"])?;
        let selector = points_selector(&map)?;
        self.write(
            name,
            |collection| Mutation::DeletePoints {
                collection,
                selector,
            },
            wait,
        )
        .await
    }

    /// `POST /collections/{name}/points/payload`: merges `payload` into the
    /// selected points (`key`: into the object at that path).
    pub async fn set_payload(&self, name: &str, body: Value, wait: bool) -> ApiResult<Value> {
        let (selector, payload, key) = payload_body(&body, true)?;
        self.write(
            name,
            |collection| Mutation::SetPayload {
                collection,
                selector,
                payload,
                key,
            },
            wait,
        )
        .await
    }

    /// `PUT /collections/{name}/points/payload`: replaces the payload of the
    /// selected points.
    pub async fn overwrite_payload(&self, name: &str, body: Value, wait: bool) -> ApiResult<Value> {
        let (selector, payload, _) = payload_body(&body, false)?;
        self.write(
            name,
            |collection| Mutation::OverwritePayload {
                collection,
                selector,
                payload,
            },
            wait,
        )
        .await
    }

    /// `POST /collections/{name}/points/payload/delete`: removes `keys`
    /// from the selected points.
    pub async fn delete_payload(&self, name: &str, body: Value, wait: bool) -> ApiResult<Value> {
        let (selector, keys) = delete_payload_body(&body)?;
        self.write(
            name,
            |collection| Mutation::DeletePayload {
                collection,
                selector,
                keys,
            },
            wait,
        )
        .await
    }

    /// `POST /collections/{name}/points/payload/clear`: empties the payload
    /// of the selected points (body: Qdrant's `PointsSelector`).
    pub async fn clear_payload(&self, name: &str, body: Value, wait: bool) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(&map, &["points", "filter", "shard_key"])?;
        let selector = points_selector(&map)?;
        self.write(
            name,
            |collection| Mutation::ClearPayload {
                collection,
                selector,
            },
            wait,
        )
        .await
    }

    /// `POST /collections/{name}/points/batch`: `{"operations": [..]}`
    /// (`upsert`, `delete`, `set_payload`, `overwrite_payload`,
    /// `delete_payload`, `clear_payload`), applied in order; one
    /// `UpdateResult` each. Every operation is checked before the first is
    /// applied; each one commits on its own (not one transaction).
    pub async fn batch_update(&self, name: &str, body: Value, wait: bool) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(&map, &["operations"])?;
        let list = get(&map, "operations")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::bad_request("operations: expected a list"))?;
        let mut ops = Vec::with_capacity(list.len());
        for (i, op) in list.iter().enumerate() {
            ops.push(batch_op(op).map_err(|e| {
                ApiError::new(e.kind(), format!("operations[{i}]: {}", e.message()))
            })?);
        }
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let result = self
                .write(
                    name,
                    |collection| match op {
                        BatchOp::Upsert(points) => Mutation::Upsert { collection, points },
                        BatchOp::Delete(selector) => Mutation::DeletePoints {
                            collection,
                            selector,
                        },
                        BatchOp::Set(selector, payload, key) => Mutation::SetPayload {
                            collection,
                            selector,
                            payload,
                            key,
                        },
                        BatchOp::Overwrite(selector, payload) => Mutation::OverwritePayload {
                            collection,
                            selector,
                            payload,
                        },
                        BatchOp::DeleteKeys(selector, keys) => Mutation::DeletePayload {
                            collection,
                            selector,
                            keys,
                        },
                        BatchOp::Clear(selector) => Mutation::ClearPayload {
                            collection,
                            selector,
                        },
                    },
                    wait,
                )
                .await?;
            results.push(result);
        }
        Ok(Value::Array(results))
    }

    /// `POST /collections/{name}/points/scroll`: `{"filter", "limit"
    /// (default 10), "offset" (a point id), "with_payload" (default true),
    /// "with_vector"}`; `{"points", "next_page_offset"}`.
    pub async fn scroll_points(&self, name: &str, body: Value) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(
            &map,
            &[
                "filter",
                "limit",
                "offset",
                "with_payload",
                "with_vector",
                "with_vectors",
                "order_by",
                "shard_key",
            ],
        )?;
        reject(&map, &["order_by"])?;
        let filter = opt_filter(&map, "filter")?;
        let limit = opt_usize(&map, "limit")?.unwrap_or(10);
        let from = get(&map, "offset")
            .map(|v| point_id(v, "offset"))
            .transpose()?;
        let (wp, wv) = selectors(&map, true, false)?;
        let name = name.to_string();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let (records, next) = db.scroll(&name, filter.as_ref(), from, limit, &wp, &wv)?;
            Ok(json!({
                "points": records.iter().map(record_json).collect::<Vec<_>>(),
                "next_page_offset": next,
            }))
        })
        .await
    }

    /// `POST /collections/{name}/points/count`: `{"filter", "exact"}`;
    /// `{"count": n}` (always exact).
    pub async fn count_points(&self, name: &str, body: Value) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(&map, &["filter", "exact", "shard_key"])?;
        let filter = opt_filter(&map, "filter")?;
        let name = name.to_string();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            Ok(json!({"count": db.count(&name, filter.as_ref())?}))
        })
        .await
    }

    // --- search ---

    /// Runs parsed query requests against the resolved collection.
    async fn run_queries(&self, name: &str, requests: Vec<Prepared>) -> ApiResult<Vec<Value>> {
        let name = name.to_string();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let mut out = Vec::with_capacity(requests.len());
            for prepared in requests {
                let request = expand_recommend(db, &name, prepared)?;
                let hits = db.query(&name, &request)?;
                out.push(Value::Array(hits.iter().map(scored_json).collect()));
            }
            Ok(out)
        })
        .await
    }

    /// One dense search; its hits. A graph search without filter or
    /// prefetch (a bounded amount of work, well under a millisecond at
    /// typical `ef`) runs right here on the async worker: the hop to the
    /// blocking pool and back costs about as much as the search itself.
    /// Anything that may scan (no graph, a filter, prefetches, deep pages)
    /// goes to the blocking pool like every other call.
    async fn run_dense(&self, name: &str, request: QueryRequest) -> ApiResult<Value> {
        let db = self.db();
        let target = Self::resolve(db, name)?;
        let graph = request.filter.is_none()
            && request.prefetch.is_empty()
            && request.limit + request.offset <= INLINE_MAX_HITS
            && db
                .collection_config(&target)?
                .dense
                .get(request.using.as_deref().unwrap_or(""))
                .is_some_and(|c| c.m > 0);
        if graph {
            let hits = db.query(&target, &request)?;
            return Ok(Value::Array(hits.iter().map(scored_json).collect()));
        }
        let mut out = self.run_queries(name, vec![request.into()]).await?;
        Ok(out.pop().unwrap_or(Value::Array(Vec::new())))
    }

    /// `POST /collections/{name}/points/search`: Qdrant's legacy search
    /// (`vector` as a list, `{"name", "vector"}` or a named sparse vector);
    /// a list of `ScoredPoint`.
    pub async fn search_points(&self, name: &str, body: Value) -> ApiResult<Value> {
        let request = search_request(&body)?;
        let mut out = self.run_queries(name, vec![request.into()]).await?;
        Ok(out.pop().unwrap_or(Value::Array(Vec::new())))
    }

    /// [`Service::search_points`] for a body whose `vector` is a plain list,
    /// given as floats beside the other `fields` (the REST and gRPC layers
    /// parse it straight into `f32`s, the bulk of a search request).
    pub async fn search_dense(
        &self,
        name: &str,
        fields: Map<String, Value>,
        vector: Vec<f32>,
    ) -> ApiResult<Value> {
        let request = with_dense(search_fields(with_placeholder(fields, "vector")?)?, vector)?;
        self.run_dense(name, request).await
    }

    /// `POST /collections/{name}/points/search/batch`: `{"searches": [..]}`;
    /// one list of hits per search.
    pub async fn search_batch(&self, name: &str, body: Value) -> ApiResult<Value> {
        let requests = batch_bodies(&body)?
            .iter()
            .enumerate()
            .map(|(i, b)| {
                search_request(b)
                    .map(Prepared::from)
                    .map_err(|e| e.in_batch(i))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(Value::Array(self.run_queries(name, requests).await?))
    }

    /// `POST /collections/{name}/points/recommend`: `{"positive", "negative",
    /// "strategy" (average_vector), "using", "filter", "limit", ...}`; a list
    /// of `ScoredPoint`, the examples excluded.
    pub async fn recommend_points(&self, name: &str, body: Value) -> ApiResult<Value> {
        let request = recommend_request(&body)?;
        let mut out = self.run_queries(name, vec![request]).await?;
        Ok(out.pop().unwrap_or(Value::Array(Vec::new())))
    }

    /// `POST /collections/{name}/points/recommend/batch`: `{"searches": [..]}`.
    pub async fn recommend_batch(&self, name: &str, body: Value) -> ApiResult<Value> {
        let requests = batch_bodies(&body)?
            .iter()
            .enumerate()
            .map(|(i, b)| recommend_request(b).map_err(|e| e.in_batch(i)))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(Value::Array(self.run_queries(name, requests).await?))
    }

    /// `POST /collections/{name}/points/query`: Qdrant's universal query
    /// (the core parses it; `{"text": ..}` is Grape's BM25 search and
    /// `{"recommend": ..}` is mapped onto a vector query); `{"points": [..]}`.
    pub async fn query_points(&self, name: &str, body: Value) -> ApiResult<Value> {
        let request = query_request(body)?;
        let mut out = self.run_queries(name, vec![request]).await?;
        Ok(json!({"points": out.pop().unwrap_or(Value::Array(Vec::new()))}))
    }

    /// [`Service::query_points`] for a body whose `query` is a plain list (a
    /// nearest-neighbour search), given as floats beside the other `fields`.
    pub async fn query_dense(
        &self,
        name: &str,
        fields: Map<String, Value>,
        vector: Vec<f32>,
    ) -> ApiResult<Value> {
        let request = query_dense_request(fields, vector)?;
        Ok(json!({"points": self.run_dense(name, request).await?}))
    }

    /// `POST /collections/{name}/points/query/batch`: `{"searches": [..]}`;
    /// `[{"points": [..]}, ..]`.
    pub async fn query_batch(&self, name: &str, body: Value) -> ApiResult<Value> {
        let requests = batch_bodies(&body)?
            .into_iter()
            .enumerate()
            .map(|(i, b)| query_request(b).map_err(|e| e.in_batch(i)))
            .collect::<ApiResult<Vec<_>>>()?;
        let out = self.run_queries(name, requests).await?;
        Ok(Value::Array(
            out.into_iter().map(|p| json!({"points": p})).collect(),
        ))
    }

    // --- payload indexes ---

    /// `PUT /collections/{name}/index`: `{"field_name", "field_schema"}`
    /// (`keyword`, `integer`, `float`, `bool`, `datetime`, also as
    /// `{"type": ..}`; `uuid` indexes as keyword); an `UpdateResult`.
    pub async fn create_field_index(
        &self,
        name: &str,
        body: Value,
        wait: bool,
    ) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(&map, &["field_name", "field_schema", "field_type"])?;
        let field = get(&map, "field_name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("field_name: expected a string"))?
            .to_string();
        let schema_value = get(&map, "field_schema")
            .or_else(|| get(&map, "field_type"))
            .ok_or_else(|| ApiError::bad_request("field_schema is required"))?;
        let schema = field_schema(schema_value)?;
        self.write(
            name,
            |collection| Mutation::CreatePayloadIndex {
                collection,
                field,
                schema,
            },
            wait,
        )
        .await
    }

    /// `DELETE /collections/{name}/index/{field}`: drops the payload index
    /// on `field` (filters on it keep working, by scanning); an
    /// `UpdateResult`, also when the field had no index (as in Qdrant).
    pub async fn delete_field_index(
        &self,
        name: &str,
        field: &str,
        wait: bool,
    ) -> ApiResult<Value> {
        let field = field.to_string();
        self.write(
            name,
            |collection| Mutation::DeletePayloadIndex { collection, field },
            wait,
        )
        .await
    }

    // --- snapshots ---

    fn collection_snapshot_dir(&self, collection: &str) -> PathBuf {
        self.inner.snapshots_dir.join(collection)
    }

    /// `POST /collections/{name}/snapshots`: writes the collection in the
    /// portable format to the snapshot directory; Qdrant's
    /// `SnapshotDescription` (`name`, `creation_time`, `size`, `checksum`).
    pub async fn create_snapshot(&self, name: &str) -> ApiResult<Value> {
        let name = name.to_string();
        let dir_root = self.inner.snapshots_dir.clone();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let bytes = db.snapshot(&name)?;
            let dir = dir_root.join(&name);
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let stamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            let file = format!("{name}-{stamp}{SNAPSHOT_SUFFIX}");
            let tmp = dir.join(format!(".{file}.tmp"));
            let path = dir.join(&file);
            write_synced(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
            snapshot_description(&path)
        })
        .await
    }

    /// `GET /collections/{name}/snapshots`: the collection's snapshots,
    /// oldest first.
    pub async fn list_snapshots(&self, name: &str) -> ApiResult<Value> {
        let name = name.to_string();
        let root = self.inner.snapshots_dir.clone();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let dir = root.join(&name);
            let mut out = Vec::new();
            if let Ok(entries) = std::fs::read_dir(&dir) {
                let mut paths: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.ends_with(SNAPSHOT_SUFFIX) && !n.starts_with('.'))
                    })
                    .collect();
                paths.sort();
                for p in paths {
                    out.push(snapshot_description(&p)?);
                }
            }
            Ok(Value::Array(out))
        })
        .await
    }

    /// The file of snapshot `snapshot` of collection `name` (for download);
    /// 404 when there is none. The name may not leave the directory.
    pub async fn snapshot_path(&self, name: &str, snapshot: &str) -> ApiResult<PathBuf> {
        check_snapshot_name(snapshot)?;
        let name = name.to_string();
        let snapshot = snapshot.to_string();
        let root = self.inner.snapshots_dir.clone();
        blocking(self.db(), move |db| {
            let name = Self::resolve(db, &name)?;
            let path = root.join(&name).join(&snapshot);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ApiError::not_found(format!(
                    "Snapshot {snapshot} of collection {name} not found"
                )))
            }
        })
        .await
    }

    /// `DELETE /collections/{name}/snapshots/{snapshot}`: `true`.
    pub async fn delete_snapshot(&self, name: &str, snapshot: &str) -> ApiResult<Value> {
        let path = self.snapshot_path(name, snapshot).await?;
        std::fs::remove_file(&path).map_err(io_err(&path))?;
        Ok(Value::Bool(true))
    }

    /// `PUT /collections/{name}/snapshots/recover`: `{"location"}` naming a
    /// snapshot of this server: `file://` + its path inside the snapshot
    /// directory, or its bare file name among the collection's snapshots.
    /// Replaces (or creates) the collection; `true`.
    pub async fn recover_snapshot(&self, name: &str, body: Value) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(&map, &["location", "priority", "checksum", "api_key"])?;
        let location = get(&map, "location")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("location: expected a string"))?;
        let path = self.snapshot_location(name, location)?;
        let bytes = tokio::fs::read(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ApiError::not_found(format!("snapshot {location} not found"))
            } else {
                io_err(&path)(e)
            }
        })?;
        self.restore_bytes(name, bytes).await
    }

    /// `POST /collections/{name}/snapshots/upload`: restores the collection
    /// from snapshot bytes sent by the client; `true`.
    pub async fn upload_snapshot(&self, name: &str, bytes: Vec<u8>) -> ApiResult<Value> {
        self.restore_bytes(name, bytes).await
    }

    async fn restore_bytes(&self, name: &str, bytes: Vec<u8>) -> ApiResult<Value> {
        // Recovering through an alias replaces the collection it names.
        let target = self
            .resolve_for_write(name)
            .await
            .unwrap_or_else(|_| name.to_string());
        self.submit(Mutation::RestoreCollection {
            name: target,
            bytes,
            replace: true,
        })
        .await?;
        Ok(Value::Bool(true))
    }

    /// The snapshot file a `location` names; only files inside the
    /// snapshot directory are allowed (the server fetches nothing remote).
    fn snapshot_location(&self, name: &str, location: &str) -> ApiResult<PathBuf> {
        let root = &self.inner.snapshots_dir;
        if let Some(path) = location.strip_prefix("file://") {
            let outside = || {
                ApiError::new(
                    ErrorKind::Forbidden,
                    format!(
                        "snapshot location {location:?} is outside the snapshot directory {}",
                        root.display()
                    ),
                )
            };
            // Checked as written (without touching the file system), then
            // again once symlinks and `..` are resolved.
            if !Path::new(path).starts_with(root) {
                return Err(outside());
            }
            let path = std::fs::canonicalize(path)
                .map_err(|_| ApiError::not_found(format!("snapshot {location} not found")))?;
            if !path.starts_with(root) {
                return Err(outside());
            }
            return Ok(path);
        }
        if location.contains("://") {
            return Err(ApiError::not_implemented(
                "recovering from a remote snapshot url (upload it instead)",
            ));
        }
        check_snapshot_name(location)?;
        Ok(self.collection_snapshot_dir(name).join(location))
    }

    // --- service info ---

    /// `GET /cluster`: `{"status": "disabled"}` on a single node, else
    /// Qdrant's `ClusterStatus` of this node.
    pub async fn cluster_info(&self) -> ApiResult<Value> {
        Ok(match &self.inner.cluster {
            Some(cluster) => cluster.info(),
            None => json!({"status": "disabled"}),
        })
    }

    /// `GET /telemetry`: the app and its collections.
    pub async fn telemetry(&self) -> ApiResult<Value> {
        blocking(self.db(), |db| {
            let stats = db.stats()?;
            let collections: Vec<Value> = stats
                .collections
                .iter()
                .map(|(name, points, _)| json!({"id": name, "points_count": points}))
                .collect();
            Ok(json!({
                "id": "grape",
                "app": {"name": "grape", "version": env!("CARGO_PKG_VERSION")},
                "collections": {
                    "number_of_collections": collections.len(),
                    "collections": collections,
                },
                "storage": {"redb_bytes": stats.redb_bytes, "index_bytes": stats.index_bytes},
            }))
        })
        .await
    }

    /// Points per collection, for metrics.
    pub async fn points_per_collection(&self) -> ApiResult<Vec<(String, usize)>> {
        blocking(self.db(), |db| {
            Ok(db
                .stats()?
                .collections
                .into_iter()
                .map(|(n, p, _)| (n, p))
                .collect())
        })
        .await
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ready(&self) -> bool {
        blocking(self.db(), |db| Ok(db.list_collections().is_ok()))
            .await
            .unwrap_or(false)
    }

    /// The time of day, for response bodies.
    pub fn now(&self) -> f64 {
        now_secs()
    }
}

/// Checks a `PATCH /collections/{name}` body against the collection's
/// configuration: every index parameter it sets must equal the current
/// value (Grape cannot rebuild an index in place).
fn check_collection_update(
    map: &Map<String, Value>,
    config: &grape_core::CollectionConfig,
) -> ApiResult<()> {
    if let Some(hnsw) = get(map, "hnsw_config") {
        for (name, h) in &config.dense {
            check_hnsw_update(hnsw, h, "hnsw_config", name)?;
        }
    }
    if let Some(vectors) = get(map, "vectors") {
        let vectors = vectors
            .as_object()
            .ok_or_else(|| ApiError::bad_request("vectors: expected an object of vector names"))?;
        for (name, diff) in vectors {
            let h = config.dense.get(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "vectors: the collection has no dense vector {name:?}"
                ))
            })?;
            let Some(diff) = diff.as_object() else {
                if diff.is_null() {
                    continue;
                }
                return Err(ApiError::bad_request(format!(
                    "vectors.{name}: expected an object"
                )));
            };
            check_fields(diff, &["hnsw_config", "quantization_config", "on_disk"])?;
            if let Some(hnsw) = get(diff, "hnsw_config") {
                check_hnsw_update(hnsw, h, &format!("vectors.{name}.hnsw_config"), name)?;
            }
            for key in ["quantization_config", "on_disk"] {
                if get(diff, key).is_some() {
                    return Err(fixed_parameter(&format!("vectors.{name}.{key}")));
                }
            }
        }
    }
    for key in ["quantization_config", "sparse_vectors"] {
        if get(map, key).is_some_and(|v| v.as_object().is_none_or(|o| !o.is_empty())) {
            return Err(fixed_parameter(key));
        }
    }
    Ok(())
}

/// An HNSW config diff (`m`, `ef_construct`, `full_scan_threshold`,
/// `on_disk`, `payload_m`, `max_indexing_threads`) against vector `name`'s
/// index: equal values and `max_indexing_threads` (server tuning) pass.
fn check_hnsw_update(
    diff: &Value,
    current: &grape_core::HnswConfig,
    at: &str,
    name: &str,
) -> ApiResult<()> {
    let diff = diff
        .as_object()
        .ok_or_else(|| ApiError::bad_request(format!("{at}: expected an object")))?;
    check_fields(
        diff,
        &[
            "m",
            "ef_construct",
            "full_scan_threshold",
            "on_disk",
            "payload_m",
            "max_indexing_threads",
            "inline_storage",
        ],
    )?;
    for (key, now) in [
        ("m", current.m),
        ("ef_construct", current.ef_construction),
        ("full_scan_threshold", current.full_scan_threshold),
    ] {
        let Some(v) = get(diff, key) else { continue };
        let given = v.as_u64().ok_or_else(|| {
            ApiError::bad_request(format!("{at}.{key}: expected an unsigned integer"))
        })?;
        if usize::try_from(given).ok() != Some(now) {
            let vector = if name.is_empty() {
                String::new()
            } else {
                format!(" of vector {name:?}")
            };
            return Err(ApiError::bad_request(format!(
                "{at}.{key}: changing it from {now} to {given}{vector} is not supported: \
                 Grape builds the index with it; create a new collection (or restore a \
                 snapshot into one) to use another value"
            )));
        }
    }
    if get(diff, "on_disk").is_some_and(|v| v != &Value::Bool(false)) {
        return Err(fixed_parameter(&format!("{at}.on_disk")));
    }
    for key in ["payload_m", "inline_storage"] {
        if get(diff, key).is_some() {
            return Err(fixed_parameter(&format!("{at}.{key}")));
        }
    }
    Ok(())
}

/// The 400 for an index parameter Grape cannot change on a collection.
fn fixed_parameter(field: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{field}: changing it on an existing collection is not supported: Grape builds the \
         indexes with it; create a new collection (or restore a snapshot into one) instead"
    ))
}

fn reject(map: &Map<String, Value>, keys: &[&str]) -> ApiResult<()> {
    match keys.iter().find(|k| get(map, k).is_some()) {
        Some(k) => Err(ApiError::not_implemented(k)),
        None => Ok(()),
    }
}

fn batch_bodies(body: &Value) -> ApiResult<Vec<Value>> {
    let map = object(body)?;
    check_fields(&map, &["searches"])?;
    get(&map, "searches")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| ApiError::bad_request("searches: expected a list of requests"))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ApiError + '_ {
    move |e| ApiError::internal(format!("i/o error on {}: {e}", path.display()))
}

fn write_synced(path: &Path, bytes: &[u8]) -> ApiResult<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn check_snapshot_name(name: &str) -> ApiResult<()> {
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\'])
        || !name.ends_with(SNAPSHOT_SUFFIX)
    {
        return Err(ApiError::bad_request(format!(
            "invalid snapshot name {name:?}"
        )));
    }
    Ok(())
}

fn snapshot_description(path: &Path) -> ApiResult<Value> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    let created = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok(json!({
        "name": path.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
        "creation_time": iso_time(created),
        "size": meta.len(),
        "checksum": null,
    }))
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of a Unix time.
fn iso_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn aliases_json(list: Vec<(String, String)>) -> Value {
    json!({
        "aliases": list
            .into_iter()
            .map(|(a, c)| json!({"alias_name": a, "collection_name": c}))
            .collect::<Vec<_>>()
    })
}

fn alias_op(action: &Value, i: usize) -> ApiResult<grape_db::AliasOp> {
    let path = format!("actions[{i}]");
    let map = object(action)?;
    let str_field = |m: &Map<String, Value>, k: &str| -> ApiResult<String> {
        get(m, k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::bad_request(format!("{path}: {k} must be a string")))
    };
    let (kind, body) = match map.iter().next() {
        Some((k, v)) if map.len() == 1 => (k.as_str(), object(v)?),
        _ => {
            return Err(ApiError::bad_request(format!(
                "{path}: expected one of create_alias, delete_alias, rename_alias"
            )));
        }
    };
    match kind {
        "create_alias" => Ok(grape_db::AliasOp::Create {
            alias: str_field(&body, "alias_name")?,
            collection: str_field(&body, "collection_name")?,
        }),
        "delete_alias" => Ok(grape_db::AliasOp::Delete {
            alias: str_field(&body, "alias_name")?,
        }),
        "rename_alias" => Ok(grape_db::AliasOp::Rename {
            from: str_field(&body, "old_alias_name")?,
            to: str_field(&body, "new_alias_name")?,
        }),
        other => Err(ApiError::bad_request(format!(
            "{path}: unknown alias action {other:?}"
        ))),
    }
}

/// The points of an upsert body: `points` (a list of `PointStruct`) or
/// `batch` (column form).
fn parse_points(map: &Map<String, Value>) -> ApiResult<Vec<PointData>> {
    match (get(map, "points"), get(map, "batch")) {
        (Some(points), None) => {
            let list = points
                .as_array()
                .ok_or_else(|| ApiError::bad_request("points: expected a list of points"))?;
            list.iter()
                .enumerate()
                .map(|(i, p)| Ok(PointData::from_value(p, &format!("points[{i}]"))?))
                .collect()
        }
        (None, Some(batch)) => parse_batch(batch),
        _ => Err(ApiError::bad_request(
            "exactly one of points or batch is required",
        )),
    }
}

/// Qdrant's column-form batch: `ids`, `vectors` (a list of vectors or a map
/// of names to lists), `payloads`; rebuilt as `PointStruct`s for the core.
fn parse_batch(batch: &Value) -> ApiResult<Vec<PointData>> {
    let map = object(batch)?;
    check_fields(&map, &["ids", "vectors", "payloads"])?;
    let ids = get(&map, "ids")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("batch.ids: expected a list"))?;
    let n = ids.len();
    let column = |v: &Value, what: &str| -> ApiResult<Vec<Value>> {
        let list = v
            .as_array()
            .ok_or_else(|| ApiError::bad_request(format!("batch.{what}: expected a list")))?;
        if list.len() != n {
            return Err(ApiError::bad_request(format!(
                "batch.{what} has {} entries but batch.ids has {n}",
                list.len()
            )));
        }
        Ok(list.clone())
    };
    let mut vectors: Vec<Map<String, Value>> = vec![Map::new(); n];
    let mut unnamed: Option<Vec<Value>> = None;
    match get(&map, "vectors") {
        Some(Value::Object(named)) => {
            for (name, col) in named {
                for (i, v) in column(col, &format!("vectors.{name}"))?
                    .into_iter()
                    .enumerate()
                {
                    if !v.is_null() {
                        vectors[i].insert(name.clone(), v);
                    }
                }
            }
        }
        Some(list) => unnamed = Some(column(list, "vectors")?),
        None => {}
    }
    let payloads = match get(&map, "payloads") {
        Some(p) => column(p, "payloads")?,
        None => vec![Value::Null; n],
    };
    (0..n)
        .map(|i| {
            let mut p = json!({"id": ids[i], "payload": payloads[i]});
            if let Some(u) = &unnamed {
                p["vector"] = u[i].clone();
            } else if !vectors[i].is_empty() {
                p["vector"] = Value::Object(std::mem::take(&mut vectors[i]));
            }
            Ok(PointData::from_value(&p, &format!("batch[{i}]"))?)
        })
        .collect()
}

fn payload_body(
    body: &Value,
    allow_key: bool,
) -> ApiResult<(PointSelector, grape_core::payload::Payload, Option<String>)> {
    let map = object(body)?;
    check_fields(&map, &["payload", "points", "filter", "key", "shard_key"])?;
    let payload = get(&map, "payload")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::bad_request("payload: expected an object"))?;
    let key = match get(&map, "key") {
        None => None,
        Some(_) if !allow_key => return Err(ApiError::bad_request("key is not allowed here")),
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(ApiError::bad_request("key: expected a string")),
    };
    Ok((points_selector(&map)?, payload, key))
}

fn delete_payload_body(body: &Value) -> ApiResult<(PointSelector, Vec<String>)> {
    let map = object(body)?;
    check_fields(&map, &["keys", "points", "filter", "shard_key"])?;
    let keys = get(&map, "keys")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("keys: expected a list of strings"))?
        .iter()
        .map(|k| {
            k.as_str()
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad_request("keys: expected a list of strings"))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok((points_selector(&map)?, keys))
}

enum BatchOp {
    Upsert(Vec<PointData>),
    Delete(PointSelector),
    Set(PointSelector, grape_core::payload::Payload, Option<String>),
    Overwrite(PointSelector, grape_core::payload::Payload),
    DeleteKeys(PointSelector, Vec<String>),
    Clear(PointSelector),
}

fn batch_op(op: &Value) -> ApiResult<BatchOp> {
    let map = object(op)?;
    let (kind, body) = match map.iter().next() {
        Some((k, v)) if map.len() == 1 => (k.as_str(), v),
        _ => return Err(ApiError::bad_request("expected one operation per entry")),
    };
    match kind {
        "upsert" => {
            let m = object(body)?;
            check_fields(&m, &["points", "batch", "shard_key"])?;
            Ok(BatchOp::Upsert(parse_points(&m)?))
        }
        "delete" => {
            let m = object(body)?;
            Ok(BatchOp::Delete(points_selector(&m)?))
        }
        "set_payload" => {
            let (s, p, k) = payload_body(body, true)?;
            Ok(BatchOp::Set(s, p, k))
        }
        "overwrite_payload" => {
            let (s, p, _) = payload_body(body, false)?;
            Ok(BatchOp::Overwrite(s, p))
        }
        "delete_payload" => {
            let (s, k) = delete_payload_body(body)?;
            Ok(BatchOp::DeleteKeys(s, k))
        }
        "clear_payload" => {
            let m = object(body)?;
            Ok(BatchOp::Clear(points_selector(&m)?))
        }
        "update_vectors" | "delete_vectors" => Err(ApiError::not_implemented(kind)),
        other => Err(ApiError::bad_request(format!(
            "unknown operation {other:?}"
        ))),
    }
}

/// Qdrant's payload index schema.
fn field_schema(v: &Value) -> ApiResult<FieldSchema> {
    let name = match v {
        Value::String(s) => s.as_str(),
        Value::Object(m) => m
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("field_schema.type: expected a string"))?,
        _ => return Err(ApiError::bad_request("field_schema: expected a string")),
    };
    match name {
        "keyword" | "uuid" => Ok(FieldSchema::Keyword),
        "integer" => Ok(FieldSchema::Integer),
        "float" => Ok(FieldSchema::Float),
        "bool" => Ok(FieldSchema::Bool),
        "datetime" => Ok(FieldSchema::Datetime),
        "text" | "geo" => Err(ApiError::not_implemented(format!(
            "a {name} payload index (use text_fields for BM25 text search)"
        ))),
        other => Err(ApiError::bad_request(format!(
            "field_schema: unknown schema {other:?}"
        ))),
    }
}

/// A universal query body; `{"recommend": ..}` at the root becomes a query
/// by example ids or vectors.
fn query_request(body: Value) -> ApiResult<Prepared> {
    let mut map = object(&body)?;
    let recommend = match map.get("query") {
        Some(Value::Object(q)) if q.contains_key("recommend") => q.get("recommend").cloned(),
        _ => None,
    };
    if let Some(rec) = recommend {
        map.remove("query");
        // A placeholder query so that validation passes; replaced by
        // `expand_recommend`.
        map.insert("query".into(), json!([1.0]));
        let request = QueryRequest::from_value(&Value::Object(map))?;
        let rec_map = object(&rec)?;
        check_fields(&rec_map, &["positive", "negative", "strategy"])?;
        return with_recommend(request, &rec_map);
    }
    Ok(QueryRequest::from_value(&Value::Object(map))?.into())
}

/// Legacy search body → query request.
fn search_request(body: &Value) -> ApiResult<QueryRequest> {
    let request = search_fields(object(body)?)?;
    request.validate()?;
    Ok(request)
}

/// The fields of a legacy search body → query request, not validated yet
/// (the caller may still put the dense vector in).
fn search_fields(mut map: Map<String, Value>) -> ApiResult<QueryRequest> {
    check_fields(
        &map,
        &[
            "vector",
            "filter",
            "params",
            "limit",
            "offset",
            "with_payload",
            "with_vector",
            "with_vectors",
            "score_threshold",
            "shard_key",
        ],
    )?;
    let vector = map
        .remove("vector")
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::bad_request("vector is required"))?;
    if let Some(wv) = map.remove("with_vectors") {
        map.insert("with_vector".into(), wv);
    }
    map.remove("shard_key");
    match vector {
        Value::Object(named) if named.contains_key("name") => {
            let name = named.get("name").cloned().unwrap_or(Value::Null);
            let v = named
                .get("vector")
                .cloned()
                .ok_or_else(|| ApiError::bad_request("vector.vector is required"))?;
            map.insert("using".into(), name);
            map.insert("query".into(), v);
        }
        other => {
            map.insert("query".into(), other);
        }
    }
    Ok(QueryRequest::parse_value(&Value::Object(map))?)
}

/// A `/points/query` body whose `query` (a plain list) is `vector` and
/// whose other fields are `fields`, parsed and validated.
pub(crate) fn query_dense_request(
    fields: Map<String, Value>,
    vector: Vec<f32>,
) -> ApiResult<QueryRequest> {
    let request = QueryRequest::parse_value(&Value::Object(with_placeholder(fields, "query")?))?;
    with_dense(request, vector)
}

/// `fields` with a one-float list at `key`, standing in for a dense vector
/// held apart, so that the request parses as a dense search.
fn with_placeholder(mut fields: Map<String, Value>, key: &str) -> ApiResult<Map<String, Value>> {
    if fields.contains_key(key) {
        return Err(ApiError::internal(format!("{key} given twice")));
    }
    fields.insert(key.to_string(), json!([0.0]));
    Ok(fields)
}

/// `request` (parsed with a placeholder dense query) searching `vector`,
/// validated as the whole request would have been.
fn with_dense(mut request: QueryRequest, vector: Vec<f32>) -> ApiResult<QueryRequest> {
    debug_assert!(matches!(request.query, Some(Query::Dense(_))));
    request.query = Some(Query::Dense(vector));
    request.validate()?;
    Ok(request)
}

/// Legacy recommend body → query request.
fn recommend_request(body: &Value) -> ApiResult<Prepared> {
    let mut map = object(body)?;
    check_fields(
        &map,
        &[
            "positive",
            "negative",
            "strategy",
            "filter",
            "params",
            "limit",
            "offset",
            "with_payload",
            "with_vector",
            "with_vectors",
            "score_threshold",
            "using",
            "lookup_from",
            "shard_key",
        ],
    )?;
    let mut rec = Map::new();
    for k in ["positive", "negative", "strategy"] {
        if let Some(v) = map.remove(k) {
            rec.insert(k.into(), v);
        }
    }
    if let Some(wv) = map.remove("with_vectors") {
        map.insert("with_vector".into(), wv);
    }
    map.remove("shard_key");
    map.insert("query".into(), json!([1.0]));
    let request = QueryRequest::from_value(&Value::Object(map))?;
    with_recommend(request, &rec)
}

/// Recommendation examples, kept until the stored vectors are looked up.
/// Each is a point id or a vector.
#[derive(Debug, Clone)]
enum Example {
    Id(PointId),
    Vector(Vec<f32>),
}

fn examples(v: Option<&Value>, what: &str) -> ApiResult<Vec<Example>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let list = v
        .as_array()
        .ok_or_else(|| ApiError::bad_request(format!("{what}: expected a list")))?;
    list.iter()
        .enumerate()
        .map(|(i, e)| match e {
            Value::Array(xs) => xs
                .iter()
                .map(|x| {
                    x.as_f64().map(|x| x as f32).ok_or_else(|| {
                        ApiError::bad_request(format!("{what}[{i}]: expected numbers"))
                    })
                })
                .collect::<ApiResult<Vec<f32>>>()
                .map(Example::Vector),
            other => point_id(other, &format!("{what}[{i}]")).map(Example::Id),
        })
        .collect()
}

/// Positive and negative examples of a recommendation.
type Examples = (Vec<Example>, Vec<Example>);

/// A parsed query, possibly a recommendation still waiting for the stored
/// vectors of its example ids.
#[derive(Debug)]
struct Prepared {
    request: QueryRequest,
    recommend: Option<Examples>,
}

impl From<QueryRequest> for Prepared {
    fn from(request: QueryRequest) -> Self {
        Prepared {
            request,
            recommend: None,
        }
    }
}

/// A recommendation (average_vector strategy) attached to `request`.
fn with_recommend(request: QueryRequest, rec: &Map<String, Value>) -> ApiResult<Prepared> {
    match get(rec, "strategy").and_then(Value::as_str) {
        None | Some("average_vector") => {}
        Some(other) => {
            return Err(ApiError::not_implemented(format!(
                "recommend strategy {other:?}"
            )));
        }
    }
    let positive = examples(get(rec, "positive"), "positive")?;
    let negative = examples(get(rec, "negative"), "negative")?;
    if positive.is_empty() {
        return Err(ApiError::bad_request(
            "positive: at least one example is required",
        ));
    }
    Ok(Prepared {
        request,
        recommend: Some((positive, negative)),
    })
}

/// Turns a recommendation into a plain vector query: the stored vectors
/// of the example ids are looked up, the query is `avg(positive) +
/// (avg(positive) - avg(negative))` (just `avg(positive)` without
/// negatives), and the example ids are excluded from the results.
fn expand_recommend(db: &Database, name: &str, prepared: Prepared) -> ApiResult<QueryRequest> {
    let Prepared {
        mut request,
        recommend,
    } = prepared;
    let Some((positive, negative)) = recommend else {
        return Ok(request);
    };
    let using = request.using.clone().unwrap_or_default();
    let ids: Vec<PointId> = positive
        .iter()
        .chain(&negative)
        .filter_map(|e| match e {
            Example::Id(id) => Some(*id),
            Example::Vector(_) => None,
        })
        .collect();
    let records = db.get(
        name,
        &ids,
        &grape_core::query::PayloadSelector::All(false),
        &VectorSelector::Names(vec![using.clone()]),
    )?;
    let lookup = |e: &Example| -> ApiResult<Vec<f32>> {
        match e {
            Example::Vector(v) => Ok(v.clone()),
            Example::Id(id) => records
                .iter()
                .find(|r| r.id == *id)
                .and_then(|r| r.vectors.as_ref()?.dense.get(&using).cloned())
                .ok_or_else(|| ApiError::not_found(format!("No point with id {id} found"))),
        }
    };
    let average = |list: &[Example]| -> ApiResult<Option<Vec<f32>>> {
        let mut sum: Option<Vec<f32>> = None;
        for e in list {
            let v = lookup(e)?;
            match &mut sum {
                None => sum = Some(v),
                Some(s) if s.len() == v.len() => s.iter_mut().zip(&v).for_each(|(a, b)| *a += b),
                Some(s) => {
                    return Err(grape_core::Error::DimensionMismatch {
                        expected: s.len(),
                        got: v.len(),
                    }
                    .into());
                }
            }
        }
        let n = list.len() as f32;
        Ok(sum.map(|s| s.into_iter().map(|x| x / n).collect()))
    };
    let pos = average(&positive)?.unwrap_or_default();
    let query = match average(&negative)? {
        Some(neg) if neg.len() == pos.len() => {
            pos.iter().zip(&neg).map(|(p, n)| 2.0 * p - n).collect()
        }
        Some(neg) => {
            return Err(grape_core::Error::DimensionMismatch {
                expected: pos.len(),
                got: neg.len(),
            }
            .into());
        }
        None => pos,
    };
    request.query = Some(Query::Dense(query));
    if !ids.is_empty() {
        let mut filter = request.filter.take().unwrap_or_default();
        filter
            .must_not
            .push(Condition::HasId(IdSet::new(ids.iter().copied())));
        request.filter = Some(filter);
    }
    Ok(request)
}
