//! `grape-bench storage`: grape-db's storage figures (issue 6).
//!
//! ```text
//! grape-bench storage --data DIR [--out DIR] [--scratch DIR] [--gets N]
//!                     [--limit-queries N] [--open-limit N] [--ef LIST] [--phases LIST]
//! ```
//! On `minilm384-scifact-sent40k` (payload `{"text": sentence, "row": i}`):
//! durable upserts in batches of 1,000 without a graph (`"m": 0`; also with
//! the opt-in relaxed durability, and the core alone for the time split) and
//! with the default HNSW config, bytes on disk, get by random id (1 and 100 ids
//! per call), and query QPS per `ef` through the database against a
//! `grape_core::Collection` built from the same points and config. On
//! `glove50-100k`: open time with the persisted index file, after deleting
//! it and after corrupting it. Payload compression on those payloads and on
//! the SciFact documents. Writes `OUT/grape.json` (schema in
//! bench/README.md, shared with bench/storage_peers.py). Every database
//! lives in a temporary directory under `--scratch`, removed at the end.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use grape_core::payload::{Payload, PointId};
use grape_core::query::{PayloadSelector, QueryParams, QueryRequest, VectorSelector};
use grape_core::{Collection, CollectionConfig, PointData, Rng, Scratch};
use grape_db::{Database, DbOptions, Durability};
use serde_json::{Map, Value, json};

use crate::{Opts, Res, texmex};

const SENT: &str = "minilm384-scifact-sent40k";
const GLOVE: &str = "glove50-100k";
const DOCS: &str = "minilm384-scifact";
/// Points per upsert call.
const BATCH: usize = 1_000;
/// The collection name in every benchmark database.
const NAME: &str = "bench";
const K: usize = 10;
/// Recall the query comparison is made at.
const TARGET: f64 = 0.95;
/// Timed repetitions of each query sweep point and get run; the best counts.
const REPS: usize = 3;
/// Timed passes of each paired database / core query sweep point.
const ROUNDS: usize = 6;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Bytes the filesystem allocated for every file under `dir` (what `du`
/// counts: preallocated or sparse files differ from their length).
fn dir_allocated(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_allocated(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

fn payload(v: Value) -> Payload {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The points of `base` in batches of [`BATCH`], id = row, with `payloads`.
fn batches(base: &texmex::Vectors, payloads: &[Payload]) -> Vec<Vec<PointData>> {
    let rows: Vec<PointData> = (0..base.len())
        .map(|i| {
            PointData::dense(
                PointId::Num(i as u64),
                base.row(i).to_vec(),
                payloads[i].clone(),
            )
        })
        .collect();
    rows.chunks(BATCH).map(<[PointData]>::to_vec).collect()
}

/// CPU seconds (user + system) of this process so far, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime
    // are the 12th and 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// Seconds to upsert `batches` into a core collection of `config` alone
/// (the in-memory part of a database upsert).
fn core_upsert_seconds(config: &Value, batches: &[Vec<PointData>]) -> Res<f64> {
    let mut c = Collection::new(CollectionConfig::from_value(config).map_err(err)?).map_err(err)?;
    let batches = batches.to_vec();
    let t = Instant::now();
    for b in batches {
        c.upsert(b).map_err(err)?;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Creates collection [`NAME`] from `config` in a new database at `dir`
/// and upserts `batches` one call each, durably (the default options).
/// Returns the database and the seconds of the upserts alone.
fn load(dir: &Path, config: &Value, batches: Vec<Vec<PointData>>) -> Res<(Database, f64)> {
    load_with(dir, config, batches, DbOptions::default())
}

/// [`load`] with `options`.
fn load_with(
    dir: &Path,
    config: &Value,
    batches: Vec<Vec<PointData>>,
    options: DbOptions,
) -> Res<(Database, f64)> {
    let db = Database::open(dir, options).map_err(err)?;
    db.create_collection(NAME, config).map_err(err)?;
    let t = Instant::now();
    for b in batches {
        db.upsert(NAME, b).map_err(err)?;
    }
    Ok((db, t.elapsed().as_secs_f64()))
}

/// One durable load of the sentence set: its figures as JSON, and the
/// database (when the collection could be created).
fn upsert_run(
    dir: &Path,
    config: &Value,
    batches: &[Vec<PointData>],
    options: DbOptions,
) -> Res<(Value, Option<Database>)> {
    let n: usize = batches.iter().map(Vec::len).sum();
    let durability = match options.durability {
        Durability::Immediate => "immediate".to_string(),
        Durability::Relaxed { commit_every } => format!("relaxed, commit_every {commit_every}"),
    };
    let mut out = json!({"config": config, "points": n, "batch": BATCH, "durability": durability});
    let copy = batches.to_vec();
    let cpu = cpu_seconds();
    let (db, seconds) = match load_with(dir, config, copy, options) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("  failed: {e}");
            out["error"] = json!(e);
            return Ok((out, None));
        }
    };
    let cpu = cpu_seconds() - cpu;
    let after_load = dir_bytes(dir);
    let after_alloc = dir_allocated(dir);
    let stats = db.stats().map_err(err)?;
    let info = db.info(NAME).map_err(err)?;
    let flush = Instant::now();
    db.flush().map_err(err)?;
    let flush_s = flush.elapsed().as_secs_f64();
    let hnsw = &db_config(&db)?;
    out["seconds"] = json!(seconds);
    // Includes opening the database and creating the collection.
    out["cpu_s"] = json!(cpu);
    out["points_per_s"] = json!(n as f64 / seconds);
    out["disk_bytes_after_load"] = json!(after_load);
    out["redb_bytes"] = json!(stats.redb_bytes);
    out["flush_s"] = json!(flush_s);
    out["disk_allocated_after_load"] = json!(after_alloc);
    out["disk_bytes_after_flush"] = json!(dir_bytes(dir));
    out["disk_allocated_after_flush"] = json!(dir_allocated(dir));
    out["index_file_bytes"] = json!(db.stats().map_err(err)?.index_bytes);
    out["m"] = json!(hnsw.m);
    out["ef_construct"] = json!(hnsw.ef_construction);
    out["payload_raw_bytes"] = json!(stats.payload.raw);
    out["payload_stored_bytes"] = json!(stats.payload.stored);
    out["write_seq"] = json!(info.write_seq);
    eprintln!(
        "  {n} points in {seconds:.2} s: {:.0} points/s; {} MB on disk, {} MB after flush",
        n as f64 / seconds,
        after_load >> 20,
        dir_bytes(dir) >> 20
    );
    Ok((out, Some(db)))
}

/// The HNSW config of the default vector of collection [`NAME`].
fn db_config(db: &Database) -> Res<grape_core::HnswConfig> {
    let info = db.info(NAME).map_err(err)?;
    let json = info.config_json.ok_or("no config JSON")?;
    let value: Value = serde_json::from_str(&json).map_err(err)?;
    let config = CollectionConfig::from_value(&value).map_err(err)?;
    config
        .dense
        .values()
        .next()
        .copied()
        .ok_or_else(|| "no dense vector".to_string())
}

/// Gets by random id, `per_call` ids per call: ids per second (best of
/// [`REPS`]).
fn get_rate(db: &Database, ids: &[PointId], per_call: usize, payload: bool) -> Res<f64> {
    let ps = PayloadSelector::All(payload);
    let vs = VectorSelector::All(false);
    let mut best = f64::INFINITY;
    for _ in 0..REPS {
        let t = Instant::now();
        let mut found = 0usize;
        for chunk in ids.chunks(per_call) {
            let records = db.get(NAME, chunk, &ps, &vs).map_err(err)?;
            found += records.len();
            black_box(records);
        }
        best = best.min(t.elapsed().as_secs_f64());
        if found != ids.len() {
            return Err(format!("get found {found} of {} ids", ids.len()));
        }
    }
    Ok(ids.len() as f64 / best)
}

/// The same lookups on the core collection alone: the payload cloned out
/// of the in-memory store (what `get` costs without the database around it).
fn core_get_rate(c: &Collection, ids: &[PointId]) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..REPS {
        let t = Instant::now();
        for id in ids {
            black_box(c.payload(id).cloned());
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    ids.len() as f64 / best
}

fn requests(queries: &texmex::Vectors, ef: usize, with_payload: bool) -> Vec<QueryRequest> {
    (0..queries.len())
        .map(|i| {
            let mut r = QueryRequest::nearest(queries.row(i).to_vec(), K);
            r.params = Some(QueryParams {
                hnsw_ef: Some(ef),
                ..QueryParams::default()
            });
            if with_payload {
                r.with_payload = Some(PayloadSelector::All(true));
            }
            r
        })
        .collect()
}

fn recall(found: &[Vec<u64>], gt: &[Vec<u32>]) -> f64 {
    let hits: usize = found
        .iter()
        .zip(gt)
        .map(|(f, g)| {
            f.iter()
                .filter(|&&id| g[..K].contains(&(id as u32)))
                .count()
        })
        .sum();
    hits as f64 / (found.len() * K) as f64
}

fn num(id: &PointId) -> u64 {
    match id {
        PointId::Num(n) => *n,
        PointId::Uuid(_) => u64::MAX,
    }
}

/// (recall, QPS) of one request set through the database.
fn db_sweep_point(db: &Database, reqs: &[QueryRequest], gt: &[Vec<u32>]) -> Res<(f64, f64)> {
    let mut best = f64::INFINITY;
    let mut found = Vec::new();
    for rep in 0..REPS {
        let t = Instant::now();
        for r in reqs {
            let hits = db.query(NAME, r).map_err(err)?;
            if rep == 0 {
                found.push(hits.iter().map(|h| num(&h.id)).collect());
            }
            black_box(hits);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok((recall(&found, gt), reqs.len() as f64 / best))
}

/// Recall and QPS of the database and of the core on one request set,
/// timed query by query in turn (the database first on even queries, the
/// core first on odd ones), so that load from other processes falls on both
/// alike. Each side's time is the sum of its own calls (results dropped
/// inside); the best of [`ROUNDS`] passes counts. With `payload`, the core
/// clones each hit's payload, as the database returns it.
/// Returns `[db recall, db QPS, core recall, core QPS]`.
fn paired_point(
    db: &Database,
    core: &Collection,
    reqs: &[QueryRequest],
    gt: &[Vec<u32>],
    payload: bool,
) -> Res<[f64; 4]> {
    let mut scratch = Scratch::new();
    let (mut best_db, mut best_core) = (f64::INFINITY, f64::INFINITY);
    let (mut found_db, mut found_core): (Vec<Vec<u64>>, Vec<Vec<u64>>) = (Vec::new(), Vec::new());
    for pass in 0..ROUNDS {
        let (mut t_db, mut t_core) = (0.0, 0.0);
        for (i, r) in reqs.iter().enumerate() {
            for side in 0..2 {
                if (i + side) % 2 == 0 {
                    let t = Instant::now();
                    let hits = db.query(NAME, r).map_err(err)?;
                    if pass == 0 {
                        found_db.push(hits.iter().map(|h| num(&h.id)).collect());
                    }
                    drop(black_box(hits));
                    t_db += t.elapsed().as_secs_f64();
                } else {
                    let t = Instant::now();
                    let hits = core.query_with(&mut scratch, r).map_err(err)?;
                    if payload {
                        let payloads: Vec<Option<Payload>> =
                            hits.iter().map(|h| core.payload(&h.id).cloned()).collect();
                        drop(black_box(payloads));
                    }
                    if pass == 0 {
                        found_core.push(hits.iter().map(|h| num(&h.id)).collect());
                    }
                    drop(black_box(hits));
                    t_core += t.elapsed().as_secs_f64();
                }
            }
        }
        best_db = best_db.min(t_db);
        best_core = best_core.min(t_core);
    }
    let n = reqs.len() as f64;
    Ok([
        recall(&found_db, gt),
        n / best_db,
        recall(&found_core, gt),
        n / best_core,
    ])
}

/// Query QPS per `ef` through the database and on the core alone, plus
/// one run with payloads at the smallest `ef` that reaches [`TARGET`].
fn query_bench(
    db: &Database,
    core: &Collection,
    queries: &texmex::Vectors,
    gt: &[Vec<u32>],
    efs: &[usize],
) -> Res<Value> {
    let mut runs = Vec::new();
    let mut chosen = None;
    for &ef in efs {
        let reqs = requests(queries, ef, false);
        let [db_recall, db_qps, core_recall, core_qps] = paired_point(db, core, &reqs, gt, false)?;
        eprintln!(
            "  ef {ef:>4}  recall db {db_recall:.4} core {core_recall:.4}  QPS db {db_qps:>8.0} core {core_qps:>8.0}  ratio {:.3}",
            db_qps / core_qps
        );
        runs.push(json!({
            "ef": ef, "db_recall": db_recall, "db_qps": db_qps,
            "core_recall": core_recall, "core_qps": core_qps,
        }));
        if chosen.is_none() && db_recall >= TARGET && core_recall >= TARGET {
            chosen = Some(ef);
        }
    }
    let mut out = json!({"k": K, "queries": queries.len(), "target_recall": TARGET, "runs": runs});
    if let Some(ef) = chosen {
        let reqs = requests(queries, ef, true);
        let [r, db_qps, _, core_qps] = paired_point(db, core, &reqs, gt, true)?;
        eprintln!(
            "  ef {ef:>4} with payload: recall {r:.4}  QPS db {db_qps:.0} core {core_qps:.0}"
        );
        out["with_payload"] =
            json!({"ef": ef, "recall": r, "db_qps": db_qps, "core_qps": core_qps});
    }
    // Exact search (a brute-force scan through the same call) on at most 200 queries.
    let m = queries.len().min(200);
    let mut exact: Vec<QueryRequest> = requests(queries, 16, false).into_iter().take(m).collect();
    for r in &mut exact {
        r.params = Some(QueryParams {
            exact: true,
            ..QueryParams::default()
        });
    }
    let (r, qps) = db_sweep_point(db, &exact, &gt[..m])?;
    eprintln!("  exact: recall {r:.4}  QPS db {qps:.0}");
    out["exact"] = json!({"queries": m, "recall": r, "db_qps": qps});
    Ok(out)
}

/// Opens `dir` and returns the seconds and the point count of [`NAME`].
fn timed_open(dir: &Path) -> Res<(f64, usize)> {
    let t = Instant::now();
    let db = Database::open(dir, DbOptions::default()).map_err(err)?;
    let s = t.elapsed().as_secs_f64();
    let n = db.count(NAME, None).map_err(err)?;
    db.shutdown().map_err(err)?;
    Ok((s, n))
}

/// Open time of a 100k-point collection: with its index file, without it
/// (deleted: rebuilt from redb) and with it corrupted (rebuilt too).
fn open_bench(data: &str, root: &Path, limit: usize) -> Res<Value> {
    let mut base = texmex::read_fvecs(&format!("{data}/{GLOVE}.base.fvecs"))?;
    base.truncate(limit.min(base.len()));
    let (n, dim) = (base.len(), base.dim);
    let dir = root.join("open");
    let config = json!({"vectors": {"size": base.dim, "distance": "Cosine"}});
    let none: Vec<Payload> = vec![Map::new(); n];
    eprintln!("{GLOVE}: loading {n} x {} into grape-db", base.dim);
    let (db, load_s) = load(&dir, &config, batches(&base, &none))?;
    drop(base);
    let hnsw = db_config(&db)?;
    let t = Instant::now();
    db.shutdown().map_err(err)?;
    let shutdown_s = t.elapsed().as_secs_f64();
    drop(db);
    let index_file = dir.join("index").join(format!("{NAME}.grape"));
    let index_bytes = fs::metadata(&index_file).map_err(err)?.len();
    let mut persisted = Vec::new();
    for _ in 0..REPS {
        let (s, got) = timed_open(&dir)?;
        if got != n {
            return Err(format!("reopened with {got} of {n} points"));
        }
        persisted.push(s);
    }
    fs::remove_file(&index_file).map_err(err)?;
    let (deleted_s, got) = timed_open(&dir)?;
    if got != n || !index_file.exists() {
        return Err("the rebuild lost points or did not rewrite the index file".into());
    }
    // Flip one byte in the middle of the body: the core's checksum fails.
    let mut bytes = fs::read(&index_file).map_err(err)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    fs::write(&index_file, bytes).map_err(err)?;
    let (corrupt_s, got) = timed_open(&dir)?;
    if got != n {
        return Err(format!(
            "reopened with {got} of {n} points after corruption"
        ));
    }
    let (after_s, _) = timed_open(&dir)?;
    let best = persisted.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!(
        "  load {load_s:.1} s; open with index file {best:.3} s, deleted {deleted_s:.2} s, corrupted {corrupt_s:.2} s, again {after_s:.3} s"
    );
    Ok(json!({
        "dataset": GLOVE, "n": n, "dim": dim, "m": hnsw.m, "ef_construct": hnsw.ef_construction,
        "load_s": load_s, "load_points_per_s": n as f64 / load_s, "shutdown_s": shutdown_s,
        "index_file_bytes": index_bytes, "redb_bytes": fs::metadata(dir.join("grape.redb")).map_err(err)?.len(),
        "open_persisted_s": best, "open_persisted_runs": persisted,
        "open_deleted_s": deleted_s, "open_corrupted_s": corrupt_s, "open_after_rebuild_s": after_s,
    }))
}

/// Payload bytes raw and stored for the SciFact documents as
/// `{"title", "text"}` with their MiniLM vectors, in a fresh database.
fn docs_compression(data: &str, root: &Path) -> Res<Value> {
    let base = texmex::read_fvecs(&format!("{data}/{DOCS}.base.fvecs"))?;
    let corpus = fs::read_to_string(format!("{data}/scifact/corpus.jsonl")).map_err(err)?;
    let mut payloads = Vec::new();
    for (i, line) in corpus.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let doc: Value = serde_json::from_str(line).map_err(|e| format!("corpus line {i}: {e}"))?;
        payloads.push(payload(json!({"title": doc["title"], "text": doc["text"]})));
    }
    if payloads.len() != base.len() {
        return Err(format!(
            "{} corpus docs but {} vectors",
            payloads.len(),
            base.len()
        ));
    }
    let dir = root.join("docs");
    let config = json!({"vectors": {"size": base.dim, "distance": "Cosine"}});
    let (db, seconds) = load(&dir, &config, batches(&base, &payloads))?;
    let stats = db.stats().map_err(err)?;
    db.shutdown().map_err(err)?;
    let (raw, stored) = (stats.payload.raw, stats.payload.stored);
    eprintln!(
        "{DOCS}: payload {raw} bytes raw, {stored} stored ({:.1} % saved)",
        100.0 * (1.0 - stored as f64 / raw as f64)
    );
    Ok(json!({
        "points": base.len(), "payload_raw_bytes": raw, "payload_stored_bytes": stored,
        "redb_bytes": stats.redb_bytes, "upsert_s": seconds,
    }))
}

pub fn run(o: &Opts) -> Res<()> {
    let data = o.get("data").ok_or("--data DIR is required")?;
    let out_dir = o.get("out").unwrap_or("bench/out/storage");
    let scratch_root = o.get("scratch").unwrap_or("target/storage-bench");
    let n_gets = o.num("gets", 200_000)?;
    let open_limit = o.num("open-limit", usize::MAX)?;
    let efs = o.list(
        "ef",
        &[10, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256],
    )?;
    // Parts to run (all by default): `m0` the loads without a graph,
    // `indexed` the indexed load with get and query, `docs` the SciFact
    // compression, `open` the open times. For profiling one of them.
    let phases: Vec<String> = o
        .get("phases")
        .unwrap_or("m0,indexed,docs,open")
        .split(',')
        .map(str::to_string)
        .collect();
    fs::create_dir_all(scratch_root).map_err(|e| format!("{scratch_root}: {e}"))?;
    let scratch = tempfile::Builder::new()
        .prefix("storage-")
        .tempdir_in(scratch_root)
        .map_err(err)?;
    let root = scratch.path();

    let (base, queries, gt) = crate::read_dataset(o, data, SENT)?;
    let texts = fs::read_to_string(format!("{data}/{SENT}.base.txt")).map_err(err)?;
    let texts: Vec<&str> = texts.lines().collect();
    if texts.len() < base.len() || gt.iter().any(|g| g.len() < K) {
        return Err(format!(
            "{SENT}: {} texts for {} vectors, or ground truth shorter than {K}",
            texts.len(),
            base.len()
        ));
    }
    let n = base.len();
    let payloads: Vec<Payload> = (0..n)
        .map(|i| payload(json!({"text": texts[i], "row": i})))
        .collect();
    let points = batches(&base, &payloads);
    drop(payloads);
    eprintln!("{SENT}: {n} x {}, {} queries", base.dim, queries.len());

    let mut report = json!({
        "engine": "grape", "version": env!("CARGO_PKG_VERSION"),
        "kernel": grape_core::distance::Kernel::selected().name(),
        "dataset": SENT, "n": n, "dim": base.dim,
        "durability": "fsync per upsert call (grape-db Durability::Immediate: redb commit with fsync before the call returns)",
    });

    let has = |phase: &str| phases.iter().any(|p| p == phase);
    let no_index =
        json!({"vectors": {"size": base.dim, "distance": "Cosine"}, "hnsw_config": {"m": 0}});
    let (r, db0) = if has("m0") {
        eprintln!("upsert, no graph (hnsw_config.m = 0)");
        upsert_run(&root.join("m0"), &no_index, &points, DbOptions::default())?
    } else {
        (Value::Null, None)
    };
    report["upsert_no_index"] = r;
    if let Some(db) = db0 {
        db.shutdown().map_err(err)?;
        // Where the time goes: the same upserts into the core alone.
        let core_s = core_upsert_seconds(&no_index, &points)?;
        eprintln!("  the core alone: {core_s:.2} s");
        report["upsert_no_index"]["core_upsert_s"] = json!(core_s);
        // The documented opt-in: no fsync per call; the flush afterwards
        // makes the whole load durable (and writes the index file).
        eprintln!("upsert, no graph, Durability::Relaxed (durable at the flush)");
        let relaxed = DbOptions {
            durability: Durability::Relaxed {
                commit_every: u32::MAX,
            },
            ..DbOptions::default()
        };
        let (r, db1) = upsert_run(&root.join("m0-relaxed"), &no_index, &points, relaxed)?;
        report["upsert_no_index_relaxed"] = r;
        if let Some(db) = db1 {
            db.shutdown().map_err(err)?;
        }
    }
    if !has("indexed") {
        return finish(out_dir, &report);
    }

    eprintln!("upsert, HNSW maintained (default hnsw_config)");
    let indexed = json!({"vectors": {"size": base.dim, "distance": "Cosine"}});
    let (r, db) = upsert_run(&root.join("hnsw"), &indexed, &points, DbOptions::default())?;
    report["compression_sent40k"] = json!({
        "points": n, "payload_raw_bytes": r["payload_raw_bytes"],
        "payload_stored_bytes": r["payload_stored_bytes"],
    });
    report["upsert_indexed"] = r;
    let db = db.ok_or("the indexed collection could not be created")?;

    // Get by id.
    let mut rng = Rng::new(0x5eed);
    let ids: Vec<PointId> = (0..n_gets)
        .map(|_| PointId::Num(rng.below(n as u64)))
        .collect();
    let single = get_rate(&db, &ids, 1, true)?;
    let hundred = get_rate(&db, &ids, 100, true)?;
    let single_bare = get_rate(&db, &ids, 1, false)?;
    eprintln!(
        "get: {single:.0}/s one id per call, {hundred:.0}/s in calls of 100 ids, {single_bare:.0}/s one id without payload"
    );

    // The core collection from the same points and config, same order.
    let t = Instant::now();
    let mut core =
        Collection::new(CollectionConfig::from_value(&indexed).map_err(err)?).map_err(err)?;
    for b in points.iter().cloned() {
        core.upsert(b).map_err(err)?;
    }
    let core_build_s = t.elapsed().as_secs_f64();
    drop(points);
    let core_get = core_get_rate(&core, &ids);
    eprintln!("core alone: built in {core_build_s:.1} s; payload lookups {core_get:.0}/s");
    report["get"] = json!({
        "ids": n_gets, "random_seed": "0x5eed",
        "single_per_s": single, "batch100_per_s": hundred,
        "single_no_payload_per_s": single_bare, "core_payload_clone_per_s": core_get,
    });
    report["core_build_s"] = json!(core_build_s);

    // Same layout step on both before querying.
    db.optimize(NAME).map_err(err)?;
    core.optimize().map_err(err)?;
    eprintln!("query (k = {K}, one at a time), grape-db vs grape-core");
    report["query"] = query_bench(&db, &core, &queries, &gt, &efs)?;
    db.shutdown().map_err(err)?;
    drop(db);
    drop(core);

    if has("docs") {
        report["compression_docs"] = docs_compression(data, root)?;
    }
    if has("open") {
        report["open"] = open_bench(data, root, open_limit)?;
    }
    finish(out_dir, &report)
}

/// Writes `OUT/grape.json`.
fn finish(out_dir: &str, report: &Value) -> Res<()> {
    fs::create_dir_all(out_dir).map_err(|e| format!("{out_dir}: {e}"))?;
    let file = format!("{out_dir}/grape.json");
    let text = serde_json::to_string_pretty(report).map_err(err)?;
    fs::write(&file, text + "\n").map_err(|e| format!("{file}: {e}"))?;
    eprintln!("wrote {file}");
    Ok(())
}
