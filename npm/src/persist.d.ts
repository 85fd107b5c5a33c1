import type { Collection } from "./index.js";

/** Stores the collection's portable bytes under `key` in IndexedDB (database "grape"). */
export declare function saveToIndexedDB(key: string, collection: Collection, opts?: { dbName?: string }): Promise<void>;
/** Loads the collection saved under `key`, or null. */
export declare function loadFromIndexedDB(key: string, C: typeof Collection, opts?: { dbName?: string }): Promise<Collection | null>;
/** Deletes the collection saved under `key`. */
export declare function deleteFromIndexedDB(key: string, opts?: { dbName?: string }): Promise<void>;
/** True when the origin-private file system is available. */
export declare function opfsAvailable(): boolean;
/** Writes the collection's bytes to the OPFS file `name`. */
export declare function saveToOPFS(name: string, collection: Collection): Promise<void>;
/** Loads the OPFS file `name`, or null. */
export declare function loadFromOPFS(name: string, C: typeof Collection): Promise<Collection | null>;
