// Cloudflare Workers / workerd entry: the .wasm files are imported as
// compiled modules (wrangler does this for `.wasm` imports; a workerd
// config lists them as `wasm` modules), so start-up needs no fetch.
import simdModule from "../dist/simd/grape_wasm_bg.wasm";
import baselineModule from "../dist/baseline/grape_wasm_bg.wasm";
import * as simdGlue from "../dist/simd/grape_wasm.js";
import * as baselineGlue from "../dist/baseline/grape_wasm.js";
import { bind } from "./grape.js";
import { simdSupported } from "./simd.js";

const simd = simdSupported();
const glue = simd ? simdGlue : baselineGlue;
glue.initSync({ module: simd ? simdModule : baselineModule });

export const { Collection, flavour } = bind(glue, simd ? "simd" : "baseline");
export { simdSupported };
