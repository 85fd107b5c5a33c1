//! wasm-bindgen-test unit tests of the bindings, run under Node:
//! `cargo test -p grape-wasm --target wasm32-unknown-unknown`
//! (runner: wasm-bindgen-test-runner).
#![cfg(target_arch = "wasm32")]

use grape_wasm::Collection;
use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

fn js(json: &str) -> JsValue {
    js_sys::JSON::parse(json).expect("test JSON parses")
}

/// Bytes as a JS `Uint8Array`.
fn u8s(bytes: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(bytes).into()
}

fn code(err: JsValue) -> String {
    Reflect::get(&err, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_default()
}

fn collection() -> Collection {
    let mut c = Collection::new(js(
        r#"{"vectors": {"size": 3, "distance": "Cosine"}, "text_fields": {"body": {}}}"#,
    ))
    .unwrap();
    c.upsert(js(r#"[
        {"id": 1, "vector": [1, 0, 0], "payload": {"body": "red grapes"}},
        {"id": 2, "vector": [0, 1, 0], "payload": {"body": "green leaves"}},
        {"id": "5f0c0b6e-6a3b-4c1e-9a44-0d1b6f1f2e3d", "vector": [0, 0, 1], "payload": {"body": "deep roots"}}
    ]"#))
    .unwrap();
    c
}

#[wasm_bindgen_test]
fn upsert_query_and_ids() {
    let mut c = collection();
    assert_eq!(c.length(), 3);
    let hits = Array::from(
        &c.query(js(r#"{"query": [0, 0.1, 1], "limit": 1}"#))
            .unwrap(),
    );
    let id = Reflect::get(&hits.get(0), &"id".into()).unwrap();
    assert_eq!(
        id.as_string().unwrap(),
        "5f0c0b6e-6a3b-4c1e-9a44-0d1b6f1f2e3d"
    );
    let hits = Array::from(
        &c.query(js(
            r#"{"query": {"text": "grapes"}, "using": "body", "with_payload": true}"#,
        ))
        .unwrap(),
    );
    assert_eq!(hits.length(), 1);
    let payload = Reflect::get(&hits.get(0), &"payload".into()).unwrap();
    let body = Reflect::get(&payload, &"body".into()).unwrap();
    assert_eq!(body.as_string().unwrap(), "red grapes");
}

#[wasm_bindgen_test]
fn bulk_path_and_bytes() {
    let mut c = Collection::new(js(r#"{"vectors": {"size": 2, "distance": "Euclid"}}"#)).unwrap();
    c.upsert_dense(
        "",
        js("[10, 11, 12]"),
        &[0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        JsValue::NULL,
    )
    .unwrap();
    let back = Collection::from_bytes(u8s(&c.to_bytes())).unwrap();
    assert_eq!(back.length(), 3);
    assert_eq!(back.count(JsValue::UNDEFINED).unwrap(), 3);
}

#[wasm_bindgen_test]
fn errors_carry_codes_and_change_nothing() {
    let mut c = collection();
    let before = c.to_bytes();
    let e = c
        .upsert(js(r#"[{"id": 9, "vector": [1, 2]}]"#))
        .unwrap_err();
    assert_eq!(code(e), "dimension_mismatch");
    let e = c
        .upsert_dense("", js("[1, 2]"), &[1.0, 0.0, 0.0], JsValue::NULL)
        .unwrap_err();
    assert_eq!(code(e), "invalid_query");
    let e = c
        .query(js(r#"{"query": [1, 0, 0], "limt": 1}"#))
        .unwrap_err();
    assert_eq!(code(e), "invalid_query");
    let e = Collection::new(js(r#"{"vectors": {"size": 3, "distance": "Nope"}}"#))
        .err()
        .unwrap();
    assert_eq!(code(e), "invalid_config");
    let mut bad = before.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        code(Collection::from_bytes(u8s(&bad)).err().unwrap()),
        "checksum_mismatch"
    );
    assert_eq!(c.to_bytes(), before);
}

#[wasm_bindgen_test]
fn from_chunks_loads_odd_chunks_and_releases_them() {
    let c = collection();
    let bytes = c.to_bytes();
    for size in [1, 3, 24, 100, bytes.len()] {
        let chunks = Array::new();
        chunks.push(&u8s(&[]));
        for piece in bytes.chunks(size) {
            chunks.push(&u8s(piece));
            chunks.push(&u8s(&[]));
        }
        let back = Collection::from_chunks(chunks.clone().into(), None).unwrap();
        assert_eq!(back.to_bytes(), bytes, "chunks of {size}");
        // Every chunk was consumed and released to the garbage collector.
        assert!(chunks.iter().all(|x| x.is_undefined()), "chunks of {size}");
    }
    // `release` sees every chunk once, in order.
    let chunks = Array::new();
    for piece in bytes.chunks(50) {
        chunks.push(&u8s(piece));
    }
    let seen = Array::new();
    let push = js_sys::Function::new_with_args("chunk", "this.push(chunk.length)").bind0(&seen);
    Collection::from_chunks(chunks.into(), Some(push)).unwrap();
    let lengths: Vec<u32> = bytes.chunks(50).map(|c| c.len() as u32).collect();
    assert_eq!(
        seen.iter()
            .map(|x| x.as_f64().unwrap() as u32)
            .collect::<Vec<_>>(),
        lengths
    );
    let mut bad = bytes.clone();
    bad[30] ^= 1;
    let chunks = Array::of2(&u8s(&bad[..10]), &u8s(&bad[10..]));
    let e = Collection::from_chunks(chunks.clone().into(), None)
        .err()
        .unwrap();
    assert_eq!(code(e), "checksum_mismatch");
    // Nothing is released before the checksum passed.
    assert!(chunks.iter().all(|x| !x.is_undefined()));
    let e = Collection::from_chunks(u8s(&bytes), None).err().unwrap();
    assert_eq!(code(e), "invalid_query");
    let e = Collection::from_chunks(Array::of1(&"x".into()).into(), None)
        .err()
        .unwrap();
    assert_eq!(code(e), "invalid_query");
    let e = Collection::from_bytes(Array::new().into()).err().unwrap();
    assert_eq!(code(e), "invalid_query");
    assert!(Collection::wasm_memory_bytes() >= 65536.0);
}
