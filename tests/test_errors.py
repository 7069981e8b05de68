"""Bad input gets one clear line (what and where), exit 1 (2 for usage), no traceback, and loses nothing."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
from conftest import git, run_mlvc
from wshelpers import assert_clean_error, build, cache_objects, corrupt_objects, set_link, tmp_leftovers

from mlvc.errors import DiskFullError, FileChangedError
from mlvc.repo import Repo
from mlvc.workspace import add as add_mod

VALID_HASH = "0123456789abcdef0123456789abcdef"


def _pointer(kind: str = "file", h: str = VALID_HASH) -> str:
    return f"schema: 1\nkind: {kind}\nhash: {h}\nsize: 3\nfiles: 1\n"


# -- paths -------------------------------------------------------------------------------------


def test_path_that_does_not_exist(repo: Path, mlvc) -> None:
    assert_clean_error(mlvc("add", "no/such/thing", check=False), "no/such/thing", "no such file")


def test_paths_outside_or_in_forbidden_places(repo: Path, mlvc, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    assert_clean_error(mlvc("add", str(outside), check=False), str(outside), "outside the repository")
    assert_clean_error(mlvc("add", "../outside.txt", check=False), "../outside.txt", "outside the repository")
    assert_clean_error(mlvc("add", ".mlvc/config", check=False), ".mlvc/config", "inside .mlvc/")
    assert_clean_error(mlvc("add", ".git/HEAD", check=False), ".git/HEAD", "inside .git/")
    assert_clean_error(mlvc("add", ".", check=False), "repository root")
    assert cache_objects(repo) == set()


def test_path_git_already_tracks(repo: Path, mlvc) -> None:
    build(repo / "src", {"code.py": b"print(1)\n", "data.csv": b"1\n"})
    git("add", "src/code.py", cwd=repo)
    assert_clean_error(mlvc("add", "src/code.py", check=False), "src/code.py", "git already tracks")
    assert_clean_error(mlvc("add", "src", check=False), "src", "git already tracks src/code.py")
    assert not (repo / "src.mlvc").exists() and not (repo / "src/code.py.mlvc").exists()


def test_nested_tracking_is_refused(repo: Path, mlvc) -> None:
    build(repo / "data", {"a": b"a", "sub/b": b"b"})
    mlvc("add", "data")
    assert_clean_error(mlvc("add", "data/sub", check=False), "data/sub", "inside the tracked folder data")
    assert_clean_error(mlvc("add", "data.mlvc", check=False), "data.mlvc", "pointer file")
    build(repo / "outer", {"inner/x": b"x", "y": b"y"})
    assert_clean_error(mlvc("add", "outer/y", "outer", check=False), "outer/y", "inside outer")
    assert not (repo / "outer.mlvc").exists() and not (repo / "outer/y.mlvc").exists()
    mlvc("add", "outer/inner", "outer/inner")  # the same path twice is added once
    assert (repo / "outer/.gitignore").read_text() == "/inner\n"
    assert_clean_error(mlvc("add", "outer", check=False), "outer", "contains tracked path outer/inner")
    # The add's walk does not list ignored files: a pointer an .mlvcignore hides is still found,
    # whether the rule is in the folder or above it.
    (repo / "outer/.mlvcignore").write_text("*.mlvc\n")
    assert_clean_error(mlvc("add", "outer", check=False), "outer", "contains tracked path outer/inner")
    os.unlink(repo / "outer/.mlvcignore")
    (repo / ".mlvcignore").write_text("outer/*.mlvc\n")
    assert_clean_error(mlvc("add", "outer", check=False), "outer", "contains tracked path outer/inner")
    assert not (repo / "outer.mlvc").exists()


def test_symlink_loops_and_broken_links(repo: Path, mlvc) -> None:
    build(repo / "data", {"a": b"a", "sub/b": b"b"})
    os.symlink("..", repo / "data/sub/up")
    assert_clean_error(mlvc("add", "data", check=False), "data/sub/up", "loop")
    os.unlink(repo / "data/sub/up")
    os.symlink("no-such-target", repo / "data/sub/dangling")
    assert_clean_error(mlvc("add", "data", check=False), "data/sub/dangling", "broken symbolic link")
    assert cache_objects(repo) == set() or not (repo / "data.mlvc").exists()


def test_not_a_repository(tmp_path: Path) -> None:
    r = run_mlvc("status", cwd=tmp_path, check=False)
    assert_clean_error(r, str(tmp_path), "mlvc init")


# -- pointer files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("schema: 1\nkind: [file\n", ("bad.mlvc:", "not valid YAML")),
        ("- just\n- a list\n", ("bad.mlvc", "not a pointer file")),
        (_pointer(h="abc123"), ("bad.mlvc", "'abc123'", "32 lowercase hex")),
        (_pointer(h=VALID_HASH + "00"), ("bad.mlvc", "not an xxh3-128 hash")),
        (_pointer(kind="blob"), ("bad.mlvc", "kind 'blob'")),
        ("schema: 7\nkind: file\nhash: " + VALID_HASH + "\n", ("bad.mlvc", "schema 7")),
        (b"\xff\xfe\x00garbage", ("bad.mlvc", "not a text file")),
    ],
)
def test_bad_pointer_files(repo: Path, mlvc, text, needles) -> None:
    p = repo / "bad.mlvc"
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    for cmd in (("status",), ("checkout", "bad")):
        assert_clean_error(mlvc(*cmd, check=False), *needles)


def test_bad_pointer_stops_commit_and_full_checkout(repo: Path, mlvc) -> None:
    (repo / "bad.mlvc").write_text(_pointer(h="abc123"))
    for cmd in (("checkout",), ("commit",)):
        assert_clean_error(mlvc(*cmd, check=False), "bad.mlvc", "'abc123'")


def test_pointer_to_object_missing_from_the_cache(repo: Path, mlvc) -> None:
    (repo / "lost.bin.mlvc").write_text(_pointer())
    r = mlvc("checkout", "lost.bin", check=False)
    assert_clean_error(r, "lost.bin", VALID_HASH, "not in the cache")
    assert not (repo / "lost.bin").exists()
    (repo / "lostdir.mlvc").write_text(_pointer(kind="tree"))
    assert_clean_error(mlvc("checkout", "lostdir", check=False), "lostdir", VALID_HASH, "not in the cache")


def test_bad_config(repo: Path, mlvc) -> None:
    set_link(repo, "teleport")
    (repo / "f").write_text("f")
    assert_clean_error(mlvc("add", "f", check=False), ".mlvc/config", "core.link", "teleport")


@pytest.mark.parametrize(
    ("setting", "needles"),
    [
        (("core.link_type", "hardlink"), ["core.link_type: no such key", "did you mean core.link?"]),
        (("core.link", "teleport"), ["core.link: 'teleport' is not one of auto, reflink"]),
        (("core.jobs", "four"), ["core.jobs: 'four' is not a whole number"]),
        (("core.lock_timeout", "soon"), ["core.lock_timeout: 'soon' is not a number"]),
        (("execute.executor", "rayy"), ["execute.executor: 'rayy' is not one of local, container, ray"]),
        (("execute.cpus", "0"), ["execute.cpus: '0' is not a number above 0"]),
        (("crore.link", "copy"), ["crore.link: no such section 'crore'"]),
        (("remote.s.password", "ab #cd"), ["remote.s.password: 'ab #cd' would be read back cut short"]),
    ],
)
def test_config_sets_no_unknown_key_or_bad_value(repo: Path, mlvc, setting, needles) -> None:
    """A misspelt key would be ignored in silence, a bad value found only by the next command."""
    before = (repo / ".mlvc/config").read_text()
    r = mlvc("config", *setting, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    message = " ".join(r.stderr.split())  # typer's box wraps long lines
    for needle in needles:
        assert needle in message, (needle, r.stderr)
    assert (repo / ".mlvc/config").read_text() == before


def test_config_sets_known_keys_and_any_remote_option(repo: Path, mlvc) -> None:
    for key, value in [("core.jobs", "4"), ("core.fsmonitor", "off"), ("execute.cpus", "2.5"),
                       ("data.max_js", "0.05"), ("remote.store.endpoint_url", "http://127.0.0.1:9000")]:
        mlvc("config", key, value)
        assert mlvc("config", key).stdout.strip() == value
    cfg = repo / ".mlvc/config"
    cfg.write_text(cfg.read_text().replace("[core]\n", "[core]\nlnik = copy\n"))
    mlvc("config", "--unset", "core.lnik")  # a key set by hand is removed the same way
    assert "lnik" not in cfg.read_text()


def test_config_fixes_the_bad_value_that_stops_other_commands(repo: Path, mlvc) -> None:
    """A bad core.lock_timeout stops every command that locks, `mlvc config` itself included, were
    it to wait that long: it waits the default instead, so the value can be fixed."""
    (repo / "f").write_text("f")
    cfg = repo / ".mlvc/config"
    cfg.write_text(cfg.read_text().replace("[core]\n", "[core]\nlock_timeout = soon\njobs = four\n"))
    assert_clean_error(mlvc("add", "f", check=False), ".mlvc/config", "core.lock_timeout", "'soon'")
    mlvc("config", "core.lock_timeout", "30")
    assert_clean_error(mlvc("add", "f", check=False), ".mlvc/config", "core.jobs", "'four'")
    mlvc("config", "core.jobs", "2")
    mlvc("add", "f")
    assert (repo / "f.mlvc").exists()


def test_config_knows_every_key_mlvc_reads() -> None:
    """config.KEYS is the list `mlvc config` checks against: it must name every key the code reads."""
    import re

    import mlvc
    from mlvc.config import KEYS
    from mlvc.execute.base import BACKENDS

    src = Path(mlvc.__file__).parent
    read: set[tuple[str, str]] = set()
    for path in src.rglob("*.py"):
        text = path.read_text()
        read |= set(re.findall(r'\.get(?:_bool|_float|_count)?\("(core|cache|hooks|execute|ray|data)", "(\w+)"', text))
    capacity = (src / "execute/capacity.py").read_text()
    read |= {("execute", k) for k in re.findall(r'(?<![\w.])conf\("(\w+)"\)', capacity)}
    read |= {("data", k) for k in re.findall(r'"(max_\w+)": max_', (src / "cli/data.py").read_text())}
    assert ("execute", "gpus") in read and ("data", "max_js") in read and ("core", "link") in read
    known = {(section, key) for section, keys in KEYS.items() for key in keys}
    assert read - known == set()
    assert set(KEYS["execute"]["executor"]) == set(BACKENDS)


# -- init and usage ------------------------------------------------------------------------------


def test_init_twice_and_inside_git(repo: Path, mlvc) -> None:
    before = (repo / ".mlvc/config").read_text()
    assert_clean_error(mlvc("init", check=False), "already an mlvc repository")
    assert (repo / ".mlvc/config").read_text() == before
    r = run_mlvc("init", cwd=repo / ".git", check=False)
    assert_clean_error(r, ".git", "inside a .git folder")
    assert not (repo / ".git/.mlvc").exists()


def test_init_creates_git_repository(tmp_path: Path) -> None:
    run_mlvc("init", cwd=tmp_path)
    assert (tmp_path / ".git").is_dir() and (tmp_path / ".mlvc/config").is_file()
    # the real git binary accepts it, and ignores what must not be committed
    status = git("status", "--porcelain", "--untracked-files=all", cwd=tmp_path)
    assert ".mlvc/config" in status and ".mlvc/cache" not in status and ".mlvc/tmp" not in status


@pytest.mark.parametrize(
    "args",
    [("no-such-command",), ("add",), ("add", "--link", "teleport", "x"), ("status", "--no-such-option"), ("gc", "x")],
)
def test_usage_errors_exit_2(repo: Path, mlvc, args) -> None:
    r = mlvc(*args, check=False)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.strip()


def test_verbose_shows_the_traceback(repo: Path, mlvc) -> None:
    r = mlvc("--verbose", "add", "missing", check=False)
    assert r.returncode == 1 and "Traceback" in r.stderr and "missing: no such file" in r.stderr


# -- a file that changes while it is hashed (in-process, deterministic) ---------------------------


def _open(root: Path) -> Repo:
    return Repo.find(str(root))


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink", "reflink", "hardlink-forked"])
def test_file_changing_while_hashed(repo: Path, monkeypatch, link: str) -> None:
    from mlvc import forked
    from mlvc.workspace import scan

    if link == "hardlink-forked":  # one file a chunk: victim.bin is added by either process
        monkeypatch.setattr(scan, "SHARED_CHUNK", 1)
        link = "hardlink"
        monkeypatch.setenv("MLVC_WALK_FORK_MIN_FILES", "1")
        monkeypatch.setattr(forked.threading, "active_count", lambda: 1)
        monkeypatch.setattr(forked, "usable_cpus", lambda: 2)
        real_fork = os.fork
        forks: list[int] = []
        monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    build(repo / "data", {"a.bin": b"a" * 100, "victim.bin": b"original content", "z.bin": b"z"})
    victim = repo / "data/victim.bin"
    real_bytes, real_file = scan.hash_bytes, scan.hash_file

    def meddle() -> None:
        if victim.read_bytes() == b"original content":
            with open(victim, "ab") as f:
                f.write(b" and more written meanwhile")

    def hash_bytes(data: bytes) -> str:
        h = real_bytes(data)
        if data == b"original content":
            meddle()
        return h

    def hash_file(path) -> str:
        h = real_file(path)
        if os.fspath(path) == str(victim):
            meddle()
        return h

    monkeypatch.setattr(scan, "hash_bytes", hash_bytes)
    monkeypatch.setattr(scan, "hash_file", hash_file)
    r = _open(repo)
    try:
        with pytest.raises(FileChangedError, match=r"data/victim.bin: file changed while it was being hashed"):
            add_mod.add(r, ["data"], link_type=link)
    finally:
        r.close()
    assert not (repo / "data.mlvc").exists()
    assert corrupt_objects(repo) == [], "an object was stored under the hash of content that changed"
    if os.environ.get("MLVC_WALK_FORK_MIN_FILES"):
        assert forks, "the forked add was not taken"
    assert victim.read_bytes() == b"original content and more written meanwhile"
    monkeypatch.undo()
    r = _open(repo)
    try:  # a rerun, with the file quiet again, succeeds
        add_mod.add(r, ["data"], link_type=link)
    finally:
        r.close()
    assert corrupt_objects(repo) == []


# -- a full disk -------------------------------------------------------------------------------------


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    ("link", "size"),
    [("copy", 1000), ("copy", 5 << 20), ("reflink", 5 << 20), ("hardlink", 1000), ("hardlink", 5 << 20)],
)
def test_full_disk_keeps_no_partial_object(repo: Path, monkeypatch, link: str, size: int) -> None:
    (repo / "big.bin").write_bytes(os.urandom(1024) * (size // 1024) + b"tail")
    real_write = os.write
    state = {"n": 0}

    def write_then_fail(fd, data):  # the first chunk lands, then the disk is full
        state["n"] += 1
        if state["n"] > 1:
            _enospc()
        return real_write(fd, bytes(data)[: max(1, len(data) // 2)])

    monkeypatch.setattr(os, "write", write_then_fail)
    monkeypatch.setattr(os, "copy_file_range", _enospc)
    monkeypatch.setattr(os, "link", _enospc)
    r = _open(repo)
    try:
        with pytest.raises(DiskFullError, match="no space left on device writing .*\\.mlvc/cache"):
            add_mod.add(r, ["big.bin"], link_type=link)
    finally:
        monkeypatch.undo()
        r.close()
    assert cache_objects(repo) == set() or corrupt_objects(repo) == []
    assert tmp_leftovers(repo) == []
    assert not (repo / "big.bin.mlvc").exists()
    assert (repo / "big.bin").stat().st_mode & 0o777 == 0o644, "the workspace file was left read-only"


def test_full_disk_on_a_real_tiny_filesystem(repo: Path, mlvc, tmp_path: Path) -> None:
    """The cache on a 1 MiB tmpfs: adding 3 MiB fails clearly and leaves nothing partial behind."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    ).returncode == 0
    if not mounted:
        pytest.skip("mounting a tmpfs needs root (the monkeypatched test above covers this path)")
    try:
        with open(repo / ".mlvc/config", "a") as f:
            f.write(f"\n[cache]\ndir = {mnt}\n")
        build(repo / "data", {f"f{i}": os.urandom(300_000) for i in range(10)})
        for link in ("copy", "reflink"):
            r = mlvc("add", "--link", link, "data", check=False)
            assert_clean_error(r, "no space left on device", str(mnt))
            assert tmp_leftovers(repo) == [] and not any(".mlvc-tmp-" in p.name for p in mnt.rglob("*"))
            assert corrupt_objects_at(mnt) == []
            assert not (repo / "data.mlvc").exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_during_checkout(repo: Path, mlvc) -> None:
    """The workspace folder on a 1 MiB tmpfs: checkout of 3 MiB fails clearly, leaves no temp file,
    and a rerun with space finishes the job."""
    data = repo / "data"
    build(data, {f"f{i}": os.urandom(300_000) for i in range(10)})
    mlvc("add", "data")
    import shutil

    shutil.rmtree(data)
    data.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(data)], capture_output=True
    ).returncode == 0
    if not mounted:
        pytest.skip("mounting a tmpfs needs root (test_objects covers this path in-process)")
    try:
        r = mlvc("checkout", check=False)
        assert_clean_error(r, "no space left on device writing", str(data))
        assert not any(".mlvc-tmp-" in p.name for p in data.rglob("*"))
        assert corrupt_objects(repo) == []
    finally:
        subprocess.run(["umount", str(data)], check=False)
    mlvc("checkout")
    assert len(list(data.iterdir())) == 10 and "unchanged  data" in mlvc("status").stdout


def corrupt_objects_at(cache: Path) -> list[str]:
    from mlvc.hashing import hash_file

    bad = []
    for p in cache.rglob("*"):
        if p.is_file() and hash_file(p) != p.parent.name + p.name:
            bad.append(str(p))
    return bad
