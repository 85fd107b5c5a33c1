//! A collection: the points of one Qdrant-style collection with their named
//! dense vectors (HNSW), sparse vectors (inverted index), BM25 text fields
//! and payloads, answering query trees ([`crate::query`]).
//!
//! Every point gets an *offset* (`u32`) shared by all of its indexes; the
//! HNSW indexes use it as their `u64` key, the sparse, text and payload
//! indexes as their internal id, so one filter evaluation serves them all.
//! Text fields index the string payload value of the same name.

mod json;
pub(crate) mod persist;
mod source;
#[cfg(test)]
mod tests;
mod update;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::VectorIndex;
use crate::error::{Error, Result};
use crate::hnsw::{Hnsw, HnswConfig};
use crate::payload::{FieldSchema, Filter, Payload, PayloadStore, PointId};
use crate::quant::Quantization;
use crate::query::{QueryRequest, execute_with};
use crate::sparse::{Modifier, SparseIndex, SparseVector};
use crate::text::{Bm25Params, TextIndex, Tokenizer};

/// A BM25 text field: the payload field of that name, tokenized and indexed.
#[derive(Debug, Clone)]
pub struct TextConfig {
    /// How text is split into terms.
    pub tokenizer: Tokenizer,
    /// BM25 `k1` and `b`.
    pub bm25: Bm25Params,
}

/// What a collection holds. Vector names are Qdrant's: `""` is the default
/// (unnamed) dense vector, which a query with no `using` searches.
#[derive(Debug, Clone, Default)]
pub struct CollectionConfig {
    /// Dense vectors by name.
    pub dense: BTreeMap<String, HnswConfig>,
    /// Sparse vectors by name, with their modifier.
    pub sparse: BTreeMap<String, Modifier>,
    /// BM25 text fields by payload field name.
    pub text: BTreeMap<String, TextConfig>,
    /// Quantization of dense vectors, by vector name.
    pub quantization: BTreeMap<String, DenseQuantization>,
}

impl CollectionConfig {
    /// Checks points by the rules of [`Collection::upsert`] (known vector
    /// names, dimensions, finite components, non-zero under cosine, valid
    /// sparse vectors) without a collection, so that an embedder can reject
    /// a batch before it stores anything. Messages name the point as
    /// `points[i]`.
    pub fn check_points(&self, points: &[PointData]) -> Result<()> {
        for (i, p) in points.iter().enumerate() {
            self.check_point(p).map_err(|e| match e {
                Error::InvalidQuery(m) => Error::InvalidQuery(alloc::format!("points[{i}]: {m}")),
                other => other,
            })?;
        }
        Ok(())
    }

    fn check_point(&self, p: &PointData) -> Result<()> {
        for (name, v) in &p.vectors {
            let Some(c) = self.dense.get(name) else {
                return Err(Error::InvalidQuery(alloc::format!(
                    "unknown dense vector {name:?}"
                )));
            };
            // The index's own check, so that an upsert cannot fail later.
            c.metric.check(c.dim, v)?;
        }
        for (name, v) in &p.sparse {
            if !self.sparse.contains_key(name) {
                return Err(Error::InvalidQuery(alloc::format!(
                    "unknown sparse vector {name:?}"
                )));
            }
            v.validate()?;
        }
        Ok(())
    }
}

/// How a dense vector is quantized.
///
/// The quantizer is trained once the vector's index holds
/// [`QUANTIZE_AFTER`] points (before that, searches use the originals), and
/// again on [`Collection::optimize`] while the originals are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseQuantization {
    /// The quantization.
    pub quantization: Quantization,
    /// Keep the original `f32` vectors in memory for rescoring (default
    /// true). Without them the index holds only codes: searches cannot
    /// rescore, the stored vectors cannot be read back and the quantizer is
    /// never retrained.
    pub keep_originals: bool,
}

/// Points a dense index must hold before its quantizer is trained.
pub const QUANTIZE_AFTER: usize = 1000;

/// Sizes of a collection, for monitoring.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectionStats {
    /// Number of points.
    pub points: usize,
    /// Per dense vector: `(name, live points, vector bytes, graph bytes)`.
    pub dense: Vec<(String, usize, usize, usize)>,
    /// Bytes held by sparse indexes.
    pub sparse_bytes: usize,
    /// Bytes held by text indexes.
    pub text_bytes: usize,
}

/// One point to upsert.
#[derive(Debug, Clone, PartialEq)]
pub struct PointData {
    /// Its id.
    pub id: PointId,
    /// Dense vectors by name (`""` for the default one).
    pub vectors: BTreeMap<String, Vec<f32>>,
    /// Sparse vectors by name.
    pub sparse: BTreeMap<String, SparseVector>,
    /// Its payload (text fields are read from it).
    pub payload: Payload,
}

impl PointData {
    /// A point with only the default dense vector and a payload.
    pub fn dense(id: PointId, vector: Vec<f32>, payload: Payload) -> Self {
        let mut vectors = BTreeMap::new();
        vectors.insert(String::new(), vector);
        PointData {
            id,
            vectors,
            sparse: BTreeMap::new(),
            payload,
        }
    }
}

/// A query result: the point's id and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPoint {
    /// The point's id.
    pub id: PointId,
    /// Its score in the last stage that scored it (similarity, distance or
    /// fused score).
    pub score: f32,
}

/// The text that the text field `name` indexes in `payload`: the string at
/// the top-level key of that name.
fn text_field<'p>(payload: &'p Payload, name: &str) -> Option<&'p str> {
    payload.get(name).and_then(|v| v.as_str())
}

/// The points of one collection and all their indexes.
#[derive(Debug, Clone)]
pub struct Collection {
    config: CollectionConfig,
    dense: BTreeMap<String, Hnsw>,
    sparse: BTreeMap<String, SparseIndex>,
    text: BTreeMap<String, TextIndex>,
    payloads: PayloadStore,
    /// Offsets of deleted points, reused first.
    free: Vec<u32>,
    /// One past the highest offset ever given.
    next: u32,
}

impl Collection {
    /// An empty collection; errors if a dense config is invalid, or a
    /// quantization names an unknown vector or does not fit it.
    pub fn new(config: CollectionConfig) -> Result<Self> {
        for (name, q) in &config.quantization {
            let Some(c) = config.dense.get(name) else {
                return Err(Error::InvalidConfig(alloc::format!(
                    "quantization for unknown dense vector {name:?}"
                )));
            };
            q.quantization.check(c.dim, c.metric)?;
        }
        let dense = config
            .dense
            .iter()
            .map(|(name, c)| Hnsw::new(*c).map(|h| (name.clone(), h)))
            .collect::<Result<_>>()?;
        let sparse = config
            .sparse
            .iter()
            .map(|(n, m)| (n.clone(), SparseIndex::new(*m)))
            .collect();
        let text = config
            .text
            .iter()
            .map(|(n, t)| {
                TextIndex::with_params(t.tokenizer.clone(), t.bm25).map(|i| (n.clone(), i))
            })
            .collect::<Result<_>>()?;
        Ok(Collection {
            config,
            dense,
            sparse,
            text,
            payloads: PayloadStore::new(),
            free: Vec::new(),
            next: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CollectionConfig {
        &self.config
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    /// True when the collection holds no point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts or replaces points. Every point is checked first (vector
    /// names, dimensions, finite values, sparse vectors): on error nothing
    /// changes.
    pub fn upsert(&mut self, points: Vec<PointData>) -> Result<()> {
        self.config.check_points(&points)?;
        for p in points {
            let dense = p.vectors.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
            self.insert_checked(p.id, dense, &p.sparse, p.payload);
        }
        self.quantize_ready(false)
    }

    /// Inserts or replaces points that have only the dense vector `name`,
    /// from one buffer of `ids.len() × dim` components (the bulk path: no
    /// per-point vector is allocated), with optional payloads. Everything is
    /// checked first: on error nothing changes.
    pub fn upsert_dense(
        &mut self,
        name: &str,
        ids: &[PointId],
        vectors: &[f32],
        payloads: Option<Vec<Payload>>,
    ) -> Result<()> {
        let Some(index) = self.dense.get(name) else {
            return Err(Error::InvalidQuery(alloc::format!(
                "unknown dense vector {name:?}"
            )));
        };
        let c = *index.config();
        if vectors.len() != ids.len().saturating_mul(c.dim) {
            return Err(Error::InvalidQuery(alloc::format!(
                "{} vectors of dimension {} need {} numbers, got {}",
                ids.len(),
                c.dim,
                ids.len().saturating_mul(c.dim),
                vectors.len()
            )));
        }
        if let Some(p) = &payloads
            && p.len() != ids.len()
        {
            return Err(Error::InvalidQuery(alloc::format!(
                "{} ids but {} payloads",
                ids.len(),
                p.len()
            )));
        }
        for v in vectors.chunks_exact(c.dim) {
            c.metric.check(c.dim, v)?;
        }
        let mut payloads = payloads.map(Vec::into_iter);
        let none = BTreeMap::new();
        for (id, v) in ids.iter().zip(vectors.chunks_exact(c.dim)) {
            let payload = payloads
                .as_mut()
                .and_then(Iterator::next)
                .unwrap_or_default();
            self.insert_checked(*id, core::iter::once((name, v)), &none, payload);
        }
        self.quantize_ready(false)
    }

    /// Inserts a point whose vectors were checked, replacing any point with
    /// its id.
    fn insert_checked<'v>(
        &mut self,
        id: PointId,
        dense: impl Iterator<Item = (&'v str, &'v [f32])>,
        sparse: &BTreeMap<String, SparseVector>,
        payload: Payload,
    ) {
        self.remove(&id);
        let offset = self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        });
        for (name, v) in dense {
            let index = self.dense.get_mut(name).expect("checked");
            index.upsert(u64::from(offset), v).expect("checked");
        }
        for (name, v) in sparse {
            self.sparse
                .get_mut(name)
                .expect("checked")
                .upsert(offset, v)
                .expect("checked");
        }
        for (name, index) in &mut self.text {
            if let Some(text) = text_field(&payload, name) {
                index.add(offset, text);
            }
        }
        self.payloads.set(offset, id, payload);
    }

    /// Trains the quantizer of every dense vector configured for one that
    /// holds at least [`QUANTIZE_AFTER`] points and has none yet (or, with
    /// `retrain`, keeps its originals), dropping originals as configured.
    fn quantize_ready(&mut self, retrain: bool) -> Result<()> {
        for (name, q) in &self.config.quantization {
            let index = self.dense.get_mut(name).expect("checked at creation");
            let due = if retrain {
                index.keeps_originals() && !index.is_empty()
            } else {
                index.quantization().is_none() && index.len() >= QUANTIZE_AFTER
            };
            if due {
                index.quantize(q.quantization)?;
                if !q.keep_originals {
                    index.drop_originals()?;
                }
            }
        }
        Ok(())
    }

    /// Moves the original vectors of dense vector `name` into `arena`
    /// ([`Hnsw::set_vector_arena`]): later inserts append there and
    /// searches read from it. [`Error::InvalidQuery`] for an unknown
    /// vector name; on any error nothing changes.
    pub fn set_vector_arena(
        &mut self,
        name: &str,
        arena: alloc::boxed::Box<dyn crate::VectorArena>,
    ) -> Result<()> {
        let index = self
            .dense
            .get_mut(name)
            .ok_or_else(|| Error::InvalidQuery(alloc::format!("unknown dense vector {name:?}")))?;
        index.set_vector_arena(arena)
    }

    /// Makes room in every dense index for `additional` more points, so
    /// that an embedder whose vectors live in an arena learns that it cannot
    /// grow ([`Error::VectorStorage`]) before it commits a write.
    pub fn try_reserve(&mut self, additional: usize) -> Result<()> {
        for index in self.dense.values_mut() {
            index.try_reserve(additional)?;
        }
        Ok(())
    }

    /// Prepares the collection for searching after bulk changes: compacts
    /// deleted points out of the graphs, renumbers each graph so that
    /// neighbours sit together in memory ([`Hnsw::optimize_layout`]) and
    /// (re)trains the quantizers on all current points.
    pub fn optimize(&mut self) -> Result<()> {
        for index in self.dense.values_mut() {
            index.optimize_layout();
        }
        self.quantize_ready(true)
    }

    /// Sizes of the collection.
    pub fn stats(&self) -> CollectionStats {
        CollectionStats {
            points: self.len(),
            dense: self
                .dense
                .iter()
                .map(|(n, h)| {
                    (
                        n.clone(),
                        h.len(),
                        h.vector_memory_bytes(),
                        h.graph_memory_bytes(),
                    )
                })
                .collect(),
            sparse_bytes: self.sparse.values().map(|s| s.memory_bytes()).sum(),
            text_bytes: self.text.values().map(|t| t.memory_bytes()).sum(),
        }
    }

    /// Indexed payload keys with their schemas.
    pub fn payload_index_fields(&self) -> Vec<(String, FieldSchema)> {
        self.payloads.index_fields()
    }

    /// Removes the point `id` from every index; returns whether it existed.
    fn remove(&mut self, id: &PointId) -> bool {
        let Some(offset) = self.payloads.internal_id(id) else {
            return false;
        };
        for index in self.dense.values_mut() {
            // A point may lack some named vectors.
            let _ = index.delete(u64::from(offset));
        }
        for index in self.sparse.values_mut() {
            index.delete(offset);
        }
        for index in self.text.values_mut() {
            index.remove(offset);
        }
        self.payloads.remove(offset);
        self.free.push(offset);
        true
    }

    /// Deletes points by id; returns how many existed.
    pub fn delete(&mut self, ids: &[PointId]) -> usize {
        ids.iter().filter(|id| self.remove(id)).count()
    }

    /// Deletes every point matching `filter`; returns how many.
    pub fn delete_by_filter(&mut self, filter: &Filter) -> usize {
        let ids: Vec<PointId> = self
            .payloads
            .matching(filter)
            .into_iter()
            .filter_map(|o| self.payloads.get(o).map(|(id, _)| *id))
            .collect();
        self.delete(&ids)
    }

    /// The payload of point `id`.
    pub fn payload(&self, id: &PointId) -> Option<&Payload> {
        let offset = self.payloads.internal_id(id)?;
        self.payloads.get(offset).map(|(_, p)| p)
    }

    /// The part of point `id`'s payload that `selector` asks for (top-level
    /// keys for include/exclude); `None` for an unknown point or `false`.
    pub fn select_payload(
        &self,
        id: &PointId,
        selector: &crate::query::PayloadSelector,
    ) -> Option<Payload> {
        selector.select(self.payload(id)?)
    }

    /// The dense vectors of point `id` that `selector` asks for, by name
    /// (vectors kept only as codes are left out).
    pub fn select_vectors(
        &self,
        id: &PointId,
        selector: &crate::query::VectorSelector,
    ) -> BTreeMap<String, Vec<f32>> {
        use crate::query::VectorSelector as S;
        self.dense
            .keys()
            .filter(|name| match selector {
                S::All(all) => *all,
                S::Names(names) => names.iter().any(|n| n == *name),
            })
            .filter_map(|name| Some((name.clone(), self.vector(id, name)?.to_vec())))
            .collect()
    }

    /// The `vector` of a returned point in Qdrant's JSON shape: the plain
    /// array when the collection has only the unnamed dense vector, an object
    /// by name otherwise.
    pub fn vectors_value(
        &self,
        id: &PointId,
        selector: &crate::query::VectorSelector,
    ) -> serde_json::Value {
        let mut found = self.select_vectors(id, selector);
        let only_unnamed = self.dense.len() == 1 && self.sparse.is_empty();
        match found.remove("") {
            Some(v) if only_unnamed => serde_json::json!(v),
            Some(v) => {
                found.insert(String::new(), v);
                serde_json::json!(found)
            }
            None => serde_json::json!(found),
        }
    }

    /// The stored dense vector `name` of point `id` (unit length under cosine).
    pub fn vector(&self, id: &PointId, name: &str) -> Option<&[f32]> {
        let offset = self.payloads.internal_id(id)?;
        crate::VectorIndex::vector(self.dense.get(name)?, u64::from(offset))
    }

    /// The stored sparse vector `name` of point `id`: the values as
    /// upserted, sorted by index (an `idf` modifier weighs queries, not
    /// stored values).
    pub fn sparse_vector(&self, id: &PointId, name: &str) -> Option<SparseVector> {
        let offset = self.payloads.internal_id(id)?;
        self.sparse.get(name)?.get(offset).cloned()
    }

    /// Everything point `id` holds, as a point to upsert (into this or
    /// another collection with the same configuration): its dense vectors
    /// that are kept as floats (unit length under cosine; a vector whose
    /// index keeps only quantized codes is left out), its sparse vectors
    /// and its payload.
    pub fn point_data(&self, id: &PointId) -> Option<PointData> {
        let offset = self.payloads.internal_id(id)?;
        let (_, payload) = self.payloads.get(offset)?;
        let vectors = self
            .dense
            .iter()
            .filter_map(|(name, index)| {
                let v = crate::VectorIndex::vector(index, u64::from(offset))?;
                Some((name.clone(), v.to_vec()))
            })
            .collect();
        let sparse = self
            .sparse
            .iter()
            .filter_map(|(name, index)| Some((name.clone(), index.get(offset)?.clone())))
            .collect();
        Some(PointData {
            id: *id,
            vectors,
            sparse,
            payload: payload.clone(),
        })
    }

    /// The id of every point, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = &PointId> {
        self.payloads.iter().map(|(_, id, _)| id)
    }

    /// True when point `id` exists and matches `filter`.
    pub fn matches(&self, id: &PointId, filter: &Filter) -> bool {
        self.payloads
            .internal_id(id)
            .and_then(|offset| self.payloads.get(offset))
            .is_some_and(|(id, payload)| filter.matches(id, payload))
    }

    /// Number of points matching `filter` (all points without one).
    pub fn count(&self, filter: Option<&Filter>) -> usize {
        filter.map_or(self.len(), |f| self.payloads.count(f))
    }

    /// Indexes the payload field `field` as `schema`, making filters on it
    /// fast and giving searches their cardinality estimate.
    pub fn create_payload_index(&mut self, field: &str, schema: FieldSchema) -> Result<()> {
        self.payloads.create_index(field, schema)
    }

    /// Builds the index [`Collection::create_payload_index`] would add,
    /// reading only, so that searches continue while it is built; install
    /// it with [`Collection::install_payload_index`] before anything else
    /// changes the collection.
    pub fn build_payload_index(
        &self,
        field: &str,
        schema: FieldSchema,
    ) -> Result<crate::payload::BuiltIndex> {
        self.payloads.build_index(field, schema)
    }

    /// Adds an index from [`Collection::build_payload_index`].
    pub fn install_payload_index(&mut self, built: crate::payload::BuiltIndex) {
        self.payloads.install_index(built);
    }

    /// Drops the payload index on key `field` (filters on it then scan the
    /// payloads); false when the key had none. The payloads are unchanged.
    pub fn drop_payload_index(&mut self, field: &str) -> bool {
        self.payloads.drop_index(field)
    }

    /// Runs a query tree (Qdrant's universal query) and returns its hits.
    pub fn query(&self, request: &QueryRequest) -> Result<Vec<ScoredPoint>> {
        self.query_with(&mut crate::Scratch::new(), request)
    }

    /// [`Collection::query`] reusing `scratch` (one per thread or worker):
    /// a warm search then allocates no per-query visited marks.
    pub fn query_with(
        &self,
        scratch: &mut crate::Scratch,
        request: &QueryRequest,
    ) -> Result<Vec<ScoredPoint>> {
        let hits = execute_with(self, scratch, request)?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let (id, _) = self.payloads.get(u32::try_from(h.id).ok()?)?;
                Some(ScoredPoint {
                    id: *id,
                    score: h.score,
                })
            })
            .collect())
    }
}
