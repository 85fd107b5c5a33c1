//! `grape`: Grape's server. `grape serve` (the default command) serves a
//! data directory over Qdrant's REST API on port 6333 and its gRPC API on
//! 6334. `grape import` and `grape snapshot create|restore` work on a data
//! directory directly (`cli/`).
//!
//! Settings: flags, then `GRAPE_*` environment variables, then the
//! `--config` file (TOML, or YAML for `.yaml`/`.yml`), then defaults.

use std::path::PathBuf;
use std::process::ExitCode;

mod cli;

use clap::{Args, Parser, Subcommand};
use grape_server::{Config, PartialConfig, shutdown_signal, start};
use tracing::{error, info};

#[derive(Parser, Debug)]
#[command(
    name = "grape",
    version,
    about = "Grape: a Qdrant-compatible vector database"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a data directory over REST and gRPC (the default).
    Serve(ServeArgs),
    /// Import points from a JSONL or fvecs file into a collection (the
    /// server must not be running on the same data directory).
    Import(cli::import::ImportArgs),
    /// Write a collection to a snapshot file or restore one from it.
    #[command(subcommand)]
    Snapshot(cli::snapshot::SnapshotCommand),
    /// Benchmark a fresh server on an ANN dataset (search QPS and latency over
    /// REST and gRPC, upsert throughput, the REST overhead per search).
    Bench(grape_server::bench::BenchArgs),
    /// Benchmark a 3-node Raft cluster against a single node (replicated
    /// upserts, searches through each node, leader failover, catch-up).
    BenchCluster(grape_server::bench::cluster::ClusterBenchArgs),
}

#[derive(Args, Debug, Clone, Default)]
struct ServeArgs {
    /// Config file (TOML, or YAML for .yaml/.yml).
    #[arg(long, env = "GRAPE_CONFIG")]
    config: Option<PathBuf>,
    /// Database directory [default: ./grape-data].
    #[arg(long, env = "GRAPE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Snapshot directory [default: DATA_DIR/snapshots].
    #[arg(long, env = "GRAPE_SNAPSHOTS_DIR")]
    snapshots_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long, env = "GRAPE_HOST")]
    host: Option<String>,
    /// REST port [default: 6333].
    #[arg(long, env = "GRAPE_HTTP_PORT")]
    http_port: Option<u16>,
    /// gRPC port [default: 6334].
    #[arg(long, env = "GRAPE_GRPC_PORT")]
    grpc_port: Option<u16>,
    /// Serve no gRPC.
    #[arg(long, env = "GRAPE_DISABLE_GRPC")]
    disable_grpc: Option<bool>,
    /// API key required on every request (`api-key` header or bearer token).
    #[arg(long, env = "GRAPE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// API key that may only read.
    #[arg(long, env = "GRAPE_READ_ONLY_API_KEY", hide_env_values = true)]
    read_only_api_key: Option<String>,
    /// Largest request body in bytes [default: 33554432].
    #[arg(long, env = "GRAPE_MAX_REQUEST_BYTES")]
    max_request_bytes: Option<usize>,
    /// Largest snapshot upload in bytes [default: 4 GiB].
    #[arg(long, env = "GRAPE_MAX_SNAPSHOT_BYTES")]
    max_snapshot_bytes: Option<usize>,
    /// Answer CORS requests from any origin [default: true].
    #[arg(long, env = "GRAPE_CORS")]
    cors: Option<bool>,
    /// Log filter, RUST_LOG syntax [default: info].
    #[arg(long, env = "GRAPE_LOG")]
    log_level: Option<String>,
    /// Run as node ID of a Raft cluster (never reuse an id after wiping a
    /// node's data).
    #[arg(long, env = "GRAPE_NODE_ID")]
    node_id: Option<u64>,
    /// Bootstrap members, `1=host:port,2=host:port,3=host:port` (REST
    /// addresses, this node included). Without it a node waits to be added.
    #[arg(long, env = "GRAPE_CLUSTER")]
    cluster: Option<String>,
    /// host:port the other nodes reach this node's REST listener at.
    #[arg(long, env = "GRAPE_ADVERTISE")]
    advertise: Option<String>,
    /// Shared secret of the node-to-node endpoints.
    #[arg(long, env = "GRAPE_CLUSTER_KEY", hide_env_values = true)]
    cluster_key: Option<String>,
    /// How long a write or strong read waits for the cluster, in ms
    /// [default: 10000].
    #[arg(long, env = "GRAPE_CLUSTER_TIMEOUT_MS")]
    cluster_timeout_ms: Option<u64>,
    /// TEST ONLY, never in production: serve POST /cluster/fault, which
    /// partitions this node or makes it acknowledge writes before they
    /// commit (a deliberately broken mode) on request.
    #[arg(long, hide = true)]
    fault_injection: bool,
}

impl ServeArgs {
    fn partial(&self) -> PartialConfig {
        PartialConfig {
            data_dir: self.data_dir.clone(),
            snapshots_dir: self.snapshots_dir.clone(),
            host: self.host.clone(),
            http_port: self.http_port,
            grpc_port: self.grpc_port,
            disable_grpc: self.disable_grpc,
            api_key: self.api_key.clone(),
            read_only_api_key: self.read_only_api_key.clone(),
            max_request_bytes: self.max_request_bytes,
            max_snapshot_bytes: self.max_snapshot_bytes,
            cors: self.cors,
            log_level: self.log_level.clone(),
            node_id: self.node_id,
            cluster: self.cluster.clone(),
            advertise: self.advertise.clone(),
            cluster_key: self.cluster_key.clone(),
            cluster_timeout_ms: self.cluster_timeout_ms,
        }
    }

    fn config(&self) -> Result<Config, String> {
        let file = match &self.config {
            Some(path) => PartialConfig::from_file(path).map_err(|e| e.to_string())?,
            None => PartialConfig::default(),
        };
        let mut config = self.partial().or(file).finish()?;
        config.fault_injection = self.fault_injection;
        Ok(config)
    }
}

/// Prints an offline command's outcome: its summary on stdout, or its
/// error on stderr with a failing exit code.
fn finish(command: &str, outcome: Result<String, cli::CliError>) -> ExitCode {
    match outcome {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("grape {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Import(args)) => {
            let outcome = cli::import::run(&args)
                .map(|n| format!("imported {n} points into collection {:?}", args.collection));
            return finish("import", outcome);
        }
        Some(Command::Snapshot(command)) => {
            return finish("snapshot", cli::snapshot::run(&command));
        }
        Some(Command::Bench(args)) => return grape_server::bench::cli_main(args),
        Some(Command::BenchCluster(args)) => return grape_server::bench::cluster::cli_main(args),
        None => cli.serve,
    };
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("grape: {e}");
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        info!(data_dir = %config.data_dir.display(), "opening the database");
        let running = match start(config).await {
            Ok(r) => r,
            Err(e) => {
                error!("cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        shutdown_signal().await;
        match running.stop().await {
            Ok(()) => {
                info!("stopped cleanly");
                ExitCode::SUCCESS
            }
            Err(e) => {
                error!("stopping failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
