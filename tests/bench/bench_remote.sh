#!/usr/bin/env bash
# Remote benchmark: mlvc and DVC side by side in one run, push / no-op push / pull, on a local-folder
# remote and on a real S3 server (SeaweedFS on 127.0.0.1, started here).
#
#   bash tests/bench/bench_remote.sh [DATADIR] [DATASET ...] [-- KIND ...]
#       DATADIR   default /tmp/bench/data (made by ../shared/bench/make_data.py)
#       DATASET   default: many big     KIND: local s3 (default both)
#
# For each dataset, kind and tool (mlvc, then dvc), in a fresh git repo: copy the data in, `add data`
# and commit (untimed); then time
#   push        everything to an empty remote
#   push_noop   the same push again (everything is there)
#   pull        after rm -rf data and the local cache: fetch + checkout
# and check that the pulled data equals the original (untimed). Rows go to $RESULTS (CSV):
#   tool,dataset,kind,step,wall_s,files,bytes,rc
# Settings: DVC_VENV (/tmp/bench/dvc-venv, needs dvc and dvc-s3), WORK (/tmp/bench/remote-work), RESULTS
# (tests/bench/results-remote.csv), JOBS (empty: each tool's default), MLVC_BIN (folder of the mlvc to run,
# e.g. /tmp/bench/mlvc-venv/bin from tests/bench/mlvc_venv.sh; default: mlvc on PATH).
set -u
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA=${1:-/tmp/bench/data}
[ $# -gt 0 ] && shift
DATASETS=()
KINDS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do DATASETS+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
while [ $# -gt 0 ]; do KINDS+=("$1"); shift; done
[ ${#DATASETS[@]} -eq 0 ] && DATASETS=(many big)
[ ${#KINDS[@]} -eq 0 ] && KINDS=(local s3)
DVC_VENV=${DVC_VENV:-/tmp/bench/dvc-venv}
[ -n "${MLVC_BIN:-}" ] && export PATH="$MLVC_BIN:$PATH"   # mlvc from its own venv (tests/bench/mlvc_venv.sh)
WORK=${WORK:-/tmp/bench/remote-work}
RESULTS=${RESULTS:-$HERE/results-remote.csv}
export DVC_NO_ANALYTICS=1
mkdir -p "$WORK"
[ -s "$RESULTS" ] || echo "tool,dataset,kind,step,wall_s,files,bytes,rc" >"$RESULTS"

S3_PID=""
cleanup() { if [ -n "$S3_PID" ]; then kill "$S3_PID" 2>/dev/null; wait "$S3_PID" 2>/dev/null; fi; }
trap cleanup EXIT
if printf '%s\n' "${KINDS[@]}" | grep -qx s3; then
  rm -rf "$WORK/s3data"
  python3 "$ROOT/remotes/s3server.py" --dir "$WORK/s3data" --bucket bench >"$WORK/s3server.out" 2>&1 &
  S3_PID=$!
  for _ in $(seq 1 120); do grep -q "^  export AWS_ENDPOINT_URL" "$WORK/s3server.out" && break; sleep 0.5; done
  eval "$(grep '^  export ' "$WORK/s3server.out")"
  unset AWS_ENDPOINT_URL  # each tool gets the endpoint from its remote config, as a user would set it
  ENDPOINT=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/s3server.out" | head -1)
  echo "S3: $ENDPOINT"
fi

tool_cmd() {  # tool verb -> command line
  local tool=$1 verb=$2 j=""
  if [ -n "${JOBS:-}" ]; then j="-j $JOBS"; fi
  if [ "$tool" = mlvc ]; then echo "mlvc $verb $j"; else echo "$DVC_VENV/bin/dvc $verb $j"; fi
}

timed() {  # tool ds kind step cmd...
  local tool=$1 ds=$2 kind=$3 step=$4; shift 4
  sync
  local t0=$EPOCHREALTIME
  "$@" >"$WORK/log-$tool-$ds-$kind-$step.txt" 2>&1
  local rc=$?
  local t1=$EPOCHREALTIME
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  echo "$tool,$ds,$kind,$step,$wall,$FILES,$BYTES,$rc" >>"$RESULTS"
  printf '  %-5s %-6s %-6s %-10s %8ss rc=%s\n' "$tool" "$ds" "$kind" "$step" "$wall" "$rc"
}

for ds in "${DATASETS[@]}"; do
  FILES=$(awk -v d="$ds" '$1==d{print $2}' "$DATA/MANIFEST.tsv")
  BYTES=$(awk -v d="$ds" '$1==d{print $3}' "$DATA/MANIFEST.tsv")
  for kind in "${KINDS[@]}"; do
    for tool in mlvc dvc; do
      dir="$WORK/$tool-$ds-$kind"
      rm -rf "$dir" && mkdir -p "$dir/repo" && cd "$dir/repo" || exit 1
      git init -q . && git config user.email b@b && git config user.name bench
      if [ "$tool" = mlvc ]; then
        mlvc init >/dev/null; cachedir=.mlvc/cache
      else
        export DVC_SITE_CACHE_DIR="$dir/dvc-site-cache"
        "$DVC_VENV/bin/dvc" init -q && "$DVC_VENV/bin/dvc" config core.analytics false && \
          "$DVC_VENV/bin/dvc" config core.check_update false; cachedir=.dvc/cache
      fi
      if [ "$kind" = local ]; then url="$dir/remote"; else url="s3://bench/$tool-$ds"; fi
      if [ "$tool" = mlvc ]; then
        mlvc remote add bench "$url" --default >/dev/null
        [ "$kind" = s3 ] && mlvc remote modify bench endpointurl "$ENDPOINT"
      else
        "$DVC_VENV/bin/dvc" remote add -q -d bench "$url"
        [ "$kind" = s3 ] && "$DVC_VENV/bin/dvc" remote modify bench endpointurl "$ENDPOINT"
      fi
      cp -a "$DATA/$ds" data
      if [ "$tool" = mlvc ]; then mlvc add data >/dev/null; else "$DVC_VENV/bin/dvc" add -q data; fi
      git add -A >/dev/null && git commit -qm data
      # shellcheck disable=SC2046
      timed "$tool" "$ds" "$kind" push $(tool_cmd "$tool" push)
      # shellcheck disable=SC2046
      timed "$tool" "$ds" "$kind" push_noop $(tool_cmd "$tool" push)
      rm -rf data "$cachedir"
      # shellcheck disable=SC2046
      timed "$tool" "$ds" "$kind" pull $(tool_cmd "$tool" pull)
      if diff -rq "$DATA/$ds" data >/dev/null 2>&1; then ok=0; else ok=1; fi
      echo "$tool,$ds,$kind,verify_pull,0,$FILES,$BYTES,$ok" >>"$RESULTS"
      [ "$ok" = 0 ] || echo "  $tool $ds $kind: PULLED DATA DIFFERS"
      cd "$WORK" && rm -rf "$dir"
    done
  done
done
python3 "$HERE/bench_remote_summary.py" "$RESULTS"
