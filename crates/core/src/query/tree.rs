//! The multi-stage query tree, shaped like Qdrant's `/points/query` body.
//!
//! A [`QueryRequest`] holds optional [`Prefetch`]es (each a sub-query with
//! its own filter and limit, nestable) and a [`Query`] that either searches
//! (no prefetch), re-scores the union of its prefetches' candidates with a
//! vector, or fuses the prefetches' ranked lists. JSON parsing lives in
//! `parse.rs`, execution in `exec.rs`; this file holds the types and their
//! validation.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::HashSet;

use crate::error::{Error, Result};
use crate::payload::{Filter, PointId};

use super::fusion::DEFAULT_RRF_K;

/// Default `limit` of a request and of a prefetch, as in Qdrant.
pub const DEFAULT_LIMIT: usize = 10;

/// A universal query request, the body of Qdrant's `POST /points/query`.
///
/// Parse it with [`QueryRequest::from_json`], [`QueryRequest::from_value`]
/// or serde (`serde_json::from_str::<QueryRequest>`); run it with
/// [`execute`](super::execute).
///
/// Stages run bottom-up: every prefetch runs first (recursively, each with
/// its own filter and limit; the filters of all enclosing stages apply too,
/// as in Qdrant), then `query` combines their results. `offset` applies only
/// here, at the root: prefetches should fetch at least `offset + limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    /// Sub-queries whose results feed `query` (JSON: one object or an array).
    pub prefetch: Vec<Prefetch>,
    /// What to do: search, re-score the prefetches' candidates, or fuse.
    pub query: Option<Query>,
    /// The named vector (or, for [`Query::Text`], the text field) to use;
    /// `None` is the default vector (JSON `""`, Qdrant's unnamed vector,
    /// parses as `None`).
    pub using: Option<String>,
    /// Only points matching this filter (and every prefetch's) are returned.
    pub filter: Option<Filter>,
    /// Only points scoring strictly better than this are returned (for
    /// distances, better means lower).
    pub score_threshold: Option<f32>,
    /// How many hits to return (default 10, at least 1).
    pub limit: usize,
    /// How many of the best hits to skip first (default 0).
    pub offset: usize,
    /// Which payload to return with each hit; `None` when not given (the
    /// caller picks the default). Not used by `execute`.
    pub with_payload: Option<PayloadSelector>,
    /// Which vectors to return with each hit; `None` when not given. Not
    /// used by `execute`.
    pub with_vector: Option<VectorSelector>,
    /// Search parameters for this stage's own search.
    pub params: Option<QueryParams>,
}

impl Default for QueryRequest {
    fn default() -> Self {
        QueryRequest {
            prefetch: Vec::new(),
            query: None,
            using: None,
            filter: None,
            score_threshold: None,
            limit: DEFAULT_LIMIT,
            offset: 0,
            with_payload: None,
            with_vector: None,
            params: None,
        }
    }
}

/// One prefetch stage: a sub-query whose ranked results feed its parent.
#[derive(Debug, Clone, PartialEq)]
pub struct Prefetch {
    /// Nested sub-queries whose results feed this stage's `query`.
    pub prefetch: Vec<Prefetch>,
    /// What this stage does (as [`QueryRequest::query`]).
    pub query: Option<Query>,
    /// The named vector or text field to use; `None` is the default vector.
    pub using: Option<String>,
    /// This stage's filter, applied together with every enclosing stage's.
    pub filter: Option<Filter>,
    /// Keep only hits strictly better than this.
    pub score_threshold: Option<f32>,
    /// How many hits this stage passes up (default 10, at least 1).
    pub limit: usize,
    /// Search parameters for this stage's own search.
    pub params: Option<QueryParams>,
}

impl Default for Prefetch {
    fn default() -> Self {
        Prefetch {
            prefetch: Vec::new(),
            query: None,
            using: None,
            filter: None,
            score_threshold: None,
            limit: DEFAULT_LIMIT,
            params: None,
        }
    }
}

/// The query of one stage.
///
/// JSON shapes (Qdrant's, plus two Grape extensions):
///
/// | JSON | variant |
/// |---|---|
/// | `[0.1, 0.2]` or `{"nearest": [0.1, 0.2]}` | [`Query::Dense`] |
/// | `{"indices": [1, 5], "values": [0.3, 0.7]}` (or under `nearest`) | [`Query::Sparse`] |
/// | `42`, `"550e8400-e29b-41d4-a716-446655440000"` (or under `nearest`) | [`Query::Id`] |
/// | `{"text": "query words"}` (or under `nearest`) | [`Query::Text`] (Grape) |
/// | `{"fusion": "rrf"}`, `{"fusion": "dbsf"}`, `{"rrf": {"k": 60, "weights": [3, 1]}}` | [`Query::Fusion`] |
/// | `{"weighted": {"weights": [0.7, 0.3]}}` | [`Fusion::Weighted`] (Grape) |
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Nearest to a dense vector (searched in the `using` vector).
    Dense(Vec<f32>),
    /// Nearest to a sparse vector (dot product over shared indices).
    Sparse(SparseQuery),
    /// Nearest to the stored vector of this point (`using` names which),
    /// as Qdrant's query by id. The point itself, like every point referred
    /// to by id anywhere in the request, is excluded from all results.
    /// Mapping a UUID to Grape's `u64` ids is the
    /// [`QuerySource`](super::QuerySource)'s job.
    Id(PointId),
    /// Grape's BM25 full-text search, in Qdrant's shapes: `{"text": "query
    /// words"}` with `using` naming the text field (`None`: the source's
    /// default text field). It mirrors Qdrant's document query
    /// (`{"text": .., "model": "qdrant/bm25"}`); `model` and `options` are
    /// accepted and ignored, since Grape scores BM25 itself, keeping IDF and
    /// the average document length up to date.
    Text(String),
    /// Fuse the ranked lists of this stage's prefetches.
    Fusion(Fusion),
}

/// A sparse query vector: `values[i]` is the weight of dimension
/// `indices[i]`. Indices are unique, in any order; values finite.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseQuery {
    /// Dimensions.
    pub indices: Vec<u32>,
    /// Weights, one per index.
    pub values: Vec<f32>,
}

/// How a stage fuses its prefetches' lists (see [`rrf`](super::rrf),
/// [`dbsf`](super::dbsf), [`weighted`](super::weighted)).
#[derive(Debug, Clone, PartialEq)]
pub enum Fusion {
    /// Reciprocal Rank Fusion with Qdrant's `k` (default 2) and optional
    /// per-prefetch weights.
    Rrf {
        /// RRF `k`, at least 1.
        k: u32,
        /// One weight per prefetch, or equal weights.
        weights: Option<Vec<f32>>,
    },
    /// Distribution-Based Score Fusion.
    Dbsf,
    /// Grape's weighted sum of min-max normalised scores.
    Weighted {
        /// One weight per prefetch, or all 1.
        weights: Option<Vec<f32>>,
    },
}

impl Fusion {
    /// RRF with Qdrant's default `k` = 2 and equal weights.
    pub fn rrf() -> Self {
        Fusion::Rrf {
            k: DEFAULT_RRF_K,
            weights: None,
        }
    }
}

/// Search parameters of a stage (Qdrant's `params`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QueryParams {
    /// HNSW candidate list size; `None` uses the index default.
    pub hnsw_ef: Option<usize>,
    /// Force an exact search.
    pub exact: bool,
    /// How a quantized index uses its codes (Qdrant's `quantization`).
    pub quantization: crate::quant::QuantSearch,
}

/// Which payload to return with each hit (Qdrant's `with_payload`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadSelector {
    /// All of it (`true`) or none (`false`).
    All(bool),
    /// Only these keys (`["a", "b"]` or `{"include": [..]}`).
    Include(Vec<String>),
    /// Everything but these keys (`{"exclude": [..]}`).
    Exclude(Vec<String>),
}

impl PayloadSelector {
    /// The part of `payload` this selector asks for (top-level keys for
    /// include/exclude); `None` for `false`.
    pub fn select(&self, payload: &crate::payload::Payload) -> Option<crate::payload::Payload> {
        let pick = |keep: &dyn Fn(&String) -> bool| {
            payload
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        match self {
            PayloadSelector::All(false) => None,
            PayloadSelector::All(true) => Some(payload.clone()),
            PayloadSelector::Include(keys) => Some(pick(&|k| keys.iter().any(|x| x == k))),
            PayloadSelector::Exclude(keys) => Some(pick(&|k| !keys.iter().any(|x| x == k))),
        }
    }
}

/// Which vectors to return with each hit (Qdrant's `with_vector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorSelector {
    /// All of them (`true`) or none (`false`).
    All(bool),
    /// Only these named vectors.
    Names(Vec<String>),
}

/// The parts of a stage that validation and execution look at; the root
/// request and a prefetch both view as one.
#[derive(Clone, Copy)]
pub(crate) struct Stage<'a> {
    pub prefetch: &'a [Prefetch],
    pub query: Option<&'a Query>,
    pub using: Option<&'a str>,
    pub filter: Option<&'a Filter>,
    pub score_threshold: Option<f32>,
    pub limit: usize,
    pub params: Option<&'a QueryParams>,
}

impl QueryRequest {
    /// A request for the `limit` nearest points to a dense vector.
    pub fn nearest(vector: Vec<f32>, limit: usize) -> Self {
        QueryRequest {
            query: Some(Query::Dense(vector)),
            limit,
            ..QueryRequest::default()
        }
    }

    /// Checks limits, vectors, fusion parameters and the shape of the tree;
    /// the error names the field (`prefetch[0].limit must be at least 1`).
    /// Parsing and [`execute`](super::execute) both call it.
    pub fn validate(&self) -> Result<()> {
        validate_stage(&self.stage(), "")
    }

    pub(crate) fn stage(&self) -> Stage<'_> {
        Stage {
            prefetch: &self.prefetch,
            query: self.query.as_ref(),
            using: self.using.as_deref(),
            filter: self.filter.as_ref(),
            score_threshold: self.score_threshold,
            limit: self.limit,
            params: self.params.as_ref(),
        }
    }
}

impl Prefetch {
    pub(crate) fn stage(&self) -> Stage<'_> {
        Stage {
            prefetch: &self.prefetch,
            query: self.query.as_ref(),
            using: self.using.as_deref(),
            filter: self.filter.as_ref(),
            score_threshold: self.score_threshold,
            limit: self.limit,
            params: self.params.as_ref(),
        }
    }
}

/// `path.name`, or `name` at the root.
pub(crate) fn field(path: &str, name: &str) -> String {
    if path.is_empty() {
        String::from(name)
    } else {
        format!("{path}.{name}")
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidQuery(message)
}

fn validate_stage(stage: &Stage<'_>, path: &str) -> Result<()> {
    if stage.limit == 0 {
        return Err(invalid(format!(
            "{} must be at least 1",
            field(path, "limit")
        )));
    }
    if let Some(t) = stage.score_threshold
        && !t.is_finite()
    {
        return Err(invalid(format!(
            "{} must be a finite number, got {t}",
            field(path, "score_threshold")
        )));
    }
    if let Some(params) = stage.params
        && params.hnsw_ef == Some(0)
    {
        return Err(invalid(format!(
            "{} must be at least 1",
            field(path, "params.hnsw_ef")
        )));
    }
    let query_path = field(path, "query");
    let prefetches = stage.prefetch.len();
    match stage.query {
        None if prefetches == 0 => {
            return Err(invalid(format!(
                "{query_path} is required when there is no prefetch"
            )));
        }
        None if prefetches > 1 => {
            return Err(invalid(format!(
                "{query_path} is required to combine {prefetches} prefetches (use a fusion)"
            )));
        }
        None => {}
        Some(query) => validate_query(query, &query_path, prefetches)?,
    }
    for (i, p) in stage.prefetch.iter().enumerate() {
        validate_stage(&p.stage(), &format!("{}[{i}]", field(path, "prefetch")))?;
    }
    Ok(())
}

fn validate_query(query: &Query, path: &str, prefetches: usize) -> Result<()> {
    match query {
        Query::Dense(v) => validate_dense(v, path),
        Query::Sparse(s) => validate_sparse(s, path),
        Query::Id(_) => Ok(()),
        Query::Text(t) => {
            if t.trim().is_empty() {
                Err(invalid(format!("{path}.text must not be empty")))
            } else {
                Ok(())
            }
        }
        Query::Fusion(f) => {
            if prefetches == 0 {
                return Err(invalid(format!(
                    "{path}: fusion needs at least one prefetch"
                )));
            }
            let (name, weights) = match f {
                Fusion::Rrf { k, weights } => {
                    if *k == 0 {
                        return Err(invalid(format!("{path}.rrf.k must be at least 1")));
                    }
                    ("rrf", weights)
                }
                Fusion::Dbsf => return Ok(()),
                Fusion::Weighted { weights } => ("weighted", weights),
            };
            if let Some(weights) = weights {
                if weights.len() != prefetches {
                    return Err(invalid(format!(
                        "{path}.{name}.weights has {} entries but there are {prefetches} prefetches",
                        weights.len()
                    )));
                }
                if let Some((i, w)) = weights
                    .iter()
                    .enumerate()
                    .find(|(_, w)| !w.is_finite() || **w < 0.0)
                {
                    return Err(invalid(format!(
                        "{path}.{name}.weights[{i}] must be a finite number not below 0, got {w}"
                    )));
                }
            }
            Ok(())
        }
    }
}

fn validate_dense(v: &[f32], path: &str) -> Result<()> {
    if v.is_empty() {
        return Err(invalid(format!("{path}: the vector is empty")));
    }
    if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(invalid(format!("{path}[{i}] is not a finite number ({x})")));
    }
    Ok(())
}

pub(crate) fn validate_sparse(s: &SparseQuery, path: &str) -> Result<()> {
    if s.indices.len() != s.values.len() {
        return Err(invalid(format!(
            "{path}.values has {} entries but {path}.indices has {}",
            s.values.len(),
            s.indices.len()
        )));
    }
    if let Some((i, x)) = s.values.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(invalid(format!(
            "{path}.values[{i}] is not a finite number ({x})"
        )));
    }
    let mut seen = HashSet::with_capacity(s.indices.len());
    if let Some(dup) = s.indices.iter().find(|i| !seen.insert(**i)) {
        return Err(invalid(format!(
            "{path}.indices has index {dup} more than once"
        )));
    }
    Ok(())
}
