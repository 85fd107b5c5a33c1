// The npm package under Deno, through src/web.js (the entry Deno resolves):
// collections, dense / text / sparse / hybrid queries, the bulk path, bytes
// round trips across both wasm builds, and coded errors.
//
// Run under Deno:
//   node_modules/.bin/deno test --allow-read=. --no-remote --no-npm --cached-only --no-lock --no-config test/deno.test.mjs
// (from npm/, after `npm install && npm run build`). Nothing is downloaded:
// the only imports are the package's own files and Deno's built-in `node:`
// modules.
//
// Run under Node (`node --test test/`, which picks up every file here), this
// file does not test Node: it starts Deno on itself, as above, and fails with
// Deno's output if Deno fails, is missing or runs longer than two minutes.

const DENO_TIMEOUT_MS = 120_000;

if (typeof globalThis.Deno?.test === "function") {
  await denoTests();
} else {
  await runUnderDeno();
}

/** Node: one test that runs this file with `deno test`, offline. */
async function runUnderDeno() {
  const { test } = await import("node:test");
  const assert = (await import("node:assert/strict")).default;
  const { spawnSync } = await import("node:child_process");
  const { existsSync } = await import("node:fs");
  const { fileURLToPath } = await import("node:url");

  const pkg = fileURLToPath(new URL("..", import.meta.url));
  const deno = fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
  const self = fileURLToPath(import.meta.url);

  test("the package's Deno tests pass under Deno", () => {
    assert.ok(existsSync(deno),
      `Deno is missing (${deno}): run \`npm install\` in npm/ (devDependency "deno")`);
    const r = spawnSync(deno, denoArgs(pkg, self), {
      cwd: pkg,
      encoding: "utf8",
      timeout: DENO_TIMEOUT_MS,
      killSignal: "SIGKILL",
      env: denoEnv(process.env),
    });
    const output = `${r.stdout ?? ""}${r.stderr ?? ""}`;
    assert.equal(r.error, undefined, `deno did not run: ${r.error}\n${output}`);
    assert.equal(r.signal, null, `deno was stopped by ${r.signal} (time limit ${DENO_TIMEOUT_MS} ms)\n${output}`);
    assert.equal(r.status, 0, `deno test failed (exit ${r.status}):\n${output}`);
    // The summary line ("ok | 7 passed | 0 failed") proves the tests ran.
    assert.match(output, /ok \| [1-9]\d* passed \| 0 failed/, output);
  });
}

/** The flags of an offline Deno run (scripts/test-npm.sh passes the same ones). */
function denoArgs(pkg, file) {
  return [
    "test",
    `--allow-read=${pkg}`, // the .wasm files are fetched from file: URLs
    "--no-remote", // no http(s) imports
    "--no-npm", // no npm: specifiers, no registry
    "--cached-only", // never download
    "--no-lock", // do not write deno.lock next to package.json
    "--no-config", // ignore any deno.json / package.json for resolution
    file,
  ];
}

function denoEnv(env) {
  return { ...env, DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1", NO_COLOR: "1" };
}

/** Deno: the tests themselves. */
async function denoTests() {
  const assert = (await import("node:assert/strict")).default;
  const { Collection, flavour, load, simdSupported } = await import("../src/web.js");

  const DIM = 16;

  const { DOCS, cosineTop, vectors } = await import("./fixtures.mjs");

  function small(C = Collection) {
    const c = new C({
      vectors: { size: 3, distance: "Cosine" },
      sparse_vectors: { terms: { modifier: "idf" } },
      text_fields: { body: { stopwords: "english" } },
    });
    c.upsert(DOCS.map((d) => ({
      id: d.id,
      vector: Float32Array.from(d.v),
      sparse: { terms: { indices: [d.id, 100], values: [1, 0.5] } },
      text: d.text,
      payload: { kind: d.kind },
    })));
    return c;
  }

  Deno.test("web.js loads the simd build where Deno validates simd128", () => {
    assert.equal(simdSupported(), true, "Deno's V8 validates simd128");
    assert.equal(flavour, "simd");
    assert.equal(Collection.flavour, "simd");
  });

  Deno.test("dense, text, sparse and hybrid queries with a filter", () => {
    const c = small();
    try {
      assert.equal(c.length, 5);
      const near = c.search([1, 0.05, 0], { limit: 2, withPayload: true });
      assert.deepEqual(near.map((h) => h.id), [1, 2]);
      assert.equal(near[0].payload.kind, "fruit");
      assert.ok(near[0].score > 0.99 && near[0].score <= 1.0001, `score ${near[0].score}`);

      const text = c.searchText("deep sea", { limit: 3 });
      assert.deepEqual(text.map((h) => h.id).sort(), [3, 4]);
      assert.ok(text.every((h) => h.score > 0));

      const fruit = { must: [{ key: "kind", match: { value: "fruit" } }] };
      assert.deepEqual(c.searchText("apples trees", { filter: fruit }).map((h) => h.id).sort(), [1, 2]);
      assert.deepEqual(c.search([0, 1, 0], { limit: 1, filter: fruit }).map((h) => h.id), [2]);

      const sparse = c.query({ query: { indices: [3], values: [1] }, using: "terms", limit: 1 });
      assert.equal(sparse[0].id, 3);

      const hybrid = c.query({
        prefetch: [
          { query: { text: "blue sea" }, using: "body", limit: 5 },
          { query: [0, 1, 0], limit: 5 },
        ],
        query: { fusion: "rrf" },
        limit: 2,
        with_payload: ["kind"],
      });
      assert.deepEqual(hybrid.map((h) => h.id).sort(), [3, 4]);
      assert.deepEqual(Object.keys(hybrid[0].payload), ["kind"]);

      assert.equal(c.count({ must: [{ key: "kind", match: { value: "nature" } }] }), 2);
      assert.equal(c.delete([5]), 1);
      assert.equal(c.length, 4);
    } finally {
      c.free();
    }
  });

  Deno.test("bulk upsert of one Float32Array: graph search recall@10 >= 0.95", () => {
    const n = 3000;
    const data = vectors(n, DIM, 21);
    const c = new Collection({ vectors: { size: DIM, distance: "Cosine" }, hnsw_config: { full_scan_threshold: 0 } });
    try {
      c.upsertVectors(Array.from({ length: n }, (_, i) => i), data);
      assert.equal(c.length, n);
      const queries = vectors(40, DIM, 22);
      let found = 0;
      for (let qi = 0; qi < 40; qi++) {
        const q = queries.subarray(qi * DIM, (qi + 1) * DIM);
        const truth = cosineTop(data, DIM, q, 10);
        const got = new Set(c.search(q, { limit: 10, ef: 64 }).map((h) => h.id));
        found += truth.filter((id) => got.has(id)).length;
      }
      assert.ok(found / 400 >= 0.95, `recall@10 ${found / 400}`);
    } finally {
      c.free();
    }
  });

  Deno.test("toBytes / fromBytes: same answers, same bytes, int8 without originals", () => {
    const n = 1500; // > 1000 points: the originals are dropped, codes only
    const data = vectors(n, DIM, 23);
    const c = new Collection({
      vectors: { size: DIM, distance: "Dot" },
      quantization_config: { scalar: { type: "int8", keep_originals: false } },
      text_fields: { body: {} },
    });
    try {
      const words = ["grape", "vine", "cellar", "harvest", "oak", "barrel"];
      c.upsertVectors(Array.from({ length: n }, (_, i) => i), data, {
        payloads: Array.from({ length: n }, (_, i) => ({ n: i, body: `${words[i % 6]} ${words[(i * 7) % 6]} ${i}` })),
      });
      assert.equal(c.get([3], { withVector: true })[0].vector[""], undefined, "originals were dropped");
      const bytes = c.toBytes();
      assert.ok(bytes instanceof Uint8Array);
      assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), "GRAPEIDX");
      const back = Collection.fromBytes(bytes);
      try {
        assert.equal(back.length, n);
        for (let qi = 0; qi < 5; qi++) {
          const q = data.subarray(qi * 97 * DIM, (qi * 97 + 1) * DIM);
          assert.deepEqual(back.search(q, { limit: 10 }), c.search(q, { limit: 10 }));
        }
        assert.deepEqual(back.searchText("cellar oak", { limit: 5 }), c.searchText("cellar oak", { limit: 5 }));
        assert.deepEqual(back.toBytes(), bytes, "re-encoding changed the bytes");
      } finally {
        back.free();
      }
    } finally {
      c.free();
    }
  });

  Deno.test("the baseline build loads in Deno and reads the simd build's bytes", async () => {
    const base = await load("baseline");
    assert.equal(base.flavour, "baseline");
    const data = vectors(1200, DIM, 24);
    const ids = Array.from({ length: 1200 }, (_, i) => i);
    const a = new Collection({ vectors: { size: DIM, distance: "Euclid" }, hnsw_config: { full_scan_threshold: 0 } });
    const b = new base.Collection({ vectors: { size: DIM, distance: "Euclid" }, hnsw_config: { full_scan_threshold: 0 } });
    try {
      a.upsertVectors(ids, data);
      b.upsertVectors(ids, data);
      const q = vectors(1, DIM, 25);
      const ha = a.search(q, { limit: 10 });
      const hb = b.search(q, { limit: 10 });
      assert.deepEqual(hb.map((h) => h.id), ha.map((h) => h.id));
      for (let i = 0; i < ha.length; i++) assert.ok(Math.abs(ha[i].score - hb[i].score) < 1e-4);
      const moved = base.Collection.fromBytes(a.toBytes());
      try {
        assert.deepEqual(moved.search(q, { limit: 10 }).map((h) => h.id), ha.map((h) => h.id));
      } finally {
        moved.free();
      }
    } finally {
      a.free();
      b.free();
    }
  });

  Deno.test("bad input throws an Error with a code and changes nothing", () => {
    const c = small();
    try {
      const before = c.toBytes();
      const cases = [
        [() => c.upsert([{ id: 9, vector: [1, 2] }]), "dimension_mismatch"],
        [() => c.upsert([{ id: 9, vector: [1, NaN, 0] }]), "non_finite"],
        [() => c.search(Float32Array.from([1, 0, Infinity])), "non_finite"],
        [() => c.upsert([{ id: 9, vector: [0, 0, 0] }]), "zero_vector"],
        [() => c.search([1, 0]), "dimension_mismatch"],
        [() => c.query({ query: [1, 0, 0], limt: 3 }), "invalid_query"],
        [() => c.count({ must: [{ key: "kind", match: { valu: 1 } }] }), "invalid_filter"],
        [() => new Collection({ vectors: { size: 3, distance: "Cosin" } }), "invalid_config"],
      ];
      for (const [call, code] of cases) {
        assert.throws(call, (e) => e instanceof Error && e.code === code && e.message.length > 0,
          `expected ${code} from ${call}`);
      }
      assert.deepEqual(c.toBytes(), before, "a failed call changed the collection");
      const corrupt = before.slice();
      corrupt[corrupt.length - 3] ^= 0xff;
      assert.throws(() => Collection.fromBytes(corrupt), (e) => e.code === "checksum_mismatch");
      assert.throws(() => Collection.fromBytes(before.subarray(0, 30)), (e) => e.code === "truncated");
      assert.throws(() => Collection.fromBytes(new Uint8Array(9)), (e) => e.code === "bad_magic");
      assert.throws(() => Collection.fromBytes([1, 2, 3]), (e) => e.code === "invalid_query");
    } finally {
      c.free();
    }
  });
}
