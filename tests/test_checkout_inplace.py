"""Checkout creates many new workspace files in place, under an intent log (mlvc/workspace/intent.py).

A checkout SIGKILLed part-way is rerun to completion without --force; what it left part-written is
overwritten, anything else not in the cache is still refused; the stat cache records match a scan.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git
from wshelpers import set_link, snapshot

from mlvc.hashing import hash_bytes

INTENT = Path(".mlvc") / "tmp" / "checkout-intent"


def _make(data: Path, n: int, big: int = 0) -> None:
    for i in range(n):
        d = data / f"part{i % 30:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_bytes(f"record {i}\n".encode() * (20 + i % 300))
    for i in range(big):  # over packs.SMALL: loose objects, copied (not packed) into the workspace
        (data / "big").mkdir(parents=True, exist_ok=True)
        (data / "big" / f"b{i:02d}.bin").write_bytes(i.to_bytes(4, "little") * (40 * 1024 + i))


def _workspace_tmp(root: Path) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if ".mlvc-tmp-" in f]


def _intent_logs(repo: Path) -> list[str]:
    folder = repo / INTENT
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def test_killed_checkout_is_completed_by_rerun(repo: Path, mlvc) -> None:
    data = repo / "data"
    _make(data, 3000, big=20)
    set_link(repo, "copy")
    mlvc("add", "data")
    original = snapshot(data)
    shutil.rmtree(data)

    proc = subprocess.Popen(
        [sys.executable, "-m", "mlvc", "checkout"],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    halfway = data / "part14" / "f01214.txt"  # files are written in name order, 256 to a batch
    deadline = time.monotonic() + 60
    while proc.poll() is None and not halfway.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "mlvc checkout finished before it could be killed"
    assert _intent_logs(repo), "the intent log should be in place while files are written in place"
    assert snapshot(data) != original

    assert "checked out: data" in mlvc("checkout").stdout  # no --force
    assert snapshot(data) == original
    assert _intent_logs(repo) == []
    assert _workspace_tmp(data) == []
    assert "unchanged" in mlvc("status").stdout


def test_rerun_overwrites_only_what_the_interrupted_checkout_left(repo: Path, mlvc) -> None:
    """The state a kill leaves, made by hand: a log listing some paths, those paths part-written."""
    data = repo / "data"
    _make(data, 200)
    weird = data / "part00" / "line\nbreak.txt"  # a newline in a name: the log separates with NUL
    weird.write_bytes(b"weird name\n" * 50)
    set_link(repo, "copy")
    mlvc("add", "data")
    original = snapshot(data)
    shutil.rmtree(data)

    listed = [data / "part01" / "f00001.txt", data / "part02" / "f00002.txt", weird]
    log = b""
    for p in listed:
        log += hash_bytes(original[str(p.relative_to(data))][0]).encode() + b" "
        log += os.fsencode(p.relative_to(repo).as_posix()) + b"\0"
    (repo / INTENT).mkdir(parents=True)
    (repo / INTENT / "4242-0badc0ffee00").write_bytes(log)
    for p in listed:  # part-written: a prefix of the object that was going there
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(original[str(p.relative_to(data))][0][:37])
    for d in ("part03", "part04"):
        (data / d).mkdir()
    mine = data / "part03" / "f00003.txt"  # not in the log: the user's, refused
    mine.write_bytes(b"my own work")
    also = data / "part04" / "f00004.txt"  # a prefix of its object, but in no log: refused too
    also.write_bytes(b"record 4\n")
    not_prefix = data / "part04" / "f00034.txt"  # in the log, but not what mlvc was writing there
    not_prefix.write_bytes(b"changed after the kill")
    with open(repo / INTENT / "4242-0badc0ffee00", "ab") as f:
        f.write(hash_bytes(original["part04/f00034.txt"][0]).encode() + b" data/part04/f00034.txt\0")

    r = mlvc("checkout", check=False)
    assert r.returncode == 1
    refused = r.stderr.split("overwrite changes that are not in the cache: ", 1)[1]
    for p in (mine, also, not_prefix):
        assert p.relative_to(repo).as_posix() in refused
    for p in listed:
        assert p.relative_to(repo).as_posix() not in refused
    assert mine.read_bytes() == b"my own work"  # nothing was written

    mine.unlink()
    also.unlink()
    not_prefix.unlink()
    assert "checked out: data" in mlvc("checkout").stdout  # no --force
    assert snapshot(data) == original
    assert _intent_logs(repo) == []  # the leftover log, and the rerun's own
    assert "unchanged" in mlvc("status").stdout


def test_leftover_log_is_kept_for_the_paths_a_checkout_did_not_restore(repo: Path, mlvc) -> None:
    for name in ("a", "b"):
        _make(repo / name, 100)
    set_link(repo, "copy")
    mlvc("add", "a", "b")
    want = {name: snapshot(repo / name) for name in ("a", "b")}
    shutil.rmtree(repo / "a")
    shutil.rmtree(repo / "b")
    log = b""
    for name in ("a", "b"):
        p = repo / name / "part05" / "f00005.txt"
        p.parent.mkdir(parents=True)
        p.write_bytes(want[name]["part05/f00005.txt"][0][:10])
        log += hash_bytes(want[name]["part05/f00005.txt"][0]).encode() + f" {name}/part05/f00005.txt\0".encode()
    (repo / INTENT).mkdir(parents=True)
    (repo / INTENT / "1-000000000000").write_bytes(log)

    mlvc("checkout", "a")
    assert snapshot(repo / "a") == want["a"]
    assert (repo / INTENT / "1-000000000000").read_bytes() == log.split(b"\0")[1] + b"\0"  # b's record only
    mlvc("checkout", "b")
    assert snapshot(repo / "b") == want["b"]
    assert _intent_logs(repo) == []


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink"])
def test_fresh_files_leave_no_temp_files_and_a_matching_stat_cache(repo: Path, mlvc, link: str) -> None:
    data = repo / "data"
    _make(data, 300, big=5)
    (data / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (data / "run.sh").chmod(0o755)
    set_link(repo, link)
    mlvc("add", "data")
    original = snapshot(data)
    shutil.rmtree(data)
    for suffix in ("", "-wal", "-shm"):  # start from an empty stat cache: only checkout's records
        (repo / ".mlvc" / "tmp" / f"stat.db{suffix}").unlink(missing_ok=True)

    mlvc("checkout")
    assert snapshot(data) == original
    assert _workspace_tmp(data) == []
    assert _intent_logs(repo) == []
    db = sqlite3.connect(repo / ".mlvc" / "tmp" / "stat.db")
    rows = {ino: (size, mtime, h) for ino, size, mtime, h in db.execute("SELECT * FROM files")}
    db.close()
    for rel, (content, _) in ((k, v) for k, v in original.items() if v != "<dir>"):
        st = os.stat(data / rel)
        assert rows.get(st.st_ino) == (st.st_size, st.st_mtime_ns, hash_bytes(content)), rel
    assert "unchanged" in mlvc("status").stdout


def test_a_replaced_file_is_renamed_in_whole_beside_fresh_ones(repo: Path, mlvc) -> None:
    data = repo / "data"
    _make(data, 150)
    set_link(repo, "copy")
    mlvc("add", "data")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    original = snapshot(data)
    changed = data / "part00" / "f00000.txt"
    changed.write_bytes(b"version two")
    for p in sorted(data.glob("part1*/*")):  # 100 files gone: recreated in place on the way back
        p.unlink()
    mlvc("commit")
    git("commit", "-qam", "v2", cwd=repo)
    git("checkout", "-q", "HEAD~1", cwd=repo)

    with open(changed, "rb") as reader:  # a reader of the old file never sees it rewritten
        ino = os.fstat(reader.fileno()).st_ino
        mlvc("checkout")
        assert reader.read() == b"version two"
    assert os.stat(changed).st_ino != ino  # a new file renamed over the old one
    assert snapshot(data) == original
    assert _workspace_tmp(data) == [] and _intent_logs(repo) == []
