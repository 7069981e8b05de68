"""The file-system watcher (core.fsmonitor): a real watcher process, real inotify, real files.

The invariant that makes it safe: after any change, the listing signature the watcher gives for a
tracked folder is the one a walk gives (mlvc.workspace.walk.folder_signature). Each step below
changes the tree one way and checks exactly that, then `mlvc status` end to end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest
from wshelpers import build

from mlvc.fsmonitor import client, inotify
from mlvc.fsmonitor.daemon import Watcher
from mlvc.workspace.walk import folder_signature

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")

SPEC = {
    "a.txt": b"a\n",
    "b.txt": b"bb\n",
    "sub/c.txt": b"c\n",
    "sub/deeper/d.txt": b"d\n",
    "sub/deeper/e.txt": b"e\n",
    "other/f.txt": b"f\n",
}


@pytest.fixture
def watched(repo: Path, mlvc):
    """A repository with data/ tracked and core.fsmonitor on; the watcher stopped afterwards."""
    build(repo / "data", SPEC)
    mlvc("add", "data")
    mlvc("config", "core.fsmonitor", "true")
    try:
        yield repo
    finally:
        client.stop(str(repo))


def _watched_signature(root: Path, rel: str = "data") -> str | None:
    """The watcher's signature of `rel`. One that does not know it yet (or just dropped it)
    answers without it and walks it once no status asked for daemon.WALK_DELAY_S: then ask again."""
    for _ in range(3):
        got = client.signatures(str(root), [rel]).get(rel)
        if got is not None:
            return got
        _info_when(root, lambda info: not info["walks_pending"])
    return None


def _agrees(root: Path, rel: str = "data") -> None:
    assert _watched_signature(root, rel) == folder_signature(str(root), rel)


def _info_when(root: Path, ready) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = client.ask(str(root), "info")
        if info is not None and ready(info):
            return info
        time.sleep(0.05)
    pytest.fail(f"the watcher never got there: {client.ask(str(root), 'info')}")


def _status(mlvc) -> dict[str, dict]:
    doc = json.loads(mlvc("status", "--json").stdout)
    return {p["path"]: {"state": p["state"], "changes": {c["path"]: c["state"] for c in p["changes"]}}
            for p in doc["paths"]}


def _rewrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


def _replace_by_rename(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _steps(root: Path, outside: Path):
    d = root / "data"
    yield "same-size rewrite", lambda: _rewrite(d / "a.txt", b"A\n")
    yield "append", lambda: (d / "sub/c.txt").open("ab").write(b"more\n")
    yield "touch", lambda: os.utime(d / "b.txt", ns=(1, 1_000_000_000))
    yield "chmod +x", lambda: (d / "sub/deeper/d.txt").chmod(0o755)
    yield "new file deep", lambda: (d / "sub/deeper/new.txt").write_bytes(b"new\n")
    yield "delete file", lambda: (d / "sub/deeper/e.txt").unlink()
    yield "new nested folders", lambda: build(d / "n1/n2/n3", {"x.txt": b"x", "n4/y.txt": b"y"})
    yield "file into the new folder", lambda: (d / "n1/n2/n3/n4/z.txt").write_bytes(b"z")
    yield "remove a folder", lambda: shutil.rmtree(d / "other")
    yield "rename a folder", lambda: os.rename(d / "n1", d / "m1")
    yield "folder out", lambda: os.rename(d / "m1", outside / "m1")
    yield "change it outside", lambda: (outside / "m1/n2/n3/x.txt").write_bytes(b"changed outside")
    yield "folder back in", lambda: os.rename(outside / "m1", d / "m1")
    yield "atomic replace", lambda: _replace_by_rename(d / "b.txt", b"replaced\n")
    yield "link to an outside file", lambda: os.symlink(outside / "target.txt", d / "link.txt")
    yield "outside file changes", lambda: (outside / "target.txt").write_bytes(b"target changed, longer")
    yield "outside file removed and made again", lambda: (
        (outside / "target.txt").unlink(), (outside / "target.txt").write_bytes(b"again"))
    yield "link to an outside folder", lambda: (
        build(outside / "A", {"1.txt": b"1"}), build(outside / "B", {"1.txt": b"one", "2.txt": b"2"}),
        os.symlink(outside / "A", d / "sub/ln"))
    yield "that link retargeted while its folder is dirty", lambda: (
        os.utime(d / "sub/c.txt", ns=(2, 2_000_000_000)), (d / "sub/ln").unlink(),
        os.symlink(outside / "B", d / "sub/ln"))
    yield "a file in the linked folder", lambda: (outside / "B/3.txt").write_bytes(b"3")
    yield "temp file of mlvc", lambda: (d / "sub/.mlvc-tmp-x").write_bytes(b"ignored")
    yield ".mlvcignore inside", lambda: (d / ".mlvcignore").write_text("*.txt\n!sub/**\n")
    yield ".mlvcignore above", lambda: (root / ".mlvcignore").write_text("data/m1/\n")
    yield "rules gone", lambda: ((d / ".mlvcignore").unlink(), (root / ".mlvcignore").unlink())
    yield "folder made and filled at once", lambda: [build(d / f"burst{i}", {f"{j}.bin": b"%d" % j for j in range(20)})
                                                     for i in range(10)]
    yield "many removed at once", lambda: [shutil.rmtree(d / f"burst{i}") for i in range(0, 10, 2)]
    yield "the tracked folder replaced", lambda: (os.rename(d, root / "data.old"), build(d, {"fresh.txt": b"fresh"}))


def test_the_watcher_agrees_with_a_walk_after_every_kind_of_change(watched: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_bytes(b"target")
    _agrees(watched)  # starts the watcher, which walks data/ once
    for what, change in _steps(watched, outside):
        change()
        assert _watched_signature(watched) == folder_signature(str(watched), "data"), f"after: {what}"
    info = client.ask(str(watched), "info")
    assert info and info["tracked"] == ["data"] and info["overflows"] == 0


def test_status_with_the_watcher_reports_what_a_walk_reports(watched: Path, mlvc) -> None:
    assert _status(mlvc) == {"data": {"state": "unchanged", "changes": {}}}  # walked; starts the watcher
    _info_when(watched, lambda info: info["tracked"] == ["data"])  # which then lists data/
    assert _status(mlvc) == {"data": {"state": "unchanged", "changes": {}}}
    assert client.ask(str(watched), "info")["answered"] == 1  # that status walked nothing
    (watched / "data/sub/deeper/new.txt").write_bytes(b"new")
    (watched / "data/a.txt").chmod(0o644)
    (watched / "data/a.txt").write_bytes(b"changed")
    (watched / "data/sub/c.txt").chmod(0o755)
    expected = {"data": {"state": "modified", "changes": {
        "data/a.txt": "modified", "data/sub/c.txt": "modified", "data/sub/deeper/new.txt": "added"}}}
    assert _status(mlvc) == expected
    mlvc("config", "core.fsmonitor", "false")
    assert _status(mlvc) == expected  # the same, walked
    mlvc("config", "core.fsmonitor", "true")
    mlvc("commit")
    assert _status(mlvc) == {"data": {"state": "unchanged", "changes": {}}}


def test_add_has_the_watcher_list_the_folder_for_the_next_status(repo: Path, mlvc) -> None:
    build(repo / "data", SPEC)
    mlvc("config", "core.fsmonitor", "true")
    try:
        mlvc("add", "data")
        _info_when(repo, lambda info: info["tracked"] == ["data"])
        assert _status(mlvc)["data"]["state"] == "unchanged"
        assert client.ask(str(repo), "info")["answered"] == 1
    finally:
        client.stop(str(repo))


def test_a_killed_watcher_is_replaced_and_a_gone_repository_ends_it(watched: Path, mlvc) -> None:
    _agrees(watched)
    info = client.ask(str(watched), "info")
    assert info is not None
    os.kill(info["pid"], signal.SIGKILL)  # leaves its socket file behind
    (watched / "data/a.txt").chmod(0o644)
    (watched / "data/a.txt").write_bytes(b"while no watcher ran")
    assert _status(mlvc)["data"]["changes"] == {"data/a.txt": "modified"}
    new = _info_when(watched, lambda i: i["pid"] != info["pid"])
    _agrees(watched)
    shutil.rmtree(watched / ".mlvc")  # the repository goes: so does its watcher
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and client._alive(new["pid"]):
        time.sleep(0.05)
    assert not client._alive(new["pid"])


def test_cli_start_status_stop(watched: Path, mlvc) -> None:
    assert "not running" in mlvc("fsmonitor", "status").stdout
    assert "running (pid" in mlvc("fsmonitor", "start").stdout
    mlvc("status")
    _info_when(watched, lambda info: info["tracked"] == ["data"])
    doc = json.loads(mlvc("fsmonitor", "status", "--json").stdout)
    assert doc["enabled"] and doc["running"] and doc["tracked"] == ["data"] and doc["folders_watched"] == 4
    assert "stopped" in mlvc("fsmonitor", "stop").stdout
    assert not json.loads(mlvc("fsmonitor", "status", "--json").stdout)["running"]
    assert "no file-system watcher" in mlvc("fsmonitor", "stop").stdout
    bad = mlvc("config", "core.fsmonitor", "maybe", check=False)
    assert bad.returncode == 2 and "true or false" in bad.stderr


def test_a_deep_repository_reaches_its_socket_through_proc(tmp_path: Path, monkeypatch) -> None:
    from conftest import git, run_mlvc

    root = tmp_path.joinpath(*["a-rather-long-folder-name"] * 5) / "repo"
    root.mkdir(parents=True)
    assert len(str(root / ".mlvc/tmp/fsmonitor/sock")) > 108
    git("init", "-q", cwd=root)
    run_mlvc("init", cwd=root)
    build(root / "data", SPEC)
    run_mlvc("add", "data", cwd=root)
    try:
        _agrees(root)
        (root / "data/z.txt").write_bytes(b"z")
        _agrees(root)
    finally:
        client.stop(str(root))


def test_an_event_queue_overflow_drops_what_was_listed(watched: Path) -> None:
    notify = inotify.Inotify()
    try:
        watcher = Watcher(str(watched), notify)
        assert watcher.signature("data") == folder_signature(str(watched), "data")
        (watched / "data/late.txt").write_bytes(b"an event that the overflow lost")
        watcher.handle(-1, inotify.IN_Q_OVERFLOW, "")  # what the kernel queues when it drops events
        assert watcher.trees == {} and watcher.nodes == {} and watcher.overflows == 1
        assert watcher.signature("data") == folder_signature(str(watched), "data")
        assert watcher.signature("../etc") is None and watcher.signature("data/a.txt") is None
    finally:
        notify.close()


def test_a_question_during_a_walk_is_answered_at_once_without_signatures(watched: Path) -> None:
    import selectors
    import socket

    from mlvc.fsmonitor.daemon import Server
    from mlvc.fsmonitor.protocol import cookie_folder, receive, send

    os.makedirs(cookie_folder(str(watched)), exist_ok=True)
    server = Server(str(watched))
    ours, theirs = socket.socketpair()
    try:
        ours.setblocking(False)
        server.buffers[ours] = bytearray()
        server.selector.register(ours, selectors.EVENT_READ, "conn")
        send(theirs, {"op": "signatures", "cookie": "cookie-never-made", "targets": ["data"]})
        server.answer_busy()  # what a walk calls before each folder
        assert receive(theirs) == {"protocol": 1, "ok": True, "signatures": {}}
        assert "data" in server.walks and server.waiting == []  # walked later, nobody kept waiting
    finally:
        theirs.close()
        server.close(ours)
        server.notify.close()


def test_a_walk_that_fails_part_way_leaves_nothing_behind(watched: Path) -> None:
    os.symlink(watched / "nowhere", watched / "data/sub/deeper/broken")  # a walk refuses it
    notify = inotify.Inotify()
    try:
        watcher = Watcher(str(watched), notify)
        assert watcher.signature("data") is None
        assert watcher.trees == {} and watcher.nodes == {} and watcher.folders_of == {} and watcher.paths_of == {}
        (watched / "data/sub/deeper/broken").unlink()
        assert watcher.signature("data") == folder_signature(str(watched), "data")
    finally:
        notify.close()
