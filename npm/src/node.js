// Node entry: reads the .wasm from the package directory. Set
// GRAPE_WASM_FLAVOUR=baseline (or simd) to force a build.
import { readFile } from "node:fs/promises";
import { bind } from "./grape.js";
import { simdSupported } from "./simd.js";

/** Loads one build ("simd" or "baseline") as its own API object. */
export async function load(flavour) {
  const glue = flavour === "simd"
    ? await import("../dist/simd/grape_wasm.js")
    : await import("../dist/baseline/grape_wasm.js");
  const url = new URL(`../dist/${flavour === "simd" ? "simd" : "baseline"}/grape_wasm_bg.wasm`, import.meta.url);
  glue.initSync({ module: await readFile(url) });
  return bind(glue, flavour === "simd" ? "simd" : "baseline");
}

const wanted = process.env.GRAPE_WASM_FLAVOUR ?? (simdSupported() ? "simd" : "baseline");
export const { Collection, flavour } = await load(wanted);
export { simdSupported };
