"""`mlvc status`: each tracked path against its pointer, down to the file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlvc.errors import MlvcError
from mlvc.pointer import Pointer, Ref
from mlvc.progress import NULL, Progress
from mlvc.tree import TREE, Tree
from mlvc.workspace import watched
from mlvc.workspace.diff import Change, diff_trees
from mlvc.workspace.scan import DirNode, Scanner

UNCHANGED, MODIFIED, DELETED, NOT_IN_CACHE = "unchanged", "modified", "deleted", "not in cache"


@dataclass
class PathStatus:
    path: str
    state: str
    changes: list[Change] = field(default_factory=list)
    in_cache: bool = True

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


def path_status(repo, scanner: Scanner, ptr: Pointer, watched_hash: str | None = None) -> PathStatus:
    """`watched_hash`: the folder's tree hash as the file-system watcher sees it (no walk)."""
    ref = ptr.ref
    in_cache = repo.objects.has(ref.hash)
    if not os.path.lexists(repo.abs(ptr.path)):
        return PathStatus(ptr.path, DELETED, in_cache=in_cache)
    if watched_hash == ref.hash:
        return PathStatus(ptr.path, UNCHANGED, in_cache=in_cache)
    current, node = scanner.scan(ptr.path, expect_files=ref.files)
    if current.hash == ref.hash:
        return PathStatus(ptr.path, UNCHANGED, in_cache=in_cache)
    changes: list[Change] = []
    if ref.kind == TREE and current.kind == TREE and in_cache:
        assert isinstance(node, DirNode)
        try:
            changes = diff_trees(
                ptr.path, ref.hash, current.hash, repo.objects.read_tree, workspace_loader(scanner, node)
            )
        except MlvcError:
            changes = []  # a subtree is missing from the cache: report the path, not the files
    return PathStatus(ptr.path, MODIFIED, changes, in_cache=in_cache)


def status(repo, ptrs: list[Pointer], progress: Progress = NULL) -> list[PathStatus]:
    scanner = Scanner(repo, store=False, progress=progress)
    hashes = watched.tree_hashes(repo, ptrs)
    return [path_status(repo, scanner, p, hashes.get(p.path)) for p in ptrs]


def current_ref(repo, rel: str) -> Ref:
    return Scanner(repo).scan(rel)[0]
