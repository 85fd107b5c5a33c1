// Test data shared by the Node, Deno and workerd tests (plain ESM: loads in
// every runtime). Not a test file itself (node --test runs *.test.mjs).

/** Deterministic pseudo-random numbers in [-0.5, 0.5) (xorshift32). */
export function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** `n` random vectors of `dim` components, end to end. */
export function vectors(n, dim, seed) {
  const r = rng(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = r();
  return out;
}

/** Exact top-k ids by cosine similarity (ties: lower id first). */
export function cosineTop(data, dim, q, k) {
  const n = data.length / dim;
  let qq = 0;
  for (let j = 0; j < dim; j++) qq += q[j] * q[j];
  const scored = [];
  for (let i = 0; i < n; i++) {
    let dot = 0, nn = 0;
    for (let j = 0; j < dim; j++) {
      const x = data[i * dim + j];
      dot += x * q[j];
      nn += x * x;
    }
    scored.push([i, dot / Math.sqrt(nn * qq)]);
  }
  scored.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return scored.slice(0, k).map((s) => s[0]);
}

/** Five small documents with a 3-d vector, a text and a kind. */
export const DOCS = [
  { id: 1, text: "red apples and green pears", kind: "fruit", v: [1, 0, 0] },
  { id: 2, text: "apples grow on trees", kind: "fruit", v: [0.9, 0.1, 0] },
  { id: 3, text: "the sea is deep and blue", kind: "nature", v: [0, 1, 0] },
  { id: 4, text: "blue whales swim in the deep sea", kind: "animal", v: [0, 0.9, 0.1] },
  { id: 5, text: "trees and forests", kind: "nature", v: [0, 0, 1] },
];

/** A collection of the five DOCS (dense, sparse `terms`, text `body`, payload `kind`). */
export function small(Collection) {
  const c = new Collection({
    vectors: { size: 3, distance: "Cosine" },
    sparse_vectors: { terms: { modifier: "idf" } },
    text_fields: { body: { stopwords: "english" } },
  });
  c.upsert(DOCS.map((d) => ({
    id: d.id,
    vector: Float32Array.from(d.v),
    sparse: { terms: { indices: [d.id, 100], values: [1, 0.5] } },
    text: d.text,
    payload: { kind: d.kind },
  })));
  return c;
}
