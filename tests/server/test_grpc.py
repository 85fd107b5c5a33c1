"""Grape's gRPC API through the official Python client (prefer_grpc=True).

Run by scripts/test-server.sh beside test_qdrant_client.py (same server, its
ports in GRAPE_HTTP_PORT / GRAPE_GRPC_PORT). These cases are about what the
gRPC path adds: payload values with integers kept apart from doubles, every
filter condition kind as protobuf, named / sparse vectors and UUIDs in
responses, collection configuration round trips, and the status codes
Grape answers with (NOT_FOUND, INVALID_ARGUMENT, ALREADY_EXISTS,
UNIMPLEMENTED).
"""

import datetime
import json
import os
import urllib.request
import uuid

import grpc
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as qgrpc

HTTP_PORT = int(os.environ.get("GRAPE_HTTP_PORT", "6333"))
GRPC_PORT = int(os.environ.get("GRAPE_GRPC_PORT", "6334"))


@pytest.fixture(scope="module")
def client():
    c = QdrantClient(
        url=f"http://127.0.0.1:{HTTP_PORT}",
        grpc_port=GRPC_PORT,
        prefer_grpc=True,
        timeout=30,
    )
    yield c
    c.close()


@pytest.fixture
def name(request, client):
    n = f"grpc_{request.node.name}_{uuid.uuid4().hex[:8]}"
    yield n
    client.delete_collection(n)


def grpc_code(excinfo):
    """The gRPC status code of an error raised by the client."""
    err = excinfo.value
    assert isinstance(err, grpc.RpcError), repr(err)
    return err.code()


def test_health_check_is_served(client):
    info = client.info()
    assert info.title and info.version


def test_payload_values_keep_their_types(client, name):
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    payload = {
        "int": 5,
        "double": 5.0,
        "big": 2**53 + 1,
        "text": "grape",
        "flag": False,
        "nothing": None,
        "list": [1, 2.5, "x", None, [True]],
        "nested": {"a": {"b": [1, {"c": "d"}]}},
    }
    client.upsert(name, points=[models.PointStruct(id=1, vector=[1.0, 0.0], payload=payload)], wait=True)
    got = client.retrieve(name, ids=[1])[0].payload
    assert got == payload
    assert type(got["int"]) is int and type(got["double"]) is float
    assert got["big"] == 2**53 + 1
    # 5 (an integer match) does not match the double 5.0: Qdrant's rule.
    int_filter = models.Filter(must=[models.FieldCondition(key="double", match=models.MatchValue(value=5))])
    assert client.count(name, count_filter=int_filter).count == 0
    int_filter = models.Filter(must=[models.FieldCondition(key="int", match=models.MatchValue(value=5))])
    assert client.count(name, count_filter=int_filter).count == 1


def test_every_filter_condition_kind(client, name):
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    points = [
        models.PointStruct(
            id=1,
            vector=[1.0, 0.0],
            payload={
                "city": "Paris",
                "n": 1,
                "price": 9.5,
                "tags": ["a", "b"],
                "when": "2024-01-01T10:00:00Z",
                "maybe": None,
                "body": "green grape seed",
                "country": {"cities": [{"name": "Lyon", "pop": 5}]},
            },
        ),
        models.PointStruct(
            id=2,
            vector=[0.0, 1.0],
            payload={"city": "Rome", "n": 2, "price": 20.0, "tags": [], "when": "2025-06-01T00:00:00Z",
                     "body": "red wine", "country": {"cities": [{"name": "Milan", "pop": 3}]}},
        ),
        models.PointStruct(id="5c56c793-69f3-4fbf-87e6-c4bf54c28c26", vector=[1.0, 1.0], payload={"city": "Oslo", "n": 3}),
    ]
    client.upsert(name, points=points, wait=True)
    uid = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"

    def ids(condition=None, **clauses):
        f = models.Filter(**clauses) if clauses else models.Filter(must=[condition])
        page, _ = client.scroll(name, scroll_filter=f, limit=10)
        return sorted(str(p.id) for p in page)

    FC = models.FieldCondition
    assert ids(FC(key="city", match=models.MatchValue(value="Paris"))) == ["1"]
    assert ids(FC(key="n", match=models.MatchValue(value=2))) == ["2"]
    assert ids(FC(key="city", match=models.MatchAny(any=["Rome", "Oslo"]))) == sorted(["2", uid])
    assert ids(FC(key="n", match=models.MatchAny(any=[1, 3]))) == sorted(["1", uid])
    assert ids(FC(key="city", match=models.MatchExcept(**{"except": ["Paris"]}))) == sorted(["2", uid])
    assert ids(FC(key="n", match=models.MatchExcept(**{"except": [1, 2]}))) == [uid]
    assert ids(FC(key="body", match=models.MatchText(text="grape"))) == ["1"]
    assert ids(FC(key="price", range=models.Range(gt=9.0, lte=20.0))) == ["1", "2"]
    assert ids(FC(key="when", range=models.DatetimeRange(gte=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)))) == ["2"]
    assert ids(FC(key="tags", values_count=models.ValuesCount(gte=2))) == ["1"]
    assert ids(models.IsEmptyCondition(is_empty=models.PayloadField(key="tags"))) == sorted(["2", uid])
    assert ids(models.IsNullCondition(is_null=models.PayloadField(key="maybe"))) == ["1"]
    assert ids(models.HasIdCondition(has_id=[2, uid])) == sorted(["2", uid])
    nested = models.NestedCondition(
        nested=models.Nested(
            key="country.cities",
            filter=models.Filter(must=[FC(key="name", match=models.MatchValue(value="Lyon")), FC(key="pop", range=models.Range(gt=4))]),
        )
    )
    assert ids(nested) == ["1"]
    assert ids(must_not=[FC(key="city", match=models.MatchValue(value="Paris"))]) == sorted(["2", uid])
    assert ids(should=[FC(key="n", match=models.MatchValue(value=1)), FC(key="n", match=models.MatchValue(value=3))]) == sorted(["1", uid])
    two_of = models.MinShould(
        conditions=[
            FC(key="city", match=models.MatchValue(value="Paris")),
            FC(key="n", match=models.MatchValue(value=1)),
            FC(key="n", match=models.MatchValue(value=2)),
        ],
        min_count=2,
    )
    assert ids(min_should=two_of) == ["1"]
    # A filter as a condition (nested boolean clauses).
    inner = models.Filter(should=[FC(key="n", match=models.MatchValue(value=2))])
    assert ids(must=[inner]) == ["2"]


def test_named_dense_and_sparse_vectors_come_back(client, name):
    client.create_collection(
        name,
        vectors_config={"image": models.VectorParams(size=3, distance=models.Distance.EUCLID)},
        sparse_vectors_config={"words": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    uid = str(uuid.uuid4())
    client.upsert(
        name,
        points=[
            models.PointStruct(
                id=uid,
                vector={"image": [1.0, 2.0, 3.0], "words": models.SparseVector(indices=[5, 1], values=[0.5, 0.25])},
            )
        ],
        wait=True,
    )
    got = client.retrieve(name, ids=[uid], with_vectors=True)[0]
    assert got.id == uid
    assert got.vector["image"] == pytest.approx([1.0, 2.0, 3.0])
    sparse = got.vector["words"]
    assert sorted(zip(sparse.indices, sparse.values)) == [(1, 0.25), (5, 0.5)]
    hits = client.query_points(name, query=[1.0, 2.0, 3.0], using="image", with_vectors=["image"]).points
    assert hits[0].id == uid and hits[0].score == pytest.approx(0.0)
    assert set(hits[0].vector) == {"image"}
    hits = client.query_points(name, query=models.SparseVector(indices=[5], values=[1.0]), using="words").points
    assert hits[0].id == uid

    info = client.get_collection(name)
    assert info.config.params.vectors["image"].size == 3
    assert info.config.params.vectors["image"].distance == models.Distance.EUCLID
    assert info.config.params.sparse_vectors["words"].modifier == models.Modifier.IDF


def test_collection_config_round_trips(client, name):
    client.create_collection(
        name,
        vectors_config=models.VectorParams(
            size=8,
            distance=models.Distance.COSINE,
            hnsw_config=models.HnswConfigDiff(m=8, ef_construct=64),
            quantization_config=models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.95)
            ),
        ),
    )
    vectors = client.get_collection(name).config.params.vectors
    assert (vectors.size, vectors.distance) == (8, models.Distance.COSINE)
    assert (vectors.hnsw_config.m, vectors.hnsw_config.ef_construct) == (8, 64)
    assert vectors.quantization_config.scalar.quantile == pytest.approx(0.95)
    # Server tuning is accepted; index parameters are fixed once built.
    assert client.update_collection(name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10000))
    with pytest.raises(Exception) as e:
        client.update_collection(name, hnsw_config=models.HnswConfigDiff(m=32))
    assert grpc_code(e) == grpc.StatusCode.INVALID_ARGUMENT
    assert "hnsw_config.m" in e.value.details()


def test_legacy_search_recommend_and_batches(client, name):
    """Search / SearchBatch / Recommend, which older clients still call (the
    Python client 1.20 only reaches them through its raw stubs)."""
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE))
    client.upsert(
        name,
        points=[models.PointStruct(id=i, vector=[1.0, i / 10], payload={"i": i, "j": -i}) for i in range(1, 6)],
        wait=True,
    )
    include_i = qgrpc.WithPayloadSelector(include=qgrpc.PayloadIncludeSelector(fields=["i"]))
    res = client.grpc_points.Search(
        qgrpc.SearchPoints(collection_name=name, vector=[1.0, 0.1], limit=2, with_payload=include_i)
    ).result
    assert [p.id.num for p in res] == [1, 2]
    assert dict(res[0].payload)["i"].integer_value == 1 and "j" not in res[0].payload
    batch = client.grpc_points.SearchBatch(
        qgrpc.SearchBatchPoints(
            collection_name=name,
            search_points=[
                qgrpc.SearchPoints(collection_name=name, vector=[1.0, 0.5], limit=1),
                qgrpc.SearchPoints(collection_name=name, vector=[1.0, 0.1], limit=1),
            ],
        )
    ).result
    assert [[p.id.num for p in r.result] for r in batch] == [[5], [1]]
    rec = client.grpc_points.Recommend(
        qgrpc.RecommendPoints(collection_name=name, positive=[qgrpc.PointId(num=1)], limit=1)
    ).result
    assert [p.id.num for p in rec] == [2]
    # The universal query's recommend goes the same way.
    hits = client.query_points(name, query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1])), limit=1).points
    assert hits[0].id == 2


def test_errors_have_grpc_status_codes(client, name):
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    with pytest.raises(Exception) as e:
        client.query_points(f"{name}_missing", query=[1.0, 0.0])
    assert grpc_code(e) == grpc.StatusCode.NOT_FOUND
    with pytest.raises(Exception) as e:
        client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    assert grpc_code(e) == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(Exception) as e:
        client.upsert(name, points=[models.PointStruct(id=1, vector=[1.0, 2.0, 3.0])], wait=True)
    assert grpc_code(e) == grpc.StatusCode.INVALID_ARGUMENT
    # Qdrant stores NaN sent over gRPC; Grape rejects it like REST does.
    with pytest.raises(Exception) as e:
        client.upsert(name, points=[models.PointStruct(id=1, vector=[float("nan"), 1.0])], wait=True)
    assert grpc_code(e) == grpc.StatusCode.INVALID_ARGUMENT
    assert "finite" in e.value.details()
    with pytest.raises(Exception) as e:
        client.query_points_groups(name, query=[1.0, 0.0], group_by="g")
    assert grpc_code(e) == grpc.StatusCode.UNIMPLEMENTED
    assert "QueryGroups" in e.value.details()
    assert client.count(name).count == 0


def test_text_query_runs_grapes_bm25(client, name):
    """Qdrant's `TextQuery` (Query.text over gRPC) ranks by Grape's BM25 over
    a `text_fields` payload field (created over REST: gRPC cannot express
    `text_fields`)."""
    body = json.dumps({"vectors": {"size": 2, "distance": "Dot"}, "text_fields": {"body": {}}}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{HTTP_PORT}/collections/{name}",
        data=body,
        method="PUT",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    docs = ["the quick brown fox", "a lazy dog sleeps", "quick quick fox jumps"]
    client.upsert(
        name,
        points=[models.PointStruct(id=i, vector=[1.0, float(i)], payload={"body": d}) for i, d in enumerate(docs)],
        wait=True,
    )
    hits = client.query_points(name, query=models.TextQuery(text="quick fox"), using="body", limit=2).points
    assert [h.id for h in hits] == [2, 0]
    assert hits[0].score > hits[1].score > 0
