"""`mlvc status`, `.mlvcignore`, `mlvc checkout` conflicts and --force, `mlvc commit`, `mlvc remove`."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import git
from wshelpers import assert_clean_error, build, pointer_hash, snapshot, spec_snapshot

SPEC = {
    "a.txt": b"a\n",
    "keep.txt": b"keep\n",
    "gone.txt": b"gone\n",
    "sub/b.txt": b"b\n",
    "sub/deeper/c.txt": b"c\n",
    "sub/deeper/mode.txt": b"mode\n",
}


def _status(mlvc) -> dict[str, dict]:
    doc = json.loads(mlvc("status", "--json").stdout)
    return {p["path"]: p for p in doc["paths"]}


def _changes(entry: dict) -> dict[str, str]:
    return {c["path"]: c["state"] for c in entry["changes"]}


def test_status_states_down_to_the_file(repo: Path, mlvc) -> None:
    build(repo / "data", SPEC)
    (repo / "model.bin").write_bytes(b"weights")
    (repo / "old.bin").write_bytes(b"old")
    mlvc("add", "data", "model.bin", "old.bin")
    st = _status(mlvc)
    assert {p: e["state"] for p, e in st.items()} == {
        "data": "unchanged",
        "model.bin": "unchanged",
        "old.bin": "unchanged",
    }
    assert "up to date" in mlvc("status").stdout

    (repo / "data/a.txt").write_bytes(b"a changed\n")
    (repo / "data/gone.txt").unlink()
    (repo / "data/sub/deeper/new.txt").write_bytes(b"new\n")
    (repo / "data/sub/deeper/mode.txt").chmod(0o755)
    (repo / "data/brand new dir").mkdir()
    (repo / "data/brand new dir/x").write_bytes(b"x")
    (repo / "model.bin").write_bytes(b"weights v2")
    (repo / "old.bin").unlink()

    st = _status(mlvc)
    assert st["data"]["state"] == "modified"
    assert _changes(st["data"]) == {
        "data/a.txt": "modified",
        "data/gone.txt": "deleted",
        "data/sub/deeper/new.txt": "added",
        "data/sub/deeper/mode.txt": "modified",
        "data/brand new dir/x": "added",
    }
    assert st["model.bin"]["state"] == "modified"
    assert st["old.bin"]["state"] == "deleted"
    assert all(e["in_cache"] for e in st.values())

    text = mlvc("status").stdout
    assert "\x1b[" not in text, "piped output must carry no terminal escape codes"
    for path in ("data/a.txt", "data/gone.txt", "data/sub/deeper/new.txt", "model.bin", "old.bin"):
        assert path in text
    assert "data/keep.txt" not in text and "data/sub/b.txt" not in text

    only = json.loads(mlvc("status", "--json", "model.bin").stdout)["paths"]
    assert [p["path"] for p in only] == ["model.bin"]


def test_status_of_untracked_path_is_a_clear_error(repo: Path, mlvc) -> None:
    r = mlvc("status", "nothing-here", check=False)
    assert_clean_error(r, "nothing-here", "not tracked")


def test_mlvcignore_is_honoured(repo: Path, mlvc) -> None:
    build(
        repo / "data",
        {
            "keep.csv": b"1,2\n",
            "scratch.tmp": b"tmp",
            "logs/run.log": b"log",
            "sub/keep.tmp": b"negated",
            "sub/other.tmp": b"ignored",
            "sub/real.csv": b"3,4\n",
        },
    )
    (repo / ".mlvcignore").write_text("# comment\n*.tmp\nlogs/\n")
    (repo / "data/sub/.mlvcignore").write_text("!keep.tmp\n")
    out = json.loads(mlvc("add", "--json", "data").stdout)
    # keep.csv, sub/keep.tmp, sub/real.csv and sub/.mlvcignore itself
    assert out[0]["files"] == 4, out
    (repo / "data/scratch.tmp").write_bytes(b"changed, but ignored")
    (repo / "data/logs/run.log").write_bytes(b"changed, but ignored")
    (repo / "data/new.tmp").write_bytes(b"new, but ignored")
    assert _status(mlvc)["data"]["state"] == "unchanged"
    (repo / "data/sub/keep.tmp").write_bytes(b"negated, so seen")
    assert _changes(_status(mlvc)["data"]) == {"data/sub/keep.tmp": "modified"}

    # checkout leaves ignored files alone, even with --force
    mlvc("checkout", "--force")
    assert (repo / "data/scratch.tmp").read_bytes() == b"changed, but ignored"
    assert (repo / "data/new.tmp").exists()
    assert (repo / "data/sub/keep.tmp").read_bytes() == b"negated"


def test_checkout_refuses_to_lose_changes_and_force_overwrites(repo: Path, mlvc) -> None:
    build(repo / "data", SPEC)
    (repo / "single.txt").write_bytes(b"single v1")
    mlvc("add", "data", "single.txt")
    (repo / "data/a.txt").write_bytes(b"edited, not in the cache\n")
    (repo / "data/sub/untracked-new.txt").write_bytes(b"new file\n")
    (repo / "data/keep.txt").unlink()  # a deletion loses nothing: restoring is safe
    (repo / "single.txt").write_bytes(b"single edited")

    r = mlvc("checkout", check=False)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "data/a.txt" in r.stderr and "data/sub/untracked-new.txt" in r.stderr and "single.txt" in r.stderr
    assert "--force" in r.stderr
    # nothing was touched in a refused path
    assert (repo / "data/a.txt").read_bytes() == b"edited, not in the cache\n"
    assert (repo / "data/sub/untracked-new.txt").exists()
    assert not (repo / "data/keep.txt").exists()
    assert (repo / "single.txt").read_bytes() == b"single edited"

    r = mlvc("checkout", "--json", check=False)
    assert r.returncode == 1
    refused = {p["path"]: p["refused"] for p in json.loads(r.stdout)["paths"]}
    assert sorted(refused["data"]) == ["data/a.txt", "data/sub/untracked-new.txt"]

    mlvc("checkout", "--force")
    assert snapshot(repo / "data") == spec_snapshot(SPEC)
    assert (repo / "single.txt").read_bytes() == b"single v1"


def test_checkout_overwrites_changes_that_are_safe_in_the_cache(repo: Path, mlvc) -> None:
    """A workspace file whose content is already in the cache can be replaced without --force."""
    build(repo / "data", SPEC)
    mlvc("add", "data")
    (repo / "data/a.txt").write_bytes(SPEC["keep.txt"])  # content the cache has
    mlvc("checkout")
    assert (repo / "data/a.txt").read_bytes() == SPEC["a.txt"]


def test_checkout_named_path_only(repo: Path, mlvc) -> None:
    (repo / "x.txt").write_bytes(b"x")
    (repo / "y.txt").write_bytes(b"y")
    mlvc("add", "x.txt", "y.txt")
    (repo / "x.txt").unlink()
    (repo / "y.txt").unlink()
    mlvc("checkout", "x.txt.mlvc")  # the pointer path works as well as the data path
    assert (repo / "x.txt").read_bytes() == b"x"
    assert not (repo / "y.txt").exists()


def test_commit_records_current_content(repo: Path, mlvc) -> None:
    build(repo / "data", SPEC)
    (repo / "other.txt").write_bytes(b"other")
    mlvc("add", "data", "other.txt")
    h1 = pointer_hash(repo, "data")
    out = mlvc("commit").stdout
    assert "unchanged: data" in out and "unchanged: other.txt" in out
    (repo / "data/sub/b.txt").write_bytes(b"b v2\n")
    (repo / "other.txt").write_bytes(b"other v2")
    out = mlvc("commit", "data").stdout
    assert "committed: data" in out and "other.txt" not in out
    assert pointer_hash(repo, "data") != h1
    st = _status(mlvc)
    assert st["data"]["state"] == "unchanged" and st["other.txt"]["state"] == "modified"

    (repo / "data/sub/b.txt").write_bytes(b"b v1\n")
    mlvc("commit")
    assert pointer_hash(repo, "data") != h1  # content differs from SPEC
    (repo / "data/sub/b.txt").write_bytes(SPEC["sub/b.txt"])
    mlvc("commit")
    assert pointer_hash(repo, "data") == h1  # same content, same hash

    import shutil

    shutil.rmtree(repo / "data")
    assert_clean_error(mlvc("commit", "data", check=False), "data", "missing")


@pytest.mark.parametrize("link", ["copy", "hardlink"])
def test_remove_keeps_or_deletes_data(repo: Path, mlvc, link: str) -> None:
    build(repo / "data", SPEC)
    (repo / "gone.bin").write_bytes(b"to delete")
    mlvc("add", "--link", link, "data", "gone.bin")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "tracked", cwd=repo)

    out = mlvc("remove", "data").stdout
    assert "data.mlvc" in out
    assert not (repo / "data.mlvc").exists()
    assert snapshot(repo / "data") == spec_snapshot(SPEC)
    for p in (repo / "data").rglob("*.txt"):  # independent, editable copies now
        st = p.stat()
        assert st.st_nlink == 1 and st.st_mode & stat.S_IWUSR and not p.is_symlink()
    assert "/data" not in (repo / ".gitignore").read_text().splitlines()
    assert "data/" in git("status", "--porcelain", cwd=repo)  # git sees it again

    mlvc("remove", "--delete", "gone.bin")
    assert not (repo / "gone.bin").exists() and not (repo / "gone.bin.mlvc").exists()
    assert not (repo / ".gitignore").exists() or "/gone.bin" not in (repo / ".gitignore").read_text()
    assert_clean_error(mlvc("remove", "gone.bin", check=False), "gone.bin", "not tracked")


def test_status_of_pointer_whose_object_is_missing(repo: Path, mlvc) -> None:
    build(repo / "data", SPEC)
    mlvc("add", "data")
    h = pointer_hash(repo, "data")
    shutil.rmtree(repo / ".mlvc/cache/packs")  # the folder's tree is packed
    (repo / "data/a.txt").write_bytes(b"changed")
    st = _status(mlvc)
    assert st["data"]["state"] == "modified" and st["data"]["in_cache"] is False
    r = mlvc("checkout", "--force", check=False)
    assert_clean_error(r, h, "data", "not in the cache")


def test_checkout_keeps_ignored_files_of_a_folder_that_goes_away(repo: Path, mlvc) -> None:
    """Like git: a folder that leaves the tree loses its tracked files; files .mlvcignore hides stay."""
    (repo / ".mlvcignore").write_text("*.log\n")
    build(repo / "data", {"keep.csv": b"k", "run1/a.csv": b"a", "run2/b.csv": b"b"})
    mlvc("add", "data")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    import shutil

    shutil.rmtree(repo / "data/run1")
    shutil.rmtree(repo / "data/run2")
    mlvc("commit")
    git("commit", "-qam", "v2: no runs", cwd=repo)
    git("checkout", "-q", "HEAD~1", cwd=repo)
    mlvc("checkout")
    (repo / "data/run1/debug.log").write_text("a log only the workspace has")
    git("checkout", "-q", "main", cwd=repo)
    mlvc("checkout")
    assert not (repo / "data/run2").exists()
    assert not (repo / "data/run1/a.csv").exists()
    assert (repo / "data/run1/debug.log").read_text() == "a log only the workspace has"
    # the kept folder is an (empty) folder to mlvc: the only difference, and no file changed
    st = _status(mlvc)["data"]
    assert st["state"] == "modified" and st["changes"] == []
    os.unlink(repo / "data/run1/debug.log")
    os.rmdir(repo / "data/run1")
    assert _status(mlvc)["data"]["state"] == "unchanged"
