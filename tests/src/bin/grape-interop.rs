//! Cross-runtime check of the portable byte format, driven by
//! `scripts/test-npm.sh` together with `npm/test/interop.mjs`:
//!
//! ```text
//! grape-interop export DIR   # writes points.json, queries.json, native.grape, native.json
//! grape-interop check DIR    # loads wasm.grape (written by the npm package) and
//!                            # checks its answers against the ones wasm gave (wasm.json)
//! ```
//! Answers are the top-10 `[id, score]` lists of each query; ids must be
//! identical and scores equal within 1e-4 (SIMD sums round differently).

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use grape_core::query::QueryRequest;
use grape_core::{Collection, CollectionConfig, PointData};
use serde_json::{Value, json};

const CONFIG: &str = r#"{
  "vectors": {"size": 32, "distance": "Cosine", "hnsw_config": {"full_scan_threshold": 0}},
  "sparse_vectors": {"terms": {"modifier": "idf"}},
  "text_fields": {"body": {"stopwords": "english"}}
}"#;

const WORDS: [&str; 10] = [
    "grape", "vine", "wine", "sun", "soil", "harvest", "barrel", "cellar", "leaf", "root",
];

fn points() -> Vec<Value> {
    let data = grape_tests::clustered(3_000, 32, 12, 21);
    data.iter()
        .enumerate()
        .map(|(i, v)| {
            let body = format!(
                "{} {} and {}",
                WORDS[i % 10],
                WORDS[(i / 10) % 10],
                WORDS[(i * 7) % 10]
            );
            json!({
                "id": i,
                "vector": {"": v, "terms": {"indices": [i % 40, 99], "values": [1.0, 0.5]}},
                "payload": {"body": body, "group": i % 5},
            })
        })
        .collect()
}

fn queries() -> Vec<Value> {
    let q = grape_tests::clustered_draw(6, 32, 12, 21, 99);
    let mut out: Vec<Value> = q
        .iter()
        .map(|v| json!({"query": v, "limit": 10, "params": {"hnsw_ef": 64}}))
        .collect();
    out.push(json!({"query": q[0], "limit": 10,
        "filter": {"must": [{"key": "group", "match": {"value": 2}}]}}));
    out.push(json!({"query": {"text": "grape cellar"}, "using": "body", "limit": 10}));
    out.push(
        json!({"query": {"indices": [7, 99], "values": [1.0, 1.0]}, "using": "terms", "limit": 10}),
    );
    out.push(json!({"prefetch": [
            {"query": {"text": "vine harvest"}, "using": "body", "limit": 30},
            {"query": q[1], "limit": 30}],
        "query": {"fusion": "rrf"}, "limit": 10}));
    out
}

fn answers(c: &Collection, queries: &[Value]) -> Result<Value, String> {
    let mut all = Vec::new();
    for q in queries {
        let req = QueryRequest::from_value(q).map_err(|e| e.to_string())?;
        let hits = c.query(&req).map_err(|e| e.to_string())?;
        let list: Vec<Value> = hits
            .iter()
            .map(|h| json!([h.id.to_string(), h.score]))
            .collect();
        all.push(Value::Array(list));
    }
    Ok(Value::Array(all))
}

/// Same ids in the same order, scores within 1e-4.
fn compare(what: &str, got: &Value, want: &Value) -> Result<(), String> {
    let (Some(got), Some(want)) = (got.as_array(), want.as_array()) else {
        return Err(format!("{what}: answers are not lists"));
    };
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} answers, expected {}",
            got.len(),
            want.len()
        ));
    }
    for (qi, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.as_array().unwrap(), w.as_array().unwrap());
        let ids = |l: &Vec<Value>| l.iter().map(|h| h[0].clone()).collect::<Vec<_>>();
        if ids(g) != ids(w) {
            return Err(format!(
                "{what}: query {qi}: ids {:?}, expected {:?}",
                ids(g),
                ids(w)
            ));
        }
        for (a, b) in g.iter().zip(w) {
            let (a, b) = (a[1].as_f64().unwrap(), b[1].as_f64().unwrap());
            if (a - b).abs() > 1e-4 {
                return Err(format!("{what}: query {qi}: score {a}, expected {b}"));
            }
        }
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let (cmd, dir) = match args {
        [cmd, dir] => (cmd.as_str(), Path::new(dir)),
        _ => return Err("usage: grape-interop export|check DIR".into()),
    };
    let read = |name: &str| fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let write = |name: &str, bytes: &[u8]| {
        fs::write(dir.join(name), bytes).map_err(|e| format!("{name}: {e}"))
    };
    match cmd {
        "export" => {
            fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let config = CollectionConfig::from_json(CONFIG).map_err(|e| e.to_string())?;
            let mut c = Collection::new(config).map_err(|e| e.to_string())?;
            let pts = points();
            let data = pts
                .iter()
                .enumerate()
                .map(|(i, p)| PointData::from_value(p, &format!("points[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            c.upsert(data).map_err(|e| e.to_string())?;
            let qs = queries();
            write("config.json", CONFIG.as_bytes())?;
            write("points.json", Value::Array(pts).to_string().as_bytes())?;
            write(
                "queries.json",
                Value::Array(qs.clone()).to_string().as_bytes(),
            )?;
            write("native.grape", &c.to_bytes())?;
            write("native.json", answers(&c, &qs)?.to_string().as_bytes())?;
            println!(
                "grape-interop: exported {} points to {}",
                c.len(),
                dir.display()
            );
            Ok(())
        }
        "check" => {
            let qs: Vec<Value> = serde_json::from_slice(&read("queries.json")?)
                .map_err(|e| format!("queries.json: {e}"))?;
            let c = Collection::from_bytes(&read("wasm.grape")?)
                .map_err(|e| format!("wasm.grape: {e}"))?;
            let got = answers(&c, &qs)?;
            let wasm: Value = serde_json::from_slice(&read("wasm.json")?)
                .map_err(|e| format!("wasm.json: {e}"))?;
            compare(
                "wasm-built bytes: native answers vs wasm answers",
                &got,
                &wasm,
            )?;
            println!("grape-interop: {} queries agree across runtimes", qs.len());
            Ok(())
        }
        other => Err(format!("unknown command {other}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grape-interop: {e}");
            ExitCode::FAILURE
        }
    }
}
