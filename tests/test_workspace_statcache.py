"""The stat cache: an unchanged file is never rehashed, an unchanged folder's tree never rebuilt;
and piped output carries no progress-bar escape codes."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from wshelpers import build

from mlvc.repo import Repo
from mlvc.tree import Tree
from mlvc.workspace import scan, tracked
from mlvc.workspace import status as status_mod

SPEC = {f"sub{d}/f{i}.txt": f"{d}/{i}\n".encode() for d in range(3) for i in range(40)}


@pytest.fixture
def counters(monkeypatch):
    """Count every file hash and every tree serialization the scanner does."""
    counts = {"files": [], "trees": 0}
    real_ingest, real_serialize = scan.Scanner._ingest, Tree.serialize

    def ingest(self, f):  # where the scanner reads and hashes each file, whichever way it does
        counts["files"].append(f.name)
        return real_ingest(self, f)

    def serialize(self):
        counts["trees"] += 1
        return real_serialize(self)

    real_rows = scan.serialize_rows

    def serialize_rows(rows):  # the scanner builds a tree's bytes from its rows, without a Tree
        counts["trees"] += 1
        return real_rows(rows)

    monkeypatch.setattr(scan.Scanner, "_ingest", ingest)
    monkeypatch.setattr(Tree, "serialize", serialize)
    monkeypatch.setattr(scan, "serialize_rows", serialize_rows)
    return counts


def _status(root: Path) -> dict[str, str]:
    r = Repo.find(str(root))
    try:
        ptrs = tracked.load_pointers(r.root)
        return {s.path: s.state for s in status_mod.status(r, ptrs)}
    finally:
        r.close()


def test_unchanged_files_and_folders_are_not_rehashed(repo: Path, mlvc, counters) -> None:
    build(repo / "data", SPEC)
    mlvc("add", "data")  # a subprocess: it fills the stat cache on disk
    db = sqlite3.connect(repo / ".mlvc/tmp/stat.db")
    assert db.execute("SELECT count(*) FROM files").fetchone()[0] >= len(SPEC)
    db.close()

    assert _status(repo) == {"data": "unchanged"}
    assert counters["files"] == [] and counters["trees"] == 0

    with open(repo / "data/sub1/f7.txt", "ab") as f:
        f.write(b"appended\n")
    assert _status(repo) == {"data": "modified"}
    assert counters["files"] == ["f7.txt"], "only the changed file may be hashed"
    # only the trees on the changed path (data/sub1 and data) are built
    assert counters["trees"] == 2

    counters["files"].clear()
    counters["trees"] = 0
    assert _status(repo) == {"data": "modified"}  # a second status: the new content is known too
    assert counters["files"] == [] and counters["trees"] == 0


def test_stat_cache_notices_same_size_rewrite_and_touch(repo: Path, mlvc, counters) -> None:
    build(repo / "data", {"a.txt": b"aaaa", "b.txt": b"bbbb"})
    mlvc("add", "data")
    st = os.stat(repo / "data/a.txt")
    (repo / "data/a.txt").write_bytes(b"AAAA")  # same size; a new mtime
    assert _status(repo) == {"data": "modified"}
    # even with the old mtime put back, a new inode (a replaced file) is noticed
    os.unlink(repo / "data/b.txt")
    (repo / "data/b2.txt").write_bytes(b"xx")  # take a fresh inode first
    (repo / "data/b.txt").write_bytes(b"BBBB")
    os.utime(repo / "data/b.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    counters["files"].clear()
    _status(repo)
    assert "b.txt" in counters["files"]


def test_piped_output_has_no_escape_codes(repo: Path, mlvc) -> None:
    build(repo / "data", {f"f{i}": os.urandom(2000) for i in range(100)})
    for args in (("add", "data"), ("status",), ("checkout", "--force")):
        r = mlvc(*args)
        assert "\x1b" not in r.stdout and "\x1b" not in r.stderr, args
        assert "\r" not in r.stderr, args


def test_terminal_gets_progress_bars_unless_quiet(repo: Path) -> None:
    import pty
    import subprocess
    import sys

    build(repo / "data", {f"f{i}": os.urandom(1000) for i in range(100)})

    def on_tty(*args: str) -> tuple[int, bytes]:
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlvc", *args], cwd=repo, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=slave,
        )
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return proc.wait(), out

    rc, out = on_tty("--quiet", "add", "data")
    assert rc == 0 and b"\x1b[" not in out
    (repo / "data.mlvc").unlink()
    import shutil

    shutil.rmtree(repo / ".mlvc/cache")
    rc, out = on_tty("add", "data")
    assert rc == 0 and b"Adding 100 files" in out and b"\x1b[" in out


def test_a_corrupt_stat_cache_is_rebuilt(repo: Path, mlvc) -> None:
    build(repo / "data", {"a": b"a", "b": b"b"})
    mlvc("add", "data")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(repo / f".mlvc/tmp/stat.db{suffix}"):
            os.unlink(repo / f".mlvc/tmp/stat.db{suffix}")
    (repo / ".mlvc/tmp/stat.db").write_bytes(b"this is not an SQLite database" * 10)
    assert "unchanged  data" in mlvc("status").stdout
    (repo / "data/a").write_bytes(b"A")
    assert "data/a" in mlvc("status").stdout
    mlvc("commit")
    assert "unchanged  data" in mlvc("status").stdout
