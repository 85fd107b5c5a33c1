#!/usr/bin/env python3
"""Storage benchmark peers: qdrant-edge-py (an embedded Qdrant shard) and lancedb (embedded), measured on the
same data and with the same steps as `grape-bench storage` (see bench/README.md, "Storage benchmark").

For each engine, in a child process of its own (so that one engine's memory and threads cannot affect the
next): durable-as-offered upserts of minilm384-scifact-sent40k in batches of 1,000 with the payload
{"text": sentence, "row": i}, bytes on disk, get by random id (1 and 100 ids per call, payload included),
query QPS per ef (k = 10, one query per call, one search thread) with recall@10 against the cosine ground truth,
and the open time of glove50-100k. Writes `<out>/<engine>.json` in the schema grape-bench writes.

Installs nothing: run it with bench/.venv/bin/python (bench/run-storage.sh makes that venv).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"
# Lance logs a deprecation warning per search that selects columns; the log writes would be timed too.
os.environ.setdefault("LANCEDB_LOG", "error")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

SENT = "minilm384-scifact-sent40k"
GLOVE = "glove50-100k"
BATCH = 1000
K = 10
TARGET = 0.95
REPS = 3
# The HNSW settings of Grape's default collection config (m 16, ef_construct 200), given to every peer.
M, EF_CONSTRUCT = 16, 200
EFS = [10, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256]
LANCE_EFS = [10, 16, 24, 32, 48, 64, 128]
ENGINES = ["qdrant-edge", "lancedb"]


def log(msg):
    print(f"[storage-peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    if not (rows[:, 0] == dim).all():
        raise ValueError(f"{path}: rows of different lengths")
    return rows[:, 1:].view(dtype).copy()


def disk_bytes(path):
    """(apparent bytes, allocated bytes) of every file under `path` (files may be sparse or preallocated)."""
    apparent = allocated = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            st = os.stat(os.path.join(root, f))
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return apparent, allocated


def recall(found, gt):
    hits = sum(len(set(f) & set(g[:K].tolist())) for f, g in zip(found, gt))
    return hits / (len(found) * K)


def expected(ids, per_call):
    """Records a get of `ids` in calls of `per_call` returns: a call returns each distinct id once."""
    return sum(len(set(ids[s:s + per_call])) for s in range(0, len(ids), per_call))


def best_of(fn, reps=REPS):
    best = float("inf")
    out = None
    for rep in range(reps):
        t = time.perf_counter()
        r = fn()
        best = min(best, time.perf_counter() - t)
        if rep == 0:
            out = r
    return best, out


class Data:
    def __init__(self, args):
        d = args.data
        self.base = read_vecs(f"{d}/{SENT}.base.fvecs", np.float32)
        self.queries = read_vecs(f"{d}/{SENT}.query.fvecs", np.float32)
        self.gt = read_vecs(f"{d}/{SENT}.gt100.ivecs", np.int32)
        if args.limit_queries:
            self.queries = self.queries[: args.limit_queries]
            self.gt = self.gt[: args.limit_queries]
        with open(f"{d}/{SENT}.base.txt") as f:
            self.texts = f.read().split("\n")[: len(self.base)]
        self.n, self.dim = self.base.shape
        rng = np.random.default_rng(0x5EED)
        self.get_ids = rng.integers(0, self.n, size=args.gets).tolist()


# ---------------------------------------------------------------------------------------------------------
# qdrant-edge-py


def qdrant_edge(args, data, scratch):
    import qdrant_edge as qe

    version = _version("qdrant-edge-py")
    out = {
        "engine": "qdrant-edge", "version": version, "dataset": SENT, "n": data.n, "dim": data.dim,
        "durability": (
            "update() appends to the shard's write-ahead log without fsync or msync (checked with strace: "
            "no sync call between updates); flush() makes it durable. Measured both ways: 'wal' = update "
            "only (survives a process crash, not a power loss), 'flush per batch' = update + flush()."
        ),
    }

    def config(dim, m=M):
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(
                m=m, ef_construct=EF_CONSTRUCT, full_scan_threshold=10000, max_indexing_threads=1
            ),
            max_search_threads=1,
        )

    def batches(vectors, payloads):
        return [
            [qe.Point(i, vectors[i].tolist(), payloads[i] if payloads else None)
             for i in range(s, min(s + BATCH, len(vectors)))]
            for s in range(0, len(vectors), BATCH)
        ]

    payloads = [{"text": data.texts[i], "row": i} for i in range(data.n)]
    points = batches(data.base, payloads)

    def load(path, flush_each):
        shard = qe.EdgeShard.create(path, config(data.dim))
        t = time.perf_counter()
        for b in points:
            shard.update(qe.UpdateOperation.upsert_points(b))
            if flush_each:
                shard.flush()
        return shard, time.perf_counter() - t

    # (a) no graph: Qdrant Edge builds HNSW only in optimize(); upserts go to an appendable plain segment.
    for key, flush_each in (("upsert_no_index", True), ("upsert_no_index_wal", False)):
        path = os.path.join(scratch, f"qe-{key}")
        shard, secs = load(path, flush_each)
        after = disk_bytes(path)
        shard.flush()
        out[key] = {
            "points": data.n, "batch": BATCH, "seconds": secs, "points_per_s": data.n / secs,
            "durability": "flush per batch" if flush_each else "wal (no fsync per batch)",
            "disk_bytes_after_load": after[0], "disk_allocated_after_load": after[1],
            "disk_bytes_after_flush": disk_bytes(path)[0], "disk_allocated_after_flush": disk_bytes(path)[1],
        }
        log(f"qdrant-edge {key}: {data.n / secs:.0f} points/s")
        shard.close()
        if key == "upsert_no_index_wal":
            shutil.rmtree(path, ignore_errors=True)

    # (b) the HNSW index: the same durable load, then optimize() (one indexing thread).
    path = os.path.join(scratch, "qe-indexed")
    shard, secs = load(path, True)
    t = time.perf_counter()
    shard.optimize()
    opt = time.perf_counter() - t
    shard.flush()
    info = shard.info()
    total = secs + opt
    size = disk_bytes(path)
    out["upsert_indexed"] = {
        "points": data.n, "batch": BATCH, "seconds": total, "points_per_s": data.n / total,
        "upsert_s": secs, "optimize_s": opt, "m": M, "ef_construct": EF_CONSTRUCT,
        "indexed_vectors": info.indexed_vectors_count, "segments": info.segments_count,
        "durability": "flush per batch, then optimize()",
        "disk_bytes_after_flush": size[0], "disk_allocated_after_flush": size[1],
    }
    log(f"qdrant-edge indexed: upsert {secs:.1f} s + optimize {opt:.1f} s; {info.indexed_vectors_count} indexed")

    # Get by id.
    ids = data.get_ids

    def gets(per_call):
        def run():
            found = 0
            for s in range(0, len(ids), per_call):
                found += len(shard.retrieve(ids[s:s + per_call], with_payload=True, with_vector=False))
            return found

        secs, found = best_of(run)
        want = expected(ids, per_call)
        assert found == want, (found, want)
        return len(ids) / secs

    out["get"] = {"ids": len(ids), "single_per_s": gets(1), "batch100_per_s": gets(100)}
    log(f"qdrant-edge get: {out['get']}")

    out["query"] = query_sweep(
        data,
        lambda q, ef, payload: qe.QueryRequest(
            limit=K, query=qe.Query.Nearest(q), params=qe.SearchParams(hnsw_ef=ef), with_payload=payload
        ),
        lambda q: qe.QueryRequest(limit=K, query=qe.Query.Nearest(q), params=qe.SearchParams(exact=True)),
        lambda req: [h.id for h in shard.query(req)],
    )
    shard.close()
    shutil.rmtree(path, ignore_errors=True)

    # Open time of glove50-100k with its HNSW index.
    glove = read_vecs(f"{args.data}/{GLOVE}.base.fvecs", np.float32)[: args.open_limit]
    path = os.path.join(scratch, "qe-open")
    shard = qe.EdgeShard.create(path, config(glove.shape[1]))
    for b in batches(glove, None):
        shard.update(qe.UpdateOperation.upsert_points(b))
    shard.optimize()
    shard.flush()
    shard.close()
    opens = []
    for _ in range(REPS):
        t = time.perf_counter()
        s = qe.EdgeShard.load(path)
        opens.append(time.perf_counter() - t)
        n = s.info().points_count
        s.close()
        assert n == len(glove), n
    out["open"] = {"dataset": GLOVE, "n": len(glove), "open_persisted_s": min(opens), "open_persisted_runs": opens}
    log(f"qdrant-edge open: {min(opens):.3f} s")
    shutil.rmtree(path, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------------
# lancedb


def lance(args, data, scratch):
    import lancedb
    import pyarrow as pa

    out = {
        "engine": "lancedb", "version": _version("lancedb"), "dataset": SENT, "n": data.n, "dim": data.dim,
        "durability": (
            "table.add() writes new data files and a manifest with write(), without fsync (checked with "
            "strace: no sync call during add): an acknowledged add survives a process crash, not a power loss."
        ),
    }

    def schema(dim, with_payload):
        fields = [pa.field("id", pa.uint64()), pa.field("vector", pa.list_(pa.float32(), dim))]
        if with_payload:
            fields += [pa.field("text", pa.string()), pa.field("row", pa.int64())]
        return pa.schema(fields)

    def batches(vectors, texts):
        sch = schema(vectors.shape[1], texts is not None)
        out = []
        for s in range(0, len(vectors), BATCH):
            ids = np.arange(s, min(s + BATCH, len(vectors)))
            cols = {
                "id": pa.array(ids, pa.uint64()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors[ids].ravel()), vectors.shape[1]),
            }
            if texts is not None:
                cols["text"] = pa.array([texts[i] for i in ids])
                cols["row"] = pa.array(ids, pa.int64())
            out.append(pa.table(cols, schema=sch))
        return out

    tables = batches(data.base, data.texts)

    def load(path):
        db = lancedb.connect(path)
        tbl = db.create_table("bench", schema=schema(data.dim, True))
        t = time.perf_counter()
        for b in tables:
            tbl.add(b)
        return db, tbl, time.perf_counter() - t

    path = os.path.join(scratch, "lance-no-index")
    _db, tbl, secs = load(path)
    size = disk_bytes(path)
    out["upsert_no_index"] = {
        "points": data.n, "batch": BATCH, "seconds": secs, "points_per_s": data.n / secs,
        "durability": "add() without fsync", "disk_bytes_after_load": size[0], "disk_allocated_after_load": size[1],
    }
    log(f"lancedb add: {data.n / secs:.0f} points/s")
    del tbl, _db
    shutil.rmtree(path, ignore_errors=True)

    def vector_index(tbl):
        # One partition: a single HNSW graph over the float vectors, as Grape's.
        tbl.create_index(
            metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_FLAT", num_partitions=1,
            m=M, ef_construction=EF_CONSTRUCT,
        )

    path = os.path.join(scratch, "lance-indexed")
    _db, tbl, secs = load(path)
    t = time.perf_counter()
    vector_index(tbl)
    idx = time.perf_counter() - t
    size = disk_bytes(path)
    out["upsert_indexed"] = {
        "points": data.n, "batch": BATCH, "seconds": secs + idx, "points_per_s": data.n / (secs + idx),
        "upsert_s": secs, "index_s": idx, "m": M, "ef_construct": EF_CONSTRUCT,
        "index": "IVF_HNSW_FLAT, 1 partition, cosine", "durability": "add() without fsync",
        "disk_bytes_after_flush": size[0], "disk_allocated_after_flush": size[1],
    }
    log(f"lancedb indexed: add {secs:.1f} s + index {idx:.1f} s")

    # Get by id: a filter on `id` with a BTREE scalar index.
    from lancedb.index import BTree

    tbl.create_index("id", config=BTree())
    ids = data.get_ids

    def gets(per_call):
        def run():
            found = 0
            for s in range(0, len(ids), per_call):
                chunk = ids[s:s + per_call]
                where = f"id = {chunk[0]}" if per_call == 1 else f"id IN ({', '.join(map(str, chunk))})"
                r = tbl.search().where(where).select(["id", "text", "row"]).limit(per_call).to_arrow()
                found += r.num_rows
            return found

        secs, found = best_of(run)
        want = expected(ids, per_call)
        assert found == want, (found, want)
        return len(ids) / secs

    get_ids_count = min(len(ids), args.lance_gets)
    ids = ids[:get_ids_count]
    out["get"] = {"ids": len(ids), "single_per_s": gets(1), "batch100_per_s": gets(100),
                  "how": "search().where('id = …' / 'id IN (…)') with a BTREE index on id"}
    log(f"lancedb get: {out['get']}")

    def search(q, ef, payload):
        cols = ["id", "text", "row"] if payload else ["id"]
        return lambda: tbl.search(q).distance_type("cosine").ef(ef).limit(K).select(cols).to_arrow()

    out["query"] = query_sweep(
        data,
        search,
        lambda q: lambda: tbl.search(q).distance_type("cosine").bypass_vector_index().limit(K).select(["id"]).to_arrow(),
        lambda req: req().column("id").to_pylist(),
        # Each search costs milliseconds of planning: fewer points, one timed pass each.
        efs=LANCE_EFS,
        reps=1,
    )
    del tbl, _db
    shutil.rmtree(path, ignore_errors=True)

    # Open time of glove50-100k with its index: connect + open_table, and the first query (Lance loads
    # the index lazily, on the first search).
    glove = read_vecs(f"{args.data}/{GLOVE}.base.fvecs", np.float32)[: args.open_limit]
    path = os.path.join(scratch, "lance-open")
    db = lancedb.connect(path)
    tbl = db.create_table("bench", schema=schema(glove.shape[1], False))
    for b in batches(glove, None):
        tbl.add(b)
    vector_index(tbl)
    del tbl, db
    opens, firsts = [], []
    for _ in range(REPS):
        t = time.perf_counter()
        db = lancedb.connect(path)
        tbl = db.open_table("bench")
        opened = time.perf_counter() - t
        tbl.search(glove[0]).distance_type("cosine").limit(K).select(["id"]).to_arrow()
        firsts.append(time.perf_counter() - t)
        opens.append(opened)
        del tbl, db
    out["open"] = {"dataset": GLOVE, "n": len(glove), "open_persisted_s": min(opens), "open_persisted_runs": opens,
                   "open_and_first_query_s": min(firsts)}
    log(f"lancedb open: {min(opens):.3f} s, with the first query {min(firsts):.3f} s")
    shutil.rmtree(path, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------------------
# Shared


def query_sweep(data, make, make_exact, run, efs=EFS, reps=REPS):
    """QPS (one query per call, best of `reps`) and recall@10 per ef; then, at the smallest ef reaching
    TARGET, the same with the payload returned; then exact search on at most 200 queries."""
    qlist = [q.tolist() for q in data.queries]
    runs, chosen = [], None
    for ef in efs:
        reqs = [make(q, ef, False) for q in qlist]
        secs, found = best_of(lambda: [run(r) for r in reqs], reps)
        r = recall(found, data.gt)
        runs.append({"ef": ef, "recall": r, "qps": len(reqs) / secs})
        log(f"  ef {ef:>4} recall {r:.4f} QPS {len(reqs) / secs:.0f}")
        if chosen is None and r >= TARGET:
            chosen = ef
    out = {"k": K, "queries": len(qlist), "target_recall": TARGET, "runs": runs}
    if chosen is not None:
        reqs = [make(q, chosen, True) for q in qlist]
        secs, found = best_of(lambda: [run(r) for r in reqs], reps)
        out["with_payload"] = {"ef": chosen, "recall": recall(found, data.gt), "qps": len(reqs) / secs}
    m = min(len(qlist), 200)
    reqs = [make_exact(q) for q in qlist[:m]]
    secs, found = best_of(lambda: [run(r) for r in reqs], reps)
    out["exact"] = {"queries": m, "recall": recall(found, data.gt[:m]), "qps": m / secs}
    return out


def _version(dist):
    from importlib.metadata import version

    return version(dist)


def child(args):
    data = Data(args)
    os.makedirs(args.scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{args.engine}-", dir=args.scratch) as scratch:
        fn = {"qdrant-edge": qdrant_edge, "lancedb": lance}[args.engine]
        result = fn(args, data, scratch)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{args.engine}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    log(f"wrote {path}")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="bench/out/storage")
    p.add_argument("--scratch", default="target/storage-bench")
    p.add_argument("--limit-queries", type=int, default=0)
    p.add_argument("--gets", type=int, default=200_000)
    p.add_argument("--lance-gets", type=int, default=2_000, help="lancedb gets (each is a planned query)")
    p.add_argument("--open-limit", type=int, default=None)
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--engine", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.engine:
        child(args)
        return 0
    status = 0
    for engine in args.engines.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), *argv, "--engine", engine]
        log(f"{engine}: start")
        rc = subprocess.call(cmd)
        if rc != 0:
            log(f"{engine}: FAILED (exit {rc})")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
