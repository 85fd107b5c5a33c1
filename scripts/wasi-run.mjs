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

// Node 20 has crashed (SIGSEGV) while tearing down after a test binary had
// run to the end and printed its summary: seen in two full runs, never when
// rerun alone. The module therefore runs in a child Node process; a crash
// of that child *after* libtest printed `test result: ok.` (and no FAILED)
// is reported on stderr and counted as the pass libtest already declared.
// Any other crash, trap or failure keeps its exit status.
if (!process.env.GRAPE_WASI_CHILD) {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [process.argv[1], wasmPath, ...args], {
    env: { ...process.env, GRAPE_WASI_CHILD: '1' },
    stdio: ['inherit', 'pipe', 'inherit'],
  });
  let tail = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4096);
  });
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  const passed = /test result: ok\./.test(tail) && !/FAILED/.test(tail);
  if (signal === 'SIGSEGV' && passed) {
    console.error(`wasi-run: ${wasmPath}: node crashed (SIGSEGV) after every test passed; counting the pass`);
    process.exit(0);
  }
  process.exit(signal ? 128 + 11 : (code ?? 1));
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
