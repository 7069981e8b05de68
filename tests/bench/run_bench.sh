#!/usr/bin/env bash
# Benchmark a data-version-control tool on the datasets made by make_data.py.
# Copy of ../shared/bench/run_bench.sh (the harness that measured DVC's baseline) with:
# adapters from tests/bench/adapters/, REP0 (repetition numbers start at REP0+1, so a driver can
# interleave tools one repetition at a time), SKIP_STEPS (steps recorded as n/a, not run; when
# pull is skipped the local cache is kept for checkout), NO_SUMMARY=1, and verification of
# pull/checkout/repro on the first repetition of each call.
#
#   bash run_bench.sh TOOL DATADIR [DATASET ...]      (TOOL: dvc | mlvc | oxen | annex; datasets default: tiny many big mixed)
#
# TOOL's CLI is reached through adapters/TOOL.sh.  For each dataset and each repetition,
# in a fresh repo (fresh local-directory remote too), it times with /usr/bin/time:
#   init              tool init in an empty (git) repo
#   add               first hash + cache insert of data/ (a copy of DATADIR/DATASET)
#   status_noop       status right after add
#   status_noop2      the same no-op status again, one (untimed) second later: a tool with a
#                     file-system watcher (mlvc with FSMONITOR=1) answers from it by then
#   status_touch1pct  status after bumping the mtime of 1% of the files (content unchanged)
#   status_mod1pct    status after rewriting 1% of the files (same sizes, new bytes)
#   push              push to the local-directory remote (the committed version)
#   pull              after rm -rf data/ and the local cache: pull (fetch + checkout)
#   checkout          after rm -rf data/ (cache kept): checkout
#   repro_first       3-stage trivial pipeline (s1 depends on data/), first run
#   repro_noop        the same repro again: nothing to do (fixed overhead + dep check)
# Rep 1 also checks that pull and checkout gave back the original bytes (verify_* rows, rc=0 ok).
#
# One CSV row per step goes to $RESULTS (default results-TOOL.csv beside this script):
#   tool,tool_version,dataset,rep,step,wall_s,time_e_s,maxrss_kb,user_s,sys_s,rc
# wall_s is measured with bash's $EPOCHREALTIME (microseconds) around /usr/bin/time;
# time_e_s/maxrss_kb/user_s/sys_s are /usr/bin/time's %e %M %U %S (max RSS of the largest process).
# A markdown summary (medians) goes to results-TOOL-summary.md, machine facts to results-TOOL-env.txt.
#
# Settings (environment):
#   REPS=3         repetitions per dataset (each a fresh repo; the summary reports the median)
#   MAX_REP_S=600  if rep 1 of a dataset took longer than this in total, it is not repeated
#                  (so steps of long datasets are single runs; the summary shows n)
#   SCM=git        git: `git init` before the tool's init; none: no git repo (dvc: --no-scm)
#   BENCH_WORK=/tmp/bench/work   scratch for repos, remotes and per-step logs
#   RESULTS=...    CSV path;  APPEND=1 appends instead of starting a new CSV
#   KEEP=1         keep each rep's repo, remote and scratch (default: deleted after the rep)
# Adapters get $BENCH_SCRATCH, a per-rep folder outside the repo, deleted with the rep.
# Page cache is warm throughout (data is copied in just before add); `sync` runs (untimed)
# before every timed step so one step's write-back does not land in the next step's time.
set -u
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
TOOL=${1:?usage: run_bench.sh TOOL DATADIR [DATASET ...]}
DATA=$(cd "${2:?usage: run_bench.sh TOOL DATADIR [DATASET ...]}" && pwd) || exit 2
shift 2
if [ $# -gt 0 ]; then DATASETS=("$@"); else DATASETS=(tiny many big mixed); fi
REPS=${REPS:-3}
MAX_REP_S=${MAX_REP_S:-600}
REP0=${REP0:-0}
SKIP_STEPS=" ${SKIP_STEPS:-} "
WORK=${BENCH_WORK:-/tmp/bench/work}
RESULTS=${RESULTS:-$HERE/results-$TOOL.csv}
SUMMARY=${RESULTS%.csv}-summary.md
ENVFILE=${RESULTS%.csv}-env.txt
PY=${PYTHON:-python3}
UTIL="$HERE/bench_util.py"

[ -f "$HERE/adapters/$TOOL.sh" ] || { echo "no adapter $HERE/adapters/$TOOL.sh" >&2; exit 2; }
# shellcheck source=/dev/null
source "$HERE/adapters/$TOOL.sh"
for f in tool_version tool_pre_init cmd_init tool_post_init cmd_add cmd_status cmd_push \
         cmd_pull cmd_checkout cmd_repro tool_drop_cache tool_define_pipeline; do
  declare -F "$f" >/dev/null || { echo "adapter $TOOL lacks $f" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

VER=$(tool_version 2>/dev/null | head -n1 | tr -d ',\r')
[ -n "$VER" ] || { echo "$TOOL not runnable (tool_version gave nothing)" >&2; exit 2; }
mkdir -p "$WORK"
LOGDIR="$WORK/logs-$TOOL"
mkdir -p "$LOGDIR"
TF=$(mktemp "$WORK/time.XXXXXX")
trap 'rm -f "$TF"' EXIT

if [ "${APPEND:-0}" != 1 ] || [ ! -s "$RESULTS" ]; then
  echo "tool,tool_version,dataset,rep,step,wall_s,time_e_s,maxrss_kb,user_s,sys_s,rc" >"$RESULTS"
fi
{
  echo "date: $(date -u +%FT%TZ)"
  echo "tool: $TOOL $VER"
  echo "python3: $($PY --version 2>&1)"
  echo "kernel: $(uname -sr)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
  echo "mem: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "work fs: $(stat -f -c %T "$WORK") ($(df -P "$WORK" | awk 'NR==2{print $1}'))"
  echo "settings: REPS=$REPS MAX_REP_S=$MAX_REP_S SCM=${SCM:-git} datasets=${DATASETS[*]}"
  echo "data manifest ($DATA/MANIFEST.tsv):"
  sed 's/^/  /' "$DATA/MANIFEST.tsv" 2>/dev/null
} >"$ENVFILE"
echo "== $TOOL $VER  -> $RESULTS"

REP_TOTAL=0
NA_STEPS=" "
# step NAME CMDFN: time the command CMDFN puts in CMD, append one CSV row.
# A step the tool cannot do: CMDFN leaves CMD empty and puts the reason in NA_REASON;
# the row then has empty times and rc "na" (summaries print n/a), and nothing is run.
step() {
  local name=$1 fn=$2 log t0 t1 rc e m u s wall
  CMD=()
  NA_REASON=""
  if [[ "$SKIP_STEPS" == *" $name "* ]]; then NA_REASON="skipped in this run (SKIP_STEPS)"; else "$fn"; fi
  log="$LOGDIR/$DS-r$REP-$name.log"
  if [ "${#CMD[@]}" -eq 0 ]; then
    echo "not applicable: ${NA_REASON:-$TOOL cannot do this step}" >"$log"
    echo "$TOOL,$VER,$DS,$REP,$name,,,,,,na" >>"$RESULTS"
    printf '  %-17s n/a (%s)\n' "$name" "${NA_REASON:-not supported}"
    NA_STEPS="$NA_STEPS$name "
    return 0
  fi
  sync
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%e %M %U %S' -o "$TF" -- "${CMD[@]}" >"$log" 2>&1
  rc=$?
  t1=$EPOCHREALTIME
  read -r e m u s < <(tail -n1 "$TF")
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  echo "$TOOL,$VER,$DS,$REP,$name,$wall,$e,$m,$u,$s,$rc" >>"$RESULTS"
  printf '  %-17s %9ss %9s KB  rc=%s\n' "$name" "$wall" "$m" "$rc"
  [ "$rc" = 0 ] || { echo "    (failed; last lines of $log:)"; tail -n 5 "$log" | sed 's/^/    | /'; }
  REP_TOTAL=$(awk -v a="$REP_TOTAL" -v b="$wall" 'BEGIN{printf "%.3f", a+b}')
}
# check NAME CMD...: untimed correctness check, recorded as a row with wall_s 0.
# A check of a step that was n/a (verify_pull after an n/a pull, ...) is recorded as n/a too.
check() {
  local name=$1 rc of; shift
  of=${name#verify_}; [ "$of" = repro ] && of=repro_first
  if [[ "$NA_STEPS" == *" $of "* ]]; then
    echo "$TOOL,$VER,$DS,$REP,$name,,,,,,na" >>"$RESULTS"
    printf '  %-17s n/a\n' "$name"
    return 0
  fi
  "$@" >"$LOGDIR/$DS-r$REP-$name.log" 2>&1
  rc=$?
  echo "$TOOL,$VER,$DS,$REP,$name,0,0,0,0,0,$rc" >>"$RESULTS"
  printf '  %-17s %s\n' "$name" "$( [ $rc = 0 ] && echo ok || echo "FAILED: $(tail -n1 "$LOGDIR/$DS-r$REP-$name.log")")"
}

run_rep() {
  local repo="$WORK/$TOOL-$DS-r$REP" remote="$WORK/$TOOL-$DS-r$REP-remote"
  export BENCH_SCRATCH="$WORK/$TOOL-$DS-r$REP-scratch"   # per-rep scratch for adapters
  rm -rf "$repo" "$remote" "$BENCH_SCRATCH"
  mkdir -p "$repo" "$remote" "$BENCH_SCRATCH"
  cd "$repo" || return 1
  REP_TOTAL=0
  NA_STEPS=" "
  tool_pre_init >"$LOGDIR/$DS-r$REP-setup.log" 2>&1
  step init cmd_init
  tool_post_init "$remote" >>"$LOGDIR/$DS-r$REP-setup.log" 2>&1 ||
    echo "  (remote setup failed, see $LOGDIR/$DS-r$REP-setup.log)"
  cp -a "$DATA/$DS" data
  step add cmd_add
  step status_noop cmd_status
  sleep 1
  step status_noop2 cmd_status
  $PY "$UTIL" touch data 1 >/dev/null
  step status_touch1pct cmd_status
  $PY "$UTIL" modify data 1 1 >/dev/null
  step status_mod1pct cmd_status
  step push cmd_push
  rm -rf data
  [[ "$SKIP_STEPS" == *" pull "* ]] || tool_drop_cache
  step pull cmd_pull
  [ "$REP" = $((REP0 + 1)) ] && check verify_pull $PY "$UTIL" verify "$DATA/$DS" data
  rm -rf data
  step checkout cmd_checkout
  [ "$REP" = $((REP0 + 1)) ] && check verify_checkout $PY "$UTIL" verify "$DATA/$DS" data
  tool_define_pipeline >>"$LOGDIR/$DS-r$REP-setup.log" 2>&1 ||
    echo "  (pipeline definition failed, see $LOGDIR/$DS-r$REP-setup.log)"
  step repro_first cmd_repro
  [ "$REP" = $((REP0 + 1)) ] && check verify_repro test "$(cat s3.txt 2>/dev/null)" = "$(printf 'stage1\nstage1\n')"
  step repro_noop cmd_repro
  cd "$WORK" || return 1
  [ "${KEEP:-0}" = 1 ] || rm -rf "$repo" "$remote" "$BENCH_SCRATCH"
}

for DS in "${DATASETS[@]}"; do
  [ -d "$DATA/$DS" ] || { echo "no dataset $DATA/$DS (run make_data.py)" >&2; continue; }
  for ((REP = REP0 + 1; REP <= REP0 + REPS; REP++)); do
    echo "-- $DS rep $REP"
    run_rep
    echo "   rep total ${REP_TOTAL}s"
    if [ "$REP" = $((REP0 + 1)) ] && awk -v t="$REP_TOTAL" -v m="$MAX_REP_S" 'BEGIN{exit !(t > m)}'; then
      echo "   rep 1 took ${REP_TOTAL}s > MAX_REP_S=${MAX_REP_S}: not repeated"
      break
    fi
  done
done

if [ "${NO_SUMMARY:-0}" != 1 ]; then
  $PY "$UTIL" summarize "$RESULTS" >"$SUMMARY"
  cat "$SUMMARY"
fi
