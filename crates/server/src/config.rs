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
        }
    }

    /// The complete configuration, defaults filling the gaps (data
    /// directory `./grape-data`). Empty keys count as no key.
    pub fn finish(self) -> Config {
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
        c
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
        let c = flags.or(file).finish();
        assert_eq!(c.http_port, 8000);
        assert_eq!(c.data_dir, PathBuf::from("/file"));
        assert_eq!(c.snapshots_dir, PathBuf::from("/file/snapshots"));
        assert_eq!(c.api_key.as_deref(), Some("k"));
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.grpc_port, Some(DEFAULT_GRPC_PORT));
    }

    #[test]
    fn yaml_and_toml_files_parse_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("c.yaml");
        std::fs::write(&yaml, "host: 0.0.0.0\ncors: false\ndisable_grpc: true\n").unwrap();
        let c = PartialConfig::from_file(&yaml).unwrap().finish();
        assert_eq!(c.host, "0.0.0.0");
        assert!(!c.cors);
        assert_eq!(c.grpc_port, None);
        let bad = dir.path().join("c.toml");
        std::fs::write(&bad, "htp_port = 1\n").unwrap();
        let e = PartialConfig::from_file(&bad).unwrap_err();
        assert!(e.to_string().contains("htp_port"), "{e}");
    }
}
