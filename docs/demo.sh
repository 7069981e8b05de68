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

# ---- pipelines: mlvc.yaml stages, repro of only what is stale, run cache, dag ----------
# A 3-stage pipeline (prepare -> train -> evaluate), stdlib Python only, CPU, a second or two.
mkdir -p src
cat > src/prepare.py <<'PY'
import csv, os, random, sys
import json
split = float(sys.argv[1])
rows = list(csv.reader(open("data/train.csv")))[1:]
random.Random(0).shuffle(rows)
n_test = int(len(rows) * split)
os.makedirs("prepared", exist_ok=True)
for name, part in (("test", rows[:n_test]), ("train", rows[n_test:])):
    with open(f"prepared/{name}.csv", "w", newline="") as f:
        csv.writer(f).writerows(part)
PY
cat > src/train.py <<'PY'
import csv, json, math, sys
lr, epochs = float(sys.argv[1]), int(sys.argv[2])
rows = [(float(x), float(y), int(label)) for x, y, label in csv.reader(open("prepared/train.csv"))]
w = [0.0, 0.0, 0.0]  # logistic regression by plain gradient descent
for _ in range(epochs):
    for x, y, label in rows:
        p = 1 / (1 + math.exp(-(w[0] + w[1] * x + w[2] * y)))
        g = p - label
        w = [w[0] - lr * g, w[1] - lr * g * x, w[2] - lr * g * y]
json.dump({"weights": w}, open("model.json", "w"))
PY
cat > src/evaluate.py <<'PY'
import csv, json, math
w = json.load(open("model.json"))["weights"]
rows = [(float(x), float(y), int(label)) for x, y, label in csv.reader(open("prepared/test.csv"))]
hits = sum((w[0] + w[1] * x + w[2] * y > 0) == bool(label) for x, y, label in rows)
json.dump({"accuracy": round(hits / len(rows), 4), "n": len(rows)}, open("metrics.json", "w"))
PY
cat > params.yaml <<'YAML'
prepare:
  split: 0.2
train:
  lr: 0.5
  epochs: 5
YAML
cat > mlvc.yaml <<'YAML'
# The demo pipeline. `mlvc repro` runs what is stale; `mlvc dag` draws it.
stages:
  prepare:
    cmd: python3 src/prepare.py ${prepare.split}
    deps: [data/train.csv, src/prepare.py]
    params: [prepare.split]
    outs: [prepared]
  train:
    cmd: python3 src/train.py ${train.lr} ${train.epochs}
    deps: [prepared/train.csv, src/train.py]
    params: [train.lr, train.epochs]
    outs: [model.json]
YAML
# the third stage is added with `mlvc run` (it keeps the comment above)
step mlvc run -n evaluate -d model.json -d prepared/test.csv -d src/evaluate.py -m metrics.json \
  python3 src/evaluate.py
step mlvc dag
step cat metrics.json
step mlvc repro                      # nothing changed: nothing runs
sed -i.bak 's/lr: 0.5/lr: 0.05/' params.yaml && rm -f params.yaml.bak
step mlvc status                     # train is stale: param train.lr 0.5 -> 0.05
step mlvc repro --dry
step mlvc repro                      # train and evaluate run; prepare does not
rm model.json
step mlvc repro                      # a deleted out whose bytes are cached is restored, not rerun
sed -i.bak 's/lr: 0.05/lr: 0.5/' params.yaml && rm -f params.yaml.bak
step mlvc repro                      # back to lr 0.5: restored from the run cache, nothing runs
step git add mlvc.yaml mlvc.lock params.yaml src .gitignore metrics.json
step git commit -q -m "Pipeline: prepare, train, evaluate"
test -z "$(mlvc repro --dry --json | python3 -c 'import json,sys; print([s for s in json.load(sys.stdin)["stages"] if s["action"] != "up-to-date"] or "")')"
# ---- end of pipelines -------------------------------------------------------------------

# ---- remotes: push to and pull from a local-folder remote --------------------------------
step mlvc remote add origin "$DEMO-remote" --default
step git add .mlvc/config .mlvc/.gitignore
step git commit -q -m "Add the team remote"
step mlvc status --remote                 # what is not pushed yet
step mlvc push                            # only what the remote lacks, trees after their files
step mlvc push                            # nothing to send: the root tree is there, so all of it is
step mlvc status --remote
git clone -q "$DEMO" "$DEMO-teammate"     # a teammate: git brings pointers, the remote brings bytes
cd "$DEMO-teammate"
step mlvc pull                            # fetch (each object verified against its name) + checkout
diff -r "$DEMO/data" "$DEMO-teammate/data" && echo "teammate's data is identical"
step mlvc remote verify                   # rehash what the remote holds
cd "$DEMO"
# ---- end of remotes ------------------------------------------------------------------------

# ---- history: metrics, params and data across commits ------------------------------------
sed -i.bak 's/epochs: 5/epochs: 1/' params.yaml && rm -f params.yaml.bak
step mlvc repro                           # train and evaluate rerun with one epoch
step git commit -q -am "Train for one epoch"
step mlvc metrics show
step mlvc metrics diff HEAD~1 HEAD        # accuracy before and after, with the change
step mlvc params diff HEAD~1 HEAD
step mlvc log --metric accuracy --param train.epochs
step mlvc log --metric accuracy --plot "$DEMO/accuracy.html"
step mlvc diff HEAD~4 HEAD                # tracked data between revisions, down to the file
step mlvc get HEAD~4 data/train.csv -o "$DEMO/train-v1.csv"
test "$(wc -l < "$DEMO/train-v1.csv")" -eq 501
# ---- end of history ------------------------------------------------------------------------
echo
echo "Demo finished in $DEMO"
