// The demo page: a Grape collection of 1,000 SciFact abstracts (dense
// 384-d cosine vectors + a BM25 text field + a small payload), built from
// data/ on the first visit, saved to IndexedDB and reopened from there on
// the next one. `window.grapeDemo` is the hook npm/test/browser.test.mjs
// drives the page through.

const KEY = "www-demo-scifact-1000"; // IndexedDB key (database "grape", store "collections")
const CONFIG = {
  vectors: { size: 384, distance: "Cosine" },
  text_fields: { text: { stopwords: "english" } },
};
const LIMIT = 10; // hits shown
const FUSE_DEPTH = 50; // hits of each list that hybrid search fuses
const PAYLOAD = ["title", "text", "words"];

const $ = (id) => document.getElementById(id);
const ms = (t) => `${t < 10 ? t.toFixed(2) : t.toFixed(0)} ms`;

let grape; // {Collection, flavour, persist}
let collection;
let runs = 0;
let last = null;
let failures = 0; // searches from the form that ended in an error

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {}); // reported on the page; the hook's caller sees it too
  return { promise, resolve, reject };
}
const ready = deferred();
const saved = deferred();

function showError(e) {
  console.error(e);
  const box = $("error");
  box.textContent = `Error: ${e?.message ?? e}${e?.code ? ` (${e.code})` : ""}`;
  box.hidden = false;
}

/** The package: `?flavour=simd|baseline` forces a build, else the loader picks. */
async function loadPackage() {
  const web = await import("../npm/src/web.js");
  const persist = await import("../npm/src/persist.js");
  const want = new URLSearchParams(location.search).get("flavour");
  if (want && want !== web.flavour) {
    if (want !== "simd" && want !== "baseline") throw new Error(`unknown flavour ${JSON.stringify(want)}`);
    const other = await web.load(want);
    return { Collection: other.Collection, flavour: other.flavour, persist };
  }
  return { Collection: web.Collection, flavour: web.flavour, persist };
}

/** Builds the collection from data/corpus.json and data/vectors.i8. */
async function buildFromCorpus() {
  const t0 = performance.now();
  const [corpus, codes] = await Promise.all([
    fetch("data/corpus.json").then((r) => ok(r).json()),
    fetch("data/vectors.i8").then((r) => ok(r).arrayBuffer()),
  ]);
  const t1 = performance.now();
  const { dim, docs } = corpus;
  if (codes.byteLength !== docs.length * dim) {
    throw new Error(`data/vectors.i8 has ${codes.byteLength} bytes, expected ${docs.length} x ${dim}`);
  }
  // int8 rows scaled to a peak of 127: cosine ignores the scale.
  const vectors = Float32Array.from(new Int8Array(codes));
  const ids = docs.map((d) => d.id);
  const payloads = docs.map((d) => ({
    title: d.title,
    title_lc: d.title.toLowerCase(),
    words: d.words,
    text: `${d.title}\n${d.abstract}`,
  }));
  const t2 = performance.now();
  const c = new grape.Collection(CONFIG);
  c.upsertVectors(ids, vectors, { payloads });
  c.createPayloadIndex("words", "integer");
  const t3 = performance.now();
  return {
    collection: c,
    timings: { fetchMs: t1 - t0, decodeMs: t2 - t1, buildMs: t3 - t2 },
    source: corpus.source,
  };
}

function ok(response) {
  if (!response.ok) throw new Error(`${response.url}: HTTP ${response.status}`);
  return response;
}

async function start() {
  grape = await loadPackage();
  let timings = {};
  let source;
  const t0 = performance.now();
  try {
    collection = await grape.persist.loadFromIndexedDB(KEY, grape.Collection);
  } catch (e) {
    // Unreadable (older format, damaged) or no IndexedDB: build afresh.
    console.warn("no usable saved copy, building from the corpus:", e);
    collection = null;
    await grape.persist.deleteFromIndexedDB(KEY).catch(() => {});
  }
  if (collection) {
    source = "indexeddb";
    timings.loadMs = performance.now() - t0;
    $("status").textContent = `loaded from IndexedDB (${collection.length} documents, ${grape.flavour} build)`;
    $("timings").textContent = `Opened the saved copy in ${ms(timings.loadMs)} (read + Collection.fromBytes).`;
    $("saved").textContent = "A copy is saved in this browser's IndexedDB.";
    saved.resolve({ bytes: null, saveMs: 0 });
  } else {
    source = "corpus";
    const built = await buildFromCorpus();
    collection = built.collection;
    timings = built.timings;
    $("status").textContent = `built from corpus (${collection.length} documents, ${grape.flavour} build)`;
    $("timings").textContent =
      `Fetched the data in ${ms(timings.fetchMs)}, decoded it in ${ms(timings.decodeMs)}, ` +
      `built the collection (HNSW graph, BM25 index, payloads) in ${ms(timings.buildMs)}.`;
    save();
  }
  const s = collection.stats();
  const kb = (b) => `${(b / 1024).toFixed(0)} KB`;
  const dense = s.dense[0] ?? { vectorBytes: 0, graphBytes: 0 };
  $("sizes").textContent =
    `In memory: vectors ${kb(dense.vectorBytes)}, graph ${kb(dense.graphBytes)}, BM25 index ${kb(s.textBytes)}.`;
  for (const b of document.querySelectorAll("button")) b.disabled = false;
  showReference();
  return { source, flavour: grape.flavour, count: collection.length, timings };
}

async function save() {
  $("saved").textContent = "Saving to IndexedDB…";
  try {
    const t0 = performance.now();
    await grape.persist.saveToIndexedDB(KEY, collection);
    const saveMs = performance.now() - t0;
    const bytes = collection.toBytes().length;
    $("saved").textContent =
      `Saved to IndexedDB (${(bytes / 1024).toFixed(0)} KB in ${ms(saveMs)}): the next visit opens it from there.`;
    saved.resolve({ bytes, saveMs });
  } catch (e) {
    $("saved").textContent = "Could not save to IndexedDB.";
    showError(e);
    saved.reject(e);
  }
}

async function clearSaved() {
  await grape.persist.deleteFromIndexedDB(KEY);
  $("saved").textContent = "Saved copy cleared: the next visit builds the collection from the corpus again.";
}

/** The Qdrant filter of the form's filter fields (undefined when empty). */
function formFilter() {
  return makeFilter({ titleContains: $("title-filter").value, minWords: $("min-words").value });
}

function makeFilter({ titleContains, minWords } = {}) {
  const must = [];
  const title = (titleContains ?? "").trim().toLowerCase();
  if (title) must.push({ key: "title_lc", match: { text: title } });
  if (minWords !== undefined && minWords !== null && String(minWords).trim() !== "") {
    const n = Number(minWords);
    if (!Number.isFinite(n)) throw new Error(`minimum words: not a number: ${minWords}`);
    must.push({ key: "words", range: { gte: n } });
  }
  return must.length ? { must } : undefined;
}

/** The stored vector of a document, from the collection itself. */
function storedVector(id) {
  if (String(id).trim() === "") throw new Error("enter a reference document id (e.g. from a hit's \"similar\" button)");
  const n = Number(String(id).trim());
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`reference document: not an id: ${JSON.stringify(id)}`);
  const [point] = collection.get([n], { withVector: true });
  if (!point) throw new Error(`no document with id ${n}`);
  // The only (unnamed) vector comes back as a plain array, as Qdrant returns it.
  const vector = Array.isArray(point.vector) ? point.vector : point.vector?.[""];
  return { id: n, title: point.payload.title, vector };
}

const searches = {
  text(q, filter) {
    if (!q.trim()) throw new Error("type some text to search for");
    return collection.searchText(q, { using: "text", limit: LIMIT, filter, withPayload: PAYLOAD });
  },
  similar(ref, filter) {
    const { vector } = storedVector(ref);
    return collection.search(vector, { limit: LIMIT, filter, withPayload: PAYLOAD });
  },
  hybrid(q, ref, filter) {
    if (!q.trim()) throw new Error("hybrid search needs text as well as a reference document");
    const { vector } = storedVector(ref);
    return collection.query({
      prefetch: [
        { query: { text: q }, using: "text", limit: FUSE_DEPTH },
        { query: vector, limit: FUSE_DEPTH },
      ],
      query: { fusion: "rrf" },
      filter,
      limit: LIMIT,
      with_payload: PAYLOAD,
    });
  },
};

/** Runs one search, timed, and shows its hits. */
function run(kind, args, describe) {
  const t0 = performance.now();
  const hits = searches[kind](...args);
  const took = performance.now() - t0;
  runs += 1;
  last = {
    run: runs,
    kind,
    ms: took,
    hits: hits.map((h) => ({ id: h.id, score: h.score, title: h.payload?.title, words: h.payload?.words })),
  };
  render(hits, `${describe}: ${hits.length} hit${hits.length === 1 ? "" : "s"} in ${ms(took)}`);
  return last;
}

function render(hits, head) {
  $("error").hidden = true;
  $("results-head").textContent = head;
  const list = $("results");
  list.replaceChildren();
  for (const h of hits) {
    const li = document.createElement("li");
    li.dataset.id = String(h.id);
    li.dataset.score = String(h.score);
    li.dataset.words = String(h.payload?.words ?? "");
    const title = document.createElement("strong");
    title.className = "title";
    title.textContent = h.payload?.title ?? `(document ${h.id})`;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = ` id ${h.id} · score ${h.score.toFixed(4)} · ${h.payload?.words ?? "?"} words `;
    const more = document.createElement("button");
    more.type = "button";
    more.className = "more";
    more.textContent = "similar";
    more.addEventListener("click", () => {
      $("ref").value = String(h.id);
      showReference();
      uiRun("similar");
    });
    const text = h.payload?.text ?? "";
    const abstract = document.createElement("p");
    abstract.className = "abstract";
    abstract.textContent = text.slice(text.indexOf("\n") + 1);
    li.append(title, meta, more, abstract);
    list.append(li);
  }
}

function showReference() {
  try {
    const { id, title } = storedVector($("ref").value);
    $("ref-title").textContent = `Document ${id}: ${title}`;
  } catch (e) {
    $("ref-title").textContent = e.message;
  }
}

function uiRun(kind) {
  try {
    const filter = formFilter();
    const q = $("q").value;
    const ref = $("ref").value;
    const f = filter ? " (filtered)" : "";
    if (kind === "text") run("text", [q, filter], `Text search “${q}”${f}`);
    else if (kind === "similar") run("similar", [ref, filter], `Similar to document ${ref}${f}`);
    else run("hybrid", [q, ref, filter], `Hybrid: “${q}” + document ${ref}${f}`);
  } catch (e) {
    failures += 1;
    showError(e);
  }
}

$("search").addEventListener("submit", (e) => {
  e.preventDefault();
  uiRun("text");
});
$("run-similar").addEventListener("click", () => uiRun("similar"));
$("run-hybrid").addEventListener("click", () => uiRun("hybrid"));
$("ref").addEventListener("change", showReference);
$("clear").addEventListener("click", () => clearSaved().catch(showError));

start().then(ready.resolve, (e) => {
  $("status").textContent = "failed to start";
  showError(e);
  ready.reject(e);
  saved.reject(e);
});

// The test hook: promises for start-up and saving, and the searches
// without the form (same code paths as the buttons).
window.grapeDemo = {
  /** Resolves to {source: "corpus"|"indexeddb", flavour, count, timings}. */
  ready: ready.promise,
  /** Resolves once the collection is in IndexedDB. */
  saved: saved.promise,
  key: KEY,
  filter: makeFilter,
  text: (q, filter) => run("text", [q, makeFilter(filter)], `Text search “${q}”`),
  similar: (ref, filter) => run("similar", [ref, makeFilter(filter)], `Similar to document ${ref}`),
  hybrid: (q, ref, filter) => run("hybrid", [q, ref, makeFilter(filter)], `Hybrid: “${q}” + document ${ref}`),
  /** The last search: {run, kind, ms, hits: [{id, score, title, words}]}. */
  get last() { return last; },
  /** How many searches from the form failed (the message is in #error). */
  get failures() { return failures; },
  clearSaved,
};
