//! Client histories of writes and the checker that holds them against what
//! the replicas hold.
//!
//! Every write upserts one point with a payload value `v`. A write is
//! *acknowledged* when the node answered 200; an error or a missing answer
//! leaves it *indeterminate* (it may or may not have been applied). After
//! the cluster is quiet, each replica's points (a read through each node,
//! with a read barrier and locally) must satisfy, for every view:
//!
//! - every acknowledged write is present, exactly once, with a value that
//!   was sent for its id;
//! - no point is present that was never sent (a phantom), none twice, none
//!   with a value that was never sent for it;
//! - an indeterminate write may be present or absent, but the replicas
//!   agree on which (they converge).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep};

use crate::harness::{COLLECTION, Cluster, NoAnswer, call, vector};

/// How one write ended for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200: acknowledged.
    Ok,
    /// An HTTP error status (503 no leader, 504 timeout, ...).
    Status(u16),
    /// No HTTP answer.
    NoAnswer(NoAnswer),
}

/// One write in a client history. Times are from the recorder's start.
#[derive(Debug, Clone)]
pub struct Op {
    /// The op's number in the history.
    pub id: u64,
    /// The node it was sent to.
    pub node: u64,
    /// The point id it upserts.
    pub point: u64,
    /// The payload value `v` it sends.
    pub value: i64,
    pub start: Duration,
    pub end: Duration,
    pub result: Outcome,
}

impl Op {
    pub fn acked(&self) -> bool {
        self.result == Outcome::Ok
    }
}

/// What one view (a node, read one way) holds: `(point id, value v)` as
/// read, in read order; `None` for a missing or non-integer value.
#[derive(Debug, Clone)]
pub struct View {
    pub name: String,
    pub points: Vec<(u64, Option<i64>)>,
}

/// A broken promise found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// An acknowledged write is not in the view.
    LostAck { view: String, op: u64, point: u64 },
    /// A point is in the view more than once.
    Duplicate {
        view: String,
        point: u64,
        times: usize,
    },
    /// A point no write ever sent.
    Phantom { view: String, point: u64 },
    /// A point whose value no write sent for it.
    WrongValue {
        view: String,
        point: u64,
        found: Option<i64>,
        sent: Vec<i64>,
    },
    /// The views disagree on whether (or with which value) a point is
    /// present.
    Diverged {
        point: u64,
        present: Vec<String>,
        absent: Vec<String>,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::LostAck { view, op, point } => {
                write!(
                    f,
                    "{view}: acknowledged write #{op} of point {point} is missing"
                )
            }
            Violation::Duplicate { view, point, times } => {
                write!(f, "{view}: point {point} is present {times} times")
            }
            Violation::Phantom { view, point } => {
                write!(f, "{view}: point {point} was never written")
            }
            Violation::WrongValue {
                view,
                point,
                found,
                sent,
            } => write!(
                f,
                "{view}: point {point} has value {found:?}, sent were {sent:?}"
            ),
            Violation::Diverged {
                point,
                present,
                absent,
            } => write!(
                f,
                "point {point} differs between views: as in {present:?}, not as in {absent:?}"
            ),
        }
    }
}

/// Holds `history` against `views` (see the module docs); the violations,
/// empty when the history is consistent with what the replicas hold.
pub fn check(history: &[Op], views: &[View]) -> Vec<Violation> {
    let mut sent: BTreeMap<u64, BTreeSet<i64>> = BTreeMap::new();
    let mut acked: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for op in history {
        sent.entry(op.point).or_default().insert(op.value);
        if op.acked() {
            acked.entry(op.point).or_default().push(op.id);
        }
    }
    let mut out = Vec::new();
    // What each view holds per point, for the convergence check.
    let mut held: BTreeMap<u64, BTreeMap<&str, Option<i64>>> = BTreeMap::new();
    for view in views {
        let mut seen: BTreeMap<u64, Vec<Option<i64>>> = BTreeMap::new();
        for &(point, value) in &view.points {
            seen.entry(point).or_default().push(value);
        }
        for (&point, values) in &seen {
            if values.len() > 1 {
                out.push(Violation::Duplicate {
                    view: view.name.clone(),
                    point,
                    times: values.len(),
                });
            }
            match sent.get(&point) {
                None => out.push(Violation::Phantom {
                    view: view.name.clone(),
                    point,
                }),
                Some(values_sent) => {
                    for found in values {
                        if !found.is_some_and(|v| values_sent.contains(&v)) {
                            out.push(Violation::WrongValue {
                                view: view.name.clone(),
                                point,
                                found: *found,
                                sent: values_sent.iter().copied().collect(),
                            });
                        }
                    }
                }
            }
        }
        for (point, ops) in &acked {
            if !seen.contains_key(point) {
                out.push(Violation::LostAck {
                    view: view.name.clone(),
                    op: ops[0],
                    point: *point,
                });
            }
        }
        for (&point, values) in &seen {
            held.entry(point).or_default().insert(&view.name, values[0]);
        }
    }
    // Replicas converge: a point is in every view with one value, or in
    // none (lost acknowledged writes are reported above already).
    for (point, by_view) in held {
        let values: BTreeSet<Option<i64>> = by_view.values().copied().collect();
        let missing = by_view.len() < views.len() && !acked.contains_key(&point);
        if missing || values.len() > 1 {
            let first = by_view.values().next().copied().flatten();
            let present = views
                .iter()
                .filter(|v| by_view.get(v.name.as_str()) == Some(&first))
                .map(|v| v.name.clone())
                .collect();
            let absent = views
                .iter()
                .filter(|v| by_view.get(v.name.as_str()) != Some(&first))
                .map(|v| v.name.clone())
                .collect();
            out.push(Violation::Diverged {
                point,
                present,
                absent,
            });
        }
    }
    out
}

/// Collects a history from concurrent writers.
pub struct Recorder {
    epoch: Instant,
    ops: Mutex<Vec<Op>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            epoch: Instant::now(),
            ops: Mutex::new(Vec::new()),
        })
    }

    /// Time since the recorder started.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The history so far, in the order the writes ended.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }

    /// Sends one upsert of `point` with value `value` to node `node` at
    /// `addr` (`wait=true`) and records it; `budget` bounds the client's
    /// wait for an answer.
    pub async fn write(
        &self,
        node: u64,
        addr: SocketAddr,
        point: u64,
        value: i64,
        budget: Duration,
    ) -> Op {
        let body =
            json!({"points": [{"id": point, "vector": vector(point), "payload": {"v": value}}]});
        let path = format!("/collections/{COLLECTION}/points?wait=true");
        let start = self.now();
        let reply = call(addr, "PUT", &path, &body, budget).await;
        let end = self.now();
        let result = match reply {
            Ok(r) if r.status == 200 => Outcome::Ok,
            Ok(r) => Outcome::Status(r.status),
            Err(e) => Outcome::NoAnswer(e),
        };
        let mut ops = self.ops.lock().unwrap();
        let op = Op {
            id: ops.len() as u64,
            node,
            point,
            value,
            start,
            end,
            result,
        };
        ops.push(op.clone());
        op
    }

    /// The first acknowledged write that started at or after `t`.
    pub fn first_ack_after(&self, t: Duration) -> Option<Op> {
        self.ops
            .lock()
            .unwrap()
            .iter()
            .filter(|op| op.acked() && op.start >= t)
            .min_by_key(|op| op.end)
            .cloned()
    }

    /// A one-line account of the history: counts per outcome, and the
    /// median and largest latency of acknowledged writes.
    pub fn describe(&self) -> String {
        let ops = self.ops.lock().unwrap();
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for op in ops.iter() {
            let kind = match &op.result {
                Outcome::Ok => "ok".to_string(),
                Outcome::Status(s) => s.to_string(),
                Outcome::NoAnswer(NoAnswer::Timeout) => "client timeout".to_string(),
                Outcome::NoAnswer(NoAnswer::Connect(_)) => "refused".to_string(),
                Outcome::NoAnswer(NoAnswer::Broken(_)) => "broken".to_string(),
            };
            *kinds.entry(kind).or_default() += 1;
        }
        let mut latencies: Vec<Duration> = ops
            .iter()
            .filter(|op| op.acked())
            .map(|op| op.end - op.start)
            .collect();
        latencies.sort_unstable();
        let median = latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or_default();
        let max = latencies.last().copied().unwrap_or_default();
        format!(
            "{} writes {kinds:?}, acknowledged in {median:?} (median), {max:?} (max)",
            ops.len()
        )
    }

    /// `(acknowledged, indeterminate)` counts.
    pub fn summary(&self) -> (usize, usize) {
        let ops = self.ops.lock().unwrap();
        let acked = ops.iter().filter(|op| op.acked()).count();
        (acked, ops.len() - acked)
    }
}

/// The value a write of `point` sends (any function of the id would do;
/// one that is not the id itself catches a value taken from the wrong
/// field).
pub fn value_of(point: u64) -> i64 {
    point as i64 * 7 + 3
}

/// Writers running until told to stop: `clients` concurrent clients, each
/// writing its own ids, cycling through the nodes in `targets`. A client
/// starts a write every [`Writers::INTERVAL`] without waiting for the
/// previous one to end (up to [`Writers::IN_FLIGHT`] at once), so that
/// writes keep starting while some hang on a dead or frozen leader.
pub struct Writers {
    stop: watch::Sender<bool>,
    clients: Vec<JoinHandle<()>>,
}

impl Writers {
    /// How often each client starts a write.
    pub const INTERVAL: Duration = Duration::from_millis(150);
    /// The most writes a client has in flight.
    pub const IN_FLIGHT: usize = 16;

    /// Starts the clients; `budget` bounds each write's wait for an answer.
    pub fn start(
        recorder: &Arc<Recorder>,
        targets: Vec<(u64, SocketAddr)>,
        clients: u64,
        budget: Duration,
    ) -> Writers {
        let (stop, stopped) = watch::channel(false);
        let targets = Arc::new(targets);
        let clients = (0..clients)
            .map(|client| {
                let recorder = Arc::clone(recorder);
                let stopped = stopped.clone();
                let targets = Arc::clone(&targets);
                tokio::spawn(async move {
                    let slots = Arc::new(Semaphore::new(Self::IN_FLIGHT));
                    let mut writes = JoinSet::new();
                    let mut n: u64 = 0;
                    while !*stopped.borrow() {
                        let slot = Arc::clone(&slots).acquire_owned().await.expect("open");
                        let (node, addr) = targets[((client + n) % targets.len() as u64) as usize];
                        n += 1;
                        let point = (client + 1) * 1_000_000 + n;
                        let recorder = Arc::clone(&recorder);
                        writes.spawn(async move {
                            recorder
                                .write(node, addr, point, value_of(point), budget)
                                .await;
                            drop(slot);
                        });
                        sleep(Self::INTERVAL).await;
                        while writes.try_join_next().is_some() {}
                    }
                    while writes.join_next().await.is_some() {}
                })
            })
            .collect();
        Writers { stop, clients }
    }

    /// Stops the writers and waits for their last writes to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for client in self.clients {
            client.await.expect("a writer task");
        }
    }
}

/// The `(id, address)` of each of `ids`.
pub fn targets(cluster: &Cluster, ids: &[u64]) -> Vec<(u64, SocketAddr)> {
    ids.iter().map(|&id| (id, cluster.node(id).addr)).collect()
}

/// Reads every node of the quiet cluster twice, through a read barrier
/// (`consistency=majority`) and its local replica, and checks `history`
/// against those views.
pub async fn observe_and_check(cluster: &Cluster, history: &[Op]) -> Vec<Violation> {
    let ids = cluster.ids();
    cluster.quiet(&ids, Duration::from_secs(30)).await;
    let mut views = Vec::new();
    for &id in &ids {
        let node = cluster.node(id);
        views.push(View {
            name: format!("node {id} (majority)"),
            points: node.points(Some("majority")).await,
        });
        views.push(View {
            name: format!("node {id} (local)"),
            points: node.points(None).await,
        });
    }
    check(history, &views)
}

/// [`observe_and_check`] that must find nothing.
pub async fn assert_consistent(cluster: &Cluster, history: &[Op]) {
    let violations = observe_and_check(cluster, history).await;
    let acked = history.iter().filter(|op| op.acked()).count();
    assert!(
        violations.is_empty(),
        "{} violations in a history of {} writes ({acked} acknowledged):\n{}",
        violations.len(),
        history.len(),
        violations
            .iter()
            .take(20)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "history checked: {} writes, {acked} acknowledged, {} indeterminate, on {} nodes",
        history.len(),
        history.len() - acked,
        cluster.ids().len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u64, point: u64, value: i64, result: Outcome) -> Op {
        Op {
            id,
            node: 1,
            point,
            value,
            start: Duration::from_millis(id),
            end: Duration::from_millis(id + 1),
            result,
        }
    }

    fn view(name: &str, points: &[(u64, i64)]) -> View {
        View {
            name: name.to_string(),
            points: points.iter().map(|&(p, v)| (p, Some(v))).collect(),
        }
    }

    fn timeout() -> Outcome {
        Outcome::NoAnswer(NoAnswer::Timeout)
    }

    #[test]
    fn a_consistent_history_passes() {
        let history = [op(0, 10, 1, Outcome::Ok), op(1, 11, 2, Outcome::Ok)];
        let views = [
            view("a", &[(10, 1), (11, 2)]),
            view("b", &[(11, 2), (10, 1)]),
        ];
        assert_eq!(check(&history, &views), vec![]);
    }

    #[test]
    fn a_lost_acknowledged_write_is_found_in_each_view_missing_it() {
        let history = [op(0, 10, 1, Outcome::Ok), op(1, 11, 2, Outcome::Ok)];
        let views = [view("a", &[(10, 1), (11, 2)]), view("b", &[(10, 1)])];
        let found = check(&history, &views);
        assert!(found.contains(&Violation::LostAck {
            view: "b".into(),
            op: 1,
            point: 11,
        }));
        assert!(
            !found
                .iter()
                .any(|v| matches!(v, Violation::LostAck { view, .. } if view == "a"))
        );
        // Lost everywhere: one violation per view, no divergence.
        let views = [view("a", &[(10, 1)]), view("b", &[(10, 1)])];
        assert_eq!(
            check(&history, &views),
            vec![
                Violation::LostAck {
                    view: "a".into(),
                    op: 1,
                    point: 11
                },
                Violation::LostAck {
                    view: "b".into(),
                    op: 1,
                    point: 11
                },
            ]
        );
    }

    #[test]
    fn a_duplicate_is_found() {
        let history = [op(0, 10, 1, Outcome::Ok)];
        let views = [view("a", &[(10, 1), (10, 1)])];
        assert_eq!(
            check(&history, &views),
            vec![Violation::Duplicate {
                view: "a".into(),
                point: 10,
                times: 2
            }]
        );
    }

    #[test]
    fn a_phantom_is_found() {
        let history = [op(0, 10, 1, Outcome::Ok)];
        let views = [view("a", &[(10, 1), (99, 5)])];
        assert_eq!(
            check(&history, &views),
            vec![Violation::Phantom {
                view: "a".into(),
                point: 99
            }]
        );
    }

    #[test]
    fn an_indeterminate_write_may_be_present_or_absent_but_not_altered() {
        let history = [
            op(0, 10, 1, Outcome::Ok),
            op(1, 11, 2, timeout()),
            op(2, 12, 3, Outcome::Status(503)),
        ];
        // Present in every view, or absent from every view: both fine.
        let present = [
            view("a", &[(10, 1), (11, 2)]),
            view("b", &[(10, 1), (11, 2)]),
        ];
        assert_eq!(check(&history, &present), vec![]);
        let absent = [view("a", &[(10, 1)]), view("b", &[(10, 1)])];
        assert_eq!(check(&history, &absent), vec![]);
        // Present with a value never sent for it.
        let altered = [view("a", &[(10, 1), (12, 4)])];
        assert_eq!(
            check(&history, &altered),
            vec![Violation::WrongValue {
                view: "a".into(),
                point: 12,
                found: Some(4),
                sent: vec![3],
            }]
        );
        // Present twice.
        let twice = [view("a", &[(10, 1), (11, 2), (11, 2)])];
        assert!(matches!(
            check(&history, &twice)[..],
            [Violation::Duplicate { point: 11, .. }]
        ));
    }

    #[test]
    fn replicas_that_disagree_on_an_indeterminate_write_diverge() {
        let history = [op(0, 10, 1, Outcome::Ok), op(1, 11, 2, timeout())];
        let views = [view("a", &[(10, 1), (11, 2)]), view("b", &[(10, 1)])];
        assert_eq!(
            check(&history, &views),
            vec![Violation::Diverged {
                point: 11,
                present: vec!["a".into()],
                absent: vec!["b".into()],
            }]
        );
    }

    #[test]
    fn a_retried_write_may_leave_either_value_sent() {
        // The same point written twice with different values, the first
        // acknowledged, the second indeterminate: either value is fine.
        let history = [op(0, 10, 1, Outcome::Ok), op(1, 10, 2, timeout())];
        assert_eq!(check(&history, &[view("a", &[(10, 2)])]), vec![]);
        assert_eq!(check(&history, &[view("a", &[(10, 1)])]), vec![]);
        // A point without its payload value is not a value that was sent.
        let bare = View {
            name: "a".into(),
            points: vec![(10, None)],
        };
        assert!(matches!(
            check(&history, &[bare])[..],
            [Violation::WrongValue { found: None, .. }]
        ));
    }
}
