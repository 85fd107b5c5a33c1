// Saving collections in the browser: IndexedDB everywhere, OPFS (the
// origin-private file system) where the browser has it. Both store the
// portable bytes of `collection.toBytes()`, so a saved collection also
// opens in Node, Deno, a worker or native Grape.

const DB = "grape";
const STORE = "collections";

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function openDb(dbName) {
  const open = indexedDB.open(dbName, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  return request(open);
}

/** Stores the collection's bytes under `key` in IndexedDB. */
export async function saveToIndexedDB(key, collection, { dbName = DB } = {}) {
  const db = await openDb(dbName);
  try {
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(collection.toBytes(), key);
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  } finally {
    db.close();
  }
}

/** Loads the collection saved under `key`, or `null` if there is none. */
export async function loadFromIndexedDB(key, Collection, { dbName = DB } = {}) {
  const db = await openDb(dbName);
  try {
    const bytes = await request(db.transaction(STORE).objectStore(STORE).get(key));
    return bytes === undefined ? null : Collection.fromBytes(new Uint8Array(bytes));
  } finally {
    db.close();
  }
}

/** Deletes the collection saved under `key` in IndexedDB. */
export async function deleteFromIndexedDB(key, { dbName = DB } = {}) {
  const db = await openDb(dbName);
  try {
    await request(db.transaction(STORE, "readwrite").objectStore(STORE).delete(key));
  } finally {
    db.close();
  }
}

/** True when the browser offers the origin-private file system. */
export function opfsAvailable() {
  return typeof navigator !== "undefined" && typeof navigator.storage?.getDirectory === "function";
}

/** Writes the collection's bytes to the OPFS file `name`. */
export async function saveToOPFS(name, collection) {
  const dir = await navigator.storage.getDirectory();
  const file = await dir.getFileHandle(name, { create: true });
  const w = await file.createWritable();
  await w.write(collection.toBytes());
  await w.close();
}

/** Loads the OPFS file `name`, or `null` if there is none. */
export async function loadFromOPFS(name, Collection) {
  const dir = await navigator.storage.getDirectory();
  let file;
  try {
    file = await dir.getFileHandle(name);
  } catch (e) {
    if (e?.name === "NotFoundError") return null;
    throw e;
  }
  const bytes = new Uint8Array(await (await file.getFile()).arrayBuffer());
  return Collection.fromBytes(bytes);
}
