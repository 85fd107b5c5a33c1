// The official Qdrant JS REST client (@qdrant/js-client-rest, pinned in
// package.json) against a running grape. scripts/test-server.sh starts the
// server and passes its REST port in GRAPE_HTTP_PORT.
//
// Covers the core of the flow: create a collection, upsert with wait, get,
// scroll, count, search and query (with prefetch + RRF), filters, payload
// updates, payload indexes, delete by filter, aliases, and errors.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

import { QdrantClient } from '@qdrant/js-client-rest';

const port = Number(process.env.GRAPE_HTTP_PORT ?? 6333);
const url = `http://127.0.0.1:${port}`;

// Every console.warn the client prints (its version check warns through it).
const warnings = [];
const originalWarn = console.warn;
console.warn = (...args) => {
  warnings.push(args.join(' '));
  originalWarn(...args);
};

// The client checks the server's version itself (checkCompatibility is on).
const client = new QdrantClient({ url });
const collections = [];

function fresh(prefix) {
  const name = `${prefix}_${randomUUID().slice(0, 8)}`;
  collections.push(name);
  return name;
}

after(async () => {
  for (const name of collections) {
    await client.deleteCollection(name);
  }
  console.warn = originalWarn;
  assert.deepEqual(warnings.filter((w) => /version/i.test(w)), []);
});

const POINTS = [
  { id: 1, vector: [1, 0, 0, 0], payload: { color: 'red', n: 1 } },
  { id: 2, vector: [0.9, 0.1, 0, 0], payload: { color: 'red', n: 2 } },
  { id: 3, vector: [0, 1, 0, 0], payload: { color: 'blue', n: 3 } },
  { id: 4, vector: [0, 0, 1, 0], payload: { color: 'green', n: 4 } },
  { id: 5, vector: [0, 0, 0.8, 0.6], payload: { color: 'blue', n: 5 } },
];

const red = { must: [{ key: 'color', match: { value: 'red' } }] };

async function collectionWithPoints(prefix) {
  const name = fresh(prefix);
  assert.equal(
    await client.createCollection(name, { vectors: { size: 4, distance: 'Dot' } }),
    true,
  );
  const r = await client.upsert(name, { wait: true, points: POINTS });
  assert.equal(r.status, 'completed');
  return name;
}

const ids = (points) => points.map((p) => p.id);

test('the server reports a Qdrant version this client accepts', async () => {
  const info = await client.versionInfo();
  const pkg = JSON.parse(
    readFileSync(new URL('./node_modules/@qdrant/js-client-rest/package.json', import.meta.url)),
  );
  const [cMajor, cMinor] = pkg.version.split('.').map(Number);
  const [sMajor, sMinor] = info.version.split('.').map(Number);
  // The client's own rule: same major, minor versions at most one apart.
  assert.equal(sMajor, cMajor, info.version);
  assert.ok(Math.abs(sMinor - cMinor) <= 1, `${info.version} vs ${pkg.version}`);
  assert.equal(typeof info.grape_version, 'string');
});

test('create, exists, get info, upsert, get and scroll', async () => {
  const name = await collectionWithPoints('basics');
  assert.deepEqual(await client.collectionExists(name), { exists: true });
  const info = await client.getCollection(name);
  assert.equal(info.points_count, 5);
  assert.equal(info.config.params.vectors.size, 4);
  const listed = await client.getCollections();
  assert.ok(listed.collections.some((c) => c.name === name));

  const got = await client.retrieve(name, { ids: [3, 1, 99], with_payload: true, with_vector: true });
  assert.deepEqual(ids(got), [3, 1]);
  assert.deepEqual(got[0].payload, { color: 'blue', n: 3 });
  assert.deepEqual(got[0].vector, [0, 1, 0, 0]);

  const page1 = await client.scroll(name, { limit: 2, with_payload: false });
  assert.deepEqual(ids(page1.points), [1, 2]);
  assert.equal(page1.next_page_offset, 3);
  const page2 = await client.scroll(name, { limit: 10, offset: page1.next_page_offset });
  assert.deepEqual(ids(page2.points), [3, 4, 5]);
  assert.equal(page2.next_page_offset ?? null, null);
});

test('count, search and query with filters', async () => {
  const name = await collectionWithPoints('search');
  assert.deepEqual(await client.count(name, { exact: true }), { count: 5 });
  assert.deepEqual(await client.count(name, { filter: red, exact: true }), { count: 2 });

  const hits = await client.search(name, { vector: [0, 1, 0, 0], limit: 5, filter: red });
  assert.deepEqual(ids(hits), [2, 1]);
  assert.ok(Math.abs(hits[0].score - 0.1) < 1e-6);

  const q = await client.query(name, { query: [0, 0, 1, 0], limit: 2, with_payload: true });
  assert.deepEqual(ids(q.points), [4, 5]);
  assert.equal(q.points[0].payload.color, 'green');

  const range = { must: [{ key: 'n', range: { gte: 2, lt: 5 } }] };
  const q2 = await client.query(name, { query: [1, 0, 0, 0], filter: range, limit: 10 });
  assert.deepEqual(ids(q2.points).sort(), [2, 3, 4]);

  // Prefetch two lists and fuse them with RRF.
  const fused = await client.query(name, {
    prefetch: [
      { query: [1, 0, 0, 0], limit: 2 },
      { query: [0, 0, 1, 0], limit: 2 },
    ],
    query: { fusion: 'rrf' },
    limit: 4,
  });
  assert.deepEqual(new Set(ids(fused.points)), new Set([1, 2, 4, 5]));
  assert.deepEqual(ids(fused.points).slice(0, 2).sort(), [1, 4]);
});

test('payload updates and payload indexes', async () => {
  const name = await collectionWithPoints('payload');
  await client.setPayload(name, { payload: { tag: 'x' }, points: [1], wait: true });
  await client.overwritePayload(name, { payload: { only: true }, points: [2], wait: true });
  await client.deletePayload(name, { keys: ['n'], points: [3], wait: true });
  await client.clearPayload(name, { points: [4], wait: true });
  const got = await client.retrieve(name, { ids: [1, 2, 3, 4], with_payload: true });
  assert.deepEqual(
    got.map((p) => p.payload),
    [{ color: 'red', n: 1, tag: 'x' }, { only: true }, { color: 'blue' }, {}],
  );

  await client.createPayloadIndex(name, { field_name: 'color', field_schema: 'keyword', wait: true });
  assert.ok('color' in (await client.getCollection(name)).payload_schema);
  const hits = await client.query(name, { query: [0, 1, 0, 0], filter: red, limit: 5 });
  assert.deepEqual(ids(hits.points), [1]);
  await client.deletePayloadIndex(name, 'color', { wait: true });
  assert.ok(!('color' in (await client.getCollection(name)).payload_schema));
  assert.deepEqual(await client.count(name, { filter: red, exact: true }), { count: 1 });
});

test('delete by ids and by filter', async () => {
  const name = await collectionWithPoints('delete');
  await client.delete(name, { points: [5], wait: true });
  await client.delete(name, { filter: red, wait: true });
  const left = await client.scroll(name, { limit: 10 });
  assert.deepEqual(ids(left.points), [3, 4]);
});

test('aliases', async () => {
  const name = await collectionWithPoints('aliases');
  const alias = `${name}_alias`;
  await client.updateCollectionAliases({
    actions: [{ create_alias: { collection_name: name, alias_name: alias } }],
  });
  assert.deepEqual((await client.getCollectionAliases(name)).aliases, [
    { alias_name: alias, collection_name: name },
  ]);
  assert.ok((await client.getAliases()).aliases.some((a) => a.alias_name === alias));
  assert.deepEqual(await client.collectionExists(alias), { exists: true });
  // Reads and writes through the alias reach the collection.
  const hits = await client.query(alias, { query: [0, 1, 0, 0], limit: 1 });
  assert.deepEqual(ids(hits.points), [3]);
  await client.upsert(alias, { wait: true, points: [{ id: 9, vector: [1, 1, 1, 1] }] });
  assert.deepEqual(await client.count(name, { exact: true }), { count: 6 });

  const renamed = `${alias}2`;
  await client.updateCollectionAliases({
    actions: [{ rename_alias: { old_alias_name: alias, new_alias_name: renamed } }],
  });
  await client.updateCollectionAliases({ actions: [{ delete_alias: { alias_name: renamed } }] });
  assert.deepEqual((await client.getCollectionAliases(name)).aliases, []);
});

test('bad input is rejected with the status code and changes nothing', async () => {
  const name = await collectionWithPoints('errors');
  await assert.rejects(
    client.upsert(name, { wait: true, points: [{ id: 7, vector: [1, 2] }] }),
    (e) => e.status === 400,
  );
  await assert.rejects(client.getCollection(fresh('missing')), (e) => e.status === 404);
  await assert.rejects(
    client.createCollection(name, { vectors: { size: 4, distance: 'Dot' } }),
    (e) => e.status === 409,
  );
  await assert.rejects(
    client.count(name, { filter: { must: [{ key: 'n', range: { gte: 'x' } }] } }),
    (e) => e.status === 400,
  );
  assert.deepEqual(await client.count(name, { exact: true }), { count: 5 });
});
