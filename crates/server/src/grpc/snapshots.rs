//! `qdrant.Snapshots` (collection snapshots) and `qdrant.Qdrant` (health).

use std::time::Instant;

use serde_json::Value as Json;
use tonic::{Request, Response, Status};

use super::convert::common::{as_array, as_object, json_to_timestamp, unexpected};
use super::proto::{self, qdrant_server::Qdrant, snapshots_server::Snapshots};
use super::{elapsed, status, unimplemented};
use crate::{ApiResult, Service};

/// The `qdrant.Snapshots` service over a [`Service`].
#[derive(Clone)]
pub(crate) struct SnapshotsApi {
    pub(crate) service: Service,
}

/// The `qdrant.Qdrant` service (health check).
#[derive(Clone)]
pub(crate) struct QdrantApi {
    pub(crate) service: Service,
}

/// REST `SnapshotDescription` → `qdrant.SnapshotDescription`.
fn json_to_snapshot(v: &Json) -> ApiResult<proto::SnapshotDescription> {
    let m = as_object(v, "snapshot description")?;
    Ok(proto::SnapshotDescription {
        name: m
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| unexpected("snapshot description", v))?
            .to_string(),
        creation_time: m
            .get("creation_time")
            .filter(|t| !t.is_null())
            .map(json_to_timestamp)
            .transpose()?,
        size: m
            .get("size")
            .and_then(Json::as_i64)
            .ok_or_else(|| unexpected("snapshot description", v))?,
        checksum: m.get("checksum").and_then(Json::as_str).map(str::to_string),
    })
}

#[tonic::async_trait]
impl Snapshots for SnapshotsApi {
    async fn create(
        &self,
        request: Request<proto::CreateSnapshotRequest>,
    ) -> Result<Response<proto::CreateSnapshotResponse>, Status> {
        let start = Instant::now();
        let name = request.into_inner().collection_name;
        let v = self.service.create_snapshot(&name).await.map_err(status)?;
        Ok(Response::new(proto::CreateSnapshotResponse {
            snapshot_description: Some(json_to_snapshot(&v).map_err(status)?),
            time: elapsed(start),
        }))
    }

    async fn list(
        &self,
        request: Request<proto::ListSnapshotsRequest>,
    ) -> Result<Response<proto::ListSnapshotsResponse>, Status> {
        let start = Instant::now();
        let name = request.into_inner().collection_name;
        let v = self.service.list_snapshots(&name).await.map_err(status)?;
        let snapshot_descriptions = as_array(&v, "snapshot list")
            .and_then(|list| list.iter().map(json_to_snapshot).collect())
            .map_err(status)?;
        Ok(Response::new(proto::ListSnapshotsResponse {
            snapshot_descriptions,
            time: elapsed(start),
        }))
    }

    async fn delete(
        &self,
        request: Request<proto::DeleteSnapshotRequest>,
    ) -> Result<Response<proto::DeleteSnapshotResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        self.service
            .delete_snapshot(&r.collection_name, &r.snapshot_name)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::DeleteSnapshotResponse {
            time: elapsed(start),
        }))
    }

    async fn create_full(
        &self,
        _request: Request<proto::CreateFullSnapshotRequest>,
    ) -> Result<Response<proto::CreateSnapshotResponse>, Status> {
        Err(unimplemented(
            "Snapshots/CreateFull (full-storage snapshots)",
        ))
    }

    async fn list_full(
        &self,
        _request: Request<proto::ListFullSnapshotsRequest>,
    ) -> Result<Response<proto::ListSnapshotsResponse>, Status> {
        Err(unimplemented("Snapshots/ListFull (full-storage snapshots)"))
    }

    async fn delete_full(
        &self,
        _request: Request<proto::DeleteFullSnapshotRequest>,
    ) -> Result<Response<proto::DeleteSnapshotResponse>, Status> {
        Err(unimplemented(
            "Snapshots/DeleteFull (full-storage snapshots)",
        ))
    }
}

#[tonic::async_trait]
impl Qdrant for QdrantApi {
    async fn health_check(
        &self,
        _request: Request<proto::HealthCheckRequest>,
    ) -> Result<Response<proto::HealthCheckReply>, Status> {
        let info = self.service.root_info();
        let text = |k: &str| {
            info.get(k)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(Response::new(proto::HealthCheckReply {
            title: text("title"),
            version: text("version"),
            commit: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshot_descriptions_carry_their_creation_time() {
        let d = json_to_snapshot(&json!({
            "name": "c-1.snapshot", "creation_time": "2026-11-27T09:00:00",
            "size": 1234, "checksum": null,
        }))
        .unwrap();
        assert_eq!(d.name, "c-1.snapshot");
        assert_eq!(d.size, 1234);
        assert_eq!(d.creation_time.unwrap().seconds % 86_400, 9 * 3600);
        assert!(d.checksum.is_none());
    }
}
