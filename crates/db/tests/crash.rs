//! Crash safety (issue 6): a child process (`crash-child`) upserts batches
//! and prints each acknowledged one; the test kills it with SIGKILL after a
//! random time, reopens the directory and checks that every acknowledged
//! batch is there exactly as acknowledged, the batch in flight is there
//! whole or not at all, every point is found by its own vector, and the
//! search state agrees with redb. Trials chain in one directory (each
//! reopens after the previous kill) and then move to a fresh one.
//!
//! `GRAPE_CRASH_TRIALS` sets the number of trials (default 20; the
//! benchmark runs 50), `GRAPE_CRASH_SEED` the seed of the kill times.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use grape_core::PointData;
use grape_core::payload::PointId;
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};
use grape_db::{Database, DbOptions, Record};

#[path = "../src/bin/crash-child/workload.rs"]
mod workload;

/// The `db` target's helpers (this target uses `full_scroll` only).
#[path = "db/common.rs"]
#[allow(dead_code)]
mod common;

use workload::{COLLECTION, Rng};

const CHILD: &str = env!("CARGO_BIN_EXE_crash-child");
/// Trials in one directory before a fresh one.
const CHAIN: usize = 4;
/// ... or before the directory holds this many points, which bounds the
/// cost of a check (reopening rebuilds the index, every point is queried).
const DIR_POINTS: usize = 5_000;
/// A child is killed after this many acks even if its time is not up (on a
/// fast disk), for the same reason.
const MAX_ACKS: usize = 30;
/// How long a child may take to acknowledge its first batch.
const FIRST_ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// The committed points (id → point) after a prefix of the batches.
type Model = BTreeMap<PointId, PointData>;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {s:?}")),
        Err(_) => default,
    }
}

fn apply(model: &mut Model, b: u64) {
    for p in workload::batch(b) {
        model.insert(p.id, p);
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

/// A child process that is killed (SIGKILL, by its PID) when dropped, so a
/// failing assertion never leaves it running.
struct Running {
    child: Child,
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    fn start(dir: &Path, first: u64) -> Running {
        let mut child = Command::new(CHILD)
            .arg(dir)
            .arg(first.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHILD}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        let stdout = thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            // Only whole lines: a fragment cut by the kill is no ack.
            while r.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
                if tx.send(line.trim_end().to_string()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Running {
            child,
            lines,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// Kills the child, waits for it and returns the lines it printed
    /// since the last call and its stderr.
    fn kill(&mut self) -> (Vec<String>, String) {
        // `Child::kill` sends SIGKILL to the child's PID on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = self.stdout.take() {
            let _ = t.join();
        }
        let lines = self.lines.try_iter().collect();
        let stderr = self
            .stderr
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        (lines, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.stdout.is_some() {
            self.kill();
        }
    }
}

/// `ack <batch> <seq>`.
fn parse_ack(line: &str) -> (u64, u64) {
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("ack"), Some(b), Some(s), None) => (
            b.parse()
                .unwrap_or_else(|_| panic!("bad ack line {line:?}")),
            s.parse()
                .unwrap_or_else(|_| panic!("bad ack line {line:?}")),
        ),
        _ => panic!("unexpected line from the child: {line:?}"),
    }
}

/// Runs the child from batch `first` until `delay` has passed (or it has
/// acknowledged `MAX_ACKS` batches) and it has acknowledged at least one,
/// kills it; returns the acks.
fn run_child(dir: &Path, first: u64, delay: Duration) -> Vec<(u64, u64)> {
    let started = Instant::now();
    let mut child = Running::start(dir, first);
    let mut acks = Vec::new();
    loop {
        let now = Instant::now();
        let until = if acks.is_empty() {
            started + FIRST_ACK_TIMEOUT
        } else {
            started + delay
        };
        if now >= until || acks.len() >= MAX_ACKS {
            break;
        }
        match child.lines.recv_timeout(until - now) {
            Ok(line) => acks.push(parse_ack(&line)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let exited = child.child.try_wait().ok().flatten();
    let (rest, stderr) = child.kill();
    acks.extend(rest.iter().map(|l| parse_ack(l)));
    assert!(
        exited.is_none(),
        "the child exited by itself ({exited:?}) after {} acks; stderr: {stderr}",
        acks.len()
    );
    assert!(
        !acks.is_empty(),
        "the child acknowledged nothing within {FIRST_ACK_TIMEOUT:?}; stderr: {stderr}"
    );
    acks
}

fn dense(r: &Record) -> &[f32] {
    let v = r.vectors.as_ref().expect("vectors asked for");
    v.dense.get("").expect("the unnamed vector")
}

/// Reopens `dir` after a kill and checks it against `model` (the batches
/// before `first`) plus the acknowledged batches; returns the last batch
/// found committed, with `model` advanced to it.
fn check(dir: &Path, trial: usize, model: &mut Model, first: u64, acks: &[(u64, u64)]) -> u64 {
    // The acks are the batches from `first` on, in order, with rising seqs.
    for (i, &(b, _)) in acks.iter().enumerate() {
        assert_eq!(b, first + i as u64, "trial {trial}: acks out of order");
    }
    assert!(
        acks.windows(2).all(|w| w[0].1 < w[1].1),
        "trial {trial}: seqs not rising: {acks:?}"
    );
    let &(last, last_seq) = acks.last().expect("at least one ack");
    for b in first..=last {
        apply(model, b);
    }

    let db = Database::open(dir, DbOptions::default())
        .unwrap_or_else(|e| panic!("trial {trial}: reopen failed: {e}"));
    assert!(
        db.collection_exists(COLLECTION).expect("collection_exists"),
        "trial {trial}: the collection is gone after {} acked batches",
        acks.len()
    );
    let records = common::full_scroll(&db, COLLECTION);

    // The batch in flight: all of it or none of it.
    let in_flight = last + 1;
    let ids = workload::batch_ids(in_flight);
    let marked = records
        .iter()
        .filter(|r| r.payload.as_ref().and_then(|p| p.get("batch")) == Some(&in_flight.into()))
        .count();
    assert!(
        marked == 0 || marked == ids.len(),
        "trial {trial}: batch {in_flight} (in flight) is partly there: {marked} of {} points",
        ids.len()
    );
    let committed = if marked == 0 {
        last
    } else {
        apply(model, in_flight);
        in_flight
    };
    let info = db.info(COLLECTION).expect("info");
    assert_eq!(
        info.write_seq,
        last_seq + u64::from(marked > 0),
        "trial {trial}: write seq after batch {committed}"
    );

    // redb holds exactly the model: latest version of every id.
    let got: Vec<PointId> = records.iter().map(|r| r.id).collect();
    let want: Vec<PointId> = model.keys().copied().collect();
    if got != want {
        let missing: Vec<_> = want.iter().filter(|i| !got.contains(i)).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|i| !want.contains(i)).take(5).collect();
        panic!(
            "trial {trial}: {} points stored, {} expected; missing {missing:?}, extra {extra:?}",
            got.len(),
            want.len()
        );
    }
    for r in &records {
        let p = &model[&r.id];
        assert_eq!(
            r.payload.as_ref(),
            Some(&p.payload),
            "trial {trial}: payload of {}",
            r.id
        );
        let v = dense(r);
        let w = unit(&p.vectors[""]);
        assert!(
            v.iter().zip(&w).all(|(a, b)| (a - b).abs() < 1e-5),
            "trial {trial}: vector of {}",
            r.id
        );
    }

    // The search state agrees with redb.
    assert_eq!(
        db.count(COLLECTION, None).expect("count"),
        model.len(),
        "trial {trial}: count"
    );
    assert_eq!(info.points, model.len(), "trial {trial}: info.points");
    let from_state = db
        .get(
            COLLECTION,
            &got,
            &PayloadSelector::All(true),
            &VectorSelector::All(true),
        )
        .expect("get");
    assert_eq!(
        from_state.len(),
        records.len(),
        "trial {trial}: get found fewer points"
    );
    for (s, r) in from_state.iter().zip(&records) {
        assert_eq!(s.id, r.id);
        assert_eq!(
            s.payload, r.payload,
            "trial {trial}: get vs scroll payload of {}",
            r.id
        );
        assert!(
            dense(s)
                .iter()
                .zip(dense(r))
                .all(|(a, b)| (a - b).abs() < 1e-6),
            "trial {trial}: get vs scroll vector of {}",
            r.id
        );
    }
    // Every point is the top hit for its own vector, with its payload.
    for r in &records {
        let mut request = QueryRequest::nearest(dense(r).to_vec(), 1);
        request.with_payload = Some(PayloadSelector::All(true));
        let hits = db.query(COLLECTION, &request).expect("query");
        assert_eq!(
            hits.first().map(|h| h.id),
            Some(r.id),
            "trial {trial}: {} is not the top hit for its own vector",
            r.id
        );
        assert_eq!(
            hits[0].payload, r.payload,
            "trial {trial}: hit payload of {}",
            r.id
        );
    }
    db.shutdown().expect("shutdown");
    committed
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    let trials = env_u64("GRAPE_CRASH_TRIALS", 20) as usize;
    let seed = env_u64("GRAPE_CRASH_SEED", 0x6a09_e667);
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut points = 0;
    let mut batches = 0;
    let mut in_flight_committed = 0;
    let mut trial = 0;
    let mut dirs = 0;
    while trial < trials {
        dirs += 1;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut model = Model::new();
        let mut next = 0;
        let mut chain = 0;
        while chain < CHAIN && trial < trials && model.len() < DIR_POINTS {
            let delay = Duration::from_millis(rng.range(50, 800));
            let acks = run_child(dir.path(), next, delay);
            let last = acks.last().expect("at least one ack").0;
            let committed = check(dir.path(), trial, &mut model, next, &acks);
            batches += acks.len();
            in_flight_committed += usize::from(committed > last);
            next = committed + 1;
            trial += 1;
            chain += 1;
        }
        points += model.len();
    }
    eprintln!(
        "crash: {trials} trials in {dirs} directories (seed {seed:#x}) in {:.1?}: {batches} acked batches, \
         in-flight batch found committed {in_flight_committed} times, {points} points in the final states",
        started.elapsed()
    );
}
