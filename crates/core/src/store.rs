//! Point storage shared by the flat and HNSW indexes: vectors in one
//! contiguous buffer, external ids, slot states and the id → slot map.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use hashbrown::HashMap;

use crate::error::{Error, Result};
use crate::metric::Metric;

/// What a slot (internal id) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Slot {
    /// A point that searches return.
    Live = 0,
    /// A deleted point still wired into a graph; never returned.
    Deleted = 1,
    /// An empty slot that the next insert reuses.
    Free = 2,
}

impl Slot {
    pub(crate) fn from_u8(b: u8) -> Option<Slot> {
        match b {
            0 => Some(Slot::Live),
            1 => Some(Slot::Deleted),
            2 => Some(Slot::Free),
            _ => None,
        }
    }
}

/// Largest number of slots; internal ids are `u32` and the top bit is
/// reserved by the search pool.
pub(crate) const MAX_SLOTS: usize = (1 << 31) - 1;

/// Memory for the components of an index's original vectors that lives
/// outside the heap, supplied by the embedder (grape-db maps a file with
/// memmap2). It behaves like a growable `Vec<f32>`: the index appends one
/// vector per new slot, overwrites rows in place, truncates after
/// compaction and reads rows by slicing.
///
/// Errors are messages: the index reports them as
/// [`Error::VectorStorage`]. Appending within capacity that
/// [`reserve`](Self::reserve) made must not fail.
pub trait VectorArena: Send + Sync + core::fmt::Debug {
    /// The values stored, `len` of them.
    fn as_slice(&self) -> &[f32];
    /// The values stored, writable in place.
    fn as_mut_slice(&mut self) -> &mut [f32];
    /// Values that fit without growing.
    fn capacity(&self) -> usize;
    /// Makes room for at least `additional` more values.
    fn reserve(&mut self, additional: usize) -> core::result::Result<(), String>;
    /// Appends `values`, growing if needed.
    fn extend_from_slice(&mut self, values: &[f32]) -> core::result::Result<(), String>;
    /// Keeps the first `len` values.
    fn truncate(&mut self, len: usize);
}

/// The original vectors of a store: on the heap, or in an embedder's arena.
pub(crate) enum Floats {
    Heap(Vec<f32>),
    Arena(Box<dyn VectorArena>),
}

impl Floats {
    pub(crate) fn extend(&mut self, values: &[f32]) -> Result<()> {
        match self {
            Floats::Heap(v) => {
                v.extend_from_slice(values);
                Ok(())
            }
            Floats::Arena(a) => a.extend_from_slice(values).map_err(Error::VectorStorage),
        }
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        match self {
            Floats::Heap(v) => v.truncate(len),
            Floats::Arena(a) => a.truncate(len),
        }
    }

    /// Room for `additional` more values.
    pub(crate) fn reserve(&mut self, additional: usize) -> Result<()> {
        match self {
            Floats::Heap(v) => {
                v.reserve_exact(additional);
                Ok(())
            }
            Floats::Arena(a) => a.reserve(additional).map_err(Error::VectorStorage),
        }
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        if let Floats::Heap(v) = self {
            v.shrink_to_fit();
        }
    }

    /// Heap bytes held (an arena's memory is the embedder's to count).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Floats::Heap(v) => v.capacity() * core::mem::size_of::<f32>(),
            Floats::Arena(_) => 0,
        }
    }

    pub(crate) fn is_arena(&self) -> bool {
        matches!(self, Floats::Arena(_))
    }
}

impl Deref for Floats {
    type Target = [f32];
    #[inline(always)]
    fn deref(&self) -> &[f32] {
        match self {
            Floats::Heap(v) => v,
            Floats::Arena(a) => a.as_slice(),
        }
    }
}

impl DerefMut for Floats {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [f32] {
        match self {
            Floats::Heap(v) => v,
            Floats::Arena(a) => a.as_mut_slice(),
        }
    }
}

/// A clone lives on the heap: an arena is the embedder's single resource.
impl Clone for Floats {
    fn clone(&self) -> Self {
        Floats::Heap(self.to_vec())
    }
}

impl core::fmt::Debug for Floats {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Floats::Heap(v) => write!(f, "Heap({} floats)", v.len()),
            Floats::Arena(a) => write!(f, "Arena({a:?}, {} floats)", a.as_slice().len()),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PointStore {
    pub(crate) dim: usize,
    pub(crate) metric: Metric,
    /// `slots × dim` floats; slot `s` is `vectors[s*dim..(s+1)*dim]`.
    /// Empty when the index keeps only quantized codes.
    pub(crate) vectors: Floats,
    /// False once the original vectors were dropped (quantized codes only).
    pub(crate) keeps_vectors: bool,
    /// External id of each slot (meaningless for free slots).
    pub(crate) keys: Vec<u64>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) by_key: HashMap<u64, u32>,
    /// Free slots, reused last-in first-out.
    pub(crate) free: Vec<u32>,
    pub(crate) live: usize,
    pub(crate) deleted: usize,
}

impl PointStore {
    pub(crate) fn new(dim: usize, metric: Metric) -> Self {
        PointStore {
            dim,
            metric,
            vectors: Floats::Heap(Vec::new()),
            keeps_vectors: true,
            keys: Vec::new(),
            slots: Vec::new(),
            by_key: HashMap::new(),
            free: Vec::new(),
            live: 0,
            deleted: 0,
        }
    }

    /// Rebuilds the derived state (id map, counters) from slots and keys.
    pub(crate) fn from_parts(
        dim: usize,
        metric: Metric,
        vectors: Vec<f32>,
        keeps_vectors: bool,
        keys: Vec<u64>,
        slots: Vec<Slot>,
    ) -> Result<Self> {
        let n = slots.len();
        let want = if keeps_vectors {
            n.saturating_mul(dim)
        } else {
            0
        };
        if dim == 0 || keys.len() != n || vectors.len() != want {
            return Err(Error::Corrupted("point storage sizes disagree".into()));
        }
        if n > MAX_SLOTS {
            return Err(Error::Corrupted("too many slots".into()));
        }
        let mut store = PointStore::new(dim, metric);
        store.by_key.reserve(n);
        for (s, (&state, &key)) in slots.iter().zip(&keys).enumerate() {
            match state {
                Slot::Live => {
                    if store.by_key.insert(key, s as u32).is_some() {
                        return Err(Error::Corrupted(alloc::format!(
                            "point id {key} stored twice"
                        )));
                    }
                    store.live += 1;
                }
                Slot::Deleted => store.deleted += 1,
                Slot::Free => store.free.push(s as u32),
            }
        }
        store.free.reverse();
        if let Some(bad) = vectors.iter().position(|x| !x.is_finite()) {
            return Err(Error::Corrupted(alloc::format!(
                "non-finite value in vector {}",
                bad / dim
            )));
        }
        store.vectors = Floats::Heap(vectors);
        store.keeps_vectors = keeps_vectors;
        store.keys = keys;
        store.slots = slots;
        Ok(store)
    }

    /// The original vector of `slot`; only when [`keeps_vectors`](Self::keeps_vectors).
    #[inline]
    pub(crate) fn vector(&self, slot: u32) -> &[f32] {
        debug_assert!(self.keeps_vectors, "original vectors were dropped");
        let s = slot as usize * self.dim;
        &self.vectors[s..s + self.dim]
    }

    #[inline]
    pub(crate) fn is_live(&self, slot: u32) -> bool {
        self.slots[slot as usize] == Slot::Live
    }

    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn slot_of(&self, key: u64) -> Option<u32> {
        self.by_key.get(&key).copied()
    }

    /// Makes sure the next [`push`](Self::push) cannot fail for lack of
    /// vector room, before the caller changes anything. Heap vectors grow
    /// on their own (amortised); only an arena is asked.
    pub(crate) fn ensure_room(&mut self) -> Result<()> {
        if self.free.is_empty() && self.keeps_vectors && self.vectors.is_arena() {
            self.vectors.reserve(self.dim)
        } else {
            Ok(())
        }
    }

    /// Stores a prepared vector under `key` in a free or new slot and
    /// returns the slot. The caller has removed any previous point `key`.
    pub(crate) fn push(&mut self, key: u64, prepared: &[f32]) -> Result<u32> {
        debug_assert_eq!(prepared.len(), self.dim);
        let slot = match self.free.pop() {
            Some(s) => {
                if self.keeps_vectors {
                    let at = s as usize * self.dim;
                    self.vectors[at..at + self.dim].copy_from_slice(prepared);
                }
                self.keys[s as usize] = key;
                self.slots[s as usize] = Slot::Live;
                s
            }
            None => {
                if self.slots.len() >= MAX_SLOTS {
                    return Err(Error::CapacityExceeded(MAX_SLOTS));
                }
                if self.keeps_vectors {
                    self.vectors.extend(prepared)?;
                }
                self.keys.push(key);
                self.slots.push(Slot::Live);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_key.insert(key, slot);
        self.live += 1;
        Ok(slot)
    }

    /// Marks the point `key` deleted and returns its slot.
    pub(crate) fn mark_deleted(&mut self, key: u64) -> Result<u32> {
        let slot = self.by_key.remove(&key).ok_or(Error::UnknownId(key))?;
        self.slots[slot as usize] = Slot::Deleted;
        self.live -= 1;
        self.deleted += 1;
        Ok(slot)
    }

    /// Turns a deleted slot into a free one.
    pub(crate) fn release(&mut self, slot: u32) {
        debug_assert_eq!(self.slots[slot as usize], Slot::Deleted);
        self.slots[slot as usize] = Slot::Free;
        if self.keeps_vectors {
            let at = slot as usize * self.dim;
            self.vectors[at..at + self.dim].fill(0.0);
        }
        self.deleted -= 1;
        self.free.push(slot);
    }

    /// Drops free slots at the end of storage and returns the new slot
    /// count. Costs nothing unless the last slot is free.
    pub(crate) fn trim_tail(&mut self) -> usize {
        let mut n = self.slots.len();
        if self.slots.last() != Some(&Slot::Free) {
            return n;
        }
        while n > 0 && self.slots[n - 1] == Slot::Free {
            n -= 1;
        }
        self.slots.truncate(n);
        self.keys.truncate(n);
        if self.keeps_vectors {
            self.vectors.truncate(n * self.dim);
        }
        self.free.retain(|&s| (s as usize) < n);
        if self.slots.capacity() > 2 * self.slots.len() + 1024 {
            self.vectors.shrink_to_fit();
            self.keys.shrink_to_fit();
            self.slots.shrink_to_fit();
        }
        n
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        use core::mem::size_of;
        self.vectors.heap_bytes()
            + self.keys.capacity() * size_of::<u64>()
            + self.slots.capacity()
            + self.free.capacity() * size_of::<u32>()
            // hashbrown: one control byte plus one (u64, u32) bucket per slot of capacity.
            + self.by_key.capacity() * 8 / 7 * (1 + size_of::<(u64, u32)>())
    }
}

/// Moves row `order[i]` of `data` (rows of `width` items) to row `i`, in
/// place, by following the permutation's cycles with one row of scratch.
pub(crate) fn permute_rows<T: Copy>(data: &mut [T], width: usize, order: &[u32]) {
    let mut done = alloc::vec![false; order.len()];
    let mut tmp = Vec::with_capacity(width);
    for start in 0..order.len() {
        if done[start] || order[start] as usize == start {
            continue;
        }
        tmp.clear();
        tmp.extend_from_slice(&data[start * width..(start + 1) * width]);
        let mut i = start;
        loop {
            done[i] = true;
            let from = order[i] as usize;
            if from == start {
                data[i * width..(i + 1) * width].copy_from_slice(&tmp);
                break;
            }
            data.copy_within(from * width..(from + 1) * width, i * width);
            i = from;
        }
    }
}
