//! Network partitions made with `--fault-injection`: a cut-off follower or
//! leader acknowledges no write while the majority goes on, and catches up
//! once healed; and a build that acknowledges writes before they commit is
//! caught by the history checker.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::{Instant, sleep};

use crate::harness::{Cluster, Options, serial};
use crate::history::{
    Op, Outcome, Recorder, Violation, Writers, assert_consistent, observe_and_check, targets,
    value_of,
};

/// `--cluster-timeout-ms` of these tests.
const TIMEOUT_MS: u64 = 2_000;

/// How much later than the cluster timeout a refused write may end (a
/// debug build on a busy machine).
const SLACK: Duration = Duration::from_millis(1_500);

fn options() -> Options {
    Options {
        fault_injection: true,
        timeout_ms: TIMEOUT_MS,
    }
}

/// Sends `n` concurrent writes of fresh points (`first`, `first + 1`, ...)
/// to node `id` and returns their records.
async fn write_to(
    recorder: &Arc<Recorder>,
    cluster: &Cluster,
    id: u64,
    first: u64,
    n: u64,
) -> Vec<Op> {
    let addr = cluster.node(id).addr;
    let tasks: Vec<_> = (first..first + n)
        .map(|point| {
            let recorder = Arc::clone(recorder);
            tokio::spawn(async move {
                recorder
                    .write(id, addr, point, value_of(point), Duration::from_secs(10))
                    .await
            })
        })
        .collect();
    let mut ops = Vec::new();
    for task in tasks {
        ops.push(task.await.expect("a write task"));
    }
    ops
}

/// Asserts that every write of `ops` was refused with 503 or 504 within
/// the cluster timeout (plus [`SLACK`]).
fn assert_refused(ops: &[Op], what: &str) {
    let bound = Duration::from_millis(TIMEOUT_MS) + SLACK;
    for op in ops {
        assert!(
            matches!(op.result, Outcome::Status(503 | 504)),
            "{what}: write #{} of point {} ended {:?}, expected 503 or 504",
            op.id,
            op.point,
            op.result
        );
        let took = op.end - op.start;
        assert!(took <= bound, "{what}: write #{} took {took:?}", op.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_follower_acknowledges_nothing_and_catches_up_when_healed() {
    serial(Duration::from_secs(120), async {
        let cluster = Cluster::start(3, options()).await;
        cluster.create_collection(1).await;
        let ids = cluster.ids();
        let leader = cluster.leader(&ids, Duration::from_secs(10)).await;
        let cut = *ids.iter().find(|&&id| id != leader).unwrap();
        let majority: Vec<u64> = ids.iter().copied().filter(|&id| id != cut).collect();
        let recorder = Recorder::new();
        let writers = Writers::start(
            &recorder,
            targets(&cluster, &majority),
            3,
            Duration::from_secs(8),
        );
        sleep(Duration::from_millis(800)).await;

        cluster.node(cut).fault(json!({"partitioned": true})).await;
        let cut_at = recorder.now();
        let refused = write_to(&recorder, &cluster, cut, 1, 3).await;
        assert_refused(&refused, "a write to the partitioned follower");
        sleep(Duration::from_millis(500)).await;
        cluster.node(cut).fault(json!({"partitioned": false})).await;
        let healed_at = recorder.now();

        // The majority never stopped acknowledging writes.
        let during: Vec<Op> = recorder
            .ops()
            .into_iter()
            .filter(|op| op.node != cut && op.start >= cut_at && op.end < healed_at)
            .collect();
        assert!(
            !during.is_empty(),
            "no write through the majority during the partition"
        );
        let failed: Vec<&Op> = during.iter().filter(|op| !op.acked()).collect();
        assert!(
            failed.is_empty(),
            "writes through the majority failed during the partition: {failed:?}"
        );

        // Healed, it rejoins and catches up.
        let healed = Instant::now();
        let leader = cluster.leader(&ids, Duration::from_secs(15)).await;
        sleep(Duration::from_millis(500)).await;
        writers.stop().await;
        cluster.quiet(&ids, Duration::from_secs(20)).await;
        eprintln!(
            "partitioned follower {cut}: {} writes through the majority meanwhile, all \
             acknowledged; healed, node {cut} follows {leader} and caught up within {:?}",
            during.len(),
            healed.elapsed()
        );
        cluster.assert_counts_equal().await;
        assert_consistent(&cluster, &recorder.ops()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_is_replaced_and_steps_down_when_healed() {
    serial(Duration::from_secs(120), async {
        let cluster = Cluster::start(3, options()).await;
        cluster.create_collection(1).await;
        let ids = cluster.ids();
        let old = cluster.leader(&ids, Duration::from_secs(10)).await;
        let others: Vec<u64> = ids.iter().copied().filter(|&id| id != old).collect();
        let recorder = Recorder::new();
        let writers = Writers::start(
            &recorder,
            targets(&cluster, &others),
            3,
            Duration::from_secs(8),
        );
        sleep(Duration::from_millis(800)).await;

        cluster.node(old).fault(json!({"partitioned": true})).await;
        let cut_at = recorder.now();
        // Alone it cannot commit: nothing sent to it is acknowledged.
        let refused = write_to(&recorder, &cluster, old, 1, 3).await;
        assert_refused(&refused, "a write to the partitioned leader");
        // The other two elect a leader among themselves and take writes.
        let new = cluster.leader(&others, Duration::from_secs(10)).await;
        let elected = recorder.now() - cut_at;
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            if let Some(op) = recorder.first_ack_after(cut_at) {
                break op;
            }
            assert!(Instant::now() < deadline, "the majority took no write");
            sleep(Duration::from_millis(20)).await;
        };
        sleep(Duration::from_millis(500)).await;

        cluster.node(old).fault(json!({"partitioned": false})).await;
        let stepped_down = cluster
            .wait_follower(old, new, Duration::from_secs(10))
            .await;
        eprintln!(
            "partitioned leader {old}: node {new} elected {elected:?} after the cut, first \
             write acknowledged {:?} after it; healed, {old} followed {new} within \
             {stepped_down:?}",
            first.end - cut_at
        );
        sleep(Duration::from_millis(500)).await;
        writers.stop().await;
        cluster.assert_counts_equal().await;
        assert_consistent(&cluster, &recorder.ops()).await;
    })
    .await;
}

/// The checker is a real one: a node that acknowledges writes before they
/// commit (the deliberately broken mode of `--fault-injection`) loses
/// acknowledged writes when it is cut off and replaced, and the checker
/// reports exactly those; with the mode off the same writes are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checker_catches_writes_acknowledged_before_their_commit() {
    serial(Duration::from_secs(120), async {
        let mut cluster = Cluster::start(3, options()).await;
        cluster.create_collection(1).await;
        let ids = cluster.ids();
        let recorder = Recorder::new();
        // Some honest writes through every node first.
        for (k, &id) in ids.iter().enumerate() {
            let ops = write_to(&recorder, &cluster, id, 100 + 10 * k as u64, 3).await;
            assert!(ops.iter().all(Op::acked), "{ops:?}");
        }
        let old = cluster.leader(&ids, Duration::from_secs(10)).await;
        let others: Vec<u64> = ids.iter().copied().filter(|&id| id != old).collect();

        // Broken: acknowledged although the leader is cut off.
        let state = cluster
            .node(old)
            .fault(json!({"partitioned": true, "ack_before_commit": true}))
            .await;
        assert_eq!(state["ack_before_commit"], true);
        let broken = write_to(&recorder, &cluster, old, 1_000, 5).await;
        assert!(
            broken.iter().all(Op::acked),
            "the broken mode acknowledged nothing: {broken:?}"
        );
        // Honest again: the same kind of writes are refused.
        cluster
            .node(old)
            .fault(json!({"ack_before_commit": false}))
            .await;
        let refused = write_to(&recorder, &cluster, old, 2_000, 3).await;
        assert_refused(&refused, "a write to the partitioned leader");

        // The old leader dies; the others elect a leader and take writes;
        // the old one comes back (without faults: they do not survive a
        // restart) and follows.
        cluster.node_mut(old).kill();
        let new = cluster.leader(&others, Duration::from_secs(10)).await;
        let after = write_to(&recorder, &cluster, new, 3_000, 3).await;
        assert!(after.iter().all(Op::acked), "{after:?}");
        cluster.restart(old).await;
        cluster
            .wait_follower(old, new, Duration::from_secs(15))
            .await;

        let violations = observe_and_check(&cluster, &recorder.ops()).await;
        let lost: BTreeSet<u64> = violations
            .iter()
            .map(|v| match v {
                Violation::LostAck { op, .. } => *op,
                other => panic!("unexpected violation: {other}"),
            })
            .collect();
        let expected: BTreeSet<u64> = broken.iter().map(|op| op.id).collect();
        assert_eq!(lost, expected, "lost acknowledged writes: {violations:#?}");
        // Every view (two per node) misses every one of them.
        assert_eq!(violations.len(), expected.len() * 2 * ids.len());
        eprintln!(
            "the checker found the {} writes acknowledged before their commit missing from \
             all {} views ({} violations)",
            expected.len(),
            2 * ids.len(),
            violations.len()
        );
    })
    .await;
}
