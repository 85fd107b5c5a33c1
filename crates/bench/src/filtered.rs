//! `grape-bench filtered`: HNSW search restricted by a filter of a given
//! selectivity, against the exact filtered top-k.
//!
//! ```text
//! grape-bench filtered --data DIR --dataset NAME [--percent 1,10,50]
//!                      [--ef 16,32,64,128,256] [--k 10] [--out DIR] [--index-cache FILE]
//! ```
//! A point passes the filter when a hash of its id falls below the
//! percentage, so allowed points are spread over the whole graph (the hard
//! case: no cluster of the graph is all allowed). The filter reports its
//! exact cardinality, as a payload index does, so the index picks its plan
//! (exact scan of the allowed points or filtered graph search) as it would
//! in the database.

use std::fs;
use std::time::Instant;

use grape_core::{Filter, Hnsw, Plan, Scratch, SearchParams, VectorIndex};

use crate::{Opts, Res, build_or_load, metric, texmex};

/// Allowed external ids, as a payload index would know them.
struct Allowed<'a> {
    index: &'a Hnsw,
    allowed: &'a [bool],
    count: usize,
}

impl Filter for Allowed<'_> {
    fn allows(&self, internal_id: u32) -> bool {
        self.index
            .external_id(internal_id)
            .is_some_and(|id| self.allowed[id as usize])
    }
    fn cardinality(&self) -> Option<usize> {
        Some(self.count)
    }
}

fn passes(id: usize, percent: u64) -> bool {
    ((id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 100 < percent
}

pub fn run(o: &Opts) -> Res<()> {
    let data = o.get("data").ok_or("--data DIR is required")?;
    let name = o.get("dataset").ok_or("--dataset NAME is required")?;
    let k = o.num("k", 10)?;
    let percents = o.list("percent", &[1, 10, 50])?;
    let efs = o.list("ef", &[16, 32, 64, 128, 256])?;
    let metric = metric(o.get("metric").unwrap_or("cosine"))?;
    let out_dir = o.get("out").unwrap_or("bench/out");
    let base = texmex::read_fvecs(&format!("{data}/{name}.base.fvecs"))?;
    let queries = texmex::read_fvecs(&format!("{data}/{name}.query.fvecs"))?;
    let nq = queries.len().min(o.num("limit-queries", usize::MAX)?);
    let (index, build_seconds) = build_or_load(o, &base, metric)?;
    eprintln!(
        "{name}: {} points, built in {build_seconds:.1} s",
        index.len()
    );

    let mut scratch = Scratch::new();
    let mut rows = Vec::new();
    for &percent in &percents {
        let allowed: Vec<bool> = (0..base.len()).map(|i| passes(i, percent as u64)).collect();
        let count = allowed.iter().filter(|&&a| a).count();
        let filter = Allowed {
            index: &index,
            allowed: &allowed,
            count,
        };
        let exact = SearchParams::top(k).with_exact(true);
        let truth: Vec<Vec<u64>> = (0..nq)
            .map(|i| {
                let hits = index.search_with(&mut scratch, queries.row(i), &exact, Some(&filter));
                hits.map(|h| h.iter().map(|x| x.id).collect())
                    .map_err(|e| e.to_string())
            })
            .collect::<Res<_>>()?;
        for &ef in &efs {
            let params = SearchParams::top(k).with_ef(ef);
            let plan = index.plan(&params, Some(&filter));
            let mut best = f64::INFINITY;
            let mut found = 0usize;
            for rep in 0..3 {
                let t = Instant::now();
                for (i, want) in truth.iter().enumerate() {
                    let hits = index
                        .search_with(&mut scratch, queries.row(i), &params, Some(&filter))
                        .map_err(|e| e.to_string())?;
                    if rep == 0 {
                        found += hits.iter().filter(|h| want.contains(&h.id)).count();
                    }
                }
                best = best.min(t.elapsed().as_secs_f64());
            }
            let wanted: usize = truth.iter().map(Vec::len).sum();
            let recall = found as f64 / wanted.max(1) as f64;
            let qps = nq as f64 / best;
            let plan = if plan == Plan::Exact {
                "exact"
            } else {
                "graph"
            };
            eprintln!(
                "  {percent:>3}% ({count} points) ef {ef:>4}  {plan:<5}  recall@{k} {recall:.4}  {qps:>8.0} QPS"
            );
            rows.push(format!(
                r#"{{"percent": {percent}, "allowed": {count}, "ef": {ef}, "plan": "{plan}", "recall_at_10": {recall:.5}, "qps": {qps:.1}}}"#
            ));
        }
    }
    fs::create_dir_all(out_dir).map_err(|e| format!("{out_dir}: {e}"))?;
    let file = format!("{out_dir}/grape-filtered-{name}.json");
    let json = format!(
        r#"{{"engine": "grape", "dataset": "{name}", "n": {}, "queries": {nq}, "k": {k}, "runs": [{}]}}"#,
        base.len(),
        rows.join(", ")
    );
    fs::write(&file, json + "\n").map_err(|e| format!("{file}: {e}"))?;
    eprintln!("  wrote {file}");
    Ok(())
}
