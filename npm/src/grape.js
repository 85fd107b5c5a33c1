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

/** A dense query as a Float32Array (typed arrays are not copied in JS). */
function denseVector(v, path) {
  if (v instanceof Float32Array) return finite(v, path);
  if (v instanceof Float64Array) return Float32Array.from(finite(v, path));
  if (Array.isArray(v)) return Float32Array.from(finite(v, path));
  throw gError("invalid_query", `${path}: expected an array or a Float32Array`);
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

/** Size of the buffers a byte stream is read into. */
const STREAM_CHUNK = 1 << 20;

/**
 * A stream's bytes as chunks, never concatenated. A byte stream (a fetch
 * body) is read into 1 MiB buffers of our own: in workerd, keeping the
 * stream's own chunks (~4 KiB each) costs about twice their size in memory.
 */
async function readChunks(stream) {
  const chunks = [];
  let own = false;
  const take = (value) => {
    if (!(value instanceof Uint8Array)) {
      throw gError("invalid_query", "fromStream: the stream gave a chunk that is not a Uint8Array");
    }
    chunks.push(value);
  };
  if (stream && typeof stream.getReader === "function") {
    let byob;
    try {
      byob = stream.getReader({ mode: "byob" });
    } catch {
      // Not a byte stream: its own chunks, as they come.
    }
    const reader = byob ?? stream.getReader();
    try {
      if (byob) {
        own = true;
        let buf = new Uint8Array(STREAM_CHUNK);
        let filled = 0;
        for (;;) {
          const { done, value } = await byob.read(buf.subarray(filled));
          if (value) {
            // The read transferred the buffer: `value` views the new one.
            buf = new Uint8Array(value.buffer);
            filled += value.byteLength;
          }
          if (done || filled === buf.length) {
            if (filled) chunks.push(filled === buf.length ? buf : buf.slice(0, filled));
            if (done) break;
            buf = new Uint8Array(STREAM_CHUNK);
            filled = 0;
          }
        }
      } else {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          take(value);
        }
      }
    } catch (e) {
      await reader.cancel(e).catch(() => {});
      throw e;
    } finally {
      reader.releaseLock();
    }
  } else if (stream && typeof stream[Symbol.asyncIterator] === "function") {
    for await (const value of stream) take(value);
  } else {
    throw gError("invalid_query", "fromStream: expected a ReadableStream or an async iterable of Uint8Arrays");
  }
  return { chunks, own };
}

/**
 * Frees a consumed chunk that `fromStream` allocated itself at once, where
 * the runtime can (`ArrayBuffer.prototype.transfer`), rather than when the
 * garbage collector gets to it: the memory peak of a load is then the
 * unread chunks plus the decoded collection.
 */
function release(chunk) {
  chunk.buffer.transfer?.(0);
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

    /**
     * Loads a collection from portable-format bytes in pieces: Uint8Arrays end
     * to end, e.g. a stream's chunks. Only 64 KiB at a time is copied into wasm
     * memory, and each entry of `chunks` is set to `undefined` once it has been
     * consumed, so the garbage collector can free it during the load.
     * @param {Uint8Array[]} chunks
     */
    static fromChunks(chunks) {
      if (!Array.isArray(chunks)) {
        throw gError("invalid_query", "fromChunks: expected an array of Uint8Arrays");
      }
      return new Collection(undefined, Raw.fromChunks(chunks));
    }

    /**
     * Loads a collection from a stream of portable-format bytes (a
     * ReadableStream such as `response.body`, or an async iterable of
     * Uint8Arrays): the chunks are kept as they arrive, never concatenated,
     * then loaded as `fromChunks` does.
     * @param {ReadableStream<Uint8Array>|AsyncIterable<Uint8Array>} stream
     */
    static async fromStream(stream) {
      const { chunks, own } = await readChunks(stream);
      return new Collection(undefined, Raw.fromChunks(chunks, own ? release : undefined));
    }

    /** Bytes of the wasm memory of this build (it grows and never shrinks). */
    static wasmMemoryBytes() {
      return Raw.wasmMemoryBytes();
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
      // Typed-array fast path: the vector goes into wasm memory as is and only
      // options other than limit and ef travel as an object.
      const { limit = 10, ef, ...rest } = opts;
      if (!Number.isInteger(limit) || limit < 0) {
        throw gError("invalid_query", `limit: expected a non-negative integer, got ${limit}`);
      }
      if (ef !== undefined && (!Number.isInteger(ef) || ef < 0 || ef > 0xffffffff)) {
        throw gError("invalid_query", `ef: expected a non-negative integer, got ${ef}`);
      }
      const options = Object.keys(rest).length ? this.#request({}, { ...rest, limit }) : undefined;
      if (options) delete options.limit;
      return this.#raw.searchDense(denseVector(vector, "vector"), limit, ef, options);
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
