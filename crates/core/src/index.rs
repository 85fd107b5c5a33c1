//! The interface every index offers, the exact (flat) index, and loading
//! an index of either kind from bytes.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::format;
use crate::hnsw::{Hnsw, HnswConfig};
use crate::metric::Metric;
use crate::quant::Quantization;
use crate::quant::vectors::{QuantBody, QuantizedVectors};
use crate::scratch::Scratch;
use crate::search::{Filter, Hit, SearchParams, to_hits};
use crate::space::scan;
use crate::store::{PointStore, Slot};

/// What every Grape index does. Ids are the caller's `u64`s; filters see
/// the index's internal `u32` ids (see [`VectorIndex::internal_id`]).
pub trait VectorIndex {
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Metric.
    fn metric(&self) -> Metric;
    /// Number of live points.
    fn len(&self) -> usize;
    /// True when no point is live.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Inserts `id`, or replaces its vector. On error nothing changes.
    fn upsert(&mut self, id: u64, vector: &[f32]) -> Result<()>;
    /// Deletes `id`; [`Error::UnknownId`] if there is no such point.
    fn delete(&mut self, id: u64) -> Result<()>;
    /// The stored vector of `id` (unit length under cosine).
    fn vector(&self, id: u64) -> Option<&[f32]>;
    /// The internal id of a live point, as filters see it.
    fn internal_id(&self, id: u64) -> Option<u32>;
    /// The external id of a live internal id.
    fn external_id(&self, internal_id: u32) -> Option<u64>;
    /// The `params.k` best live points that `filter` allows, best first.
    fn search_with(
        &self,
        scratch: &mut Scratch,
        query: &[f32],
        params: &SearchParams,
        filter: Option<&dyn Filter>,
    ) -> Result<Vec<Hit>>;
    /// [`VectorIndex::search_with`] with fresh scratch memory.
    fn search(
        &self,
        query: &[f32],
        params: &SearchParams,
        filter: Option<&dyn Filter>,
    ) -> Result<Vec<Hit>> {
        self.search_with(&mut Scratch::new(), query, params, filter)
    }
    /// Bytes of memory held (vectors, ids, graph), by capacity.
    fn memory_bytes(&self) -> usize;
    /// The index in the portable byte format.
    fn to_bytes(&self) -> Vec<u8>;
}

macro_rules! store_accessors {
    () => {
        fn dim(&self) -> usize {
            self.store.dim
        }
        fn metric(&self) -> Metric {
            self.store.metric
        }
        fn len(&self) -> usize {
            self.store.live
        }
        fn vector(&self, id: u64) -> Option<&[f32]> {
            if !self.store.keeps_vectors {
                return None;
            }
            self.store.slot_of(id).map(|s| self.store.vector(s))
        }
        fn internal_id(&self, id: u64) -> Option<u32> {
            self.store.slot_of(id)
        }
        fn external_id(&self, internal_id: u32) -> Option<u64> {
            let live =
                (internal_id as usize) < self.store.slot_count() && self.store.is_live(internal_id);
            live.then(|| self.store.keys[internal_id as usize])
        }
    };
}

impl VectorIndex for Hnsw {
    store_accessors!();

    fn upsert(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        Hnsw::upsert(self, id, vector)
    }
    fn delete(&mut self, id: u64) -> Result<()> {
        Hnsw::delete(self, id)
    }
    fn search_with(
        &self,
        scratch: &mut Scratch,
        query: &[f32],
        params: &SearchParams,
        filter: Option<&dyn Filter>,
    ) -> Result<Vec<Hit>> {
        Hnsw::search_with(self, scratch, query, params, filter)
    }
    fn memory_bytes(&self) -> usize {
        self.store.memory_bytes()
            + self.quant.as_ref().map_or(0, |q| q.memory_bytes())
            + self.graph_memory_bytes()
            + self.scratch.memory_bytes()
    }
    fn to_bytes(&self) -> Vec<u8> {
        Hnsw::to_bytes(self)
    }
}

/// Exact search by scanning every point: the recall reference, and the
/// right choice for small collections. Deleted slots are reused at once.
///
/// With [`FlatIndex::quantize`] the scan compares quantized codes and
/// rescores the best `k × oversampling` with the originals, which the flat
/// index always keeps.
#[derive(Debug, Clone)]
pub struct FlatIndex {
    store: PointStore,
    /// Boxed: most flat indexes are not quantized.
    quant: Option<Box<QuantizedVectors>>,
}

impl FlatIndex {
    /// An empty index for `dim`-dimensional vectors under `metric`.
    pub fn new(dim: usize, metric: Metric) -> Result<Self> {
        // Same limits as HNSW, so an index can switch kind.
        HnswConfig::new(dim, metric).validate()?;
        Ok(FlatIndex {
            store: PointStore::new(dim, metric),
            quant: None,
        })
    }

    /// Turns on quantization (see [`Hnsw::quantize`]): trains on the live
    /// vectors and encodes every point; later upserts are encoded as they
    /// come. On error nothing changes.
    pub fn quantize(&mut self, quantization: Quantization) -> Result<()> {
        self.quant = Some(Box::new(QuantizedVectors::train(
            quantization,
            &self.store,
        )?));
        Ok(())
    }

    /// The quantization in use, if any.
    pub fn quantization(&self) -> Option<Quantization> {
        self.quant.as_ref().map(|q| q.config)
    }

    /// Loads an index written by [`FlatIndex::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match open_body(bytes)? {
            Body::Flat(b) => FlatIndex::from_body(b),
            _ => Err(Error::Corrupted("bytes hold a different index kind".into())),
        }
    }

    fn from_body(body: FlatBody) -> Result<Self> {
        let FlatBody { base: b, quant } = body;
        HnswConfig::new(b.dim as usize, b.metric)
            .validate()
            .map_err(|e| Error::Corrupted(alloc::format!("{e}")))?;
        let slots = b.keys.iter().map(|_| Slot::Live).collect();
        let store =
            PointStore::from_parts(b.dim as usize, b.metric, b.vectors, true, b.keys, slots)?;
        let quant = quant
            .map(|q| QuantizedVectors::from_body(q, store.dim, store.metric, store.slot_count()))
            .transpose()?
            .map(Box::new);
        Ok(FlatIndex { store, quant })
    }
}

impl VectorIndex for FlatIndex {
    store_accessors!();

    fn upsert(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        let mut v = Vec::new();
        self.store
            .metric
            .prepare_into(self.store.dim, vector, &mut v)?;
        let slot = match self.store.slot_of(id) {
            Some(s) => {
                let at = s as usize * self.store.dim;
                self.store.vectors[at..at + self.store.dim].copy_from_slice(&v);
                s
            }
            None => self.store.push(id, &v)?,
        };
        if let Some(q) = &mut self.quant {
            q.set(slot, &v);
        }
        Ok(())
    }

    fn delete(&mut self, id: u64) -> Result<()> {
        let slot = self.store.mark_deleted(id)?;
        self.store.release(slot);
        let n = self.store.trim_tail();
        if let Some(q) = &mut self.quant {
            q.truncate(n);
        }
        Ok(())
    }

    fn search_with(
        &self,
        scratch: &mut Scratch,
        query: &[f32],
        params: &SearchParams,
        filter: Option<&dyn Filter>,
    ) -> Result<Vec<Hit>> {
        params.check()?;
        let q = &mut scratch.query;
        self.store.metric.prepare_into(self.store.dim, query, q)?;
        let found = scan(
            &self.store,
            self.quant.as_deref(),
            q,
            params.k,
            &params.quantization,
            filter,
        );
        Ok(to_hits(&self.store, &found, params.k))
    }

    fn memory_bytes(&self) -> usize {
        self.store.memory_bytes() + self.quant.as_ref().map_or(0, |q| q.memory_bytes())
    }

    fn to_bytes(&self) -> Vec<u8> {
        // Only live points are written: free slots need no bytes.
        let live: Vec<u32> = (0..self.store.slot_count() as u32)
            .filter(|&s| self.store.is_live(s))
            .collect();
        let mut vectors = Vec::with_capacity(live.len() * self.store.dim);
        live.iter()
            .for_each(|&s| vectors.extend_from_slice(self.store.vector(s)));
        let quant = self.quant.as_ref().map(|q| {
            let mut q = QuantizedVectors::clone(q);
            q.permute_keep(&live);
            q.to_body()
        });
        format::seal(&Body::Flat(FlatBody {
            base: FlatBodyV1 {
                dim: self.store.dim as u32,
                metric: self.store.metric,
                keys: live.iter().map(|&s| self.store.keys[s as usize]).collect(),
                vectors,
            },
            quant,
        }))
    }
}

/// A flat index as format version 1 wrote it (version 2 appends fields).
#[derive(bincode::Encode, bincode::Decode)]
pub(crate) struct FlatBodyV1 {
    dim: u32,
    metric: Metric,
    keys: Vec<u64>,
    vectors: Vec<f32>,
}

/// A flat index in format version 2.
#[derive(bincode::Encode, bincode::Decode)]
pub(crate) struct FlatBody {
    base: FlatBodyV1,
    quant: Option<QuantBody>,
}

/// The body of the byte format (version 2): which index, then its data.
#[derive(bincode::Encode, bincode::Decode)]
pub(crate) enum Body {
    Flat(FlatBody),
    Hnsw(crate::hnsw::persist::HnswBody),
    Collection(crate::collection::persist::CollectionBody),
}

/// The body of format version 1.
#[derive(bincode::Encode, bincode::Decode)]
enum BodyV1 {
    Flat(FlatBodyV1),
    Hnsw(crate::hnsw::persist::HnswBodyV1),
}

/// Opens bytes of any readable format version as a current body.
pub(crate) fn open_body(bytes: &[u8]) -> Result<Body> {
    body_of(format::SliceBody::open(bytes)?)
}

/// Decodes a checked body of any readable format version as a current body.
pub(crate) fn body_of(checked: impl format::CheckedBody) -> Result<Body> {
    if checked.version() == 1 {
        return Ok(match checked.decode::<BodyV1>()? {
            BodyV1::Flat(base) => Body::Flat(FlatBody { base, quant: None }),
            BodyV1::Hnsw(base) => Body::Hnsw(crate::hnsw::persist::HnswBody::from_v1(base)),
        });
    }
    checked.decode()
}

/// An index of either kind, as loaded from bytes whose kind is not known.
#[derive(Debug, Clone)]
pub enum AnyIndex {
    /// An exact index.
    Flat(FlatIndex),
    /// An HNSW index.
    Hnsw(Box<Hnsw>),
}

impl AnyIndex {
    /// Loads whichever index `bytes` hold.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match open_body(bytes)? {
            Body::Flat(b) => FlatIndex::from_body(b).map(AnyIndex::Flat),
            Body::Hnsw(b) => Hnsw::from_body(b).map(|h| AnyIndex::Hnsw(Box::new(h))),
            Body::Collection(_) => Err(Error::Corrupted(
                "bytes hold a collection, not an index: use Collection::from_bytes".into(),
            )),
        }
    }

    /// The index behind the common interface.
    pub fn as_index(&self) -> &dyn VectorIndex {
        match self {
            AnyIndex::Flat(f) => f,
            AnyIndex::Hnsw(h) => h.as_ref(),
        }
    }
}
