//! Collections and points from Qdrant's JSON shapes (the create-collection
//! body and `PointStruct`), so that every adapter (the npm package, the
//! server) accepts the same documents. As in [`crate::query`], `null`
//! counts as absent, unknown fields are errors, and every error names the
//! field (`vectors.title.distance: ...`).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

use serde_json::{Map, Value};

use super::{CollectionConfig, DenseQuantization, PointData, TextConfig};
use crate::error::{Error, Result};
use crate::hnsw::HnswConfig;
use crate::metric::Metric;
use crate::quant::Quantization;
use crate::query::parse::{
    boolean, check_fields, get, number, numbers, object, opt, point_id, required, sparse_indices,
    string, unsigned,
};
use crate::query::tree::field;
use crate::sparse::{Modifier, SparseVector};
use crate::text::{Bm25Params, Tokenizer};

/// Create-collection fields Qdrant has and Grape accepts without effect
/// (sharding, replication, storage and optimizer tuning of a server).
const IGNORED: [&str; 10] = [
    "shard_number",
    "sharding_method",
    "replication_factor",
    "write_consistency_factor",
    "on_disk_payload",
    "optimizers_config",
    "wal_config",
    "strict_mode_config",
    "metadata",
    "init_from",
];

/// Turns the query parser's errors into configuration errors.
fn config_err(e: Error) -> Error {
    match e {
        Error::InvalidQuery(m) => Error::InvalidConfig(m),
        other => other,
    }
}

impl CollectionConfig {
    /// Parses Qdrant's create-collection JSON: `vectors` (one unnamed
    /// `{size, distance}` or a map of named ones, each with optional
    /// `hnsw_config` and `quantization_config`), `sparse_vectors` (with
    /// `modifier`), collection-wide `hnsw_config` and `quantization_config`,
    /// and Grape's `text_fields` (BM25 over payload fields; see
    /// [`TextConfig`]). Errors are [`Error::InvalidConfig`] naming the field.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::InvalidConfig(format!("malformed json: {e}")))?;
        Self::from_value(&value)
    }

    /// [`CollectionConfig::from_json`] from a parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Self> {
        parse_config(value).map_err(config_err)
    }
}

fn parse_config(value: &Value) -> Result<CollectionConfig> {
    let map = object(value, "config")?;
    let mut allowed = alloc::vec![
        "vectors",
        "sparse_vectors",
        "hnsw_config",
        "quantization_config",
        "text_fields"
    ];
    allowed.extend(IGNORED);
    check_fields(map, &allowed, "")?;
    let hnsw = get(map, "hnsw_config");
    let quant = get(map, "quantization_config");
    let mut config = CollectionConfig::default();
    if let Some(vectors) = get(map, "vectors") {
        let vmap = object(vectors, "vectors")?;
        if vmap.contains_key("size") {
            add_dense(&mut config, String::new(), vectors, "vectors", hnsw, quant)?;
        } else {
            for (name, params) in vmap {
                let path = field("vectors", name);
                add_dense(&mut config, name.clone(), params, &path, hnsw, quant)?;
            }
        }
    }
    if let Some(sparse) = get(map, "sparse_vectors") {
        for (name, params) in object(sparse, "sparse_vectors")? {
            let path = field("sparse_vectors", name);
            let p = object(params, &path)?;
            check_fields(p, &["index", "modifier"], &path)?;
            let modifier = match opt(p, "modifier", &path, string)?.as_deref() {
                None | Some("none") => Modifier::None,
                Some("idf") => Modifier::Idf,
                Some(other) => {
                    return Err(Error::InvalidConfig(format!(
                        "{path}.modifier: expected \"idf\" or \"none\", got {other:?}"
                    )));
                }
            };
            config.sparse.insert(name.clone(), modifier);
        }
    }
    if let Some(text) = get(map, "text_fields") {
        for (name, params) in object(text, "text_fields")? {
            let path = field("text_fields", name);
            config
                .text
                .insert(name.clone(), text_config(params, &path)?);
        }
    }
    Ok(config)
}

/// One dense vector's params, with collection-wide `hnsw_config` and
/// `quantization_config` as defaults.
fn add_dense(
    config: &mut CollectionConfig,
    name: String,
    value: &Value,
    path: &str,
    hnsw_default: Option<&Value>,
    quant_default: Option<&Value>,
) -> Result<()> {
    let map = object(value, path)?;
    check_fields(
        map,
        &[
            "size",
            "distance",
            "hnsw_config",
            "quantization_config",
            "on_disk",
            "datatype",
            "multivector_config",
        ],
        path,
    )?;
    let dim = required(map, "size", path, unsigned)?;
    let distance = required(map, "distance", path, string)?;
    let metric = match distance.as_str() {
        "Cosine" => Metric::Cosine,
        "Dot" => Metric::Dot,
        "Euclid" => Metric::Euclid,
        "Manhattan" => Metric::Manhattan,
        other => {
            return Err(Error::InvalidConfig(format!(
                "{path}.distance: expected Cosine, Dot, Euclid or Manhattan, got {other:?}"
            )));
        }
    };
    only(map, "datatype", path, "float32")?;
    if get(map, "multivector_config").is_some() {
        return Err(Error::InvalidConfig(format!(
            "{path}.multivector_config is not supported"
        )));
    }
    let mut hnsw = HnswConfig::new(dim, metric);
    for (source, p) in [
        (hnsw_default, String::from("hnsw_config")),
        (get(map, "hnsw_config"), field(path, "hnsw_config")),
    ] {
        if let Some(v) = source {
            hnsw = hnsw_config(hnsw, v, &p)?;
        }
    }
    hnsw.validate()
        .map_err(|e| Error::InvalidConfig(format!("{path}: {e}")))?;
    let quant = match get(map, "quantization_config") {
        Some(v) => quantization(v, &field(path, "quantization_config"), dim)?,
        None => match quant_default {
            Some(v) => quantization(v, "quantization_config", dim)?,
            None => None,
        },
    };
    if let Some(q) = quant {
        q.quantization
            .check(dim, metric)
            .map_err(|e| Error::InvalidConfig(format!("{path}: {e}")))?;
        config.quantization.insert(name.clone(), q);
    }
    config.dense.insert(name, hnsw);
    Ok(())
}

/// Qdrant's `hnsw_config` over `base`: `m`, `ef_construct`,
/// `full_scan_threshold` (Qdrant's unit: kilobytes of vectors), and
/// Grape's `ef` (the default search `ef`).
fn hnsw_config(mut base: HnswConfig, value: &Value, path: &str) -> Result<HnswConfig> {
    let map = object(value, path)?;
    check_fields(
        map,
        &[
            "m",
            "ef_construct",
            "full_scan_threshold",
            "max_indexing_threads",
            "on_disk",
            "payload_m",
            "inline_storage",
            "ef",
        ],
        path,
    )?;
    if let Some(m) = opt(map, "m", path, unsigned)? {
        base.m = m;
    }
    if let Some(ef) = opt(map, "ef_construct", path, unsigned)? {
        base.ef_construction = ef;
    }
    if let Some(ef) = opt(map, "ef", path, unsigned)? {
        base.ef_search = ef;
    }
    if let Some(kb) = opt(map, "full_scan_threshold", path, unsigned)? {
        base.full_scan_threshold = kb.saturating_mul(1024) / (base.dim * 4).max(1);
    }
    Ok(base)
}

/// Qdrant's `quantization_config`: `{"scalar": {"type": "int8", "quantile"}}`,
/// `{"binary": {}}` or `{"product": {"compression": "x16"}}`, each with
/// `always_ram` (accepted) and Grape's `keep_originals` (default true);
/// `"Disabled"` turns a collection-wide default off for one vector.
fn quantization(value: &Value, path: &str, dim: usize) -> Result<Option<DenseQuantization>> {
    if value.as_str() == Some("Disabled") {
        return Ok(None);
    }
    let map = object(value, path)?;
    check_fields(map, &["scalar", "binary", "product"], path)?;
    if map.len() != 1 {
        return Err(Error::InvalidConfig(format!(
            "{path}: expected exactly one of scalar, binary or product"
        )));
    }
    let (kind, params) = map.iter().next().expect("one entry");
    let p_path = field(path, kind);
    let p = object(params, &p_path)?;
    let keep = |p: &Map<String, Value>| -> Result<bool> {
        Ok(opt(p, "keep_originals", &p_path, boolean)?.unwrap_or(true))
    };
    let (quantization, keep_originals) = match kind.as_str() {
        "scalar" => {
            check_fields(
                p,
                &["type", "quantile", "always_ram", "keep_originals"],
                &p_path,
            )?;
            only(p, "type", &p_path, "int8")?;
            let quantile = opt(p, "quantile", &p_path, number)?
                .unwrap_or(crate::quant::scalar::DEFAULT_QUANTILE);
            (Quantization::Scalar { quantile }, keep(p)?)
        }
        "binary" => {
            check_fields(
                p,
                &["always_ram", "encoding", "query_encoding", "keep_originals"],
                &p_path,
            )?;
            only(p, "encoding", &p_path, "one_bit")?;
            (Quantization::Binary, keep(p)?)
        }
        "product" => {
            check_fields(p, &["compression", "always_ram", "keep_originals"], &p_path)?;
            let c = required(p, "compression", &p_path, string)?;
            let ratio = match c.as_str() {
                "x4" => 4,
                "x8" => 8,
                "x16" => 16,
                "x32" => 32,
                "x64" => 64,
                other => {
                    return Err(Error::InvalidConfig(format!(
                        "{p_path}.compression: expected x4, x8, x16, x32 or x64, got {other:?}"
                    )));
                }
            };
            let q = Quantization::product_with_compression(dim, ratio)
                .map_err(|e| Error::InvalidConfig(format!("{p_path}.compression: {e}")))?;
            (q, keep(p)?)
        }
        _ => unreachable!("checked fields"),
    };
    Ok(Some(DenseQuantization {
        quantization,
        keep_originals,
    }))
}

/// Accepts the string field `key` only when absent or equal to `supported`.
fn only(map: &Map<String, Value>, key: &str, path: &str, supported: &str) -> Result<()> {
    match opt(map, key, path, string)? {
        Some(v) if v != supported => Err(Error::InvalidConfig(format!(
            "{path}.{key}: only {supported} is supported, got {v:?}"
        ))),
        _ => Ok(()),
    }
}

/// Grape's text field: `lowercase` (default true), `stopwords`
/// (`"english"` or a bool), `stemmer` (`"english"` or a bool; needs the
/// `stem` feature), `word_chars_only`, `min_token_len`, `max_token_len`,
/// `k1`, `b`.
fn text_config(value: &Value, path: &str) -> Result<TextConfig> {
    let map = object(value, path)?;
    check_fields(
        map,
        &[
            "lowercase",
            "stopwords",
            "stemmer",
            "word_chars_only",
            "min_token_len",
            "max_token_len",
            "k1",
            "b",
        ],
        path,
    )?;
    let english = |key: &str| -> Result<bool> {
        match get(map, key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "english" => Ok(true),
            Some(other) => Err(Error::InvalidConfig(format!(
                "{}: expected \"english\" or a bool, got {other}",
                field(path, key)
            ))),
        }
    };
    let mut tokenizer = Tokenizer::new()
        .lowercase(opt(map, "lowercase", path, boolean)?.unwrap_or(true))
        .english_stop_words(english("stopwords")?)
        .word_chars_only(opt(map, "word_chars_only", path, boolean)?.unwrap_or(false));
    if english("stemmer")? {
        #[cfg(feature = "stem")]
        {
            tokenizer = tokenizer.stemming(true);
        }
        #[cfg(not(feature = "stem"))]
        return Err(Error::InvalidConfig(format!(
            "{path}.stemmer: this build has no stemmer (grape-core feature `stem`)"
        )));
    }
    if let Some(n) = opt(map, "min_token_len", path, unsigned)? {
        tokenizer = tokenizer.min_token_len(n);
    }
    if let Some(n) = opt(map, "max_token_len", path, unsigned)? {
        tokenizer = tokenizer.max_token_len(n);
    }
    let defaults = Bm25Params::default();
    let bm25 = Bm25Params::new(
        opt(map, "k1", path, number)?.unwrap_or(defaults.k1),
        opt(map, "b", path, number)?.unwrap_or(defaults.b),
    );
    bm25.validate()
        .map_err(|e| Error::InvalidConfig(format!("{path}: {e}")))?;
    Ok(TextConfig { tokenizer, bm25 })
}

impl PointData {
    /// Parses Qdrant's `PointStruct`: `{"id", "vector", "payload"}` where
    /// `vector` is a list of numbers (the unnamed vector) or a map of names
    /// to lists (dense) or `{"indices", "values"}` (sparse). Errors are
    /// [`Error::InvalidQuery`] naming the field under `path`.
    pub fn from_value(value: &Value, path: &str) -> Result<Self> {
        let map = object(value, path)?;
        check_fields(map, &["id", "vector", "vectors", "payload"], path)?;
        let id = required(map, "id", path, point_id)?;
        let mut point = PointData {
            id,
            vectors: BTreeMap::new(),
            sparse: BTreeMap::new(),
            payload: Map::new(),
        };
        // Qdrant's REST calls it `vector`, its batch form `vectors`.
        let key = if get(map, "vector").is_some() {
            "vector"
        } else {
            "vectors"
        };
        if let Some(v) = get(map, key) {
            let vpath = field(path, key);
            match v {
                Value::Array(_) => {
                    point.vectors.insert(String::new(), numbers(v, &vpath)?);
                }
                Value::Object(named) => {
                    for (name, v) in named {
                        let npath = field(&vpath, name);
                        match v {
                            Value::Object(s) => {
                                check_fields(s, &["indices", "values"], &npath)?;
                                let sv = SparseVector::new(
                                    required(s, "indices", &npath, sparse_indices)?,
                                    required(s, "values", &npath, numbers)?,
                                )
                                .map_err(|e| match e {
                                    Error::InvalidSparseVector(m) => {
                                        Error::InvalidQuery(format!("{npath}: {m}"))
                                    }
                                    other => other,
                                })?;
                                point.sparse.insert(name.clone(), sv);
                            }
                            _ => {
                                point.vectors.insert(name.clone(), numbers(v, &npath)?);
                            }
                        }
                    }
                }
                other => {
                    return Err(Error::InvalidQuery(format!(
                        "{vpath}: expected a list of numbers or a map of named vectors, got {}",
                        crate::query::parse::kind(other)
                    )));
                }
            }
        }
        if let Some(p) = get(map, "payload") {
            point.payload = object(p, &field(path, "payload"))?.clone();
        }
        Ok(point)
    }
}
