//! `grape bench`: the server benchmark (issue 7).
//!
//! A load generator that starts a fresh server on a temporary data
//! directory (by default a separate `grape serve` process on free loopback
//! ports, so that the figures are a real server's), loads an ANN dataset
//! through the gRPC API, then measures:
//!
//! - search throughput and latency (p50, p90, p99) over REST (hyper, one
//!   keep-alive HTTP/1.1 connection per client, `POST /points/query` with
//!   the JSON `qdrant-client` sends) and over gRPC (tonic, one channel per
//!   client, `Points/Query`) at 1, 8 and 32 concurrent clients, with
//!   recall@10 computed from every answer against the ground truth;
//! - upsert throughput through both APIs in batches of 100 and 1,000
//!   (`wait=true`, payload `{"row": i}`, a fresh collection each time);
//! - the REST overhead per search: the single-client REST p50 minus the p50
//!   of the same queries run in process through [`grape_db::Database::query`]
//!   on the server's data directory once the server has stopped.
//!
//! The client and the server share the machine's cores: every run reports
//! the CPU time both processes used (from `/proc/<pid>/stat`).

mod client;
pub mod cluster;
mod data;
mod stats;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Method;
use hyper::body::Bytes;
use serde::Serialize;
use serde_json::json;

pub use client::{Http, count_of, grpc_ids, grpc_point, grpc_query, query_ids, rest_query};
pub use data::{Dataset, exact_top_k, read_fvecs, read_ivecs};
pub use stats::{Recall, Summary, percentile, recall_hits, summarize};

use crate::grpc::proto;
use crate::{Config, Running};

/// Number of neighbours every search asks for.
pub const K: usize = 10;
/// The recall@10 the searches' `ef` must reach.
pub const TARGET_RECALL: f64 = 0.95;
/// The REST overhead goal per search, in milliseconds.
pub const OVERHEAD_GOAL_MS: f64 = 0.2;
/// The `ef` values tried, in order, for the target recall.
pub const EF_GRID: [u64; 12] = [10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 256];
/// HNSW `m` of the benchmark's collections.
pub const HNSW_M: usize = 16;
/// HNSW `ef_construct` of the benchmark's collections (Qdrant's default).
pub const HNSW_EF_CONSTRUCT: usize = 100;

const COLLECTION: &str = "bench";

/// The options of `grape bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Directory with <DATASET>.{base,query}.fvecs and <DATASET>.gt100.ivecs.
    #[arg(long)]
    pub data: PathBuf,
    /// Dataset name (file prefix).
    #[arg(long, default_value = "minilm384-scifact-sent40k")]
    pub dataset: String,
    /// Smoke run: first 10,000 base vectors (exact top-10 recomputed),
    /// 200 queries, 1 s per search run, 2,000 points per upsert run.
    #[arg(long)]
    pub quick: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the results as a Markdown fragment to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// HNSW ef of the searches [default: the smallest of the grid reaching
    /// recall@10 >= 0.95].
    #[arg(long)]
    pub ef: Option<u64>,
    /// Seconds measured per search run [default: 10; --quick 1].
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Concurrent clients of the search runs.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 8, 32])]
    pub clients: Vec<usize>,
    /// Points per upsert run [default: 10,000; --quick 2,000].
    #[arg(long)]
    pub upsert_points: Option<usize>,
    /// Parent directory of the temporary data directory [default: the
    /// system's temporary directory].
    #[arg(long)]
    pub scratch: Option<PathBuf>,
    /// Serve from this process (one runtime for server and clients)
    /// instead of spawning `grape serve`.
    #[arg(long)]
    pub in_process: bool,
    /// The `grape` binary to spawn [default: this one].
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
}

/// One search run: one protocol, one number of concurrent clients.
#[derive(Debug, Clone, Serialize)]
pub struct SearchRun {
    /// `rest` or `grpc`.
    pub protocol: &'static str,
    /// Concurrent clients (each with its own connection).
    pub clients: usize,
    /// Seconds measured (after the warm-up).
    pub seconds: f64,
    /// Answered searches per second over the measured window.
    pub qps: f64,
    /// Latency of each search as the client saw it.
    pub latency: Summary,
    /// recall@10 of the measured answers.
    pub recall: f64,
    /// Failed requests (none expected).
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// CPU the load generator's process used, in cores (CPU s / wall s).
    pub client_cpu: Option<f64>,
    /// CPU the server process used, in cores (none when in process).
    pub server_cpu: Option<f64>,
    /// The machine's 1-minute load average at the end of the run (every
    /// process, this benchmark's included).
    pub load_average: Option<f64>,
}

/// One upsert run: sequential batches into a fresh collection.
#[derive(Debug, Clone, Serialize)]
pub struct UpsertRun {
    /// `rest` or `grpc`.
    pub protocol: &'static str,
    /// Points per request.
    pub batch: usize,
    /// Points upserted.
    pub points: usize,
    /// Wall time of all the requests.
    pub seconds: f64,
    /// Points per second.
    pub points_per_s: f64,
    /// Latency of each batch.
    pub batch_latency: Summary,
    /// CPU the load generator's process used, in cores.
    pub client_cpu: Option<f64>,
    /// CPU the server process used, in cores.
    pub server_cpu: Option<f64>,
}

/// recall@10 and speed of one `ef` (one client, gRPC, every query once).
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// HNSW ef.
    pub ef: u64,
    /// recall@10 over the queries.
    pub recall: f64,
    /// Queries per second with one client.
    pub qps: f64,
}

/// The REST (and gRPC) overhead per search against the database in process.
#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    /// Searches timed in process.
    pub db_latency: Summary,
    /// recall@10 of the in-process answers.
    pub db_recall: f64,
    /// Parsing one request body in process (JSON bytes to a
    /// `QueryRequest`, as the server does), timed apart from the query.
    pub parse_latency: Summary,
    /// One REST round trip without work (`GET /livez`, one client).
    pub rest_floor: Option<Summary>,
    /// The server's own time per REST search (the response's `time`:
    /// handler start to response built), one client.
    pub rest_handler: Option<Summary>,
    /// p50 of the single-client REST run.
    pub rest_p50_ms: f64,
    /// p50 of the single-client gRPC run.
    pub grpc_p50_ms: f64,
    /// REST p50 minus the in-process p50.
    pub rest_overhead_ms: f64,
    /// gRPC p50 minus the in-process p50.
    pub grpc_overhead_ms: f64,
    /// The goal for the REST overhead.
    pub goal_ms: f64,
    /// Whether the REST overhead is within the goal.
    pub pass: bool,
}

/// Everything one `grape bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Dataset name.
    pub dataset: String,
    /// Base vectors loaded.
    pub points: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Queries used.
    pub queries: usize,
    /// Neighbours per search.
    pub k: usize,
    /// HNSW ef of the search runs.
    pub ef: u64,
    /// HNSW m of the collections.
    pub hnsw_m: usize,
    /// HNSW ef_construct of the collections.
    pub hnsw_ef_construct: usize,
    /// Smoke run.
    pub quick: bool,
    /// `process` (a spawned `grape serve`) or `in-process`.
    pub server: &'static str,
    /// `release` or `debug` (how this binary was built).
    pub build: &'static str,
    /// Cores available to this process.
    pub cores: usize,
    /// Start of the run, seconds since the Unix epoch.
    pub started_unix: u64,
    /// The initial load of the searched collection (gRPC, batches of 1,000).
    pub load: UpsertRun,
    /// recall@10 per ef (how `ef` was chosen).
    pub calibration: Vec<Calibration>,
    /// The search runs.
    pub search: Vec<SearchRun>,
    /// The upsert runs.
    pub upsert: Vec<UpsertRun>,
    /// The per-search overhead of the APIs.
    pub overhead: Option<Overhead>,
    /// One REST round trip without work (`GET /livez`, one client,
    /// 2,000 requests).
    pub rest_floor: Option<Summary>,
    /// The server's own time per REST search, one client (every query
    /// twice).
    pub rest_handler: Option<Summary>,
}

/// Where the server under test runs.
enum Server {
    Process {
        child: Child,
        rest: SocketAddr,
        grpc: SocketAddr,
    },
    InProcess(Running),
}

impl Server {
    fn rest(&self) -> SocketAddr {
        match self {
            Server::Process { rest, .. } => *rest,
            Server::InProcess(r) => r.rest_addr(),
        }
    }

    fn grpc(&self) -> SocketAddr {
        match self {
            Server::Process { grpc, .. } => *grpc,
            Server::InProcess(r) => r.grpc_addr().unwrap_or_else(|| r.rest_addr()),
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Server::Process { child, .. } => Some(child.id()),
            Server::InProcess(_) => None,
        }
    }

    /// Stops the server gracefully (SIGTERM to a child: it finishes the
    /// requests in flight and closes the database).
    async fn stop(self) -> Result<(), String> {
        match self {
            Server::InProcess(r) => r.stop().await.map_err(|e| e.to_string()),
            Server::Process { mut child, .. } => {
                let pid = child.id().to_string();
                let sent = Command::new("kill")
                    .args(["-TERM", &pid])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                let deadline = Instant::now() + Duration::from_secs(120);
                while sent && Instant::now() < deadline {
                    match child.try_wait() {
                        Ok(Some(status)) if status.success() => return Ok(()),
                        Ok(Some(status)) => return Err(format!("the server exited with {status}")),
                        Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
                        Err(e) => return Err(format!("waiting for the server: {e}")),
                    }
                }
                let _ = child.kill();
                let _ = child.wait();
                Err("the server did not stop on SIGTERM; killed".into())
            }
        }
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

async fn start_server(args: &BenchArgs, dir: &Path) -> Result<Server, String> {
    if args.in_process {
        let mut config = Config::new(dir);
        config.http_port = 0;
        config.grpc_port = Some(0);
        let running = crate::start(config).await.map_err(|e| e.to_string())?;
        return Ok(Server::InProcess(running));
    }
    let exe = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| format!("finding this binary: {e}"))?,
    };
    let (http_port, grpc_port) = (free_port()?, free_port()?);
    let child = Command::new(&exe)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--host", "127.0.0.1", "--log-level", "warn"])
        .args(["--http-port", &http_port.to_string()])
        .args(["--grpc-port", &grpc_port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", exe.display()))?;
    let mut server = Server::Process {
        child,
        rest: SocketAddr::from(([127, 0, 0, 1], http_port)),
        grpc: SocketAddr::from(([127, 0, 0, 1], grpc_port)),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Server::Process { child, .. } = &mut server
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(format!("the server exited at start with {status}"));
        }
        if let Ok(mut http) = Http::connect(server.rest()).await
            && http.ok(Method::GET, "/readyz", Bytes::new()).await.is_ok()
        {
            return Ok(server);
        }
        if Instant::now() > deadline {
            let _ = server.stop().await;
            return Err("the server did not become ready within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// CPU seconds (user + system, all threads) of a process; `None` for this
/// one. Read from `/proc/<pid>/stat` in clock ticks of 1/100 s (Linux's
/// `USER_HZ`); `None` where there is no `/proc`.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".into(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may contain spaces) start with
    // the state (field 3); utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The machine's 1-minute load average (`/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU use of the client and the server over a stretch of wall time.
struct CpuMeter {
    server: Option<u32>,
    wall: Instant,
    client0: Option<f64>,
    server0: Option<f64>,
}

impl CpuMeter {
    fn start(server: Option<u32>) -> Self {
        CpuMeter {
            server,
            wall: Instant::now(),
            client0: cpu_seconds(None),
            server0: server.and_then(|p| cpu_seconds(Some(p))),
        }
    }

    /// (client cores, server cores) since `start`.
    fn finish(&self) -> (Option<f64>, Option<f64>) {
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        let client = cpu_seconds(None)
            .zip(self.client0)
            .map(|(b, a)| (b - a) / wall);
        let server = self
            .server
            .and_then(|p| cpu_seconds(Some(p)))
            .zip(self.server0)
            .map(|(b, a)| (b - a) / wall);
        (client, server)
    }
}

fn collection_body(dim: usize) -> Bytes {
    Bytes::from(
        json!({
            "vectors": {"size": dim, "distance": "Cosine"},
            "hnsw_config": {"m": HNSW_M, "ef_construct": HNSW_EF_CONSTRUCT},
        })
        .to_string(),
    )
}

async fn create_collection(http: &mut Http, name: &str, dim: usize) -> Result<(), String> {
    http.ok(
        Method::PUT,
        &format!("/collections/{name}"),
        collection_body(dim),
    )
    .await
    .map(drop)
}

async fn count(http: &mut Http, name: &str) -> Result<u64, String> {
    let body = http
        .ok(
            Method::POST,
            &format!("/collections/{name}/points/count"),
            Bytes::from_static(br#"{"exact": true}"#),
        )
        .await?;
    count_of(&body)
}

/// Upserts the first `points` base vectors into a fresh collection `name`,
/// `batch` points per request, one request after the other, `wait=true`;
/// the requests are built before the timer starts.
async fn upsert_run(
    server: &Server,
    data: &Dataset,
    name: &str,
    grpc: bool,
    batch: usize,
    points: usize,
) -> Result<UpsertRun, String> {
    let mut http = Http::connect(server.rest()).await?;
    create_collection(&mut http, name, data.dim).await?;
    let ranges: Vec<(usize, usize)> = (0..points)
        .step_by(batch)
        .map(|s| (s, (s + batch).min(points)))
        .collect();
    let mut latencies = Vec::with_capacity(ranges.len());
    let meter;
    let started;
    if grpc {
        let requests: Vec<proto::UpsertPoints> = ranges
            .iter()
            .map(|&(a, b)| proto::UpsertPoints {
                collection_name: name.into(),
                wait: Some(true),
                points: (a..b).map(|i| grpc_point(i as u64, data.row(i))).collect(),
                ..proto::UpsertPoints::default()
            })
            .collect();
        let mut client = client::grpc_connect(server.grpc()).await?;
        meter = CpuMeter::start(server.pid());
        started = Instant::now();
        for request in requests {
            let t = Instant::now();
            client
                .upsert(request)
                .await
                .map_err(|e| format!("gRPC upsert: {e}"))?;
            latencies.push(t.elapsed().as_nanos() as u64);
        }
    } else {
        let path = format!("/collections/{name}/points?wait=true");
        let bodies: Vec<Bytes> = ranges
            .iter()
            .map(|&(a, b)| {
                let points: Vec<serde_json::Value> = (a..b)
                    .map(|i| json!({"id": i, "vector": data.row(i), "payload": {"row": i}}))
                    .collect();
                Bytes::from(json!({ "points": points }).to_string())
            })
            .collect();
        meter = CpuMeter::start(server.pid());
        started = Instant::now();
        for body in bodies {
            let t = Instant::now();
            http.ok(Method::PUT, &path, body).await?;
            latencies.push(t.elapsed().as_nanos() as u64);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (client_cpu, server_cpu) = meter.finish();
    let stored = count(&mut http, name).await?;
    if stored != points as u64 {
        return Err(format!("{name}: {stored} points stored, {points} sent"));
    }
    Ok(UpsertRun {
        protocol: if grpc { "grpc" } else { "rest" },
        batch,
        points,
        seconds,
        points_per_s: points as f64 / seconds,
        batch_latency: summarize(&mut latencies),
        client_cpu,
        server_cpu,
    })
}

/// The searches of one `ef`, built once: REST bodies and gRPC requests.
struct Work {
    rest: Vec<Bytes>,
    grpc: Vec<proto::QueryPoints>,
    truth: Vec<Vec<u32>>,
}

impl Work {
    fn new(data: &Dataset, ef: u64) -> Self {
        let n = data.query_count();
        Work {
            rest: (0..n)
                .map(|i| Bytes::from(rest_query(data.query(i), K as u64, ef).to_string()))
                .collect(),
            grpc: (0..n)
                .map(|i| grpc_query(COLLECTION, data.query(i), K as u64, ef))
                .collect(),
            truth: data.truth.clone(),
        }
    }
}

enum Client {
    Rest(Http, String),
    Grpc(proto::points_client::PointsClient<tonic::transport::Channel>),
}

impl Client {
    async fn connect(server: &Server, grpc: bool) -> Result<Client, String> {
        Ok(if grpc {
            Client::Grpc(client::grpc_connect(server.grpc()).await?)
        } else {
            Client::Rest(
                Http::connect(server.rest()).await?,
                format!("/collections/{COLLECTION}/points/query"),
            )
        })
    }

    async fn search(&mut self, work: &Work, i: usize) -> Result<Vec<u64>, String> {
        match self {
            Client::Rest(http, path) => {
                let body = http.ok(Method::POST, path, work.rest[i].clone()).await?;
                query_ids(&body)
            }
            Client::Grpc(client) => {
                let reply = client
                    .query(work.grpc[i].clone())
                    .await
                    .map_err(|e| format!("gRPC query: {e}"))?;
                Ok(grpc_ids(reply.get_ref()))
            }
        }
    }
}

#[derive(Default)]
struct ClientResult {
    latencies: Vec<u64>,
    recall: Recall,
    errors: u64,
    first_error: Option<String>,
}

/// `clients` concurrent clients, each searching the queries in order from
/// its own offset, for `warmup` (not recorded) then `window`.
async fn search_run(
    server: &Server,
    work: &Arc<Work>,
    grpc: bool,
    clients: usize,
    warmup: Duration,
    window: Duration,
) -> Result<SearchRun, String> {
    let mut connected = Vec::with_capacity(clients);
    for _ in 0..clients {
        connected.push(Client::connect(server, grpc).await?);
    }
    let n = work.truth.len();
    let meter = CpuMeter::start(server.pid());
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
    let (client_cpu, server_cpu) = meter.finish();
    if all.latencies.is_empty() {
        return Err(format!(
            "no search answered: {}",
            all.first_error.unwrap_or_default()
        ));
    }
    let seconds = window.as_secs_f64();
    Ok(SearchRun {
        protocol: if grpc { "grpc" } else { "rest" },
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

/// `count` sequential `GET /livez` over one keep-alive connection: the
/// REST round trip with no work behind it.
async fn round_trips(server: &Server, count: usize) -> Result<Summary, String> {
    let mut http = Http::connect(server.rest()).await?;
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count + count / 10 {
        let t = Instant::now();
        http.ok(Method::GET, "/livez", Bytes::new()).await?;
        // The first tenth warms up.
        if i >= count / 10 {
            latencies.push(t.elapsed().as_nanos() as u64);
        }
    }
    Ok(summarize(&mut latencies))
}

/// The server's own time (the `time` of Qdrant's response envelope) of
/// every REST search of `work`, twice over (the first pass warms up), one
/// request at a time.
async fn handler_times(server: &Server, work: &Work) -> Result<Summary, String> {
    #[derive(serde::Deserialize)]
    struct Timed {
        time: f64,
    }
    let mut http = Http::connect(server.rest()).await?;
    let path = format!("/collections/{COLLECTION}/points/query");
    let mut times = Vec::with_capacity(work.rest.len());
    for pass in 0..2 {
        for body in &work.rest {
            let reply = http.ok(Method::POST, &path, body.clone()).await?;
            let timed: Timed =
                serde_json::from_slice(&reply).map_err(|e| format!("query response: {e}"))?;
            if pass == 1 {
                times.push((timed.time * 1e9) as u64);
            }
        }
    }
    Ok(summarize(&mut times))
}

/// recall@10 and QPS of one client over gRPC, every query once.
async fn calibrate(server: &Server, data: &Dataset, ef: u64) -> Result<Calibration, String> {
    let work = Work::new(data, ef);
    let mut client = Client::connect(server, true).await?;
    let mut recall = Recall::default();
    let started = Instant::now();
    for q in 0..work.truth.len() {
        let ids = client.search(&work, q).await?;
        recall.add(&ids, &work.truth[q], K);
    }
    Ok(Calibration {
        ef,
        recall: recall.value(K),
        qps: work.truth.len() as f64 / started.elapsed().as_secs_f64(),
    })
}

/// The same searches as the single-client runs, through
/// [`grape_db::Database::query`] on the stopped server's data directory,
/// one after the other for `warmup` then `window`. The requests are parsed
/// before the timer (an embedded caller builds them in Rust).
fn in_process_run(
    dir: &Path,
    data: &Dataset,
    work: &Work,
    warmup: Duration,
    window: Duration,
) -> Result<(Summary, f64, Summary), String> {
    let db = grape_db::Database::open(dir, grape_db::DbOptions::default())
        .map_err(|e| format!("opening {}: {e}", dir.display()))?;
    let requests = work
        .rest
        .iter()
        .map(|body| {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| e.to_string())?;
            grape_core::query::QueryRequest::from_value(&value).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let n = data.query_count();
    // The server's own parse of a `/points/query` body with a plain-list
    // query (the REST layer's dense fast path).
    let parse = |body: &Bytes| -> Result<grape_core::query::QueryRequest, String> {
        let (fields, vector) =
            crate::rest::split_dense(body, "query").ok_or("not a dense query body")?;
        crate::service::query_dense_request(fields, vector).map_err(|e| e.message().to_string())
    };
    let mut latencies = Vec::new();
    let mut parse_latencies = Vec::new();
    let mut recall = Recall::default();
    let measure_from = Instant::now() + warmup;
    let end = measure_from + window;
    let mut j = 0;
    loop {
        let p0 = Instant::now();
        if p0 >= end {
            break;
        }
        let q = j % n;
        j += 1;
        // The parse is timed apart: the query below runs the request
        // parsed before the loop.
        std::hint::black_box(parse(&work.rest[q])?);
        let t0 = Instant::now();
        if p0 >= measure_from {
            parse_latencies.push((t0 - p0).as_nanos() as u64);
        }
        let hits = db
            .query(COLLECTION, &requests[q])
            .map_err(|e| format!("in-process query: {e}"))?;
        let t1 = Instant::now();
        if t1 >= measure_from {
            latencies.push((t1 - t0).as_nanos() as u64);
            let ids: Vec<u64> = hits
                .iter()
                .filter_map(|h| match h.id {
                    grape_core::payload::PointId::Num(n) => Some(n),
                    _ => None,
                })
                .collect();
            recall.add(&ids, &work.truth[q], K);
        }
    }
    db.shutdown()
        .map_err(|e| format!("closing the database: {e}"))?;
    Ok((
        summarize(&mut latencies),
        recall.value(K),
        summarize(&mut parse_latencies),
    ))
}

fn say(message: &str) {
    eprintln!("[grape bench] {message}");
}

/// Runs the benchmark: a fresh server on a temporary data directory (removed
/// at the end), the load, the search runs, the upsert runs, then the
/// in-process reference.
pub fn run(args: &BenchArgs) -> Result<Report, String> {
    let (limit_base, limit_queries) = if args.quick {
        (Some(10_000), Some(200))
    } else {
        (None, None)
    };
    let data = Dataset::load(&args.data, &args.dataset, limit_base, limit_queries, K)?;
    if data.is_empty() || data.query_count() == 0 {
        return Err("the dataset is empty".into());
    }
    let window =
        Duration::from_secs_f64(args.seconds.unwrap_or(if args.quick { 1.0 } else { 10.0 }));
    let warmup = if args.quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(1)
    };
    let upsert_points = args
        .upsert_points
        .unwrap_or(if args.quick { 2_000 } else { 10_000 })
        .min(data.len());
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let scratch = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let dir = scratch.join(format!(
        "grape-bench-{}-{}",
        std::process::id(),
        started_unix
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    // The load generator needs one thread when the server is another
    // process; in process, the server gets the machine's threads.
    let threads = if args.in_process {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        1
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let result = runtime.block_on(serve_phase(
        args,
        &data,
        &dir,
        warmup,
        window,
        upsert_points,
    ));
    let result = result.and_then(|(mut report, work)| {
        say("in process: Database::query on the same data directory");
        let (db_latency, db_recall, parse_latency) =
            in_process_run(&dir, &data, &work, warmup, window)?;
        let p50 = |grpc: &str| {
            report
                .search
                .iter()
                .find(|r| r.protocol == grpc && r.clients == 1)
                .map(|r| r.latency.p50_ms)
        };
        if let (Some(rest), Some(grpc)) = (p50("rest"), p50("grpc")) {
            let rest_overhead_ms = rest - db_latency.p50_ms;
            report.overhead = Some(Overhead {
                db_latency,
                db_recall,
                parse_latency,
                rest_floor: report.rest_floor,
                rest_handler: report.rest_handler,
                rest_p50_ms: rest,
                grpc_p50_ms: grpc,
                rest_overhead_ms,
                grpc_overhead_ms: grpc - db_latency.p50_ms,
                goal_ms: OVERHEAD_GOAL_MS,
                pass: rest_overhead_ms <= OVERHEAD_GOAL_MS,
            });
        }
        report.started_unix = started_unix;
        Ok(report)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn serve_phase(
    args: &BenchArgs,
    data: &Dataset,
    dir: &Path,
    warmup: Duration,
    window: Duration,
    upsert_points: usize,
) -> Result<(Report, Work), String> {
    say(&format!("starting the server on {}", dir.display()));
    let server = start_server(args, dir).await?;
    let result = measure(args, data, &server, warmup, window, upsert_points).await;
    say("stopping the server");
    let stopped = server.stop().await;
    let out = result?;
    stopped?;
    Ok(out)
}

async fn measure(
    args: &BenchArgs,
    data: &Dataset,
    server: &Server,
    warmup: Duration,
    window: Duration,
    upsert_points: usize,
) -> Result<(Report, Work), String> {
    say(&format!(
        "loading {} points × {} over gRPC (batches of 1,000)",
        data.len(),
        data.dim
    ));
    let load = upsert_run(server, data, COLLECTION, true, 1_000, data.len()).await?;
    say(&format!("loaded: {:.0} points/s", load.points_per_s));

    let mut calibration = Vec::new();
    let ef = match args.ef {
        Some(ef) => {
            calibration.push(calibrate(server, data, ef).await?);
            ef
        }
        None => {
            let mut chosen = None;
            for ef in EF_GRID {
                let c = calibrate(server, data, ef).await?;
                say(&format!("ef {ef}: recall@10 {:.4}", c.recall));
                let reached = c.recall >= TARGET_RECALL;
                calibration.push(c);
                if reached {
                    chosen = Some(ef);
                    break;
                }
            }
            chosen.ok_or("no ef of the grid reaches recall@10 0.95")?
        }
    };

    let work = Arc::new(Work::new(data, ef));
    let mut search = Vec::new();
    for grpc in [false, true] {
        for &clients in &args.clients {
            let run = search_run(server, &work, grpc, clients.max(1), warmup, window).await?;
            say(&format!(
                "{} × {}: {:.0} QPS, p50 {:.3} ms, p99 {:.3} ms, recall {:.4}",
                run.protocol,
                run.clients,
                run.qps,
                run.latency.p50_ms,
                run.latency.p99_ms,
                run.recall
            ));
            search.push(run);
        }
    }

    let rest_floor = round_trips(server, 2_000).await?;
    say(&format!("GET /livez: p50 {:.3} ms", rest_floor.p50_ms));
    let rest_handler = handler_times(server, &work).await?;
    say(&format!(
        "REST search handler: p50 {:.3} ms",
        rest_handler.p50_ms
    ));

    let mut upsert = Vec::new();
    for grpc in [false, true] {
        for batch in [100, 1_000] {
            let name = format!("upsert-{}-{batch}", if grpc { "grpc" } else { "rest" });
            let run = upsert_run(server, data, &name, grpc, batch, upsert_points).await?;
            say(&format!(
                "upsert {} batch {batch}: {:.0} points/s",
                run.protocol, run.points_per_s
            ));
            upsert.push(run);
            let mut http = Http::connect(server.rest()).await?;
            http.ok(
                Method::DELETE,
                &format!("/collections/{name}"),
                Bytes::new(),
            )
            .await?;
        }
    }

    let report = Report {
        dataset: args.dataset.clone(),
        points: data.len(),
        dim: data.dim,
        queries: data.query_count(),
        k: K,
        ef,
        hnsw_m: HNSW_M,
        hnsw_ef_construct: HNSW_EF_CONSTRUCT,
        quick: args.quick,
        server: if args.in_process {
            "in-process"
        } else {
            "process"
        },
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        started_unix: 0,
        load,
        calibration,
        search,
        upsert,
        overhead: None,
        rest_floor: Some(rest_floor),
        rest_handler: Some(rest_handler),
    };
    let work = Arc::try_unwrap(work).unwrap_or_else(|w| Work {
        rest: w.rest.clone(),
        grpc: w.grpc.clone(),
        truth: w.truth.clone(),
    });
    Ok((report, work))
}

fn cores(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |c| format!("{c:.2}"))
}

fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl Report {
    /// The results as Markdown tables (the body of the generated block of
    /// `docs/bench/README.md`).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let server = if self.server == "process" {
            format!("a separate `grape serve` process ({} build)", self.build)
        } else {
            format!("the benchmark's own process ({} build)", self.build)
        };
        s.push_str(&format!(
            "`{}`: {} points × {}, cosine, HNSW m {}, ef_construct {}; {} queries, k = {}. \
             Server: {server}, fresh data directory, loopback. Client and server share the \
             machine's {} cores; *client* and *server* CPU are each process's CPU time over the \
             run's wall time, in cores; *load avg* is the machine's 1-minute load average at the end of the \
             run (other processes' work included).{}\n\n",
            self.dataset,
            thousands(self.points as f64),
            self.dim,
            self.hnsw_m,
            self.hnsw_ef_construct,
            thousands(self.queries as f64),
            self.k,
            self.cores,
            if self.quick {
                " **Quick run (smoke test), not for comparison.**"
            } else {
                ""
            },
        ));
        s.push_str(&format!(
            "Load: {} points over gRPC in batches of 1,000 (`wait=true`): {} points/s.\n\n",
            thousands(self.load.points as f64),
            thousands(self.load.points_per_s)
        ));
        let cal: Vec<String> = self
            .calibration
            .iter()
            .map(|c| format!("ef {} → {:.4}", c.ef, c.recall))
            .collect();
        s.push_str(&format!(
            "ef = {} (the smallest of the grid with recall@10 ≥ {TARGET_RECALL}; one gRPC \
             client, every query: {}).\n\n",
            self.ef,
            cal.join(", ")
        ));
        s.push_str("### Search\n\n");
        s.push_str(&format!(
            "k = {}, `hnsw_ef` = {}, no payload; REST `POST /collections/{{c}}/points/query` \
             (hyper, one keep-alive connection per client), gRPC `Points/Query` (tonic, one \
             channel per client). Each run: a warm-up, then {} s measured; recall@10 of every \
             measured answer.\n\n",
            self.k,
            self.ef,
            self.search.first().map_or(0.0, |r| r.seconds)
        ));
        s.push_str("| API | clients | QPS | p50 ms | p90 ms | p99 ms | recall@10 | client CPU | server CPU | load avg | errors |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.search {
            s.push_str(&format!(
                "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.4} | {} | {} | {} | {} |\n",
                if r.protocol == "rest" { "REST" } else { "gRPC" },
                r.clients,
                thousands(r.qps),
                r.latency.p50_ms,
                r.latency.p90_ms,
                r.latency.p99_ms,
                r.recall,
                cores(r.client_cpu),
                cores(r.server_cpu),
                cores(r.load_average),
                r.errors
            ));
        }
        if let Some(o) = &self.overhead {
            s.push_str("\n### Overhead per search\n\n");
            s.push_str(&format!(
                "The same queries in the same order through `grape_db::Database::query` on the \
                 server's data directory (opened in the benchmark's process after the server \
                 stopped; requests parsed before the timer), one at a time: p50 {:.3} ms, p99 \
                 {:.3} ms, recall@10 {:.4}.\n\n",
                o.db_latency.p50_ms, o.db_latency.p99_ms, o.db_recall
            ));
            s.push_str(&format!(
                "Parsing one request body in process (JSON bytes → `QueryRequest` by the REST \
                 layer's own code, what the server does before the same call) takes p50 {:.3} ms{}.\n\n",
                o.parse_latency.p50_ms,
                o.rest_floor.map_or(String::new(), |f| format!(
                    "; a REST round trip with no work behind it (`GET /livez`, one client) \
                     p50 {:.3} ms",
                    f.p50_ms
                ))
            ));
            if let Some(h) = o.rest_handler {
                s.push_str(&format!(
                    "The server's own time per REST search (the response's `time`: handler start \
                     to response built, body read and routing before it, writing the response \
                     after it), one client: p50 {:.3} ms, p99 {:.3} ms.\n\n",
                    h.p50_ms, h.p99_ms
                ));
            }
            s.push_str(
                "| API | p50 one client | in process p50 | overhead |\n|---|---:|---:|---:|\n",
            );
            s.push_str(&format!(
                "| REST | {:.3} ms | {:.3} ms | {:.3} ms |\n| gRPC | {:.3} ms | {:.3} ms | {:.3} ms |\n\n",
                o.rest_p50_ms,
                o.db_latency.p50_ms,
                o.rest_overhead_ms,
                o.grpc_p50_ms,
                o.db_latency.p50_ms,
                o.grpc_overhead_ms
            ));
            s.push_str(&format!(
                "Goal: REST p50 overhead ≤ {} ms: {:.3} ms — **{}**.\n",
                o.goal_ms,
                o.rest_overhead_ms,
                if o.pass { "PASS" } else { "FAIL" }
            ));
        }
        s.push_str("\n### Upsert\n\n");
        s.push_str(&format!(
            "{} points per run into a fresh collection (same config), one request after the \
             other, `wait=true`, payload `{{\"row\": i}}`; the request bodies are built before \
             the timer. Writes are durable (fsync) before the response.\n\n",
            thousands(self.upsert.first().map_or(0, |r| r.points) as f64)
        ));
        s.push_str("| API | batch | points/s | p50 ms per batch | p99 ms per batch | client CPU | server CPU |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.upsert {
            s.push_str(&format!(
                "| {} | {} | {} | {:.1} | {:.1} | {} | {} |\n",
                if r.protocol == "rest" { "REST" } else { "gRPC" },
                thousands(r.batch as f64),
                thousands(r.points_per_s),
                r.batch_latency.p50_ms,
                r.batch_latency.p99_ms,
                cores(r.client_cpu),
                cores(r.server_cpu)
            ));
        }
        s
    }
}

/// `grape bench`: runs the benchmark, prints the tables, writes the JSON
/// (`--out`) and the Markdown (`--markdown`).
pub fn cli_main(args: BenchArgs) -> ExitCode {
    let report = match run(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("grape bench: {e}");
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
            eprintln!("grape bench: {e}");
            status = ExitCode::FAILURE;
        }
    }
    if let Some(path) = &args.markdown
        && let Err(e) = write(path, markdown)
    {
        eprintln!("grape bench: {e}");
        status = ExitCode::FAILURE;
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }

    #[test]
    fn cpu_of_this_process_is_readable_on_linux() {
        if Path::new("/proc/self/stat").exists() {
            assert!(cpu_seconds(None).is_some_and(|s| s >= 0.0));
        }
    }
}
