"""SIGKILL `mlvc add` of a large folder part-way (a real subprocess); the rerun completes and nothing is corrupt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git
from wshelpers import cache_objects, corrupt_objects, packed_objects, snapshot, tmp_leftovers

from mlvc.hashing import hash_bytes

N_SMALL = 4000  # 1-8 KiB each: they go into one pack, written 4 MiB at a time
N_BIG = 300  # over packs.SMALL: each its own (hard-linked) object
N_FILES = N_SMALL + N_BIG


def _make(data: Path) -> None:
    for i in range(N_SMALL):
        d = data / f"part{i % 50:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.bin").write_bytes(f"record {i}\n".encode() * (100 + i % 700))
    (data / "big").mkdir()
    for i in range(N_BIG):
        (data / "big" / f"b{i:03d}.bin").write_bytes(i.to_bytes(4, "little") * (33 * 1024 + i))


def _pack_bytes_written(cache: Path) -> int:
    """Bytes in the temp pack being written (invisible until it is committed with its index)."""
    try:
        names = os.listdir(cache / "packs")
    except FileNotFoundError:
        return 0
    return sum(os.path.getsize(cache / "packs" / n) for n in names if ".mlvc-tmp-" in n)


def _count_loose(cache: Path) -> int:
    n = 0
    try:
        shards = os.scandir(cache)
    except FileNotFoundError:
        return 0
    with shards:
        for s in shards:
            if s.is_dir() and len(s.name) == 2:
                n += len(os.listdir(s.path))
    return n


# Two moments: with copy, while small files are appended to the (uncommitted) pack; with hardlink
# (the riskier path: workspace files become links), while files are linked into the cache one by one.
KILL_WHEN = {
    "packing": lambda cache: _pack_bytes_written(cache) > 0,
    "linking": lambda cache: _count_loose(cache) >= 20,
}


@pytest.mark.parametrize(("link", "moment"), [("copy", "packing"), ("hardlink", "linking")])
def test_killed_add_is_repaired_by_rerun(repo: Path, mlvc, link: str, moment: str) -> None:
    data = repo / "data"
    _make(data)
    original = snapshot(data)
    cache = repo / ".mlvc" / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlvc", "add", "--link", link, "data"],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and not KILL_WHEN[moment](cache) and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "mlvc add finished before it could be killed; make the data larger"
    assert len(cache_objects(repo)) < N_FILES
    assert packed_objects(repo) == {}, "a pack became visible before the add had written all of it"
    if moment == "packing":
        assert tmp_leftovers(repo), "the interrupted pack should be left as a temp file"
    assert not (repo / "data.mlvc").exists()
    assert corrupt_objects(repo) == []

    out = mlvc("add", "--link", link, "data").stdout
    assert f"{N_FILES} files" in out
    assert "0 corrupt" in mlvc("cache", "verify").stdout
    assert tmp_leftovers(repo) == []  # verify removed the interrupted pack
    assert snapshot(data) == original
    assert "unchanged" in mlvc("status").stdout
    small, big = os.stat(data / "part00" / "f00000.bin"), os.stat(data / "big" / "b000.bin")
    if link == "copy":
        assert set(packed_objects(repo)) >= {hash_bytes(p.read_bytes()) for p in data.glob("part*/*")}
        assert small.st_mode & 0o200 and small.st_nlink == 1  # packed: a plain writable file
        assert big.st_mode & 0o200 and big.st_nlink == 1  # a loose copy
    else:
        for st in (small, big):  # loose: read-only hard links to the cache
            assert not st.st_mode & 0o222 and st.st_nlink == 2

    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    (data / "part00" / "f00000.bin").unlink()  # replace, not write through a read-only link
    (data / "part00" / "f00000.bin").write_bytes(b"changed")
    (data / "part07" / "f00007.bin").unlink()
    (data / "big" / "b001.bin").unlink()  # replace, not write through the read-only link
    (data / "big" / "b001.bin").write_bytes(b"changed too")
    mlvc("commit")
    git("commit", "-qam", "v2", cwd=repo)
    git("checkout", "-q", "HEAD~1", cwd=repo)
    mlvc("checkout")
    assert snapshot(data) == original
    assert corrupt_objects(repo) == []
