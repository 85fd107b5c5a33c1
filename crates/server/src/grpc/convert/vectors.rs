//! Vectors (dense, sparse, multi-dense, documents), query inputs, and the
//! `with_payload` / `with_vectors` selectors and search parameters.

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use super::common::{
    as_array, as_object, bad, f32_json, field, finite, floats_json, json_floats, payload_to_json,
    point_id_to_json, unexpected, value_to_json,
};
use crate::error::ApiResult;
use crate::grpc::proto::{
    self, vector, vector_input::Variant, vector_output, vectors::VectorsOptions, vectors_output,
    with_payload_selector, with_vectors_selector,
};

fn sparse_json(indices: Vec<u32>, values: &[f32], what: &str) -> ApiResult<Json> {
    if indices.len() != values.len() {
        return Err(bad(format!(
            "{what}: sparse vector has {} indices but {} values",
            indices.len(),
            values.len()
        )));
    }
    Ok(json!({"indices": indices, "values": floats_json(values, what)?}))
}

fn multi_json(vectors: Vec<proto::DenseVector>, what: &str) -> ApiResult<Json> {
    vectors
        .iter()
        .map(|v| floats_json(&v.data, what))
        .collect::<ApiResult<Vec<_>>>()
        .map(Json::Array)
}

fn document_json(d: proto::Document) -> ApiResult<Json> {
    let mut out = Map::new();
    out.insert("text".into(), Json::String(d.text));
    if !d.model.is_empty() {
        out.insert("model".into(), Json::String(d.model));
    }
    if !d.options.is_empty() {
        out.insert("options".into(), Json::Object(payload_to_json(d.options)?));
    }
    Ok(Json::Object(out))
}

fn inference_json(
    kind: &str,
    value: Option<proto::Value>,
    model: String,
    options: HashMap<String, proto::Value>,
) -> ApiResult<Json> {
    let mut out = Map::new();
    let value = value.ok_or_else(|| bad(format!("{kind} without a value")))?;
    out.insert(kind.into(), value_to_json(value)?);
    out.insert("model".into(), Json::String(model));
    if !options.is_empty() {
        out.insert("options".into(), Json::Object(payload_to_json(options)?));
    }
    Ok(Json::Object(out))
}

/// A `qdrant.Vector` of a request (a point's vector or a recommendation
/// example) → REST JSON: a list (dense), `{"indices", "values"}` (sparse), a
/// list of lists (multi-dense) or a document. Both the current `oneof`
/// encoding and the older `data` / `indices` / `vectors_count` one are read.
pub fn vector_to_json(v: proto::Vector, what: &str) -> ApiResult<Json> {
    match v.vector {
        Some(vector::Vector::Dense(d)) => floats_json(&d.data, what),
        Some(vector::Vector::Sparse(s)) => sparse_json(s.indices, &s.values, what),
        Some(vector::Vector::MultiDense(m)) => multi_json(m.vectors, what),
        Some(vector::Vector::Document(d)) => document_json(d),
        Some(vector::Vector::Image(i)) => inference_json("image", i.image, i.model, i.options),
        Some(vector::Vector::Object(o)) => inference_json("object", o.object, o.model, o.options),
        None => legacy_vector_json(v.data, v.indices, v.vectors_count, what),
    }
}

fn legacy_vector_json(
    data: Vec<f32>,
    indices: Option<proto::SparseIndices>,
    vectors_count: Option<u32>,
    what: &str,
) -> ApiResult<Json> {
    if let Some(indices) = indices {
        return sparse_json(indices.data, &data, what);
    }
    match vectors_count {
        Some(n) if n > 1 => {
            let n = n as usize;
            if !data.len().is_multiple_of(n) {
                return Err(bad(format!(
                    "{what}: {} numbers do not split into {n} vectors",
                    data.len()
                )));
            }
            data.chunks(data.len() / n)
                .map(|c| floats_json(c, what))
                .collect::<ApiResult<Vec<_>>>()
                .map(Json::Array)
        }
        _ => floats_json(&data, what),
    }
}

/// A point's `qdrant.Vectors` → REST JSON: one vector, or a map of names to
/// vectors.
pub fn vectors_to_json(v: proto::Vectors) -> ApiResult<Json> {
    match v.vectors_options {
        Some(VectorsOptions::Vector(v)) => vector_to_json(v, "vector"),
        Some(VectorsOptions::Vectors(named)) => named
            .vectors
            .into_iter()
            .map(|(name, v)| {
                let what = format!("vector {name:?}");
                vector_to_json(v, &what).map(|v| (name, v))
            })
            .collect::<ApiResult<Map<_, _>>>()
            .map(Json::Object),
        None => Err(bad("vectors without a value")),
    }
}

/// A query input (`qdrant.VectorInput`) → the REST query shape: a point id,
/// a vector, a sparse vector, a multi-vector or a document.
pub fn vector_input_to_json(v: proto::VectorInput) -> ApiResult<Json> {
    let what = "query vector";
    match v.variant {
        Some(Variant::Id(id)) => point_id_to_json(id),
        Some(Variant::Dense(d)) => floats_json(&d.data, what),
        Some(Variant::Sparse(s)) => sparse_json(s.indices, &s.values, what),
        Some(Variant::MultiDense(m)) => multi_json(m.vectors, what),
        Some(Variant::Document(d)) => document_json(d),
        Some(Variant::Image(i)) => inference_json("image", i.image, i.model, i.options),
        Some(Variant::Object(o)) => inference_json("object", o.object, o.model, o.options),
        None => Err(bad("query vector input without a value")),
    }
}

fn dense_output(data: Vec<f32>) -> proto::VectorOutput {
    proto::VectorOutput {
        vector: Some(vector_output::Vector::Dense(proto::DenseVector { data })),
        ..proto::VectorOutput::default()
    }
}

/// One REST output vector → `qdrant.VectorOutput` (dense, sparse or
/// multi-dense, in the current `oneof` encoding).
pub fn json_to_vector_output(v: &Json) -> ApiResult<proto::VectorOutput> {
    match v {
        Json::Array(items) if items.first().is_some_and(Json::is_array) => {
            let vectors = items
                .iter()
                .map(|x| json_floats(x, "vector").map(|data| proto::DenseVector { data }))
                .collect::<ApiResult<_>>()?;
            Ok(proto::VectorOutput {
                vector: Some(vector_output::Vector::MultiDense(proto::MultiDenseVector {
                    vectors,
                })),
                ..proto::VectorOutput::default()
            })
        }
        Json::Array(_) => Ok(dense_output(json_floats(v, "vector")?)),
        Json::Object(map) => {
            let indices = as_array(map.get("indices").unwrap_or(&Json::Null), "sparse vector")?
                .iter()
                .map(|i| {
                    i.as_u64()
                        .and_then(|i| u32::try_from(i).ok())
                        .ok_or_else(|| unexpected("sparse index", i))
                })
                .collect::<ApiResult<_>>()?;
            let values = json_floats(map.get("values").unwrap_or(&Json::Null), "sparse vector")?;
            Ok(proto::VectorOutput {
                vector: Some(vector_output::Vector::Sparse(proto::SparseVector {
                    values,
                    indices,
                })),
                ..proto::VectorOutput::default()
            })
        }
        other => Err(unexpected("vector", other)),
    }
}

/// A point's REST `vector` field → `qdrant.VectorsOutput`: a list is the
/// unnamed vector, an object maps names to vectors (sparse vectors are
/// always named). `null` is no vectors.
pub fn json_to_vectors_output(v: &Json) -> ApiResult<Option<proto::VectorsOutput>> {
    let options = match v {
        Json::Null => return Ok(None),
        Json::Array(_) => vectors_output::VectorsOptions::Vector(json_to_vector_output(v)?),
        Json::Object(map) => {
            let vectors = map
                .iter()
                .map(|(name, v)| json_to_vector_output(v).map(|v| (name.clone(), v)))
                .collect::<ApiResult<_>>()?;
            vectors_output::VectorsOptions::Vectors(proto::NamedVectorsOutput { vectors })
        }
        other => return Err(unexpected("vectors", other)),
    };
    Ok(Some(proto::VectorsOutput {
        vectors_options: Some(options),
    }))
}

/// `with_payload`: `true`/`false`, a list of fields, or `{"exclude": [..]}`.
pub fn with_payload_to_json(s: proto::WithPayloadSelector) -> Option<Json> {
    Some(match s.selector_options? {
        with_payload_selector::SelectorOptions::Enable(b) => Json::Bool(b),
        with_payload_selector::SelectorOptions::Include(i) => Json::from(i.fields),
        with_payload_selector::SelectorOptions::Exclude(e) => json!({"exclude": e.fields}),
    })
}

/// `with_vector`: `true`/`false` or a list of vector names.
pub fn with_vectors_to_json(s: proto::WithVectorsSelector) -> Option<Json> {
    Some(match s.selector_options? {
        with_vectors_selector::SelectorOptions::Enable(b) => Json::Bool(b),
        with_vectors_selector::SelectorOptions::Include(i) => Json::from(i.names),
    })
}

/// Search `params`: only the fields that are set.
pub fn search_params_to_json(p: proto::SearchParams) -> ApiResult<Json> {
    let mut out = Map::new();
    if let Some(ef) = p.hnsw_ef {
        out.insert("hnsw_ef".into(), Json::from(ef));
    }
    if let Some(exact) = p.exact {
        out.insert("exact".into(), Json::Bool(exact));
    }
    if let Some(q) = p.quantization {
        let mut m = Map::new();
        if let Some(b) = q.ignore {
            m.insert("ignore".into(), Json::Bool(b));
        }
        if let Some(b) = q.rescore {
            m.insert("rescore".into(), Json::Bool(b));
        }
        if let Some(x) = q.oversampling {
            m.insert(
                "oversampling".into(),
                finite(x, "params.quantization.oversampling")?,
            );
        }
        out.insert("quantization".into(), Json::Object(m));
    }
    if let Some(b) = p.indexed_only {
        out.insert("indexed_only".into(), Json::Bool(b));
    }
    if let Some(a) = p.acorn {
        let mut m = Map::new();
        if let Some(b) = a.enable {
            m.insert("enable".into(), Json::Bool(b));
        }
        if let Some(x) = a.max_selectivity {
            m.insert(
                "max_selectivity".into(),
                finite(x, "params.acorn.max_selectivity")?,
            );
        }
        out.insert("acorn".into(), Json::Object(m));
    }
    Ok(Json::Object(out))
}

/// A score threshold (finite).
pub(crate) fn threshold_json(x: f32) -> ApiResult<Json> {
    f32_json(x, "score_threshold")
}

/// The REST record fields shared by scored and retrieved points: id,
/// payload and vectors.
pub(crate) fn point_parts(
    v: &Json,
) -> ApiResult<(
    proto::PointId,
    HashMap<String, proto::Value>,
    Option<proto::VectorsOutput>,
)> {
    let map = as_object(v, "point")?;
    let id = super::common::json_to_point_id(map.get("id").unwrap_or(&Json::Null))?;
    let payload = super::common::json_to_opt_payload(map.get("payload"))?;
    let vectors = match field(map, "vector") {
        Some(v) => json_to_vectors_output(v)?,
        None => None,
    };
    Ok((id, payload, vectors))
}

/// REST `ScoredPoint` → `qdrant.ScoredPoint`.
pub fn json_to_scored_point(v: &Json) -> ApiResult<proto::ScoredPoint> {
    let (id, payload, vectors) = point_parts(v)?;
    let map = as_object(v, "scored point")?;
    Ok(proto::ScoredPoint {
        id: Some(id),
        payload,
        score: map
            .get("score")
            .and_then(Json::as_f64)
            .ok_or_else(|| unexpected("score", v))? as f32,
        version: map.get("version").and_then(Json::as_u64).unwrap_or(0),
        vectors,
        shard_key: None,
        order_value: None,
    })
}

/// A REST list of scored points → `qdrant.ScoredPoint`s.
pub fn json_to_scored_points(v: &Json) -> ApiResult<Vec<proto::ScoredPoint>> {
    as_array(v, "list of scored points")?
        .iter()
        .map(json_to_scored_point)
        .collect()
}

/// REST `Record` → `qdrant.RetrievedPoint`.
pub fn json_to_retrieved_point(v: &Json) -> ApiResult<proto::RetrievedPoint> {
    let (id, payload, vectors) = point_parts(v)?;
    Ok(proto::RetrievedPoint {
        id: Some(id),
        payload,
        vectors,
        shard_key: None,
        order_value: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::convert::common::json_to_payload;

    fn dense(data: Vec<f32>) -> proto::Vector {
        proto::Vector {
            vector: Some(vector::Vector::Dense(proto::DenseVector { data })),
            ..proto::Vector::default()
        }
    }

    fn sparse(indices: Vec<u32>, values: Vec<f32>) -> proto::Vector {
        proto::Vector {
            vector: Some(vector::Vector::Sparse(proto::SparseVector {
                values,
                indices,
            })),
            ..proto::Vector::default()
        }
    }

    #[test]
    fn dense_named_and_sparse_vectors_round_trip() {
        let unnamed = proto::Vectors {
            vectors_options: Some(VectorsOptions::Vector(dense(vec![0.1, -2.0, 3.5]))),
        };
        let json = vectors_to_json(unnamed).unwrap();
        assert_eq!(json, json!([0.1, -2.0, 3.5]));
        let out = json_to_vectors_output(&json).unwrap().unwrap();
        assert_eq!(
            out.vectors_options,
            Some(vectors_output::VectorsOptions::Vector(dense_output(vec![
                0.1, -2.0, 3.5
            ])))
        );

        let named = proto::Vectors {
            vectors_options: Some(VectorsOptions::Vectors(proto::NamedVectors {
                vectors: HashMap::from([
                    ("image".to_string(), dense(vec![1.0, 2.0])),
                    ("text".to_string(), sparse(vec![3, 17], vec![0.5, 0.25])),
                ]),
            })),
        };
        let json = vectors_to_json(named).unwrap();
        assert_eq!(
            json,
            json!({"image": [1.0, 2.0], "text": {"indices": [3, 17], "values": [0.5, 0.25]}})
        );
        let Some(vectors_output::VectorsOptions::Vectors(out)) = json_to_vectors_output(&json)
            .unwrap()
            .unwrap()
            .vectors_options
        else {
            panic!("expected named vectors");
        };
        assert_eq!(out.vectors["image"], dense_output(vec![1.0, 2.0]));
        assert_eq!(
            out.vectors["text"].vector,
            Some(vector_output::Vector::Sparse(proto::SparseVector {
                values: vec![0.5, 0.25],
                indices: vec![3, 17],
            }))
        );
    }

    #[test]
    fn the_older_vector_encoding_is_read() {
        let legacy_dense = proto::Vector {
            data: vec![1.0, 2.0],
            ..proto::Vector::default()
        };
        assert_eq!(
            vector_to_json(legacy_dense, "v").unwrap(),
            json!([1.0, 2.0])
        );
        let legacy_sparse = proto::Vector {
            data: vec![0.5],
            indices: Some(proto::SparseIndices { data: vec![9] }),
            ..proto::Vector::default()
        };
        assert_eq!(
            vector_to_json(legacy_sparse, "v").unwrap(),
            json!({"indices": [9], "values": [0.5]})
        );
        let legacy_multi = proto::Vector {
            data: vec![1.0, 2.0, 3.0, 4.0],
            vectors_count: Some(2),
            ..proto::Vector::default()
        };
        let multi = vector_to_json(legacy_multi, "v").unwrap();
        assert_eq!(multi, json!([[1.0, 2.0], [3.0, 4.0]]));
        let out = json_to_vector_output(&multi).unwrap();
        assert!(matches!(
            out.vector,
            Some(vector_output::Vector::MultiDense(m)) if m.vectors.len() == 2
        ));
    }

    #[test]
    fn nan_components_and_mismatched_sparse_vectors_are_invalid() {
        let err = vector_to_json(dense(vec![1.0, f32::NAN]), "vector").unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::BadRequest);
        assert!(err.message().contains("not a finite number"), "{err}");
        assert!(vector_to_json(sparse(vec![1, 2], vec![1.0]), "v").is_err());
        assert!(vectors_to_json(proto::Vectors::default()).is_err());
    }

    #[test]
    fn query_inputs_have_rest_shapes() {
        let id = proto::VectorInput {
            variant: Some(Variant::Id(proto::PointId {
                point_id_options: Some(proto::point_id::PointIdOptions::Num(4)),
            })),
        };
        assert_eq!(vector_input_to_json(id).unwrap(), json!(4));
        let doc = proto::VectorInput {
            variant: Some(Variant::Document(proto::Document {
                text: "grape seed".into(),
                ..proto::Document::default()
            })),
        };
        assert_eq!(
            vector_input_to_json(doc).unwrap(),
            json!({"text": "grape seed"})
        );
        assert!(vector_input_to_json(proto::VectorInput::default()).is_err());
    }

    #[test]
    fn scored_points_come_from_rest_json() {
        let rest = json!({
            "id": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26",
            "version": 3,
            "score": 0.75,
            "payload": {"n": 1, "x": 1.5, "tags": ["a"], "meta": {"k": null}},
            "vector": {"dense": [1.0, 0.0], "sparse": {"indices": [1], "values": [2.0]}},
            "shard_key": null,
            "order_value": null,
        });
        let p = json_to_scored_point(&rest).unwrap();
        assert_eq!(
            p.id.unwrap().point_id_options,
            Some(proto::point_id::PointIdOptions::Uuid(
                "5c56c793-69f3-4fbf-87e6-c4bf54c28c26".into()
            ))
        );
        assert_eq!(p.score, 0.75);
        assert_eq!(p.version, 3);
        assert_eq!(
            p.payload,
            json_to_payload(rest["payload"].as_object().unwrap())
        );
        let back = Json::Object(payload_to_json(p.payload).unwrap());
        assert_eq!(back, rest["payload"]);
        assert!(p.vectors.is_some());

        let record = json!({"id": 9, "payload": null, "vector": null});
        let r = json_to_retrieved_point(&record).unwrap();
        assert!(r.payload.is_empty());
        assert!(r.vectors.is_none());
        assert!(json_to_scored_point(&json!({"id": 1})).is_err());
    }
}
