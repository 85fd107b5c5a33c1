//! grape-cluster's Raft storage: openraft's storage conformance suite, plus
//! reopening, crash replay and snapshot transfer over real grape-db files.
#![allow(
    clippy::result_large_err,
    reason = "helpers return openraft's StorageError, as StoreBuilder does"
)]

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::Path;

use grape_cluster::log_store::LogStore;
use grape_cluster::state_machine::{INSTALLING_FILE, SNAPSHOT_FILE, StateMachine};
use grape_cluster::types::{Applied, Command, NodeId, TypeConfig};
use grape_core::PointData;
use grape_core::payload::PointId;
use grape_core::query::{PayloadSelector, VectorSelector};
use grape_db::{Database, DbOptions, Mutation, PointSelector, Record};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite, blank_ent, membership_ent};
use openraft::{
    CommittedLeaderId, Entry, EntryPayload, LogId, LogState, RaftLogReader, RaftSnapshotBuilder,
    StorageError, Vote,
};
use serde_json::json;
use tempfile::TempDir;

/// A fresh node: its grape-db in `<tmp>/db`, its Raft files in `<tmp>/raft`.
struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm) = open_node(dir.path())?;
        Ok((dir, log, sm))
    }
}

fn open_node(dir: &Path) -> Result<(LogStore, StateMachine), StorageError<NodeId>> {
    let log = LogStore::open(dir.join("raft"))?;
    let sm = open_state_machine(dir)?;
    Ok((log, sm))
}

fn open_state_machine(dir: &Path) -> Result<StateMachine, StorageError<NodeId>> {
    let db = Database::open(dir.join("db"), DbOptions::default()).expect("open grape-db");
    StateMachine::new(db, dir.join("raft"))
}

fn log_id(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn normal(term: u64, index: u64, mutation: &Mutation) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Command {
            mutation: mutation.encode(),
        }),
    }
}

fn members(ids: &[NodeId]) -> Vec<BTreeSet<NodeId>> {
    vec![ids.iter().copied().collect()]
}

fn create_docs() -> Mutation {
    Mutation::CreateCollection {
        name: "docs".to_string(),
        config: json!({"vectors": {"size": 3, "distance": "Cosine"}}),
    }
}

fn upsert(ids: &[u64]) -> Mutation {
    let points = ids
        .iter()
        .map(|&id| {
            let payload = json!({"n": id}).as_object().expect("object").clone();
            PointData::dense(PointId::Num(id), vec![1.0, id as f32, 0.5], payload)
        })
        .collect();
    Mutation::Upsert {
        collection: "docs".to_string(),
        points,
    }
}

fn delete(ids: &[u64]) -> Mutation {
    Mutation::DeletePoints {
        collection: "docs".to_string(),
        selector: PointSelector::Ids(ids.iter().map(|&id| PointId::Num(id)).collect()),
    }
}

/// Every collection with all its points (payloads and vectors).
fn dump(db: &Database) -> Vec<(String, Vec<Record>)> {
    let mut out = Vec::new();
    for name in db.list_collections().expect("list") {
        let (records, _) = db
            .scroll(
                &name,
                None,
                None,
                100_000,
                &PayloadSelector::All(true),
                &VectorSelector::All(true),
            )
            .expect("scroll");
        out.push((name, records));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `dump(a) == dump(b)`, but dense vectors only to within 1e-6.
///
/// A node that installed a snapshot holds what `Database::import_all`
/// wrote: the search state's (already normalised, under cosine) vectors
/// rather than the originals the leader stored, so they read back
/// normalised twice and differ in the last bits. Exact again once grape-db's
/// export carries the stored records; until then this is what "equal" means.
fn assert_same_data(a: &Database, b: &Database) {
    let (a, b) = (dump(a), dump(b));
    let strip = |d: &[(String, Vec<Record>)]| -> Vec<(String, Vec<Record>)> {
        d.iter()
            .map(|(name, records)| {
                let records = records
                    .iter()
                    .map(|r| {
                        let mut r = r.clone();
                        if let Some(v) = r.vectors.as_mut() {
                            v.dense.values_mut().for_each(Vec::clear);
                        }
                        r
                    })
                    .collect();
                (name.clone(), records)
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b), "ids, payloads, sparse vectors");
    for ((_, ra), (_, rb)) in a.iter().zip(&b) {
        for (x, y) in ra.iter().zip(rb) {
            let (Some(x_v), Some(y_v)) = (&x.vectors, &y.vectors) else {
                continue;
            };
            for ((name, xs), ys) in x_v.dense.iter().zip(y_v.dense.values()) {
                assert_eq!(xs.len(), ys.len(), "point {:?} vector {name:?}", x.id);
                for (p, q) in xs.iter().zip(ys) {
                    assert!(
                        (p - q).abs() <= 1e-6,
                        "point {:?} vector {name:?}: {xs:?} vs {ys:?}",
                        x.id
                    );
                }
            }
        }
    }
}

fn ids(db: &Database) -> Vec<PointId> {
    dump(db)
        .into_iter()
        .flat_map(|(_, records)| records.into_iter().map(|r| r.id))
        .collect()
}

/// membership, create, upsert 1 and 2, delete 1.
fn history() -> Vec<Entry<TypeConfig>> {
    vec![
        membership_ent::<TypeConfig>(1, 1, 1, members(&[1, 2, 3])),
        normal(1, 2, &create_docs()),
        normal(1, 3, &upsert(&[1, 2])),
        normal(1, 4, &delete(&[1])),
    ]
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).expect("openraft storage suite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_reopen_keeps_vote_log_and_committed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entries: Vec<Entry<TypeConfig>> = (1..=6)
        .map(|i| match i {
            1 => blank_ent::<TypeConfig>(1, 1, 1),
            _ => normal(1, i, &upsert(&[i])),
        })
        .collect();
    {
        let mut log = LogStore::open(dir.path()).expect("open");
        log.save_vote(&Vote::new(3, 1)).await.expect("vote");
        log.blocking_append(entries.clone()).await.expect("append");
        log.purge(log_id(1, 2)).await.expect("purge");
        log.truncate(log_id(1, 6)).await.expect("truncate");
        log.save_committed(Some(log_id(1, 4)))
            .await
            .expect("committed");
    }
    let mut log = LogStore::open(dir.path()).expect("reopen");
    assert_eq!(log.read_vote().await.expect("vote"), Some(Vote::new(3, 1)));
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(1, 4))
    );
    assert_eq!(
        log.get_log_state().await.expect("state"),
        LogState {
            last_purged_log_id: Some(log_id(1, 2)),
            last_log_id: Some(log_id(1, 5)),
        }
    );
    let read = log.try_get_log_entries(0..100).await.expect("read");
    assert_eq!(read, entries[2..5].to_vec());
    // What a follower would be sent: the same entries, command bytes intact.
    let mut reader = log.get_log_reader().await;
    let limited = reader.limited_get_log_entries(3, 5).await.expect("read");
    assert_eq!(limited, entries[2..4].to_vec());

    log.save_committed(None).await.expect("clear committed");
    assert_eq!(log.read_committed().await.expect("committed"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_second_open_of_one_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _log = LogStore::open(dir.path()).expect("open");
    let err = LogStore::open(dir.path()).expect_err("redb allows one open per file");
    assert!(err.to_string().contains("raft.redb"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_rejects_another_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(LogStore::open(dir.path()).expect("open"));
    {
        let db = redb::Database::open(dir.path().join("raft.redb")).expect("redb");
        let txn = db.begin_write().expect("txn");
        {
            let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            let mut meta = txn.open_table(def).expect("meta");
            meta.insert("format", [99u8].as_slice()).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let err = LogStore::open(dir.path()).expect_err("unknown format");
    assert!(
        err.to_string().contains("unsupported log store format"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_answers_each_entry_and_moves_the_mark() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sm = open_state_machine(dir.path()).expect("open");
    let mut entries = history();
    // Deterministic failure: every node fails it the same way, it is marked.
    entries.push(Entry {
        log_id: log_id(1, 5),
        payload: EntryPayload::Normal(Command {
            mutation: Mutation::Upsert {
                collection: "nope".to_string(),
                points: Vec::new(),
            }
            .encode(),
        }),
    });
    entries.push(blank_ent::<TypeConfig>(2, 1, 6));
    let responses = sm.apply(entries).await.expect("apply");
    assert_eq!(responses.len(), 6);
    assert_eq!(responses[0], Applied::Nothing);
    assert!(matches!(&responses[1], Applied::Done(_)), "{responses:?}");
    assert!(
        matches!(&responses[2], Applied::Done(v) if v["seq"].is_u64()),
        "{responses:?}"
    );
    assert_eq!(responses[3], Applied::Done(json!({"count": 1})));
    match &responses[4] {
        Applied::Failed { code, .. } => assert_eq!(code, "unknown_collection"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(responses[5], Applied::Nothing);
    let (applied, membership) = sm.applied_state().await.expect("state");
    assert_eq!(applied, Some(log_id(2, 6)));
    assert_eq!(membership.log_id(), &Some(log_id(1, 1)));
    assert_eq!(ids(sm.database()), vec![PointId::Num(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_mutation_is_a_storage_error_and_not_marked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sm = open_state_machine(dir.path()).expect("open");
    sm.apply(history()[..2].to_vec()).await.expect("apply");
    let garbage = Entry {
        log_id: log_id(1, 4),
        payload: EntryPayload::Normal(Command {
            mutation: b"not a mutation".to_vec(),
        }),
    };
    let err = sm
        .apply([blank_ent::<TypeConfig>(1, 1, 3), garbage])
        .await
        .expect_err("undecodable");
    assert!(err.to_string().contains("decoding the mutation"), "{err}");
    // The blank entry before it is not durable yet (one mark write per run
    // of blank entries): the state machine reports what the database holds.
    let (applied, _) = sm.applied_state().await.expect("state");
    assert_eq!(applied, Some(log_id(1, 2)));
    drop(sm);
    let mut sm = open_state_machine(dir.path()).expect("reopen");
    assert_eq!(
        sm.applied_state().await.expect("state").0,
        Some(log_id(1, 2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_after_crash_applies_each_entry_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = history();
    {
        let mut sm = open_state_machine(dir.path()).expect("open");
        // The crash comes after entry 3: upsert 1 and 2 are in, delete 1 not.
        sm.apply(entries[..3].to_vec()).await.expect("apply");
        assert_eq!(ids(sm.database()), vec![PointId::Num(1), PointId::Num(2)]);
    }
    let mut sm = open_state_machine(dir.path()).expect("reopen");
    let (applied, membership) = sm.applied_state().await.expect("state");
    assert_eq!(applied, Some(log_id(1, 3)));
    assert_eq!(membership.log_id(), &Some(log_id(1, 1)));

    // The log is replayed from its start: 1-3 are skipped, 4 is applied.
    let responses = sm.apply(entries.clone()).await.expect("replay");
    assert_eq!(
        responses,
        vec![
            Applied::Nothing,
            Applied::Nothing,
            Applied::Nothing,
            Applied::Done(json!({"count": 1}))
        ]
    );
    let after = dump(sm.database());
    assert_eq!(ids(sm.database()), vec![PointId::Num(2)]);

    // And again after another restart: nothing changes.
    drop(sm);
    let mut sm = open_state_machine(dir.path()).expect("reopen");
    let responses = sm.apply(entries).await.expect("replay");
    assert!(
        responses.iter().all(|r| *r == Applied::Nothing),
        "{responses:?}"
    );
    assert_eq!(dump(sm.database()), after);
    assert_eq!(
        sm.applied_state().await.expect("state").0,
        Some(log_id(1, 4))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_installs_into_a_fresh_node_and_survives_restart() {
    let leader_dir = tempfile::tempdir().expect("temp dir");
    let follower_dir = tempfile::tempdir().expect("temp dir");
    let mut leader = open_state_machine(leader_dir.path()).expect("open");
    let mut entries = history();
    entries.push(normal(2, 5, &upsert(&[7, 8])));
    leader.apply(entries).await.expect("apply");

    let built = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    assert_eq!(built.meta.last_log_id, Some(log_id(2, 5)));
    assert_eq!(built.meta.last_membership.log_id(), &Some(log_id(1, 1)));
    let current = leader
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!(current.meta, built.meta);
    assert_eq!(current.snapshot.get_ref(), built.snapshot.get_ref());

    let mut follower = open_state_machine(follower_dir.path()).expect("open");
    let mut received = follower.begin_receiving_snapshot().await.expect("begin");
    received
        .get_mut()
        .extend_from_slice(built.snapshot.get_ref());
    follower
        .install_snapshot(&built.meta, received)
        .await
        .expect("install");

    assert_eq!(ids(leader.database()), [2, 7, 8].map(PointId::Num));
    assert_same_data(follower.database(), leader.database());
    assert_eq!(
        follower.applied_state().await.expect("state"),
        leader.applied_state().await.expect("state")
    );
    let installed = follower
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!(installed.meta, built.meta);
    assert!(
        !follower_dir
            .path()
            .join("raft")
            .join(INSTALLING_FILE)
            .exists()
    );

    // Restart the follower: state and current snapshot are still there, and
    // it goes on applying where the snapshot ends.
    drop(follower);
    let mut follower = open_state_machine(follower_dir.path()).expect("reopen");
    assert_eq!(
        follower.applied_state().await.expect("state"),
        leader.applied_state().await.expect("state")
    );
    let again = follower
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!(again.meta, built.meta);
    assert_same_data(follower.database(), leader.database());
    let next = normal(2, 6, &delete(&[7]));
    leader.apply([next.clone()]).await.expect("apply");
    follower.apply([next]).await.expect("apply");
    assert_same_data(follower.database(), leader.database());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_refuses_bytes_that_do_not_match_the_meta() {
    let leader_dir = tempfile::tempdir().expect("temp dir");
    let follower_dir = tempfile::tempdir().expect("temp dir");
    let mut leader = open_state_machine(leader_dir.path()).expect("open");
    leader.apply(history()).await.expect("apply");
    let built = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");

    let mut follower = open_state_machine(follower_dir.path()).expect("open");
    // Damaged in transit.
    let mut damaged = built.snapshot.get_ref().clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    let err = follower
        .install_snapshot(&built.meta, Box::new(Cursor::new(damaged)))
        .await
        .expect_err("damaged");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    // Announced with other meta.
    let mut other = built.meta.clone();
    other.last_log_id = Some(log_id(9, 9));
    let err = follower
        .install_snapshot(
            &other,
            Box::new(Cursor::new(built.snapshot.get_ref().clone())),
        )
        .await
        .expect_err("meta mismatch");
    assert!(err.to_string().contains("expected"), "{err}");
    // Too short to be anything.
    let err = follower
        .install_snapshot(&built.meta, Box::new(Cursor::new(b"GR".to_vec())))
        .await
        .expect_err("truncated");
    assert!(
        err.to_string().contains("not a Grape Raft snapshot"),
        "{err}"
    );

    assert_eq!(follower.applied_state().await.expect("state").0, None);
    assert!(dump(follower.database()).is_empty());
    assert!(
        follower
            .get_current_snapshot()
            .await
            .expect("current")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_snapshot_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sm = open_state_machine(dir.path()).expect("open");
    sm.apply(history()).await.expect("apply");
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    let file = dir.path().join("raft").join(SNAPSHOT_FILE);
    let mut bytes = std::fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).expect("write");

    let err = sm.get_current_snapshot().await.expect_err("corrupted");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    drop(sm);
    let err = open_state_machine(dir.path()).expect_err("corrupted");
    assert!(err.to_string().contains(SNAPSHOT_FILE), "{err}");

    std::fs::write(&file, b"").expect("truncate");
    let err = open_state_machine(dir.path()).expect_err("empty");
    assert!(
        err.to_string().contains("not a Grape Raft snapshot"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_interrupted_by_a_crash_is_finished_on_open() {
    let leader_dir = tempfile::tempdir().expect("temp dir");
    let follower_dir = tempfile::tempdir().expect("temp dir");
    let mut leader = open_state_machine(leader_dir.path()).expect("open");
    leader.apply(history()).await.expect("apply");
    let built = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");

    // The follower crashed after writing the received snapshot, before
    // importing it.
    let raft = follower_dir.path().join("raft");
    std::fs::create_dir_all(&raft).expect("dir");
    std::fs::write(raft.join(INSTALLING_FILE), built.snapshot.get_ref()).expect("write");
    let mut follower = open_state_machine(follower_dir.path()).expect("open");
    assert_eq!(
        follower.applied_state().await.expect("state"),
        leader.applied_state().await.expect("state")
    );
    assert_same_data(follower.database(), leader.database());
    let current = follower
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!(current.meta, built.meta);
    assert!(!raft.join(INSTALLING_FILE).exists());
}
