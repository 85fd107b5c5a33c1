//! A fourth node joins a running cluster: added as a learner through a
//! follower (forwarded to the leader), it catches up by snapshot (the
//! leader's log was compacted first), is promoted to voter, and serves the
//! same data.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use crate::harness::{COLLECTION, Cluster, Node, Options, serial, vector};
use crate::history::value_of;

const POINTS: u64 = 300;
const BATCH: u64 = 50;

/// A sample of what a node holds: the count, some points by id, and the
/// top hits of a few searches (read with `consistency`).
async fn sample(node: &Node, consistency: Option<&str>) -> (u64, Value, Vec<Value>) {
    let query = consistency.map_or(String::new(), |c| format!("?consistency={c}"));
    let count = node.count(consistency).await;
    let ids: Vec<u64> = (0..POINTS).step_by(37).collect();
    let got = node
        .ok(
            "POST",
            &format!("/collections/{COLLECTION}/points{query}"),
            &json!({"ids": ids, "with_payload": true, "with_vector": true}),
        )
        .await;
    let mut hits = Vec::new();
    for id in [0, 111, 299] {
        let found = node
            .ok(
                "POST",
                &format!("/collections/{COLLECTION}/points/search{query}"),
                &json!({"vector": vector(id), "limit": 5, "with_payload": true}),
            )
            .await;
        assert_eq!(found[0]["id"], json!(id), "node {}: {found}", node.id);
        // Scores are not compared: the ids and payloads are the data.
        hits.push(json!(
            found
                .as_array()
                .unwrap()
                .iter()
                .map(|h| json!([h["id"], h["payload"]]))
                .collect::<Vec<_>>()
        ));
    }
    (count, got, hits)
}

/// Waits until node `id`'s `GET /cluster` satisfies `ok`; that status.
async fn wait_status(
    cluster: &Cluster,
    id: u64,
    within: Duration,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let status = cluster.node(id).status().await.expect("status");
        if ok(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "node {id}: {status}");
        sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until every node lists `voters` as the voters.
async fn wait_voters(cluster: &Cluster, voters: &[u64], within: Duration) {
    let deadline = Instant::now() + within;
    for id in cluster.ids() {
        loop {
            let status = cluster.node(id).status().await.expect("status");
            if status["grape"]["voters"] == json!(voters) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} lists voters {}, expected {voters:?}",
                status["grape"]["voters"]
            );
            sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_node_joins_by_snapshot_through_a_follower_and_is_promoted() {
    serial(Duration::from_secs(150), async {
        let mut cluster = Cluster::start(
            3,
            Options {
                fault_injection: true,
                ..Options::default()
            },
        )
        .await;
        cluster.create_collection(1).await;
        for (k, first) in (0..POINTS).step_by(BATCH as usize).enumerate() {
            let points: Vec<Value> = (first..first + BATCH)
                .map(|p| json!({"id": p, "vector": vector(p), "payload": {"v": value_of(p)}}))
                .collect();
            cluster
                .node(1 + k as u64 % 3)
                .ok(
                    "PUT",
                    &format!("/collections/{COLLECTION}/points?wait=true"),
                    &json!({"points": points}),
                )
                .await;
        }
        let ids = cluster.ids();
        cluster.quiet(&ids, Duration::from_secs(20)).await;
        let leader = cluster.leader(&ids, Duration::from_secs(10)).await;
        let follower = *ids.iter().find(|&&id| id != leader).unwrap();

        // The leader keeps no log from before its snapshot: a new node can
        // only catch up by snapshot.
        let compacted = cluster
            .node(leader)
            .fault(json!({"compact_log": true}))
            .await["snapshot_index"]
            .as_u64()
            .expect("a snapshot index");
        let status = cluster.node(leader).status().await.expect("status");
        assert_eq!(status["grape"]["snapshot_index"], json!(compacted));

        let addr = cluster.start_joiner(4).await.addr;
        let joiner = cluster.node(4).status().await.expect("status");
        assert_eq!(joiner["grape"]["voters"], json!([]));
        let added = Instant::now();
        let reply = cluster
            .node(follower)
            .call(
                "POST",
                "/cluster/peer",
                &json!({"id": 4, "addr": addr.to_string()}),
            )
            .await
            .expect("an answer");
        assert_eq!(reply.status, 200, "adding node 4: {:?}", reply.body);
        let took = added.elapsed();
        // The entry adding it reached its log; its own view of the
        // membership follows once it applied that entry.
        let status = wait_status(&cluster, 4, Duration::from_secs(5), |s| {
            s["grape"]["learners"] == json!([4])
        })
        .await;
        let installed = status["grape"]["snapshot_index"].as_u64();
        eprintln!(
            "node 4 added through follower {follower} in {took:?}: snapshot index {installed:?} \
             (the leader's is {compacted}), applied {}",
            status["grape"]["last_applied"]
        );
        assert!(
            installed >= Some(compacted),
            "node 4 did not install the leader's snapshot: {status}"
        );
        assert_eq!(status["raft_info"]["is_voter"], json!(false));
        assert_eq!(cluster.node(4).count(None).await, POINTS);

        // Promoted (through the follower again), it is a voter everywhere.
        cluster
            .node(follower)
            .ok("POST", "/cluster/peer/4/promote", &Value::Null)
            .await;
        wait_voters(&cluster, &[1, 2, 3, 4], Duration::from_secs(10)).await;
        let status = cluster.node(4).status().await.expect("status");
        assert_eq!(status["raft_info"]["is_voter"], json!(true));
        assert_eq!(status["grape"]["learners"], json!([]));

        // It answers reads with the same data as the others.
        let reference = sample(cluster.node(1), Some("majority")).await;
        assert_eq!(reference.0, POINTS);
        assert_eq!(sample(cluster.node(4), None).await, reference);
        assert_eq!(sample(cluster.node(4), Some("majority")).await, reference);

        // And it replicates: a write through it is everywhere.
        let extra = POINTS + 1;
        cluster
            .node(4)
            .ok(
                "PUT",
                &format!("/collections/{COLLECTION}/points?wait=true"),
                &json!({"points": [{"id": extra, "vector": vector(extra), "payload": {"v": value_of(extra)}}]}),
            )
            .await;
        let ids = cluster.ids();
        for &id in &ids {
            assert_eq!(cluster.node(id).count(Some("majority")).await, POINTS + 1);
        }
        cluster.quiet(&ids, Duration::from_secs(20)).await;
        let mut local = Vec::new();
        for &id in &ids {
            let mut points = cluster.node(id).points(None).await;
            points.sort_unstable();
            local.push(points);
        }
        assert!(local.windows(2).all(|w| w[0] == w[1]), "replicas differ");
    })
    .await;
}
