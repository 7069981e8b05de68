"""List a folder the way the scanner sees it: one stat per entry, nothing read or hashed.

`walk` gives a folder's DirNode tree with its listing signature (names, inode/size/mtime_ns/x-bit
of each file, the subfolders' signatures): the stat cache maps a signature to the folder's tree
hash (mlvc.workspace.scan), and the no-op repro memo compares signatures (mlvc.pipeline.noop).
Kept apart from the scanner, with no dataclasses, so that memo's check imports only this.
"""

from __future__ import annotations

import os
from array import array
from operator import attrgetter
from stat import S_ISDIR, S_ISREG
from typing import TYPE_CHECKING

from xxhash import xxh3_128_hexdigest

from mlvc.errors import PathError
from mlvc.ignore import MLVCIGNORE, IgnoreRules
from mlvc.links import TMP_MARK

if TYPE_CHECKING:
    from mlvc.tree import Entry, Tree
    from mlvc.workspace.scan import FileNode

_entry_name = attrgetter("name")
_U64 = (1 << 64) - 1


class DirNode:
    """A scanned folder. Its FileNodes are made on first use of `files`: a folder whose listing
    signature is in the stat cache (every folder of a no-op status) never needs them."""

    __slots__ = ("name", "abspath", "rel", "dirs", "sig", "hash", "size", "nfiles", "tree", "_files", "_listed")

    def __init__(
        self,
        name: str,
        abspath: str,
        rel: str,
        files: list[FileNode] | None = None,
        dirs: list[DirNode] | None = None,
    ) -> None:
        self.name = name
        self.abspath = abspath
        self.rel = rel
        self.dirs: list[DirNode] = [] if dirs is None else dirs
        self.sig = ""
        self.hash: str | None = None
        self.size = 0
        self.nfiles = 0
        self.tree: Tree | None = None
        self._files: list[FileNode] | None = [] if files is None else files
        self._listed: tuple[list[str], list[os.stat_result]] | None = None

    @property
    def files(self) -> list[FileNode]:
        if self._files is None:
            from mlvc.workspace.scan import FileNode

            assert self._listed is not None
            names, stats = self._listed
            base, rel, sep = self.abspath, self.rel, os.sep
            self._files = [FileNode(n, f"{base}{sep}{n}", f"{rel}/{n}", st) for n, st in zip(names, stats, strict=True)]
            self._listed = None
        return self._files

    def entry(self) -> Entry:
        from mlvc.tree import TREE, Entry

        assert self.hash is not None
        return Entry(self.name, TREE, self.hash, self.size, "755")

    def iter_dirs(self):
        for d in self.dirs:
            yield from d.iter_dirs()
        yield self


def folder_signature(root: str, rel: str) -> str:
    """The listing signature `Scanner.scan` walks folder `rel` to (stats only, nothing hashed): while
    it is the same, so is the folder's hash (the no-op repro memo, mlvc.pipeline.noop, relies on it)."""
    rules = IgnoreRules.for_dir(root, os.path.dirname(rel), MLVCIGNORE)
    return walk(root, os.path.join(root, rel.replace("/", os.sep)), rel, os.path.basename(rel), rules).sig


def walk(root: str, abspath: str, rel: str, name: str, rules: IgnoreRules) -> DirNode:
    """Folder `rel` of the repository at `root`, listed (not hashed), with its listing signature."""
    # The hot loop of a no-op status: one stat per entry and as little Python per file as can be.
    node = DirNode(name, abspath, rel)
    rules = rules.enter(root, rel)
    ignored = rules.is_ignored if rules.layers else None
    try:
        with os.scandir(abspath) as it:
            entries = sorted(it, key=_entry_name)
    except PermissionError:
        raise PathError(f"{rel}: permission denied") from None
    names: list[str] = []
    stats: list[os.stat_result] = []
    dir_parts: list[str] = []
    for e in entries:
        n = e.name
        if n[0] == "." and (TMP_MARK in n or n == ".git"):
            continue
        try:
            st = e.stat()  # follows symlinks, like a reader of the data would
        except FileNotFoundError:
            if e.is_symlink():
                raise PathError(f"{rel}/{n}: broken symbolic link") from None
            continue  # vanished between listing and stat
        mode = st.st_mode
        if S_ISREG(mode):
            if ignored is not None and ignored(f"{rel}/{n}", False):
                continue
            names.append(n)
            stats.append(st)
        elif S_ISDIR(mode):
            child_rel = f"{rel}/{n}"
            if ignored is not None and ignored(child_rel, True):
                continue
            if e.is_symlink() and _is_ancestor(os.path.realpath(e.path), os.path.realpath(abspath)):
                raise PathError(f"{child_rel}: symbolic link to one of its own parent folders (a loop)")
            child = walk(root, e.path, child_rel, n, rules)
            node.dirs.append(child)
            dir_parts.append(f"{n}\0{child.sig}\n")
    node._files = None
    node._listed = (names, stats)
    # The listing signature: file names, then per file inode/size/mtime_ns/x-bit, then subfolders.
    # Names hold no NUL, so the parts cannot run into each other.
    numbers = array("Q")
    add = numbers.extend
    for st in stats:
        add((st.st_ino, st.st_size, st.st_mtime_ns & _U64, st.st_mode & 0o111))
    node.sig = xxh3_128_hexdigest(
        b"%d\0%s\0%s\0%s" % (len(names), "\0".join(names).encode(), numbers.tobytes(), "".join(dir_parts).encode())
    )
    return node


def _is_ancestor(target: str, folder: str) -> bool:
    return folder == target or folder.startswith(target.rstrip(os.sep) + os.sep)
