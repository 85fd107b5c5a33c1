//! Renumbering the graph so that nodes searched together sit together in
//! memory.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::{Hnsw, NONE};
use crate::store::{PointStore, Slot};

impl Hnsw {
    /// Renumbers the points in breadth-first order of the level-0 graph from
    /// the entry point, so that neighbours get nearby internal ids: a search
    /// then touches fewer cache lines, memory pages and TLB entries. Deleted
    /// points are compacted away first and free slots dropped.
    ///
    /// Internal ids change (external ids do not): filters built over
    /// internal ids before this call must be rebuilt. Takes `O(n · m)` time
    /// and briefly a second copy of the vectors and links.
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

        let dim = self.config.dim;
        let (stride0, stride_up) = (self.stride0(), self.stride_up());
        let mut store = PointStore::new(dim, self.config.metric);
        store.vectors.reserve_exact(order.len() * dim);
        let mut links0 = Vec::with_capacity(order.len() * stride0);
        let mut levels = Vec::with_capacity(order.len());
        let mut upper_at = Vec::with_capacity(order.len());
        let mut upper = Vec::with_capacity(self.upper.len());
        let remap = |list: &[u32], out: &mut Vec<u32>, stride: usize| {
            out.push(list.len() as u32);
            out.extend(list.iter().map(|&t| new_of[t as usize]));
            out.resize(out.len() + stride - 1 - list.len(), 0);
        };
        for &old in &order {
            store
                .push(self.store.keys[old as usize], self.store.vector(old))
                .expect("no more points than before");
            remap(self.links(old, 0), &mut links0, stride0);
            let level = self.levels[old as usize];
            levels.push(level);
            if level == 0 {
                upper_at.push(NONE);
            } else {
                upper_at.push(upper.len() as u32);
                for l in 1..=level as usize {
                    remap(self.links(old, l), &mut upper, stride_up);
                }
            }
        }
        debug_assert!(store.slots.iter().all(|&s| s == Slot::Live));
        self.entry = Some(new_of[entry as usize]);
        self.store = store;
        self.links0 = links0;
        self.levels = levels;
        self.upper_at = upper_at;
        self.upper = upper;
    }
}
