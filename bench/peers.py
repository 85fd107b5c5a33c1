#!/usr/bin/env python3
"""Build and query the Python ANN peers (hnswlib, faiss IndexHNSWFlat, usearch) on a TEXMEX dataset.

Writes one JSON file per engine, `<out>/<engine>-<dataset>.json`, in the schema grape-bench also writes
(see bench/README.md). Every engine runs in a fresh child process of its own, so that one engine's allocator
state cannot distort the next one's RSS delta, and only that engine's library is imported.

Settings are the same for every engine: M = 16 (usearch connectivity), ef_construction = 200 (usearch
expansion_add), cosine similarity, one thread, k = 10. All queries go to the engine in ONE call (batch) to
remove Python's per-call overhead; QPS is the best of 3 repetitions.

Installs nothing: run it with bench/.venv/bin/python (bench/run-ann.sh makes that venv).
"""

import os

# Thread-count variables must be set before numpy / faiss / hnswlib load their runtimes. Nothing else in
# the environment is touched (OPENBLAS_CORETYPE and friends stay as the machine has them).
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

ENGINES = ("hnswlib", "faiss", "usearch")
DEFAULT_EF = "10,12,14,16,18,20,22,24,28,32,36,40,48,56,64,72,80,96,112,128,160,192,256,384,512"
M = 16
EF_CONSTRUCTION = 200
K = 10
REPEATS = 3


def log(msg):
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# TEXMEX files


def read_vecs(path, dtype):
    """Read an .fvecs (dtype float32) or .ivecs (dtype int32) file into an (n, d) array."""
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        raise SystemExit(f"{path}: empty file")
    d = int(raw[0])
    if d <= 0 or raw.size % (d + 1) != 0:
        raise SystemExit(f"{path}: not a TEXMEX file with constant dimension (first d = {d})")
    rows = raw.reshape(-1, d + 1)
    if not np.all(rows[:, 0] == d):
        raise SystemExit(f"{path}: rows have different dimensions")
    return np.ascontiguousarray(rows[:, 1:].view(dtype))


def brute_force_cosine_topk(base, queries, k):
    """Exact top-k by cosine similarity (float64, ties to the lower id), as the shared ground truth is made."""
    b = base.astype(np.float64)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    out = np.empty((len(queries), k), dtype=np.int32)
    ids = np.arange(len(b))
    for start in range(0, len(queries), 64):
        q = queries[start : start + 64].astype(np.float64)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        sims = q @ b.T
        for i, row in enumerate(sims):
            order = np.lexsort((ids, -row))  # primary key: similarity descending, then id ascending
            out[start + i] = order[:k]
    return out


def load_dataset(data_dir, name, limit_base, limit_queries):
    prefix = os.path.join(data_dir, name)
    base = read_vecs(prefix + ".base.fvecs", np.float32)
    queries = read_vecs(prefix + ".query.fvecs", np.float32)
    gt = read_vecs(prefix + ".gt100.ivecs", np.int32)
    if len(gt) != len(queries):
        raise SystemExit(f"{name}: {len(queries)} queries but {len(gt)} ground-truth rows")
    if limit_queries:
        queries, gt = queries[:limit_queries], gt[:limit_queries]
    if limit_base and limit_base < len(base):
        # The shared top-100 is for the full base: recompute the exact top-10 for the truncated base.
        base = np.ascontiguousarray(base[:limit_base])
        log(f"--limit-base {limit_base}: recomputing cosine ground truth by brute force")
        gt = brute_force_cosine_topk(base, queries, K)
    else:
        # Cheap sanity check that the ground truth is cosine top-k of these files.
        sample = min(10, len(queries))
        check = brute_force_cosine_topk(base, queries[:sample], K)
        agree = np.mean([len(set(check[i]) & set(gt[i, :K])) / K for i in range(sample)])
        if agree < 0.99:
            log(f"WARNING: ground truth agrees with brute-force cosine on only {agree:.3f} of top-{K}")
    return (
        np.ascontiguousarray(base, dtype=np.float32),
        np.ascontiguousarray(queries, dtype=np.float32),
        np.ascontiguousarray(gt[:, :K]),
    )


# ---------------------------------------------------------------------------------------------------------
# Measurement helpers


def release_free_memory():
    """gc, then hand freed heap pages back to the OS (glibc malloc_trim), so RSS counts live memory only.

    Without it, pages that numpy temporaries (file parsing, ground-truth checks) freed stay resident and the
    index build reuses them, which hides part of the index from the RSS delta.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def loadavg():
    """The 1-minute load average: other work on the machine (compiles) skews wall-clock figures."""
    try:
        return "load average " + open("/proc/loadavg").read().split()[0]
    except OSError:
        return "load average ?"


def thread_count():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def recall_at_k(result_ids, gt):
    hits = (result_ids[:, :, None] == gt[:, None, :]).any(axis=2).sum(axis=1)
    return float(np.mean(hits / gt.shape[1]))


# ---------------------------------------------------------------------------------------------------------
# Engines. Each has: import + version + kernel, build(base) -> index, search(index, queries, ef) -> ids.


class Hnswlib:
    name = "hnswlib"

    def __init__(self):
        import importlib.metadata

        import hnswlib

        self.lib = hnswlib
        self.version = importlib.metadata.version("hnswlib")
        self.kernel = hnswlib_kernel()

    def prepare(self, base):
        return {"ids": np.arange(len(base), dtype=np.int64)}

    def build(self, base, prep):
        index = self.lib.Index(space="cosine", dim=base.shape[1])
        index.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCTION, random_seed=100)
        index.set_num_threads(1)
        index.add_items(base, prep["ids"], num_threads=1)
        return index

    def search(self, index, queries, ef):
        index.set_ef(ef)
        labels, _ = index.knn_query(queries, k=K, num_threads=1)
        return labels


class Faiss:
    name = "faiss"

    def __init__(self):
        import faiss

        self.lib = faiss
        faiss.omp_set_num_threads(1)
        self.version = faiss.__version__
        try:
            level = faiss.SIMDConfig.get_level_name()
            self.kernel = f"SIMD level {level} (faiss dynamic dispatch); compile options: {faiss.get_compile_options().strip()}"
        except AttributeError:
            self.kernel = f"compile options: {faiss.get_compile_options().strip()}"

    def prepare(self, base):
        # In place: the index is built from the normalised copy of the base that was loaded before "before".
        self.lib.normalize_L2(base)
        return {}

    def build(self, base, prep):
        index = self.lib.IndexHNSWFlat(base.shape[1], M, self.lib.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.add(base)
        return index

    def search(self, index, queries, ef):
        index.hnsw.efSearch = ef
        q = queries.copy()  # query normalisation is part of the timed call, as hnswlib's is
        self.lib.normalize_L2(q)
        _, labels = index.search(q, K)
        return labels


class Usearch:
    name = "usearch"

    def __init__(self):
        import usearch
        from usearch.index import Index

        self.Index = Index
        self.version = usearch.__version__
        self.kernel = None

    def prepare(self, base):
        return {"keys": np.arange(len(base), dtype=np.uint64)}

    def build(self, base, prep):
        index = self.Index(
            ndim=base.shape[1],
            metric="cos",
            dtype="f32",
            connectivity=M,
            expansion_add=EF_CONSTRUCTION,
            expansion_search=64,
        )
        index.add(prep["keys"], base, threads=1)
        self.kernel = str(index.hardware_acceleration)
        return index

    def search(self, index, queries, ef):
        index.expansion_search = ef
        matches = index.search(queries, K, threads=1, exact=False)
        return np.asarray(matches.keys).astype(np.int64)


ENGINE_CLASSES = {"hnswlib": Hnswlib, "faiss": Faiss, "usearch": Usearch}


def hnswlib_kernel():
    """hnswlib picks its SIMD at compile time; say how the installed wheel was built."""
    import importlib.metadata

    try:
        wheel = importlib.metadata.distribution("hnswlib").read_text("WHEEL") or ""
    except importlib.metadata.PackageNotFoundError:
        wheel = ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    # hnswlib 0.8.0 compiles AVX-512 kernels under __AVX512F__, else AVX under __AVX__, else SSE.
    simd = "AVX-512" if "avx512f" in flags else "AVX" if "avx" in flags else "SSE"
    if tags and all(t.endswith("linux_x86_64") and "manylinux" not in t for t in tags):
        how = "built locally from the sdist (-O3 -march=native)"
    else:
        how = f"prebuilt wheel {','.join(tags) or '?'}"
    return f"{how}; compile-time SIMD, {simd} on this CPU"


# ---------------------------------------------------------------------------------------------------------
# One engine, one dataset (runs in a child process)


def run_engine(args, engine_name):
    engine = ENGINE_CLASSES[engine_name]()  # imports the library before the "before" sample
    base, queries, gt = load_dataset(args.data, args.dataset, args.limit_base, args.limit_queries)
    n, dim = base.shape
    efs = [int(x) for x in args.ef.split(",") if x]
    log(f"{engine_name} {engine.version}: {args.dataset} n={n} dim={dim} queries={len(queries)} ({loadavg()})")

    prep = engine.prepare(base)
    release_free_memory()
    rss_before = rss_bytes()
    cpu0, t0 = time.process_time(), time.perf_counter()
    index = engine.build(base, prep)
    build_seconds = time.perf_counter() - t0
    build_cpu = time.process_time() - cpu0
    release_free_memory()
    rss_after = rss_bytes()
    rss_delta = rss_after - rss_before
    graph_bpp = (rss_delta - n * dim * 4) / n
    threads = thread_count()
    log(
        f"{engine_name}: built in {build_seconds:.2f} s (cpu {build_cpu:.2f} s, cpu/wall "
        f"{build_cpu / build_seconds:.2f}, process threads {threads}); RSS delta {rss_delta / 1e6:.1f} MB, "
        f"graph {graph_bpp:.1f} B/point"
    )
    if build_cpu / build_seconds > 1.2:
        log(f"WARNING: {engine_name} build used more than one core (cpu/wall {build_cpu / build_seconds:.2f})")
    if engine_name == "usearch":
        log(f"usearch: own memory_usage = {index.memory_usage} B ({index.memory_usage / n:.1f} B/point incl. vectors)")

    runs = []
    for ef in efs:
        best = float("inf")
        cpu_sum = wall_sum = 0.0
        ids = None
        for _ in range(REPEATS):
            c0, t0 = time.process_time(), time.perf_counter()
            ids = engine.search(index, queries, ef)
            dt = time.perf_counter() - t0
            cpu_sum += time.process_time() - c0
            wall_sum += dt
            best = min(best, dt)
        recall = recall_at_k(np.asarray(ids), gt)
        qps = len(queries) / best
        runs.append({"ef": ef, "recall_at_10": round(recall, 5), "qps": round(qps, 1)})
        note = "" if cpu_sum <= 1.2 * wall_sum else f"  WARNING cpu/wall {cpu_sum / wall_sum:.2f}"
        log(f"{engine_name}: ef={ef:<4} recall@10={recall:.4f} qps={qps:,.0f}{note}")

    log(f"{engine_name}: done ({loadavg()})")
    kernel = engine.kernel
    result = {
        "engine": engine_name,
        "version": engine.version,
        "dataset": args.dataset,
        "n": int(n),
        "dim": int(dim),
        "queries": int(len(queries)),
        "m": M,
        "ef_construction": EF_CONSTRUCTION,
        "threads": 1,
        "query_mode": "batch",
        "build_seconds": round(build_seconds, 3),
        "rss_delta_bytes": int(rss_delta),
        "graph_bytes_per_point": round(graph_bpp, 1),
        "kernel": kernel,
        "runs": runs,
    }
    path = write_result(args.out, f"{engine_name}-{args.dataset}.json", result)
    log(f"{engine_name}: wrote {path}")


def write_result(out_dir, name, result):
    """Writes one result as indented JSON to out_dir/name and returns the path."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    return path


# ---------------------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="directory with <dataset>.{base,query}.fvecs and .gt100.ivecs")
    p.add_argument("--dataset", required=True, help="e.g. glove50-100k or minilm384-scifact-sent40k")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma list of " + ",".join(ENGINES))
    p.add_argument("--ef", default=DEFAULT_EF, help=f"comma list of ef_search values (default {DEFAULT_EF})")
    p.add_argument("--out", default="bench/out", help="directory for <engine>-<dataset>.json (default bench/out)")
    p.add_argument("--limit-base", type=int, default=0, help="smoke runs: first N base vectors (ground truth recomputed)")
    p.add_argument("--limit-queries", type=int, default=0, help="smoke runs: first N queries")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    unknown = [e for e in engines if e not in ENGINE_CLASSES]
    if unknown or not engines:
        p.error(f"unknown engine(s) {unknown}; choose from {','.join(ENGINES)}")
    try:
        efs = [int(x) for x in args.ef.split(",") if x]
    except ValueError:
        p.error(f"--ef must be a comma list of integers, got {args.ef!r}")
    if not efs or min(efs) < K:
        p.error(f"--ef values must be >= k = {K}")
    for suffix in (".base.fvecs", ".query.fvecs", ".gt100.ivecs"):
        path = os.path.join(args.data, args.dataset + suffix)
        if not os.path.isfile(path):
            p.error(f"missing {path}")
    args.engines = engines
    return args


def main(argv):
    args = parse_args(argv)
    if args.child:
        run_engine(args, args.engines[0])
        return 0
    failed = []
    for engine in args.engines:
        cmd = [sys.executable, os.path.abspath(__file__), *argv, "--engines", engine, "--child"]
        rc = subprocess.call(cmd)
        if rc != 0:
            log(f"ERROR: {engine} on {args.dataset} exited with {rc}")
            failed.append(engine)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
