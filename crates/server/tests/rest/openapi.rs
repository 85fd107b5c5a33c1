//! `/openapi.json` describes exactly the routes the router serves, and
//! `GET /` reports the Qdrant API version Grape implements.

use std::collections::BTreeSet;

use grape_server::rest::{OPENAPI_JSON, routes};
use serde_json::{Value, json};

use crate::client::{call, config, ok, start};

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            out.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    out
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_lists_every_route_and_nothing_else() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["version"], grape_server::QDRANT_API_VERSION);
    let served: BTreeSet<(String, String)> = routes()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let listed = documented(&doc);
    let missing: Vec<_> = served.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&served).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");
    // Every operation has a unique id and a 200 response; every reference
    // names a schema that exists.
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert!(op["responses"]["200"].is_object(), "{id}: no 200 response");
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling reference {r}"
        );
    }
}

#[tokio::test]
async fn the_server_answers_every_documented_route_and_serves_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path())).await;
    let addr = server.rest_addr();
    let doc = document();
    for (method, path) in documented(&doc) {
        let concrete = path
            .replace("{collection_name}", "nope")
            .replace("{field_name}", "f")
            .replace("{id}", "1")
            .replace("{snapshot_name}", "s.snapshot");
        let r = call(addr, &method, &concrete, &[], &Value::Null).await;
        assert_ne!(r.status, 405, "{method} {path}: method not routed");
        let fallback = r.body["status"]["error"]
            .as_str()
            .is_some_and(|m| m.starts_with("no route"));
        assert!(!fallback, "{method} {path}: not routed: {:?}", r.body);
    }
    let r = call(addr, "GET", "/openapi.json", &[], &Value::Null).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, doc);
    let r = call(addr, "GET", "/", &[], &Value::Null).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"], grape_server::QDRANT_API_VERSION);
    assert_eq!(r.body["grape_version"], env!("CARGO_PKG_VERSION"));
    // An unknown route is Qdrant's 404 error shape.
    let r = call(addr, "GET", "/no/such/route", &[], &Value::Null).await;
    assert_eq!(r.status, 404);
    ok(addr, "GET", "/collections", json!(null)).await;
    server.stop().await.unwrap();
}
