"""`mlvc get REV PATH`: the bytes of a path as they were at a revision, without switching branches.

Tracked data comes from the cache (a folder is rebuilt from its tree objects); a file that
git holds comes from the git object database. Nothing in the workspace is touched except DEST.
"""

from __future__ import annotations

import os
import shutil

from mlvc import links
from mlvc.errors import PathError
from mlvc.tree import TREE


def get(snap, rel: str, dest: str, force: bool = False) -> tuple[str, int, int]:
    """Write `rel` at `snap` to `dest`; returns (kind, files, bytes)."""
    if os.path.lexists(dest) and not force:
        raise PathError(f"{dest}: already exists (use --force to replace it)")
    ref = snap.tracked(rel)
    tmp = dest.rstrip("/") + ".mlvc-get-tmp"
    _remove(tmp)
    try:
        if ref is not None and ref.kind == TREE:
            from mlvc.history.revision import walk_files

            objects = snap.repo.objects
            files = list(walk_files(objects, ref.hash, f"{rel} at {snap.rev}"))
            for sub, entry in files:
                if not objects.has(entry.hash):
                    from mlvc.errors import ObjectMissingError

                    raise ObjectMissingError(entry.hash, f"{rel}/{sub} at {snap.rev}")
            os.makedirs(tmp)
            for sub, entry in files:
                path = os.path.join(tmp, *sub.split("/"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                objects.place(entry.hash, path, "copy", 0o755 if entry.executable else 0o644)
            kind, count, size = "folder", len(files), sum(e.size for _, e in files)
        elif ref is not None:
            objects = snap.repo.objects
            if not objects.has(ref.hash):
                from mlvc.errors import ObjectMissingError

                raise ObjectMissingError(ref.hash, f"{rel} at {snap.rev}")
            objects.place(ref.hash, tmp, "copy", 0o644)
            kind, count, size = "file", 1, ref.size
        elif snap.is_file(rel):
            links.write_bytes_atomic(tmp, snap.read_file(rel))
            kind, count, size = "file", 1, os.path.getsize(tmp)
        elif snap.is_dir(rel):
            paths = snap.list_files(rel)
            os.makedirs(tmp)
            size = 0
            base = rel.strip("/")
            for p in paths:
                data = snap.read_file(p)
                out = os.path.join(tmp, *p[len(base) + 1 :].split("/"))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                links.write_bytes_atomic(out, data)
                size += len(data)
            kind, count = "folder", len(paths)
        else:
            raise PathError(f"{rel}: not in git and not tracked by mlvc at {snap.rev} ({snap.short})")
        _remove(dest)
        os.replace(tmp, dest)
    finally:
        _remove(tmp)
    return kind, count, size


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
