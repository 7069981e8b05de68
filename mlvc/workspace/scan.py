"""Scan a tracked path into a Ref: walk, hash what changed (in parallel), build trees.

Two speed-ups make a no-op cheap: the stat cache answers a file's hash from (inode, size,
mtime_ns), and a folder whose listing signature was seen before gets its tree hash without
building the tree. With `store=True` every new file and tree also lands in the cache,
files before the trees that list them: small files go to one pack (mlvc/packs.py), which is
committed before any tree or pointer can name its objects.
"""

from __future__ import annotations

import os
import stat as stat_mod
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter

from mlvc import packs
from mlvc.errors import FileChangedError, MlvcError, PathError
from mlvc.forked import MAX_ITEMS, share_items, should_fork
from mlvc.hashing import BLOCK, hash_bytes, hash_file, open_to_read
from mlvc.objects import OBJECT_MODE
from mlvc.parallel import in_batches
from mlvc.pointer import Ref
from mlvc.progress import NULL, Progress
from mlvc.tree import FILE, TREE, Entry, Tree, serialize_rows
from mlvc.workspace.walk import DirNode, FileStat, new_file_stat, resign, walk_folder

__all__ = ["DirNode", "FileNode", "Scanner"]

PARALLEL_MIN_FILES = 64
PARALLEL_MIN_BYTES = 64 << 20
BATCH = 256
SMALL_FILE = 64 << 10
# Files per item of the queue that a forked child shares (`_hardlink_shared`): ~5 ms of work.
SHARED_CHUNK = 256
# Per small file hashed: slower than this, its reads wait on the disk (from the page cache: ~10 us).
DISK_BOUND_S = 50e-6


@dataclass(slots=True)
class FileNode:
    name: str
    abspath: str
    rel: str
    st: os.stat_result | FileStat  # FileStat: made by a walk (mlvc.workspace.walk)
    hash: str | None = None
    linked: bool = False  # add made this very inode the cache object (hardlink): nothing left to link

    @property
    def mode(self) -> str:
        return "755" if self.st.st_mode & 0o111 else "644"

    def entry(self) -> Entry:
        assert self.hash is not None
        return Entry(self.name, FILE, self.hash, self.st.st_size, self.mode)


class Scanner:
    """Scans workspace paths of one repository. `store=True` also puts new content in the cache."""

    def __init__(
        self,
        repo,
        store: bool = False,
        link_type: str | None = None,
        progress: Progress = NULL,
        jobs: int | None = None,
    ) -> None:
        self.repo = repo
        self.store = store
        self.link_type = link_type or (repo.link_type if store else "copy")
        # Small files go to a pack where the workspace keeps its own bytes anyway (copy, reflink).
        # hardlink/symlink users chose links: each object stays loose and linked, so a checkout
        # makes links, not new files, and nothing is stored twice.
        self.packing = store and self.link_type in ("copy", "reflink")
        self.progress = progress
        self.jobs = jobs or repo.config.get_count("core", "jobs") or min(8, (os.cpu_count() or 1) * 2)
        self.stats = repo.stat_cache
        self.objects = repo.objects
        self._pack: packs.PackWriter | None = None
        self._held = 0

    # -- public ---------------------------------------------------------------
    def scan(self, rel: str, expect_files: int = 0, walked: DirNode | None = None) -> tuple[Ref, FileNode | DirNode]:
        """Hash (and with store=True, store) the file or folder at repo-relative `rel`.

        Its packed objects are committed when it returns, unless inside `one_pack()`.
        `expect_files`: how many files the caller expects there (a pointer's count); from
        forked.FORK_MIN_FILES on, the folder is walked by two processes. `walked`: the folder
        as the caller walked it already (`walk.walk_folder`), to look at its signature first.
        """
        try:
            if walked is not None:
                return self._folder_ref(walked), walked
            return self._scan(rel, expect_files)
        finally:
            if not self._held:
                self.commit()

    @contextmanager
    def one_pack(self) -> Iterator[Scanner]:
        """Scans in this block share one pack, committed when it ends (also on an error: what was
        written whole is kept, so a rerun does not redo it). Write pointers only after the block."""
        self._held += 1
        try:
            yield self
        finally:
            self._held -= 1
            if not self._held:
                self.commit()

    def commit(self) -> None:
        """Make the small objects stored so far visible: before a tree or pointer names them."""
        if self._pack is None:
            return
        try:
            self._pack.flush()
        except BaseException:
            try:
                self._pack.flush()  # a failed write keeps the objects written whole before it
            except BaseException:
                self._pack.discard()  # nothing of it was visible: leave no temp file behind
            raise

    def _scan(self, rel: str, expect_files: int = 0) -> tuple[Ref, FileNode | DirNode]:
        abspath = self.repo.abs(rel)
        try:
            st = os.stat(abspath)
        except FileNotFoundError:
            raise PathError(f"{rel}: no such file or directory") from None
        if stat_mod.S_ISDIR(st.st_mode):
            node = walk_folder(self.repo.root, rel, expect_files)
            return self._folder_ref(node), node
        if not stat_mod.S_ISREG(st.st_mode):
            raise PathError(f"{rel}: not a regular file or directory")
        fnode = FileNode(os.path.basename(rel), abspath, rel, st)
        self._hash_files([fnode])
        self.stats.flush()
        return Ref(fnode.hash or "", FILE, st.st_size, 1), fnode

    def _folder_ref(self, node: DirNode) -> Ref:
        self._resolve(node)
        self.stats.flush()
        return Ref(node.hash or "", TREE, node.size, node.nfiles)

    def build_tree(self, node: DirNode) -> Tree:
        """The Tree of a scanned folder (built on demand when its hash came from the signature cache)."""
        if node.tree is None:
            for d in node.dirs:
                if d.hash is None:
                    self._resolve(d)
            self._hash_files([f for f in node.files if f.hash is None])
            node.tree = Tree.of([f.entry() for f in node.files] + [d.entry() for d in node.dirs])
        return node.tree

    # -- resolving hashes -------------------------------------------------------
    def _resolve(self, root: DirNode) -> None:
        """Give every folder under `root` its hash, size and file count; store when asked."""
        pending: list[DirNode] = []
        dirs = list(root.iter_dirs())  # children before parents
        known = self.stats.lookup_trees([d.sig for d in dirs])
        for d in dirs:
            cached = known.get(d.sig)
            if cached is not None:
                h, size, nfiles = cached
                if not self.store or self.objects.has(h):
                    d.hash, d.size, d.nfiles = h, size, nfiles
                    continue
            pending.append(d)
        if not pending:
            return
        pending_ids = {id(d) for d in pending}
        self._hash_files([f for d in pending for f in d.files])
        resigned: set[int] = set()
        for d in dirs:
            if id(d) not in pending_ids:
                continue
            # A file made its own cache object changed mode: sign the folder as a walk sees it now.
            if self.store and (any(f.linked for f in d.files) or any(id(c) in resigned for c in d.dirs)):
                resign(d)
                resigned.add(id(d))
            # The tree's bytes straight from the nodes (no Entry objects: a status only needs the
            # hash); build_tree() makes the Tree itself if a diff or checkout asks for it.
            rows: list[list[object]] = [
                [f.name, FILE, f.hash, f.st.st_size, "755" if f.st.st_mode & 0o111 else "644"] for f in d.files
            ]
            rows.extend([c.name, TREE, c.hash, c.size, "755"] for c in d.dirs)
            rows.sort(key=_row_name)
            data = serialize_rows(rows)
            d.tree = None
            d.hash = hash_bytes(data)
            d.size = sum(r[3] for r in rows)  # type: ignore[misc]
            d.nfiles = len(d.files) + sum(c.nfiles for c in d.dirs)
            if self.store:
                self._store_tree(d.hash, data)
            self.stats.record_tree(d.sig, d.hash, d.size, d.nfiles)

    def _store_tree(self, h: str, data: bytes) -> None:
        """A tree is stored after the files it lists. A small one goes to the pack, like a small file:
        one new file for all of them (creating a file costs far more here than writing it: 0.3 ms
        each on ext4 after many deletions), and visible with the files packed before it. A big one
        is a loose object, written once the pack holding its files is committed."""
        if len(data) <= packs.SMALL:
            self._packer().add(h, data)
        elif not self.objects.has(h):
            self.commit()
            self.objects.add_bytes(data, h)

    def _hash_files(self, files: list[FileNode]) -> None:
        if not files:
            return
        known = self.stats.lookup_files(f.st for f in files)
        todo = files if not known else self._unknown(files, known)  # a first add knows none
        if not todo:
            return
        total = sum(f.st.st_size for f in todo)
        verb = "Adding" if self.store else "Hashing"
        task = self.progress.task(f"{verb} {len(todo)} files", total, unit="bytes")
        unrecorded = todo  # the files whose stat rows are still to be written
        try:
            if self.store:
                # Small files in this thread: threads only add GIL contention to a read + hash +
                # append (or link) of a few KiB (adding 50,000 with hardlink, 2 cores: 3.1 s in one
                # thread, 6.3 s with four).
                small = [f for f in todo if f.st.st_size <= packs.SMALL]
                rest = [f for f in todo if f.st.st_size > packs.SMALL] if len(small) < len(todo) else []
                if self.link_type == "hardlink" and should_fork(len(small)):
                    self._hardlink_shared(small, task)  # it records their stat rows as it goes
                    unrecorded = rest
                else:
                    self._hash_batch(small, task)
            elif not self.store and (len(todo) >= PARALLEL_MIN_FILES or total >= PARALLEL_MIN_BYTES and len(todo) > 1):
                rest = self._small_files_here(todo, task)
            else:
                rest = todo
            rest_bytes = sum(f.st.st_size for f in rest)
            parallel = len(rest) >= PARALLEL_MIN_FILES or rest_bytes >= PARALLEL_MIN_BYTES and len(rest) > 1
            in_batches(lambda b: self._hash_batch(b, task), rest, BATCH, self.jobs if parallel else 1, "mlvc-hash")
        finally:
            task.close()
        self.stats.record_files(_stat_rows(unrecorded))

    def _unknown(self, files: list[FileNode], known: dict[int, str]) -> list[FileNode]:
        """The files whose hash the stat cache does not give (`known`: inode -> hash); the others
        get theirs here. With store=True a known file counts only if its object is in the cache."""
        todo: list[FileNode] = []
        for f in files:
            h = known.get(f.st.st_ino)
            if h is not None and (not self.store or self.objects.has(h)):
                f.hash = h
            else:
                todo.append(f)
        return todo

    def _small_files_here(self, todo: list[FileNode], task) -> list[FileNode]:
        """Hash the small files in this thread when the page cache has them; return what is left for threads.

        Hashing a small cached file is Python work under the GIL: threads only fight over it (measured
        on 50,000 files of ~5 KiB: 1 thread 0.43 s; 4 threads 0.6-1.3 s and 2-5x the CPU). They pay
        when reads wait on the disk, so a first batch is timed here and decides."""
        small = [f for f in todo if f.st.st_size <= SMALL_FILE]
        if len(small) < PARALLEL_MIN_FILES:
            return todo
        start = time.perf_counter()
        self._hash_batch(small[:BATCH], task)
        if (time.perf_counter() - start) / len(small[:BATCH]) < DISK_BOUND_S:
            self._hash_batch(small[BATCH:], task)
        return [f for f in todo if f.hash is None]

    def _hash_batch(self, files: list[FileNode], task) -> None:
        if self.store and self.link_type == "hardlink":
            self._hardlink_batch(files, task)
            return
        for f in files:
            f.hash = self._ingest(f)
            task.advance(f.st.st_size)

    def _hardlink_batch(self, files: list[FileNode], task) -> None:
        """Store `files` with hardlink: `_ingest` each, with the common case inline. A
        non-executable file of up to BLOCK is read and hashed, checked unchanged (`fstat`), made
        read-only and linked under its object's name through one open fd: six syscalls. Going
        through `_ingest` cost ~1 us more a file, and this loop is the critical path of adding
        50,000 files (~25 ms a half). A file that changed while hashed raises FileChangedError
        with nothing linked from it; the files before it are done (their hash is set)."""
        store, advance = self.objects.add_open_file_by_hardlink, task.advance
        for f in files:
            st = f.st
            size = st.st_size
            if size > BLOCK or st.st_mode & 0o111:  # streamed; an executable is copied (its mode)
                f.hash = self._ingest(f)
                advance(size)
                continue
            try:
                fd = open_to_read(f.abspath)
                try:
                    h = hash_bytes(_read_all(fd, size))
                    after = os.fstat(fd)
                    if after.st_size != size or after.st_mtime_ns != st.st_mtime_ns:
                        raise _changed_while_hashed(f)
                    linked = store(f.abspath, fd, h, after.st_mode)
                finally:
                    os.close(fd)
            except FileNotFoundError:
                raise _vanished_while_hashed(f) from None
            f.hash = h
            if linked:  # the same inode, now read-only: its folder is signed again (_resolve)
                f.linked = True
                f.st = _linked_key(after)
            advance(size)

    def _hardlink_shared(self, files: list[FileNode], task) -> None:
        """`_hash_batch` of many small files with hardlink, shared with a forked child: the open,
        read, chmod and link of each file are syscalls, and two processes issue them twice as fast
        on 2 CPUs (a thread would wait on the GIL). Both take chunks of files from one queue
        (`forked.share_items`); between its own chunks this process applies the child's results
        and writes the stat rows, so little is left to do once the last chunk is done. The child
        sends back each file's hash, whether its inode became the object, and that inode's stat
        key where it is not the one `_linked_key` derives from the walk. A file the child did not
        do (it changed while hashed there, or the child failed) is done here after the others,
        and so reported from here."""
        size = max(SHARED_CHUNK, -(-len(files) // MAX_ITEMS))
        chunks = [files[i : i + size] for i in range(0, len(files), size)]
        for f in files:  # (in both processes) a hash set below means: done in this call
            f.hash = None

        def my_chunk(i: int) -> None:
            self._hardlink_batch(chunks[i], task)
            self.stats.record_files(_stat_rows(chunks[i]))
            self.stats.flush()

        def their_chunk(i: int) -> tuple[int, str, bytes, dict[int, tuple[int, int, int, int]], int]:
            chunk = chunks[i]
            walked_inodes = [f.st.st_ino for f in chunk]
            try:
                self._hardlink_batch(chunk, NULL.task("", None))
            except MlvcError:
                pass  # the files before the failed one are done; the parent goes on from it
            # Compact for the pipe (a tuple per file cost ~40 ms to marshal and load for 25,000).
            hashes, linked, odd, nbytes = [], bytearray(), {}, 0
            for j, f in enumerate(chunk):
                if f.hash is None:
                    break
                hashes.append(f.hash)
                linked.append(f.linked)
                nbytes += f.st.st_size
                # A linked small file's key is `_linked_key(after)` with its size and mtime
                # checked against the walk's: only the inode can differ (a file replaced since).
                if f.linked and f.st.st_ino != walked_inodes[j]:
                    odd[j] = tuple(f.st)
            return i, "\n".join(hashes), bytes(linked), odd, nbytes

        def take(result: object) -> None:
            try:
                i, joined, linked, odd, nbytes = result  # type: ignore[misc]
                hashes = joined.split("\n") if joined else []
                done = chunks[i][: len(hashes)]
                if len(linked) != len(hashes) or len(done) != len(hashes):
                    return  # not a result of this call: its files are done here after the others
            except (TypeError, ValueError, AttributeError, IndexError):
                return
            for j, (f, h, was_linked) in enumerate(zip(done, hashes, linked, strict=True)):
                f.hash = h
                if was_linked:
                    f.linked = True
                    f.st = FileStat(*odd[j]) if j in odd else _linked_key(f.st)
            task.advance(nbytes)
            self.stats.record_files(_stat_rows(done))

        share_items(len(chunks), my_chunk, their_chunk, take)
        left = [f for f in files if f.hash is None]
        self._hash_batch(left, task)
        self.stats.record_files(_stat_rows(left))

    def _ingest(self, f: FileNode) -> str:
        """Hash one file, and store it when scanning with store=True.

        Raises FileChangedError when the file's size or mtime moved while it was read; an object
        that this call linked from the changing file is taken out of the cache again.
        """
        size = f.st.st_size
        linked = False
        try:
            if (size <= packs.SMALL) if self.packing else (not self.store and size <= BLOCK):
                # Small file: one read on a bare fd (about half the CPU of hash_file + stat, which
                # counts with 50,000 files), hash the bytes; when packing, append them to the pack.
                fd = open_to_read(f.abspath)
                try:
                    data = _read_all(fd, size)
                    h = hash_bytes(data)
                    after = os.fstat(fd)  # after hashing too, as a change seen by the hash counts
                finally:
                    os.close(fd)
                if self.packing and (after.st_size, after.st_mtime_ns) == (size, f.st.st_mtime_ns):
                    self._packer().add(h, data)
            elif not self.store:
                h = hash_file(f.abspath)
                after = os.stat(f.abspath)
            elif self.link_type == "copy" or (self.link_type != "reflink" and f.st.st_mode & 0o111):
                h = self.objects.add_stream(f.abspath)
                after = os.stat(f.abspath)
            else:  # (a small file with hardlink: _hardlink_batch)
                h = hash_file(f.abspath)
                linked = self.objects.add_file(f.abspath, h, self.link_type)
                after = os.stat(f.abspath)
                f.linked = linked and self.link_type == "hardlink"
        except FileNotFoundError:
            raise _vanished_while_hashed(f) from None
        if (after.st_size, after.st_mtime_ns) != (size, f.st.st_mtime_ns):
            if linked:
                self.objects.remove(h)  # it shares the changed inode: its bytes no longer match its name
            raise _changed_while_hashed(f)
        if f.linked:
            f.st = after  # the same inode, now read-only: its folder is signed again (_resolve)
        return h

    def _packer(self) -> packs.PackWriter:
        if self._pack is None:
            self._pack = self.objects.pack_writer()
        return self._pack


def _changed_while_hashed(f: FileNode) -> FileChangedError:
    return FileChangedError(f"{f.rel}: file changed while it was being hashed; rerun when it is no longer written to")


def _vanished_while_hashed(f: FileNode) -> FileChangedError:
    return FileChangedError(f"{f.rel}: file disappeared while it was being hashed; rerun")


def _stat_rows(files: list[FileNode]) -> list[tuple[int, int, int, str]]:
    """The stat cache's (inode, size, mtime_ns, hash) rows of hashed files."""
    return [(f.st.st_ino, f.st.st_size, f.st.st_mtime_ns, f.hash or "") for f in files]


def _read_all(fd: int, size: int) -> bytes:
    """The whole file behind `fd` (expected `size` bytes; a file that grew is read to its end)."""
    data = os.read(fd, size + 1)
    if len(data) <= size:
        return data if len(data) == size else data + _read_rest(fd)
    return data + _read_rest(fd)


def _read_rest(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _linked_key(st: os.stat_result | FileStat) -> FileStat:
    """The stat key of a file whose own inode was made its read-only cache object: the same inode,
    size and mtime (fchmod changes only the mode and ctime)."""
    return new_file_stat((st.st_mode & _S_IFMT | OBJECT_MODE, st.st_ino, st.st_size, st.st_mtime_ns))


_S_IFMT = 0o170000  # stat.S_IFMT(mode) is mode & this (inline: a call per file is not free)
_row_name = itemgetter(0)
