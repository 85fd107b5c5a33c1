// The package's API tests, shared by Node (node.test.mjs) and Deno
// (deno.test.mjs): plain ESM, so it loads in both. `suite(api)` returns
// [name, fn] pairs for the runtime's own test runner. Not a test file itself
// (node --test runs *.test.mjs).
import assert from "node:assert/strict";

import { cosineTop, small, vectors } from "./fixtures.mjs";

const DIM = 16;
const FRUIT = { must: [{ key: "kind", match: { value: "fruit" } }] };
const NATURE = { must: [{ key: "kind", match: { value: "nature" } }] };

/**
 * @param {{Collection, flavour: string, load: Function, wantFlavour: string}} api
 *   the runtime entry's exports and the build it should have picked.
 */
export function suite({ Collection, flavour, load, wantFlavour }) {
  return [
    ["the loader picks the expected build", () => {
      assert.equal(flavour, wantFlavour);
      assert.equal(Collection.flavour, wantFlavour);
    }],

    ["search (the typed-array path) answers as query does, uuid and large ids intact", () => {
      const c = new Collection({ vectors: { size: 3, distance: "Dot" } });
      try {
        const uuid = "8c2f5a1e-3b4d-4c6e-9f10-2a3b4c5d6e7f";
        c.upsert([
          { id: 1, vector: [1, 0, 0], payload: { kind: "a" } },
          { id: uuid, vector: [0.9, 0.1, 0], payload: { kind: "b" } },
          { id: Number.MAX_SAFE_INTEGER, vector: [0.5, 0.5, 0], payload: { kind: "a" } },
        ]);
        const q = Float32Array.from([1, 0.2, 0.1]);
        const plain = c.search(q, { limit: 3 });
        assert.deepEqual(plain.map((h) => h.id), [1, uuid, Number.MAX_SAFE_INTEGER]);
        assert.deepEqual(plain, c.query({ query: Array.from(q), limit: 3 }));
        assert.deepEqual(c.search(Array.from(q), { limit: 3 }), plain);
        assert.deepEqual(c.search(Float64Array.from(q), { limit: 3 }), plain);
        const opts = { limit: 2, ef: 8, exact: true, withPayload: true, withVector: true,
          filter: { must: [{ key: "kind", match: { value: "a" } }] }, scoreThreshold: 0.1 };
        const rich = c.search(q, opts);
        assert.deepEqual(rich.map((h) => h.id), [1, Number.MAX_SAFE_INTEGER]);
        assert.equal(rich[0].payload.kind, "a");
        assert.equal(rich[0].vector.length, 3);
        assert.deepEqual(rich, c.query({ query: Array.from(q), limit: 2, with_payload: true, with_vector: true,
          filter: opts.filter, score_threshold: 0.1, params: { hnsw_ef: 8, exact: true } }));
        assert.equal(c.search(q, { limit: 3, scoreThreshold: 2 }).length, 0);
        for (const [call, code] of [
          [() => c.search(q, { limit: 0 }), "invalid_query"],
          [() => c.search(q, { limit: 1.5 }), "invalid_query"],
          [() => c.search(q, { ef: -1 }), "invalid_query"],
          [() => c.search(q, { using: "nope" }), "invalid_query"],
          [() => c.search(q, { filter: { must: 3 } }), "invalid_filter"],
          [() => c.search("1,0,0"), "invalid_query"],
        ]) {
          assert.throws(call, (e) => e instanceof Error && e.code === code, `expected ${code} from ${call}`);
        }
      } finally {
        c.free();
      }
    }],

    ["dense, text, sparse and hybrid queries with filters", () => {
      const c = small(Collection);
      try {
        assert.equal(c.length, 5);
        const near = c.search([1, 0.05, 0], { limit: 2, withPayload: true });
        assert.deepEqual(near.map((h) => h.id), [1, 2]);
        assert.equal(near[0].payload.kind, "fruit");
        assert.ok(near[0].score > 0.99 && near[0].score <= 1.0001, `score ${near[0].score}`);
        const text = c.searchText("deep sea", { limit: 3 });
        assert.deepEqual(text.map((h) => h.id).sort(), [3, 4]);
        assert.ok(text.every((h) => h.score > 0));
        assert.deepEqual(c.searchText("apples", { filter: FRUIT }).map((h) => h.id).sort(), [1, 2]);
        assert.deepEqual(c.searchText("apples trees", { filter: FRUIT }).map((h) => h.id).sort(), [1, 2]);
        assert.deepEqual(c.search([0, 1, 0], { limit: 1, filter: FRUIT }).map((h) => h.id), [2]);
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
      } finally {
        c.free();
      }
    }],

    ["get, count and delete by ids and by filter", () => {
      const c = small(Collection);
      try {
        const got = c.get([2, 99], { withVector: true });
        assert.equal(got.length, 1);
        assert.equal(got[0].payload.body, "apples grow on trees");
        assert.equal(got[0].vector[""].length, 3);
        assert.equal(c.count(), 5);
        assert.equal(c.count(NATURE), 2);
        assert.equal(c.delete([1, 42]), 1);
        assert.equal(c.delete({ filter: NATURE }), 2);
        assert.equal(c.length, 2);
        assert.deepEqual(c.search([1, 0, 0], { limit: 5 }).map((h) => h.id).sort(), [2, 4]);
      } finally {
        c.free();
      }
    }],

    ["bulk upsert of one Float32Array reaches recall@10 >= 0.95", () => {
      const n = 4000;
      const data = vectors(n, DIM, 7);
      const c = new Collection({ vectors: { size: DIM, distance: "Cosine" }, hnsw_config: { full_scan_threshold: 0 } });
      try {
        c.upsertVectors(Array.from({ length: n }, (_, i) => i), data);
        assert.equal(c.length, n);
        const queries = vectors(50, DIM, 8);
        let found = 0;
        for (let qi = 0; qi < 50; qi++) {
          const q = queries.subarray(qi * DIM, (qi + 1) * DIM);
          const truth = cosineTop(data, DIM, q, 10);
          const got = new Set(c.search(q, { limit: 10, ef: 64 }).map((h) => h.id));
          found += truth.filter((id) => got.has(id)).length;
        }
        assert.ok(found / 500 >= 0.95, `recall@10 ${found / 500}`);
      } finally {
        c.free();
      }
    }],

    ["toBytes / fromBytes: same answers, same bytes, int8 without originals", () => {
      const n = 1500; // > 1000 points: the originals are dropped, codes only
      const data = vectors(n, DIM, 9);
      const c = new Collection({
        vectors: { size: DIM, distance: "Dot" },
        quantization_config: { scalar: { type: "int8", keep_originals: false } },
        text_fields: { body: {} },
      });
      const words = ["grape", "vine", "cellar", "harvest", "oak", "barrel"];
      try {
        c.upsertVectors(Array.from({ length: n }, (_, i) => i), data, {
          payloads: Array.from({ length: n }, (_, i) => ({ n: i, body: `${words[i % 6]} ${words[(i * 7) % 6]} ${i}` })),
        });
        const stats = c.stats();
        assert.equal(stats.points, n);
        // Codes only: 16 bytes a point instead of 64.
        assert.ok(stats.dense[0].vectorBytes < n * DIM * 2, JSON.stringify(stats));
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
    }],

    ["a collection loaded from bytes keeps its text fields", () => {
      const c = small(Collection);
      const back = Collection.fromBytes(c.toBytes());
      try {
        assert.deepEqual(back.searchText("deep sea", { limit: 2 }).map((h) => h.id).sort(), [3, 4]);
      } finally {
        c.free();
        back.free();
      }
    }],

    ["the simd and baseline builds give the same answers and read each other's bytes", async () => {
      const simd = await load("simd");
      const base = await load("baseline");
      assert.equal(simd.flavour, "simd");
      assert.equal(base.flavour, "baseline");
      const data = vectors(2000, DIM, 11);
      const ids = Array.from({ length: 2000 }, (_, i) => i);
      const config = { vectors: { size: DIM, distance: "Euclid" }, hnsw_config: { full_scan_threshold: 0 } };
      const a = new simd.Collection(config);
      const b = new base.Collection(config);
      try {
        a.upsertVectors(ids, data);
        b.upsertVectors(ids, data);
        const q = vectors(1, DIM, 12);
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
    }],

    ["fromChunks and fromStream load what fromBytes loads, from chunks of any size", async () => {
      const n = 1500; // int8 codes only, payloads, a text field
      const data = vectors(n, DIM, 21);
      const c = new Collection({
        vectors: { size: DIM, distance: "Cosine" },
        quantization_config: { scalar: { type: "int8", keep_originals: false } },
        text_fields: { body: {} },
      });
      const small_ = small(Collection);
      try {
        c.upsertVectors(Array.from({ length: n }, (_, i) => i), data, {
          payloads: Array.from({ length: n }, (_, i) => ({ body: `grape ${i % 7} vine ${i}`, n: i })),
        });
        for (const [coll, sizes, q] of [
          [c, [7, 333, 65_537, Infinity], data.subarray(0, DIM)],
          [small_, [1, 2, 24, 25], [1, 0.05, 0]],
        ]) {
          const bytes = coll.toBytes();
          const want = Collection.fromBytes(bytes);
          try {
            const answers = (x) => [x.search(q, { limit: 10 }), x.searchText("grape vine", { limit: 5 })];
            for (const size of sizes) {
              const chunks = split(bytes, size);
              const viaChunks = Collection.fromChunks(chunks);
              const viaStream = await Collection.fromStream(stream(split(bytes, size)));
              const viaIterable = await Collection.fromStream(iterable(split(bytes, size)));
              const viaBytes = await Collection.fromStream(byteStream(split(bytes, size)));
              try {
                assert.ok(chunks.every((x) => x === undefined), "consumed chunks are released");
                for (const got of [viaChunks, viaStream, viaIterable, viaBytes]) {
                  assert.deepEqual(got.toBytes(), bytes, `chunks of ${size}`);
                  assert.equal(got.length, want.length);
                  assert.deepEqual(answers(got), answers(want), `chunks of ${size}`);
                }
              } finally {
                viaChunks.free();
                viaStream.free();
                viaIterable.free();
                viaBytes.free();
              }
            }
          } finally {
            want.free();
          }
        }
        assert.ok(Collection.wasmMemoryBytes() >= 65536);
        assert.equal(Collection.wasmMemoryBytes() % 65536, 0);
      } finally {
        c.free();
        small_.free();
      }
    }],

    ["damaged bytes in chunks or a stream throw the code fromBytes throws", async () => {
      const c = small(Collection);
      try {
        const good = c.toBytes();
        const flipped = good.slice();
        flipped[flipped.length - 3] ^= 0xff;
        const version = good.slice();
        version[8] = 99;
        const trailing = new Uint8Array(good.length + 2);
        trailing.set(good);
        const damaged = [flipped, good.subarray(0, 30), good.subarray(0, 5), version, trailing,
          new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), new Uint8Array(0)];
        for (const bytes of damaged) {
          let want;
          assert.throws(() => Collection.fromBytes(bytes), (e) => { want = e; return true; });
          assert.ok(want.code, `no code for ${want}`);
          for (const size of [1, 4, 1000]) {
            const same = (e) => e instanceof Error && e.code === want.code && e.message === want.message;
            assert.throws(() => Collection.fromChunks(split(bytes, size)), same, `${want.code}, chunks of ${size}`);
            await assert.rejects(Collection.fromStream(stream(split(bytes, size))), same, `${want.code}, stream`);
            await assert.rejects(Collection.fromStream(byteStream(split(bytes, size))), same, `${want.code}, bytes`);
          }
        }
        const codes = ["checksum_mismatch", "truncated", "truncated", "unsupported_version", "corrupted", "bad_magic", "truncated"];
        damaged.forEach((bytes, i) => {
          assert.throws(() => Collection.fromChunks([bytes]), (e) => e.code === codes[i]);
        });
        assert.throws(() => Collection.fromChunks(good), (e) => e.code === "invalid_query");
        assert.throws(() => Collection.fromChunks([good, "x"]), (e) => e.code === "invalid_query");
        await assert.rejects(Collection.fromStream(good), (e) => e.code === "invalid_query");
        await assert.rejects(Collection.fromStream(stream([good.subarray(0, 10), "x"])), (e) => e.code === "invalid_query");
      } finally {
        c.free();
      }
    }],

    ["bad input throws a coded error and changes nothing", () => {
      const c = small(Collection);
      try {
        const before = c.toBytes();
        const cases = [
          [() => c.upsert([{ id: 9, vector: [1, 2] }]), "dimension_mismatch"],
          [() => c.upsert([{ id: 9, vector: [1, NaN, 0] }]), "non_finite"],
          [() => c.search(Float32Array.from([1, 0, Infinity])), "non_finite"],
          [() => c.upsert([{ id: 9, vector: [0, 0, 0] }]), "zero_vector"],
          [() => c.upsert([{ id: -1, vector: [1, 0, 0] }]), "invalid_query"],
          [() => c.upsert([{ id: 9, vector: "nope" }]), "invalid_query"],
          [() => c.upsert([{ id: 9, vector: { nope: [1, 0, 0] } }]), "invalid_query"],
          [() => c.upsertVectors([1, 2], new Float32Array(5)), "invalid_query"],
          [() => c.upsertVectors([1], Float32Array.from([1, Infinity, 0])), "non_finite"],
          [() => c.search([1, 0], {}), "dimension_mismatch"],
          [() => c.query({ query: [1, 0, 0], limt: 3 }), "invalid_query"],
          [() => c.count({ must: [{ key: "kind", match: { valu: 1 } }] }), "invalid_filter"],
          [() => c.createPayloadIndex("kind", "words"), "invalid_parameter"],
          [() => new Collection({ vectors: { size: 3, distance: "Cosin" } }), "invalid_config"],
          [() => new Collection({ vectors: { size: 0, distance: "Cosine" } }), "invalid_config"],
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
        assert.throws(() => Collection.fromBytes(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), (e) => e.code === "bad_magic");
        assert.throws(() => Collection.fromBytes(new Uint8Array(9)), (e) => e.code === "bad_magic");
        assert.throws(() => Collection.fromBytes("nope"), (e) => e.code === "invalid_query");
        assert.throws(() => Collection.fromBytes([1, 2, 3]), (e) => e.code === "invalid_query");
      } finally {
        c.free();
      }
    }],
  ];
}

/** `bytes` as chunks of `size` bytes (the last one shorter), copied. */
function split(bytes, size) {
  const out = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.slice(at, at + size));
  return out;
}

/** A ReadableStream of these chunks, one per pull. */
function stream(chunks) {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

/** A byte stream (as a fetch body is) of these chunks: read with a BYOB reader. */
function byteStream(chunks) {
  let i = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (i < chunks.length) {
        controller.enqueue(chunks[i++]);
      } else {
        controller.close();
        // A pending BYOB read ends only when its request is answered.
        controller.byobRequest?.respond(0);
      }
    },
  });
}

/** An async iterable of these chunks. */
async function* iterable(chunks) {
  for (const c of chunks) yield c;
}
