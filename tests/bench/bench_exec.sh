#!/usr/bin/env bash
# Execution benchmarks (issue 9), each in fresh git repos under a temp dir:
#  1. eight independent stages that each sleep 1 s, one dvc.yaml:
#       mlvc repro -j 4   vs   dvc repro   (DVC runs stages one at a time)
#  2. per-stage overhead of a container stage: eight no-op stages (`cmd: "true"`), run
#       on the host, in podman, in docker (mlvc repro, serial), and bare `ENGINE run --rm IMG true`.
#
#   bash tests/bench/bench_exec.sh [REPS]          (default 3 repetitions; medians are printed)
# Needs: mlvc on PATH (or python -m mlvc), DVC at $DVC (default /tmp/bench/dvc-venv/bin/dvc),
# podman and/or docker with a running daemon (bash tests/setup_system.sh), busybox-static.
set -euo pipefail
REPS=${1:-3}
DVC=${DVC:-/tmp/bench/dvc-venv/bin/dvc}
MLVC=${MLVC:-"python3 -m mlvc"}
IMAGE=localhost/mlvc-bench-busybox:latest
WORK=$(mktemp -d /tmp/mlvc-bench-exec.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b

now() { python3 -c 'import time; print(time.monotonic())'; }
median() { python3 -c 'import statistics,sys; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

sleep_pipeline() {  # $1 = dir
  mkdir -p "$1"
  { echo "stages:"
    for i in 1 2 3 4 5 6 7 8; do
      printf '  s%d:\n    cmd: sleep 1 && echo %d > o%d.txt\n    outs:\n      - o%d.txt\n' "$i" "$i" "$i" "$i"
    done; } > "$1/dvc.yaml"
}

noop_pipeline() {  # $1 = dir, $2 = image line or ""
  mkdir -p "$1"
  { echo "stages:"
    for i in 1 2 3 4 5 6 7 8; do
      printf '  n%d:\n    cmd: echo %d > n%d.txt\n' "$i" "$i" "$i"
      [ -n "$2" ] && printf '    image: %s\n' "$2"
      printf '    outs:\n      - n%d.txt\n' "$i"
    done; } > "$1/mlvc.yaml"
}

timed() {  # run "$@" in the current dir, print wall seconds
  local t0 t1
  t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
  python3 -c "print('%.3f' % ($t1 - $t0))"
}

build_image() {  # $1 = engine
  local root="$WORK/rootfs"
  rm -rf "$root"; mkdir -p "$root/bin" "$root/etc" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  tar -C "$root" -c . | "$1" import --change 'ENV PATH=/bin' - "$IMAGE" >/dev/null
}

echo "# machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# dvc $($DVC --version), mlvc $($MLVC --version 2>/dev/null || echo '?')"

echo "## 8 x sleep 1 s stages"
m=(); d=()
for r in $(seq 1 "$REPS"); do
  dir="$WORK/sleep-mlvc-$r"; sleep_pipeline "$dir"
  (cd "$dir" && git init -q && $MLVC init >/dev/null)
  m+=("$(cd "$dir" && timed $MLVC repro -j 4)")
  [ -f "$dir/o8.txt" ] || { echo "mlvc did not run the stages"; exit 1; }
  dir="$WORK/sleep-dvc-$r"; sleep_pipeline "$dir"
  (cd "$dir" && git init -q && $DVC init -q)
  d+=("$(cd "$dir" && timed "$DVC" repro)")
  [ -f "$dir/o8.txt" ] || { echo "dvc did not run the stages"; exit 1; }
done
echo "mlvc repro -j 4: ${m[*]} -> median $(median "${m[@]}") s"
echo "dvc repro:       ${d[*]} -> median $(median "${d[@]}") s"
python3 -c "print('dvc / mlvc: %.1fx' % ($(median "${d[@]}") / $(median "${m[@]}")))"

echo "## container stage overhead (8 no-op stages, serial repro; per stage = (engine - host) / 8)"
host=()
for r in $(seq 1 "$REPS"); do
  dir="$WORK/noop-host-$r"; noop_pipeline "$dir" ""
  (cd "$dir" && git init -q && $MLVC init >/dev/null)
  host+=("$(cd "$dir" && timed $MLVC repro)")
done
echo "host:   ${host[*]} -> median $(median "${host[@]}") s for 8 stages"
for engine in podman docker; do
  command -v $engine >/dev/null && $engine info >/dev/null 2>&1 || { echo "$engine: not available"; continue; }
  build_image $engine
  eng=(); bare=()
  for r in $(seq 1 "$REPS"); do
    dir="$WORK/noop-$engine-$r"; noop_pipeline "$dir" "$IMAGE"
    (cd "$dir" && git init -q && $MLVC init >/dev/null && $MLVC config execute.engine $engine)
    eng+=("$(cd "$dir" && timed $MLVC repro)")
    [ -f "$dir/n8.txt" ] || { echo "$engine stages did not run"; exit 1; }
    bare+=("$(timed $engine run --rm --network none "$IMAGE" true)")
  done
  python3 - "$engine" "$(median "${host[@]}")" "$(median "${eng[@]}")" "$(median "${bare[@]}")" "${eng[*]}" <<'EOF'
import sys
engine, host, eng, bare, runs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
print(f"{engine}: {runs} -> median {eng:.3f} s for 8 stages; per stage over host {(eng - host) / 8:.3f} s; "
      f"bare `{engine} run --rm --network none IMG true` {bare:.3f} s")
EOF
  $engine rmi -f "$IMAGE" >/dev/null 2>&1 || true
done
