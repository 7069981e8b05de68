"""Packs: many small objects in one file, so storing 50,000 small files creates one file, not 50,000.

On this kind of machine creating a file costs far more than writing a few KiB (inode, directory
entry, journal), so objects up to `SMALL` bytes live in packs, in the cache and on remotes:

    packs/ID.pack   the objects' bytes, back to back
    packs/ID.idx    b"MLVCPIDX", u32 version, u32 count, then `count` entries sorted by hash:
                    16-byte hash, u64 offset, u64 size (little endian)

ID is the xxh3-128 hash of the .pack's bytes. The .idx is written after the .pack and is what
makes its objects visible: a crash leaves at most an unindexed .pack (garbage that gc removes),
never a listed object without its bytes. Packs are immutable; gc rewrites one without its dead
objects and deletes the old one only after the new one is indexed.
"""

from __future__ import annotations

import errno
import os
import struct
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator

import xxhash

from mlvc import links
from mlvc.errors import CorruptObjectError, DiskFullError

SMALL = 128 * 1024  # objects up to this size are packed
TARGET = 256 << 20  # a writer starts a new pack beyond this many bytes
BUFFER = 4 << 20  # a writer writes its objects this many bytes at a time
PACK, IDX = ".pack", ".idx"
MAGIC = b"MLVCPIDX"
VERSION = 1
_HEAD = struct.Struct("<8sII")
_ENTRY = struct.Struct("<16sQQ")


class Slot(namedtuple("Slot", "pack offset size")):  # not a typing.NamedTuple: see mlvc/tree.py
    """Where an object's bytes are: pack ID (str), offset and size (ints)."""

    __slots__ = ()


# -- the index format ---------------------------------------------------------------------------
def encode_index(entries: dict[str, tuple[int, int]]) -> bytes:
    """The .idx bytes for {hash: (offset, size)}."""
    parts = [_HEAD.pack(MAGIC, VERSION, len(entries))]
    parts += [_ENTRY.pack(bytes.fromhex(h), off, size) for h, (off, size) in sorted(entries.items())]
    return b"".join(parts)


def decode_index(data: bytes, name: str) -> dict[str, tuple[int, int]]:
    """{hash: (offset, size)} from .idx bytes; `name` says which index in errors."""
    check_index(data, name)
    return {raw.hex(): (off, size) for raw, off, size in _ENTRY.iter_unpack(memoryview(data)[_HEAD.size :])}


def check_index(data: bytes, name: str) -> int:
    """The number of entries in .idx bytes, after checking their header and length."""
    if len(data) < _HEAD.size:
        raise CorruptObjectError(f"pack index {name}: truncated ({len(data)} bytes)")
    magic, version, count = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise CorruptObjectError(f"pack index {name}: not a pack index")
    if version != VERSION:
        raise CorruptObjectError(f"pack index {name}: version {version}; this mlvc reads version {VERSION}")
    if len(data) != _HEAD.size + count * _ENTRY.size:
        raise CorruptObjectError(f"pack index {name}: {count} entries but {len(data)} bytes")
    return count


def find_in_index(data: bytes, count: int, key: bytes) -> tuple[int, int] | None:
    """(offset, size) of the object with raw hash `key` in checked .idx bytes: a binary search
    (the entries are sorted), so one lookup need not decode the whole index."""
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        at = _HEAD.size + mid * _ENTRY.size
        here = data[at : at + 16]
        if here < key:
            lo = mid + 1
        elif here > key:
            hi = mid
        else:
            return _ENTRY.unpack_from(data, at)[1:]
    return None


def pack_ids(folder: str) -> list[str]:
    """IDs of the indexed packs in `folder` (a .pack without its .idx is not a pack yet)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(n[: -len(IDX)] for n in names if n.endswith(IDX) and not links.is_tmp_name(n))


# -- reading --------------------------------------------------------------------------------------
class PackIndex:
    """Every pack in one folder, loaded on first use: hash -> Slot, and reads by pread.

    The first FEW_LOOKUPS lookups binary-search the .idx files as read; only a caller that asks
    for more (checkout, gc, a fetch) pays for the hash -> Slot dict of every packed object. A
    no-op `status` asks once (is the folder's tree in the cache?), and 50,000 entries take
    ~0.06 s to decode: a third of that status.
    """

    FEW_LOOKUPS = 64

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._slots: dict[str, Slot] | None = None
        self._raw: list[tuple[str, bytes, int]] | None = None  # (pack ID, .idx bytes, count)
        self._lookups = 0
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Slot]:
        slots = self._slots
        if slots is not None:  # the hot path (one call per object): no lock
            return slots
        with self._lock:
            if self._slots is None:
                slots: dict[str, Slot] = {}
                for pid in pack_ids(self.folder):
                    self._merge(slots, pid, self._read_idx(pid))
                self._slots = slots
            return self._slots

    def _read_idx(self, pid: str) -> dict[str, tuple[int, int]]:
        return decode_index(self._read_idx_bytes(pid), pid + IDX)

    def _read_idx_bytes(self, pid: str) -> bytes:
        with open(os.path.join(self.folder, pid + IDX), "rb") as f:
            return f.read()

    def _find(self, h: str) -> Slot | None:
        """Slot of `h` by binary search in each .idx (the first FEW_LOOKUPS lookups)."""
        with self._lock:
            if self._raw is None:
                raw = []
                for pid in pack_ids(self.folder):
                    data = self._read_idx_bytes(pid)
                    raw.append((pid, data, check_index(data, pid + IDX)))
                self._raw = raw
            raw = self._raw
        try:
            key = bytes.fromhex(h)
        except ValueError:
            return None
        found = None
        for pid, data, count in raw:  # like _merge: a later pack's slot wins
            hit = find_in_index(data, count, key)
            if hit is not None:
                found = Slot(pid, *hit)
        return found

    @staticmethod
    def _merge(slots: dict[str, Slot], pid: str, entries: dict[str, tuple[int, int]]) -> None:
        for h, (off, size) in entries.items():
            slots[h] = Slot(pid, off, size)

    def added(self, pid: str, entries: dict[str, tuple[int, int]]) -> None:
        """A writer committed pack `pid`: its objects are visible from now on."""
        self._merge(self._load(), pid, entries)

    def forget(self, pid: str) -> None:
        """Pack `pid` was deleted: reload the view (objects also in other packs stay visible)."""
        with self._lock:
            fd = self._fds.pop(pid, None)
            if fd is not None:
                os.close(fd)
            self._slots = None
            self._raw = None

    def get(self, h: str) -> Slot | None:
        slots = self._slots
        if slots is None and self._lookups < self.FEW_LOOKUPS:
            self._lookups += 1
            return self._find(h)
        return self._load().get(h)

    def __contains__(self, h: str) -> bool:
        slots = self._slots
        if slots is not None:  # the hot path (an add asks per file): one dict lookup
            return h in slots
        return self.get(h) is not None

    def __len__(self) -> int:
        return len(self._load())

    def hashes(self) -> Iterator[str]:
        return iter(list(self._load()))

    def entries(self, pid: str) -> dict[str, tuple[int, int]]:
        """What the .idx of pack `pid` lists (read from disk, not from the merged view)."""
        return self._read_idx(pid)

    def packs(self) -> list[str]:
        return pack_ids(self.folder)

    def read(self, h: str) -> bytes | None:
        """The bytes of packed object `h`, or None when no pack holds it."""
        slot = self.get(h)
        if slot is None:
            return None
        return self.read_slot(slot)

    def read_slot(self, slot: Slot, whole: bool = True) -> bytes:
        """The bytes at `slot`; a pack cut short raises, unless `whole=False` (what is there)."""
        fd = self._fd(slot.pack)
        data = os.pread(fd, slot.size, slot.offset)
        if len(data) != slot.size and whole:
            raise CorruptObjectError(
                f"pack {slot.pack}: truncated (object at offset {slot.offset} needs {slot.size} bytes)"
            )
        return data

    def _fd(self, pid: str) -> int:
        fd = self._fds.get(pid)
        if fd is None:
            with self._lock:
                fd = self._fds.get(pid)
                if fd is None:
                    fd = os.open(os.path.join(self.folder, pid + PACK), os.O_RDONLY)
                    self._fds[pid] = fd
        return fd

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


# -- writing --------------------------------------------------------------------------------------
class PackWriter:
    """Appends objects to a temp pack in `folder`; `flush` makes it ID.pack + ID.idx.

    `on_commit(pid, entries)` runs after each pack is indexed. `seen(h)` says an object is stored
    already (it is then skipped). Use as a context manager: leaving the block commits what was
    written whole, also on an error, so a rerun of an interrupted command does not redo it.
    """

    def __init__(
        self,
        folder: str,
        on_commit: Callable[[str, dict[str, tuple[int, int]]], None] | None = None,
        seen: Callable[[str], bool] | None = None,
        target: int = TARGET,
        mode: int = 0o444,
    ) -> None:
        self.folder = folder
        self.on_commit = on_commit
        self.seen = seen or (lambda h: False)
        self.target = target
        self.mode = mode
        self.committed: list[str] = []
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._fd: int | None = None
        self._tmp: str | None = None
        self._entries: dict[str, tuple[int, int]] = {}
        self._offset = 0  # where the next object goes (buffered or written)
        self._buf = bytearray()  # objects not yet written; _written bytes are in the file
        self._written = 0
        self._hash = xxhash.xxh3_128()

    def __contains__(self, h: str) -> bool:
        return h in self._entries

    def add(self, h: str, data: bytes) -> bool:
        """Append object `h` (its bytes already hashed to `h`). False if it was stored already."""
        with self._lock:
            if h in self._entries or self.seen(h):
                return False
            if self._fd is None:
                os.makedirs(self.folder, exist_ok=True)
                self._tmp = links.tmp_path_for(os.path.join(self.folder, "new" + PACK))
                self._fd = _open_new(self._tmp, self.mode)
            # Small objects are gathered and written a few MiB at a time: one write per 4 KiB object
            # costs more than the copy.
            self._buf += data
            self._entries[h] = (self._offset, len(data))
            self._offset += len(data)
            if len(self._buf) >= BUFFER:
                self._drain()
            if self._offset >= self.target:
                self._commit()
            return True

    def _drain(self) -> None:
        """Write the buffered objects; on an error the pack keeps only what was written before."""
        assert self._fd is not None
        try:
            view = memoryview(self._buf)
            while view:
                view = view[os.write(self._fd, view) :]
        except BaseException as exc:
            os.ftruncate(self._fd, self._written)
            self._entries = {h: e for h, e in self._entries.items() if e[0] < self._written}
            self._offset = self._written
            self._buf = bytearray()
            _raise_disk_full(exc, self._tmp)
            raise
        self._hash.update(self._buf)
        self._written = self._offset
        self._buf = bytearray()

    def flush(self) -> None:
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        if self._fd is None:
            return
        self._drain()
        fd, tmp, entries = self._fd, self._tmp, self._entries
        pid = self._hash.hexdigest()
        self._reset()
        os.close(fd)
        if not entries:
            links.unlink_quiet(tmp)
            return
        dest, idx = os.path.join(self.folder, pid + PACK), os.path.join(self.folder, pid + IDX)
        try:
            os.replace(tmp, dest)
            links.write_bytes_atomic(idx, encode_index(entries), self.mode)
        except BaseException:
            links.unlink_quiet(tmp)
            if not os.path.exists(idx):  # else the same pack (same bytes) was committed before
                links.unlink_quiet(dest)
            raise
        self.committed.append(pid)
        if self.on_commit is not None:
            self.on_commit(pid, entries)

    def discard(self) -> None:
        """Drop the uncommitted pack (its objects were never visible)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                links.unlink_quiet(self._tmp)
            self._reset()

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()
            return
        try:
            self.flush()  # what was written whole is kept, so a rerun does not redo it
        except Exception:
            self.discard()


def rewrite(index: PackIndex, pid: str, keep: Callable[[str], bool]) -> tuple[int, int]:
    """Rewrite pack `pid` with only the objects `keep` accepts; returns (objects, bytes) dropped.

    The new pack is indexed before the old one is deleted, so a crash in between leaves
    duplicates (harmless), never a missing object.
    """
    entries = index.entries(pid)
    dropped = {h: s for h, s in entries.items() if not keep(h)}
    if not dropped:
        return 0, 0
    live = [h for h in entries if h not in dropped]
    if live:
        with PackWriter(index.folder, on_commit=index.added) as writer:
            for h in live:
                off, size = entries[h]
                writer.add(h, index.read_slot(Slot(pid, off, size)))
    remove_pack(index, pid)
    return len(dropped), sum(size for _off, size in dropped.values())


def remove_pack(index: PackIndex, pid: str) -> None:
    """Delete pack `pid`: its index first, so no reader ever sees objects without bytes."""
    links.unlink_quiet(os.path.join(index.folder, pid + IDX))
    links.unlink_quiet(os.path.join(index.folder, pid + PACK))
    index.forget(pid)


def orphans(folder: str) -> list[str]:
    """Leftovers of interrupted writes: temp files and .pack files without an .idx."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    indexed = {n[: -len(IDX)] for n in names if n.endswith(IDX) and not links.is_tmp_name(n)}
    return sorted(
        os.path.join(folder, n)
        for n in names
        if links.is_tmp_name(n) or (n.endswith(PACK) and n[: -len(PACK)] not in indexed)
    )


def _open_new(path: str, mode: int) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        _raise_disk_full(exc, path)
        raise


def _raise_disk_full(exc: BaseException, where: str | None) -> None:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFullError(
            f"no space left on device writing {where}; nothing partial was kept, free some space and rerun"
        ) from None
