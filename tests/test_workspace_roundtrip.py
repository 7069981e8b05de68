"""Round trips through the real git binary, for every link type: add, git commit, change, commit,
git checkout HEAD~1 + mlvc checkout restores the old bytes exactly (and back again)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import git
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
)

from mlvc.hashing import hash_file
from mlvc.packs import SMALL

UNICODE = "ünïcødé ✓ name.txt"

V1 = {
    # includes empty files; >= 64 files takes the parallel path
    **{f"many/f{i:03d}.bin": f"file {i}\n".encode() * (i % 7) for i in range(80)},
    "empty.txt": b"",
    "nested/a/b/c/deep.txt": b"deep v1\n",
    "nested/a/sibling.txt": b"sibling\n",
    "run.sh": (b"#!/bin/sh\necho v1\n", True),
    "plain.txt": b"will become executable\n",
    "with space/file with space.txt": b"spaces\n",
    UNICODE: "unicode content ✓\n".encode(),
    "empty dir": None,
    "nested/empty": None,
    # over packs.SMALL: loose objects, linked by hardlink/symlink (the small ones above are packed)
    "big/one.bin": b"big one\n" * 20000,
    "big/two.bin": b"big two\n" * 30000,
}

V2_CHANGES = {
    "many/f001.bin": b"changed!\n",
    "nested/a/b/c/deep.txt": b"deep v2 with other length\n",
    "nested/a/b/new.txt": b"new in v2\n",
    "run.sh": (b"#!/bin/sh\necho v2\n", True),
    "plain.txt": (b"will become executable\n", True),  # only the mode changes
    "new dir/x": b"x\n",
    "big/one.bin": b"big one, v2\n" * 20000,
}
V2_REMOVED = ["many/f002.bin", "empty dir", UNICODE]

SINGLE = "my model ü.bin"  # a single tracked file with a space and unicode in its name


def v2_spec() -> dict:
    spec = {k: v for k, v in V1.items() if k not in V2_REMOVED}
    spec.update(V2_CHANGES)
    return spec


def _apply_v2(data: Path) -> None:
    for rel in V2_REMOVED:
        p = data / rel
        if p.is_dir() and not p.is_symlink():
            p.rmdir()
        else:
            p.unlink()
    build(data, V2_CHANGES)


def _assert_links(repo: Path, data: Path, link: str) -> None:
    """Workspace files are what the link type promises: links into the read-only cache, or own copies.

    With copy/reflink small files are packed (a packed object is always an own copy); with
    hardlink/symlink every object stays loose and linked."""
    packed = packed_objects(repo)
    for rel, (_content, executable) in ((k, v) for k, v in snapshot(data).items() if v != "<dir>"):
        p = data / rel
        if p.stat().st_size <= SMALL and link in ("copy", "reflink"):
            assert hash_file(p) in packed, f"{rel} should be packed"
        if executable or link in ("copy", "reflink"):
            assert not p.is_symlink(), rel
            st = p.stat()
            assert st.st_mode & stat.S_IWUSR, f"{rel} should be writable"
            assert st.st_nlink == 1, f"{rel} should be its own copy"
            continue
        h = hash_file(p)
        obj = object_path(repo, h)
        if link == "symlink":
            assert p.is_symlink(), rel
            assert Path(os.readlink(p)).resolve() == obj.resolve(), rel
        else:
            assert not p.is_symlink(), rel
            assert p.stat().st_ino == obj.stat().st_ino, f"{rel} is not hardlinked to its object"
        assert not p.stat().st_mode & 0o222, f"{rel} should be read-only"


@pytest.mark.parametrize("link", ["copy", "reflink", "hardlink", "symlink"])
def test_git_round_trip(repo: Path, mlvc, link: str) -> None:
    set_link(repo, link)
    data = repo / "data"
    build(data, V1)
    (repo / SINGLE).write_bytes(b"model v1")
    mlvc("add", "data", SINGLE)
    _assert_links(repo, data, link)
    assert not corrupt_objects(repo)
    assert (repo / ".gitignore").read_text().splitlines() == ["/data", f"/{SINGLE}"]
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    assert "data/" not in git("status", "--porcelain", "--untracked-files=all", cwd=repo)
    v1_hash = pointer_hash(repo, "data")

    assert {hash_file(data / "big" / n) for n in ("one.bin", "two.bin")} <= loose_objects(repo)
    if link in ("hardlink", "symlink"):
        mlvc("unprotect", "data", SINGLE)
        assert not any(p.is_symlink() for p in data.rglob("*"))
        assert all(p.stat().st_mode & stat.S_IWUSR for p in data.rglob("*") if p.is_file())
    _apply_v2(data)
    (repo / SINGLE).write_bytes(b"model v2, longer")
    assert not corrupt_objects(repo), "editing the workspace changed a cache object"
    out = mlvc("commit").stdout
    assert "committed: data" in out
    assert pointer_hash(repo, "data") != v1_hash
    _assert_links(repo, data, link)
    git("commit", "-qam", "v2", cwd=repo)

    git("checkout", "-q", "HEAD~1", cwd=repo)
    mlvc("checkout")
    assert snapshot(data) == spec_snapshot(V1)
    assert (repo / SINGLE).read_bytes() == b"model v1"
    _assert_links(repo, data, link)
    st = mlvc("status", "--json").stdout
    assert '"modified"' not in st and '"deleted"' not in st

    git("checkout", "-q", "main", cwd=repo)
    mlvc("checkout")
    assert snapshot(data) == spec_snapshot(v2_spec())
    assert (repo / SINGLE).read_bytes() == b"model v2, longer"
    assert not corrupt_objects(repo)
    assert "0 corrupt" in mlvc("cache", "verify").stdout


@pytest.mark.parametrize("link", ["hardlink", "symlink", "copy"])
def test_add_link_option_and_unprotect(repo: Path, mlvc, link: str) -> None:
    """`mlvc add --link X` overrides core.link for that add; unprotect makes editable copies."""
    build(repo / "d", {"a.txt": b"alpha\n" * 30000, "sub/b.txt": b"beta\n" * 30000, "small.txt": b"packed\n"})
    mlvc("add", "--link", link, "d")
    _assert_links(repo, repo / "d", link)
    before = cache_objects(repo)
    out = mlvc("unprotect", "d").stdout
    assert ("3 files" in out) == (link in ("hardlink", "symlink")), out  # copies need no unprotect
    for p in (repo / "d").rglob("*.txt"):
        assert not p.is_symlink() and p.stat().st_nlink == 1 and p.stat().st_mode & stat.S_IWUSR
    (repo / "d" / "a.txt").write_bytes(b"edited in place\n")
    assert cache_objects(repo) == before
    assert not corrupt_objects(repo)
    status = mlvc("status").stdout
    assert "modified" in status and "d/a.txt" in status and "d/sub/b.txt" not in status


def test_reflink_falls_back_to_copy(repo: Path, mlvc) -> None:
    """On a filesystem without reflinks (ext4, tmpfs) `reflink` stores a copy: editing cannot touch the cache."""
    set_link(repo, "reflink")
    original = b"original bytes" * 20000  # over packs.SMALL: a loose object
    (repo / "f.bin").write_bytes(original)
    mlvc("add", "f.bin")
    h = pointer_hash(repo, "f.bin")
    assert (repo / "f.bin").stat().st_ino != object_path(repo, h).stat().st_ino
    with open(repo / "f.bin", "r+b") as f:  # in place, without unprotect
        f.write(b"X")
    assert object_path(repo, h).read_bytes() == original
    assert not corrupt_objects(repo)


def test_big_file_round_trip(repo: Path, mlvc) -> None:
    """A file over the one-read block size goes through the streaming path; it round-trips too."""
    blob = os.urandom(1 << 20) * 5  # 5 MiB > hashing.BLOCK
    (repo / "big.bin").write_bytes(blob)
    mlvc("add", "big.bin")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "big v1", cwd=repo)
    (repo / "big.bin").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))  # always a different last byte
    mlvc("commit")
    git("commit", "-qam", "big v2", cwd=repo)
    git("checkout", "-q", "HEAD~1", cwd=repo)
    mlvc("checkout")
    assert (repo / "big.bin").read_bytes() == blob
    assert not corrupt_objects(repo)


def test_from_a_subfolder_the_printed_git_add_works(repo: Path) -> None:
    """Paths are taken and printed relative to the current folder; the suggested `git add` is right."""
    import shlex

    from conftest import run_mlvc

    sub = repo / "sub"
    build(sub, {"data/a": b"a", "my file": b"b"})
    (repo / "top.bin").write_bytes(b"t")
    git("add", ".mlvc", cwd=repo)
    out = run_mlvc("add", "data", "my file", "../top.bin", cwd=sub).stdout
    hint = next(ln for ln in out.splitlines() if ln.startswith("To track the change with git: git add "))
    git("add", *shlex.split(hint.split("git add ", 1)[1]), cwd=sub)
    assert git("status", "--porcelain", "--untracked-files=all", cwd=repo) == "".join(
        f"A  {p}\n" for p in ['.gitignore', '.mlvc/.gitignore', '.mlvc/config', 'sub/.gitignore',
                              'sub/data.mlvc', '"sub/my file.mlvc"', 'top.bin.mlvc']
    )
    (sub / "data/a").unlink()
    run_mlvc("checkout", "data", cwd=sub)
    assert (sub / "data/a").read_bytes() == b"a"
    assert "unchanged  sub/data" in run_mlvc("status", "data", cwd=sub).stdout


def test_hardlink_with_the_cache_on_another_filesystem(repo: Path, mlvc, tmp_path: Path) -> None:
    """`[cache] dir` on another filesystem: hardlinks cannot be made, so add and checkout copy."""
    import subprocess

    mnt = tmp_path / "othercache"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("mounting a tmpfs needs root (test_objects covers the fallback in-process)")
    try:
        with open(repo / ".mlvc/config", "a") as f:
            f.write(f"\n[cache]\ndir = {mnt}\n")
        set_link(repo, "hardlink")
        build(repo / "data", {"a": b"a", "sub/b": b"b"})
        mlvc("add", "data")
        import shutil

        shutil.rmtree(repo / "data")
        mlvc("checkout")
        assert snapshot(repo / "data") == spec_snapshot({"a": b"a", "sub/b": b"b"})
        assert "0 corrupt" in mlvc("cache", "verify").stdout
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


# -- reading to hash leaves access times alone ------------------------------------------------------

OLD_ATIME_NS = 1_000_000_000 * 10**9  # 2001: older than any mtime here, so `relatime` would update it


def _age_atimes(paths: list[Path]) -> None:
    for p in paths:
        os.utime(p, ns=(OLD_ATIME_NS, p.stat().st_mtime_ns))


@pytest.mark.parametrize("link", ["copy", "hardlink"])
def test_add_leaves_access_times_alone(repo: Path, mlvc, link: str) -> None:
    """The files an add reads to hash are its user's: O_NOATIME keeps their access times (and
    spares the kernel writing every inode back under `relatime`)."""
    control = repo / "control.txt"
    control.write_bytes(b"read plainly")
    _age_atimes([control])
    control.read_bytes()
    if control.stat().st_atime_ns == OLD_ATIME_NS:
        pytest.skip("this filesystem does not update access times on read (noatime): nothing to see")
    build(repo / "data", {"a.txt": b"alpha", "sub/b.bin": os.urandom(3000), "big.bin": os.urandom(SMALL + 1)})
    files = [p for p in (repo / "data").rglob("*") if p.is_file()]
    _age_atimes(files)
    set_link(repo, link)
    mlvc("add", "data")
    assert {p.name: p.stat().st_atime_ns for p in files} == {p.name: OLD_ATIME_NS for p in files}


@pytest.mark.parametrize("link", ["copy", "hardlink"])
def test_file_of_another_owner_is_read_plainly(repo: Path, monkeypatch, link: str) -> None:
    """O_NOATIME is refused (EPERM) for a file the user does not own (root may always use it, so
    the refusal is simulated): the file is opened without it, and so are the ones after it."""
    from mlvc import hashing
    from mlvc.repo import Repo
    from mlvc.workspace import add as add_mod

    build(repo / "data", {f"f{i}.txt": f"file {i}".encode() for i in range(5)})
    monkeypatch.setattr(hashing, "_read_flags", hashing._read_flags | os.O_NOATIME)  # a fresh process's
    real_open, refused = os.open, []

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_NOATIME:
            refused.append(path)
            raise PermissionError(1, "Operation not permitted", path)  # EPERM
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    r = Repo.find(str(repo))
    try:
        [result] = add_mod.add(r, ["data"], link_type=link)
    finally:
        r.close()
    monkeypatch.undo()
    assert len(refused) == 1, "after one refusal the flag is no longer asked for"
    assert result.ref.files == 5 and corrupt_objects(repo) == []
    assert cache_objects(repo) >= {hash_file(repo / "data" / f"f{i}.txt") for i in range(5)}
