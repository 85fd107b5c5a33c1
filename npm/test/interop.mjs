// Cross-runtime check, run by scripts/test-npm.sh between
// `grape-interop export DIR` and `grape-interop check DIR`:
// 1. the natively built collection (native.grape) loads here and answers
//    every query exactly as native Grape did (native.json);
// 2. the same points upserted here make a collection whose bytes go to
//    wasm.grape, with its answers in wasm.json, for the native check. (Two
//    builds of a graph need not be identical: AVX2 and simd128 round sums
//    differently; the bytes are what must carry over.)
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { Collection, flavour } from "../src/node.js";

const dir = process.argv[2];
if (!dir) throw new Error("usage: node test/interop.mjs DIR");
const read = (name) => readFileSync(join(dir, name));
const queries = JSON.parse(read("queries.json"));

function answers(c) {
  return queries.map((q) => c.query(q).map((h) => [String(h.id), h.score]));
}

function same(what, got, want) {
  assert.equal(got.length, want.length, what);
  got.forEach((list, qi) => {
    assert.deepEqual(list.map((h) => h[0]), want[qi].map((h) => h[0]), `${what}: query ${qi}`);
    list.forEach((h, i) => assert.ok(Math.abs(h[1] - want[qi][i][1]) <= 1e-4, `${what}: query ${qi} score`));
  });
}

const native = Collection.fromBytes(new Uint8Array(read("native.grape")));
const nativeAnswers = JSON.parse(read("native.json"));
same("native bytes loaded in wasm", answers(native), nativeAnswers);

const built = new Collection(JSON.parse(read("config.json")));
built.upsert(JSON.parse(read("points.json")));
const builtAnswers = answers(built);
assert.equal(built.length, native.length);
writeFileSync(join(dir, "wasm.grape"), built.toBytes());
writeFileSync(join(dir, "wasm.json"), JSON.stringify(builtAnswers));
console.log(`interop (${flavour}): ${queries.length} queries agree; wrote wasm.grape`);
