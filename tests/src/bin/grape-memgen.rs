//! Generates the collection of the workerd memory test
//! (`npm/test/workerd-memory.test.mjs`, run by `scripts/test-npm.sh`):
//!
//! ```text
//! grape-memgen DIR [--n 100000] [--dim 384] [--queries 200] [--ef-construct 100] [--seed 7]
//! ```
//!
//! `n` clustered vectors (seeded, [`grape_tests::clustered`]) in a Cosine
//! collection with int8 quantization that keeps no float originals, built
//! natively and written as `DIR/collection.bin`; `DIR/queries.json` holds
//! the queries (drawn from the same clusters) and their exact float top-10
//! (computed before the float vectors are dropped); `DIR/meta.json` the
//! sizes and times. The same arguments give the same bytes.

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use grape_core::payload::PointId;
use grape_core::{
    Collection, CollectionConfig, FlatIndex, Metric, SearchParams, VectorIndex,
    collection::QUANTIZE_AFTER,
};
use serde_json::json;

/// Clusters of the generated data (each with its own 24-d latent basis).
const CLUSTERS: usize = 64;
const K: usize = 10;

struct Args {
    dir: String,
    n: usize,
    dim: usize,
    queries: usize,
    ef_construct: usize,
    seed: u64,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        dir: String::new(),
        n: 100_000,
        dim: 384,
        queries: 200,
        ef_construct: 100,
        seed: 7,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|e| format!("{name} {v}: {e}"))
        };
        match a.as_str() {
            "--n" => out.n = value(a)? as usize,
            "--dim" => out.dim = value(a)? as usize,
            "--queries" => out.queries = value(a)? as usize,
            "--ef-construct" => out.ef_construct = value(a)? as usize,
            "--seed" => out.seed = value(a)?,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            dir if out.dir.is_empty() => out.dir = dir.to_string(),
            extra => return Err(format!("unexpected argument {extra}")),
        }
    }
    if out.dir.is_empty() {
        return Err("usage: grape-memgen DIR [--n N] [--dim D] [--queries Q] \
                    [--ef-construct EF] [--seed S]"
            .into());
    }
    if out.n < QUANTIZE_AFTER {
        return Err(format!(
            "--n must be at least {QUANTIZE_AFTER} (the quantizer trains then)"
        ));
    }
    Ok(out)
}

fn run(args: &Args) -> Result<(), String> {
    let dir = Path::new(&args.dir);
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (n, dim) = (args.n, args.dim);

    let started = Instant::now();
    let data = grape_tests::clustered(n, dim, CLUSTERS, args.seed);
    let queries =
        grape_tests::clustered_draw(args.queries, dim, CLUSTERS, args.seed, args.seed ^ 0x9e37);
    let generate_s = started.elapsed().as_secs_f64();

    // The exact top-10 under Cosine, from the float vectors.
    let t = Instant::now();
    let mut exact = FlatIndex::new(dim, Metric::Cosine).map_err(|e| e.to_string())?;
    for (i, v) in data.iter().enumerate() {
        exact.upsert(i as u64, v).map_err(|e| e.to_string())?;
    }
    let truth = queries
        .iter()
        .map(|q| {
            exact
                .search(q, &SearchParams::top(K), None)
                .map(|hits| hits.iter().map(|h| h.id).collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    drop(exact);
    let truth_s = t.elapsed().as_secs_f64();

    // The collection: the quantizer trains on the first QUANTIZE_AFTER
    // points and the originals are dropped, so the rest of the graph is
    // built on the int8 codes (as a client with little memory would).
    let config = CollectionConfig::from_value(&json!({
        "vectors": {"size": dim, "distance": "Cosine",
                    "hnsw_config": {"ef_construct": args.ef_construct}},
        "quantization_config": {"scalar": {"type": "int8", "keep_originals": false}},
    }))
    .map_err(|e| e.to_string())?;
    let mut c = Collection::new(config).map_err(|e| e.to_string())?;
    let t = Instant::now();
    for range in [0..QUANTIZE_AFTER, QUANTIZE_AFTER..n] {
        let ids: Vec<PointId> = range.clone().map(|i| PointId::Num(i as u64)).collect();
        let flat: Vec<f32> = data[range].iter().flatten().copied().collect();
        c.upsert_dense("", &ids, &flat, None)
            .map_err(|e| e.to_string())?;
    }
    let build_s = t.elapsed().as_secs_f64();
    drop(data);
    let bytes = c.to_bytes();

    // Recall of the native collection (the workerd test's reference).
    // (`exact`: a scan of the codes, the ceiling that int8 sets.)
    let recall = |ef: usize| -> Result<f64, String> {
        let params = if ef == 0 {
            json!({"exact": true})
        } else {
            json!({"hnsw_ef": ef})
        };
        let mut found = 0;
        for (q, want) in queries.iter().zip(&truth) {
            let request = grape_core::query::QueryRequest::from_value(
                &json!({"query": q, "limit": K, "params": params}),
            )
            .map_err(|e| e.to_string())?;
            let got = c.query(&request).map_err(|e| e.to_string())?;
            found += got
                .iter()
                .filter(|h| matches!(h.id, PointId::Num(id) if want.contains(&id)))
                .count();
        }
        Ok(found as f64 / (K * queries.len()) as f64)
    };
    let recalls = [32, 64, 128, 0]
        .iter()
        .map(|&ef| {
            let name = if ef == 0 {
                "exact".into()
            } else {
                ef.to_string()
            };
            recall(ef).map(|r| (name, json!(r)))
        })
        .collect::<Result<serde_json::Map<_, _>, String>>()?;

    let write = |name: &str, bytes: &[u8]| {
        fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"))
    };
    write("collection.bin", &bytes)?;
    let queries_json = json!({"dim": dim, "k": K, "queries": queries, "truth": truth});
    write("queries.json", queries_json.to_string().as_bytes())?;
    let meta = json!({
        "n": n, "dim": dim, "queries": args.queries, "clusters": CLUSTERS,
        "ef_construct": args.ef_construct, "seed": args.seed,
        "bytes": bytes.len(),
        "generate_s": generate_s, "truth_s": truth_s, "build_s": build_s,
        "native_recall_at_10": recalls,
    });
    write("meta.json", meta.to_string().as_bytes())?;
    println!(
        "grape-memgen: {n} x {dim} (int8 codes only, ef_construct {}) in {build_s:.1} s, \
         {} bytes, native recall@10 {recalls:?}, to {}",
        args.ef_construct,
        bytes.len(),
        dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grape-memgen: {e}");
            ExitCode::FAILURE
        }
    }
}
