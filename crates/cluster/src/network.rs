//! The transport between nodes: Raft RPCs and forwarded requests as HTTP/1.1
//! POSTs over the nodes' REST listeners.
//!
//! - [`Transport`]: a pooled hyper client (keep-alive, `TCP_NODELAY`) with
//!   the [`TransportOptions`]; cheap to clone. [`Transport::post_bytes`] is
//!   the generic "send these bytes to that node" call the server uses to
//!   forward writes and read-index requests to the leader.
//! - [`HttpNetwork`]: openraft's [`RaftNetworkFactory`] over a [`Transport`];
//!   its [`HttpConnection`]s send `append_entries`, `vote` and the chunks of
//!   `install_snapshot` to [`APPEND_PATH`], [`VOTE_PATH`], [`SNAPSHOT_PATH`].
//! - [`raft_routes`]: the receiving side, an axum router for those paths
//!   that the server merges into its REST router.
//!
//! # Wire format
//!
//! Request and response bodies are bincode 2 (`config::standard()`, via
//! serde) with content type `application/octet-stream`. A request body is
//! the openraft request; a `200` response body is the bincode of
//! `Result<Response, RaftError>`, so that an error of the remote Raft
//! (`RemoteError`) is told apart from a transport failure. Any other status
//! is a transport-level rejection with a plain-text reason:
//!
//! | status | meaning |
//! |---|---|
//! | 400 | undecodable body, or the [`TARGET_HEADER`] is missing |
//! | 401 | missing or wrong [`CLUSTER_KEY_HEADER`] |
//! | 413 | body larger than [`TransportOptions::max_body_bytes`] |
//! | 421 | the request was meant for another node id (wrong address) |
//! | 503 | the node is cut off by fault injection ([`Faults::set_partitioned`], tests only) |
//!
//! # Errors, timeouts and retries
//!
//! Every RPC is bounded by openraft's [`RPCOption::soft_ttl`]: openraft
//! drops the call itself at `hard_ttl`, so finishing at `soft_ttl` lets the
//! transport report *why* it failed. Failures map to openraft's classes:
//!
//! - no connection (refused, unresolvable, connect timeout), a wrong key
//!   (401), a wrong node (421) or an invalid address: [`Unreachable`], so
//!   openraft backs off instead of retrying a request that cannot succeed;
//! - a timeout, a reset connection, a bad status or an undecodable or
//!   oversized response: [`NetworkError`];
//! - an error of the remote Raft: [`RemoteError`];
//! - an `append_entries` larger than the body limit (found before sending,
//!   or a 413 from the receiver): [`PayloadTooLarge`] with a hint of how
//!   many entries fit, so openraft resends fewer; a single entry that does
//!   not fit is [`Unreachable`] (splitting cannot help).
//!
//! Retries: openraft owns the retry policy of replication (it resends
//! `append_entries` on its next round, backs off after [`Unreachable`], and
//! retries snapshot chunks), so the transport never repeats a request that
//! may have reached the peer. The one exception is a failed *connect*:
//! nothing was sent, so it is retried once, after a short pause, when the
//! failure came fast (within the first half of the time budget). That
//! absorbs a peer that is just restarting without touching openraft's timing.
//! Stale pooled keep-alive connections are already retried by hyper.
//!
//! # Message sizes
//!
//! One limit, [`TransportOptions::max_body_bytes`] (64 MiB by default),
//! bounds every body in both directions: the sender refuses an oversized
//! request before sending it, the receiver answers 413 without reading
//! past the limit, and responses are read up to the limit. Snapshots travel
//! in chunks of openraft's `Config::snapshot_max_chunk_size`, which must
//! stay below the limit (plus a few hundred bytes for the snapshot's
//! metadata and membership).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use crate::types::{Node, NodeId, Raft, TypeConfig};

/// Path of the `append_entries` RPC.
pub const APPEND_PATH: &str = "/cluster/raft/append";
/// Path of the `vote` RPC.
pub const VOTE_PATH: &str = "/cluster/raft/vote";
/// Path of the chunked `install_snapshot` RPC.
pub const SNAPSHOT_PATH: &str = "/cluster/raft/snapshot";
/// Header carrying the cluster's shared secret ([`TransportOptions::cluster_key`]).
pub const CLUSTER_KEY_HEADER: &str = "x-grape-cluster-key";
/// Header carrying the node id a Raft RPC is meant for; the receiver
/// answers 421 if it is not that node (openraft leaves "ensure connection
/// to the correct node" to the network implementation).
pub const TARGET_HEADER: &str = "x-grape-raft-target";

const OCTET_STREAM: &str = "application/octet-stream";

/// Fault switches for tests (the server turns them on only when started
/// with its hidden `--fault-injection` flag). One handle is shared by the
/// transport, the receiving routes and the [`ClusterNode`](crate::ClusterNode)
/// of a node, through [`TransportOptions::faults`]; clones share the switches.
/// All are off by default and cost one atomic load each where they are
/// checked.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    switches: Arc<Switches>,
}

#[derive(Debug, Default)]
struct Switches {
    partitioned: AtomicBool,
    ack_before_commit: AtomicBool,
}

impl Faults {
    /// Whether this node is cut off from the others (see
    /// [`set_partitioned`](Self::set_partitioned)).
    pub fn partitioned(&self) -> bool {
        self.switches.partitioned.load(Ordering::Relaxed)
    }

    /// Cuts this node off from the others (a full network partition, both
    /// directions) or heals it: while set, every Raft RPC and forwarded
    /// request it sends fails at once as a connect error (nothing sent),
    /// and its Raft and forwarding endpoints answer 503 without touching
    /// Raft. Its client API keeps answering.
    pub fn set_partitioned(&self, on: bool) {
        self.switches.partitioned.store(on, Ordering::Relaxed);
    }

    /// Whether the deliberately broken write mode is on (see
    /// [`set_ack_before_commit`](Self::set_ack_before_commit)).
    pub fn ack_before_commit(&self) -> bool {
        self.switches.ack_before_commit.load(Ordering::Relaxed)
    }

    /// **Breaks the node on purpose**, to prove that a history checker
    /// catches lost acknowledged writes: while set,
    /// [`ClusterNode::write`](crate::ClusterNode::write) on the leader hands
    /// the entry to Raft in the background and reports success at once,
    /// with a made-up log index and outcome, without waiting for the
    /// commit.
    pub fn set_ack_before_commit(&self, on: bool) {
        self.switches.ack_before_commit.store(on, Ordering::Relaxed);
    }
}

/// Configuration of the transport, shared by the sending and receiving side.
#[derive(Clone)]
#[non_exhaustive]
pub struct TransportOptions {
    /// The largest request or response body, in bytes, either way.
    /// Default 64 MiB.
    pub max_body_bytes: usize,
    /// A secret every member sends in [`CLUSTER_KEY_HEADER`] and checks on
    /// every request it receives (compared in constant time). `None`: no
    /// check. Default `None`.
    pub cluster_key: Option<String>,
    /// How long opening a TCP connection may take (it is also cut short by
    /// the request's own time budget). Default 1 s.
    pub connect_timeout: Duration,
    /// How long an idle pooled connection is kept open. Default 60 s.
    pub pool_idle_timeout: Duration,
    /// The node's fault switches (tests only); all off by default.
    pub faults: Faults,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            max_body_bytes: 64 << 20,
            cluster_key: None,
            connect_timeout: Duration::from_secs(1),
            pool_idle_timeout: Duration::from_secs(60),
            faults: Faults::default(),
        }
    }
}

impl fmt::Debug for TransportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportOptions")
            .field("max_body_bytes", &self.max_body_bytes)
            .field(
                "cluster_key",
                &self.cluster_key.as_ref().map(|_| "<redacted>"),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("faults", &self.faults)
            .finish()
    }
}

impl TransportOptions {
    /// Sets [`max_body_bytes`](Self::max_body_bytes).
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets [`cluster_key`](Self::cluster_key).
    #[must_use]
    pub fn with_cluster_key(mut self, key: impl Into<String>) -> Self {
        self.cluster_key = Some(key.into());
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`faults`](Self::faults) (tests only).
    #[must_use]
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Whether a request's headers carry the cluster key (always true when
    /// no key is configured). The comparison takes constant time for a key
    /// of the right length. For the server's own cluster-internal
    /// endpoints, such as the one receiving [`Transport::post_bytes`].
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.cluster_key else {
            return true;
        };
        headers
            .get(CLUSTER_KEY_HEADER)
            .is_some_and(|given| given.as_bytes().ct_eq(expected.as_bytes()).into())
    }
}

/// A failure to exchange a request with another node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// `http://{addr}{path}` is not a valid URI, or the cluster key is not a
    /// valid header value (caller input or configuration).
    #[error("invalid request to {addr}{path}: {reason}")]
    InvalidRequest {
        /// The node address.
        addr: String,
        /// The request path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request body is larger than the limit; it was not sent (caller input).
    #[error("request of {size} bytes exceeds the limit of {limit} bytes")]
    RequestTooLarge {
        /// The body's size.
        size: usize,
        /// [`TransportOptions::max_body_bytes`].
        limit: usize,
    },
    /// No connection to the node could be opened (refused, unresolvable,
    /// connect timeout): the node is down or unreachable. Nothing was sent.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The node address.
        addr: String,
        /// The connector's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// No complete response within the time budget; the request may or may
    /// not have been received.
    #[error("{addr}{path}: no response within {timeout:?}")]
    Timeout {
        /// The node address.
        addr: String,
        /// The request path.
        path: String,
        /// The time budget.
        timeout: Duration,
    },
    /// The exchange failed after connecting (connection reset, malformed
    /// response); the request may or may not have been received.
    #[error("{addr}{path}: {source}")]
    Exchange {
        /// The node address.
        addr: String,
        /// The request path.
        path: String,
        /// hyper's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The response body is larger than the limit (peer failure).
    #[error("{addr}{path}: response exceeds the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The node address.
        addr: String,
        /// The request path.
        path: String,
        /// [`TransportOptions::max_body_bytes`].
        limit: usize,
    },
    /// A Raft RPC was answered with a status other than 200 (see the
    /// module docs for the statuses the receiver uses).
    #[error("{addr}{path}: peer replied {status}: {message}")]
    Status {
        /// The node address.
        addr: String,
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The response body as text.
        message: String,
    },
    /// A request could not be encoded (internal failure).
    #[error("encoding the request: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// A 200 response could not be decoded (peer failure or version skew).
    #[error("{addr}{path}: undecodable response: {reason}")]
    Decode {
        /// The node address.
        addr: String,
        /// The request path.
        path: String,
        /// bincode's error or the trailing byte count.
        reason: String,
    },
}

/// The pooled HTTP/1.1 client with its options. Clones share the pool.
#[derive(Clone, Debug)]
pub struct Transport {
    client: Client<HttpConnector, Full<Bytes>>,
    options: Arc<TransportOptions>,
}

impl Transport {
    /// A transport with its own connection pool. Must be used inside a
    /// tokio runtime (connections are driven by spawned tasks).
    pub fn new(options: TransportOptions) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(options.connect_timeout));
        connector.set_keepalive(Some(options.pool_idle_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Transport {
            client,
            options: Arc::new(options),
        }
    }

    /// The options this transport was built with.
    pub fn options(&self) -> &TransportOptions {
        &self.options
    }

    /// POSTs `body` (as `application/octet-stream`, with the cluster key)
    /// to `http://{addr}{path}` and returns the response's status and body,
    /// whatever the status. The whole exchange is bounded by `timeout`.
    ///
    /// A failed connect is retried once if it failed within the first half
    /// of `timeout` (nothing was sent); nothing else is retried, so a
    /// non-idempotent request (a forwarded write) is never sent twice by
    /// the transport.
    pub async fn post_bytes(
        &self,
        addr: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), TransportError> {
        let (status, body) = self
            .send(addr, path, Bytes::from(body), None, timeout)
            .await?;
        Ok((status.as_u16(), body.to_vec()))
    }

    async fn send(
        &self,
        addr: &str,
        path: &str,
        body: Bytes,
        target: Option<NodeId>,
        budget: Duration,
    ) -> Result<(StatusCode, Bytes), TransportError> {
        if self.options.faults.partitioned() {
            return Err(TransportError::Connect {
                addr: addr.to_string(),
                source: Box::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "this node is partitioned (fault injection)",
                )),
            });
        }
        let limit = self.options.max_body_bytes;
        if body.len() > limit {
            return Err(TransportError::RequestTooLarge {
                size: body.len(),
                limit,
            });
        }
        let invalid = |reason: String| TransportError::InvalidRequest {
            addr: addr.to_string(),
            path: path.to_string(),
            reason,
        };
        let uri: Uri = format!("http://{addr}{path}")
            .parse()
            .map_err(|e| invalid(format!("{e}")))?;
        let key = match &self.options.cluster_key {
            Some(key) => Some(
                HeaderValue::from_str(key).map_err(|_| invalid("unusable cluster key".into()))?,
            ),
            None => None,
        };
        let start = Instant::now();
        let deadline = start + budget;
        let mut retried = false;
        loop {
            let mut request = Request::builder()
                .method(Method::POST)
                .uri(uri.clone())
                .header(CONTENT_TYPE, OCTET_STREAM);
            if let Some(key) = &key {
                request = request.header(CLUSTER_KEY_HEADER, key.clone());
            }
            if let Some(target) = target {
                request = request.header(TARGET_HEADER, target);
            }
            let request = request
                .body(Full::new(body.clone()))
                .map_err(|e| invalid(format!("{e}")))?;
            let outcome = tokio::time::timeout_at(deadline, self.exchange(request, addr, path))
                .await
                .unwrap_or_else(|_| {
                    Err(TransportError::Timeout {
                        addr: addr.to_string(),
                        path: path.to_string(),
                        timeout: budget,
                    })
                });
            match outcome {
                Err(TransportError::Connect { source, .. })
                    if !retried && start.elapsed() < budget / 2 =>
                {
                    tracing::debug!(addr, path, error = %source, "connect failed, retrying once");
                    retried = true;
                    let pause = (budget / 10).min(Duration::from_millis(50));
                    tokio::time::sleep_until((Instant::now() + pause).min(deadline)).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        addr: &str,
        path: &str,
    ) -> Result<(StatusCode, Bytes), TransportError> {
        let response = self.client.request(request).await.map_err(|e| {
            if e.is_connect() {
                TransportError::Connect {
                    addr: addr.to_string(),
                    source: Box::new(e),
                }
            } else {
                TransportError::Exchange {
                    addr: addr.to_string(),
                    path: path.to_string(),
                    source: Box::new(e),
                }
            }
        })?;
        let limit = self.options.max_body_bytes;
        let too_large = || TransportError::ResponseTooLarge {
            addr: addr.to_string(),
            path: path.to_string(),
            limit,
        };
        if content_length(response.headers()).is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let status = response.status();
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    too_large()
                } else {
                    TransportError::Exchange {
                        addr: addr.to_string(),
                        path: path.to_string(),
                        source: e,
                    }
                }
            })?
            .to_bytes();
        Ok((status, body))
    }

    /// Sends one Raft RPC and decodes the remote `Result`.
    async fn rpc<Req, Resp, E>(
        &self,
        target: NodeId,
        addr: &str,
        path: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Result<Resp, E>, TransportError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: DeserializeOwned,
    {
        let body = encode(request)?;
        let (status, body) = self
            .send(
                addr,
                path,
                Bytes::from(body),
                Some(target),
                option.soft_ttl(),
            )
            .await?;
        if status != StatusCode::OK {
            return Err(TransportError::Status {
                addr: addr.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                message: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
            });
        }
        decode(&body).map_err(|reason| TransportError::Decode {
            addr: addr.to_string(),
            path: path.to_string(),
            reason,
        })
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A node-to-node body: bincode 2 (serde), standard config.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
}

/// Decodes a whole body; trailing bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map_err(|e| e.to_string())?;
    if read != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - read));
    }
    Ok(value)
}

/// openraft's [`RaftNetworkFactory`] over a [`Transport`]: one cheap
/// [`HttpConnection`] per target, all sharing the transport's pool.
#[derive(Clone, Debug)]
pub struct HttpNetwork {
    transport: Transport,
}

impl HttpNetwork {
    /// A factory sending over `transport`.
    pub fn new(transport: Transport) -> Self {
        HttpNetwork { transport }
    }

    /// The transport, e.g. for [`Transport::post_bytes`].
    pub fn transport(&self) -> &Transport {
        &self.transport
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = HttpConnection;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> HttpConnection {
        HttpConnection {
            transport: self.transport.clone(),
            target,
            node: node.clone(),
        }
    }
}

/// The Raft RPCs to one node (its [`Node::addr`](openraft::BasicNode)).
/// Opens no connection by itself; requests use the transport's pool.
#[derive(Clone, Debug)]
pub struct HttpConnection {
    transport: Transport,
    target: NodeId,
    node: Node,
}

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, Node, RaftError<NodeId, E>>;

impl HttpConnection {
    /// Maps a transport failure to openraft's error classes (module docs).
    fn error<E: StdError>(&self, e: TransportError) -> RpcError<E> {
        let permanent = match &e {
            TransportError::Connect { .. } | TransportError::InvalidRequest { .. } => true,
            TransportError::Status { status, .. } => matches!(status, 401 | 413 | 421),
            TransportError::RequestTooLarge { .. } => true,
            _ => false,
        };
        tracing::debug!(target_node = self.target, error = %e, "raft rpc failed");
        if permanent {
            RPCError::Unreachable(Unreachable::new(&e))
        } else {
            RPCError::Network(NetworkError::new(&e))
        }
    }

    fn remote<E: StdError>(&self, e: RaftError<NodeId, E>) -> RpcError<E> {
        RPCError::RemoteError(RemoteError::new_with_node(
            self.target,
            self.node.clone(),
            e,
        ))
    }
}

impl RaftNetwork<TypeConfig> for HttpConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        let entries = rpc.entries.len() as u64;
        let result = self
            .transport
            .rpc(self.target, &self.node.addr, APPEND_PATH, &rpc, &option)
            .await;
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(self.remote(e)),
            Err(e) => {
                // Too large for the sender's or the receiver's limit: ask
                // openraft to send fewer entries, in proportion to the excess
                // when the size is known. One entry cannot be split.
                let hint = match &e {
                    TransportError::RequestTooLarge { size, limit } => {
                        Some((entries as u128 * *limit as u128 / *size as u128) as u64)
                    }
                    TransportError::Status { status: 413, .. } => Some(entries / 2),
                    _ => None,
                };
                match hint {
                    Some(hint) if entries > 1 => Err(RPCError::PayloadTooLarge(
                        PayloadTooLarge::new_entries_hint(hint.clamp(1, entries - 1))
                            .with_source_error(&e),
                    )),
                    _ => Err(self.error(e)),
                }
            }
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        let result = self
            .transport
            .rpc(self.target, &self.node.addr, SNAPSHOT_PATH, &rpc, &option)
            .await;
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(self.remote(e)),
            Err(e) => Err(self.error(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        let result = self
            .transport
            .rpc(self.target, &self.node.addr, VOTE_PATH, &rpc, &option)
            .await;
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(self.remote(e)),
            Err(e) => Err(self.error(e)),
        }
    }
}

struct Receiver {
    raft: Raft,
    id: NodeId,
    options: TransportOptions,
}

/// The receiving side of the Raft RPCs: `POST` [`APPEND_PATH`],
/// [`VOTE_PATH`] and [`SNAPSHOT_PATH`] handled by `raft`, with the key,
/// target and body-size checks of `options` (statuses in the module docs).
/// The body limit is enforced here, independently of any
/// `DefaultBodyLimit` layer of the router this is merged into.
pub fn raft_routes(raft: Raft, options: TransportOptions) -> Router {
    let id = raft.metrics().borrow().id;
    let receiver = Arc::new(Receiver { raft, id, options });
    Router::new()
        .route(APPEND_PATH, post(append))
        .route(VOTE_PATH, post(vote))
        .route(SNAPSHOT_PATH, post(snapshot))
        .with_state(receiver)
}

async fn append(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Body) -> Response {
    match admit::<AppendEntriesRequest<TypeConfig>>(&receiver, &headers, body).await {
        Ok(request) => reply(&receiver.raft.append_entries(request).await),
        Err(rejection) => rejection,
    }
}

async fn vote(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Body) -> Response {
    match admit::<VoteRequest<NodeId>>(&receiver, &headers, body).await {
        Ok(request) => reply(&receiver.raft.vote(request).await),
        Err(rejection) => rejection,
    }
}

async fn snapshot(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match admit::<InstallSnapshotRequest<TypeConfig>>(&receiver, &headers, body).await {
        Ok(request) => reply(&receiver.raft.install_snapshot(request).await),
        Err(rejection) => rejection,
    }
}

/// Checks key, target and size, then reads and decodes the body.
async fn admit<T: DeserializeOwned>(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, Response> {
    let bytes = admit_bytes(&receiver.options, receiver.id, headers, body).await?;
    decode(&bytes).map_err(|reason| {
        tracing::warn!(%reason, "undecodable raft request");
        reject(
            StatusCode::BAD_REQUEST,
            format!("undecodable request: {reason}"),
        )
    })
}

/// [`admit_body`] for a request that names its target node in
/// [`TARGET_HEADER`], which must be `id`.
async fn admit_bytes(
    options: &TransportOptions,
    id: NodeId,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Response> {
    let target = headers
        .get(TARGET_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<NodeId>().ok());
    match target {
        None => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                format!("missing or invalid {TARGET_HEADER}"),
            ));
        }
        Some(target) if target != id => {
            tracing::warn!(target, id, "raft request meant for another node");
            return Err(reject(
                StatusCode::MISDIRECTED_REQUEST,
                format!("this is node {id}, not node {target}"),
            ));
        }
        Some(_) => {}
    }
    admit_body(options, headers, body).await
}

/// The admission every node-to-node endpoint shares: a partitioned node
/// (fault injection) answers 503, a missing or wrong cluster key 401, a
/// body over the limit 413 (by its declared length, unread, or while
/// reading it); otherwise the body's bytes.
pub(crate) async fn admit_body(
    options: &TransportOptions,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Response> {
    if options.faults.partitioned() {
        return Err(reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node is partitioned (fault injection)".to_string(),
        ));
    }
    if !options.authorizes(headers) {
        tracing::warn!("raft request with a missing or wrong cluster key");
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            format!("missing or wrong {CLUSTER_KEY_HEADER}"),
        ));
    }
    let limit = options.max_body_bytes;
    let too_large = || {
        reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body exceeds the limit of {limit} bytes"),
        )
    };
    if content_length(headers).is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(reject(
            StatusCode::BAD_REQUEST,
            format!("reading the body: {e}"),
        )),
    }
}

fn reject(status: StatusCode, message: String) -> Response {
    (status, message).into_response()
}

fn reply<T: Serialize>(result: &T) -> Response {
    match encode(result) {
        Ok(bytes) => ([(CONTENT_TYPE, OCTET_STREAM)], bytes).into_response(),
        Err(e) => reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the response: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    async fn status(options: &TransportOptions, h: &HeaderMap, body: Vec<u8>) -> StatusCode {
        match admit_bytes(options, 7, h, Body::from(body)).await {
            Ok(_) => StatusCode::OK,
            Err(response) => response.status(),
        }
    }

    #[tokio::test]
    async fn admission_checks_key_target_and_size() {
        let options = TransportOptions::default()
            .with_cluster_key("s3cret")
            .with_max_body_bytes(16);
        let good = headers(&[(CLUSTER_KEY_HEADER, "s3cret"), (TARGET_HEADER, "7")]);
        assert_eq!(status(&options, &good, vec![0; 16]).await, StatusCode::OK);
        assert_eq!(
            status(&options, &good, vec![0; 17]).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let wrong_key = headers(&[(CLUSTER_KEY_HEADER, "s3creT"), (TARGET_HEADER, "7")]);
        assert_eq!(
            status(&options, &wrong_key, vec![]).await,
            StatusCode::UNAUTHORIZED
        );
        let no_key = headers(&[(TARGET_HEADER, "7")]);
        assert_eq!(
            status(&options, &no_key, vec![]).await,
            StatusCode::UNAUTHORIZED
        );
        let other_node = headers(&[(CLUSTER_KEY_HEADER, "s3cret"), (TARGET_HEADER, "8")]);
        assert_eq!(
            status(&options, &other_node, vec![]).await,
            StatusCode::MISDIRECTED_REQUEST
        );
        let no_target = headers(&[(CLUSTER_KEY_HEADER, "s3cret")]);
        assert_eq!(
            status(&options, &no_target, vec![]).await,
            StatusCode::BAD_REQUEST
        );
        // Without a configured key, none is needed.
        let open = TransportOptions::default();
        assert_eq!(
            status(&open, &headers(&[(TARGET_HEADER, "7")]), vec![1]).await,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn declared_length_over_the_limit_is_refused_unread() {
        let options = TransportOptions::default().with_max_body_bytes(16);
        let h = headers(&[(TARGET_HEADER, "7"), ("content-length", "1000")]);
        assert_eq!(
            status(&options, &h, vec![]).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn decode_rejects_trailing_bytes() {
        let mut bytes = encode(&42u64).unwrap();
        assert_eq!(decode::<u64>(&bytes), Ok(42));
        bytes.push(0);
        assert!(decode::<u64>(&bytes).is_err());
    }

    #[tokio::test]
    async fn a_partitioned_node_neither_sends_nor_admits() {
        let faults = Faults::default();
        let options = TransportOptions::default().with_faults(faults.clone());
        let h = headers(&[(TARGET_HEADER, "7")]);
        assert_eq!(status(&options, &h, vec![]).await, StatusCode::OK);
        faults.set_partitioned(true);
        assert_eq!(
            status(&options, &h, vec![]).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // Nothing listens on port 9 of the loopback either way; the
        // partition fails at once, without trying.
        let transport = Transport::new(options);
        let started = Instant::now();
        let sent = transport
            .post_bytes("127.0.0.1:9", "/x", vec![1], Duration::from_secs(5))
            .await;
        assert!(
            matches!(sent, Err(TransportError::Connect { .. })),
            "{sent:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(100));
        faults.set_partitioned(false);
        assert!(!faults.partitioned());
        assert_eq!(
            status(transport.options(), &h, vec![]).await,
            StatusCode::OK
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let options = TransportOptions::default().with_cluster_key("s3cret");
        assert!(!format!("{options:?}").contains("s3cret"));
    }
}
