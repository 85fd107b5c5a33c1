#!/usr/bin/env bash
# Runs grape-core's unit tests as WebAssembly under Node's WASI, with and
# without simd128, and checks that the no_std core builds for
# wasm32-unknown-unknown with and without simd128.
#
#   scripts/test-core-wasm.sh [extra `cargo test` args, e.g. `-- distance::`]
#
# Needs rustup and Node >= 20 (node:wasi with version 'preview1'). Idempotent:
# adds the Rust targets if missing. The simd128 and plain variants build in
# their own CARGO_TARGET_DIRs (target/wasm-simd, target/wasm-plain; both wasm
# targets share one, so host proc-macros are built once per dir), so switching
# RUSTFLAGS never invalidates the native build cache or the other variant
# (RUSTFLAGS replaces, not merges with, config rustflags).
#
# The test binaries get GRAPE_EXPECT_KERNEL, which the distance tests compare
# with `Kernel::selected()`: the simd128 run fails unless the simd128 kernels
# are really the ones in use.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rustup target add wasm32-wasip1 wasm32-unknown-unknown >/dev/null

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
    echo "test-core-wasm: needs Node >= 20, found $(node --version)" >&2
    exit 1
fi

# Cargo splits the runner on spaces and runs it from the package directory,
# hence the absolute path (which must not contain spaces).
case "$root" in
*' '*)
    echo "test-core-wasm: the checkout path must not contain spaces: $root" >&2
    exit 1
    ;;
esac
export CARGO_TARGET_WASM32_WASIP1_RUNNER="node $root/scripts/wasi-run.mjs"
# Panics abort on wasm32-wasip1, so libtest's captured output (with the panic
# message) would be lost: print test output directly instead.
export RUST_TEST_NOCAPTURE=1

step() { printf '\n== %s\n' "$*"; }

step "wasm32-wasip1 tests, simd128"
CARGO_TARGET_DIR="$root/target/wasm-simd" \
    RUSTFLAGS="-C target-feature=+simd128" \
    GRAPE_EXPECT_KERNEL=simd128 \
    cargo test -p grape-core --target wasm32-wasip1 --lib "$@"

step "wasm32-wasip1 tests, no simd128"
CARGO_TARGET_DIR="$root/target/wasm-plain" \
    RUSTFLAGS="" \
    GRAPE_EXPECT_KERNEL=scalar \
    cargo test -p grape-core --target wasm32-wasip1 --lib "$@"

step "wasm32-unknown-unknown no_std build, simd128"
CARGO_TARGET_DIR="$root/target/wasm-simd" \
    RUSTFLAGS="-C target-feature=+simd128" \
    cargo build -p grape-core --no-default-features --target wasm32-unknown-unknown

step "wasm32-unknown-unknown no_std build, no simd128"
CARGO_TARGET_DIR="$root/target/wasm-plain" \
    RUSTFLAGS="" \
    cargo build -p grape-core --no-default-features --target wasm32-unknown-unknown

step "test-core-wasm: all passed"
