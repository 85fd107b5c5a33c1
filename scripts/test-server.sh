#!/usr/bin/env bash
# The official Python client (qdrant-client) against a `grape` server.
#
#   bash scripts/test-server.sh [pytest args...]
#
# Builds `grape` (debug), makes a venv under tests/server/.venv with the
# pinned client and pytest, starts the server on free loopback ports with
# a temporary data directory, runs tests/server/test_qdrant_client.py and
# tests/server/test_grpc.py, and stops the server by its PID. Then installs
# the pinned @qdrant/js-client-rest into tests/server/node/node_modules
# (npm ci) and runs tests/server/node/ (node:test) against a second fresh
# server. A failing suite prints its server's log. pytest args apply to the
# Python suite only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

QDRANT_CLIENT_VERSION=1.20.0
PYTEST_VERSION=9.2.0

cargo build -p grape-server --bin grape
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
grape="$target_dir/debug/grape"

venv=tests/server/.venv
if ! "$venv/bin/python" -c "import qdrant_client, pytest, importlib.metadata as m; assert m.version('qdrant-client') == '$QDRANT_CLIENT_VERSION'" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "qdrant-client==$QDRANT_CLIENT_VERSION" "pytest==$PYTEST_VERSION"
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

server_pid=
data_dir=
log=
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        wait "$server_pid" || true
    fi
    server_pid=
    if [ -n "$data_dir" ]; then
        rm -rf "$data_dir"
    fi
}
cleanup() {
    stop_server
    if [ -n "$log" ]; then
        rm -f "$log"
    fi
}
trap cleanup EXIT

# Starts a fresh server (new data directory, free ports): sets http_port,
# grpc_port, data_dir, log and server_pid.
start_server() {
    http_port=$(free_port)
    grpc_port=$(free_port)
    data_dir=$(mktemp -d)
    log="$data_dir.log"
    "$grape" serve --data-dir "$data_dir" --host 127.0.0.1 \
        --http-port "$http_port" --grpc-port "$grpc_port" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
            "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "test-server.sh: grape exited early:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "test-server.sh: grape did not become ready:" >&2
    cat "$log" >&2
    exit 1
}

# Prints the server log if the suite that just ran failed.
report() {
    if [ "$1" -ne 0 ]; then
        echo "--- grape log ---" >&2
        cat "$log" >&2
    fi
    rm -f "$log"
}

status=0

# 1. qdrant-client (Python), over REST and gRPC.
start_server
py_status=0
GRAPE_HTTP_PORT="$http_port" GRAPE_GRPC_PORT="$grpc_port" GRAPE_SNAPSHOTS_DIR="$data_dir/snapshots" \
    "$venv/bin/python" -m pytest -q tests/server/test_qdrant_client.py tests/server/test_grpc.py "$@" || py_status=$?
report "$py_status"
stop_server
[ "$py_status" -eq 0 ] || status=$py_status

# 2. qdrant-client against a three-node cluster (the suite starts its own nodes).
cluster_status=0
GRAPE_BIN="$grape" "$venv/bin/python" -m pytest -q tests/server/test_cluster.py "$@" || cluster_status=$?
[ "$cluster_status" -eq 0 ] || status=$cluster_status

# 3. @qdrant/js-client-rest (Node), over REST, on a fresh server.
node_dir=tests/server/node
if [ ! -d "$node_dir/node_modules/@qdrant/js-client-rest" ] \
    || [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund --silent)
fi
start_server
node_status=0
(cd "$node_dir" && GRAPE_HTTP_PORT="$http_port" node --test) || node_status=$?
report "$node_status"
stop_server
[ "$node_status" -eq 0 ] || status=$node_status

exit "$status"
