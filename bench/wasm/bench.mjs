#!/usr/bin/env node
// One engine on one dataset, in this process alone: build (timed), sweep the
// engine's search-time knob sending the queries one at a time (best of 3
// passes), write OUT/<engine>-<dataset>.json. Driven by bench/run-wasm.sh.
//
//   node bench/wasm/bench.mjs --engine NAME --data DIR --dataset NAME --out DIR
//        [--ef 10,16,...] [--similarity 0.8,0.6,...] [--limit-queries N]
//        [--exact-queries N] [--limit-base N] [--build-budget S] [--edgevec-ef N]
//        [--grape-pkg DIR] [--full-sweep]
//
// Engines: grape-wasm-simd, grape-wasm-baseline, hnswlib-wasm, edgevec, voy, orama.
// An ef sweep stops after the first point with recall@10 >= 0.999 unless
// --full-sweep. --grape-pkg: where Grape's package.json, src/ and dist/ are
// (default npm/). --limit-base N keeps the first N base vectors and recomputes the exact top-10
// (smoke tests only). Exit status 1 when the engine failed or ran out of its
// build budget; the JSON is written in every case and says why.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { BuildTimeout, ENGINES } from "./engines.mjs";
import {
  bruteForceTopK,
  loadavg,
  machine,
  parseArgs,
  readFvecs,
  readIvecs,
  recallAtK,
  timeQueries,
} from "./lib.mjs";

const K = 10;
const HNSW_EF = [10, 12, 14, 16, 18, 20, 22, 24, 28, 32, 36, 40, 48, 56, 64, 72, 80, 96, 112, 128, 160, 192, 256, 384, 512];
const SIMILARITY = [0.8, 0.6, 0.4, 0.2, 0, -1];
// Node flags an engine's package needs (re-executed with them).
const NODE_FLAGS = { voy: ["--experimental-wasm-modules", "--disable-warning=ExperimentalWarning"] };

const args = parseArgs(process.argv.slice(2), ["full-sweep"]);
const name = args.engine;
if (!ENGINES[name]) {
  console.error(`bench.mjs: --engine must be one of ${Object.keys(ENGINES).join(", ")}`);
  process.exit(2);
}
const needed = NODE_FLAGS[name] ?? [];
if (needed.some((f) => !process.execArgv.includes(f))) {
  const r = spawnSync(process.execPath, [...process.execArgv, ...needed, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  process.exit(r.status ?? 1);
}
for (const key of ["data", "dataset", "out"]) {
  if (!args[key]) {
    console.error(`bench.mjs: --${key} is required`);
    process.exit(2);
  }
}
const list = (v, fallback) => (v === undefined ? fallback : String(v).split(",").map(Number));
const efGrid = list(args.ef, HNSW_EF);
const simGrid = list(args.similarity, SIMILARITY);
const limitQueries = args["limit-queries"] ? Number(args["limit-queries"]) : Infinity;
const exactQueries = args["exact-queries"] ? Number(args["exact-queries"]) : 200;
const limitBase = args["limit-base"] ? Number(args["limit-base"]) : Infinity;
const ctx = {
  buildBudget: args["build-budget"] ? Number(args["build-budget"]) : 180,
  edgevecEf: args["edgevec-ef"] ? Number(args["edgevec-ef"]) : 64,
  grapePkg: args["grape-pkg"],
};
const dataset = args.dataset;
const log = (msg) => console.error(`[${name} ${dataset}] ${msg}`);

// --- data ---------------------------------------------------------------------------------------
const path = (suffix) => join(args.data, `${dataset}.${suffix}`);
const base = readFvecs(path("base.fvecs"), limitBase);
const queriesAll = readFvecs(path("query.fvecs"), limitQueries);
let gt = Number.isFinite(limitBase) ? null : readIvecs(path("gt100.ivecs"), limitQueries);
if (base.dim !== queriesAll.dim) throw new Error(`base dim ${base.dim} != query dim ${queriesAll.dim}`);
const dim = base.dim;
if (!gt) {
  log(`--limit-base ${base.n}: exact top-${K} by brute force`);
  gt = bruteForceTopK(base.data, queriesAll.data, dim, K);
}
if (gt.length < queriesAll.n || gt.some((row) => row.length < K)) {
  throw new Error(`ground truth does not cover ${queriesAll.n} queries at k=${K}`);
}

const result = {
  engine: name,
  label: ENGINES[name].label,
  dataset,
  n: base.n,
  dim,
  k: K,
  threads: 1,
  query_mode: "one-at-a-time",
  runtime: `node ${process.version}`,
  machine: machine(),
  started: new Date().toISOString(),
  loadavg_start: loadavg(),
  status: "failed",
  limited_base: Number.isFinite(limitBase),
};
const outFile = join(args.out, `${name}-${dataset}.json`);
mkdirSync(args.out, { recursive: true });
const save = () => writeFileSync(outFile, JSON.stringify(result, null, 1) + "\n");

let exitCode = 0;
try {
  log(`load ${loadavg()}; ${base.n} x ${dim}`);
  const e = await ENGINES[name].open(ctx);
  Object.assign(result, {
    version: e.version,
    kernel: e.kernel,
    kind: e.kind,
    knob: e.knob,
    fixed_knob: e.fixedKnob ?? null,
    params: e.params,
    notes: e.notes,
    wasm_bytes: e.wasmBytes ?? null,
    wasm_sha256: e.wasmSha256 ?? null,
    package_dir: e.packageDir ?? null,
  });

  // --- build ------------------------------------------------------------------------------------
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  try {
    e.build(base.data, base.n, dim);
  } catch (err) {
    if (err instanceof BuildTimeout) {
      Object.assign(result, {
        status: "build_timeout",
        error: err.message,
        build_budget_seconds: ctx.buildBudget,
        timeout: err.details,
        finished: new Date().toISOString(),
        loadavg_end: loadavg(),
      });
      log(err.message);
      save();
      process.exit(1);
    }
    throw err;
  }
  const buildSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  result.build_seconds = Number(buildSeconds.toFixed(3));
  result.build_cpu_ratio = Number(((cpu.user + cpu.system) / 1e6 / buildSeconds).toFixed(2));
  result.rss_delta_bytes = process.memoryUsage().rss - rss0;
  log(`built in ${buildSeconds.toFixed(2)} s (cpu/wall ${result.build_cpu_ratio})`);
  Object.assign(result, e.extra?.() ?? {});

  // --- search sweep -----------------------------------------------------------------------------
  const nq = e.kind === "exact" ? Math.min(queriesAll.n, exactQueries) : queriesAll.n;
  const queries = [];
  for (let i = 0; i < nq; i++) queries.push(queriesAll.data.subarray(i * dim, (i + 1) * dim));
  result.queries = nq;
  // Exact scans: a pass that takes 3 s or more is not repeated.
  const timing = e.kind === "exact" ? { reps: 3, maxPassSeconds: 3 } : { reps: 3 };
  const grid = e.knob === "ef" ? efGrid : e.knob === "similarity" ? simGrid : [null];
  // Warm-up (JIT tiers of the JS glue, first touch of wasm memory), untimed:
  // up to 500 queries or 2 s at a mid-grid setting.
  e.setKnob(grid[Math.floor(grid.length / 2)]);
  const warmEnd = performance.now() + 2000;
  for (let i = 0; i < 500 && performance.now() < warmEnd; i++) e.search(queries[i % nq]);
  result.runs = [];
  for (const v of grid) {
    e.setKnob(v);
    const t = timeQueries(nq, (i) => e.search(queries[i]), timing);
    const recall = recallAtK(t.raw.map((r) => e.ids(r)), gt, K);
    const run = { knob: v, recall_at_10: Number(recall.toFixed(5)), qps: Number(t.qps.toFixed(1)), passes: t.runs, cpu_ratio: Number(t.cpuRatio.toFixed(2)) };
    if (e.knob === "ef") run.ef = v;
    result.runs.push(run);
    log(`${e.knob ?? "-"} ${v ?? ""}  recall@10 ${recall.toFixed(4)}  ${t.qps.toFixed(0)} QPS  (${t.runs} passes, cpu/wall ${t.cpuRatio.toFixed(2)})`);
    if (t.cpuRatio > 1.2) log(`WARNING: cpu/wall ${t.cpuRatio.toFixed(2)} > 1.2: more than one core was used`);
    // A threshold sweep stops once lowering it can add nothing; an ef sweep
    // once recall@10 reaches 0.999 (the slowest points, nothing left to show).
    if (e.knob === "similarity" && recall >= 0.9995) break;
    if (e.knob === "ef" && recall >= 0.999 && !args["full-sweep"]) break;
  }
  result.status = "ok";
} catch (err) {
  result.status = "failed";
  result.error = String(err?.stack ?? err);
  log(`FAILED: ${err?.message ?? err}`);
  exitCode = 1;
}
result.finished = new Date().toISOString();
result.loadavg_end = loadavg();
save();
log(`wrote ${outFile}`);
process.exit(exitCode);
