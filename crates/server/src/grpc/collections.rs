//! `qdrant.Collections`: each method converts its request to the REST body,
//! calls [`Service`], and converts the REST result back.

use std::time::Instant;

use tonic::{Request, Response, Status};

use super::convert::collections as conv;
use super::proto::{self, collections_server::Collections};
use super::{elapsed, status, unimplemented};
use crate::Service;

/// The `qdrant.Collections` service over a [`Service`].
#[derive(Clone)]
pub(crate) struct CollectionsApi {
    pub(crate) service: Service,
}

fn done(start: Instant) -> Response<proto::CollectionOperationResponse> {
    Response::new(proto::CollectionOperationResponse {
        result: true,
        time: elapsed(start),
    })
}

fn operation(
    start: Instant,
    v: &serde_json::Value,
) -> Response<proto::CollectionOperationResponse> {
    Response::new(proto::CollectionOperationResponse {
        result: v.as_bool().unwrap_or(true),
        time: elapsed(start),
    })
}

#[tonic::async_trait]
impl Collections for CollectionsApi {
    async fn get(
        &self,
        request: Request<proto::GetCollectionInfoRequest>,
    ) -> Result<Response<proto::GetCollectionInfoResponse>, Status> {
        let start = Instant::now();
        let name = request.into_inner().collection_name;
        let v = self.service.get_collection(&name).await.map_err(status)?;
        Ok(Response::new(proto::GetCollectionInfoResponse {
            result: Some(conv::json_to_collection_info(&v).map_err(status)?),
            time: elapsed(start),
        }))
    }

    async fn list(
        &self,
        _request: Request<proto::ListCollectionsRequest>,
    ) -> Result<Response<proto::ListCollectionsResponse>, Status> {
        let start = Instant::now();
        let v = self.service.list_collections().await.map_err(status)?;
        Ok(Response::new(proto::ListCollectionsResponse {
            collections: conv::json_to_collection_list(&v).map_err(status)?,
            time: elapsed(start),
        }))
    }

    async fn create(
        &self,
        request: Request<proto::CreateCollection>,
    ) -> Result<Response<proto::CollectionOperationResponse>, Status> {
        let start = Instant::now();
        let (name, body) = conv::create(request.into_inner()).map_err(status)?;
        let v = self
            .service
            .create_collection(&name, body)
            .await
            .map_err(status)?;
        Ok(operation(start, &v))
    }

    async fn update(
        &self,
        request: Request<proto::UpdateCollection>,
    ) -> Result<Response<proto::CollectionOperationResponse>, Status> {
        let start = Instant::now();
        let (name, body) = conv::update(request.into_inner()).map_err(status)?;
        let v = self
            .service
            .update_collection(&name, body)
            .await
            .map_err(status)?;
        Ok(operation(start, &v))
    }

    async fn delete(
        &self,
        request: Request<proto::DeleteCollection>,
    ) -> Result<Response<proto::CollectionOperationResponse>, Status> {
        let start = Instant::now();
        let name = request.into_inner().collection_name;
        let v = self
            .service
            .delete_collection(&name)
            .await
            .map_err(status)?;
        Ok(operation(start, &v))
    }

    async fn update_aliases(
        &self,
        request: Request<proto::ChangeAliases>,
    ) -> Result<Response<proto::CollectionOperationResponse>, Status> {
        let start = Instant::now();
        let body = conv::change_aliases(request.into_inner()).map_err(status)?;
        self.service.update_aliases(body).await.map_err(status)?;
        Ok(done(start))
    }

    async fn list_collection_aliases(
        &self,
        request: Request<proto::ListCollectionAliasesRequest>,
    ) -> Result<Response<proto::ListAliasesResponse>, Status> {
        let start = Instant::now();
        let name = request.into_inner().collection_name;
        let v = self
            .service
            .list_collection_aliases(&name)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::ListAliasesResponse {
            aliases: conv::json_to_aliases(&v).map_err(status)?,
            time: elapsed(start),
        }))
    }

    async fn list_aliases(
        &self,
        _request: Request<proto::ListAliasesRequest>,
    ) -> Result<Response<proto::ListAliasesResponse>, Status> {
        let start = Instant::now();
        let v = self.service.list_aliases().await.map_err(status)?;
        Ok(Response::new(proto::ListAliasesResponse {
            aliases: conv::json_to_aliases(&v).map_err(status)?,
            time: elapsed(start),
        }))
    }

    async fn collection_cluster_info(
        &self,
        _request: Request<proto::CollectionClusterInfoRequest>,
    ) -> Result<Response<proto::CollectionClusterInfoResponse>, Status> {
        Err(unimplemented("Collections/CollectionClusterInfo"))
    }

    async fn collection_exists(
        &self,
        request: Request<proto::CollectionExistsRequest>,
    ) -> Result<Response<proto::CollectionExistsResponse>, Status> {
        let start = Instant::now();
        let name = request.into_inner().collection_name;
        let v = self
            .service
            .collection_exists(&name)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::CollectionExistsResponse {
            result: Some(proto::CollectionExists {
                exists: conv::json_to_exists(&v).map_err(status)?,
            }),
            time: elapsed(start),
        }))
    }

    async fn update_collection_cluster_setup(
        &self,
        _request: Request<proto::UpdateCollectionClusterSetupRequest>,
    ) -> Result<Response<proto::UpdateCollectionClusterSetupResponse>, Status> {
        Err(unimplemented("Collections/UpdateCollectionClusterSetup"))
    }

    async fn create_shard_key(
        &self,
        _request: Request<proto::CreateShardKeyRequest>,
    ) -> Result<Response<proto::CreateShardKeyResponse>, Status> {
        Err(unimplemented("Collections/CreateShardKey"))
    }

    async fn delete_shard_key(
        &self,
        _request: Request<proto::DeleteShardKeyRequest>,
    ) -> Result<Response<proto::DeleteShardKeyResponse>, Status> {
        Err(unimplemented("Collections/DeleteShardKey"))
    }

    async fn list_shard_keys(
        &self,
        _request: Request<proto::ListShardKeysRequest>,
    ) -> Result<Response<proto::ListShardKeysResponse>, Status> {
        Err(unimplemented("Collections/ListShardKeys"))
    }
}
