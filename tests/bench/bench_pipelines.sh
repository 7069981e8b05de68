#!/usr/bin/env bash
# Pipeline benchmarks for issue 3, mlvc and DVC side by side in one run (same repo content).
#
#   bash tests/bench/bench_pipelines.sh [SCENARIO ...]     (default: noop3 noop100 many3 runcache)
#
#   noop3     3-stage chain on tiny files: first repro, then no-op repro (median of REPS)
#   noop100   100-stage chain (the shared harness's `pipe 100`): first repro, then no-op repro
#   many3     3-stage pipeline whose first stage depends on the 50,000-file folder
#             (/tmp/bench/data/many): first repro right after `add data` (as the shared
#             harness's repro_first), and first repro with nothing hashed before (cold)
#   runcache  a stage that writes a 1 GiB out; after a param change and back, repro restores
#             the out from the run cache: timed for mlvc (core.link copy and hardlink) and DVC,
#             next to a plain `cp` of the same file
#
# Settings: REPS (5), DATA (/tmp/bench/data), WORK (/tmp/bench-pipe), MLVC (mlvc on PATH),
# DVC (/tmp/bench/dvc-venv/bin/dvc).  Prints one line per timing and writes a CSV to
# $WORK/results.csv: tool,scenario,step,rep,wall_s,ran,cpu_s (user+sys of the command)
set -u
# A pip install ships compiled bytecode (DVC's venv has it); an editable checkout gets it on first
# import unless this is set, so leaving it set would time mlvc's compiler, not mlvc.
unset PYTHONDONTWRITEBYTECODE
export LC_ALL=C GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=Bench
export GIT_COMMITTER_EMAIL=b@example.com DVC_NO_ANALYTICS=1
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-5}
DATA=${DATA:-/tmp/bench/data}
WORK=${WORK:-/tmp/bench-pipe}
MLVC=${MLVC:-$(command -v mlvc)}
DVC=${DVC:-/tmp/bench/dvc-venv/bin/dvc}
UTIL=/work/shared/bench/pipelines_util.py
if [ $# -gt 0 ]; then SCENARIOS=("$@"); else SCENARIOS=(noop3 noop100 many3 runcache); fi
mkdir -p "$WORK"
CSV="$WORK/results.csv"
echo "tool,scenario,step,rep,wall_s,ran,cpu_s" >"$CSV"

# timed TOOL SCENARIO STEP REP CMD...: wall seconds of CMD in the cwd; ran.log lines counted
timed() {
  local tool=$1 sc=$2 st=$3 rep=$4 t0 t1 wall ran rc
  shift 4
  : >ran.log
  sync
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%U %S' -o "$WORK/last.time" -- "$@" >"$WORK/last.out" 2>"$WORK/last.err"
  rc=$?
  t1=$EPOCHREALTIME
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  cpu=$(awk '{printf "%.2f", $1 + $2}' "$WORK/last.time")
  ran=$(wc -l <ran.log)
  [ $rc = 0 ] || { echo "FAILED ($rc): $*"; tail -3 "$WORK/last.err"; }
  echo "$tool,$sc,$st,$rep,$wall,$ran,$cpu" >>"$CSV"
  printf '  %-5s %-9s %-18s rep %s  %8ss  cpu %5ss  ran=%s\n' "$tool" "$sc" "$st" "$rep" "$wall" "$cpu" "$ran"
}

# fresh REPO TOOL: a new git repo with the tool initialised, as cwd
fresh() {
  rm -rf "$1" && mkdir -p "$1" && cd "$1" || exit 1
  git init -q .
  if [ "$2" = dvc ]; then
    "$DVC" init -q && "$DVC" config core.analytics false && "$DVC" config core.check_update false
    export DVC_SITE_CACHE_DIR="$1.site"
  else
    "$MLVC" init >/dev/null
  fi
  echo "/ran.log" >.gitignore
}

pipe_file() {  # the pipeline file each tool reads (mlvc reads dvc.yaml where there is no mlvc.yaml)
  cat >dvc.yaml
}

three_stage() {  # $1: the first stage's dep
  pipe_file <<YAML
stages:
  s1:
    cmd: echo s1 >> ran.log && python3 -c "open('s1.txt','w').write('stage1\n')"
    deps: [$1]
    outs: [s1.txt]
  s2:
    cmd: echo s2 >> ran.log && cp s1.txt s2.txt
    deps: [s1.txt]
    outs: [s2.txt]
  s3:
    cmd: echo s3 >> ran.log && python3 -c "open('s3.txt','w').write(open('s2.txt').read()*2)"
    deps: [s2.txt]
    outs: [s3.txt]
YAML
}

run_noop3() {
  for tool in mlvc dvc; do
    local exe=$MLVC; [ $tool = dvc ] && exe=$DVC
    fresh "$WORK/$tool-noop3" $tool
    echo seed >in.txt && three_stage in.txt && git add -A && git commit -qm p
    timed $tool noop3 repro_first 1 "$exe" repro
    for r in $(seq 1 "$REPS"); do timed $tool noop3 repro_noop "$r" "$exe" repro; done
  done
}

run_noop100() {
  for tool in mlvc dvc; do
    local exe=$MLVC; [ $tool = dvc ] && exe=$DVC
    fresh "$WORK/$tool-noop100" $tool
    python3 "$UTIL" pipe 100 && git add -A && git commit -qm p
    timed $tool noop100 repro_first 1 "$exe" repro
    python3 "$UTIL" verify-pipe 100 >/dev/null || echo "  VERIFY FAILED ($tool pipe100)"
    for r in $(seq 1 "$REPS"); do timed $tool noop100 repro_noop "$r" "$exe" repro; done
  done
}

run_many3() {
  for tool in mlvc dvc; do
    local exe=$MLVC; [ $tool = dvc ] && exe=$DVC
    # after `add data` (the shared harness's repro_first): the dep was hashed by add
    fresh "$WORK/$tool-many3" $tool
    cp -r "$DATA/many" data && "$exe" add data >/dev/null 2>&1 && three_stage data
    timed $tool many3 repro_first_after_add 1 "$exe" repro
    timed $tool many3 repro_noop 1 "$exe" repro
    # cold: nothing hashed before; the first stage's dep is walked and hashed in this command
    fresh "$WORK/$tool-many3" $tool
    cp -r "$DATA/many" data && three_stage data
    timed $tool many3 repro_first_cold 1 "$exe" repro
    timed $tool many3 repro_noop_cold 1 "$exe" repro
    cd "$WORK" && rm -rf "$WORK/$tool-many3"
  done
}

run_runcache() {
  local big="$WORK/in-1g.bin"
  [ -s "$big" ] || head -c 1073741824 "$DATA/big/big.bin" >"$big"
  for variant in mlvc-copy mlvc-hardlink dvc; do
    local tool=${variant%%-*} exe=$MLVC
    [ $tool = dvc ] && exe=$DVC
    fresh "$WORK/$variant-rc" $tool
    [ $variant = mlvc-hardlink ] && "$MLVC" config core.link hardlink >/dev/null
    cp "$big" in.bin
    printf 'v: 1\n' >params.yaml
    pipe_file <<'YAML'
stages:
  big:
    cmd: echo big >> ran.log && cp in.bin out.bin && echo ${v} >> out.bin
    deps: [in.bin]
    params: [v]
    outs: [out.bin]
YAML
    git add -A && git commit -qm p
    "$exe" repro >/dev/null 2>&1                          # v=1 runs
    printf 'v: 2\n' >params.yaml && "$exe" repro >/dev/null 2>&1   # v=2 runs
    printf 'v: 1\n' >params.yaml
    timed "$variant" runcache restore_1GiB 1 "$exe" repro  # v=1 again: from the run cache
    [ "$(tail -c 2 out.bin)" = "1" ] || echo "  VERIFY FAILED ($variant: out.bin is not the v=1 result)"
    cd "$WORK" && rm -rf "$WORK/$variant-rc" "$WORK/$variant-rc.site"
  done
  cp "$big" "$WORK/cp-target.bin"; rm -f "$WORK/cp-target.bin"; sync
  local t0=$EPOCHREALTIME; cp "$big" "$WORK/cp-target.bin"; local t1=$EPOCHREALTIME
  echo "cp,runcache,cp_1GiB,1,$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}'),0," >>"$CSV"
  echo "  cp of the same 1 GiB file: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')s"
  rm -f "$WORK/cp-target.bin"
}

echo "mlvc: $($MLVC --version)  dvc: $($DVC --version)  $(nproc) cores  $(date -u +%FT%TZ)"
for sc in "${SCENARIOS[@]}"; do
  echo "-- $sc"
  "run_$sc"
done
cd "$WORK" || exit 1
python3 "$HERE/bench_pipelines_summary.py" "$CSV"
