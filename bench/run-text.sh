#!/usr/bin/env bash
# Text / hybrid benchmark: Grape BM25 (+ dense FlatIndex + RRF) against bm25s and tantivy, same corpus, same run.
#
#   bench/run-text.sh [--data DIR] [--datasets scifact,cranfield]
#
# Makes/uses the venv bench/.venv (pinned bench/requirements.txt), builds grape-bench in release mode with
# grape-core's `stem` feature, runs Grape and the peers on each collection (dense and RRF where the
# minilm384-<dataset> vectors exist: SciFact), evaluates every run file (nDCG@10, Recall@100, cross-checked
# against pytrec_eval) and rewrites the <!-- text:begin --> block of docs/bench/README.md. Run files and
# JSON timings go to bench/out/text/. About a minute. See bench/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DATASETS="scifact,cranfield"
OUT="bench/out/text"
DOCS="docs/bench/README.md"
K1=1.2
B=0.75
QUICK_OK=0
# shellcheck source=bench/args.sh
. bench/args.sh
parse_bench_args "$@"

say() { echo "[run-text $(date +%H:%M:%S)] $*" >&2; }
# Runs a command and records it (paths relative to the repo) for the report's list of exact commands.
run() { echo "$*" | sed "s|$DATA|DATA|g" >> "$OUT/commands.txt"; "$@"; }

# Timings of two benchmarks on a 2-core machine disturb each other.
if pgrep -f "bench/run-ann.sh" >/dev/null; then
    echo "run-text.sh: bench/run-ann.sh is running; wait for it to finish (timings would be distorted)" >&2
    exit 1
fi

# --- Python venv with the pinned peers -------------------------------------------------------------------
# shellcheck source=bench/venv.sh
. bench/venv.sh
"$PY" bench/text_eval.py selftest

# --- Grape -----------------------------------------------------------------------------------------------
say "cargo build --release -p grape-bench --features stem"
cargo build --release -p grape-bench --features stem
GRAPE_BENCH="target/release/grape-bench"

IFS=',' read -r -a DATASET_LIST <<< "$DATASETS"
mkdir -p "$OUT"
echo "# DATA = $DATA" > "$OUT/commands.txt"
for ds in "${DATASET_LIST[@]}"; do
    for f in corpus.jsonl queries.jsonl qrels.tsv; do
        [ -f "$DATA/$ds/$f" ] || { echo "run-text.sh: missing $DATA/$ds/$f" >&2; exit 2; }
    done
    rm -f "$OUT"/*-"$ds".run "$OUT"/*-"$ds".json  # never report a stale result
done

for ds in "${DATASET_LIST[@]}"; do
    dense=()
    if [ -f "$DATA/minilm384-$ds.base.fvecs" ] && [ -f "$DATA/minilm384-$ds.query.fvecs" ]; then
        dense=(--dense "minilm384-$ds")
    fi
    say "grape: $ds"
    # The tokenisation choices of bm25s (the reference of the nDCG goal): English stop words, Snowball
    # stemming, tokens of at least 2 characters.
    run "$GRAPE_BENCH" text --data "$DATA" --dataset "$ds" --k1 "$K1" --b "$B" --stem --stopwords english \
        --min-token-len 2 --k 100 --out "$OUT" ${dense[@]+"${dense[@]}"}
    # Grape's default minimum token length (1: "a" is a stop word, but "b", "2" and "α" are kept).
    run "$GRAPE_BENCH" text --data "$DATA" --dataset "$ds" --k1 "$K1" --b "$B" --stem --stopwords english \
        --min-token-len 1 --k 100 --out "$OUT" --tag grape-bm25-min1
    [ -s "$OUT/grape-bm25-$ds.run" ] || { echo "run-text.sh: grape-bench wrote no $OUT/grape-bm25-$ds.run" >&2; exit 1; }
    say "peers: $ds"
    run "$PY" bench/text_peers.py --data "$DATA" --dataset "$ds" --out "$OUT" ${dense[@]+"${dense[@]}"}
done

# --- Report ----------------------------------------------------------------------------------------------
"$PY" bench/text_eval.py report --out "$OUT" --data "$DATA" --datasets "$DATASETS" --docs "$DOCS" \
    --command "$COMMAND" --check-pytrec
say "report: $DOCS (text block)"
