"""`mlvc data diff` on planted changes between git revisions, and the `run_checks` pipeline gate."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import git

N = 4000


def table(seed: int, *, shift: float = 0.0, new_cat: bool = False, drop: bool = False, retype: bool = False):
    rng = np.random.default_rng(seed)
    cats = rng.choice(["red", "green", "blue"], N).astype(object)
    if new_cat:
        cats[: N // 10] = "purple"  # 10 % of rows get a value never seen before
    cols = {
        "x": rng.normal(10.0 + shift, 2.0, N),
        "color": pa.array(list(cats), pa.string()),
        "steady": rng.uniform(0, 1, N),
        "code": rng.integers(0, 50, N),
        "extra": rng.normal(0, 1, N),
    }
    if retype:
        cols["code"] = pa.array([f"c{v}" for v in cols["code"]], pa.string())
    if drop:
        del cols["extra"]
    return pa.table(cols)


def commit_version(repo, mlvc, t, msg: str) -> None:
    path = repo / "data.parquet"
    if path.exists():
        path.chmod(0o644)
    pq.write_table(t, path)
    mlvc("add", "data.parquet")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", msg, cwd=repo)


def diff_json(mlvc, *args: str) -> dict:
    return json.loads(mlvc("data", "diff", "data.parquet", *args, "--json").stdout)


def by_name(doc: dict) -> dict:
    return {c["name"]: c for c in doc["columns"]}


def test_each_planted_change_is_flagged_and_nothing_else(repo, mlvc):
    commit_version(repo, mlvc, table(1), "v1")
    git("tag", "v1", cwd=repo)
    pq.write_table(table(2, shift=1.0, new_cat=True, drop=True, retype=True), repo / "data.parquet")
    doc = diff_json(mlvc)  # HEAD against the workspace
    cols = by_name(doc)
    assert sorted(doc["flagged"]) == ["code", "color", "extra", "x"]
    assert cols["x"]["measure"] == "js" and cols["x"]["drift"] > 0.02
    assert cols["x"]["mean_b"] - cols["x"]["mean_a"] == pytest.approx(1.0, abs=0.15)
    assert cols["color"]["new_values"][0][0] == "purple"
    assert cols["color"]["new_values"][0][1] == pytest.approx(0.1, abs=0.001)
    assert cols["extra"]["status"] == "removed"
    assert cols["code"]["status"] == "type changed" and cols["code"]["type_b"] == "string"
    assert cols["steady"]["flags"] == [] and cols["steady"]["drift"] < 0.01
    r = mlvc("data", "diff", "data.parquet", "v1", "--exit-code", check=False)
    assert r.returncode == 1 and "4 columns flagged" in r.stdout and "new values 'purple'" in r.stdout
    md = mlvc("data", "diff", "data.parquet", "--md").stdout
    assert "| column | status |" in md and "| ⚠ x |" in md and "| steady |" in md


def test_an_unchanged_version_is_flagged_nowhere(repo, mlvc):
    commit_version(repo, mlvc, table(1), "v1")
    commit_version(repo, mlvc, table(99), "v2: a fresh sample of the same distributions")
    doc = diff_json(mlvc, "HEAD~1", "HEAD")
    assert doc["flagged"] == [] and not doc["same_data"]
    assert all(c["drift"] < 0.01 for c in doc["columns"]), doc["columns"]
    same = diff_json(mlvc)  # HEAD against an untouched workspace
    assert same["same_data"] and same["flagged"] == []
    assert mlvc("data", "diff", "data.parquet", "--exit-code").returncode == 0


def test_thresholds_come_from_options_and_config(repo, mlvc):
    commit_version(repo, mlvc, table(1), "v1")
    pq.write_table(table(2, shift=0.6), repo / "data.parquet")
    assert diff_json(mlvc)["flagged"] == ["x"]
    assert diff_json(mlvc, "--max-js", "0.5")["flagged"] == []
    mlvc("config", "data.max_js", "0.5")
    assert diff_json(mlvc)["flagged"] == []


def test_git_committed_csv_and_missing_cache_object(repo, mlvc):
    (repo / "small.csv").write_text("a,b\n1,x\n2,y\n")
    git("add", "small.csv", cwd=repo)
    git("commit", "-qm", "csv in git", cwd=repo)
    (repo / "small.csv").write_text("a,b\n1,x\n2,y\n3,z\n")
    doc = json.loads(mlvc("data", "diff", "small.csv", "--json").stdout)
    assert (doc["rows_a"], doc["rows_b"]) == (2, 3)
    commit_version(repo, mlvc, table(1), "v1")
    import shutil

    shutil.rmtree(repo / ".mlvc" / "cache")
    shutil.rmtree(repo / ".mlvc" / "tmp" / "stats", ignore_errors=True)
    r = mlvc("data", "stats", "data.parquet", "--rev", "HEAD", check=False)
    assert r.returncode == 1 and "is not in the cache (run `mlvc pull`" in r.stderr and "Traceback" not in r.stderr
    r = mlvc("data", "diff", "data.parquet", "no-such-rev", check=False)
    assert r.returncode == 1 and r.stderr.startswith("mlvc: error: no-such-rev: unknown revision")


def test_run_checks_gates_a_stage(repo, mlvc):
    from mlvc.data.checks import parse_checks, run_checks
    from mlvc.errors import DataCheckError, DataCheckSpecError
    from mlvc.repo import Repo

    commit_version(repo, mlvc, table(1), "v1")
    mlvc("data", "stats", "data.parquet", "--json")  # snapshot of v1, kept as a file
    (repo / "snap.json").write_text(mlvc("data", "stats", "data.parquet", "--json").stdout)
    pq.write_table(table(5), repo / "data.parquet")
    r = Repo(str(repo))
    spec = [{"path": "data.parquet", "ref": "HEAD", "schema": True, "drift": {"max_js": 0.05}, "rows": {"min": 10}}]
    ok = run_checks(r, "train", spec)
    assert ok[0].passed and ok[0].figures["x"]["js"] < 0.05 and ok[0].to_dict()["against"].startswith("HEAD (")
    pq.write_table(table(5, shift=1.5, drop=True), repo / "data.parquet")
    with pytest.raises(DataCheckError) as exc:
        run_checks(r, "train", spec)
    msg = str(exc.value)
    assert msg.startswith("stage train: data check failed: data.parquet: column 'x': js ") and "> 0.05" in msg
    assert not exc.value.results[0].passed and "column 'extra' removed" in exc.value.results[0].failures
    with pytest.raises(DataCheckError, match="column 'extra' removed against snapshot snap.json"):
        run_checks(r, "train", [{"path": "data.parquet", "snapshot": "snap.json", "schema": True}])
    with pytest.raises(DataCheckSpecError, match=r"stage s: checks\[0\]: unknown key 'drfit'"):
        parse_checks("s", [{"path": "d", "drfit": True}])
    with pytest.raises(DataCheckSpecError, match="drift.max_js must be a non-negative number"):
        parse_checks("s", [{"path": "d", "drift": {"max_js": "high"}}])
