//! grape-wasm: Grape's collections for JavaScript, through wasm-bindgen.
//!
//! A thin adapter: JSON shapes go in (Qdrant's create-collection body,
//! points, filters and query requests, parsed by grape-core), plain JS
//! objects come out, and every error is a JS `Error` whose `message` is the
//! core's and whose `code` names the kind (`"dimension_mismatch"`, ...).
//! The npm package (`npm/`) wraps this class with typed-array conveniences
//! and picks the simd128 or baseline build.

use grape_core::payload::{FieldSchema, Filter, PointId};
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};
use grape_core::{Collection as Core, CollectionConfig, Error, PointData};
use serde::Serialize;
use serde_json::{Map, Value, json};
use wasm_bindgen::prelude::*;

/// A JS `Error` with the core's message and a `code` property.
fn js_error(e: &Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

/// An argument error raised by the bindings themselves (wrong JS types).
fn arg_error(message: &str) -> JsValue {
    js_error(&Error::InvalidQuery(message.to_string()))
}

/// A JS value (plain objects, arrays, numbers, strings) as JSON.
fn to_json(value: JsValue, what: &str) -> Result<Value, JsValue> {
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| arg_error(&format!("{what}: not plain JSON data ({e})")))
}

/// A Rust value as a plain JS value (maps become objects).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| arg_error(&format!("cannot convert the result: {e}")))
}

fn id_json(id: &PointId) -> Value {
    match id {
        PointId::Num(n) => json!(n),
        uuid @ PointId::Uuid(_) => json!(uuid.to_string()),
    }
}

fn parse_id(value: &Value, path: &str) -> Result<PointId, JsValue> {
    match value {
        Value::Number(n) => n.as_u64().map(PointId::Num),
        Value::String(s) => PointId::parse_uuid(s),
        _ => None,
    }
    .ok_or_else(|| {
        arg_error(&format!(
            "{path}: a point id must be an unsigned integer or a uuid string, got {value}"
        ))
    })
}

fn parse_ids(value: JsValue) -> Result<Vec<PointId>, JsValue> {
    match to_json(value, "ids")? {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_id(v, &format!("ids[{i}]")))
            .collect(),
        other => Err(arg_error(&format!("ids: expected an array, got {other}"))),
    }
}

/// A collection: named dense vectors (HNSW, optionally quantized), sparse
/// vectors, BM25 text fields and payloads, in this JS realm's memory.
#[wasm_bindgen]
pub struct Collection {
    inner: Core,
    /// Search memory reused by every query (JS is single-threaded).
    scratch: grape_core::Scratch,
}

#[wasm_bindgen]
impl Collection {
    /// Creates an empty collection from Qdrant's create-collection body
    /// (`{vectors: {size, distance}, sparse_vectors, hnsw_config,
    /// quantization_config, text_fields}`).
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> Result<Collection, JsValue> {
        let value = to_json(config, "config")?;
        let config = CollectionConfig::from_value(&value).map_err(|e| js_error(&e))?;
        Core::new(config).map(wrap).map_err(|e| js_error(&e))
    }

    /// Loads a collection from bytes of the portable format (as written by
    /// `toBytes` here or by native Grape).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Collection, JsValue> {
        Core::from_bytes(bytes).map(wrap).map_err(|e| js_error(&e))
    }

    /// The collection in the portable byte format.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes()
    }

    /// Number of points.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.inner.len()
    }

    /// Names of the BM25 text fields (payload keys).
    #[wasm_bindgen(js_name = textFields)]
    pub fn text_fields(&self) -> Vec<String> {
        self.inner.config().text.keys().cloned().collect()
    }

    /// Inserts or replaces points: an array of `{id, vector, payload}`
    /// (Qdrant's `PointStruct`; vectors as arrays of numbers). All points
    /// are checked first; on error nothing changes.
    pub fn upsert(&mut self, points: JsValue) -> Result<(), JsValue> {
        let Value::Array(items) = to_json(points, "points")? else {
            return Err(arg_error("points: expected an array"));
        };
        let points = items
            .iter()
            .enumerate()
            .map(|(i, p)| PointData::from_value(p, &format!("points[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| js_error(&e))?;
        self.inner.upsert(points).map_err(|e| js_error(&e))
    }

    /// The bulk path: `ids.length` points whose dense vector `using` (`""`
    /// for the unnamed one) are consecutive in `vectors` (one
    /// `Float32Array` of `ids.length × dim`), with optional payloads.
    #[wasm_bindgen(js_name = upsertDense)]
    pub fn upsert_dense(
        &mut self,
        using: &str,
        ids: JsValue,
        vectors: &[f32],
        payloads: JsValue,
    ) -> Result<(), JsValue> {
        let ids = parse_ids(ids)?;
        let payloads = if payloads.is_undefined() || payloads.is_null() {
            None
        } else {
            let Value::Array(items) = to_json(payloads, "payloads")? else {
                return Err(arg_error("payloads: expected an array"));
            };
            Some(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| match p {
                        Value::Object(m) => Ok(m),
                        Value::Null => Ok(Map::new()),
                        other => Err(arg_error(&format!(
                            "payloads[{i}]: expected an object, got {other}"
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        self.inner
            .upsert_dense(using, &ids, vectors, payloads)
            .map_err(|e| js_error(&e))
    }

    /// The points with these ids (unknown ids are skipped): `{id, payload,
    /// vector?}` objects; `withVector` adds the stored dense vectors.
    pub fn get(&self, ids: JsValue, with_vector: bool) -> Result<JsValue, JsValue> {
        let ids = parse_ids(ids)?;
        let vectors = VectorSelector::All(with_vector);
        let out: Vec<Value> = ids
            .iter()
            .filter_map(|id| {
                let payload = self.inner.payload(id)?.clone();
                let mut point = json!({"id": id_json(id), "payload": payload});
                if with_vector {
                    point["vector"] = json!(self.inner.select_vectors(id, &vectors));
                }
                Some(point)
            })
            .collect();
        to_js(&out)
    }

    /// Deletes points by id; returns how many existed.
    pub fn delete(&mut self, ids: JsValue) -> Result<usize, JsValue> {
        let ids = parse_ids(ids)?;
        Ok(self.inner.delete(&ids))
    }

    /// Deletes every point matching a Qdrant filter; returns how many.
    #[wasm_bindgen(js_name = deleteByFilter)]
    pub fn delete_by_filter(&mut self, filter: JsValue) -> Result<usize, JsValue> {
        let filter = parse_filter(filter)?.ok_or_else(|| arg_error("filter is required"))?;
        Ok(self.inner.delete_by_filter(&filter))
    }

    /// Number of points matching a Qdrant filter (all without one).
    pub fn count(&self, filter: JsValue) -> Result<usize, JsValue> {
        let filter = parse_filter(filter)?;
        Ok(self.inner.count(filter.as_ref()))
    }

    /// Runs Qdrant's universal query (`prefetch`, `query` with a dense,
    /// sparse, `{text}` or `{fusion}` query, `using`, `filter`, `limit`,
    /// `offset`, `params`, `score_threshold`, `with_payload`,
    /// `with_vector`) and returns `[{id, score, payload?, vector?}]`.
    pub fn query(&mut self, request: JsValue) -> Result<JsValue, JsValue> {
        let value = to_json(request, "request")?;
        self.run(&value)
    }

    /// Indexes a payload key (`"keyword"`, `"integer"`, `"float"`, `"bool"`,
    /// `"datetime"`), making filters on it fast.
    #[wasm_bindgen(js_name = createPayloadIndex)]
    pub fn create_payload_index(&mut self, field: &str, schema: &str) -> Result<(), JsValue> {
        let schema = match schema {
            "keyword" => FieldSchema::Keyword,
            "integer" => FieldSchema::Integer,
            "float" => FieldSchema::Float,
            "bool" => FieldSchema::Bool,
            "datetime" => FieldSchema::Datetime,
            other => {
                return Err(js_error(&Error::InvalidParameter(format!(
                    "unknown payload index schema {other:?}: expected keyword, integer, float, bool or datetime"
                ))));
            }
        };
        self.inner
            .create_payload_index(field, schema)
            .map_err(|e| js_error(&e))
    }

    /// Compacts deleted points out of the graphs and (re)trains quantizers.
    pub fn optimize(&mut self) -> Result<(), JsValue> {
        self.inner.optimize().map_err(|e| js_error(&e))
    }

    /// Sizes: `{points, dense: [{name, points, vectorBytes, graphBytes}],
    /// sparseBytes, textBytes}`.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        let s = self.inner.stats();
        let dense: Vec<Value> = s
            .dense
            .iter()
            .map(|(name, points, vectors, graph)| {
                json!({"name": name, "points": points, "vectorBytes": vectors, "graphBytes": graph})
            })
            .collect();
        to_js(&json!({
            "points": s.points,
            "dense": dense,
            "sparseBytes": s.sparse_bytes,
            "textBytes": s.text_bytes,
        }))
    }
}

fn wrap(inner: Core) -> Collection {
    Collection {
        inner,
        scratch: grape_core::Scratch::new(),
    }
}

impl Collection {
    fn run(&mut self, value: &Value) -> Result<JsValue, JsValue> {
        let request = QueryRequest::from_value(value).map_err(|e| js_error(&e))?;
        let hits = self
            .inner
            .query_with(&mut self.scratch, &request)
            .map_err(|e| js_error(&e))?;
        let payload = request
            .with_payload
            .clone()
            .unwrap_or(PayloadSelector::All(false));
        let vectors = request
            .with_vector
            .clone()
            .unwrap_or(VectorSelector::All(false));
        let out: Vec<Value> = hits
            .iter()
            .map(|h| {
                let mut hit = json!({"id": id_json(&h.id), "score": h.score});
                if let Some(p) = self.inner.select_payload(&h.id, &payload) {
                    hit["payload"] = Value::Object(p);
                }
                if vectors != VectorSelector::All(false) {
                    hit["vector"] = json!(self.inner.select_vectors(&h.id, &vectors));
                }
                hit
            })
            .collect();
        to_js(&out)
    }
}

fn parse_filter(filter: JsValue) -> Result<Option<Filter>, JsValue> {
    if filter.is_undefined() || filter.is_null() {
        return Ok(None);
    }
    let value = to_json(filter, "filter")?;
    Filter::from_value(&value)
        .map(Some)
        .map_err(|e| js_error(&e))
}
