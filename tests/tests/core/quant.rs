//! Quantized search: recall of each mode on generated clustered data (each
//! floor is stated where it is asserted), rescoring, indexes that keep only
//! codes, layout and churn with codes, and the errors.

use grape_core::{
    Error, FlatIndex, Hnsw, Metric, QuantSearch, Quantization, SearchParams, VectorIndex,
};
use grape_tests::reference;

use crate::{Points, build, fixture};

const SEED: u64 = 11;

/// Recall@`k` of `index` searched with `params` against the exact answer.
fn recall(
    index: &dyn VectorIndex,
    exact: &FlatIndex,
    queries: &[Vec<f32>],
    params: SearchParams,
) -> f64 {
    let k = params.k;
    let (mut found, mut wanted) = (0, 0);
    for q in queries {
        let truth = exact.search(q, &SearchParams::top(k), None).unwrap();
        let got = index.search(q, &params, None).unwrap();
        wanted += truth.len();
        found += truth
            .iter()
            .filter(|t| got.iter().any(|g| g.id == t.id))
            .count();
    }
    found as f64 / wanted as f64
}

fn over(oversampling: f32) -> QuantSearch {
    QuantSearch {
        oversampling: Some(oversampling),
        ..QuantSearch::default()
    }
}

fn no_rescore() -> QuantSearch {
    QuantSearch {
        rescore: Some(false),
        ..QuantSearch::default()
    }
}

fn quantized(pts: &Points, metric: Metric, q: Quantization) -> Hnsw {
    let mut h = build(pts, metric, SEED);
    h.quantize(q).unwrap();
    h
}

/// Int8 keeps recall: rescoring 2 × k candidates gives at least 0.99 × the
/// float recall at the same ef; the codes alone stay above 0.97.
#[test]
fn int8_recall_matches_float() {
    for metric in [Metric::Cosine, Metric::Euclid, Metric::Dot] {
        let (pts, queries) = fixture(10_000, SEED);
        let h = quantized(&pts, metric, Quantization::int8());
        let exact = reference(metric, 64, &pts);
        let p = SearchParams::top(10).with_ef(64);
        let float = recall(
            &h,
            &exact,
            &queries,
            p.with_quantization(QuantSearch {
                ignore: true,
                ..QuantSearch::default()
            }),
        );
        let int8 = recall(&h, &exact, &queries, p.with_quantization(over(2.0)));
        let raw = recall(&h, &exact, &queries, p.with_quantization(no_rescore()));
        println!("{metric:?}: float {float:.4}, int8+rescore {int8:.4}, int8 raw {raw:.4}");
        assert!(
            int8 >= 0.99 * float,
            "{metric:?}: int8 {int8} < 0.99 x float {float}"
        );
        assert!(
            raw >= 0.97,
            "{metric:?}: int8 without rescoring {raw} < 0.97"
        );
    }
}

/// `n` clustered 384-d points (the width binary codes are meant for) and
/// 100 queries.
fn fixture384(n: usize) -> (Points, Vec<Vec<f32>>) {
    let pts = grape_tests::clustered(n, 384, 10, SEED)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v))
        .collect();
    (pts, grape_tests::clustered_draw(100, 384, 10, SEED, 5))
}

/// Binary codes rank coarsely; rescoring 4× the limit brings recall@10
/// above 0.9 on 384-d clustered data (the benchmark on real embeddings is
/// in docs/bench).
#[test]
fn binary_with_rescoring() {
    let (pts, queries) = fixture384(5_000);
    let h = quantized(&pts, Metric::Cosine, Quantization::Binary);
    let exact = reference(Metric::Cosine, 384, &pts);
    let p = SearchParams::top(10).with_ef(64);
    let r1 = recall(&h, &exact, &queries, p);
    let r4 = recall(&h, &exact, &queries, p.with_quantization(over(4.0)));
    println!("binary: rescored x1 {r1:.4}, x4 {r4:.4}");
    assert!(r4 >= 0.9, "binary + 4x rescoring: recall {r4} < 0.9");
    assert!(r4 > r1, "oversampling did not help: {r4} <= {r1}");
    // Without rescoring, cosine scores are the sign-agreement estimate in [-1, 1].
    let hits = h
        .search(&queries[0], &p.with_quantization(no_rescore()), None)
        .unwrap();
    assert!(hits.iter().all(|x| (-1.0..=1.0).contains(&x.score)));
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
}

/// Product codes (m = 16: 16× smaller than f32) with 4× rescoring.
#[test]
fn product_with_rescoring() {
    let (pts, queries) = fixture(10_000, SEED);
    let h = quantized(&pts, Metric::Cosine, Quantization::Product { m: 16 });
    let exact = reference(Metric::Cosine, 64, &pts);
    let p = SearchParams::top(10).with_ef(64);
    let raw = recall(&h, &exact, &queries, p.with_quantization(no_rescore()));
    let r4 = recall(&h, &exact, &queries, p.with_quantization(over(4.0)));
    println!("pq16: raw {raw:.4}, rescored x4 {r4:.4}");
    assert!(r4 >= 0.9, "pq + 4x rescoring: recall {r4} < 0.9");
    assert_eq!(h.vector_bytes_per_point(), 64 * 4 + 16);
}

/// The flat index scans codes and rescores; with ignore it is exact.
#[test]
fn flat_index_scans_codes() {
    let (pts, queries) = fixture(5_000, SEED);
    let (pts384, queries384) = fixture384(5_000);
    for (q, floor) in [
        (Quantization::int8(), 0.97),
        (Quantization::Binary, 0.9),
        (Quantization::Product { m: 16 }, 0.9),
    ] {
        let (pts, queries, exact) = if q == Quantization::Binary {
            let exact = reference(Metric::Cosine, 384, &pts384);
            (&pts384, &queries384, exact)
        } else {
            (&pts, &queries, reference(Metric::Cosine, 64, &pts))
        };
        let mut f = reference(Metric::Cosine, pts[0].1.len(), pts);
        f.quantize(q).unwrap();
        let r = recall(
            &f,
            &exact,
            queries,
            SearchParams::top(10).with_quantization(over(4.0)),
        );
        println!("flat {q:?}: {r:.4}");
        assert!(r >= floor, "flat {q:?}: recall {r} < {floor}");
        let ignore = QuantSearch {
            ignore: true,
            ..QuantSearch::default()
        };
        let r = recall(
            &f,
            &exact,
            queries,
            SearchParams::top(10).with_quantization(ignore),
        );
        assert_eq!(r, 1.0);
        // Upserts and deletes keep the codes in step with the points.
        f.delete(3).unwrap();
        f.upsert(3, &pts[4].1).unwrap();
        f.upsert(100_000, &pts[7].1).unwrap();
        let hits = f
            .search(
                &pts[7].1,
                &SearchParams::top(3).with_quantization(over(4.0)),
                None,
            )
            .unwrap();
        assert!(hits.iter().any(|h| h.id == 100_000));
    }
}

/// An index that keeps only int8 codes still finds neighbours, accepts
/// inserts (linked by quantized distances), deletes and compaction, and
/// round-trips through bytes; it holds a quarter of the vector bytes.
#[test]
fn codes_only_index() {
    let (pts, queries) = fixture(10_000, SEED);
    let (first, rest) = pts.split_at(8_000);
    let mut h = quantized(&first.to_vec(), Metric::Cosine, Quantization::int8());
    h.drop_originals().unwrap();
    assert!(!h.keeps_originals());
    assert_eq!(h.vector(5), None);
    assert_eq!(h.vector_bytes_per_point(), 64);
    for (id, v) in rest {
        h.upsert(*id, v).unwrap();
    }
    for id in 0..1_500 {
        h.delete(id * 5).unwrap();
    }
    let mut exact = reference(Metric::Cosine, 64, &pts);
    for id in 0..1_500 {
        exact.delete(id * 5).unwrap();
    }
    let r = recall(&h, &exact, &queries, SearchParams::top(10).with_ef(64));
    println!("int8 codes only, after inserts and deletes: {r:.4}");
    assert!(r >= 0.95, "codes-only recall {r} < 0.95");
    let back = Hnsw::from_bytes(&h.to_bytes()).unwrap();
    assert!(!back.keeps_originals());
    for q in queries.iter().take(20) {
        let p = SearchParams::top(10);
        assert_eq!(
            h.search(q, &p, None).unwrap(),
            back.search(q, &p, None).unwrap()
        );
    }
    assert!(matches!(
        h.quantize(Quantization::Binary),
        Err(Error::InvalidParameter(_))
    ));
}

/// Renumbering moves codes with their points: results are unchanged.
#[test]
fn layout_moves_codes() {
    let (pts, queries) = fixture(6_000, SEED);
    for q in [
        Quantization::int8(),
        Quantization::Binary,
        Quantization::Product { m: 8 },
    ] {
        let mut h = quantized(&pts, Metric::Cosine, q);
        for id in 0..200 {
            h.delete(id * 7).unwrap();
        }
        // Exact scans of the codes, then of the codes rescored with the
        // originals: equal up to the order of tied scores.
        let raw = SearchParams::top(10)
            .with_exact(true)
            .with_quantization(no_rescore());
        let rescored = SearchParams::top(10).with_exact(true);
        let scores = |h: &Hnsw| -> Vec<Vec<f32>> {
            let run = |p: &SearchParams, x: &Vec<f32>| -> Vec<f32> {
                h.search(x, p, None)
                    .unwrap()
                    .iter()
                    .map(|y| y.score)
                    .collect()
            };
            queries
                .iter()
                .take(20)
                .flat_map(|x| [run(&raw, x), run(&rescored, x)])
                .collect()
        };
        let before = scores(&h);
        h.optimize_layout();
        assert_eq!(
            before,
            scores(&h),
            "{q:?}: layout changed quantized results"
        );
    }
}

/// Bad configurations and parameters are refused with typed errors, and
/// nothing changes.
#[test]
fn errors() {
    let (pts, queries) = fixture(1_000, SEED);
    let mut empty = Hnsw::new(grape_core::HnswConfig::new(64, Metric::Cosine)).unwrap();
    assert!(matches!(
        empty.quantize(Quantization::int8()),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        empty.drop_originals(),
        Err(Error::InvalidParameter(_))
    ));
    let mut h = build(&pts, Metric::Cosine, SEED);
    for bad in [
        Quantization::Product { m: 7 },
        Quantization::Product { m: 0 },
        Quantization::Scalar { quantile: 0.2 },
    ] {
        assert!(
            matches!(h.quantize(bad), Err(Error::InvalidConfig(_))),
            "{bad:?}"
        );
        assert_eq!(h.quantization(), None);
    }
    let mut l1 = build(&pts, Metric::Manhattan, SEED);
    assert!(matches!(
        l1.quantize(Quantization::int8()),
        Err(Error::InvalidConfig(_))
    ));
    assert!(Quantization::product_with_compression(64, 8).is_ok());
    assert!(matches!(
        Quantization::product_with_compression(50, 64),
        Err(Error::InvalidConfig(_))
    ));
    h.quantize(Quantization::int8()).unwrap();
    for o in [0.5, f32::NAN, -1.0] {
        let p = SearchParams::top(10).with_quantization(over(o));
        assert!(matches!(
            h.search(&queries[0], &p, None),
            Err(Error::InvalidParameter(_))
        ));
    }
}
