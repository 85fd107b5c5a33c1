#!/usr/bin/env node
// Cargo runner for wasm32-wasip1: runs a WASI (preview1) module under Node's
// built-in `node:wasi` and exits with the module's exit code.
//
//   node scripts/wasi-run.mjs path/to/module.wasm [args...]
//
// Used by scripts/test-core-wasm.sh as CARGO_TARGET_WASM32_WASIP1_RUNNER, so
// `cargo test --target wasm32-wasip1` runs the libtest harness here; the test
// filter and flags after `--` arrive as [args...].
//
// Node 20's WASI is marked experimental and prints a warning when loaded;
// that warning is silenced here (nothing else is), and the module is imported
// dynamically so the listener is in place first.

import { readFile } from 'node:fs/promises';
import process from 'node:process';

process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'ExperimentalWarning') console.error(`${w.name}: ${w.message}`);
});

const [wasmPath, ...args] = process.argv.slice(2);
if (!wasmPath) {
  console.error('usage: node scripts/wasi-run.mjs <module.wasm> [args...]');
  process.exit(2);
}

const { WASI } = await import('node:wasi');
const wasi = new WASI({
  version: 'preview1',
  // argv[0] is the program name, as for a native binary.
  args: [wasmPath, ...args],
  env: process.env,
  // No preopens: the module gets no file system access.
  returnOnExit: true,
});

let code;
try {
  const module = await WebAssembly.compile(await readFile(wasmPath));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  // start() runs `_start` and returns the code passed to proc_exit (0 if
  // `_start` returns normally).
  code = wasi.start(instance);
} catch (err) {
  if (err instanceof WebAssembly.RuntimeError) {
    // A trap. Rust panics abort on wasm32-wasip1 (an `unreachable` trap);
    // the panic message was printed before it (run libtest with
    // RUST_TEST_NOCAPTURE=1, or it stays in the captured output).
    console.error(`wasi-run: ${wasmPath}: trap: ${err.message}`);
  } else {
    // Compile or link error, e.g. an import Node's WASI does not provide.
    console.error(`wasi-run: ${wasmPath}: ${err && err.stack ? err.stack : err}`);
  }
  code = 101;
}
// Exit at once: letting Node tear the instance down on its own crashed
// once (SIGSEGV after every test had passed) under memory pressure.
process.exit(code);
