#!/usr/bin/env bash
# ANN benchmark: Grape (grape-bench) against hnswlib, faiss IndexHNSWFlat and usearch, same data, same run.
#
#   bench/run-ann.sh [--data DIR] [--datasets a,b] [--quick]
#
# Makes/uses the venv bench/.venv (pinned bench/requirements.txt), builds grape-bench in release mode, runs
# Grape and the peers on each dataset, then writes docs/bench/README.md (generated block) and
# docs/bench/ann-<dataset>.png. --quick is a smoke run (3 ef values, first 200 queries, full base, so the
# builds still take most of the time): results and report go to bench/out/quick/. See bench/README.md.
set -euo pipefail

# A missing Grape result fails the run (no peers-only report gets published). Set to 0 only to benchmark the
# peers on a checkout whose grape-bench has no `ann` subcommand: Grape is then skipped with a warning.
REQUIRE_GRAPE=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DATASETS="glove50-100k,minilm384-scifact-sent40k"
# shellcheck source=bench/args.sh
. bench/args.sh
parse_bench_args "$@"

if [ "$QUICK" = 1 ]; then
    EF="10,32,128"
    OUT="bench/out/quick"
    DOCS="bench/out/quick/docs"
    LIMITS=(--limit-queries 200)
else
    EF="10,12,14,16,18,20,22,24,28,32,36,40,48,56,64,72,80,96,112,128,160,192,256,384,512"
    OUT="bench/out"
    DOCS="docs/bench"
    LIMITS=()
fi
mkdir -p "$OUT" "$DOCS"

say() { echo "[run-ann $(date +%H:%M:%S)] $*" >&2; }

# --- Python venv with the pinned peers -------------------------------------------------------------------
# shellcheck source=bench/venv.sh
. bench/venv.sh

# --- Grape ---------------------------------------------------------------------------------------------
say "cargo build --release -p grape-bench"
cargo build --release -p grape-bench
GRAPE_BENCH="target/release/grape-bench"

IFS=',' read -r -a DATASET_LIST <<< "$DATASETS"
for ds in "${DATASET_LIST[@]}"; do
    for suffix in base.fvecs query.fvecs gt100.ivecs; do
        [ -f "$DATA/$ds.$suffix" ] || { echo "run-ann.sh: missing $DATA/$ds.$suffix" >&2; exit 2; }
    done
done

missing_grape=()
for ds in "${DATASET_LIST[@]}"; do
    json="$OUT/grape-$ds.json"
    rm -f "$json"  # never report a stale Grape result
    say "grape: $ds"
    status=0
    "$GRAPE_BENCH" ann --data "$DATA" --dataset "$ds" --m 16 --ef-construction 200 --ef "$EF" --k 10 \
        --out "$OUT" ${LIMITS[@]+"${LIMITS[@]}"} || status=$?
    if [ "$status" != 0 ] || [ ! -s "$json" ]; then
        if [ "$REQUIRE_GRAPE" = 1 ]; then
            echo "run-ann.sh: grape-bench ann failed on $ds (exit $status) or wrote no $json" >&2
            exit 1
        fi
        say "WARNING: no Grape result for $ds (grape-bench exit $status, $json not written):" \
            "does grape-bench have the 'ann' subcommand yet? Continuing with the peers only."
        missing_grape+=("$ds")
    fi
done

# --- Peers -----------------------------------------------------------------------------------------------
for ds in "${DATASET_LIST[@]}"; do
    say "peers: $ds"
    "$PY" bench/peers.py --data "$DATA" --dataset "$ds" --engines hnswlib,faiss,usearch --ef "$EF" \
        --out "$OUT" ${LIMITS[@]+"${LIMITS[@]}"}
done

# --- Report ----------------------------------------------------------------------------------------------
"$PY" bench/report.py --out "$OUT" --docs "$DOCS" --command "$COMMAND"
say "report: $DOCS/README.md"
if [ ${#missing_grape[@]} -gt 0 ]; then
    say "WARNING: Grape is missing from the report for: ${missing_grape[*]}"
fi
