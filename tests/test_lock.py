"""The repo lock: a second mutating command waits with a message, or fails clearly after core.lock_timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wshelpers import assert_clean_error, set_option

from mlvc.errors import LockTimeoutError
from mlvc.lock import RepoLock


def _lock_path(repo: Path) -> str:
    return str(repo / ".mlvc" / "tmp" / "lock")


def test_lock_is_exclusive_reentrant_and_times_out(tmp_path: Path) -> None:
    path = str(tmp_path / "lock")
    first = RepoLock(path, timeout=5)
    first.acquire()
    first.acquire()  # reentrant within one holder
    first.release()
    messages: list[str] = []
    second = RepoLock(path, timeout=0.3, on_wait=messages.append)
    t0 = time.monotonic()
    with pytest.raises(LockTimeoutError, match=rf"{path}: another mlvc command \(pid {os.getpid()}\)"):
        second.acquire()
    assert time.monotonic() - t0 >= 0.3
    assert len(messages) == 1 and "waiting" in messages[0]
    first.release()
    with second:  # free now
        pass


def test_second_command_fails_clearly_after_timeout(repo: Path, mlvc) -> None:
    set_option(repo, "core", "lock_timeout", "0.5")
    (repo / "f.txt").write_text("f")
    with RepoLock(_lock_path(repo), timeout=1):
        r = mlvc("add", "f.txt", check=False)
        assert_clean_error(r, "lock", "core.lock_timeout")
        assert "waiting for another mlvc command" in r.stderr
        assert not (repo / "f.txt.mlvc").exists()
        # read-only commands do not take the lock
        assert mlvc("status").returncode == 0
    mlvc("add", "f.txt")
    assert (repo / "f.txt.mlvc").exists()


def test_second_command_waits_then_succeeds(repo: Path) -> None:
    (repo / "f.txt").write_text("f")
    lock = RepoLock(_lock_path(repo), timeout=1)
    lock.acquire()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlvc", "add", "f.txt"],
            cwd=repo,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = proc.stderr.readline()  # blocks until the waiting message
        assert "waiting for another mlvc command" in line
        time.sleep(0.3)
        assert proc.poll() is None, "the second command must wait while the lock is held"
        assert not (repo / "f.txt.mlvc").exists()
    finally:
        lock.release()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (repo / "f.txt.mlvc").exists()


def test_concurrent_adds_do_not_interleave(repo: Path) -> None:
    """Two adds at once both land, and the shared .gitignore keeps both entries."""
    names = [f"d{i}" for i in range(4)]
    for n in names:
        (repo / n).mkdir()
        for j in range(50):
            (repo / n / f"f{j}").write_text(f"{n}/{j}")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlvc", "add", n], cwd=repo, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in names
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert sorted((repo / ".gitignore").read_text().splitlines()) == [f"/{n}" for n in names]
    assert all((repo / f"{n}.mlvc").exists() for n in names)
