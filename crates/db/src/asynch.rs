//! [`AsyncDatabase`]: every call of [`Database`] for async code, run on
//! tokio's blocking pool (`spawn_blocking`) so that commits and index
//! rebuilds never stall the async workers.

use std::path::PathBuf;

use grape_core::PointData;
use grape_core::payload::{FieldSchema, Filter, Payload, PointId};
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};

use crate::aliases::AliasOp;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::options::DbOptions;
use crate::types::{CollectionInfo, DbStats, PointSelector, Record, ScoredRecord};

/// The async twin of [`Database`]: the same calls, same arguments (owned),
/// same results. Cheap to clone; [`AsyncDatabase::blocking`] gives the
/// [`Database`] it wraps. Needs a tokio runtime.
#[derive(Clone, Debug)]
pub struct AsyncDatabase {
    db: Database,
}

impl From<Database> for AsyncDatabase {
    fn from(db: Database) -> Self {
        AsyncDatabase { db }
    }
}

async fn run<T: Send + 'static>(
    db: &Database,
    f: impl FnOnce(Database) -> Result<T> + Send + 'static,
) -> Result<T> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || f(db))
        .await
        .map_err(|e| Error::TaskFailed(e.to_string()))?
}

impl AsyncDatabase {
    /// [`Database::open`].
    pub async fn open(dir: impl Into<PathBuf>, options: DbOptions) -> Result<AsyncDatabase> {
        let dir = dir.into();
        let db = tokio::task::spawn_blocking(move || Database::open(dir, options))
            .await
            .map_err(|e| Error::TaskFailed(e.to_string()))??;
        Ok(AsyncDatabase { db })
    }

    /// The blocking [`Database`] this wraps.
    pub fn blocking(&self) -> &Database {
        &self.db
    }

    /// [`Database::create_collection`].
    pub async fn create_collection(&self, name: String, config: serde_json::Value) -> Result<()> {
        run(&self.db, move |db| db.create_collection(&name, &config)).await
    }

    /// [`Database::delete_collection`].
    pub async fn delete_collection(&self, name: String) -> Result<bool> {
        run(&self.db, move |db| db.delete_collection(&name)).await
    }

    /// [`Database::list_collections`].
    pub async fn list_collections(&self) -> Result<Vec<String>> {
        run(&self.db, move |db| db.list_collections()).await
    }

    /// [`Database::collection_exists`].
    pub async fn collection_exists(&self, name: String) -> Result<bool> {
        run(&self.db, move |db| db.collection_exists(&name)).await
    }

    /// [`Database::info`].
    pub async fn info(&self, name: String) -> Result<CollectionInfo> {
        run(&self.db, move |db| db.info(&name)).await
    }

    /// [`Database::upsert`].
    pub async fn upsert(&self, name: String, points: Vec<PointData>) -> Result<u64> {
        run(&self.db, move |db| db.upsert(&name, points)).await
    }

    /// [`Database::get`].
    pub async fn get(
        &self,
        name: String,
        ids: Vec<PointId>,
        with_payload: PayloadSelector,
        with_vectors: VectorSelector,
    ) -> Result<Vec<Record>> {
        run(&self.db, move |db| {
            db.get(&name, &ids, &with_payload, &with_vectors)
        })
        .await
    }

    /// [`Database::delete`].
    pub async fn delete(&self, name: String, ids: Vec<PointId>) -> Result<usize> {
        run(&self.db, move |db| db.delete(&name, &ids)).await
    }

    /// [`Database::delete_by_filter`].
    pub async fn delete_by_filter(&self, name: String, filter: Filter) -> Result<usize> {
        run(&self.db, move |db| db.delete_by_filter(&name, &filter)).await
    }

    /// [`Database::scroll`].
    pub async fn scroll(
        &self,
        name: String,
        filter: Option<Filter>,
        from: Option<PointId>,
        limit: usize,
        with_payload: PayloadSelector,
        with_vectors: VectorSelector,
    ) -> Result<(Vec<Record>, Option<PointId>)> {
        run(&self.db, move |db| {
            db.scroll(
                &name,
                filter.as_ref(),
                from,
                limit,
                &with_payload,
                &with_vectors,
            )
        })
        .await
    }

    /// [`Database::count`].
    pub async fn count(&self, name: String, filter: Option<Filter>) -> Result<usize> {
        run(&self.db, move |db| db.count(&name, filter.as_ref())).await
    }

    /// [`Database::create_payload_index`].
    pub async fn create_payload_index(
        &self,
        name: String,
        field: String,
        schema: FieldSchema,
    ) -> Result<()> {
        run(&self.db, move |db| {
            db.create_payload_index(&name, &field, schema)
        })
        .await
    }

    /// [`Database::delete_payload_index`].
    pub async fn delete_payload_index(&self, name: String, field: String) -> Result<bool> {
        run(&self.db, move |db| db.delete_payload_index(&name, &field)).await
    }

    /// [`Database::query`].
    pub async fn query(&self, name: String, request: QueryRequest) -> Result<Vec<ScoredRecord>> {
        run(&self.db, move |db| db.query(&name, &request)).await
    }

    /// [`Database::set_payload`].
    pub async fn set_payload(
        &self,
        name: String,
        points: PointSelector,
        payload: Payload,
        key: Option<String>,
    ) -> Result<usize> {
        run(&self.db, move |db| {
            db.set_payload(&name, &points, payload, key.as_deref())
        })
        .await
    }

    /// [`Database::overwrite_payload`].
    pub async fn overwrite_payload(
        &self,
        name: String,
        points: PointSelector,
        payload: Payload,
    ) -> Result<usize> {
        run(&self.db, move |db| {
            db.overwrite_payload(&name, &points, payload)
        })
        .await
    }

    /// [`Database::delete_payload_keys`].
    pub async fn delete_payload_keys(
        &self,
        name: String,
        points: PointSelector,
        keys: Vec<String>,
    ) -> Result<usize> {
        run(&self.db, move |db| {
            db.delete_payload_keys(&name, &points, &keys)
        })
        .await
    }

    /// [`Database::clear_payload`].
    pub async fn clear_payload(&self, name: String, points: PointSelector) -> Result<usize> {
        run(&self.db, move |db| db.clear_payload(&name, &points)).await
    }

    /// [`Database::restore`].
    pub async fn restore(&self, name: String, bytes: Vec<u8>, replace: bool) -> Result<usize> {
        run(&self.db, move |db| db.restore(&name, &bytes, replace)).await
    }

    /// [`Database::snapshot`].
    pub async fn snapshot(&self, name: String) -> Result<Vec<u8>> {
        run(&self.db, move |db| db.snapshot(&name)).await
    }

    /// [`Database::optimize`].
    pub async fn optimize(&self, name: String) -> Result<()> {
        run(&self.db, move |db| db.optimize(&name)).await
    }

    /// [`Database::stats`].
    pub async fn stats(&self) -> Result<DbStats> {
        run(&self.db, move |db| db.stats()).await
    }

    /// [`Database::flush`].
    pub async fn flush(&self) -> Result<()> {
        run(&self.db, move |db| db.flush()).await
    }

    /// [`Database::shutdown`].
    pub async fn shutdown(&self) -> Result<()> {
        run(&self.db, move |db| db.shutdown()).await
    }

    /// [`Database::check_points`].
    pub async fn check_points(&self, name: String, points: Vec<PointData>) -> Result<()> {
        run(&self.db, move |db| db.check_points(&name, &points)).await
    }

    /// [`Database::collection_config`].
    pub async fn collection_config(&self, name: String) -> Result<grape_core::CollectionConfig> {
        run(&self.db, move |db| db.collection_config(&name)).await
    }

    /// [`Database::update_aliases`].
    pub async fn update_aliases(&self, ops: Vec<AliasOp>) -> Result<()> {
        run(&self.db, move |db| db.update_aliases(&ops)).await
    }

    /// [`Database::resolve_alias`].
    pub async fn resolve_alias(&self, alias: String) -> Result<Option<String>> {
        run(&self.db, move |db| db.resolve_alias(&alias)).await
    }

    /// [`Database::list_aliases`].
    pub async fn list_aliases(&self) -> Result<Vec<(String, String)>> {
        run(&self.db, move |db| db.list_aliases()).await
    }

    /// [`Database::delete_aliases_of`].
    pub async fn delete_aliases_of(&self, collection: String) -> Result<usize> {
        run(&self.db, move |db| db.delete_aliases_of(&collection)).await
    }
}
