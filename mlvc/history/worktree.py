"""A temporary worktree of one commit, built from git objects, sharing this repo's cache and run cache.

    with Worktree(repo, hist, sha) as wt:
        wt.repro()                 # `mlvc repro` there: unchanged stages come from the run cache
        wt.view()                  # read its metrics like any workspace

The user's workspace, index and HEAD are never touched: files are written from the commit's
git tree, tracked data is checked out from the shared cache (pulled from the default remote
when the cache lacks it), and the folder is deleted afterwards. Stage commands run as
`mlvc repro` in a subprocess, so a crashing stage cannot take the calling command down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from mlvc import gitrepo
from mlvc.errors import ReproduceError

TAIL = 2000


class Worktree:
    def __init__(self, repo, hist, sha: bytes, quiet: bool = True) -> None:
        self.repo = repo
        self.hist = hist
        self.sha = sha
        self.quiet = quiet
        self.root = ""

    def __enter__(self) -> Worktree:
        self.root = tempfile.mkdtemp(prefix=f"mlvc-wt-{self.sha.decode()[:7]}-")
        try:
            self._materialize()
            self._configure()
            self._run("checkout", allow_fail=True)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.root and os.path.isdir(self.root):
            shutil.rmtree(self.root, ignore_errors=True)

    # -- building ---------------------------------------------------------------
    def _materialize(self) -> None:
        from dulwich.objects import Tree

        gitrepo.init(self.root)  # stage scripts may ask git things; an empty repo answers
        store = self.hist.git.object_store
        tree = self.hist.commit(self.sha).tree
        if self.hist.prefix:
            from dulwich.object_store import tree_lookup_path

            _mode, tree = tree_lookup_path(store.__getitem__, tree, self.hist.prefix.strip("/").encode())
        stack = [(tree, self.root)]
        while stack:
            sha, folder = stack.pop()
            obj = store[sha]
            if not isinstance(obj, Tree):
                continue
            os.makedirs(folder, exist_ok=True)
            for item in obj.items():
                path = os.path.join(folder, os.fsdecode(item.path))
                kind = item.mode & 0o170000
                if kind == 0o040000:
                    stack.append((item.sha, path))
                elif kind == 0o120000:
                    os.symlink(os.fsdecode(store[item.sha].data), path)
                elif kind == 0o100000:
                    with open(path, "wb") as f:
                        f.write(store[item.sha].data)
                    if item.mode & 0o111:
                        os.chmod(path, 0o755)

    def _configure(self) -> None:
        from mlvc.config import Config

        dot = os.path.join(self.root, ".mlvc")
        os.makedirs(os.path.join(dot, "tmp"), exist_ok=True)
        if os.path.isfile(self.repo.config.local_path):
            shutil.copyfile(self.repo.config.local_path, os.path.join(dot, "config.local"))
        os.makedirs(self.repo.cache_dir, exist_ok=True)
        Config(os.path.join(dot, "config"), os.path.join(dot, "config.local")).set(
            "cache", "dir", self.repo.cache_dir, local=True
        )
        runs = os.path.join(self.repo.dot, "runs")
        os.makedirs(runs, exist_ok=True)
        os.symlink(runs, os.path.join(dot, "runs"))

    # -- running ----------------------------------------------------------------
    def _run(self, *args: str, allow_fail: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "mlvc", "-q", *args], cwd=self.root, stdin=subprocess.DEVNULL,
            capture_output=True, text=True,
        )
        if proc.returncode != 0 and not allow_fail:
            tail = (proc.stderr or proc.stdout).strip()[-TAIL:]
            raise ReproduceError(f"mlvc {' '.join(args)} failed at {self.sha.decode()[:7]} (exit {proc.returncode}): "
                                 f"{tail.splitlines()[-1] if tail else 'no output'}")
        return proc

    def repro(self, force: bool = False, run_cache: bool = True) -> None:
        """Bring the pipeline up to date there (pulling missing data from the default remote once)."""
        args = ["repro"] + (["--force"] if force else []) + ([] if run_cache else ["--no-run-cache"])
        proc = self._run(*args, allow_fail=True)
        if proc.returncode != 0 and "not in the cache" in (proc.stderr + proc.stdout):
            self._run("pull", allow_fail=True)
            self._run("checkout", allow_fail=True)
            proc = self._run(*args, allow_fail=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip()
            last = tail.splitlines()[-1] if tail else "no output"
            raise ReproduceError(f"mlvc repro failed in a worktree of {self.sha.decode()[:7]} "
                                 f"(exit {proc.returncode}): {last}")

    def view(self):
        from mlvc.history.views import WorkspaceView
        from mlvc.repo import Repo

        return WorkspaceView(Repo(self.root))
