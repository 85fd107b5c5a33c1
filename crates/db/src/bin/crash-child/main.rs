//! The child process of grape-db's crash test (`tests/crash.rs`): opens the
//! database directory given as the first argument, creates the test
//! collection if it is missing, then upserts batch after batch from the
//! batch number given as the second argument, printing `ack <batch> <seq>`
//! (flushed) as soon as each `upsert` has returned. It runs until it is
//! killed, its stdout closes, or two minutes have passed.
//!
//! Usage: `crash-child <dir> <first-batch>`

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use grape_db::{Database, DbOptions};
use serde_json::json;

mod workload;

/// A child that outlives its test stops by itself after this long.
const LIFETIME: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(first)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: crash-child <dir> <first-batch>");
        return ExitCode::from(2);
    };
    match run(dir, first) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash-child: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &str, first: u64) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let options = DbOptions {
        // Small, so that kills also land while the index file is written.
        persist_every: Some(1_000),
        ..DbOptions::default()
    };
    let db = Database::open(dir, options)?;
    if !db.collection_exists(workload::COLLECTION)? {
        let config = json!({"vectors": {"size": workload::DIM, "distance": "Cosine"}});
        db.create_collection(workload::COLLECTION, &config)?;
    }
    let mut out = std::io::stdout().lock();
    let mut b = first;
    while started.elapsed() < LIFETIME {
        let seq = db.upsert(workload::COLLECTION, workload::batch(b))?;
        // Fails (and ends the child) once the test has gone.
        writeln!(out, "ack {b} {seq}")?;
        out.flush()?;
        b += 1;
    }
    db.shutdown()?;
    Ok(())
}
