//! `grape bench-cluster`: the cluster benchmark (issue 8).
//!
//! Starts a single `grape serve` and a 3-node Raft cluster of `grape serve`
//! processes (each on a fresh data directory and free loopback ports, all
//! of the same binary), loads an ANN dataset, then measures:
//!
//! - replicated upsert throughput (REST, `wait=true`, batches of 100 and
//!   1,000, payload `{"row": i}`, bodies built before the timer) through
//!   the leader and through a follower, against the single node;
//! - search throughput, latency and recall@10 (REST, 1 and 8 clients)
//!   through every node with the default consistency and through a
//!   follower with `consistency=majority`, against the single node;
//! - failover: the time from SIGKILL of the leader to the first write
//!   acknowledged through a surviving node (a client writing one point at a
//!   time, `wait=true`), over several trials, the killed node restarted and
//!   caught up between them;
//! - catch-up: a follower stopped (SIGTERM) while points are upserted
//!   through the leader, then restarted; the time until its applied log
//!   index equals the leader's and its count is complete.
//!
//! Every process it starts is stopped at the end, by its pid. Client and
//! all the servers share the machine's cores.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Method;
use hyper::body::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    COLLECTION, Client, ClientResult, Dataset, Http, K, SearchRun, Server, Summary, UpsertRun,
    Work, count, cpu_seconds, free_port, load_average, summarize, thousands,
};

/// The snapshot policy of a node (`NodeConfig::new` in grape-cluster):
/// a snapshot after this many log entries since the last one.
const SNAPSHOT_AFTER_LOGS: u64 = 10_000;

/// The options of `grape bench-cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterBenchArgs {
    /// Directory with <DATASET>.{base,query}.fvecs and <DATASET>.gt100.ivecs.
    #[arg(long, default_value = "/work/shared/data")]
    pub data: PathBuf,
    /// Dataset name (file prefix).
    #[arg(long, default_value = "minilm384-scifact-sent40k")]
    pub dataset: String,
    /// Smoke run: first 10,000 base vectors (exact top-10 recomputed), 200
    /// queries, 1 s per search run, 1,000 points per upsert run, 5,000
    /// points behind for the catch-up, 1 failover trial.
    #[arg(long)]
    pub quick: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the results as a Markdown fragment to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// HNSW ef of the searches (24 reaches recall@10 0.95 on the 384-d
    /// MiniLM set in `grape bench`).
    #[arg(long, default_value_t = 24)]
    pub ef: u64,
    /// Seconds measured per search run [default: 8; --quick 1].
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Concurrent clients of the search runs.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 8])]
    pub clients: Vec<usize>,
    /// Points per upsert run [default: 5,000; --quick 1,000].
    #[arg(long)]
    pub upsert_points: Option<usize>,
    /// Points upserted while a follower is down [default: 100,000;
    /// --quick 5,000].
    #[arg(long)]
    pub catchup_points: Option<usize>,
    /// Failover trials [default: 3; --quick 1].
    #[arg(long)]
    pub trials: Option<usize>,
    /// Parent directory of the temporary data directories [default: the
    /// system's temporary directory].
    #[arg(long)]
    pub scratch: Option<PathBuf>,
    /// The `grape` binary to spawn [default: this one].
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

/// One upsert run through one node.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterUpsert {
    /// `single`, `leader` or `follower`.
    pub target: String,
    /// The node written to (none for the single node).
    pub node: Option<u64>,
    /// The run.
    pub run: UpsertRun,
    /// CPU of all the server processes together, in cores.
    pub servers_cpu: Option<f64>,
    /// Requests sent again after a 5xx (a leader change in flight).
    pub retries: u64,
    /// Points per second over the single node's at the same batch size.
    pub ratio: Option<f64>,
}

/// One search run through one node.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSearch {
    /// `single`, `leader` or `follower`.
    pub target: String,
    /// The node searched (none for the single node).
    pub node: Option<u64>,
    /// The `consistency` parameter sent (none: the default).
    pub consistency: Option<String>,
    /// The run.
    pub run: SearchRun,
    /// QPS over the single node's at the same number of clients.
    pub ratio: Option<f64>,
}

/// One failover trial.
#[derive(Debug, Clone, Serialize)]
pub struct Failover {
    /// The leader that was killed (SIGKILL).
    pub killed: u64,
    /// The surviving node the writes went through.
    pub through: u64,
    /// The leader after the failover.
    pub new_leader: Option<u64>,
    /// Seconds from the kill to the first write acknowledged after it.
    pub first_ack_s: f64,
    /// Seconds from the kill to the acknowledgement of the first write sent
    /// after it.
    pub first_sent_after_ack_s: f64,
    /// Writes acknowledged before the kill (steady state).
    pub writes_before: usize,
    /// Median latency of the writes before the kill, in ms.
    pub write_p50_before_ms: f64,
    /// Failed attempts between the kill and the first acknowledgement.
    pub failed_attempts: usize,
    /// Seconds until the restarted node had caught up again.
    pub restart_catchup_s: f64,
}

/// The catch-up of a restarted follower.
#[derive(Debug, Clone, Serialize)]
pub struct CatchUp {
    /// The follower stopped and restarted.
    pub node: u64,
    /// Points in the collection before it stopped.
    pub points_before: u64,
    /// Points upserted through the leader while it was down.
    pub points_behind: usize,
    /// Batch size of those upserts.
    pub batch: usize,
    /// Seconds the upserts took (leader and the remaining follower).
    pub upsert_s: f64,
    /// Requests of those upserts sent again after a 5xx.
    pub upsert_retries: u64,
    /// The follower's applied log index when it stopped.
    pub applied_at_stop: u64,
    /// The leader's last log index when the follower restarted.
    pub leader_log_index: u64,
    /// Log entries it was behind.
    pub entries_behind: u64,
    /// The leader's snapshot index when the follower restarted (none: the
    /// leader had never built a snapshot).
    pub leader_snapshot_index: Option<u64>,
    /// Seconds from the restart until `GET /cluster` answered.
    pub answering_s: f64,
    /// Seconds from the restart until its applied index equalled the
    /// leader's.
    pub applied_s: f64,
    /// Seconds from the restart until its count was complete too.
    pub caught_up_s: f64,
    /// Its count at the end.
    pub count: u64,
    /// The follower's snapshot index once caught up.
    pub snapshot_index_after: Option<u64>,
    /// `log replay` or `snapshot install`.
    pub method: String,
    /// Why [`method`](Self::method) says so.
    pub evidence: String,
}

/// Everything one `grape bench-cluster` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    /// Dataset name.
    pub dataset: String,
    /// Base vectors loaded.
    pub points: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Queries used.
    pub queries: usize,
    /// HNSW ef of the searches.
    pub ef: u64,
    /// Smoke run.
    pub quick: bool,
    /// `release` or `debug`.
    pub build: &'static str,
    /// Cores available to this process (shared by client and servers).
    pub cores: usize,
    /// Start of the run, seconds since the Unix epoch.
    pub started_unix: u64,
    /// Wall time of the whole run.
    pub seconds: f64,
    /// `/proc/loadavg` (1, 5, 15 min) at the start.
    pub load_start: String,
    /// `/proc/loadavg` at the end.
    pub load_end: String,
    /// The node's snapshot policy (entries since the last snapshot).
    pub snapshot_after_logs: u64,
    /// Loading the single node (REST, batches of 1,000).
    pub load_single: UpsertRun,
    /// Loading the cluster through the leader.
    pub load_cluster: UpsertRun,
    /// Requests of that load sent again after a 5xx.
    pub load_cluster_retries: u64,
    /// Upsert runs.
    pub upsert: Vec<ClusterUpsert>,
    /// Search runs.
    pub search: Vec<ClusterSearch>,
    /// Failover trials.
    pub failover: Vec<Failover>,
    /// Median of [`Failover::first_ack_s`].
    pub failover_median_s: Option<f64>,
    /// The catch-up.
    pub catchup: Option<CatchUp>,
}

fn say(message: &str) {
    eprintln!("[grape bench-cluster] {message}");
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One `grape serve` process: the single node, or a cluster member.
struct Node {
    id: Option<u64>,
    http: u16,
    grpc: u16,
    dir: PathBuf,
    server: Option<Server>,
}

impl Node {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http))
    }

    fn pid(&self) -> Option<u32> {
        self.server.as_ref().and_then(Server::pid)
    }

    fn spawn(&mut self, exe: &Path, members: &str) -> Result<(), String> {
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["--host", "127.0.0.1", "--log-level", "error"])
            .args(["--http-port", &self.http.to_string()])
            .args(["--grpc-port", &self.grpc.to_string()]);
        if let Some(id) = self.id {
            cmd.args(["--node-id", &id.to_string(), "--cluster", members]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", exe.display()))?;
        self.server = Some(Server::Process {
            child,
            rest: self.addr(),
            grpc: SocketAddr::from(([127, 0, 0, 1], self.grpc)),
        });
        Ok(())
    }

    /// SIGKILL by pid (`Child::kill`), then reaps it.
    fn kill(&mut self) {
        if let Some(Server::Process { mut child, .. }) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM by pid and waits for the exit.
    async fn stop(&mut self) -> Result<(), String> {
        match self.server.take() {
            Some(s) => s.stop().await,
            None => Ok(()),
        }
    }
}

/// A node's `GET /cluster` (or of a single node: its liveness).
#[derive(Debug, Clone, Default)]
struct Status {
    leader: Option<u64>,
    last_applied: u64,
    last_log_index: u64,
    snapshot_index: Option<u64>,
}

async fn get(addr: SocketAddr, path: &str, limit: Duration) -> Result<Bytes, String> {
    tokio::time::timeout(limit, async {
        let mut http = Http::connect(addr).await?;
        http.ok(Method::GET, path, Bytes::new()).await
    })
    .await
    .map_err(|_| format!("GET {path}: no answer within {limit:?}"))?
}

async fn status(addr: SocketAddr) -> Result<Status, String> {
    let body = get(addr, "/cluster", Duration::from_secs(2)).await?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| format!("/cluster: {e}"))?;
    let r = &v["result"];
    Ok(Status {
        leader: r["raft_info"]["leader"].as_u64(),
        last_applied: r["grape"]["last_applied"].as_u64().unwrap_or(0),
        last_log_index: r["grape"]["last_log_index"].as_u64().unwrap_or(0),
        snapshot_index: r["grape"]["snapshot_index"].as_u64(),
    })
}

/// Waits until every running node names the same leader and has applied
/// the leader's whole log; returns the leader's index in `nodes`.
async fn wait_synced(nodes: &[Node], limit: Duration) -> Result<usize, String> {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    loop {
        let mut views = Vec::new();
        for n in nodes.iter().filter(|n| n.server.is_some()) {
            match status(n.addr()).await {
                Ok(s) => views.push((n.id, s)),
                Err(e) => last = e,
            }
        }
        let running = nodes.iter().filter(|n| n.server.is_some()).count();
        if views.len() == running
            && let Some(leader) = views[0].1.leader
            && views.iter().all(|(_, s)| s.leader == Some(leader))
            && let Some(li) = nodes.iter().position(|n| n.id == Some(leader))
            && nodes[li].server.is_some()
        {
            let ls = &views.iter().find(|(id, _)| *id == Some(leader)).unwrap().1;
            if ls.last_applied == ls.last_log_index
                && views.iter().all(|(_, s)| s.last_applied == ls.last_applied)
            {
                return Ok(li);
            }
            last = format!("applied {:?}", views.iter().map(|v| v.1.last_applied));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the cluster did not settle within {limit:?}: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_answering(node: &mut Node, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(Server::Process { child, .. }) = node.server.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            node.server = None;
            return Err(format!("the server exited at start with {status}"));
        }
        if get(node.addr(), "/livez", Duration::from_secs(1))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the server did not answer within {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn total_cpu(nodes: &[&Node]) -> Option<f64> {
    nodes
        .iter()
        .map(|n| n.pid().and_then(|p| cpu_seconds(Some(p))))
        .sum()
}

/// `clients` REST clients on `addr`, `?consistency=` appended when given;
/// as `grape bench`'s search runs.
async fn search_run(
    node: &Node,
    work: &Arc<Work>,
    clients: usize,
    consistency: Option<&str>,
    warmup: Duration,
    window: Duration,
) -> Result<SearchRun, String> {
    let path = match consistency {
        Some(c) => format!("/collections/{COLLECTION}/points/query?consistency={c}"),
        None => format!("/collections/{COLLECTION}/points/query"),
    };
    let mut connected = Vec::with_capacity(clients);
    for _ in 0..clients {
        connected.push(Client::Rest(
            Http::connect(node.addr()).await?,
            path.clone(),
        ));
    }
    let n = work.truth.len();
    let pid = node.pid();
    let wall = Instant::now();
    let (client0, server0) = (cpu_seconds(None), pid.and_then(|p| cpu_seconds(Some(p))));
    let measure_from = Instant::now() + warmup;
    let end = measure_from + window;
    let tasks: Vec<_> = connected
        .into_iter()
        .enumerate()
        .map(|(c, mut client)| {
            let work = Arc::clone(work);
            tokio::spawn(async move {
                let mut out = ClientResult::default();
                let mut j = c * n / clients;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let q = j % n;
                    j += 1;
                    let answer = client.search(&work, q).await;
                    let t1 = Instant::now();
                    match answer {
                        Ok(ids) if t1 >= measure_from && t1 <= end => {
                            out.latencies.push((t1 - t0).as_nanos() as u64);
                            out.recall.add(&ids, &work.truth[q], K);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            out.errors += 1;
                            out.first_error.get_or_insert(e);
                        }
                    }
                }
                out
            })
        })
        .collect();
    let mut all = ClientResult::default();
    for task in tasks {
        let r = task.await.map_err(|e| format!("client task: {e}"))?;
        all.latencies.extend(r.latencies);
        all.recall.merge(r.recall);
        all.errors += r.errors;
        if all.first_error.is_none() {
            all.first_error = r.first_error;
        }
    }
    let w = wall.elapsed().as_secs_f64();
    let client_cpu = cpu_seconds(None).zip(client0).map(|(b, a)| (b - a) / w);
    let server_cpu = pid
        .and_then(|p| cpu_seconds(Some(p)))
        .zip(server0)
        .map(|(b, a)| (b - a) / w);
    if all.latencies.is_empty() {
        return Err(format!(
            "no search answered: {}",
            all.first_error.unwrap_or_default()
        ));
    }
    let seconds = window.as_secs_f64();
    Ok(SearchRun {
        protocol: "rest",
        clients,
        seconds,
        qps: all.latencies.len() as f64 / seconds,
        latency: summarize(&mut all.latencies),
        recall: all.recall.value(K),
        errors: all.errors,
        first_error: all.first_error,
        client_cpu,
        server_cpu,
        load_average: load_average(),
    })
}

/// Upserts `points` points into `name` through `node` (created first
/// when `create`), `batch` per request, one after the other, `wait=true`;
/// point `i` gets id `first_id + i`, base vector `i % n` and payload
/// `{"row": id}`, the bodies are built before the timer. A request that
/// fails with a 5xx (a leader change while the write was in flight: its
/// outcome unknown) is sent again, an upsert being idempotent; returns the
/// run and the number of such retries. `cpu_of` are the processes whose CPU
/// is measured.
async fn put_points(
    node: &Node,
    cpu_of: &[&Node],
    data: &Dataset,
    name: &str,
    create: bool,
    (batch, points, first_id): (usize, usize, u64),
) -> Result<(UpsertRun, u64, Option<f64>), String> {
    let mut http = Http::connect(node.addr()).await?;
    if create {
        super::create_collection(&mut http, name, data.dim).await?;
    }
    let bodies: Vec<Bytes> = (0..points)
        .step_by(batch)
        .map(|s| {
            let points: Vec<Value> = (s..(s + batch).min(points))
                .map(|i| {
                    let id = first_id + i as u64;
                    json!({"id": id, "vector": data.row(i % data.len()), "payload": {"row": id}})
                })
                .collect();
            Bytes::from(json!({ "points": points }).to_string())
        })
        .collect();
    let path = format!("/collections/{name}/points?wait=true");
    let mut latencies = Vec::with_capacity(bodies.len());
    let mut retries = 0u64;
    let cpu0 = total_cpu(cpu_of);
    let client0 = cpu_seconds(None);
    let started = Instant::now();
    for body in bodies {
        let t = Instant::now();
        loop {
            match http.call(Method::PUT, &path, body.clone()).await {
                Ok((status, _)) if status == hyper::StatusCode::OK => break,
                Ok((status, reply)) if status.is_server_error() && retries < 100 => {
                    retries += 1;
                    say(&format!(
                        "{name}: HTTP {status} ({}), sending again",
                        String::from_utf8_lossy(&reply)
                            .chars()
                            .take(160)
                            .collect::<String>()
                    ));
                }
                Ok((status, reply)) => {
                    return Err(format!(
                        "{path}: HTTP {status}: {}",
                        String::from_utf8_lossy(&reply)
                    ));
                }
                Err(e) if retries < 100 => {
                    retries += 1;
                    say(&format!("{name}: {e}, reconnecting"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    http = Http::connect(node.addr()).await?;
                }
                Err(e) => return Err(e),
            }
        }
        latencies.push(t.elapsed().as_nanos() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    if create {
        let stored = count(&mut http, name).await?;
        if stored != points as u64 {
            return Err(format!("{name}: {stored} points stored, {points} sent"));
        }
    }
    let servers_cpu = total_cpu(cpu_of).zip(cpu0).map(|(b, a)| (b - a) / seconds);
    let client_cpu = cpu_seconds(None)
        .zip(client0)
        .map(|(b, a)| (b - a) / seconds);
    Ok((
        UpsertRun {
            protocol: "rest",
            batch,
            points,
            seconds,
            points_per_s: points as f64 / seconds,
            batch_latency: summarize(&mut latencies),
            client_cpu,
            server_cpu: None,
        },
        retries,
        servers_cpu,
    ))
}

/// One write attempt of the failover client.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    sent: Instant,
    done: Instant,
    ok: bool,
}

/// Writes one point at a time through `addr` (`wait=true`) until `stop`,
/// recording every attempt; a failed or timed-out attempt opens a new
/// connection.
async fn writer(
    addr: SocketAddr,
    body: Bytes,
    stop: Arc<std::sync::atomic::AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
) {
    let path = "/collections/failover/points?wait=true";
    let mut http: Option<Http> = None;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let sent = Instant::now();
        let ok = match http.as_mut() {
            Some(h) => matches!(
                tokio::time::timeout(
                    Duration::from_secs(15),
                    h.ok(Method::PUT, path, body.clone())
                )
                .await,
                Ok(Ok(_))
            ),
            None => false,
        };
        let done = Instant::now();
        if http.is_some() {
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Attempt { sent, done, ok });
        }
        if !ok {
            if http.is_some() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            http = Http::connect(addr).await.ok();
            if http.is_none() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// The result of one `grape bench-cluster` run.
pub fn run(args: &ClusterBenchArgs) -> Result<ClusterReport, String> {
    let (limit_base, limit_queries) = if args.quick {
        (Some(10_000), Some(200))
    } else {
        (None, None)
    };
    let data = Dataset::load(&args.data, &args.dataset, limit_base, limit_queries, K)?;
    if data.is_empty() || data.query_count() == 0 {
        return Err("the dataset is empty".into());
    }
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let scratch = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let root = scratch.join(format!(
        "grape-bench-cluster-{}-{started_unix}",
        std::process::id()
    ));
    std::fs::create_dir_all(&root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let mut nodes: Vec<Node> = Vec::new();
    let result = runtime.block_on(async {
        let r = measure(args, &data, &root, &mut nodes, started_unix).await;
        say("stopping every server");
        for n in &mut nodes {
            if let Err(e) = n.stop().await {
                say(&format!("stopping {:?}: {e}", n.id));
            }
        }
        r
    });
    // Any server still running (an error above) is killed by its pid.
    for n in &mut nodes {
        n.kill();
    }
    let _ = std::fs::remove_dir_all(&root);
    result
}

async fn measure(
    args: &ClusterBenchArgs,
    data: &Dataset,
    root: &Path,
    nodes: &mut Vec<Node>,
    started_unix: u64,
) -> Result<ClusterReport, String> {
    let wall = Instant::now();
    let load_start = loadavg();
    let exe = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| format!("finding this binary: {e}"))?,
    };
    let window =
        Duration::from_secs_f64(args.seconds.unwrap_or(if args.quick { 1.0 } else { 8.0 }));
    let warmup = Duration::from_millis(if args.quick { 200 } else { 1_000 });
    let upsert_points = args
        .upsert_points
        .unwrap_or(if args.quick { 1_000 } else { 5_000 })
        .min(data.len());
    let catchup_points = args
        .catchup_points
        .unwrap_or(if args.quick { 5_000 } else { 100_000 });
    let trials = args.trials.unwrap_or(if args.quick { 1 } else { 3 });
    let work = Arc::new(Work::new(data, args.ef));

    // --- The single node ---------------------------------------------------
    let mut single = Node {
        id: None,
        http: free_port()?,
        grpc: free_port()?,
        dir: root.join("single"),
        server: None,
    };
    say("single node: starting");
    single.spawn(&exe, "")?;
    nodes.push(single);
    wait_answering(&mut nodes[0], Duration::from_secs(60)).await?;
    say(&format!("single node: loading {} points", data.len()));
    let (load_single, _, _) = put_points(
        &nodes[0],
        &[&nodes[0]],
        data,
        COLLECTION,
        true,
        (1_000, data.len(), 0),
    )
    .await?;
    say(&format!("loaded: {:.0} points/s", load_single.points_per_s));
    let mut search = Vec::new();
    for &c in &args.clients {
        let run = search_run(&nodes[0], &work, c.max(1), None, warmup, window).await?;
        say(&format!(
            "single × {c}: {:.0} QPS, p50 {:.3} ms, recall {:.4}",
            run.qps, run.latency.p50_ms, run.recall
        ));
        search.push(ClusterSearch {
            target: "single".into(),
            node: None,
            consistency: None,
            run,
            ratio: None,
        });
    }
    let mut upsert = Vec::new();
    for batch in [100, 1_000] {
        let name = format!("upsert-single-{batch}");
        let (run, retries, servers_cpu) = put_points(
            &nodes[0],
            &[&nodes[0]],
            data,
            &name,
            true,
            (batch, upsert_points, 0),
        )
        .await?;
        say(&format!(
            "single upsert batch {batch}: {:.0} points/s",
            run.points_per_s
        ));
        upsert.push(ClusterUpsert {
            target: "single".into(),
            node: None,
            run,
            servers_cpu,
            retries,
            ratio: None,
        });
    }
    nodes[0].stop().await?;

    // --- The cluster -------------------------------------------------------
    let mut ports = Vec::new();
    for id in 1..=3u64 {
        ports.push((id, free_port()?, free_port()?));
    }
    let members = ports
        .iter()
        .map(|(id, http, _)| format!("{id}=127.0.0.1:{http}"))
        .collect::<Vec<_>>()
        .join(",");
    for &(id, http, grpc) in &ports {
        let mut n = Node {
            id: Some(id),
            http,
            grpc,
            dir: root.join(format!("node{id}")),
            server: None,
        };
        n.spawn(&exe, &members)?;
        nodes.push(n);
    }
    // The cluster is nodes[1..].
    for node in &mut nodes[1..] {
        wait_answering(node, Duration::from_secs(60)).await?;
    }
    let mut leader = 1 + wait_synced(&nodes[1..], Duration::from_secs(60)).await?;
    say(&format!(
        "cluster: {members}; leader {:?}",
        nodes[leader].id
    ));
    let followers = |leader: usize| (1..=3).filter(move |&i| i != leader);
    say(&format!(
        "cluster: loading {} points through the leader",
        data.len()
    ));
    let cluster: Vec<&Node> = nodes[1..].iter().collect();
    let (load_cluster, load_retries, _) = put_points(
        &nodes[leader],
        &cluster,
        data,
        COLLECTION,
        true,
        (1_000, data.len(), 0),
    )
    .await?;
    say(&format!(
        "loaded: {:.0} points/s",
        load_cluster.points_per_s
    ));
    leader = 1 + wait_synced(&nodes[1..], Duration::from_secs(300)).await?;
    for node in &nodes[1..] {
        let mut http = Http::connect(node.addr()).await?;
        let n = count(&mut http, COLLECTION).await?;
        if n != data.len() as u64 {
            return Err(format!("node {:?} holds {n} points", node.id));
        }
    }
    let follower = followers(leader).next().unwrap_or(1);

    // Search: every node, then majority reads through a follower.
    let mut targets: Vec<(usize, Option<&str>)> = vec![(leader, None)];
    targets.extend(followers(leader).map(|f| (f, None)));
    targets.push((follower, Some("majority")));
    for (i, consistency) in targets {
        for &c in &args.clients {
            let run = search_run(&nodes[i], &work, c.max(1), consistency, warmup, window).await?;
            let role = if i == leader { "leader" } else { "follower" };
            say(&format!(
                "{role} {:?} {consistency:?} × {c}: {:.0} QPS, p50 {:.3} ms, recall {:.4}",
                nodes[i].id, run.qps, run.latency.p50_ms, run.recall
            ));
            search.push(ClusterSearch {
                target: role.into(),
                node: nodes[i].id,
                consistency: consistency.map(str::to_string),
                run,
                ratio: None,
            });
        }
    }

    // Replicated upserts through the leader and a follower.
    for (i, role) in [(leader, "leader"), (follower, "follower")] {
        for batch in [100, 1_000] {
            let name = format!("upsert-{role}-{batch}");
            let cluster: Vec<&Node> = nodes[1..].iter().collect();
            let (run, retries, servers_cpu) = put_points(
                &nodes[i],
                &cluster,
                data,
                &name,
                true,
                (batch, upsert_points, 0),
            )
            .await?;
            say(&format!(
                "{role} upsert batch {batch}: {:.0} points/s",
                run.points_per_s
            ));
            upsert.push(ClusterUpsert {
                target: role.into(),
                node: nodes[i].id,
                run,
                servers_cpu,
                retries,
                ratio: None,
            });
            let mut http = Http::connect(nodes[leader].addr()).await?;
            http.ok(
                Method::DELETE,
                &format!("/collections/{name}?wait=true"),
                Bytes::new(),
            )
            .await?;
        }
    }
    let single_upsert: Vec<(usize, f64)> = upsert
        .iter()
        .filter(|s| s.target == "single")
        .map(|s| (s.run.batch, s.run.points_per_s))
        .collect();
    for u in &mut upsert {
        u.ratio = single_upsert
            .iter()
            .find(|(b, _)| *b == u.run.batch)
            .map(|(_, p)| u.run.points_per_s / p);
    }
    let single_qps: Vec<(usize, f64)> = search
        .iter()
        .filter(|s| s.target == "single")
        .map(|s| (s.run.clients, s.run.qps))
        .collect();
    for s in &mut search {
        s.ratio = single_qps
            .iter()
            .find(|(c, _)| *c == s.run.clients)
            .map(|(_, q)| s.run.qps / q);
    }

    // --- Failover -----------------------------------------------------------
    let point = json!({"points": [{"id": 1, "vector": data.row(0), "payload": {"row": 0}}]});
    let body = Bytes::from(point.to_string());
    {
        let mut http = Http::connect(nodes[leader].addr()).await?;
        super::create_collection(&mut http, "failover", data.dim).await?;
    }
    let mut failover = Vec::new();
    for trial in 0..trials {
        leader = 1 + wait_synced(&nodes[1..], Duration::from_secs(120)).await?;
        let through = followers(leader).next().unwrap_or(1);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(writer(
            nodes[through].addr(),
            body.clone(),
            Arc::clone(&stop),
            Arc::clone(&log),
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let killed = nodes[leader].id.unwrap_or(0);
        let kill_at = Instant::now();
        nodes[leader].kill();
        let deadline = kill_at + Duration::from_secs(60);
        let (first_ack, first_sent_after) = loop {
            {
                let log = log.lock().unwrap_or_else(|e| e.into_inner());
                let acked_after = |a: &&Attempt| a.ok && a.done > kill_at;
                let first = log.iter().find(acked_after).map(|a| a.done);
                let sent_after = log
                    .iter()
                    .find(|a| a.ok && a.sent > kill_at)
                    .map(|a| a.done);
                if let (Some(a), Some(b)) = (first, sent_after) {
                    break (a, b);
                }
            }
            if Instant::now() > deadline {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err("no write acknowledged within 60 s of the leader's kill".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut before: Vec<u64> = log
            .iter()
            .filter(|a| a.ok && a.done <= kill_at)
            .map(|a| (a.done - a.sent).as_nanos() as u64)
            .collect();
        let failed_attempts = log
            .iter()
            .filter(|a| !a.ok && a.done > kill_at && a.done <= first_ack)
            .count();
        let new_leader = status(nodes[through].addr())
            .await
            .ok()
            .and_then(|s| s.leader);
        let first_ack_s = (first_ack - kill_at).as_secs_f64();
        say(&format!(
            "failover {}: killed node {killed}, first write acknowledged through node {:?} \
             after {first_ack_s:.3} s (new leader {new_leader:?})",
            trial + 1,
            nodes[through].id
        ));
        // Restart the killed node and let it catch up.
        let restarted = Instant::now();
        let killed_index = nodes
            .iter()
            .position(|n| n.id == Some(killed))
            .unwrap_or(leader);
        nodes[killed_index].spawn(&exe, &members)?;
        wait_answering(&mut nodes[killed_index], Duration::from_secs(60)).await?;
        wait_synced(&nodes[1..], Duration::from_secs(120)).await?;
        failover.push(Failover {
            killed,
            through: nodes[through].id.unwrap_or(0),
            new_leader,
            first_ack_s,
            first_sent_after_ack_s: (first_sent_after - kill_at).as_secs_f64(),
            writes_before: before.len(),
            write_p50_before_ms: summarize(&mut before).p50_ms,
            failed_attempts,
            restart_catchup_s: restarted.elapsed().as_secs_f64(),
        });
    }
    let failover_median_s = {
        let mut v: Vec<f64> = failover.iter().map(|f| f.first_ack_s).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().filter(|_| !v.is_empty())
    };

    // --- Catch-up -----------------------------------------------------------
    leader = 1 + wait_synced(&nodes[1..], Duration::from_secs(120)).await?;
    let down = followers(leader).next().unwrap_or(1);
    let points_before = {
        let mut http = Http::connect(nodes[down].addr()).await?;
        count(&mut http, COLLECTION).await?
    };
    let applied_at_stop = status(nodes[down].addr()).await?.last_applied;
    say(&format!(
        "catch-up: stopping node {:?} (SIGTERM)",
        nodes[down].id
    ));
    nodes[down].stop().await?;
    let batch = 1_000;
    say(&format!(
        "catch-up: upserting {catchup_points} points through the leader"
    ));
    let live: Vec<&Node> = nodes[1..].iter().filter(|n| n.server.is_some()).collect();
    let (catchup_run, catchup_retries, _) = put_points(
        &nodes[leader],
        &live,
        data,
        COLLECTION,
        false,
        (batch, catchup_points, data.len() as u64),
    )
    .await?;
    let upsert_s = catchup_run.seconds;
    let ls = status(nodes[leader].addr()).await?;
    let expected = points_before + catchup_points as u64;
    say(&format!(
        "catch-up: upserted in {upsert_s:.1} s; restarting node {:?}",
        nodes[down].id
    ));
    let restarted = Instant::now();
    nodes[down].spawn(&exe, &members)?;
    wait_answering(&mut nodes[down], Duration::from_secs(120)).await?;
    let answering_s = restarted.elapsed().as_secs_f64();
    let deadline = restarted + Duration::from_secs(900);
    let mut applied_s = None;
    let (caught_up_s, final_count, snapshot_after) = loop {
        let target = status(nodes[leader].addr()).await?.last_applied;
        if let Ok(s) = status(nodes[down].addr()).await
            && s.last_applied >= target
        {
            let at = restarted.elapsed().as_secs_f64();
            applied_s.get_or_insert(at);
            let mut http = Http::connect(nodes[down].addr()).await?;
            let n = count(&mut http, COLLECTION).await?;
            if n == expected {
                break (at, n, s.snapshot_index);
            }
        }
        if Instant::now() > deadline {
            return Err("the restarted follower did not catch up within 900 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let entries_behind = ls.last_log_index.saturating_sub(applied_at_stop);
    let by_snapshot = ls.snapshot_index.is_some_and(|s| s > applied_at_stop);
    let evidence = match ls.snapshot_index {
        None => format!(
            "the leader had built no snapshot ({} log entries in all, below the policy of \
             {SNAPSHOT_AFTER_LOGS}), so every missing entry was still in its log",
            ls.last_log_index
        ),
        Some(s) if by_snapshot => format!(
            "the leader's snapshot (index {s}) covers entries past the follower's {applied_at_stop}"
        ),
        Some(s) => format!(
            "the leader's snapshot (index {s}) is older than the follower's applied index \
             {applied_at_stop}"
        ),
    };
    let catchup = CatchUp {
        node: nodes[down].id.unwrap_or(0),
        points_before,
        points_behind: catchup_points,
        batch,
        upsert_s,
        upsert_retries: catchup_retries,
        applied_at_stop,
        leader_log_index: ls.last_log_index,
        entries_behind,
        leader_snapshot_index: ls.snapshot_index,
        answering_s,
        applied_s: applied_s.unwrap_or(caught_up_s),
        caught_up_s,
        count: final_count,
        snapshot_index_after: snapshot_after,
        method: if by_snapshot {
            "snapshot install (possibly)".into()
        } else {
            "log replay".into()
        },
        evidence,
    };
    say(&format!(
        "catch-up: {caught_up_s:.1} s ({} entries behind, {})",
        entries_behind, catchup.method
    ));

    Ok(ClusterReport {
        dataset: args.dataset.clone(),
        points: data.len(),
        dim: data.dim,
        queries: data.query_count(),
        ef: args.ef,
        quick: args.quick,
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        started_unix,
        seconds: wall.elapsed().as_secs_f64(),
        load_start,
        load_end: loadavg(),
        snapshot_after_logs: SNAPSHOT_AFTER_LOGS,
        load_single,
        load_cluster,
        load_cluster_retries: load_retries,
        upsert,
        search,
        failover,
        failover_median_s,
        catchup: Some(catchup),
    })
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "—".into(), |r| format!("{r:.2}×"))
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |c| format!("{c:.2}"))
}

fn ms(s: &Summary) -> (f64, f64) {
    (s.p50_ms, s.p99_ms)
}

impl ClusterReport {
    /// The results as Markdown (the body of the generated block of
    /// `docs/bench/README.md`).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "`{}`: {} points × {}, cosine, HNSW m {}, ef_construct {}; {} queries, k = {K}, \
             `hnsw_ef` = {}. A single `grape serve` (no `--node-id`) and a 3-node cluster \
             (`grape serve --node-id N --cluster ...`), {} build, each on a fresh data directory, \
             loopback, started and stopped in the same run. **The client and all the servers \
             share the machine's {} cores**: a 3-node cluster does three times the indexing \
             work of a single node on the same cores. Load average (1, 5, 15 min): {} at the \
             start, {} at the end; whole run {:.0} s.{}\n\n",
            self.dataset,
            thousands(self.points as f64),
            self.dim,
            super::HNSW_M,
            super::HNSW_EF_CONSTRUCT,
            thousands(self.queries as f64),
            self.ef,
            self.build,
            self.cores,
            self.load_start,
            self.load_end,
            self.seconds,
            if self.quick {
                " **Quick run (smoke test), not for comparison.**"
            } else {
                ""
            },
        ));
        s.push_str(&format!(
            "Load (REST, batches of 1,000, `wait=true`): single node {} points/s, cluster \
             through the leader {} points/s ({}; {} requests sent again after a 5xx).\n\n",
            thousands(self.load_single.points_per_s),
            thousands(self.load_cluster.points_per_s),
            ratio(Some(
                self.load_cluster.points_per_s / self.load_single.points_per_s
            )),
            self.load_cluster_retries
        ));
        s.push_str("### Replicated upsert\n\n");
        s.push_str(&format!(
            "{} points per run into a fresh collection, REST `PUT /points?wait=true` one \
             request after the other, payload `{{\"row\": i}}`, bodies built before the timer. \
             In the cluster `wait=true` returns after the Raft commit (a majority has the entry \
             in its log) and the apply on the node written to; a follower forwards the write to \
             the leader. *servers CPU*: all server processes together, in cores. *retries*: requests sent \
             again after a 5xx (a leader change while the write was in flight; an upsert is \
             idempotent), their time included.\n\n",
            thousands(self.upsert.first().map_or(0, |u| u.run.points) as f64)
        ));
        s.push_str("| through | batch | points/s | cluster/single | p50 ms per batch | p99 ms per batch | servers CPU | retries |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for u in &self.upsert {
            let (p50, p99) = ms(&u.run.batch_latency);
            s.push_str(&format!(
                "| {} | {} | {} | {} | {p50:.1} | {p99:.1} | {} | {} |\n",
                target(&u.target, u.node, None),
                thousands(u.run.batch as f64),
                thousands(u.run.points_per_s),
                if u.target == "single" {
                    "—".into()
                } else {
                    ratio(u.ratio)
                },
                opt(u.servers_cpu),
                u.retries
            ));
        }
        s.push_str("\n### Search\n\n");
        s.push_str(&format!(
            "REST `POST /collections/{{c}}/points/query` (one keep-alive connection per \
             client), k = {K}, `hnsw_ef` = {}, no payload; a warm-up, then {} s measured. The \
             default consistency reads the node's own replica; `consistency=majority` first \
             passes a linearizable read barrier (read-index through the leader). *server CPU*: \
             the node searched.\n\n",
            self.ef,
            self.search.first().map_or(0.0, |r| r.run.seconds)
        ));
        s.push_str("| node | clients | QPS | cluster/single | p50 ms | p99 ms | recall@10 | server CPU | load avg | errors |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.search {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:.4} | {} | {} | {} |\n",
                target(&r.target, r.node, r.consistency.as_deref()),
                r.run.clients,
                thousands(r.run.qps),
                if r.target == "single" {
                    "—".into()
                } else {
                    ratio(r.ratio)
                },
                r.run.latency.p50_ms,
                r.run.latency.p99_ms,
                r.run.recall,
                opt(r.run.server_cpu),
                opt(r.run.load_average),
                r.run.errors
            ));
        }
        s.push_str("\n### Leader failover\n\n");
        s.push_str(
            "A client writes one point at a time (`wait=true`, REST) through a follower; \
             the leader's process gets SIGKILL. *First ack*: from the kill to the first write \
             acknowledged after it (the write in flight at the kill is held by the follower \
             until a new leader commits it); *first sent after*: the acknowledgement of the \
             first write sent after the kill. Election timeout 500–1,000 ms, heartbeat 100 ms \
             (the node's defaults). The killed node is restarted and caught up between \
             trials.\n\n",
        );
        s.push_str("| trial | killed | written through | new leader | first ack s | first sent after s | failed attempts | write p50 before ms | restart → caught up s |\n");
        s.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (i, f) in self.failover.iter().enumerate() {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.3} | {:.3} | {} | {:.1} | {:.1} |\n",
                i + 1,
                f.killed,
                f.through,
                f.new_leader.map_or_else(|| "—".into(), |l| l.to_string()),
                f.first_ack_s,
                f.first_sent_after_ack_s,
                f.failed_attempts,
                f.write_p50_before_ms,
                f.restart_catchup_s
            ));
        }
        if let Some(m) = self.failover_median_s {
            s.push_str(&format!(
                "\nMedian time from the leader's kill to the first committed write: **{m:.3} s**.\n"
            ));
        }
        if let Some(c) = &self.catchup {
            s.push_str("\n### Catch-up of a restarted follower\n\n");
            s.push_str(&format!(
                "Node {} stopped (SIGTERM) holding {} points; {} more points upserted through \
                 the leader (the dataset's base vectors cycled, new ids {}…, REST batches of {}, \
                 `wait=true`, {} sent again after a 5xx) in {:.1} s; then node {} restarted. Behind by {} log entries \
                 (applied {} at the stop, the leader's last log index {}).\n\n",
                c.node,
                thousands(c.points_before as f64),
                thousands(c.points_behind as f64),
                thousands(self.points as f64),
                thousands(c.batch as f64),
                c.upsert_retries,
                c.upsert_s,
                c.node,
                c.entries_behind,
                c.applied_at_stop,
                c.leader_log_index
            ));
            s.push_str(&format!(
                "| restart → answering | restart → applied = leader's | restart → count {} | method |\n\
                 |---:|---:|---:|---|\n| {:.1} s | {:.1} s | **{:.1} s** | {} |\n\n",
                thousands(c.count as f64),
                c.answering_s,
                c.applied_s,
                c.caught_up_s,
                c.method
            ));
            s.push_str(&format!(
                "Snapshot policy (grape-cluster `NodeConfig::new`): a snapshot after {} log \
                 entries since the last one (openraft `SnapshotPolicy::LogsSinceLast`). {}.\n",
                thousands(self.snapshot_after_logs as f64),
                c.evidence
            ));
        }
        s
    }
}

fn target(role: &str, node: Option<u64>, consistency: Option<&str>) -> String {
    let mut t = match node {
        Some(id) => format!("{role} (node {id})"),
        None => "single node".into(),
    };
    if let Some(c) = consistency {
        t.push_str(&format!(", `consistency={c}`"));
    }
    t
}

/// `grape bench-cluster`: runs the benchmark, prints the tables, writes the
/// JSON (`--out`) and the Markdown (`--markdown`).
pub fn cli_main(args: ClusterBenchArgs) -> ExitCode {
    let report = match run(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("grape bench-cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    let markdown = report.markdown();
    println!("{markdown}");
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
    };
    let mut status = ExitCode::SUCCESS;
    if let Some(path) = &args.out {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = write(path, json + "\n") {
            eprintln!("grape bench-cluster: {e}");
            status = ExitCode::FAILURE;
        }
    }
    if let Some(path) = &args.markdown
        && let Err(e) = write(path, markdown)
    {
        eprintln!("grape bench-cluster: {e}");
        status = ExitCode::FAILURE;
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_the_node_and_the_consistency() {
        assert_eq!(target("single", None, None), "single node");
        assert_eq!(
            target("follower", Some(2), Some("majority")),
            "follower (node 2), `consistency=majority`"
        );
    }
}
