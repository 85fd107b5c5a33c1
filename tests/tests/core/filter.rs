//! Filtered search keeps recall at every selectivity and picks its plan.

use grape_core::{Filter, Metric, Plan, SearchParams, VectorIndex};
use grape_tests::{recall_at, reference};

use crate::{build, fixture};

/// Allows ids whose hash falls under `percent` (spread over all clusters).
fn keep(percent: u64) -> impl Fn(u64) -> bool {
    move |id| (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 100 < percent
}

#[test]
fn recall_with_filters_of_1_10_30_50_percent() {
    let seed = 13;
    let (pts, queries) = fixture(10_000, seed);
    let h = build(&pts, Metric::Cosine, seed);
    let flat = reference(Metric::Cosine, 64, &pts);
    for (percent, plan) in [
        (1, Plan::Exact),
        (10, Plan::Exact),
        (30, Plan::Graph),
        (50, Plan::Graph),
    ] {
        let allowed = keep(percent);
        let f = |s: u32| h.external_id(s).is_some_and(&allowed);
        assert_eq!(h.plan(&SearchParams::top(10), Some(&f)), plan, "{percent}%");
        let r = recall_at(&h, &flat, &queries, 10, 64, &allowed);
        println!("seed {seed}: {percent}% filter ({plan:?}): recall@10 {r:.4}");
        assert!(
            r >= 0.95,
            "{percent}% filter: recall {r} < 0.95 (seed {seed})"
        );
    }
}

#[test]
fn filter_and_deletes_together_never_return_rejected_points() {
    let (pts, queries) = fixture(5_000, 2);
    let mut h = build(&pts, Metric::Dot, 2);
    for id in (0..5_000).step_by(7) {
        h.delete(id).unwrap();
    }
    let allowed = keep(40);
    let f = |s: u32| h.external_id(s).is_some_and(&allowed);
    for q in &queries {
        for hit in h.search(q, &SearchParams::top(20), Some(&f)).unwrap() {
            assert!(
                allowed(hit.id) && hit.id % 7 != 0,
                "point {} returned",
                hit.id
            );
        }
    }
}

#[test]
fn cardinality_hint_picks_the_exact_plan() {
    struct Few;
    impl Filter for Few {
        fn allows(&self, s: u32) -> bool {
            s.is_multiple_of(500)
        }
        fn cardinality(&self) -> Option<usize> {
            Some(20)
        }
    }
    let (pts, queries) = fixture(10_000, 3);
    let h = build(&pts, Metric::Cosine, 3);
    assert_eq!(h.plan(&SearchParams::top(5), Some(&Few)), Plan::Exact);
    let hits = h
        .search(&queries[0], &SearchParams::top(5), Some(&Few))
        .unwrap();
    assert_eq!(hits.len(), 5);
    assert!(
        hits.iter()
            .all(|x| h.internal_id(x.id).unwrap().is_multiple_of(500))
    );
}

#[test]
fn filter_rejecting_everything_returns_nothing() {
    let (pts, queries) = fixture(3_000, 9);
    let h = build(&pts, Metric::Cosine, 9);
    let none = |_: u32| false;
    assert!(
        h.search(&queries[0], &SearchParams::top(10), Some(&none))
            .unwrap()
            .is_empty()
    );
}
