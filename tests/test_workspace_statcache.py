"""The stat cache: an unchanged file is never rehashed, an unchanged folder's tree never rebuilt;
and piped output carries no progress-bar escape codes."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from wshelpers import build

from mlvc import forked
from mlvc.errors import PathError
from mlvc.repo import Repo
from mlvc.tree import Tree
from mlvc.workspace import scan, tracked, walk
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


def test_a_fresh_stat_cache_answers_no_file_and_then_what_it_recorded(tmp_path: Path) -> None:
    """A first add in a fresh cache skips the per-file queries; once a file is recorded (in this
    process or an earlier one) every lookup is asked again."""
    from mlvc.statcache import StatCache

    f = tmp_path / "f.bin"
    f.write_bytes(b"content")
    st = os.stat(f)
    cache = StatCache(str(tmp_path / "tmp/stat.db"))
    assert not cache.knows_files() and cache.lookup_files([st]) == {}
    cache.record_file(st, "h" * 32)
    cache.flush()
    assert cache.knows_files() and cache.lookup_files([st]) == {st.st_ino: "h" * 32}
    cache.close()
    again = StatCache(str(tmp_path / "tmp/stat.db"))
    assert again.knows_files() and again.lookup_files([st]) == {st.st_ino: "h" * 32}
    again.close()


# -- the walk: dir_fd-relative stats, listing signatures, and the walk shared with a forked child --
WIDE = {f"d{d}/f{i}.txt": f"{d}/{i}\n".encode() for d in range(6) for i in range(30)}
WIDE.update({"top.txt": b"top\n", "d0/deep/er/x.bin": b"x\n", "d5/run.sh": (b"#!/bin/sh\n", True)})


def _repo(root: Path) -> Repo:
    return Repo.find(str(root))


def _tree_shape(node) -> list[tuple[str, str, list[tuple[str, int, int, int, int]]]]:
    """Every folder's rel, signature and files (name, mode, inode, size, mtime_ns)."""
    return [
        (d.rel, d.sig, [(f.name, f.st.st_mode, f.st.st_ino, f.st.st_size, f.st.st_mtime_ns) for f in d.files])
        for d in node.iter_dirs()
    ]


@pytest.fixture
def forks(monkeypatch):
    """Force the two-process walk (and hardlink add, in chunks of 8 files) for every command of
    this test, and count the forks made (the real os.fork runs; the count is taken in the parent)."""
    monkeypatch.setenv("MLVC_WALK_FORK_MIN_FILES", "1")
    made = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    # The walk never forks a process that runs other threads; this pytest process may still hold
    # threads of earlier tests (server log readers, pools) that take no lock the child needs: the
    # child only stats, lists and writes to its pipe.
    monkeypatch.setattr(forked.threading, "active_count", lambda: 1)
    monkeypatch.setattr(scan, "SHARED_CHUNK", 8)  # a shared add of these small trees has several chunks
    return made


def test_forked_walk_gives_the_same_listing_and_signatures(repo: Path, mlvc, forks) -> None:
    build(repo / "data", WIDE)
    (repo / "data/.hidden").write_bytes(b"dot files are data too\n")
    (repo / "data/d1/.x.mlvc-tmp-123").write_bytes(b"a temp file of mlvc: never data")
    r = _repo(repo)
    try:
        rules = walk.IgnoreRules.for_dir(r.root, "", walk.MLVCIGNORE)
        plain = walk.walk(r.root, r.abs("data"), "data", "data", rules)
        split = walk.walk_split(r.root, r.abs("data"), "data", "data", rules)
        assert len(forks) == 1
        assert _tree_shape(split) == _tree_shape(plain)
        names = {f.rel for d in plain.iter_dirs() for f in d.files}
        assert "data/.hidden" in names and not any("mlvc-tmp" in n for n in names)
        assert len(names) == len(WIDE) + 1
        # narrow folders are walked down to where the tree widens: a chain of single folders
        # (one split, in c), and two folders of unequal sizes (each one split)
        build(repo / "chain", {f"a/b/c/f{i}": b"%d" % i for i in range(9)})
        build(repo / "chain/a/b/c", {"big/x": b"x", "small/y": b"y", "top": b"t"})
        plain = walk.walk(r.root, r.abs("chain"), "chain", "chain", rules)
        split = walk.walk_split(r.root, r.abs("chain"), "chain", "chain", rules)
        assert len(forks) == 2 and _tree_shape(split) == _tree_shape(plain)
        uneven = {f"train/f{i}": b"%d" % i for i in range(40)}
        build(repo / "uneven", {**uneven, **{f"test/f{i}": b"t" for i in range(4)}})
        plain = walk.walk(r.root, r.abs("uneven"), "uneven", "uneven", rules)
        split = walk.walk_split(r.root, r.abs("uneven"), "uneven", "uneven", rules)
        assert len(forks) == 2 + 2 and _tree_shape(split) == _tree_shape(plain)
    finally:
        r.close()


def test_runs_a_dying_walk_child_took_are_walked_here(repo: Path, mlvc, forks, monkeypatch) -> None:
    """The shared walk: a child that dies after sending one run back leaves the runs it took (and
    never sent) to this process, and the listing and signatures are still those of a plain walk."""
    taken: list[object] = []

    class DyingShared(forked.Shared):
        def __init__(self, count, theirs):
            sent = []  # the child's own copy: it sends its first run, then dies in the next

            def theirs_then_die(i):
                if sent:
                    os._exit(1)
                sent.append(i)
                return theirs(i)

            super().__init__(count, theirs_then_die)

        def finish(self, mine, take):
            def mine_slowly(i):
                time.sleep(0.01)  # the child gets to take runs too
                mine(i)

            super().finish(mine_slowly, lambda result: (taken.append(result), take(result)))

    monkeypatch.setattr(walk, "Shared", DyingShared)
    build(repo / "data", WIDE)
    r = _repo(repo)
    try:
        rules = walk.IgnoreRules.for_dir(r.root, "", walk.MLVCIGNORE)
        plain = walk.walk(r.root, r.abs("data"), "data", "data", rules)
        split = walk.walk_split(r.root, r.abs("data"), "data", "data", rules)
        assert len(forks) == 1 and len(taken) == 1, "one run came back from the child"
        assert _tree_shape(split) == _tree_shape(plain)
    finally:
        r.close()


def test_a_begun_walk_is_walked_by_the_child_while_this_process_waits(
    repo: Path, mlvc, forks, monkeypatch
) -> None:
    """begin_walk_folder returns with the child walking: when this process does other work first
    (a status opens its stat cache), the child takes every run, and the walk is a plain walk's."""
    runs_here: list[int] = []

    class CountingShared(forked.Shared):
        def finish(self, mine, take):
            super().finish(lambda i: (runs_here.append(i), mine(i)), take)

    monkeypatch.setattr(walk, "Shared", CountingShared)
    build(repo / "data", WIDE)
    r = _repo(repo)
    try:
        plain = walk.walk_folder(r.root, "data")  # no count given: one process
        assert forks == []
        walking = walk.begin_walk_folder(r.root, "data", expect_files=len(WIDE))
        assert len(forks) == 1, "the child was forked when the walk began"
        time.sleep(1.0)  # this process's other work: ~1,000 times what the child needs for WIDE
        begun = walking()
        assert runs_here == [], "the child took every run while this process was busy"
        assert _tree_shape(begun) == _tree_shape(plain)
    finally:
        r.close()


def test_forked_status_sees_every_kind_of_change(repo: Path, mlvc, counters, forks) -> None:
    build(repo / "data", WIDE)
    mlvc("add", "data")
    assert _status(repo) == {"data": "unchanged"}
    assert forks or forked.usable_cpus() == 1, "the status walk must have been shared with a child"
    assert counters["files"] == [] and counters["trees"] == 0

    def changed_once(change) -> None:
        change()
        assert _status(repo) == {"data": "modified"}, change.__name__
        mlvc("commit")  # record it: the next change starts from a clean state
        assert _status(repo) == {"data": "unchanged"}, change.__name__

    def in_place_same_size():
        (repo / "data/d3/f4.txt").write_bytes(b"3/X\n")

    def touched_only():  # same bytes: hashed again, no change reported
        os.utime(repo / "data/d2/f2.txt", ns=(1, 1_000_000_000))

    def new_file():
        (repo / "data/d4/new.txt").write_bytes(b"new")

    def deleted_file():
        (repo / "data/d1/f1.txt").unlink()

    def exec_bit():
        (repo / "data/d0/f0.txt").chmod(0o755)

    def file_becomes_folder():
        (repo / "data/top.txt").unlink()
        (repo / "data/top.txt").mkdir()
        (repo / "data/top.txt/inner").write_bytes(b"inner")

    def folder_becomes_file():
        import shutil

        shutil.rmtree(repo / "data/d0/deep")
        (repo / "data/d0/deep").write_bytes(b"a file now")

    for change in (in_place_same_size, new_file, deleted_file, exec_bit, file_becomes_folder, folder_becomes_file):
        changed_once(change)
    counters["files"].clear()
    touched_only()
    assert _status(repo) == {"data": "unchanged"}
    assert counters["files"] == ["f2.txt"], "a touched file is hashed again, nothing else"
    # the command line takes the same path (MLVC_WALK_FORK_MIN_FILES is inherited)
    (repo / "data/d5/f9.txt").write_bytes(b"changed on the command line")
    out = json.loads(mlvc("status", "--json").stdout)["paths"][0]
    assert out["state"] == "modified" and [c["path"] for c in out["changes"]] == ["data/d5/f9.txt"]


def test_forked_status_still_rejects_broken_links_and_loops_and_honours_ignores(repo: Path, mlvc, forks) -> None:
    build(repo / "data", WIDE)
    (repo / "data/.mlvcignore").write_text("*.log\n")
    (repo / "data/d4/noise.log").write_bytes(b"ignored")
    mlvc("add", "data")
    (repo / "data/d4/noise.log").write_bytes(b"ignored, changed")
    assert _status(repo) == {"data": "unchanged"}
    # An error in either half of the listing (every folder d0..d5, so both halves) is the same
    # error: a child that fails exits, and the parent walks its half again and raises.
    for d in range(6):
        os.symlink("nowhere", repo / f"data/d{d}/broken")
        with pytest.raises(PathError, match="broken symbolic link"):
            _status(repo)
        os.unlink(repo / f"data/d{d}/broken")
        os.symlink("..", repo / f"data/d{d}/loop")
        with pytest.raises(PathError, match="a loop"):
            _status(repo)
        os.unlink(repo / f"data/d{d}/loop")
    os.symlink("nowhere", repo / "data/d3/broken")
    r = mlvc("status", check=False)
    assert r.returncode == 1 and "broken symbolic link" in r.stderr and "Traceback" not in r.stderr, r.stderr
    os.unlink(repo / "data/d3/broken")
    assert _status(repo) == {"data": "unchanged"}
    # a symbolic link to a folder outside is followed, as before
    build(repo / "elsewhere", {"e.txt": b"e"})
    os.symlink(repo / "elsewhere", repo / "data/d2/linked")
    assert _status(repo) == {"data": "modified"}


def test_a_same_size_rewrite_right_after_a_status_is_seen(repo: Path, mlvc, forks) -> None:
    """Racy-clean: a status records each folder's signature; a same-size rewrite in the same clock
    tick right after it must still change that signature (multigrain mtimes, see statcache)."""
    build(repo / "data", WIDE)
    mlvc("add", "data")
    for i in range(5):
        assert _status(repo) == {"data": "unchanged" if i == 0 else "modified"}
        (repo / "data/d1/f3.txt").write_bytes(b"%d/X\n" % i)  # 4 bytes, as before
    assert _status(repo) == {"data": "modified"}


def test_only_big_trees_in_a_single_thread_fork(monkeypatch) -> None:
    import threading

    monkeypatch.delenv("MLVC_WALK_FORK_MIN_FILES", raising=False)
    threads = [1]  # what threading.active_count() says: this process alone, then one more thread
    monkeypatch.setattr(forked.threading, "active_count", lambda: threads[0])
    assert not forked.should_fork(0) and not forked.should_fork(forked.FORK_MIN_FILES - 1)
    assert forked.should_fork(forked.FORK_MIN_FILES) == (forked.usable_cpus() > 1)
    monkeypatch.setenv("MLVC_WALK_FORK_MIN_FILES", "10")
    assert forked.should_fork(10) == (forked.usable_cpus() > 1)
    threads[0] = 2
    assert not forked.should_fork(10**9), "never fork a process that runs other threads"
    monkeypatch.undo()
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not forked.should_fork(10**9), "a real second thread: no fork either"
    finally:
        stop.set()
        t.join()


@pytest.mark.parametrize("child", ["works", "dies"])
def test_forked_hardlink_add_links_every_file_and_leaves_a_clean_status(
    repo: Path, mlvc, counters, forks, monkeypatch, child: str
) -> None:
    """`add --link hardlink` of many small files shares the read/hash/link work with a child: every
    file done in either process ends up as its own cache object, and a status then hashes nothing.
    A child that dies after its first chunk leaves the chunks it took to this process."""
    if child == "dies":
        real_share = scan.share_items

        def share_items(count, mine, theirs, take):
            first = []

            def theirs_then_die(i):
                if first:
                    os._exit(1)
                first.append(i)
                return theirs(i)

            real_share(count, lambda i: (time.sleep(0.01), mine(i)), theirs_then_die, take)

        monkeypatch.setattr(scan, "share_items", share_items)
    build(repo / "data", WIDE)
    r = _repo(repo)
    try:
        from mlvc.workspace import add as add_mod

        add_mod.add(r, ["data"], link_type="hardlink")
        assert forks, "the add was not shared with a child"
        objects = r.objects
        files = [p for p in (repo / "data").rglob("*") if p.is_file()]
        assert len(files) == len(WIDE)
        for p in files:
            rel = p.relative_to(repo).as_posix()
            st = p.stat()
            if rel == "data/d5/run.sh":  # an executable is always a copy
                assert st.st_nlink == 1 and st.st_mode & 0o777 == 0o755
                continue
            assert st.st_nlink == 2 and st.st_mode & 0o777 == 0o444, rel
            h = objects.path(scan.Scanner(r).scan(rel)[0].hash)
            assert os.stat(h).st_ino == st.st_ino, f"{rel} is not its cache object"
    finally:
        r.close()
    counters["files"].clear()
    counters["trees"] = 0
    assert _status(repo) == {"data": "unchanged"}
    assert counters["files"] == [] and counters["trees"] == 0, "the child's stat keys were not recorded"
    assert "0 corrupt" in mlvc("cache", "verify").stdout


def test_commit_and_checkout_of_a_big_tracked_folder_share_the_walk(repo: Path, mlvc, forks) -> None:
    """A pointer's file count tells `commit`, a re-`add` and `checkout` that the folder is big:
    they walk it in two processes, as a status does; the first add (no pointer yet) estimates it."""
    from mlvc.workspace import add as add_mod
    from mlvc.workspace.checkout import Checkout

    build(repo / "data", WIDE)
    r = _repo(repo)
    try:
        add_mod.add(r, ["data"], link_type="copy")
        assert len(forks) == 1, "no pointer yet: a few listings estimate the file count"
        (repo / "data/d2/f3.txt").write_bytes(b"changed\n")
        (ptr,) = tracked.load_pointers(r.root)
        (result,) = add_mod.commit(r, [ptr])
        assert result.changed and len(forks) == 2
        add_mod.add(r, ["data"])  # the same content again: unchanged, and walked the same way
        assert len(forks) == 3
        (repo / "data/d2/f3.txt").write_bytes(b"edited after the commit\n")
        (ptr,) = tracked.load_pointers(r.root)
        (out,) = Checkout(r, force=True).run([ptr])
        assert out.written == 1 and len(forks) == 4
        assert (repo / "data/d2/f3.txt").read_bytes() == b"changed\n"
    finally:
        r.close()
    assert _status(repo) == {"data": "unchanged"}


def _stat_rows(root: Path) -> tuple[list[tuple], list[tuple]]:
    db = sqlite3.connect(root / ".mlvc/tmp/stat.db")
    try:
        files = db.execute("SELECT * FROM files ORDER BY ino").fetchall()
        return files, db.execute("SELECT * FROM trees ORDER BY sig").fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("link", ["copy", "hardlink"])
def test_a_first_add_estimated_big_is_forked_and_records_what_a_plain_one_does(
    repo: Path, monkeypatch, forks, link: str
) -> None:
    """No pointer gives a first add the file count: a few listings estimate it, and a big folder is
    walked (and, with hardlink, added) by two processes. Same pointer, same stat-cache rows as the
    plain walk in one process (the hardlinked files' new mode included)."""
    from mlvc.workspace import add as add_mod

    build(repo / "data", WIDE)
    assert 150 <= walk.estimate_files(str(repo / "data")) <= 250, "183 files"
    assert walk.estimate_files(str(repo / "data/top.txt")) == 0
    results = {}
    for way in ("forked", "plain"):
        if way == "plain":
            (repo / "data.mlvc").unlink()
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(repo / f".mlvc/tmp/stat.db{suffix}"):
                    os.unlink(repo / f".mlvc/tmp/stat.db{suffix}")
            monkeypatch.setenv("MLVC_WALK_FORK_MIN_FILES", str(10**9))
        made = len(forks)
        r = _repo(repo)
        try:
            (result,) = add_mod.add(r, ["data"], link_type=link)
        finally:
            r.close()
        assert (len(forks) > made) == (way == "forked")
        results[way] = (result.ref, _stat_rows(repo))
    assert results["forked"] == results["plain"]
    files, trees = results["plain"][1]
    assert len(files) == len(WIDE) and len(trees) == 9  # data, d0..d5, d0/deep, d0/deep/er
