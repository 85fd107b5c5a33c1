//! The node the grape server embeds: a [`ClusterNode`] runs one Raft
//! member (log store, state machine over the node's [`Database`], HTTP
//! transport) and offers what the server needs on top of it: replicated
//! writes from any node, linearizable read barriers, membership changes and
//! a status report.
//!
//! # Routing
//!
//! Writes, read barriers and membership changes are executed by the leader.
//! Called on any other node they are forwarded to it as a bincode POST to
//! [`FORWARD_PATH`] over the [`Transport`] (with the cluster key), and the
//! answer is brought back. The leader is taken from this node's Raft
//! metrics, or from the hint of a node that answered "not the leader";
//! while there is none (an election, a partition) the call waits for the
//! metrics to change and tries again until its time budget runs out
//! ([`ClusterError::NoLeader`]). There is one hop: a node that is not the
//! leader never forwards further, it answers with its own leader hint.
//!
//! # At most once
//!
//! A write is retried only when it provably did not reach any log: the
//! chosen node was not the leader when it looked at the request (it never
//! called `client_write`), or no connection to it could be opened (nothing
//! was sent). Once the entry may have been appended (a lost or late
//! answer, a leader that lost its leadership or stopped while the write was
//! in flight), a retry could apply it twice, since the state machine has
//! no idempotency keys. Such a write returns [`ClusterError::Timeout`] with
//! `may_have_applied: true` or [`ClusterError::Ambiguous`] instead, and the
//! caller decides (a Qdrant upsert with explicit ids is idempotent; a
//! delete by filter or a payload merge may not be).
//!
//! A forwarded write (or membership change) is preceded by a probe of the
//! leader through the same connection pool. A keep-alive connection that
//! the leader closed while idle, or that died with it, fails the probe
//! (which is safe to repeat) rather than the write, whose failure on a used
//! connection could not be told apart from a leader dying mid-request; a
//! node that is no longer the leader is also found before anything is
//! sent. The cost is one round trip per forwarded entry.
//!
//! One indistinguishable case is counted as ambiguous: openraft answers
//! `ForwardToLeader` both when the leader lost its leadership just before
//! the entry was appended and when a new leader truncated it, so a leader
//! that calls `client_write` and gets that answer reports
//! [`ClusterError::Ambiguous`].
//!
//! Read barriers are idempotent and retried on any failure until their
//! budget runs out. Membership changes are retried while the leader says a
//! previous change is still in progress or leadership moves (re-adding or
//! re-promoting a node is harmless), never after a lost answer.
//!
//! # Large upserts
//!
//! An [`Mutation::Upsert`] whose encoding exceeds
//! [`NodeConfig::max_entry_bytes`] is cut into several upserts below it,
//! written one after the other; such a batch is **not atomic**: if a later
//! piece fails, the earlier pieces stay applied.
//!
//! # Membership traps
//!
//! - Only the founding members call [`ClusterNode::initialize`]; a node
//!   that joins later starts empty and is added with
//!   [`ClusterNode::add_learner`]. A node initialized on its own has a log
//!   of its own cluster; `add_learner` refuses a node that already holds
//!   Raft state and is not a member.
//! - A node id is never reused after a node's Raft data was wiped: the
//!   leader remembers how far that id's log went, and openraft panics on a
//!   follower log that goes backwards (unless built with its
//!   `loosen-follower-log-revert` feature), and a wiped voter may lose
//!   committed entries. A wiped node joins again under a new id (after
//!   removing the old one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use grape_core::PointData;
use grape_db::{Database, Mutation, Outcome};
use openraft::error::{
    ChangeMembershipError, CheckIsLeaderError, ClientWriteError, Fatal, ForwardToLeader,
    InitializeError, RaftError,
};
use openraft::metrics::WaitError;
use openraft::{ChangeMembers, Config, RaftMetrics, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::log_store::LogStore;
use crate::network::{
    Faults, HttpNetwork, Transport, TransportError, TransportOptions, admit_body, decode, encode,
    raft_routes,
};
use crate::state_machine::StateMachine;
use crate::types::{Applied, Command, Node, NodeId, Raft};

/// Path of the endpoint receiving forwarded writes, read-index requests,
/// membership changes and probes (bincode bodies, cluster key required).
pub const FORWARD_PATH: &str = "/cluster/forward";

/// Version of the forwarding protocol; a request of another version is
/// answered 400.
const FORWARD_VERSION: u32 = 1;

/// Room left in a request body around one log entry (the AppendEntries or
/// forward request around it).
const ENTRY_ENVELOPE: usize = 64 << 10;

/// The smallest accepted [`NodeConfig::max_entry_bytes`].
const MIN_ENTRY_BYTES: usize = 1 << 10;

/// Time allowed for sending one snapshot chunk; the last chunk includes
/// importing the whole snapshot on the receiver.
const SNAPSHOT_CHUNK_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest snapshot chunk.
const SNAPSHOT_CHUNK_BYTES: usize = 3 << 20;

/// How long a retry waits for the metrics to change before trying again,
/// and the least it waits.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// The committed index of [`ClusterStatus`] is refreshed at most this often.
const COMMITTED_REFRESH: Duration = Duration::from_millis(20);

/// The longest budget a forwarded request may ask for.
const MAX_FORWARD_BUDGET: Duration = Duration::from_secs(3600);

/// "No committed index yet" in [`Inner::committed`].
const NONE: u64 = u64::MAX;

/// How a node runs. Build it with [`NodeConfig::new`] and adjust the
/// public fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeConfig {
    /// This node's id in the cluster. Never reused after the node's Raft
    /// data was wiped (see the module documentation).
    pub id: NodeId,
    /// This node's REST `host:port` as the other nodes reach it (its
    /// [`Node`] address in the membership).
    pub addr: String,
    /// Directory of the Raft files: the log store and the state machine's
    /// snapshot (not the grape-db directory).
    pub dir: PathBuf,
    /// The transport's options (cluster key, body limit, connect timeout),
    /// used both to send and to receive.
    pub transport: TransportOptions,
    /// openraft's heartbeat interval. Default 100 ms. openraft 0.9 also
    /// bounds every AppendEntries RPC by it: a batch of entries must travel
    /// and be stored within one heartbeat interval.
    pub heartbeat: Duration,
    /// The range of openraft's randomized election timeout. Default
    /// 500..1000 ms; the minimum must exceed [`heartbeat`](Self::heartbeat).
    pub election_timeout: (Duration, Duration),
    /// Build a snapshot (and purge the log before it) after this many
    /// entries since the last one. Default 10 000.
    pub snapshot_after_logs: u64,
    /// The largest encoded mutation per log entry: a larger
    /// [`Mutation::Upsert`] is split into several entries (not atomic as a
    /// whole). Default: a quarter of the transport's body limit, at most
    /// 4 MiB (an entry must replicate within one heartbeat, see
    /// [`heartbeat`](Self::heartbeat)). Must stay 64 KiB below
    /// [`TransportOptions::max_body_bytes`].
    pub max_entry_bytes: usize,
}

impl NodeConfig {
    /// The configuration of node `id`, reached by the others at `addr`,
    /// keeping its Raft files in `dir`, with the defaults of every other
    /// field.
    pub fn new(id: NodeId, addr: impl Into<String>, dir: impl Into<PathBuf>) -> NodeConfig {
        let transport = TransportOptions::default();
        let max_entry_bytes = (transport.max_body_bytes / 4).min(4 << 20);
        NodeConfig {
            id,
            addr: addr.into(),
            dir: dir.into(),
            transport,
            heartbeat: Duration::from_millis(100),
            election_timeout: (Duration::from_millis(500), Duration::from_millis(1000)),
            snapshot_after_logs: 10_000,
            max_entry_bytes,
        }
    }

    /// Checks the configuration and derives openraft's.
    fn raft_config(&self) -> Result<Config, ClusterError> {
        let invalid = |m: String| Err(ClusterError::InvalidRequest(m));
        if self.addr.is_empty() {
            return invalid("the node address is empty".to_string());
        }
        let max_body = self.transport.max_body_bytes;
        if max_body < 4 * ENTRY_ENVELOPE {
            return invalid(format!(
                "transport.max_body_bytes of {max_body} is below the minimum of {}",
                4 * ENTRY_ENVELOPE
            ));
        }
        if self.max_entry_bytes < MIN_ENTRY_BYTES
            || self.max_entry_bytes > max_body - ENTRY_ENVELOPE
        {
            return invalid(format!(
                "max_entry_bytes of {} must be between {MIN_ENTRY_BYTES} and {} \
                 (transport.max_body_bytes minus {ENTRY_ENVELOPE})",
                self.max_entry_bytes,
                max_body - ENTRY_ENVELOPE
            ));
        }
        if self.snapshot_after_logs == 0 {
            return invalid("snapshot_after_logs must be at least 1".to_string());
        }
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let config = Config {
            cluster_name: "grape".to_string(),
            heartbeat_interval: millis(self.heartbeat),
            election_timeout_min: millis(self.election_timeout.0),
            election_timeout_max: millis(self.election_timeout.1),
            install_snapshot_timeout: millis(SNAPSHOT_CHUNK_TIMEOUT),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_after_logs),
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES.min(max_body / 2) as u64,
            ..Config::default()
        };
        if config.heartbeat_interval == 0 {
            return invalid("the heartbeat interval must be at least 1 ms".to_string());
        }
        config
            .validate()
            .map_err(|e| ClusterError::InvalidRequest(format!("raft timing: {e}")))
    }
}

/// Everything that can go wrong in a [`ClusterNode`] call. Each variant
/// says whether it is the caller's fault or a failure of the cluster;
/// [`ClusterError::http_status`] is the status a server answers with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Cluster: no leader was found (or reached) within the time budget, an
    /// election or a partition; nothing was written. Retrying later is safe.
    #[error("no leader: the cluster has no reachable leader right now; nothing was written")]
    NoLeader,
    /// Cluster: no answer within the time budget. `may_have_applied` says
    /// whether the change may have taken (or will still take) effect; when
    /// it is false nothing was written.
    #[error(
        "no answer within {waited:?}; {}",
        if *may_have_applied {
            "the change may have been (or may still be) applied"
        } else {
            "nothing was applied"
        }
    )]
    Timeout {
        /// The time budget of the call.
        waited: Duration,
        /// Whether the change may have been applied.
        may_have_applied: bool,
    },
    /// Cluster: the write reached a leader that lost its leadership or
    /// stopped before answering; it may or may not have been applied, and
    /// is not retried automatically.
    #[error("the outcome of the write is unknown, it may have been applied: {reason}")]
    Ambiguous {
        /// What happened.
        reason: String,
    },
    /// Caller input: the mutation failed deterministically when applied
    /// (the same way on every node, and changed nothing): `code` is
    /// grape-db's [`grape_db::Error::code`].
    #[error("{message}")]
    Rejected {
        /// grape-db's error code.
        code: String,
        /// grape-db's message.
        message: String,
    },
    /// Caller input: an admin call named a node id that is not a member.
    #[error("node {id} is not a member of the cluster")]
    NotMember {
        /// The node id.
        id: NodeId,
    },
    /// Caller input: an invalid argument or configuration.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Cluster: a request to another node failed before it could have had
    /// an effect (wrong cluster key, a wrong address, an unreachable node).
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// Internal: Raft failed or stopped.
    #[error("raft: {0}")]
    Raft(String),
    /// Internal: the Raft log or state machine storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

impl ClusterError {
    /// The HTTP status a server answers this error with: 503 (no leader),
    /// 504 (timeout), 500 (ambiguous, Raft, storage), 404 (not a member;
    /// and a rejected mutation about an unknown collection or alias), 409
    /// (a rejected mutation creating what exists), 400 (other rejected
    /// mutations, invalid requests), 502 (transport).
    pub fn http_status(&self) -> u16 {
        match self {
            ClusterError::NoLeader => 503,
            ClusterError::Timeout { .. } => 504,
            ClusterError::Rejected { code, .. } => match code.as_str() {
                "unknown_collection" | "unknown_alias" => 404,
                "already_exists" => 409,
                _ => 400,
            },
            ClusterError::NotMember { .. } => 404,
            ClusterError::InvalidRequest(_) => 400,
            ClusterError::Transport(_) => 502,
            ClusterError::Ambiguous { .. } | ClusterError::Raft(_) | ClusterError::Storage(_) => {
                500
            }
        }
    }
}

/// A replicated write: its log entry and what applying it produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The entry's log index (the last entry's, for an upsert split into
    /// several entries).
    pub log_index: u64,
    /// What applying it produced (for a split upsert: the last entry's,
    /// with point counts summed when the outcomes are counts).
    pub applied: Applied,
}

impl Written {
    /// The mutation's [`Outcome`]; [`ClusterError::Rejected`] for a
    /// mutation that failed.
    pub fn outcome(&self) -> Result<Outcome, ClusterError> {
        match &self.applied {
            Applied::Done(json) => Outcome::from_json(json).ok_or_else(|| {
                ClusterError::Raft(format!(
                    "entry {} produced an unrecognised outcome {json}",
                    self.log_index
                ))
            }),
            Applied::Failed { code, message } => Err(ClusterError::Rejected {
                code: code.clone(),
                message: message.clone(),
            }),
            Applied::Nothing => Err(ClusterError::Raft(format!(
                "entry {} produced no outcome",
                self.log_index
            ))),
        }
    }
}

/// A node's role, as [`ClusterStatus::role`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// The leader: executes writes.
    Leader,
    /// A voter following the leader.
    Follower,
    /// A voter campaigning in an election.
    Candidate,
    /// A non-voting member (or a node not yet added to a cluster).
    Learner,
    /// The node is shut down.
    Shutdown,
}

/// A node's view of the cluster ([`ClusterNode::status`]). Log positions
/// are log indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClusterStatus {
    /// This node's id.
    pub id: NodeId,
    /// This node's role.
    pub role: Role,
    /// The current Raft term.
    pub term: u64,
    /// The leader this node knows of, with its address.
    pub leader: Option<(NodeId, String)>,
    /// The last entry this node knows to be committed (refreshed in the
    /// background, never behind `last_applied`).
    pub committed: Option<u64>,
    /// The last entry in this node's log.
    pub last_log_index: Option<u64>,
    /// The last entry applied to this node's database.
    pub last_applied: Option<u64>,
    /// Entries in this node's log not applied yet.
    pub pending: u64,
    /// The voters with their addresses (both configurations while a
    /// membership change is in progress).
    pub voters: BTreeMap<NodeId, String>,
    /// The learners with their addresses.
    pub learners: BTreeMap<NodeId, String>,
    /// Whether a membership change is in progress (joint configuration).
    pub joint: bool,
    /// The last entry included in this node's snapshot.
    pub snapshot: Option<u64>,
    /// On the leader: milliseconds since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
}

/// A running cluster member over a grape-db [`Database`]. Cheap to clone.
#[derive(Clone)]
pub struct ClusterNode {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.inner.id)
            .field("addr", &self.inner.config.addr)
            .finish_non_exhaustive()
    }
}

struct Inner {
    id: NodeId,
    config: NodeConfig,
    raft: Raft,
    db: Database,
    transport: Transport,
    /// The committed index as the background task last read it ([`NONE`]:
    /// none).
    committed: Arc<AtomicU64>,
    watcher: Mutex<Option<JoinHandle<()>>>,
}

impl ClusterNode {
    /// Opens the Raft files in [`NodeConfig::dir`] and starts the Raft
    /// member over `db` (whose applied mark says how far the log was
    /// applied). The node serves nothing by itself: merge
    /// [`ClusterNode::router`] into the REST router.
    pub async fn start(config: NodeConfig, db: Database) -> Result<ClusterNode, ClusterError> {
        let raft_config = Arc::new(config.raft_config()?);
        let dir = config.dir.clone();
        let sm_db = db.clone();
        let (log, sm) = tokio::task::spawn_blocking(move || {
            let log = LogStore::open(&dir).map_err(|e| e.to_string())?;
            let sm = StateMachine::new(sm_db, &dir).map_err(|e| e.to_string())?;
            Ok::<_, String>((log, sm))
        })
        .await
        .map_err(|e| ClusterError::Storage(format!("opening the raft files: {e}")))?
        .map_err(ClusterError::Storage)?;
        let transport = Transport::new(config.transport.clone());
        let network = HttpNetwork::new(transport.clone());
        let raft = Raft::new(config.id, raft_config, network, log, sm)
            .await
            .map_err(fatal_error)?;
        let committed = Arc::new(AtomicU64::new(NONE));
        let watcher = tokio::spawn(watch_committed(raft.clone(), Arc::clone(&committed)));
        tracing::info!(id = config.id, addr = %config.addr, "cluster node started");
        Ok(ClusterNode {
            inner: Arc::new(Inner {
                id: config.id,
                config,
                raft,
                db,
                transport,
                committed,
                watcher: Mutex::new(Some(watcher)),
            }),
        })
    }

    /// The routes the server merges into its REST router, outside its API
    /// key (they check the cluster key): the Raft RPCs
    /// ([`raft_routes`]) and [`FORWARD_PATH`].
    pub fn router(&self) -> Router {
        raft_routes(self.inner.raft.clone(), self.inner.config.transport.clone()).merge(
            Router::new()
                .route(FORWARD_PATH, post(forward))
                .with_state(Arc::clone(&self.inner)),
        )
    }

    /// Makes a fresh cluster of `members` (id -> address), all voters; it
    /// must include this node at its address. Ok without a change if this
    /// node is initialized already (a restart) or is being made a member by
    /// another node's `initialize`. Only the founding members call it:
    /// a node joining later is added with [`ClusterNode::add_learner`].
    pub async fn initialize(&self, members: BTreeMap<NodeId, String>) -> Result<(), ClusterError> {
        let inner = &self.inner;
        match members.get(&inner.id) {
            None => {
                return Err(ClusterError::InvalidRequest(format!(
                    "the members must include this node ({})",
                    inner.id
                )));
            }
            Some(addr) if *addr != inner.config.addr => {
                return Err(ClusterError::InvalidRequest(format!(
                    "the members give node {} the address {addr}, but it runs at {}",
                    inner.id, inner.config.addr
                )));
            }
            Some(_) => {}
        }
        if let Some((id, _)) = members.iter().find(|(_, addr)| addr.is_empty()) {
            return Err(ClusterError::InvalidRequest(format!(
                "node {id} has an empty address"
            )));
        }
        if inner.raft.is_initialized().await.map_err(fatal_error)? {
            return Ok(());
        }
        let nodes: BTreeMap<NodeId, Node> = members
            .into_iter()
            .map(|(id, addr)| (id, Node::new(addr)))
            .collect();
        match inner.raft.initialize(nodes).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(RaftError::APIError(e)) => Err(ClusterError::InvalidRequest(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(fatal_error(e)),
        }
    }

    /// Replicates `m`. On the leader it is written with openraft's
    /// `client_write`; on any other node it is forwarded to the leader.
    /// Returns once the entry is committed and applied on **this** node, so
    /// that a read of [`ClusterNode::database`] right after sees it.
    ///
    /// Retries while there is no leader or the leader moved, as long as
    /// the write provably reached no log; never after it may have been
    /// appended (see the module documentation): a lost answer is
    /// [`ClusterError::Timeout`] with `may_have_applied: true` or
    /// [`ClusterError::Ambiguous`].
    ///
    /// An upsert whose encoding exceeds [`NodeConfig::max_entry_bytes`] is
    /// written as several upserts in order; such a batch is not atomic:
    /// when a later piece fails, the earlier ones stay applied (a rejected
    /// piece says so in its message). A mutation that fails on apply is
    /// [`ClusterError::Rejected`].
    pub async fn write(&self, m: Mutation, timeout: Duration) -> Result<Written, ClusterError> {
        let deadline = Instant::now() + timeout;
        let entries = self.inner.entries(m)?;
        if self.inner.config.transport.faults.ack_before_commit() && self.is_leader() {
            return Ok(self.inner.ack_before_commit(entries));
        }
        let total = entries.len();
        let mut count = Some(0usize);
        let mut last = None;
        for (i, mutation) in entries.into_iter().enumerate() {
            let reply = self
                .inner
                .run(&Op::Write { mutation }, deadline, timeout)
                .await;
            let reply = match reply {
                Err(e) if i > 0 => {
                    tracing::warn!(
                        "piece {} of {total} of a split upsert failed after the earlier \
                         pieces were applied: {e}",
                        i + 1
                    );
                    return Err(e);
                }
                other => other?,
            };
            let Reply::Written { log_index, applied } = reply else {
                return Err(unexpected(&reply));
            };
            let applied = applied.into_applied()?;
            self.inner
                .wait_applied(log_index, deadline, timeout)
                .await?;
            if let Applied::Failed { code, message } = applied {
                let message = if i > 0 {
                    format!(
                        "{message} (piece {} of {total} of a split upsert; the {i} before it \
                         were applied)",
                        i + 1
                    )
                } else {
                    message
                };
                return Err(ClusterError::Rejected { code, message });
            }
            count = match (count, &applied) {
                (Some(sum), Applied::Done(json)) => match Outcome::from_json(json) {
                    Some(Outcome::Count(n)) => Some(sum + n),
                    _ => None,
                },
                _ => None,
            };
            last = Some(Written { log_index, applied });
        }
        let mut written = last.ok_or_else(|| ClusterError::Raft("no entry written".into()))?;
        if total > 1
            && let Some(sum) = count
        {
            written.applied = Applied::Done(Outcome::Count(sum).to_json());
        }
        Ok(written)
    }

    /// A linearizable read barrier: after it returns, a read of
    /// [`ClusterNode::database`] sees every write acknowledged (by any
    /// node) before the call started. On the leader it confirms the
    /// leadership with a quorum (openraft's read index); on another node it
    /// asks the leader for that read index, then waits until this node
    /// applied it. Qdrant's `consistency` `strong`, `majority` and `all`
    /// map onto it. Retried on any failure until `timeout`.
    pub async fn read_barrier(&self, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + timeout;
        match self.inner.run(&Op::ReadIndex, deadline, timeout).await? {
            Reply::ReadIndex { index: Some(index) } => self
                .inner
                .wait_applied(index, deadline, timeout)
                .await
                .map_err(|e| match e {
                    ClusterError::Timeout { waited, .. } => ClusterError::Timeout {
                        waited,
                        may_have_applied: false,
                    },
                    other => other,
                }),
            Reply::ReadIndex { index: None } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Adds node `id` at `addr` as a learner (a non-voting member receiving
    /// the log) and returns once the leader replicated to it everything it
    /// had when the learner was added, bounded by `timeout`. Forwarded to
    /// the leader when called elsewhere.
    ///
    /// The new node must be running with empty Raft data (never
    /// initialized): a node that is not a member and already holds Raft
    /// state, or whose address answers as another node id, is refused.
    /// Adding a member again at the same address only waits for it to catch
    /// up; at another address it is refused (remove it first).
    pub async fn add_learner(
        &self,
        id: NodeId,
        addr: String,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        if addr.is_empty() {
            return Err(ClusterError::InvalidRequest(format!(
                "node {id} has an empty address"
            )));
        }
        let deadline = Instant::now() + timeout;
        let known = self
            .inner
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .is_some();
        if !known {
            self.inner.check_joiner(id, &addr, deadline).await?;
        }
        let reply = self
            .inner
            .run(&Op::AddLearner { id, addr }, deadline, timeout)
            .await?;
        self.inner.wait_membership(reply, deadline, timeout).await
    }

    /// Makes learner `id` a voter (a joint change keeping the other
    /// learners); Ok if it is a voter already, [`ClusterError::NotMember`]
    /// if it is not a member. Forwarded to the leader when called
    /// elsewhere; returns once this node applied the change.
    pub async fn promote(&self, id: NodeId, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + timeout;
        let reply = self
            .inner
            .run(&Op::Promote { id }, deadline, timeout)
            .await?;
        self.inner.wait_membership(reply, deadline, timeout).await
    }

    /// Removes node `id` from the voters and learners; refuses to remove
    /// the last voter, [`ClusterError::NotMember`] for an unknown id.
    /// Forwarded to the leader when called elsewhere; returns once this
    /// node applied the change. The removed node should then be shut down
    /// (it does not learn of its removal) and, if it comes back, comes back
    /// with a new id and empty Raft data.
    pub async fn remove(&self, id: NodeId, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + timeout;
        let reply = self
            .inner
            .run(&Op::Remove { id }, deadline, timeout)
            .await?;
        self.inner.wait_membership(reply, deadline, timeout).await
    }

    /// This node's view of the cluster, from its Raft metrics.
    pub fn status(&self) -> ClusterStatus {
        let m = self.inner.metrics();
        let membership = m.membership_config.membership();
        let addr_of = |id: &NodeId| {
            membership
                .get_node(id)
                .map(|n| n.addr.clone())
                .unwrap_or_default()
        };
        let voters: BTreeMap<NodeId, String> = membership
            .voter_ids()
            .map(|id| (id, addr_of(&id)))
            .collect();
        let learners: BTreeMap<NodeId, String> = membership
            .learner_ids()
            .map(|id| (id, addr_of(&id)))
            .collect();
        let last_applied = m.last_applied.map(|l| l.index);
        let committed = match self.inner.committed.load(Ordering::Relaxed) {
            NONE => last_applied,
            c => Some(last_applied.map_or(c, |a| a.max(c))),
        };
        // Entry counts: index i is the (i + 1)-th entry.
        let entries = |index: Option<u64>| index.map_or(0, |i| i + 1);
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        };
        ClusterStatus {
            id: m.id,
            role,
            term: m.current_term,
            leader: m.current_leader.map(|id| (id, addr_of(&id))),
            committed,
            last_log_index: m.last_log_index,
            last_applied,
            pending: entries(m.last_log_index).saturating_sub(entries(last_applied)),
            voters,
            learners,
            joint: membership.get_joint_config().len() > 1,
            snapshot: m.snapshot.map(|l| l.index),
            millis_since_quorum_ack: m.millis_since_quorum_ack,
        }
    }

    /// Whether this node is the leader (by its own metrics; another node
    /// may have been elected since).
    pub fn is_leader(&self) -> bool {
        self.inner.raft.metrics().borrow().state == ServerState::Leader
    }

    /// The node's fault switches (tests only): the handle in
    /// [`NodeConfig::transport`]'s [`TransportOptions::faults`].
    pub fn faults(&self) -> &Faults {
        &self.inner.config.transport.faults
    }

    /// For tests: builds a snapshot of everything this node applied so far
    /// and purges its log up to it, so that a node added afterwards must
    /// catch up by snapshot. Returns the snapshot's last log index once the
    /// log is purged (`None`: nothing applied yet), bounded by `timeout`.
    pub async fn compact_log(&self, timeout: Duration) -> Result<Option<u64>, ClusterError> {
        let raft = &self.inner.raft;
        let Some(applied) = self.inner.metrics().last_applied.map(|l| l.index) else {
            return Ok(None);
        };
        raft.trigger().snapshot().await.map_err(fatal_error)?;
        let waited = |e: WaitError| match e {
            WaitError::Timeout(..) => ClusterError::Timeout {
                waited: timeout,
                may_have_applied: false,
            },
            WaitError::ShuttingDown => ClusterError::Raft("the node is shutting down".into()),
        };
        let deadline = Instant::now() + timeout;
        let remaining = || deadline.saturating_duration_since(Instant::now());
        let m = raft
            .wait(Some(remaining()))
            .metrics(
                |m| m.snapshot.is_some_and(|s| s.index >= applied),
                format!("snapshot up to {applied}"),
            )
            .await
            .map_err(waited)?;
        let Some(snapshot) = m.snapshot.map(|s| s.index) else {
            return Err(ClusterError::Raft("no snapshot after building one".into()));
        };
        raft.trigger()
            .purge_log(snapshot)
            .await
            .map_err(fatal_error)?;
        raft.wait(Some(remaining()))
            .metrics(
                |m| m.purged.is_some_and(|p| p.index >= snapshot),
                format!("log purged up to {snapshot}"),
            )
            .await
            .map_err(waited)?;
        Ok(Some(snapshot))
    }

    /// The node's database. Read it directly; change it only through
    /// [`ClusterNode::write`].
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// Stops the Raft member, then shuts the database down (flushing it).
    /// Idempotent. The router keeps answering, with errors.
    pub async fn shutdown(&self) -> Result<(), ClusterError> {
        let watcher = self
            .inner
            .watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        self.inner
            .raft
            .shutdown()
            .await
            .map_err(|e| ClusterError::Raft(format!("the raft task failed: {e}")))?;
        let db = self.inner.db.clone();
        tokio::task::spawn_blocking(move || db.shutdown())
            .await
            .map_err(|e| ClusterError::Storage(format!("shutting the database down: {e}")))?
            .map_err(|e| ClusterError::Storage(format!("shutting the database down: {e}")))?;
        tracing::info!(id = self.inner.id, "cluster node shut down");
        Ok(())
    }
}

/// Keeps [`Inner::committed`] near openraft's committed index (which the
/// metrics do not carry): read after each metrics change, at most every
/// [`COMMITTED_REFRESH`]. Ends when the Raft member stops.
async fn watch_committed(raft: Raft, committed: Arc<AtomicU64>) {
    let mut rx = raft.metrics();
    loop {
        rx.borrow_and_update();
        match raft
            .with_raft_state(|st| st.committed.map(|l| l.index))
            .await
        {
            Ok(c) => committed.store(c.unwrap_or(NONE), Ordering::Relaxed),
            Err(_) => return,
        }
        if rx.changed().await.is_err() {
            return;
        }
        tokio::time::sleep(COMMITTED_REFRESH).await;
    }
}

// --- what the leader executes -----------------------------------------------

/// An operation executed by the leader (or, [`Op::Probe`], by the node it
/// is sent to).
#[derive(Debug, Serialize, Deserialize)]
enum Op {
    /// Replicate this encoded mutation.
    Write {
        mutation: Vec<u8>,
    },
    /// A confirmed read index.
    ReadIndex,
    AddLearner {
        id: NodeId,
        addr: String,
    },
    Promote {
        id: NodeId,
    },
    Remove {
        id: NodeId,
    },
    /// What Raft state the receiving node holds (before adding it).
    Probe,
}

#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Written {
        log_index: u64,
        applied: WireApplied,
    },
    ReadIndex {
        index: Option<u64>,
    },
    /// A membership change is in the log at this index (committed).
    Membership {
        log_index: Option<u64>,
    },
    Probe {
        term: u64,
        last_log_index: Option<u64>,
        /// Whether the probed node is the leader.
        leader: bool,
        /// Otherwise, the leader it knows of.
        hint: Option<(NodeId, String)>,
    },
}

/// [`Applied`] on the wire: bincode cannot carry a `serde_json::Value`
/// (it needs `deserialize_any`), so the outcome travels as JSON text.
#[derive(Debug, Serialize, Deserialize)]
enum WireApplied {
    Nothing,
    Done(String),
    Failed { code: String, message: String },
}

impl From<Applied> for WireApplied {
    fn from(applied: Applied) -> Self {
        match applied {
            Applied::Nothing => WireApplied::Nothing,
            Applied::Done(json) => WireApplied::Done(json.to_string()),
            Applied::Failed { code, message } => WireApplied::Failed { code, message },
        }
    }
}

impl WireApplied {
    fn into_applied(self) -> Result<Applied, ClusterError> {
        Ok(match self {
            WireApplied::Nothing => Applied::Nothing,
            WireApplied::Done(text) => {
                Applied::Done(serde_json::from_str(&text).map_err(|e| {
                    ClusterError::Raft(format!("undecodable outcome {text:?}: {e}"))
                })?)
            }
            WireApplied::Failed { code, message } => Applied::Failed { code, message },
        })
    }
}

/// Why the executing node did not produce a [`Reply`]. `NotLeader` and
/// `Unavailable` promise that nothing was done (the caller may retry).
#[derive(Debug, Serialize, Deserialize)]
enum Failure {
    NotLeader {
        leader: Option<(NodeId, String)>,
    },
    Unavailable(String),
    Timeout {
        waited_ms: u64,
        may_have_applied: bool,
    },
    Ambiguous(String),
    Rejected {
        code: String,
        message: String,
    },
    NotMember(NodeId),
    InvalidRequest(String),
    Raft(String),
    Storage(String),
}

impl Failure {
    fn into_error(self) -> ClusterError {
        match self {
            Failure::NotLeader { .. } | Failure::Unavailable(_) => ClusterError::NoLeader,
            Failure::Timeout {
                waited_ms,
                may_have_applied,
            } => ClusterError::Timeout {
                waited: Duration::from_millis(waited_ms),
                may_have_applied,
            },
            Failure::Ambiguous(reason) => ClusterError::Ambiguous { reason },
            Failure::Rejected { code, message } => ClusterError::Rejected { code, message },
            Failure::NotMember(id) => ClusterError::NotMember { id },
            Failure::InvalidRequest(m) => ClusterError::InvalidRequest(m),
            Failure::Raft(m) => ClusterError::Raft(m),
            Failure::Storage(m) => ClusterError::Storage(m),
        }
    }

    fn timeout(budget: Duration, may_have_applied: bool) -> Failure {
        Failure::Timeout {
            waited_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
            may_have_applied,
        }
    }
}

/// The body of a [`FORWARD_PATH`] request.
#[derive(Debug, Serialize, Deserialize)]
struct ForwardRequest {
    version: u32,
    /// The node the sender means (the receiver answers 421 if it is
    /// another one).
    target: NodeId,
    /// How long the receiver may take, in milliseconds.
    budget_ms: u64,
    op: Op,
}

/// What a retry loop does next.
enum Attempt {
    Done(Reply),
    /// Nothing was done; try again (at the hinted leader, if any).
    Retry {
        no_leader: bool,
        hint: Option<(NodeId, String)>,
    },
    Fail(ClusterError),
}

fn fatal_error(e: Fatal<NodeId>) -> ClusterError {
    match fatal_failure(e) {
        Failure::Storage(m) => ClusterError::Storage(m),
        other => other.into_error(),
    }
}

fn fatal_failure(e: Fatal<NodeId>) -> Failure {
    match e {
        Fatal::StorageError(e) => Failure::Storage(e.to_string()),
        other => Failure::Raft(other.to_string()),
    }
}

fn unexpected(reply: &Reply) -> ClusterError {
    ClusterError::Raft(format!("unexpected reply {reply:?}"))
}

fn leader_hint(f: &ForwardToLeader<NodeId, Node>) -> Option<(NodeId, String)> {
    Some((f.leader_id?, f.leader_node.as_ref()?.addr.clone()))
}

/// Maps a failed membership change. Every one of these happened before an
/// entry was appended, or (`ForwardToLeader` after a truncation) concerns
/// a change that is harmless to make again.
fn membership_failure(e: RaftError<NodeId, ClientWriteError<NodeId, Node>>) -> Failure {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Failure::NotLeader {
            leader: leader_hint(&f),
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => match e {
            ChangeMembershipError::InProgress(e) => Failure::Unavailable(e.to_string()),
            ChangeMembershipError::LearnerNotFound(e) => Failure::NotMember(e.node_id),
            ChangeMembershipError::EmptyMembership(e) => Failure::InvalidRequest(e.to_string()),
        },
        RaftError::Fatal(e) => fatal_failure(e),
    }
}

impl Inner {
    fn metrics(&self) -> RaftMetrics<NodeId, Node> {
        self.raft.metrics().borrow().clone()
    }

    /// The leader `m` names, other than this node, with its address.
    fn known_leader(&self, m: &RaftMetrics<NodeId, Node>) -> Option<(NodeId, String)> {
        let id = m.current_leader.filter(|&l| l != self.id)?;
        let node = m.membership_config.membership().get_node(&id)?;
        Some((id, node.addr.clone()))
    }

    /// The log entries of `m`: one, or several for a large upsert.
    fn entries(&self, m: Mutation) -> Result<Vec<Vec<u8>>, ClusterError> {
        let max = self.config.max_entry_bytes;
        let hard = self.config.transport.max_body_bytes - ENTRY_ENVELOPE;
        let bytes = m.encode();
        if bytes.len() <= max {
            return Ok(vec![bytes]);
        }
        let entries = match m {
            Mutation::Upsert { collection, points } if points.len() > 1 => {
                let mut out = Vec::new();
                split_upsert(&collection, points, bytes.len(), max, &mut out);
                out
            }
            _ => vec![bytes],
        };
        if let Some(big) = entries.iter().find(|e| e.len() > hard) {
            return Err(ClusterError::InvalidRequest(format!(
                "a mutation (or a single point) of {} bytes exceeds the largest entry the \
                 cluster replicates, {hard} bytes",
                big.len()
            )));
        }
        Ok(entries)
    }

    /// The deliberately broken write of [`Faults::set_ack_before_commit`]:
    /// hands `entries` to Raft in the background and makes up the answer
    /// (the next log index, an empty outcome) without waiting for the
    /// commit.
    fn ack_before_commit(&self, entries: Vec<Vec<u8>>) -> Written {
        let next = self.metrics().last_log_index.map_or(0, |i| i + 1);
        let count = entries.len() as u64;
        let raft = self.raft.clone();
        tokio::spawn(async move {
            for mutation in entries {
                if let Err(e) = raft.client_write(Command { mutation }).await {
                    tracing::warn!("write acknowledged before its commit failed: {e}");
                }
            }
        });
        tracing::warn!("fault injection: a write acknowledged before its commit");
        Written {
            log_index: next + count - 1,
            applied: Applied::Done(Outcome::Done.to_json()),
        }
    }

    /// Runs `op` on the leader, wherever it is, until `deadline` (see the
    /// module documentation for what is retried). `budget` is the call's
    /// whole time budget, for error messages.
    async fn run(
        &self,
        op: &Op,
        deadline: Instant,
        budget: Duration,
    ) -> Result<Reply, ClusterError> {
        // Only a read index may be asked again after an ambiguous failure.
        let idempotent = matches!(op, Op::ReadIndex);
        let mut hint: Option<(NodeId, String)> = None;
        let mut no_leader = true;
        loop {
            if Instant::now() >= deadline {
                return Err(if no_leader {
                    ClusterError::NoLeader
                } else {
                    ClusterError::Timeout {
                        waited: budget,
                        may_have_applied: false,
                    }
                });
            }
            let m = self.metrics();
            if let Err(e) = &m.running_state {
                return Err(fatal_error(e.clone()));
            }
            let target = if m.state == ServerState::Leader {
                None
            } else {
                match hint.take().or_else(|| self.known_leader(&m)) {
                    Some(leader) => Some(leader),
                    None => {
                        no_leader = true;
                        self.pause(deadline).await;
                        continue;
                    }
                }
            };
            let attempt = match target {
                None => classify(self.execute(op, deadline).await),
                Some((id, addr)) => {
                    self.attempt_remote(id, &addr, op, idempotent, deadline, budget)
                        .await
                }
            };
            match attempt {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry {
                    no_leader: n,
                    hint: h,
                } => {
                    no_leader = n;
                    hint = h.filter(|(id, _)| *id != self.id);
                }
            }
            self.pause(deadline).await;
        }
    }

    /// Sends `op` to the presumed leader `id`. A request that must not be
    /// repeated is preceded by a probe through the same connection pool:
    /// a pooled connection that the leader closed while it was idle (or
    /// that died with the leader) fails the probe, which is safe to retry,
    /// instead of failing the write ambiguously; and a node that is no
    /// longer the leader is found before the write is sent. What remains
    /// ambiguous is a failure within the round trip after the probe.
    async fn attempt_remote(
        &self,
        id: NodeId,
        addr: &str,
        op: &Op,
        idempotent: bool,
        deadline: Instant,
        budget: Duration,
    ) -> Attempt {
        if !idempotent {
            match self.send(id, addr, &Op::Probe, deadline).await {
                Ok(Ok(Reply::Probe { leader: true, .. })) => {}
                Ok(Ok(Reply::Probe { hint, .. })) => {
                    return Attempt::Retry {
                        no_leader: true,
                        hint,
                    };
                }
                Ok(Ok(other)) => return Attempt::Fail(unexpected(&other)),
                Ok(Err(f)) => return classify(Err(f)),
                Err(e) => return classify_transport(e, true, budget),
            }
        }
        match self.send(id, addr, op, deadline).await {
            Ok(result) => classify(result),
            Err(e) => classify_transport(e, idempotent, budget),
        }
    }

    /// Waits for the metrics to change (a new leader, a new term), at most
    /// [`RETRY_PAUSE`] and at least [`MIN_RETRY_PAUSE`], never past
    /// `deadline`.
    async fn pause(&self, deadline: Instant) {
        let start = Instant::now();
        let mut rx = self.raft.metrics();
        rx.borrow_and_update();
        let until = deadline.min(start + RETRY_PAUSE);
        let _ = tokio::time::timeout_at(until, rx.changed()).await;
        tokio::time::sleep_until(deadline.min(start + MIN_RETRY_PAUSE)).await;
    }

    /// Sends `op` to node `id` at `addr` and returns its answer.
    async fn send(
        &self,
        id: NodeId,
        addr: &str,
        op: &Op,
        deadline: Instant,
    ) -> Result<Result<Reply, Failure>, TransportError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        // The receiver stops a little early, so that its own timeout answer
        // arrives before ours.
        let budget = remaining.saturating_sub((remaining / 4).min(Duration::from_millis(250)));
        let body = encode(&ForwardRequestRef {
            version: FORWARD_VERSION,
            target: id,
            budget_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
            op,
        })?;
        let (status, body) = self
            .transport
            .post_bytes(addr, FORWARD_PATH, body, remaining)
            .await?;
        if status != 200 {
            return Err(TransportError::Status {
                addr: addr.to_string(),
                path: FORWARD_PATH.to_string(),
                status,
                message: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
            });
        }
        decode(&body).map_err(|reason| TransportError::Decode {
            addr: addr.to_string(),
            path: FORWARD_PATH.to_string(),
            reason,
        })
    }

    /// Executes `op` here: the leader's side of every call (local or
    /// forwarded), and the answer to a probe.
    async fn execute(&self, op: &Op, deadline: Instant) -> Result<Reply, Failure> {
        let m = self.metrics();
        let probe = |m: &RaftMetrics<NodeId, Node>| Reply::Probe {
            term: m.current_term,
            last_log_index: m.last_log_index,
            leader: m.state == ServerState::Leader,
            hint: self.known_leader(m),
        };
        if let Op::Probe = op {
            return Ok(probe(&m));
        }
        if m.state != ServerState::Leader {
            return Err(Failure::NotLeader {
                leader: self.known_leader(&m),
            });
        }
        let budget = deadline.saturating_duration_since(Instant::now());
        match op {
            Op::Write { mutation } => {
                let command = Command {
                    mutation: mutation.clone(),
                };
                match tokio::time::timeout_at(deadline, self.raft.client_write(command)).await {
                    Err(_) => Err(Failure::timeout(budget, true)),
                    Ok(Ok(response)) => Ok(Reply::Written {
                        log_index: response.log_id.index,
                        applied: response.data.into(),
                    }),
                    Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                        Err(Failure::Ambiguous(format!(
                            "this node (leader {}) lost its leadership (to {:?}) while the write \
                             was in flight",
                            self.id, f.leader_id
                        )))
                    }
                    Ok(Err(RaftError::APIError(e))) => Err(Failure::Raft(e.to_string())),
                    Ok(Err(RaftError::Fatal(e))) => Err(Failure::Ambiguous(format!(
                        "the leader stopped while the write was in flight: {e}"
                    ))),
                }
            }
            Op::ReadIndex => {
                match tokio::time::timeout_at(deadline, self.raft.get_read_log_id()).await {
                    Err(_) => Err(Failure::timeout(budget, false)),
                    Ok(Ok((read, _applied))) => Ok(Reply::ReadIndex {
                        index: read.map(|l| l.index),
                    }),
                    Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                        Err(Failure::NotLeader {
                            leader: leader_hint(&f),
                        })
                    }
                    Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                        Err(Failure::Unavailable(e.to_string()))
                    }
                    Ok(Err(RaftError::Fatal(e))) => Err(fatal_failure(e)),
                }
            }
            Op::AddLearner { id, addr } => {
                let membership = m.membership_config.membership();
                if let Some(node) = membership.get_node(id)
                    && node.addr != *addr
                {
                    return Err(Failure::InvalidRequest(format!(
                        "node {id} is a member at {}; remove it before adding it at {addr} \
                         (a node whose data was wiped rejoins under a new id)",
                        node.addr
                    )));
                }
                let added = tokio::time::timeout_at(
                    deadline,
                    self.raft.add_learner(*id, Node::new(addr.clone()), false),
                )
                .await
                .map_err(|_| Failure::timeout(budget, true))?
                .map_err(membership_failure)?;
                self.catch_up(*id, deadline, budget).await?;
                Ok(Reply::Membership {
                    log_index: Some(added.log_id.index),
                })
            }
            Op::Promote { id } => {
                let membership = m.membership_config.membership();
                if membership.voter_ids().any(|v| v == *id) {
                    return Ok(Reply::Membership {
                        log_index: m.membership_config.log_id().map(|l| l.index),
                    });
                }
                if membership.get_node(id).is_none() {
                    return Err(Failure::NotMember(*id));
                }
                let change = ChangeMembers::AddVoterIds(BTreeSet::from([*id]));
                let changed =
                    tokio::time::timeout_at(deadline, self.raft.change_membership(change, true))
                        .await
                        .map_err(|_| Failure::timeout(budget, true))?
                        .map_err(membership_failure)?;
                Ok(Reply::Membership {
                    log_index: Some(changed.log_id.index),
                })
            }
            Op::Remove { id } => {
                let membership = m.membership_config.membership();
                if membership.get_node(id).is_none() {
                    return Err(Failure::NotMember(*id));
                }
                let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
                let change = if voters.contains(id) {
                    if voters.len() == 1 {
                        return Err(Failure::InvalidRequest(format!(
                            "node {id} is the last voter; the cluster cannot remove it"
                        )));
                    }
                    ChangeMembers::RemoveVoters(BTreeSet::from([*id]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([*id]))
                };
                let changed =
                    tokio::time::timeout_at(deadline, self.raft.change_membership(change, false))
                        .await
                        .map_err(|_| Failure::timeout(budget, true))?
                        .map_err(membership_failure)?;
                Ok(Reply::Membership {
                    log_index: Some(changed.log_id.index),
                })
            }
            Op::Probe => Ok(probe(&m)),
        }
    }

    /// On the leader, after adding learner `id`: waits until the leader
    /// replicated to it every entry its log held then. Stops waiting
    /// without an error if this node loses its leadership or `id` leaves
    /// the membership (the new leader keeps replicating).
    async fn catch_up(
        &self,
        id: NodeId,
        deadline: Instant,
        budget: Duration,
    ) -> Result<(), Failure> {
        let target = self.metrics().last_log_index;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let caught_up = move |m: &RaftMetrics<NodeId, Node>| {
            let Some(replication) = &m.replication else {
                return true;
            };
            if m.membership_config.membership().get_node(&id).is_none() {
                return true;
            }
            let matched = replication.get(&id).and_then(|l| l.map(|l| l.index));
            matched >= target
        };
        match self
            .raft
            .wait(Some(remaining))
            .metrics(caught_up, format!("learner {id} catches up"))
            .await
        {
            Ok(_) => Ok(()),
            Err(WaitError::Timeout(..)) => Err(Failure::timeout(budget, true)),
            Err(WaitError::ShuttingDown) => Err(Failure::Raft("the node is shutting down".into())),
        }
    }

    /// Refuses to add node `id` at `addr` unless it answers as `id` with
    /// empty Raft data.
    async fn check_joiner(
        &self,
        id: NodeId,
        addr: &str,
        deadline: Instant,
    ) -> Result<(), ClusterError> {
        let reply = if id == self.id {
            self.execute(&Op::Probe, deadline).await
        } else {
            self.send(id, addr, &Op::Probe, deadline).await?
        };
        match reply.map_err(Failure::into_error)? {
            Reply::Probe {
                term,
                last_log_index: Some(last),
                ..
            } => Err(ClusterError::InvalidRequest(format!(
                "node {id} at {addr} already holds Raft state (term {term}, last log index \
                 {last}) and is not a member: it was initialized on its own or belonged to \
                 another cluster; start it with empty Raft data (and a new id)"
            ))),
            Reply::Probe { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Waits until this node applied entry `index`; a timeout means the
    /// entry is committed but not applied here yet.
    async fn wait_applied(
        &self,
        index: u64,
        deadline: Instant,
        budget: Duration,
    ) -> Result<(), ClusterError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match self
            .raft
            .wait(Some(remaining))
            .applied_index_at_least(Some(index), format!("node {} applies {index}", self.id))
            .await
        {
            Ok(_) => Ok(()),
            Err(WaitError::Timeout(..)) => Err(ClusterError::Timeout {
                waited: budget,
                may_have_applied: true,
            }),
            Err(WaitError::ShuttingDown) => {
                Err(ClusterError::Raft("the node is shutting down".into()))
            }
        }
    }

    async fn wait_membership(
        &self,
        reply: Reply,
        deadline: Instant,
        budget: Duration,
    ) -> Result<(), ClusterError> {
        match reply {
            Reply::Membership {
                log_index: Some(index),
            } => self.wait_applied(index, deadline, budget).await,
            Reply::Membership { log_index: None } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

/// The request as sent: [`ForwardRequest`] with a borrowed op (serialises
/// the same).
#[derive(Serialize)]
struct ForwardRequestRef<'a> {
    version: u32,
    target: NodeId,
    budget_ms: u64,
    op: &'a Op,
}

fn classify(result: Result<Reply, Failure>) -> Attempt {
    match result {
        Ok(reply) => Attempt::Done(reply),
        Err(Failure::NotLeader { leader }) => Attempt::Retry {
            no_leader: true,
            hint: leader,
        },
        Err(Failure::Unavailable(reason)) => {
            tracing::debug!(%reason, "leader unavailable, retrying");
            Attempt::Retry {
                no_leader: false,
                hint: None,
            }
        }
        Err(f) => Attempt::Fail(f.into_error()),
    }
}

/// A failed forward: retried when nothing was sent; when the request may
/// have been received, retried only if `idempotent`.
fn classify_transport(e: TransportError, idempotent: bool, budget: Duration) -> Attempt {
    match e {
        TransportError::Connect { .. } => {
            tracing::debug!(error = %e, "leader unreachable, retrying");
            Attempt::Retry {
                no_leader: true,
                hint: None,
            }
        }
        TransportError::Timeout { .. }
        | TransportError::Exchange { .. }
        | TransportError::ResponseTooLarge { .. }
        | TransportError::Decode { .. } => {
            if idempotent {
                tracing::debug!(error = %e, "forwarded request failed, retrying");
                Attempt::Retry {
                    no_leader: false,
                    hint: None,
                }
            } else if let TransportError::Timeout { .. } = e {
                Attempt::Fail(ClusterError::Timeout {
                    waited: budget,
                    may_have_applied: true,
                })
            } else {
                Attempt::Fail(ClusterError::Ambiguous {
                    reason: e.to_string(),
                })
            }
        }
        // The receiver refused before looking at the request (it is cut
        // off, see `Faults::set_partitioned`): nothing was done.
        TransportError::Status { status: 503, .. } => {
            tracing::debug!(error = %e, "leader unavailable, retrying");
            Attempt::Retry {
                no_leader: true,
                hint: None,
            }
        }
        other => Attempt::Fail(ClusterError::Transport(other)),
    }
}

/// Cuts the points of an upsert whose encoding is `encoded` bytes into
/// upserts of at most `max` bytes (as far as single points allow), in
/// order, and pushes their encodings to `out`.
fn split_upsert(
    collection: &str,
    points: Vec<PointData>,
    encoded: usize,
    max: usize,
    out: &mut Vec<Vec<u8>>,
) {
    // Aim a little below the limit, so that few pieces need cutting again.
    let pieces = encoded
        .div_ceil((max / 10 * 9).max(1))
        .clamp(2, points.len().max(2));
    let per = points.len().div_ceil(pieces).max(1);
    let mut rest = points.into_iter();
    loop {
        let chunk: Vec<PointData> = rest.by_ref().take(per).collect();
        if chunk.is_empty() {
            return;
        }
        let piece = Mutation::Upsert {
            collection: collection.to_string(),
            points: chunk,
        };
        let bytes = piece.encode();
        match piece {
            Mutation::Upsert { points, .. } if bytes.len() > max && points.len() > 1 => {
                split_upsert(collection, points, bytes.len(), max, out);
            }
            _ => out.push(bytes),
        }
    }
}

// --- the receiving side -----------------------------------------------------

async fn forward(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Body) -> Response {
    // The target node is checked below, from the request itself.
    let bytes = match admit_body(&inner.config.transport, &headers, body).await {
        Ok(bytes) => bytes,
        Err(rejected) => return rejected,
    };
    let request: ForwardRequest = match decode(&bytes) {
        Ok(request) => request,
        Err(reason) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("undecodable forwarded request: {reason}"),
            )
                .into_response();
        }
    };
    if request.version != FORWARD_VERSION {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "forwarding protocol version {} is not supported, this node speaks {FORWARD_VERSION}",
                request.version
            ),
        )
            .into_response();
    }
    if request.target != inner.id {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            format!("this is node {}, not node {}", inner.id, request.target),
        )
            .into_response();
    }
    let budget = Duration::from_millis(request.budget_ms).min(MAX_FORWARD_BUDGET);
    let result = inner.execute(&request.op, Instant::now() + budget).await;
    match encode(&result) {
        Ok(bytes) => ([(CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the reply: {e}"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grape_core::payload::PointId;

    fn points(n: u64, dim: usize) -> Vec<PointData> {
        (0..n)
            .map(|i| {
                PointData::dense(
                    PointId::Num(i),
                    vec![i as f32 + 1.0; dim],
                    serde_json::Map::new(),
                )
            })
            .collect()
    }

    #[test]
    fn split_upsert_keeps_order_and_fits() {
        let all = points(1000, 32);
        let encoded = Mutation::Upsert {
            collection: "c".into(),
            points: all.clone(),
        }
        .encode()
        .len();
        let max = encoded / 7;
        let mut out = Vec::new();
        split_upsert("c", all.clone(), encoded, max, &mut out);
        assert!(out.len() >= 7, "{} pieces", out.len());
        let mut ids = Vec::new();
        for bytes in &out {
            assert!(bytes.len() <= max, "{} > {max}", bytes.len());
            match Mutation::decode(bytes).unwrap() {
                Mutation::Upsert { collection, points } => {
                    assert_eq!(collection, "c");
                    ids.extend(points.into_iter().map(|p| p.id));
                }
                other => panic!("{other:?}"),
            }
        }
        let expected: Vec<PointId> = all.into_iter().map(|p| p.id).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn forward_request_ref_encodes_like_the_owned_request() {
        let op = Op::Write {
            mutation: vec![1, 2, 3],
        };
        let borrowed = encode(&ForwardRequestRef {
            version: FORWARD_VERSION,
            target: 7,
            budget_ms: 1234,
            op: &op,
        })
        .unwrap();
        let decoded: ForwardRequest = decode(&borrowed).unwrap();
        assert_eq!(decoded.target, 7);
        assert_eq!(decoded.budget_ms, 1234);
        assert!(matches!(decoded.op, Op::Write { mutation } if mutation == [1, 2, 3]));
    }

    /// Regression: `Applied` holds a `serde_json::Value`, which bincode
    /// cannot decode; a forwarded write's reply must still round-trip.
    #[test]
    fn written_reply_round_trips_through_bincode() {
        let outcome = Outcome::Seq(42).to_json();
        let reply: Result<Reply, Failure> = Ok(Reply::Written {
            log_index: 9,
            applied: Applied::Done(outcome.clone()).into(),
        });
        let decoded: Result<Reply, Failure> = decode(&encode(&reply).unwrap()).unwrap();
        match decoded {
            Ok(Reply::Written { log_index, applied }) => {
                assert_eq!(log_index, 9);
                assert_eq!(applied.into_applied().unwrap(), Applied::Done(outcome));
            }
            other => panic!("{other:?}"),
        }
        let failed: Result<Reply, Failure> = Err(Failure::Rejected {
            code: "unknown_collection".into(),
            message: "unknown collection \"x\"".into(),
        });
        let decoded: Result<Reply, Failure> = decode(&encode(&failed).unwrap()).unwrap();
        assert!(matches!(
            decoded.unwrap_err().into_error(),
            ClusterError::Rejected { code, .. } if code == "unknown_collection"
        ));
    }

    #[test]
    fn config_is_checked() {
        let config = NodeConfig::new(1, "127.0.0.1:1", "/tmp/x");
        assert!(config.raft_config().is_ok());
        assert!(config.max_entry_bytes <= config.transport.max_body_bytes / 4);
        let mut bad = config.clone();
        bad.max_entry_bytes = bad.transport.max_body_bytes;
        assert!(matches!(
            bad.raft_config(),
            Err(ClusterError::InvalidRequest(_))
        ));
        let mut bad = config.clone();
        bad.election_timeout = (Duration::from_millis(50), Duration::from_millis(60));
        assert!(matches!(
            bad.raft_config(),
            Err(ClusterError::InvalidRequest(_))
        ));
        let mut bad = config;
        bad.addr.clear();
        assert!(bad.raft_config().is_err());
    }
}
