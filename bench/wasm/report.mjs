#!/usr/bin/env node
// Writes the WebAssembly benchmark's block (between `<!-- wasm:begin -->` and
// `<!-- wasm:end -->`) into DOCS/README.md from the result files of
// bench/wasm/bench.mjs (OUT/*.json), native grape-bench (OUT/native/grape-*.json)
// and the npm build's sizes (npm/dist/sizes.json). The rest of the README is
// left as it is; the block is appended at the end the first time.
//
//   node bench/wasm/report.mjs --out bench/out/wasm --docs docs/bench [--sizes npm/dist/sizes.json] [--command "..."]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { parseArgs } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, "../..");
const BEGIN = "<!-- wasm:begin -->";
const END = "<!-- wasm:end -->";
const TARGET = 0.95;
const GOAL_PEER = 3;
const GOAL_NATIVE = 0.5;
const GOAL_GZIP_BYTES = 300 * 1000; // 300 KB, read as 1 KB = 1,000 bytes (the stricter reading)

const args = parseArgs(process.argv.slice(2));
const outDir = resolve(args.out ?? join(ROOT, "bench/out/wasm"));
const nativeDir = resolve(args.native ?? join(outDir, "native"));
const docsDir = resolve(args.docs ?? join(ROOT, "docs/bench"));
const sizesPath = resolve(args.sizes ?? join(ROOT, "npm/dist/sizes.json"));

const ORDER = ["grape-wasm-simd", "grape-wasm-baseline", "grape-native", "hnswlib-wasm", "edgevec", "voy", "orama"];
const GRAPE = new Set(["grape-wasm-simd", "grape-wasm-baseline", "grape-native"]);

// --- inputs ---------------------------------------------------------------------------------------
const results = [];
for (const f of existsSync(outDir) ? readdirSync(outDir) : []) {
  if (!f.endsWith(".json")) continue;
  const r = JSON.parse(readFileSync(join(outDir, f), "utf8"));
  if (r.engine && r.dataset) results.push({ ...r, file: f });
}
for (const f of existsSync(nativeDir) ? readdirSync(nativeDir) : []) {
  if (!/^grape-.*\.json$/.test(f)) continue;
  const r = JSON.parse(readFileSync(join(nativeDir, f), "utf8"));
  results.push({
    ...r,
    engine: "grape-native",
    label: "Grape native (Rust)",
    status: "ok",
    kind: "hnsw",
    knob: "ef",
    runtime: "native (grape-bench)",
    kernel: r.kernel,
    runs: r.runs.map((x) => ({ ...x, knob: x.ef })),
    file: `native/${f}`,
    mtime: statSync(join(nativeDir, f)).mtime,
  });
}
if (!results.length) {
  console.error(`report.mjs: no result files in ${outDir}`);
  process.exit(1);
}
const sizes = existsSync(sizesPath) ? JSON.parse(readFileSync(sizesPath, "utf8")) : null;

// --- formatting -----------------------------------------------------------------------------------
const int = (x) => Math.round(x).toLocaleString("en-US");
const f2 = (x) => x.toFixed(2);
const f4 = (x) => x.toFixed(4);
const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;
const ratio = (a, b) => (a && b ? `${f2(a / b)}×` : "n/a");

function knobText(r, run) {
  if (r.knob === "ef") return `ef ${run.knob}`;
  if (r.knob === "similarity") return `similarity ≥ ${run.knob}`;
  if (r.fixed_knob) return `${r.fixed_knob.name} ${r.fixed_knob.value} (fixed at build)`;
  return r.kind === "exact" ? "exact" : "-";
}

function best(r) {
  if (r.status !== "ok" || !r.runs?.length) return null;
  const ok = r.runs.filter((x) => x.recall_at_10 >= TARGET);
  if (!ok.length) return null;
  return ok.reduce((a, b) => (b.qps > a.qps ? b : a));
}

const maxRecall = (r) => (r.runs?.length ? Math.max(...r.runs.map((x) => x.recall_at_10)) : null);

function buildCell(r) {
  if (r.status === "build_timeout") {
    const t = r.timeout ?? {};
    const prog = t.progress ?? [];
    let projected = "";
    if (prog.length) {
      const [p1, s1] = prog.at(-1);
      const [p0, s0] = prog.length > 1 ? prog.at(-2) : [0, 0];
      const perPoint = (s1 - s0) / (p1 - p0);
      projected = `; ≥ ${int(s1 + (r.n - p1) * perPoint)} s projected at its last rate`;
    }
    return `stopped at ${f2(t.seconds ?? r.build_budget_seconds)} s: ${int(t.inserted ?? 0)} of ${int(r.n)} points${projected}`;
  }
  if (r.build_seconds === undefined) return "-";
  return f2(r.build_seconds);
}

function bestCell(r) {
  if (r.status === "failed") return `failed: ${firstLine(r.error)}`;
  if (r.status === "build_timeout") return "not measured (build unfinished)";
  const b = best(r);
  if (!b) return `none ≥ ${TARGET}`;
  return `${int(b.qps)} (${knobText(r, b)}, recall ${f4(b.recall_at_10)})`;
}

function firstLine(s) {
  return String(s ?? "").split("\n")[0].replace(/\|/g, "\\|").slice(0, 160);
}

function label(r) {
  return r.label ?? r.engine;
}

function gitDescribe() {
  try {
    const head = execFileSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["-C", ROOT, "status", "--porcelain", "--", "crates", "npm/src"], { encoding: "utf8" }).trim();
    return dirty ? `${head} + uncommitted changes in crates/ or npm/src/` : head;
  } catch {
    return "unknown";
  }
}

/** The most recently modified source file the npm build is made from. */
function newestSource() {
  let best = null;
  const visit = (p) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const f of readdirSync(p)) visit(join(p, f));
    } else if (!best || st.mtime > best.mtime) {
      best = { path: p.replace(ROOT + "/", ""), mtime: st.mtime };
    }
  };
  for (const p of ["crates/core/src", "crates/core/Cargo.toml", "crates/wasm/src", "crates/wasm/Cargo.toml", "Cargo.toml", "Cargo.lock"]) {
    visit(join(ROOT, p));
  }
  return best;
}

/** Shipped module sizes of the peers, for reference (not a goal). */
function peerSizes() {
  const nm = join(here, "node_modules");
  const rows = [];
  const add = (name, what, bytes) => rows.push({ name, what, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
  try {
    add("edgevec", "edgevec_bg.wasm", readFileSync(join(nm, "edgevec/edgevec_bg.wasm")));
  } catch {}
  try {
    add("voy-search", "voy_search_bg.wasm", readFileSync(join(nm, "voy-search/voy_search_bg.wasm")));
  } catch {}
  try {
    const dist = join(nm, "hnswlib-wasm/dist");
    const js = readdirSync(dist).find((f) => /^hnswlib-.*\.js$/.test(f) && !f.endsWith(".map"));
    const text = readFileSync(join(dist, js), "latin1");
    const m = /data:application\/octet-stream;base64,([A-Za-z0-9+/=]+)/.exec(text);
    if (m) add("hnswlib-wasm", `module inlined as base64 in dist/${js}`, Buffer.from(m[1], "base64"));
  } catch {}
  return rows;
}

// --- the block ------------------------------------------------------------------------------------
const datasets = [...new Set(results.map((r) => r.dataset))].sort();
const wasmResults = results.filter((r) => r.engine !== "grape-native");
const any = wasmResults[0] ?? results[0];
const started = results.map((r) => r.started).filter(Boolean).sort();
const finished = results.map((r) => r.finished).filter(Boolean).sort();
const lines = [];
const w = (s = "") => lines.push(s);

w(BEGIN);
w("<!-- generated by bench/wasm/report.mjs from bench/out/wasm/*.json; edits inside this block are lost -->");
w();
w("## WebAssembly benchmark: the npm package vs npm peers (Node)");
w();
if (args.command) w(`- Command: \`${args.command}\``);
w(`- Report date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; engine runs ${started[0]?.slice(0, 16).replace("T", " ") ?? "?"} – ${finished.at(-1)?.slice(11, 16) ?? "?"} UTC`);
if (any?.machine) {
  const m = any.machine;
  w(`- Machine: ${m.nproc} cores (nproc), CPU \`${m.cpu}\`, ${m.ram_gib} GiB RAM; Node ${m.node} (V8 ${m.v8})`);
}
const versions = ORDER.map((e) => results.find((r) => r.engine === e && r.version))
  .filter(Boolean)
  .map((r) => `${label(r)} ${r.version}`);
w(`- Versions: ${versions.join(", ")}; Grape checkout ${gitDescribe()}`);
if (sizes) {
  const when = statSync(sizesPath).mtime.toISOString().slice(0, 16).replace("T", " ");
  w(`- Grape npm build: \`npm/dist\` of ${when} UTC, benchmarked from a copy taken at the start of the run (\`${sizesPath.replace(ROOT + "/", "").replace(/dist\/sizes\.json$/, "")}\`)`);
  const newer = newestSource();
  if (newer && newer.mtime > statSync(sizesPath).mtime) {
    w(
      `- **WARNING**: \`${newer.path}\` (${newer.mtime.toISOString().slice(0, 16).replace("T", " ")} UTC) is newer than this ` +
        "npm build: the wasm figures may be for older code than the native ones",
    );
  }
  for (const r of results.filter((x) => x.engine.startsWith("grape-wasm-") && x.wasm_bytes)) {
    const flavour = r.engine.slice("grape-wasm-".length);
    if (sizes[flavour] && sizes[flavour].optimized !== r.wasm_bytes) {
      w(`- **WARNING**: ${r.dataset} ${label(r)} loaded a ${r.wasm_bytes}-byte module, sizes.json says ${sizes[flavour].optimized}: not the build whose sizes are reported`);
    }
  }
}
w(
  "- Method: each engine in its own Node process, one thread, queries sent **one at a time** through the library's " +
    "JavaScript API; QPS = queries / fastest of 3 passes over the query set (exact scans: the first queries only, see the queries " +
    "column, and one pass once a pass takes ≥ 3 s); recall@10 against the first 10 ids of the shared exact-cosine `.gt100.ivecs`. " +
    "HNSW settings M = 16, ef_construction = 200 wherever the library exposes them. Build s = from a Float32Array of the " +
    "base to a searchable index, including any conversion the API needs. Native Grape is `grape-bench ann` of the same run " +
    "(Rust API, AVX2; its build includes `optimize_layout`). Details and caveats: `bench/README.md`, section " +
    "\"WebAssembly benchmark\".",
);
w();

for (const ds of datasets) {
  const rows = results.filter((r) => r.dataset === ds).sort((a, b) => ORDER.indexOf(a.engine) - ORDER.indexOf(b.engine));
  const ref = rows.find((r) => r.n) ?? rows[0];
  w(`### ${ds} (${int(ref.n)} × ${ref.dim}, ${int(rows.find((r) => r.engine === "grape-wasm-simd")?.queries ?? ref.queries ?? 0)} queries)`);
  w();
  w(`| engine | version | runs as | search | build s | best QPS @ recall@10 ≥ ${TARGET} | max recall@10 | queries |`);
  w("|---|---|---|---|--:|--:|--:|--:|");
  for (const r of rows) {
    const mr = maxRecall(r);
    w(
      `| ${label(r)} | ${r.version ?? "-"} | ${r.kernel ?? "-"} | ${r.kind ?? "-"} | ${buildCell(r)} | ${bestCell(r)} | ` +
        `${mr === null ? "-" : f4(mr)} | ${r.queries ? int(r.queries) : "-"} |`,
    );
  }
  w();

  const simd = rows.find((r) => r.engine === "grape-wasm-simd");
  const base = rows.find((r) => r.engine === "grape-wasm-baseline");
  const native = rows.find((r) => r.engine === "grape-native");
  const peers = rows.filter((r) => !GRAPE.has(r.engine));
  const bs = simd && best(simd);
  const peerBest = peers.map((r) => ({ r, b: best(r) })).filter((x) => x.b).sort((a, b) => b.b.qps - a.b.qps)[0];
  const nb = native && best(native);
  w("Ratios (QPS at recall@10 ≥ 0.95, each engine at its own fastest setting reaching it):");
  w();
  if (!bs) {
    w(`- Grape wasm simd has no point at recall ≥ ${TARGET}${simd ? "" : " (no result file)"}: goals not evaluated.`);
  } else {
    if (peerBest) {
      const x = bs.qps / peerBest.b.qps;
      w(
        `- **${x >= GOAL_PEER ? "met" : "not met"}**: Grape wasm simd ≥ ${GOAL_PEER}× the best peer: ${f2(x)}× ` +
          `(${int(bs.qps)} vs ${label(peerBest.r)} ${int(peerBest.b.qps)})`,
      );
    } else {
      w(`- Grape wasm simd vs best peer: no peer reached recall ${TARGET} in this run, not evaluated.`);
    }
    if (nb) {
      const x = bs.qps / nb.qps;
      w(`- **${x >= GOAL_NATIVE ? "met" : "not met"}**: Grape wasm simd ≥ ${GOAL_NATIVE}× native Grape: ${f2(x)}× (${int(bs.qps)} vs ${int(nb.qps)})`);
    } else {
      w("- Grape wasm simd vs native Grape: no native result for this dataset, not evaluated.");
    }
    const bb = base && best(base);
    if (bb) w(`- Grape wasm baseline (no SIMD) vs simd: ${ratio(bb.qps, bs.qps)} the QPS, ${ratio(base.build_seconds, simd.build_seconds)} the build time`);
    if (native?.build_seconds && simd.build_seconds) {
      w(`- Build time, Grape wasm simd vs native: ${ratio(simd.build_seconds, native.build_seconds)} (${f2(simd.build_seconds)} s vs ${f2(native.build_seconds)} s)`);
    }
    for (const g of [simd, base]) {
      const gb = g && best(g);
      if (gb && g.api_overhead_us) {
        const per = 1e6 / gb.qps;
        w(
          `- ${label(g)}: fixed cost of one \`search()\` call ${g.api_overhead_us} µs (measured on a 20-point collection of the ` +
            `same dimension: the JS ↔ wasm path of query and hits), ${Math.round((100 * g.api_overhead_us) / per)} % of its ` +
            `${per.toFixed(0)} µs per query at the best point`,
        );
      }
    }
    for (const p of peers) {
      const pb = best(p);
      if (pb) w(`- vs ${label(p)}: ${ratio(bs.qps, pb.qps)} the QPS, build ${p.build_seconds ? ratio(simd.build_seconds, p.build_seconds) : "n/a"} the time`);
    }
  }
  w();

  const notes = rows.filter((r) => r.status !== "ok" || r.notes?.length);
  if (notes.length) {
    w("Engine notes:");
    w();
    for (const r of rows) {
      const parts = [...(r.notes ?? [])];
      if (r.status === "build_timeout") parts.unshift(`**build not finished**: ${r.error}`);
      if (r.status === "failed") parts.unshift(`**failed**: ${firstLine(r.error)}`);
      if (r.limited_base) parts.push("**limited base (smoke run)**");
      if (parts.length) w(`- ${label(r)}: ${parts.join("; ")}.`);
    }
    w();
  }

  const loads = rows.filter((r) => r.loadavg_start).map((r) => `${label(r)} ${r.loadavg_start} → ${r.loadavg_end ?? "?"}`);
  if (loads.length) {
    w(`Load average (1, 5, 15 min) at the start → end of each engine's process (2 cores; other work shares the machine): ${loads.join("; ")}.`);
    w();
  }
  w("<details><summary>Every measured point (recall@10 / QPS)</summary>");
  w();
  w("| engine | setting | recall@10 | QPS | passes |");
  w("|---|---|--:|--:|--:|");
  for (const r of rows) {
    for (const run of r.runs ?? []) {
      w(`| ${label(r)} | ${knobText(r, run)} | ${f4(run.recall_at_10)} | ${int(run.qps)} | ${run.passes ?? 3} |`);
    }
  }
  w();
  w("</details>");
  w();
}

w("### Sizes of the Grape .wasm files");
w();
if (sizes) {
  w("| build | after wasm-bindgen | after wasm-opt -O3 (shipped) | gzip -9 of the shipped file | goal ≤ 300 KB gzip |");
  w("|---|--:|--:|--:|---|");
  for (const [flavour, s] of Object.entries(sizes)) {
    w(
      `| ${flavour} | ${int(s.bindgen)} B | ${int(s.optimized)} B (${kib(s.optimized)}) | ${int(s.gzip)} B (${kib(s.gzip)}) | ` +
        `${s.gzip <= GOAL_GZIP_BYTES ? "met" : "not met"} |`,
    );
  }
  w();
  w("KB = 1,000 bytes for the goal. From `npm/dist/sizes.json`, written by `npm/scripts/build.mjs` (gzip level 9 of the shipped `grape_wasm_bg.wasm`; the JS glue `grape_wasm.js` is not counted).");
} else {
  w(`No \`${sizesPath}\`: the npm build did not run.`);
}
w();
const ps = peerSizes();
if (ps.length) {
  w("Peers' shipped modules, for reference: " + ps.map((p) => `${p.name} ${int(p.raw)} B raw / ${int(p.gzip)} B gzip -9 (${p.what})`).join("; ") + "; Orama is JavaScript only.");
  w();
}
w(END);
const block = lines.join("\n");

// --- write ------------------------------------------------------------------------------------------
mkdirSync(docsDir, { recursive: true });
const readme = join(docsDir, "README.md");
let text = existsSync(readme) ? readFileSync(readme, "utf8") : "";
const a = text.indexOf(BEGIN);
const b = text.indexOf(END);
if (a >= 0 && b > a) {
  text = text.slice(0, a) + block + text.slice(b + END.length);
} else if (a >= 0 || b >= 0) {
  console.error(`report.mjs: ${readme} has only one of ${BEGIN} / ${END}; fix it by hand`);
  process.exit(1);
} else {
  text = (text ? text.replace(/\n*$/, "\n\n") : "") + block + "\n";
}
writeFileSync(readme, text);
console.log(block);
console.error(`report.mjs: wrote the block into ${readme}`);
