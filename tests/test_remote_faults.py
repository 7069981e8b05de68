"""Crashes: a push or pull SIGKILLed part-way (a real subprocess), then rerun.

The kill comes from inside the transfer engine after N objects (MLVC_TEST_KILL_AFTER_OBJECTS), with
other worker threads still mid-write, so the point is deterministic while the damage is real.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from conftest import git, run_mlvc

from mlvc.hashing import hash_file
from mlvc.tree import parse_tree

KILL = {"MLVC_TEST_KILL_AFTER_OBJECTS": "120"}


def make_files(root: Path, n: int = 400, dirs: int = 8) -> None:
    for i in range(n):
        d = root / "data" / f"d{i % dirs}" / f"s{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_bytes(f"file {i}\n".encode() * (1 + i % 5))


def remote_listing(remote: Path) -> dict[str, Path]:
    return {
        s.name + f.name: f
        for s in (remote.iterdir() if remote.exists() else [])
        for f in s.iterdir()
        if len(s.name) == 2 and len(f.name) == 30
    }


def assert_trees_complete(remote: Path) -> int:
    """The remote's promise: every tree there lists only objects that are there. Returns the tree count."""
    objs = remote_listing(remote)
    trees = 0
    for h, p in objs.items():
        data = p.read_bytes()
        assert hash_file(p) == h, f"{h} on the remote is not whole"
        if data.startswith(b'{"schema":'):
            trees += 1
            for e in parse_tree(data):
                assert e.hash in objs, f"tree {h} is on the remote but its entry {e.name} ({e.hash}) is not"
    return trees


def test_push_killed_part_way_leaves_no_false_tree_and_rerun_completes(repo, mlvc, tmp_path):
    make_files(repo)
    mlvc("add", "data")
    remote = tmp_path / "remote"
    mlvc("remote", "add", "origin", str(remote), "--default")

    r = mlvc("push", "-j", "4", check=False, env=KILL)
    assert r.returncode == -signal.SIGKILL
    partial = remote_listing(remote)
    assert 120 <= len(partial) < 400 + 8 * 4 + 1
    assert_trees_complete(remote)

    doc = json.loads(mlvc("push", "--json").stdout)
    assert doc["objects"] == 400 + 8 * 4 + 1 - len(partial)
    assert assert_trees_complete(remote) == 8 * 4 + 1
    assert json.loads(mlvc("remote", "verify", "--json").stdout)["ok"]
    gc = json.loads(mlvc("gc", "--remote", "origin", "--force", "--json").stdout)
    assert gc["removed"] == 0  # leftover temp files from the killed writes, if any, are cleaned
    assert not [p for p in remote.rglob("*") if "mlvc-tmp" in p.name]


def test_pull_killed_part_way_leaves_no_partial_object_and_rerun_restores(repo, mlvc, tmp_path):
    make_files(repo)
    mlvc("add", "data")
    mlvc("remote", "add", "origin", str(tmp_path / "remote"), "--default")
    mlvc("push")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    other = tmp_path / "clone"
    git("clone", "-q", str(repo), str(other), cwd=tmp_path)

    r = run_mlvc("pull", "-j", "4", cwd=other, check=False, env=KILL)
    assert r.returncode == -signal.SIGKILL
    cache = other / ".mlvc" / "cache"
    objs = [p for p in cache.glob("??/*") if len(p.name) == 30]
    assert 120 <= len(objs) < 433
    for p in objs:  # nothing half-written under an object's name
        assert hash_file(p) == p.parent.name + p.name

    run_mlvc("pull", cwd=other)
    want = {p.relative_to(repo / "data"): p.read_bytes() for p in (repo / "data").rglob("*") if p.is_file()}
    got = {p.relative_to(other / "data"): p.read_bytes() for p in (other / "data").rglob("*") if p.is_file()}
    assert got == want
    assert json.loads(run_mlvc("status", "--json", cwd=other).stdout)["paths"][0]["state"] == "unchanged"
