//! Renumbering the graph so that nodes searched together sit together in
//! memory.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::{Hnsw, NONE};
use crate::store::{Slot, permute_rows};

impl Hnsw {
    /// Renumbers the points in breadth-first order of the level-0 graph from
    /// the entry point, so that neighbours get nearby internal ids: a search
    /// then touches fewer cache lines, memory pages and TLB entries. Deleted
    /// points are compacted away first and free slots dropped.
    ///
    /// Internal ids change (external ids do not): filters built over
    /// internal ids before this call must be rebuilt. Takes `O(n · m)` time;
    /// vectors and links are permuted in place.
    pub fn optimize_layout(&mut self) {
        self.compact();
        let n = self.store.slot_count();
        let Some(entry) = self.entry else { return };
        // order[new] = old; new_of[old] = new.
        let mut order: Vec<u32> = Vec::with_capacity(self.store.live);
        let mut new_of = alloc::vec![NONE; n];
        let mut queue = VecDeque::new();
        let live = |s: u32| self.store.is_live(s);
        let visit =
            |s: u32, order: &mut Vec<u32>, new_of: &mut [u32], queue: &mut VecDeque<u32>| {
                if new_of[s as usize] == NONE && live(s) {
                    new_of[s as usize] = order.len() as u32;
                    order.push(s);
                    queue.push_back(s);
                }
            };
        visit(entry, &mut order, &mut new_of, &mut queue);
        let mut next_root = 0u32;
        loop {
            while let Some(s) = queue.pop_front() {
                for &t in self.links(s, 0) {
                    visit(t, &mut order, &mut new_of, &mut queue);
                }
            }
            // Points no level-0 path reaches (rare) follow in slot order.
            while (next_root as usize) < n
                && (new_of[next_root as usize] != NONE || !self.store.is_live(next_root))
            {
                next_root += 1;
            }
            if next_root as usize >= n {
                break;
            }
            visit(next_root, &mut order, &mut new_of, &mut queue);
        }

        let live = order.len();
        // Free slots go last, so that `order` is a permutation of all slots
        // and the tail can be dropped after it is applied.
        for s in 0..n as u32 {
            if new_of[s as usize] == NONE {
                new_of[s as usize] = order.len() as u32;
                order.push(s);
            }
        }

        // Upper lists are few: rebuild them in the new order.
        let stride_up = self.stride_up();
        let mut upper = Vec::with_capacity(self.upper.len());
        let mut upper_at = Vec::with_capacity(live);
        for &old in &order[..live] {
            let level = self.levels[old as usize] as usize;
            if level == 0 {
                upper_at.push(NONE);
                continue;
            }
            upper_at.push(upper.len() as u32);
            for l in 1..=level {
                let list = self.links(old, l);
                upper.push(list.len() as u32);
                upper.extend(list.iter().map(|&t| new_of[t as usize]));
                upper.resize(upper.len() + stride_up - 1 - list.len(), 0);
            }
        }

        // The big arrays are permuted in place (no second copy of the vectors).
        let dim = self.config.dim;
        let stride0 = self.stride0();
        let store = &mut self.store;
        if store.keeps_vectors {
            permute_rows(&mut store.vectors, dim, &order);
            store.vectors.truncate(live * dim);
        }
        if let Some(q) = &mut self.quant {
            q.permute(&order);
            q.truncate(live);
        }
        permute_rows(&mut self.links0, stride0, &order);
        permute_rows(&mut store.keys, 1, &order);
        permute_rows(&mut self.levels, 1, &order);
        for list in self.links0.chunks_exact_mut(stride0).take(live) {
            let c = list[0] as usize;
            list[1..=c]
                .iter_mut()
                .for_each(|t| *t = new_of[*t as usize]);
        }
        self.links0.truncate(live * stride0);
        store.keys.truncate(live);
        self.levels.truncate(live);
        store.slots.clear();
        store.slots.resize(live, Slot::Live);
        store.free.clear();
        store
            .by_key
            .values_mut()
            .for_each(|s| *s = new_of[*s as usize]);
        self.upper = upper;
        self.upper_at = upper_at;
        self.entry = Some(new_of[entry as usize]);
    }
}
