"""metrics show/diff, params diff, log, diff and get over real git histories (tags, branches, merges, gc)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import git

PIPE = """\
stages:
  train:
    cmd: python3 train.py
    params: [lr, model]
    metrics:
      - metrics.json: {cache: false}
      - scores.toml: {cache: false}
      - curve.csv: {cache: false}
"""


def commit(repo, msg: str, **files: str) -> str:
    for name, text in files.items():
        (repo / name).write_text(text)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", msg, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).strip()


def metrics(acc: float, loss: float) -> str:
    return json.dumps({"acc": acc, "train": {"loss": loss}})


@pytest.fixture
def hist(repo):
    """c1..c5 on main (tags v1.0 light on c2, v2.0 annotated on c4), a merged side branch, a bad file at c3."""
    (repo / "mlvc.yaml").write_text(PIPE)
    c = [commit(repo, "c1", **{"metrics.json": metrics(0.5, 0.9), "params.yaml": "lr: 0.1\nmodel: {depth: 2}\n",
                               "scores.toml": "f1 = 0.4\n", "curve.csv": "epoch,loss\n0,1.0\n1,0.8\n"})]
    c.append(commit(repo, "c2", **{"metrics.json": metrics(0.6, 0.7), "params.yaml": "lr: 0.05\nmodel: {depth: 2}\n"}))
    git("tag", "v1.0", cwd=repo)
    c.append(commit(repo, "c3 broken metrics", **{"metrics.json": "{not json"}))
    c.append(commit(repo, "c4", **{"metrics.json": metrics(0.7, 0.5), "scores.toml": "f1 = 0.6\n",
                                   "params.yaml": "lr: 0.01\nmodel: {depth: 4}\n"}))
    git("tag", "-a", "v2.0", "-m", "release", cwd=repo)
    git("checkout", "-qb", "side", cwd=repo)
    c.append(commit(repo, "side work", **{"metrics.json": metrics(0.1, 2.0)}))
    git("checkout", "-q", "main", cwd=repo)
    c.append(commit(repo, "c5", **{"metrics.json": metrics(0.8, 0.4), "curve.csv": "epoch,loss\n0,1.0\n1,0.3\n"}))
    git("merge", "-q", "--no-ff", "-m", "merge side", "-X", "ours", "side", cwd=repo)
    git("gc", "-q", cwd=repo)  # every object packed
    return c


def test_metrics_show_revisions_and_formats(mlvc, hist, repo):
    doc = json.loads(mlvc("metrics", "show", "v1.0", "v2.0", "main~1", "v2.0^", hist[0][:7], "--json").stdout)
    accs = [d["metrics"]["metrics.json"]["acc"] for d in doc[1:] if "metrics.json" in d["metrics"]]
    assert doc[0]["rev"] == "v1.0" and doc[0]["metrics"]["metrics.json"] == {"acc": 0.6, "train.loss": 0.7}
    assert accs == [0.7, 0.8, 0.5]  # v2.0 (annotated) = c4; main~1 = c5; v2.0^ = c3 is invalid; short hash = c1
    assert doc[3]["errors"] and "not valid JSON" in doc[3]["errors"][0]
    assert doc[4]["metrics"]["scores.toml"] == {"f1": 0.4} and doc[4]["metrics"]["curve.csv"]["loss"] == 0.8
    git("checkout", "-q", "--detach", "v1.0", cwd=repo)
    assert "0.6" in mlvc("metrics", "show", "HEAD").stdout
    r = mlvc("metrics", "show", "nosuch", check=False)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "nosuch: unknown revision" in r.stderr


def test_metrics_and_params_diff(mlvc, hist, repo):
    doc = json.loads(mlvc("metrics", "diff", "v1.0", "main", "--json").stdout)
    acc = next(c for c in doc["metrics"] if c["key"] == "acc")
    assert acc["old"] == 0.6 and acc["new"] == 0.8 and abs(acc["delta"] - 0.2) < 1e-9
    assert abs(acc["pct"] - 33.333) < 0.01
    assert {c["key"] for c in doc["metrics"]} == {"acc", "train.loss", "f1", "loss"}
    md = mlvc("metrics", "diff", "v1.0", "main", "--md").stdout
    assert md.startswith("| Path | Metric | v1.0 | main | Change | % |") and "+33.33%" in md
    (repo / "metrics.json").write_text(metrics(0.85, 0.4))  # default: HEAD against the workspace
    assert "+0.05" in mlvc("metrics", "diff").stdout
    p = json.loads(mlvc("params", "diff", "v1.0", "v2.0", "--json").stdout)["params"]
    assert {(c["key"], c["old"], c["new"]) for c in p} == {("lr", 0.05, 0.01), ("model.depth", 2, 4)}


def test_log_first_parent_invalid_file_and_plot(mlvc, hist, repo, tmp_path):
    r = mlvc("log", "--metric", "acc", "--param", "lr", "--json")
    rows = json.loads(r.stdout)
    assert [row["message"] for row in rows] == ["merge side", "c5", "c4", "c3 broken metrics", "c2", "c1"]
    assert [row["metrics"].get("acc") for row in rows] == [0.8, 0.8, 0.7, None, 0.6, 0.5]
    assert "c3" not in r.stderr or "not valid JSON" in r.stderr
    assert "not valid JSON" in r.stderr
    full = json.loads(mlvc("log", "--full-history", "-m", "acc", "--json").stdout)
    assert "side work" in [row["message"] for row in full]
    assert len(json.loads(mlvc("log", "-n", "2", "--json").stdout)) == 2
    page = tmp_path / "log.html"
    text = mlvc("log", "--plot", str(page)).stdout
    assert "c4" in text and "0.7" in text
    html = page.read_text()
    assert html.count("<svg") >= 3 and "<script" not in html and "acc = 0.8" in html


def test_diff_and_get_tracked_data(mlvc, repo):
    (repo / "data" / "sub").mkdir(parents=True)
    (repo / "data" / "a.txt").write_text("a")
    (repo / "data" / "sub" / "b.txt").write_text("bb")
    mlvc("add", "data")
    commit(repo, "data v1")
    (repo / "data" / "a.txt").write_text("aaaa")
    (repo / "data" / "sub" / "b.txt").unlink()
    (repo / "data" / "sub" / "c.txt").write_text("c")
    mlvc("commit")
    commit(repo, "data v2")
    doc = json.loads(mlvc("diff", "HEAD~1", "HEAD", "--json").stdout)["changes"]
    assert [(c["path"], c["state"], c["old_size"], c["new_size"]) for c in doc] == [
        ("data/a.txt", "modified", 1, 4), ("data/sub/b.txt", "deleted", 2, None), ("data/sub/c.txt", "added", None, 1)]
    mlvc("get", "HEAD~1", "data", "-o", "old")
    assert (repo / "old" / "sub" / "b.txt").read_text() == "bb" and (repo / "data" / "a.txt").read_text() == "aaaa"
    mlvc("get", "HEAD~1", "data/a.txt", "-o", "a_old.txt")
    assert (repo / "a_old.txt").read_text() == "a"
    r = mlvc("get", "HEAD~1", "data/a.txt", "-o", "a_old.txt", check=False)
    assert r.returncode == 1 and "already exists" in r.stderr
