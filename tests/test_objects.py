"""The object store (plumbing): names, read-only objects, every link type, atomic writes, verification."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
import xxhash

from mlvc import links
from mlvc.errors import DiskFullError, ObjectMissingError
from mlvc.hashing import BLOCK, hash_bytes, hash_file, is_hash
from mlvc.objects import ObjectStore
from mlvc.tree import FILE, Entry, Tree


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(str(tmp_path / "cache"))


def test_hash_is_xxh3_128_hex() -> None:
    assert hash_bytes(b"") == xxhash.xxh3_128_hexdigest(b"") == "99aa06d3014798d86001c324468d497f"
    assert is_hash(hash_bytes(b"abc"))
    assert not is_hash("ABCDEF" + "0" * 26) and not is_hash("0" * 31) and not is_hash("g" * 32) and not is_hash(None)
    assert not any(is_hash(v) for v in ("0x" + "0" * 30, "0_" * 16, " " + "0" * 31)), "int(v, 16) accepts these"


def test_hash_file_streams_large_files(tmp_path: Path) -> None:
    data = os.urandom(BLOCK + 12345)
    p = tmp_path / "big"
    p.write_bytes(data)
    assert hash_file(p) == hash_bytes(data)


def test_add_bytes_names_and_protects(store: ObjectStore) -> None:
    h = store.add_bytes(b"hello")
    assert h == hash_bytes(b"hello")
    path = Path(store.path(h))
    assert path.parent.name == h[:2] and path.name == h[2:]
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.has(h) and store.read(h) == b"hello" and store.is_intact(h)
    assert store.add_bytes(b"hello") == h  # idempotent
    assert list(store.iter_hashes()) == [h]
    with pytest.raises(ObjectMissingError, match="object 0+ is not in the cache"):
        store.read("0" * 32)


@pytest.mark.parametrize("link", ["copy", "reflink", "hardlink", "symlink"])
def test_add_file_every_link_type(store: ObjectStore, tmp_path: Path, link: str) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    h = hash_file(src)
    assert store.add_file(str(src), h, link) is True
    assert store.add_file(str(src), h, link) is False
    obj = Path(store.path(h))
    assert obj.read_bytes() == b"payload" and not obj.is_symlink()
    assert stat.S_IMODE(obj.stat().st_mode) == 0o444
    shared = obj.stat().st_ino == src.stat().st_ino
    assert shared == (link in ("hardlink", "symlink"))  # a symlink link type stores the inode, links later
    assert store.is_intact(h)


def test_add_stream_hashes_while_copying(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(BLOCK * 2 + 7)
    src = tmp_path / "s"
    src.write_bytes(data)
    h = store.add_stream(str(src))
    assert h == hash_bytes(data) and store.read(h) == data
    assert store.add_stream(str(src)) == h
    assert list(store.iter_tmp()) == []


def test_tree_objects(store: ObjectStore) -> None:
    t = Tree.of([Entry("a", FILE, hash_bytes(b"a"), 1)])
    h = store.add_tree(t)
    assert store.read_tree(h) == t


def test_corruption_is_detected_and_quarantined(store: ObjectStore, tmp_path: Path) -> None:
    h = store.add_bytes(b"precious")
    os.chmod(store.path(h), 0o644)
    Path(store.path(h)).write_bytes(b"prec1ous")
    assert not store.is_intact(h)
    dest = store.quarantine(h, str(tmp_path / "q"))
    assert Path(dest).read_bytes() == b"prec1ous" and not store.has(h)


def test_iter_tmp_finds_leftovers(store: ObjectStore) -> None:
    h = store.add_bytes(b"x")
    tmp = links.tmp_path_for(store.path(h))
    Path(tmp).write_bytes(b"half")
    assert list(store.iter_tmp()) == [tmp]
    assert list(store.iter_hashes()) == [h]  # a temp file is never taken for an object


@pytest.mark.parametrize("size", [100, BLOCK * 2])
def test_disk_full_leaves_nothing_partial(store: ObjectStore, tmp_path: Path, monkeypatch, size: int) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(size))
    real_write = os.write
    calls = {"n": 0}

    def write(fd, data):
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data)[:10])  # a short write first: something partial exists

    def no_space(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "copy_file_range", no_space)
    with pytest.raises(DiskFullError, match="no space left on device writing .*cache"):
        if size <= BLOCK:
            store.add_bytes(src.read_bytes())
        else:
            store.add_stream(str(src))
    calls["n"] = 0
    with pytest.raises(DiskFullError):
        store.add_file(str(src), hash_file(src), "copy")
    monkeypatch.undo()
    assert list(store.iter_hashes()) == [] and list(store.iter_tmp()) == []


@pytest.mark.parametrize("err", [errno.EXDEV, errno.EMLINK])
@pytest.mark.parametrize("dest_exists", [False, True])
def test_hardlink_that_cannot_be_made_falls_back_to_a_copy(tmp_path: Path, monkeypatch, err, dest_exists) -> None:
    src, dest = tmp_path / "obj", tmp_path / "ws"
    src.write_bytes(b"object bytes")
    if dest_exists:
        dest.write_bytes(b"old")

    def no_link(*_a, **_k):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "link", no_link)
    assert links.place(str(src), str(dest), "hardlink", 0o644) == "copy"
    assert dest.read_bytes() == b"object bytes" and dest.stat().st_ino != src.stat().st_ino
    assert [p.name for p in tmp_path.iterdir() if links.is_tmp_name(p.name)] == []


def test_disk_full_in_the_workspace_names_the_file(tmp_path: Path, monkeypatch) -> None:
    """Pointer files, .gitignore and checked-out files: ENOSPC says where, and leaves no temp file."""
    src = tmp_path / "obj"
    src.write_bytes(b"x" * 100)

    def no_space(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", no_space)
    monkeypatch.setattr(os, "copy_file_range", no_space)
    with pytest.raises(DiskFullError, match=r"no space left on device writing .*/data\.mlvc;"):
        links.write_bytes_atomic(str(tmp_path / "data.mlvc"), b"schema: 1\n")
    with pytest.raises(DiskFullError, match=r"no space left on device writing .*/ws;"):
        links.place(str(src), str(tmp_path / "ws"), "copy", 0o644)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obj"]
