# Sourced by the bench scripts (after `say` is defined, from the repository
# root): creates bench/.venv and installs the pinned bench/requirements.txt
# whenever its hash changes. Sets PY to the venv's python.
VENV="bench/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.requirements.sha256"
if [ ! -x "$PY" ]; then
    say "creating $VENV"
    if command -v python3.11 >/dev/null; then python3.11 -m venv "$VENV"; else python3 -m venv "$VENV"; fi
fi
WANT="$(sha256sum bench/requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
    say "installing bench/requirements.txt (hnswlib compiles from source with g++: about a minute)"
    "$PY" -m pip install --disable-pip-version-check -q -r bench/requirements.txt
    echo "$WANT" > "$STAMP"
fi
