use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::Error;
use crate::rng::Rng;

fn sv(pairs: &[(u32, f32)]) -> SparseVector {
    SparseVector::new(
        pairs.iter().map(|p| p.0).collect(),
        pairs.iter().map(|p| p.1).collect(),
    )
    .unwrap()
}

fn close(a: f32, b: f32, rel: f32) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-30)
}

fn assert_hits(got: &[(u32, f32)], want: &[(u32, f64)]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0, "{got:?} vs {want:?}");
        assert!(close(g.1, w.1 as f32, 1e-6), "{got:?} vs {want:?}");
    }
}

// ---------------------------------------------------------------- vectors

#[test]
fn new_sorts_by_index_and_keeps_pairs_together() {
    let v = SparseVector::new(vec![9, 2, 5], vec![0.9, 0.2, 0.5]).unwrap();
    assert_eq!(v.indices, [2, 5, 9]);
    assert_eq!(v.values, [0.2, 0.5, 0.9]);
    assert!(v.is_sorted());
}

#[test]
fn validation_errors_name_the_problem_and_position() {
    let err = SparseVector::new(vec![1, 2, 3], vec![1.0, 2.0]).unwrap_err();
    assert_eq!(
        err,
        Error::InvalidSparseVector(
            "indices and values differ in length: 3 indices, 2 values".into()
        )
    );
    let err = SparseVector::new(vec![4, 7, 1], vec![1.0, f32::NAN, 2.0]).unwrap_err();
    assert_eq!(
        err,
        Error::InvalidSparseVector("value at position 1 (index 7) is not finite: NaN".into())
    );
    let err = SparseVector::new(vec![4, 7], vec![1.0, f32::NEG_INFINITY]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid sparse vector: value at position 1 (index 7) is not finite: -inf"
    );
    let err = SparseVector::new(vec![8, 3, 5, 3], vec![1.0; 4]).unwrap_err();
    assert_eq!(
        err,
        Error::InvalidSparseVector("duplicate index 3 at positions 1 and 3".into())
    );
    assert!(err.is_invalid_input());
    // validate() catches the same problems on an unsorted or sorted vector.
    let bad = SparseVector {
        indices: vec![1, 1],
        values: vec![1.0, 2.0],
    };
    assert!(matches!(bad.validate(), Err(Error::InvalidSparseVector(_))));
    let unsorted = SparseVector {
        indices: vec![3, 1],
        values: vec![1.0, 2.0],
    };
    assert_eq!(unsorted.validate(), Ok(()));
}

#[test]
fn normalize_leaves_vector_unchanged_on_error() {
    let mut v = SparseVector {
        indices: vec![5, 2, 5],
        values: vec![1.0, 2.0, 3.0],
    };
    let before = v.clone();
    assert!(v.normalize().is_err());
    assert_eq!(v, before);
}

#[test]
fn serde_uses_qdrant_shape_and_validates() {
    let v = sv(&[(6, 0.5), (1, 0.25)]);
    let json = serde_json::to_string(&v).unwrap();
    assert_eq!(json, r#"{"indices":[1,6],"values":[0.25,0.5]}"#);
    let back: SparseVector =
        serde_json::from_str(r#"{"indices": [6, 1], "values": [0.5, 0.25]}"#).unwrap();
    assert_eq!(back, v);
    let err = serde_json::from_str::<SparseVector>(r#"{"indices": [1, 1], "values": [1, 2]}"#)
        .unwrap_err();
    assert!(err.to_string().contains("duplicate index 1"), "{err}");
    let err =
        serde_json::from_str::<SparseVector>(r#"{"indices": [1], "values": []}"#).unwrap_err();
    assert!(err.to_string().contains("differ in length"), "{err}");
}

#[test]
fn dot_of_sorted_vectors() {
    let a = sv(&[(1, 1.0), (4, 2.0), (9, -1.0)]);
    let b = sv(&[(4, 0.5), (9, 3.0), (12, 7.0)]);
    assert_eq!(a.dot(&b), 2.0 * 0.5 - 3.0);
}

// ------------------------------------------------------------------ index

#[test]
fn search_ranks_by_dot_product_ties_by_lower_id() {
    let mut index = SparseIndex::new(Modifier::None);
    index.upsert(7, &sv(&[(1, 1.0), (2, 1.0)])).unwrap();
    index.upsert(3, &sv(&[(2, 2.0)])).unwrap();
    index.upsert(5, &sv(&[(1, 3.0), (8, 9.0)])).unwrap();
    index.upsert(9, &sv(&[(8, 1.0)])).unwrap(); // shares nothing with the query
    let q = sv(&[(1, 0.5), (2, 1.0)]);
    // 7: 0.5 + 1 = 1.5; 3: 2; 5: 1.5.
    let want = [(3, 2.0), (5, 1.5), (7, 1.5)];
    assert_hits(&index.search(&q, 10, None).unwrap(), &want);
    assert_hits(&index.search_exhaustive(&q, 10, None).unwrap(), &want);
    assert_hits(&index.search(&q, 2, None).unwrap(), &want[..2]);
    assert!(index.search(&q, 0, None).unwrap().is_empty());
    let odd = |id: u32| id % 2 == 1;
    assert_hits(&index.search(&q, 1, Some(&odd)).unwrap(), &[(3, 2.0)]);
    let not3 = |id: u32| id != 3;
    assert_hits(&index.search(&q, 1, Some(&not3)).unwrap(), &[(5, 1.5)]);
    // A query with no indexed dimension finds nothing.
    assert!(
        index
            .search(&sv(&[(100, 1.0)]), 5, None)
            .unwrap()
            .is_empty()
    );
    // Malformed queries are errors, not garbage.
    let bad = SparseVector {
        indices: vec![1],
        values: vec![f32::NAN],
    };
    assert!(matches!(
        index.search(&bad, 5, None),
        Err(Error::InvalidSparseVector(_))
    ));
}

#[test]
fn negative_values_are_scored_exactly() {
    let mut index = SparseIndex::new(Modifier::None);
    index.upsert(1, &sv(&[(1, -1.0), (2, 0.5)])).unwrap();
    index.upsert(2, &sv(&[(1, -2.0)])).unwrap();
    index.upsert(3, &sv(&[(2, 0.25)])).unwrap();
    let q = sv(&[(1, 1.0), (2, 1.0)]);
    // 1: -1 + 0.5 = -0.5; 2: -2; 3: 0.25.
    let want = [(3, 0.25), (1, -0.5), (2, -2.0)];
    assert_hits(&index.search(&q, 3, None).unwrap(), &want);
    assert_hits(&index.search(&q, 2, None).unwrap(), &want[..2]);
}

#[test]
fn upsert_replaces_and_delete_removes() {
    let mut index = SparseIndex::new(Modifier::None);
    index.upsert(1, &sv(&[(1, 1.0)])).unwrap();
    index.upsert(2, &sv(&[(1, 2.0)])).unwrap();
    index.upsert(1, &sv(&[(2, 5.0)])).unwrap();
    assert_eq!(index.len(), 2);
    assert_eq!(index.doc_freq(1), 1);
    assert_eq!(index.doc_freq(2), 1);
    assert_eq!(index.get(1), Some(&sv(&[(2, 5.0)])));
    assert_hits(
        &index.search(&sv(&[(1, 1.0)]), 5, None).unwrap(),
        &[(2, 2.0)],
    );
    assert!(index.delete(2));
    assert!(!index.delete(2));
    assert!(!index.contains(2));
    assert!(index.search(&sv(&[(1, 1.0)]), 5, None).unwrap().is_empty());
    // A failed upsert changes nothing.
    let bad = SparseVector {
        indices: vec![3, 3],
        values: vec![1.0, 1.0],
    };
    assert!(index.upsert(1, &bad).is_err());
    assert_eq!(index.get(1), Some(&sv(&[(2, 5.0)])));
    // An empty vector is stored: it counts in N and matches nothing.
    index.upsert(4, &SparseVector::default()).unwrap();
    assert_eq!(index.len(), 2);
}

/// Hand-computed: idf(df) = ln(1 + (N - df + 0.5) / (df + 0.5)).
#[test]
fn idf_modifier_matches_hand_computed_values_and_follows_deletes() {
    let mut index = SparseIndex::new(Modifier::Idf);
    index.upsert(1, &sv(&[(1, 1.0), (2, 2.0)])).unwrap();
    index.upsert(2, &sv(&[(1, 0.5), (2, 1.0)])).unwrap();
    index.upsert(3, &sv(&[(1, 2.0)])).unwrap();
    index.upsert(4, &sv(&[(3, 1.0)])).unwrap();
    // N = 4.
    // df(1) = 3: ln(1 + 1.5 / 3.5) = ln(10/7) = 0.356674944
    // df(2) = 2: ln(1 + 2.5 / 2.5) = ln 2     = 0.693147181
    // df(3) = 1: ln(1 + 3.5 / 1.5) = ln(10/3) = 1.203972804
    assert!(close(index.idf(1), 0.356_674_94, 1e-6));
    assert!(close(index.idf(2), core::f32::consts::LN_2, 1e-6));
    assert!(close(index.idf(3), 1.203_972_8, 1e-6));
    // Never-seen dimension: df = 0, ln(1 + 4.5 / 0.5) = ln 10.
    assert!(close(index.idf(99), core::f32::consts::LN_10, 1e-6));
    let q = sv(&[(1, 1.0), (2, 1.0)]);
    // 1: 1.0 * 0.356675 + 2.0 * 0.693147 = 1.742969305
    // 2: 0.5 * 0.356675 + 1.0 * 0.693147 = 0.871484653
    // 3: 2.0 * 0.356675                  = 0.713349888
    let want = [(1, 1.742_969_305), (2, 0.871_484_653), (3, 0.713_349_888)];
    assert_hits(&index.search(&q, 10, None).unwrap(), &want);
    assert_hits(&index.search_exhaustive(&q, 10, None).unwrap(), &want);

    // Delete 3: N = 3, df(1) = 2, df(2) = 2, df(3) = 1.
    // idf(1) = idf(2) = ln(1 + 1.5 / 2.5) = ln 1.6 = 0.470003629
    // idf(3) = ln(1 + 2.5 / 1.5) = ln(8/3) = 0.980829253
    assert!(index.delete(3));
    assert_eq!(index.len(), 3);
    assert!(close(index.idf(1), 0.470_003_63, 1e-6));
    assert!(close(index.idf(2), 0.470_003_63, 1e-6));
    assert!(close(index.idf(3), 0.980_829_25, 1e-6));
    // 1: 0.470004 + 2 * 0.470004 = 1.410010888; 2: 0.5 * 0.470004 + 0.470004 = 0.705005444
    let want = [(1, 1.410_010_888), (2, 0.705_005_444)];
    assert_hits(&index.search(&q, 10, None).unwrap(), &want);

    // Upsert 5 with dimension 3: N = 4, df(3) = 2, idf(3) = ln 2.
    index.upsert(5, &sv(&[(3, 1.0)])).unwrap();
    assert!(close(index.idf(3), core::f32::consts::LN_2, 1e-6));
    assert_hits(
        &index.search(&sv(&[(3, 2.0)]), 10, None).unwrap(),
        &[
            (4, 2.0 * core::f64::consts::LN_2),
            (5, 2.0 * core::f64::consts::LN_2),
        ],
    );
    // Replacing 1 without dimension 2 lowers df(2) to 1 (N stays 4).
    index.upsert(1, &sv(&[(1, 1.0)])).unwrap();
    assert_eq!(index.doc_freq(2), 1);
    assert!(close(index.idf(2), 1.203_972_8, 1e-6));
}

#[test]
fn deletes_free_postings_and_memory() {
    let mut rng = Rng::new(11);
    let mut index = SparseIndex::new(Modifier::None);
    for id in 0..2000u32 {
        index
            .upsert(id, &random_vector(&mut rng, 200, 20, false))
            .unwrap();
    }
    let full = index.memory_bytes();
    for id in 0..1900u32 {
        assert!(index.delete(id));
    }
    let postings: usize = index.lists.values().map(|l| l.ids.len()).sum();
    let live: usize = index.docs.values().map(|v| v.len()).sum();
    // Tombstones never exceed a quarter of a list (plus rounding per list).
    assert!(
        postings <= live + live / 3 + index.lists.len(),
        "{postings} vs {live}"
    );
    assert!(
        index.memory_bytes() * 5 < full,
        "{} vs {full}",
        index.memory_bytes()
    );
    for id in 1900..2000u32 {
        assert!(index.delete(id));
    }
    assert!(index.lists.is_empty());
    assert!(index.is_empty());
    assert!(index.memory_bytes() < 4096, "{}", index.memory_bytes());
}

#[test]
fn bincode_round_trip_is_canonical() {
    let mut rng = Rng::new(5);
    let mut a = SparseIndex::new(Modifier::Idf);
    let mut b = SparseIndex::new(Modifier::Idf);
    let vectors: Vec<SparseVector> = (0..300)
        .map(|_| random_vector(&mut rng, 100, 10, true))
        .collect();
    for (id, v) in vectors.iter().enumerate() {
        a.upsert(id as u32, v).unwrap();
    }
    for (id, v) in vectors.iter().enumerate().rev() {
        b.upsert(id as u32, v).unwrap();
        b.upsert(id as u32 + 1000, v).unwrap();
    }
    for id in 0..300u32 {
        b.delete(id + 1000);
    }
    let config = bincode::config::standard();
    let bytes = bincode::encode_to_vec(&a, config).unwrap();
    assert_eq!(bytes, bincode::encode_to_vec(&b, config).unwrap());
    let (c, used): (SparseIndex, usize) = bincode::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(c.len(), 300);
    assert_eq!(c.modifier(), Modifier::Idf);
    let q = random_vector(&mut rng, 100, 8, false);
    assert_eq!(
        a.search(&q, 20, None).unwrap(),
        c.search(&q, 20, None).unwrap()
    );
    // A duplicate id in the body is rejected.
    let mut bad = Vec::new();
    bad.extend(bincode::encode_to_vec(Modifier::None, config).unwrap());
    bad.extend(bincode::encode_to_vec(2u64, config).unwrap());
    for _ in 0..2 {
        bad.extend(bincode::encode_to_vec(7u32, config).unwrap());
        bad.extend(bincode::encode_to_vec(sv(&[(1, 1.0)]), config).unwrap());
    }
    assert!(bincode::decode_from_slice::<SparseIndex, _>(&bad, config).is_err());
}

// --------------------------------------------------- pruned vs exhaustive

/// A dimension drawn with a skewed (roughly Zipfian) frequency: low
/// dimensions are common, high ones rare.
fn skewed_dim(rng: &mut Rng, dims: u32) -> u32 {
    let u = rng.next_f64();
    ((dims as f64) * u * u * u) as u32
}

fn random_vector(rng: &mut Rng, dims: u32, max_nnz: u64, signed: bool) -> SparseVector {
    let nnz = 1 + rng.below(max_nnz);
    let mut pairs: Vec<(u32, f32)> = Vec::new();
    for _ in 0..nnz {
        let d = skewed_dim(rng, dims);
        if pairs.iter().any(|p| p.0 == d) {
            continue;
        }
        let v = if signed {
            rng.next_f32_signed()
        } else {
            (rng.next_f64() as f32).max(1e-3)
        };
        pairs.push((d, v));
    }
    sv(&pairs)
}

/// Values on a coarse grid, so that many documents tie exactly.
fn grid_vector(rng: &mut Rng, dims: u32, max_nnz: u64) -> SparseVector {
    let nnz = 1 + rng.below(max_nnz);
    let mut pairs: Vec<(u32, f32)> = Vec::new();
    for _ in 0..nnz {
        let d = skewed_dim(rng, dims);
        if pairs.iter().all(|p| p.0 != d) {
            pairs.push((d, [0.25, 0.5, 1.0][rng.below(3) as usize]));
        }
    }
    sv(&pairs)
}

/// Checks pruned == exhaustive on `queries` random queries; returns the
/// postings scored by each.
fn compare(
    index: &SparseIndex,
    rng: &mut Rng,
    queries: usize,
    dims: u32,
    query_gen: &dyn Fn(&mut Rng) -> SparseVector,
    seed: u64,
) -> (usize, usize) {
    let (mut pruned_work, mut full_work) = (0, 0);
    for qi in 0..queries {
        let q = query_gen(rng);
        let k = 1 + rng.below(100) as usize;
        let modulus = 2 + rng.below(5) as u32;
        let filter = move |id: u32| !id.is_multiple_of(modulus);
        let f: Option<&dyn crate::Filter> = if qi % 3 == 0 { Some(&filter) } else { None };
        let (pruned, pw) = index.search_counted(&q, k, f, true).unwrap();
        let (full, fw) = index.search_counted(&q, k, f, false).unwrap();
        pruned_work += pw.scored;
        full_work += fw.scored;
        let ids_p: Vec<u32> = pruned.iter().map(|h| h.0).collect();
        let ids_f: Vec<u32> = full.iter().map(|h| h.0).collect();
        assert_eq!(ids_p, ids_f, "seed {seed} query {qi} k {k} dims {dims}");
        for (p, e) in pruned.iter().zip(&full) {
            assert!(
                close(p.1, e.1, 1e-6),
                "seed {seed} query {qi}: {p:?} vs {e:?}"
            );
        }
        if let Some(f) = f {
            assert!(pruned.iter().all(|h| f.allows(h.0)));
        }
        assert!(pruned.iter().all(|h| index.contains(h.0)));
    }
    (pruned_work, full_work)
}

#[test]
fn pruned_equals_exhaustive_on_random_data() {
    for seed in [1u64, 2, 3, 42, 1234] {
        std::println!("seed {seed}");
        let mut rng = Rng::new(seed);
        let signed = seed % 2 == 0;
        let dims = 300 + (seed as u32 % 5) * 100;
        let mut index = SparseIndex::new(if seed % 3 == 0 {
            Modifier::Idf
        } else {
            Modifier::None
        });
        let n = 3000u32;
        for id in 0..n {
            index
                .upsert(id, &random_vector(&mut rng, dims, 40, signed))
                .unwrap();
        }
        let gen_q = move |rng: &mut Rng| random_vector(rng, dims, 12, signed);
        let (pw, fw) = compare(&index, &mut rng, 60, dims, &gen_q, seed);
        std::println!("  fresh: pruned scored {pw}, exhaustive {fw}");

        // Deletes, replacements and new ids (including reused ones).
        for _ in 0..1500 {
            let id = rng.below(u64::from(n)) as u32;
            index.delete(id);
        }
        for _ in 0..800 {
            let id = rng.below(u64::from(n) + 500) as u32;
            index
                .upsert(id, &random_vector(&mut rng, dims, 40, signed))
                .unwrap();
        }
        let (pw, fw) = compare(&index, &mut rng, 60, dims, &gen_q, seed);
        std::println!("  after updates: pruned scored {pw}, exhaustive {fw}");
    }
}

#[test]
fn pruned_equals_exhaustive_with_many_exact_ties() {
    for seed in [7u64, 8, 9] {
        let mut rng = Rng::new(seed);
        let dims = 60;
        let mut index = SparseIndex::new(Modifier::None);
        for id in 0..2000u32 {
            index.upsert(id, &grid_vector(&mut rng, dims, 8)).unwrap();
        }
        for id in (0..2000u32).step_by(7) {
            index.delete(id);
        }
        let gen_q = move |rng: &mut Rng| grid_vector(rng, dims, 6);
        compare(&index, &mut rng, 80, dims, &gen_q, seed);
    }
}

/// The reference itself against a brute-force dot product over all points.
#[test]
fn exhaustive_matches_brute_force() {
    let mut rng = Rng::new(99);
    let mut index = SparseIndex::new(Modifier::None);
    let mut all = Vec::new();
    for id in 0..800u32 {
        let v = random_vector(&mut rng, 200, 20, true);
        index.upsert(id, &v).unwrap();
        all.push((id, v));
    }
    for _ in 0..30 {
        let q = random_vector(&mut rng, 200, 10, true);
        let mut brute: Vec<(u32, f32)> = all
            .iter()
            .filter(|(_, v)| v.indices.iter().any(|i| q.indices.contains(i)))
            .map(|(id, v)| (*id, v.dot(&q)))
            .collect();
        brute.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let got = index.search_exhaustive(&q, 25, None).unwrap();
        assert_eq!(got.len(), brute.len().min(25));
        for (g, b) in got.iter().zip(&brute) {
            assert!((g.1 - b.1).abs() <= 1e-5, "{g:?} vs {b:?}");
            let own = all[g.0 as usize].1.dot(&q);
            assert!((g.1 - own).abs() <= 1e-5);
        }
    }
}

/// Pruning must skip postings, not just agree with the reference: on a
/// larger skewed collection, top-10 queries skip a good share of the
/// postings the exhaustive search scores.
#[test]
fn pruning_skips_postings() {
    let mut rng = Rng::new(21);
    let dims = 2000;
    let mut index = SparseIndex::new(Modifier::None);
    for id in 0..30_000u32 {
        index
            .upsert(id, &random_vector(&mut rng, dims, 30, false))
            .unwrap();
    }
    let (mut pruned, mut full) = (0, 0);
    for _ in 0..50 {
        let q = random_vector(&mut rng, dims, 10, false);
        let (a, pw) = index.search_counted(&q, 10, None, true).unwrap();
        let (b, fw) = index.search_counted(&q, 10, None, false).unwrap();
        assert_eq!(a, b);
        pruned += pw.scored;
        full += fw.scored;
    }
    std::println!("pruned scored {pruned}, exhaustive {full}");
    assert!(
        pruned * 10 < full * 7,
        "pruned {pruned} vs exhaustive {full}"
    );
}

use crate::Filter as SearchFilter;

/// A filter that knows how many points it allows, as a payload index does.
struct Counted(hashbrown::HashSet<u32>);

impl SearchFilter for Counted {
    fn allows(&self, id: u32) -> bool {
        self.0.contains(&id)
    }
    fn cardinality(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// With a restrictive filter of known cardinality the index scores the
/// allowed points directly instead of walking postings; the result must be
/// exactly the exhaustive one.
#[test]
fn restrictive_counted_filter_scores_allowed_points_exactly() {
    for seed in [5u64, 6, 9] {
        let mut rng = Rng::new(seed);
        let dims = 200;
        let mut index = SparseIndex::new(if seed == 6 {
            Modifier::Idf
        } else {
            Modifier::None
        });
        for id in 0..4000u32 {
            index
                .upsert(id, &random_vector(&mut rng, dims, 30, seed == 9))
                .unwrap();
        }
        let mut scans = 0;
        for permille in [2u64, 30, 500] {
            let allowed = Counted(
                (0..4000u32)
                    .filter(|_| rng.below(1000) < permille)
                    .collect(),
            );
            for _ in 0..20 {
                let q = random_vector(&mut rng, dims, 10, seed == 9);
                scans += usize::from(index.plans_scan(&q, allowed.0.len()));
                for k in [1, 10, 50] {
                    let got = index.search(&q, k, Some(&allowed)).unwrap();
                    let want = index.search_exhaustive(&q, k, Some(&allowed)).unwrap();
                    assert_eq!(got, want, "seed {seed} {permille}‰ k {k}");
                    assert!(got.iter().all(|(id, _)| allowed.0.contains(id)));
                }
            }
        }
        // Both plans ran: the rarest filter is scanned for most queries.
        assert!(
            (10..60).contains(&scans),
            "seed {seed}: {scans} of 60 queries scanned"
        );
    }
}
