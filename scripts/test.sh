#!/usr/bin/env bash
# Runs every test of the project and installs what the tests need first.
#
#   bash scripts/test.sh
#
# Steps: toolchain targets, formatting, clippy (warnings are errors), the
# native test suite (unit, integration, doc tests), grape-core's unit tests
# compiled to WebAssembly and run under Node's WASI with and without
# simd128, the no_std builds of grape-core for wasm32, and the npm package
# (scripts/test-npm.sh: wasm-bindgen-test, Node, native <-> wasm bytes),
# and the server against the official Qdrant clients (scripts/test-server.sh:
# qdrant-client over REST and gRPC in a venv).
# Benchmarks are not run here: see docs/bench/README.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$(date +%s)
step() { printf '\n== [%ss] %s\n' "$(($(date +%s) - started))" "$*"; }

step "setup: rust components and targets"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add wasm32-unknown-unknown wasm32-wasip1 >/dev/null
command -v node >/dev/null || {
    echo "test.sh: Node.js >= 20 is required (runs the wasm tests)" >&2
    exit 1
}

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p grape-core --no-default-features -- -D warnings
cargo clippy -p grape-core --features stem --all-targets -- -D warnings
cargo clippy -p grape-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings

step "native tests"
cargo test --workspace
cargo test -p grape-core --features stem --lib text::

step "grape-core as WebAssembly (wasi tests, no_std builds)"
bash scripts/test-core-wasm.sh

step "x86_64 no_std build with compile-time AVX2"
CARGO_TARGET_DIR="$root/target/nostd-avx2" RUSTFLAGS="-C target-feature=+avx2,+fma" \
    cargo build -p grape-core --no-default-features

step "the npm package and wasm bindings"
bash scripts/test-npm.sh

step "grape-server against the official Qdrant clients"
bash scripts/test-server.sh

step "all tests passed"
