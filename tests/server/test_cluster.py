"""The official Python client (qdrant-client) against a three-node Grape cluster.

Run by scripts/test-server.sh with the `grape` binary in GRAPE_BIN. The module
starts three `grape serve --node-id N --cluster ...` processes on free loopback
ports and drives the client through every node, over REST and over gRPC: a
write made through one node is read back through the others (with Qdrant's
`consistency="majority"`, a linearizable read in Grape), and every node answers
the same.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest
from qdrant_client import QdrantClient, models

GRAPE_BIN = os.environ.get("GRAPE_BIN")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
        return json.loads(r.read())


class Cluster:
    """Three grape processes forming one cluster; stopped by `close`."""

    def __init__(self, size: int = 3):
        assert GRAPE_BIN, "GRAPE_BIN must name the grape binary"
        self.root = tempfile.mkdtemp(prefix="grape-cluster-")
        self.http = [free_port() for _ in range(size)]
        self.grpc = [free_port() for _ in range(size)]
        members = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(self.http))
        self.procs = []
        self.logs = []
        for i in range(size):
            log = open(os.path.join(self.root, f"node{i + 1}.log"), "wb")
            self.logs.append(log)
            self.procs.append(
                subprocess.Popen(
                    [
                        GRAPE_BIN, "serve",
                        "--data-dir", os.path.join(self.root, f"node{i + 1}"),
                        "--host", "127.0.0.1",
                        "--http-port", str(self.http[i]),
                        "--grpc-port", str(self.grpc[i]),
                        "--node-id", str(i + 1),
                        "--cluster", members,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        self.wait_for_leader()

    def wait_for_leader(self, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p, proc in zip(self.http, self.procs):
                assert proc.poll() is None, f"a node exited early:\n{self.log_text()}"
            try:
                leaders = {
                    get_json(p, "/cluster")["result"]["raft_info"]["leader"] for p in self.http
                }
                if len(leaders) == 1 and None not in leaders:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"no leader agreed on within {timeout} s:\n{self.log_text()}")

    def log_text(self) -> str:
        out = []
        for i in range(len(self.procs)):
            path = os.path.join(self.root, f"node{i + 1}.log")
            with open(path, "rb") as f:
                out.append(f"--- node {i + 1} ---\n" + f.read().decode(errors="replace")[-4000:])
        return "\n".join(out)

    def client(self, i: int, prefer_grpc: bool) -> QdrantClient:
        return QdrantClient(
            url=f"http://127.0.0.1:{self.http[i]}",
            grpc_port=self.grpc[i],
            prefer_grpc=prefer_grpc,
            timeout=30,
        )

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c
    except BaseException:
        print(c.log_text())
        raise
    finally:
        c.close()


@pytest.fixture(params=[False, True], ids=["rest", "grpc"])
def clients(request, cluster):
    cs = [cluster.client(i, request.param) for i in range(3)]
    yield cs
    for c in cs:
        c.close()


def test_every_node_reports_one_cluster_in_qdrants_shape(cluster):
    infos = [get_json(p, "/cluster")["result"] for p in cluster.http]
    assert {i["status"] for i in infos} == {"enabled"}
    assert sorted(i["peer_id"] for i in infos) == [1, 2, 3]
    leader = infos[0]["raft_info"]["leader"]
    for i in infos:
        assert set(i["peers"]) == {"1", "2", "3"}
        assert i["raft_info"]["leader"] == leader
        assert i["raft_info"]["is_voter"] is True
        assert i["raft_info"]["role"] == ("Leader" if i["peer_id"] == leader else "Follower")


def test_writes_through_each_node_are_read_through_every_node(clients):
    name = f"c_{uuid.uuid4().hex[:8]}"
    a, b, c = clients
    a.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    try:
        for i, client in enumerate(clients):
            client.upsert(
                name,
                points=[
                    models.PointStruct(
                        id=10 * i + j,
                        vector=[1.0 + i, float(j), 0.5, 0.25],
                        payload={"node": i, "j": j, "color": "red" if j % 2 else "blue"},
                    )
                    for j in range(1, 6)
                ],
                wait=True,
            )
        majority = models.ReadConsistencyType.MAJORITY
        for client in clients:
            # The strong read first (a read barrier), then a local count.
            got = client.retrieve(name, ids=[1, 11, 21], consistency=majority)
            assert sorted(p.id for p in got) == [1, 11, 21]
            assert client.count(name, exact=True).count == 15
        # The same search gives the same answer on every node.
        answers = []
        for client in clients:
            hits = client.query_points(
                name,
                query=[3.0, 2.0, 0.5, 0.25],
                limit=5,
                query_filter=models.Filter(
                    must=[models.FieldCondition(key="color", match=models.MatchValue(value="red"))]
                ),
                consistency=majority,
            ).points
            answers.append([(h.id, round(h.score, 5)) for h in hits])
        assert answers[0] == answers[1] == answers[2]
        assert len(answers[0]) == 5
        # Hybrid query with prefetch + RRF, through a follower or the leader alike.
        fused = b.query_points(
            name,
            prefetch=[
                models.Prefetch(query=[1.0, 1.0, 0.5, 0.25], limit=10),
                models.Prefetch(query=[3.0, 5.0, 0.5, 0.25], limit=10),
            ],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=3,
        ).points
        assert len(fused) == 3
        # Payload update through one node, seen through another.
        c.set_payload(name, payload={"seen": True}, points=[1, 2], wait=True)
        got = a.retrieve(name, ids=[1, 2], consistency=majority)
        assert all(p.payload.get("seen") is True for p in got)
        # Delete by filter through one node.
        b.delete(
            name,
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[models.FieldCondition(key="node", match=models.MatchValue(value=2))]
                )
            ),
            wait=True,
        )
        counts = [len(cl.scroll(name, limit=100, consistency=majority)[0]) for cl in clients]
        assert counts == [10, 10, 10]
        # Aliases are replicated too.
        alias = f"{name}_alias"
        a.update_collection_aliases(
            change_aliases_operations=[
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=name, alias_name=alias)
                )
            ]
        )
        for client in clients:
            client.retrieve(name, ids=[1], consistency=majority)
            assert client.count(alias, exact=True).count == 10
    finally:
        c.delete_collection(name)
    for client in clients:
        assert not client.collection_exists(name)


def test_bad_input_is_rejected_on_every_node_and_changes_nothing(clients):
    name = f"bad_{uuid.uuid4().hex[:8]}"
    clients[0].create_collection(name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    try:
        clients[1].upsert(name, points=[models.PointStruct(id=1, vector=[1.0, 2.0, 3.0])], wait=True)
        for client in clients:
            with pytest.raises(Exception) as e:
                client.upsert(name, points=[models.PointStruct(id=2, vector=[1.0, 2.0])], wait=True)
            assert "dimension" in str(e.value).lower() or "400" in str(e.value) or "INVALID_ARGUMENT" in str(e.value)
        for client in clients:
            pts, _ = client.scroll(name, limit=10, consistency=models.ReadConsistencyType.MAJORITY)
            assert [p.id for p in pts] == [1]
    finally:
        clients[2].delete_collection(name)
