#!/usr/bin/env bash
# The official Python client (qdrant-client) against a `grape` server.
#
#   bash scripts/test-server.sh [pytest args...]
#
# Builds `grape` (debug), makes a venv under tests/server/.venv with the
# pinned client and pytest, starts the server on free loopback ports with
# a temporary data directory, runs tests/server/test_qdrant_client.py and
# tests/server/test_grpc.py, and
# stops the server by its PID (its log is printed if a test fails).
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
http_port=$(free_port)
grpc_port=$(free_port)
data_dir=$(mktemp -d)
log="$data_dir.log"

"$grape" serve --data-dir "$data_dir" --host 127.0.0.1 \
    --http-port "$http_port" --grpc-port "$grpc_port" >"$log" 2>&1 &
server_pid=$!
cleanup() {
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        wait "$server_pid" || true
    fi
    rm -rf "$data_dir"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
        "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "test-server.sh: grape exited early:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done

status=0
GRAPE_HTTP_PORT="$http_port" GRAPE_GRPC_PORT="$grpc_port" GRAPE_SNAPSHOTS_DIR="$data_dir/snapshots" \
    "$venv/bin/python" -m pytest -q tests/server/test_qdrant_client.py tests/server/test_grpc.py "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- grape log ---" >&2
    cat "$log" >&2
fi
rm -f "$log"
exit "$status"
