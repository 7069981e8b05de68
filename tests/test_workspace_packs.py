"""Small files go into packs (mlvc/packs.py) on add with copy/reflink; big ones, and every file
added with hardlink/symlink, stay loose.

Real git, real files: add, round trip through git checkout + mlvc checkout, gc of packed objects,
`cache verify` of a flipped byte inside a pack, and no rehash by a status after add or checkout.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import git
from test_workspace_statcache import _status, counters  # noqa: F401  (counters is a fixture)
from wshelpers import (
    build,
    cache_objects,
    corrupt_objects,
    loose_objects,
    object_path,
    packed_objects,
    pointer_hash,
    set_link,
    snapshot,
    spec_snapshot,
    tmp_leftovers,
)

from mlvc.hashing import hash_bytes
from mlvc.packs import SMALL

SMALL_FILES = {f"s/{i // 40:02d}/f{i:03d}.txt": f"small file {i}\n".encode() * (1 + i % 50) for i in range(200)}
BIG_FILES = {
    "b/edge.bin": b"e" * (SMALL + 1),  # one byte over the threshold: loose
    "b/big.bin": b"big\n" * 100_000,
}
V1 = {**SMALL_FILES, **BIG_FILES, "s/exactly.bin": b"x" * SMALL}  # exactly SMALL: packed


def _hashes(spec: dict[str, bytes]) -> set[str]:
    return {hash_bytes(v) for v in spec.values()}


@pytest.mark.parametrize("link", ["copy", "reflink", "hardlink", "symlink"])
def test_small_files_are_packed_with_copy_and_reflink_and_linked_otherwise(repo: Path, mlvc, link: str) -> None:
    set_link(repo, link)
    packing = link in ("copy", "reflink")
    data = repo / "data"
    build(data, V1)
    mlvc("add", "data")
    packed, loose = set(packed_objects(repo)), loose_objects(repo)
    small = _hashes({k: v for k, v in V1.items() if len(v) <= SMALL})
    if packing:
        assert small <= packed and not small & loose, "a small file became a loose object"
    else:
        assert small <= loose and not small & packed, "a small file was packed although the link type links"
    assert _hashes(BIG_FILES) <= loose and not _hashes(BIG_FILES) & packed
    # One pack per add: its small files (copy, reflink) and its trees, whatever the link type.
    assert len(list((repo / ".mlvc/cache/packs").glob("*.pack"))) == 1
    assert pointer_hash(repo, "data") in packed, "the folder's tree is not in the pack"
    assert tmp_leftovers(repo) == [] and corrupt_objects(repo) == []

    for rel, content in V1.items():
        p = data / rel
        st = os.lstat(p)
        if packing:
            # packed objects are never linked, and copy/reflink never share: a plain, writable file
            assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_mode & stat.S_IWUSR, rel
        elif link == "hardlink":
            assert st.st_ino == object_path(repo, hash_bytes(content)).stat().st_ino, rel
            assert not st.st_mode & 0o222, rel
        else:
            assert p.is_symlink() and p.resolve() == object_path(repo, hash_bytes(content)).resolve(), rel

    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    if link in ("hardlink", "symlink"):
        mlvc("unprotect", "data")
    (data / "s/00/f000.txt").write_bytes(b"v2: edited in place\n")
    (data / "b/big.bin").write_bytes(b"v2 big\n" * 100_000)
    (data / "s/new.txt").write_bytes(b"new in v2\n")
    mlvc("commit")
    git("commit", "-qam", "v2", cwd=repo)
    assert len(list((repo / ".mlvc/cache/packs").glob("*.pack"))) == 2  # only the new small files and trees

    git("checkout", "-q", "HEAD~1", cwd=repo)
    mlvc("checkout")
    assert snapshot(data) == spec_snapshot(V1)
    small_file = data / "s/00/f000.txt"
    if packing:  # a packed object comes back as a copy
        st = os.lstat(small_file)
        assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_mode & stat.S_IWUSR
    else:  # links, small or big: a checkout makes no new files
        for p in (small_file, data / "b/big.bin"):
            assert p.is_symlink() if link == "symlink" else os.stat(p).st_nlink == 2
    assert "0 corrupt" in mlvc("cache", "verify").stdout


def test_gc_rewrites_packs_without_dead_objects(repo: Path, mlvc) -> None:
    data = repo / "data"
    build(data, {"keep.txt": b"kept in every version\n", "a.txt": b"a v1\n", "b.txt": b"b v1\n"})
    mlvc("add", "data")
    (first_pack,) = {pack for pack, _off, _size in packed_objects(repo).values()}
    build(data, {"a.txt": b"a v2\n", "b.txt": b"b v2\n"})
    mlvc("commit")
    dead = {hash_bytes(b"a v1\n"), hash_bytes(b"b v1\n")}
    live = {hash_bytes(b"kept in every version\n"), hash_bytes(b"a v2\n"), hash_bytes(b"b v2\n")}
    assert dead | live <= set(packed_objects(repo))

    doc = json.loads(mlvc("gc", "--json").stdout)
    assert doc["removed"] == 3  # a v1, b v1 and the v1 tree
    assert doc["removed_bytes"] >= 2 * len(b"a v1\n")
    packed = packed_objects(repo)
    assert not dead & cache_objects(repo) and live <= set(packed)
    assert not first_pack.exists(), "the pack holding dead objects should have been rewritten"
    assert corrupt_objects(repo) == [] and tmp_leftovers(repo) == []
    (data / "keep.txt").unlink()
    mlvc("checkout")
    assert (data / "keep.txt").read_bytes() == b"kept in every version\n"
    assert json.loads(mlvc("gc", "--json").stdout)["removed"] == 0


def test_verify_quarantines_a_corrupt_packed_object_only(repo: Path, mlvc) -> None:
    data = repo / "data"
    build(data, {f"f{i}.txt": f"file {i}\n".encode() * 10 for i in range(20)})
    mlvc("add", "data")
    victim = hash_bytes(b"file 7\n" * 10)
    pack, offset, size = packed_objects(repo)[victim]
    os.chmod(pack, 0o644)
    raw = bytearray(pack.read_bytes())
    raw[offset + 3] ^= 0x01  # one flipped bit inside that object
    pack.write_bytes(bytes(raw))
    assert corrupt_objects(repo) == [victim]

    r = mlvc("cache", "verify", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "1 corrupt" in r.stdout and victim in r.stdout
    quarantined = repo / ".mlvc/quarantine" / victim
    assert quarantined.read_bytes() == bytes(raw[offset : offset + size])
    assert victim not in cache_objects(repo)  # out of its pack; every other object stays
    assert len(cache_objects(repo)) == 20 and corrupt_objects(repo) == []
    assert "0 corrupt" in mlvc("cache", "verify").stdout

    (data / "f7.txt").unlink()
    r = mlvc("checkout", check=False)
    assert r.returncode == 1 and "not in the cache" in r.stderr
    (data / "f7.txt").write_bytes(b"file 7\n" * 10)  # the same content added again repairs the cache
    mlvc("commit")
    assert victim in packed_objects(repo) and corrupt_objects(repo) == []


@pytest.mark.parametrize("link", ["copy", "hardlink"])
def test_status_after_add_and_checkout_does_not_rehash(repo: Path, mlvc, counters, link: str) -> None:  # noqa: F811
    set_link(repo, link)
    build(repo / "data", V1)
    mlvc("add", "data")
    assert _status(repo) == {"data": "unchanged"}
    assert counters["files"] == [] and counters["trees"] == 0
    for p in (repo / "data/s/00").iterdir():
        p.unlink()
    mlvc("checkout")
    counters["files"].clear()
    counters["trees"] = 0
    assert _status(repo) == {"data": "unchanged"}
    assert counters["files"] == [], "checkout should record what it wrote in the stat cache"


def test_verify_sets_aside_a_pack_whose_index_is_unreadable_and_pull_refills_it(repo: Path, mlvc, tmp_path) -> None:
    """A damaged .idx hides every object of its pack (and makes every command that reads packs fail,
    naming it): `cache verify` moves the pack aside, after which a pull fetches those objects again."""
    data = repo / "data"
    spec = {f"f{i}.txt": f"file {i}\n".encode() * 10 for i in range(20)}
    build(data, spec)
    mlvc("add", "data")
    mlvc("remote", "add", "backup", str(tmp_path / "remote"), "--default")
    mlvc("push")
    (idx,) = (repo / ".mlvc/cache/packs").glob("*.idx")
    os.chmod(idx, 0o644)
    idx.write_bytes(idx.read_bytes()[:-7])  # cut short: the entry count no longer matches
    (data / "f3.txt").unlink()
    r = mlvc("checkout", check=False)
    assert r.returncode == 1 and idx.name in r.stderr and "Traceback" not in r.stderr, r.stderr

    r = mlvc("cache", "verify", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "1 unreadable pack index" in r.stdout and idx.name in r.stdout, r.stdout
    aside = repo / ".mlvc/quarantine/packs"
    assert (aside / idx.name).exists() and (aside / idx.with_suffix(".pack").name).exists()
    assert list((repo / ".mlvc/cache/packs").glob("*.idx")) == []
    assert "0 corrupt" in mlvc("cache", "verify").stdout  # nothing unreadable is left

    mlvc("pull")
    assert {p.name: p.read_bytes() for p in data.iterdir()} == spec
    assert corrupt_objects(repo) == [] and "0 corrupt" in mlvc("cache", "verify").stdout
