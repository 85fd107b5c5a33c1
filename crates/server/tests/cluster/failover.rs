//! The leader dies (`kill -9`) or freezes (`SIGSTOP`) while clients write
//! through the nodes: the others elect a new leader and take writes again
//! within 5 s, the old leader comes back as a follower and catches up, and
//! the clients' history is consistent with every replica.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use crate::harness::{Cluster, Options, serial};
use crate::history::{Recorder, Writers, assert_consistent, targets};

/// How soon after losing its leader the cluster must take writes again.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// Waits (at most `within`) for node `id`'s `last_applied` to reach
/// `index`; how long it took.
async fn wait_applied(cluster: &Cluster, id: u64, index: u64, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(s) = cluster.node(id).status().await
            && s["grape"]["last_applied"].as_u64() >= Some(index)
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "node {id} did not apply {index} within {within:?}: {:?}",
            cluster.roles(&cluster.ids()).await
        );
        sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_and_catches_up_after_a_restart() {
    serial(Duration::from_secs(150), async {
        let mut cluster = Cluster::start(
            3,
            Options {
                timeout_ms: 3_000,
                ..Options::default()
            },
        )
        .await;
        cluster.create_collection(1).await;
        let ids = cluster.ids();
        let recorder = Recorder::new();
        let writers = Writers::start(
            &recorder,
            targets(&cluster, &ids),
            3,
            Duration::from_secs(8),
        );
        sleep(Duration::from_millis(1500)).await;
        let (acked, _) = recorder.summary();
        assert!(acked > 0, "no write was acknowledged before the kill");

        let old = cluster.leader(&ids, Duration::from_secs(10)).await;
        let others: Vec<u64> = ids.iter().copied().filter(|&id| id != old).collect();
        let killed_at = recorder.now();
        cluster.node_mut(old).kill();
        let new = cluster.leader(&others, Duration::from_secs(10)).await;
        let elected = recorder.now() - killed_at;
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            if let Some(op) = recorder.first_ack_after(killed_at) {
                break op;
            }
            assert!(
                Instant::now() < deadline,
                "no write succeeded after the kill"
            );
            sleep(Duration::from_millis(20)).await;
        };
        let recovered = first.end - killed_at;
        eprintln!(
            "kill -9 of leader {old}: node {new} elected after {elected:?}, first write \
             acknowledged {recovered:?} after the kill (through node {})",
            first.node
        );
        assert!(
            recovered <= RECOVERY_BOUND,
            "writes succeeded again only {recovered:?} after the leader was killed"
        );

        // More writes without the old leader, then it comes back on its
        // data directory while the writes go on.
        sleep(Duration::from_secs(1)).await;
        let target = cluster.node(new).status().await.expect("status")["raft_info"]["commit"]
            .as_u64()
            .expect("a commit index");
        let restarted = Instant::now();
        cluster.restart(old).await;
        let up = restarted.elapsed();
        wait_applied(&cluster, old, target, Duration::from_secs(30)).await;
        eprintln!(
            "old leader {old} restarted: answered after {up:?}, applied the leader's commit \
             index {target} {:?} after its restart",
            restarted.elapsed()
        );
        sleep(Duration::from_secs(1)).await;
        writers.stop().await;
        let (acked, unknown) = recorder.summary();
        let count = cluster.assert_counts_equal().await;
        eprintln!("{acked} writes acknowledged, {unknown} not; {count} points on every node");
        eprintln!("{}", recorder.describe());
        assert!(count >= acked as u64);
        assert_consistent(&cluster, &recorder.ops()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_steps_down_after_it_resumes() {
    serial(Duration::from_secs(120), async {
        let cluster = Cluster::start(
            3,
            Options {
                timeout_ms: 3_000,
                ..Options::default()
            },
        )
        .await;
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
        sleep(Duration::from_secs(1)).await;

        let stopped_at = recorder.now();
        let stopped = Instant::now();
        cluster.node(old).signal("STOP");
        let new = cluster.leader(&others, Duration::from_secs(10)).await;
        let elected = recorder.now() - stopped_at;
        let wait = Duration::from_secs(3).saturating_sub(stopped.elapsed());
        sleep(wait).await;
        let first = recorder.first_ack_after(stopped_at);
        cluster.node(old).signal("CONT");
        let first = first.expect("no write succeeded while the leader was stopped");
        let recovered = first.end - stopped_at;
        eprintln!(
            "SIGSTOP of leader {old}: node {new} elected after {elected:?}, first write \
             acknowledged {recovered:?} after the stop"
        );
        assert!(recovered <= RECOVERY_BOUND, "{recovered:?}");

        let stepped_down = cluster
            .wait_follower(old, new, Duration::from_secs(5))
            .await;
        eprintln!("after SIGCONT node {old} was a follower within {stepped_down:?}");
        sleep(Duration::from_secs(1)).await;
        writers.stop().await;
        cluster.assert_counts_equal().await;
        assert_consistent(&cluster, &recorder.ops()).await;
    })
    .await;
}
