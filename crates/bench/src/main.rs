//! grape-bench: recall and speed of Grape's indexes on TEXMEX files.
//!
//! ```text
//! grape-bench ann --data DIR --dataset NAME [--m 16] [--ef-construction 200]
//!                 [--ef 10,16,32,64,128] [--k 10] [--out DIR] [--metric cosine]
//!                 [--index-cache FILE] [--limit-queries N] [--no-layout]
//! grape-bench demo [--n 20000] [--dim 64]
//! grape-bench storage --data DIR [...]   (grape-db: upsert, get, query, open; see storage.rs)
//! ```
//! `ann` reads `NAME.base.fvecs`, `NAME.query.fvecs` and `NAME.gt100.ivecs`,
//! builds an HNSW index on one thread, then searches one query at a time
//! for each `ef`, and writes `OUT/grape-NAME.json`.

mod filtered;
mod quant;
mod storage;
mod texmex;
mod text;

use std::time::Instant;
use std::{env, fs, process};

use grape_core::{Hnsw, HnswConfig, Metric, Rng, Scratch, SearchParams, VectorIndex};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ann") => ann(&Opts::parse(&args[1..])),
        Some("demo") => demo(&Opts::parse(&args[1..])),
        Some("text") => text::run(&Opts::parse(&args[1..])),
        Some("filtered") => filtered::run(&Opts::parse(&args[1..])),
        Some("quant") => quant::run(&Opts::parse(&args[1..])),
        Some("storage") => storage::run(&Opts::parse(&args[1..])),
        _ => {
            Err("usage: grape-bench ann --data DIR --dataset NAME [...] | grape-bench demo".into())
        }
    };
    if let Err(e) = result {
        eprintln!("grape-bench: {e}");
        process::exit(2);
    }
}

type Res<T> = Result<T, String>;

struct Opts(Vec<(String, String)>);

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut out = Vec::new();
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                // A flag without a value (`--no-layout`) is followed by the next option.
                let value = match it.peek() {
                    Some(v) if !v.starts_with("--") => it.next().cloned().unwrap_or_default(),
                    _ => String::new(),
                };
                out.push((name.to_string(), value));
            }
        }
        Opts(out)
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn num(&self, name: &str, default: usize) -> Res<usize> {
        self.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| format!("--{name}: not a number: {v}"))
        })
    }
    fn list(&self, name: &str, default: &[usize]) -> Res<Vec<usize>> {
        match self.get(name) {
            None => Ok(default.to_vec()),
            Some(v) => v
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse()
                        .map_err(|_| format!("--{name}: bad list {v}"))
                })
                .collect(),
        }
    }
}

fn metric(name: &str) -> Res<Metric> {
    match name {
        "cosine" => Ok(Metric::Cosine),
        "dot" => Ok(Metric::Dot),
        "euclid" | "l2" => Ok(Metric::Euclid),
        "manhattan" | "l1" => Ok(Metric::Manhattan),
        _ => Err(format!("unknown metric {name}")),
    }
}

/// Resident set size of this process, from /proc/self/statm.
fn rss_bytes() -> usize {
    let statm = fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn ann(o: &Opts) -> Res<()> {
    let data = o.get("data").ok_or("--data DIR is required")?;
    let name = o.get("dataset").ok_or("--dataset NAME is required")?;
    let m = o.num("m", 16)?;
    let efc = o.num("ef-construction", 200)?;
    let k = o.num("k", 10)?;
    let efs = o.list(
        "ef",
        &[
            10, 12, 14, 16, 18, 20, 22, 24, 28, 32, 36, 40, 48, 56, 64, 72, 80, 96, 112, 128, 160,
            192, 256, 384, 512,
        ],
    )?;
    let metric = metric(o.get("metric").unwrap_or("cosine"))?;
    let out_dir = o.get("out").unwrap_or("bench/out");
    let (base, queries, gt) = read_dataset(o, data, name)?;
    if gt.len() != queries.len() || gt.iter().any(|g| g.len() < k) {
        return Err(format!(
            "ground truth does not cover {} queries at k={k}",
            queries.len()
        ));
    }
    let (n, dim) = (base.len(), base.dim);
    eprintln!(
        "{name}: {n} x {dim}, {} queries; building M={m} ef_construction={efc}",
        queries.len()
    );

    let rss_before = rss_bytes();
    let (index, build_seconds) = build_or_load(o, &base, metric)?;

    let rss_delta = rss_bytes().saturating_sub(rss_before);
    eprintln!(
        "\r  built in {build_seconds:.2} s, index {} MB",
        index.memory_bytes() >> 20
    );
    let raw = n * dim * 4;
    let graph_per_point = rss_delta.saturating_sub(raw) as f64 / n as f64;

    let mut scratch = Scratch::new();
    let mut runs = Vec::new();
    for &ef in &efs {
        let params = SearchParams::top(k).with_ef(ef);
        let mut best = f64::INFINITY;
        let mut hits_total = 0usize;
        for rep in 0..3 {
            let t = Instant::now();
            let mut found = 0usize;
            for (qi, q) in (0..queries.len()).map(|i| (i, queries.row(i))) {
                let hits = index
                    .search_with(&mut scratch, q, &params, None)
                    .map_err(|e| e.to_string())?;
                if rep == 0 {
                    let truth = &gt[qi][..k];
                    found += hits
                        .iter()
                        .filter(|h| truth.contains(&(h.id as u32)))
                        .count();
                }
            }
            best = best.min(t.elapsed().as_secs_f64());
            if rep == 0 {
                hits_total = found;
            }
        }
        let recall = hits_total as f64 / (queries.len() * k) as f64;
        let qps = queries.len() as f64 / best;
        eprintln!("  ef {ef:>4}  recall@{k} {recall:.4}  {qps:>9.0} QPS");
        runs.push(format!(
            r#"{{"ef": {ef}, "recall_at_10": {recall:.5}, "qps": {qps:.1}}}"#
        ));
    }
    fs::create_dir_all(out_dir).map_err(|e| format!("{out_dir}: {e}"))?;
    let json = format!(
        concat!(
            r#"{{"engine": "grape", "version": "{ver}", "dataset": "{name}", "n": {n}, "dim": {dim}, "#,
            r#""queries": {nq}, "m": {m}, "ef_construction": {efc}, "threads": 1, "#,
            r#""query_mode": "one-at-a-time", "build_seconds": {bs:.3}, "rss_delta_bytes": {rss}, "#,
            r#""graph_bytes_per_point": {gpp:.1}, "index_bytes": {ib}, "graph_bytes": {gb}, "#,
            r#""kernel": "{kernel}", "runs": [{runs}]}}"#
        ),
        ver = env!("CARGO_PKG_VERSION"),
        name = name,
        n = n,
        dim = dim,
        m = m,
        efc = efc,
        nq = queries.len(),
        bs = build_seconds,
        rss = rss_delta,
        gpp = graph_per_point,
        ib = index.memory_bytes(),
        gb = index.graph_memory_bytes(),
        kernel = grape_core::distance::Kernel::selected().name(),
        runs = runs.join(", "),
    );
    let file = format!("{out_dir}/grape-{name}.json");
    fs::write(&file, json + "\n").map_err(|e| format!("{file}: {e}"))?;
    eprintln!("  wrote {file}");
    Ok(())
}

/// Reads `NAME.base.fvecs`, `NAME.query.fvecs` and `NAME.gt100.ivecs` from
/// `data`, keeping the first `--limit-queries` queries.
fn read_dataset(
    o: &Opts,
    data: &str,
    name: &str,
) -> Res<(texmex::Vectors, texmex::Vectors, Vec<Vec<u32>>)> {
    let path = |suffix: &str| format!("{data}/{name}.{suffix}");
    let base = texmex::read_fvecs(&path("base.fvecs"))?;
    let mut queries = texmex::read_fvecs(&path("query.fvecs"))?;
    let mut gt = texmex::read_ivecs(&path("gt100.ivecs"))?;
    if let Some(limit) = o.get("limit-queries") {
        let l: usize = limit.parse().map_err(|_| "--limit-queries: not a number")?;
        queries.truncate(l);
        gt.truncate(l);
    }
    Ok((base, queries, gt))
}

/// Builds the HNSW index over `base` on one thread (`--m`,
/// `--ef-construction`; then `optimize_layout` unless `--no-layout`), or
/// loads it from `--index-cache FILE` when that exists (and writes it there
/// after a build). Returns the index and the build seconds.
fn build_or_load(o: &Opts, base: &texmex::Vectors, metric: Metric) -> Res<(Hnsw, f64)> {
    let (n, dim) = (base.len(), base.dim);
    let m = o.num("m", 16)?;
    let efc = o.num("ef-construction", 200)?;
    let t = Instant::now();
    let cache = o.get("index-cache");
    let index = match cache.and_then(|c| fs::read(c).ok()) {
        Some(bytes) => {
            eprintln!("  loaded index from {}", cache.unwrap_or_default());
            Hnsw::from_bytes(&bytes).map_err(|e| e.to_string())?
        }
        None => {
            let config = HnswConfig::new(dim, metric).m(m).ef_construction(efc);
            let mut index = Hnsw::new(config).map_err(|e| e.to_string())?;
            index.reserve(n);
            let step = (n / 20).max(1);
            for i in 0..n {
                index
                    .upsert(i as u64, base.row(i))
                    .map_err(|e| format!("point {i}: {e}"))?;
                if (i + 1) % step == 0 {
                    eprint!("\r  built {:>3}%", (i + 1) * 100 / n);
                }
            }
            // Part of the build: renumber for memory locality, as a database
            // would after a bulk import (`--no-layout` skips it).
            if o.get("no-layout").is_none() {
                index.optimize_layout();
            }
            if let Some(c) = cache {
                fs::write(c, index.to_bytes()).map_err(|e| format!("{c}: {e}"))?;
            }
            index
        }
    };
    Ok((index, t.elapsed().as_secs_f64()))
}

/// A self-contained run on generated data: the README's first command
/// until the server exists.
fn demo(o: &Opts) -> Res<()> {
    let n = o.num("n", 20_000)?;
    let dim = o.num("dim", 64)?;
    let mut rng = Rng::new(42);
    let centres: Vec<Vec<f32>> = (0..64)
        .map(|_| (0..dim).map(|_| rng.next_f32_signed()).collect())
        .collect();
    let point = |rng: &mut Rng| -> Vec<f32> {
        let c = &centres[rng.below(64) as usize];
        c.iter().map(|x| x + 0.2 * rng.next_f32_signed()).collect()
    };
    let base: Vec<Vec<f32>> = (0..n).map(|_| point(&mut rng)).collect();
    let queries: Vec<Vec<f32>> = (0..200).map(|_| point(&mut rng)).collect();
    let t = Instant::now();
    let mut index = Hnsw::new(HnswConfig::new(dim, Metric::Cosine)).map_err(|e| e.to_string())?;
    for (i, v) in base.iter().enumerate() {
        index.upsert(i as u64, v).map_err(|e| e.to_string())?;
    }
    println!(
        "built HNSW over {n} x {dim} generated vectors in {:.2} s ({} kernel)",
        t.elapsed().as_secs_f64(),
        grape_core::distance::Kernel::selected().name()
    );
    let mut scratch = Scratch::new();
    for ef in [16, 64, 256] {
        let t = Instant::now();
        let mut found = 0;
        for q in &queries {
            let exact = index
                .search_with(
                    &mut scratch,
                    q,
                    &SearchParams::top(10).with_exact(true),
                    None,
                )
                .map_err(|e| e.to_string())?;
            let approx = index
                .search_with(&mut scratch, q, &SearchParams::top(10).with_ef(ef), None)
                .map_err(|e| e.to_string())?;
            found += approx
                .iter()
                .filter(|h| exact.iter().any(|e| e.id == h.id))
                .count();
        }
        println!(
            "ef {ef:>3}: recall@10 {:.3}  ({:.2} s for {} exact + approximate query pairs)",
            found as f64 / (queries.len() * 10) as f64,
            t.elapsed().as_secs_f64(),
            queries.len()
        );
    }
    Ok(())
}
