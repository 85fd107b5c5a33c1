//! Grape's Raft replication on [openraft](https://docs.rs/openraft/0.9.25):
//! every mutation of collections and points is a log entry
//! ([`types::Command`], an encoded [`grape_db::Mutation`]) that each node's
//! state machine applies to its own `grape-db`.
//!
//! - [`types`]: openraft's type configuration.
//! - `log_store`: the Raft log and vote in their own redb file.
//! - `state_machine`: applies entries to `grape-db` (data and the applied
//!   log id in one redb transaction) and builds/installs snapshots in the
//!   portable byte format.
//! - `network`: the transport between nodes.
//! - [`node`]: the node the server embeds ([`ClusterNode`]): routing of
//!   writes to the leader, read barriers, membership, status.

pub mod log_store;
pub mod network;
pub mod node;
pub mod state_machine;
pub mod types;

pub use node::{ClusterError, ClusterNode, ClusterStatus, NodeConfig, Role, Written};
