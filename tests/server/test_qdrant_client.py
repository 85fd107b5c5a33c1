"""The official Python client (qdrant-client) against a running `grape`.

Run by scripts/test-server.sh, which starts the server and passes its ports
in GRAPE_HTTP_PORT / GRAPE_GRPC_PORT and its snapshot directory in
GRAPE_SNAPSHOTS_DIR. Every test runs once over REST and once with
prefer_grpc=True (gRPC-specific cases are in test_grpc.py).
"""

import importlib.metadata
import json
import os
import socket
import urllib.request
import uuid
import warnings

import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.common.version_check import is_compatible
from qdrant_client.qdrant_remote import QdrantRemote

HTTP_PORT = int(os.environ.get("GRAPE_HTTP_PORT", "6333"))
GRPC_PORT = int(os.environ.get("GRAPE_GRPC_PORT", "6334"))
SNAPSHOTS_DIR = os.environ.get("GRAPE_SNAPSHOTS_DIR")


def grpc_listening() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", GRPC_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=[False, True], ids=["rest", "grpc"])
def client(request):
    prefer_grpc = request.param
    if prefer_grpc:
        assert grpc_listening(), f"the server has no gRPC listener on 127.0.0.1:{GRPC_PORT}"
    c = QdrantClient(
        url=f"http://127.0.0.1:{HTTP_PORT}",
        grpc_port=GRPC_PORT,
        prefer_grpc=prefer_grpc,
        timeout=30,
    )
    yield c
    c.close()


@pytest.fixture
def name(request, client):
    """A fresh collection name per test and transport; dropped afterwards."""
    n = f"{request.node.originalname}_{uuid.uuid4().hex[:8]}"
    yield n
    client.delete_collection(n)


def rest(method: str, path: str, body=None):
    """A raw REST call (for Grape's extensions the client cannot express)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{HTTP_PORT}{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def unit(v):
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


POINTS = [
    models.PointStruct(id=1, vector=[1.0, 0.0, 0.0, 0.0], payload={"color": "red", "n": 1}),
    models.PointStruct(id=2, vector=[0.9, 0.1, 0.0, 0.0], payload={"color": "red", "n": 2}),
    models.PointStruct(id=3, vector=[0.0, 1.0, 0.0, 0.0], payload={"color": "blue", "n": 3}),
    models.PointStruct(id=4, vector=[0.0, 0.0, 1.0, 0.0], payload={"color": "green", "n": 4}),
    models.PointStruct(
        id="550e8400-e29b-41d4-a716-446655440000",
        vector=[0.0, 0.0, 0.0, 1.0],
        payload={"color": "blue", "n": 5},
    ),
]


def make_collection(client, name):
    assert client.create_collection(
        name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
    )
    client.upsert(name, points=POINTS, wait=True)


def red():
    return models.Filter(
        must=[models.FieldCondition(key="color", match=models.MatchValue(value="red"))]
    )


def test_create_get_exists_delete(client, name):
    assert not client.collection_exists(name)
    make_collection(client, name)
    assert client.collection_exists(name)
    assert name in [c.name for c in client.get_collections().collections]
    info = client.get_collection(name)
    assert info.points_count == 5
    assert info.config.params.vectors.size == 4
    assert info.config.params.vectors.distance == models.Distance.COSINE
    with pytest.raises(Exception):
        client.create_collection(
            name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT)
        )
    assert client.delete_collection(name)
    assert not client.collection_exists(name)


def test_upsert_get_and_vectors_are_normalised(client, name):
    make_collection(client, name)
    got = client.retrieve(name, ids=[2, 99, 1], with_vectors=True)
    assert [p.id for p in got] == [2, 1]
    assert got[1].payload == {"color": "red", "n": 1}
    assert got[0].vector == pytest.approx(unit([0.9, 0.1, 0.0, 0.0]), rel=1e-5)
    by_uuid = client.retrieve(name, ids=["550E8400E29B41D4A716446655440000"])
    assert by_uuid[0].id == "550e8400-e29b-41d4-a716-446655440000"


def test_scroll_pages_in_id_order(client, name):
    make_collection(client, name)
    seen = []
    offset = None
    while True:
        page, offset = client.scroll(name, limit=2, offset=offset)
        seen += [p.id for p in page]
        if offset is None:
            break
    assert seen == [1, 2, 3, 4, "550e8400-e29b-41d4-a716-446655440000"]
    page, _ = client.scroll(name, scroll_filter=red(), limit=10)
    assert [p.id for p in page] == [1, 2]


def test_count_with_and_without_filter(client, name):
    make_collection(client, name)
    assert client.count(name).count == 5
    assert client.count(name, count_filter=red()).count == 2
    f = models.Filter(must=[models.FieldCondition(key="n", range=models.Range(gte=3))])
    assert client.count(name, count_filter=f).count == 3


def test_search_with_filter_and_threshold(client, name):
    make_collection(client, name)
    hits = client.query_points(name, query=[1.0, 0.05, 0.0, 0.0], limit=3, with_payload=True).points
    assert [h.id for h in hits][:2] == [1, 2]
    assert hits[0].payload["color"] == "red"
    assert hits[0].score > hits[1].score
    blue = models.Filter(
        must=[models.FieldCondition(key="color", match=models.MatchValue(value="blue"))]
    )
    hits = client.query_points(name, query=[1.0, 0.0, 0.0, 0.0], query_filter=blue, limit=10).points
    assert {h.id for h in hits} == {3, "550e8400-e29b-41d4-a716-446655440000"}
    hits = client.query_points(name, query=[1.0, 0.0, 0.0, 0.0], score_threshold=0.5).points
    assert [h.id for h in hits] == [1, 2]


def test_query_prefetch_rrf_over_dense_and_sparse(client, name):
    client.create_collection(
        name,
        vectors_config={"dense": models.VectorParams(size=2, distance=models.Distance.DOT)},
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
    )
    client.upsert(
        name,
        points=[
            models.PointStruct(
                id=i,
                vector={
                    "dense": [float(i), 1.0],
                    "sparse": models.SparseVector(indices=[i % 3, 7], values=[1.0, float(i)]),
                },
                payload={"i": i},
            )
            for i in range(1, 11)
        ],
        wait=True,
    )
    res = client.query_points(
        name,
        prefetch=[
            models.Prefetch(query=[1.0, 0.0], using="dense", limit=5),
            models.Prefetch(
                query=models.SparseVector(indices=[7], values=[1.0]), using="sparse", limit=5
            ),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=3,
        with_payload=True,
    ).points
    # Both lists rank 10, 9, 8, ... first: RRF keeps that order.
    assert [p.id for p in res] == [10, 9, 8]
    assert res[0].payload == {"i": 10}
    batch = client.query_batch_points(
        name,
        requests=[
            models.QueryRequest(query=[1.0, 0.0], using="dense", limit=2),
            models.QueryRequest(
                query=models.SparseVector(indices=[7], values=[1.0]), using="sparse", limit=1
            ),
        ],
    )
    assert [[p.id for p in r.points] for r in batch] == [[10, 9], [10]]


def test_payload_updates(client, name):
    make_collection(client, name)
    client.set_payload(name, payload={"extra": True, "n": 10}, points=[1], wait=True)
    assert client.retrieve(name, ids=[1])[0].payload == {"color": "red", "n": 10, "extra": True}
    client.overwrite_payload(name, payload={"only": 1}, points=[2], wait=True)
    assert client.retrieve(name, ids=[2])[0].payload == {"only": 1}
    client.delete_payload(name, keys=["color"], points=red(), wait=True)
    assert client.retrieve(name, ids=[1])[0].payload == {"n": 10, "extra": True}
    client.clear_payload(name, points_selector=models.PointIdsList(points=[3]), wait=True)
    assert client.retrieve(name, ids=[3])[0].payload == {}


def test_delete_by_ids_and_by_filter(client, name):
    make_collection(client, name)
    client.delete(name, points_selector=models.PointIdsList(points=[4]), wait=True)
    client.delete(name, points_selector=models.FilterSelector(filter=red()), wait=True)
    page, _ = client.scroll(name, limit=10)
    assert [p.id for p in page] == [3, "550e8400-e29b-41d4-a716-446655440000"]


def test_batch_update(client, name):
    make_collection(client, name)
    client.batch_update_points(
        name,
        update_operations=[
            models.UpsertOperation(
                upsert=models.PointsList(
                    points=[models.PointStruct(id=7, vector=[1.0, 1.0, 0.0, 0.0], payload={})]
                )
            ),
            models.DeleteOperation(delete=models.PointIdsList(points=[1])),
            models.SetPayloadOperation(
                set_payload=models.SetPayload(payload={"new": 1}, points=[7])
            ),
        ],
    )
    assert client.count(name).count == 5
    assert client.retrieve(name, ids=[7])[0].payload == {"new": 1}
    assert client.retrieve(name, ids=[1]) == []


def test_payload_index_and_filtered_search(client, name):
    make_collection(client, name)
    client.create_payload_index(name, field_name="color", field_schema=models.PayloadSchemaType.KEYWORD)
    info = client.get_collection(name)
    assert "color" in info.payload_schema
    hits = client.query_points(name, query=[0.0, 1.0, 0.0, 0.0], query_filter=red(), limit=5).points
    assert {h.id for h in hits} == {1, 2}
    client.delete_payload_index(name, field_name="color", wait=True)
    assert "color" not in client.get_collection(name).payload_schema
    # Filters on the key still answer, by scanning.
    hits = client.query_points(name, query=[0.0, 1.0, 0.0, 0.0], query_filter=red(), limit=5).points
    assert {h.id for h in hits} == {1, 2}


def test_server_version_is_compatible_with_the_client():
    """`GET /` reports the Qdrant API version Grape implements, which the
    pinned client accepts: its own check (run on every QdrantClient unless
    check_compatibility=False) raises no warning."""
    status, body = rest("GET", "/")
    assert status == 200
    client_version = importlib.metadata.version("qdrant-client")
    assert is_compatible(client_version, body["version"]), body
    assert body["grape_version"] and body["grape_version"] != body["version"], body
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The check QdrantClient starts in a thread, run here in the test's.
        QdrantRemote._check_compatibility(f"http://127.0.0.1:{HTTP_PORT}", {}, None, 10)
    assert [str(w.message) for w in caught] == []


def test_recommend_by_example_ids(client, name):
    make_collection(client, name)
    hits = client.query_points(
        name, query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1])), limit=2
    ).points
    # The example itself is excluded; its nearest neighbour comes first.
    assert hits[0].id == 2
    assert 1 not in [h.id for h in hits]


def test_aliases(client, name):
    make_collection(client, name)
    alias = f"{name}_alias"
    client.update_collection_aliases(
        change_aliases_operations=[
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=name, alias_name=alias)
            )
        ]
    )
    assert (alias, name) in [(a.alias_name, a.collection_name) for a in client.get_aliases().aliases]
    assert [a.alias_name for a in client.get_collection_aliases(name).aliases] == [alias]
    assert client.collection_exists(alias)
    assert client.count(alias).count == 5
    hits = client.query_points(alias, query=[1.0, 0.0, 0.0, 0.0], limit=1).points
    assert hits[0].id == 1
    renamed = f"{name}_renamed"
    client.update_collection_aliases(
        change_aliases_operations=[
            models.RenameAliasOperation(
                rename_alias=models.RenameAlias(old_alias_name=alias, new_alias_name=renamed)
            )
        ]
    )
    assert not client.collection_exists(alias)
    assert client.count(renamed).count == 5
    client.update_collection_aliases(
        change_aliases_operations=[
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=renamed))
        ]
    )
    assert not client.collection_exists(renamed)


def test_snapshot_and_recover(client, name):
    make_collection(client, name)
    snap = client.create_snapshot(name)
    assert snap.name.endswith(".snapshot") and snap.size > 0
    assert snap.name in [s.name for s in client.list_snapshots(name)]
    client.delete(name, points_selector=models.PointIdsList(points=[1, 2, 3]), wait=True)
    assert client.count(name).count == 2
    if SNAPSHOTS_DIR is None:
        pytest.skip("GRAPE_SNAPSHOTS_DIR is not set")
    client.recover_snapshot(name, location=f"file://{SNAPSHOTS_DIR}/{name}/{snap.name}", wait=True)
    assert client.count(name).count == 5
    assert client.retrieve(name, ids=[1])[0].payload == {"color": "red", "n": 1}


def test_bad_input_is_rejected_and_changes_nothing(client, name):
    make_collection(client, name)
    with pytest.raises(Exception):
        client.upsert(name, points=[models.PointStruct(id=9, vector=[1.0, 2.0])], wait=True)
    with pytest.raises(Exception):
        client.upsert(name, points=[models.PointStruct(id=9, vector=[float("nan")] * 4)], wait=True)
    with pytest.raises(Exception):
        client.query_points(f"{name}_missing", query=[1.0, 0.0, 0.0, 0.0])
    assert client.count(name).count == 5


def test_text_search_extension_over_rest(client, name):
    """Grape's BM25: `text_fields` at creation, `{"text": ..}` in /points/query."""
    status, body = rest(
        "PUT",
        f"/collections/{name}",
        {"vectors": {"size": 2, "distance": "Dot"}, "text_fields": {"body": {}}},
    )
    assert status == 200, body
    docs = ["the quick brown fox", "a lazy dog sleeps", "quick quick fox jumps"]
    client.upsert(
        name,
        points=[
            models.PointStruct(id=i, vector=[1.0, float(i)], payload={"body": d})
            for i, d in enumerate(docs)
        ],
        wait=True,
    )
    status, body = rest(
        "POST",
        f"/collections/{name}/points/query",
        {"query": {"text": "quick fox"}, "using": "body", "limit": 2},
    )
    assert status == 200, body
    assert [p["id"] for p in body["result"]["points"]] == [2, 0]
    status, body = rest(
        "POST", f"/collections/{name}/points/query", {"query": {"text": "fox"}, "using": "nope"}
    )
    assert status == 400, body
    assert "error" in body["status"]
