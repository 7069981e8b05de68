"""Packs (mlvc/packs.py) and the object store's packed objects, on a real filesystem."""

from __future__ import annotations

import os

import pytest

from mlvc import packs
from mlvc.errors import CorruptObjectError
from mlvc.hashing import hash_bytes
from mlvc.objects import ObjectStore


def _blobs(n: int, size: int = 100) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        data = (f"object {i} " * size).encode()[:size] + i.to_bytes(4, "little")
        out[hash_bytes(data)] = data
    return out


def _pack(store: ObjectStore, blobs: dict[str, bytes]) -> None:
    """Store `blobs` in one pack."""
    with store.pack_writer() as writer:
        for h, data in blobs.items():
            writer.add(h, data)


def test_written_objects_read_back_and_survive_a_new_store(tmp_path):
    store = ObjectStore(str(tmp_path / "cache"))
    blobs = _blobs(50)
    with store.pack_writer() as writer:
        for h, data in blobs.items():
            assert writer.add(h, data)
        assert not writer.add(next(iter(blobs)), b"ignored: already in this pack")
    fresh = ObjectStore(str(tmp_path / "cache"))
    for h, data in blobs.items():
        assert fresh.has(h) and fresh.is_packed(h)
        assert fresh.read(h) == data
        assert fresh.size(h) == len(data)
        assert fresh.is_intact(h)
    assert set(fresh.iter_hashes()) == set(blobs)
    assert list(fresh.iter_tmp()) == []
    (pid,) = packs.pack_ids(fresh.packs.folder)
    assert pid == hash_bytes(open(os.path.join(fresh.packs.folder, pid + packs.PACK), "rb").read())


def test_an_object_already_stored_is_not_packed_again(tmp_path):
    store = ObjectStore(str(tmp_path / "cache"))
    loose = b"loose object"
    h = store.add_bytes(loose)
    with store.pack_writer() as writer:
        assert not writer.add(h, loose)
    assert not store.is_packed(h)
    assert packs.pack_ids(store.packs.folder) == []


def test_a_writer_starts_new_packs_past_its_target(tmp_path):
    folder = str(tmp_path / "packs")
    index = packs.PackIndex(folder)
    blobs = _blobs(10, size=1000)
    with packs.PackWriter(folder, on_commit=index.added, target=2500) as writer:
        for h, data in blobs.items():
            writer.add(h, data)
    assert len(packs.pack_ids(folder)) == 4  # 3 objects per pack, then the last one
    assert all(index.read(h) == data for h, data in blobs.items())


def test_first_lookups_search_the_index_files_and_agree_with_the_full_view(tmp_path):
    folder = str(tmp_path / "packs")
    blobs = _blobs(300, size=50)
    items = list(blobs.items())
    for part in (items[:100], items[100:]):  # two packs; an object in both: the later pack's slot
        with packs.PackWriter(folder) as writer:
            for h, data in part + items[:1]:
                writer.add(h, data)
    full = packs.PackIndex(folder)
    full._load()
    lazy = packs.PackIndex(folder)
    missing = hash_bytes(b"not stored")
    assert lazy.get(missing) is None and "zz" not in lazy
    for h, _ in items[: lazy.FEW_LOOKUPS - 2]:
        assert lazy.get(h) == full.get(h)
    assert lazy._slots is None  # answered from the .idx bytes alone
    assert [lazy.read(h) for h, _ in items] == [data for _, data in items]
    assert lazy._slots is not None and len(lazy) == len(full) == len(blobs)


def test_a_pack_without_its_index_is_invisible_and_listed_as_leftover(tmp_path):
    store = ObjectStore(str(tmp_path / "cache"))
    blobs = _blobs(3)
    _pack(store, blobs)
    (pid,) = packs.pack_ids(store.packs.folder)
    os.unlink(os.path.join(store.packs.folder, pid + packs.IDX))  # as if killed between the two renames
    fresh = ObjectStore(store.root)
    assert not any(fresh.has(h) for h in blobs)
    assert list(fresh.iter_tmp()) == [os.path.join(store.packs.folder, pid + packs.PACK)]


def test_an_error_inside_the_block_keeps_what_was_written_whole(tmp_path):
    store = ObjectStore(str(tmp_path / "cache"))
    blobs = list(_blobs(3).items())
    with pytest.raises(RuntimeError), store.pack_writer() as writer:
        writer.add(*blobs[0])
        raise RuntimeError("file changed while hashing")
    assert ObjectStore(store.root).read(blobs[0][0]) == blobs[0][1]


def test_discard_leaves_nothing(tmp_path):
    store = ObjectStore(str(tmp_path / "cache"))
    writer = store.pack_writer()
    writer.add(*next(iter(_blobs(1).items())))
    writer.discard()
    assert os.listdir(store.packs.folder) == []


def test_remove_many_rewrites_only_the_packs_that_hold_dead_objects(tmp_path):
    store = ObjectStore(str(tmp_path / "cache"))
    first, second = _blobs(4), {h: d + b"!" for h, d in _blobs(4).items()}
    second = {hash_bytes(d): d for d in second.values()}
    for group in (first, second):
        _pack(store, group)
    untouched = packs.pack_ids(store.packs.folder)
    dead = set(list(first)[:2])
    store.remove_many(dead)
    fresh = ObjectStore(store.root)
    assert not any(fresh.has(h) for h in dead)
    live = {**{h: d for h, d in first.items() if h not in dead}, **second}
    assert all(fresh.read(h) == d for h, d in live.items())
    after = packs.pack_ids(store.packs.folder)
    assert len(after) == 2 and len(set(after) & set(untouched)) == 1
    store.remove_many(set(live))
    assert packs.pack_ids(store.packs.folder) == []


def test_place_copies_a_packed_object_out(tmp_path):
    store = ObjectStore(str(tmp_path / "cache"))
    data = b"packed bytes\n"
    h = hash_bytes(data)
    with store.pack_writer() as writer:
        writer.add(h, data)
    dest = tmp_path / "out.txt"
    assert store.place(h, str(dest), "hardlink", 0o644) == "copy"
    assert dest.read_bytes() == data
    assert os.stat(dest).st_nlink == 1 and os.stat(dest).st_mode & 0o777 == 0o644


def test_quarantine_takes_a_packed_object_out_of_its_pack(tmp_path):
    store = ObjectStore(str(tmp_path / "cache"))
    blobs = _blobs(3)
    _pack(store, blobs)
    bad = next(iter(blobs))
    dest = store.quarantine(bad, str(tmp_path / "quarantine"))
    assert open(dest, "rb").read() == blobs[bad]
    assert not store.has(bad)
    assert all(store.read(h) == d for h, d in blobs.items() if h != bad)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"MLVC", "truncated"),
        (b"NOTANIDX" + bytes(8), "not a pack index"),
        (packs._HEAD.pack(packs.MAGIC, 99, 0), "version 99"),
        (packs._HEAD.pack(packs.MAGIC, 1, 2) + bytes(packs._ENTRY.size), "2 entries"),
    ],
)
def test_a_bad_index_is_reported_by_name(data, message):
    with pytest.raises(CorruptObjectError, match=message):
        packs.decode_index(data, "abc.idx")


def test_index_round_trip():
    entries = {hash_bytes(bytes([i])): (i * 10, i + 1) for i in range(20)}
    assert packs.decode_index(packs.encode_index(entries), "x") == entries


def test_a_truncated_pack_is_reported(tmp_path):
    store = ObjectStore(str(tmp_path / "cache"))
    blobs = _blobs(2)
    _pack(store, blobs)
    (pid,) = packs.pack_ids(store.packs.folder)
    path = os.path.join(store.packs.folder, pid + packs.PACK)
    os.chmod(path, 0o644)
    os.truncate(path, 50)
    last = max(blobs, key=lambda h: store.packs.get(h).offset)
    with pytest.raises(CorruptObjectError, match="truncated"):
        ObjectStore(store.root).read(last)
