#!/usr/bin/env bash
# Cluster benchmark (issue 8): `grape bench-cluster` starts a single `grape serve` and a 3-node Raft cluster of
# `grape serve --node-id N --cluster ...` processes on loopback (fresh temporary data directories, all stopped
# by their pid at the end) and measures, against the single node in the same run:
#   1. replicated upsert throughput (REST, wait=true, batches of 100 and 1,000) through the leader and a follower;
#   2. search QPS, p50/p99 and recall@10 (REST, 1 and 8 clients) through every node, and with
#      consistency=majority through a follower;
#   3. the time from SIGKILL of the leader to the first write acknowledged through a survivor (3 trials);
#   4. the catch-up time of a follower restarted 100,000 points behind (log replay or snapshot install).
#
#   bench/run-cluster.sh [--data DIR] [--datasets a,b] [--quick]
#
# Builds grape-server in release mode, runs `target/release/grape bench-cluster` per dataset into
# bench/out/cluster/ (JSON and Markdown), then writes the block between <!-- cluster:begin --> and
# <!-- cluster:end --> of docs/bench/README.md. Takes about 12 minutes on 2 cores. --quick is a smoke run (first
# 10,000 base vectors, 200 queries, 1 s per search run, 1,000 points per upsert run, 5,000 points behind, one
# failover trial): results and report go to bench/out/cluster/quick/ (docs in .../quick/docs/).
# Needs python3 (standard library only) for the block.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DATASETS="minilm384-scifact-sent40k"
# shellcheck source=bench/args.sh
. bench/args.sh
parse_bench_args "$@"

if [ "$QUICK" = 1 ]; then
    OUT="bench/out/cluster/quick"
    DOCS="bench/out/cluster/quick/docs"
    LIMITS=(--quick)
else
    OUT="bench/out/cluster"
    DOCS="docs/bench"
    LIMITS=()
fi
SCRATCH="target/cluster-bench"
mkdir -p "$OUT" "$DOCS" "$SCRATCH"

say() { echo "[run-cluster $(date +%H:%M:%S)] $*" >&2; }

IFS=',' read -r -a DATASET_LIST <<< "$DATASETS"
for ds in "${DATASET_LIST[@]}"; do
    for suffix in base.fvecs query.fvecs gt100.ivecs; do
        [ -f "$DATA/$ds.$suffix" ] || { echo "run-cluster.sh: missing $DATA/$ds.$suffix" >&2; exit 2; }
    done
done

# Run a copy, so that a concurrent build cannot replace the binary under the servers. GRAPE_BIN=path skips
# the build and runs that (release) binary instead.
GRAPE="$SCRATCH/grape"
if [ -n "${GRAPE_BIN:-}" ]; then
    cp "$GRAPE_BIN" "$GRAPE"
    COMMAND="GRAPE_BIN=$GRAPE_BIN $COMMAND"
else
    say "cargo build --release -p grape-server"
    cargo build --release -p grape-server
    cp target/release/grape "$GRAPE"
fi

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)"
START=$SECONDS
for ds in "${DATASET_LIST[@]}"; do
    # Never report a stale result.
    rm -f "$OUT/cluster-$ds.json" "$OUT/cluster-$ds.md"
    say "grape bench-cluster: $ds"
    status=0
    "$GRAPE" bench-cluster --data "$DATA" --dataset "$ds" --scratch "$SCRATCH" \
        --out "$OUT/cluster-$ds.json" --markdown "$OUT/cluster-$ds.md" ${LIMITS[@]+"${LIMITS[@]}"} || status=$?
    if [ "$status" != 0 ] || [ ! -f "$OUT/cluster-$ds.md" ]; then
        echo "run-cluster.sh: grape bench-cluster failed on $ds (exit $status)" >&2
        exit 1
    fi
done
say "grape bench-cluster: done in $((SECONDS - START)) s"

# --- Report ----------------------------------------------------------------------------------------------
CPU="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || true)"
MEM="$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || true)"
BLOCK="$OUT/block.md"
{
    echo "<!-- cluster:begin -->"
    echo "## Cluster benchmark (issue 8): 3-node Raft cluster vs a single node"
    echo
    echo '```sh'
    echo "$COMMAND"
    echo '```'
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M') UTC; $(nproc) cores (nproc), CPU \`${CPU:-unknown}\`, ${MEM:-? GiB} RAM," \
        "Linux $(uname -r); \`target/release/grape bench-cluster\` (release build) driving four \`grape serve\`" \
        "processes of the same build. **Client and all servers share the machine's $(nproc) cores.** Load average" \
        "before the run: ${LOAD_BEFORE:-unknown}. One run; the machine is shared with other builds, so single runs" \
        "carry noise of ±20 % or more."
    echo
    for ds in "${DATASET_LIST[@]}"; do
        cat "$OUT/cluster-$ds.md"
        echo
    done
    echo "<!-- cluster:end -->"
} > "$BLOCK"
python3 - "$DOCS/README.md" "$BLOCK" <<'EOF'
import sys
sys.path.insert(0, "bench")
from blocks import replace_block
replace_block(sys.argv[1], open(sys.argv[2]).read(), "<!-- cluster:begin -->", "<!-- cluster:end -->")
EOF
say "report: $DOCS/README.md"
