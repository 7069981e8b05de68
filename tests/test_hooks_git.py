"""mlvc's git hooks run by the real git: install/uninstall, pre-commit, post-checkout, pre-push."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import git
from hookhelpers import SOURCE_ROOT, git_run, put_mlvc_on_path

from mlvc.githooks.scripts import HOOKS, script


@pytest.fixture
def hooked(repo, mlvc, tmp_path, monkeypatch):
    """The test repo with `data/` tracked and committed, mlvc on PATH and the hooks installed."""
    put_mlvc_on_path(tmp_path / "bin", monkeypatch)
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text("one\n")
    mlvc("add", "data")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "data v1", cwd=repo)
    mlvc("install-hooks")
    return repo


def _hook_files(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (p.read_text(), p.stat().st_mode) for p in sorted(folder.iterdir()) if not p.name.endswith(
        ".sample")}


def test_shipped_scripts_are_what_install_writes():
    for name in HOOKS:
        shipped = SOURCE_ROOT / "hooks" / name
        assert shipped.read_text() == script(name), f"hooks/{name} is out of date with mlvc/githooks/scripts.py"
        assert shipped.stat().st_mode & stat.S_IXUSR
        assert subprocess.run(["sh", "-n", str(shipped)]).returncode == 0


def test_install_twice_changes_nothing_and_uninstall_removes(repo, mlvc):
    folder = repo / ".git" / "hooks"
    first = mlvc("install-hooks", "--json")
    assert '"installed"' in first.stdout
    after_one = _hook_files(folder)
    assert set(after_one) == set(HOOKS) and all(mode & stat.S_IXUSR for _, mode in after_one.values())
    second = mlvc("install-hooks")
    assert second.stdout.count("unchanged") == len(HOOKS)
    assert _hook_files(folder) == after_one
    mlvc("install-hooks", "--uninstall")
    assert _hook_files(folder) == {}


def test_core_hookspath_is_respected(repo, mlvc):
    git("config", "core.hooksPath", ".githooks", cwd=repo)
    mlvc("install-hooks")
    assert sorted(p.name for p in (repo / ".githooks").iterdir()) == sorted(HOOKS)
    assert _hook_files(repo / ".git" / "hooks") == {}


def test_user_hook_is_chained_and_restored(hooked, mlvc):
    folder = hooked / ".git" / "hooks"
    mlvc("install-hooks", "--uninstall")
    user = "#!/bin/sh\necho user-hook-ran >> \"$(git rev-parse --git-dir)/user-hook.log\"\n"
    (folder / "pre-commit").write_text(user)
    (folder / "pre-commit").chmod(0o755)
    assert "chaining" in mlvc("install-hooks").stdout
    assert "chaining" not in mlvc("install-hooks").stdout  # idempotent with a chained hook too
    (hooked / "notes.txt").write_text("x\n")
    git("add", "notes.txt", cwd=hooked)
    git("commit", "-qm", "notes", cwd=hooked)
    assert (hooked / ".git" / "user-hook.log").read_text() == "user-hook-ran\n"
    # a failing user hook still stops the commit, before mlvc runs
    (folder / "pre-commit.pre-mlvc").write_text("#!/bin/sh\necho user says no >&2\nexit 3\n")
    (hooked / "notes.txt").write_text("y\n")
    r = git_run("commit", "-qam", "refused by the user hook", cwd=hooked)
    assert r.returncode != 0 and "user says no" in r.stderr
    (folder / "pre-commit.pre-mlvc").write_text(user)
    mlvc("install-hooks", "--uninstall")
    assert (folder / "pre-commit").read_text() == user
    assert not (folder / "pre-commit.pre-mlvc").exists()


def test_commit_with_stale_data_is_refused(hooked, mlvc):
    (hooked / "data" / "a.txt").write_text("two\n")
    (hooked / "notes.txt").write_text("x\n")
    git("add", "notes.txt", cwd=hooked)
    r = git_run("commit", "-qm", "data changed, pointer not", cwd=hooked)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "data: changed since data.mlvc was written" in r.stderr and "`mlvc commit data`" in r.stderr
    mlvc("commit", "data")
    r = git_run("commit", "-qm", "pointer updated, not staged", cwd=hooked)
    assert r.returncode != 0 and "`git add data.mlvc`" in r.stderr
    git("add", "data.mlvc", cwd=hooked)
    r = git_run("commit", "-qm", "data v2", cwd=hooked)
    assert r.returncode == 0, r.stderr
    # warn-only by config: reported, not refused
    (hooked / "data" / "a.txt").write_text("three\n")
    mlvc("config", "hooks.pre_commit", "warn")
    r = git_run("commit", "-qam", "warned", "--allow-empty", cwd=hooked)
    assert r.returncode == 0 and "changed since data.mlvc was written" in r.stderr


def test_commit_with_stale_lock_is_refused(hooked, mlvc):
    (hooked / "in.txt").write_text("1\n")
    (hooked / "mlvc.yaml").write_text(
        "stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n")
    mlvc("repro")
    git("add", "-A", cwd=hooked)
    git("commit", "-qm", "pipeline", cwd=hooked)
    (hooked / "in.txt").write_text("2\n")
    (hooked / "other.txt").write_text("unrelated\n")
    git("add", "other.txt", cwd=hooked)
    r = git_run("commit", "-qm", "an unrelated file: the lock still describes what is committed", cwd=hooked)
    assert r.returncode == 0, r.stderr
    git("add", "in.txt", cwd=hooked)
    r = git_run("commit", "-qm", "dep changed without repro", cwd=hooked)
    assert r.returncode != 0
    assert "stage 'copy' is stale for the staged in.txt" in r.stderr and "`mlvc repro copy`" in r.stderr
    mlvc("repro")
    git("add", "mlvc.lock", cwd=hooked)
    r = git_run("commit", "-qm", "repro'd", cwd=hooked)
    assert r.returncode == 0, r.stderr


def test_checkout_other_branch_brings_its_data(hooked, mlvc):
    git("checkout", "-qb", "other", cwd=hooked)
    (hooked / "data" / "a.txt").write_text("other branch\n")
    (hooked / "data" / "b.txt").write_text("only here\n")
    mlvc("commit", "data")
    git("add", "data.mlvc", cwd=hooked)
    git("commit", "-qm", "other data", cwd=hooked)
    r = git_run("checkout", "main", cwd=hooked)
    assert r.returncode == 0, r.stderr
    assert (hooked / "data" / "a.txt").read_text() == "one\n" and not (hooked / "data" / "b.txt").exists()
    git("checkout", "-q", "other", cwd=hooked)
    assert (hooked / "data" / "b.txt").read_text() == "only here\n"
    git("checkout", "-q", "main", cwd=hooked)
    git("merge", "-q", "other", cwd=hooked)  # fast-forward: post-merge checks the data out
    assert (hooked / "data" / "a.txt").read_text() == "other branch\n"
    git("checkout", "-qb", "back", "main~1", cwd=hooked)
    for p in (hooked / ".mlvc" / "cache").rglob("*"):  # an empty cache, as in a fresh clone
        if p.is_file():
            p.unlink()
    r = git_run("checkout", "main", cwd=hooked)
    assert "`mlvc pull`" in r.stderr


def test_git_push_pushes_the_data_to_the_mlvc_remote(hooked, mlvc, tmp_path):
    store, bare = tmp_path / "store", tmp_path / "bare.git"
    git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=hooked)
    mlvc("remote", "add", "store", str(store), "--default")
    folder = hooked / ".git" / "hooks"
    mlvc("install-hooks", "--uninstall")
    (folder / "pre-push").write_text('#!/bin/sh\ncat > "$(git rev-parse --git-dir)/pushed-refs"\n')
    (folder / "pre-push").chmod(0o755)
    mlvc("install-hooks")
    (hooked / "data" / "a.txt").write_text("two\n")
    mlvc("commit", "data")
    git("add", "-A", cwd=hooked)
    git("commit", "-qm", "data v2", cwd=hooked)
    r = git_run("push", "origin", "main", cwd=hooked)
    assert r.returncode == 0, r.stderr
    assert "pushed 4 objects" in r.stderr  # both commits' file and tree
    assert "refs/heads/main" in (hooked / ".git" / "pushed-refs").read_text()  # the user hook got stdin
    for sha in (git("rev-parse", "main~1", cwd=hooked).strip(), git("rev-parse", "main", cwd=hooked).strip()):
        pointer = git("show", f"{sha}:data.mlvc", cwd=hooked)
        h = next(line.split()[1] for line in pointer.splitlines() if line.startswith("hash:"))
        assert (store / h[:2] / h[2:]).is_file()
    # nothing new to send: the hook pushes nothing and says nothing
    (hooked / "n.txt").write_text("n\n")
    git("add", "n.txt", cwd=hooked)
    git("commit", "-qm", "no data", cwd=hooked)
    r = git_run("push", "origin", "main", cwd=hooked)
    assert r.returncode == 0 and "pushed" not in r.stderr


def test_hooks_do_nothing_without_mlvc(tmp_path, monkeypatch):
    """A plain git repo with mlvc's hooks (a teammate without .mlvc/, or without mlvc): commits go through."""
    plain = tmp_path / "plain"
    plain.mkdir()
    git("init", "-q", cwd=plain)
    for name in HOOKS:
        dest = plain / ".git" / "hooks" / name
        dest.write_text((SOURCE_ROOT / "hooks" / name).read_text())
        dest.chmod(0o755)
    put_mlvc_on_path(tmp_path / "bin", monkeypatch)
    (plain / "f.txt").write_text("x\n")
    git("add", "f.txt", cwd=plain)
    r = git_run("commit", "-qm", "no .mlvc", cwd=plain)
    assert r.returncode == 0 and r.stderr == ""
    (plain / ".mlvc").mkdir()  # an mlvc repo, but mlvc is not installed here
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    r = git_run("commit", "-qm", "no mlvc", "--allow-empty", cwd=plain)
    assert r.returncode == 0 and "mlvc is not on PATH" in r.stderr


def test_hook_command_outside_a_repository_is_quiet(tmp_path):
    import sys

    r = subprocess.run([sys.executable, "-m", "mlvc", "hook", "pre-commit"], cwd=tmp_path, capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(SOURCE_ROOT)})
    assert r.returncode == 0 and r.stdout == r.stderr == ""
