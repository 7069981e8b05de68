"""Crashes: a push or pull SIGKILLed part-way (a real subprocess), then rerun.

The kill comes from inside the transfer engine after N objects (MLVC_TEST_KILL_AFTER_OBJECTS), with
other worker threads still mid-write, so the point is deterministic while the damage is real.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from conftest import git, run_mlvc
from remotehelpers import remote_hashes, remote_read

from mlvc.hashing import hash_bytes
from mlvc.objects import ObjectStore
from mlvc.tree import parse_tree

KILL = {"MLVC_TEST_KILL_AFTER_OBJECTS": "120"}
BIG = 40  # files over packs.SMALL: loose on the remote, one upload each


def make_files(root: Path, n: int = 400, dirs: int = 8) -> None:
    for i in range(n):
        d = root / "data" / f"d{i % dirs}" / f"s{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_bytes(f"file {i}\n".encode() * (1 + i % 5))


def make_big_files(root: Path, n: int = BIG) -> None:
    (root / "data" / "big").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / "data" / "big" / f"b{i}.bin").write_bytes(bytes([i]) * (140 << 10))


def remote_listing(remote: Path) -> set[str]:
    return remote_hashes(remote)


def assert_trees_complete(remote: Path) -> int:
    """The remote's promise: every tree there lists only objects that are there. Returns the tree count."""
    objs = remote_listing(remote)
    trees = 0
    for h in objs:
        data = remote_read(remote, h)
        assert hash_bytes(data) == h, f"{h} on the remote is not whole"
        if data.startswith(b'{"schema":'):
            trees += 1
            for e in parse_tree(data):
                assert e.hash in objs, f"tree {h} is on the remote but its entry {e.name} ({e.hash}) is not"
    return trees


def test_push_killed_part_way_leaves_no_false_tree_and_rerun_completes(repo, mlvc, tmp_path):
    make_files(repo)
    make_big_files(repo)
    mlvc("add", "data")
    remote = tmp_path / "remote"
    mlvc("remote", "add", "origin", str(remote), "--default")
    total = 400 + BIG + 8 * 4 + 2  # small files (one pack), big files, trees

    # the pack of the 400 small files lands first; the kill comes among the big files
    r = mlvc("push", "-j", "4", check=False, env={"MLVC_TEST_KILL_AFTER_OBJECTS": "410"})
    assert r.returncode == -signal.SIGKILL
    partial = remote_listing(remote)
    assert 410 <= len(partial) < total
    assert_trees_complete(remote)

    doc = json.loads(mlvc("push", "--json").stdout)
    assert doc["objects"] == total - len(partial)
    assert assert_trees_complete(remote) == 8 * 4 + 2
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
    cache = ObjectStore(str(other / ".mlvc" / "cache"))
    objs = set(cache.iter_hashes())  # loose and in committed packs; an unindexed pack is invisible
    assert 8 * 4 + 1 <= len(objs) < 433
    for h in objs:  # nothing half-written under an object's name
        assert cache.is_intact(h)

    run_mlvc("pull", cwd=other)
    want = {p.relative_to(repo / "data"): p.read_bytes() for p in (repo / "data").rglob("*") if p.is_file()}
    got = {p.relative_to(other / "data"): p.read_bytes() for p in (other / "data").rglob("*") if p.is_file()}
    assert got == want
    assert json.loads(run_mlvc("status", "--json", cwd=other).stdout)["paths"][0]["state"] == "unchanged"
