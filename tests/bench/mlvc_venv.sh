#!/usr/bin/env bash
# A venv with mlvc installed from this checkout the way a user installs it (`pip install .`, not
# editable), for the benchmarks: DVC runs from its own venv (DVC_VENV), so mlvc does too. Python's
# start-up is part of every timed command, and the development interpreter here loads extra .pth
# files (an editable-install finder, the sandbox's certificates: ~30 ms) that no user has.
#
#   bash tests/bench/mlvc_venv.sh [VENV]        (default /tmp/bench/mlvc-venv; rerun after a change)
#   MLVC_BIN=/tmp/bench/mlvc-venv/bin bash tests/bench/run_data_bench.sh many
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${1:-/tmp/bench/mlvc-venv}
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp -r "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/mlvc" "$build/"   # no build/ left in the checkout
"$VENV/bin/pip" install -q --force-reinstall --no-deps "$build" >/dev/null
"$VENV/bin/pip" install -q "$build[s3]" >/dev/null
"$VENV/bin/mlvc" --version
