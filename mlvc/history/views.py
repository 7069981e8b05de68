"""A revision or the workspace, as the history commands read it: files, tracked data, results.

`History` holds one dulwich repository for a whole command (walking 1,000 commits opens git
once) and hands out `CommitView`s; `WorkspaceView` reads the same things from the disk, so
`metrics diff HEAD` (against the workspace) and `metrics diff A B` share one code path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from mlvc import gitrepo
from mlvc.errors import MlvcError, RevisionError
from mlvc.history import specread
from mlvc.history.specread import Declared

WORKSPACE = "workspace"


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    author: str
    time: int  # committer time, seconds since the epoch
    message: str  # the first line

    @property
    def short(self) -> str:
        return self.sha[:7]

    def to_dict(self) -> dict[str, object]:
        return {"commit": self.sha, "parents": list(self.parents), "author": self.author, "time": self.time,
                "message": self.message}


class History:
    """The git history of an mlvc repository, opened once per command."""

    def __init__(self, repo) -> None:
        self.repo = repo
        self.git = gitrepo.open_repo(repo.root)
        if self.git is None:
            raise RevisionError(f"{repo.root}: not in a git repository, so there is no history to read")
        prefix = os.path.relpath(repo.root, self.git.path).replace(os.sep, "/")
        self.prefix = "" if prefix == "." else prefix + "/"
        self._info: dict[bytes, CommitInfo] = {}
        self._commits: dict[bytes, object] = {}
        self._trees: dict[bytes, object] = {}

    def close(self) -> None:
        self.git.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- revisions ------------------------------------------------------------
    def resolve(self, rev: str) -> bytes:
        from mlvc.history.revision import resolve

        return resolve(self.git, rev)

    def view(self, rev: str) -> View:
        """`rev` as a view; the word `workspace` names the work tree."""
        if rev == WORKSPACE:
            return WorkspaceView(self.repo)
        return self.commit_view(self.resolve(rev), rev)

    def commit_view(self, sha: bytes, label: str | None = None) -> CommitView:
        return CommitView(self, sha, label or sha.decode()[:7])

    def info(self, sha: bytes) -> CommitInfo:
        if sha not in self._info:
            c = self.commit(sha)
            message = c.message.decode("utf-8", "replace").strip().splitlines()
            self._info[sha] = CommitInfo(
                sha.decode(), tuple(p.decode() for p in c.parents),
                c.author.decode("utf-8", "replace"), c.commit_time, message[0] if message else "",
            )
        return self._info[sha]

    def parents(self, sha: bytes) -> list[bytes]:
        return list(self.commit(sha).parents)

    # -- walks ----------------------------------------------------------------
    def first_parent(self, start: bytes, limit: int | None = None) -> Iterator[bytes]:
        sha: bytes | None = start
        n = 0
        while sha is not None and (limit is None or n < limit):
            yield sha
            n += 1
            parents = self.commit(sha).parents
            sha = parents[0] if parents else None

    def ancestors(self, start: bytes) -> set[bytes]:
        seen: set[bytes] = set()
        stack = [start]
        while stack:
            sha = stack.pop()
            if sha in seen:
                continue
            seen.add(sha)
            stack.extend(self.commit(sha).parents)
        return seen

    def all_commits(self) -> list[bytes]:
        """Every commit reachable from a ref, newest first (by committer time)."""
        shas = list(gitrepo.all_commits(self.git))
        return sorted(shas, key=lambda s: (-self.info(s).time, s))

    def branches(self) -> list[tuple[str, bytes]]:
        """(branch name, commit) for every local branch."""
        out = []
        for ref, sha in sorted(self.git.get_refs().items()):
            if ref.startswith(b"refs/heads/"):
                out.append((ref[len(b"refs/heads/"):].decode("utf-8", "replace"), sha))
        return out

    def read_at(self, sha: bytes, rel: str) -> bytes | None:
        """Bytes of the git file `rel` at commit `sha`, or None when it is not a file there."""
        store = self.git.object_store
        node = self.commit(sha).tree
        parts = (self.prefix + rel).split("/")
        for i, name in enumerate(parts):
            tree = self._tree(node)
            if tree is None:
                return None
            try:
                mode, node = tree[name.encode()]
            except KeyError:
                return None
            if i < len(parts) - 1 and mode & 0o170000 != 0o040000:
                return None
        if mode & 0o170000 not in (0o100000, 0o120000):
            return None
        return store[node].data

    def commit(self, sha: bytes):
        c = self._commits.get(sha)
        if c is None:
            c = self._commits[sha] = self.git.object_store[sha]
        return c

    def _tree(self, sha: bytes):
        """A parsed git tree (trees shared between commits are read once per command)."""
        from dulwich.objects import Tree

        t = self._trees.get(sha)
        if t is None:
            obj = self.git.object_store[sha]
            if not isinstance(obj, Tree):
                return None
            if len(self._trees) > 20000:
                self._trees.clear()
            t = self._trees[sha] = obj
        return t


class View:
    """What history commands read at one revision (a commit, or the workspace)."""

    label: str
    commit: bytes | None = None

    def read(self, rel: str) -> bytes | None:  # a file committed to git (or on disk)
        raise NotImplementedError

    def snapshot(self):  # a revision.Snapshot for tracked data (None for the workspace)
        return None

    def pointer_files(self) -> list[tuple[str, bytes]]:  # (path, bytes) of every `*.mlvc` pointer
        raise NotImplementedError

    def declared(self) -> Declared:
        return specread.declared(self.read)

    def result_bytes(self, rel: str) -> bytes | None:
        """A metrics/params file: from git, else from the cache when mlvc tracks it (pointer or lock)."""
        data = self.read(rel)
        if data is not None:
            return data
        return self._tracked_bytes(rel)

    def _tracked_bytes(self, rel: str) -> bytes | None:
        return None


class CommitView(View):
    def __init__(self, history: History, sha: bytes, label: str) -> None:
        self.history = history
        self.commit = sha
        self.label = label
        self._snap = None

    def read(self, rel: str) -> bytes | None:
        return self.history.read_at(self.commit, rel)

    def pointer_files(self) -> list[tuple[str, bytes]]:
        from mlvc import pointer as pointers

        hist = self.history
        tree = hist.commit(self.commit).tree
        if hist.prefix:
            from dulwich.object_store import tree_lookup_path

            try:
                _mode, tree = tree_lookup_path(hist.git.object_store.__getitem__, tree, hist.prefix.strip("/").encode())
            except KeyError:
                return []
        return list(gitrepo.iter_files(hist.git, tree, lambda p: p.endswith(pointers.SUFFIX)))

    def snapshot(self):
        if self._snap is None:
            from mlvc.history.revision import Snapshot

            self._snap = Snapshot(self.history.repo, self.commit.decode())
        return self._snap

    def close(self) -> None:
        if self._snap is not None:
            self._snap.close()
            self._snap = None

    def _tracked_bytes(self, rel: str) -> bytes | None:
        try:
            return self.snapshot().read_bytes(rel)
        except MlvcError:
            return None


class WorkspaceView(View):
    label = WORKSPACE

    def __init__(self, repo) -> None:
        self.repo = repo

    def pointer_files(self) -> list[tuple[str, bytes]]:
        from mlvc.workspace.tracked import find_pointer_files

        return [(rel, self.read(rel) or b"") for rel in find_pointer_files(self.repo.root)]

    def _tracked_bytes(self, rel: str) -> bytes | None:
        return None  # the workspace file itself was read already (or is missing)

    def read(self, rel: str) -> bytes | None:
        try:
            with open(self.repo.abs(rel), "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
