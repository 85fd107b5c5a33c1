// The www/ demo page in headless Chromium: serves the repository root on
// 127.0.0.1, opens /www/ with Debian's chromium through playwright-core and
// checks text, similarity and hybrid search with filters, the IndexedDB
// copy and the reload from it. Needs `npm run build` (dist/), the npm
// devDependency playwright-core and /usr/bin/chromium (override with
// GRAPE_CHROMIUM); a missing piece fails the test, it is never skipped.
// GRAPE_WASM_FLAVOUR=baseline makes the page load the baseline build.
// Screenshot: npm/test-artifacts/www.png.
import assert from "node:assert/strict";
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, resolve, sep } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const NPM = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = resolve(NPM, "..");
const ARTIFACTS = join(NPM, "test-artifacts");
const CHROMIUM = process.env.GRAPE_CHROMIUM || "/usr/bin/chromium";
const FLAVOUR = process.env.GRAPE_WASM_FLAVOUR || "";
const LIMIT = 10; // hits the page shows

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".md": "text/markdown; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".txt": "text/plain; charset=utf-8",
};

/** A static file server for ROOT on 127.0.0.1 (a free port); records what it served. */
function startServer() {
  const log = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    let path = decodeURIComponent(url.pathname);
    const entry = { method: req.method, path, status: 200 };
    log.push(entry);
    const reply = (status, body, headers = {}) => {
      entry.status = status;
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return reply(405, "method not allowed\n");
    let file = resolve(ROOT, "." + path);
    if (file !== ROOT && !file.startsWith(ROOT + sep)) return reply(403, "outside the root\n");
    let stat;
    try {
      stat = statSync(file);
      if (stat.isDirectory()) {
        if (!path.endsWith("/")) return reply(301, "", { location: path + "/" });
        file = join(file, "index.html");
        stat = statSync(file);
      }
    } catch {
      return reply(404, `not found: ${path}\n`);
    }
    entry.file = file;
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "content-length": stat.size,
      "cache-control": "no-store",
    });
    if (req.method === "HEAD") return res.end();
    createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolvePromise({ server, log, base: `http://127.0.0.1:${port}` });
    });
  });
}

// --- what the corpus says the answers must be ----------------------------

const corpus = JSON.parse(readFileSync(join(ROOT, "www/data/corpus.json"), "utf8"));
const docs = corpus.docs;
const byId = new Map(docs.map((d) => [d.id, d]));
const tokens = (s) => s.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);

/**
 * A title word of one document that no other document shares even a
 * 6-letter prefix with (so no stemmer can make it match elsewhere).
 */
function distinctiveTitleWord() {
  const prefixDocs = new Map();
  for (const d of docs) {
    for (const t of new Set(tokens(`${d.title} ${d.abstract}`))) {
      const p = t.slice(0, 6);
      if (!prefixDocs.has(p)) prefixDocs.set(p, new Set());
      prefixDocs.get(p).add(d.id);
    }
  }
  for (const d of docs) {
    for (const t of tokens(d.title)) {
      if (t.length >= 8 && /^[a-z]+$/.test(t) && prefixDocs.get(t.slice(0, 6)).size === 1) {
        return { doc: d, word: t };
      }
    }
  }
  throw new Error("no distinctive title word in www/data/corpus.json");
}

const FILTER_TITLE = "cell"; // a substring of many titles
const wordsSorted = docs.map((d) => d.words).sort((a, b) => a - b);
const MEDIAN_WORDS = wordsSorted[wordsSorted.length >> 1];
const passes = (d, f) =>
  (!f.titleContains || d.title.toLowerCase().includes(f.titleContains.toLowerCase())) &&
  (f.minWords === undefined || d.words >= f.minWords);

// --- the browser -----------------------------------------------------------

let chromium;
let srv;
let browser;
let page;
const pageErrors = [];
const outside = [];

async function loadPlaywright() {
  try {
    return (await import("playwright-core")).chromium;
  } catch (e) {
    throw new Error(`playwright-core is not installed in npm/node_modules (npm install in npm/): ${e.message}`);
  }
}

before(async () => {
  for (const f of ["dist/simd/grape_wasm.js", "dist/simd/grape_wasm_bg.wasm",
    "dist/baseline/grape_wasm.js", "dist/baseline/grape_wasm_bg.wasm"]) {
    assert.ok(existsSync(join(NPM, f)), `npm/${f} is missing: build the package first (cd npm && npm run build)`);
  }
  assert.ok(existsSync(CHROMIUM),
    `${CHROMIUM} is missing: apt-get install -y chromium (or set GRAPE_CHROMIUM to a Chromium binary)`);
  chromium = await loadPlaywright();
  srv = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const context = await browser.newContext({ viewport: { width: 1100, height: 1400 } });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(`console.error: ${m.text()}`); });
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(srv.base + "/") && !u.startsWith("data:")) outside.push(u);
  });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (srv ? srv.server.close(r) : r()));
});

const pageUrl = () => `${srv.base}/www/${FLAVOUR ? `?flavour=${FLAVOUR}` : ""}`;

/** Waits for the page's start-up; returns `grapeDemo.ready`'s value. */
async function whenReady() {
  await page.waitForFunction(() => window.grapeDemo !== undefined);
  const state = await page.evaluate(() => window.grapeDemo.ready);
  assert.deepEqual(pageErrors, [], "errors on the page");
  return state;
}

/** Fills the form, clicks a search button and returns the hits shown. */
async function uiSearch(button, { q = "", ref = "", titleContains = "", minWords } = {}) {
  await page.fill("#q", q);
  await page.fill("#ref", String(ref));
  await page.fill("#title-filter", titleContains);
  await page.fill("#min-words", minWords === undefined ? "" : String(minWords));
  const before = await page.evaluate(() => [window.grapeDemo.last?.run ?? 0, window.grapeDemo.failures]);
  await page.click(button);
  await page.waitForFunction(([runs, failures]) =>
    (window.grapeDemo.last?.run ?? 0) > runs || window.grapeDemo.failures > failures, before);
  assert.equal(await page.isVisible("#error"), false, `the page shows an error: ${await page.textContent("#error")}`);
  const shown = await page.$$eval("#results li", (items) => items.map((li) => ({
    id: Number(li.dataset.id),
    score: Number(li.dataset.score),
    title: li.querySelector(".title").textContent,
    words: Number(li.dataset.words),
  })));
  const last = await page.evaluate(() => window.grapeDemo.last);
  assert.deepEqual(shown.map((h) => h.id), last.hits.map((h) => h.id), "the list shows the last search");
  assert.ok(last.ms >= 0 && last.ms < 5000, `query time ${last.ms} ms`);
  assert.match(await page.textContent("#results-head"), /\d+ hits? in [\d.]+ ms/);
  return shown;
}

/** The bytes saved under `key` in IndexedDB "grape" (null when absent), read without the page's code. */
function savedCopy(key) {
  return page.evaluate(async (k) => {
    const names = (await indexedDB.databases()).map((d) => d.name);
    if (!names.includes("grape")) return null;
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open("grape");
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    try {
      if (!db.objectStoreNames.contains("collections")) return null;
      const value = await new Promise((res, rej) => {
        const r = db.transaction("collections").objectStore("collections").get(k);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      if (value === undefined) return null;
      const bytes = new Uint8Array(value.buffer ? value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength) : value);
      return { length: bytes.length, magic: String.fromCharCode(...bytes.subarray(0, 8)) };
    } finally {
      db.close();
    }
  }, key);
}

const { doc: rare, word: RARE_WORD } = distinctiveTitleWord();
// The hybrid reference: the first document with the filter word in its title
// and an abstract of at least the median length.
const hybridFilter = { titleContains: FILTER_TITLE, minWords: MEDIAN_WORDS };
const hybridRef = docs.find((d) => passes(d, hybridFilter));
const answers = {}; // first-visit hits, compared after the reload

async function threeSearches() {
  return {
    text: await uiSearch("#run-text", { q: RARE_WORD }),
    similar: await uiSearch("#run-similar", { ref: rare.id, titleContains: FILTER_TITLE, minWords: MEDIAN_WORDS }),
    hybrid: await uiSearch("#run-hybrid", { q: hybridRef.title, ref: hybridRef.id, ...hybridFilter }),
  };
}

test("first visit: builds the collection from the corpus and saves it to IndexedDB", async () => {
  const t0 = performance.now();
  await page.goto(pageUrl());
  const state = await whenReady();
  const ms = performance.now() - t0;
  assert.equal(state.source, "corpus");
  assert.equal(state.count, docs.length);
  assert.equal(state.flavour, FLAVOUR || "simd", "Chromium validates simd128, so the loader picks simd");
  assert.match(await page.textContent("#status"), /built from corpus/);
  const saved = await page.evaluate(() => window.grapeDemo.saved);
  assert.ok(saved.bytes > 0);
  const copy = await savedCopy(await page.evaluate(() => window.grapeDemo.key));
  assert.ok(copy, "nothing saved in IndexedDB");
  assert.equal(copy.magic, "GRAPEIDX");
  assert.equal(copy.length, saved.bytes);
  const t = state.timings;
  console.log(`first visit ready in ${ms.toFixed(0)} ms (${state.flavour}): fetch ${t.fetchMs.toFixed(1)} ms, ` +
    `decode ${t.decodeMs.toFixed(1)} ms, build ${t.buildMs.toFixed(1)} ms; ` +
    `saved ${(saved.bytes / 1024).toFixed(0)} KB in ${saved.saveMs.toFixed(1)} ms`);
});

test("text search: a distinctive title word finds its document; a filter can exclude it", async () => {
  const hits = await uiSearch("#run-text", { q: RARE_WORD });
  assert.ok(hits.length >= 1, `no hits for ${RARE_WORD}`);
  assert.equal(hits[0].id, rare.id, `"${RARE_WORD}" should find document ${rare.id} (${rare.title})`);
  assert.ok(hits[0].score > 0);
  const excluded = await uiSearch("#run-text", { q: RARE_WORD, minWords: rare.words + 1 });
  assert.ok(!excluded.some((h) => h.id === rare.id), "the words filter let the document through");
  for (const h of excluded) assert.ok(h.words > rare.words, `hit ${h.id} has ${h.words} words`);
});

test("similarity search: a document is its own top hit; the filter is respected", async () => {
  const hits = await uiSearch("#run-similar", { ref: rare.id });
  assert.equal(hits.length, LIMIT);
  assert.equal(hits[0].id, rare.id);
  assert.ok(hits[0].score > 0.999 && hits[0].score < 1.001, `self-similarity ${hits[0].score}`);
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score, "scores descend");

  const f = { titleContains: FILTER_TITLE, minWords: MEDIAN_WORDS };
  const matching = docs.filter((d) => passes(d, f));
  assert.ok(matching.length >= LIMIT, `only ${matching.length} documents pass the filter`);
  const filtered = await uiSearch("#run-similar", { ref: rare.id, ...f });
  assert.equal(filtered.length, LIMIT);
  for (const h of filtered) {
    assert.ok(passes(byId.get(h.id), f), `hit ${h.id} (${h.title}, ${h.words} words) fails the filter`);
    assert.ok(h.title.toLowerCase().includes(FILTER_TITLE));
  }
  assert.equal(filtered.some((h) => h.id === rare.id), passes(rare, f));
});

test("hybrid search (RRF) with the filter", async () => {
  const filtered = await uiSearch("#run-hybrid", { q: hybridRef.title, ref: hybridRef.id, ...hybridFilter });
  assert.ok(filtered.length >= 1);
  assert.equal(filtered[0].id, hybridRef.id, "the reference document tops both lists, so the fusion too");
  for (const h of filtered) assert.ok(passes(byId.get(h.id), hybridFilter), `hit ${h.id} fails the filter`);
  for (let i = 1; i < filtered.length; i++) assert.ok(filtered[i - 1].score >= filtered[i].score);
  assert.ok(filtered.at(-1).score > 0);
  // The same query unfiltered returns documents the filter removes.
  const open = await uiSearch("#run-hybrid", { q: hybridRef.title, ref: hybridRef.id });
  assert.equal(open[0].id, hybridRef.id);
  assert.ok(open.some((h) => !passes(byId.get(h.id), hybridFilter)),
    "the unfiltered hybrid search should include documents the filter excludes");
  // Through the hook too (same code path, no form).
  const viaHook = await page.evaluate(([q, ref, f]) => window.grapeDemo.hybrid(q, ref, f),
    [hybridRef.title, hybridRef.id, hybridFilter]);
  assert.deepEqual(viaHook.hits.map((h) => h.id), filtered.map((h) => h.id));
  Object.assign(answers, await threeSearches());
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, ".gitignore"), "*\n");
  await uiSearch("#run-hybrid", { q: hybridRef.title, ref: hybridRef.id, ...hybridFilter });
  await page.screenshot({ path: join(ARTIFACTS, "www.png"), fullPage: true });
});

test("reload: opens the saved copy from IndexedDB and answers the same", async () => {
  const served = srv.log.length;
  const t0 = performance.now();
  await page.reload();
  const state = await whenReady();
  const ms = performance.now() - t0;
  assert.equal(state.source, "indexeddb");
  assert.equal(state.count, docs.length);
  assert.match(await page.textContent("#status"), /loaded from IndexedDB/);
  const fetched = srv.log.slice(served).map((e) => e.path);
  assert.ok(!fetched.some((p) => p.startsWith("/www/data/")), `the corpus was fetched again: ${fetched}`);
  const again = await threeSearches();
  for (const kind of ["text", "similar", "hybrid"]) {
    assert.deepEqual(again[kind].map((h) => h.id), answers[kind].map((h) => h.id), `${kind} after reload`);
    again[kind].forEach((h, i) => assert.ok(Math.abs(h.score - answers[kind][i].score) < 1e-5, `${kind} score ${i}`));
  }
  console.log(`reload ready in ${ms.toFixed(0)} ms: loaded from IndexedDB in ${state.timings.loadMs.toFixed(1)} ms`);
});

test("clear saved copy: the next visit builds from the corpus again", async () => {
  const key = await page.evaluate(() => window.grapeDemo.key);
  await page.click("#clear");
  await page.waitForFunction(() => /cleared/.test(document.getElementById("saved").textContent));
  assert.equal(await savedCopy(key), null, "the saved copy is still there");
  await page.reload();
  const state = await whenReady();
  assert.equal(state.source, "corpus");
  assert.match(await page.textContent("#status"), /built from corpus/);
  await page.evaluate(() => window.grapeDemo.saved);
  assert.ok(await savedCopy(key));
});

test("the page only talked to the local server, and found every file", () => {
  assert.deepEqual(outside, [], "requests outside 127.0.0.1");
  const failed = srv.log.filter((e) => e.status >= 400);
  assert.deepEqual(failed, [], "requests that failed");
  const wasm = srv.log.filter((e) => e.path.endsWith(".wasm"));
  assert.ok(wasm.length >= 1, "no .wasm was fetched");
  assert.deepEqual(pageErrors, [], "errors on the page");
});
