#!/usr/bin/env bash
# Quantization benchmark: Grape's float / int8 / binary / PQ search (grape-bench quant) against faiss
# (HNSW flat and SQ8, PQ and IVF-PQ with and without exact rescoring), same data, same run.
#
#   bench/run-quant.sh [--data DIR] [--datasets a,b] [--quick]
#
# Makes/uses the venv bench/.venv (pinned bench/requirements.txt), builds grape-bench in release mode, runs
# `grape-bench quant` and bench/quant_peers.py on each dataset into bench/out/quant/, then writes the block
# between <!-- quant:begin --> and <!-- quant:end --> of docs/bench/README.md. --quick is a smoke run (first
# 200 queries, full bases): results and report go to bench/out/quant/quick/ (docs in .../quick/docs/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DATASETS="glove50-100k,minilm384-scifact-sent40k"
# shellcheck source=bench/args.sh
. bench/args.sh
parse_bench_args "$@"

if [ "$QUICK" = 1 ]; then
    OUT="bench/out/quant/quick"
    DOCS="bench/out/quant/quick/docs"
    LIMITS=(--limit-queries 200)
else
    OUT="bench/out/quant"
    DOCS="docs/bench"
    LIMITS=()
fi
mkdir -p "$OUT" "$DOCS"

say() { echo "[run-quant $(date +%H:%M:%S)] $*" >&2; }

IFS=',' read -r -a DATASET_LIST <<< "$DATASETS"
for ds in "${DATASET_LIST[@]}"; do
    for suffix in base.fvecs query.fvecs gt100.ivecs; do
        [ -f "$DATA/$ds.$suffix" ] || { echo "run-quant.sh: missing $DATA/$ds.$suffix" >&2; exit 2; }
    done
done

# --- Python venv with the pinned peers -------------------------------------------------------------------
# shellcheck source=bench/venv.sh
. bench/venv.sh

# --- Grape ---------------------------------------------------------------------------------------------
say "cargo build --release -p grape-bench"
cargo build --release -p grape-bench
GRAPE_BENCH="target/release/grape-bench"

START=$SECONDS
for ds in "${DATASET_LIST[@]}"; do
    # Never report a stale result: this run's files for the dataset are the only ones in the report.
    rm -f "$OUT"/grape-*-"$ds".json "$OUT"/faiss-*-"$ds".json
    say "grape: $ds"
    status=0
    "$GRAPE_BENCH" quant --data "$DATA" --dataset "$ds" --out "$OUT" ${LIMITS[@]+"${LIMITS[@]}"} || status=$?
    if [ "$status" != 0 ]; then
        echo "run-quant.sh: grape-bench quant failed on $ds (exit $status)" >&2
        exit 1
    fi
    if ! compgen -G "$OUT/grape-*-$ds.json" > /dev/null; then
        echo "run-quant.sh: grape-bench quant wrote no $OUT/grape-*-$ds.json" >&2
        exit 1
    fi
done
say "grape: done in $((SECONDS - START)) s"

# --- Peers (faiss) -----------------------------------------------------------------------------------------
START=$SECONDS
for ds in "${DATASET_LIST[@]}"; do
    say "faiss: $ds"
    "$PY" bench/quant_peers.py --data "$DATA" --dataset "$ds" --out "$OUT" ${LIMITS[@]+"${LIMITS[@]}"}
done
say "faiss: done in $((SECONDS - START)) s"

# --- Report ----------------------------------------------------------------------------------------------
"$PY" bench/quant_report.py --out "$OUT" --docs "$DOCS" --command "$COMMAND"
say "report: $DOCS/README.md"
