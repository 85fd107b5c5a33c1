#!/usr/bin/env python3
"""Turn bench/out/*.json (grape-bench and bench/peers.py results) into docs/bench/README.md tables and plots.

Only the block between `<!-- ann:begin -->` and `<!-- ann:end -->` of the README is rewritten; hand-written
text around it stays. One recall-vs-QPS plot per dataset goes to `<docs>/ann-<dataset>.png`.
"""

import argparse
import datetime
import os
import platform
import shlex
import sys

from blocks import read_results, replace_block

BEGIN = "<!-- ann:begin -->"
END = "<!-- ann:end -->"
ENGINE_ORDER = ["grape", "hnswlib", "faiss", "usearch"]
PEERS_LABEL = {"hnswlib": "hnswlib", "faiss": "faiss IndexHNSWFlat", "usearch": "usearch"}
SETTING_KEYS = ("n", "dim", "queries", "m", "ef_construction", "threads")
REQUIRED_KEYS = ("engine", "version", "dataset", "build_seconds", "graph_bytes_per_point", "runs") + SETTING_KEYS


def log(msg):
    print(f"[report] {msg}", file=sys.stderr, flush=True)


def load_results(out_dir):
    results = {}
    for _, r in read_results(out_dir, REQUIRED_KEYS, log):
        results.setdefault(r["dataset"], {})[r["engine"]] = r
    return results


def engine_sort_key(name):
    return (ENGINE_ORDER.index(name) if name in ENGINE_ORDER else len(ENGINE_ORDER), name)


def best_at(result, target):
    """(qps, ef, recall) of the fastest run with recall >= target, or None."""
    ok = [r for r in result["runs"] if r["recall_at_10"] >= target]
    if not ok:
        return None
    best = max(ok, key=lambda r: r["qps"])
    return best["qps"], best["ef"], best["recall_at_10"]


def max_recall(result):
    top = max(result["runs"], key=lambda r: (r["recall_at_10"], -r["ef"]))
    return top["recall_at_10"], top["ef"]


# ---------------------------------------------------------------------------------------------------------
# Machine description (of the machine running the report, which run-ann.sh runs right after the benchmarks)


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores (nproc), CPU `{model}`, {mem} RAM, {platform.system()} {platform.release()}"


# ---------------------------------------------------------------------------------------------------------
# Formatting


def fmt_qps(q):
    return f"{q:,.0f}"


def fmt_ratio(x):
    return f"{x:.2f}×"


def label(engine):
    return PEERS_LABEL.get(engine, engine)


def plot(dataset, by_engine, target, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name in sorted(by_engine, key=engine_sort_key):
        r = by_engine[name]
        runs = sorted(r["runs"], key=lambda x: x["ef"])
        ax.plot(
            [x["recall_at_10"] for x in runs],
            [x["qps"] for x in runs],
            marker="o",
            markersize=4,
            linewidth=2.2 if name == "grape" else 1.4,
            label=f"{label(name)} {r['version']} ({r.get('query_mode', '?')})",
        )
    ax.axvline(target, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (1 thread, log scale)")
    any_r = next(iter(by_engine.values()))
    ax.set_title(
        f"{dataset}\nn={any_r['n']:,}, dim={any_r['dim']}, {any_r['queries']:,} queries, M={any_r['m']}, "
        f"ef_construction={any_r['ef_construction']}, k=10, cosine",
        fontsize=11,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def dataset_section(dataset, by_engine, target, png_name, out_dir):
    lines = []
    any_r = next(iter(by_engine.values()))
    lines.append(f"### {dataset} ({any_r['n']:,} × {any_r['dim']}, {any_r['queries']:,} queries)")
    lines.append("")

    settings = {k: {r[k] for r in by_engine.values()} for k in SETTING_KEYS}
    differing = {k: v for k, v in settings.items() if len(v) > 1}
    if differing:
        detail = "; ".join(
            f"{k}: " + ", ".join(f"{e}={by_engine[e][k]}" for e in sorted(by_engine, key=engine_sort_key))
            for k in differing
        )
        lines.append(f"**Warning: the engines did not run the same setting, figures are not comparable** ({detail}).")
        lines.append("")

    lines.append(f"![recall@10 vs QPS on {dataset}]({png_name})")
    lines.append("")
    lines.append(
        f"| engine | version | query mode | build s | RSS delta MB | graph B/point | best QPS @ recall ≥ {target} "
        f"| at ef | recall there | kernel |"
    )
    lines.append("|---|---|---|--:|--:|--:|--:|--:|--:|---|")
    engines = sorted(by_engine, key=engine_sort_key)
    if "grape" not in by_engine:
        lines.append(
            f"| grape | — | — | — | — | — | — | — | — | **missing**: no `grape-{dataset}.json` in `{out_dir}` |"
        )
    for name in engines:
        r = by_engine[name]
        best = best_at(r, target)
        if best:
            qps, ef, rec = fmt_qps(best[0]), str(best[1]), f"{best[2]:.4f}"
        else:
            mr, mef = max_recall(r)
            qps, ef, rec = "not reached", f"(max at {mef})", f"{mr:.4f}"
        rss = r.get("rss_delta_bytes")
        rss_s = f"{rss / 1e6:.1f}" if isinstance(rss, (int, float)) else "—"
        kernel = r.get("kernel") or "—"
        lines.append(
            f"| {label(name)} | {r['version']} | {r.get('query_mode', '?')} | {r['build_seconds']:.2f} | {rss_s} "
            f"| {r['graph_bytes_per_point']:.1f} | {qps} | {ef} | {rec} | {kernel} |"
        )
    lines.append("")

    peers = [e for e in engines if e != "grape"]
    peer_best = {e: best_at(by_engine[e], target) for e in peers}
    reached = {e: b for e, b in peer_best.items() if b}
    best_peer = max(reached, key=lambda e: reached[e][0]) if reached else None

    if "grape" in by_engine:
        g = by_engine["grape"]
        gb = best_at(g, target)
        lines.append(f"Grape / peer ratios (QPS at recall ≥ {target}: higher is better; build time and memory: lower is better):")
        lines.append("")
        lines.append("| peer | QPS ratio | build-time ratio | graph-bytes ratio | RSS-delta ratio |")
        lines.append("|---|--:|--:|--:|--:|")
        for e in peers:
            p = by_engine[e]
            qr = fmt_ratio(gb[0] / peer_best[e][0]) if gb and peer_best[e] else "—"
            br = fmt_ratio(g["build_seconds"] / p["build_seconds"]) if p["build_seconds"] > 0 else "—"
            mr = (
                fmt_ratio(g["graph_bytes_per_point"] / p["graph_bytes_per_point"])
                if p["graph_bytes_per_point"] > 0
                else "—"
            )
            rr = (
                fmt_ratio(g["rss_delta_bytes"] / p["rss_delta_bytes"])
                if isinstance(g.get("rss_delta_bytes"), (int, float)) and p.get("rss_delta_bytes", 0) > 0
                else "—"
            )
            best_mark = " (best peer)" if e == best_peer else ""
            lines.append(f"| {label(e)}{best_mark} | {qr} | {br} | {mr} | {rr} |")
        lines.append("")

    lines.append("Goals:")
    lines.append("")
    lines.extend(goals(by_engine, target, best_peer, reached))
    lines.append("")

    lines.append("Recall@10 / QPS per ef (QPS = queries / best-of-3 wall time):")
    lines.append("")
    lines.append("| ef | " + " | ".join(f"{label(e)} recall | {label(e)} QPS" for e in engines) + " |")
    lines.append("|--:|" + "--:|--:|" * len(engines))
    all_ef = sorted({run["ef"] for r in by_engine.values() for run in r["runs"]})
    for ef in all_ef:
        cells = []
        for e in engines:
            run = next((x for x in by_engine[e]["runs"] if x["ef"] == ef), None)
            cells += [f"{run['recall_at_10']:.4f}", fmt_qps(run["qps"])] if run else ["—", "—"]
        lines.append(f"| {ef} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def goals(by_engine, target, best_peer, reached):
    out = []

    def line(ok, text):
        status = "not evaluated" if ok is None else ("**met**" if ok else "**not met**")
        out.append(f"- {status}: {text}")

    g = by_engine.get("grape")
    h = by_engine.get("hnswlib")
    goal1 = f"Grape QPS ≥ 1.1× the best peer's at recall@10 ≥ {target}"
    goal2 = "Grape build time ≤ hnswlib's"
    goal3 = "Grape graph bytes/point ≤ hnswlib's"
    if g is None:
        for text in (goal1, goal2, goal3):
            line(None, f"{text} (no Grape result)")
        return out
    gb = best_at(g, target)
    if not gb:
        line(False, f"{goal1} (Grape never reaches recall {target}; max {max_recall(g)[0]:.4f})")
    elif not best_peer:
        line(True, f"{goal1} (no peer reaches recall {target})")
    else:
        ratio = gb[0] / reached[best_peer][0]
        line(ratio >= 1.1, f"{goal1}: {ratio:.2f}× ({fmt_qps(gb[0])} vs {label(best_peer)} {fmt_qps(reached[best_peer][0])})")
    if h is None:
        line(None, f"{goal2} (no hnswlib result)")
        line(None, f"{goal3} (no hnswlib result)")
    else:
        line(
            g["build_seconds"] <= h["build_seconds"],
            f"{goal2}: {g['build_seconds']:.2f} s vs {h['build_seconds']:.2f} s",
        )
        line(
            g["graph_bytes_per_point"] <= h["graph_bytes_per_point"],
            f"{goal3}: {g['graph_bytes_per_point']:.1f} vs {h['graph_bytes_per_point']:.1f}",
        )
    return out


def render(results, args):
    now = datetime.datetime.now(datetime.timezone.utc)
    mtimes = [r["_mtime"] for by in results.values() for r in by.values()]
    versions = {}
    for by in results.values():
        for e, r in by.items():
            versions.setdefault(e, set()).add(str(r["version"]))
    lines = [BEGIN, f"<!-- generated by bench/report.py from {args.out}/*.json; edits inside this block are lost -->", ""]
    lines.append("## ANN benchmark: Grape vs hnswlib, faiss, usearch")
    lines.append("")
    lines.append(f"- Command: `{args.command}`")
    lines.append(f"- Report date: {now:%Y-%m-%d %H:%M} UTC; result files written "
                 + (f"{datetime.datetime.fromtimestamp(min(mtimes), datetime.timezone.utc):%Y-%m-%d %H:%M} – "
                    f"{datetime.datetime.fromtimestamp(max(mtimes), datetime.timezone.utc):%H:%M} UTC" if mtimes else "—"))
    lines.append(f"- Machine: {machine()}")
    lines.append(
        "- Versions: "
        + ", ".join(f"{label(e)} {'/'.join(sorted(v))}" for e, v in sorted(versions.items(), key=lambda kv: engine_sort_key(kv[0])))
        + f"; Python {platform.python_version()}"
    )
    lines.append(
        "- Settings: M = 16 (usearch connectivity), ef_construction = 200 (usearch expansion_add), k = 10, cosine "
        "similarity, one thread for build and search. Peers get all queries in one call (`batch`); Grape runs "
        "one query at a time (`one-at-a-time`), so per-query overhead counts against Grape only. Ground truth: "
        "exact cosine top-10 from the shared `.gt100.ivecs`. Graph B/point = (RSS after build − RSS before − "
        "n·dim·4) / n. Method and caveats: `bench/README.md`."
    )
    lines.append("")
    if not results:
        lines.append(f"No results in `{args.out}`.")
    for dataset in sorted(results):
        by_engine = results[dataset]
        png = f"ann-{dataset}.png"
        plot(dataset, by_engine, args.recall, os.path.join(args.docs, png))
        lines.extend(dataset_section(dataset, by_engine, args.recall, png, args.out))
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_readme(path, block):
    replace_block(path, block, BEGIN, END,
                  "# Grape benchmarks\n\nHand-written notes go outside the generated block below.\n\n")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="bench/out", help="directory with the result JSON files (default bench/out)")
    p.add_argument("--docs", default="docs/bench", help="directory for README.md and the plots (default docs/bench)")
    p.add_argument("--recall", type=float, default=0.95, help="recall@10 target (default 0.95)")
    p.add_argument("--command", default=None, help="the benchmark command to quote in the report")
    args = p.parse_args(argv)
    if args.command is None:
        args.command = "python bench/report.py " + " ".join(shlex.quote(a) for a in argv)
    results = load_results(args.out)
    for dataset, by in sorted(results.items()):
        log(f"{dataset}: {', '.join(sorted(by, key=engine_sort_key))}" + ("" if "grape" in by else " (grape missing)"))
    os.makedirs(args.docs, exist_ok=True)
    block = render(results, args)
    path = os.path.join(args.docs, "README.md")
    write_readme(path, block)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
