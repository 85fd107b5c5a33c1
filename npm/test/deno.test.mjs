// The npm package under Deno, through src/web.js (the entry Deno resolves):
// the shared API suite (suite.mjs).
//
// Run under Deno:
//   node_modules/.bin/deno test --allow-read=. --no-remote --no-npm --cached-only --no-lock --no-config test/deno.test.mjs
// (from npm/, after `npm install && npm run build`). Nothing is downloaded:
// the only imports are the package's own files and Deno's built-in `node:`
// modules.
//
// Run under Node (`node --test test/`, which picks up every file here), this
// file does not test Node: it starts Deno on itself, as above, and fails with
// Deno's output if Deno fails, is missing or runs longer than two minutes.

const DENO_TIMEOUT_MS = 120_000;

if (typeof globalThis.Deno?.test === "function") {
  await denoTests();
} else {
  await runUnderDeno();
}

/** Node: one test that runs this file with `deno test`, offline. */
async function runUnderDeno() {
  const { test } = await import("node:test");
  const assert = (await import("node:assert/strict")).default;
  const { spawnSync } = await import("node:child_process");
  const { existsSync } = await import("node:fs");
  const { fileURLToPath } = await import("node:url");

  const pkg = fileURLToPath(new URL("..", import.meta.url));
  const deno = fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
  const self = fileURLToPath(import.meta.url);

  test("the package's Deno tests pass under Deno", () => {
    assert.ok(existsSync(deno),
      `Deno is missing (${deno}): run \`npm install\` in npm/ (devDependency "deno")`);
    const r = spawnSync(deno, denoArgs(pkg, self), {
      cwd: pkg,
      encoding: "utf8",
      timeout: DENO_TIMEOUT_MS,
      killSignal: "SIGKILL",
      env: denoEnv(process.env),
    });
    const output = `${r.stdout ?? ""}${r.stderr ?? ""}`;
    assert.equal(r.error, undefined, `deno did not run: ${r.error}\n${output}`);
    assert.equal(r.signal, null, `deno was stopped by ${r.signal} (time limit ${DENO_TIMEOUT_MS} ms)\n${output}`);
    assert.equal(r.status, 0, `deno test failed (exit ${r.status}):\n${output}`);
    // The summary line ("ok | 7 passed | 0 failed") proves the tests ran.
    assert.match(output, /ok \| [1-9]\d* passed \| 0 failed/, output);
  });
}

/** The flags of an offline Deno run (scripts/test-npm.sh passes the same ones). */
function denoArgs(pkg, file) {
  return [
    "test",
    `--allow-read=${pkg}`, // the .wasm files are fetched from file: URLs
    "--no-remote", // no http(s) imports
    "--no-npm", // no npm: specifiers, no registry
    "--cached-only", // never download
    "--no-lock", // do not write deno.lock next to package.json
    "--no-config", // ignore any deno.json / package.json for resolution
    file,
  ];
}

function denoEnv(env) {
  return { ...env, DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1", NO_COLOR: "1" };
}

/** Deno: the shared API suite on web.js (Deno's V8 validates simd128). */
async function denoTests() {
  const assert = (await import("node:assert/strict")).default;
  const { Collection, flavour, load, simdSupported } = await import("../src/web.js");
  const { suite } = await import("./suite.mjs");

  Deno.test("Deno's V8 validates simd128", () => {
    assert.equal(simdSupported(), true);
  });
  for (const [name, fn] of suite({ Collection, flavour, load, wantFlavour: "simd" })) {
    Deno.test(name, fn);
  }
}
