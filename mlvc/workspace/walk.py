"""List a folder the way the scanner sees it: one stat per entry, nothing read or hashed.

`walk` gives a folder's DirNode tree with its listing signature (names, mode/inode/size/mtime_ns
of each file, the subfolders' signatures): the stat cache maps a signature to the folder's tree
hash (mlvc.workspace.scan), and the no-op repro memo compares signatures (mlvc.pipeline.noop).
Kept apart from the scanner, with no dataclasses, so that memo's check imports only this.

A big tree (a status of a pointer with >= forked.FORK_MIN_FILES files, see `should_fork`) is
walked by two processes with `walk_split`: the stat calls are the whole cost. Both walks give the
same signatures.
"""

from __future__ import annotations

import marshal
import os
from collections import namedtuple
from collections.abc import Callable
from functools import partial
from operator import attrgetter, itemgetter
from stat import S_ISDIR, S_ISLNK, S_ISREG

from xxhash import xxh3_128_hexdigest

from mlvc.errors import PathError
from mlvc.forked import Shared, should_fork
from mlvc.ignore import MLVCIGNORE, IgnoreRules
from mlvc.links import TMP_MARK

TYPE_CHECKING = False  # typing's flag, without typing's ~5 ms of imports
if TYPE_CHECKING:
    from mlvc.tree import Entry, Tree
    from mlvc.workspace.scan import FileNode

__all__ = [
    "DirNode",
    "FileStat",
    "begin_walk_folder",
    "begin_walk_split",
    "estimate_files",
    "folder_signature",
    "list_folder",
    "new_file_stat",
    "resign",
    "should_fork",
    "walk",
    "walk_folder",
    "walk_split",
]

SPLIT_MIN_ENTRIES = 4
# A split folder's listing is shared out in about this many items (`walk_split`): small enough
# that the last one ends soon after the other process's, few enough that each costs ~1 ms of
# stats against ~30 us of queue and pipe.
SPLIT_ITEMS = 64


class FileStat(namedtuple("FileStat", "st_mode st_ino st_size st_mtime_ns")):  # see mlvc/tree.py
    """What the scanner keeps of a file's stat (ints, as os.stat gives them): the stat cache key
    and the executable bit."""

    __slots__ = ()


# FileStat from a (mode, inode, size, mtime_ns) tuple without the Python-level __new__ that
# FileStat(...) and FileStat._make run: a scan makes one per file.
new_file_stat = partial(tuple.__new__, FileStat)


class DirNode:
    """A scanned folder. Its FileNodes are made on first use of `files`: a folder whose listing
    signature is in the stat cache (every folder of a no-op status) never needs them; until then
    it keeps its file names NUL-joined and their stat keys as the marshal bytes of its signature."""

    __slots__ = (
        "name", "abspath", "rel", "dirs", "sig", "hash", "size", "nfiles", "tree",
        "_files", "_listing", "_names", "_keys",
    )  # fmt: skip

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
        self._listing: list[FileNode] | None = None  # the same FileNodes in listing order (resign)
        self._names = ""
        self._keys = b""

    @property
    def files(self) -> list[FileNode]:
        if self._files is None:
            from mlvc.workspace.scan import FileNode

            names = self._names.split("\0") if self._names else []
            keys = marshal.loads(self._keys)
            base, rel, sep, make = self.abspath, self.rel, os.sep, new_file_stat
            files = [FileNode(n, f"{base}{sep}{n}", f"{rel}/{n}", make(k)) for n, k in zip(names, keys, strict=True)]
            self._listing = files
            self._files = sorted(files, key=_node_name)
        return self._files

    def has_name_ending(self, *suffixes: str) -> bool:
        """Whether a file directly in this folder (as walked) has a name ending with one of `suffixes`;
        no FileNode is made."""
        names = self._names + "\0"
        return any(f"{suffix}\0" in names for suffix in suffixes)

    def entry(self) -> Entry:
        from mlvc.tree import TREE, Entry

        assert self.hash is not None
        return Entry(self.name, TREE, self.hash, self.size, "755")

    def iter_dirs(self):
        for d in self.dirs:
            yield from d.iter_dirs()
        yield self


def walk_folder(root: str, rel: str, expect_files: int = 0) -> DirNode:
    """The tracked folder `rel` of the repository at `root`, walked as `Scanner.scan` walks it: with
    the .mlvcignore rules above it, by two processes where `expect_files` (a pointer's count) says
    it is big (`should_fork`)."""
    return begin_walk_folder(root, rel, expect_files)()


def begin_walk_folder(root: str, rel: str, expect_files: int = 0) -> Callable[[], DirNode]:
    """`walk_folder` begun; the result gives the DirNode. A big folder's forked child is walking
    when this returns (`begin_walk_split`), so this process can do other work before it asks."""
    rules = IgnoreRules.for_dir(root, os.path.dirname(rel), MLVCIGNORE)
    abspath, name = os.path.join(root, rel.replace("/", os.sep)), os.path.basename(rel)
    if should_fork(expect_files):
        return begin_walk_split(root, abspath, rel, name, rules)
    node = walk(root, abspath, rel, name, rules)
    return lambda: node


def folder_signature(root: str, rel: str) -> str:
    """The listing signature `Scanner.scan` walks folder `rel` to (stats only, nothing hashed): while
    it is the same, so is the folder's hash (the no-op repro memo, mlvc.pipeline.noop, relies on it)."""
    return walk_folder(root, rel).sig


# The hot loop of a no-op status: one stat per entry, relative to the open folder (no path lookup
# from the root), and as little Python per file as can be: a folder of plain files is one list
# comprehension of stats, one tuple per file and one marshal call for its signature.
def walk(root: str, abspath: str, rel: str, name: str, rules: IgnoreRules, parent_fd: int | None = None) -> DirNode:
    """Folder `rel` of the repository at `root`, listed (not hashed), with its listing signature."""
    return list_folder(root, abspath, rel, name, rules, parent_fd, walk)


def list_folder(
    root: str, abspath: str, rel: str, name: str, rules: IgnoreRules, parent_fd: int | None, walker
) -> DirNode:
    """Folder `rel`, listed and signed, with each subfolder given by `walker` (same arguments as
    `walk`): `walk` itself goes all the way down; the file-system watcher (mlvc.fsmonitor) watches
    each folder before listing it, and keeps the subfolders that did not change."""
    fd = _open_dir(abspath, rel, name, parent_fd)
    try:
        names = os.listdir(fd)
        if MLVCIGNORE in names:
            rules = rules.enter(root, rel)
        files, keys, dirs = _entries(root, fd, abspath, rel, names, rules, walker)
    finally:
        os.close(fd)
    return _finish(DirNode(name, abspath, rel), files, keys, dirs)


def walk_split(
    root: str, abspath: str, rel: str, name: str, rules: IgnoreRules, parent_fd: int | None = None
) -> DirNode:
    """`walk` with the stat work shared by two processes (a big tree on 2+ CPUs).

    The listing of a folder with SPLIT_MIN_ENTRIES entries or more is cut into about SPLIT_ITEMS
    runs of names (one name each where there are fewer: a folder of subfolders), and this process
    and a forked child take runs from one queue (`forked.Shared`): whichever process the
    machine gives more CPU does more, and neither waits long for the other. The child stats its
    runs (walking the subfolders in them) and sends back names, stat keys and folder signatures.
    A narrower folder is walked here and each of its subfolders split in turn (a chain of single
    folders; train/ + test/ of unequal sizes). The child only lists and stats (no SQLite, no
    output) and always leaves by `os._exit`; a run it did not report is done here. Runs are
    joined in listing order: the signatures equal those of `walk`.
    """
    return begin_walk_split(root, abspath, rel, name, rules, parent_fd)()


def begin_walk_split(
    root: str, abspath: str, rel: str, name: str, rules: IgnoreRules, parent_fd: int | None = None
) -> Callable[[], DirNode]:
    """`walk_split` begun: where the folder is wide, the forked child is taking runs when this
    returns; the result walks the runs left here and gives the DirNode. (A narrow folder is walked
    here before this returns.)"""
    fd = _open_dir(abspath, rel, name, parent_fd)
    shared = None
    try:
        names = os.listdir(fd)
        if MLVCIGNORE in names:
            rules = rules.enter(root, rel)
        if len(names) < SPLIT_MIN_ENTRIES:  # go down to where the tree widens
            node = _finish(DirNode(name, abspath, rel), *_entries(root, fd, abspath, rel, names, rules, walk_split))
            return lambda: node
        shared = _SharedEntries(root, fd, abspath, rel, names, rules)
    finally:
        if shared is None:  # walked here, or failed
            os.close(fd)

    def finish() -> DirNode:
        try:
            files, keys, dirs = shared.finish()
        finally:
            os.close(fd)
        return _finish(DirNode(name, abspath, rel), files, keys, dirs)

    return finish


def estimate_files(abspath: str, samples: int = 4) -> int:
    """About how many entries the tree at `abspath` holds, for `should_fork` where no pointer gives
    a count (a first add): its own entries, and for its subfolders the mean of the first `samples`
    of them (half as many a level down, at least one) times their number. A few listings, no stat
    (d_type); anything unreadable counts as empty: the walk itself reports it."""
    try:
        with os.scandir(abspath) as it:
            entries = list(it)
    except OSError:
        return 0
    dirs = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    if not dirs:
        return len(entries)
    sampled = [estimate_files(d, max(1, samples // 2)) for d in dirs[:samples]]
    return len(entries) - len(dirs) + len(dirs) * sum(sampled) // len(sampled)


def _open_dir(abspath: str, rel: str, name: str, parent_fd: int | None) -> int:
    try:
        # Relative to the parent's fd; like a reader of the data, this follows a symbolic link.
        return os.open(abspath if parent_fd is None else name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        raise PathError(f"{rel}: permission denied") from None


def _entries(
    root: str, fd: int, abspath: str, rel: str, names: list[str], rules: IgnoreRules, walker=walk
) -> tuple[list[str], list[tuple[int, int, int, int]], list[DirNode]]:
    """Stat `names` in the folder open as `fd`: its regular files (names and stat keys, in
    listing order) and its subfolders, walked with `walker`."""
    ignored = rules.is_ignored if rules.layers else None
    stat = os.stat
    keys: list[tuple[int, int, int, int]] | None = None
    if ignored is None and not _has_dotted(names):
        try:
            # A comprehension, not map(partial(os.stat, dir_fd=fd)): partial builds a keyword dict
            # on every call, ~0.25 us a file, 10% of the stat.
            keys = [_KEY(stat(n, dir_fd=fd)) for n in names]
        except OSError:
            keys = None  # vanished or broken entry: the per-entry loop below says which
        else:
            if all(map(S_ISREG, map(_MODE, keys))):
                return names, keys, []
    # Per entry: dot names, ignore rules, subfolders, symbolic links, vanished entries.
    files: list[str] = []
    fkeys: list[tuple[int, int, int, int]] = []
    dirs: list[DirNode] = []
    for i, n in enumerate(names):
        if n[0] == "." and (TMP_MARK in n or n == ".git"):
            continue
        if keys is not None:
            key = keys[i]
        else:
            try:
                key = _KEY(os.stat(n, dir_fd=fd))  # follows symlinks, like a reader of the data would
            except FileNotFoundError:
                if _is_link(n, fd):
                    raise PathError(f"{rel}/{n}: broken symbolic link") from None
                continue  # vanished between listing and stat
        mode = key[0]
        if S_ISREG(mode):
            if ignored is not None and ignored(f"{rel}/{n}", False):
                continue
            files.append(n)
            fkeys.append(key)
        elif S_ISDIR(mode):
            child_rel = f"{rel}/{n}"
            if ignored is not None and ignored(child_rel, True):
                continue
            child_abs = f"{abspath}{os.sep}{n}"
            if _is_link(n, fd) and _is_ancestor(os.path.realpath(child_abs), os.path.realpath(abspath)):
                raise PathError(f"{child_rel}: symbolic link to one of its own parent folders (a loop)")
            dirs.append(walker(root, child_abs, child_rel, n, rules, fd))
    return files, fkeys, dirs


class _SharedEntries:
    """`_entries` of `names`, in runs shared with a forked child (see `walk_split`)."""

    def __init__(self, root: str, fd: int, abspath: str, rel: str, names: list[str], rules: IgnoreRules) -> None:
        per = -(-len(names) // SPLIT_ITEMS)
        self.runs = [names[i : i + per] for i in range(0, len(names), per)]
        self.root, self.fd, self.abspath, self.rel, self.rules = root, fd, abspath, rel, rules
        self.done: list[tuple | None] = [None] * len(self.runs)
        self.shared = Shared(len(self.runs), self._theirs)

    def _walk(self, run: list[str]):
        return _entries(self.root, self.fd, self.abspath, self.rel, run, self.rules)  # plain walks below

    def _theirs(self, i: int) -> tuple:
        files, keys, dirs = self._walk(self.runs[i])
        return i, files, keys, [_encode(d) for d in dirs]

    def _mine(self, i: int) -> None:
        self.done[i] = self._walk(self.runs[i])

    def _take(self, result: object) -> None:
        try:
            i, files, keys, dirs = result  # type: ignore[misc]
            self.done[i] = files, keys, [_decode(d, self.abspath, self.rel) for d in dirs]
        except (ValueError, TypeError, IndexError):
            pass  # not a result of this walk: the run is done here below

    def finish(self):
        self.shared.finish(self._mine, self._take)
        files, keys, dirs = [], [], []
        for i, run in enumerate(self.runs):
            rfiles, rkeys, rdirs = self.done[i] or self._walk(run)
            files += rfiles
            keys += rkeys
            dirs += rdirs
        return files, keys, dirs


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_KEY = attrgetter("st_mode", "st_ino", "st_size", "st_mtime_ns")  # the fields of FileStat
_MODE = itemgetter(0)
_node_name = attrgetter("name")
_SIG_VERSION = b"2"


def _finish(node: DirNode, files: list[str], keys: list[tuple[int, int, int, int]], dirs: list[DirNode]) -> DirNode:
    """Give a walked folder its listing and its listing signature: the file names (in listing
    order) with their mode, inode, size and mtime_ns, then each subfolder's name and signature.
    Names hold no NUL and marshal (format 2: ints, tuples and lists only, no references) is
    self-delimiting, so the parts cannot run into each other."""
    dirs.sort(key=_node_name)
    node.dirs = dirs
    node._files = None
    node._names, node._keys = "\0".join(files), marshal.dumps(keys, 2)
    node.sig = _sign(node, len(files))
    return node


def _sign(node: DirNode, nfiles: int) -> str:
    sub = "".join([f"{d.name}\0{d.sig}\n" for d in node.dirs])
    data = b"%s\0%d\0%s\0%s\0%s" % (_SIG_VERSION, nfiles, _utf8(node._names), node._keys, _utf8(sub))
    return xxh3_128_hexdigest(data)


def resign(node: DirNode) -> None:
    """Sign a walked folder again after the scanner changed it: its files' stats are the FileNodes'
    now (an add by hardlink makes a file's own inode its read-only cache object: a new mode), and
    its subfolders may have been signed again. The signature is then the one a walk gives."""
    if node._listing is not None:
        node._keys = marshal.dumps([_KEY(f.st) for f in node._listing], 2)
    node.sig = _sign(node, node._names.count("\0") + 1 if node._names else 0)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")  # a name that is not UTF-8 comes back as it was


def _encode(node: DirNode) -> tuple:
    """A walked folder as plain data for the pipe from the forked walker."""
    return (node.name, node.sig, node._names, node._keys, [_encode(d) for d in node.dirs])


def _decode(data: tuple, parent_abs: str, parent_rel: str) -> DirNode:
    name, sig, names, keys, dirs = data
    node = DirNode(name, f"{parent_abs}{os.sep}{name}", f"{parent_rel}/{name}")
    node.sig, node._names, node._keys, node._files = sig, names, keys, None
    node.dirs = [_decode(d, node.abspath, node.rel) for d in dirs]
    return node


def _has_dotted(names: list[str]) -> bool:
    return "\0." in "\0" + "\0".join(names)


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except FileNotFoundError:
        return False


def _is_ancestor(target: str, folder: str) -> bool:
    return folder == target or folder.startswith(target.rstrip(os.sep) + os.sep)
