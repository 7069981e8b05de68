"""Linking workspace files to the cache after `add` (hardlink and symlink link types)."""

from __future__ import annotations

import os

from mlvc import links
from mlvc.workspace.scan import DirNode, FileNode


def link_node(repo, node: FileNode | DirNode, link_type: str) -> None:
    """Replace stored workspace files by links to their cache objects, where the link type says so.

    copy and reflink leave the workspace as it is (the cache got its own copy or clone).
    Executable files are always copies: a shared read-only inode would lose their mode. Packed
    (small) objects are never linked: a link would share the whole pack, so their workspace file
    stays a normal writable file.
    """
    if link_type not in ("hardlink", "symlink"):
        return
    files = [node] if isinstance(node, FileNode) else [f for d in node.iter_dirs() for f in d.files]
    packed = repo.objects.is_packed
    for f in files:
        if f.hash is None or f.st.st_mode & 0o111 or f.linked or packed(f.hash):
            continue
        obj = repo.objects.path(f.hash)
        if link_type == "symlink":
            if os.path.islink(f.abspath) and os.readlink(f.abspath) == obj:
                continue
        elif os.stat(f.abspath).st_ino == os.stat(obj).st_ino:
            continue
        links.place(obj, f.abspath, link_type, 0o444)
        repo.stat_cache.record_file(os.stat(f.abspath), f.hash)
    repo.stat_cache.flush()
