#!/usr/bin/env node
// Builds the two WebAssembly flavours of grape-wasm and places them in dist/:
//
//   dist/simd/      built with -C target-feature=+simd128
//   dist/baseline/  built without SIMD (for runtimes that reject simd128)
//
// Each: `cargo build --release --target wasm32-unknown-unknown -p grape-wasm`
// (separate target dirs, so switching flavours never rebuilds the other),
// then `wasm-bindgen --target web` (the CLI must be the crate's pinned
// version), then binaryen's `wasm-opt -O3` from node_modules (Debian's
// binaryen 108 breaks wasm-bindgen's externref table: never use it).
//
//   node scripts/build.mjs [--debug] [--skip-opt]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "..");
const root = resolve(pkg, "..");
const args = new Set(process.argv.slice(2));
const profile = args.has("--debug") ? "debug" : "release";

// The wasm-bindgen CLI must match the crate's pinned version exactly.
const cargoToml = readFileSync(join(root, "crates/wasm/Cargo.toml"), "utf8");
const pinned = /wasm-bindgen = "=([0-9.]+)"/.exec(cargoToml)?.[1];
if (!pinned) throw new Error("crates/wasm/Cargo.toml does not pin wasm-bindgen");
const cli = execFileSync("wasm-bindgen", ["--version"], { encoding: "utf8" }).trim();
if (cli !== `wasm-bindgen ${pinned}`) {
  throw new Error(`need wasm-bindgen ${pinned} on PATH, found "${cli}" ` +
    `(cargo install wasm-bindgen-cli --version ${pinned} --no-default-features)`);
}
const wasmOpt = join(pkg, "node_modules/.bin/wasm-opt");
if (!args.has("--skip-opt") && !existsSync(wasmOpt)) {
  throw new Error("npm's binaryen is missing: run `npm install` in npm/ first");
}

const sizes = {};
for (const [flavour, rustflags] of [["simd", "-C target-feature=+simd128"], ["baseline", ""]]) {
  const targetDir = join(root, "target", `wasm-${flavour}`);
  const cargoArgs = ["build", "-p", "grape-wasm", "--target", "wasm32-unknown-unknown",
    "--target-dir", targetDir];
  if (profile === "release") cargoArgs.push("--release");
  console.error(`[build] ${flavour}: cargo ${cargoArgs.join(" ")}`);
  execFileSync("cargo", cargoArgs, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, RUSTFLAGS: rustflags },
  });
  const out = join(pkg, "dist", flavour);
  mkdirSync(out, { recursive: true });
  const wasm = join(targetDir, "wasm32-unknown-unknown", profile, "grape_wasm.wasm");
  execFileSync("wasm-bindgen", [wasm, "--out-dir", out, "--target", "web",
    "--out-name", "grape_wasm", "--no-typescript"], { stdio: "inherit" });
  const bg = join(out, "grape_wasm_bg.wasm");
  const raw = statSync(bg).size;
  if (!args.has("--skip-opt")) {
    execFileSync(wasmOpt, ["-O3", bg, "-o", bg], { stdio: "inherit" });
  }
  const bytes = readFileSync(bg);
  sizes[flavour] = { bindgen: raw, optimized: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}
writeFileSync(join(pkg, "dist", "sizes.json"), JSON.stringify(sizes, null, 2) + "\n");
for (const [f, s] of Object.entries(sizes)) {
  console.error(`[build] ${f}: ${s.optimized} bytes (${s.gzip} gzip -9; ${s.bindgen} before wasm-opt)`);
}
