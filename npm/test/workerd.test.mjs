// The npm package in workerd (Cloudflare's Workers runtime), through
// src/workerd.js: the .wasm files as `wasm` modules, the wasm-bindgen glue
// and the package's sources as ES modules, under the same relative paths
// as in the package (src/..., dist/simd/..., dist/baseline/...), so that
// src/workerd.js resolves its `../dist/...` imports unchanged.
//
// The test builds a collection with the Node build of the package, writes
// a workerd config and the worker below into a temp dir (the worker loads
// the collection's bytes once from a `data` module and once fetched through
// a service binding from a small HTTP server this test runs on 127.0.0.1),
// starts `workerd serve` on 127.0.0.1 (port 0; workerd reports the port on
// --control-fd), and checks that the worker's answers to POST /search,
// /text and /query equal the Node build's. workerd is always stopped by its
// PID, also when a check fails; no request leaves 127.0.0.1.
//
// (The worker's source is a string here rather than a file under test/:
// `node --test test/` runs every .js/.mjs file below test/, and the worker
// cannot load in Node, since it imports .wasm and data modules.)
//
//   node --test test/workerd.test.mjs     (from npm/, after npm install and npm run build)
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { load } from "../src/node.js";
import { rng as sharedRng } from "./fixtures.mjs";
import { copyPackage, startWorkerd, stopWorkerd, workerdBinary, workerdConfig } from "./workerd-harness.mjs";

// workerd runs the simd build (checked by the first test); the Node side
// uses the same build whatever GRAPE_WASM_FLAVOUR says, so that answers
// can be compared exactly.
const { Collection } = await load("simd");

const START_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
const DIM = 32;
const N = 2500;

/** Uniform numbers in [0, 1), from the shared generator. */
function rng(seed) {
  const r = sharedRng(seed);
  return () => r() + 0.5;
}

/** `n` vectors around 20 centres, end to end. */
function clustered(n, dim, seed) {
  const r = rng(seed);
  const centres = Array.from({ length: 20 }, () => Array.from({ length: dim }, () => r() * 2 - 1));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(r() * centres.length)];
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[j] + (r() - 0.5) * 0.6;
  }
  return out;
}

const WORDS = ["grape", "vine", "cellar", "harvest", "oak", "barrel", "sun", "soil", "frost", "press",
  "cork", "bottle", "red", "white", "rose", "sweet", "dry", "valley", "hill", "river"];

function sentence(r) {
  const len = 3 + Math.floor(r() * 6);
  return Array.from({ length: len }, () => WORDS[Math.floor(r() * WORDS.length)]).join(" ");
}

/** The collection the worker serves: int8 codes only (> 1000 points), a text field, payloads. */
function buildCollection() {
  const c = new Collection({
    vectors: { size: DIM, distance: "Cosine" },
    hnsw_config: { full_scan_threshold: 0 },
    quantization_config: { scalar: { type: "int8", keep_originals: false } },
    text_fields: { body: { stopwords: "english" } },
  });
  const r = rng(5);
  const data = clustered(N, DIM, 4);
  c.upsertVectors(Array.from({ length: N }, (_, i) => i), data, {
    payloads: Array.from({ length: N }, (_, i) => ({ body: sentence(r), kind: i % 3 === 0 ? "red" : "white" })),
  });
  const bytes = c.toBytes();
  c.free();
  return { bytes, data };
}

/** The requests the test sends, each with the Node build's answer. */
function requests(node, data) {
  const r = rng(6);
  const out = [];
  for (let i = 0; i < 6; i++) {
    const vector = Array.from(data.subarray(i * 101 * DIM, (i * 101 + 1) * DIM), (x) => x + (r() - 0.5) * 0.1);
    const limit = 5 + i;
    out.push({ path: "/search", body: { vector, limit }, want: node.search(vector, { limit }) });
  }
  for (const q of ["oak barrel", "red grape harvest", "frost in the valley", "cork"]) {
    out.push({ path: "/text", body: { q }, want: node.searchText(q, { limit: 10 }) });
  }
  const hybrid = {
    prefetch: [
      { query: { text: "river valley" }, using: "body", limit: 20 },
      { query: out[0].body.vector, limit: 20 },
    ],
    query: { fusion: "rrf" },
    filter: { must: [{ key: "kind", match: { value: "red" } }] },
    limit: 8,
    with_payload: ["kind"],
  };
  out.push({ path: "/query", body: hybrid, want: node.query(hybrid) });
  return out;
}

/**
 * The worker, as module "test/worker.js" of the bundle: its imports resolve
 * like URLs against that name, so "../src/workerd.js" is the package's entry.
 */
const WORKER = String.raw`
import { Collection, flavour } from "../src/workerd.js";
import bytes from "./collection.bin"; // a data module: an ArrayBuffer

let embedded; // per isolate: loaded on first use
let fetched;

async function collection(path, env) {
  if (path.startsWith("/fetched/")) {
    if (!fetched) {
      const res = await env.ORIGIN.fetch("http://origin/collection.bin");
      if (!res.ok) throw new Error("origin answered " + res.status);
      fetched = Collection.fromBytes(new Uint8Array(await res.arrayBuffer()));
    }
    return fetched;
  }
  embedded ??= Collection.fromBytes(new Uint8Array(bytes));
  return embedded;
}

export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    const route = path.replace(/^\/fetched\//, "/");
    try {
      if (request.method === "GET" && route === "/health") {
        const c = await collection(path, env);
        return Response.json({ flavour, length: c.length });
      }
      if (request.method === "POST" && route === "/search") {
        const { vector, limit } = await request.json();
        return Response.json((await collection(path, env)).search(vector, { limit }));
      }
      if (request.method === "POST" && route === "/text") {
        const { q, limit } = await request.json();
        return Response.json((await collection(path, env)).searchText(q, { limit }));
      }
      if (request.method === "POST" && route === "/query") {
        return Response.json((await collection(path, env)).query(await request.json()));
      }
      return new Response("not found", { status: 404 });
    } catch (e) {
      // Coded errors are the caller's (or the data's) fault; others are bugs.
      return Response.json({ error: String(e?.message ?? e), code: e?.code ?? null }, { status: e?.code ? 400 : 500 });
    }
  },
};
`;

/** fetch with a time limit. */
async function call(url, body) {
  const init = { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    init.method = "POST";
    init.headers = { "content-type": "application/json" };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

let dir;
let origin;
let workerd;
let base;
let cases;
let expectedLength;

before(async () => {
  const bin = await workerdBinary();
  const { bytes, data } = buildCollection();
  const node = Collection.fromBytes(bytes);
  expectedLength = node.length;
  cases = requests(node, data);
  node.free();

  dir = mkdtempSync(join(tmpdir(), "grape-workerd-"));
  copyPackage(dir);
  mkdirSync(join(dir, "test"), { recursive: true });
  writeFileSync(join(dir, "test/worker.js"), WORKER);
  writeFileSync(join(dir, "test/collection.bin"), bytes);

  // The origin: serves the same bytes, as KV or R2 would to a real worker.
  origin = createServer((req, res) => {
    if (req.url === "/collection.bin") {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length });
      res.end(bytes);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve, reject) => origin.listen(0, "127.0.0.1", resolve).on("error", reject));

  writeFileSync(join(dir, "config.capnp"), workerdConfig(origin.address().port, [["test/collection.bin", "data"]]));

  const started = Date.now();
  const run = await startWorkerd(bin, dir, START_TIMEOUT_MS);
  workerd = run.proc;
  base = run.base;
  const timeLeft = () => START_TIMEOUT_MS - (Date.now() - started);
  let log = "";
  const output = () => `${run.log()}${log}`;
  // Ready when /health answers (the worker has loaded); bounded as well.
  for (;;) {
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(Math.max(timeLeft(), 1)) });
      if (res.ok) break;
      log += `\n[test] /health: ${res.status} ${await res.text()}`;
    } catch (e) {
      log += `\n[test] /health: ${e.message}`;
    }
    assert.equal(workerd.exitCode ?? workerd.signalCode, null, `workerd exited before answering:\n${output()}`);
    assert.ok(timeLeft() > 0, `workerd did not answer on ${base} within ${START_TIMEOUT_MS} ms:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, { timeout: START_TIMEOUT_MS + 60_000 });

after(async () => {
  await stopWorkerd(workerd);
  if (origin) await new Promise((resolve) => origin.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("workerd loads the simd build and the collection from a data module", async () => {
  const { status, json, text } = await call(`${base}/health`);
  assert.equal(status, 200, text);
  assert.equal(json.flavour, "simd");
  assert.equal(json.length, expectedLength);
});

test("POST /search, /text and /query answer as the Node build does", async () => {
  for (const { path, body, want } of cases) {
    const { status, json, text } = await call(base + path, body);
    assert.equal(status, 200, `${path}: ${text}`);
    assert.ok(want.length > 0, `${path}: the Node build found nothing for ${JSON.stringify(body)}`);
    assert.deepEqual(json, JSON.parse(JSON.stringify(want)), `${path} ${JSON.stringify(body).slice(0, 80)}`);
  }
});

test("a collection fetched through a service binding answers the same", async () => {
  for (const { path, body, want } of cases) {
    const { status, json, text } = await call(`${base}/fetched${path}`, body);
    assert.equal(status, 200, `/fetched${path}: ${text}`);
    assert.deepEqual(json, JSON.parse(JSON.stringify(want)), `/fetched${path}`);
  }
});

test("errors arrive as 400 with the core's code", async () => {
  const wrongDim = await call(`${base}/search`, { vector: [1, 2, 3], limit: 3 });
  assert.equal(wrongDim.status, 400, wrongDim.text);
  assert.equal(wrongDim.json.code, "dimension_mismatch");
  assert.match(wrongDim.json.error, /dimension/);
  const badFilter = await call(`${base}/query`, { query: cases[0].body.vector, filter: { must: [{ key: "kind", match: { valu: 1 } }] } });
  assert.equal(badFilter.status, 400, badFilter.text);
  assert.equal(badFilter.json.code, "invalid_filter");
  const missing = await call(`${base}/nope`);
  assert.equal(missing.status, 404);
});
