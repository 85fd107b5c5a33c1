//! `grape_cluster::node`: clusters of [`ClusterNode`]s in one process, each
//! node with its own directories and an HTTP listener on 127.0.0.1 serving
//! `node.router()`, as the server embeds them.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use grape_cluster::network::TransportOptions;
use grape_cluster::types::NodeId;
use grape_cluster::{ClusterError, ClusterNode, NodeConfig, Role};
use grape_core::PointData;
use grape_core::payload::PointId;
use grape_core::query::{PayloadSelector, VectorSelector};
use grape_db::{Database, DbOptions, Mutation, Outcome, Record};
use serde_json::json;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The time budget of one cluster call.
const CALL: Duration = Duration::from_secs(20);

/// Runs a test body, failing it after 30 s.
async fn bounded(body: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(30), body)
        .await
        .expect("the test took longer than 30 s");
}

/// An axum server that can be stopped (its port freed) and started again.
struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    fn spawn(listener: TcpListener, router: Router) -> Server {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Server { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Binds `addr`, waiting for a previous listener on it to close.
async fn bind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("binding {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot bind {addr}: {e}"),
        }
    }
}

/// One member: its node, its HTTP server and its directory.
struct TestNode {
    id: NodeId,
    addr: SocketAddr,
    dir: PathBuf,
    max_entry_bytes: Option<usize>,
    node: ClusterNode,
    server: Option<Server>,
}

impl TestNode {
    /// Starts node `id` in `root/node{id}` on `listener`.
    async fn start(
        id: NodeId,
        root: &Path,
        listener: TcpListener,
        max_entry_bytes: Option<usize>,
    ) -> TestNode {
        let addr = listener.local_addr().unwrap();
        let dir = root.join(format!("node{id}"));
        let node = start_node(id, addr, &dir, max_entry_bytes).await;
        let server = Server::spawn(listener, node.router());
        TestNode {
            id,
            addr,
            dir,
            max_entry_bytes,
            node,
            server: Some(server),
        }
    }

    /// Shuts the node and its server down.
    async fn stop(&mut self) {
        self.node.shutdown().await.unwrap();
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    /// Starts the node again from its files, on the same address.
    async fn restart(&mut self) {
        assert!(self.server.is_none(), "stop the node first");
        let listener = bind(self.addr).await;
        self.node = start_node(self.id, self.addr, &self.dir, self.max_entry_bytes).await;
        self.server = Some(Server::spawn(listener, self.node.router()));
    }

    fn db(&self) -> &Database {
        self.node.database()
    }

    /// Every point of "docs", with payloads and vectors, in id order.
    fn records(&self) -> Vec<Record> {
        let (records, next) = self
            .db()
            .scroll(
                "docs",
                None,
                None,
                100_000,
                &PayloadSelector::All(true),
                &VectorSelector::All(true),
            )
            .unwrap();
        assert!(next.is_none());
        records
    }

    fn has(&self, ids: std::ops::Range<u64>) -> bool {
        let ids: Vec<PointId> = ids.map(PointId::Num).collect();
        let found = self
            .db()
            .get(
                "docs",
                &ids,
                &PayloadSelector::All(false),
                &VectorSelector::All(false),
            )
            .unwrap();
        found.len() == ids.len()
    }
}

fn config(id: NodeId, addr: SocketAddr, dir: &Path, max_entry_bytes: Option<usize>) -> NodeConfig {
    let mut config = NodeConfig::new(id, addr.to_string(), dir.join("raft"));
    config.transport = TransportOptions::default().with_cluster_key("node-test-key");
    // Roomy timings for debug builds on two busy cores.
    config.heartbeat = Duration::from_millis(200);
    config.election_timeout = (Duration::from_millis(1000), Duration::from_millis(2000));
    if let Some(bytes) = max_entry_bytes {
        config.max_entry_bytes = bytes;
    }
    config
}

/// Opens the database and starts the node, retrying while the files of a
/// previous incarnation in this process are still being closed.
async fn start_node(
    id: NodeId,
    addr: SocketAddr,
    dir: &Path,
    max_entry_bytes: Option<usize>,
) -> ClusterNode {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let started = match Database::open(dir.join("db"), DbOptions::default()) {
            Ok(db) => {
                match ClusterNode::start(config(id, addr, dir, max_entry_bytes), db.clone()).await {
                    Ok(node) => Ok(node),
                    Err(e) => {
                        let _ = db.shutdown();
                        Err(e.to_string())
                    }
                }
            }
            Err(e) => Err(e.to_string()),
        };
        match started {
            Ok(node) => return node,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("starting node {id}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot start node {id}: {e}"),
        }
    }
}

/// A cluster of voters 1..=n, initialized through node 1.
struct Cluster {
    nodes: Vec<TestNode>,
    dir: TempDir,
}

impl Cluster {
    async fn start(n: u64, max_entry_bytes: Option<usize>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        for id in 1..=n {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            nodes.push(TestNode::start(id, dir.path(), listener, max_entry_bytes).await);
        }
        let cluster = Cluster { nodes, dir };
        cluster.nodes[0]
            .node
            .initialize(cluster.members())
            .await
            .unwrap();
        cluster.leader().await;
        cluster
    }

    fn members(&self) -> BTreeMap<NodeId, String> {
        self.nodes
            .iter()
            .map(|n| (n.id, n.addr.to_string()))
            .collect()
    }

    /// The index of the leader that every running node agrees on.
    async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let running: Vec<&TestNode> =
                self.nodes.iter().filter(|n| n.server.is_some()).collect();
            let leaders: Vec<Option<NodeId>> = running
                .iter()
                .map(|n| n.node.status().leader.map(|(id, _)| id))
                .collect();
            if let Some(Some(id)) = leaders.first()
                && leaders.iter().all(|l| *l == Some(*id))
                && let Some(i) = self.nodes.iter().position(|n| n.id == *id)
                && self.nodes[i].node.is_leader()
            {
                return i;
            }
            assert!(Instant::now() < deadline, "no agreed leader: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The index of a running node that is not the leader.
    async fn follower(&self) -> usize {
        let leader = self.leader().await;
        (0..self.nodes.len())
            .find(|&i| i != leader && self.nodes[i].server.is_some())
            .unwrap()
    }

    async fn stop(&mut self) {
        for node in &mut self.nodes {
            if node.server.is_some() {
                node.stop().await;
            }
        }
    }
}

fn create(dim: usize) -> Mutation {
    Mutation::CreateCollection {
        name: "docs".into(),
        config: json!({"vectors": {"size": dim, "distance": "Cosine"}}),
    }
}

fn upsert(ids: std::ops::Range<u64>, dim: usize) -> Mutation {
    let points = ids
        .map(|i| {
            let mut vector: Vec<f32> = (0..dim).map(|d| ((i + d as u64) % 7) as f32).collect();
            vector[0] += 1.0;
            let payload = json!({"n": i, "text": format!("point {i}")});
            PointData::dense(
                PointId::Num(i),
                vector,
                payload.as_object().unwrap().clone(),
            )
        })
        .collect();
    Mutation::Upsert {
        collection: "docs".into(),
        points,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_every_node_apply_there_and_survive_a_restart() {
    bounded(async {
        let mut cluster = Cluster::start(3, None).await;
        let leader = cluster.leader().await;
        let created = cluster.nodes[leader]
            .node
            .write(create(4), CALL)
            .await
            .unwrap();
        assert_eq!(created.outcome().unwrap(), Outcome::Done);

        // Through the leader and through each follower: applied on the node
        // that was called when write() returns.
        for (k, node) in cluster.nodes.iter().enumerate() {
            let ids = k as u64 * 10..k as u64 * 10 + 10;
            let written = node.node.write(upsert(ids.clone(), 4), CALL).await.unwrap();
            assert!(
                matches!(written.outcome().unwrap(), Outcome::Seq(_)),
                "{written:?}"
            );
            assert!(node.has(ids), "node {} lacks its own write", node.id);
            let status = node.node.status();
            assert!(status.last_applied >= Some(written.log_index), "{status:?}");
            assert!(status.committed >= Some(written.log_index), "{status:?}");
        }

        // All three converge.
        for node in &cluster.nodes {
            node.node.read_barrier(CALL).await.unwrap();
        }
        let expected = cluster.nodes[0].records();
        assert_eq!(expected.len(), 30);
        for node in &cluster.nodes {
            assert_eq!(node.records(), expected, "node {}", node.id);
        }

        // Restart every node on its address: initialize again is Ok and
        // the data stays.
        cluster.stop().await;
        for node in &mut cluster.nodes {
            node.restart().await;
        }
        for node in &cluster.nodes {
            node.node.initialize(cluster.members()).await.unwrap();
            assert_eq!(node.records(), expected, "node {} after restart", node.id);
        }
        cluster.leader().await;
        let node = &cluster.nodes[2];
        node.node.write(upsert(30..31, 4), CALL).await.unwrap();
        assert!(node.has(30..31));
        assert_eq!(node.records().len(), 31);
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_mutations_fail_alike_on_every_node_and_change_nothing() {
    bounded(async {
        let mut cluster = Cluster::start(3, None).await;
        let leader = cluster.leader().await;
        cluster.nodes[leader]
            .node
            .write(create(4), CALL)
            .await
            .unwrap();
        cluster.nodes[leader]
            .node
            .write(upsert(0..5, 4), CALL)
            .await
            .unwrap();
        for node in &cluster.nodes {
            node.node.read_barrier(CALL).await.unwrap();
        }
        let before = cluster.nodes[0].records();
        assert_eq!(before.len(), 5);

        for node in &cluster.nodes {
            // Wrong dimension (3 instead of 4), on points that would be new.
            let err = node
                .node
                .write(upsert(100..103, 3), CALL)
                .await
                .unwrap_err();
            match &err {
                ClusterError::Rejected { code, .. } => assert_eq!(code, "dimension_mismatch"),
                other => panic!("node {}: expected Rejected, got {other:?}", node.id),
            }
            assert_eq!(err.http_status(), 400);

            let unknown = Mutation::DeletePoints {
                collection: "nope".into(),
                selector: grape_db::PointSelector::Ids(vec![PointId::Num(1)]),
            };
            let err = node.node.write(unknown, CALL).await.unwrap_err();
            match &err {
                ClusterError::Rejected { code, .. } => assert_eq!(code, "unknown_collection"),
                other => panic!("node {}: expected Rejected, got {other:?}", node.id),
            }
            assert_eq!(err.http_status(), 404);
        }

        for node in &cluster.nodes {
            node.node.read_barrier(CALL).await.unwrap();
            assert_eq!(node.records(), before, "node {}", node.id);
            assert!(!node.db().collection_exists("nope").unwrap());
        }
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_barrier_on_a_follower_sees_writes_acknowledged_elsewhere() {
    bounded(async {
        let mut cluster = Cluster::start(3, None).await;
        let leader = cluster.leader().await;
        let follower = cluster.follower().await;
        let other = 3 - leader - follower;
        cluster.nodes[leader]
            .node
            .write(create(4), CALL)
            .await
            .unwrap();
        for i in 0..5 {
            // Acknowledged by the leader, then by the other follower.
            let writer = if i % 2 == 0 { leader } else { other };
            cluster.nodes[writer]
                .node
                .write(upsert(i..i + 1, 4), CALL)
                .await
                .unwrap();
            let reader = &cluster.nodes[follower];
            reader.node.read_barrier(CALL).await.unwrap();
            assert!(
                reader.has(0..i + 1),
                "write {i} not visible after the barrier"
            );
        }
        // On the leader too.
        cluster.nodes[leader].node.read_barrier(CALL).await.unwrap();
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_upsert_is_split_into_entries_that_reach_every_node() {
    bounded(async {
        const MAX_ENTRY: usize = 64 << 10;
        let mut cluster = Cluster::start(3, Some(MAX_ENTRY)).await;
        let leader = cluster.leader().await;
        let follower = cluster.follower().await;
        cluster.nodes[leader]
            .node
            .write(create(64), CALL)
            .await
            .unwrap();

        let big = upsert(0..5000, 64);
        let encoded = big.encode().len();
        assert!(encoded > 10 * MAX_ENTRY, "{encoded} bytes");
        let before = cluster.nodes[leader].node.status().last_log_index.unwrap();
        let written = cluster.nodes[follower].node.write(big, CALL).await.unwrap();
        let entries = written.log_index - before;
        assert!(
            entries as usize >= encoded / MAX_ENTRY,
            "{entries} entries for {encoded} bytes"
        );
        assert!(
            matches!(written.outcome().unwrap(), Outcome::Seq(_)),
            "{written:?}"
        );
        assert_eq!(
            cluster.nodes[follower].db().count("docs", None).unwrap(),
            5000
        );

        for node in &cluster.nodes {
            node.node.read_barrier(CALL).await.unwrap();
        }
        let expected = cluster.nodes[leader].records();
        assert_eq!(expected.len(), 5000);
        for node in &cluster.nodes {
            assert_eq!(node.records(), expected, "node {}", node.id);
        }
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_joins_through_a_follower_then_is_promoted_and_removed() {
    bounded(async {
        let mut cluster = Cluster::start(3, None).await;
        let leader = cluster.leader().await;
        let follower = cluster.follower().await;
        cluster.nodes[leader]
            .node
            .write(create(4), CALL)
            .await
            .unwrap();
        cluster.nodes[leader]
            .node
            .write(upsert(0..20, 4), CALL)
            .await
            .unwrap();

        // A fourth node, never initialized, joins through a follower.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut fourth = TestNode::start(4, cluster.dir.path(), listener, None).await;
        let admin = &cluster.nodes[follower].node;
        admin
            .add_learner(4, fourth.addr.to_string(), CALL)
            .await
            .unwrap();
        let status = admin.status();
        assert_eq!(
            status.learners,
            BTreeMap::from([(4, fourth.addr.to_string())]),
            "{status:?}"
        );
        assert_eq!(status.voters.len(), 3, "{status:?}");
        fourth.node.read_barrier(CALL).await.unwrap();
        assert_eq!(fourth.node.status().role, Role::Learner);
        assert_eq!(fourth.records(), cluster.nodes[leader].records());
        assert_eq!(fourth.records().len(), 20);

        // Learner -> voter.
        admin.promote(4, CALL).await.unwrap();
        let status = admin.status();
        assert_eq!(status.voters.len(), 4, "{status:?}");
        assert!(status.voters.contains_key(&4) && status.learners.is_empty());
        // A write reaches the new voter too.
        let written = fourth.node.write(upsert(20..21, 4), CALL).await.unwrap();
        assert!(fourth.has(20..21), "{written:?}");

        // Out again.
        admin.remove(4, CALL).await.unwrap();
        let status = admin.status();
        assert_eq!(status.voters.len(), 3, "{status:?}");
        assert!(!status.voters.contains_key(&4) && status.learners.is_empty());
        fourth.stop().await;
        let err = admin.remove(99, CALL).await.unwrap_err();
        assert!(matches!(err, ClusterError::NotMember { id: 99 }), "{err:?}");
        assert_eq!(err.http_status(), 404);
        let err = admin.promote(99, CALL).await.unwrap_err();
        assert!(matches!(err, ClusterError::NotMember { id: 99 }), "{err:?}");

        // A node that initialized a cluster of its own is refused, and so is
        // an address that answers as another node id.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut stray = TestNode::start(5, cluster.dir.path(), listener, None).await;
        stray
            .node
            .initialize(BTreeMap::from([(5, stray.addr.to_string())]))
            .await
            .unwrap();
        stray
            .node
            .write(create(4), CALL)
            .await
            .expect("the stray node leads its own cluster");
        let err = admin
            .add_learner(5, stray.addr.to_string(), CALL)
            .await
            .unwrap_err();
        assert!(matches!(err, ClusterError::InvalidRequest(_)), "{err:?}");
        let err = admin
            .add_learner(6, stray.addr.to_string(), CALL)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClusterError::Transport(_)) && err.to_string().contains("421"),
            "{err:?}"
        );
        stray.stop().await;
        let status = admin.status();
        assert_eq!(status.voters.len(), 3, "{status:?}");
        assert!(status.learners.is_empty(), "{status:?}");
        cluster.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_resume_through_a_survivor_after_the_leader_shuts_down() {
    bounded(async {
        let mut cluster = Cluster::start(3, None).await;
        let leader = cluster.leader().await;
        cluster.nodes[leader]
            .node
            .write(create(4), CALL)
            .await
            .unwrap();
        cluster.nodes[leader]
            .node
            .write(upsert(0..10, 4), CALL)
            .await
            .unwrap();
        for node in &cluster.nodes {
            node.node.read_barrier(CALL).await.unwrap();
        }
        let old = cluster.nodes[leader].id;
        cluster.nodes[leader].stop().await;

        let survivor = &cluster.nodes[(leader + 1) % 3];
        let start = Instant::now();
        let written = survivor.node.write(upsert(10..20, 4), CALL).await.unwrap();
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
        assert!(survivor.has(0..20), "{written:?}");
        let new = cluster.leader().await;
        assert_ne!(cluster.nodes[new].id, old);
        let status = survivor.node.status();
        assert!(
            status.leader.as_ref().is_some_and(|(id, _)| *id != old),
            "{status:?}"
        );
        let other = &cluster.nodes[(leader + 2) % 3];
        other.node.read_barrier(CALL).await.unwrap();
        assert_eq!(other.records(), survivor.records());
        assert_eq!(other.records().len(), 20);
        cluster.stop().await;
    })
    .await;
}

/// openraft's trap: a learner added to a one-voter cluster. The lone voter
/// commits alone; the learner must still be replicated to, and promoting
/// it makes a two-voter cluster that commits with both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_added_to_a_one_node_cluster_catches_up_and_is_promoted() {
    bounded(async {
        let mut cluster = Cluster::start(1, None).await;
        let solo = &cluster.nodes[0];
        solo.node.write(create(4), CALL).await.unwrap();
        solo.node.write(upsert(0..10, 4), CALL).await.unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut second = TestNode::start(2, cluster.dir.path(), listener, None).await;
        solo.node
            .add_learner(2, second.addr.to_string(), CALL)
            .await
            .unwrap();
        // Writes keep committing on the lone voter and reach the learner.
        solo.node.write(upsert(10..20, 4), CALL).await.unwrap();
        second.node.read_barrier(CALL).await.unwrap();
        assert_eq!(second.records(), solo.records());
        assert_eq!(second.records().len(), 20);

        solo.node.promote(2, CALL).await.unwrap();
        assert_eq!(solo.node.status().voters.len(), 2);
        second.node.write(upsert(20..21, 4), CALL).await.unwrap();
        assert!(second.has(20..21));
        solo.node.read_barrier(CALL).await.unwrap();
        assert!(solo.has(20..21));

        second.stop().await;
        cluster.stop().await;
    })
    .await;
}
