//! openraft's type configuration for Grape.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A node's id. Never reused after a node's data is wiped (openraft's rule).
pub type NodeId = u64;

/// A node's address as the other nodes reach it: its REST `host:port`
/// (the Raft RPCs and forwarded writes travel over the REST listener).
pub type Node = openraft::BasicNode;

/// One replicated mutation: a [`grape_db::Mutation`] in its encoded form
/// (`Mutation::encode`), so that the log holds Grape's own versioned bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// `grape_db::Mutation::encode()` output.
    pub mutation: Vec<u8>,
}

/// What applying one entry produced on a node. Every node applies every
/// entry deterministically, so a mutation that is invalid fails the same way
/// everywhere (and is still marked applied).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Applied {
    /// A blank or membership entry.
    Nothing,
    /// The mutation succeeded; its outcome as `grape_db::Outcome` JSON.
    Done(serde_json::Value),
    /// The mutation failed: `grape_db::Error::code()` and its message.
    Failed { code: String, message: String },
}

openraft::declare_raft_types!(
    /// Grape's Raft types.
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// openraft's `Raft` handle for Grape.
pub type Raft = openraft::Raft<TypeConfig>;
