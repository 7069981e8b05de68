#!/usr/bin/env bash
# Benchmark `mlvc data stats` and `mlvc data diff` on a ~1 GB Parquet file (generated in /tmp, not the repo).
# Usage: tests/bench/bench_data_stats.sh [ROWS]   (default 16M rows ≈ 1 GB)
set -euo pipefail
ROWS=${1:-16000000}
W=$(mktemp -d /tmp/mlvc-bench-data.XXXXXX)
cd "$W"
git init -q -b main . && git config user.email b@e && git config user.name bench
mlvc init >/dev/null
gen() {  # gen FILE SEED SHIFT
  python3 - "$1" "$2" "$3" "$ROWS" <<'PY'
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
path, seed, shift, rows = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
schema = None
with pq.ParquetWriter(path, pa.schema([("f%d" % i, pa.float64()) for i in range(6)]
                      + [("i0", pa.int64()), ("i1", pa.int64()), ("cat", pa.string())]), compression="snappy") as w:
    step = 1_000_000
    cats = np.array(["alpha", "beta", "gamma", "delta", "epsilon"] + (["zeta"] if shift else []))
    for start in range(0, rows, step):
        n = min(step, rows - start)
        cols = [pa.array(rng.normal(shift if i == 0 else 0, 1, n)) for i in range(6)]
        cols += [pa.array(rng.integers(0, 1 << 40, n)), pa.array(rng.integers(0, 100, n)),
                 pa.array(cats[rng.integers(0, len(cats), n)])]
        w.write_batch(pa.RecordBatch.from_arrays(cols, schema=w.schema))
PY
}
gen data.parquet 1 0
SIZE=$(stat -c %s data.parquet)
echo "file: $SIZE bytes, $ROWS rows"
mlvc add data.parquet >/dev/null && git add -A && git commit -qm v1
run() { /usr/bin/time -f "%e s, peak RSS %M KiB" "$@" >/dev/null; }
echo "stats (cold):";   run mlvc data stats data.parquet
echo "stats (cached):"; run mlvc data stats data.parquet
chmod u+w data.parquet 2>/dev/null || true; rm -f data.parquet
gen data.parquet 2 0.5
echo "diff HEAD vs workspace (HEAD cached, workspace cold):"; run mlvc data diff data.parquet
rm -rf .mlvc/tmp/stats
echo "diff (both cold):"; run mlvc data diff data.parquet
echo "diff (cached):";    run mlvc data diff data.parquet
mlvc data diff data.parquet | tail -n 3
rm -rf "$W"
