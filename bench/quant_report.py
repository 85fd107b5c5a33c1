#!/usr/bin/env python3
"""Turn the quantization results (grape-bench quant, bench/quant_peers.py) into the docs/bench/README.md block.

Reads every `<engine>-<variant>-<dataset>.json` in --out (files without the quant schema are skipped) and rewrites
only the block between `<!-- quant:begin -->` and `<!-- quant:end -->` of `<docs>/README.md` (the markers are
appended at the end of the file when absent; everything outside them stays as it is). Per dataset: one table
row per engine + variant (a PQ variant carries its m), the issue-4 checks on Grape's files with PASS / FAIL and
their numbers, Grape / faiss QPS ratios at equal recall, and every measured point (collapsed).
Missing Grape files are reported in the block, not fatal.
"""

import argparse
import datetime
import os
import platform
import re
import shlex
import statistics
import sys

from blocks import read_results, replace_block

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import machine  # noqa: E402  (same machine line as the ANN report)

BEGIN = "<!-- quant:begin -->"
END = "<!-- quant:end -->"
REQUIRED_KEYS = (
    "engine", "variant", "dataset", "n", "dim", "queries", "k", "build_s", "code_bytes_per_vector",
    "float_bytes_per_vector", "keeps_originals", "points",
)
SETTING_KEYS = ("n", "dim", "queries", "k")
ENGINE_ORDER = ["grape", "faiss"]
VARIANT_ORDER = [
    "float", "int8", "int8-rescore", "binary-rescore", "pq-rescore",  # grape
    "hnsw-flat", "hnsw-sq8", "pq", "pq-refine", "ivfpq", "ivfpq-refine",  # faiss
]
HIGH, LOW = 0.95, 0.90
INT8_RESCORE_OVERSAMPLING = 2
INT8_RECALL_FACTOR = 0.99
INT8_MIN_COMPRESSION = 4.0
BINARY_MAX_OVERSAMPLING = 4
BINARY_MIN_COMPRESSION = 32.0
PQ_MIN_RECALL, PQ_MIN_COMPRESSION = 0.90, 8.0


def log(msg):
    print(f"[quant-report] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_results(out_dir):
    """{dataset: {(engine, variant): result}}; files that are not quant results are skipped with a message."""
    results = {}
    for path, r in read_results(out_dir, REQUIRED_KEYS, log):
        bad = [p for p in r["points"] if not isinstance(p, dict) or "recall" not in p or "qps" not in p]
        if bad or not r["points"]:
            log(f"skipping {path}: points without recall/qps")
            continue
        key = (r["engine"], r["variant"])
        by = results.setdefault(r["dataset"], {})
        if key in by:
            log(f"WARNING: {path} and {by[key]['_path']} are both {key} on {r['dataset']}; keeping the newer")
            if by[key]["_mtime"] > r["_mtime"]:
                continue
        by[key] = r
    return results


def variant_family(variant):
    """'pq96-rescore' -> ('pq-rescore', 96); 'ivfpq25' -> ('ivfpq', 25); 'int8' -> ('int8', None)."""
    m = re.match(r"^(ivfpq|pq)(\d+)(.*)$", variant)
    if m:
        return m.group(1) + m.group(3), int(m.group(2))
    return variant, None


def pq_m(r):
    fam, m = variant_family(r["variant"])
    if m is None:
        m = (r.get("params") or {}).get("m") if fam.startswith(("pq", "ivfpq")) else None
    return m


def sort_key(key_and_r):
    (engine, variant), _ = key_and_r
    fam, m = variant_family(variant)
    return (
        ENGINE_ORDER.index(engine) if engine in ENGINE_ORDER else len(ENGINE_ORDER),
        engine,
        VARIANT_ORDER.index(fam) if fam in VARIANT_ORDER else len(VARIANT_ORDER),
        fam,
        -(m or 0),
    )


def compression(r):
    code = r["code_bytes_per_vector"]
    return r["float_bytes_per_vector"] / code if code else float("inf")


# ---------------------------------------------------------------------------------------------------------
# Points


def knobs(p):
    parts = []
    for key in ("ef", "nprobe", "oversampling"):
        if p.get(key) is None or (key == "oversampling" and not p.get("rescore") and p[key] == 1):
            continue  # oversampling 1 without rescoring is the plain search
        parts.append(f"{key} {p[key]:g}" if isinstance(p[key], float) else f"{key} {p[key]}")
    if p.get("rescore"):
        parts.append("rescore")
    if p.get("ef") is None and p.get("nprobe") is None and p.get("m") is not None:
        parts.insert(0, "full scan")  # brute-force PQ (faiss IndexPQ)
    return ", ".join(parts) or "—"


def best_at(r, target):
    ok = [p for p in r["points"] if p["recall"] >= target]
    return max(ok, key=lambda p: p["qps"]) if ok else None


def max_recall(r):
    return max(r["points"], key=lambda p: (p["recall"], p["qps"]))


def plain_points_by_ef(r):
    """{ef: point} of the points without rescoring (the lowest oversampling when several share an ef)."""
    out = {}
    for p in r["points"]:
        if p.get("ef") is None or p.get("rescore"):
            continue
        cur = out.get(p["ef"])
        if cur is None or (p.get("oversampling") or 0) < (cur.get("oversampling") or 0):
            out[p["ef"]] = p
    return out


def rescored_points_by_ef(r, oversampling):
    """{ef: point} of the rescored points at this oversampling."""
    return {p["ef"]: p for p in r["points"]
            if p.get("ef") is not None and p.get("rescore") and p.get("oversampling") == oversampling}


def fmt_qps(q):
    return f"{q:,.0f}"


def fmt_x(x):
    return "∞" if x == float("inf") else f"{x:.1f}×" if x < 100 else f"{x:.0f}×"


def name(key):
    engine, variant = key
    return f"{engine} {variant}"


# ---------------------------------------------------------------------------------------------------------
# Sections


def summary_table(by):
    lines = [
        f"| engine | variant | PQ m | code B/vector | compression vs float32 | keeps originals | build s | RSS delta MB "
        f"| best QPS @ recall ≥ {HIGH:.2f} | at | best QPS @ recall ≥ {LOW:.2f} | at | max recall | at |",
        "|---|---|--:|--:|--:|:-:|--:|--:|--:|---|--:|---|--:|---|",
    ]
    for key, r in sorted(by.items(), key=sort_key):
        cells = [r["engine"], r["variant"], str(pq_m(r) or "—"), f"{r['code_bytes_per_vector']:g}",
                 fmt_x(compression(r)), "yes" if r["keeps_originals"] else "no",
                 f"{r['build_s']:.1f}" if isinstance(r["build_s"], (int, float)) else "—"]
        rss = r.get("rss_delta_bytes")
        cells.append(f"{rss / 1e6:.1f}" if isinstance(rss, (int, float)) else "—")
        for target in (HIGH, LOW):
            b = best_at(r, target)
            cells += [fmt_qps(b["qps"]), knobs(b)] if b else ["not reached", "—"]
        top = max_recall(r)
        cells += [f"{top['recall']:.4f}", knobs(top)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def check_line(ok, label, text):
    status = "**PASS**" if ok is True else "**FAIL**" if ok is False else "not evaluated"
    return f"- {status} {label}: {text}"


def checks(dataset, by, out_dir):
    lines = []
    g = {v: r for (e, v), r in by.items() if e == "grape"}
    dim = next(iter(by.values()))["dim"]

    def missing(*variants):
        return "no " + " / ".join(f"`grape-{v}-{dataset}.json`" for v in variants) + f" in `{out_dir}`"

    # (a) int8 against float at the same ef: the codes alone (originals dropped), and the codes with
    # the top k x 2 rescored from the originals (which a database keeps on disk: only 20 are read
    # per query).
    fl = g.get("float")
    variants = [("int8", "int8 codes only", lambda r: plain_points_by_ef(r)),
                ("int8-rescore", f"int8 + rescoring (oversampling {INT8_RESCORE_OVERSAMPLING:g})",
                 lambda r: rescored_points_by_ef(r, INT8_RESCORE_OVERSAMPLING))]
    for variant, name, pick in variants:
        i8 = g.get(variant)
        if not fl or not i8:
            absent = [v for v in ("float", variant) if v not in g]
            lines.append(check_line(None, f"(a) {name}", missing(*absent)))
            continue
        fp, ip = plain_points_by_ef(fl), pick(i8)
        efs = sorted(set(fp) & set(ip))
        if not efs:
            lines.append(check_line(None, f"(a) {name} vs float", "no ef measured by both"))
            continue
        worst = min(efs, key=lambda ef: ip[ef]["recall"] - INT8_RECALL_FACTOR * fp[ef]["recall"])
        rec_ok = all(ip[ef]["recall"] >= INT8_RECALL_FACTOR * fp[ef]["recall"] for ef in efs)
        per_ef = ", ".join(f"ef {ef}: {ip[ef]['recall']:.4f} vs {fp[ef]['recall']:.4f}" for ef in efs)
        lines.append(check_line(
            rec_ok, f"(a) {name}: recall ≥ {INT8_RECALL_FACTOR} × float recall at every ef ({len(efs)} ef values)",
            f"tightest at ef {worst}: {ip[worst]['recall']:.4f} vs {INT8_RECALL_FACTOR} × {fp[worst]['recall']:.4f} "
            f"= {INT8_RECALL_FACTOR * fp[worst]['recall']:.4f} ({per_ef})"))
        ratios = {ef: ip[ef]["qps"] / fp[ef]["qps"] for ef in efs}
        vals = list(ratios.values())
        lines.append(check_line(
            min(vals) >= 1.0, f"(a) {name}: QPS ≥ float QPS at every ef",
            f"int8/float QPS min {min(vals):.2f}× (ef {min(ratios, key=ratios.get)}), median "
            f"{statistics.median(vals):.2f}×, max {max(vals):.2f}×; per ef: "
            + ", ".join(f"{ef}: {x:.2f}×" for ef, x in ratios.items())))
    i8 = g.get("int8")
    if fl and i8:
        c_i8, c_fl = i8["code_bytes_per_vector"], fl["code_bytes_per_vector"]
        ratio = c_fl / c_i8 if c_i8 else float("inf")
        lines.append(check_line(
            ratio >= INT8_MIN_COMPRESSION, f"(a) int8 code ≥ {INT8_MIN_COMPRESSION:g}× smaller than float",
            f"{c_i8:g} vs {c_fl:g} B/vector = {ratio:.2f}× (float32 = {i8['float_bytes_per_vector']} B)"))

    # (b) binary + rescore on the 384-d set.
    b = g.get("binary-rescore")
    label_b = (f"(b) binary + rescore: recall ≥ {HIGH:.2f} with oversampling ≤ {BINARY_MAX_OVERSAMPLING}, "
               f"quantized part ≥ {BINARY_MIN_COMPRESSION:g}× smaller")
    if dim != 384:
        if not b:
            lines.append(f"- (b) applies to the 384-d set only (this one is {dim}-d)")
        else:
            bb = best_at(b, HIGH)
            lines.append(f"- (b) applies to the 384-d set only (this one is {dim}-d); for information: "
                         f"{compression(b):.1f}× compression, max recall {max_recall(b)['recall']:.4f}"
                         + (f", best QPS at ≥ {HIGH:.2f}: {fmt_qps(bb['qps'])} ({knobs(bb)})" if bb else ""))
    elif not b:
        lines.append(check_line(None, label_b, missing("binary-rescore")))
    else:
        ok_pts = [p for p in b["points"] if p["recall"] >= HIGH and p.get("oversampling") is not None
                  and p["oversampling"] <= BINARY_MAX_OVERSAMPLING]
        comp = compression(b)
        low_os = [p for p in b["points"] if p.get("oversampling") is not None and p["oversampling"] <= BINARY_MAX_OVERSAMPLING]
        best_low = max(low_os, key=lambda p: p["recall"]) if low_os else None
        detail = (f"best recall with oversampling ≤ {BINARY_MAX_OVERSAMPLING}: "
                  + (f"{best_low['recall']:.4f} ({knobs(best_low)})" if best_low else "no such point"))
        if ok_pts:
            fastest = max(ok_pts, key=lambda p: p["qps"])
            detail += f"; fastest point reaching {HIGH:.2f}: {fmt_qps(fastest['qps'])} QPS ({knobs(fastest)})"
        detail += f"; code {b['code_bytes_per_vector']:g} B/vector vs float32 {b['float_bytes_per_vector']} B = {comp:.1f}×"
        lines.append(check_line(bool(ok_pts) and comp >= BINARY_MIN_COMPRESSION, label_b, detail))

    # (c) PQ + rescore at >= 8x.
    pqs = {v: r for v, r in g.items() if variant_family(v)[0] == "pq-rescore"}
    label_c = f"(c) PQ + rescore: recall ≥ {PQ_MIN_RECALL:.2f} at ≥ {PQ_MIN_COMPRESSION:g}× compression"
    if not pqs:
        lines.append(check_line(None, label_c, missing("pq<m>-rescore")))
    else:
        found, parts = [], []
        for v, r in sorted(pqs.items(), key=lambda kv: -(pq_m(kv[1]) or 0)):
            comp, bp, top = compression(r), best_at(r, PQ_MIN_RECALL), max_recall(r)
            parts.append(f"{v}: {comp:.1f}×, max recall {top['recall']:.4f} ({knobs(top)})"
                         + (f", fastest ≥ {PQ_MIN_RECALL:.2f}: {fmt_qps(bp['qps'])} QPS ({knobs(bp)})" if bp else ""))
            if bp and comp >= PQ_MIN_COMPRESSION:
                found.append(v)
        lines.append(check_line(bool(found), label_c,
                                (f"met by {', '.join(found)}; " if found else "") + "; ".join(parts)))
    return lines


def ratios_vs_faiss(by):
    """Grape / faiss QPS at equal recall: rows (grape variant, faiss variant, target)."""
    pairs = [("float", "hnsw-flat", HIGH), ("int8", "hnsw-sq8", HIGH), ("int8-rescore", "hnsw-sq8", HIGH)]
    g = {v: r for (e, v), r in by.items() if e == "grape"}
    f = {v: r for (e, v), r in by.items() if e == "faiss"}
    for v, r in sorted(g.items(), key=lambda kv: -(pq_m(kv[1]) or 0)):
        if variant_family(v)[0] == "pq-rescore":
            m = pq_m(r)
            same_m = [fv for fv in f if variant_family(fv) in (("pq-refine", m), ("ivfpq-refine", m))]
            # Without a faiss file of the same m: the faiss PQ files compressing at least as much.
            others = [] if same_m else [
                fv for fv in f if variant_family(fv)[0] in ("pq-refine", "ivfpq-refine")
                and compression(f[fv]) >= compression(r)]
            pairs += [(v, fv, LOW) for fv in sorted(same_m) + sorted(others)]
    lines = [
        "| Grape variant | faiss variant | recall target | Grape QPS (at) | faiss QPS (at) | Grape / faiss |",
        "|---|---|--:|--:|--:|--:|",
    ]
    rows = 0
    for gv, fv, target in pairs:
        if gv not in g or fv not in f:
            continue
        gb, fb = best_at(g[gv], target), best_at(f[fv], target)
        gq = f"{fmt_qps(gb['qps'])} ({knobs(gb)})" if gb else "not reached"
        fq = f"{fmt_qps(fb['qps'])} ({knobs(fb)})" if fb else "not reached"
        ratio = f"{gb['qps'] / fb['qps']:.2f}×" if gb and fb else "—"
        lines.append(f"| {gv} ({fmt_x(compression(g[gv]))}) | {fv} ({fmt_x(compression(f[fv]))}) | {target:.2f} | {gq} | {fq} "
                     f"| {ratio} |")
        rows += 1
    if rows == 0:
        return ["No Grape / faiss pair with both files present."]
    return lines


def points_table(by):
    lines = ["<details><summary>All measured points</summary>", "",
             "| engine | variant | PQ m | params | recall@10 | QPS |", "|---|---|--:|---|--:|--:|"]
    for key, r in sorted(by.items(), key=sort_key):
        for p in r["points"]:
            m = pq_m(r)  # grape-bench puts m = dim into its int8 points: the column is for PQ only
            lines.append(f"| {r['engine']} | {r['variant']} | {m or '—'} | {knobs(p)} | {p['recall']:.4f} | {fmt_qps(p['qps'])} |")
    lines += ["", "</details>"]
    return lines


def dataset_section(dataset, by, out_dir):
    any_r = next(iter(by.values()))
    lines = [f"### {dataset} ({any_r['n']:,} × {any_r['dim']}, {any_r['queries']:,} queries, k = {any_r['k']})", ""]
    differing = {k for k in SETTING_KEYS if len({r[k] for r in by.values()}) > 1}
    if differing:
        detail = "; ".join(f"{k}: " + ", ".join(f"{name(key)}={r[k]}" for key, r in sorted(by.items(), key=sort_key))
                           for k in sorted(differing))
        lines += [f"**Warning: the files did not run the same setting, figures are not comparable** ({detail}).", ""]
    expected = ["float", "int8", "int8-rescore", "binary-rescore"]
    have = {v for (e, v) in by if e == "grape"}
    absent = [v for v in expected if v not in have]
    if not any(variant_family(v)[0] == "pq-rescore" for v in have):
        absent.append("pq<m>-rescore")
    if absent:
        lines += ["**Grape results missing** for " + ", ".join(f"`grape-{v}-{dataset}.json`" for v in absent)
                  + f" (not in `{out_dir}`).", ""]
    lines += summary_table(by)
    lines += ["", "Issue 4 checks (Grape's own files):", ""]
    lines += checks(dataset, by, out_dir)
    lines += ["", "Grape / faiss QPS at equal recall (best QPS among each one's points reaching the target):", ""]
    lines += ratios_vs_faiss(by)
    lines += [""]
    lines += points_table(by)
    lines += [""]
    return lines


def render(results, args):
    now = datetime.datetime.now(datetime.timezone.utc)
    mtimes = [r["_mtime"] for by in results.values() for r in by.values()]
    versions = {}
    for by in results.values():
        for (e, _), r in by.items():
            versions.setdefault(e, set()).add(str(r.get("version", "?")))
    lines = [BEGIN, f"<!-- generated by bench/quant_report.py from {args.out}/*.json; edits inside this block are lost -->", ""]
    lines.append("## Quantization benchmark: Grape float / int8 / binary / PQ against faiss")
    lines.append("")
    lines.append(f"- Command: `{args.command}`")
    span = "—"
    if mtimes:
        lo = datetime.datetime.fromtimestamp(min(mtimes), datetime.timezone.utc)
        hi = datetime.datetime.fromtimestamp(max(mtimes), datetime.timezone.utc)
        span = f"{lo:%Y-%m-%d %H:%M} – {hi:%H:%M} UTC"
    lines.append(f"- Report date: {now:%Y-%m-%d %H:%M} UTC; result files written {span}")
    lines.append(f"- Machine: {machine()}")
    lines.append("- Versions: " + (", ".join(f"{e} {'/'.join(sorted(v))}" for e, v in sorted(versions.items())) or "—")
                 + f"; Python {platform.python_version()}")
    lines.append(
        "- Settings: cosine similarity (faiss: L2-normalised vectors + inner product), k = 10, recall@10 against the "
        "exact top-10, one thread. HNSW M = 16, ef_construction = 200. Grape (`grape-bench quant`) sends one query "
        "at a time, faiss gets all queries in one call, so per-call overhead counts against Grape only; QPS = "
        "queries / best wall time of up to 3 runs. Compression = float32 bytes (4·dim) / code bytes per vector; "
        "\"keeps originals\" = the float vectors stay in the index besides the codes, for rescoring (they are not "
        "in the code bytes). Grape's build s is its float graph build (the same graph for every variant; "
        "quantizer training is in `train_s`); faiss's is train + add of that index. PQ uses 8-bit codes (1 byte "
        "per sub-quantizer). Method: "
        "`bench/README.md`, section \"Quantization benchmark\"."
    )
    lines.append("")
    if not results:
        lines.append(f"No quant results in `{args.out}`.")
        lines.append("")
    for dataset in sorted(results):
        lines += dataset_section(dataset, results[dataset], args.out)
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_readme(path, block):
    replace_block(path, block, BEGIN, END,
                  "# Grape benchmarks\n\nHand-written notes go outside the generated blocks below.\n\n")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="bench/out/quant", help="directory with the result JSON files (default bench/out/quant)")
    p.add_argument("--docs", default="docs/bench", help="directory of the README.md to update (default docs/bench)")
    p.add_argument("--command", default=None, help="the benchmark command to quote in the report")
    args = p.parse_args(argv)
    if args.command is None:
        args.command = "python bench/quant_report.py " + " ".join(shlex.quote(a) for a in argv)
    results = load_results(args.out)
    for dataset, by in sorted(results.items()):
        log(f"{dataset}: {', '.join(name(k) for k, _ in sorted(by.items(), key=sort_key))}"
            + ("" if any(e == "grape" for e, _ in by) else " (grape missing)"))
    os.makedirs(args.docs, exist_ok=True)
    path = os.path.join(args.docs, "README.md")
    write_readme(path, render(results, args))
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
