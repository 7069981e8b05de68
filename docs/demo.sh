#!/usr/bin/env bash
# The end-to-end demo the README runs: `pip install . && bash docs/demo.sh`.
# Works from anywhere, in a fresh folder (DEMO_DIR, default a new temp folder), offline,
# with a local cache and a local-folder remote. Each block shows one part of mlvc.
set -euo pipefail
DEMO=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/mlvc-demo.XXXXXX")}
mkdir -p "$DEMO"
cd "$DEMO"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# ---- data: init, add, status, commit, checkout across git commits ---------------------
git init -q
git config user.email >/dev/null || git config user.email "demo@example.com"
git config user.name >/dev/null || git config user.name "mlvc demo"
step mlvc init
python3 - <<'PY'
import os, random
r = random.Random(7)
os.makedirs("data/images", exist_ok=True)
with open("data/train.csv", "w") as f:
    f.write("x,y,label\n")
    for _ in range(500):
        x, y = r.random(), r.random()
        f.write(f"{x:.4f},{y:.4f},{int(x + y > 1)}\n")
for i in range(20):
    with open(f"data/images/img_{i:02d}.bin", "wb") as f:
        f.write(r.randbytes(2048))
PY
step mlvc add data
step git add data.mlvc .gitignore
step git commit -q -m "Track data v1"
echo "0.5000,0.5000,1" >> data/train.csv
rm data/images/img_00.bin
step mlvc status
step mlvc commit
step git commit -q -am "data v2: one more row, one image fewer"
step git checkout -q HEAD~1
step mlvc checkout
step mlvc status
test "$(wc -l < data/train.csv)" -eq 501 && test -f data/images/img_00.bin
step git checkout -q -
step mlvc checkout
test "$(wc -l < data/train.csv)" -eq 502 && test ! -e data/images/img_00.bin
