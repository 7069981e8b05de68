"""Stage outs recorded in mlvc.lock come back with `mlvc checkout` and `mlvc pull`, like added data."""

from __future__ import annotations

import json
import shutil

from tests.conftest import git, run_mlvc

MAKE = "import os; os.makedirs('out', exist_ok=True); open('out/a.txt','w').write('A'); " \
    "open('model.bin','wb').write(b'M'*1000)"
PIPE = f"""\
stages:
  make:
    cmd: python3 -c "{MAKE}"
    outs: [out, model.bin]
"""


def test_checkout_restores_lock_outs_across_commits(mlvc, repo):
    (repo / "mlvc.yaml").write_text(PIPE)
    mlvc("repro")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    (repo / "mlvc.yaml").write_text(PIPE.replace("'A'", "'B'"))
    mlvc("repro")
    git("commit", "-qam", "v2", cwd=repo)
    git("checkout", "-q", "HEAD~1", cwd=repo)
    mlvc("checkout")
    assert (repo / "out" / "a.txt").read_text() == "A"
    shutil.rmtree(repo / "out")
    (repo / "model.bin").unlink()
    r = mlvc("checkout", "model.bin")
    assert (repo / "model.bin").read_bytes() == b"M" * 1000 and not (repo / "out").exists()
    assert "model.bin" in r.stdout
    mlvc("checkout")
    assert (repo / "out" / "a.txt").read_text() == "A"
    stages = json.loads(mlvc("repro", "--dry", "--json").stdout)["stages"]
    assert [s["action"] for s in stages] == ["up-to-date"]  # restored outs match v1's lock: nothing to run


def test_pull_brings_lock_outs_to_a_clone(mlvc, repo, tmp_path):
    (repo / "mlvc.yaml").write_text(PIPE)
    mlvc("repro")
    mlvc("remote", "add", "origin", str(tmp_path / "remote"), "--default")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "pipeline", cwd=repo)
    mlvc("push")
    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone), cwd=tmp_path)
    run_mlvc("pull", cwd=clone)
    assert (clone / "out" / "a.txt").read_text() == "A"
    assert (clone / "model.bin").read_bytes() == b"M" * 1000
