//! Score fusion: several ranked lists of hits in, one ranked list out.
//!
//! Three methods, each a pure function over [`ScoredList`]s:
//!
//! - [`rrf`]: Reciprocal Rank Fusion with Qdrant's convention (0-based
//!   positions, default `k` = 2; the paper's 60 is `k` = 61 here).
//! - [`dbsf`]: Distribution-Based Score Fusion as Qdrant's `dbsf`
//!   (mean ± 3 sample standard deviations, not clipped).
//! - [`weighted`]: a weighted sum of min-max normalised scores.
//!
//! Every output is sorted by fused score, highest first, ties broken by the
//! lower id. Within one input list only the first (best) occurrence of an id
//! counts; later duplicates are dropped before anything is computed.

use alloc::format;
use alloc::vec::Vec;
use core::cmp::Ordering;

use hashbrown::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::search::Hit;

/// Qdrant's default RRF `k`: position `p` (0-based) scores `1 / (p + 2)`.
pub const DEFAULT_RRF_K: u32 = 2;

/// A ranked list of hits, best first, with the orientation of its scores.
///
/// Similarities (cosine, dot, sparse dot, BM25) are `higher_is_better`;
/// euclid and manhattan distances are not. RRF only uses the order of
/// `hits`; DBSF and weighted fusion flip distance lists so that higher is
/// better before normalising.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredList {
    /// Hits, best first.
    pub hits: Vec<Hit>,
    /// True when a higher score is better (similarity), false for distances.
    pub higher_is_better: bool,
}

impl ScoredList {
    /// A list of similarity scores (higher is better).
    pub fn similarities(hits: Vec<Hit>) -> Self {
        ScoredList {
            hits,
            higher_is_better: true,
        }
    }

    /// A list of distances (lower is better).
    pub fn distances(hits: Vec<Hit>) -> Self {
        ScoredList {
            hits,
            higher_is_better: false,
        }
    }

    /// Sorts the hits best first under the list's orientation, ties by the
    /// lower id.
    pub fn sort(&mut self) {
        let higher = self.higher_is_better;
        self.hits.sort_by(|a, b| compare_hits(a, b, higher));
    }

    /// True when `score` is strictly better than `threshold` under the
    /// list's orientation (strict, as Qdrant's `score_threshold`).
    pub fn beats(&self, score: f32, threshold: f32) -> bool {
        better(score, threshold, self.higher_is_better)
    }
}

/// True when `score` is strictly better than `threshold`.
pub(crate) fn better(score: f32, threshold: f32, higher_is_better: bool) -> bool {
    if higher_is_better {
        score > threshold
    } else {
        score < threshold
    }
}

/// Orders two hits best first: by score (descending when higher is better,
/// ascending otherwise), then by the lower id.
pub(crate) fn compare_hits(a: &Hit, b: &Hit, higher_is_better: bool) -> Ordering {
    let by_score = if higher_is_better {
        b.score.total_cmp(&a.score)
    } else {
        a.score.total_cmp(&b.score)
    };
    by_score.then(a.id.cmp(&b.id))
}

/// Reciprocal Rank Fusion with Qdrant's conventions.
///
/// An id at 0-based position `pos` of list `i` contributes
/// `1 / ((pos + 1) / w_i + k - 1)`, which is `1 / (pos + k)` when the
/// weight `w_i` is 1 (the default when `weights` is `None`); contributions
/// are summed over lists. Scores are ignored (only positions count), so
/// distance and similarity lists fuse alike. `k` must be at least 1;
/// weights, one per list, must be finite and not negative (a weight of 0
/// makes its list contribute nothing).
pub fn rrf(lists: &[ScoredList], k: u32, weights: Option<&[f32]>) -> Result<Vec<Hit>> {
    if k == 0 {
        return Err(Error::InvalidQuery(
            "rrf k must be at least 1, got 0".into(),
        ));
    }
    check_weights("rrf", lists.len(), weights)?;
    let k = f64::from(k);
    let mut fused: HashMap<u64, f64> = HashMap::new();
    for (i, list) in lists.iter().enumerate() {
        let w = weights.map_or(1.0, |w| f64::from(w[i]));
        for (pos, hit) in first_occurrences(&list.hits).enumerate() {
            // w = 0 gives 1 / inf = 0: the list is switched off.
            let contribution = 1.0 / ((pos as f64 + 1.0) / w + k - 1.0);
            *fused.entry(hit.id).or_insert(0.0) += contribution;
        }
    }
    Ok(into_ranked(fused))
}

/// Distribution-Based Score Fusion, as Qdrant's `dbsf`.
///
/// Per list, with mean `m` and sample standard deviation `sd` (divisor
/// `n - 1`), a score `s` becomes `(s - (m - 3 sd)) / (6 sd)`, not clipped (an
/// outlier may land below 0 or above 1). A one-element list gives 0.5, and so
/// does every element of a list whose scores are all equal (`sd` = 0: the
/// centre of the range). Distance lists are negated first so that higher is
/// better. Normalised scores are summed over lists. Scores must be finite.
pub fn dbsf(lists: &[ScoredList]) -> Result<Vec<Hit>> {
    let mut fused: HashMap<u64, f64> = HashMap::new();
    for (i, list) in lists.iter().enumerate() {
        let scores = oriented_scores("dbsf", i, list)?;
        let n = scores.len();
        if n == 0 {
            continue;
        }
        let (lower, range) = if n == 1 {
            (0.0, 0.0)
        } else {
            let mean = scores.iter().map(|&(_, s)| s).sum::<f64>() / n as f64;
            let squares: f64 = scores.iter().map(|&(_, s)| (s - mean) * (s - mean)).sum();
            let sd = libm::sqrt(squares / (n - 1) as f64);
            (mean - 3.0 * sd, 6.0 * sd)
        };
        for (id, s) in scores {
            let normalised = if range > 0.0 {
                (s - lower) / range
            } else {
                0.5
            };
            *fused.entry(id).or_insert(0.0) += normalised;
        }
    }
    Ok(into_ranked(fused))
}

/// Weighted linear fusion of min-max normalised scores.
///
/// Per list, a score `s` becomes `(s - min) / (max - min)`, so the list's
/// best hit gets 1 and its worst 0 (distance lists are flipped: the smallest
/// distance gets 1). A list whose scores are all equal (including a
/// one-element list) gives every hit 1: each is its list's best. The fused
/// score is `sum_i w_i × normalised_i`; an id missing from a list gets
/// nothing from it. One weight per list, finite and not negative; scores
/// must be finite.
pub fn weighted(lists: &[ScoredList], weights: &[f32]) -> Result<Vec<Hit>> {
    check_weights("weighted fusion", lists.len(), Some(weights))?;
    let mut fused: HashMap<u64, f64> = HashMap::new();
    for (i, list) in lists.iter().enumerate() {
        let scores = oriented_scores("weighted fusion", i, list)?;
        let w = f64::from(weights[i]);
        let min = scores.iter().map(|&(_, s)| s).fold(f64::INFINITY, f64::min);
        let max = scores
            .iter()
            .map(|&(_, s)| s)
            .fold(f64::NEG_INFINITY, f64::max);
        let range = max - min;
        for (id, s) in scores {
            let normalised = if range > 0.0 { (s - min) / range } else { 1.0 };
            *fused.entry(id).or_insert(0.0) += w * normalised;
        }
    }
    Ok(into_ranked(fused))
}

/// Checks that there is one finite, non-negative weight per list.
fn check_weights(method: &str, lists: usize, weights: Option<&[f32]>) -> Result<()> {
    let Some(weights) = weights else {
        return Ok(());
    };
    if weights.len() != lists {
        return Err(Error::InvalidQuery(format!(
            "{method} weights: {} weights for {lists} lists",
            weights.len()
        )));
    }
    for (i, &w) in weights.iter().enumerate() {
        if !w.is_finite() || w < 0.0 {
            return Err(Error::InvalidQuery(format!(
                "{method} weights[{i}] must be a finite number not below 0, got {w}"
            )));
        }
    }
    Ok(())
}

/// The hits of a list without repeated ids (the first, best occurrence wins).
fn first_occurrences(hits: &[Hit]) -> impl Iterator<Item = &Hit> {
    let mut seen = HashSet::new();
    hits.iter().filter(move |h| seen.insert(h.id))
}

/// `(id, score)` pairs of a list with repeats dropped and distances negated,
/// so that higher is better; rejects non-finite scores.
fn oriented_scores(method: &str, list: usize, scored: &ScoredList) -> Result<Vec<(u64, f64)>> {
    let sign = if scored.higher_is_better { 1.0 } else { -1.0 };
    first_occurrences(&scored.hits)
        .map(|hit| {
            if hit.score.is_finite() {
                Ok((hit.id, sign * f64::from(hit.score)))
            } else {
                Err(Error::InvalidQuery(format!(
                    "{method}: list {list} has a non-finite score ({}) for point {}",
                    hit.score, hit.id
                )))
            }
        })
        .collect()
}

/// Fused scores as hits, highest first, ties by the lower id.
fn into_ranked(fused: HashMap<u64, f64>) -> Vec<Hit> {
    let mut hits: Vec<Hit> = fused
        .into_iter()
        .map(|(id, score)| Hit {
            id,
            score: score as f32,
        })
        .collect();
    hits.sort_by(|a, b| compare_hits(a, b, true));
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sim(pairs: &[(u64, f32)]) -> ScoredList {
        ScoredList::similarities(pairs.iter().map(|&(id, score)| Hit { id, score }).collect())
    }

    fn dist(pairs: &[(u64, f32)]) -> ScoredList {
        ScoredList::distances(pairs.iter().map(|&(id, score)| Hit { id, score }).collect())
    }

    /// Asserts ids in order and scores within 1e-5.
    fn check(got: &[Hit], want: &[(u64, f64)]) {
        let ids: Vec<u64> = got.iter().map(|h| h.id).collect();
        let want_ids: Vec<u64> = want.iter().map(|w| w.0).collect();
        assert_eq!(ids, want_ids, "order; got {got:?}");
        for (h, &(id, s)) in got.iter().zip(want) {
            assert!(
                (f64::from(h.score) - s).abs() < 1e-5,
                "score of {id}: got {}, want {s}",
                h.score
            );
        }
    }

    /// A: similarities, ids 1, 2, 3. B: distances, ids 3, 4, 1 (best first).
    fn two_lists() -> Vec<ScoredList> {
        vec![
            sim(&[(1, 0.9), (2, 0.7), (3, 0.5)]),
            dist(&[(3, 1.0), (4, 2.0), (1, 6.0)]),
        ]
    }

    #[test]
    fn rrf_default_k_uses_zero_based_positions() {
        // k = 2: position p scores 1 / (p + 2).
        // id 1: A pos 0 -> 1/2, B pos 2 -> 1/4: 0.75
        // id 2: A pos 1 -> 1/3:                 0.333333
        // id 3: A pos 2 -> 1/4, B pos 0 -> 1/2: 0.75
        // id 4: B pos 1 -> 1/3:                 0.333333
        // Ties go to the lower id: 1 before 3, 2 before 4.
        let got = rrf(&two_lists(), DEFAULT_RRF_K, None).unwrap();
        check(
            &got,
            &[(1, 0.75), (3, 0.75), (2, 1.0 / 3.0), (4, 1.0 / 3.0)],
        );
    }

    #[test]
    fn rrf_k_61_is_the_papers_60() {
        // The paper's 1 / (60 + rank) with 1-based rank is 1 / (61 + pos).
        // id 1: 1/61 + 1/63; id 3: 1/63 + 1/61; id 2: 1/62; id 4: 1/62.
        let got = rrf(&two_lists(), 61, None).unwrap();
        let top = 1.0 / 61.0 + 1.0 / 63.0;
        check(
            &got,
            &[(1, top), (3, top), (2, 1.0 / 62.0), (4, 1.0 / 62.0)],
        );
    }

    #[test]
    fn rrf_weights_scale_positions() {
        // 1 / ((pos + 1) / w + k - 1) with k = 2, weights [2, 1].
        // A (w = 2): pos 0 -> 1/(0.5 + 1) = 2/3, pos 1 -> 1/(1 + 1) = 0.5,
        //            pos 2 -> 1/(1.5 + 1) = 0.4.
        // B (w = 1): pos 0 -> 1/2, pos 1 -> 1/3, pos 2 -> 1/4.
        // id 1: 2/3 + 1/4 = 0.916667; id 3: 0.4 + 0.5 = 0.9;
        // id 2: 0.5; id 4: 1/3.
        let got = rrf(&two_lists(), 2, Some(&[2.0, 1.0])).unwrap();
        check(
            &got,
            &[(1, 2.0 / 3.0 + 0.25), (3, 0.9), (2, 0.5), (4, 1.0 / 3.0)],
        );
        // Unit weights are the unweighted formula.
        assert_eq!(
            rrf(&two_lists(), 2, Some(&[1.0, 1.0])).unwrap(),
            rrf(&two_lists(), 2, None).unwrap()
        );
        // Weight 0 switches a list off: only A's 1/2, 1/3, 1/4 remain, B's
        // id 4 scores 0.
        let got = rrf(&two_lists(), 2, Some(&[1.0, 0.0])).unwrap();
        check(&got, &[(1, 0.5), (2, 1.0 / 3.0), (3, 0.25), (4, 0.0)]);
    }

    #[test]
    fn rrf_rejects_bad_parameters() {
        let e = rrf(&two_lists(), 0, None).unwrap_err();
        assert_eq!(
            e,
            Error::InvalidQuery("rrf k must be at least 1, got 0".into())
        );
        let e = rrf(&two_lists(), 2, Some(&[1.0])).unwrap_err();
        assert!(format!("{e}").contains("1 weights for 2 lists"), "{e}");
        let e = rrf(&two_lists(), 2, Some(&[1.0, -1.0])).unwrap_err();
        assert!(format!("{e}").contains("weights[1]"), "{e}");
        let e = rrf(&two_lists(), 2, Some(&[f32::NAN, 1.0])).unwrap_err();
        assert!(format!("{e}").contains("weights[0]"), "{e}");
    }

    #[test]
    fn empty_inputs_fuse_to_nothing() {
        assert!(rrf(&[], 2, None).unwrap().is_empty());
        assert!(dbsf(&[]).unwrap().is_empty());
        assert!(weighted(&[], &[]).unwrap().is_empty());
        let empties = [sim(&[]), dist(&[])];
        assert!(rrf(&empties, 2, None).unwrap().is_empty());
        assert!(dbsf(&empties).unwrap().is_empty());
        assert!(weighted(&empties, &[1.0, 1.0]).unwrap().is_empty());
    }

    #[test]
    fn an_empty_list_does_not_change_the_others() {
        // A alone with k = 2: 1/2, 1/3, 1/4.
        let lists = [sim(&[(1, 0.9), (2, 0.7), (3, 0.5)]), dist(&[])];
        check(
            &rrf(&lists, 2, None).unwrap(),
            &[(1, 0.5), (2, 1.0 / 3.0), (3, 0.25)],
        );
        // DBSF of A alone: see dbsf_normalises_by_mean_and_sample_sd.
        check(
            &dbsf(&lists).unwrap(),
            &[(1, 2.0 / 3.0), (2, 0.5), (3, 1.0 / 3.0)],
        );
    }

    #[test]
    fn one_element_lists() {
        // RRF: pos 0 -> 1/2 each; id 5 is in both lists: 1.
        let lists = [sim(&[(5, 0.1)]), dist(&[(5, 9.0)]), sim(&[(6, 3.0)])];
        check(&rrf(&lists, 2, None).unwrap(), &[(5, 1.0), (6, 0.5)]);
        // DBSF: a one-element list gives 0.5 whatever its score.
        check(&dbsf(&lists).unwrap(), &[(5, 1.0), (6, 0.5)]);
        // Weighted: a one-element list gives 1 × weight.
        check(
            &weighted(&lists, &[1.0, 2.0, 0.5]).unwrap(),
            &[(5, 3.0), (6, 0.5)],
        );
    }

    #[test]
    fn dbsf_normalises_by_mean_and_sample_sd() {
        // A (similarities 0.9, 0.7, 0.5): mean 0.7, sample variance
        // (0.04 + 0 + 0.04) / 2 = 0.04, sd 0.2; lower = 0.7 - 0.6 = 0.1,
        // range 6 sd = 1.2: id 1 -> 0.8/1.2 = 2/3, id 2 -> 0.5,
        // id 3 -> 0.4/1.2 = 1/3.
        // B (distances 1, 2, 6) negated: -1, -2, -6; mean -3, squares
        // 4 + 1 + 9 = 14, variance 7, sd = sqrt 7 = 2.6457513;
        // lower = -3 - 3 sqrt 7 = -10.937254, range 6 sqrt 7 = 15.874508:
        // id 3 -> 9.937254/15.874508 = 0.625988,
        // id 4 -> 8.937254/15.874508 = 0.562994,
        // id 1 -> 4.937254/15.874508 = 0.311018.
        // Sums: id 1 0.977684, id 3 0.959321, id 4 0.562994, id 2 0.5.
        let got = dbsf(&two_lists()).unwrap();
        check(
            &got,
            &[(1, 0.977684), (3, 0.959321), (4, 0.562994), (2, 0.5)],
        );
    }

    #[test]
    fn dbsf_is_not_clipped() {
        // Ten scores 0 and one 1: mean 1/11, squares 10/121 + 100/121 =
        // 10/11, variance (10/11)/10 = 1/11, sd = 1/sqrt 11 = 0.3015113.
        // lower = 1/11 - 3/sqrt 11 = -0.8136249, range 6/sqrt 11 = 1.8090681.
        // id 0 (score 1): 1.8136249/1.8090681 = 1.002519 (above 1),
        // ids 1..=10 (score 0): 0.8136249/1.8090681 = 0.449748.
        let mut pairs = vec![(0u64, 1.0f32)];
        pairs.extend((1..=10).map(|id| (id, 0.0)));
        let got = dbsf(&[sim(&pairs)]).unwrap();
        let mut want = vec![(0u64, 1.002519)];
        want.extend((1..=10).map(|id| (id, 0.449748)));
        check(&got, &want);
    }

    #[test]
    fn dbsf_equal_scores_give_one_half() {
        let got = dbsf(&[sim(&[(2, 0.3), (1, 0.3)])]).unwrap();
        check(&got, &[(1, 0.5), (2, 0.5)]);
    }

    #[test]
    fn weighted_min_max_normalises_and_flips_distances() {
        // A (0.9, 0.7, 0.5): min 0.5, range 0.4: id 1 -> 1, id 2 -> 0.5,
        // id 3 -> 0.
        // B distances (1, 2, 6), flipped: (6 - d) / 5: id 3 -> 1,
        // id 4 -> 0.8, id 1 -> 0.
        // Weights [0.3, 0.7]: id 3 0.7, id 4 0.56, id 1 0.3, id 2 0.15.
        let got = weighted(&two_lists(), &[0.3, 0.7]).unwrap();
        check(&got, &[(3, 0.7), (4, 0.56), (1, 0.3), (2, 0.15)]);
        // Weights [1, 1]: id 1 1, id 3 1 (tie: lower id first), id 4 0.8,
        // id 2 0.5.
        let got = weighted(&two_lists(), &[1.0, 1.0]).unwrap();
        check(&got, &[(1, 1.0), (3, 1.0), (4, 0.8), (2, 0.5)]);
    }

    #[test]
    fn weighted_rejects_mismatched_weights_and_nan_scores() {
        let e = weighted(&two_lists(), &[1.0]).unwrap_err();
        assert!(format!("{e}").contains("1 weights for 2 lists"), "{e}");
        let e = weighted(&[sim(&[(1, f32::NAN)])], &[1.0]).unwrap_err();
        assert!(format!("{e}").contains("point 1"), "{e}");
        let e = dbsf(&[sim(&[(1, 0.5)]), dist(&[(9, f32::INFINITY)])]).unwrap_err();
        assert!(format!("{e}").contains("list 1"), "{e}");
    }

    #[test]
    fn ids_in_only_one_list_keep_that_lists_share() {
        // id 2 is only in A, id 4 only in B; their fused scores are their
        // single contributions (checked above); here against a third list
        // that they both miss: RRF of [A, B, C] with C = [9]:
        // id 9 gets 1/2 from C alone, more than ids 2 and 4 (1/3 each).
        let mut lists = two_lists();
        lists.push(sim(&[(9, 0.0)]));
        let got = rrf(&lists, 2, None).unwrap();
        check(
            &got,
            &[
                (1, 0.75),
                (3, 0.75),
                (9, 0.5),
                (2, 1.0 / 3.0),
                (4, 1.0 / 3.0),
            ],
        );
    }

    #[test]
    fn repeated_ids_in_one_list_count_once() {
        // [7, 7, 8]: the repeat is dropped, so 8 is at position 1: 1/3.
        let got = rrf(&[sim(&[(7, 0.9), (7, 0.8), (8, 0.1)])], 2, None).unwrap();
        check(&got, &[(7, 0.5), (8, 1.0 / 3.0)]);
    }

    #[test]
    fn sort_and_beats_follow_orientation() {
        let mut d = dist(&[(2, 3.0), (1, 1.0), (3, 1.0)]);
        d.sort();
        assert_eq!(
            d.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
            vec![1, 3, 2]
        );
        assert!(d.beats(0.5, 1.0) && !d.beats(1.0, 1.0) && !d.beats(2.0, 1.0));
        let mut s = sim(&[(2, 1.0), (1, 3.0), (3, 1.0)]);
        s.sort();
        assert_eq!(
            s.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(s.beats(2.0, 1.0) && !s.beats(1.0, 1.0) && !s.beats(0.5, 1.0));
    }
}
