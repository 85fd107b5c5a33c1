#!/usr/bin/env bash
# Storage benchmark (issue 6): grape-db's durable upsert, get by id, query QPS through the database against
# grape-core alone, open time with and without the persisted index, payload compression (grape-bench storage),
# and the embedded peers qdrant-edge-py and lancedb on the same data in the same run (bench/storage_peers.py).
#
#   bench/run-storage.sh [--data DIR] [--quick]
#
# Makes/uses the venv bench/.venv (pinned bench/requirements.txt), builds grape-bench in release mode, runs
# both into bench/out/storage/, then writes the block between <!-- storage:begin --> and <!-- storage:end -->
# of docs/bench/README.md. Databases live in temporary directories under target/storage-bench/ (removed at the
# end). --quick is a smoke run (200 queries, 20,000 gets, the first 20,000 GloVe points for the open time):
# results and report go to bench/out/storage/quick/ (docs in .../quick/docs/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DATASETS="minilm384-scifact-sent40k,glove50-100k"
# shellcheck source=bench/args.sh
. bench/args.sh
parse_bench_args "$@"

if [ "$QUICK" = 1 ]; then
    OUT="bench/out/storage/quick"
    DOCS="bench/out/storage/quick/docs"
    LIMITS=(--limit-queries 200 --gets 20000 --open-limit 20000)
    PEER_LIMITS=(--lance-gets 500)
else
    OUT="bench/out/storage"
    DOCS="docs/bench"
    LIMITS=()
    PEER_LIMITS=()
fi
SCRATCH="target/storage-bench"
mkdir -p "$OUT" "$DOCS" "$SCRATCH"

say() { echo "[run-storage $(date +%H:%M:%S)] $*" >&2; }

for f in minilm384-scifact-sent40k.base.fvecs minilm384-scifact-sent40k.query.fvecs \
    minilm384-scifact-sent40k.gt100.ivecs minilm384-scifact-sent40k.base.txt \
    minilm384-scifact.base.fvecs scifact/corpus.jsonl glove50-100k.base.fvecs; do
    [ -f "$DATA/$f" ] || { echo "run-storage.sh: missing $DATA/$f" >&2; exit 2; }
done

# --- Python venv with the pinned peers -------------------------------------------------------------------
# shellcheck source=bench/venv.sh
. bench/venv.sh

# --- Grape ---------------------------------------------------------------------------------------------
say "cargo build --release -p grape-bench"
cargo build --release -p grape-bench
# Never report a stale result: this run's files are the only ones in the report.
rm -f "$OUT"/grape.json "$OUT"/qdrant-edge.json "$OUT"/lancedb.json

START=$SECONDS
say "grape-db"
status=0
target/release/grape-bench storage --data "$DATA" --out "$OUT" --scratch "$SCRATCH" ${LIMITS[@]+"${LIMITS[@]}"} \
    || status=$?
if [ "$status" != 0 ] || [ ! -f "$OUT/grape.json" ]; then
    echo "run-storage.sh: grape-bench storage failed (exit $status)" >&2
    exit 1
fi
say "grape-db: done in $((SECONDS - START)) s"

# --- Peers ---------------------------------------------------------------------------------------------
START=$SECONDS
say "peers: qdrant-edge-py, lancedb"
# A failed peer is reported in the block (its file is missing), not fatal.
"$PY" bench/storage_peers.py --data "$DATA" --out "$OUT" --scratch "$SCRATCH" \
    ${LIMITS[@]+"${LIMITS[@]}"} ${PEER_LIMITS[@]+"${PEER_LIMITS[@]}"} || say "a peer failed (see above)"
say "peers: done in $((SECONDS - START)) s"

# --- Report ----------------------------------------------------------------------------------------------
"$PY" bench/storage_report.py --out "$OUT" --docs "$DOCS" --command "$COMMAND"
say "report: $DOCS/README.md"
