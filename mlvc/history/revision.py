"""The repository as it was at a git revision, read from git's object database (dulwich).

    with Snapshot(repo, "main~2") as snap:
        snap.commit                  # b"3f2a..." (hex sha of the commit)
        snap.read_file("params.yaml")  # bytes of a file committed to git
        snap.tracked("data/train.csv")  # Ref of mlvc-tracked data (or a path inside a tracked folder)
        snap.read_bytes("data/train.csv")  # the bytes, from the mlvc cache for tracked data

Revisions: branch, tag (light or annotated), HEAD, full or short (≥ 4 digits) hash, `refs/...`,
each followed by any of `~N`, `^`, `^N`, `^{}`. No checkout, no `git` subprocess.
Paths are repo-relative posix paths (the mlvc root may be a subfolder of the git work tree).
"""

from __future__ import annotations

import os
import re

from mlvc import gitrepo
from mlvc import pointer as pointers
from mlvc.errors import ObjectMissingError, PathError, RevisionError
from mlvc.pointer import Ref
from mlvc.tree import FILE, TREE

_OP = re.compile(r"(~|\^)(\{\w*\}|\d*)")
_DIR_MODE = 0o040000
_FILE_MODE = 0o100000
_LINK_MODE = 0o120000


def resolve(git, rev: str) -> bytes:
    """The hex sha (bytes) of the commit `rev` names in the dulwich repo `git`."""
    from dulwich.objects import Commit
    from dulwich.objectspec import AmbiguousShortId, parse_commit

    rev = rev.strip()
    cut = min((i for i in (rev.find("~"), rev.find("^")) if i >= 0), default=len(rev))
    base, suffix = rev[:cut] or "HEAD", rev[cut:]
    if base == "@":
        base = "HEAD"
    ops = _OP.findall(suffix)
    if "".join(op + arg for op, arg in ops) != suffix:
        raise RevisionError(f"{rev}: not a revision (suffixes allowed: ~N, ^, ^N, ^{{}})")
    try:
        commit = parse_commit(git, base.encode())
    except AmbiguousShortId:
        raise RevisionError(f"{rev}: short hash {base} is ambiguous; give more digits") from None
    except (KeyError, ValueError):
        raise RevisionError(f"{rev}: unknown revision (not a branch, tag or commit in {git.path})") from None
    for op, arg in ops:
        if arg.startswith("{"):
            continue  # ^{} / ^{commit}: parse_commit already peeled tags
        n = int(arg) if arg else 1
        steps, index = (n, 1) if op == "~" else (1, n)
        if op == "^" and n == 0:
            continue
        for _ in range(steps):
            if len(commit.parents) < index:
                raise RevisionError(f"{rev}: commit {commit.id.decode()[:10]} has no parent {index}")
            commit = git.object_store[commit.parents[index - 1]]
            if not isinstance(commit, Commit):
                raise RevisionError(f"{rev}: parent is not a commit")
    return commit.id


class Snapshot:
    """Read-only view of the repository's files at one commit."""

    def __init__(self, repo, rev: str = "HEAD") -> None:
        self.repo = repo
        self.rev = rev
        self._git = gitrepo.open_repo(repo.root)
        if self._git is None:
            raise RevisionError(f"{rev}: {repo.root} is not in a git repository, so it has no revisions")
        try:
            self.commit = resolve(self._git, rev)
            self._tree = self._git.object_store[self.commit].tree
        except BaseException:
            self._git.close()
            raise
        prefix = os.path.relpath(repo.root, self._git.path).replace(os.sep, "/")
        self._prefix = "" if prefix == "." else prefix + "/"

    def close(self) -> None:
        self._git.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def short(self) -> str:
        return self.commit.decode()[:10]

    # -- files committed to git ----------------------------------------------
    def _entry(self, rel: str) -> tuple[int, bytes] | None:
        from dulwich.errors import NotTreeError
        from dulwich.object_store import tree_lookup_path

        path = (self._prefix + rel).strip("/")
        if not path:
            return _DIR_MODE, self._tree
        try:
            mode, sha = tree_lookup_path(self._git.object_store.__getitem__, self._tree, path.encode())
        except (KeyError, NotADirectoryError, NotTreeError):
            return None
        return mode, sha

    def is_file(self, rel: str) -> bool:
        e = self._entry(rel)
        return e is not None and e[0] & 0o170000 in (_FILE_MODE, _LINK_MODE)

    def is_dir(self, rel: str) -> bool:
        e = self._entry(rel)
        return e is not None and e[0] & 0o170000 == _DIR_MODE

    def read_file(self, rel: str) -> bytes:
        """Bytes of a file committed to git at this revision."""
        e = self._entry(rel)
        if e is None or e[0] & 0o170000 not in (_FILE_MODE, _LINK_MODE):
            raise PathError(f"{rel}: not a file in git at {self.rev} ({self.short})")
        return self._git.object_store[e[1]].data

    def list_files(self, rel: str) -> list[str]:
        """Repo-relative paths of every file committed under folder `rel` (sorted)."""
        e = self._entry(rel)
        if e is None or e[0] & 0o170000 != _DIR_MODE:
            raise PathError(f"{rel}: not a folder in git at {self.rev} ({self.short})")
        base = rel.strip("/") + "/" if rel.strip("/") else ""
        return sorted(base + p for p, _ in gitrepo.iter_files(self._git, e[1], lambda _p: True))

    # -- data tracked by mlvc --------------------------------------------------
    def tracked(self, rel: str) -> Ref | None:
        """The Ref of tracked data at `rel` (itself tracked, or inside a tracked folder); None if untracked.

        Inside a tracked folder the tree objects are read from the cache (ObjectMissingError if absent).
        """
        rel = rel.strip("/")
        parts = rel.split("/")
        for i in range(len(parts), 0, -1):
            top = "/".join(parts[:i])
            if not self.is_file(pointers.pointer_path_for(top)):
                continue
            ptr_rel = pointers.pointer_path_for(top)
            ref = pointers.parse(self.read_file(ptr_rel).decode("utf-8"), ptr_rel).ref
            return descend(self.repo.objects, ref, parts[i:], f"{rel} at {self.rev}")
        return None

    def read_bytes(self, rel: str) -> bytes:
        """The bytes of a file at this revision: tracked data from the cache, else the git blob."""
        ref = self.tracked(rel)
        if ref is None:
            return self.read_file(rel)
        if ref.kind != FILE:
            raise PathError(f"{rel}: is a folder at {self.rev} ({self.short}), not a file")
        return self.repo.objects.read(ref.hash)


def descend(objects, ref: Ref, parts: list[str], where: str) -> Ref | None:
    """The Ref of `parts` below tracked `ref`, walking tree objects in the cache; None if not there."""
    for name in parts:
        if ref.kind != TREE:
            return None
        if not objects.has(ref.hash):
            raise ObjectMissingError(ref.hash, where)
        entry = objects.read_tree(ref.hash).by_name().get(name)
        if entry is None:
            return None
        files = 1 if entry.kind == FILE else count_files(objects, entry.hash, where)
        ref = Ref(entry.hash, entry.kind, entry.size, files)
    return ref


def count_files(objects, tree_hash: str, where: str) -> int:
    return sum(1 for _ in walk_files(objects, tree_hash, where))


def walk_files(objects, tree_hash: str, where: str, prefix: str = ""):
    """Yield (relative path, file entry) for every file under the tree object `tree_hash`, sorted."""
    if not objects.has(tree_hash):
        raise ObjectMissingError(tree_hash, where)
    for entry in objects.read_tree(tree_hash):
        if entry.kind == TREE:
            yield from walk_files(objects, entry.hash, where, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}", entry
