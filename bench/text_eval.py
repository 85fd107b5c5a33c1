#!/usr/bin/env python3
"""Evaluate TREC run files (nDCG@10, Recall@100) and write the text block of docs/bench/README.md.

Definitions (trec_eval's `ndcg_cut.10` and `recall.100`, which BEIR reports through pytrec_eval):

- A run file has lines `qid Q0 docid rank score tag`. As trec_eval does, the `rank` column is ignored: each
  query's documents are ordered by score descending, ties by docid descending (string comparison).
- nDCG@10: DCG = sum over the first 10 documents of gain / log2(position + 1), position 1-based, gain = the
  qrel score of the document (graded; unjudged or score <= 0 gives 0). The ideal DCG sorts all the query's
  qrel scores (> 0) descending and takes the first 10. nDCG = DCG / ideal DCG.
- Recall@100: relevant documents (qrel score >= 1) among the first 100, divided by all relevant documents of
  the query.
- Averaged over the queries of the qrels that have at least one relevant document; queries without relevant
  documents are skipped, as BEIR does. A judged query that is missing from the run (or has no results) counts
  0, as `trec_eval -c` does (plain trec_eval and pytrec_eval would drop it, which flatters an engine that returns
  nothing). Document ids equal to the query id are NOT dropped (BEIR's `ignore_identical_ids` is not applied:
  on Cranfield query ids 1..225 and document ids 1..1400 share a namespace only by accident).

Subcommands:
  eval RUN... --qrels FILE [--check-pytrec]   print the metrics of each run (and compare with pytrec_eval)
  selftest                                     a hand-computed toy example (exits non-zero on mismatch)
  report --out DIR --docs FILE --data DIR      evaluate DIR/*.run, read DIR/*.json and rewrite the
                                               <!-- text:begin --> ... <!-- text:end --> block of FILE
"""

import argparse
import datetime
import json
import math
import os
import platform
import sys

from blocks import replace_block

BEGIN = "<!-- text:begin -->"
END = "<!-- text:end -->"
NDCG_K = 10
RECALL_K = 100

# ---------------------------------------------------------------------------------------------------------
# Files


def read_qrels(path):
    """BEIR qrels.tsv (header `query-id corpus-id score`) or TREC qrels (`qid 0 docid score`)."""
    qrels = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if n == 1 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) == 3:
                qid, docid, score = parts
            elif len(parts) == 4:
                qid, _, docid, score = parts
            else:
                raise SystemExit(f"{path}:{n}: expected 3 or 4 columns, got {len(parts)}")
            qrels.setdefault(qid, {})[docid] = int(score)
    return qrels


def read_run(path):
    """{qid: [(docid, score), ...]} ordered as trec_eval orders it: score descending, then docid descending."""
    run = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise SystemExit(f"{path}:{n}: expected `qid Q0 docid rank score tag`, got {len(parts)} columns")
            qid, _, docid, _, score, _ = parts
            docs = run.setdefault(qid, {})
            if docid in docs:
                raise SystemExit(f"{path}:{n}: document {docid} appears twice for query {qid}")
            docs[docid] = float(score)
    return {qid: sort_trec(docs.items()) for qid, docs in run.items()}


def sort_trec(pairs):
    # Two stable sorts: docid descending, then score descending.
    by_doc = sorted(pairs, key=lambda p: p[0], reverse=True)
    return sorted(by_doc, key=lambda p: p[1], reverse=True)


def write_run(path, results, tag):
    """results: {qid: [(docid, score), ...]} best first. Writes `qid Q0 docid rank score tag`, rank 1-based."""
    with open(path, "w") as f:
        for qid, hits in results.items():
            for rank, (docid, score) in enumerate(hits, 1):
                f.write(f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n")


# ---------------------------------------------------------------------------------------------------------
# Metrics


def ndcg_at(ranked, rels, k=NDCG_K):
    dcg = sum(max(rels.get(d, 0), 0) / math.log2(i + 2) for i, (d, _) in enumerate(ranked[:k]))
    ideal_gains = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked, rels, k=RECALL_K):
    relevant = {d for d, g in rels.items() if g >= 1}
    if not relevant:
        return 0.0
    return sum(1 for d, _ in ranked[:k] if d in relevant) / len(relevant)


def per_query(qrels, run):
    """{qid: (ndcg@10, recall@100)} over the judged queries that have a relevant document."""
    out = {}
    for qid, rels in qrels.items():
        if not any(g >= 1 for g in rels.values()):
            continue
        ranked = run.get(qid, [])
        out[qid] = (ndcg_at(ranked, rels), recall_at(ranked, rels))
    return out


def evaluate(qrels, run):
    pq = per_query(qrels, run)
    n = len(pq)
    return {
        "ndcg_at_10": sum(v[0] for v in pq.values()) / n if n else 0.0,
        "recall_at_100": sum(v[1] for v in pq.values()) / n if n else 0.0,
        "queries": n,
        "missing": sum(1 for q in pq if not run.get(q)),
    }


def check_pytrec(qrels, run, pq):
    """Largest per-query difference from pytrec_eval (over the queries that pytrec_eval evaluates)."""
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"})
    theirs = evaluator.evaluate({q: {d: s for d, s in hits} for q, hits in run.items() if hits})
    worst = 0.0
    for qid, m in theirs.items():
        ours = pq.get(qid, (0.0, 0.0))
        worst = max(worst, abs(ours[0] - m["ndcg_cut_10"]), abs(ours[1] - m["recall_100"]))
    return worst, len(theirs)


# ---------------------------------------------------------------------------------------------------------
# Self-test on a toy example, computed by hand


def selftest():
    qrels = {"q1": {"a": 2, "b": 1, "c": 0, "z": 1}, "q2": {"x": 1}, "q3": {"y": 0}}
    # Run ranks for q1: b (0.9), then a and c tie at 0.5 (trec_eval puts c before a: docid descending), then d.
    run = {"q1": sort_trec([("a", 0.5), ("b", 0.9), ("c", 0.5), ("d", 0.1)])}
    assert [d for d, _ in run["q1"]] == ["b", "c", "a", "d"], run
    # q1: DCG = 1/log2(2) + 0/log2(3) + 2/log2(4) + 0 = 1 + 1 = 2
    #     IDCG (gains 2, 1, 1) = 2/1 + 1/log2(3) + 1/2 = 2.5 + 0.6309298 = 3.1309298
    #     nDCG = 0.6387878; Recall@100 = 2 of {a, b, z} = 0.6666667
    # q2: missing from the run: 0, 0 (trec_eval -c).  q3: no relevant document: skipped.
    expected_q1 = 2 / (2.5 + 1 / math.log2(3))
    pq = per_query(qrels, run)
    assert set(pq) == {"q1", "q2"}, pq
    assert abs(pq["q1"][0] - 0.6387878) < 1e-6 and abs(pq["q1"][0] - expected_q1) < 1e-12, pq
    assert abs(pq["q1"][1] - 2 / 3) < 1e-12, pq
    assert pq["q2"] == (0.0, 0.0), pq
    m = evaluate(qrels, run)
    assert abs(m["ndcg_at_10"] - 0.6387878 / 2) < 1e-6 and abs(m["recall_at_100"] - 1 / 3) < 1e-12, m
    assert m["queries"] == 2 and m["missing"] == 1, m
    # The cut-offs count: a relevant document at position 11 adds nothing to nDCG@10, at 101 nothing to recall.
    ranked = [(f"n{i}", 100.0 - i) for i in range(10)] + [("a", 1.0)]
    assert ndcg_at(ranked, {"a": 1}) == 0.0 and recall_at(ranked, {"a": 1}) == 1.0
    ranked = [(f"n{i}", 1000.0 - i) for i in range(100)] + [("a", 1.0)]
    assert recall_at(ranked, {"a": 1}) == 0.0
    try:
        worst, _ = check_pytrec(qrels, run, pq)
        assert worst < 1e-9, f"pytrec_eval differs by {worst}"
        print("selftest: ok (hand-computed values; pytrec_eval agrees)")
    except ImportError:
        print("selftest: ok (hand-computed values; pytrec_eval not installed)")
    return 0


# ---------------------------------------------------------------------------------------------------------
# Report


ENGINES = [  # (run file stem, label, kind)
    ("grape-bm25", "Grape BM25", "bm25"),
    ("grape-bm25-min1", "Grape BM25, 1-character tokens kept", "bm25"),
    ("bm25s", "bm25s", "bm25"),
    ("tantivy", "tantivy", "bm25"),
    ("grape-dense", "Grape dense (FlatIndex)", "dense"),
    ("dense", "numpy dense", "dense"),
    ("grape-rrf", "Grape RRF (BM25 + dense)", "rrf"),
    ("rrf", "RRF bm25s + numpy dense", "rrf"),
]
NDCG_TOLERANCE = 0.005


def machine():
    model, mem = "?", "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            kb = next((int(l.split()[1]) for l in f if l.startswith("MemTotal:")), 0)
            mem = f"{kb / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores (nproc), CPU `{model}`, {mem} RAM, {platform.system()} {platform.release()}"


def rustc():
    import subprocess

    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "rustc ?"


def load_collection(out, dataset, data_dir, check):
    qrels = read_qrels(os.path.join(data_dir, dataset, "qrels.tsv"))
    rows = {}
    for stem, label, kind in ENGINES:
        run_path = os.path.join(out, f"{stem}-{dataset}.run")
        json_path = os.path.join(out, f"{stem}-{dataset}.json")
        if not os.path.exists(run_path):
            continue
        run = read_run(run_path)
        m = evaluate(qrels, run)
        if check:
            worst, n = check_pytrec(qrels, run, per_query(qrels, run))
            m["pytrec_max_diff"] = worst
            print(f"[text_eval] {stem}-{dataset}: pytrec_eval agrees on {n} queries within {worst:.1e}", file=sys.stderr)
        info = {}
        if os.path.exists(json_path):
            with open(json_path) as f:
                info = json.load(f)
        rows[stem] = {"label": label, "kind": kind, **m, "info": info}
    return qrels, rows


def fmt(x, spec, dash="—"):
    return dash if x is None else format(x, spec)


def collection_section(dataset, rows):
    lines = [f"### {dataset}", ""]
    any_info = next((r["info"] for r in rows.values() if r["info"]), {})
    if any_info:
        lines.append(f"{any_info.get('docs', '?'):,} documents, {any_info.get('queries', '?'):,} queries "
                     f"({next(iter(rows.values()))['queries']} with a relevant document are evaluated).")
        lines.append("")
    lines.append("| engine | nDCG@10 | Recall@100 | index s | QPS (one at a time) | QPS (batch) | version |")
    lines.append("|---|---|---|---|---|---|---|")
    for stem, r in rows.items():
        i = r["info"]
        lines.append(
            f"| {r['label']} | {r['ndcg_at_10']:.4f} | {r['recall_at_100']:.4f} | {fmt(i.get('index_seconds'), '.3f')} "
            f"| {fmt(i.get('qps_one_at_a_time'), ',.0f')} | {fmt(i.get('qps_batch'), ',.0f')} | {i.get('version', '?')} |"
        )
    lines.append("")
    g, b, t = rows.get("grape-bm25"), rows.get("bm25s"), rows.get("tantivy")

    def goal(ok, text):
        return f"- {'**met**' if ok else '**NOT met**'}: {text}"

    lines.append("Ratios and goals:")
    lines.append("")
    if g and b:
        d = g["ndcg_at_10"] - b["ndcg_at_10"]
        lines.append(goal(abs(d) <= NDCG_TOLERANCE,
                          f"Grape BM25 nDCG@10 − bm25s nDCG@10 = {d:+.4f} (goal: within ±{NDCG_TOLERANCE}); "
                          f"Recall@100 difference {g['recall_at_100'] - b['recall_at_100']:+.4f}"))
    else:
        lines.append("- Grape BM25 or bm25s missing: no nDCG comparison")
    gq = g and g["info"].get("qps_one_at_a_time")
    tq = t and t["info"].get("qps_one_at_a_time")
    if gq and tq:
        lines.append(goal(gq >= tq, f"Grape BM25 QPS / tantivy QPS = {gq / tq:.2f}× ({gq:,.0f} vs {tq:,.0f}, "
                                    "both one query at a time on one thread; goal ≥ 1.00×)"))
    else:
        lines.append("- Grape BM25 or tantivy QPS missing: no QPS comparison")
    gr, gd = rows.get("grape-rrf"), rows.get("grape-dense")
    if gr and gd and g:
        ok = gr["ndcg_at_10"] > g["ndcg_at_10"] and gr["ndcg_at_10"] > gd["ndcg_at_10"]
        lines.append(goal(ok, f"Grape RRF nDCG@10 {gr['ndcg_at_10']:.4f} > Grape BM25 {g['ndcg_at_10']:.4f} and "
                              f"> Grape dense {gd['ndcg_at_10']:.4f}"))
    if not gr and not gd:
        lines.append("- RRF goal: not applicable (no dense embeddings for this collection)")
    pr, pd = rows.get("rrf"), rows.get("dense")
    if pr and pd and b:
        ok = pr["ndcg_at_10"] > b["ndcg_at_10"] and pr["ndcg_at_10"] > pd["ndcg_at_10"]
        lines.append(f"- Python reference: RRF {pr['ndcg_at_10']:.4f} vs bm25s {b['ndcg_at_10']:.4f} and dense "
                     f"{pd['ndcg_at_10']:.4f} ({'above both' if ok else 'not above both'})")
    if gr and pr:
        lines.append(f"- Grape RRF − Python RRF nDCG@10: {gr['ndcg_at_10'] - pr['ndcg_at_10']:+.4f}")
    lines.append("")
    return lines


def render(out, data_dir, datasets, command, check):
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [BEGIN, f"<!-- generated by bench/text_eval.py from {out}; edits inside this block are lost -->", ""]
    lines.append("## Text and hybrid benchmark: Grape BM25 vs bm25s, tantivy; dense; RRF")
    lines.append("")
    lines.append(f"- Command: `{command}`")
    lines.append(f"- Report date: {now:%Y-%m-%d %H:%M} UTC")
    lines.append(f"- Machine: {machine()}; {rustc()}; Python {platform.python_version()}")
    lines.append(
        "- BM25 settings, every engine: k1 = 1.2, b = 0.75, Lucene IDF ln(1 + (N − df + 0.5)/(df + 0.5)), document = "
        "title + \" \" + text, top 100 per query, one thread. Tokenisation: lower-casing, English Snowball stemming; "
        "Grape: Unicode word boundaries (UAX #29) + CJK bigrams + bm25s's 33 English stop words + tokens of at "
        "least 2 characters (`--min-token-len 2`; the `min1` row keeps 1-character tokens, Grape's default) + "
        "rust-stemmers English; bm25s: regex `\\b\\w\\w+\\b` (drops 1-character tokens) + the same stop words + "
        "PyStemmer `english`; tantivy: `en_stem` "
        "(split on non-alphanumerics, drop tokens > 40 bytes, lower-case, Snowball English; no stop words)."
    )
    lines.append(
        "- QPS: queries / wall time, best of 3 passes, one query at a time, query tokenisation included. Grape: its Rust "
        "API (`TextIndex::search`). tantivy: one `parse_query` + `searcher.search(query, 100)` per query through the "
        "Python binding (ids resolved after the clock stops). bm25s: `tokenize` + `retrieve` per query; \"batch\" is one "
        "`tokenize` + `retrieve(k=100, n_threads=1)` over all queries. Index time: tokenisation + indexing of the whole "
        "corpus (Grape: `TextIndex::add` per document)."
    )
    lines.append(
        "- Dense: exact cosine over MiniLM-L6 384-d embeddings (`minilm384-scifact`, SciFact only): Grape `FlatIndex`, "
        "numpy reference. RRF: score = Σ 1/(60 + rank), rank 1-based, over the top-100 lists of BM25 and dense "
        "(Grape: Qdrant's convention k = 61 with 0-based positions, the same numbers)."
    )
    lines.append(
        "- Metrics: trec_eval `ndcg_cut.10` (graded gains = qrel score, log2 discount, ideal from the qrels) and "
        "`recall.100`, averaged over queries with a relevant document; ordering by score, ties by docid descending "
        "(as trec_eval). Checked against pytrec_eval per query" + (" in this run." if check else " (not in this run).")
    )
    commands_path = os.path.join(out, "commands.txt")
    if os.path.exists(commands_path):
        lines.append("")
        lines.append("Commands run (from the repository root; `bench/text_eval.py report` then evaluates every run file):")
        lines.append("")
        lines.append("```sh")
        lines.extend(l.rstrip("\n") for l in open(commands_path) if l.strip())
        lines.append("```")
    lines.append("")
    for ds in datasets:
        _, rows = load_collection(out, ds, data_dir, check)
        if not rows:
            lines.extend([f"### {ds}", "", f"No run files for {ds} in `{out}`.", ""])
            continue
        lines.extend(collection_section(ds, rows))
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_block(path, block):
    replace_block(path, block, BEGIN, END)


# ---------------------------------------------------------------------------------------------------------


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval", help="print nDCG@10 and Recall@100 of run files")
    e.add_argument("runs", nargs="+")
    e.add_argument("--qrels", required=True)
    e.add_argument("--check-pytrec", action="store_true", help="compare every query with pytrec_eval")
    sub.add_parser("selftest", help="hand-computed toy example")
    r = sub.add_parser("report", help="rewrite the text block of a README")
    r.add_argument("--out", default="bench/out/text")
    r.add_argument("--data", required=True)
    r.add_argument("--datasets", default="scifact,cranfield")
    r.add_argument("--docs", default="docs/bench/README.md")
    r.add_argument("--command", default="bench/run-text.sh")
    r.add_argument("--check-pytrec", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "selftest":
        return selftest()
    if args.cmd == "eval":
        qrels = read_qrels(args.qrels)
        for path in args.runs:
            run = read_run(path)
            m = evaluate(qrels, run)
            extra = ""
            if args.check_pytrec:
                worst, n = check_pytrec(qrels, run, per_query(qrels, run))
                extra = f"  pytrec_eval max |diff| {worst:.1e} over {n} queries"
            print(f"{path}: nDCG@10 {m['ndcg_at_10']:.4f}  Recall@100 {m['recall_at_100']:.4f}  "
                  f"queries {m['queries']} (missing {m['missing']}){extra}")
        return 0
    block = render(args.out, args.data, [d for d in args.datasets.split(",") if d], args.command, args.check_pytrec)
    write_block(args.docs, block)
    print(f"[text_eval] wrote the text block of {args.docs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
