//! Aliases: persisted in redb, all-or-nothing updates, typed errors, and
//! the parsed configuration of created and restored collections.

use grape_db::{AliasOp, Database, DbOptions, Error};
use serde_json::json;

use crate::common::config;

fn create(alias: &str, collection: &str) -> AliasOp {
    AliasOp::Create {
        alias: alias.into(),
        collection: collection.into(),
    }
}

#[test]
fn aliases_survive_reopening_and_follow_renames() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), DbOptions::default()).unwrap();
        db.create_collection("docs", &config()).unwrap();
        db.create_collection("other", &config()).unwrap();
        db.update_aliases(&[create("a", "docs"), create("b", "docs")])
            .unwrap();
        db.update_aliases(&[AliasOp::Rename {
            from: "b".into(),
            to: "c".into(),
        }])
        .unwrap();
        // Creating an existing alias re-points it.
        db.update_aliases(&[create("a", "other")]).unwrap();
        db.shutdown().unwrap();
    }
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    assert_eq!(
        db.list_aliases().unwrap(),
        vec![
            ("a".to_string(), "other".to_string()),
            ("c".to_string(), "docs".to_string())
        ]
    );
    assert_eq!(db.resolve_alias("c").unwrap().as_deref(), Some("docs"));
    assert_eq!(db.resolve_alias("b").unwrap(), None);
    assert_eq!(db.resolve_alias("docs").unwrap(), None);
    assert_eq!(db.delete_aliases_of("docs").unwrap(), 1);
    assert_eq!(db.resolve_alias("c").unwrap(), None);
    assert_eq!(db.list_aliases().unwrap().len(), 1);
}

#[test]
fn a_failing_alias_update_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    assert!(db.list_aliases().unwrap().is_empty(), "no table yet");
    db.create_collection("docs", &config()).unwrap();
    db.update_aliases(&[create("keep", "docs")]).unwrap();
    let before = db.list_aliases().unwrap();

    // The first action is fine, the second names an unknown collection.
    let e = db
        .update_aliases(&[create("new", "docs"), create("x", "missing")])
        .unwrap_err();
    assert!(
        matches!(e, Error::UnknownCollection(ref n) if n == "missing"),
        "{e}"
    );
    assert!(e.is_invalid_input());
    // Deleting or renaming an unknown alias.
    let e = db
        .update_aliases(&[
            AliasOp::Delete {
                alias: "keep".into(),
            },
            AliasOp::Delete {
                alias: "ghost".into(),
            },
        ])
        .unwrap_err();
    assert!(
        matches!(e, Error::UnknownAlias(ref n) if n == "ghost"),
        "{e}"
    );
    assert_eq!(e.code(), "unknown_alias");
    let e = db
        .update_aliases(&[AliasOp::Rename {
            from: "ghost".into(),
            to: "y".into(),
        }])
        .unwrap_err();
    assert!(matches!(e, Error::UnknownAlias(_)), "{e}");
    // An alias may not shadow a collection, nor be empty.
    let e = db.update_aliases(&[create("docs", "docs")]).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists(_)), "{e}");
    let e = db.update_aliases(&[create("", "docs")]).unwrap_err();
    assert!(matches!(e, Error::InvalidName { .. }), "{e}");

    assert_eq!(db.list_aliases().unwrap(), before);
}

#[test]
fn collection_config_of_created_and_restored_collections() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    db.create_collection(
        "named",
        &json!({"vectors": {"a": {"size": 3, "distance": "Dot"}, "b": {"size": 5, "distance": "Euclid"}}}),
    )
    .unwrap();
    let c = db.collection_config("named").unwrap();
    assert_eq!(c.dense["a"].dim, 3);
    assert_eq!(c.dense["b"].dim, 5);
    let bytes = db.snapshot("named").unwrap();
    db.restore("copy", &bytes, false).unwrap();
    assert!(db.info("copy").unwrap().config_json.is_none());
    let c = db.collection_config("copy").unwrap();
    assert_eq!(c.dense.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(matches!(
        db.collection_config("missing"),
        Err(Error::UnknownCollection(_))
    ));
}
