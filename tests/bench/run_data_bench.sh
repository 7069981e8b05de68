#!/usr/bin/env bash
# issue 2's data benchmark: mlvc and DVC side by side, in ONE run, on the same machine and data.
#
#   bash tests/bench/run_data_bench.sh [DATASET ...]        (default: tiny many big mixed)
#
# For each link type in LINKS (default "default hardlink": the tools' own default, which on ext4
# is copy for both, and hardlink), each dataset and each repetition, it runs run_bench.sh once for
# each tool in TOOLS (default "mlvc dvc"), alternating which tool goes first, so both see the same
# machine load. Rows go to $OUT/results-LINK.csv; then:
#   $OUT/results-LINK-summary.md   medians per tool and the mlvc/dvc ratio (bench_util.py summarize)
#   $OUT/limits.csv                bare read / xxh3-128 / md5 passes over the 2 GiB file (hash_limits.py)
#   $OUT/hashpass.csv              a bare xxh3-128 pass beside each big rep (bench_hashpass.py): the pass
#                                  itself and the whole process (python start + import + pass)
#   $OUT/imports.txt               `python -X importtime`: what `mlvc --help` / a no-op status import
#   $OUT/report.md                 the tables for docs/benchmarks.md (bench_report.py)
#   $OUT/load.log                  `uptime` before and after every tool run
# Settings (environment): REPS (3), LINKS, TOOLS, DATA (/tmp/bench/data), OUT (tests/bench/results),
#   MLVC_BIN (folder of the real mlvc executable; default: next to this python, skipping pyenv shims;
#   the figures in docs/benchmarks.md use a venv made by tests/bench/mlvc_venv.sh, as DVC has DVC_VENV),
#   DVC_VENV (/tmp/bench/dvc-venv), SKIP_STEPS (steps recorded as n/a for every tool, e.g.
#   "push pull repro_first repro_noop" for a data-only run), BENCH_WORK (/tmp/bench/work-mlvc),
#   FSMONITOR (1: mlvc runs with core.fsmonitor on; give it its own OUT).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ $# -gt 0 ]; then DATASETS=("$@"); else DATASETS=(tiny many big mixed); fi
REPS=${REPS:-3}
LINKS=${LINKS:-default hardlink}
TOOLS=${TOOLS:-mlvc dvc}
DATA=${DATA:-/tmp/bench/data}
OUT=${OUT:-$HERE/results}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)  # absolute: the harness runs each tool from its work folder
PY=${PYTHON:-python3}
export BENCH_WORK=${BENCH_WORK:-/tmp/bench/work-mlvc}
if [ -z "${MLVC_BIN:-}" ]; then
  MLVC_BIN=$($PY -c 'import os, sys; print(os.path.dirname(os.path.realpath(sys.executable)))')
  [ -x "$MLVC_BIN/mlvc" ] || MLVC_BIN=$(dirname "$(command -v mlvc)")
fi
export MLVC_BIN
# The hash passes and the import check run on the interpreter mlvc runs on: it has xxhash and
# mlvc's imports (a fresh machine's python3 may have neither: its xxh3 rows would be missing).
TOOL_PY=$PY
if [ -x "$MLVC_BIN/python" ]; then TOOL_PY="$MLVC_BIN/python"; fi
mkdir -p "$OUT" "$BENCH_WORK"
LOAD="$OUT/load.log"
echo "== run_data_bench $(date -u +%FT%TZ) datasets=${DATASETS[*]} links=$LINKS reps=$REPS tools=$TOOLS fsmonitor=${FSMONITOR:-0}" | tee -a "$LOAD"
echo "   mlvc: $MLVC_BIN/mlvc ($("$MLVC_BIN/mlvc" --version 2>&1)), git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" | tee -a "$LOAD"
T0=$EPOCHREALTIME
echo "link,rep,pass_s,process_wall_s" >"$OUT/hashpass.csv"

for LINK in $LINKS; do
  export LINK
  CSV="$OUT/results-$LINK.csv"
  rm -f "$CSV"
  for DS in "${DATASETS[@]}"; do
    for ((R = 0; R < REPS; R++)); do
      order=($TOOLS)
      if (( R % 2 == 1 )); then order=($(printf '%s\n' "${order[@]}" | tac)); fi
      if [ "$DS" = big ] && [ -f "$DATA/big/big.bin" ]; then   # the bare pass, under the same load as the adds
        t0=$EPOCHREALTIME
        read -r pass_s pass_gbs < <("$TOOL_PY" "$HERE/bench_hashpass.py" "$DATA/big/big.bin")
        echo "$LINK,$((R + 1)),$pass_s,$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.4f", b-a}')" >>"$OUT/hashpass.csv"
      fi
      for TOOL in "${order[@]}"; do
        echo "-- link=$LINK $DS rep $((R + 1)) $TOOL   load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOAD"
        REP0=$R REPS=1 APPEND=1 NO_SUMMARY=1 RESULTS="$CSV" bash "$HERE/run_bench.sh" "$TOOL" "$DATA" "$DS"
        echo "   after: load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$LOAD"
      done
    done
  done
  $PY "$HERE/bench_util.py" summarize "$CSV" >"$OUT/results-$LINK-summary.md"
done

if [ -f "$DATA/big/big.bin" ]; then
  rm -f "$OUT/limits.csv"
  "$TOOL_PY" "$HERE/hash_limits.py" "$DATA/big/big.bin" --reps 5 --out "$OUT/limits.csv"
fi
"$TOOL_PY" "$HERE/check_imports.py" >"$OUT/imports.txt" 2>&1 || echo "import check FAILED (see $OUT/imports.txt)"
$PY "$HERE/bench_report.py" "$OUT" >"$OUT/report.md"
echo "== done in $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b-a}') s" | tee -a "$LOAD"
cat "$OUT/report.md"
