"""Looking into a folder remote from tests: loose objects (`ab/cdef...`) and packed ones (`packs/ID.pack|.idx`)."""

from __future__ import annotations

import os
from pathlib import Path

from mlvc import packs
from mlvc.objects import ObjectStore


def loose_objects(remote: Path) -> dict[str, Path]:
    out = {}
    for shard in remote.iterdir() if remote.exists() else []:
        if len(shard.name) != 2:
            continue
        for f in shard.iterdir():
            if len(f.name) == 30:
                out[shard.name + f.name] = f
    return out


def packed_objects(remote: Path) -> dict[str, packs.Slot]:
    """hash -> Slot for every object that an .idx on the remote lists."""
    folder = str(remote / "packs")
    out = {}
    for pid in packs.pack_ids(folder):
        with open(os.path.join(folder, pid + packs.IDX), "rb") as f:
            for h, (off, size) in packs.decode_index(f.read(), pid).items():
                out[h] = packs.Slot(pid, off, size)
    return out


def remote_hashes(remote: Path) -> set[str]:
    return set(loose_objects(remote)) | set(packed_objects(remote))


def remote_read(remote: Path, h: str) -> bytes:
    slot = packed_objects(remote).get(h)
    if slot is None:
        return loose_objects(remote)[h].read_bytes()
    with open(remote / "packs" / (slot.pack + packs.PACK), "rb") as f:
        f.seek(slot.offset)
        return f.read(slot.size)


def flip_byte(remote: Path, h: str, at: int = 0) -> None:
    """Corrupt object `h` on the remote in place (same size), packed or loose."""
    slot = packed_objects(remote).get(h)
    path, offset = ((remote / "packs" / (slot.pack + packs.PACK)), slot.offset + at) if slot else (
        loose_objects(remote)[h], at)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def cache_hashes(cache: Path) -> set[str]:
    """Every object in a local cache, loose or packed."""
    return set(ObjectStore(str(cache)).iter_hashes())
