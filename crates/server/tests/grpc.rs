//! Qdrant's gRPC API in process on 127.0.0.1:0, driven by the tonic client
//! generated from the same `.proto` files: the main flow (create, upsert,
//! search, query, scroll, count, payload, delete), error codes, and auth.

use std::collections::HashMap;
use std::net::SocketAddr;

use grape_server::grpc::convert::common::{json_to_payload, value_to_json};
use grape_server::grpc::proto::{
    self, collections_client::CollectionsClient, points_client::PointsClient,
    qdrant_client::QdrantClient,
};
use grape_server::{Config, Running};
use serde_json::{Value as Json, json};
use tonic::transport::Channel;
use tonic::{Code, Request};

async fn start(dir: &std::path::Path, keys: Option<(&str, &str)>) -> Running {
    let mut config = Config::new(dir);
    config.http_port = 0;
    config.grpc_port = Some(0);
    if let Some((full, read_only)) = keys {
        config.api_key = Some(full.into());
        config.read_only_api_key = Some(read_only.into());
    }
    grape_server::start(config).await.expect("server starts")
}

async fn channel(addr: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

fn num(n: u64) -> proto::PointId {
    proto::PointId {
        point_id_options: Some(proto::point_id::PointIdOptions::Num(n)),
    }
}

fn dense(data: Vec<f32>) -> proto::Vectors {
    proto::Vectors {
        vectors_options: Some(proto::vectors::VectorsOptions::Vector(proto::Vector {
            vector: Some(proto::vector::Vector::Dense(proto::DenseVector { data })),
            ..proto::Vector::default()
        })),
    }
}

fn point(id: u64, v: Vec<f32>, payload: Json) -> proto::PointStruct {
    proto::PointStruct {
        id: Some(num(id)),
        payload: json_to_payload(payload.as_object().unwrap()),
        vectors: Some(dense(v)),
    }
}

fn keyword(key: &str, value: &str) -> proto::Filter {
    proto::Filter {
        must: vec![proto::Condition {
            condition_one_of: Some(proto::condition::ConditionOneOf::Field(
                proto::FieldCondition {
                    key: key.into(),
                    r#match: Some(proto::Match {
                        match_value: Some(proto::r#match::MatchValue::Keyword(value.into())),
                    }),
                    ..proto::FieldCondition::default()
                },
            )),
        }],
        ..proto::Filter::default()
    }
}

fn with_payload() -> Option<proto::WithPayloadSelector> {
    Some(proto::WithPayloadSelector {
        selector_options: Some(proto::with_payload_selector::SelectorOptions::Enable(true)),
    })
}

fn ids(points: &[proto::ScoredPoint]) -> Vec<u64> {
    points
        .iter()
        .map(
            |p| match p.id.as_ref().and_then(|id| id.point_id_options.clone()) {
                Some(proto::point_id::PointIdOptions::Num(n)) => n,
                other => panic!("unexpected id {other:?}"),
            },
        )
        .collect()
}

fn create_request(name: &str, size: u64) -> proto::CreateCollection {
    proto::CreateCollection {
        collection_name: name.into(),
        vectors_config: Some(proto::VectorsConfig {
            config: Some(proto::vectors_config::Config::Params(proto::VectorParams {
                size,
                distance: proto::Distance::Cosine as i32,
                ..proto::VectorParams::default()
            })),
        }),
        ..proto::CreateCollection::default()
    }
}

fn upsert_request(name: &str, points: Vec<proto::PointStruct>) -> proto::UpsertPoints {
    proto::UpsertPoints {
        collection_name: name.into(),
        wait: Some(true),
        points,
        ..proto::UpsertPoints::default()
    }
}

fn nearest(v: Vec<f32>) -> proto::Query {
    proto::Query {
        variant: Some(proto::query::Variant::Nearest(proto::VectorInput {
            variant: Some(proto::vector_input::Variant::Dense(proto::DenseVector {
                data: v,
            })),
        })),
    }
}

#[tokio::test]
async fn the_main_flow_works_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None).await;
    let ch = channel(server.grpc_addr().expect("grpc served")).await;
    let mut collections = CollectionsClient::new(ch.clone());
    let mut points = PointsClient::new(ch.clone());

    let created = collections
        .create(create_request("fruit", 4))
        .await
        .unwrap()
        .into_inner();
    assert!(created.result);
    let exists = collections
        .collection_exists(proto::CollectionExistsRequest {
            collection_name: "fruit".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(exists.result.unwrap().exists);

    let upserted = points
        .upsert(upsert_request(
            "fruit",
            vec![
                point(
                    1,
                    vec![1.0, 0.0, 0.0, 0.0],
                    json!({"kind": "grape", "n": 5, "w": 5.0}),
                ),
                point(
                    2,
                    vec![0.9, 0.1, 0.0, 0.0],
                    json!({"kind": "grape", "tags": ["red", null], "meta": {"a": {"b": 1}}}),
                ),
                point(3, vec![0.0, 0.0, 1.0, 0.0], json!({"kind": "melon"})),
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        upserted.result.unwrap().status,
        proto::UpdateStatus::Completed as i32
    );

    // Payload values come back with integers and doubles kept apart.
    let got = points
        .get(proto::GetPoints {
            collection_name: "fruit".into(),
            ids: vec![num(1), num(2)],
            with_payload: with_payload(),
            with_vectors: Some(proto::WithVectorsSelector {
                selector_options: Some(proto::with_vectors_selector::SelectorOptions::Enable(true)),
            }),
            ..proto::GetPoints::default()
        })
        .await
        .unwrap()
        .into_inner()
        .result;
    assert_eq!(got.len(), 2);
    let p1: serde_json::Map<String, Json> = got[0]
        .payload
        .clone()
        .into_iter()
        .map(|(k, v)| (k, value_to_json(v).unwrap()))
        .collect();
    assert_eq!(Json::Object(p1), json!({"kind": "grape", "n": 5, "w": 5.0}));
    assert!(matches!(
        got[0].payload["n"].kind,
        Some(proto::value::Kind::IntegerValue(5))
    ));
    assert!(matches!(
        got[0].payload["w"].kind,
        Some(proto::value::Kind::DoubleValue(_))
    ));
    assert_eq!(
        value_to_json(got[1].payload["meta"].clone()).unwrap(),
        json!({"a": {"b": 1}})
    );
    let Some(proto::vectors_output::VectorsOptions::Vector(v)) = got[0]
        .vectors
        .as_ref()
        .and_then(|v| v.vectors_options.clone())
    else {
        panic!("expected the unnamed vector: {:?}", got[0].vectors);
    };
    assert!(
        matches!(v.vector, Some(proto::vector_output::Vector::Dense(d)) if d.data == vec![1.0, 0.0, 0.0, 0.0])
    );

    // Search with a filter.
    let hits = points
        .search(proto::SearchPoints {
            collection_name: "fruit".into(),
            vector: vec![1.0, 0.0, 0.0, 0.0],
            filter: Some(keyword("kind", "grape")),
            limit: 10,
            with_payload: with_payload(),
            ..proto::SearchPoints::default()
        })
        .await
        .unwrap()
        .into_inner()
        .result;
    assert_eq!(ids(&hits), vec![1, 2]);
    assert!((hits[0].score - 1.0).abs() < 1e-5, "{}", hits[0].score);
    assert!(hits[0].score > hits[1].score);

    // The universal query: nearest, then prefetch + RRF.
    let q = points
        .query(proto::QueryPoints {
            collection_name: "fruit".into(),
            query: Some(nearest(vec![0.0, 0.0, 1.0, 0.0])),
            limit: Some(1),
            ..proto::QueryPoints::default()
        })
        .await
        .unwrap()
        .into_inner()
        .result;
    assert_eq!(ids(&q), vec![3]);
    let fused = points
        .query(proto::QueryPoints {
            collection_name: "fruit".into(),
            prefetch: vec![
                proto::PrefetchQuery {
                    query: Some(nearest(vec![1.0, 0.0, 0.0, 0.0])),
                    limit: Some(2),
                    ..proto::PrefetchQuery::default()
                },
                proto::PrefetchQuery {
                    query: Some(nearest(vec![0.9, 0.1, 0.0, 0.0])),
                    limit: Some(2),
                    ..proto::PrefetchQuery::default()
                },
            ],
            query: Some(proto::Query {
                variant: Some(proto::query::Variant::Fusion(proto::Fusion::Rrf as i32)),
            }),
            limit: Some(3),
            ..proto::QueryPoints::default()
        })
        .await
        .unwrap()
        .into_inner()
        .result;
    let mut fused_ids = ids(&fused);
    fused_ids.sort_unstable();
    assert_eq!(fused_ids, vec![1, 2]);

    // Scroll pages through the points in id order.
    let page = points
        .scroll(proto::ScrollPoints {
            collection_name: "fruit".into(),
            limit: Some(2),
            with_payload: with_payload(),
            ..proto::ScrollPoints::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.result.len(), 2);
    assert_eq!(page.next_page_offset, Some(num(3)));
    let rest = points
        .scroll(proto::ScrollPoints {
            collection_name: "fruit".into(),
            offset: page.next_page_offset,
            limit: Some(2),
            ..proto::ScrollPoints::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.result.len(), 1);
    assert_eq!(rest.next_page_offset, None);

    // Payload update, then count and delete by filter.
    points
        .set_payload(proto::SetPayloadPoints {
            collection_name: "fruit".into(),
            wait: Some(true),
            payload: json_to_payload(json!({"kind": "melon"}).as_object().unwrap()),
            points_selector: Some(proto::PointsSelector {
                points_selector_one_of: Some(proto::points_selector::PointsSelectorOneOf::Points(
                    proto::PointsIdsList {
                        ids: vec![2].into_iter().map(num).collect(),
                    },
                )),
            }),
            ..proto::SetPayloadPoints::default()
        })
        .await
        .unwrap();
    let count = |filter: Option<proto::Filter>| proto::CountPoints {
        collection_name: "fruit".into(),
        filter,
        exact: Some(true),
        ..proto::CountPoints::default()
    };
    let melons = points
        .count(count(Some(keyword("kind", "melon"))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(melons.result.unwrap().count, 2);
    points
        .delete(proto::DeletePoints {
            collection_name: "fruit".into(),
            wait: Some(true),
            points: Some(proto::PointsSelector {
                points_selector_one_of: Some(proto::points_selector::PointsSelectorOneOf::Filter(
                    keyword("kind", "melon"),
                )),
            }),
            ..proto::DeletePoints::default()
        })
        .await
        .unwrap();
    let left = points.count(count(None)).await.unwrap().into_inner();
    assert_eq!(left.result.unwrap().count, 1);

    // Collection info and list.
    let info = collections
        .get(proto::GetCollectionInfoRequest {
            collection_name: "fruit".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert_eq!(info.points_count, Some(1));
    assert_eq!(info.status, proto::CollectionStatus::Green as i32);
    let params = info.config.unwrap().params.unwrap();
    let Some(proto::vectors_config::Config::Params(vp)) = params.vectors_config.unwrap().config
    else {
        panic!("expected one unnamed vector");
    };
    assert_eq!((vp.size, vp.distance), (4, proto::Distance::Cosine as i32));
    let list = collections
        .list(proto::ListCollectionsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.collections.len(), 1);
    assert_eq!(list.collections[0].name, "fruit");

    let deleted = collections
        .delete(proto::DeleteCollection {
            collection_name: "fruit".into(),
            timeout: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.result);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn errors_have_qdrants_status_codes_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None).await;
    let ch = channel(server.grpc_addr().unwrap()).await;
    let mut collections = CollectionsClient::new(ch.clone());
    let mut points = PointsClient::new(ch.clone());

    let missing = points
        .search(proto::SearchPoints {
            collection_name: "nope".into(),
            vector: vec![1.0, 0.0],
            limit: 1,
            ..proto::SearchPoints::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert!(missing.message().contains("nope"), "{missing:?}");

    collections.create(create_request("c", 3)).await.unwrap();
    let again = collections
        .create(create_request("c", 3))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");

    let wrong_dim = points
        .upsert(upsert_request(
            "c",
            vec![point(1, vec![1.0, 2.0], json!({}))],
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong_dim.code(), Code::InvalidArgument, "{wrong_dim:?}");
    let nan = points
        .upsert(upsert_request(
            "c",
            vec![point(1, vec![1.0, f32::NAN, 0.0], json!({}))],
        ))
        .await
        .unwrap_err();
    assert_eq!(nan.code(), Code::InvalidArgument, "{nan:?}");
    let no_id = points
        .upsert(upsert_request(
            "c",
            vec![proto::PointStruct {
                id: None,
                payload: HashMap::new(),
                vectors: Some(dense(vec![1.0, 0.0, 0.0])),
            }],
        ))
        .await
        .unwrap_err();
    assert_eq!(no_id.code(), Code::InvalidArgument, "{no_id:?}");
    let bad_filter = points
        .count(proto::CountPoints {
            collection_name: "c".into(),
            filter: Some(proto::Filter {
                must: vec![proto::Condition {
                    condition_one_of: None,
                }],
                ..proto::Filter::default()
            }),
            ..proto::CountPoints::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_filter.code(), Code::InvalidArgument, "{bad_filter:?}");

    // Nothing was written by the failed calls.
    let count = points
        .count(proto::CountPoints {
            collection_name: "c".into(),
            ..proto::CountPoints::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.result.unwrap().count, 0);

    let groups = points
        .search_groups(proto::SearchPointGroups {
            collection_name: "c".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(groups.code(), Code::Unimplemented);
    assert!(groups.message().contains("SearchGroups"), "{groups:?}");
    server.stop().await.unwrap();
}

fn keyed<T>(message: T, key: Option<&str>) -> Request<T> {
    let mut r = Request::new(message);
    if let Some(k) = key {
        r.metadata_mut().insert("api-key", k.parse().unwrap());
    }
    r
}

#[tokio::test]
async fn api_keys_guard_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Some(("secret", "reader"))).await;
    let ch = channel(server.grpc_addr().unwrap()).await;
    let mut collections = CollectionsClient::new(ch.clone());
    let mut points = PointsClient::new(ch.clone());
    let list = || proto::ListCollectionsRequest {};

    let none = collections.list(keyed(list(), None)).await.unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated);
    let wrong = collections
        .list(keyed(list(), Some("guess")))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);

    collections
        .create(keyed(create_request("c", 2), Some("secret")))
        .await
        .unwrap();
    let mut bearer = Request::new(upsert_request(
        "c",
        vec![point(1, vec![1.0, 0.0], json!({}))],
    ));
    bearer
        .metadata_mut()
        .insert("authorization", "Bearer secret".parse().unwrap());
    points.upsert(bearer).await.unwrap();

    // The read-only key reads but does not write.
    let found = points
        .count(keyed(
            proto::CountPoints {
                collection_name: "c".into(),
                ..proto::CountPoints::default()
            },
            Some("reader"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.result.unwrap().count, 1);
    let denied = points
        .upsert(keyed(
            upsert_request("c", vec![point(2, vec![0.0, 1.0], json!({}))]),
            Some("reader"),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = collections
        .delete(keyed(
            proto::DeleteCollection {
                collection_name: "c".into(),
                timeout: None,
            },
            Some("reader"),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The health check needs no key.
    let health = QdrantClient::new(ch)
        .health_check(proto::HealthCheckRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!health.version.is_empty());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn oversized_messages_are_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.http_port = 0;
    config.grpc_port = Some(0);
    config.max_request_bytes = 4096;
    let server = grape_server::start(config).await.unwrap();
    let ch = channel(server.grpc_addr().unwrap()).await;
    CollectionsClient::new(ch.clone())
        .create(create_request("c", 2))
        .await
        .unwrap();
    let mut points = PointsClient::new(ch);
    let many: Vec<_> = (0..1000)
        .map(|i| point(i, vec![1.0, i as f32], json!({})))
        .collect();
    let err = points.upsert(upsert_request("c", many)).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    let count = points
        .count(proto::CountPoints {
            collection_name: "c".into(),
            ..proto::CountPoints::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.result.unwrap().count, 0);
    server.stop().await.unwrap();
}
