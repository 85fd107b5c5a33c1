//! Qdrant's JSON shapes in and out of the service layer: request fields that
//! the core does not parse itself (point selectors, `with_payload`,
//! ids), and the records, hits and collection descriptions the server sends.

use grape_core::payload::{Filter, PointId};
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};
use grape_core::{CollectionConfig, Metric, Quantization};
use grape_db::{CollectionInfo, PointSelector, Record, ScoredRecord, Vectors};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};

/// The body as a JSON object (an empty one for `null`).
pub(crate) fn object(body: &Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map.clone()),
        Value::Null => Ok(Map::new()),
        other => Err(ApiError::bad_request(format!(
            "request body must be a JSON object, got {}",
            type_name(other)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `map[key]`, with `null` as absent.
pub(crate) fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// Rejects fields outside `allowed`, so that a misspelt field is an error
/// rather than silently ignored.
pub(crate) fn check_fields(map: &Map<String, Value>, allowed: &[&str]) -> ApiResult<()> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!("unknown field {k:?}"))),
        None => Ok(()),
    }
}

/// One point id (an unsigned integer or a UUID string).
pub(crate) fn point_id(v: &Value, path: &str) -> ApiResult<PointId> {
    serde_json::from_value::<PointId>(v.clone())
        .map_err(|e| ApiError::bad_request(format!("{path}: {e}")))
}

/// A list of point ids.
pub(crate) fn point_ids(v: &Value, path: &str) -> ApiResult<Vec<PointId>> {
    let items = v
        .as_array()
        .ok_or_else(|| ApiError::bad_request(format!("{path}: expected a list of point ids")))?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| point_id(v, &format!("{path}[{i}]")))
        .collect()
}

/// A Qdrant filter (400 naming the bad field).
pub(crate) fn filter(v: &Value) -> ApiResult<Filter> {
    Filter::from_value(v).map_err(|e| ApiError::bad_request(format!("bad filter: {e}")))
}

/// An optional filter at `map[key]`.
pub(crate) fn opt_filter(map: &Map<String, Value>, key: &str) -> ApiResult<Option<Filter>> {
    get(map, key).map(filter).transpose()
}

/// Qdrant's `PointsSelector` spread over a body: `points` (ids, or the
/// nested `{"points": [..]}` / `{"filter": ..}` forms) or `filter`.
pub(crate) fn points_selector(map: &Map<String, Value>) -> ApiResult<PointSelector> {
    match (get(map, "points"), get(map, "filter")) {
        (Some(Value::Object(inner)), None) => points_selector(inner),
        (Some(points), None) => Ok(PointSelector::Ids(point_ids(points, "points")?)),
        (None, Some(f)) => Ok(PointSelector::Filter(filter(f)?)),
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "give either points or filter, not both",
        )),
        (None, None) => Err(ApiError::bad_request(
            "points or filter is required to select points",
        )),
    }
}

/// `with_payload` and `with_vector`, parsed by the core's query parser;
/// absent values take the given defaults.
pub(crate) fn selectors(
    map: &Map<String, Value>,
    default_payload: bool,
    default_vector: bool,
) -> ApiResult<(PayloadSelector, VectorSelector)> {
    let mut probe = Map::new();
    for key in ["with_payload", "with_vector"] {
        if let Some(v) = get(map, key) {
            probe.insert(key.to_string(), v.clone());
        }
    }
    // Qdrant also spells it `with_vectors` in some requests.
    if let Some(v) = get(map, "with_vectors") {
        probe.insert("with_vector".to_string(), v.clone());
    }
    let parsed = QueryRequest::parse_value(&Value::Object(probe))?;
    Ok((
        parsed
            .with_payload
            .unwrap_or(PayloadSelector::All(default_payload)),
        parsed
            .with_vector
            .unwrap_or(VectorSelector::All(default_vector)),
    ))
}

/// An optional non-negative integer at `map[key]`.
pub(crate) fn opt_usize(map: &Map<String, Value>, key: &str) -> ApiResult<Option<usize>> {
    get(map, key)
        .map(|v| {
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("{key}: expected a non-negative integer"))
                })
        })
        .transpose()
}

/// An `f32` as JSON with its shortest decimal spelling (`0.1`, not
/// `0.10000000149011612`).
pub(crate) fn f32_json(x: f32) -> Value {
    let shortest: f64 = format!("{x}").parse().unwrap_or(f64::from(x));
    serde_json::Number::from_f64(shortest).map_or(Value::Null, Value::Number)
}

fn dense_json(v: &[f32]) -> Value {
    Value::Array(v.iter().map(|x| f32_json(*x)).collect())
}

/// A point's vectors: the unnamed dense vector alone as a list, anything
/// else as a map of names to lists (dense) or `{indices, values}` (sparse).
pub(crate) fn vectors_json(v: &Vectors) -> Value {
    if v.sparse.is_empty()
        && v.dense.len() == 1
        && let Some(only) = v.dense.get("")
    {
        return dense_json(only);
    }
    let mut map = Map::new();
    for (name, d) in &v.dense {
        map.insert(name.clone(), dense_json(d));
    }
    for (name, s) in &v.sparse {
        let (indices, values): (Vec<u32>, Vec<f32>) = s.iter().unzip();
        map.insert(
            name.clone(),
            json!({"indices": indices, "values": dense_json(&values)}),
        );
    }
    Value::Object(map)
}

/// Qdrant's `Record`.
pub(crate) fn record_json(r: &Record) -> Value {
    json!({
        "id": r.id,
        "payload": r.payload,
        "vector": r.vectors.as_ref().map(vectors_json),
        "shard_key": null,
        "order_value": null,
    })
}

/// Qdrant's `ScoredPoint`.
pub(crate) fn scored_json(r: &ScoredRecord) -> Value {
    json!({
        "id": r.id,
        "version": 0,
        "score": f32_json(r.score),
        "payload": r.payload,
        "vector": r.vectors.as_ref().map(vectors_json),
        "shard_key": null,
        "order_value": null,
    })
}

/// Qdrant's `UpdateResult`.
pub(crate) fn update_result(operation_id: u64, wait: bool) -> Value {
    json!({
        "operation_id": operation_id,
        "status": if wait { "completed" } else { "acknowledged" },
    })
}

fn metric_name(m: Metric) -> &'static str {
    match m {
        Metric::Cosine => "Cosine",
        Metric::Dot => "Dot",
        Metric::Euclid => "Euclid",
        Metric::Manhattan => "Manhattan",
    }
}

fn quantization_json(q: Quantization) -> Value {
    match q {
        Quantization::Scalar { quantile } => {
            json!({"scalar": {"type": "int8", "quantile": f32_json(quantile), "always_ram": true}})
        }
        Quantization::Binary => json!({"binary": {"always_ram": true}}),
        Quantization::Product { m } => json!({"product": {"m": m, "always_ram": true}}),
    }
}

/// Qdrant's `CollectionInfo` for a collection with this configuration.
pub(crate) fn collection_info_json(info: &CollectionInfo, config: &CollectionConfig) -> Value {
    let vector_params = |name: &str| {
        let h = &config.dense[name];
        let mut p = json!({
            "size": h.dim,
            "distance": metric_name(h.metric),
            "hnsw_config": {"m": h.m, "ef_construct": h.ef_construction,
                            "full_scan_threshold": h.full_scan_threshold},
            "on_disk": false,
        });
        if let Some(q) = config.quantization.get(name) {
            p["quantization_config"] = quantization_json(q.quantization);
        }
        p
    };
    let vectors = if config.dense.len() == 1 && config.dense.contains_key("") {
        vector_params("")
    } else {
        Value::Object(
            config
                .dense
                .keys()
                .map(|n| (n.clone(), vector_params(n)))
                .collect(),
        )
    };
    let sparse: Map<String, Value> = config
        .sparse
        .iter()
        .map(|(name, modifier)| {
            let m = match modifier {
                grape_core::Modifier::Idf => "idf",
                _ => "none",
            };
            (name.clone(), json!({"modifier": m}))
        })
        .collect();
    let first = config.dense.values().next();
    let payload_schema: Map<String, Value> = info
        .payload_indexes
        .iter()
        .map(|(field, schema)| {
            let t = serde_json::to_value(schema).unwrap_or(Value::Null);
            (
                field.clone(),
                json!({"data_type": t, "params": null, "points": info.points}),
            )
        })
        .collect();
    let text_fields: Vec<&String> = config.text.keys().collect();
    json!({
        "status": "green",
        "optimizer_status": "ok",
        "indexed_vectors_count": info.points,
        "points_count": info.points,
        "segments_count": 1,
        "config": {
            "params": {
                "vectors": vectors,
                "shard_number": 1,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": false,
                "sparse_vectors": if sparse.is_empty() { Value::Null } else { Value::Object(sparse) },
            },
            "hnsw_config": {
                "m": first.map_or(16, |h| h.m),
                "ef_construct": first.map_or(100, |h| h.ef_construction),
                "full_scan_threshold": first.map_or(1000, |h| h.full_scan_threshold),
                "max_indexing_threads": 0,
                "on_disk": false,
            },
            "optimizer_config": {
                "deleted_threshold": 0.1,
                "vacuum_min_vector_number": 16,
                "default_segment_number": 1,
                "max_segment_size": null,
                "memmap_threshold": null,
                "indexing_threshold": 0,
                "flush_interval_sec": 5,
                "max_optimization_threads": null,
            },
            "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
            "quantization_config": null,
            "strict_mode_config": null,
        },
        "payload_schema": payload_schema,
        "grape": {"text_fields": text_fields, "write_seq": info.write_seq},
    })
}
