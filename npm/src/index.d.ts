/**
 * Grape: a vector database in WebAssembly for browsers, Deno, Node and edge
 * workers. One `import { Collection } from "grape"` loads the simd128 build
 * where the runtime validates it and the baseline build elsewhere.
 */

/** A point id: an unsigned integer (up to 2^53 in JS) or a UUID string. */
export type PointId = number | string;

/** A dense vector. */
export type Vector = Float32Array | number[];

/** A sparse vector: sorted or unsorted unique indices with their values. */
export interface SparseVector {
  indices: Uint32Array | number[];
  values: Float32Array | number[];
}

/** Distances, as Qdrant names them. */
export type Distance = "Cosine" | "Dot" | "Euclid" | "Manhattan";

/** Qdrant's `quantization_config`, plus Grape's `keep_originals`. */
export type QuantizationConfig =
  | { scalar: { type?: "int8"; quantile?: number; always_ram?: boolean; keep_originals?: boolean } }
  | { binary: { always_ram?: boolean; keep_originals?: boolean } }
  | { product: { compression: "x4" | "x8" | "x16" | "x32" | "x64"; always_ram?: boolean; keep_originals?: boolean } };

/** HNSW parameters (Qdrant's names; `ef` is Grape's default search ef). */
export interface HnswConfig {
  m?: number;
  ef_construct?: number;
  /** Below this many kilobytes of vectors, searches scan exactly (Qdrant's unit). */
  full_scan_threshold?: number;
  ef?: number;
}

/** One dense vector's parameters. */
export interface VectorParams {
  size: number;
  distance: Distance;
  hnsw_config?: HnswConfig;
  quantization_config?: QuantizationConfig | "Disabled";
}

/** A BM25 full-text field over the payload key of the same name. */
export interface TextFieldConfig {
  lowercase?: boolean;
  stopwords?: "english" | boolean;
  word_chars_only?: boolean;
  min_token_len?: number;
  max_token_len?: number;
  k1?: number;
  b?: number;
}

/** Qdrant's create-collection body, plus Grape's `text_fields`. */
export interface CollectionConfig {
  /** One unnamed vector, or named vectors. */
  vectors?: VectorParams | Record<string, VectorParams>;
  sparse_vectors?: Record<string, { modifier?: "idf" | "none" }>;
  hnsw_config?: HnswConfig;
  quantization_config?: QuantizationConfig;
  text_fields?: Record<string, TextFieldConfig>;
}

/** A point to insert. */
export interface Point {
  id: PointId;
  /** The unnamed dense vector, or named dense vectors. */
  vector?: Vector | Record<string, Vector>;
  /** Named sparse vectors. */
  sparse?: Record<string, SparseVector>;
  /** Text for the only text field, or text per field (stored in the payload). */
  text?: string | Record<string, string>;
  payload?: Record<string, unknown>;
}

/** A Qdrant filter (`must`, `should`, `must_not`, `min_should` of conditions). */
export type Filter = Record<string, unknown>;

/** Qdrant's per-search quantization parameters. */
export interface QuantizationSearch {
  ignore?: boolean;
  rescore?: boolean;
  oversampling?: number;
}

/** Options of `search` and `searchText`. */
export interface SearchOptions {
  /** How many hits (default 10). */
  limit?: number;
  /** Which vector or text field to search. */
  using?: string;
  filter?: Filter;
  /** HNSW candidate list size. */
  ef?: number;
  /** Scan exactly instead of walking the graph. */
  exact?: boolean;
  quantization?: QuantizationSearch;
  /** Return payloads (all, or only these keys). */
  withPayload?: boolean | string[];
  /** Return stored dense vectors. */
  withVector?: boolean | string[];
  scoreThreshold?: number;
}

/** A hit. */
export interface ScoredPoint {
  id: PointId;
  score: number;
  payload?: Record<string, unknown>;
  /** The plain array when the collection has only the unnamed dense vector (as Qdrant), else by name. */
  vector?: number[] | Record<string, number[]>;
}

/** A stored point. */
export interface Record_ {
  id: PointId;
  payload: Record<string, unknown>;
  /** The plain array when the collection has only the unnamed dense vector (as Qdrant), else by name. */
  vector?: number[] | Record<string, number[]>;
}

/** Sizes of a collection. */
export interface CollectionStats {
  points: number;
  dense: { name: string; points: number; vectorBytes: number; graphBytes: number }[];
  sparseBytes: number;
  textBytes: number;
  flavour: "simd" | "baseline";
}

/**
 * Errors are `Error`s with the core's message and a `code`:
 * `dimension_mismatch`, `non_finite`, `zero_vector`, `invalid_config`,
 * `invalid_parameter`, `invalid_filter`, `invalid_query`,
 * `invalid_sparse_vector`, `unknown_id`, `capacity_exceeded`, `bad_magic`,
 * `unsupported_version`, `truncated`, `checksum_mismatch`, `corrupted`.
 * A call that throws changes nothing.
 */
export interface GrapeError extends Error {
  code: string;
}

/** A collection of points in this JS realm's memory. */
export declare class Collection {
  /** An empty collection. */
  constructor(config: CollectionConfig);
  /**
   * Loads portable-format bytes (from `toBytes` here or native Grape). The
   * bytes are checked (header, checksum) before anything is decoded and are
   * copied into wasm memory 64 KiB at a time, never whole.
   */
  static fromBytes(bytes: Uint8Array): Collection;
  /**
   * Loads portable-format bytes given in pieces: Uint8Arrays end to end (a
   * stream's chunks, any sizes). Same checks and errors as `fromBytes`.
   * Each entry of `chunks` is set to `undefined` once consumed, so that the
   * garbage collector can free it while the rest is decoded: peak memory is
   * the chunks plus the decoded collection, not a second copy of the bytes.
   */
  static fromChunks(chunks: (Uint8Array | undefined)[]): Collection;
  /**
   * Reads a stream of portable-format bytes (e.g. `response.body`, or any
   * async iterable of Uint8Arrays) into chunks without concatenating them,
   * then loads them as `fromChunks` does. Rejects with the same coded errors.
   */
  static fromStream(stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Collection>;
  /** Bytes of this build's wasm memory (WebAssembly memory grows and never shrinks). */
  static wasmMemoryBytes(): number;
  /** The wasm build in use. */
  static readonly flavour: "simd" | "baseline";
  /** Number of points. */
  readonly length: number;
  /** The collection in the portable byte format. */
  toBytes(): Uint8Array;
  /** Inserts or replaces points; all are checked first. */
  upsert(points: Point[]): void;
  /** Bulk insert: `ids.length` vectors end to end in one Float32Array. */
  upsertVectors(ids: PointId[], vectors: Float32Array, opts?: { payloads?: Record<string, unknown>[]; using?: string }): void;
  /** Points by id (unknown ids are skipped). */
  get(ids: PointId[], opts?: { withVector?: boolean }): Record_[];
  /** Deletes by ids or by a filter; returns how many points were deleted. */
  delete(target: PointId[] | { filter: Filter } | Filter): number;
  /** Number of points, optionally matching a filter. */
  count(filter?: Filter): number;
  /** Nearest points to a dense vector. */
  search(vector: Vector, opts?: SearchOptions): ScoredPoint[];
  /** BM25 search of a text field. */
  searchText(text: string, opts?: SearchOptions): ScoredPoint[];
  /** Qdrant's universal query: prefetch, fusion (rrf, dbsf), filters; `{text}` queries are Grape's. */
  query(request: Record<string, unknown>): ScoredPoint[];
  /** Indexes a payload key for fast filtering. */
  createPayloadIndex(field: string, schema: "keyword" | "integer" | "float" | "bool" | "datetime"): void;
  /** Compacts deletions and (re)trains quantizers after bulk changes. */
  optimize(): void;
  /** Sizes. */
  stats(): CollectionStats;
  /** Frees the wasm memory. */
  free(): void;
}

/** The wasm build in use. */
export declare const flavour: "simd" | "baseline";
/** True when the runtime validates WebAssembly simd128. */
export declare function simdSupported(): boolean;
/** Loads one build explicitly (Node, browsers, Deno). */
export declare function load(flavour: "simd" | "baseline"): Promise<{ Collection: typeof Collection; flavour: "simd" | "baseline" }>;
