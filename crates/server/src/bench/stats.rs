//! The load generator's arithmetic: latency percentiles and recall@k.
//! Pure functions, tested on known inputs.

use serde::Serialize;

/// Latencies of one run, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// How many requests were measured.
    pub count: usize,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 90th percentile (nearest rank).
    pub p90_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// The slowest request.
    pub max_ms: f64,
}

/// The `p`-th percentile (`0 < p <= 100`) of ascending `sorted` by the
/// nearest-rank method: the smallest value such that at least `p` % of the
/// values are at most it. 0 for an empty slice.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    // ceil(p × n / 100), multiplying first so that whole percentages of
    // whole counts are exact (p = 99, n = 100 is rank 99, not 100).
    let rank = (p * n as f64 / 100.0).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Sorts `latencies_ns` and summarises them.
pub fn summarize(latencies_ns: &mut [u64]) -> Summary {
    latencies_ns.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let count = latencies_ns.len();
    let mean_ms = if count == 0 {
        0.0
    } else {
        latencies_ns.iter().map(|&v| v as f64).sum::<f64>() / count as f64 / 1e6
    };
    Summary {
        count,
        mean_ms,
        p50_ms: ms(percentile(latencies_ns, 50.0)),
        p90_ms: ms(percentile(latencies_ns, 90.0)),
        p99_ms: ms(percentile(latencies_ns, 99.0)),
        max_ms: ms(latencies_ns.last().copied().unwrap_or(0)),
    }
}

/// How many of the first `k` ids of `answer` are among the first `k` of
/// `truth` (the exact neighbours, best first). Duplicates in `answer` count
/// once.
pub fn recall_hits(answer: &[u64], truth: &[u32], k: usize) -> usize {
    let truth = &truth[..k.min(truth.len())];
    let answer = &answer[..k.min(answer.len())];
    answer
        .iter()
        .enumerate()
        .filter(|&(i, id)| !answer[..i].contains(id))
        .filter(|&(_, &id)| truth.iter().any(|&t| u64::from(t) == id))
        .count()
}

/// recall@k accumulated over many answers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Recall {
    /// Correct ids over all answers.
    pub hits: u64,
    /// Answers counted.
    pub answers: u64,
}

impl Recall {
    /// Counts one answer against its exact neighbours.
    pub fn add(&mut self, answer: &[u64], truth: &[u32], k: usize) {
        self.hits += recall_hits(answer, truth, k) as u64;
        self.answers += 1;
    }

    /// Adds another accumulator's counts.
    pub fn merge(&mut self, other: Recall) {
        self.hits += other.hits;
        self.answers += other.answers;
    }

    /// Mean recall@k: correct ids / (answers × k); 0 without answers.
    pub fn value(&self, k: usize) -> f64 {
        if self.answers == 0 || k == 0 {
            0.0
        } else {
            self.hits as f64 / (self.answers as f64 * k as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50.0), 5);
        assert_eq!(percentile(&v, 99.0), 10);
        assert_eq!(percentile(&v, 1.0), 1);
        assert_eq!(percentile(&[7], 50.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        // 3 values: p50 is the second, p90 and p99 the third.
        assert_eq!(percentile(&[10, 20, 30], 50.0), 20);
        assert_eq!(percentile(&[10, 20, 30], 90.0), 30);
    }

    #[test]
    fn summary_sorts_and_converts_to_ms() {
        // 1..=1000 µs, shuffled.
        let mut v: Vec<u64> = (1..=1000u64).map(|i| (i * 389) % 1000 + 1).collect();
        v.iter_mut().for_each(|x| *x *= 1_000);
        let s = summarize(&mut v);
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50_ms, 0.5);
        assert_eq!(s.p90_ms, 0.9);
        assert_eq!(s.p99_ms, 0.99);
        assert_eq!(s.max_ms, 1.0);
        assert!((s.mean_ms - 0.5005).abs() < 1e-12);
        let empty = summarize(&mut []);
        assert_eq!(empty.count, 0);
        assert_eq!(empty.p99_ms, 0.0);
    }

    #[test]
    fn recall_counts_the_top_k_only() {
        let truth = [5u32, 3, 9, 1, 7];
        assert_eq!(recall_hits(&[5, 3, 9], &truth, 3), 3);
        assert_eq!(recall_hits(&[9, 5, 3], &truth, 3), 3);
        // 1 is a true neighbour, but not within the top 3.
        assert_eq!(recall_hits(&[5, 1, 2], &truth, 3), 1);
        // A short answer, and duplicates counted once.
        assert_eq!(recall_hits(&[3], &truth, 3), 1);
        assert_eq!(recall_hits(&[3, 3, 3], &truth, 3), 1);
        // Only the answer's first k ids count.
        assert_eq!(recall_hits(&[0, 2, 4, 5], &truth, 3), 0);

        let mut r = Recall::default();
        r.add(&[5, 3, 9], &truth, 3);
        r.add(&[5, 1, 2], &truth, 3);
        assert_eq!(
            r,
            Recall {
                hits: 4,
                answers: 2
            }
        );
        assert!((r.value(3) - 4.0 / 6.0).abs() < 1e-12);
        let mut total = Recall::default();
        total.merge(r);
        total.merge(r);
        assert_eq!(total.answers, 4);
        assert_eq!(Recall::default().value(10), 0.0);
    }
}
