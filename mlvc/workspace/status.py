"""`mlvc status`: each tracked path against its pointer, down to the file.

A no-op status is the common case and is kept light: each tracked folder is walked (`stat` only)
and its listing signature looked up in the stat cache, or the file-system watcher gives that
signature without a walk. Only a folder whose signature is unknown goes to the scanner, which
hashes what changed and diffs the trees; the scanner and the diff are imported only then.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from mlvc.errors import MlvcError
from mlvc.pointer import Pointer, Ref
from mlvc.progress import NULL, Progress
from mlvc.tree import TREE, Tree
from mlvc.workspace import watched
from mlvc.workspace.walk import DirNode, begin_walk_folder

TYPE_CHECKING = False  # typing's flag, without typing's ~5 ms of imports
if TYPE_CHECKING:
    from mlvc.workspace.diff import Change
    from mlvc.workspace.scan import Scanner

UNCHANGED, MODIFIED, DELETED, NOT_IN_CACHE = "unchanged", "modified", "deleted", "not in cache"


class PathStatus:
    """One tracked path's state, and for a modified folder the files that changed in it."""

    __slots__ = ("path", "state", "changes", "in_cache")

    def __init__(self, path: str, state: str, changes: list[Change] | None = None, in_cache: bool = True) -> None:
        self.path = path
        self.state = state
        self.changes: list[Change] = changes or []
        self.in_cache = in_cache

    def __repr__(self) -> str:
        return f"PathStatus({self.path!r}, {self.state!r}, {len(self.changes)} changes, in_cache={self.in_cache})"

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "state": self.state,
            "in_cache": self.in_cache,
            "changes": [c.to_dict() for c in self.changes],
        }


def workspace_loader(scanner: Scanner, node: DirNode):
    """A TreeLoader over a scanned folder: trees by hash, built only where a diff looks."""
    by_hash: dict[str, DirNode] = {}
    for d in node.iter_dirs():
        if d.hash:
            by_hash.setdefault(d.hash, d)

    def load(h: str) -> Tree:
        return scanner.build_tree(by_hash[h])

    return load


def path_status(
    repo,
    scanner: Callable[[], Scanner],
    ptr: Pointer,
    watched_hash: str | None = None,
    walk: Callable[[], DirNode] | None = None,
) -> PathStatus:
    """`scanner` gives the status's one Scanner; `watched_hash`: the folder's tree hash as the
    file-system watcher sees it (no walk); `walk`: the folder's walk, begun (`_begin_walk`)."""
    ref = ptr.ref
    in_cache = repo.objects.has(ref.hash)
    if not os.path.lexists(repo.abs(ptr.path)):
        return PathStatus(ptr.path, DELETED, in_cache=in_cache)
    if watched_hash == ref.hash:
        return PathStatus(ptr.path, UNCHANGED, in_cache=in_cache)
    walked = walk() if walk is not None else None
    if walked is not None and _known_hash(repo, walked) == ref.hash:
        return PathStatus(ptr.path, UNCHANGED, in_cache=in_cache)
    current, node = scanner().scan(ptr.path, expect_files=ref.files, walked=walked)
    if current.hash == ref.hash:
        return PathStatus(ptr.path, UNCHANGED, in_cache=in_cache)
    changes: list[Change] = []
    if ref.kind == TREE and current.kind == TREE and in_cache:
        from mlvc.workspace.diff import diff_trees

        assert isinstance(node, DirNode)
        try:
            changes = diff_trees(
                ptr.path, ref.hash, current.hash, repo.objects.read_tree, workspace_loader(scanner(), node)
            )
        except MlvcError:
            changes = []  # a subtree is missing from the cache: report the path, not the files
    return PathStatus(ptr.path, MODIFIED, changes, in_cache=in_cache)


def _begin_walk(repo, ptr: Pointer) -> Callable[[], DirNode] | None:
    """The tracked folder's walk (stats only), begun, where the pointer and the workspace both say
    folder: the result gives the DirNode."""
    if ptr.ref.kind != TREE or not os.path.isdir(repo.abs(ptr.path)):
        return None
    return begin_walk_folder(repo.root, ptr.path, ptr.ref.files)


def _known_hash(repo, node: DirNode) -> str | None:
    """The tree hash the stat cache recorded for the folder's listing signature, if any."""
    known = repo.stat_cache.lookup_trees([node.sig]).get(node.sig)
    return known[0] if known else None


def status(repo, ptrs: list[Pointer], progress: Progress = NULL) -> list[PathStatus]:
    @functools.cache
    def scanner() -> Scanner:  # made, and its module imported, only for a path that needs a scan
        from mlvc.workspace.scan import Scanner

        return Scanner(repo, store=False, progress=progress)

    hashes = watched.tree_hashes(repo, ptrs)
    # Every walk begins before the first answer: a big folder's forked child walks while this
    # process opens the object store and the stat cache (imports, pack index, SQLite: ~10 ms it
    # would otherwise spend alone), then walks its share.
    walks = [_begin_walk(repo, p) if hashes.get(p.path) != p.ref.hash else None for p in ptrs]
    if any(walks):
        repo.stat_cache.open()
    return [path_status(repo, scanner, p, hashes.get(p.path), w) for p, w in zip(ptrs, walks, strict=True)]


def current_ref(repo, rel: str) -> Ref:
    from mlvc.workspace.scan import Scanner

    return Scanner(repo).scan(rel)[0]
