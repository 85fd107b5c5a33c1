//! The `grape` binary's offline commands on temporary data directories:
//! `import` (JSONL, fvecs, bad records) and `snapshot create|restore`.

use std::path::Path;
use std::process::{Command, Output};

use grape_core::payload::PointId;
use grape_core::query::{PayloadSelector, VectorSelector};
use grape_db::{Database, DbOptions};
use serde_json::json;

fn grape(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grape"))
        .args(args)
        .env_remove("GRAPE_DATA_DIR")
        .output()
        .expect("the grape binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

const DOT2: &str = r#"{"vectors": {"size": 2, "distance": "Dot"}}"#;

/// The ids in collection `name`, sorted.
fn ids(dir: &Path, name: &str) -> Vec<u64> {
    let db = Database::open(dir, DbOptions::default()).unwrap();
    let (records, _) = db
        .scroll(
            name,
            None,
            None,
            10_000,
            &PayloadSelector::All(false),
            &VectorSelector::All(false),
        )
        .unwrap();
    db.shutdown().unwrap();
    let mut out: Vec<u64> = records
        .iter()
        .map(|r| match r.id {
            PointId::Num(n) => n,
            PointId::Uuid(_) => panic!("unexpected uuid"),
        })
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn jsonl_import_creates_the_collection_and_stores_every_point() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("points.jsonl");
    let mut lines = String::new();
    for i in 0..25u64 {
        lines.push_str(
            &json!({"id": i, "vector": [1.0, i as f32], "payload": {"i": i}}).to_string(),
        );
        lines.push('\n');
        if i == 10 {
            lines.push_str("   \n");
        }
    }
    std::fs::write(&file, lines).unwrap();
    let out = grape(&[
        "import",
        "--collection",
        "c",
        "--create-with",
        DOT2,
        "--jsonl",
        path(&file),
        "--batch",
        "4",
        "--data-dir",
        path(&data),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 25 points"),
        "{}",
        stdout(&out)
    );
    assert_eq!(ids(&data, "c"), (0..25).collect::<Vec<_>>());
    let db = Database::open(&data, DbOptions::default()).unwrap();
    let got = db
        .get(
            "c",
            &[PointId::Num(7)],
            &PayloadSelector::All(true),
            &VectorSelector::All(true),
        )
        .unwrap();
    assert_eq!(got[0].payload.as_ref().unwrap()["i"], json!(7));
    assert_eq!(got[0].vectors.as_ref().unwrap().dense[""], [1.0, 7.0]);
    db.shutdown().unwrap();

    // --create-with on an existing collection is refused; without it the
    // import adds to the collection.
    let again = grape(&[
        "import",
        "--collection",
        "c",
        "--create-with",
        DOT2,
        "--jsonl",
        path(&file),
        "--data-dir",
        path(&data),
    ]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_bad_jsonl_line_fails_with_its_number_and_nothing_of_its_batch_is_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cases = [
        // (the bad line 6, what the message must say)
        (r#"{"id": 5, "vector": [1.0, 0.5"#.to_string(), "not JSON"),
        (json!({"id": 5, "vector": [1.0]}).to_string(), "dimension"),
        (json!({"id": -5, "vector": [1.0, 0.5]}).to_string(), "id"),
    ];
    for (n, (bad, says)) in cases.iter().enumerate() {
        let name = format!("c{n}");
        let file = tmp.path().join(format!("bad{n}.jsonl"));
        let mut lines: Vec<String> = (0..5u64)
            .map(|i| json!({"id": i, "vector": [1.0, i as f32]}).to_string())
            .collect();
        lines.push(bad.clone());
        lines.push(json!({"id": 6, "vector": [1.0, 6.0]}).to_string());
        std::fs::write(&file, lines.join("\n")).unwrap();
        // Batches of 4: lines 1-4 are imported, line 5 shares its batch
        // with the bad line 6.
        let out = grape(&[
            "import",
            "--collection",
            &name,
            "--create-with",
            DOT2,
            "--jsonl",
            path(&file),
            "--batch",
            "4",
            "--data-dir",
            path(&data),
        ]);
        assert!(!out.status.success());
        let message = stderr(&out);
        assert!(message.contains("line 6:"), "{message}");
        assert!(message.contains(says), "{message}");
        assert!(message.contains("4 points"), "{message}");
        assert_eq!(ids(&data, &name), [0, 1, 2, 3], "{message}");
    }
}

#[test]
fn importing_into_a_missing_collection_asks_for_create_with() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("p.jsonl");
    std::fs::write(&file, "{\"id\": 1, \"vector\": [1.0, 0.0]}\n").unwrap();
    let out = grape(&[
        "import",
        "--collection",
        "missing",
        "--jsonl",
        path(&file),
        "--data-dir",
        path(&tmp.path().join("data")),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--create-with"), "{}", stderr(&out));
    // Neither input nor both: clap's usage error.
    let out = grape(&["import", "--collection", "c"]);
    assert!(!out.status.success());
}

fn fvecs(rows: &[Vec<f32>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        out.extend_from_slice(&(r.len() as i32).to_le_bytes());
        for x in r {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

#[test]
fn fvecs_rows_become_points_zero_to_n() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rows: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32, 1.0, -0.5]).collect();
    let file = tmp.path().join("v.fvecs");
    std::fs::write(&file, fvecs(&rows)).unwrap();
    let out = grape(&[
        "import",
        "--collection",
        "v",
        "--create-with",
        r#"{"vectors": {"size": 3, "distance": "Euclid"}}"#,
        "--fvecs",
        path(&file),
        "--batch",
        "3",
        "--data-dir",
        path(&data),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&data, "v"), (0..10).collect::<Vec<_>>());
    let db = Database::open(&data, DbOptions::default()).unwrap();
    let got = db
        .get(
            "v",
            &[PointId::Num(9)],
            &PayloadSelector::All(false),
            &VectorSelector::All(true),
        )
        .unwrap();
    assert_eq!(got[0].vectors.as_ref().unwrap().dense[""], rows[9]);
    db.shutdown().unwrap();

    // A row of another dimension, and a file cut inside a row.
    let mut bad = rows.clone();
    bad[4] = vec![1.0, 2.0];
    std::fs::write(&file, fvecs(&bad)).unwrap();
    let out = grape(&[
        "import",
        "--collection",
        "w",
        "--create-with",
        r#"{"vectors": {"size": 3, "distance": "Euclid"}}"#,
        "--fvecs",
        path(&file),
        "--batch",
        "3",
        "--data-dir",
        path(&data),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("row 4"), "{}", stderr(&out));
    assert_eq!(ids(&data, "w"), [0, 1, 2]);
    let mut cut = fvecs(&rows);
    cut.truncate(cut.len() - 2);
    std::fs::write(&file, cut).unwrap();
    let out = grape(&[
        "import",
        "--collection",
        "v",
        "--fvecs",
        path(&file),
        "--data-dir",
        path(&data),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("row 9"), "{}", stderr(&out));
}

#[test]
fn snapshot_create_and_restore_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let other = tmp.path().join("other");
    let file = tmp.path().join("p.jsonl");
    let lines: Vec<String> = (0..30u64)
        .map(|i| json!({"id": i, "vector": [1.0, i as f32], "payload": {"i": i}}).to_string())
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let import = grape(&[
        "import",
        "--collection",
        "c",
        "--create-with",
        DOT2,
        "--jsonl",
        path(&file),
        "--data-dir",
        path(&data),
    ]);
    assert!(import.status.success(), "{}", stderr(&import));
    let snap = tmp.path().join("c.snapshot");
    let out = grape(&[
        "snapshot",
        "create",
        "--collection",
        "c",
        "--out",
        path(&snap),
        "--data-dir",
        path(&data),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("30 points"), "{}", stdout(&out));
    // The bytes are the portable format: the core reads them.
    let bytes = std::fs::read(&snap).unwrap();
    assert_eq!(
        grape_core::Collection::from_bytes(&bytes).unwrap().len(),
        30
    );

    // Restore into another data directory.
    let restore = |dir: &Path, name: &str, replace: bool| {
        let mut args = vec![
            "snapshot",
            "restore",
            "--collection",
            name,
            "--from",
            path(&snap),
            "--data-dir",
            path(dir),
        ];
        if replace {
            args.push("--replace");
        }
        grape(&args)
    };
    let out = restore(&other, "copy", false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&other, "copy"), (0..30).collect::<Vec<_>>());
    // An existing collection needs --replace, and is then replaced.
    let out = restore(&data, "c", false);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    let small = tmp.path().join("small.jsonl");
    std::fs::write(&small, "{\"id\": 100, \"vector\": [1.0, 0.0]}\n").unwrap();
    let out = grape(&[
        "import",
        "--collection",
        "c",
        "--jsonl",
        path(&small),
        "--data-dir",
        path(&data),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&data, "c").len(), 31);
    let out = restore(&data, "c", true);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&data, "c"), (0..30).collect::<Vec<_>>());

    // A damaged file or an unknown collection: a clear error.
    std::fs::write(&snap, b"not a snapshot").unwrap();
    let out = restore(&other, "broken", false);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot restore"), "{}", stderr(&out));
    let out = grape(&[
        "snapshot",
        "create",
        "--collection",
        "nope",
        "--out",
        path(&snap),
        "--data-dir",
        path(&data),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}
