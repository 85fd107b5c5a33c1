//! A round trip of every call.

use grape_core::PointData;
use grape_core::payload::{FieldSchema, Filter, PointId};
use grape_core::query::{PayloadSelector, QueryRequest, VectorSelector};
use grape_db::{AsyncDatabase, PointSelector};
use serde_json::json;

use crate::common::*;

#[test]
fn every_call_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_collection("c", &config()).unwrap();
    assert_eq!(db.list_collections().unwrap(), ["c"]);
    assert!(db.collection_exists("c").unwrap());
    let pts = points(1, 0..300);
    let seq = db.upsert("c", pts.clone()).unwrap();
    assert_eq!(seq, 1);
    assert_eq!(db.count("c", None).unwrap(), 300);

    // get: payload as stored, the vector normalised (cosine), the sparse one as given.
    let got = db
        .get(
            "c",
            &[PointId::Num(3), PointId::Num(100_000), pts[4].id],
            &PayloadSelector::All(true),
            &VectorSelector::All(true),
        )
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].payload.as_ref().unwrap(), &pts[3].payload);
    let v = &got[0].vectors.as_ref().unwrap().dense[""];
    let norm: f32 = pts[3].vectors[""].iter().map(|x| x * x).sum::<f32>().sqrt();
    for (a, b) in v.iter().zip(&pts[3].vectors[""]) {
        assert!((a - b / norm).abs() < 1e-5);
    }
    assert_eq!(
        got[1].vectors.as_ref().unwrap().sparse["s"],
        pts[4].sparse["s"]
    );
    let only = db
        .get(
            "c",
            &[PointId::Num(3)],
            &PayloadSelector::Include(vec!["group".into()]),
            &VectorSelector::All(false),
        )
        .unwrap();
    assert_eq!(only[0].payload.as_ref().unwrap().len(), 1);
    assert!(only[0].vectors.is_none());

    // scroll: id order (integers, then UUIDs), pages, filter; records agree with get.
    let all = full_scroll(&db, "c");
    assert_eq!(all.len(), 300);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert!(matches!(all[239].id, PointId::Num(_)) && matches!(all[240].id, PointId::Uuid(_)));
    assert_same_records(&all[3..4], &got[..1]);
    let group1 =
        Filter::from_json_str(r#"{"must": [{"key": "group", "match": {"value": 1}}]}"#).unwrap();
    let (page, next) = db
        .scroll(
            "c",
            Some(&group1),
            Some(PointId::Num(10)),
            5,
            &PayloadSelector::All(false),
            &VectorSelector::All(false),
        )
        .unwrap();
    let ids: Vec<PointId> = page.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [10, 13, 16, 22, 25].map(PointId::Num),
        "19 is a UUID point"
    );
    assert_eq!(next, Some(PointId::Num(28)));
    assert_eq!(db.count("c", Some(&group1)).unwrap(), 100);

    // query with payload and vectors.
    let mut q = QueryRequest::nearest(pts[7].vectors[""].clone(), 3);
    q.with_payload = Some(PayloadSelector::All(true));
    q.with_vector = Some(VectorSelector::Names(vec!["s".into()]));
    let hits = db.query("c", &q).unwrap();
    assert_eq!(hits[0].id, PointId::Num(7));
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    assert_eq!(hits[0].payload.as_ref().unwrap(), &pts[7].payload);
    let vectors = hits[0].vectors.as_ref().unwrap();
    assert!(vectors.dense.is_empty());
    assert_eq!(vectors.sparse["s"], pts[7].sparse["s"]);
    assert_eq!(answers(&db, "c").len(), 8);

    // payload index and payload updates.
    db.create_payload_index("c", "group", FieldSchema::Integer)
        .unwrap();
    assert_eq!(
        db.info("c").unwrap().payload_indexes,
        [("group".to_string(), FieldSchema::Integer)]
    );
    let n = db
        .set_payload(
            "c",
            &PointSelector::Ids(vec![PointId::Num(0), PointId::Num(1), PointId::Num(999)]),
            payload(json!({"extra": true, "text": null})),
            None,
        )
        .unwrap();
    assert_eq!(n, 2);
    let p0 = &db
        .get(
            "c",
            &[PointId::Num(0)],
            &PayloadSelector::All(true),
            &VectorSelector::All(false),
        )
        .unwrap()[0];
    assert_eq!(
        p0.payload.as_ref().unwrap(),
        &payload(json!({"i": 0, "group": 0, "extra": true}))
    );
    let n = db
        .set_payload(
            "c",
            &PointSelector::Filter(group1.clone()),
            payload(json!({"g1": 1})),
            Some("meta"),
        )
        .unwrap();
    assert_eq!(n, 100);
    let g1 =
        Filter::from_json_str(r#"{"must": [{"key": "meta.g1", "match": {"value": 1}}]}"#).unwrap();
    assert_eq!(db.count("c", Some(&g1)).unwrap(), 100);
    assert_eq!(
        db.delete_payload_keys(
            "c",
            &PointSelector::Filter(group1.clone()),
            &["meta".into()]
        )
        .unwrap(),
        100
    );
    assert_eq!(db.count("c", Some(&g1)).unwrap(), 0);
    db.overwrite_payload(
        "c",
        &PointSelector::Ids(vec![PointId::Num(2)]),
        payload(json!({"only": 1})),
    )
    .unwrap();
    db.clear_payload("c", &PointSelector::Ids(vec![PointId::Num(5)]))
        .unwrap();
    let scrolled = full_scroll(&db, "c");
    let by_get = db
        .get(
            "c",
            &scrolled.iter().map(|r| r.id).collect::<Vec<_>>(),
            &PayloadSelector::All(true),
            &VectorSelector::All(true),
        )
        .unwrap();
    assert_same_records(&scrolled, &by_get);
    let of = |n: u64| {
        let r = scrolled.iter().find(|r| r.id == PointId::Num(n)).unwrap();
        r.payload.clone().unwrap()
    };
    assert_eq!(of(2), payload(json!({"only": 1})));
    assert!(of(5).is_empty());

    // deletes.
    assert_eq!(
        db.delete(
            "c",
            &[PointId::Num(0), PointId::Num(0), PointId::Num(12345)]
        )
        .unwrap(),
        1
    );
    assert_eq!(db.delete_by_filter("c", &group1).unwrap(), 100);
    assert_eq!(db.count("c", None).unwrap(), 199);
    assert_eq!(db.count("c", Some(&group1)).unwrap(), 0);

    // snapshot and restore (new name, then replacing).
    let bytes = db.snapshot("c").unwrap();
    assert_eq!(db.restore("copy", &bytes, false).unwrap(), 199);
    assert_same_records(&full_scroll(&db, "c"), &full_scroll(&db, "copy"));
    assert_eq!(answers(&db, "c"), answers(&db, "copy"));
    assert_eq!(
        db.info("copy").unwrap().payload_indexes,
        db.info("c").unwrap().payload_indexes
    );
    db.upsert(
        "c",
        vec![PointData::dense(
            PointId::Num(0),
            vec![1.0; DIM],
            payload(json!({})),
        )],
    )
    .unwrap();
    let bytes = db.snapshot("c").unwrap();
    assert_eq!(db.restore("copy", &bytes, true).unwrap(), 200);
    assert_eq!(db.count("copy", None).unwrap(), 200);

    // info and stats.
    let info = db.info("c").unwrap();
    assert_eq!(info.points, 200);
    assert!(info.config_json.is_some());
    assert!(db.info("copy").unwrap().config_json.is_none());
    db.flush().unwrap();
    let stats = db.stats().unwrap();
    assert_eq!(stats.collections.len(), 2);
    assert!(stats.redb_bytes > 0 && stats.index_bytes > 0);
    assert!(stats.payload.stored <= stats.payload.raw);

    db.optimize("c").unwrap();
    assert_eq!(db.count("c", None).unwrap(), 200);
    assert!(db.delete_collection("copy").unwrap());
    assert!(!db.delete_collection("copy").unwrap());
    assert_eq!(db.list_collections().unwrap(), ["c"]);
    db.shutdown().unwrap();
    db.shutdown().unwrap();
}

#[test]
fn async_twin_answers_like_the_blocking_calls() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let db = AsyncDatabase::open(dir.path(), Default::default())
            .await
            .unwrap();
        db.create_collection("a".into(), config()).await.unwrap();
        db.upsert("a".into(), points(2, 0..50)).await.unwrap();
        assert_eq!(db.count("a".into(), None).await.unwrap(), 50);
        let hits = db
            .query("a".into(), QueryRequest::nearest(vec![0.5; DIM], 5))
            .await
            .unwrap();
        assert_eq!(hits.len(), 5);
        let got = db
            .get(
                "a".into(),
                vec![PointId::Num(1)],
                PayloadSelector::All(true),
                VectorSelector::All(false),
            )
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            db.delete("a".into(), vec![PointId::Num(1)]).await.unwrap(),
            1
        );
        let bytes = db.snapshot("a".into()).await.unwrap();
        assert_eq!(db.restore("b".into(), bytes, false).await.unwrap(), 49);
        assert_eq!(db.list_collections().await.unwrap(), ["a", "b"]);
        db.update_aliases(vec![grape_db::AliasOp::Create {
            alias: "latest".into(),
            collection: "b".into(),
        }])
        .await
        .unwrap();
        assert_eq!(
            db.resolve_alias("latest".into()).await.unwrap().as_deref(),
            Some("b")
        );
        assert_eq!(db.delete_aliases_of("b".into()).await.unwrap(), 1);
        assert!(db.list_aliases().await.unwrap().is_empty());
        let bad = vec![grape_core::PointData::dense(
            PointId::Num(9),
            vec![f32::NAN; DIM],
            Default::default(),
        )];
        assert!(db.check_points("a".into(), bad).await.is_err());
        assert_eq!(
            db.collection_config("a".into()).await.unwrap().dense[""].dim,
            DIM
        );
        db.shutdown().await.unwrap();
        assert!(matches!(
            db.count("a".into(), None).await,
            Err(grape_db::Error::Closed)
        ));
    });
}
