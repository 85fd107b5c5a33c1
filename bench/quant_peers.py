#!/usr/bin/env python3
"""Quantized-search peers: faiss HNSW (float and SQ8), PQ and IVF-PQ (raw and with exact rescoring) on a TEXMEX set.

Writes one JSON file per variant, `<out>/faiss-<variant>-<dataset>.json`, in the schema that `grape-bench quant`
also writes (see the "Quantization benchmark" section of bench/README.md). Variant families (--variants):

- hnsw-flat: IndexHNSWFlat(d, 16, METRIC_INNER_PRODUCT), efConstruction 200, efSearch sweep (--ef).
- hnsw-sq8:  IndexHNSWSQ(d, QT_8bit, 16, METRIC_INNER_PRODUCT), trained on the base, efConstruction 200, same
             sweep. faiss's int8 HNSW: distances on the 8-bit codes only, no rescoring.
- pq:        IndexPQ(d, m, 8, METRIC_INNER_PRODUCT), brute-force ADC over all codes -> variant `pq<m>`; and
             IndexRefineFlat(IndexPQ) with k_factor sweep (--k-factors) -> `pq<m>-refine` (keeps the originals:
             rescoring with the float vectors, as Grape's oversampling + rescore).
- ivfpq:     IndexIVFPQ(IndexFlatIP(d), d, nlist, m, 8, METRIC_INNER_PRODUCT), nprobe sweep (--nprobe) -> `ivfpq<m>`;
             and IndexRefineFlat on top, k_factor (--ivf-k-factors) at each nprobe -> `ivfpq<m>-refine`.

m (PQ sub-quantizers, 1 byte each) defaults to every integer of d/2, d/4, d/8 that divides d, i.e. 8x, 16x and
32x compression of float32 (glove 50-d: m = 25; MiniLM 384-d: m = 192, 96, 48); --pq-m overrides.

Trimmed to keep both default datasets near 10 minutes on one core: the PQ refine sweep is k_factor 2, 4, 8 (k_factor
1 returns the raw pq<m> file's ids, re-ordered; 16 adds nothing once 8 is >= 0.995), and a sweep point is timed 3
times only while its runs took less than --max-point-seconds (the exhaustive PQ scans take 3-11 s per call).
pq<m> and pq<m>-refine (likewise ivfpq) share one training: the first job saves the trained, empty index to a
temporary directory, the second reads it back untimed and reports the first one's train_s.

Cosine similarity: the base is L2-normalised (untimed, before the build) and the indexes use inner product;
queries are normalised inside the timed search call, as bench/peers.py does. One thread (the thread variables are
set by importing bench/peers.py, then faiss.omp_set_num_threads(1)), k = 10, recall@10 against the ground-truth
top-10, all queries in ONE search call, QPS from the best of 3. Every output file is made in a child process of
its own, so RSS deltas do not mix.

Installs nothing: run it with bench/.venv/bin/python (bench/run-quant.sh makes that venv).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Importing peers sets OMP_NUM_THREADS & co. to 1 before numpy loads; keep this import first.
import peers  # noqa: E402,I001
from peers import (  # noqa: E402
    K,
    REPEATS,
    load_dataset,
    loadavg,
    recall_at_k,
    release_free_memory,
    rss_bytes,
    thread_count,
)

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

FAMILIES = ("hnsw-flat", "hnsw-sq8", "pq", "ivfpq")
DEFAULT_EF = "16,24,32,48,64,96,128,192,256"
DEFAULT_NPROBE = "1,2,4,8,16,32,64,128"
DEFAULT_K_FACTORS = "2,4,8"
DEFAULT_IVF_K_FACTORS = "4,8"
HNSW_M = peers.M  # 16
EF_CONSTRUCTION = peers.EF_CONSTRUCTION  # 200
PQ_NBITS = 8
TRAIN_BLAS_THRESHOLD = 20


def log(msg):
    print(f"[quant-peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def default_pq_ms(dim):
    """m for 8x, 16x, 32x compression of float32 (code bytes = m = d*4/ratio), where that m divides d."""
    out = []
    for ratio in (8, 16, 32):
        if (dim * 4) % ratio == 0:
            m = dim * 4 // ratio
            if m >= 1 and dim % m == 0:
                out.append(m)
    return out


def default_nlist(n):
    return max(1, int(round(4 * math.sqrt(n))))


def ints(text):
    return [int(x) for x in text.split(",") if x.strip()]


# ---------------------------------------------------------------------------------------------------------
# Jobs: one job = one output file = one child process.

JOB_RE = re.compile(r"^(hnsw-flat|hnsw-sq8|pq(\d+)(-refine)?|ivfpq(\d+)(-refine)?)$")


def jobs_for(families, ms):
    jobs = []
    for fam in families:
        if fam in ("hnsw-flat", "hnsw-sq8"):
            jobs.append(fam)
        else:
            for m in ms:
                jobs += [f"{fam}{m}", f"{fam}{m}-refine"]
    return jobs


class Faiss:
    def __init__(self):
        import faiss

        self.faiss = faiss
        faiss.omp_set_num_threads(1)
        self.version = faiss.__version__
        try:
            level = faiss.SIMDConfig.get_level_name()
            self.kernel = f"SIMD level {level} (faiss dynamic dispatch); compile options: {faiss.get_compile_options().strip()}"
        except AttributeError:
            self.kernel = f"compile options: {faiss.get_compile_options().strip()}"

    def normalized(self, queries):
        q = queries.copy()
        self.faiss.normalize_L2(q)
        return q


def build_job(fx, job, base, args):
    """Make the index of one job: returns (index, handles, description) where handles holds sub-indexes and the
    facts for the JSON. The caller times this function (train + add) and samples RSS around it."""
    faiss = fx.faiss
    n, d = base.shape
    mt = JOB_RE.match(job)
    ip = faiss.METRIC_INNER_PRODUCT
    if job == "hnsw-flat":
        index = faiss.IndexHNSWFlat(d, HNSW_M, ip)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.add(base)
        return index, {"hnsw": index}
    if job == "hnsw-sq8":
        index = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, HNSW_M, ip)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        t0 = time.perf_counter()
        index.train(base)
        t1 = time.perf_counter()
        index.add(base)
        return index, {"hnsw": index, "train_s": t1 - t0, "add_s": time.perf_counter() - t1}
    refine = job.endswith("-refine")
    trained_key = job.removesuffix("-refine")  # pq192 and pq192-refine train the same quantizer
    cached = os.path.join(args.train_cache, trained_key) if args.train_cache else None
    keep = []  # Python references to sub-indexes faiss does not own
    if cached and os.path.isfile(cached + ".index") and os.path.isfile(cached + ".json"):
        # Trained (empty) index left by the sibling job: identical training, not repeated; its train time counts.
        with open(cached + ".json") as f:
            train_s = json.load(f)["train_s"]
        inner = faiss.read_index(cached + ".index")
        shared = trained_key
    else:
        if job.startswith("pq"):
            inner = faiss.IndexPQ(d, int(mt.group(2)), PQ_NBITS, ip)
        else:
            keep.append(faiss.IndexFlatIP(d))  # coarse quantizer
            inner = faiss.IndexIVFPQ(keep[-1], d, args.nlist, int(mt.group(4)), PQ_NBITS, ip)
        # faiss 1.15 computes k-means assignments with BLAS only when n_points * d >= distance_compute_blas_threshold
        # (128000); below it, its sequential kernel is ~10x slower (PQ training on 2-d sub-vectors, m = d/2, took 5
        # minutes for 40k x 384). Training uses the long-standing threshold 20 (same centroids up to float
        # rounding); search runs with faiss's default again.
        saved = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = TRAIN_BLAS_THRESHOLD
        t0 = time.perf_counter()
        try:
            inner.train(base)
        finally:
            faiss.cvar.distance_compute_blas_threshold = saved
        train_s = time.perf_counter() - t0
        shared = None
        if cached:
            faiss.write_index(inner, cached + ".index")
            with open(cached + ".json", "w") as f:
                json.dump({"train_s": train_s, "job": job}, f)
    if job.startswith("pq"):
        handles = {"pq": inner, "m": int(mt.group(2))}
    else:
        ivf = faiss.downcast_index(inner)
        handles = {"ivf": ivf, "m": int(mt.group(4))}
    if refine:
        index = faiss.IndexRefineFlat(inner)  # needs an empty base index; it adds to both the codes and the floats
        handles["refine"] = index
    else:
        index = inner
    t1 = time.perf_counter()
    index.add(base)
    handles.update(inner=inner, keep=keep, train_s=train_s, add_s=time.perf_counter() - t1, train_shared_with=shared)
    return index, handles


def sweep(job, handles, args):
    """The sweep points of a job: list of (point dict without recall/qps, setter function)."""
    m = handles.get("m")
    pts = []
    if job.startswith("hnsw"):
        h = handles["hnsw"]
        for ef in args.efs:
            def setp(ef=ef):
                h.hnsw.efSearch = ef
            pts.append(({"ef": ef, "nprobe": None, "m": None, "oversampling": None, "rescore": False}, setp))
    elif job.startswith("pq"):
        if "refine" in handles:
            r = handles["refine"]
            for kf in args.k_factors:
                def setp(kf=kf):
                    r.k_factor = kf
                pts.append(({"ef": None, "nprobe": None, "m": m, "oversampling": kf, "rescore": True}, setp))
        else:
            pts.append(({"ef": None, "nprobe": None, "m": m, "oversampling": None, "rescore": False}, lambda: None))
    else:
        ivf = handles["ivf"]
        for nprobe in args.nprobes:
            if "refine" in handles:
                r = handles["refine"]
                for kf in args.ivf_k_factors:
                    def setp(nprobe=nprobe, kf=kf):
                        ivf.nprobe = nprobe
                        r.k_factor = kf
                    pts.append(({"ef": None, "nprobe": nprobe, "m": m, "oversampling": kf, "rescore": True}, setp))
            else:
                def setp(nprobe=nprobe):
                    ivf.nprobe = nprobe
                pts.append(({"ef": None, "nprobe": nprobe, "m": m, "oversampling": None, "rescore": False}, setp))
    return pts


def describe(fx, job, handles, n, d, args):
    """(code_bytes_per_vector, keeps_originals, params, notes) of a job."""
    faiss = fx.faiss
    if job == "hnsw-flat":
        storage = faiss.downcast_index(handles["hnsw"].storage)
        code = int(storage.code_size)  # d * 4: float32
        # keeps_originals = float vectors kept besides the codes (as grape-bench: false for "float", whose code is them)
        return code, False, {"M": HNSW_M, "efConstruction": EF_CONSTRUCTION, "storage": "IndexFlat (float32)"}, (
            "IndexHNSWFlat(d, 16, METRIC_INNER_PRODUCT) on L2-normalised vectors. code_bytes_per_vector = the float32 "
            "vector (storage.code_size = 4*d); the HNSW links (about 2*M*4 B at level 0 plus upper levels) come on top "
            "and are in rss_delta_bytes."
        )
    if job == "hnsw-sq8":
        storage = faiss.downcast_index(handles["hnsw"].storage)
        code = int(storage.code_size)  # d bytes
        return code, False, {
            "M": HNSW_M,
            "efConstruction": EF_CONSTRUCTION,
            "storage": "IndexScalarQuantizer QT_8bit (per-dimension min/max trained on the base)",
        }, (
            "IndexHNSWSQ(d, QT_8bit, 16, METRIC_INNER_PRODUCT): graph built and searched on 8-bit codes only, no "
            "rescoring with the originals (it does not keep them). code_bytes_per_vector = storage.code_size = d "
            "(1 byte per dimension; the trained per-dimension ranges are 2*d floats for the whole index); HNSW links "
            "come on top and are in rss_delta_bytes."
        )
    m = handles["m"]
    refine = "refine" in handles
    notes_train = (
        f" Trained on the whole base with faiss.cvar.distance_compute_blas_threshold = {TRAIN_BLAS_THRESHOLD} (faiss "
        "1.15's default 128000, compared with points*dims, sends small k-means to a ~10x slower non-BLAS kernel; the "
        "centroids are the same up to rounding); search runs with the default."
    )
    params = {"m": m, "nbits": PQ_NBITS, "train_distance_compute_blas_threshold": TRAIN_BLAS_THRESHOLD}
    if job.startswith("pq"):
        code = int(handles["pq"].code_size)  # m bytes
        params["index"] = "IndexRefineFlat(IndexPQ)" if refine else "IndexPQ"
        notes = (
            f"IndexPQ(d, {m}, 8, METRIC_INNER_PRODUCT): exhaustive asymmetric-distance (ADC) scan of all codes. "
            f"code_bytes_per_vector = pq.code_size = m = {m}."
        )
    else:
        ivf = handles["ivf"]
        code = int(ivf.code_size)  # m bytes; the inverted lists also hold an 8-byte id per vector
        params.update({"nlist": int(ivf.nlist), "by_residual": bool(ivf.by_residual),
                       "index": "IndexRefineFlat(IndexIVFPQ)" if refine else "IndexIVFPQ"})
        notes = (
            f"IndexIVFPQ(IndexFlatIP(d), d, nlist={int(ivf.nlist)}, m={m}, 8, METRIC_INNER_PRODUCT), residual PQ. "
            f"code_bytes_per_vector = ivf.code_size = m = {m}; the inverted lists also store an 8-byte id per "
            f"vector (not counted there, but in rss_delta_bytes), and the coarse quantizer holds nlist*d floats."
        )
    notes += notes_train
    if refine:
        notes += (
            " IndexRefineFlat keeps the original float32 vectors (an IndexFlat, 4*d bytes per vector, in "
            "rss_delta_bytes but not in code_bytes_per_vector): the base index returns k*k_factor candidates "
            "(oversampling = k_factor) which are re-ranked with exact inner products."
        )
        if job.startswith("ivfpq"):
            params["k_factors"] = args.ivf_k_factors
        else:
            params["k_factors"] = args.k_factors
    return code, refine, params, notes


def run_job(args, job):
    fx = Faiss()  # imports faiss before the "before" sample
    base, queries, gt = load_dataset(args.data, args.dataset, args.limit_base, args.limit_queries)
    n, dim = base.shape
    log(f"faiss {fx.version} {job}: {args.dataset} n={n} dim={dim} queries={len(queries)} ({loadavg()})")

    fx.faiss.normalize_L2(base)  # in place, untimed, before the "before" sample (as peers.py)
    release_free_memory()
    rss_before = rss_bytes()
    cpu0, t0 = time.process_time(), time.perf_counter()
    index, handles = build_job(fx, job, base, args)
    wall = time.perf_counter() - t0
    build_cpu = time.process_time() - cpu0
    # Trainable indexes: train + add (a shared training counts once in each file; reading it back is not timed).
    build_s = handles["train_s"] + handles["add_s"] if "train_s" in handles else wall
    release_free_memory()
    rss_delta = rss_bytes() - rss_before
    threads = thread_count()
    code, keeps, params, notes = describe(fx, job, handles, n, dim, args)
    log(
        f"faiss {job}: train+build {build_s:.2f} s"
        + (f" (train {handles['train_s']:.2f} s" + (f", shared with {handles['train_shared_with']}" if handles.get("train_shared_with") else "")
           + f", add {handles['add_s']:.2f} s)" if "train_s" in handles else "")
        + f" (cpu/wall {build_cpu / max(wall, 1e-9):.2f}, process threads "
        f"{threads}); RSS delta {rss_delta / 1e6:.1f} MB ({rss_delta / n:.1f} B/vector); code {code} B/vector "
        f"({dim * 4 / code:.1f}x vs float32){'; keeps originals' if keeps else ''}"
    )
    if build_cpu / max(wall, 1e-9) > 1.2:
        log(f"WARNING: {job} build used more than one core (cpu/wall {build_cpu / wall:.2f})")

    points = []
    for point, setp in sweep(job, handles, args):
        setp()
        best = float("inf")
        cpu_sum = wall_sum = 0.0
        ids = None
        runs = 0
        while runs < args.repeats and (runs == 0 or wall_sum < args.max_point_seconds):
            c0, t1 = time.process_time(), time.perf_counter()
            _, ids = index.search(fx.normalized(queries), K)  # query normalisation is part of the timed call
            dt = time.perf_counter() - t1
            cpu_sum += time.process_time() - c0
            wall_sum += dt
            best = min(best, dt)
            runs += 1
        recall = recall_at_k(np.asarray(ids), gt)
        qps = len(queries) / best
        points.append({**point, "recall": round(recall, 5), "qps": round(qps, 1), "runs": runs})
        knobs = " ".join(f"{k}={v}" for k, v in point.items() if v is not None and k != "rescore")
        note = "" if cpu_sum <= 1.2 * wall_sum else f"  WARNING cpu/wall {cpu_sum / wall_sum:.2f}"
        log(f"faiss {job}: {knobs:<24} recall@10={recall:.4f} qps={qps:,.0f} (best of {runs}){note}")

    result = {
        "engine": "faiss",
        "variant": job,
        "dataset": args.dataset,
        "n": int(n),
        "dim": int(dim),
        "queries": int(len(queries)),
        "k": K,
        "build_s": round(build_s, 3),
        "train_s": round(handles["train_s"], 3) if "train_s" in handles else None,
        "add_s": round(handles["add_s"], 3) if "add_s" in handles else None,
        "train_shared_with": handles.get("train_shared_with"),
        "rss_delta_bytes": int(rss_delta),
        "code_bytes_per_vector": code,
        "float_bytes_per_vector": int(dim * 4),
        "keeps_originals": keeps,
        "params": params,
        "notes": notes + " build_s = train_s + add_s, one thread; base normalisation untimed"
        + (f"; the trained quantizer is the one {handles['train_shared_with']} trained (same data, same code), read "
           "back untimed, its train_s counted here" if handles.get("train_shared_with") else "")
        + ". QPS: all queries in one "
        f"search call (query normalisation included), best of {args.repeats} runs, fewer when the runs of a point "
        f"already took {args.max_point_seconds:g} s (the number of runs is in each point).",
        "points": points,
        "version": fx.version,
        "kernel": fx.kernel,
        "threads": 1,
        "query_mode": "batch",
    }
    path = peers.write_result(args.out, f"faiss-{job}-{args.dataset}.json", result)
    log(f"faiss {job}: wrote {path} ({loadavg()})")


# ---------------------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="directory with <dataset>.{base,query}.fvecs and .gt100.ivecs")
    p.add_argument("--dataset", required=True, help="e.g. glove50-100k or minilm384-scifact-sent40k")
    p.add_argument("--out", required=True, help="directory for faiss-<variant>-<dataset>.json")
    p.add_argument("--variants", default=",".join(FAMILIES),
                   help=f"comma list of {','.join(FAMILIES)} (a 'faiss-' prefix is accepted)")
    p.add_argument("--ef", default=DEFAULT_EF, help=f"HNSW efSearch values (default {DEFAULT_EF})")
    p.add_argument("--nprobe", default=DEFAULT_NPROBE, help=f"IVF-PQ nprobe values (default {DEFAULT_NPROBE})")
    p.add_argument("--k-factors", default=DEFAULT_K_FACTORS, help=f"PQ refine k_factors (default {DEFAULT_K_FACTORS})")
    p.add_argument("--ivf-k-factors", default=DEFAULT_IVF_K_FACTORS,
                   help=f"IVF-PQ refine k_factors at each nprobe (default {DEFAULT_IVF_K_FACTORS})")
    p.add_argument("--pq-m", default="", help="PQ sub-quantizer counts (default: d/2, d/4, d/8 where they divide d)")
    p.add_argument("--nlist", type=int, default=0, help="IVF lists (default round(4*sqrt(n)))")
    p.add_argument("--repeats", type=int, default=REPEATS, help=f"timed repetitions per point, best counts (default {REPEATS})")
    p.add_argument("--max-point-seconds", type=float, default=3.0,
                   help="stop repeating a sweep point once its runs took this long (default 3; at least one run)")
    p.add_argument("--limit-base", type=int, default=0, help="smoke runs: first N base vectors (ground truth recomputed)")
    p.add_argument("--limit-queries", type=int, default=0, help="smoke runs: first N queries")
    p.add_argument("--job", default=None, help=argparse.SUPPRESS)  # child: one output file
    p.add_argument("--train-cache", default=None, help=argparse.SUPPRESS)  # child: dir of trained quantizers
    args = p.parse_args(argv)

    fams = [v.strip().removeprefix("faiss-") for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in fams if v not in FAMILIES]
    if unknown or not fams:
        p.error(f"unknown variant(s) {unknown}; choose from {','.join(FAMILIES)}")
    args.families = fams
    try:
        args.efs, args.nprobes = ints(args.ef), ints(args.nprobe)
        args.k_factors, args.ivf_k_factors = ints(args.k_factors), ints(args.ivf_k_factors)
        args.pq_ms = ints(args.pq_m)
    except ValueError as e:
        p.error(f"lists must be comma-separated integers ({e})")
    if not args.efs or min(args.efs) < K:
        p.error(f"--ef values must be >= k = {K}")
    if min(args.nprobes or [0]) < 1 or min(args.k_factors or [0]) < 1 or min(args.ivf_k_factors or [0]) < 1:
        p.error("--nprobe, --k-factors and --ivf-k-factors need values >= 1")
    for suffix in (".base.fvecs", ".query.fvecs", ".gt100.ivecs"):
        path = os.path.join(args.data, args.dataset + suffix)
        if not os.path.isfile(path):
            p.error(f"missing {path}")
    if args.job is not None and not JOB_RE.match(args.job):
        p.error(f"bad job {args.job}")
    return args


def dataset_shape(args):
    """(n, dim) after --limit-base, from the .fvecs header and size, without loading the vectors."""
    path = os.path.join(args.data, args.dataset + ".base.fvecs")
    d = int(np.fromfile(path, dtype=np.int32, count=1)[0])
    n = os.path.getsize(path) // (4 * (d + 1))
    if args.limit_base:
        n = min(n, args.limit_base)
    return n, d


def main(argv):
    args = parse_args(argv)
    n, dim = dataset_shape(args)
    if not args.nlist:
        args.nlist = default_nlist(n)
    if args.job:
        run_job(args, args.job)
        return 0
    ms = args.pq_ms or default_pq_ms(dim)
    bad = [m for m in ms if dim % m]
    if bad:
        log(f"ERROR: PQ m must divide d = {dim}: {bad}")
        return 2
    jobs = jobs_for(args.families, ms)
    log(f"{args.dataset}: n={n} dim={dim}; PQ m={ms}; nlist={args.nlist}; jobs: {', '.join(jobs)}")
    failed = []
    t0 = time.perf_counter()
    cache = tempfile.mkdtemp(prefix="quant-peers-train-")  # trained quantizers shared by <job> and <job>-refine
    try:
        for job in jobs:
            t1 = time.perf_counter()
            cmd = [sys.executable, os.path.abspath(__file__), *argv, "--nlist", str(args.nlist),
                   "--train-cache", cache, "--job", job]
            rc = subprocess.call(cmd)
            log(f"{job}: child finished in {time.perf_counter() - t1:.1f} s (exit {rc})")
            if rc != 0:
                log(f"ERROR: {job} on {args.dataset} exited with {rc}")
                failed.append(job)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    log(f"{args.dataset}: all jobs in {time.perf_counter() - t0:.1f} s" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
