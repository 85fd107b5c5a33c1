//! `grape` processes on 127.0.0.1 and a small HTTP client to talk to them.
//!
//! A [`Node`] is one child process with its own data directory and log
//! file, killed when the node is dropped (also when the test panics); a
//! [`Cluster`] starts the founding members with the same `--cluster` list
//! and prints the tail of every node's log when a test fails.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

/// The collection every test writes to.
pub const COLLECTION: &str = "c";

/// How long a node may take to answer an admin or read call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Only one test runs its cluster at a time: the machine has two cores,
/// and election timing is part of what the tests measure.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs a test body alone (see [`SERIAL`]) and within `limit`. Processes
/// the body started are killed when it ends, also on timeout or panic.
pub async fn serial<F: std::future::Future<Output = ()>>(limit: Duration, body: F) {
    let _turn = SERIAL.lock().await;
    if timeout(limit, body).await.is_err() {
        panic!("the test did not finish within {limit:?}");
    }
}

/// An HTTP answer: the status and the body (JSON when it parses, else a
/// string).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// Qdrant's `result`, or a panic naming the call.
    pub fn result(self, what: &str) -> Value {
        assert_eq!(self.status, 200, "{what}: {:?}", self.body);
        self.body["result"].clone()
    }
}

/// Why a call got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoAnswer {
    /// No connection (the process is down): nothing was sent.
    Connect(String),
    /// No complete answer within the client's time budget.
    Timeout,
    /// The connection broke during the exchange.
    Broken(String),
}

/// One request on a fresh connection, bounded by `budget`.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &Value,
    budget: Duration,
) -> Result<Reply, NoAnswer> {
    match timeout(budget, exchange(addr, method, path, body)).await {
        Ok(r) => r,
        Err(_) => Err(NoAnswer::Timeout),
    }
}

async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<Reply, NoAnswer> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| NoAnswer::Connect(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| NoAnswer::Broken(format!("handshake: {e}")))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let bytes = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(serde_json::to_vec(body).expect("a JSON body"))
    };
    let request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("an HTTP method"))
        .uri(path)
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(bytes))
        .expect("a request");
    let outcome = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| NoAnswer::Broken(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| NoAnswer::Broken(e.to_string()))?
            .to_bytes();
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok(Reply { status, body })
    }
    .await;
    driver.abort();
    outcome
}

/// A free loopback port (bound and released; another process could take
/// it in between, which is unlikely enough on a test machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// How the nodes of a test cluster run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Serve `POST /cluster/fault` (`--fault-injection`).
    pub fault_injection: bool,
    /// `--cluster-timeout-ms`: how long a write or read barrier waits.
    pub timeout_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fault_injection: false,
            timeout_ms: 5_000,
        }
    }
}

/// One `grape serve` child process.
pub struct Node {
    pub id: u64,
    pub addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
    /// The `--cluster` list, or `None` for a node waiting to be added.
    members: Option<String>,
    options: Options,
    child: Option<Child>,
}

impl Node {
    fn new(id: u64, root: &Path, members: Option<String>, options: Options) -> Node {
        let port = free_port();
        Node {
            id,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir: root.join(format!("node{id}")),
            log: root.join(format!("node{id}.log")),
            members,
            options,
            child: None,
        }
    }

    /// Starts the process on the node's data directory and port (again,
    /// after a kill).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "node {} is running", self.id);
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the node's log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_grape"));
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["--host", "127.0.0.1"])
            .args(["--http-port", &self.addr.port().to_string()])
            .args(["--disable-grpc", "true"])
            .args(["--node-id", &self.id.to_string()])
            .args(["--cluster-timeout-ms", &self.options.timeout_ms.to_string()])
            .args(["--log-level", "info,openraft=warn"])
            .env("NO_COLOR", "1");
        if let Some(members) = &self.members {
            command.args(["--cluster", members]);
        }
        if self.options.fault_injection {
            command.arg("--fault-injection");
        }
        for (key, _) in std::env::vars() {
            if key.starts_with("GRAPE_") {
                command.env_remove(key);
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("the grape binary starts");
        self.child = Some(child);
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running node").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// The process exited (it should not have).
    fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(format!("node {} exited: {status}", self.id)),
            _ => None,
        }
    }

    /// The last `lines` lines of the node's log.
    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub async fn call(&self, method: &str, path: &str, body: &Value) -> Result<Reply, NoAnswer> {
        call(self.addr, method, path, body, CALL_TIMEOUT).await
    }

    /// A call that must answer 200; its `result`.
    pub async fn ok(&self, method: &str, path: &str, body: &Value) -> Value {
        match self.call(method, path, body).await {
            Ok(reply) => reply.result(&format!("node {}: {method} {path}", self.id)),
            Err(e) => panic!("node {}: {method} {path}: {e:?}", self.id),
        }
    }

    /// `GET /cluster`'s result.
    pub async fn status(&self) -> Result<Value, NoAnswer> {
        let reply = call(
            self.addr,
            "GET",
            "/cluster",
            &Value::Null,
            Duration::from_secs(2),
        )
        .await?;
        Ok(reply.body["result"].clone())
    }

    /// Waits until the process answers HTTP.
    pub async fn wait_up(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.status().await.is_ok() {
                return;
            }
            if let Some(exit) = self.exited() {
                panic!("{exit}\n{}", self.log_tail(30));
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not answer within {within:?}",
                self.id
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// `POST /cluster/fault` (the node runs with `--fault-injection`).
    pub async fn fault(&self, switches: Value) -> Value {
        self.ok("POST", "/cluster/fault", &switches).await
    }

    /// The number of points in the collection, after a read barrier when
    /// `consistency` says so.
    pub async fn count(&self, consistency: Option<&str>) -> u64 {
        let path = match consistency {
            Some(c) => format!("/collections/{COLLECTION}/points/count?consistency={c}"),
            None => format!("/collections/{COLLECTION}/points/count"),
        };
        self.ok("POST", &path, &json!({"exact": true})).await["count"]
            .as_u64()
            .expect("a count")
    }

    /// Every point as `(id, payload value "v")`, paging through a scroll;
    /// after a read barrier when `consistency` says so.
    pub async fn points(&self, consistency: Option<&str>) -> Vec<(u64, Option<i64>)> {
        let path = match consistency {
            Some(c) => format!("/collections/{COLLECTION}/points/scroll?consistency={c}"),
            None => format!("/collections/{COLLECTION}/points/scroll"),
        };
        let mut out = Vec::new();
        let mut offset = Value::Null;
        loop {
            let mut body = json!({"limit": 500, "with_payload": true, "with_vector": false});
            if !offset.is_null() {
                body["offset"] = offset;
            }
            let page = self.ok("POST", &path, &body).await;
            for p in page["points"].as_array().expect("points") {
                out.push((
                    p["id"].as_u64().expect("a numeric id"),
                    p["payload"]["v"].as_i64(),
                ));
            }
            offset = page["next_page_offset"].clone();
            if offset.is_null() {
                return out;
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The collection's vector for point `id`: distinct per id, never zero.
pub fn vector(id: u64) -> Vec<f32> {
    let x = (id % 997) as f32;
    vec![1.0 + x, 1.0, (id % 13) as f32, 0.5]
}

/// A set of nodes under one temporary directory.
pub struct Cluster {
    pub nodes: Vec<Node>,
    options: Options,
    dir: TempDir,
}

impl Cluster {
    /// Starts `n` founding members (ids 1..=n) and waits until they agree
    /// on a leader.
    pub async fn start(n: u64, options: Options) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("grape-cluster-")
            .tempdir()
            .expect("a temp dir");
        let mut nodes: Vec<Node> = (1..=n)
            .map(|id| Node::new(id, dir.path(), None, options.clone()))
            .collect();
        let members = nodes
            .iter()
            .map(|node| format!("{}={}", node.id, node.addr))
            .collect::<Vec<_>>()
            .join(",");
        for node in &mut nodes {
            node.members = Some(members.clone());
            node.spawn();
        }
        let mut cluster = Cluster {
            nodes,
            options,
            dir,
        };
        for node in &mut cluster.nodes {
            node.wait_up(Duration::from_secs(30)).await;
        }
        let ids: Vec<u64> = (1..=n).collect();
        cluster.leader(&ids, Duration::from_secs(20)).await;
        cluster
    }

    pub fn node(&self, id: u64) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    pub fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// Starts node `id` with no `--cluster` list: it waits to be added.
    pub async fn start_joiner(&mut self, id: u64) -> &Node {
        let mut node = Node::new(id, self.dir.path(), None, self.options.clone());
        node.spawn();
        node.wait_up(Duration::from_secs(30)).await;
        self.nodes.push(node);
        self.node(id)
    }

    /// Starts the killed node `id` again on its data directory and port.
    pub async fn restart(&mut self, id: u64) {
        let node = self.node_mut(id);
        node.spawn();
        node.wait_up(Duration::from_secs(30)).await;
    }

    /// Waits until every node of `among` that answers names the same
    /// leader, one of `among`, which calls itself the leader; returns it.
    pub async fn leader(&self, among: &[u64], within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(leader) = self.agreed_leader(among).await {
                return leader;
            }
            assert!(
                Instant::now() < deadline,
                "nodes {among:?} agreed on no leader within {within:?}: {:?}",
                self.roles(among).await
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    async fn agreed_leader(&self, among: &[u64]) -> Option<u64> {
        let mut leader = None;
        for &id in among {
            let status = self.node(id).status().await.ok()?;
            let named = status["raft_info"]["leader"].as_u64()?;
            if leader.is_some_and(|l| l != named) {
                return None;
            }
            leader = Some(named);
        }
        let leader = leader.filter(|l| among.contains(l))?;
        let status = self.node(leader).status().await.ok()?;
        (status["raft_info"]["role"] == "Leader").then_some(leader)
    }

    /// `(id, role, leader, term)` of each node, for failure messages.
    pub async fn roles(&self, among: &[u64]) -> Vec<String> {
        let mut out = Vec::new();
        for &id in among {
            out.push(match self.node(id).status().await {
                Ok(s) => format!(
                    "node {id}: {} leader {} term {} applied {}",
                    s["raft_info"]["role"],
                    s["raft_info"]["leader"],
                    s["raft_info"]["term"],
                    s["grape"]["last_applied"]
                ),
                Err(e) => format!("node {id}: {e:?}"),
            });
        }
        out
    }

    /// Creates the test collection (4-d, Euclid) through node `via` and
    /// waits until every node applied it.
    pub async fn create_collection(&self, via: u64) {
        self.node(via)
            .ok(
                "PUT",
                &format!("/collections/{COLLECTION}"),
                &json!({"vectors": {"size": 4, "distance": "Euclid"}}),
            )
            .await;
        self.quiet(&self.ids(), Duration::from_secs(20)).await;
    }

    /// Waits until the nodes of `among` have each applied the same last
    /// entry with nothing pending (no writes in flight).
    pub async fn quiet(&self, among: &[u64], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut applied = Vec::new();
            for &id in among {
                if let Ok(s) = self.node(id).status().await
                    && s["raft_info"]["pending_operations"] == 0
                {
                    applied.push(s["grape"]["last_applied"].as_u64());
                }
            }
            if applied.len() == among.len() && applied.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nodes {among:?} did not settle within {within:?}: {:?}",
                self.roles(among).await
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every node's count after a read barrier, which must all be equal;
    /// that count.
    pub async fn assert_counts_equal(&self) -> u64 {
        let mut counts = Vec::new();
        for id in self.ids() {
            counts.push((id, self.node(id).count(Some("majority")).await));
        }
        assert!(
            counts.windows(2).all(|w| w[0].1 == w[1].1),
            "counts differ after a read barrier: {counts:?}"
        );
        counts[0].1
    }

    /// Waits until node `id` reports itself a follower of `leader`; how
    /// long that took.
    pub async fn wait_follower(&self, id: u64, leader: u64, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if let Ok(s) = self.node(id).status().await
                && s["raft_info"]["role"] == "Follower"
                && s["raft_info"]["leader"] == leader
            {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "node {id} is not a follower of {leader} after {within:?}: {:?}",
                self.roles(&self.ids()).await
            );
            sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!(
                    "---- node {} ({}), last lines of its log:\n{}",
                    node.id,
                    node.addr,
                    node.log_tail(40)
                );
            }
        }
    }
}
