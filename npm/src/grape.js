// The JavaScript face of a grape-wasm build: the `Collection` class with
// typed-array conveniences over the wasm-bindgen class. `bind` is called by
// each runtime's entry point (node.js, web.js, workerd.js) once the glue
// module is initialised.

// JSON has no NaN or infinity: check here, with the core's message.
function finite(values, path) {
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (typeof x !== "number") {
      throw gError("invalid_query", `${path}[${i}]: expected a number, got ${typeof x}`);
    }
    if (!Number.isFinite(x)) {
      throw gError("non_finite", `${path}: vector component ${i} is not a finite number (${x})`);
    }
  }
  return values;
}

function plainVector(v, path) {
  if (v instanceof Float32Array || v instanceof Float64Array) return finite(Array.from(v), path);
  if (Array.isArray(v)) return finite(v, path);
  if (v && typeof v === "object" && "indices" in v) {
    return { indices: Array.from(v.indices), values: finite(Array.from(v.values), `${path}.values`) };
  }
  throw gError("invalid_query", `${path}: expected an array, a Float32Array or {indices, values}`);
}

function gError(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

/** Normalises one user point into Qdrant's PointStruct shape. */
function plainPoint(p, i, textFields) {
  if (p === null || typeof p !== "object") {
    throw gError("invalid_query", `points[${i}]: expected an object`);
  }
  const out = { id: p.id, payload: p.payload ?? {} };
  const vectors = {};
  let unnamed;
  if (p.vector !== undefined) {
    if (p.vector instanceof Float32Array || Array.isArray(p.vector) || p.vector instanceof Float64Array) {
      unnamed = plainVector(p.vector, `points[${i}].vector`);
    } else if (p.vector && typeof p.vector === "object") {
      for (const [name, v] of Object.entries(p.vector)) vectors[name] = plainVector(v, `points[${i}].vector.${name}`);
    } else {
      throw gError("invalid_query", `points[${i}].vector: expected an array, a Float32Array or named vectors`);
    }
  }
  if (p.sparse) {
    for (const [name, v] of Object.entries(p.sparse)) vectors[name] = plainVector(v, `points[${i}].sparse.${name}`);
  }
  if (unnamed !== undefined) {
    if (Object.keys(vectors).length) vectors[""] = unnamed;
    else out.vector = unnamed;
  }
  if (Object.keys(vectors).length) out.vector = vectors;
  if (p.text !== undefined) {
    // `text: "..."` fills the only text field; `text: {field: "..."}` names them.
    const texts = typeof p.text === "string" ? oneField(textFields, p.text, i) : p.text;
    out.payload = { ...out.payload, ...texts };
  }
  return out;
}

function oneField(fields, text, i) {
  if (fields.length !== 1) {
    throw gError("invalid_query",
      `points[${i}].text: a plain string needs exactly one text field, the collection has ${fields.length}; use {field: text}`);
  }
  return { [fields[0]]: text };
}

function searchParams(opts) {
  const params = {};
  if (opts.ef !== undefined) params.hnsw_ef = opts.ef;
  if (opts.exact !== undefined) params.exact = opts.exact;
  if (opts.quantization !== undefined) params.quantization = opts.quantization;
  return Object.keys(params).length ? params : undefined;
}

export function bind(glue, flavour) {
  const Raw = glue.Collection;

  class Collection {
    #raw;
    #textFields;

    /**
     * @param {object} config Qdrant's create-collection body, e.g.
     *   `{vectors: {size: 384, distance: "Cosine"}, text_fields: {body: {}}}`.
     */
    constructor(config, raw) {
      this.#raw = raw instanceof Raw ? raw : new Raw(config);
      this.#textFields = this.#raw.textFields();
    }

    /** Loads a collection from portable-format bytes (browser, Node or native Grape). */
    static fromBytes(bytes) {
      if (!(bytes instanceof Uint8Array)) {
        throw gError("invalid_query", "fromBytes: expected a Uint8Array");
      }
      return new Collection(undefined, Raw.fromBytes(bytes));
    }

    /** The collection in the portable byte format. */
    toBytes() {
      return this.#raw.toBytes();
    }

    /** Number of points. */
    get length() {
      return this.#raw.length;
    }

    /** Which wasm build runs: "simd" or "baseline". */
    static get flavour() {
      return flavour;
    }

    /** Inserts or replaces points `{id, vector, payload, sparse, text}`. */
    upsert(points) {
      if (!Array.isArray(points)) throw gError("invalid_query", "upsert: expected an array of points");
      this.#raw.upsert(points.map((p, i) => plainPoint(p, i, this.#textFields)));
    }

    /**
     * The bulk path: `ids.length` vectors laid end to end in one Float32Array.
     * @param {Array<number|string>} ids
     * @param {Float32Array} vectors
     * @param {{payloads?: object[], using?: string}} [opts]
     */
    upsertVectors(ids, vectors, opts = {}) {
      if (!(vectors instanceof Float32Array)) {
        throw gError("invalid_query", "upsertVectors: vectors must be one Float32Array");
      }
      this.#raw.upsertDense(opts.using ?? "", ids, vectors, opts.payloads);
    }

    /** Points by id: `[{id, payload, vector?}]`. */
    get(ids, opts = {}) {
      return this.#raw.get(ids, Boolean(opts.withVector));
    }

    /** Deletes by ids (an array) or by a Qdrant filter (`{filter}` or a filter object); returns the count. */
    delete(target) {
      if (Array.isArray(target)) return this.#raw.delete(target);
      if (target && typeof target === "object") return this.#raw.deleteByFilter(target.filter ?? target);
      throw gError("invalid_query", "delete: expected an array of ids or a filter");
    }

    /** Number of points, optionally matching a filter. */
    count(filter) {
      return this.#raw.count(filter ?? null);
    }

    /**
     * Nearest points to a dense vector.
     * @param {Float32Array|number[]} vector
     * @param {{limit?: number, using?: string, filter?: object, ef?: number, exact?: boolean,
     *          quantization?: object, withPayload?: boolean|string[], withVector?: boolean,
     *          scoreThreshold?: number}} [opts]
     */
    search(vector, opts = {}) {
      return this.#raw.query(this.#request({ query: plainVector(vector, "vector") }, opts));
    }

    /** BM25 search of a text field (`opts.using`, default: the only text field). */
    searchText(text, opts = {}) {
      const using = opts.using ?? (this.#textFields.length === 1 ? this.#textFields[0] : undefined);
      if (typeof text !== "string") throw gError("invalid_query", "searchText: text must be a string");
      return this.#raw.query(this.#request({ query: { text } }, { ...opts, using }));
    }

    /** Qdrant's universal query (`prefetch`, `query`, `fusion`, `filter`, ...). */
    query(request) {
      return this.#raw.query(request);
    }

    /** Indexes a payload key: "keyword", "integer", "float", "bool" or "datetime". */
    createPayloadIndex(field, schema) {
      this.#raw.createPayloadIndex(field, schema);
    }

    /** Compacts deleted points and (re)trains quantizers after bulk changes. */
    optimize() {
      this.#raw.optimize();
    }

    /** Sizes: points and bytes per index. */
    stats() {
      return { ...this.#raw.stats(), flavour };
    }

    /** Frees the wasm memory; the collection cannot be used afterwards. */
    free() {
      this.#raw.free();
    }

    #request(base, opts) {
      const r = { ...base, limit: opts.limit ?? 10 };
      if (opts.using) r.using = opts.using;
      if (opts.filter) r.filter = opts.filter;
      if (opts.scoreThreshold !== undefined) r.score_threshold = opts.scoreThreshold;
      if (opts.withPayload !== undefined) r.with_payload = opts.withPayload;
      if (opts.withVector !== undefined) r.with_vector = opts.withVector;
      const params = searchParams(opts);
      if (params) r.params = params;
      return r;
    }
  }

  return { Collection, flavour };
}
