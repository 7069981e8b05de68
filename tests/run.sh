#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs, then runs pytest.
#   bash tests/run.sh [PYTEST ARGS...]
# As root on Debian it also installs the system parts the tests use for real (git, podman,
# docker); servers (S3, Ray, dockerd) are started by the tests themselves on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MLVC_TEST_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[test,s3,ray]'
export PATH="$PWD/$VENV/bin:$PATH"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash tests/setup_system.sh
fi
python -m pytest -q "$@"
