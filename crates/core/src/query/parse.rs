//! JSON → query tree, accepting what Qdrant's `/points/query` accepts.
//!
//! Parsing goes through `serde_json::Value` so that every error names the
//! field that failed (`prefetch[1].query.values[2]`). JSON `null` counts as
//! absent everywhere, as Qdrant clients send explicit nulls. Unknown fields
//! are errors (a misspelt `limt` would otherwise be silently ignored).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

use super::fusion::DEFAULT_RRF_K;
use super::tree::{
    DEFAULT_LIMIT, Fusion, PayloadSelector, Prefetch, Query, QueryParams, QueryRequest,
    SparseQuery, VectorSelector, field,
};
use crate::payload::{Filter, PointId};
use crate::quant::QuantSearch;

impl QueryRequest {
    /// Parses and validates a request from JSON text.
    ///
    /// Errors are [`Error::InvalidQuery`] naming the field (or
    /// [`Error::InvalidFilter`] for a filter), `malformed json: ..` for text
    /// that is not JSON.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::InvalidQuery(format!("malformed json: {e}")))?;
        Self::from_value(&value)
    }

    /// Parses and validates a request from a JSON value.
    pub fn from_value(value: &Value) -> Result<Self> {
        let request = parse_request(value)?;
        request.validate()?;
        Ok(request)
    }

    /// Parses a request without validating it, for callers that fill in
    /// fields (e.g. the query vector from a typed array) before running it;
    /// [`execute`](super::execute) validates the finished request.
    pub fn parse_value(value: &Value) -> Result<Self> {
        parse_request(value)
    }
}

/// Qdrant's JSON point id: an unsigned integer or a UUID string.
pub(crate) fn point_id(value: &Value, path: &str) -> Result<PointId> {
    match value {
        Value::Number(n) => n.as_u64().map(PointId::Num).ok_or_else(|| {
            invalid(format!(
                "{path}: a point id must be an unsigned integer or a uuid, got {n}"
            ))
        }),
        Value::String(s) => {
            PointId::parse_uuid(s).ok_or_else(|| invalid(format!("{path}: {s:?} is not a uuid")))
        }
        other => Err(invalid(format!(
            "{path}: a point id must be an unsigned integer or a uuid, got {}",
            kind(other)
        ))),
    }
}

impl<'de> Deserialize<'de> for QueryRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        QueryRequest::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Prefetch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_prefetch(&value, "prefetch").map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Query {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match parse_query(&value, "query") {
            Ok(Some(q)) => Ok(q),
            Ok(None) => Err(serde::de::Error::custom("invalid query: query is null")),
            Err(e) => Err(serde::de::Error::custom(e)),
        }
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidQuery(message)
}

const REQUEST_FIELDS: &[&str] = &[
    "prefetch",
    "query",
    "using",
    "filter",
    "params",
    "score_threshold",
    "limit",
    "offset",
    "with_payload",
    "with_vector",
    "lookup_from",
    "shard_key",
];

const PREFETCH_FIELDS: &[&str] = &[
    "prefetch",
    "query",
    "using",
    "filter",
    "params",
    "score_threshold",
    "limit",
    "lookup_from",
];

/// Query kinds Qdrant has and Grape does not (yet): a clear error beats
/// "unrecognised query".
const UNSUPPORTED_QUERIES: &[&str] = &[
    "recommend",
    "discover",
    "context",
    "order_by",
    "formula",
    "sample",
    "relevance_feedback",
    "image",
    "object",
];

fn parse_request(value: &Value) -> Result<QueryRequest> {
    let map = object(value, "request")?;
    check_fields(map, REQUEST_FIELDS, "")?;
    reject_present(map, &["lookup_from", "shard_key"], "")?;
    Ok(QueryRequest {
        prefetch: parse_prefetches(get(map, "prefetch"), "prefetch")?,
        query: match get(map, "query") {
            Some(q) => parse_query(q, "query")?,
            None => None,
        },
        using: opt(map, "using", "", string)?.filter(|u| !u.is_empty()),
        filter: opt(map, "filter", "", parse_filter)?,
        score_threshold: opt(map, "score_threshold", "", number)?,
        limit: opt(map, "limit", "", unsigned)?.unwrap_or(DEFAULT_LIMIT),
        offset: opt(map, "offset", "", unsigned)?.unwrap_or(0),
        with_payload: opt(map, "with_payload", "", parse_payload_selector)?,
        with_vector: opt(map, "with_vector", "", parse_vector_selector)?,
        params: opt(map, "params", "", parse_params)?,
    })
}

fn parse_prefetches(value: Option<&Value>, path: &str) -> Result<Vec<Prefetch>> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_prefetch(item, &format!("{path}[{i}]")))
            .collect(),
        Some(one @ Value::Object(_)) => Ok(vec![parse_prefetch(one, &format!("{path}[0]"))?]),
        Some(other) => Err(invalid(format!(
            "{path}: expected an object or an array of objects, got {}",
            kind(other)
        ))),
    }
}

fn parse_prefetch(value: &Value, path: &str) -> Result<Prefetch> {
    let map = object(value, path)?;
    check_fields(map, PREFETCH_FIELDS, path)?;
    reject_present(map, &["lookup_from"], path)?;
    Ok(Prefetch {
        prefetch: parse_prefetches(get(map, "prefetch"), &field(path, "prefetch"))?,
        query: match get(map, "query") {
            Some(q) => parse_query(q, &field(path, "query"))?,
            None => None,
        },
        using: opt(map, "using", path, string)?.filter(|u| !u.is_empty()),
        filter: opt(map, "filter", path, parse_filter)?,
        score_threshold: opt(map, "score_threshold", path, number)?,
        limit: opt(map, "limit", path, unsigned)?.unwrap_or(DEFAULT_LIMIT),
        params: opt(map, "params", path, parse_params)?,
    })
}

/// A stage's `query`: any vector input, or a fusion. `null` is `None`.
fn parse_query(value: &Value, path: &str) -> Result<Option<Query>> {
    let Value::Object(map) = value else {
        return match value {
            Value::Null => Ok(None),
            _ => parse_vector_input(value, path).map(Some),
        };
    };
    if let Some(nearest) = map.get("nearest") {
        check_fields(map, &["nearest", "mmr"], path)?;
        reject_present(map, &["mmr"], path)?;
        return parse_vector_input(nearest, &field(path, "nearest")).map(Some);
    }
    if let Some(fusion) = map.get("fusion") {
        check_fields(map, &["fusion"], path)?;
        let path = field(path, "fusion");
        return match fusion.as_str() {
            Some("rrf") => Ok(Some(Query::Fusion(Fusion::rrf()))),
            Some("dbsf") => Ok(Some(Query::Fusion(Fusion::Dbsf))),
            Some(other) => Err(invalid(format!(
                "{path}: unknown fusion {other:?} (expected \"rrf\" or \"dbsf\")"
            ))),
            None => Err(invalid(format!(
                "{path}: expected \"rrf\" or \"dbsf\", got {}",
                kind(fusion)
            ))),
        };
    }
    if let Some(rrf) = map.get("rrf") {
        check_fields(map, &["rrf"], path)?;
        let path = field(path, "rrf");
        let (k, weights) = match rrf {
            Value::Null => (None, None),
            _ => {
                let params = object(rrf, &path)?;
                check_fields(params, &["k", "weights"], &path)?;
                (
                    opt(params, "k", &path, unsigned)?,
                    opt(params, "weights", &path, numbers)?,
                )
            }
        };
        let k = match k {
            None => DEFAULT_RRF_K,
            Some(k) => {
                u32::try_from(k).map_err(|_| invalid(format!("{path}.k is too large: {k}")))?
            }
        };
        return Ok(Some(Query::Fusion(Fusion::Rrf { k, weights })));
    }
    if let Some(weighted) = map.get("weighted") {
        check_fields(map, &["weighted"], path)?;
        let path = field(path, "weighted");
        let weights = match weighted {
            Value::Null => None,
            _ => {
                let params = object(weighted, &path)?;
                check_fields(params, &["weights"], &path)?;
                opt(params, "weights", &path, numbers)?
            }
        };
        return Ok(Some(Query::Fusion(Fusion::Weighted { weights })));
    }
    if let Some(kind) = UNSUPPORTED_QUERIES.iter().find(|k| map.contains_key(**k)) {
        return Err(invalid(format!(
            "{}: {kind} queries are not supported",
            field(path, kind)
        )));
    }
    parse_vector_input(value, path).map(Some)
}

/// Qdrant's `VectorInput`: a dense vector, a sparse vector, a point id, or a
/// document (`{"text": ..}`, Grape's BM25).
fn parse_vector_input(value: &Value, path: &str) -> Result<Query> {
    match value {
        Value::Array(items) => {
            if items.iter().any(Value::is_array) {
                return Err(invalid(format!(
                    "{path}: multi-vectors (arrays of vectors) are not supported"
                )));
            }
            numbers(value, path).map(Query::Dense)
        }
        Value::Number(_) | Value::String(_) => point_id(value, path).map(Query::Id),
        Value::Object(map) if map.contains_key("indices") || map.contains_key("values") => {
            check_fields(map, &["indices", "values"], path)?;
            let indices = required(map, "indices", path, sparse_indices)?;
            let values = required(map, "values", path, numbers)?;
            Ok(Query::Sparse(SparseQuery { indices, values }))
        }
        Value::Object(map) if map.contains_key("text") => {
            check_fields(map, &["text", "model", "options"], path)?;
            required(map, "text", path, string).map(Query::Text)
        }
        Value::Object(map) => {
            if let Some(kind) = ["image", "object"].iter().find(|k| map.contains_key(**k)) {
                return Err(invalid(format!(
                    "{}: {kind} inference is not supported",
                    field(path, kind)
                )));
            }
            Err(invalid(format!(
                "{path}: unrecognised query (expected a vector, {{\"indices\", \"values\"}}, \
                 a point id, {{\"text\"}}, {{\"nearest\"}}, {{\"fusion\"}} or {{\"rrf\"}})"
            )))
        }
        other => Err(invalid(format!(
            "{path}: expected a query, got {}",
            kind(other)
        ))),
    }
}

/// A Qdrant filter; errors are [`Error::InvalidFilter`] prefixed with the
/// filter's place in the request (`prefetch[0].filter: must[1].range: ..`).
fn parse_filter(value: &Value, path: &str) -> Result<Filter> {
    Filter::from_value(value).map_err(|e| match e {
        Error::InvalidFilter(message) => Error::InvalidFilter(format!("{path}: {message}")),
        other => other,
    })
}

fn parse_params(value: &Value, path: &str) -> Result<QueryParams> {
    let map = object(value, path)?;
    // `indexed_only` and `acorn` are accepted and ignored: Grape always
    // searches everything and picks its filtered-search strategy itself.
    check_fields(
        map,
        &["hnsw_ef", "exact", "quantization", "indexed_only", "acorn"],
        path,
    )?;
    let quantization = match get(map, "quantization") {
        None | Some(Value::Null) => QuantSearch::default(),
        Some(v) => parse_quant_search(v, &field(path, "quantization"))?,
    };
    Ok(QueryParams {
        hnsw_ef: opt(map, "hnsw_ef", path, unsigned)?,
        exact: opt(map, "exact", path, boolean)?.unwrap_or(false),
        quantization,
    })
}

/// Qdrant's `quantization` search parameters: `ignore`, `rescore`, `oversampling`.
fn parse_quant_search(value: &Value, path: &str) -> Result<QuantSearch> {
    let map = object(value, path)?;
    check_fields(map, &["ignore", "rescore", "oversampling"], path)?;
    let q = QuantSearch {
        ignore: opt(map, "ignore", path, boolean)?.unwrap_or(false),
        rescore: opt(map, "rescore", path, boolean)?,
        oversampling: opt(map, "oversampling", path, number)?,
    };
    q.check().map_err(|e| match e {
        Error::InvalidParameter(m) => Error::InvalidQuery(format!("{path}: {m}")),
        other => other,
    })?;
    Ok(q)
}

fn parse_payload_selector(value: &Value, path: &str) -> Result<PayloadSelector> {
    match value {
        Value::Bool(b) => Ok(PayloadSelector::All(*b)),
        Value::Array(_) => strings(value, path).map(PayloadSelector::Include),
        Value::Object(map) => {
            check_fields(map, &["include", "exclude"], path)?;
            match (get(map, "include"), get(map, "exclude")) {
                (Some(v), None) => {
                    strings(v, &field(path, "include")).map(PayloadSelector::Include)
                }
                (None, Some(v)) => {
                    strings(v, &field(path, "exclude")).map(PayloadSelector::Exclude)
                }
                _ => Err(invalid(format!(
                    "{path}: expected exactly one of include or exclude"
                ))),
            }
        }
        other => Err(invalid(format!(
            "{path}: expected a bool, a list of keys or {{include|exclude}}, got {}",
            kind(other)
        ))),
    }
}

fn parse_vector_selector(value: &Value, path: &str) -> Result<VectorSelector> {
    match value {
        Value::Bool(b) => Ok(VectorSelector::All(*b)),
        Value::Array(_) => strings(value, path).map(VectorSelector::Names),
        other => Err(invalid(format!(
            "{path}: expected a bool or a list of vector names, got {}",
            kind(other)
        ))),
    }
}

// --- small typed getters; each error names the field ---

/// The value of `key`, treating `null` as absent.
pub(crate) fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// Parses `key` with `parse` if present (and not null).
pub(crate) fn opt<T>(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
    parse: impl Fn(&Value, &str) -> Result<T>,
) -> Result<Option<T>> {
    get(map, key)
        .map(|v| parse(v, &field(path, key)))
        .transpose()
}

/// Parses `key` with `parse`; an error if absent.
pub(crate) fn required<T>(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
    parse: impl Fn(&Value, &str) -> Result<T>,
) -> Result<T> {
    let path = field(path, key);
    match get(map, key) {
        Some(v) => parse(v, &path),
        None => Err(invalid(format!("{path} is required"))),
    }
}

pub(crate) fn check_fields(map: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<()> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(invalid(format!("unknown field {}", field(path, unknown)))),
        None => Ok(()),
    }
}

/// Fields Grape parses but does not support: fine when absent or null.
fn reject_present(map: &Map<String, Value>, keys: &[&str], path: &str) -> Result<()> {
    match keys.iter().find(|k| get(map, k).is_some()) {
        Some(key) => Err(invalid(format!("{} is not supported", field(path, key)))),
        None => Ok(()),
    }
}

pub(crate) fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| invalid(format!("{path}: expected an object, got {}", kind(value))))
}

pub(crate) fn string(value: &Value, path: &str) -> Result<String> {
    value
        .as_str()
        .map(ToString::to_string)
        .ok_or_else(|| invalid(format!("{path}: expected a string, got {}", kind(value))))
}

pub(crate) fn boolean(value: &Value, path: &str) -> Result<bool> {
    value.as_bool().ok_or_else(|| {
        invalid(format!(
            "{path}: expected true or false, got {}",
            kind(value)
        ))
    })
}

pub(crate) fn unsigned(value: &Value, path: &str) -> Result<usize> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            invalid(format!(
                "{path}: expected a non-negative integer, got {}",
                describe(value)
            ))
        })
}

/// A finite `f32` (numbers beyond `f32`'s range are rejected, not rounded to
/// infinity).
pub(crate) fn number(value: &Value, path: &str) -> Result<f32> {
    let x = value
        .as_f64()
        .ok_or_else(|| invalid(format!("{path}: expected a number, got {}", kind(value))))?;
    let y = x as f32;
    if y.is_finite() {
        Ok(y)
    } else {
        Err(invalid(format!("{path}: {x:e} is out of range for f32")))
    }
}

pub(crate) fn numbers(value: &Value, path: &str) -> Result<Vec<f32>> {
    array(value, path)?
        .iter()
        .enumerate()
        .map(|(i, v)| number(v, &format!("{path}[{i}]")))
        .collect()
}

pub(crate) fn sparse_indices(value: &Value, path: &str) -> Result<Vec<u32>> {
    array(value, path)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "{path}[{i}]: expected an integer from 0 to {}, got {}",
                        u32::MAX,
                        describe(v)
                    ))
                })
        })
        .collect()
}

fn strings(value: &Value, path: &str) -> Result<Vec<String>> {
    array(value, path)?
        .iter()
        .enumerate()
        .map(|(i, v)| string(v, &format!("{path}[{i}]")))
        .collect()
}

pub(crate) fn array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>> {
    value
        .as_array()
        .ok_or_else(|| invalid(format!("{path}: expected an array, got {}", kind(value))))
}

/// The JSON type of a value, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A number as written, anything else by its type.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_string(),
    }
}
