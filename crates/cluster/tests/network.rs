//! The node-to-node transport (`grape_cluster::network`): classification of
//! failures against stub peers, size and key checks, and Raft RPCs over real
//! sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::routing::post;
use grape_cluster::log_store::LogStore;
use grape_cluster::network::{
    APPEND_PATH, CLUSTER_KEY_HEADER, HttpNetwork, SNAPSHOT_PATH, TARGET_HEADER, Transport,
    TransportError, TransportOptions, VOTE_PATH, raft_routes,
};
use grape_cluster::state_machine::StateMachine;
use grape_cluster::types::{Applied, Command, Node, NodeId, Raft, TypeConfig};
use grape_core::PointData;
use grape_core::payload::PointId;
use grape_core::query::{PayloadSelector, VectorSelector};
use grape_db::{Database, DbOptions, Mutation};
use openraft::error::{Fatal, RPCError, RaftError};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest, VoteResponse};
use openraft::{CommittedLeaderId, Config, Entry, EntryPayload, LogId, SnapshotPolicy, Vote};
use serde_json::json;
use tempfile::TempDir;
use tokio::net::TcpListener;

/// Serves `router` on 127.0.0.1:0 until the test's runtime ends.
async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    addr
}

/// An address nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).unwrap()
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .unwrap()
        .0
}

async fn connection(
    options: TransportOptions,
    target: NodeId,
    addr: SocketAddr,
) -> <HttpNetwork as RaftNetworkFactory<TypeConfig>>::Network {
    let mut network = HttpNetwork::new(Transport::new(options));
    network
        .new_client(target, &Node::new(addr.to_string()))
        .await
}

fn vote_request() -> VoteRequest<NodeId> {
    VoteRequest::new(
        Vote::new(3, 1),
        Some(LogId::new(CommittedLeaderId::new(2, 1), 7)),
    )
}

fn append_request(entries: usize, entry_bytes: usize) -> AppendEntriesRequest<TypeConfig> {
    AppendEntriesRequest {
        vote: Vote::new_committed(3, 1),
        prev_log_id: None,
        leader_commit: None,
        entries: (1..=entries as u64)
            .map(|i| Entry {
                log_id: LogId::new(CommittedLeaderId::new(3, 1), i),
                payload: EntryPayload::Normal(Command {
                    mutation: vec![7; entry_bytes],
                }),
            })
            .collect(),
    }
}

fn ttl() -> RPCOption {
    RPCOption::new(Duration::from_secs(2))
}

#[tokio::test]
async fn post_bytes_round_trip_with_key_and_any_status() {
    let router = Router::new().route(
        "/echo",
        post(|headers: HeaderMap, body: Bytes| async move {
            assert_eq!(headers["content-type"], "application/octet-stream");
            assert_eq!(headers[CLUSTER_KEY_HEADER], "s3cret");
            let mut reversed = body.to_vec();
            reversed.reverse();
            (StatusCode::ACCEPTED, reversed)
        }),
    );
    let addr = serve(router).await;
    let transport = Transport::new(TransportOptions::default().with_cluster_key("s3cret"));
    let (status, body) = transport
        .post_bytes(
            &addr.to_string(),
            "/echo",
            b"abc".to_vec(),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!((status, body.as_slice()), (202, &b"cba"[..]));
    // Clones share the pool; a 404 is an answer, not an error.
    let (status, _) = transport
        .clone()
        .post_bytes(&addr.to_string(), "/nope", vec![], Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn vote_round_trip_and_remote_error() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let router = Router::new().route(
        VOTE_PATH,
        post(move |headers: HeaderMap, body: Bytes| async move {
            assert_eq!(headers[TARGET_HEADER], "2");
            let request: VoteRequest<NodeId> = decode(&body);
            assert_eq!(request, vote_request());
            let reply: Result<VoteResponse<NodeId>, RaftError<NodeId>> =
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    Ok(VoteResponse::new(Vote::new(3, 1), None, true))
                } else {
                    Err(RaftError::Fatal(Fatal::Stopped))
                };
            encode(&reply)
        }),
    );
    let addr = serve(router).await;
    let mut conn = connection(TransportOptions::default(), 2, addr).await;
    let response = conn.vote(vote_request(), ttl()).await.unwrap();
    assert!(response.vote_granted);
    assert_eq!(response.vote, Vote::new(3, 1));
    match conn.vote(vote_request(), ttl()).await {
        Err(RPCError::RemoteError(e)) => {
            assert_eq!(e.target, 2);
            assert_eq!(e.target_node, Some(Node::new(addr.to_string())));
            assert!(matches!(e.source, RaftError::Fatal(Fatal::Stopped)));
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_is_unreachable() {
    let addr = closed_port().await;
    let mut conn = connection(TransportOptions::default(), 2, addr).await;
    let start = Instant::now();
    let err = conn.vote(vote_request(), ttl()).await.unwrap_err();
    assert!(matches!(err, RPCError::Unreachable(_)), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    let transport = Transport::new(TransportOptions::default());
    let err = transport
        .post_bytes(&addr.to_string(), "/x", vec![], Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_address_is_unreachable() {
    let mut network = HttpNetwork::new(Transport::new(TransportOptions::default()));
    let mut conn = network.new_client(2, &Node::new("not an address")).await;
    let err = conn.vote(vote_request(), ttl()).await.unwrap_err();
    assert!(matches!(err, RPCError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn slow_peer_times_out_within_soft_ttl_as_network_error() {
    let router = Router::new().route(
        VOTE_PATH,
        post(|| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Vec::<u8>::new()
        }),
    );
    let addr = serve(router).await;
    let mut conn = connection(TransportOptions::default(), 2, addr).await;
    let option = RPCOption::new(Duration::from_millis(800));
    let start = Instant::now();
    let err = conn.vote(vote_request(), option.clone()).await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(err, RPCError::Network(_)), "{err:?}");
    assert!(
        elapsed >= option.soft_ttl() && elapsed < option.hard_ttl(),
        "{elapsed:?}"
    );

    let transport = Transport::new(TransportOptions::default());
    let err = transport
        .post_bytes(
            &addr.to_string(),
            VOTE_PATH,
            vec![],
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn oversized_request_is_refused_before_sending() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let router = Router::new().fallback(move || async move {
        seen.fetch_add(1, Ordering::SeqCst);
        StatusCode::OK
    });
    let addr = serve(router).await;
    let options = TransportOptions::default().with_max_body_bytes(4096);

    let transport = Transport::new(options.clone());
    let err = transport
        .post_bytes(
            &addr.to_string(),
            "/x",
            vec![0; 4097],
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::RequestTooLarge {
                size: 4097,
                limit: 4096
            }
        ),
        "{err:?}"
    );

    // Many entries: openraft is asked to send fewer.
    let mut conn = connection(options, 2, addr).await;
    match conn.append_entries(append_request(10, 1000), ttl()).await {
        Err(RPCError::PayloadTooLarge(e)) => {
            assert!((1..10).contains(&e.entries_hint()), "{e}");
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    // One entry that does not fit cannot be split.
    let err = conn
        .append_entries(append_request(1, 5000), ttl())
        .await
        .unwrap_err();
    assert!(matches!(err, RPCError::Unreachable(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn peer_rejections_are_classified() {
    let router = Router::new()
        .route(
            VOTE_PATH,
            post(|| async { (StatusCode::UNAUTHORIZED, "wrong key") }),
        )
        .route(
            APPEND_PATH,
            post(|| async { (StatusCode::PAYLOAD_TOO_LARGE, "too large") }),
        );
    let addr = serve(router).await;
    let mut conn = connection(TransportOptions::default(), 2, addr).await;

    let err = conn.vote(vote_request(), ttl()).await.unwrap_err();
    assert!(matches!(err, RPCError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains("401"), "{err}");

    match conn.append_entries(append_request(4, 10), ttl()).await {
        Err(RPCError::PayloadTooLarge(e)) => assert_eq!(e.entries_hint(), 2),
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    let err = conn
        .append_entries(append_request(1, 10), ttl())
        .await
        .unwrap_err();
    assert!(matches!(err, RPCError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn bad_responses_are_network_errors() {
    let router = Router::new()
        .route(VOTE_PATH, post(|| async { vec![0xff_u8; 3] }))
        .route(APPEND_PATH, post(|| async { vec![0_u8; 8192] }));
    let addr = serve(router).await;
    let options = TransportOptions::default().with_max_body_bytes(4096);
    let mut conn = connection(options.clone(), 2, addr).await;

    // Undecodable 200.
    let err = conn.vote(vote_request(), ttl()).await.unwrap_err();
    assert!(matches!(err, RPCError::Network(_)), "{err:?}");
    // Response over the limit.
    let err = conn
        .append_entries(append_request(0, 0), ttl())
        .await
        .unwrap_err();
    assert!(matches!(err, RPCError::Network(_)), "{err:?}");
    let err = Transport::new(options)
        .post_bytes(
            &addr.to_string(),
            APPEND_PATH,
            vec![],
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::ResponseTooLarge { limit: 4096, .. }),
        "{err:?}"
    );
}

// ---- Raft nodes over the real transport -----------------------------------

/// One node: its own directory, database, log store, state machine and
/// HTTP listener serving `raft_routes`.
struct TestNode {
    id: NodeId,
    addr: SocketAddr,
    raft: Raft,
    db: Database,
    /// Requests that reached the snapshot path.
    snapshot_requests: Arc<AtomicUsize>,
    _dir: TempDir,
}

impl TestNode {
    async fn start(id: NodeId, config: Arc<Config>, options: TransportOptions) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("db"), DbOptions::default()).unwrap();
        let log = LogStore::open(dir.path().join("raft")).unwrap();
        let state_machine = StateMachine::new(db.clone(), dir.path().join("snapshots")).unwrap();
        let network = HttpNetwork::new(Transport::new(options.clone()));
        let raft = Raft::new(id, config, network, log, state_machine)
            .await
            .unwrap();
        let snapshot_requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&snapshot_requests);
        let router = raft_routes(raft.clone(), options).layer(middleware::from_fn(
            move |request: Request, next: Next| {
                if request.uri().path() == SNAPSHOT_PATH {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                next.run(request)
            },
        ));
        let addr = serve(router).await;
        TestNode {
            id,
            addr,
            raft,
            db,
            snapshot_requests,
            _dir: dir,
        }
    }

    fn node(&self) -> Node {
        Node::new(self.addr.to_string())
    }

    async fn write(&self, mutation: Mutation) -> u64 {
        let response = self
            .raft
            .client_write(Command {
                mutation: mutation.encode(),
            })
            .await
            .unwrap();
        assert!(
            matches!(response.data, Applied::Done(_)),
            "{:?}",
            response.data
        );
        response.log_id.index
    }

    async fn wait_applied(&self, index: u64) {
        self.raft
            .wait(Some(Duration::from_secs(20)))
            .applied_index_at_least(Some(index), format!("node {} applies {index}", self.id))
            .await
            .unwrap();
    }

    /// The points of "docs" on this node, with payloads.
    fn points(&self) -> Vec<(PointId, serde_json::Value)> {
        let ids: Vec<PointId> = (0..100).map(PointId::Num).collect();
        self.db
            .get(
                "docs",
                &ids,
                &PayloadSelector::All(true),
                &VectorSelector::All(false),
            )
            .unwrap()
            .into_iter()
            .map(|r| (r.id, serde_json::Value::Object(r.payload.unwrap())))
            .collect()
    }
}

fn upsert(ids: std::ops::Range<u64>) -> Mutation {
    let points = ids
        .map(|i| {
            let payload = json!({"n": i, "text": "lorem ipsum ".repeat(20)});
            PointData::dense(
                PointId::Num(i),
                vec![1.0, i as f32, 0.5],
                payload.as_object().unwrap().clone(),
            )
        })
        .collect();
    Mutation::Upsert {
        collection: "docs".into(),
        points,
    }
}

/// Timings roomy enough for debug builds on two busy cores (the
/// append-entries timeout is the heartbeat interval).
fn raft_config(snapshot_chunk: u64) -> Arc<Config> {
    let config = Config {
        cluster_name: "grape-test".into(),
        heartbeat_interval: 250,
        election_timeout_min: 1500,
        election_timeout_max: 3000,
        install_snapshot_timeout: 5000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(10_000),
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        snapshot_max_chunk_size: snapshot_chunk,
        ..Config::default()
    };
    Arc::new(config.validate().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_routes_answer_and_guard_a_real_raft() {
    let config = raft_config(3 << 20);
    let server_options = TransportOptions::default()
        .with_cluster_key("k")
        .with_max_body_bytes(4096);
    let node = TestNode::start(1, config, server_options).await;
    let client = TransportOptions::default().with_cluster_key("k");

    // A real VoteRequest through raft_routes: an uninitialized node grants
    // a vote for a higher term.
    let mut conn = connection(client.clone(), 1, node.addr).await;
    let response = conn
        .vote(VoteRequest::new(Vote::new(5, 2), None), ttl())
        .await
        .unwrap();
    assert!(response.vote_granted, "{response:?}");
    assert_eq!(response.vote, Vote::new(5, 2));
    // A heartbeat of a stale leader is answered (HigherVote), not an error.
    let mut heartbeat = append_request(0, 0);
    heartbeat.vote = Vote::new_committed(1, 3);
    let response = conn.append_entries(heartbeat, ttl()).await.unwrap();
    assert!(
        matches!(response, AppendEntriesResponse::HigherVote(_)),
        "{response:?}"
    );

    // Too large for the receiver (4 KiB) but not for the sender (64 MiB):
    // 413, and openraft is asked for half the entries.
    match conn.append_entries(append_request(8, 1000), ttl()).await {
        Err(RPCError::PayloadTooLarge(e)) => assert_eq!(e.entries_hint(), 4),
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    let (status, _) = Transport::new(client.clone())
        .post_bytes(
            &node.addr.to_string(),
            VOTE_PATH,
            vec![0; 5000],
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "no target header");

    // Wrong key: 401, unreachable until the configuration is fixed.
    let mut wrong_key = connection(
        TransportOptions::default().with_cluster_key("x"),
        1,
        node.addr,
    )
    .await;
    let err = wrong_key.vote(vote_request(), ttl()).await.unwrap_err();
    assert!(
        matches!(err, RPCError::Unreachable(_)) && err.to_string().contains("401"),
        "{err}"
    );
    let mut no_key = connection(TransportOptions::default(), 1, node.addr).await;
    let err = no_key.vote(vote_request(), ttl()).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    // Another node at this address: 421.
    let mut wrong_node = connection(client, 9, node.addr).await;
    let err = wrong_node.vote(vote_request(), ttl()).await.unwrap_err();
    assert!(
        matches!(err, RPCError::Unreachable(_)) && err.to_string().contains("421"),
        "{err}"
    );

    node.raft.shutdown().await.unwrap();
}

/// Three voters replicate over HTTP; a fourth node added as a learner after
/// the leader purged its log catches up from a snapshot streamed in chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_converge_and_a_learner_catches_up_by_snapshot() {
    tokio::time::timeout(Duration::from_secs(60), three_nodes_then_learner())
        .await
        .expect("the cluster test took longer than 60 s");
}

async fn three_nodes_then_learner() {
    const CHUNK: u64 = 1024;
    let config = raft_config(CHUNK);
    let options = TransportOptions::default().with_cluster_key("cluster-secret");
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(TestNode::start(id, Arc::clone(&config), options.clone()).await);
    }
    let members: BTreeMap<NodeId, Node> = nodes.iter().map(|n| (n.id, n.node())).collect();
    nodes[0].raft.initialize(members).await.unwrap();
    nodes[0].raft.trigger().elect().await.unwrap();
    let metrics = nodes[0]
        .raft
        .wait(Some(Duration::from_secs(20)))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .unwrap();
    let leader_id = metrics.current_leader.unwrap();
    let leader = &nodes[leader_id as usize - 1];

    leader
        .write(Mutation::CreateCollection {
            name: "docs".into(),
            config: json!({"vectors": {"size": 3, "distance": "Cosine"}}),
        })
        .await;
    let mut last = 0;
    for batch in 0..4 {
        last = leader.write(upsert(batch * 5..batch * 5 + 5)).await;
    }
    for node in &nodes {
        node.wait_applied(last).await;
        assert_eq!(node.db.count("docs", None).unwrap(), 20, "node {}", node.id);
    }
    let expected = leader.points();
    assert_eq!(expected.len(), 20);
    for node in &nodes {
        assert_eq!(node.points(), expected, "node {}", node.id);
    }

    // Snapshot and purge the leader's log, so that a new node cannot be
    // sent log entries from the start.
    leader.raft.trigger().snapshot().await.unwrap();
    let wait = leader.raft.wait(Some(Duration::from_secs(20)));
    wait.metrics(
        |m| m.snapshot.is_some_and(|s| s.index >= last),
        "leader snapshot",
    )
    .await
    .unwrap();
    wait.metrics(
        |m| m.purged.is_some_and(|p| p.index >= last),
        "leader purged its log",
    )
    .await
    .unwrap();
    let snapshot_len = leader
        .raft
        .get_snapshot()
        .await
        .unwrap()
        .expect("leader has a snapshot")
        .snapshot
        .get_ref()
        .len() as u64;
    assert!(snapshot_len > 3 * CHUNK, "snapshot of {snapshot_len} bytes");

    let learner = TestNode::start(4, Arc::clone(&config), options.clone()).await;
    leader
        .raft
        .add_learner(learner.id, learner.node(), true)
        .await
        .unwrap();
    learner.wait_applied(last).await;
    let chunks = learner.snapshot_requests.load(Ordering::SeqCst) as u64;
    assert!(
        chunks >= snapshot_len.div_ceil(CHUNK),
        "{chunks} snapshot requests for {snapshot_len} bytes in chunks of {CHUNK}"
    );
    assert_eq!(learner.points(), expected);

    // The learner keeps replicating by log after the snapshot.
    let last = leader.write(upsert(20..25)).await;
    nodes.push(learner);
    for node in &nodes {
        node.wait_applied(last).await;
        assert_eq!(node.db.count("docs", None).unwrap(), 25, "node {}", node.id);
    }
    for node in &nodes {
        node.raft.shutdown().await.unwrap();
    }
}
