// The engines of the WebAssembly benchmark, each behind the same small face:
//
//   const e = await ENGINES[name].open(ctx)
//   e.build(base, n, dim)       (timed; from a Float32Array of the raw base
//                                 vectors to a searchable index, including any
//                                 conversion to the input the library's API takes)
//   e.setKnob(value)            (the search-time knob: ef, a similarity threshold, ...)
//   e.search(query)             (one query, a Float32Array; timed)
//   e.ids(answer)               (the answer's row ids, best first; untimed)
//
// plus `version`, `kernel`, `kind` ("hnsw" or "exact"), `knob` (its name or
// null), `params` and `notes`. Every library is used through its documented
// API, as installed from bench/wasm/package.json (or npm/ for Grape).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { normalized } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, "../..");
const require = createRequire(import.meta.url);
const K = 10;
const M = 16;
const EF_CONSTRUCTION = 200;

function packageVersion(name) {
  return JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;
}

/** Unit-length copy of one query (engines that only offer L2 get cosine this way). */
function unit(q) {
  let s = 0;
  for (let j = 0; j < q.length; j++) s += q[j] * q[j];
  const inv = 1 / Math.sqrt(s);
  const out = new Float32Array(q.length);
  for (let j = 0; j < q.length; j++) out[j] = q[j] * inv;
  return out;
}

/** Thrown by a build that ran out of its time budget. */
export class BuildTimeout extends Error {
  constructor(message, details) {
    super(message);
    this.details = details;
  }
}

function grape(flavour) {
  return {
    label: `Grape wasm ${flavour}`,
    async open(ctx) {
      // ctx.grapePkg: a copy of npm/{package.json,src,dist} taken by run-wasm.sh
      // at the start of the run, so that a concurrent `npm run build` cannot
      // swap the module under the benchmark; npm/ itself by default.
      const pkgDir = ctx.grapePkg ?? join(ROOT, "npm");
      const entry = join(pkgDir, "src/node.js");
      const { load } = await import(pathToFileURL(entry).href);
      const { Collection, flavour: got } = await load(flavour);
      if (got !== flavour || Collection.flavour !== flavour) {
        throw new Error(`load("${flavour}") returned the ${got} build`);
      }
      const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
      const wasmPath = join(pkgDir, "dist", flavour, "grape_wasm_bg.wasm");
      const wasm = readFileSync(wasmPath);
      let coll;
      let builtDim = 0;
      let ef = 64;
      return {
        version: pkg.version,
        kernel: flavour === "simd" ? "wasm simd128" : "wasm, no SIMD (scalar)",
        kind: "hnsw",
        knob: "ef",
        wasmBytes: wasm.length,
        wasmSha256: createHash("sha256").update(wasm).digest("hex"),
        packageDir: pkgDir,
        params: { m: M, ef_construct: EF_CONSTRUCTION, distance: "Cosine" },
        notes: [
          `npm/src/node.js load("${flavour}"); new Collection({vectors: {size, distance: "Cosine"}, ` +
            `hnsw_config: {m: ${M}, ef_construct: ${EF_CONSTRUCTION}}}), one upsertVectors(ids, Float32Array); ` +
            "then optimize() (graph layout, inside the build time); search(vector, {limit: 10, ef}) returns [{id, score}] (the typed-array path: the Float32Array goes into wasm memory as is)",
        ],
        build(base, n, dim) {
          coll = new Collection({
            vectors: { size: dim, distance: "Cosine" },
            hnsw_config: { m: M, ef_construct: EF_CONSTRUCTION },
          });
          const ids = new Array(n);
          for (let i = 0; i < n; i++) ids[i] = i;
          coll.upsertVectors(ids, base);
          coll.optimize(); // graph layout, as native Grape's bench does (counted in the build time)
          builtDim = dim;
          if (coll.length !== n) throw new Error(`collection holds ${coll.length} points, expected ${n}`);
        },
        setKnob(v) {
          ef = v;
        },
        search(q) {
          return coll.search(q, { limit: K, ef });
        },
        ids(hits) {
          return hits.map((h) => h.id);
        },
        extra() {
          return { grape_stats: coll.stats(), api_overhead_us: apiOverhead(Collection, builtDim) };
        },
      };
    },
  };
}

export const ENGINES = {
  "grape-wasm-simd": grape("simd"),
  "grape-wasm-baseline": grape("baseline"),

  "hnswlib-wasm": {
    label: "hnswlib-wasm",
    async open() {
      // hnswlib-wasm is an Emscripten build for ENVIRONMENT=web: in plain Node
      // its loader throws "not compiled for this environment" because neither
      // `window` nor `importScripts` exists. Giving it a `window` (this
      // process runs nothing else) is enough; its .wasm is inlined as a data
      // URI. Its loader then mounts IDBFS, whose first sync fails (no
      // indexedDB in Node) and is logged; the index itself lives in wasm
      // memory and works. We silence the loader's logging.
      globalThis.window ??= globalThis;
      // The package declares only `module` (a bundler field), which Node ignores: import the file it names.
      const { loadHnswlib } = await import("hnswlib-wasm/dist/hnswlib.js");
      const saved = [console.log, console.error, console.warn];
      const logged = [];
      console.log = console.error = console.warn = (...a) => logged.push(a.map(String).join(" "));
      let lib;
      try {
        lib = await loadHnswlib();
        await new Promise((r) => setTimeout(r, 50)); // let the failed IDBFS sync report
      } finally {
        [console.log, console.error, console.warn] = saved;
      }
      const idbfs = logged.some((l) => /indexedDB not supported/.test(l));
      let index;
      return {
        version: packageVersion("hnswlib-wasm"),
        kernel: "wasm, no SIMD",
        kind: "hnsw",
        knob: "ef",
        params: { space: "cosine", m: M, ef_construction: EF_CONSTRUCTION, random_seed: 100 },
        notes: [
          "Emscripten build for browsers only: in plain Node 20 loadHnswlib() throws \"not compiled for this environment\"; " +
            "it runs once `globalThis.window` exists (set by the harness). The package names its entry only in `module` " +
            "(a bundler field), so Node imports hnswlib-wasm/dist/hnswlib.js",
          ...(idbfs ? ["its IDBFS file-system sync fails in Node (no indexedDB); search and build are unaffected"] : []),
          "new HierarchicalNSW('cosine', dim, ''); initIndex(n, 16, 200, 100); addPoints(rows, labels, false); setEfSearch(ef); searchKnn(q, 10, undefined)",
        ],
        build(base, n, dim) {
          index = new lib.HierarchicalNSW("cosine", dim, "");
          index.initIndex(n, M, EF_CONSTRUCTION, 100);
          const rows = new Array(n);
          const labels = new Array(n);
          for (let i = 0; i < n; i++) {
            rows[i] = base.subarray(i * dim, (i + 1) * dim);
            labels[i] = i;
          }
          index.addPoints(rows, labels, false);
          if (index.getCurrentCount() !== n) throw new Error(`index holds ${index.getCurrentCount()} points, expected ${n}`);
        },
        setKnob(v) {
          index.setEfSearch(v);
        },
        search(q) {
          return index.searchKnn(q, K, undefined);
        },
        ids(r) {
          return Array.from(r.neighbors);
        },
      };
    },
  },

  edgevec: {
    label: "EdgeVec",
    async open(ctx) {
      const ev = await import("edgevec");
      const wasmPath = join(dirname(require.resolve("edgevec")), "edgevec_bg.wasm");
      await ev.default({ module_or_path: readFileSync(wasmPath) });
      const efSearch = ctx.edgevecEf;
      const cosineCheck = checkEdgevecCosine(ev);
      let db;
      let rowOf; // EdgeVec assigns its own ids
      const chunk = 1000;
      return {
        version: packageVersion("edgevec"),
        kernel: "wasm, no SIMD",
        kind: "hnsw",
        knob: null,
        fixedKnob: { name: "ef_search", value: efSearch },
        params: { metric: "l2 on unit-length vectors", m: M, m0: 2 * M, ef_construction: EF_CONSTRUCTION, ef_search: efSearch },
        notes: [
          `metric "cosine" is not usable in edgevec 0.9.0: ${cosineCheck}; the harness normalises base and queries ` +
            "to unit length (inside the timed build and search) and uses metric \"l2\", which ranks as cosine",
          "ef_search is fixed when the index is created (EdgeVecConfig.ef_search); the efSearch option of " +
            "searchFiltered had no effect in our check, so there is no per-search knob and one value is measured",
          `EdgeVecConfig m = ${M}, m0 = ${2 * M}, ef_construction = ${EF_CONSTRUCTION}; insertBatchFlat in chunks of ${chunk} ` +
            "(to check the time budget between chunks); search(q, 10)",
        ],
        build(base, n, dim) {
          const cfg = new ev.EdgeVecConfig(dim);
          cfg.metric = "l2";
          cfg.m = M;
          cfg.m0 = 2 * M;
          cfg.ef_construction = EF_CONSTRUCTION;
          cfg.ef_search = efSearch;
          db = new ev.EdgeVec(cfg);
          const unitBase = normalized(base, dim);
          rowOf = new Map();
          const t0 = performance.now();
          const progress = [];
          for (let start = 0; start < n; start += chunk) {
            const count = Math.min(chunk, n - start);
            const ids = db.insertBatchFlat(unitBase.subarray(start * dim, (start + count) * dim), count);
            for (let j = 0; j < count; j++) rowOf.set(ids[j], start + j);
            const seconds = (performance.now() - t0) / 1000;
            progress.push([start + count, Number(seconds.toFixed(3))]);
            if (start + count < n && seconds > ctx.buildBudget) {
              throw new BuildTimeout(
                `EdgeVec build stopped after ${seconds.toFixed(1)} s (budget ${ctx.buildBudget} s): ${start + count} of ${n} points inserted`,
                { inserted: start + count, seconds, progress },
              );
            }
          }
          this.progress = progress;
        },
        setKnob() {},
        search(q) {
          return db.search(unit(q), K);
        },
        ids(r) {
          return r.map((h) => rowOf.get(h.id));
        },
        extra() {
          return { insert_progress: this.progress };
        },
      };
    },
  },

  voy: {
    label: "voy-search",
    async open() {
      // voy-search ships wasm-bindgen `--target bundler` output (an ES import
      // of the .wasm file). Node 20 runs that only with
      // --experimental-wasm-modules, which bench.mjs adds for this engine.
      // Only a `module` field again (bundlers): import the file it names.
      const voy = await import("voy-search/voy_search.js");
      let index;
      return {
        version: packageVersion("voy-search"),
        kernel: "wasm, no SIMD",
        kind: "exact",
        knob: null,
        params: { index: "k-d tree (kiddo), Euclidean", k: K },
        notes: [
          "k-d tree with exact k-nearest search and no search-time knob; Euclidean only, so base and queries are " +
            "normalised to unit length (inside the timed build and search), which ranks as cosine",
          "new Voy({embeddings: [{id, title, url, embeddings: number[]}]}); search(Float32Array, 10)",
          "wasm-bindgen bundler-target package (an ES import of its .wasm, entry only in `module`): Node 20 runs it " +
            "with --experimental-wasm-modules, importing voy-search/voy_search.js",
        ],
        build(base, n, dim) {
          const unitBase = normalized(base, dim);
          const embeddings = new Array(n);
          for (let i = 0; i < n; i++) {
            embeddings[i] = {
              id: String(i),
              title: "",
              url: "",
              embeddings: Array.from(unitBase.subarray(i * dim, (i + 1) * dim)),
            };
          }
          index = new voy.Voy({ embeddings });
          if (index.size() !== n) throw new Error(`index holds ${index.size()} points, expected ${n}`);
        },
        setKnob() {},
        search(q) {
          return index.search(unit(q), K);
        },
        ids(r) {
          return r.neighbors.map((x) => Number(x.id));
        },
      };
    },
  },

  orama: {
    label: "Orama",
    async open() {
      const orama = await import("@orama/orama");
      let db;
      let sim = 0.8;
      return {
        version: packageVersion("@orama/orama"),
        kernel: "JavaScript (no WebAssembly)",
        kind: "exact",
        knob: "similarity",
        params: { schema: "vector[dim]", k: K },
        notes: [
          "pure JavaScript; vector mode is an exact scan of every vector (cosine), keeping those whose similarity " +
            "is at least `similarity` (default 0.8), sorted; the knob is that threshold, swept downwards",
          "create({schema: {embedding: 'vector[dim]'}}); insertMultiple(db, [{id, embedding: number[]}]); " +
            "search(db, {mode: 'vector', vector: {value, property: 'embedding'}, similarity, limit: 10})",
        ],
        build(base, n, dim) {
          db = orama.create({ schema: { embedding: `vector[${dim}]` } });
          const docs = new Array(n);
          for (let i = 0; i < n; i++) {
            docs[i] = { id: String(i), embedding: Array.from(base.subarray(i * dim, (i + 1) * dim)) };
          }
          const r = orama.insertMultiple(db, docs);
          if (r && typeof r.then === "function") throw new Error("insertMultiple returned a promise (async hooks?)");
          if (orama.count(db) !== n) throw new Error(`database holds ${orama.count(db)} documents, expected ${n}`);
        },
        setKnob(v) {
          sim = v;
        },
        search(q) {
          const r = orama.search(db, {
            mode: "vector",
            vector: { value: q, property: "embedding" },
            similarity: sim,
            limit: K,
          });
          if (r && typeof r.then === "function") throw new Error("search returned a promise");
          return r;
        },
        ids(r) {
          return r.hits.map((h) => Number(h.id));
        },
      };
    },
  },
};

/**
 * The fixed cost of one Collection.search call: microseconds per search of a
 * 20-point collection of the same dimension (an exact scan of 20 vectors, so
 * nearly all of it is the JS <-> wasm path: the query and the hits as JSON).
 */
function apiOverhead(Collection, dim) {
  const c = new Collection({ vectors: { size: dim, distance: "Cosine" } });
  const n = 20;
  const data = new Float32Array(n * dim);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) + 0.01;
  c.upsertVectors(Array.from({ length: n }, (_, i) => i), data);
  const q = data.subarray(0, dim);
  for (let i = 0; i < 2000; i++) c.search(q, { limit: K });
  const reps = 5000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) c.search(q, { limit: K });
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / reps;
  c.free();
  return Number(us.toFixed(1));
}

/**
 * EdgeVec with metric "cosine": does a stored vector find itself first? A
 * few hundred points, a fraction of a second; the answer goes into the notes.
 */
function checkEdgevecCosine(ev) {
  const dim = 16;
  const n = 300;
  let s = 12345;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const data = new Float32Array(n * dim).map(rnd);
  const cfg = new ev.EdgeVecConfig(dim);
  cfg.metric = "cosine";
  const db = new ev.EdgeVec(cfg);
  const ids = db.insertBatchFlat(data, n);
  let self = 0;
  for (let i = 0; i < 50; i++) {
    const hit = db.search(data.subarray(i * dim, (i + 1) * dim), 1)[0];
    if (hit && hit.id === ids[i]) self++;
  }
  db.free();
  return `in a ${n}-point check a stored vector came back as its own nearest neighbour for ${self} of 50 queries`;
}
