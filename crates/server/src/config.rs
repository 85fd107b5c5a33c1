//! [`Config`]: the server's settings. Each comes from, in order of
//! precedence: a command-line flag, an environment variable (prefix
//! `GRAPE_`, e.g. `GRAPE_API_KEY`), the config file (`--config`, TOML or
//! YAML by extension), then the default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Default REST port (Qdrant's).
pub const DEFAULT_HTTP_PORT: u16 = 6333;
/// Default gRPC port (Qdrant's).
pub const DEFAULT_GRPC_PORT: u16 = 6334;
/// Default largest request body: 32 MiB (Qdrant's `max_request_size_mb`).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;
/// Default largest uploaded snapshot: 4 GiB.
pub const DEFAULT_MAX_SNAPSHOT_BYTES: usize = 4 * 1024 * 1024 * 1024;

/// The server's settings, complete (every default filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The database directory (created if missing).
    pub data_dir: PathBuf,
    /// Where collection snapshots are written (default `<data_dir>/snapshots`).
    pub snapshots_dir: PathBuf,
    /// The address to listen on (default `127.0.0.1`).
    pub host: String,
    /// The REST port (default 6333; 0 picks a free one).
    pub http_port: u16,
    /// The gRPC port (default 6334; 0 picks a free one); `None` serves no gRPC.
    pub grpc_port: Option<u16>,
    /// The API key every request must carry (`api-key` header or
    /// `Authorization: Bearer`); `None` disables auth.
    pub api_key: Option<String>,
    /// A key that may only read (search, get, scroll, count, list).
    pub read_only_api_key: Option<String>,
    /// Largest request body in bytes; larger ones get 413.
    pub max_request_bytes: usize,
    /// Largest snapshot upload in bytes.
    pub max_snapshot_bytes: usize,
    /// Answer CORS requests from any origin (Qdrant's `enable_cors`, on by
    /// default).
    pub cors: bool,
    /// The `tracing` filter (`RUST_LOG` syntax) used by the binary.
    pub log_level: String,
    /// Run as one node of a Raft cluster; `None` serves alone.
    pub cluster: Option<ClusterConfig>,
    /// **Test only**: serve `POST /cluster/fault`, which partitions the
    /// node or breaks its writes on purpose (`rest::fault_routes`). Set only
    /// by the hidden `--fault-injection` flag; off by default.
    pub fault_injection: bool,
}

/// A node's cluster settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This node's id (unique in the cluster, never reused after its data
    /// was wiped).
    pub node_id: u64,
    /// The members to bootstrap a new cluster with (`id -> host:port` of
    /// their REST listeners; must include this node). Every listed node
    /// initializes the same membership, which Raft makes safe; a restarted
    /// node keeps its own state. Empty: start uninitialized and wait to be
    /// added (`POST /cluster/peer` on a member).
    pub members: std::collections::BTreeMap<u64, String>,
    /// The `host:port` other nodes reach this node's REST listener at
    /// (default: the member entry of this node, else `host:http_port`).
    pub advertise: Option<String>,
    /// Shared secret of the Raft and forwarding endpoints
    /// (`x-grape-cluster-key`); `None` leaves them open (loopback only!).
    pub cluster_key: Option<String>,
    /// How long a write or a strong read waits for the cluster, in ms
    /// (default 10,000).
    pub timeout_ms: u64,
}

impl Config {
    /// Defaults for a data directory: loopback, Qdrant's ports, no keys.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Config {
            snapshots_dir: data_dir.join("snapshots"),
            data_dir,
            host: "127.0.0.1".to_string(),
            http_port: DEFAULT_HTTP_PORT,
            grpc_port: Some(DEFAULT_GRPC_PORT),
            api_key: None,
            read_only_api_key: None,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_snapshot_bytes: DEFAULT_MAX_SNAPSHOT_BYTES,
            cors: true,
            log_level: "info".to_string(),
            cluster: None,
            fault_injection: false,
        }
    }
}

/// Settings as given by one source; `None` where that source is silent.
/// The config file has this shape (TOML or YAML).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialConfig {
    /// See [`Config::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// See [`Config::snapshots_dir`].
    pub snapshots_dir: Option<PathBuf>,
    /// See [`Config::host`].
    pub host: Option<String>,
    /// See [`Config::http_port`].
    pub http_port: Option<u16>,
    /// See [`Config::grpc_port`]; `0` picks a free port.
    pub grpc_port: Option<u16>,
    /// Disable the gRPC listener.
    pub disable_grpc: Option<bool>,
    /// See [`Config::api_key`].
    pub api_key: Option<String>,
    /// See [`Config::read_only_api_key`].
    pub read_only_api_key: Option<String>,
    /// See [`Config::max_request_bytes`].
    pub max_request_bytes: Option<usize>,
    /// See [`Config::max_snapshot_bytes`].
    pub max_snapshot_bytes: Option<usize>,
    /// See [`Config::cors`].
    pub cors: Option<bool>,
    /// See [`Config::log_level`].
    pub log_level: Option<String>,
    /// See [`ClusterConfig::node_id`]; setting it turns cluster mode on.
    pub node_id: Option<u64>,
    /// See [`ClusterConfig::members`], as `1=host:port,2=host:port`.
    pub cluster: Option<String>,
    /// See [`ClusterConfig::advertise`].
    pub advertise: Option<String>,
    /// See [`ClusterConfig::cluster_key`].
    pub cluster_key: Option<String>,
    /// See [`ClusterConfig::timeout_ms`].
    pub cluster_timeout_ms: Option<u64>,
}

/// A config file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("config file {}: {message}", path.display())]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl PartialConfig {
    /// Reads a config file: YAML for `.yaml`/`.yml`, TOML otherwise.
    pub fn from_file(path: &Path) -> Result<PartialConfig, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if yaml {
            serde_yaml::from_str(&text).map_err(|e| err(e.to_string()))
        } else {
            toml::from_str(&text).map_err(|e| err(e.to_string()))
        }
    }

    /// `self` where it says something, else `lower`.
    pub fn or(self, lower: PartialConfig) -> PartialConfig {
        PartialConfig {
            data_dir: self.data_dir.or(lower.data_dir),
            snapshots_dir: self.snapshots_dir.or(lower.snapshots_dir),
            host: self.host.or(lower.host),
            http_port: self.http_port.or(lower.http_port),
            grpc_port: self.grpc_port.or(lower.grpc_port),
            disable_grpc: self.disable_grpc.or(lower.disable_grpc),
            api_key: self.api_key.or(lower.api_key),
            read_only_api_key: self.read_only_api_key.or(lower.read_only_api_key),
            max_request_bytes: self.max_request_bytes.or(lower.max_request_bytes),
            max_snapshot_bytes: self.max_snapshot_bytes.or(lower.max_snapshot_bytes),
            cors: self.cors.or(lower.cors),
            log_level: self.log_level.or(lower.log_level),
            node_id: self.node_id.or(lower.node_id),
            cluster: self.cluster.or(lower.cluster),
            advertise: self.advertise.or(lower.advertise),
            cluster_key: self.cluster_key.or(lower.cluster_key),
            cluster_timeout_ms: self.cluster_timeout_ms.or(lower.cluster_timeout_ms),
        }
    }

    /// The complete configuration, defaults filling the gaps (data
    /// directory `./grape-data`). Empty keys count as no key. A cluster
    /// member list that does not parse, or one without this node, or
    /// cluster settings without a node id, are errors.
    pub fn finish(self) -> Result<Config, String> {
        let mut c = Config::new(
            self.data_dir
                .unwrap_or_else(|| PathBuf::from("./grape-data")),
        );
        if let Some(s) = self.snapshots_dir {
            c.snapshots_dir = s;
        }
        if let Some(h) = self.host {
            c.host = h;
        }
        if let Some(p) = self.http_port {
            c.http_port = p;
        }
        if let Some(p) = self.grpc_port {
            c.grpc_port = Some(p);
        }
        if self.disable_grpc == Some(true) {
            c.grpc_port = None;
        }
        c.api_key = self.api_key.filter(|k| !k.is_empty());
        c.read_only_api_key = self.read_only_api_key.filter(|k| !k.is_empty());
        if let Some(n) = self.max_request_bytes {
            c.max_request_bytes = n;
        }
        if let Some(n) = self.max_snapshot_bytes {
            c.max_snapshot_bytes = n;
        }
        if let Some(b) = self.cors {
            c.cors = b;
        }
        if let Some(l) = self.log_level {
            c.log_level = l;
        }
        c.cluster = match self.node_id {
            None => {
                if self.cluster.is_some() || self.advertise.is_some() {
                    return Err("--cluster and --advertise need --node-id".into());
                }
                None
            }
            Some(node_id) => {
                let members = match self.cluster.as_deref().filter(|s| !s.trim().is_empty()) {
                    Some(spec) => crate::cluster::parse_members(spec)?,
                    None => std::collections::BTreeMap::new(),
                };
                if !members.is_empty() && !members.contains_key(&node_id) {
                    return Err(format!(
                        "--cluster does not list this node (--node-id {node_id})"
                    ));
                }
                Some(ClusterConfig {
                    node_id,
                    members,
                    advertise: self.advertise.filter(|a| !a.is_empty()),
                    cluster_key: self.cluster_key.filter(|k| !k.is_empty()),
                    timeout_ms: self.cluster_timeout_ms.unwrap_or(10_000),
                })
            }
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_defaults_fill_the_rest() {
        let file: PartialConfig =
            toml::from_str("data_dir = \"/file\"\nhttp_port = 7000\napi_key = \"k\"\n").unwrap();
        let flags = PartialConfig {
            http_port: Some(8000),
            ..PartialConfig::default()
        };
        let c = flags.or(file).finish().unwrap();
        assert_eq!(c.http_port, 8000);
        assert_eq!(c.data_dir, PathBuf::from("/file"));
        assert_eq!(c.snapshots_dir, PathBuf::from("/file/snapshots"));
        assert_eq!(c.api_key.as_deref(), Some("k"));
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.grpc_port, Some(DEFAULT_GRPC_PORT));
    }

    #[test]
    fn cluster_settings_need_a_node_id_listed_among_the_members() {
        let c = PartialConfig {
            node_id: Some(2),
            cluster: Some("1=127.0.0.1:7001,2=127.0.0.1:7002".into()),
            ..PartialConfig::default()
        }
        .finish()
        .unwrap();
        let cluster = c.cluster.unwrap();
        assert_eq!(cluster.node_id, 2);
        assert_eq!(cluster.members.len(), 2);
        assert_eq!(cluster.timeout_ms, 10_000);
        let joiner = PartialConfig {
            node_id: Some(4),
            ..PartialConfig::default()
        }
        .finish()
        .unwrap();
        assert!(joiner.cluster.unwrap().members.is_empty());
        for bad in [
            PartialConfig {
                cluster: Some("1=a:1".into()),
                ..PartialConfig::default()
            },
            PartialConfig {
                node_id: Some(3),
                cluster: Some("1=a:1,2=b:2".into()),
                ..PartialConfig::default()
            },
            PartialConfig {
                node_id: Some(1),
                cluster: Some("1=a".into()),
                ..PartialConfig::default()
            },
        ] {
            assert!(bad.finish().is_err());
        }
    }

    #[test]
    fn yaml_and_toml_files_parse_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("c.yaml");
        std::fs::write(&yaml, "host: 0.0.0.0\ncors: false\ndisable_grpc: true\n").unwrap();
        let c = PartialConfig::from_file(&yaml).unwrap().finish().unwrap();
        assert_eq!(c.host, "0.0.0.0");
        assert!(!c.cors);
        assert_eq!(c.grpc_port, None);
        let bad = dir.path().join("c.toml");
        std::fs::write(&bad, "htp_port = 1\n").unwrap();
        let e = PartialConfig::from_file(&bad).unwrap_err();
        assert!(e.to_string().contains("htp_port"), "{e}");
    }
}
