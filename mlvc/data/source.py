"""Where a dataset's bytes are: a PATH in the workspace or at a git revision, as table files plus a key.

The key is a content hash that names exactly these bytes (the data's xxh3 or tree hash, or for a
folder committed to git a hash of its listing), so statistics can be cached by it.
At a revision, data tracked by mlvc is read straight from the cache objects (no copy); a file
committed to git is read from git's object database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlvc.data.read import DataFile, format_of
from mlvc.errors import DataFormatError, ObjectMissingError, PathError
from mlvc.hashing import hash_bytes
from mlvc.tree import FILE

WORKSPACE = "workspace"


@dataclass(frozen=True)
class Dataset:
    path: str  # repo-relative
    rev: str  # a revision string, or WORKSPACE
    commit: str  # the resolved commit sha ("" for the workspace)
    key: str
    files: list[DataFile]

    @property
    def label(self) -> str:
        return WORKSPACE if self.rev == WORKSPACE else f"{self.rev} ({self.commit[:10]})"


def _check_single(rel: str) -> None:
    if format_of(rel) is None:
        raise DataFormatError(
            f"{rel}: unknown table format (mlvc data reads .parquet, .csv, .tsv, .jsonl, and .gz of the text ones)"
        )


def _none_found(rel: str, where: str) -> DataFormatError:
    return DataFormatError(f"{rel}: folder has no .parquet, .csv, .tsv or .jsonl files {where}")


def workspace(repo, rel: str) -> Dataset:
    """The data at `rel` in the work tree; its key comes from the stat cache (hashing only what changed)."""
    from mlvc.workspace.scan import Scanner

    if not os.path.lexists(repo.abs(rel)):
        raise PathError(f"{rel}: no such file or directory in the workspace")
    ref, node = Scanner(repo).scan(rel)
    if ref.kind == FILE:
        _check_single(rel)
        return Dataset(rel, WORKSPACE, "", ref.hash, [_local(rel, repo.abs(rel), node.st.st_size)])
    files = []
    for d in node.iter_dirs():
        files.extend(f for f in d.files if format_of(f.name) is not None)
    files.sort(key=lambda f: f.rel)
    if not files:
        raise _none_found(rel, "in the workspace")
    return Dataset(rel, WORKSPACE, "", ref.hash, [_local(f.rel, f.abspath, f.st.st_size) for f in files])


def at_revision(repo, rel: str, rev: str) -> Dataset:
    """The data at `rel` as of git revision `rev`: tracked data from the cache, else files in git."""
    from mlvc.history.revision import Snapshot, walk_files

    with Snapshot(repo, rev) as snap:
        commit = snap.commit.decode()
        where = f"at {rev} ({snap.short})"
        ref = snap.tracked(rel)
        if ref is not None:
            if ref.kind == FILE:
                _check_single(rel)
                return Dataset(rel, rev, commit, ref.hash, [_cached(repo, rel, ref.hash, ref.size, where)])
            entries = [(f"{rel}/{name}", e) for name, e in walk_files(repo.objects, ref.hash, f"{rel} {where}")]
            files = [_cached(repo, n, e.hash, e.size, where) for n, e in entries if format_of(n) is not None]
            if not files:
                raise _none_found(rel, where)
            return Dataset(rel, rev, commit, ref.hash, files)
        if snap.is_file(rel):
            _check_single(rel)
            data = snap.read_file(rel)
            files = [DataFile(rel, *format_of(rel), data=data, size=len(data))]
            return Dataset(rel, rev, commit, hash_bytes(data), files)
        if snap.is_dir(rel):
            names = [n for n in snap.list_files(rel) if format_of(n) is not None]
            if not names:
                raise _none_found(rel, where)
            files = []
            for n in names:
                data = snap.read_file(n)
                files.append(DataFile(n, *format_of(n), data=data, size=len(data)))
            listing = "\n".join(f"{f.name}\0{hash_bytes(f.data)}" for f in files)
            return Dataset(rel, rev, commit, hash_bytes(listing.encode()), files)
        raise PathError(f"{rel}: not in git or tracked by mlvc {where}")


def _local(name: str, path: str, size: int) -> DataFile:
    fmt, compression = format_of(name)
    return DataFile(name, fmt, compression, path=path, size=size)


def _cached(repo, name: str, h: str, size: int, where: str) -> DataFile:
    if not repo.objects.has(h):
        raise ObjectMissingError(h, f"{name} {where}")
    fmt, compression = format_of(name)
    if repo.objects.is_packed(h):  # a small object has no file of its own: hand over its bytes
        return DataFile(name, fmt, compression, data=repo.objects.read(h), size=size)
    return DataFile(name, fmt, compression, path=repo.objects.path(h), size=size)


def load(repo, rel: str, rev: str | None) -> Dataset:
    return workspace(repo, rel) if rev in (None, WORKSPACE) else at_revision(repo, rel, rev)
