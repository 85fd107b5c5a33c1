// The npm package under Node: the shared API suite (suite.mjs) on the build
// the loader picks. Run with `npm test` after `npm run build`;
// GRAPE_WASM_FLAVOUR=baseline forces the baseline build.
import { test } from "node:test";

import { Collection, flavour, load, simdSupported } from "../src/node.js";
import { suite } from "./suite.mjs";

const wantFlavour = process.env.GRAPE_WASM_FLAVOUR ?? (simdSupported() ? "simd" : "baseline");
for (const [name, fn] of suite({ Collection, flavour, load, wantFlavour })) {
  test(name, fn);
}
