"""Small objects on a remote, many to a file: `ROOT/packs/ID.pack` + `ID.idx` (the cache's format, mlvc/packs.py).

Creating one file (or one PUT) per 4 KiB object is what made moving 50,000 small files slow, so
push sends the small objects it has to send as packs, and fetch reads them back by byte ranges.

- An `.idx` is uploaded only after its `.pack` is whole on the remote, so an object listed by an
  index always has its bytes there; trees stay loose (`ROOT/ab/cdef...`), uploaded after the packs.
- Each `.idx` is downloaded once and kept under `.mlvc/tmp/remote-packs/`: a pack is immutable and
  named by its bytes' hash, so a kept index never goes stale. `ROOT/packs/` itself is listed afresh by
  every command, so a pack deleted from the remote is noticed.
- `remote verify` records what it found corrupt (and the trees above it) per remote; the next push
  treats those as absent, sends them again and drops the bad copies from their packs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from mlvc import links, packs
from mlvc.errors import MlvcError
from mlvc.packs import IDX, PACK, Slot

IDX_CACHE = "remote-packs"  # under .mlvc/tmp
GAP = 1 << 20  # read through a gap this small rather than make another request
CHUNK = 16 << 20  # at most this many bytes per request
MOST = 0.5  # needing this share of a pack's bytes or more: read all of it (in CHUNK requests)


class Read(NamedTuple):
    """One ranged read of a remote pack and the objects it brings: (hash, offset, size)."""

    pid: str
    start: int
    end: int
    objects: list[tuple[str, int, int]]


class RemotePacks:
    """The packs a remote holds: hash -> Slot, read from its `.idx` files (each downloaded once)."""

    def __init__(self, store, tmp_dir: str) -> None:
        self.store = store
        self.cache_dir = os.path.join(tmp_dir, IDX_CACHE)
        self.slots: dict[str, Slot] = {}
        self.entries: dict[str, dict[str, tuple[int, int]]] = {}  # pack ID -> what its index lists
        self.sizes: dict[str, int] = {}  # pack ID -> bytes of its .pack
        self.orphans: list[str] = []  # a .pack without its .idx: an upload killed in between
        self.dangling: list[str] = []  # an .idx without its .pack (deleted by hand): lists nothing usable
        self.unusable: dict[str, str] = {}  # pack ID -> why its objects cannot be used
        self.loaded = False

    def load(self, run: Callable[[list[str], Callable[[str], None]], None]) -> RemotePacks:
        """List ROOT/packs/ and read every index; `run(items, fn)` runs fn over items in parallel."""
        if self.loaded:
            return self
        files = self.store.list_pack_files()
        ids = []
        for name in files:
            if name.endswith(PACK) and name[: -len(PACK)] + IDX not in files:
                self.orphans.append(name)
            elif name.endswith(IDX):
                pid = name[: -len(IDX)]
                if pid + PACK in files:
                    ids.append(pid)
                    self.sizes[pid] = files[pid + PACK]
                else:
                    self.dangling.append(name)
                    self.unusable[pid] = f"{name} is on the remote but {pid}{PACK} is not"
        run([pid for pid in ids if self._cached(pid) is None], self._download_index)
        for pid in sorted(ids):
            entries = self._cached(pid)
            if entries is None:
                continue  # unusable: reason noted by _download_index
            self.add(pid, entries)
        self.loaded = True
        return self

    def add(self, pid: str, entries: dict[str, tuple[int, int]]) -> None:
        """Pack `pid` is on the remote, index and all."""
        self.entries[pid] = entries
        for h, (off, size) in entries.items():
            self.slots.setdefault(h, Slot(pid, off, size))

    def remove(self, pid: str) -> None:
        self.entries.pop(pid, None)
        self.sizes.pop(pid, None)
        self.slots = {}
        for other, entries in self.entries.items():
            for h, (off, size) in entries.items():
                self.slots.setdefault(h, Slot(other, off, size))

    def get(self, h: str) -> Slot | None:
        return self.slots.get(h)

    def holders(self, h: str) -> list[str]:
        """Every pack whose index lists `h` (usually one)."""
        return [pid for pid, entries in self.entries.items() if h in entries]

    def _path(self, pid: str) -> str:
        return os.path.join(self.cache_dir, pid + IDX)

    def _cached(self, pid: str) -> dict[str, tuple[int, int]] | None:
        try:
            with open(self._path(pid), "rb") as f:
                return packs.decode_index(f.read(), pid + IDX)
        except (FileNotFoundError, MlvcError):
            return None

    def _download_index(self, pid: str) -> None:
        data = self.store.read_pack_file(pid + IDX)
        try:
            packs.decode_index(data, pid + IDX)
        except MlvcError as exc:
            self.unusable[pid] = str(exc)
            return
        os.makedirs(self.cache_dir, exist_ok=True)
        links.write_bytes_atomic(self._path(pid), data, 0o644)


def plan_reads(pid: str, wanted: Iterable[tuple[str, int, int]], pack_size: int) -> list[Read]:
    """Ranged reads that bring `wanted` (hash, offset, size) from pack `pid`: neighbours coalesced,
    and the whole pack (in CHUNK pieces) when most of it is wanted."""
    objs = sorted(wanted, key=lambda w: w[1])
    needed = sum(size for _h, _off, size in objs)
    gap = CHUNK if needed >= MOST * pack_size else GAP
    reads: list[Read] = []
    for h, off, size in objs:
        last = reads[-1] if reads else None
        if last is not None and off - last.end <= gap and off + size - last.start <= CHUNK:
            last.objects.append((h, off, size))
            reads[-1] = last._replace(end=max(last.end, off + size))
        else:
            reads.append(Read(pid, off, off + size, [(h, off, size)]))
    return reads


def split(read: Read, data: bytes) -> Iterator[tuple[str, bytes | None]]:
    """(hash, bytes) of each object in a ranged read; None for one the read came back short of."""
    view = memoryview(data)
    for h, off, size in read.objects:
        lo = off - read.start
        yield h, bytes(view[lo : lo + size]) if lo + size <= len(data) else None


def read_pack(store, read: Read) -> bytes:
    return store.read_pack_file(read.pid + PACK, read.start, read.end)


# -- what `remote verify` found, for the next push ------------------------------------------------------------
def _suspects_path(tmp_dir: str, store) -> str:
    key = hashlib.sha1(f"{store.cfg.protocol}:{store.root}".encode()).hexdigest()[:16]
    return os.path.join(tmp_dir, IDX_CACHE, f"suspects-{key}.json")


def save_suspects(tmp_dir: str, store, bad: Iterable[str], trees: Iterable[str]) -> None:
    """Remember (in this repository) the remote's corrupt or missing objects and the trees above them."""
    path = _suspects_path(tmp_dir, store)
    bad, trees = sorted(set(bad)), sorted(set(trees))
    if not bad and not trees:
        clear_suspects(tmp_dir, store)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    links.write_bytes_atomic(path, json.dumps({"schema": 1, "bad": bad, "trees": trees}).encode(), 0o644)


def load_suspects(tmp_dir: str, store) -> tuple[set[str], set[str]]:
    try:
        with open(_suspects_path(tmp_dir, store), "rb") as f:
            doc = json.loads(f.read())
        return set(doc.get("bad", [])), set(doc.get("trees", []))
    except (FileNotFoundError, ValueError):
        return set(), set()


def clear_suspects(tmp_dir: str, store) -> None:
    try:
        os.unlink(_suspects_path(tmp_dir, store))
    except FileNotFoundError:
        pass


# -- writing packs to a remote ----------------------------------------------------------------------------------
class PackSender:
    """Writes small objects into new packs and makes them visible on the remote, .pack before .idx.

    A folder remote gets them written in place (the writer's temp + rename, index last, is the same
    protocol); any other remote gets them built in a temp folder under .mlvc/tmp, then uploaded.
    `on_visible(pid, entries)` runs once a pack's index is on the remote.
    """

    def __init__(self, store, tmp_dir: str, on_visible: Callable[[str, dict[str, tuple[int, int]]], None]) -> None:
        import tempfile

        self.store = store
        self.on_visible = on_visible
        self.in_place = store.pack_folder() is not None
        if self.in_place:
            self.folder = store.pack_folder()
        else:
            os.makedirs(tmp_dir, exist_ok=True)
            self.folder = tempfile.mkdtemp(prefix="push-packs-", dir=tmp_dir)
        self.pending: list[tuple[str, dict[str, tuple[int, int]]]] = []
        self.writer = packs.PackWriter(self.folder, on_commit=self._committed, mode=0o444)

    def _committed(self, pid: str, entries: dict[str, tuple[int, int]]) -> None:
        if self.in_place:
            self.on_visible(pid, entries)
        else:
            self.pending.append((pid, entries))

    def upload(self, item: tuple[str, dict[str, tuple[int, int]]]) -> None:
        """Upload one built pack: the .pack, then the .idx that makes its objects visible."""
        pid, entries = item
        for name in (pid + PACK, pid + IDX):
            path = os.path.join(self.folder, name)
            self.store.put_pack_file(path, name)
            os.unlink(path)
        self.on_visible(pid, entries)

    def close(self) -> None:
        self.writer.discard()
        if not self.in_place:
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)


def rewrite_pack(store, rpacks: RemotePacks, pid: str, keep: Callable[[str], bool], tmp_dir: str) -> list[str]:
    """Rewrite remote pack `pid` with only the objects `keep` accepts; returns the hashes dropped.

    The new pack and its index go up first, then the old index is deleted, then the old pack, so
    every kept object is visible at every moment. Raises CorruptObjectError, changing nothing, when
    a kept object's bytes do not match its name (copying them would hide the damage).
    """
    from mlvc.errors import CorruptObjectError
    from mlvc.hashing import hash_bytes

    entries = rpacks.entries[pid]
    dead = [h for h in entries if not keep(h)]
    if not dead:
        return []
    live = [(h, off, size) for h, (off, size) in entries.items() if keep(h)]
    if live:
        sender = PackSender(store, tmp_dir, rpacks.add)
        try:
            received = []
            for read in plan_reads(pid, live, rpacks.sizes[pid]):
                for h, data in split(read, read_pack(store, read)):
                    if data is None or hash_bytes(data) != h:
                        raise CorruptObjectError(
                            f"remote {store.name!r}: object {h} in pack {pid} is corrupt; the pack was not "
                            "rewritten (run `mlvc remote verify`, then push from a repository that has it)"
                        )
                    received.append((h, data))
            for h, data in received:
                sender.writer.add(h, data)
            sender.writer.flush()
            for item in sender.pending:
                sender.upload(item)
        finally:
            sender.close()
    store.delete_pack_files([pid + IDX, pid + PACK])
    rpacks.remove(pid)
    return dead
