//! `grape-bench quant`: recall and speed of quantized search against the
//! float index, on one HNSW graph built once.
//!
//! ```text
//! grape-bench quant --data DIR --dataset NAME [--out DIR] [--ef LIST] [--k 10]
//!                   [--pq-m LIST] [--oversampling LIST] [--limit-queries N]
//!                   [--index-cache FILE] [--quantile Q]
//! ```
//! Writes `OUT/grape-<variant>-NAME.json` for the variants `float`, `int8`
//! (codes only, no rescoring), `int8-rescore`, `binary-rescore` and
//! `pq<m>-rescore` per `--pq-m` (default: 8× and 16× compression), in the
//! schema of bench/quant_peers.py. The graph is the same for every variant
//! (built on the originals, as Qdrant does); only the vectors the search
//! compares change. `int8` is measured last, after dropping the originals,
//! so its memory figure is the codes alone.

use std::fs;
use std::time::Instant;

use grape_core::{Hnsw, QuantSearch, Quantization, Scratch, SearchParams};

use crate::{Opts, Res, build_or_load, metric, read_dataset, rss_bytes, texmex};

struct Point {
    ef: usize,
    oversampling: f32,
    rescore: bool,
    recall: f64,
    qps: f64,
}

struct Ctx<'a> {
    name: &'a str,
    out: &'a str,
    k: usize,
    efs: Vec<usize>,
    queries: texmex::Vectors,
    gt: Vec<Vec<u32>>,
    n: usize,
    dim: usize,
    build_s: f64,
}

pub fn run(o: &Opts) -> Res<()> {
    let data = o.get("data").ok_or("--data DIR is required")?;
    let name = o.get("dataset").ok_or("--dataset NAME is required")?;
    let k = o.num("k", 10)?;
    let efs = o.list("ef", &[16, 24, 32, 48, 64, 96, 128, 192, 256])?;
    let metric = metric(o.get("metric").unwrap_or("cosine"))?;
    let (base, queries, gt) = read_dataset(o, data, name)?;
    let (n, dim) = (base.len(), base.dim);
    // Default PQ sizes: 8x and 16x compression of f32 (m = dim/2, dim/4), where they divide.
    let pq_default: Vec<usize> = [dim / 2, dim / 4]
        .into_iter()
        .filter(|&m| m > 0 && dim.is_multiple_of(m))
        .collect();
    let pq_ms = o.list("pq-m", &pq_default)?;
    let oversampling: Vec<f32> = o
        .list("oversampling", &[1, 2, 4])?
        .into_iter()
        .map(|x| x as f32)
        .collect();
    eprintln!("{name}: {n} x {dim}, {} queries", queries.len());
    let (mut index, build_s) = build_or_load(o, &base, metric)?;
    drop(base);
    let ctx = Ctx {
        name,
        out: o.get("out").unwrap_or("bench/out/quant"),
        k,
        efs,
        queries,
        gt,
        n,
        dim,
        build_s,
    };
    fs::create_dir_all(ctx.out).map_err(|e| format!("{}: {e}", ctx.out))?;

    let float = QuantSearch {
        ignore: true,
        ..QuantSearch::default()
    };
    let points = ctx.sweep(&index, &[(1.0, float)])?;
    ctx.write(
        "float",
        &index,
        0.0,
        0,
        dim * 4,
        &points,
        "original f32 vectors",
    )?;

    let rescored = |o: f32| QuantSearch {
        rescore: Some(true),
        oversampling: Some(o),
        ..QuantSearch::default()
    };
    let raw = QuantSearch {
        rescore: Some(false),
        ..QuantSearch::default()
    };
    let mut with_over: Vec<(f32, QuantSearch)> =
        oversampling.iter().map(|&o| (o, rescored(o))).collect();
    with_over.insert(0, (1.0, raw));

    let t = Instant::now();
    index
        .quantize(Quantization::Binary)
        .map_err(|e| e.to_string())?;
    let train = t.elapsed().as_secs_f64();
    let points = ctx.sweep(&index, &with_over)?;
    let code = dim.div_ceil(64) * 8;
    ctx.write(
        "binary-rescore",
        &index,
        train,
        code,
        code,
        &points,
        "1 bit per dimension; originals kept in memory for rescoring",
    )?;

    for &m in &pq_ms {
        let t = Instant::now();
        index
            .quantize(Quantization::Product { m })
            .map_err(|e| e.to_string())?;
        let train = t.elapsed().as_secs_f64();
        let points = ctx.sweep(&index, &with_over)?;
        let note = format!(
            "m={m} sub-spaces x 256 centroids ({}x compression); originals kept for rescoring",
            dim * 4 / m
        );
        ctx.write(
            &format!("pq{m}-rescore"),
            &index,
            train,
            m,
            m,
            &points,
            &note,
        )?;
    }

    let quantile: f32 =
        o.get("quantile")
            .map_or(Ok(grape_core::quant::scalar::DEFAULT_QUANTILE), |q| {
                q.parse()
                    .map_err(|_| format!("--quantile: not a number: {q}"))
            })?;
    let t = Instant::now();
    index
        .quantize(Quantization::Scalar { quantile })
        .map_err(|e| e.to_string())?;
    let train = t.elapsed().as_secs_f64();
    let mut int8_over = vec![(1.0, rescored(1.0))];
    int8_over.extend(
        oversampling
            .iter()
            .filter(|&&o| o > 1.0)
            .map(|&o| (o, rescored(o))),
    );
    let points = ctx.sweep(&index, &int8_over)?;
    ctx.write(
        "int8-rescore",
        &index,
        train,
        dim,
        dim,
        &points,
        "int8 codes + f32 originals in memory; top k x oversampling rescored",
    )?;
    let rss_before = rss_bytes();
    index.drop_originals().map_err(|e| e.to_string())?;
    let freed = rss_before.saturating_sub(rss_bytes());
    eprintln!("  dropped the originals: RSS -{} MB", freed >> 20);
    let points = ctx.sweep(&index, &[(1.0, raw)])?;
    ctx.write(
        "int8",
        &index,
        train,
        dim,
        dim,
        &points,
        "int8 codes only (originals dropped): no rescoring",
    )?;
    Ok(())
}

impl Ctx<'_> {
    /// Recall and QPS for every ef and every quantization setting.
    fn sweep(&self, index: &Hnsw, settings: &[(f32, QuantSearch)]) -> Res<Vec<Point>> {
        let mut scratch = Scratch::new();
        let mut out = Vec::new();
        for &(oversampling, qs) in settings {
            for &ef in &self.efs {
                let params = SearchParams::top(self.k).with_ef(ef).with_quantization(qs);
                let mut best = f64::INFINITY;
                let mut found = 0usize;
                for rep in 0..3 {
                    let t = Instant::now();
                    for qi in 0..self.queries.len() {
                        let hits = index
                            .search_with(&mut scratch, self.queries.row(qi), &params, None)
                            .map_err(|e| e.to_string())?;
                        if rep == 0 {
                            let truth = &self.gt[qi][..self.k];
                            found += hits
                                .iter()
                                .filter(|h| truth.contains(&(h.id as u32)))
                                .count();
                        }
                    }
                    best = best.min(t.elapsed().as_secs_f64());
                }
                let recall = found as f64 / (self.queries.len() * self.k) as f64;
                let qps = self.queries.len() as f64 / best;
                let rescore = !qs.ignore && qs.rescore == Some(true);
                eprintln!(
                    "  ef {ef:>4} over {oversampling:>3} rescore {rescore:<5} recall@{} {recall:.4} {qps:>9.0} QPS",
                    self.k
                );
                out.push(Point {
                    ef,
                    oversampling,
                    rescore,
                    recall,
                    qps,
                });
            }
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        variant: &str,
        index: &Hnsw,
        train_s: f64,
        m: usize,
        code_bytes: usize,
        points: &[Point],
        notes: &str,
    ) -> Res<()> {
        let pts: Vec<String> = points
            .iter()
            .map(|p| {
                format!(
                    r#"{{"ef": {}, "nprobe": null, "m": {}, "oversampling": {}, "rescore": {}, "recall": {:.5}, "qps": {:.1}}}"#,
                    p.ef,
                    if m == 0 { "null".to_string() } else { m.to_string() },
                    p.oversampling,
                    p.rescore,
                    p.recall,
                    p.qps
                )
            })
            .collect();
        let json = format!(
            concat!(
                r#"{{"engine": "grape", "variant": "{variant}", "dataset": "{name}", "n": {n}, "dim": {dim}, "#,
                r#""queries": {nq}, "k": {k}, "build_s": {bs:.3}, "train_s": {ts:.3}, "rss_delta_bytes": null, "#,
                r#""code_bytes_per_vector": {cb}, "float_bytes_per_vector": {fb}, "keeps_originals": {ko}, "#,
                r#""vector_bytes_per_point": {vb}, "vector_memory_bytes": {vm}, "graph_bytes": {gb}, "#,
                r#""params": {{"m": 16, "ef_construction": 200}}, "notes": "{notes}", "points": [{pts}]}}"#
            ),
            variant = variant,
            name = self.name,
            n = self.n,
            dim = self.dim,
            nq = self.queries.len(),
            k = self.k,
            bs = self.build_s,
            ts = train_s,
            cb = code_bytes,
            fb = self.dim * 4,
            ko = index.keeps_originals() && variant != "float",
            vb = index.vector_bytes_per_point(),
            vm = index.vector_memory_bytes(),
            gb = index.graph_memory_bytes(),
            notes = notes.replace(['"', '\\'], "'"),
            pts = pts.join(", "),
        );
        let file = format!("{}/grape-{variant}-{}.json", self.out, self.name);
        fs::write(&file, json + "\n").map_err(|e| format!("{file}: {e}"))?;
        eprintln!("  wrote {file}");
        Ok(())
    }
}
