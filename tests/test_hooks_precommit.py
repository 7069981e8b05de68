"""The pre-commit framework runs mlvc's hooks from this repository's .pre-commit-hooks.yaml, offline."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

from conftest import git, need
from hookhelpers import SOURCE_ROOT, git_run, put_mlvc_on_path


def _hooks_repo(dest):
    """A git repository holding this checkout's .pre-commit-hooks.yaml and hooks/ (what a tag would ship)."""
    dest.mkdir()
    shutil.copy(SOURCE_ROOT / ".pre-commit-hooks.yaml", dest)
    shutil.copytree(SOURCE_ROOT / "hooks", dest / "hooks")
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-qm", "mlvc hooks", cwd=dest)
    return git("rev-parse", "HEAD", cwd=dest).strip()


def test_pre_commit_framework_runs_mlvc_hooks(repo, mlvc, tmp_path, monkeypatch):
    need(importlib.util.find_spec("pre_commit") is not None, "pre-commit is not installed (pip install pre-commit)")
    put_mlvc_on_path(tmp_path / "bin", monkeypatch)
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    rev = _hooks_repo(tmp_path / "mlvc-hooks")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {tmp_path / 'mlvc-hooks'}\n  rev: {rev}\n  hooks:\n"
        "  - id: mlvc-pre-commit\n  - id: mlvc-post-checkout\n"
    )
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text("one\n")
    mlvc("add", "data")
    subprocess.run([sys.executable, "-m", "pre_commit", "install", "-t", "pre-commit", "-t", "post-checkout"],
                   cwd=repo, check=True, capture_output=True)
    git("add", "-A", cwd=repo)
    r = git_run("commit", "-qm", "data v1", cwd=repo)
    assert r.returncode == 0, r.stdout + r.stderr
    (repo / "data" / "a.txt").write_text("two\n")
    r = git_run("commit", "-qm", "stale", "--allow-empty", cwd=repo)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "mlvc pointers and mlvc.lock" in out and "`mlvc commit data`" in out, out
    mlvc("commit", "data")
    git("add", "data.mlvc", cwd=repo)
    r = git_run("commit", "-qm", "data v2", cwd=repo)
    assert r.returncode == 0, r.stdout + r.stderr
    r = git_run("checkout", "HEAD~1", cwd=repo)  # post-checkout through the framework: the data follows
    assert r.returncode == 0, r.stdout + r.stderr
    assert (repo / "data" / "a.txt").read_text() == "one\n"
