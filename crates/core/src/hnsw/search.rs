//! Graph search: greedy descent through the upper levels, then a
//! best-first search of level 0 (unfiltered: a sorted candidate pool;
//! filtered or with deleted points: a frontier heap and a result heap).

use alloc::vec::Vec;
use core::cmp::Reverse;

use super::{BinaryOf, FloatOf, Hnsw, Int8Of, PqOf, SpaceOf};
use crate::distance::prefetch;
use crate::error::Result;
use crate::quant::vectors::Codes;
use crate::scratch::Scratch;
use crate::search::{Cand, Filter, Hit, Plan, SearchParams, estimate_allowed, to_hits};
use crate::space::{Space, exact_top_k, finish, quant_in_use};

/// Top bit of a pool entry's slot: the candidate was expanded.
const EXPANDED: u32 = 1 << 31;

impl Hnsw {
    /// Searches for the `params.k` nearest live points that `filter` allows,
    /// best first, reusing `scratch`.
    ///
    /// With quantization (and unless `params.quantization.ignore` and the
    /// originals are kept) the search compares quantized codes, takes the
    /// best `k × oversampling` candidates and, when the originals are kept
    /// and `rescore` is not false, rescores them with the original vectors.
    pub fn search_with(
        &self,
        scratch: &mut Scratch,
        query: &[f32],
        params: &SearchParams,
        filter: Option<&dyn Filter>,
    ) -> Result<Vec<Hit>> {
        params.check()?;
        let mut q = core::mem::take(&mut scratch.query);
        let prepared = self
            .config
            .metric
            .prepare_into(self.config.dim, query, &mut q);
        let out = prepared.map(|()| self.search_prepared(scratch, &q, params, filter));
        scratch.query = q;
        out
    }

    fn search_prepared(
        &self,
        sc: &mut Scratch,
        q: &[f32],
        params: &SearchParams,
        filter: Option<&dyn Filter>,
    ) -> Vec<Hit> {
        let k = params.k;
        if k == 0 || self.store.live == 0 {
            return Vec::new();
        }
        let qp = &params.quantization;
        let Some(quant) = quant_in_use(&self.store, self.quant.as_ref(), qp) else {
            let found = self.search_in::<FloatOf>(sc, q, k, params, filter);
            return to_hits(&self.store, &found, k);
        };
        let n = qp.candidates(k).max(k);
        let found = match quant.codes {
            Codes::Int8 { .. } => self.search_in::<Int8Of>(sc, q, n, params, filter),
            Codes::Binary { .. } => self.search_in::<BinaryOf>(sc, q, n, params, filter),
            Codes::Product { .. } => self.search_in::<PqOf>(sc, q, n, params, filter),
        };
        let found = finish(&self.store, quant, q, qp, found);
        to_hits(&self.store, &found, k)
    }

    /// The best `n` candidates in space `K`, closest first (at most `n`).
    fn search_in<K: SpaceOf>(
        &self,
        sc: &mut Scratch,
        q: &[f32],
        n: usize,
        params: &SearchParams,
        filter: Option<&dyn Filter>,
    ) -> Vec<Cand> {
        let space = K::of(self);
        let mut qs = K::Q::default();
        space.encode(q, &mut qs);
        let ef = params.ef.unwrap_or(self.config.ef_search).max(n);
        if self.plan(params, filter) == Plan::Exact {
            return exact_top_k(&space, &qs, &self.store, n, filter);
        }
        let entry = self.descend(&space, &qs, 1);
        let mut found = if filter.is_none() && self.store.deleted == 0 {
            self.search_pool(&space, &qs, entry, ef, 0, sc);
            sc.pool
                .iter()
                .take(n)
                .map(|c| Cand {
                    dist: c.dist,
                    slot: c.slot & !EXPANDED,
                })
                .collect()
        } else {
            let mut found = self.search_live(&space, &qs, entry, ef, 0, sc, filter);
            found.truncate(n);
            found
        };
        // The graph is not guaranteed connected (an HNSW property, made
        // likely by large groups of equal points): when it yields fewer than
        // `n` results while more points may qualify, answer exactly. Without
        // a filter that is known (`live`); with one, the filter's own count
        // when it has one (so a filter that allows only a few points does
        // not pay a scan on every query), else any short answer.
        let short = match filter {
            None => found.len() < n.min(self.store.live),
            Some(f) => found.len() < n.min(f.cardinality().unwrap_or(usize::MAX)),
        };
        if short {
            found = exact_top_k(&space, &qs, &self.store, n, filter);
        }
        found
    }

    /// How a search with these parameters and filter would run.
    pub fn plan(&self, params: &SearchParams, filter: Option<&dyn Filter>) -> Plan {
        let live = self.store.live;
        let ef = params.ef.unwrap_or(self.config.ef_search).max(params.k);
        if params.exact
            || self.config.m == 0
            || live <= self.config.full_scan_threshold
            || self.entry.is_none()
        {
            return Plan::Exact;
        }
        let Some(f) = filter else { return Plan::Graph };
        let allowed = estimate_allowed(&self.store, f);
        if allowed <= self.config.full_scan_threshold {
            return Plan::Exact;
        }
        // Cost in distance computations. The exact plan computes one per
        // allowed point and tests the predicate on every slot (about a
        // twentieth of a distance). A filtered graph search expands about
        // ef / selectivity nodes and meets about m/2 new neighbours at each.
        let selectivity = allowed as f64 / live as f64;
        let exact = allowed as f64 + self.store.slot_count() as f64 / 20.0;
        let graph = ef as f64 / selectivity * (self.config.m as f64 / 2.0);
        if exact <= graph {
            Plan::Exact
        } else {
            Plan::Graph
        }
    }

    /// Greedy descent from the entry point down to `stop_level`.
    pub(crate) fn descend<S: Space>(&self, sp: &S, q: &S::Query, stop_level: usize) -> Cand {
        let ep = self.entry.expect("descend on an empty graph");
        let mut cur = Cand {
            dist: sp.dist(q, ep),
            slot: ep,
        };
        for level in (stop_level..=self.max_level as usize).rev() {
            cur = self.greedy(sp, q, cur, level);
        }
        cur
    }

    /// Moves to the closest neighbour on `level` until none is closer.
    pub(crate) fn greedy<S: Space>(
        &self,
        sp: &S,
        q: &S::Query,
        mut cur: Cand,
        level: usize,
    ) -> Cand {
        loop {
            let start = cur.slot;
            let links = self.links(start, level);
            links.iter().for_each(|&n| sp.prefetch(n));
            let mut quads = links.chunks_exact(4);
            for quad in quads.by_ref() {
                let ids = [quad[0], quad[1], quad[2], quad[3]];
                let d = sp.dist4(q, ids);
                for j in 0..4 {
                    if d[j] < cur.dist {
                        cur = Cand {
                            dist: d[j],
                            slot: ids[j],
                        };
                    }
                }
            }
            for &n in quads.remainder() {
                let d = sp.dist(q, n);
                if d < cur.dist {
                    cur = Cand { dist: d, slot: n };
                }
            }
            if cur.slot == start {
                return cur;
            }
        }
    }

    /// Calls `f(slot, distance)` for every slot of `batch`, in order,
    /// computing distances four at a time (their memory loads overlap) while
    /// the full vectors of the next four are prefetched. The first cache line
    /// of each vector should already be on its way ([`Space::prefetch`]):
    /// search loops prefetch it for every unvisited neighbour before
    /// computing any distance, then the rest one group ahead (prefetching
    /// every line of every neighbour at once fills the line-fill buffers and
    /// stalls, measured on GloVe-50).
    #[inline(always)]
    fn distances<S: Space>(sp: &S, q: &S::Query, batch: &[u32], mut f: impl FnMut(u32, f32)) {
        batch.iter().take(4).for_each(|&n| sp.prefetch_rest(n));
        let mut quads = batch.chunks_exact(4);
        for (g, quad) in quads.by_ref().enumerate() {
            batch
                .iter()
                .skip(4 * g + 4)
                .take(4)
                .for_each(|&n| sp.prefetch_rest(n));
            let ids = [quad[0], quad[1], quad[2], quad[3]];
            let d = sp.dist4(q, ids);
            for j in 0..4 {
                f(ids[j], d[j]);
            }
        }
        for &n in quads.remainder() {
            f(n, sp.dist(q, n));
        }
    }

    /// Best-first search of `level` with a candidate list of `ef`, over all
    /// nodes (deleted ones included). Leaves the candidates in `sc.pool`,
    /// closest first, with `EXPANDED` bits set on some slots.
    pub(crate) fn search_pool<S: Space>(
        &self,
        sp: &S,
        q: &S::Query,
        entry: Cand,
        ef: usize,
        level: usize,
        sc: &mut Scratch,
    ) {
        let Scratch {
            visited,
            pool,
            batch,
            ..
        } = sc;
        visited.begin(self.store.slot_count());
        visited.insert(entry.slot);
        pool.clear();
        pool.push(entry);
        let mut cur = 0;
        while cur < pool.len() {
            let node = pool[cur].slot;
            pool[cur].slot |= EXPANDED;
            if let Some(next) = pool[cur + 1..].iter().find(|c| c.slot & EXPANDED == 0) {
                prefetch(
                    self.links0
                        .as_ptr()
                        .wrapping_add(self.list_at(next.slot, 0)),
                );
            }
            batch.clear();
            for &n in self.links(node, level) {
                if visited.insert(n) {
                    sp.prefetch(n);
                    batch.push(n);
                }
            }
            let mut lowest = usize::MAX;
            let mut offer = |n: u32, d: f32| {
                if pool.len() >= ef {
                    if d >= pool[pool.len() - 1].dist {
                        return;
                    }
                    pool.pop();
                }
                let pos = pool.partition_point(|c| c.dist <= d);
                pool.insert(pos, Cand { dist: d, slot: n });
                lowest = lowest.min(pos);
            };
            Self::distances(sp, q, batch, &mut offer);
            cur = if lowest <= cur { lowest } else { cur + 1 };
            while cur < pool.len() && pool[cur].slot & EXPANDED != 0 {
                cur += 1;
            }
        }
    }

    /// Best-first search of `level` that returns only live points `filter`
    /// allows, while routing through every node. Returns up to `ef`
    /// results, closest first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search_live<S: Space>(
        &self,
        sp: &S,
        q: &S::Query,
        entry: Cand,
        ef: usize,
        level: usize,
        sc: &mut Scratch,
        filter: Option<&dyn Filter>,
    ) -> Vec<Cand> {
        let allowed = |s: u32| self.store.is_live(s) && filter.is_none_or(|f| f.allows(s));
        let Scratch {
            visited,
            frontier,
            results,
            batch,
            ..
        } = sc;
        visited.begin(self.store.slot_count());
        frontier.clear();
        results.clear();
        visited.insert(entry.slot);
        frontier.push(Reverse(entry));
        if allowed(entry.slot) {
            results.push(entry);
        }
        let mut bound = if results.len() >= ef {
            entry.dist
        } else {
            f32::INFINITY
        };
        while let Some(Reverse(c)) = frontier.pop() {
            if c.dist > bound {
                break;
            }
            batch.clear();
            for &n in self.links(c.slot, level) {
                if visited.insert(n) {
                    sp.prefetch(n);
                    batch.push(n);
                }
            }
            Self::distances(sp, q, batch, |n, d| {
                if results.len() < ef || d < bound {
                    frontier.push(Reverse(Cand { dist: d, slot: n }));
                    if allowed(n) {
                        results.push(Cand { dist: d, slot: n });
                        if results.len() > ef {
                            results.pop();
                        }
                        if results.len() >= ef {
                            bound = results.peek().map_or(f32::INFINITY, |w| w.dist);
                        }
                    }
                }
            });
        }
        let mut out: Vec<Cand> = results.drain().collect();
        out.sort_unstable();
        out
    }
}
