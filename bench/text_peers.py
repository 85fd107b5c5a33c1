#!/usr/bin/env python3
"""Text and hybrid peers for bench/run-text.sh: bm25s, tantivy, exact dense (numpy) and RRF, on BEIR-layout data.

For each engine and collection it writes a TREC run file `<out>/<engine>-<dataset>.run` (top 100 per query) and a
JSON `<out>/<engine>-<dataset>.json` with the timings; bench/text_eval.py evaluates them.

- bm25s (method "lucene", k1 = 1.2, b = 0.75, bm25s's English stop words, PyStemmer Snowball `english`).
  Index time = tokenising the corpus + `BM25.index`. QPS one at a time: `tokenize` + `retrieve(k=100)` per query;
  QPS batch: one `tokenize` + `retrieve(k=100, n_threads=1)` over all queries.
- tantivy (`en_stem` tokenizer, BM25 with its fixed k1 = 1.2, b = 0.75), index writer with one thread, one commit.
  QPS: one query at a time, `index.parse_query` + `searcher.search(query, 100)`; the stored ids of the hits are
  read after the clock stops. Query text is lower-cased and non-word characters become spaces first, so that the
  query parser sees no operators (en_stem splits on them anyway).
- dense (scifact only, needs minilm384-scifact.{base,query}.fvecs): exact cosine with numpy, top 100.
- rrf: Reciprocal Rank Fusion of the bm25s and dense top-100 lists, score = sum of 1 / (60 + rank), rank 1-based
  (Cormack et al. 2009); ties by document order in the corpus.

Every timing is the best of 3 passes. Thread-count variables are set to 1 before numpy loads.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from text_eval import write_run  # noqa: E402

K = 100
K1, B = 1.2, 0.75
RRF_K = 60
REPEATS = 3
ENGINES = ("bm25s", "tantivy", "dense", "rrf")


def log(msg):
    print(f"[text_peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def load(data_dir, dataset):
    d = os.path.join(data_dir, dataset)
    corpus = read_jsonl(os.path.join(d, "corpus.jsonl"))
    queries = read_jsonl(os.path.join(d, "queries.jsonl"))
    doc_ids = [c["_id"] for c in corpus]
    texts = [c.get("title", "") + " " + c.get("text", "") for c in corpus]
    return doc_ids, texts, [q["_id"] for q in queries], [q["text"] for q in queries]


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    return np.ascontiguousarray(raw.reshape(-1, d + 1)[:, 1:].view(np.float32))


def best_of(fn, repeats=REPEATS):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def save(out_dir, engine, dataset, results, info):
    run_path = os.path.join(out_dir, f"{engine}-{dataset}.run")
    write_run(run_path, results, engine)
    info = {"engine": engine, "dataset": dataset, "k": K, "threads": 1, **info}
    with open(os.path.join(out_dir, f"{engine}-{dataset}.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    log(f"{engine} {dataset}: wrote {run_path}")


# ---------------------------------------------------------------------------------------------------------


def run_bm25s(doc_ids, texts, qids, qtexts):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")

    def build():
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
        retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
        retriever.index(tokens, show_progress=False)
        return retriever, tokens.vocab

    index_s, (retriever, vocab) = best_of(build)

    def query_tokens(qs):
        # As strings: retrieve() maps them through the corpus vocabulary and drops unknown ones.
        return bm25s.tokenize(qs, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)

    def batch():
        return retriever.retrieve(query_tokens(qtexts), k=K, n_threads=1, show_progress=False)

    batch_s, (docs, scores) = best_of(batch)

    def one_at_a_time():
        for q in qtexts:
            retriever.retrieve(query_tokens([q]), k=K, n_threads=1, show_progress=False)

    single_s, _ = best_of(one_at_a_time)
    results = {}
    for qi, qid in enumerate(qids):
        # bm25s fills the top k with zero-score documents when fewer match: drop them, as the other engines do.
        results[qid] = [(doc_ids[d], float(s)) for d, s in zip(docs[qi], scores[qi]) if s > 0]
    info = {
        "version": importlib.metadata.version("bm25s"),
        "settings": f"method=lucene k1={K1} b={B} stopwords=en stemmer=PyStemmer english "
                    f"{importlib.metadata.version('PyStemmer')}; token_pattern \\b\\w\\w+\\b; vocab {len(vocab)}",
        "index_seconds": index_s,
        "qps_one_at_a_time": len(qids) / single_s,
        "qps_batch": len(qids) / batch_s,
        "query_mode": "one-at-a-time (tokenize + retrieve per query); batch = one retrieve(n_threads=1)",
    }
    return results, info


def run_tantivy(doc_ids, texts, qids, qtexts):
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    sb.add_text_field("body", stored=False, tokenizer_name="en_stem")
    schema = sb.build()

    def build():
        # A fresh in-RAM index per pass (no disk I/O in the timing), one writer thread, one commit.
        index = tantivy.Index(schema)
        writer = index.writer(heap_size=256_000_000, num_threads=1)
        for did, text in zip(doc_ids, texts):
            writer.add_document(tantivy.Document(id=did, body=text))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        return index

    index_s, index = best_of(build)
    searcher = index.searcher()
    clean = [re.sub(r"\W+", " ", q.lower()).strip() for q in qtexts]

    def one_at_a_time():
        hits = []
        for q in clean:
            query = index.parse_query(q, ["body"])
            hits.append(searcher.search(query, K).hits)
        return hits

    single_s, hits = best_of(one_at_a_time)
    results = {}
    for qid, qhits in zip(qids, hits):
        results[qid] = [(searcher.doc(addr)["id"][0], float(score)) for score, addr in qhits]
    info = {
        "version": importlib.metadata.version("tantivy"),
        "settings": "tokenizer en_stem; BM25 k1=1.2 b=0.75 (fixed in tantivy); query: lower-cased, \\W+ -> space, "
                    "parse_query over the body field (OR of terms); in-RAM index, writer num_threads=1; "
                    f"segments {searcher.num_segments}",
        "index_seconds": index_s,
        "qps_one_at_a_time": len(qids) / single_s,
        "qps_batch": None,
        "query_mode": "one-at-a-time (parse_query + search per query, ids read after timing)",
    }
    return results, info


def run_dense(doc_ids, qids, data_dir, name):
    base = read_fvecs(os.path.join(data_dir, f"{name}.base.fvecs"))
    queries = read_fvecs(os.path.join(data_dir, f"{name}.query.fvecs"))
    if len(base) != len(doc_ids) or len(queries) != len(qids):
        raise SystemExit(f"{name}: {len(base)} x {len(queries)} vectors for {len(doc_ids)} docs x {len(qids)} queries")
    b = base / np.linalg.norm(base, axis=1, keepdims=True)

    def one_at_a_time():
        out = []
        for q in queries:
            sims = b @ (q / np.linalg.norm(q))
            top = np.argpartition(-sims, K)[:K]
            top = top[np.lexsort((top, -sims[top]))]
            out.append((top, sims[top]))
        return out

    single_s, found = best_of(one_at_a_time)
    results = {qid: [(doc_ids[d], float(s)) for d, s in zip(top, sims)] for qid, (top, sims) in zip(qids, found)}
    info = {
        "version": f"numpy {np.__version__}",
        "settings": f"exact cosine, float32, {name} ({base.shape[1]}-d)",
        "index_seconds": None,
        "qps_one_at_a_time": len(qids) / single_s,
        "qps_batch": None,
        "query_mode": "one-at-a-time (matrix-vector product + argpartition)",
    }
    return results, info


def rrf(lists, doc_order, k=RRF_K):
    """lists: [{qid: [(docid, score), ...] best first}]. Returns the fused top K per query."""
    out = {}
    for qid in lists[0]:
        fused = {}
        for ranking in lists:
            for rank, (docid, _) in enumerate(ranking.get(qid, []), 1):
                fused[docid] = fused.get(docid, 0.0) + 1.0 / (k + rank)
        ranked = sorted(fused.items(), key=lambda p: (-p[1], doc_order[p[0]]))
        out[qid] = ranked[:K]
    return out


# ---------------------------------------------------------------------------------------------------------


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="directory holding <dataset>/corpus.jsonl etc.")
    p.add_argument("--dataset", required=True)
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--dense", default=None, help="fvecs name prefix of the dense embeddings (e.g. minilm384-scifact)")
    p.add_argument("--out", default="bench/out/text")
    args = p.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    for e in engines:
        if e not in ENGINES:
            raise SystemExit(f"unknown engine {e}; known: {', '.join(ENGINES)}")
    os.makedirs(args.out, exist_ok=True)
    doc_ids, texts, qids, qtexts = load(args.data, args.dataset)
    meta = {"docs": len(doc_ids), "queries": len(qids)}
    log(f"{args.dataset}: {len(doc_ids)} docs, {len(qids)} queries; engines {', '.join(engines)}")
    done = {}
    if "bm25s" in engines or "rrf" in engines:
        done["bm25s"] = run_bm25s(doc_ids, texts, qids, qtexts)
    if "tantivy" in engines:
        done["tantivy"] = run_tantivy(doc_ids, texts, qids, qtexts)
    if args.dense and ("dense" in engines or "rrf" in engines):
        done["dense"] = run_dense(doc_ids, qids, args.data, args.dense)
    if "rrf" in engines and "dense" in done:
        order = {d: i for i, d in enumerate(doc_ids)}
        fused = rrf([done["bm25s"][0], done["dense"][0]], order)
        done["rrf"] = (fused, {"version": "bm25s + numpy", "settings": f"RRF k={RRF_K} (1-based ranks) of bm25s and "
                                                                    "dense top-100", "index_seconds": None,
                               "qps_one_at_a_time": None, "qps_batch": None})
    for engine, (results, info) in done.items():
        if engine not in engines:
            continue
        save(args.out, engine, args.dataset, results, {**meta, **info})
        figures = [f"{label} {info[key]:,.3f}" if key == "index_seconds" else f"{label} {info[key]:,.0f}"
                   for key, label in (("index_seconds", "index s"), ("qps_one_at_a_time", "QPS one at a time"),
                                      ("qps_batch", "QPS batch")) if info.get(key) is not None]
        log(f"{engine} {args.dataset}: {', '.join(figures) or 'no timings'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
