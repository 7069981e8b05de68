"""The content-addressed object store: `.mlvc/cache/ab/cdef...` named by xxh3-128.

Plumbing only. An object is loose (its own file) or packed (objects up to `packs.SMALL` bytes,
in `.mlvc/cache/packs/`, see mlvc/packs.py). Every write goes to a temp file and is renamed into
place, so an object is whole or absent. Objects are read-only on disk.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator

import xxhash

from mlvc import links, packs
from mlvc.errors import CorruptObjectError, DiskFullError, ObjectMissingError
from mlvc.hashing import BLOCK, hash_bytes, hash_file, is_hash, open_to_read
from mlvc.tree import Tree, parse_tree

OBJECT_MODE = 0o444
TREES_KEPT = 4096


class ObjectStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self._shards: dict[str, str] = {}  # "ab" -> the shard folder, made once per process
        self.packs = packs.PackIndex(os.path.join(root, "packs"))
        self._trees: dict[str, Tree] = {}  # parsed trees by hash (immutable): a pull parses each once

    # -- names ------------------------------------------------------------
    def path(self, h: str) -> str:
        """Where loose object `h` is; a packed object has no path of its own (see `place`, `read`)."""
        return os.path.join(self.root, h[:2], h[2:])

    def has(self, h: str) -> bool:
        return h in self.packs or os.path.exists(self.path(h))

    def is_packed(self, h: str) -> bool:
        return h in self.packs

    def _shard(self, h: str) -> str:
        """The folder of object `h`, made if missing (a dict hit per object: adds call it per file)."""
        d = self._shards.get(h[:2])
        if d is None:
            d = self._shards[h[:2]] = os.path.join(self.root, h[:2])
            os.makedirs(d, exist_ok=True)
        return d

    # -- writing ----------------------------------------------------------
    def add_bytes(self, data: bytes, h: str | None = None) -> str:
        h = h or hash_bytes(data)
        if not self.has(h):
            self._shard(h)
            with _disk_full_guard(self.path(h)):
                links.write_bytes_atomic(self.path(h), data, OBJECT_MODE)
        return h

    def add_file(self, src: str, h: str, link_type: str) -> bool:
        """Store the already-hashed file `src` under `h`. False if it was there already.

        hardlink/symlink share the inode with `src` (which then becomes read-only too);
        reflink clones where the filesystem can; otherwise the bytes are copied.
        """
        if self.has(h):
            return False
        self._shard(h)
        dest = self.path(h)
        with _disk_full_guard(dest):
            if link_type in ("hardlink", "symlink"):
                # A hard link appears whole or not at all, so no temp file is needed: make the inode
                # read-only, then link it under its name (EEXIST: a racing writer stored it first).
                old_mode = os.stat(src).st_mode & 0o7777
                os.chmod(src, OBJECT_MODE)
                try:
                    os.link(src, dest)
                    return True
                except FileExistsError:
                    return False
                except OSError as exc:
                    os.chmod(src, old_mode)
                    if exc.errno not in links.NO_HARDLINK:
                        raise
            links.place(src, dest, "reflink" if link_type != "copy" else "copy", OBJECT_MODE)
        return True

    def add_open_file_by_hardlink(self, src: str, fd: int, h: str, mode: int) -> bool:
        """Store `src`, open as `fd`, hashed to `h` and of `mode` (st_mode), by making its inode the
        object: read-only, hard-linked under the object's name. True when it now is the object;
        False when the object was stored already, or a link was impossible and it was copied.

        Linking first and taking EEXIST for "already there" spares a stat per file, and the mode
        goes through the open fd: adding 50,000 small files is syscalls, not bytes.
        """
        if h in self.packs:
            return False
        dest = f"{self._shard(h)}{os.sep}{h[2:]}"
        os.fchmod(fd, OBJECT_MODE)
        try:
            os.link(src, dest)
            return True
        except OSError as exc:
            os.fchmod(fd, mode & 0o7777)  # not the object after all: the user's mode again
            if isinstance(exc, FileExistsError):
                return False
            if exc.errno not in links.NO_HARDLINK:
                with _disk_full_guard(dest):
                    raise
        self.add_file(src, h, "copy")  # the cache is on another filesystem, or too many links
        return False

    def add_stream(self, src: str) -> str:
        """Hash and copy `src` in one pass (large files, copy link type); returns the hash."""
        tmp = links.tmp_path_for(os.path.join(self.root, "incoming"))
        os.makedirs(self.root, exist_ok=True)
        h = xxhash.xxh3_128()
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        with _disk_full_guard(tmp):
            try:
                with open(open_to_read(src), "rb", buffering=0) as s:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OBJECT_MODE)
                    try:
                        while n := s.readinto(buf):
                            h.update(view[:n])
                            chunk = view[:n]
                            while chunk:
                                chunk = chunk[os.write(fd, chunk) :]
                    finally:
                        os.close(fd)
                digest = h.hexdigest()
                if self.has(digest):
                    os.unlink(tmp)
                else:
                    self._shard(digest)
                    os.replace(tmp, self.path(digest))
                return digest
            except BaseException:
                links.unlink_quiet(tmp)
                raise

    def pack_writer(self) -> packs.PackWriter:
        """A writer for small objects; its packs become visible to this store as they are committed.

        Use it as a context manager: what was written whole is kept when the block ends.
        """
        return packs.PackWriter(
            self.packs.folder, on_commit=self.packs.added, seen=self._has_by_listing(), mode=OBJECT_MODE
        )

    def _has_by_listing(self) -> Callable[[str], bool]:
        """`has`, with loose objects looked up in one listing per shard: a stat per small object costs
        as much as packing it. A loose object stored after its shard was listed is missed; it is then
        packed too, which is harmless (reads prefer the pack, removal takes both)."""
        listings: dict[str, set[str]] = {}

        def has(h: str) -> bool:
            if h in self.packs:
                return True
            names = listings.get(h[:2])
            if names is None:
                try:
                    names = listings[h[:2]] = set(os.listdir(os.path.join(self.root, h[:2])))
                except FileNotFoundError:
                    names = listings[h[:2]] = set()
            return h[2:] in names

        return has

    def add_tree(self, tree: Tree) -> str:
        return self.add_bytes(tree.serialize())

    def tmp_path(self, h: str) -> str:
        """A temp path beside where `h` goes (same folder, so a rename lands it whole)."""
        return links.tmp_path_for(os.path.join(self._shard(h), h[2:]))

    def add_verified(self, tmp: str, h: str, digest: str | None = None) -> None:
        """Move the temp file `tmp` in as object `h` only if its bytes hash to `h`; else delete it and raise.

        `digest`: the hash of `tmp`'s bytes when the caller computed it while writing them.
        """
        try:
            got = digest or hash_file(tmp)
            if got != h:
                raise CorruptObjectError(f"object {h}: received bytes hash to {got}")
            os.chmod(tmp, OBJECT_MODE)
            os.replace(tmp, self.path(h))
        except BaseException:
            links.unlink_quiet(tmp)
            raise

    # -- reading ----------------------------------------------------------
    def place(self, h: str, dest: str, link_type: str, mode: int) -> str:
        """Make `dest` (a new file) hold object `h`; returns the link type used.

        A packed object is always copied out: a link would share the whole pack.
        """
        data = self.packs.read(h)
        if data is None:
            return links.place(self.path(h), dest, link_type, mode)
        links.write_bytes_atomic(dest, data, mode)
        return "copy"

    def place_new(self, h: str, dest: str, link_type: str, mode: int) -> os.stat_result:
        """`place` for a `dest` that does not exist (FileExistsError otherwise), with no temp file: a
        copy is written in place, so a kill can leave it part-written (see `is_prefix`). Its stat."""
        data = self.packs.read(h)
        if data is None:
            return links.place_new(self.path(h), dest, link_type, mode)
        return links.write_new(dest, data, mode)

    def is_prefix(self, path: str, h: str) -> bool:
        """Whether the bytes of file `path` are the start of object `h` (as a part-written `place_new` is)."""
        data = self.packs.read(h)
        try:
            with open(path, "rb") as f:
                if data is not None:
                    return data.startswith(f.read(len(data) + 1))
                with open(self.path(h), "rb") as obj:
                    while chunk := f.read(BLOCK):
                        if obj.read(len(chunk)) != chunk:
                            return False
                    return True
        except FileNotFoundError:
            return False

    def read(self, h: str) -> bytes:
        data = self.packs.read(h)
        if data is not None:
            return data
        try:
            with open(self.path(h), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ObjectMissingError(h) from None

    def read_tree(self, h: str) -> Tree:
        tree = self._trees.get(h)
        if tree is None:
            tree = self.remember_tree(h, parse_tree(self.read(h), name=f"tree {h}"))
        return tree

    def remember_tree(self, h: str, tree: Tree) -> Tree:
        """Keep a parsed tree for `read_tree` (a fetch parses what it downloads anyway)."""
        if len(self._trees) >= TREES_KEPT:
            self._trees.clear()
        self._trees[h] = tree
        return tree

    def iter_hashes(self) -> Iterator[str]:
        """Every object, loose then packed (an object in both is listed once)."""
        loose = set(self._iter_loose())
        yield from loose
        for h in self.packs.hashes():
            if h not in loose:
                yield h

    def _iter_loose(self) -> Iterator[str]:
        try:
            shards = os.scandir(self.root)
        except FileNotFoundError:
            return
        with shards:
            for shard in shards:
                if len(shard.name) != 2 or not shard.is_dir():
                    continue
                with os.scandir(shard.path) as it:
                    for e in it:
                        h = shard.name + e.name
                        if is_hash(h):
                            yield h

    def iter_tmp(self) -> Iterator[str]:
        """Leftovers of interrupted writes: temp files, and packs that never got their index."""
        if not os.path.isdir(self.root):
            return
        for dirpath, _dirs, files in os.walk(self.root):
            if dirpath == self.packs.folder:
                continue
            for name in files:
                if links.is_tmp_name(name):
                    yield os.path.join(dirpath, name)
        yield from packs.orphans(self.packs.folder)

    # -- maintenance ------------------------------------------------------
    def is_intact(self, h: str) -> bool:
        try:
            data = self.packs.read(h)
        except CorruptObjectError:  # its pack is shorter than its index says
            return False
        if data is not None:
            return hash_bytes(data) == h
        try:
            return hash_file(self.path(h)) == h
        except FileNotFoundError:
            return False

    def remove(self, h: str) -> None:
        """Remove a loose object (packed ones go through `remove_many`, which rewrites their packs)."""
        self._trees.pop(h, None)
        links.unlink_quiet(self.path(h))

    def remove_many(self, hashes: set[str]) -> None:
        """Remove these objects, loose or packed; a pack that holds any of them is rewritten without them."""
        self._trees.clear()
        for h in hashes:
            links.unlink_quiet(self.path(h))
        for pid in self.packs.packs():
            packs.rewrite(self.packs, pid, keep=lambda h: h not in hashes)

    def set_aside_unreadable_packs(self, dest_dir: str) -> dict[str, str]:
        """Move every pack whose .idx cannot be read (and so hides all its objects: a pack has no
        framing of its own to rebuild one from) to `dest_dir`/packs/; {pack ID: why}. What it held
        then counts as missing, which a pull fetches again, instead of failing every command."""
        bad: dict[str, str] = {}
        for pid in self.packs.packs():
            try:
                self.packs.entries(pid)
            except (CorruptObjectError, OSError) as exc:
                bad[pid] = str(exc)
        if bad:
            import shutil  # here, not at the top: a no-op status loads this module

            aside = os.path.join(dest_dir, "packs")
            os.makedirs(aside, exist_ok=True)
            for pid in bad:
                for ext in (packs.IDX, packs.PACK):  # the index first: without it the pack is invisible
                    src = os.path.join(self.packs.folder, pid + ext)
                    if os.path.lexists(src):
                        shutil.move(src, os.path.join(aside, pid + ext))
                self.packs.forget(pid)
        return bad

    def quarantine(self, h: str, dest_dir: str) -> str:
        return self.quarantine_many({h}, dest_dir)[0]

    def quarantine_many(self, hashes: set[str], dest_dir: str) -> list[str]:
        """Move these (corrupt) objects to `dest_dir`, each as a file named by its hash; the packs
        that held any are rewritten once, without them. Returns the quarantined paths."""
        self._trees.clear()
        os.makedirs(dest_dir, exist_ok=True)
        dests = []
        for h in sorted(hashes):
            dest = os.path.join(dest_dir, h)
            slot = self.packs.get(h)
            if slot is not None:
                links.write_bytes_atomic(dest, self.packs.read_slot(slot, whole=False), OBJECT_MODE)
            if os.path.lexists(self.path(h)):
                import shutil  # here, not at the top: a no-op status loads this module

                shutil.move(self.path(h), dest)
            dests.append(dest)
        packed = {h for h in hashes if h in self.packs}
        if packed:
            for pid in self.packs.packs():
                packs.rewrite(self.packs, pid, keep=lambda other: other not in packed)
        return dests

    def size(self, h: str) -> int:
        slot = self.packs.get(h)
        if slot is not None:
            return slot.size
        return os.stat(self.path(h)).st_size


class _disk_full_guard:
    """Turn ENOSPC/EDQUOT into a DiskFullError that names the place."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                f"no space left on device writing {self.where}; nothing partial was kept, free some space and rerun"
            ) from None
        return False


def check_object(store: ObjectStore, h: str) -> None:
    if not store.is_intact(h):
        raise CorruptObjectError(f"object {h} is corrupt (run `mlvc cache verify`)")
