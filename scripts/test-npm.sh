#!/usr/bin/env bash
# The npm package and the wasm bindings. Installs what they need (the
# wasm32 target, wasm-bindgen-cli at the crate's pinned version, Debian's
# chromium, the npm devDependencies: binaryen, deno, workerd,
# playwright-core), builds both wasm flavours, then runs
#   - wasm-bindgen-test unit tests of crates/wasm under Node,
#   - the package's tests (npm test = node --test test/*.test.mjs): Node,
#     Deno (deno test, offline), workerd (a real worker on 127.0.0.1) and
#     the www/ demo in headless Chromium; Node and Chromium again with the
#     baseline build,
#   - the native <-> wasm byte-format check (grape-interop + npm/test/interop.mjs),
#   - the 128 MB workerd test: grape-memgen generates a 100k x 384-d int8
#     collection natively, npm/test/workerd-memory.mjs streams it into a
#     worker and measures workerd's memory and the recall.
# Called by scripts/test.sh; can run alone from any directory.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
START=$SECONDS
step() { echo; echo "== [$((SECONDS - START))s] $*"; }

WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' crates/wasm/Cargo.toml)"
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "test-npm.sh: crates/wasm/Cargo.toml does not pin wasm-bindgen" >&2; exit 1; }

step "setup: wasm32 target, wasm-bindgen-cli $WASM_BINDGEN_VERSION, chromium, npm packages"
rustup target add wasm32-unknown-unknown
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
    # --no-default-features: no TLS stack (the test runner only talks to 127.0.0.1);
    # no --locked: its lockfile pins a crate this registry does not serve.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --no-default-features
fi
# Debian's chromium (playwright-core only drives it; it downloads no browser).
if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
[ -x /usr/bin/chromium ] || { echo "test-npm.sh: /usr/bin/chromium is missing after apt-get install chromium" >&2; exit 1; }
(cd npm && npm install --no-audit --no-fund --loglevel=error)
for tool in node_modules/.bin/deno node_modules/.bin/wasm-opt node_modules/workerd/package.json \
    node_modules/playwright-core/package.json; do
    [ -e "npm/$tool" ] || { echo "test-npm.sh: npm/$tool is missing after npm install (npm/package.json devDependencies)" >&2; exit 1; }
done

step "build the simd128 and baseline wasm (release, wasm-opt -O3)"
(cd npm && node scripts/build.mjs)
cat npm/dist/sizes.json

step "wasm-bindgen-test unit tests under Node"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p grape-wasm --target wasm32-unknown-unknown --target-dir target/wasm-test

step "npm test: Node, Deno, workerd, Chromium (simd128 build)"
(cd npm && DENO_NO_UPDATE_CHECK=1 timeout 900 npm test)

step "Node and Chromium with the baseline build"
(cd npm && GRAPE_WASM_FLAVOUR=baseline timeout 600 node --test test/node.test.mjs test/browser.test.mjs)

step "native <-> wasm bytes"
INTEROP="$(mktemp -d)"
MEMGEN="$(mktemp -d)"
trap 'rm -rf "$INTEROP" "$MEMGEN"' EXIT
cargo run -q --release -p grape-tests --bin grape-interop -- export "$INTEROP"
node npm/test/interop.mjs "$INTEROP"
cargo run -q --release -p grape-tests --bin grape-interop -- check "$INTEROP"

step "workerd memory: 100k x 384-d int8 collection, streamed into a worker (128 MB)"
cargo run -q --release -p grape-tests --bin grape-memgen -- "$MEMGEN"
(cd npm && GRAPE_MEMGEN_DIR="$MEMGEN" timeout 300 node --test test/workerd-memory.mjs)

step "npm package tests passed"
