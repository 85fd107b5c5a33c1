//! Payloads per internal id, payload indexes, and filters evaluated with
//! them.

use alloc::format;
use alloc::vec::Vec;

use hashbrown::HashMap;

use super::filter::{Condition, Filter, MinShould};
use super::index::{Bits, FieldIndex, FieldSchema};
use super::{KeyPath, Payload, PointId};
use crate::error::{Error, Result};

/// A payload index built by [`PayloadStore::build_index`], waiting to be
/// installed (empty when the store already had it).
#[derive(Debug)]
pub struct BuiltIndex(Option<FieldIndex>);

/// Payloads of the points of a collection, by internal id, with optional
/// payload indexes that make filters fast and give searches the exact
/// number of points a filter allows.
///
/// Register every point (with an empty payload if it has none): a point
/// the store does not know never passes a filter. Ids are expected to be
/// unique across internal ids.
#[derive(Debug, Clone, Default)]
pub struct PayloadStore {
    points: Vec<Option<(PointId, Payload)>>,
    by_id: HashMap<PointId, u32>,
    /// One bit per live internal id.
    live: Vec<u64>,
    len: usize,
    indexes: Vec<FieldIndex>,
}

impl PayloadStore {
    /// An empty store without indexes.
    pub fn new() -> Self {
        PayloadStore::default()
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the store holds no point.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes room for internal ids below `slots` and `points` ids at once
    /// (loading: each array allocated once, at its final size).
    pub(crate) fn reserve_exact(&mut self, slots: usize, points: usize) {
        self.points
            .reserve_exact(slots.saturating_sub(self.points.len()));
        self.live
            .reserve_exact(slots.div_ceil(64).saturating_sub(self.live.len()));
        self.by_id.reserve(points.saturating_sub(self.by_id.len()));
    }

    /// Sets the id and payload of internal id `internal`, replacing what it
    /// held, and updates every index.
    pub fn set(&mut self, internal: u32, id: PointId, payload: Payload) {
        self.remove(internal);
        let slot = internal as usize;
        if self.points.len() <= slot {
            self.points.resize_with(slot + 1, || None);
        }
        if self.live.len() <= slot / 64 {
            self.live.resize(slot / 64 + 1, 0);
        }
        for index in &mut self.indexes {
            index.add(internal, &payload);
        }
        self.by_id.insert(id, internal);
        self.live[slot / 64] |= 1 << (slot % 64);
        self.points[slot] = Some((id, payload));
        self.len += 1;
    }

    /// Removes internal id `internal`; returns its id and payload.
    pub fn remove(&mut self, internal: u32) -> Option<(PointId, Payload)> {
        let slot = internal as usize;
        let (id, payload) = self.points.get_mut(slot)?.take()?;
        for index in &mut self.indexes {
            index.remove(internal, &payload);
        }
        if self.by_id.get(&id) == Some(&internal) {
            self.by_id.remove(&id);
        }
        self.live[slot / 64] &= !(1 << (slot % 64));
        self.len -= 1;
        while matches!(self.points.last(), Some(None)) {
            self.points.pop();
        }
        self.live.truncate(self.points.len().div_ceil(64));
        Some((id, payload))
    }

    /// Replaces the payload of internal id `internal`, keeping its id, and
    /// updates every index; returns the old payload, or `None` (and changes
    /// nothing) when `internal` holds no point.
    pub fn replace(&mut self, internal: u32, payload: Payload) -> Option<Payload> {
        let (_, old) = self.points.get_mut(internal as usize)?.as_mut()?;
        for index in &mut self.indexes {
            index.remove(internal, old);
            index.add(internal, &payload);
        }
        Some(core::mem::replace(old, payload))
    }

    /// The id and payload at internal id `internal`.
    pub fn get(&self, internal: u32) -> Option<(&PointId, &Payload)> {
        self.points
            .get(internal as usize)?
            .as_ref()
            .map(|(id, p)| (id, p))
    }

    /// The internal id of the point with id `id`.
    pub fn internal_id(&self, id: &PointId) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// Every point, by increasing internal id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &PointId, &Payload)> {
        self.points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|(id, p)| (i as u32, id, p)))
    }

    /// Indexes the values at key `field` as `schema`, including the points
    /// already stored. Values of another type are not indexed. Indexing a
    /// key again with another schema replaces its index.
    pub fn create_index(&mut self, field: &str, schema: FieldSchema) -> Result<()> {
        let built = self.build_index(field, schema)?;
        self.install_index(built);
        Ok(())
    }

    /// Builds the index [`PayloadStore::create_index`] would add, reading
    /// only: a database builds it while searches go on and installs it
    /// with [`PayloadStore::install_index`] (nothing may change the store
    /// in between).
    pub fn build_index(&self, field: &str, schema: FieldSchema) -> Result<BuiltIndex> {
        let path = KeyPath::parse(field).map_err(|e| {
            Error::InvalidParameter(format!("invalid payload index key {field:?}: {e}"))
        })?;
        if self
            .indexes
            .iter()
            .any(|i| i.path == path && i.schema == schema)
        {
            return Ok(BuiltIndex(None));
        }
        let mut index = FieldIndex::new(path, schema);
        for (i, _, payload) in self.iter() {
            index.add(i, payload);
        }
        Ok(BuiltIndex(Some(index)))
    }

    /// Adds an index from [`PayloadStore::build_index`], replacing one on
    /// the same key.
    pub fn install_index(&mut self, built: BuiltIndex) {
        let Some(index) = built.0 else { return };
        self.indexes.retain(|i| i.path != index.path);
        self.indexes.push(index);
    }

    /// Drops the index on key `field`; false when there was none.
    pub fn drop_index(&mut self, field: &str) -> bool {
        let Ok(path) = KeyPath::parse(field) else {
            return false;
        };
        let before = self.indexes.len();
        self.indexes.retain(|i| i.path != path);
        self.indexes.len() != before
    }

    /// Every indexed key with its schema, in creation order.
    pub fn index_fields(&self) -> Vec<(alloc::string::String, FieldSchema)> {
        self.indexes
            .iter()
            .map(|i| (i.path.as_str().into(), i.schema))
            .collect()
    }

    /// The schema of the index on key `field`, if there is one.
    pub fn index_schema(&self, field: &str) -> Option<FieldSchema> {
        let path = KeyPath::parse(field).ok()?;
        self.indexes
            .iter()
            .find(|i| i.path == path)
            .map(|i| i.schema)
    }

    /// Number of points that pass `filter`.
    pub fn count(&self, filter: &Filter) -> usize {
        match self.plan(filter) {
            Plan::Exact(b) => b.count(),
            Plan::Within(b) => b.iter().filter(|&i| self.passes(i, filter)).count(),
            Plan::Scan => self
                .iter()
                .filter(|(_, id, p)| filter.matches(id, p))
                .count(),
        }
    }

    /// Internal ids of the points that pass `filter`, ascending. Indexed
    /// conditions give the candidates; the rest is checked point by point.
    pub fn matching(&self, filter: &Filter) -> Vec<u32> {
        match self.plan(filter) {
            Plan::Exact(b) => b.iter().collect(),
            Plan::Within(b) => b.iter().filter(|&i| self.passes(i, filter)).collect(),
            Plan::Scan => self
                .iter()
                .filter(|(_, id, p)| filter.matches(id, p))
                .map(|(i, _, _)| i)
                .collect(),
        }
    }

    /// The filter as a search filter over internal ids (see
    /// [`crate::Filter`]), with the cardinality the indexes give: exact when
    /// every condition is answered by an index or `has_id` (including
    /// and/or/not combinations of them), estimated from the indexed
    /// candidates otherwise, `None` when no condition is indexed.
    pub fn matcher<'a>(&'a self, filter: &'a Filter) -> Matcher<'a> {
        let plan = self.plan(filter);
        let cardinality = match &plan {
            Plan::Exact(b) => Some(b.count()),
            Plan::Within(b) => Some(self.estimate_within(b, filter)),
            Plan::Scan => None,
        };
        Matcher {
            store: self,
            filter,
            plan,
            cardinality,
        }
    }

    fn passes(&self, internal: u32, filter: &Filter) -> bool {
        self.get(internal)
            .is_some_and(|(id, p)| filter.matches(id, p))
    }

    /// Candidates that pass, exactly up to 1024 candidates, else from an
    /// evenly strided sample of 512, rounded up.
    fn estimate_within(&self, b: &Bits, filter: &Filter) -> usize {
        const SAMPLE: usize = 512;
        let n = b.count();
        if n <= 2 * SAMPLE {
            return b.iter().filter(|&i| self.passes(i, filter)).count();
        }
        let step = n / SAMPLE;
        let (mut seen, mut hit) = (0usize, 0usize);
        for i in b.iter().step_by(step) {
            seen += 1;
            hit += usize::from(self.passes(i, filter));
        }
        (hit * n).div_ceil(seen)
    }

    fn live_bits(&self) -> Bits {
        Bits::from_words(self.live.clone(), self.points.len())
    }

    fn plan(&self, filter: &Filter) -> Plan {
        match self.plan_filter(filter) {
            Est::All => Plan::Exact(self.live_bits()),
            Est::Exact(b) => Plan::Exact(b),
            Est::Super(b) => Plan::Within(b),
            Est::Unknown => Plan::Scan,
        }
    }

    fn plan_filter(&self, f: &Filter) -> Est {
        let mut acc = Est::All;
        for c in &f.must {
            acc = acc.and(self.plan_condition(c));
        }
        if let Some(should) = &f.should {
            let mut any = Est::Exact(Bits::zeros(self.points.len()));
            for c in should {
                any = any.or(self.plan_condition(c));
            }
            acc = acc.and(any);
        }
        if let Some(ms) = &f.min_should {
            acc = acc.and(self.plan_min_should(ms));
        }
        for c in &f.must_not {
            let not = match self.plan_condition(c) {
                Est::All => Est::Exact(Bits::zeros(self.points.len())),
                Est::Exact(b) => {
                    let mut live = self.live_bits();
                    live.and_not(&b);
                    Est::Exact(live)
                }
                Est::Super(_) | Est::Unknown => Est::Unknown,
            };
            acc = acc.and(not);
        }
        acc
    }

    fn plan_condition(&self, c: &Condition) -> Est {
        let n = self.points.len();
        match c {
            Condition::Field(fc) => self
                .indexes
                .iter()
                .find(|i| i.path == fc.key)
                .and_then(|i| i.answer(&fc.op, n, |id| self.get(id).map(|(_, p)| p)))
                .map_or(Est::Unknown, Est::Exact),
            Condition::HasId(ids) => {
                let mut b = Bits::zeros(n);
                for id in ids.as_slice() {
                    if let Some(&i) = self.by_id.get(id) {
                        b.set(i);
                    }
                }
                Est::Exact(b)
            }
            Condition::Filter(f) => self.plan_filter(f),
            Condition::IsEmpty(_) | Condition::IsNull(_) | Condition::Nested(_) => Est::Unknown,
        }
    }

    /// A point passing `min_should` passes at least `min_count - unknown`
    /// of the planned conditions.
    fn plan_min_should(&self, ms: &MinShould) -> Est {
        if ms.min_count == 0 {
            return Est::All;
        }
        let n = self.points.len();
        if ms.min_count > ms.conditions.len() {
            return Est::Exact(Bits::zeros(n));
        }
        let plans: Vec<Est> = ms
            .conditions
            .iter()
            .map(|c| self.plan_condition(c))
            .collect();
        let unknown = plans.iter().filter(|p| matches!(p, Est::Unknown)).count();
        let need = ms.min_count.saturating_sub(unknown);
        if need == 0 {
            return Est::Unknown;
        }
        let exact = unknown == 0 && plans.iter().all(|p| matches!(p, Est::Exact(_) | Est::All));
        let mut counts = alloc::vec![0u32; n];
        let live = self.live_bits();
        for p in &plans {
            let bits = match p {
                Est::All => &live,
                Est::Exact(b) | Est::Super(b) => b,
                Est::Unknown => continue,
            };
            for i in bits.iter() {
                counts[i as usize] += 1;
            }
        }
        let mut b = Bits::zeros(n);
        for (i, &c) in counts.iter().enumerate() {
            if c as usize >= need {
                b.set(i as u32);
            }
        }
        if exact { Est::Exact(b) } else { Est::Super(b) }
    }
}

/// What the indexes know of the points a filter (or part of it) allows.
enum Est {
    /// Every live point (nothing restricts yet).
    All,
    /// Exactly these points.
    Exact(Bits),
    /// At most these points.
    Super(Bits),
    /// Nothing: any live point may pass.
    Unknown,
}

impl Est {
    fn and(self, o: Est) -> Est {
        match (self, o) {
            (Est::All, x) | (x, Est::All) => x,
            (Est::Unknown, Est::Unknown) => Est::Unknown,
            (Est::Unknown, Est::Exact(b) | Est::Super(b))
            | (Est::Exact(b) | Est::Super(b), Est::Unknown) => Est::Super(b),
            (Est::Exact(mut a), Est::Exact(b)) => {
                a.and(&b);
                Est::Exact(a)
            }
            (Est::Exact(mut a) | Est::Super(mut a), Est::Exact(b) | Est::Super(b)) => {
                a.and(&b);
                Est::Super(a)
            }
        }
    }

    fn or(self, o: Est) -> Est {
        match (self, o) {
            (Est::Unknown, _) | (_, Est::Unknown) => Est::Unknown,
            (Est::All, _) | (_, Est::All) => Est::All,
            (Est::Exact(mut a), Est::Exact(b)) => {
                a.or(&b);
                Est::Exact(a)
            }
            (Est::Exact(mut a) | Est::Super(mut a), Est::Exact(b) | Est::Super(b)) => {
                a.or(&b);
                Est::Super(a)
            }
        }
    }
}

/// How a whole filter is evaluated.
#[derive(Debug)]
enum Plan {
    /// The indexes answer it exactly.
    Exact(Bits),
    /// Only these candidates can pass; each is checked.
    Within(Bits),
    /// Every point is checked.
    Scan,
}

/// A [`Filter`] bound to a [`PayloadStore`], usable as the search filter of
/// an index ([`crate::Filter`]): it allows the internal ids whose point
/// passes the filter and knows how many there are.
#[derive(Debug)]
pub struct Matcher<'a> {
    store: &'a PayloadStore,
    filter: &'a Filter,
    plan: Plan,
    cardinality: Option<usize>,
}

impl Matcher<'_> {
    /// True when the indexes answer the whole filter, so that
    /// `cardinality` is exact and `allows` is a bit test.
    pub fn is_exact(&self) -> bool {
        matches!(self.plan, Plan::Exact(_))
    }
}

impl crate::Filter for Matcher<'_> {
    fn allows(&self, internal_id: u32) -> bool {
        match &self.plan {
            Plan::Exact(b) => b.get(internal_id),
            Plan::Within(b) => b.get(internal_id) && self.store.passes(internal_id, self.filter),
            Plan::Scan => self.store.passes(internal_id, self.filter),
        }
    }

    fn cardinality(&self) -> Option<usize> {
        self.cardinality
    }
}
