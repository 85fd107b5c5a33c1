#!/usr/bin/env bash
# Server benchmark (issue 7): `grape bench` against a fresh `grape serve` process on loopback. It loads the
# dataset through the gRPC API, then measures search QPS and p50/p90/p99 latency over REST and gRPC at 1, 8 and
# 32 concurrent clients (recall@10 from every answer), the REST overhead per search against grape-db in process,
# and upsert throughput through both APIs in batches of 100 and 1,000.
#
#   bench/run-server.sh [--data DIR] [--datasets a,b] [--quick]
#
# Builds grape-server in release mode, runs `target/release/grape bench` per dataset into bench/out/server/
# (JSON and Markdown), then writes the block between <!-- server:begin --> and <!-- server:end --> of
# docs/bench/README.md. The server's data directory is a temporary directory under target/server-bench/
# (removed at the end). --quick is a smoke run (first 10,000 base vectors, 200 queries, 1 s per search run,
# 2,000 points per upsert run): results and report go to bench/out/server/quick/ (docs in .../quick/docs/).
# Needs python3 (standard library only) for the block.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DATASETS="minilm384-scifact-sent40k"
# shellcheck source=bench/args.sh
. bench/args.sh
parse_bench_args "$@"

if [ "$QUICK" = 1 ]; then
    OUT="bench/out/server/quick"
    DOCS="bench/out/server/quick/docs"
    LIMITS=(--quick)
else
    OUT="bench/out/server"
    DOCS="docs/bench"
    LIMITS=()
fi
SCRATCH="target/server-bench"
mkdir -p "$OUT" "$DOCS" "$SCRATCH"

say() { echo "[run-server $(date +%H:%M:%S)] $*" >&2; }

IFS=',' read -r -a DATASET_LIST <<< "$DATASETS"
for ds in "${DATASET_LIST[@]}"; do
    for suffix in base.fvecs query.fvecs gt100.ivecs; do
        [ -f "$DATA/$ds.$suffix" ] || { echo "run-server.sh: missing $DATA/$ds.$suffix" >&2; exit 2; }
    done
done

say "cargo build --release -p grape-server"
cargo build --release -p grape-server
GRAPE="target/release/grape"

START=$SECONDS
for ds in "${DATASET_LIST[@]}"; do
    # Never report a stale result.
    rm -f "$OUT/server-$ds.json" "$OUT/server-$ds.md"
    say "grape bench: $ds"
    status=0
    "$GRAPE" bench --data "$DATA" --dataset "$ds" --scratch "$SCRATCH" \
        --out "$OUT/server-$ds.json" --markdown "$OUT/server-$ds.md" ${LIMITS[@]+"${LIMITS[@]}"} || status=$?
    if [ "$status" != 0 ] || [ ! -f "$OUT/server-$ds.md" ]; then
        echo "run-server.sh: grape bench failed on $ds (exit $status)" >&2
        exit 1
    fi
done
say "grape bench: done in $((SECONDS - START)) s"

# --- Report ----------------------------------------------------------------------------------------------
CPU="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || true)"
MEM="$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || true)"
BLOCK="$OUT/block.md"
{
    echo "<!-- server:begin -->"
    echo "## Server benchmark (issue 7): REST and gRPC over grape-db"
    echo
    echo '```sh'
    echo "$COMMAND"
    echo '```'
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M') UTC; $(nproc) cores (nproc), CPU \`${CPU:-unknown}\`, ${MEM:-? GiB} RAM," \
        "Linux $(uname -r); \`target/release/grape bench\` (release build) loading a separate \`grape serve\`" \
        "process of the same build. One run; the machine is shared with other builds, so single runs carry" \
        "noise of ±20 % or more."
    echo
    for ds in "${DATASET_LIST[@]}"; do
        cat "$OUT/server-$ds.md"
        echo
    done
    echo "<!-- server:end -->"
} > "$BLOCK"
python3 - "$DOCS/README.md" "$BLOCK" <<'EOF'
import sys
sys.path.insert(0, "bench")
from blocks import replace_block
replace_block(sys.argv[1], open(sys.argv[2]).read(), "<!-- server:begin -->", "<!-- server:end -->")
EOF
say "report: $DOCS/README.md"
