//! `qdrant.Points`: each method converts its request to the REST body, calls
//! [`Service`], and converts the REST result back.

use std::time::Instant;

use serde_json::Value as Json;
use tonic::{Request, Response, Status};

use super::convert::points as conv;
use super::convert::vectors::json_to_scored_points;
use super::proto::{self, points_server::Points};
use super::{elapsed, status, unimplemented};
use crate::{ApiResult, Service};

/// The `qdrant.Points` service over a [`Service`].
#[derive(Clone)]
pub(crate) struct PointsApi {
    pub(crate) service: Service,
}

impl PointsApi {
    /// Qdrant's `read_consistency` onto [`Service::before_read`]: a type
    /// (`All`, `Majority`, `Quorum`) or a factor.
    async fn before_read(&self, rc: Option<proto::ReadConsistency>) -> Result<(), Status> {
        use proto::read_consistency::Value as Rc;
        let value = match rc.and_then(|rc| rc.value) {
            None => None,
            Some(Rc::Factor(n)) => Some(n.to_string()),
            Some(Rc::Type(t)) => Some(
                match proto::ReadConsistencyType::try_from(t) {
                    Ok(proto::ReadConsistencyType::All) => "all",
                    Ok(proto::ReadConsistencyType::Majority) => "majority",
                    Ok(proto::ReadConsistencyType::Quorum) => "quorum",
                    Err(_) => {
                        return Err(Status::invalid_argument(format!(
                            "read_consistency: unknown type {t}"
                        )));
                    }
                }
                .to_string(),
            ),
        };
        self.service
            .before_read(value.as_deref())
            .await
            .map_err(status)
    }
}

fn update_response(
    start: Instant,
    result: ApiResult<Json>,
) -> Result<Response<proto::PointsOperationResponse>, Status> {
    let result = conv::json_to_update_result(&result.map_err(status)?).map_err(status)?;
    Ok(Response::new(proto::PointsOperationResponse {
        result: Some(result),
        time: elapsed(start),
        usage: None,
    }))
}

#[tonic::async_trait]
impl Points for PointsApi {
    async fn upsert(
        &self,
        request: Request<proto::UpsertPoints>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        let start = Instant::now();
        let (name, body, wait) = conv::upsert(request.into_inner()).map_err(status)?;
        update_response(start, self.service.upsert_points(&name, body, wait).await)
    }

    async fn delete(
        &self,
        request: Request<proto::DeletePoints>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        let start = Instant::now();
        let (name, body, wait) = conv::delete(request.into_inner()).map_err(status)?;
        update_response(start, self.service.delete_points(&name, body, wait).await)
    }

    async fn get(
        &self,
        request: Request<proto::GetPoints>,
    ) -> Result<Response<proto::GetResponse>, Status> {
        let start = Instant::now();
        let (name, body) = {
            let r = request.into_inner();
            self.before_read(r.read_consistency).await?;
            conv::get(r).map_err(status)?
        };
        let v = self.service.get_points(&name, body).await.map_err(status)?;
        Ok(Response::new(proto::GetResponse {
            result: conv::json_to_records(&v).map_err(status)?,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn update_vectors(
        &self,
        _request: Request<proto::UpdatePointVectors>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        Err(unimplemented("Points/UpdateVectors"))
    }

    async fn delete_vectors(
        &self,
        _request: Request<proto::DeletePointVectors>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        Err(unimplemented("Points/DeleteVectors"))
    }

    async fn set_payload(
        &self,
        request: Request<proto::SetPayloadPoints>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        let start = Instant::now();
        let (name, body, wait) = conv::set_payload(request.into_inner()).map_err(status)?;
        update_response(start, self.service.set_payload(&name, body, wait).await)
    }

    async fn overwrite_payload(
        &self,
        request: Request<proto::SetPayloadPoints>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        let start = Instant::now();
        let (name, body, wait) = conv::set_payload(request.into_inner()).map_err(status)?;
        update_response(
            start,
            self.service.overwrite_payload(&name, body, wait).await,
        )
    }

    async fn delete_payload(
        &self,
        request: Request<proto::DeletePayloadPoints>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        let start = Instant::now();
        let (name, body, wait) = conv::delete_payload(request.into_inner()).map_err(status)?;
        update_response(start, self.service.delete_payload(&name, body, wait).await)
    }

    async fn clear_payload(
        &self,
        request: Request<proto::ClearPayloadPoints>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        let start = Instant::now();
        let (name, body, wait) = conv::clear_payload(request.into_inner()).map_err(status)?;
        update_response(start, self.service.clear_payload(&name, body, wait).await)
    }

    async fn create_field_index(
        &self,
        request: Request<proto::CreateFieldIndexCollection>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        let start = Instant::now();
        let (name, body, wait) = conv::create_field_index(request.into_inner()).map_err(status)?;
        update_response(
            start,
            self.service.create_field_index(&name, body, wait).await,
        )
    }

    async fn delete_field_index(
        &self,
        request: Request<proto::DeleteFieldIndexCollection>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        let wait = r.wait.unwrap_or(false);
        update_response(
            start,
            self.service
                .delete_field_index(&r.collection_name, &r.field_name, wait)
                .await,
        )
    }

    async fn create_vector_name(
        &self,
        _request: Request<proto::CreateVectorNameRequest>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        Err(unimplemented("Points/CreateVectorName"))
    }

    async fn delete_vector_name(
        &self,
        _request: Request<proto::DeleteVectorNameRequest>,
    ) -> Result<Response<proto::PointsOperationResponse>, Status> {
        Err(unimplemented("Points/DeleteVectorName"))
    }

    async fn search(
        &self,
        request: Request<proto::SearchPoints>,
    ) -> Result<Response<proto::SearchResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        self.before_read(r.read_consistency).await?;
        let name = r.collection_name.clone();
        let body = conv::search_body(r).map_err(status)?;
        let v = self
            .service
            .search_points(&name, body)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SearchResponse {
            result: json_to_scored_points(&v).map_err(status)?,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn search_batch(
        &self,
        request: Request<proto::SearchBatchPoints>,
    ) -> Result<Response<proto::SearchBatchResponse>, Status> {
        let start = Instant::now();
        let (name, body) = {
            let r = request.into_inner();
            self.before_read(r.read_consistency).await?;
            conv::search_batch(r).map_err(status)?
        };
        let v = self
            .service
            .search_batch(&name, body)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SearchBatchResponse {
            result: conv::json_to_batch(&v, false).map_err(status)?,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn search_groups(
        &self,
        _request: Request<proto::SearchPointGroups>,
    ) -> Result<Response<proto::SearchGroupsResponse>, Status> {
        Err(unimplemented("Points/SearchGroups"))
    }

    async fn scroll(
        &self,
        request: Request<proto::ScrollPoints>,
    ) -> Result<Response<proto::ScrollResponse>, Status> {
        let start = Instant::now();
        let (name, body) = {
            let r = request.into_inner();
            self.before_read(r.read_consistency).await?;
            conv::scroll(r).map_err(status)?
        };
        let v = self
            .service
            .scroll_points(&name, body)
            .await
            .map_err(status)?;
        let (result, next_page_offset) = conv::json_to_scroll(&v).map_err(status)?;
        Ok(Response::new(proto::ScrollResponse {
            next_page_offset,
            result,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn recommend(
        &self,
        request: Request<proto::RecommendPoints>,
    ) -> Result<Response<proto::RecommendResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        self.before_read(r.read_consistency).await?;
        let name = r.collection_name.clone();
        let body = conv::recommend_body(r).map_err(status)?;
        let v = self
            .service
            .recommend_points(&name, body)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::RecommendResponse {
            result: json_to_scored_points(&v).map_err(status)?,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn recommend_batch(
        &self,
        request: Request<proto::RecommendBatchPoints>,
    ) -> Result<Response<proto::RecommendBatchResponse>, Status> {
        let start = Instant::now();
        let (name, body) = {
            let r = request.into_inner();
            self.before_read(r.read_consistency).await?;
            conv::recommend_batch(r).map_err(status)?
        };
        let v = self
            .service
            .recommend_batch(&name, body)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::RecommendBatchResponse {
            result: conv::json_to_batch(&v, false).map_err(status)?,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn recommend_groups(
        &self,
        _request: Request<proto::RecommendPointGroups>,
    ) -> Result<Response<proto::RecommendGroupsResponse>, Status> {
        Err(unimplemented("Points/RecommendGroups"))
    }

    async fn discover(
        &self,
        _request: Request<proto::DiscoverPoints>,
    ) -> Result<Response<proto::DiscoverResponse>, Status> {
        Err(unimplemented("Points/Discover"))
    }

    async fn discover_batch(
        &self,
        _request: Request<proto::DiscoverBatchPoints>,
    ) -> Result<Response<proto::DiscoverBatchResponse>, Status> {
        Err(unimplemented("Points/DiscoverBatch"))
    }

    async fn count(
        &self,
        request: Request<proto::CountPoints>,
    ) -> Result<Response<proto::CountResponse>, Status> {
        let start = Instant::now();
        let (name, body) = {
            let r = request.into_inner();
            self.before_read(r.read_consistency).await?;
            conv::count(r).map_err(status)?
        };
        let v = self
            .service
            .count_points(&name, body)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::CountResponse {
            result: Some(proto::CountResult {
                count: conv::json_to_count(&v).map_err(status)?,
            }),
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn update_batch(
        &self,
        request: Request<proto::UpdateBatchPoints>,
    ) -> Result<Response<proto::UpdateBatchResponse>, Status> {
        let start = Instant::now();
        let (name, body, wait) = conv::update_batch(request.into_inner()).map_err(status)?;
        let v = self
            .service
            .batch_update(&name, body, wait)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::UpdateBatchResponse {
            result: conv::json_to_update_results(&v).map_err(status)?,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn query(
        &self,
        request: Request<proto::QueryPoints>,
    ) -> Result<Response<proto::QueryResponse>, Status> {
        let start = Instant::now();
        let (name, body) = {
            let r = request.into_inner();
            self.before_read(r.read_consistency).await?;
            conv::query(r).map_err(status)?
        };
        let v = self
            .service
            .query_points(&name, body)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::QueryResponse {
            result: conv::json_to_query_result(&v).map_err(status)?,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn query_batch(
        &self,
        request: Request<proto::QueryBatchPoints>,
    ) -> Result<Response<proto::QueryBatchResponse>, Status> {
        let start = Instant::now();
        let (name, body) = {
            let r = request.into_inner();
            self.before_read(r.read_consistency).await?;
            conv::query_batch(r).map_err(status)?
        };
        let v = self
            .service
            .query_batch(&name, body)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::QueryBatchResponse {
            result: conv::json_to_batch(&v, true).map_err(status)?,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn query_groups(
        &self,
        _request: Request<proto::QueryPointGroups>,
    ) -> Result<Response<proto::QueryGroupsResponse>, Status> {
        Err(unimplemented("Points/QueryGroups"))
    }

    async fn facet(
        &self,
        _request: Request<proto::FacetCounts>,
    ) -> Result<Response<proto::FacetResponse>, Status> {
        Err(unimplemented("Points/Facet"))
    }

    async fn search_matrix_pairs(
        &self,
        _request: Request<proto::SearchMatrixPoints>,
    ) -> Result<Response<proto::SearchMatrixPairsResponse>, Status> {
        Err(unimplemented("Points/SearchMatrixPairs"))
    }

    async fn search_matrix_offsets(
        &self,
        _request: Request<proto::SearchMatrixPoints>,
    ) -> Result<Response<proto::SearchMatrixOffsetsResponse>, Status> {
        Err(unimplemented("Points/SearchMatrixOffsets"))
    }
}
