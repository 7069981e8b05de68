"""The content-addressed object store: `.mlvc/cache/ab/cdef...` named by xxh3-128.

Plumbing only. Every write goes to a temp file in the shard folder and is renamed into
place, so an object is whole or absent. Objects are read-only on disk.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator

import xxhash

from mlvc import links
from mlvc.errors import CorruptObjectError, DiskFullError, ObjectMissingError
from mlvc.hashing import BLOCK, hash_bytes, hash_file, is_hash
from mlvc.tree import Tree, parse_tree

OBJECT_MODE = 0o444


class ObjectStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self._made_dirs: set[str] = set()

    # -- names ------------------------------------------------------------
    def path(self, h: str) -> str:
        return os.path.join(self.root, h[:2], h[2:])

    def has(self, h: str) -> bool:
        return os.path.exists(self.path(h))

    def _shard(self, h: str) -> str:
        d = os.path.join(self.root, h[:2])
        if d not in self._made_dirs:
            os.makedirs(d, exist_ok=True)
            self._made_dirs.add(d)
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
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                        raise
            links.place(src, dest, "reflink" if link_type != "copy" else "copy", OBJECT_MODE)
        return True

    def add_stream(self, src: str) -> str:
        """Hash and copy `src` in one pass (large files, copy link type); returns the hash."""
        tmp = links.tmp_path_for(os.path.join(self.root, "incoming"))
        os.makedirs(self.root, exist_ok=True)
        h = xxhash.xxh3_128()
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        with _disk_full_guard(tmp):
            try:
                with open(src, "rb", buffering=0) as s:
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
                _unlink_quiet(tmp)
                raise

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
            _unlink_quiet(tmp)
            raise

    # -- reading ----------------------------------------------------------
    def read(self, h: str) -> bytes:
        try:
            with open(self.path(h), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ObjectMissingError(h) from None

    def read_tree(self, h: str) -> Tree:
        return parse_tree(self.read(h), name=f"tree {h}")

    def iter_hashes(self) -> Iterator[str]:
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
        """Leftover temp files from an interrupted write."""
        if not os.path.isdir(self.root):
            return
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if links.is_tmp_name(name):
                    yield os.path.join(dirpath, name)

    # -- maintenance ------------------------------------------------------
    def is_intact(self, h: str) -> bool:
        try:
            return hash_file(self.path(h)) == h
        except FileNotFoundError:
            return False

    def remove(self, h: str) -> None:
        _unlink_quiet(self.path(h))

    def quarantine(self, h: str, dest_dir: str) -> str:
        os.makedirs(dest_dir, exist_ok=True)
        dest = os.path.join(dest_dir, h)
        shutil.move(self.path(h), dest)
        return dest

    def size(self, h: str) -> int:
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
                f"no space left on device writing {self.where}; nothing partial was kept, "
                "free some space and rerun"
            ) from None
        return False


def check_object(store: ObjectStore, h: str) -> None:
    if not store.is_intact(h):
        raise CorruptObjectError(f"object {h} is corrupt (run `mlvc cache verify`)")


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
