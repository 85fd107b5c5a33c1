//! HNSW: given a vector, the ids of its approximate nearest neighbours.
//!
//! Malkov & Yashunin, "Efficient and robust approximate nearest neighbor
//! search using Hierarchical Navigable Small World graphs" (2016/2018).
//! Storage is flat: one `u32` array holds every node's level-0 links at a
//! fixed stride, a second array holds the few upper-level lists; vectors live
//! in one contiguous `f32` buffer ([`crate::store`]).

mod build;
mod layout;
pub(crate) mod persist;
mod search;

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::quant::Quantization;
use crate::quant::vectors::QuantizedVectors;
use crate::rng::Rng;
use crate::scratch::Scratch;
pub(crate) use crate::space::{BinaryOf, FloatOf, Int8Of, PqOf, SpaceOf};
use crate::store::{Floats, PointStore, VectorArena};

/// Marks "no upper-level list" in `upper_at`.
const NONE: u32 = u32::MAX;
/// Highest level a node may get (the level distribution makes more pointless).
const MAX_LEVEL: u8 = 24;

/// Configuration of an [`Hnsw`] index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswConfig {
    /// Vector dimension (1..=65536).
    pub dim: usize,
    /// Metric.
    pub metric: Metric,
    /// Links per node on upper levels; level 0 keeps `2 * m` (2..=128, default 16).
    /// `0` builds no graph (Qdrant's `m: 0`): points are stored and every
    /// search is exact, so inserts cost only the copy of the vector.
    pub m: usize,
    /// Candidate list size while inserting (default 200).
    pub ef_construction: usize,
    /// Default candidate list size of searches (default 64).
    pub ef_search: usize,
    /// Seed of the level generator: equal inputs in equal order build equal graphs.
    pub seed: u64,
    /// Collections with at most this many live points are searched exactly (default 1000).
    pub full_scan_threshold: usize,
}

impl HnswConfig {
    /// Defaults for vectors of `dim` dimensions under `metric`.
    pub fn new(dim: usize, metric: Metric) -> Self {
        HnswConfig {
            dim,
            metric,
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0x6772_6170_6521,
            full_scan_threshold: 1000,
        }
    }

    /// Sets `m`.
    pub fn m(mut self, m: usize) -> Self {
        self.m = m;
        self
    }

    /// Sets `ef_construction`.
    pub fn ef_construction(mut self, ef: usize) -> Self {
        self.ef_construction = ef;
        self
    }

    /// Sets the default search `ef`.
    pub fn ef_search(mut self, ef: usize) -> Self {
        self.ef_search = ef;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the exact-search threshold.
    pub fn full_scan_threshold(mut self, n: usize) -> Self {
        self.full_scan_threshold = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |s: alloc::string::String| Err(Error::InvalidConfig(s));
        if !(1..=65536).contains(&self.dim) {
            return bad(alloc::format!("dim must be in 1..=65536, got {}", self.dim));
        }
        if self.m != 0 && !(2..=128).contains(&self.m) {
            return bad(alloc::format!(
                "m must be 0 (no graph, exact search) or in 2..=128, got {}",
                self.m
            ));
        }
        if !(1..=100_000).contains(&self.ef_construction) {
            return bad(alloc::format!(
                "ef_construction must be in 1..=100000, got {}",
                self.ef_construction
            ));
        }
        if !(1..=100_000).contains(&self.ef_search) {
            return bad(alloc::format!(
                "ef_search must be in 1..=100000, got {}",
                self.ef_search
            ));
        }
        Ok(())
    }
}

/// A hierarchical navigable small world graph over the points of a collection.
///
/// Deleting marks a point deleted: it is never returned but keeps routing
/// searches until the next compaction, which rewires its neighbours and
/// frees its slot for reuse. Compaction runs by itself once deleted points
/// exceed a tenth of the live ones, or on [`Hnsw::compact`].
#[derive(Debug, Clone)]
pub struct Hnsw {
    pub(crate) config: HnswConfig,
    pub(crate) store: PointStore,
    /// Level-0 links: per slot `[count, id_1 .. id_{2m}]`.
    pub(crate) links0: Vec<u32>,
    /// Top level of each slot.
    pub(crate) levels: Vec<u8>,
    /// Start in `upper` of each slot's upper-level lists, or `NONE`.
    pub(crate) upper_at: Vec<u32>,
    /// Upper-level lists: per slot, for levels 1..=level, `[count, id_1 .. id_m]`.
    pub(crate) upper: Vec<u32>,
    pub(crate) entry: Option<u32>,
    pub(crate) max_level: u8,
    pub(crate) rng: Rng,
    /// Quantized codes of every slot, when quantization is on.
    pub(crate) quant: Option<QuantizedVectors>,
    /// Scratch for inserts (not persisted).
    pub(crate) scratch: Scratch,
}

impl Hnsw {
    /// An empty index.
    pub fn new(config: HnswConfig) -> Result<Self> {
        config.validate()?;
        Ok(Hnsw {
            store: PointStore::new(config.dim, config.metric),
            links0: Vec::new(),
            levels: Vec::new(),
            upper_at: Vec::new(),
            upper: Vec::new(),
            entry: None,
            max_level: 0,
            rng: Rng::new(config.seed),
            quant: None,
            scratch: Scratch::new(),
            config,
        })
    }

    /// Turns on quantization: trains `quantization` on the live vectors and
    /// encodes every point; later upserts are encoded as they come. Calling
    /// it again retrains from the originals. Searches then compare codes
    /// (see [`Hnsw::search_with`]); the graph is unchanged.
    ///
    /// Errors: [`Error::InvalidConfig`] for a configuration that does not
    /// fit the index (e.g. a product `m` that does not divide the
    /// dimension), [`Error::InvalidParameter`] for an empty index or one
    /// whose originals were dropped. On error nothing changes.
    pub fn quantize(&mut self, quantization: Quantization) -> Result<()> {
        self.quant = Some(QuantizedVectors::train(quantization, &self.store)?);
        Ok(())
    }

    /// The quantization in use, if any.
    pub fn quantization(&self) -> Option<Quantization> {
        self.quant.as_ref().map(|q| q.config)
    }

    /// Drops the original vectors and keeps only the quantized codes, for
    /// memory: searches can then no longer rescore, later inserts link by
    /// quantized distances (a lower-quality graph, and slow to build with
    /// product codes), [`crate::VectorIndex::vector`] returns `None` and
    /// quantization cannot be retrained. [`Error::InvalidParameter`] if the
    /// index is not quantized.
    pub fn drop_originals(&mut self) -> Result<()> {
        if self.quant.is_none() {
            return Err(Error::InvalidParameter(
                "cannot drop the original vectors of an index without quantization".into(),
            ));
        }
        self.store.keeps_vectors = false;
        self.store.vectors = Floats::Heap(Vec::new());
        Ok(())
    }

    /// True unless [`Hnsw::drop_originals`] was called.
    pub fn keeps_originals(&self) -> bool {
        self.store.keeps_vectors
    }

    /// Bytes of vector data per point: the original `f32` vector (if kept)
    /// plus the quantized code (if any).
    pub fn vector_bytes_per_point(&self) -> usize {
        let originals = if self.store.keeps_vectors {
            self.config.dim * 4
        } else {
            0
        };
        originals + self.quant.as_ref().map_or(0, |q| q.code_bytes())
    }

    /// Bytes held by vector data (originals and codes), by capacity.
    pub fn vector_memory_bytes(&self) -> usize {
        self.store.vectors.heap_bytes() + self.quant.as_ref().map_or(0, |q| q.memory_bytes())
    }

    /// The configuration.
    pub fn config(&self) -> &HnswConfig {
        &self.config
    }

    /// Stride of a level-0 list.
    #[inline(always)]
    fn stride0(&self) -> usize {
        1 + 2 * self.config.m
    }

    /// Stride of an upper-level list.
    #[inline(always)]
    fn stride_up(&self) -> usize {
        1 + self.config.m
    }

    /// Most links a node keeps on `level`.
    #[inline(always)]
    fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            2 * self.config.m
        } else {
            self.config.m
        }
    }

    /// Start of the list of `slot` on `level` in `links0` / `upper`.
    #[inline(always)]
    fn list_at(&self, slot: u32, level: usize) -> usize {
        if level == 0 {
            slot as usize * self.stride0()
        } else {
            self.upper_at[slot as usize] as usize + (level - 1) * self.stride_up()
        }
    }

    /// The links of `slot` on `level`.
    #[inline(always)]
    pub(crate) fn links(&self, slot: u32, level: usize) -> &[u32] {
        let at = self.list_at(slot, level);
        let arena = if level == 0 {
            &self.links0
        } else {
            &self.upper
        };
        let n = arena[at] as usize;
        &arena[at + 1..at + 1 + n]
    }

    /// Replaces the links of `slot` on `level`.
    pub(crate) fn set_links(
        &mut self,
        slot: u32,
        level: usize,
        ids: impl ExactSizeIterator<Item = u32>,
    ) {
        debug_assert!(ids.len() <= self.max_links(level));
        let at = self.list_at(slot, level);
        let arena = if level == 0 {
            &mut self.links0
        } else {
            &mut self.upper
        };
        arena[at] = ids.len() as u32;
        for (dst, id) in arena[at + 1..].iter_mut().zip(ids) {
            *dst = id;
        }
    }

    /// Moves the original vectors into `arena` (emptied first); later
    /// inserts append there and searches read from it. The index then holds
    /// no vector memory of its own. [`Error::InvalidParameter`] when the
    /// originals were dropped, [`Error::VectorStorage`] when the arena
    /// cannot take them (the index is unchanged).
    pub fn set_vector_arena(&mut self, mut arena: Box<dyn VectorArena>) -> Result<()> {
        if !self.store.keeps_vectors {
            return Err(Error::InvalidParameter(
                "the index keeps only quantized codes: there are no vectors to move".into(),
            ));
        }
        arena.truncate(0);
        arena
            .reserve(self.store.vectors.len())
            .and_then(|()| arena.extend_from_slice(&self.store.vectors))
            .map_err(Error::VectorStorage)?;
        self.store.vectors = Floats::Arena(arena);
        Ok(())
    }

    /// True when the original vectors live in an embedder's arena
    /// ([`Hnsw::set_vector_arena`]).
    pub fn uses_vector_arena(&self) -> bool {
        self.store.vectors.is_arena()
    }

    /// Makes room in the vector arena ([`Hnsw::set_vector_arena`]) for
    /// `additional` more points, reporting an arena that cannot grow
    /// ([`Error::VectorStorage`]) before anything is written. Does nothing
    /// for heap vectors, which grow by themselves.
    pub fn try_reserve(&mut self, additional: usize) -> Result<()> {
        if self.store.keeps_vectors && self.store.vectors.is_arena() {
            let dim = self.store.dim;
            self.store.vectors.reserve(additional.saturating_mul(dim))?;
        }
        Ok(())
    }

    /// Makes room for `additional` more points without reallocating (an
    /// arena that cannot grow is reported by the inserts instead: see
    /// [`Hnsw::try_reserve`]).
    pub fn reserve(&mut self, additional: usize) {
        let s = &mut self.store;
        if !s.vectors.is_arena() {
            // Heap reservation cannot fail short of aborting.
            let _ = s.vectors.reserve(additional * s.dim);
        }
        s.keys.reserve_exact(additional);
        s.slots.reserve_exact(additional);
        s.by_key.reserve(additional);
        self.links0.reserve_exact(additional * self.stride0());
        self.levels.reserve_exact(additional);
        self.upper_at.reserve_exact(additional);
        // Expected upper lists: a fraction 1/(m-1) of nodes, one list each on average.
        self.upper
            .reserve(additional / (self.config.m - 1) * self.stride_up());
    }

    /// Bytes used by the graph alone (links, levels, offsets), by capacity.
    pub fn graph_memory_bytes(&self) -> usize {
        (self.links0.capacity() + self.upper_at.capacity() + self.upper.capacity()) * 4
            + self.levels.capacity()
    }

    /// Number of deleted points still wired into the graph.
    pub fn deleted_len(&self) -> usize {
        self.store.deleted
    }

    /// Number of slots (live, deleted and free): the size of the internal id space.
    pub fn slot_count(&self) -> usize {
        self.store.slot_count()
    }
}

/// Calls `$self.$method::<K>($args)` with the space the graph is built in:
/// the originals when kept, else the codes.
macro_rules! in_build_space {
    ($self:ident . $method:ident ( $($arg:expr),* $(,)? )) => {
        if $self.store.keeps_vectors {
            $self.$method::<$crate::hnsw::FloatOf>($($arg),*)
        } else {
            match $self.quant.as_ref().map(|q| &q.codes) {
                Some($crate::quant::vectors::Codes::Int8 { .. }) => {
                    $self.$method::<$crate::hnsw::Int8Of>($($arg),*)
                }
                Some($crate::quant::vectors::Codes::Binary { .. }) => {
                    $self.$method::<$crate::hnsw::BinaryOf>($($arg),*)
                }
                Some($crate::quant::vectors::Codes::Product { .. }) => {
                    $self.$method::<$crate::hnsw::PqOf>($($arg),*)
                }
                None => unreachable!("an index without originals has codes"),
            }
        }
    };
}
pub(crate) use in_build_space;
