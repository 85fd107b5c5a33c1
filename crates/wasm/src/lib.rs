//! grape-wasm: Grape's collections for JavaScript, through wasm-bindgen.
//!
//! A thin adapter: JSON shapes go in (Qdrant's create-collection body,
//! points, filters and query requests, parsed by grape-core), plain JS
//! objects come out, and every error is a JS `Error` whose `message` is the
//! core's and whose `code` names the kind (`"dimension_mismatch"`, ...).
//! The npm package (`npm/`) wraps this class with typed-array conveniences
//! and picks the simd128 or baseline build.

use grape_core::payload::{FieldSchema, Filter, PointId};
use grape_core::query::{PayloadSelector, Query, QueryParams, QueryRequest, VectorSelector};
use grape_core::{Collection as Core, CollectionConfig, Error, PointData};
use serde::Serialize;
use serde_json::{Map, Value, json};
use wasm_bindgen::prelude::*;

mod chunks;
use chunks::Chunks;

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
    keys: Keys,
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

    /// Loads a collection from bytes of the portable format (a
    /// `Uint8Array`, as written by `toBytes` here or by native Grape). The
    /// bytes are copied into wasm memory 64 KiB at a time, never whole.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: JsValue) -> Result<Collection, JsValue> {
        let mut source = Chunks::one(bytes, "fromBytes").map_err(|e| js_error(&e))?;
        Core::from_source(&mut source)
            .map(wrap)
            .map_err(|e| js_error(&e))
    }

    /// Loads a collection from the bytes of the portable format in pieces:
    /// an array of `Uint8Array`s end to end (a stream's chunks). Only one
    /// 64 KiB block at a time is copied into wasm memory; the array's
    /// entries are set to `undefined` as they are consumed, so that the
    /// garbage collector can free them while the rest is decoded; `release`,
    /// if given, is called with each chunk as it is consumed.
    #[wasm_bindgen(js_name = fromChunks)]
    pub fn from_chunks(
        chunks: JsValue,
        release: Option<js_sys::Function>,
    ) -> Result<Collection, JsValue> {
        let mut source = Chunks::array(chunks, release, "fromChunks").map_err(|e| js_error(&e))?;
        Core::from_source(&mut source)
            .map(wrap)
            .map_err(|e| js_error(&e))
    }

    /// Bytes of this module's wasm memory (it grows, never shrinks).
    #[wasm_bindgen(js_name = wasmMemoryBytes)]
    pub fn wasm_memory_bytes() -> f64 {
        let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
        memory
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length()
            .into()
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
                    point["vector"] = self.inner.vectors_value(id, &vectors);
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
        let request = QueryRequest::from_value(&value).map_err(|e| js_error(&e))?;
        self.run(&request)
    }

    /// The fast path of a dense search: the query vector as a `Float32Array`
    /// (no JSON), `limit`, an optional `ef`, and the other fields of a query
    /// request (`using`, `filter`, `params`, `score_threshold`,
    /// `with_payload`, `with_vector`) as an object, or `undefined` when
    /// there are none. Returns what `query` returns.
    #[wasm_bindgen(js_name = searchDense)]
    pub fn search_dense(
        &mut self,
        vector: Vec<f32>,
        limit: usize,
        ef: Option<u32>,
        options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let mut request = if options.is_undefined() || options.is_null() {
            QueryRequest::default()
        } else {
            let value = to_json(options, "options")?;
            QueryRequest::parse_value(&value).map_err(|e| js_error(&e))?
        };
        request.query = Some(Query::Dense(vector));
        request.limit = limit;
        if let Some(ef) = ef {
            let params = request.params.get_or_insert_with(QueryParams::default);
            params.hnsw_ef = Some(ef as usize);
        }
        self.run(&request)
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
        keys: Keys::new(),
    }
}

impl Collection {
    fn run(&mut self, request: &QueryRequest) -> Result<JsValue, JsValue> {
        let hits = self
            .inner
            .query_with(&mut self.scratch, request)
            .map_err(|e| js_error(&e))?;
        let payload = request
            .with_payload
            .clone()
            .unwrap_or(PayloadSelector::All(false));
        let vectors = request
            .with_vector
            .clone()
            .unwrap_or(VectorSelector::All(false));
        // Hits are built as JS objects directly: going through a JSON value
        // and serde costs more than the search itself on small collections.
        let out = js_sys::Array::new_with_length(hits.len() as u32);
        for (i, h) in hits.iter().enumerate() {
            let hit = js_sys::Object::new();
            let id = match h.id {
                PointId::Num(n) => JsValue::from_f64(n as f64),
                uuid @ PointId::Uuid(_) => JsValue::from_str(&uuid.to_string()),
            };
            set(&hit, &self.keys.id, &id);
            set(
                &hit,
                &self.keys.score,
                &JsValue::from_f64(f64::from(h.score)),
            );
            if let Some(p) = self.inner.select_payload(&h.id, &payload) {
                set(&hit, &self.keys.payload, &to_js(&p)?);
            }
            if vectors != VectorSelector::All(false) {
                let v = self.inner.vectors_value(&h.id, &vectors);
                set(&hit, &self.keys.vector, &to_js(&v)?);
            }
            out.set(i as u32, hit.into());
        }
        Ok(out.into())
    }
}

/// Property names of a hit, made once per collection.
struct Keys {
    id: JsValue,
    score: JsValue,
    payload: JsValue,
    vector: JsValue,
}

impl Keys {
    fn new() -> Self {
        Keys {
            id: JsValue::from_str("id"),
            score: JsValue::from_str("score"),
            payload: JsValue::from_str("payload"),
            vector: JsValue::from_str("vector"),
        }
    }
}

fn set(object: &js_sys::Object, key: &JsValue, value: &JsValue) {
    // Defining a property on a fresh plain object cannot fail.
    let _ = js_sys::Reflect::set(object, key, value);
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
