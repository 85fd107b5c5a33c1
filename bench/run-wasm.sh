#!/usr/bin/env bash
# WebAssembly benchmark: Grape's npm package (simd128 and baseline builds) against npm peers (hnswlib-wasm,
# edgevec, voy-search, @orama/orama) and native Grape, under Node, same data, same run.
#
#   bench/run-wasm.sh [--data DIR] [--datasets a,b] [--quick] [--build-budget S]
#
# Builds npm/dist if missing or older than its sources (cd npm && npm install && node scripts/build.mjs), installs the pinned peers into
# bench/wasm/node_modules, builds grape-bench, runs every engine in its own Node process, writes
# bench/out/wasm/*.json and the block <!-- wasm:begin -->..<!-- wasm:end --> of docs/bench/README.md.
# --quick: first 200 queries, a coarse ef grid, 30 s build budget; writes only under bench/out/wasm/quick/.
# --build-budget S: EdgeVec's build is stopped (and reported as unfinished) after S seconds (default 60).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DATASETS="glove50-100k,minilm384-scifact-sent40k"
BUDGET=""
extra_arg() {
    case "$1" in
        --build-budget) BUDGET="${2:?--build-budget needs seconds}"; SHIFT=2 ;;
        --build-budget=*) BUDGET="${1#*=}"; SHIFT=1 ;;
        *) return 1 ;;
    esac
}
# shellcheck source=bench/args.sh
. bench/args.sh
parse_bench_args "$@"

EF_FULL="10,12,14,16,18,20,22,24,28,32,36,40,48,56,64,72,80,96,112,128,160,192,256,384,512"
if [ "$QUICK" = 1 ]; then
    EF="10,16,24,32,48,64,128"
    OUT="bench/out/wasm/quick"
    DOCS="bench/out/wasm/quick/docs"
    LIMITS=(--limit-queries 200)
    EXACT_QUERIES=50
    BUDGET="${BUDGET:-30}"
else
    EF="$EF_FULL"
    OUT="bench/out/wasm"
    DOCS="docs/bench"
    LIMITS=()
    EXACT_QUERIES=200
    BUDGET="${BUDGET:-60}"
fi

say() { echo "[run-wasm $(date +%H:%M:%S)] $*" >&2; }
die() { echo "run-wasm.sh: $*" >&2; exit 1; }

# --- tools ------------------------------------------------------------------------------------------------
command -v node >/dev/null || die "node is not on PATH (Node.js 20 or newer is needed)"
command -v npm >/dev/null || die "npm is not on PATH"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 20 ] || die "Node.js $(node --version) is too old: 20 or newer is needed"
command -v cargo >/dev/null || die "cargo is not on PATH"

IFS=',' read -r -a DATASET_LIST <<< "$DATASETS"
for ds in "${DATASET_LIST[@]}"; do
    for suffix in base.fvecs query.fvecs gt100.ivecs; do
        [ -f "$DATA/$ds.$suffix" ] || die "missing $DATA/$ds.$suffix"
    done
done

# --- Grape's npm build (npm/dist) -------------------------------------------------------------------------
# Rebuilt when missing, or when a source it is built from is newer than its sizes.json (written last).
build_reason="npm/dist is missing"
if [ -f npm/dist/sizes.json ] && [ -f npm/dist/simd/grape_wasm_bg.wasm ] && [ -f npm/dist/baseline/grape_wasm_bg.wasm ]; then
    newer="$(find crates/core/src crates/core/Cargo.toml crates/wasm/src crates/wasm/Cargo.toml Cargo.toml Cargo.lock \
        npm/scripts -type f -newer npm/dist/sizes.json 2>/dev/null | head -3 | tr '\n' ' ')"
    if [ -z "$newer" ]; then
        build_reason=""
        say "using the existing npm/dist (sizes.json of $(date -r npm/dist/sizes.json '+%F %T'), newer than its sources)"
    else
        build_reason="npm/dist is older than its sources (${newer% })"
    fi
fi
if [ -n "$build_reason" ]; then
    say "$build_reason: building it (cd npm && npm install && node scripts/build.mjs)"
    command -v wasm-bindgen >/dev/null \
        || die "wasm-bindgen is not on PATH: install the version crates/wasm pins, e.g. cargo install wasm-bindgen-cli --version 0.2.130 --no-default-features (scripts/test-npm.sh does it)"
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        rustup target add wasm32-unknown-unknown
    fi
    (cd npm && npm install --no-audit --no-fund && node scripts/build.mjs)
fi
[ -f npm/dist/sizes.json ] || die "npm/dist/sizes.json is missing after the build"

# Benchmark a copy of the package taken now (scripts/test-npm.sh rebuilds npm/dist in place, and other work may
# run it during this benchmark). The copy must be one whole build: both .wasm files as large as sizes.json says.
SNAP="$OUT/npm-snapshot"
for attempt in $(seq 1 20); do
    rm -rf "$SNAP"
    mkdir -p "$SNAP"
    cp -rp npm/package.json npm/src npm/dist "$SNAP/"
    if node -e '
        const fs = require("fs"), dir = process.argv[1];
        const sizes = JSON.parse(fs.readFileSync(dir + "/dist/sizes.json", "utf8"));
        for (const f of ["simd", "baseline"]) {
          const got = fs.statSync(`${dir}/dist/${f}/grape_wasm_bg.wasm`).size;
          if (!sizes[f] || sizes[f].optimized !== got) process.exit(1);
        }' "$SNAP" 2>/dev/null; then
        break
    fi
    [ "$attempt" = 20 ] && die "npm/dist does not match its sizes.json (a build in progress?) after 10 minutes"
    say "npm/dist does not match its sizes.json yet (a build in progress?): waiting 30 s"
    sleep 30
done
say "benchmarking a copy of npm/ in $SNAP (dist of $(date -r "$SNAP/dist/sizes.json" '+%F %T'))"

# --- peers (pinned in bench/wasm/package.json) ------------------------------------------------------------
stamp=bench/wasm/node_modules/.package-lock.json
if [ -f "$stamp" ] && ! [ bench/wasm/package.json -nt "$stamp" ] \
    && ! { [ -f bench/wasm/package-lock.json ] && [ bench/wasm/package-lock.json -nt "$stamp" ]; }; then
    say "peers already installed in bench/wasm/node_modules"
else
    say "npm install in bench/wasm (pinned peers)"
    (cd bench/wasm && npm install --no-audit --no-fund)
fi
for p in edgevec hnswlib-wasm voy-search @orama/orama; do
    [ -f "bench/wasm/node_modules/$p/package.json" ] || die "peer package $p is missing from bench/wasm/node_modules"
done

# --- native Grape -----------------------------------------------------------------------------------------
say "cargo build --release -p grape-bench"
cargo build --release -p grape-bench
GRAPE_BENCH="target/release/grape-bench"

mkdir -p "$OUT/native" "$DOCS"
ENGINES=(grape-wasm-simd grape-wasm-baseline hnswlib-wasm edgevec voy orama)
failed_peers=()
for ds in "${DATASET_LIST[@]}"; do
    rm -f "$OUT/native/grape-$ds.json"
    for e in "${ENGINES[@]}"; do rm -f "$OUT/$e-$ds.json"; done  # never report a stale result

    say "native Grape: $ds"
    "$GRAPE_BENCH" ann --data "$DATA" --dataset "$ds" --m 16 --ef-construction 200 --ef "$EF" --k 10 \
        --out "$OUT/native" ${LIMITS[@]+"${LIMITS[@]}"} \
        || die "grape-bench ann failed on $ds"
    [ -s "$OUT/native/grape-$ds.json" ] || die "grape-bench ann wrote no $OUT/native/grape-$ds.json"

    for e in "${ENGINES[@]}"; do
        say "$e: $ds"
        status=0
        node bench/wasm/bench.mjs --engine "$e" --data "$DATA" --dataset "$ds" --out "$OUT" --ef "$EF" \
            --exact-queries "$EXACT_QUERIES" --build-budget "$BUDGET" --grape-pkg "$SNAP" \
            ${LIMITS[@]+"${LIMITS[@]}"} || status=$?
        if [ "$status" != 0 ]; then
            case "$e" in
                grape-*) die "$e failed on $ds (exit $status); see $OUT/$e-$ds.json" ;;
                *) say "WARNING: $e did not complete on $ds (exit $status); reported as such"; failed_peers+=("$e/$ds") ;;
            esac
        fi
    done
done

# --- report -----------------------------------------------------------------------------------------------
node bench/wasm/report.mjs --out "$OUT" --docs "$DOCS" --sizes "$SNAP/dist/sizes.json" --command "$COMMAND" >/dev/null
say "report: $DOCS/README.md"
if [ ${#failed_peers[@]} -gt 0 ]; then
    say "peers that did not complete (see the report): ${failed_peers[*]}"
fi
