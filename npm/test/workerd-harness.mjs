// Running a real workerd for the tests (workerd.test.mjs, workerd-memory.mjs):
// the package files a worker imports, the config, start on 127.0.0.1 with the
// port read from the control descriptor, stop by PID. Not a test file itself
// (node --test runs *.test.mjs).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PKG = fileURLToPath(new URL("..", import.meta.url));

/** The package files the test workers import, under their package paths. */
const PACKAGE_MODULES = [
  ["src/workerd.js", "esModule"],
  ["src/grape.js", "esModule"],
  ["src/simd.js", "esModule"],
  ["dist/simd/grape_wasm.js", "esModule"],
  ["dist/simd/grape_wasm_bg.wasm", "wasm"],
  ["dist/baseline/grape_wasm.js", "esModule"],
  ["dist/baseline/grape_wasm_bg.wasm", "wasm"],
];

/** The workerd binary (the npm package's main export is its path; its PID is workerd's own). */
export async function workerdBinary() {
  let bin;
  try {
    bin = (await import("workerd")).default;
  } catch (e) {
    assert.fail(`workerd is missing (${e.message}): run \`npm install\` in npm/ (devDependency "workerd")`);
  }
  bin = typeof bin === "string" ? bin : bin?.default;
  assert.ok(typeof bin === "string" && existsSync(bin), `the workerd package names no binary (${bin})`);
  return bin;
}

/** Copies the package files the worker imports into `dir`, under their package paths. */
export function copyPackage(dir) {
  for (const [f] of PACKAGE_MODULES) {
    const from = join(PKG, f);
    assert.ok(existsSync(from), `${from} is missing: run \`npm run build\` in npm/ first`);
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(from, join(dir, f));
  }
}

/**
 * The workerd config: one worker (`test/worker.js` plus `extra` modules, e.g.
 * `[["test/collection.bin", "data"]]`), one socket on 127.0.0.1, and the
 * test's origin server as the service binding `ORIGIN`.
 */
export function workerdConfig(originPort, extra = []) {
  const modules = [["test/worker.js", "esModule"], ...extra, ...PACKAGE_MODULES]
    .map(([name, kind]) => `    (name = "${name}", ${kind} = embed "${name}"),`)
    .join("\n");
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .grapeWorker),
    (name = "origin", external = (address = "127.0.0.1:${originPort}", http = ())),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
);

const grapeWorker :Workerd.Worker = (
  modules = [
${modules}
  ],
  bindings = [ (name = "ORIGIN", service = "origin") ],
  compatibilityDate = "2025-01-01",
);
`;
}

/**
 * Starts `workerd serve config.capnp` in `dir`; workerd binds 127.0.0.1:0 and
 * reports the port on the control descriptor. Resolves to `{proc, base,
 * log()}` once it listens; fails with workerd's output if it exits first or
 * does not listen within `timeoutMs`. The process is SIGKILLed if this Node
 * process exits or is stopped from outside while workerd still runs.
 */
export async function startWorkerd(bin, dir, timeoutMs) {
  let log = "";
  const proc = spawn(bin, ["serve", join(dir, "config.capnp"), "--control-fd=3"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe", "pipe"],
  });
  const kill = () => {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, "SIGKILL");
  };
  process.once("exit", kill);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      kill();
      process.exit(1);
    });
  }
  proc.stdout.on("data", (d) => { log += d; });
  proc.stderr.on("data", (d) => { log += d; });
  const exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  const listening = new Promise((resolve) => {
    let control = "";
    proc.stdio[3].on("data", (d) => {
      control += d;
      for (const line of control.split("\n").slice(0, -1)) {
        const msg = JSON.parse(line);
        if (msg.event === "listen" && msg.socket === "http") resolve(msg.port);
      }
      control = control.slice(control.lastIndexOf("\n") + 1);
    });
  });
  let timer;
  const first = await Promise.race([
    listening.then((port) => ({ port })),
    exited.then((gone) => ({ gone })),
    new Promise((resolve) => { timer = setTimeout(() => resolve({ late: true }), timeoutMs); }),
  ]);
  clearTimeout(timer);
  if (first.port === undefined) kill();
  assert.equal(first.gone, undefined, `workerd exited (${JSON.stringify(first.gone)}) before listening:\n${log}`);
  assert.equal(first.late, undefined, `workerd did not listen within ${timeoutMs} ms:\n${log}`);
  return { proc, base: `http://127.0.0.1:${first.port}`, log: () => log };
}

/** Stops a workerd started by `startWorkerd`, by its PID: SIGTERM, then SIGKILL after 5 s. */
export async function stopWorkerd(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((resolve) => proc.once("exit", resolve));
  process.kill(proc.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, "SIGKILL");
  }, 5000);
  await gone;
  clearTimeout(timer);
}
