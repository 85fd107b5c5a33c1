//! Points requests → REST bodies, and REST results → points responses.

use serde_json::{Map, Value as Json, json};

use super::common::{
    as_array, as_object, bad, field, json_to_point_id, opt_point_id_to_json, payload_to_json,
    point_id_to_json, point_ids_to_json, unexpected,
};
use super::filter::{filter_to_json, opt_filter_to_json};
use super::vectors::{
    json_to_retrieved_point, json_to_scored_points, search_params_to_json, threshold_json,
    vector_input_to_json, vector_to_json, vectors_to_json, with_payload_to_json,
    with_vectors_to_json,
};
use crate::error::ApiResult;
use crate::grpc::proto::{
    self, points_selector::PointsSelectorOneOf, points_update_operation::Operation, query,
    shard_key,
};

/// A REST body under construction: only the fields that are set are added.
#[derive(Default)]
pub(crate) struct Body(Map<String, Json>);

impl Body {
    fn set(&mut self, key: &str, v: impl Into<Json>) -> &mut Self {
        self.0.insert(key.to_string(), v.into());
        self
    }

    fn opt(&mut self, key: &str, v: Option<impl Into<Json>>) -> &mut Self {
        if let Some(v) = v {
            self.set(key, v);
        }
        self
    }

    fn merge(&mut self, other: Map<String, Json>) -> &mut Self {
        self.0.extend(other);
        self
    }

    fn done(self) -> Json {
        Json::Object(self.0)
    }
}

/// A shard key selector as REST's `shard_key` (one key or a list); Grape has
/// no custom sharding, so the service decides what to do with it.
fn shard_key_json(s: Option<proto::ShardKeySelector>) -> Option<Json> {
    let keys: Vec<Json> = s?
        .shard_keys
        .into_iter()
        .filter_map(|k| match k.key? {
            shard_key::Key::Keyword(s) => Some(Json::String(s)),
            shard_key::Key::Number(n) => Some(Json::from(n)),
        })
        .collect();
    match keys.len() {
        0 => None,
        1 => keys.into_iter().next(),
        _ => Some(Json::Array(keys)),
    }
}

/// Qdrant's `PointsSelector` spread over a body: `{"points": [ids]}` or
/// `{"filter": ..}`.
pub fn points_selector_to_json(
    s: Option<proto::PointsSelector>,
    what: &str,
) -> ApiResult<Map<String, Json>> {
    let mut out = Map::new();
    match s.and_then(|s| s.points_selector_one_of) {
        Some(PointsSelectorOneOf::Points(list)) => {
            out.insert("points".into(), point_ids_to_json(list.ids)?);
        }
        Some(PointsSelectorOneOf::Filter(f)) => {
            out.insert("filter".into(), filter_to_json(f)?);
        }
        None => return Err(bad(format!("{what}: select points by ids or by a filter"))),
    }
    Ok(out)
}

fn update_mode_check(mode: Option<i32>) -> ApiResult<()> {
    match mode.map(proto::UpdateMode::try_from) {
        None | Some(Ok(proto::UpdateMode::Upsert)) => Ok(()),
        Some(Ok(other)) => Err(bad(format!(
            "update_mode {} is not supported by grape (only upsert)",
            other.as_str_name()
        ))),
        Some(Err(_)) => Err(bad("unknown update_mode")),
    }
}

/// One `qdrant.PointStruct` → REST `PointStruct`.
pub fn point_struct_to_json(p: proto::PointStruct) -> ApiResult<Json> {
    let mut body = Body::default();
    body.set("id", opt_point_id_to_json(p.id, "point")?);
    body.set(
        "vector",
        match p.vectors {
            Some(v) => vectors_to_json(v)?,
            None => Json::Object(Map::new()),
        },
    );
    if !p.payload.is_empty() {
        body.set("payload", Json::Object(payload_to_json(p.payload)?));
    }
    Ok(body.done())
}

fn points_json(points: Vec<proto::PointStruct>) -> ApiResult<Json> {
    points
        .into_iter()
        .map(point_struct_to_json)
        .collect::<ApiResult<Vec<_>>>()
        .map(Json::Array)
}

/// `Upsert` → (collection, REST body, wait).
pub fn upsert(r: proto::UpsertPoints) -> ApiResult<(String, Json, bool)> {
    update_mode_check(r.update_mode)?;
    let mut body = Body::default();
    body.set("points", points_json(r.points)?)
        .opt("shard_key", shard_key_json(r.shard_key_selector))
        .opt("update_filter", opt_filter_to_json(r.update_filter)?);
    Ok((r.collection_name, body.done(), r.wait.unwrap_or(false)))
}

/// `Delete` → (collection, REST body, wait).
pub fn delete(r: proto::DeletePoints) -> ApiResult<(String, Json, bool)> {
    let mut body = Body::default();
    body.merge(points_selector_to_json(r.points, "points")?)
        .opt("shard_key", shard_key_json(r.shard_key_selector));
    Ok((r.collection_name, body.done(), r.wait.unwrap_or(false)))
}

/// `Get` → (collection, REST body).
pub fn get(r: proto::GetPoints) -> ApiResult<(String, Json)> {
    let mut body = Body::default();
    body.set("ids", point_ids_to_json(r.ids)?)
        .opt(
            "with_payload",
            r.with_payload.and_then(with_payload_to_json),
        )
        .opt("with_vector", r.with_vectors.and_then(with_vectors_to_json))
        .opt("shard_key", shard_key_json(r.shard_key_selector));
    Ok((r.collection_name, body.done()))
}

fn payload_body(
    payload: std::collections::HashMap<String, proto::Value>,
    selector: Option<proto::PointsSelector>,
    key: Option<String>,
    shard: Option<proto::ShardKeySelector>,
) -> ApiResult<Json> {
    let mut body = Body::default();
    body.set("payload", Json::Object(payload_to_json(payload)?))
        .merge(points_selector_to_json(selector, "points_selector")?)
        .opt("key", key)
        .opt("shard_key", shard_key_json(shard));
    Ok(body.done())
}

/// `SetPayload` and `OverwritePayload` → (collection, REST body, wait).
pub fn set_payload(r: proto::SetPayloadPoints) -> ApiResult<(String, Json, bool)> {
    let body = payload_body(r.payload, r.points_selector, r.key, r.shard_key_selector)?;
    Ok((r.collection_name, body, r.wait.unwrap_or(false)))
}

/// `DeletePayload` → (collection, REST body, wait).
pub fn delete_payload(r: proto::DeletePayloadPoints) -> ApiResult<(String, Json, bool)> {
    let mut body = Body::default();
    body.set("keys", r.keys)
        .merge(points_selector_to_json(
            r.points_selector,
            "points_selector",
        )?)
        .opt("shard_key", shard_key_json(r.shard_key_selector));
    Ok((r.collection_name, body.done(), r.wait.unwrap_or(false)))
}

/// `ClearPayload` → (collection, REST body, wait).
pub fn clear_payload(r: proto::ClearPayloadPoints) -> ApiResult<(String, Json, bool)> {
    let mut body = Body::default();
    body.merge(points_selector_to_json(r.points, "points")?)
        .opt("shard_key", shard_key_json(r.shard_key_selector));
    Ok((r.collection_name, body.done(), r.wait.unwrap_or(false)))
}

fn field_type_name(t: i32) -> ApiResult<&'static str> {
    use proto::FieldType as F;
    Ok(
        match F::try_from(t).map_err(|_| bad(format!("unknown field_type {t}")))? {
            F::Keyword => "keyword",
            F::Integer => "integer",
            F::Float => "float",
            F::Geo => "geo",
            F::Text => "text",
            F::Bool => "bool",
            F::Datetime => "datetime",
            F::Uuid => "uuid",
        },
    )
}

/// The REST `field_schema` of an index: its type name, or `{"type", ..}` with
/// the parameters that are set.
fn index_params_json(
    field_type: Option<&'static str>,
    params: Option<proto::PayloadIndexParams>,
) -> ApiResult<Json> {
    use proto::payload_index_params::IndexParams as P;
    let Some(params) = params.and_then(|p| p.index_params) else {
        return field_type
            .map(Json::from)
            .ok_or_else(|| bad("field_type is required"));
    };
    let mut m = Body::default();
    let kind = match params {
        P::KeywordIndexParams(p) => {
            m.opt("is_tenant", p.is_tenant).opt("on_disk", p.on_disk);
            "keyword"
        }
        P::IntegerIndexParams(p) => {
            m.opt("lookup", p.lookup)
                .opt("range", p.range)
                .opt("is_principal", p.is_principal)
                .opt("on_disk", p.on_disk);
            "integer"
        }
        P::FloatIndexParams(p) => {
            m.opt("on_disk", p.on_disk)
                .opt("is_principal", p.is_principal);
            "float"
        }
        P::GeoIndexParams(p) => {
            m.opt("on_disk", p.on_disk);
            "geo"
        }
        P::TextIndexParams(p) => {
            let tokenizer = match proto::TokenizerType::try_from(p.tokenizer) {
                Ok(proto::TokenizerType::Prefix) => "prefix",
                Ok(proto::TokenizerType::Whitespace) => "whitespace",
                Ok(proto::TokenizerType::Multilingual) => "multilingual",
                _ => "word",
            };
            m.set("tokenizer", tokenizer)
                .opt("lowercase", p.lowercase)
                .opt("min_token_len", p.min_token_len)
                .opt("max_token_len", p.max_token_len)
                .opt("on_disk", p.on_disk)
                .opt("phrase_matching", p.phrase_matching)
                .opt("ascii_folding", p.ascii_folding);
            "text"
        }
        P::BoolIndexParams(p) => {
            m.opt("on_disk", p.on_disk);
            "bool"
        }
        P::DatetimeIndexParams(p) => {
            m.opt("on_disk", p.on_disk)
                .opt("is_principal", p.is_principal);
            "datetime"
        }
        P::UuidIndexParams(p) => {
            m.opt("is_tenant", p.is_tenant).opt("on_disk", p.on_disk);
            "uuid"
        }
    };
    if let Some(t) = field_type.filter(|t| *t != kind) {
        return Err(bad(format!(
            "field_type {t} does not match the {kind} index parameters"
        )));
    }
    m.set("type", kind);
    Ok(m.done())
}

/// `CreateFieldIndex` → (collection, REST body, wait).
pub fn create_field_index(r: proto::CreateFieldIndexCollection) -> ApiResult<(String, Json, bool)> {
    let field_type = r.field_type.map(field_type_name).transpose()?;
    let schema = index_params_json(field_type, r.field_index_params)?;
    let body = json!({"field_name": r.field_name, "field_schema": schema});
    Ok((r.collection_name, body, r.wait.unwrap_or(false)))
}

/// The common tail of search-like requests.
#[allow(clippy::too_many_arguments)]
fn search_tail(
    body: &mut Body,
    filter: Option<proto::Filter>,
    limit: Option<u64>,
    offset: Option<u64>,
    with_payload: Option<proto::WithPayloadSelector>,
    with_vectors: Option<proto::WithVectorsSelector>,
    params: Option<proto::SearchParams>,
    score_threshold: Option<f32>,
) -> ApiResult<()> {
    body.opt("filter", opt_filter_to_json(filter)?)
        .opt("limit", limit)
        .opt("offset", offset)
        .opt("with_payload", with_payload.and_then(with_payload_to_json))
        .opt("with_vector", with_vectors.and_then(with_vectors_to_json))
        .opt("params", params.map(search_params_to_json).transpose()?)
        .opt(
            "score_threshold",
            score_threshold.map(threshold_json).transpose()?,
        );
    Ok(())
}

/// One `SearchPoints` → the REST search body.
pub fn search_body(r: proto::SearchPoints) -> ApiResult<Json> {
    let vector = match r.sparse_indices {
        Some(indices) => {
            let sparse = vector_to_json(
                proto::Vector {
                    data: r.vector,
                    indices: Some(indices),
                    ..proto::Vector::default()
                },
                "vector",
            )?;
            let name = r
                .vector_name
                .clone()
                .ok_or_else(|| bad("a sparse search needs vector_name"))?;
            json!({"name": name, "vector": sparse})
        }
        None => {
            let dense = vector_to_json(
                proto::Vector {
                    data: r.vector,
                    ..proto::Vector::default()
                },
                "vector",
            )?;
            match r.vector_name.clone().filter(|n| !n.is_empty()) {
                Some(name) => json!({"name": name, "vector": dense}),
                None => dense,
            }
        }
    };
    let mut body = Body::default();
    body.set("vector", vector);
    search_tail(
        &mut body,
        r.filter,
        Some(r.limit),
        r.offset,
        r.with_payload,
        r.with_vectors,
        r.params,
        r.score_threshold,
    )?;
    body.opt("shard_key", shard_key_json(r.shard_key_selector));
    Ok(body.done())
}

/// `SearchBatch` → (collection, `{"searches": [..]}`).
pub fn search_batch(r: proto::SearchBatchPoints) -> ApiResult<(String, Json)> {
    Ok((r.collection_name, searches(r.search_points, search_body)?))
}

/// `{"searches": [..]}` from the items of a batch request, each through
/// `body`; an item's error names it as `searches[i]`.
fn searches<T>(items: Vec<T>, body: impl Fn(T) -> ApiResult<Json>) -> ApiResult<Json> {
    let searches = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| body(item).map_err(|e| e.in_batch(i)))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(json!({ "searches": searches }))
}

fn strategy_name(s: i32) -> ApiResult<&'static str> {
    match proto::RecommendStrategy::try_from(s) {
        Ok(proto::RecommendStrategy::AverageVector) => Ok("average_vector"),
        Ok(proto::RecommendStrategy::BestScore) => Ok("best_score"),
        Ok(proto::RecommendStrategy::SumScores) => Ok("sum_scores"),
        Err(_) => Err(bad(format!("unknown recommend strategy {s}"))),
    }
}

fn lookup_json(l: Option<proto::LookupLocation>) -> Option<Json> {
    let l = l?;
    let mut m = Body::default();
    m.set("collection", l.collection_name)
        .opt("vector", l.vector_name);
    Some(m.done())
}

/// One `RecommendPoints` → the REST recommend body.
pub fn recommend_body(r: proto::RecommendPoints) -> ApiResult<Json> {
    let examples = |ids: Vec<proto::PointId>, vectors: Vec<proto::Vector>, what: &str| {
        let mut out = Vec::with_capacity(ids.len() + vectors.len());
        for id in ids {
            out.push(point_id_to_json(id)?);
        }
        for v in vectors {
            out.push(vector_to_json(v, what)?);
        }
        ApiResult::Ok(Json::Array(out))
    };
    let mut body = Body::default();
    body.set(
        "positive",
        examples(r.positive, r.positive_vectors, "positive")?,
    )
    .set(
        "negative",
        examples(r.negative, r.negative_vectors, "negative")?,
    )
    .opt("strategy", r.strategy.map(strategy_name).transpose()?)
    .opt("using", r.using.filter(|u| !u.is_empty()))
    .opt("lookup_from", lookup_json(r.lookup_from));
    search_tail(
        &mut body,
        r.filter,
        Some(r.limit),
        r.offset,
        r.with_payload,
        r.with_vectors,
        r.params,
        r.score_threshold,
    )?;
    body.opt("shard_key", shard_key_json(r.shard_key_selector));
    Ok(body.done())
}

/// `RecommendBatch` → (collection, `{"searches": [..]}`).
pub fn recommend_batch(r: proto::RecommendBatchPoints) -> ApiResult<(String, Json)> {
    Ok((
        r.collection_name,
        searches(r.recommend_points, recommend_body)?,
    ))
}

fn order_by_json(o: proto::OrderBy) -> ApiResult<Json> {
    let mut m = Body::default();
    m.set("key", o.key);
    if let Some(d) = o.direction {
        m.set(
            "direction",
            match proto::Direction::try_from(d) {
                Ok(proto::Direction::Desc) => "desc",
                _ => "asc",
            },
        );
    }
    if let Some(start) = o.start_from.and_then(|s| s.value) {
        use proto::start_from::Value as S;
        let v = match start {
            S::Float(x) => super::common::finite(x, "order_by.start_from")?,
            S::Integer(n) => Json::from(n),
            S::Timestamp(ts) => super::common::timestamp_to_json(ts)?,
            S::Datetime(s) => Json::String(s),
        };
        m.set("start_from", v);
    }
    Ok(m.done())
}

/// `Scroll` → (collection, REST body).
pub fn scroll(r: proto::ScrollPoints) -> ApiResult<(String, Json)> {
    let mut body = Body::default();
    body.opt("filter", opt_filter_to_json(r.filter)?)
        .opt("offset", r.offset.map(point_id_to_json).transpose()?)
        .opt("limit", r.limit)
        .opt(
            "with_payload",
            r.with_payload.and_then(with_payload_to_json),
        )
        .opt("with_vector", r.with_vectors.and_then(with_vectors_to_json))
        .opt("order_by", r.order_by.map(order_by_json).transpose()?)
        .opt("shard_key", shard_key_json(r.shard_key_selector));
    Ok((r.collection_name, body.done()))
}

/// `Count` → (collection, REST body).
pub fn count(r: proto::CountPoints) -> ApiResult<(String, Json)> {
    let mut body = Body::default();
    body.opt("filter", opt_filter_to_json(r.filter)?)
        .opt("exact", r.exact)
        .opt("shard_key", shard_key_json(r.shard_key_selector));
    Ok((r.collection_name, body.done()))
}

fn inputs_json(list: Vec<proto::VectorInput>) -> ApiResult<Json> {
    list.into_iter()
        .map(vector_input_to_json)
        .collect::<ApiResult<Vec<_>>>()
        .map(Json::Array)
}

fn opt_input(v: Option<proto::VectorInput>, what: &str) -> ApiResult<Json> {
    vector_input_to_json(v.ok_or_else(|| bad(format!("{what} is required")))?)
}

fn context_json(c: proto::ContextInput) -> ApiResult<Json> {
    c.pairs
        .into_iter()
        .map(|p| {
            Ok(json!({
                "positive": opt_input(p.positive, "context pair positive")?,
                "negative": opt_input(p.negative, "context pair negative")?,
            }))
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Json::Array)
}

/// A universal `qdrant.Query` → the REST query object.
pub fn query_to_json(q: proto::Query) -> ApiResult<Json> {
    use query::Variant as V;
    Ok(match q.variant {
        None => {
            return Err(bad(
                "query without a known variant (formula and relevance feedback queries \
                 are not supported by grape)",
            ));
        }
        Some(V::Nearest(v)) => json!({"nearest": vector_input_to_json(v)?}),
        Some(V::NearestWithMmr(n)) => {
            let mut mmr = Body::default();
            if let Some(m) = n.mmr {
                mmr.opt(
                    "diversity",
                    m.diversity
                        .map(|d| super::common::f32_json(d, "mmr.diversity"))
                        .transpose()?,
                )
                .opt("candidates_limit", m.candidates_limit);
            }
            json!({"nearest": opt_input(n.nearest, "nearest")?, "mmr": mmr.done()})
        }
        Some(V::Recommend(r)) => {
            let mut m = Body::default();
            m.set("positive", inputs_json(r.positive)?)
                .set("negative", inputs_json(r.negative)?)
                .opt("strategy", r.strategy.map(strategy_name).transpose()?);
            json!({"recommend": m.done()})
        }
        Some(V::Discover(d)) => json!({"discover": {
            "target": opt_input(d.target, "discover target")?,
            "context": match d.context { Some(c) => context_json(c)?, None => json!([]) },
        }}),
        Some(V::Context(c)) => json!({"context": context_json(c)?}),
        Some(V::OrderBy(o)) => json!({"order_by": order_by_json(o)?}),
        Some(V::Fusion(f)) => match proto::Fusion::try_from(f) {
            Ok(proto::Fusion::Rrf) => json!({"fusion": "rrf"}),
            Ok(proto::Fusion::Dbsf) => json!({"fusion": "dbsf"}),
            Err(_) => return Err(bad(format!("unknown fusion {f}"))),
        },
        Some(V::Sample(_)) => json!({"sample": "random"}),
        Some(V::Rrf(r)) => {
            let mut m = Body::default();
            m.opt("k", r.k);
            if !r.weights.is_empty() {
                m.set(
                    "weights",
                    super::common::floats_json(&r.weights, "rrf.weights")?,
                );
            }
            json!({"rrf": m.done()})
        }
        Some(V::Text(t)) => {
            if let Some(proto::text_query::Scoring::Bm25(p)) = t.scoring
                && (p.k.is_some() || p.b.is_some())
            {
                return Err(bad(
                    "text query: bm25 k and b are set by grape's text index, not per query",
                ));
            }
            json!({"text": t.query})
        }
    })
}

/// One prefetch stage → REST.
pub fn prefetch_to_json(p: proto::PrefetchQuery) -> ApiResult<Json> {
    let mut body = Body::default();
    if !p.prefetch.is_empty() {
        body.set("prefetch", prefetches_json(p.prefetch)?);
    }
    body.opt("query", p.query.map(query_to_json).transpose()?)
        .opt("using", p.using.filter(|u| !u.is_empty()))
        .opt("filter", opt_filter_to_json(p.filter)?)
        .opt("params", p.params.map(search_params_to_json).transpose()?)
        .opt(
            "score_threshold",
            p.score_threshold.map(threshold_json).transpose()?,
        )
        .opt("limit", p.limit)
        .opt("lookup_from", lookup_json(p.lookup_from));
    Ok(body.done())
}

fn prefetches_json(list: Vec<proto::PrefetchQuery>) -> ApiResult<Json> {
    list.into_iter()
        .map(prefetch_to_json)
        .collect::<ApiResult<Vec<_>>>()
        .map(Json::Array)
}

/// One `QueryPoints` → the REST query body.
pub fn query_body(r: proto::QueryPoints) -> ApiResult<Json> {
    let mut body = Body::default();
    if !r.prefetch.is_empty() {
        body.set("prefetch", prefetches_json(r.prefetch)?);
    }
    body.opt("query", r.query.map(query_to_json).transpose()?)
        .opt("using", r.using.filter(|u| !u.is_empty()))
        .opt("lookup_from", lookup_json(r.lookup_from))
        .opt("shard_key", shard_key_json(r.shard_key_selector));
    search_tail(
        &mut body,
        r.filter,
        r.limit,
        r.offset,
        r.with_payload,
        r.with_vectors,
        r.params,
        r.score_threshold,
    )?;
    Ok(body.done())
}

/// `Query` → (collection, REST body).
pub fn query(r: proto::QueryPoints) -> ApiResult<(String, Json)> {
    let name = r.collection_name.clone();
    Ok((name, query_body(r)?))
}

/// `QueryBatch` → (collection, `{"searches": [..]}`).
pub fn query_batch(r: proto::QueryBatchPoints) -> ApiResult<(String, Json)> {
    Ok((r.collection_name, searches(r.query_points, query_body)?))
}

fn point_vectors_json(list: Vec<proto::PointVectors>) -> ApiResult<Json> {
    list.into_iter()
        .map(|p| {
            let vectors = p.vectors.ok_or_else(|| bad("point vectors are required"))?;
            Ok(json!({
                "id": opt_point_id_to_json(p.id, "point")?,
                "vector": vectors_to_json(vectors)?,
            }))
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Json::Array)
}

/// One `PointsUpdateOperation` → REST's `{"<operation>": {..}}`.
pub fn update_operation_to_json(op: proto::PointsUpdateOperation) -> ApiResult<Json> {
    Ok(match op.operation {
        None => return Err(bad("update operation without a kind")),
        Some(Operation::Upsert(u)) => {
            update_mode_check(u.update_mode)?;
            let mut b = Body::default();
            b.set("points", points_json(u.points)?)
                .opt("shard_key", shard_key_json(u.shard_key_selector))
                .opt("update_filter", opt_filter_to_json(u.update_filter)?);
            json!({"upsert": b.done()})
        }
        Some(Operation::DeleteDeprecated(s)) => {
            json!({"delete": points_selector_to_json(Some(s), "delete")?})
        }
        Some(Operation::DeletePoints(d)) => {
            let mut b = Body::default();
            b.merge(points_selector_to_json(d.points, "delete_points")?)
                .opt("shard_key", shard_key_json(d.shard_key_selector));
            json!({"delete": b.done()})
        }
        Some(Operation::SetPayload(s)) => json!({"set_payload": payload_body(
            s.payload, s.points_selector, s.key, s.shard_key_selector)?}),
        Some(Operation::OverwritePayload(s)) => json!({"overwrite_payload": payload_body(
            s.payload, s.points_selector, s.key, s.shard_key_selector)?}),
        Some(Operation::DeletePayload(d)) => {
            let mut b = Body::default();
            b.set("keys", d.keys)
                .merge(points_selector_to_json(
                    d.points_selector,
                    "delete_payload",
                )?)
                .opt("shard_key", shard_key_json(d.shard_key_selector));
            json!({"delete_payload": b.done()})
        }
        Some(Operation::ClearPayloadDeprecated(s)) => {
            json!({"clear_payload": points_selector_to_json(Some(s), "clear_payload")?})
        }
        Some(Operation::ClearPayload(c)) => {
            let mut b = Body::default();
            b.merge(points_selector_to_json(c.points, "clear_payload")?)
                .opt("shard_key", shard_key_json(c.shard_key_selector));
            json!({"clear_payload": b.done()})
        }
        Some(Operation::UpdateVectors(u)) => {
            let mut b = Body::default();
            b.set("points", point_vectors_json(u.points)?)
                .opt("shard_key", shard_key_json(u.shard_key_selector))
                .opt("update_filter", opt_filter_to_json(u.update_filter)?);
            json!({"update_vectors": b.done()})
        }
        Some(Operation::DeleteVectors(d)) => {
            let mut b = Body::default();
            b.merge(points_selector_to_json(
                d.points_selector,
                "delete_vectors",
            )?)
            .set("vector", d.vectors.map(|v| v.names).unwrap_or_default())
            .opt("shard_key", shard_key_json(d.shard_key_selector));
            json!({"delete_vectors": b.done()})
        }
    })
}

/// `UpdateBatch` → (collection, `{"operations": [..]}`, wait).
pub fn update_batch(r: proto::UpdateBatchPoints) -> ApiResult<(String, Json, bool)> {
    let operations = r
        .operations
        .into_iter()
        .enumerate()
        .map(|(i, op)| {
            update_operation_to_json(op).map_err(|e| {
                crate::error::ApiError::new(e.kind(), format!("operations[{i}]: {}", e.message()))
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok((
        r.collection_name,
        json!({ "operations": operations }),
        r.wait.unwrap_or(false),
    ))
}

// ---- results ----

/// REST `UpdateResult` → `qdrant.UpdateResult`.
pub fn json_to_update_result(v: &Json) -> ApiResult<proto::UpdateResult> {
    let map = as_object(v, "update result")?;
    let status = match field(map, "status").and_then(Json::as_str) {
        Some("acknowledged") => proto::UpdateStatus::Acknowledged,
        Some("completed") => proto::UpdateStatus::Completed,
        Some("wait_timeout") => proto::UpdateStatus::WaitTimeout,
        _ => return Err(unexpected("update status", v)),
    };
    Ok(proto::UpdateResult {
        operation_id: field(map, "operation_id").and_then(Json::as_u64),
        status: status as i32,
    })
}

/// A REST list of update results.
pub fn json_to_update_results(v: &Json) -> ApiResult<Vec<proto::UpdateResult>> {
    as_array(v, "update results")?
        .iter()
        .map(json_to_update_result)
        .collect()
}

/// A REST list of records → `qdrant.RetrievedPoint`s.
pub fn json_to_records(v: &Json) -> ApiResult<Vec<proto::RetrievedPoint>> {
    as_array(v, "records")?
        .iter()
        .map(json_to_retrieved_point)
        .collect()
}

/// REST scroll result `{"points", "next_page_offset"}` → (points, next).
pub fn json_to_scroll(v: &Json) -> ApiResult<(Vec<proto::RetrievedPoint>, Option<proto::PointId>)> {
    let map = as_object(v, "scroll result")?;
    let points = json_to_records(map.get("points").unwrap_or(&Json::Null))?;
    let next = field(map, "next_page_offset")
        .map(json_to_point_id)
        .transpose()?;
    Ok((points, next))
}

/// REST `{"count": n}` → n.
pub fn json_to_count(v: &Json) -> ApiResult<u64> {
    as_object(v, "count result")?
        .get("count")
        .and_then(Json::as_u64)
        .ok_or_else(|| unexpected("count result", v))
}

/// REST `{"points": [..]}` (one query) → scored points.
pub fn json_to_query_result(v: &Json) -> ApiResult<Vec<proto::ScoredPoint>> {
    json_to_scored_points(
        as_object(v, "query result")?
            .get("points")
            .unwrap_or(&Json::Null),
    )
}

/// A REST batch of hit lists → `qdrant.BatchResult`s; `points_key` says
/// whether each entry is `{"points": [..]}` (query) or a bare list (search,
/// recommend).
pub fn json_to_batch(v: &Json, points_key: bool) -> ApiResult<Vec<proto::BatchResult>> {
    as_array(v, "batch result")?
        .iter()
        .map(|entry| {
            let result = if points_key {
                json_to_query_result(entry)?
            } else {
                json_to_scored_points(entry)?
            };
            Ok(proto::BatchResult { result })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::proto::{
        PointId, Vectors, point_id::PointIdOptions, vector, vector_input, vectors,
    };
    use std::collections::HashMap;

    fn num(n: u64) -> PointId {
        PointId {
            point_id_options: Some(PointIdOptions::Num(n)),
        }
    }

    fn dense(data: Vec<f32>) -> proto::Vector {
        proto::Vector {
            vector: Some(vector::Vector::Dense(proto::DenseVector { data })),
            ..proto::Vector::default()
        }
    }

    #[test]
    fn upsert_becomes_rest_points() {
        let r = proto::UpsertPoints {
            collection_name: "c".into(),
            wait: Some(true),
            points: vec![proto::PointStruct {
                id: Some(num(1)),
                payload: HashMap::from([(
                    "n".to_string(),
                    super::super::common::json_to_value(&json!(3)),
                )]),
                vectors: Some(Vectors {
                    vectors_options: Some(vectors::VectorsOptions::Vector(dense(vec![1.0, 0.5]))),
                }),
            }],
            ..proto::UpsertPoints::default()
        };
        let (name, body, wait) = upsert(r).unwrap();
        assert_eq!((name.as_str(), wait), ("c", true));
        assert_eq!(
            body,
            json!({"points": [{"id": 1, "vector": [1.0, 0.5], "payload": {"n": 3}}]})
        );
        let bad_mode = proto::UpsertPoints {
            update_mode: Some(proto::UpdateMode::InsertOnly as i32),
            ..proto::UpsertPoints::default()
        };
        assert!(upsert(bad_mode).is_err());
    }

    #[test]
    fn search_bodies_name_their_vector() {
        let named = proto::SearchPoints {
            collection_name: "c".into(),
            vector: vec![1.0, 2.0],
            vector_name: Some("img".into()),
            limit: 3,
            with_payload: Some(proto::WithPayloadSelector {
                selector_options: Some(proto::with_payload_selector::SelectorOptions::Enable(true)),
            }),
            score_threshold: Some(0.5),
            ..proto::SearchPoints::default()
        };
        assert_eq!(
            search_body(named).unwrap(),
            json!({"vector": {"name": "img", "vector": [1.0, 2.0]}, "limit": 3,
                   "with_payload": true, "score_threshold": 0.5})
        );
        let sparse = proto::SearchPoints {
            vector: vec![0.5],
            sparse_indices: Some(proto::SparseIndices { data: vec![7] }),
            vector_name: Some("s".into()),
            limit: 1,
            ..proto::SearchPoints::default()
        };
        assert_eq!(
            search_body(sparse).unwrap()["vector"],
            json!({"name": "s", "vector": {"indices": [7], "values": [0.5]}})
        );
    }

    #[test]
    fn queries_with_prefetch_and_fusion_have_rest_shapes() {
        let nearest = |data: Vec<f32>| proto::Query {
            variant: Some(query::Variant::Nearest(proto::VectorInput {
                variant: Some(vector_input::Variant::Dense(proto::DenseVector { data })),
            })),
        };
        let r = proto::QueryPoints {
            collection_name: "c".into(),
            prefetch: vec![
                proto::PrefetchQuery {
                    query: Some(nearest(vec![1.0])),
                    using: Some("a".into()),
                    limit: Some(20),
                    ..proto::PrefetchQuery::default()
                },
                proto::PrefetchQuery {
                    query: Some(proto::Query {
                        variant: Some(query::Variant::Text(proto::TextQuery {
                            query: "grape".into(),
                            scoring: None,
                        })),
                    }),
                    ..proto::PrefetchQuery::default()
                },
            ],
            query: Some(proto::Query {
                variant: Some(query::Variant::Fusion(proto::Fusion::Rrf as i32)),
            }),
            limit: Some(5),
            ..proto::QueryPoints::default()
        };
        let (_, body) = query(r).unwrap();
        assert_eq!(
            body,
            json!({
                "prefetch": [
                    {"query": {"nearest": [1.0]}, "using": "a", "limit": 20},
                    {"query": {"text": "grape"}},
                ],
                "query": {"fusion": "rrf"},
                "limit": 5,
            })
        );
        // The core parses what we produce.
        grape_core::query::QueryRequest::from_value(&body).unwrap();
        let unknown = proto::QueryPoints {
            query: Some(proto::Query { variant: None }),
            ..proto::QueryPoints::default()
        };
        assert!(query(unknown).is_err());
    }

    #[test]
    fn batch_operations_have_rest_names() {
        let ops = proto::UpdateBatchPoints {
            collection_name: "c".into(),
            operations: vec![
                proto::PointsUpdateOperation {
                    operation: Some(Operation::DeletePoints(
                        proto::points_update_operation::DeletePoints {
                            points: Some(proto::PointsSelector {
                                points_selector_one_of: Some(PointsSelectorOneOf::Points(
                                    proto::PointsIdsList { ids: vec![num(2)] },
                                )),
                            }),
                            shard_key_selector: None,
                        },
                    )),
                },
                proto::PointsUpdateOperation {
                    operation: Some(Operation::ClearPayload(
                        proto::points_update_operation::ClearPayload {
                            points: Some(proto::PointsSelector {
                                points_selector_one_of: Some(PointsSelectorOneOf::Filter(
                                    proto::Filter::default(),
                                )),
                            }),
                            shard_key_selector: None,
                        },
                    )),
                },
            ],
            ..proto::UpdateBatchPoints::default()
        };
        let (_, body, wait) = update_batch(ops).unwrap();
        assert!(!wait);
        assert_eq!(
            body,
            json!({"operations": [{"delete": {"points": [2]}}, {"clear_payload": {"filter": {}}}]})
        );
        let empty = proto::UpdateBatchPoints {
            operations: vec![proto::PointsUpdateOperation { operation: None }],
            ..proto::UpdateBatchPoints::default()
        };
        let err = update_batch(empty).unwrap_err();
        assert!(err.message().starts_with("operations[0]"), "{err}");
    }

    #[test]
    fn results_come_back_as_protos() {
        let r = json_to_update_result(&json!({"operation_id": 4, "status": "completed"})).unwrap();
        assert_eq!(r.operation_id, Some(4));
        assert_eq!(r.status, proto::UpdateStatus::Completed as i32);
        let (points, next) = json_to_scroll(&json!({
            "points": [{"id": 1, "payload": {"a": 1}, "vector": null}],
            "next_page_offset": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26",
        }))
        .unwrap();
        assert_eq!(points.len(), 1);
        assert!(matches!(
            next.unwrap().point_id_options,
            Some(PointIdOptions::Uuid(_))
        ));
        let (_, none) = json_to_scroll(&json!({"points": [], "next_page_offset": null})).unwrap();
        assert!(none.is_none());
        assert_eq!(json_to_count(&json!({"count": 12})).unwrap(), 12);
        let batch = json_to_batch(
            &json!([{"points": [{"id": 1, "score": 0.5, "version": 0}]}, {"points": []}]),
            true,
        )
        .unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].result[0].score, 0.5);
        assert!(json_to_update_result(&json!({"status": "?"})).is_err());
    }

    #[test]
    fn selectors_need_ids_or_a_filter() {
        let r = proto::DeletePoints {
            collection_name: "c".into(),
            ..proto::DeletePoints::default()
        };
        assert!(delete(r).is_err());
        let r = proto::CreateFieldIndexCollection {
            collection_name: "c".into(),
            field_name: "f".into(),
            field_type: Some(proto::FieldType::Integer as i32),
            ..proto::CreateFieldIndexCollection::default()
        };
        assert_eq!(
            create_field_index(r).unwrap().1,
            json!({"field_name": "f", "field_schema": "integer"})
        );
    }
}
