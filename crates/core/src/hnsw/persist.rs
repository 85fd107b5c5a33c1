//! Hnsw <-> the portable byte format.

use alloc::vec::Vec;

use super::{Hnsw, HnswConfig, MAX_LEVEL, NONE};
use crate::error::{Error, Result};
use crate::format;
use crate::metric::Metric;
use crate::quant::vectors::{QuantBody, QuantizedVectors};
use crate::rng::Rng;
use crate::scratch::Scratch;
use crate::store::{PointStore, Slot};

/// An HNSW index as format version 1 wrote it (version 2 appends fields).
#[derive(bincode::Encode, bincode::Decode)]
pub(crate) struct HnswBodyV1 {
    dim: u32,
    metric: Metric,
    m: u32,
    ef_construction: u32,
    ef_search: u32,
    seed: u64,
    full_scan_threshold: u64,
    rng_state: u64,
    vectors: Vec<f32>,
    keys: Vec<u64>,
    slots: Vec<u8>,
    levels: Vec<u8>,
    links0: Vec<u32>,
    /// Upper lists of every node with a level, in slot order.
    upper: Vec<u32>,
    entry: Option<u32>,
    max_level: u8,
}

/// An HNSW index in format version 2.
#[derive(bincode::Encode, bincode::Decode)]
pub(crate) struct HnswBody {
    base: HnswBodyV1,
    /// False when only quantized codes are kept (`base.vectors` is empty).
    keeps_vectors: bool,
    quant: Option<QuantBody>,
}

impl HnswBody {
    pub(crate) fn from_v1(base: HnswBodyV1) -> Self {
        HnswBody {
            base,
            keeps_vectors: true,
            quant: None,
        }
    }
}

fn bad(msg: &str) -> Error {
    Error::Corrupted(msg.into())
}

impl Hnsw {
    pub(crate) fn to_body(&self) -> HnswBody {
        let mut copy_upper = Vec::new();
        let stride = self.stride_up();
        for (s, &l) in self.levels.iter().enumerate() {
            if l > 0 {
                let at = self.upper_at[s] as usize;
                copy_upper.extend_from_slice(&self.upper[at..at + l as usize * stride]);
            }
        }
        let base = HnswBodyV1 {
            dim: self.config.dim as u32,
            metric: self.config.metric,
            m: self.config.m as u32,
            ef_construction: self.config.ef_construction as u32,
            ef_search: self.config.ef_search as u32,
            seed: self.config.seed,
            full_scan_threshold: self.config.full_scan_threshold as u64,
            rng_state: self.rng.state(),
            vectors: self.store.vectors.to_vec(),
            keys: self.store.keys.clone(),
            slots: self.store.slots.iter().map(|&s| s as u8).collect(),
            levels: self.levels.clone(),
            links0: self.links0.clone(),
            upper: copy_upper,
            entry: self.entry,
            max_level: self.max_level,
        };
        HnswBody {
            base,
            keeps_vectors: self.store.keeps_vectors,
            quant: self.quant.as_ref().map(|q| q.to_body()),
        }
    }

    pub(crate) fn from_body(body: HnswBody) -> Result<Self> {
        let HnswBody {
            base: b,
            keeps_vectors,
            quant,
        } = body;
        if !keeps_vectors && quant.is_none() {
            return Err(bad("an index without vectors must have quantized codes"));
        }
        let config = HnswConfig {
            dim: b.dim as usize,
            metric: b.metric,
            m: b.m as usize,
            ef_construction: b.ef_construction as usize,
            ef_search: b.ef_search as usize,
            seed: b.seed,
            full_scan_threshold: usize::try_from(b.full_scan_threshold).unwrap_or(usize::MAX),
        };
        config
            .validate()
            .map_err(|e| Error::Corrupted(alloc::format!("{e}")))?;
        let slots = b
            .slots
            .iter()
            .map(|&s| Slot::from_u8(s))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("unknown slot state"))?;
        let store = PointStore::from_parts(
            config.dim,
            config.metric,
            b.vectors,
            keeps_vectors,
            b.keys,
            slots,
        )?;
        let n = store.slot_count();
        let (stride0, stride_up) = (1 + 2 * config.m, 1 + config.m);
        if b.levels.len() != n || b.links0.len() != n * stride0 {
            return Err(bad("graph sizes disagree with the point count"));
        }
        if b.max_level > MAX_LEVEL {
            return Err(bad("level out of range"));
        }
        let mut upper_at = Vec::with_capacity(n);
        let mut next = 0usize;
        for &l in &b.levels {
            if l > b.max_level {
                return Err(bad("node above the top level"));
            }
            if l == 0 {
                upper_at.push(NONE);
            } else {
                upper_at.push(u32::try_from(next).map_err(|_| bad("upper lists too large"))?);
                next += l as usize * stride_up;
            }
        }
        if next != b.upper.len() {
            return Err(bad("upper lists disagree with the levels"));
        }
        // Every list: count within bounds, targets are existing, non-free slots.
        let check = |list: &[u32], max: usize| -> Result<()> {
            let c = list[0] as usize;
            if c > max {
                return Err(bad("link list longer than allowed"));
            }
            for &t in &list[1..1 + c] {
                if t as usize >= n || store.slots[t as usize] == Slot::Free {
                    return Err(bad("link to a missing point"));
                }
            }
            Ok(())
        };
        for (s, l0) in b.links0.chunks_exact(stride0).enumerate() {
            if store.slots[s] == Slot::Free {
                if l0[0] != 0 || b.levels[s] != 0 {
                    return Err(bad("free slot with links"));
                }
                continue;
            }
            check(l0, 2 * config.m)?;
            for lvl in 0..b.levels[s] as usize {
                let at = upper_at[s] as usize + lvl * stride_up;
                check(&b.upper[at..at + stride_up], config.m)?;
            }
        }
        match b.entry {
            None if store.live + store.deleted > 0 => return Err(bad("missing entry point")),
            Some(e) if e as usize >= n || store.slots[e as usize] == Slot::Free => {
                return Err(bad("entry point is not a point"));
            }
            Some(e) if b.levels[e as usize] != b.max_level => {
                return Err(bad("entry point is not on the top level"));
            }
            _ => {}
        }
        let quant = quant
            .map(|q| QuantizedVectors::from_body(q, config.dim, config.metric, n))
            .transpose()?;
        Ok(Hnsw {
            quant,
            config,
            store,
            links0: b.links0,
            levels: b.levels,
            upper_at,
            upper: b.upper,
            entry: b.entry,
            max_level: b.max_level,
            rng: Rng::new(b.rng_state),
            scratch: Scratch::new(),
        })
    }

    /// The index in Grape's portable byte format.
    pub fn to_bytes(&self) -> Vec<u8> {
        format::seal(&crate::index::Body::Hnsw(self.to_body()))
    }

    /// Loads an index written by [`Hnsw::to_bytes`]; any damage gives an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match crate::index::open_body(bytes)? {
            crate::index::Body::Hnsw(b) => Hnsw::from_body(b),
            _ => Err(Error::Corrupted("bytes hold a different index kind".into())),
        }
    }
}
