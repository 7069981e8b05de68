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
from wshelpers import cache_objects, corrupt_objects, snapshot

N_FILES = 3000


def _make(data: Path) -> None:
    for i in range(N_FILES):
        d = data / f"part{i % 50:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.bin").write_bytes(f"record {i}\n".encode() * (1 + i % 5))


def _count_objects(cache: Path) -> int:
    n = 0
    try:
        shards = os.scandir(cache)
    except FileNotFoundError:
        return 0
    with shards:
        for s in shards:
            if s.is_dir():
                n += len(os.listdir(s.path))
    return n


@pytest.mark.parametrize("link", ["hardlink"])  # the riskier path: workspace files become links
def test_killed_add_is_repaired_by_rerun(repo: Path, mlvc, link: str) -> None:
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
    while proc.poll() is None and _count_objects(cache) < 50 and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "mlvc add finished before it could be killed; make the data larger"
    stored = len(cache_objects(repo))
    assert 0 < stored < N_FILES, stored
    assert not (repo / "data.mlvc").exists()
    assert corrupt_objects(repo) == []

    out = mlvc("add", "--link", link, "data").stdout
    assert f"{N_FILES} files" in out
    assert "0 corrupt" in mlvc("cache", "verify").stdout
    assert snapshot(data) == original
    assert "unchanged" in mlvc("status").stdout

    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    (data / "part00" / "f00000.bin").unlink()  # replace, not write through the read-only link
    (data / "part00" / "f00000.bin").write_bytes(b"changed")
    (data / "part07" / "f00007.bin").unlink()
    mlvc("commit")
    git("commit", "-qam", "v2", cwd=repo)
    git("checkout", "-q", "HEAD~1", cwd=repo)
    mlvc("checkout")
    assert snapshot(data) == original
