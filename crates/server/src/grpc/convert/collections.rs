//! Collections and aliases: requests → REST bodies, REST results →
//! responses (collection info above all).

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use super::common::{
    as_array, as_object, bad, field, finite, json_to_payload, json_to_timestamp, payload_to_json,
    unexpected,
};
use crate::error::ApiResult;
use crate::grpc::proto::{
    self, alias_operations::Action, quantization_config, quantization_config_diff, vectors_config,
    vectors_config_diff,
};

fn put(m: &mut Map<String, Json>, key: &str, v: Option<impl Into<Json>>) {
    if let Some(v) = v {
        m.insert(key.into(), v.into());
    }
}

fn distance_name(d: i32) -> ApiResult<&'static str> {
    match proto::Distance::try_from(d) {
        Ok(proto::Distance::Cosine) => Ok("Cosine"),
        Ok(proto::Distance::Euclid) => Ok("Euclid"),
        Ok(proto::Distance::Dot) => Ok("Dot"),
        Ok(proto::Distance::Manhattan) => Ok("Manhattan"),
        _ => Err(bad(format!(
            "unknown distance {d} (expected Cosine, Euclid, Dot or Manhattan)"
        ))),
    }
}

fn datatype_name(d: i32) -> ApiResult<Option<&'static str>> {
    match proto::Datatype::try_from(d) {
        Ok(proto::Datatype::Default) => Ok(None),
        Ok(proto::Datatype::Float32) => Ok(Some("float32")),
        Ok(proto::Datatype::Uint8) => Ok(Some("uint8")),
        Ok(proto::Datatype::Float16) => Ok(Some("float16")),
        Err(_) => Err(bad(format!("datatype {d} is not supported by grape"))),
    }
}

/// `HnswConfigDiff` → REST (set fields only).
pub fn hnsw_to_json(h: proto::HnswConfigDiff) -> Json {
    let mut m = Map::new();
    put(&mut m, "m", h.m);
    put(&mut m, "ef_construct", h.ef_construct);
    put(&mut m, "full_scan_threshold", h.full_scan_threshold);
    put(&mut m, "max_indexing_threads", h.max_indexing_threads);
    put(&mut m, "on_disk", h.on_disk);
    put(&mut m, "payload_m", h.payload_m);
    put(&mut m, "inline_storage", h.inline_storage);
    Json::Object(m)
}

fn scalar_json(s: proto::ScalarQuantization) -> ApiResult<Json> {
    if proto::QuantizationType::try_from(s.r#type) != Ok(proto::QuantizationType::Int8) {
        return Err(bad("scalar quantization type must be int8"));
    }
    let mut m = Map::new();
    m.insert("type".into(), json!("int8"));
    if let Some(q) = s.quantile {
        m.insert("quantile".into(), super::common::f32_json(q, "quantile")?);
    }
    put(&mut m, "always_ram", s.always_ram);
    Ok(json!({ "scalar": m }))
}

fn product_json(p: proto::ProductQuantization) -> ApiResult<Json> {
    let compression = proto::CompressionRatio::try_from(p.compression)
        .map_err(|_| bad(format!("unknown compression ratio {}", p.compression)))?
        .as_str_name();
    let mut m = Map::new();
    m.insert("compression".into(), json!(compression));
    put(&mut m, "always_ram", p.always_ram);
    Ok(json!({ "product": m }))
}

fn binary_json(b: proto::BinaryQuantization) -> ApiResult<Json> {
    let mut m = Map::new();
    put(&mut m, "always_ram", b.always_ram);
    if let Some(e) = b.encoding {
        let name = match proto::BinaryQuantizationEncoding::try_from(e) {
            Ok(proto::BinaryQuantizationEncoding::OneBit) => "one_bit",
            Ok(proto::BinaryQuantizationEncoding::TwoBits) => "two_bits",
            Ok(proto::BinaryQuantizationEncoding::OneAndHalfBits) => "one_and_half_bits",
            Err(_) => return Err(bad(format!("unknown binary quantization encoding {e}"))),
        };
        m.insert("encoding".into(), json!(name));
    }
    if let Some(q) = b.query_encoding.and_then(|q| q.variant) {
        use proto::binary_quantization_query_encoding::{Setting, Variant};
        let Variant::Setting(s) = q;
        let name = match Setting::try_from(s) {
            Ok(Setting::Default) => "default",
            Ok(Setting::Binary) => "binary",
            Ok(Setting::Scalar4Bits) => "scalar4bits",
            Ok(Setting::Scalar8Bits) => "scalar8bits",
            Err(_) => return Err(bad(format!("unknown binary query encoding {s}"))),
        };
        m.insert("query_encoding".into(), json!(name));
    }
    Ok(json!({ "binary": m }))
}

/// `QuantizationConfig` → REST.
pub fn quantization_to_json(q: proto::QuantizationConfig) -> ApiResult<Json> {
    match q.quantization {
        Some(quantization_config::Quantization::Scalar(s)) => scalar_json(s),
        Some(quantization_config::Quantization::Product(p)) => product_json(p),
        Some(quantization_config::Quantization::Binary(b)) => binary_json(b),
        None => Err(bad("quantization_config without a kind")),
    }
}

fn quantization_diff_to_json(q: proto::QuantizationConfigDiff) -> ApiResult<Json> {
    use quantization_config_diff::Quantization as Q;
    match q.quantization {
        Some(Q::Scalar(s)) => scalar_json(s),
        Some(Q::Product(p)) => product_json(p),
        Some(Q::Binary(b)) => binary_json(b),
        Some(Q::Disabled(_)) => Ok(json!("Disabled")),
        None => Err(bad("quantization_config without a kind")),
    }
}

/// `VectorParams` → REST.
pub fn vector_params_to_json(p: proto::VectorParams) -> ApiResult<Json> {
    let mut m = Map::new();
    m.insert("size".into(), json!(p.size));
    m.insert("distance".into(), json!(distance_name(p.distance)?));
    put(&mut m, "hnsw_config", p.hnsw_config.map(hnsw_to_json));
    put(
        &mut m,
        "quantization_config",
        p.quantization_config
            .map(quantization_to_json)
            .transpose()?,
    );
    put(&mut m, "on_disk", p.on_disk);
    put(
        &mut m,
        "datatype",
        p.datatype.map(datatype_name).transpose()?.flatten(),
    );
    put(
        &mut m,
        "multivector_config",
        p.multivector_config
            .map(|_| json!({"comparator": "max_sim"})),
    );
    Ok(Json::Object(m))
}

fn sparse_config_to_json(s: proto::SparseVectorConfig) -> ApiResult<Json> {
    let mut out = Map::new();
    for (name, p) in s.map {
        let mut m = Map::new();
        if let Some(index) = p.index {
            let mut i = Map::new();
            put(&mut i, "full_scan_threshold", index.full_scan_threshold);
            put(&mut i, "on_disk", index.on_disk);
            put(
                &mut i,
                "datatype",
                index.datatype.map(datatype_name).transpose()?.flatten(),
            );
            m.insert("index".into(), Json::Object(i));
        }
        if let Some(modifier) = p.modifier {
            let name = match proto::Modifier::try_from(modifier) {
                Ok(proto::Modifier::None) => "none",
                Ok(proto::Modifier::Idf) => "idf",
                Err(_) => return Err(bad(format!("unknown sparse modifier {modifier}"))),
            };
            m.insert("modifier".into(), json!(name));
        }
        out.insert(name, Json::Object(m));
    }
    Ok(Json::Object(out))
}

fn wal_to_json(w: proto::WalConfigDiff) -> Json {
    let mut m = Map::new();
    put(&mut m, "wal_capacity_mb", w.wal_capacity_mb);
    put(&mut m, "wal_segments_ahead", w.wal_segments_ahead);
    put(&mut m, "wal_retain_closed", w.wal_retain_closed);
    Json::Object(m)
}

fn optimizers_to_json(o: proto::OptimizersConfigDiff) -> ApiResult<Json> {
    let mut m = Map::new();
    if let Some(x) = o.deleted_threshold {
        m.insert("deleted_threshold".into(), finite(x, "deleted_threshold")?);
    }
    put(
        &mut m,
        "vacuum_min_vector_number",
        o.vacuum_min_vector_number,
    );
    put(&mut m, "default_segment_number", o.default_segment_number);
    put(&mut m, "max_segment_size", o.max_segment_size);
    put(&mut m, "memmap_threshold", o.memmap_threshold);
    put(&mut m, "indexing_threshold", o.indexing_threshold);
    put(&mut m, "flush_interval_sec", o.flush_interval_sec);
    put(
        &mut m,
        "max_optimization_threads",
        o.deprecated_max_optimization_threads,
    );
    if let Some(proto::max_optimization_threads::Variant::Value(n)) =
        o.max_optimization_threads.and_then(|t| t.variant)
    {
        m.insert("max_optimization_threads".into(), json!(n));
    }
    Ok(Json::Object(m))
}

fn sharding_name(s: i32) -> &'static str {
    match proto::ShardingMethod::try_from(s) {
        Ok(proto::ShardingMethod::Custom) => "custom",
        _ => "auto",
    }
}

fn metadata_json(m: HashMap<String, proto::Value>) -> ApiResult<Option<Json>> {
    if m.is_empty() {
        return Ok(None);
    }
    Ok(Some(Json::Object(payload_to_json(m)?)))
}

/// `Create` → (collection, REST create-collection body).
pub fn create(r: proto::CreateCollection) -> ApiResult<(String, Json)> {
    let mut m = Map::new();
    let vectors = match r.vectors_config.and_then(|c| c.config) {
        Some(vectors_config::Config::Params(p)) => Some(vector_params_to_json(p)?),
        Some(vectors_config::Config::ParamsMap(map)) => Some(Json::Object(
            map.map
                .into_iter()
                .map(|(name, p)| vector_params_to_json(p).map(|p| (name, p)))
                .collect::<ApiResult<_>>()?,
        )),
        None => None,
    };
    put(&mut m, "vectors", vectors);
    put(
        &mut m,
        "sparse_vectors",
        r.sparse_vectors_config
            .map(sparse_config_to_json)
            .transpose()?,
    );
    put(&mut m, "hnsw_config", r.hnsw_config.map(hnsw_to_json));
    put(&mut m, "wal_config", r.wal_config.map(wal_to_json));
    put(
        &mut m,
        "optimizers_config",
        r.optimizers_config.map(optimizers_to_json).transpose()?,
    );
    put(&mut m, "shard_number", r.shard_number);
    put(
        &mut m,
        "sharding_method",
        r.sharding_method.map(sharding_name),
    );
    put(&mut m, "replication_factor", r.replication_factor);
    put(
        &mut m,
        "write_consistency_factor",
        r.write_consistency_factor,
    );
    put(&mut m, "on_disk_payload", r.on_disk_payload);
    put(
        &mut m,
        "quantization_config",
        r.quantization_config
            .map(quantization_to_json)
            .transpose()?,
    );
    put(&mut m, "metadata", metadata_json(r.metadata)?);
    Ok((r.collection_name, Json::Object(m)))
}

/// `Update` → (collection, REST update-collection body).
pub fn update(r: proto::UpdateCollection) -> ApiResult<(String, Json)> {
    let mut m = Map::new();
    put(
        &mut m,
        "optimizers_config",
        r.optimizers_config.map(optimizers_to_json).transpose()?,
    );
    if let Some(p) = r.params {
        let mut params = Map::new();
        put(&mut params, "replication_factor", p.replication_factor);
        put(
            &mut params,
            "write_consistency_factor",
            p.write_consistency_factor,
        );
        put(&mut params, "on_disk_payload", p.on_disk_payload);
        put(&mut params, "read_fan_out_factor", p.read_fan_out_factor);
        m.insert("params".into(), Json::Object(params));
    }
    put(&mut m, "hnsw_config", r.hnsw_config.map(hnsw_to_json));
    if let Some(config) = r.vectors_config.and_then(|c| c.config) {
        let diff = |d: proto::VectorParamsDiff| -> ApiResult<Json> {
            let mut v = Map::new();
            put(&mut v, "hnsw_config", d.hnsw_config.map(hnsw_to_json));
            put(
                &mut v,
                "quantization_config",
                d.quantization_config
                    .map(quantization_diff_to_json)
                    .transpose()?,
            );
            put(&mut v, "on_disk", d.on_disk);
            Ok(Json::Object(v))
        };
        let vectors = match config {
            vectors_config_diff::Config::Params(d) => json!({ "": diff(d)? }),
            vectors_config_diff::Config::ParamsMap(map) => Json::Object(
                map.map
                    .into_iter()
                    .map(|(name, d)| diff(d).map(|d| (name, d)))
                    .collect::<ApiResult<_>>()?,
            ),
        };
        m.insert("vectors".into(), vectors);
    }
    put(
        &mut m,
        "quantization_config",
        r.quantization_config
            .map(quantization_diff_to_json)
            .transpose()?,
    );
    put(
        &mut m,
        "sparse_vectors",
        r.sparse_vectors_config
            .map(sparse_config_to_json)
            .transpose()?,
    );
    put(&mut m, "metadata", metadata_json(r.metadata)?);
    Ok((r.collection_name, Json::Object(m)))
}

/// `UpdateAliases` → the REST `{"actions": [..]}` body.
pub fn change_aliases(r: proto::ChangeAliases) -> ApiResult<Json> {
    let actions = r
        .actions
        .into_iter()
        .map(|a| match a.action {
            Some(Action::CreateAlias(c)) => Ok(json!({"create_alias": {
                "collection_name": c.collection_name, "alias_name": c.alias_name}})),
            Some(Action::RenameAlias(c)) => Ok(json!({"rename_alias": {
                "old_alias_name": c.old_alias_name, "new_alias_name": c.new_alias_name}})),
            Some(Action::DeleteAlias(c)) => {
                Ok(json!({"delete_alias": {"alias_name": c.alias_name}}))
            }
            None => Err(bad("alias operation without an action")),
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(json!({ "actions": actions }))
}

// ---- results ----

/// REST `{"collections": [{"name"}]}` → descriptions.
pub fn json_to_collection_list(v: &Json) -> ApiResult<Vec<proto::CollectionDescription>> {
    as_array(
        as_object(v, "collection list")?
            .get("collections")
            .unwrap_or(&Json::Null),
        "collections",
    )?
    .iter()
    .map(|c| {
        let name = c
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| unexpected("collection description", c))?;
        Ok(proto::CollectionDescription {
            name: name.to_string(),
        })
    })
    .collect()
}

/// REST `{"aliases": [{"alias_name", "collection_name"}]}` → descriptions.
pub fn json_to_aliases(v: &Json) -> ApiResult<Vec<proto::AliasDescription>> {
    as_array(
        as_object(v, "alias list")?
            .get("aliases")
            .unwrap_or(&Json::Null),
        "aliases",
    )?
    .iter()
    .map(|a| {
        let s = |k: &str| {
            a.get(k)
                .and_then(Json::as_str)
                .map(str::to_string)
                .ok_or_else(|| unexpected("alias description", a))
        };
        Ok(proto::AliasDescription {
            alias_name: s("alias_name")?,
            collection_name: s("collection_name")?,
        })
    })
    .collect()
}

/// REST `{"exists": bool}` → bool.
pub fn json_to_exists(v: &Json) -> ApiResult<bool> {
    v.get("exists")
        .and_then(Json::as_bool)
        .ok_or_else(|| unexpected("exists result", v))
}

fn u64_of(m: &Map<String, Json>, k: &str) -> Option<u64> {
    field(m, k).and_then(Json::as_u64)
}

fn u32_of(m: &Map<String, Json>, k: &str) -> Option<u32> {
    u64_of(m, k).and_then(|n| u32::try_from(n).ok())
}

fn bool_of(m: &Map<String, Json>, k: &str) -> Option<bool> {
    field(m, k).and_then(Json::as_bool)
}

fn json_to_hnsw(v: Option<&Json>) -> proto::HnswConfigDiff {
    let Some(m) = v.and_then(Json::as_object) else {
        return proto::HnswConfigDiff::default();
    };
    proto::HnswConfigDiff {
        m: u64_of(m, "m"),
        ef_construct: u64_of(m, "ef_construct"),
        full_scan_threshold: u64_of(m, "full_scan_threshold"),
        max_indexing_threads: u64_of(m, "max_indexing_threads"),
        on_disk: bool_of(m, "on_disk"),
        payload_m: u64_of(m, "payload_m"),
        inline_storage: bool_of(m, "inline_storage"),
    }
}

fn json_to_quantization(v: &Json) -> ApiResult<proto::QuantizationConfig> {
    use quantization_config::Quantization as Q;
    let m = as_object(v, "quantization config")?;
    let q = if let Some(s) = field(m, "scalar").and_then(Json::as_object) {
        Q::Scalar(proto::ScalarQuantization {
            r#type: proto::QuantizationType::Int8 as i32,
            quantile: field(s, "quantile")
                .and_then(Json::as_f64)
                .map(|q| q as f32),
            always_ram: bool_of(s, "always_ram"),
        })
    } else if let Some(p) = field(m, "product").and_then(Json::as_object) {
        let compression = field(p, "compression")
            .and_then(Json::as_str)
            .and_then(proto::CompressionRatio::from_str_name)
            .unwrap_or(proto::CompressionRatio::X16);
        Q::Product(proto::ProductQuantization {
            compression: compression as i32,
            always_ram: bool_of(p, "always_ram"),
        })
    } else if let Some(b) = field(m, "binary").and_then(Json::as_object) {
        Q::Binary(proto::BinaryQuantization {
            always_ram: bool_of(b, "always_ram"),
            encoding: None,
            query_encoding: None,
        })
    } else {
        return Err(unexpected("quantization config", v));
    };
    Ok(proto::QuantizationConfig {
        quantization: Some(q),
    })
}

fn json_to_distance(v: Option<&Json>) -> ApiResult<proto::Distance> {
    match v.and_then(Json::as_str) {
        Some("Cosine") => Ok(proto::Distance::Cosine),
        Some("Euclid") => Ok(proto::Distance::Euclid),
        Some("Dot") => Ok(proto::Distance::Dot),
        Some("Manhattan") => Ok(proto::Distance::Manhattan),
        _ => Err(unexpected("distance", v.unwrap_or(&Json::Null))),
    }
}

fn json_to_vector_params(v: &Json) -> ApiResult<proto::VectorParams> {
    let m = as_object(v, "vector params")?;
    Ok(proto::VectorParams {
        size: u64_of(m, "size").ok_or_else(|| unexpected("vector params", v))?,
        distance: json_to_distance(m.get("distance"))? as i32,
        hnsw_config: field(m, "hnsw_config").map(|h| json_to_hnsw(Some(h))),
        quantization_config: field(m, "quantization_config")
            .map(json_to_quantization)
            .transpose()?,
        on_disk: bool_of(m, "on_disk"),
        datatype: match field(m, "datatype").and_then(Json::as_str) {
            Some("float32") => Some(proto::Datatype::Float32 as i32),
            Some("uint8") => Some(proto::Datatype::Uint8 as i32),
            Some("float16") => Some(proto::Datatype::Float16 as i32),
            _ => None,
        },
        multivector_config: field(m, "multivector_config").map(|_| proto::MultiVectorConfig {
            comparator: proto::MultiVectorComparator::MaxSim as i32,
        }),
    })
}

fn json_to_vectors_config(v: &Json) -> ApiResult<proto::VectorsConfig> {
    let m = as_object(v, "vectors config")?;
    let config = if m.contains_key("size") {
        vectors_config::Config::Params(json_to_vector_params(v)?)
    } else {
        vectors_config::Config::ParamsMap(proto::VectorParamsMap {
            map: m
                .iter()
                .map(|(name, p)| json_to_vector_params(p).map(|p| (name.clone(), p)))
                .collect::<ApiResult<_>>()?,
        })
    };
    Ok(proto::VectorsConfig {
        config: Some(config),
    })
}

fn json_to_sparse_config(v: &Json) -> ApiResult<proto::SparseVectorConfig> {
    let map = as_object(v, "sparse vectors config")?
        .iter()
        .map(|(name, p)| {
            let p = as_object(p, "sparse vector params")?;
            let index =
                field(p, "index")
                    .and_then(Json::as_object)
                    .map(|i| proto::SparseIndexConfig {
                        full_scan_threshold: u64_of(i, "full_scan_threshold"),
                        on_disk: bool_of(i, "on_disk"),
                        datatype: None,
                    });
            let modifier = match field(p, "modifier").and_then(Json::as_str) {
                Some("idf") => Some(proto::Modifier::Idf as i32),
                Some("none") => Some(proto::Modifier::None as i32),
                _ => None,
            };
            Ok((name.clone(), proto::SparseVectorParams { index, modifier }))
        })
        .collect::<ApiResult<_>>()?;
    Ok(proto::SparseVectorConfig { map })
}

fn json_to_optimizers(v: Option<&Json>) -> proto::OptimizersConfigDiff {
    let Some(m) = v.and_then(Json::as_object) else {
        return proto::OptimizersConfigDiff::default();
    };
    proto::OptimizersConfigDiff {
        deleted_threshold: field(m, "deleted_threshold").and_then(Json::as_f64),
        vacuum_min_vector_number: u64_of(m, "vacuum_min_vector_number"),
        default_segment_number: u64_of(m, "default_segment_number"),
        max_segment_size: u64_of(m, "max_segment_size"),
        memmap_threshold: u64_of(m, "memmap_threshold"),
        indexing_threshold: u64_of(m, "indexing_threshold"),
        flush_interval_sec: u64_of(m, "flush_interval_sec"),
        deprecated_max_optimization_threads: None,
        max_optimization_threads: Some(proto::MaxOptimizationThreads {
            variant: Some(match u64_of(m, "max_optimization_threads") {
                Some(n) => proto::max_optimization_threads::Variant::Value(n),
                None => proto::max_optimization_threads::Variant::Setting(
                    proto::max_optimization_threads::Setting::Auto as i32,
                ),
            }),
        }),
    }
}

fn json_to_wal(v: Option<&Json>) -> proto::WalConfigDiff {
    let Some(m) = v.and_then(Json::as_object) else {
        return proto::WalConfigDiff::default();
    };
    proto::WalConfigDiff {
        wal_capacity_mb: u64_of(m, "wal_capacity_mb"),
        wal_segments_ahead: u64_of(m, "wal_segments_ahead"),
        wal_retain_closed: u64_of(m, "wal_retain_closed"),
    }
}

fn json_to_schema_type(v: Option<&Json>) -> proto::PayloadSchemaType {
    use proto::PayloadSchemaType as T;
    match v.and_then(Json::as_str) {
        Some("keyword") => T::Keyword,
        Some("integer") => T::Integer,
        Some("float") => T::Float,
        Some("geo") => T::Geo,
        Some("text") => T::Text,
        Some("bool") => T::Bool,
        Some("datetime") => T::Datetime,
        Some("uuid") => T::Uuid,
        _ => T::UnknownType,
    }
}

/// REST `CollectionInfo` → `qdrant.CollectionInfo`.
pub fn json_to_collection_info(v: &Json) -> ApiResult<proto::CollectionInfo> {
    let m = as_object(v, "collection info")?;
    let status = match field(m, "status").and_then(Json::as_str) {
        Some("green") => proto::CollectionStatus::Green,
        Some("yellow") => proto::CollectionStatus::Yellow,
        Some("red") => proto::CollectionStatus::Red,
        Some("grey") => proto::CollectionStatus::Grey,
        _ => proto::CollectionStatus::UnknownCollectionStatus,
    };
    let optimizer_status = match field(m, "optimizer_status") {
        Some(Json::String(s)) if s == "ok" => proto::OptimizerStatus {
            ok: true,
            error: String::new(),
        },
        Some(other) => proto::OptimizerStatus {
            ok: false,
            error: other
                .get("error")
                .and_then(Json::as_str)
                .unwrap_or("unknown")
                .to_string(),
        },
        None => proto::OptimizerStatus {
            ok: true,
            error: String::new(),
        },
    };
    let empty = Map::new();
    let config = field(m, "config")
        .and_then(Json::as_object)
        .unwrap_or(&empty);
    let params = field(config, "params")
        .and_then(Json::as_object)
        .unwrap_or(&empty);
    let collection_params = proto::CollectionParams {
        shard_number: u32_of(params, "shard_number").unwrap_or(1),
        on_disk_payload: bool_of(params, "on_disk_payload").unwrap_or(false),
        vectors_config: field(params, "vectors")
            .map(json_to_vectors_config)
            .transpose()?,
        replication_factor: u32_of(params, "replication_factor"),
        write_consistency_factor: u32_of(params, "write_consistency_factor"),
        read_fan_out_factor: u32_of(params, "read_fan_out_factor"),
        sharding_method: None,
        sparse_vectors_config: field(params, "sparse_vectors")
            .map(json_to_sparse_config)
            .transpose()?,
    };
    let payload_schema = match field(m, "payload_schema") {
        None => HashMap::new(),
        Some(s) => as_object(s, "payload schema")?
            .iter()
            .map(|(name, info)| {
                let info = as_object(info, "payload index info")?;
                Ok((
                    name.clone(),
                    proto::PayloadSchemaInfo {
                        data_type: json_to_schema_type(info.get("data_type")) as i32,
                        params: None,
                        points: u64_of(info, "points"),
                    },
                ))
            })
            .collect::<ApiResult<_>>()?,
    };
    let warnings = match field(m, "warnings") {
        None => Vec::new(),
        Some(w) => as_array(w, "warnings")?
            .iter()
            .map(|w| proto::CollectionWarning {
                message: w
                    .get("message")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect(),
    };
    Ok(proto::CollectionInfo {
        status: status as i32,
        optimizer_status: Some(optimizer_status),
        segments_count: u64_of(m, "segments_count").unwrap_or(1),
        config: Some(proto::CollectionConfig {
            params: Some(collection_params),
            hnsw_config: Some(json_to_hnsw(field(config, "hnsw_config"))),
            optimizer_config: Some(json_to_optimizers(field(config, "optimizer_config"))),
            wal_config: Some(json_to_wal(field(config, "wal_config"))),
            quantization_config: field(config, "quantization_config")
                .map(json_to_quantization)
                .transpose()?,
            metadata: match field(config, "metadata") {
                Some(Json::Object(meta)) => json_to_payload(meta),
                _ => HashMap::new(),
            },
        }),
        payload_schema,
        points_count: u64_of(m, "points_count"),
        indexed_vectors_count: u64_of(m, "indexed_vectors_count"),
        warnings,
        created_at: field(m, "created_at").map(json_to_timestamp).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(size: u64, distance: proto::Distance) -> proto::VectorParams {
        proto::VectorParams {
            size,
            distance: distance as i32,
            ..proto::VectorParams::default()
        }
    }

    #[test]
    fn create_collection_becomes_qdrants_rest_body() {
        let r = proto::CreateCollection {
            collection_name: "c".into(),
            vectors_config: Some(proto::VectorsConfig {
                config: Some(vectors_config::Config::ParamsMap(proto::VectorParamsMap {
                    map: HashMap::from([(
                        "img".to_string(),
                        proto::VectorParams {
                            hnsw_config: Some(proto::HnswConfigDiff {
                                m: Some(8),
                                ..proto::HnswConfigDiff::default()
                            }),
                            quantization_config: Some(proto::QuantizationConfig {
                                quantization: Some(quantization_config::Quantization::Scalar(
                                    proto::ScalarQuantization {
                                        r#type: proto::QuantizationType::Int8 as i32,
                                        quantile: Some(0.99),
                                        always_ram: None,
                                    },
                                )),
                            }),
                            ..params(4, proto::Distance::Dot)
                        },
                    )]),
                })),
            }),
            sparse_vectors_config: Some(proto::SparseVectorConfig {
                map: HashMap::from([(
                    "words".to_string(),
                    proto::SparseVectorParams {
                        index: None,
                        modifier: Some(proto::Modifier::Idf as i32),
                    },
                )]),
            }),
            shard_number: Some(1),
            ..proto::CreateCollection::default()
        };
        let (name, body) = create(r).unwrap();
        assert_eq!(name, "c");
        assert_eq!(
            body,
            json!({
                "vectors": {"img": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 8},
                    "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99}}}},
                "sparse_vectors": {"words": {"modifier": "idf"}},
                "shard_number": 1,
            })
        );
        // The core accepts the body as a collection configuration.
        grape_core::CollectionConfig::from_value(&body).unwrap();
        let unknown = proto::CreateCollection {
            vectors_config: Some(proto::VectorsConfig {
                config: Some(vectors_config::Config::Params(params(
                    4,
                    proto::Distance::UnknownDistance,
                ))),
            }),
            ..proto::CreateCollection::default()
        };
        assert!(create(unknown).is_err());
    }

    #[test]
    fn collection_info_comes_from_rest_json() {
        let rest = json!({
            "status": "green",
            "optimizer_status": "ok",
            "indexed_vectors_count": 3,
            "points_count": 3,
            "segments_count": 1,
            "config": {
                "params": {
                    "vectors": {"size": 4, "distance": "Cosine",
                                "hnsw_config": {"m": 16, "ef_construct": 100}, "on_disk": false},
                    "shard_number": 1,
                    "replication_factor": 1,
                    "write_consistency_factor": 1,
                    "on_disk_payload": false,
                    "sparse_vectors": {"s": {"modifier": "idf"}},
                },
                "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 1000},
                "optimizer_config": {"deleted_threshold": 0.1, "flush_interval_sec": 5,
                                     "max_optimization_threads": null},
                "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
                "quantization_config": {"scalar": {"type": "int8", "quantile": 0.5}},
                "strict_mode_config": null,
            },
            "payload_schema": {"city": {"data_type": "keyword", "params": null, "points": 3}},
            "grape": {"text_fields": [], "write_seq": 4},
        });
        let info = json_to_collection_info(&rest).unwrap();
        assert_eq!(info.status, proto::CollectionStatus::Green as i32);
        assert!(info.optimizer_status.as_ref().unwrap().ok);
        assert_eq!(info.points_count, Some(3));
        let config = info.config.unwrap();
        let params = config.params.unwrap();
        assert_eq!(params.shard_number, 1);
        let Some(vectors_config::Config::Params(v)) = params.vectors_config.unwrap().config else {
            panic!("expected one unnamed vector");
        };
        assert_eq!(v.size, 4);
        assert_eq!(v.distance, proto::Distance::Cosine as i32);
        assert_eq!(v.hnsw_config.unwrap().m, Some(16));
        assert_eq!(
            params.sparse_vectors_config.unwrap().map["s"].modifier,
            Some(proto::Modifier::Idf as i32)
        );
        assert_eq!(config.hnsw_config.unwrap().full_scan_threshold, Some(1000));
        assert_eq!(config.wal_config.unwrap().wal_capacity_mb, Some(32));
        assert!(config.quantization_config.is_some());
        assert_eq!(
            info.payload_schema["city"].data_type,
            proto::PayloadSchemaType::Keyword as i32
        );
        // The vector parameters go back to the same REST shape (round trip).
        let back = vector_params_to_json(v).unwrap();
        assert_eq!(back["size"], json!(4));
        assert_eq!(back["distance"], json!("Cosine"));
        assert_eq!(back["hnsw_config"], json!({"m": 16, "ef_construct": 100}));
        assert_eq!(back["on_disk"], json!(false));
    }

    #[test]
    fn alias_actions_and_lists() {
        let r = proto::ChangeAliases {
            actions: vec![
                proto::AliasOperations {
                    action: Some(Action::CreateAlias(proto::CreateAlias {
                        collection_name: "c".into(),
                        alias_name: "a".into(),
                    })),
                },
                proto::AliasOperations {
                    action: Some(Action::DeleteAlias(proto::DeleteAlias {
                        alias_name: "b".into(),
                    })),
                },
            ],
            timeout: None,
        };
        assert_eq!(
            change_aliases(r).unwrap(),
            json!({"actions": [
                {"create_alias": {"collection_name": "c", "alias_name": "a"}},
                {"delete_alias": {"alias_name": "b"}},
            ]})
        );
        let list =
            json_to_aliases(&json!({"aliases": [{"alias_name": "a", "collection_name": "c"}]}))
                .unwrap();
        assert_eq!(list[0].alias_name, "a");
        assert!(json_to_exists(&json!({"exists": true})).unwrap());
        assert!(json_to_exists(&json!({})).is_err());
    }
}
