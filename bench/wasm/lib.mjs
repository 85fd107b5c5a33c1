// Shared pieces of the WebAssembly benchmark (bench/run-wasm.sh): TEXMEX
// readers, ground truth, recall, timing and the result file. Used by
// bench.mjs (one engine on one dataset per process) and report.mjs.
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

/** Reads a TEXMEX `.fvecs` file: `{n, dim, data: Float32Array(n * dim)}`, the first `limit` rows. */
export function readFvecs(path, limit = Infinity) {
  const buf = readFileSync(path);
  if (buf.length < 4) throw new Error(`${path}: empty file`);
  const dim = buf.readInt32LE(0);
  if (dim <= 0 || dim > 1 << 16) throw new Error(`${path}: bad dimension ${dim}`);
  const row = 4 + 4 * dim;
  if (buf.length % row !== 0) throw new Error(`${path}: size ${buf.length} is not a multiple of ${row}`);
  const n = Math.min(buf.length / row, limit);
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const off = i * row;
    const d = buf.readInt32LE(off);
    if (d !== dim) throw new Error(`${path}: row ${i} has dimension ${d}, expected ${dim}`);
    // Copy through a fresh aligned view (the file offset is 4-aligned but the
    // Buffer's own byteOffset may not be).
    const bytes = buf.subarray(off + 4, off + row);
    data.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)), i * dim);
  }
  return { n, dim, data };
}

/** Reads a TEXMEX `.ivecs` file: an array of Int32Array rows, the first `limit` rows. */
export function readIvecs(path, limit = Infinity) {
  const buf = readFileSync(path);
  const rows = [];
  let off = 0;
  while (off < buf.length && rows.length < limit) {
    const k = buf.readInt32LE(off);
    if (k <= 0 || off + 4 + 4 * k > buf.length) throw new Error(`${path}: bad row ${rows.length}`);
    const row = new Int32Array(k);
    for (let j = 0; j < k; j++) row[j] = buf.readInt32LE(off + 4 + 4 * j);
    rows.push(row);
    off += 4 + 4 * k;
  }
  return rows;
}

/** A copy of `data` (n rows of `dim`) with every row scaled to unit length. */
export function normalized(data, dim) {
  const out = new Float32Array(data.length);
  for (let off = 0; off < data.length; off += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += data[off + j] * data[off + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) out[off + j] = data[off + j] * inv;
  }
  return out;
}

/**
 * Exact cosine top-k of each query by brute force in float64, ties to the
 * lower id (how the shared `.gt100.ivecs` files are made). Used only with
 * --limit-base, where the shared ground truth no longer applies.
 */
export function bruteForceTopK(base, queries, dim, k) {
  const nb = base.length / dim;
  const b = normalized(base, dim);
  const q = normalized(queries, dim);
  const out = [];
  for (let qi = 0; qi < q.length / dim; qi++) {
    const top = []; // [score, id], best first
    for (let i = 0; i < nb; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += q[qi * dim + j] * b[i * dim + j];
      if (top.length < k || s > top[top.length - 1][0]) {
        let p = top.length < k ? top.length : top.length - 1;
        top[p] = [s, i];
        while (p > 0 && top[p - 1][0] < s) {
          [top[p - 1], top[p]] = [top[p], top[p - 1]];
          p--;
        }
      }
    }
    out.push(Int32Array.from(top.map((t) => t[1])));
  }
  return out;
}

/** Mean |found top-k ∩ true top-k| / k over the queries; `found[i]` is an array of row ids. */
export function recallAtK(found, gt, k) {
  let hits = 0;
  for (let i = 0; i < found.length; i++) {
    const truth = new Set(gt[i].subarray(0, k));
    const seen = new Set();
    for (const id of found[i].slice(0, k)) {
      if (truth.has(id) && !seen.has(id)) hits++;
      seen.add(id);
    }
  }
  return hits / (found.length * k);
}

/**
 * Sends the queries one at a time through `search(i)` and keeps the raw
 * answers; `reps` passes, QPS from the fastest. `maxPassSeconds`: once a pass
 * took that long, no further pass is made (exact scans). Returns
 * `{qps, seconds, runs, raw, cpuRatio}` where `raw` is the last pass's answers
 * and `cpuRatio` the process CPU time / wall time of the fastest pass.
 */
export function timeQueries(nq, search, { reps = 3, maxPassSeconds = Infinity } = {}) {
  let best = Infinity;
  let bestCpu = 0;
  let raw;
  let runs = 0;
  for (let rep = 0; rep < reps; rep++) {
    const answers = new Array(nq);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < nq; i++) answers[i] = search(i);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    runs++;
    raw = answers;
    if (seconds < best) {
      best = seconds;
      bestCpu = (cpu.user + cpu.system) / 1e6 / seconds;
    }
    if (seconds >= maxPassSeconds) break;
  }
  return { qps: nq / best, seconds: best, runs, raw, cpuRatio: bestCpu };
}

/** Wall seconds of `fn()` with its CPU/wall ratio. */
export function timeOnce(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { value, seconds, cpuRatio: (cpu.user + cpu.system) / 1e6 / seconds };
}

/** The machine, for the result files and the report. */
export function machine() {
  const list = cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    nproc: list.length,
    cpu: list[0]?.model ?? "unknown",
    ram_gib: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform} ${process.arch}`,
  };
}

/** Parses `--key value` / `--key=value` / `--flag` arguments. */
export function parseArgs(argv, flags = []) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq > 0) {
      out[a.slice(2, eq)] = a.slice(eq + 1);
    } else if (flags.includes(a.slice(2))) {
      out[a.slice(2)] = true;
    } else {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      out[a.slice(2)] = argv[++i];
    }
  }
  return out;
}

/** Load average and a one-line note, printed around each engine. */
export function loadavg() {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "n/a";
  }
}
