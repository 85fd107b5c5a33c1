//! The server as one node of a Raft cluster: the service's writes go
//! through [`ClusterNode::write`] (forwarded to the leader from a follower,
//! acknowledged once committed and applied on this node), strong reads wait
//! on a read barrier, and `GET /cluster` plus the peer admin routes report
//! and change the membership.
//!
//! Consistency (Qdrant's `consistency` / `read_consistency`): the default
//! (`1`, or none) reads this node's replica, which holds every write this
//! node acknowledged and lags the leader by what is still being applied;
//! `majority`, `quorum`, `all` or a number above 1 first pass a linearizable
//! read barrier (read-index on the leader), so the read sees every write
//! acknowledged by any node before it started.

use std::collections::BTreeMap;
use std::time::Duration;

use grape_cluster::node::{ClusterError, ClusterNode, ClusterStatus, Role};
use grape_db::{Mutation, Outcome};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::shapes::{check_fields, get, object};

/// How long a write or a read barrier may wait for the cluster by default.
pub const DEFAULT_CLUSTER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long adding a learner may take (it catches up first).
const ADD_PEER_TIMEOUT: Duration = Duration::from_secs(600);

/// This server's node of the cluster.
#[derive(Clone)]
pub struct Cluster {
    node: ClusterNode,
    timeout: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.node.status().id)
            .finish_non_exhaustive()
    }
}

/// What a cluster failure means for the client.
pub fn api_error(e: ClusterError) -> ApiError {
    match e {
        ClusterError::Rejected { code, message } => {
            let kind = match code.as_str() {
                "unknown_collection" | "unknown_alias" => ErrorKind::NotFound,
                "already_exists" => ErrorKind::Conflict,
                _ => ErrorKind::BadRequest,
            };
            ApiError::new(kind, message)
        }
        ClusterError::NoLeader | ClusterError::Transport(_) => {
            ApiError::new(ErrorKind::Unavailable, e.to_string())
        }
        ClusterError::Timeout { .. } => ApiError::new(ErrorKind::Timeout, e.to_string()),
        ClusterError::NotMember { .. } => ApiError::not_found(e.to_string()),
        ClusterError::InvalidRequest(m) => ApiError::bad_request(m),
        other => ApiError::internal(other.to_string()),
    }
}

/// Whether Qdrant's `consistency` value asks for more than this replica:
/// `majority`, `quorum`, `all` or a number above 1. Anything else is an
/// error naming the parameter.
pub fn is_strong(consistency: &str) -> ApiResult<bool> {
    match consistency {
        "majority" | "quorum" | "all" => Ok(true),
        n => match n.parse::<u64>() {
            Ok(0) | Err(_) => Err(ApiError::bad_request(format!(
                "consistency: expected a positive number, `majority`, `quorum` or `all`, got {n:?}"
            ))),
            Ok(n) => Ok(n > 1),
        },
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leader => "Leader",
        Role::Follower => "Follower",
        Role::Candidate => "Candidate",
        Role::Learner => "Learner",
        Role::Shutdown => "Shutdown",
        _ => "Unknown",
    }
}

impl Cluster {
    /// The server's view of `node`; writes and read barriers wait at most
    /// `timeout`.
    pub fn new(node: ClusterNode, timeout: Duration) -> Cluster {
        Cluster { node, timeout }
    }

    /// The node.
    pub fn node(&self) -> &ClusterNode {
        &self.node
    }

    /// Replicates `m`; its outcome and the Raft log index as operation id.
    pub async fn write(&self, m: Mutation) -> ApiResult<(Outcome, u64)> {
        let written = self.node.write(m, self.timeout).await.map_err(api_error)?;
        let index = written.log_index;
        let outcome = written.outcome().map_err(api_error)?;
        Ok((outcome, index))
    }

    /// Waits until this replica has applied every write acknowledged
    /// anywhere in the cluster before the call.
    pub async fn read_barrier(&self) -> ApiResult<()> {
        self.node
            .read_barrier(self.timeout)
            .await
            .map_err(api_error)
    }

    /// `GET /cluster` in Qdrant's `ClusterStatus` shape (Grape adds
    /// `grape`: the log and apply positions, voters and learners).
    pub fn info(&self) -> Value {
        let s: ClusterStatus = self.node.status();
        let mut peers = serde_json::Map::new();
        for (id, addr) in s.voters.iter().chain(&s.learners) {
            peers.insert(id.to_string(), json!({"uri": format!("http://{addr}/")}));
        }
        json!({
            "status": "enabled",
            "peer_id": s.id,
            "peers": peers,
            "raft_info": {
                "term": s.term,
                "commit": s.committed.unwrap_or(0),
                "pending_operations": s.pending,
                "leader": s.leader.as_ref().map(|(id, _)| *id),
                "role": role_name(s.role),
                "is_voter": s.voters.contains_key(&s.id),
            },
            "consensus_thread_status": {
                "consensus_thread_status": if s.role == Role::Shutdown { "stopped" } else { "working" },
            },
            "message_send_failures": {},
            "grape": {
                "last_log_index": s.last_log_index,
                "last_applied": s.last_applied,
                "snapshot_index": s.snapshot,
                "joint": s.joint,
                "leader_addr": s.leader.as_ref().map(|(_, a)| a.clone()),
                "voters": s.voters.keys().collect::<Vec<_>>(),
                "learners": s.learners.keys().collect::<Vec<_>>(),
            },
        })
    }

    /// `POST /cluster/peer` (Grape): `{"id", "addr"}` joins a started,
    /// empty node as a learner; returns once it has caught up.
    pub async fn add_peer(&self, body: Value) -> ApiResult<Value> {
        let map = object(&body)?;
        check_fields(&map, &["id", "addr"])?;
        let id = get(&map, "id")
            .and_then(Value::as_u64)
            .ok_or_else(|| ApiError::bad_request("id: expected a node id (unsigned integer)"))?;
        let addr = get(&map, "addr")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ApiError::bad_request("addr: expected the node's host:port"))?
            .to_string();
        self.node
            .add_learner(id, addr, ADD_PEER_TIMEOUT)
            .await
            .map_err(api_error)?;
        Ok(Value::Bool(true))
    }

    /// `POST /cluster/peer/{id}/promote` (Grape): a learner becomes a voter.
    pub async fn promote(&self, id: u64) -> ApiResult<Value> {
        self.node
            .promote(id, self.timeout)
            .await
            .map_err(api_error)?;
        Ok(Value::Bool(true))
    }

    /// `DELETE /cluster/peer/{id}` (Qdrant's): removes the node from the
    /// cluster.
    pub async fn remove(&self, id: u64) -> ApiResult<Value> {
        self.node
            .remove(id, self.timeout)
            .await
            .map_err(api_error)?;
        Ok(Value::Bool(true))
    }
}

/// Parses `--cluster 1=host:port,2=host:port`.
pub fn parse_members(spec: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut members = BTreeMap::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("cluster member {part:?}: expected id=host:port"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| format!("cluster member {part:?}: {id:?} is not a node id"))?;
        let addr = addr.trim();
        if addr.is_empty() || !addr.contains(':') {
            return Err(format!("cluster member {part:?}: expected host:port"));
        }
        if members.insert(id, addr.to_string()).is_some() {
            return Err(format!("cluster member {id} given twice"));
        }
    }
    if members.is_empty() {
        return Err("cluster: no members".into());
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistency_values_map_onto_local_or_linearizable_reads() {
        assert!(!is_strong("1").unwrap());
        for strong in ["2", "majority", "quorum", "all"] {
            assert!(is_strong(strong).unwrap(), "{strong}");
        }
        for bad in ["0", "-1", "strong", ""] {
            assert_eq!(is_strong(bad).unwrap_err().http_status(), 400, "{bad}");
        }
    }

    #[test]
    fn members_parse_and_bad_specs_are_named() {
        let m = parse_members("1=127.0.0.1:7001, 2=127.0.0.1:7002").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[&2], "127.0.0.1:7002");
        for bad in ["", "1", "x=a:1", "1=", "1=a:1,1=b:2", "1=nohost"] {
            assert!(parse_members(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejected_writes_keep_the_status_of_their_error() {
        let e = |code: &str| {
            api_error(ClusterError::Rejected {
                code: code.into(),
                message: "m".into(),
            })
            .http_status()
        };
        assert_eq!(e("unknown_collection"), 404);
        assert_eq!(e("already_exists"), 409);
        assert_eq!(e("dimension_mismatch"), 400);
        assert_eq!(api_error(ClusterError::NoLeader).http_status(), 503);
    }
}
