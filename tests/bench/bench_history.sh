#!/usr/bin/env bash
# History benchmark: 1,000-commit history (built with git fast-import by the shared bench helper,
# the same history as run_pipelines.sh's hist1000), then times `mlvc log --metric acc`, a bisect over
# recorded results, `mlvc metrics show --all-commits --json`, and DVC's `metrics show --all-commits --json`.
#   bash tests/bench/bench_history.sh [N=1000] [DVC=/tmp/bench/dvc-venv/bin/dvc]
set -euo pipefail
N=${1:-1000}
DVC=${2:-/tmp/bench/dvc-venv/bin/dvc}
HERE=$(cd "$(dirname "$0")" && pwd)
UTIL=${UTIL:-/work/shared/bench/pipelines_util.py}
W=$(mktemp -d "${TMPDIR:-/tmp}/mlvc-hist-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
python3 "$UTIL" hist-build "$N" >/dev/null
mlvc init >/dev/null
t() { /usr/bin/time -f "%e s wall, %U s user, %M KB" "$@" 2>&1 >/dev/null | tail -n1; }
for i in 1 2 3; do echo "log --metric acc:            $(t mlvc log --metric acc)"; done
for i in 1 2 3; do echo "bisect (recorded results):   $(t mlvc bisect --metric acc --good "HEAD~$((N - 1))" --bad HEAD \
  --lower-is-better --threshold 0.8 --no-reproduce)"; done
for i in 1 2 3; do echo "metrics show -A --json:      $(t mlvc metrics show --all-commits --json)"; done
mlvc log --metric acc >log.txt && echo "log found: $(python3 "$UTIL" found acc@all log.txt) acc values"
if [ -x "$DVC" ]; then
  export DVC_NO_ANALYTICS=1
  echo "dvc metrics show -A --json:  $(t "$DVC" metrics show --all-commits --json)"
fi
