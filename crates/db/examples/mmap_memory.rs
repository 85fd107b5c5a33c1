//! Resident memory of a reopened collection with its vectors in memory
//! versus in mapped files (disk-mmap), and the query rate of each.
//!
//! ```sh
//! cargo run --release -p grape-db --example mmap_memory -- [points] [dim]
//! ```
//!
//! Each mode runs in its own child process (so one mode's pages do not
//! count against the other): it creates a collection of random unit
//! vectors, shuts down, reopens from the index file, and reports the
//! process's resident set (anonymous and file-backed) after the reopen and after a round of
//! queries, plus queries per second. Generated data: memory figures do not
//! depend on the vectors' distribution; the query rate is for comparing the
//! two modes with each other only.

use std::time::Instant;

use grape_core::payload::PointId;
use grape_core::query::QueryRequest;
use grape_core::{PointData, Rng};
use grape_db::{Database, DbOptions, VectorStorage};
use serde_json::json;

/// Resident memory in MiB: anonymous (heap: what the process must keep)
/// and file-backed (mapped pages: the kernel may drop them and read them
/// back when memory is short).
fn rss_mib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    format!(
        "anon {:.0} + file {:.0} MiB",
        field("RssAnon:"),
        field("RssFile:")
    )
}

fn vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.next_f64() as f32 - 0.5).collect()
}

fn run(mode: &str, n: usize, dim: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = DbOptions {
        vector_storage: if mode == "disk-mmap" {
            VectorStorage::DiskMmap
        } else {
            VectorStorage::Memory
        },
        ..DbOptions::default()
    };
    {
        let db = Database::open(dir.path(), options.clone()).expect("open");
        db.create_collection(
            "c",
            &json!({"vectors": {"size": dim, "distance": "Cosine"},
                    "hnsw_config": {"m": 16, "ef_construct": 64}}),
        )
        .expect("create");
        let mut rng = Rng::new(7);
        let mut id = 0u64;
        while (id as usize) < n {
            let batch: Vec<PointData> = (0..1_000.min(n - id as usize))
                .map(|_| {
                    id += 1;
                    PointData::dense(PointId::Num(id), vector(&mut rng, dim), Default::default())
                })
                .collect();
            db.upsert("c", batch).expect("upsert");
        }
        db.shutdown().expect("shutdown");
    }
    let before_open = rss_mib();
    let started = Instant::now();
    let db = Database::open(dir.path(), options).expect("reopen");
    let open_s = started.elapsed().as_secs_f64();
    let after_open = rss_mib();
    let mut rng = Rng::new(11);
    let queries: Vec<QueryRequest> = (0..2_000)
        .map(|_| QueryRequest::nearest(vector(&mut rng, dim), 10))
        .collect();
    let started = Instant::now();
    for q in &queries {
        db.query("c", q).expect("query");
    }
    let qps = queries.len() as f64 / started.elapsed().as_secs_f64();
    let stats = db.stats().expect("stats");
    println!(
        "{mode:>9}: {n} × {dim}: reopen {open_s:.2} s; resident before open {before_open}, \
         after open {after_open}, after 2,000 queries {}; {qps:.0} QPS; mapped files {:.0} MiB",
        rss_mib(),
        stats.mapped_vector_bytes as f64 / (1 << 20) as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(mode) = args.get(1).and_then(|a| a.strip_prefix("--child=")) {
        let n = args[2].parse().expect("points");
        let dim = args[3].parse().expect("dim");
        run(mode, n, dim);
        return;
    }
    let n: usize = args.get(1).map_or(200_000, |a| a.parse().expect("points"));
    let dim: usize = args.get(2).map_or(384, |a| a.parse().expect("dim"));
    let exe = std::env::current_exe().expect("own path");
    for mode in ["memory", "disk-mmap"] {
        let status = std::process::Command::new(&exe)
            .args([format!("--child={mode}"), n.to_string(), dim.to_string()])
            .status()
            .expect("child");
        assert!(status.success(), "{mode} run failed");
    }
}
