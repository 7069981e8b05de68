"""`mlvc check` as the CI gate: metric bounds, drops against a base revision, stale pipeline, data not
on the remote, exit-code bits, and the Markdown report."""

from __future__ import annotations

import json

from conftest import git

PIPELINE = """stages:
  train:
    cmd: cp result.json metrics.json
    deps: [result.json, data]
    params: [lr]
    metrics:
    - metrics.json:
        cache: false
"""


def _setup(repo, mlvc):
    (repo / "data").mkdir()
    (repo / "data" / "x.csv").write_text("a,b\n1,2\n")
    (repo / "params.yaml").write_text("lr: 0.1\n")
    (repo / "result.json").write_text('{"acc": 0.9, "loss": 0.2}\n')
    (repo / "mlvc.yaml").write_text(PIPELINE)
    mlvc("add", "data")
    mlvc("repro")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "baseline", cwd=repo)
    git("branch", "base", cwd=repo)
    # the candidate: worse accuracy, a new lr, more data, reproduced but not committed
    (repo / "result.json").write_text('{"acc": 0.85, "loss": 0.25}\n')
    (repo / "params.yaml").write_text("lr: 0.05\n")
    (repo / "data" / "y.csv").write_text("a,b\n3,4\n")
    mlvc("add", "data")
    mlvc("repro")


def test_metric_bounds_drops_and_exit_codes(repo, mlvc):
    _setup(repo, mlvc)
    assert mlvc("check", "--min", "acc=0.8", "--max", "loss=0.3").returncode == 0
    r = mlvc("check", "--min", "acc=0.9", "--max", "loss=0.3", check=False)
    assert r.returncode == 1 and "acc = 0.85 at workspace: below the minimum 0.9" in r.stderr
    r = mlvc("check", "--base", "base", "--max-drop", "acc=0.01", "--max-rise", "loss=10%", "--json", check=False)
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["exit_code"] == 1
    assert [(m["metric"], m["base"], m["ok"]) for m in doc["metrics"]] == [("acc", 0.9, False), ("loss", 0.2, False)]
    assert mlvc("check", "--base", "base", "--max-drop", "acc=10%").returncode == 0  # 0.05 <= 10% of 0.9
    assert mlvc("check", "--min", "nosuch=1", check=False).returncode == 125
    assert mlvc("check", "--metric", "acc", "--min", "0.8", "--rev", "base").returncode == 0  # the bisect form
    for bad in (["--min", "acc"], ["--max-drop", "acc=0.1"], ["--min", "acc=5%"]):
        assert mlvc("check", *bad, check=False).returncode == 2, bad


def test_stale_pipeline_unpushed_data_and_report(repo, mlvc, tmp_path):
    _setup(repo, mlvc)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "candidate", cwd=repo)
    mlvc("remote", "add", "store", str(tmp_path / "store"), "--default")
    r = mlvc("check", "--pushed", "--pipeline", check=False)
    assert r.returncode == 8 and "data: not pushed on remote store (run `mlvc push`)" in r.stderr
    mlvc("push")
    (repo / "params.yaml").write_text("lr: 0.01\n")  # changed without `mlvc repro`
    report = tmp_path / "report.md"
    r = mlvc("check", "--pushed", "--pipeline", "--base", "base", "--max-drop", "acc=0.01", "--md", str(report),
             check=False)
    assert r.returncode == 1 | 4, r.stderr
    assert "stage 'train' is stale: param lr 0.05 -> 0.01 (run `mlvc repro`" in r.stderr
    md = report.read_text()
    assert md.startswith("## mlvc check: failed (exit code 5)")
    assert "| acc drops at most 0.01 | **FAIL** |" in md and "| data on remote store | pass |" in md
    assert "- `train`: param lr 0.05 -> 0.01" in md
    assert "| metrics.json | acc | 0.9 | 0.85 | -0.05 | -5.56% |" in md
    assert "| params.yaml | lr | 0.1 | 0.01 |" in md
    assert "| data/y.csv | added | - | 8 |" in md
