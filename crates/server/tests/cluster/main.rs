//! The `grape` binary as a cluster of processes on 127.0.0.1: replication
//! through every node, a leader killed (`kill -9`) or stopped (`SIGSTOP`)
//! during a stream of writes, network partitions (`--fault-injection`), a
//! node joining by snapshot, and a history checker that holds the writes
//! the clients saw acknowledged against what every replica holds (and that
//! catches a build which acknowledges writes before they commit).
//!
//! One test runs at a time (`harness::serial`); each is bounded and kills
//! its processes when it ends, also when it fails, printing the tail of
//! every node's log.

mod harness;
mod history;

mod failover;
mod membership;
mod partition;
mod replication;
