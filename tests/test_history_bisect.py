"""bisect / reproduce / check over real git histories (built with `git fast-import`, then run by the real CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

import pytest

from tests.conftest import git

TRAIN_PY = """\
import json, re
lr = float(re.search(r"^lr:\\s*(\\S+)", open("params.yaml").read(), re.M).group(1))
acc = round(0.95 - abs(lr - 0.01) * 5, 4)
open("metrics.json", "w").write(json.dumps({"acc": acc, "train": {"loss": round(1 - acc, 4)}}) + "\\n")
"""
MLVC_YAML = """\
stages:
  train:
    cmd: python3 train.py
    deps: [train.py]
    params: [lr]
    metrics:
      - metrics.json:
          cache: false
          meta: {tolerance: {acc: 0.001}}
"""
N, CULPRIT = 40, 23  # commit 23 (1-based) sets a bad lr


def acc_of(lr: float) -> float:
    return round(0.95 - abs(lr - 0.01) * 5, 4)


def lr_of(i: int) -> float:
    return round((0.05 if i >= CULPRIT else 0.01) + 0.0001 * (i % 3), 4)


def outputs(lr: float) -> tuple[bytes, bytes, bytes]:
    """params.yaml, metrics.json and mlvc.lock exactly as `mlvc repro` writes them for this lr."""
    from mlvc.hashing import hash_bytes
    from mlvc.pipeline import lockfile
    from mlvc.pointer import Ref

    acc = acc_of(lr)
    metrics = (json.dumps({"acc": acc, "train": {"loss": round(1 - acc, 4)}}) + "\n").encode()
    train = TRAIN_PY.encode()
    entry = lockfile.LockEntry(
        {"cmd": "python3 train.py"},
        deps={"train.py": Ref(hash_bytes(train), "file", len(train), 1)},
        params={"params.yaml": {"lr": lr}},
        outs={"metrics.json": lockfile.LockedOut(Ref(hash_bytes(metrics), "file", len(metrics), 1), cache=False)},
    )
    with tempfile.TemporaryDirectory() as d:
        lockfile.write(d, lockfile.Lock({"train": entry}), ["train"])
        with open(os.path.join(d, "mlvc.lock"), "rb") as f:
            lock = f.read()
    return f"lr: {lr}\n".encode(), metrics, lock


def build(root, record: str) -> list[str]:
    """N commits on main; `record` = all (every commit reran the pipeline) or ends (only first and last)."""
    out: list[bytes] = []

    def blob(path: str, data: bytes) -> None:
        out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))

    with open(os.path.join(root, ".mlvc", "config"), "rb") as f:
        config = f.read()
    for i in range(1, N + 1):
        lr = lr_of(i)
        params, metrics, lock = outputs(lr)
        when = b"%d +0000" % (1700000000 + 60 * i)
        msg = b"commit %d: lr=%s\n" % (i, str(lr).encode())
        out.append(b"commit refs/heads/main\nmark :%d\n" % i)
        out.append(b"committer T <t@example.com> " + when + b"\ndata %d\n%s" % (len(msg), msg))
        if i == 1:
            blob("train.py", TRAIN_PY.encode())
            blob("mlvc.yaml", MLVC_YAML.encode())
            blob(".mlvc/config", config)
            blob(".mlvc/.gitignore", b"/config.local\n/tmp/\n/cache/\n")
        blob("params.yaml", params)
        if record == "all" or i in (1, N):
            blob("metrics.json", metrics)
            blob("mlvc.lock", lock)
        out.append(b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(out), cwd=root, check=True)
    git("reset", "-q", "--hard", "main", cwd=root)
    return git("rev-list", "--reverse", "main", cwd=root).split()


@pytest.mark.parametrize("record", ["all", "ends"])
def test_bisect_finds_planted_regression(repo, mlvc, record):
    shas = build(repo, record)
    assert len(shas) == N
    r = mlvc("bisect", "--metric", "acc", "--good", shas[0], "--bad", "main", "--json")
    doc = json.loads(r.stdout)
    assert doc["culprit"]["commit"] == shas[CULPRIT - 1]
    assert doc["params_changed"][0]["key"] == "lr"
    assert doc["params_changed"][0]["new"] == lr_of(CULPRIT)
    if record == "all":
        assert doc["reproductions"] == 0
        assert all(s["source"] == "recorded" for s in doc["steps"])
    else:
        # binary search over 39 candidates: about log2(39) reproductions, never a linear scan
        assert 1 <= doc["reproductions"] <= 7
        # a commit whose params equal commit 1's really is described by commit 1's lock and metrics
        for step in doc["steps"]:
            same = lr_of(shas.index(step["commit"]) + 1) == lr_of(1)
            assert step["source"] == ("recorded" if same else "reproduced")
        assert doc["reproductions"] == sum(s["source"] == "reproduced" for s in doc["steps"])
        assert "not recorded" in r.stderr
    if record == "ends":
        return
    human = mlvc("bisect", "--metric", "acc", "--good", shas[0], "--no-reproduce")
    assert shas[CULPRIT - 1] in human.stdout and f"lr {lr_of(CULPRIT - 1)} -> {lr_of(CULPRIT)}" in human.stdout


def test_bisect_runs_k_states_confidence(repo, mlvc):
    shas = build(repo, "ends")
    r = mlvc("bisect", "--metric", "acc", "--good", shas[20], "--bad", shas[24], "--runs", "3",
             "--threshold", "0.9", "--json")
    doc = json.loads(r.stdout)
    assert doc["culprit"]["commit"] == shas[CULPRIT - 1]
    reproduced = [s for s in doc["steps"] if s["source"] == "reproduced"]
    assert reproduced and doc["reproductions"] % 3 == 0 and doc["reproductions"] >= 3 * len(reproduced)
    assert all(len(s["values"]) == 3 and s["confidence"] == 1.0 for s in reproduced)  # deterministic: no spread


def test_bisect_bad_input(repo, mlvc):
    shas = build(repo, "all")
    git("branch", "side", shas[5], cwd=repo)
    git("checkout", "-q", "side", cwd=repo)
    (repo / "x.txt").write_text("x")
    git("add", "x.txt", cwd=repo)
    git("commit", "-qm", "side", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    r = mlvc("bisect", "--metric", "acc", "--good", "side", "--bad", "main", check=False)
    assert r.returncode == 1 and "is not an ancestor of --bad" in r.stderr
    r = mlvc("bisect", "--metric", "nope", "--good", shas[0], "--bad", "main", "--no-reproduce", check=False)
    assert r.returncode == 1 and "--good" in r.stderr and "'nope' is not recorded" in r.stderr
    r = mlvc("bisect", "--metric", "acc", "--good", "nosuchrev", check=False)
    assert r.returncode == 1 and "nosuchrev: unknown revision" in r.stderr
    r = mlvc("bisect", "--metric", "acc", "--good", shas[0], "--bad", shas[3], check=False)
    assert r.returncode == 1 and "not worse than the threshold" in r.stderr


def test_reproduce_verify_and_check(repo, mlvc):
    shas = build(repo, "ends")
    before = git("status", "--porcelain", cwd=repo)
    ok = mlvc("reproduce", "main", "--verify")
    assert "Verified: 1 outs and 2 metrics" in ok.stdout
    bad = mlvc("reproduce", shas[CULPRIT], "--verify", "--json", check=False)  # stale record: does not reproduce
    assert bad.returncode == 1
    doc = json.loads(bad.stdout)
    assert {m["what"] for m in doc["mismatches"]} == {"metric metrics.json:acc", "metric metrics.json:train.loss"}
    acc = next(m for m in doc["mismatches"] if m["what"].endswith(":acc"))
    assert acc["tolerance"] == 0.001 and acc["reproduced"] == acc_of(lr_of(CULPRIT + 1))
    assert git("status", "--porcelain", cwd=repo) == before  # the workspace was not touched
    assert mlvc("check", "--metric", "acc", "--min", "0.5").returncode == 0
    assert mlvc("check", "--metric", "acc", "--min", "0.9", check=False).returncode == 1
    assert mlvc("check", "--metric", "missing", "--min", "0.9", check=False).returncode == 125
    assert mlvc("check", "--metric", "acc", "--max", "0.95", "--rev", shas[0]).returncode == 0


def test_git_bisect_run_with_check(repo, mlvc):
    shas = build(repo, "all")
    git("bisect", "start", "main", shas[0], cwd=repo)
    import sys

    out = git("bisect", "run", sys.executable, "-m", "mlvc", "check", "--metric", "acc", "--min", "0.9", cwd=repo)
    assert f"{shas[CULPRIT - 1]} is the first bad commit" in out
