//! Running the server: open the database, bind the listeners, serve until
//! told to stop, finish in-flight requests, shut the database down.

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use grape_db::{Database, DbOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use std::time::Duration;

use grape_cluster::network::TransportOptions;
use grape_cluster::node::{ClusterNode, NodeConfig};

use crate::cluster::Cluster;
use crate::config::{ClusterConfig, Config};
use crate::rest::{RestAuth, RestOptions, router};
use crate::service::Service;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The database could not be opened or shut down.
    #[error("database: {0}")]
    Db(#[from] grape_db::Error),
    /// A listener could not be bound, or a file could not be written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A serving task failed.
    #[error("server task failed: {0}")]
    Task(String),
    /// The Raft node could not start.
    #[error("cluster: {0}")]
    Cluster(String),
}

/// A server started by [`start`]: its addresses, and [`Running::stop`].
#[derive(Debug)]
pub struct Running {
    rest_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    rest: JoinHandle<std::io::Result<()>>,
    grpc: Option<JoinHandle<Result<(), String>>>,
    service: Service,
}

impl Running {
    /// The address the REST API listens on.
    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    /// The address the gRPC API listens on, if it is served.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The service layer the transports share.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Stops accepting connections, waits for in-flight requests to
    /// finish, then shuts the database down (every acknowledged write
    /// durable, index files written, redb closed).
    pub async fn stop(self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        let rest = self
            .rest
            .await
            .map_err(|e| ServerError::Task(e.to_string()))
            .and_then(|r| {
                r.map_err(|source| ServerError::Io {
                    what: "serving REST".into(),
                    source,
                })
            });
        let grpc = match self.grpc {
            Some(task) => match task.await {
                Ok(r) => r.map_err(ServerError::Task),
                Err(e) => Err(ServerError::Task(e.to_string())),
            },
            None => Ok(()),
        };
        if let Some(cluster) = self.service.cluster() {
            if let Err(e) = cluster.node().shutdown().await {
                warn!("stopping the Raft node: {e}");
            }
            info!("Raft node stopped");
        }
        let db = self.service.database().clone();
        let closed = tokio::task::spawn_blocking(move || db.shutdown())
            .await
            .map_err(|e| ServerError::Task(e.to_string()))?;
        info!("database shut down");
        rest?;
        grpc?;
        closed?;
        Ok(())
    }
}

async fn bind(host: &str, port: u16, what: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind((host, port))
        .await
        .map_err(|source| ServerError::Io {
            what: format!("binding the {what} listener on {host}:{port}"),
            source,
        })
}

/// Opens the database in `config.data_dir` and starts serving REST (and
/// gRPC) on `config.host`. Returns once the listeners are bound.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    let data_dir = config.data_dir.clone();
    let db = tokio::task::spawn_blocking(move || Database::open(data_dir, DbOptions::default()))
        .await
        .map_err(|e| ServerError::Task(e.to_string()))??;
    std::fs::create_dir_all(&config.snapshots_dir).map_err(|source| ServerError::Io {
        what: format!("creating {}", config.snapshots_dir.display()),
        source,
    })?;
    // Absolute, so that `file://` snapshot locations can be checked
    // against it.
    let snapshots_dir =
        std::fs::canonicalize(&config.snapshots_dir).map_err(|source| ServerError::Io {
            what: format!("resolving {}", config.snapshots_dir.display()),
            source,
        })?;
    let rest_listener = bind(&config.host, config.http_port, "REST").await?;
    let rest_addr = rest_listener
        .local_addr()
        .map_err(|source| ServerError::Io {
            what: "reading the REST address".into(),
            source,
        })?;
    let service = match &config.cluster {
        None => Service::new(db, snapshots_dir),
        Some(cluster) => {
            let node = start_node(&config, cluster, rest_addr, db).await?;
            Service::clustered(
                Cluster::new(node, Duration::from_millis(cluster.timeout_ms)),
                snapshots_dir,
            )
        }
    };
    let (stop, stopped) = watch::channel(false);
    let signal = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let (app, _metrics) = router(
        service.clone(),
        RestOptions {
            auth: RestAuth {
                api_key: config.api_key.clone(),
                read_only_key: config.read_only_api_key.clone(),
            },
            max_request_bytes: config.max_request_bytes,
            max_snapshot_bytes: config.max_snapshot_bytes,
            cors: config.cors,
        },
    );
    // The node-to-node endpoints (Raft RPCs, forwarded writes) sit beside
    // the API, outside its API key: they check the cluster key.
    let app = match service.cluster() {
        Some(cluster) => app.merge(cluster.node().router()),
        None => app,
    };
    // Test only: the fault switches, outside the API's route table.
    let app = match service.cluster() {
        Some(cluster) if config.fault_injection => {
            warn!("fault injection is on: this server is for tests only");
            app.merge(crate::rest::fault_routes(
                cluster.node().clone(),
                RestAuth {
                    api_key: config.api_key.clone(),
                    read_only_key: config.read_only_api_key.clone(),
                },
            ))
        }
        _ => app,
    };
    let rest_stop = signal(stopped.clone());
    let rest = tokio::spawn(async move {
        // TCP_NODELAY on every connection, as HTTP servers do: small
        // responses go out at once instead of waiting for the client's ACK.
        let listener = rest_listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                warn!("cannot set TCP_NODELAY: {e}");
            }
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(rest_stop)
            .await
    });
    info!(%rest_addr, "REST API listening");

    // --- gRPC hook: Qdrant's gRPC services (crates/server/src/grpc/) ---
    let (grpc, grpc_addr) = match config.grpc_port {
        Some(port) => {
            let listener = bind(&config.host, port, "gRPC").await?;
            let addr = listener.local_addr().map_err(|source| ServerError::Io {
                what: "reading the gRPC address".into(),
                source,
            })?;
            let options = crate::grpc::GrpcOptions {
                auth: crate::grpc::GrpcAuth {
                    api_key: config.api_key.clone(),
                    read_only_key: config.read_only_api_key.clone(),
                },
                max_message_bytes: config.max_request_bytes,
            };
            let grpc_stop = signal(stopped.clone());
            let grpc_service = service.clone();
            let task = tokio::spawn(async move {
                crate::grpc::serve_with(grpc_service, listener, options, grpc_stop)
                    .await
                    .map_err(|e| e.to_string())
            });
            info!(grpc_addr = %addr, "gRPC API listening");
            (Some(task), Some(addr))
        }
        None => (None, None),
    };

    Ok(Running {
        rest_addr,
        grpc_addr,
        stop,
        rest,
        grpc,
        service,
    })
}

/// Starts this server's Raft node over `db` (its files in
/// `<data_dir>/raft`) and, when `cluster` lists bootstrap members,
/// initializes that membership (a no-op on a node that has state already).
async fn start_node(
    config: &Config,
    cluster: &ClusterConfig,
    rest_addr: SocketAddr,
    db: Database,
) -> Result<ClusterNode, ServerError> {
    let advertise = cluster
        .advertise
        .clone()
        .or_else(|| cluster.members.get(&cluster.node_id).cloned())
        .unwrap_or_else(|| format!("{}:{}", config.host, rest_addr.port()));
    let mut transport = TransportOptions::default();
    if let Some(key) = &cluster.cluster_key {
        transport = transport.with_cluster_key(key.clone());
    }
    let mut node_config = NodeConfig::new(
        cluster.node_id,
        advertise.clone(),
        config.data_dir.join("raft"),
    );
    node_config.transport = transport;
    let node = ClusterNode::start(node_config, db)
        .await
        .map_err(|e| ServerError::Cluster(e.to_string()))?;
    info!(node_id = cluster.node_id, %advertise, "Raft node started");
    if !cluster.members.is_empty() {
        node.initialize(cluster.members.clone())
            .await
            .map_err(|e| ServerError::Cluster(format!("initializing the cluster: {e}")))?;
    }
    Ok(node)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("SIGINT received: shutting down"),
        () = term => info!("SIGTERM received: shutting down"),
    }
}
