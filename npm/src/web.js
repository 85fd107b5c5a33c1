// Browser and Deno entry: fetches the .wasm next to this module (bundlers
// follow the `new URL(..., import.meta.url)` references).
import { bind } from "./grape.js";
import { simdSupported } from "./simd.js";

/** Loads one build ("simd" or "baseline") as its own API object. */
export async function load(flavour) {
  if (flavour === "simd") {
    const glue = await import("../dist/simd/grape_wasm.js");
    await glue.default({ module_or_path: new URL("../dist/simd/grape_wasm_bg.wasm", import.meta.url) });
    return bind(glue, "simd");
  }
  const glue = await import("../dist/baseline/grape_wasm.js");
  await glue.default({ module_or_path: new URL("../dist/baseline/grape_wasm_bg.wasm", import.meta.url) });
  return bind(glue, "baseline");
}

export const { Collection, flavour } = await load(simdSupported() ? "simd" : "baseline");
export { simdSupported };
