"""The workspace's side of the file-system watcher (mlvc.fsmonitor), where `core.fsmonitor` is on."""

from __future__ import annotations

import os

from mlvc.pointer import Pointer
from mlvc.tree import TREE


def enabled(repo) -> bool:
    return repo.config.get_bool("core", "fsmonitor")


def tree_hashes(repo, ptrs: list[Pointer]) -> dict[str, str]:
    """Tracked folder -> its tree hash, from the watcher's listing signature and the stat cache,
    for those folders both know; a folder left out is walked as without a watcher."""
    folders = [p.path for p in ptrs if p.ref.kind == TREE]
    if not folders or not enabled(repo):
        return {}
    from mlvc.fsmonitor import client

    sigs = client.signatures(repo.root, folders)
    known = repo.stat_cache.lookup_trees(list(sigs.values()))
    return {path: known[sig][0] for path, sig in sigs.items() if sig in known}


def prime(repo, rels: list[str]) -> None:
    """Have the watcher list these folders soon (add, commit), so that a status after them finds
    them listed. Never waits, never fails the caller."""
    if not enabled(repo):
        return
    folders = [rel for rel in rels if os.path.isdir(repo.abs(rel))]
    if folders:
        from mlvc.fsmonitor import client

        client.watch(repo.root, folders)
