"""`mlvc gc [--dry-run] [--all-commits]` and `mlvc cache verify`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import git
from wshelpers import build, cache_objects, corrupt_objects, object_path, pointer_hash, tmp_leftovers

from mlvc.hashing import hash_bytes
from mlvc.packs import SMALL
from mlvc.repo import Repo
from mlvc.tree import TREE


def _reachable(repo: Path, rel: str) -> set[str]:
    """Every object the pointer `rel.mlvc` reaches, read independently of gc."""
    r = Repo.find(str(repo))
    h = pointer_hash(repo, rel)
    out, stack = set(), [(h, TREE if "kind: tree" in (repo / f"{rel}.mlvc").read_text() else "file")]
    while stack:
        h, kind = stack.pop()
        out.add(h)
        if kind == TREE:
            stack.extend((e.hash, e.kind) for e in r.objects.read_tree(h))
    return out


def test_gc_keeps_what_is_referenced(repo: Path, mlvc) -> None:
    build(repo / "data", {"a": b"a v1", "same": b"same", "sub/b": b"b v1"})
    mlvc("add", "data")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    v1 = _reachable(repo, "data")

    (repo / "data/a").write_bytes(b"a in no commit")
    mlvc("commit")
    orphan = _reachable(repo, "data") - v1  # the pointer that referenced these is never committed

    (repo / "data/a").write_bytes(b"a v2")
    (repo / "data/sub/b").write_bytes(b"b v2")
    mlvc("commit")
    git("commit", "-qam", "v2", cwd=repo)
    v2 = _reachable(repo, "data")
    assert v1 & v2 and v1 - v2 and orphan - v1 - v2
    everything = cache_objects(repo)
    assert everything == v1 | v2 | orphan

    # --dry-run lists and deletes nothing
    doc = json.loads(mlvc("gc", "--all-commits", "--dry-run", "--json").stdout)
    assert doc["dry_run"] is True and doc["removed"] == len(orphan - v1 - v2)
    assert cache_objects(repo) == everything
    out = mlvc("gc", "--dry-run").stdout
    assert "would remove" in out
    for h in v1 - v2:
        assert h in out
    assert cache_objects(repo) == everything

    # --all-commits keeps every committed version, drops the never-committed one
    mlvc("gc", "--all-commits")
    assert cache_objects(repo) == v1 | v2

    # leftovers of interrupted writes are cleaned up too: a temp file, a pack that never got its index
    packs = repo / ".mlvc/cache/packs"
    leftovers = [packs / ".new.pack.mlvc-tmp-deadbeef", packs / f"{'0' * 32}.pack"]
    for leftover in leftovers:
        leftover.write_bytes(b"partial")
    assert sorted(tmp_leftovers(repo)) == sorted(map(str, leftovers))
    # plain gc keeps only what the workspace's pointers reference
    out = mlvc("gc").stdout
    assert "removed" in out and "2 leftover" in out
    assert cache_objects(repo) == v2 and tmp_leftovers(repo) == []
    assert corrupt_objects(repo) == []

    # the workspace still checks out; the old commit's data is gone, and checkout says so
    (repo / "data/a").unlink()
    mlvc("checkout")
    assert (repo / "data/a").read_bytes() == b"a v2"
    git("checkout", "-q", "HEAD~1", cwd=repo)
    r = mlvc("checkout", check=False)
    assert r.returncode == 1 and "not in the cache" in r.stderr and "Traceback" not in r.stderr


def test_gc_all_commits_reads_every_branch_and_tag(repo: Path, mlvc) -> None:
    (repo / "m.bin").write_bytes(b"main v1")
    mlvc("add", "m.bin")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "main", cwd=repo)
    git("checkout", "-qb", "side", cwd=repo)
    (repo / "m.bin").write_bytes(b"side only")
    mlvc("commit")
    git("commit", "-qam", "side", cwd=repo)
    side = pointer_hash(repo, "m.bin")
    git("tag", "keep-me", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    git("branch", "-qD", "side", cwd=repo)  # only the tag still reaches it
    mlvc("checkout", "--force")
    mlvc("gc", "--all-commits")
    assert side in cache_objects(repo)
    mlvc("gc")
    assert side not in cache_objects(repo)
    assert cache_objects(repo) == {pointer_hash(repo, "m.bin")}


def test_cache_verify_finds_and_quarantines_corruption(repo: Path, mlvc) -> None:
    big = b"big\n" * (SMALL // 4 + 1)  # over the pack threshold: a loose object (packs: test_workspace_packs)
    build(repo / "data", {"a": big, "b": b"beta", "c/d": b"delta"})
    mlvc("add", "data")
    doc = json.loads(mlvc("cache", "verify", "--json").stdout)
    assert doc["checked"] == len(cache_objects(repo)) and doc["corrupt"] == []

    victim = object_path(repo, hash_bytes(big))
    h = victim.parent.name + victim.name
    os.chmod(victim, 0o644)
    data = bytearray(victim.read_bytes())
    data[5] ^= 0x01  # one flipped bit
    victim.write_bytes(bytes(data))

    r = mlvc("cache", "verify", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "1 corrupt" in r.stdout and h in r.stdout
    assert not victim.exists()
    assert (repo / ".mlvc/quarantine" / h).read_bytes() == bytes(data)
    assert ".mlvc/quarantine" not in git("status", "--porcelain", "--untracked-files=all", cwd=repo)
    assert mlvc("cache", "verify").returncode == 0  # the cache is clean again
    # a later add of the same content repairs the cache
    (repo / "data/a").write_bytes(big)
    mlvc("commit", "data")
    assert h in cache_objects(repo) and corrupt_objects(repo) == []


def test_gc_stops_on_an_unreadable_pointer(repo: Path, mlvc) -> None:
    """A pointer git left with conflict markers must not let gc drop the data it names."""
    (repo / "m.bin").write_bytes(b"precious")
    mlvc("add", "m.bin")
    before = cache_objects(repo)
    h = pointer_hash(repo, "m.bin")
    (repo / "m.bin.mlvc").write_text(
        f"<<<<<<< HEAD\nhash: {h}\n=======\nhash: {'1' * 32}\n>>>>>>> other\n"
    )
    r = mlvc("gc", check=False)
    assert r.returncode == 1 and "m.bin.mlvc" in r.stderr and "Traceback" not in r.stderr
    assert cache_objects(repo) == before
