"""Remote upkeep: `mlvc remote verify` (rehash everything there) and `mlvc gc --remote` (drop the unreferenced)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from mlvc.errors import MlvcError
from mlvc.hashing import hash_bytes
from mlvc.progress import NULL, Progress
from mlvc.remote.roots import select_roots
from mlvc.remote.store import RemoteStore
from mlvc.remote.transfer import SMALL, RemoteIndex, _Pool, default_jobs
from mlvc.tree import TREE, parse_tree

TREE_PREFIX = b'{"schema":'


@dataclass
class VerifyResult:
    remote: str
    checked: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # hash -> a tree on the remote that lists it
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.missing

    def to_dict(self) -> dict[str, object]:
        return {"remote": self.remote, "checked": self.checked, "bytes": self.bytes, "corrupt": self.corrupt,
                "missing": self.missing, "seconds": round(self.seconds, 3), "ok": self.ok}


def verify_remote(repo, store: RemoteStore, jobs: int | None = None, progress: Progress = NULL) -> VerifyResult:
    """Rehash every remote object; a tree that lists objects the remote lacks breaks its promise: report them."""
    start = time.monotonic()
    store.check()
    pool = _Pool(jobs or default_jobs(store))
    listing = RemoteIndex(store, pool).all()
    result = VerifyResult(store.name)
    lock = threading.Lock()
    children: dict[str, list[str]] = {}
    task = progress.task(f"Verifying {len(listing)} objects on {store.name}", len(listing), unit="objects")

    def check(h: str) -> None:
        got, tree = _hash_remote(store, h, listing[h])
        with lock:
            result.checked += 1
            result.bytes += listing[h]
            if got != h:
                result.corrupt.append(h)
            elif tree is not None:
                children[h] = tree
        task.advance(1)

    try:
        pool.run(sorted(listing), check)
    finally:
        task.close()
    for t, kids in sorted(children.items()):
        for c in kids:
            if c not in listing:
                result.missing.setdefault(c, t)
    result.corrupt.sort()
    result.seconds = time.monotonic() - start
    return result


def _hash_remote(store: RemoteStore, h: str, size: int) -> tuple[str, list[str] | None]:
    """(hash of the remote bytes, child hashes when the object is a valid tree)."""
    if size > SMALL:
        return _hash_stream(store, h), None
    data = store.read(h)
    got = hash_bytes(data)
    if got == h and data.startswith(TREE_PREFIX):
        try:
            return got, [e.hash for e in parse_tree(data)]
        except MlvcError:
            return got, None
    return got, None


def _hash_stream(store: RemoteStore, h: str) -> str:
    import xxhash

    from mlvc.hashing import BLOCK

    digest = xxhash.xxh3_128()

    def run() -> str:
        digest.reset()
        with store.open_read(h) as f:
            while chunk := f.read(BLOCK):
                digest.update(chunk)
        return digest.hexdigest()

    return store.retry(run, f"reading {h}")


@dataclass
class RemoteGcResult:
    remote: str
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    temp_files: int = 0
    dry_run: bool = True
    unknown_trees: list[str] = field(default_factory=list)  # kept trees found nowhere: their subtrees unknown

    def to_dict(self) -> dict[str, object]:
        return {"remote": self.remote, "kept": self.kept, "removed": len(self.removed),
                "removed_hashes": self.removed, "removed_bytes": self.removed_bytes,
                "temp_files": self.temp_files, "dry_run": self.dry_run, "unknown_trees": self.unknown_trees}


def gc_remote(repo, store: RemoteStore, force: bool = False, jobs: int | None = None) -> RemoteGcResult:
    """Remove remote objects that neither the workspace nor any git commit references (only with force).

    Remote gc always keeps every commit reachable from any branch or tag: a remote is shared, and a
    teammate's branch is not ours to collect.
    """
    store.check()
    pool = _Pool(jobs or default_jobs(store))
    listing = RemoteIndex(store, pool).all()
    roots = select_roots(repo, None, None, all_commits=True)
    result = RemoteGcResult(store.name, dry_run=not force)
    keep: set[str] = set()
    stack = [(r.ref.hash, r.ref.kind) for r in roots]
    while stack:
        h, kind = stack.pop()
        if h in keep:
            continue
        keep.add(h)
        if kind != TREE:
            continue
        tree = _read_tree(repo, store, h, h in listing)
        if tree is None:
            result.unknown_trees.append(h)
            continue
        stack += [(e.hash, e.kind) for e in tree]
    garbage = sorted(h for h in listing if h not in keep)
    result.kept = len(listing) - len(garbage)
    result.removed = garbage
    result.removed_bytes = sum(listing[h] for h in garbage)
    if force and result.unknown_trees:
        raise MlvcError(
            f"remote {store.name!r}: cannot tell what tree {result.unknown_trees[0]} keeps (it is neither in the "
            "cache nor readable on the remote); nothing was deleted (fetch or push it first)"
        )
    strays = store.list_strays()
    result.temp_files = len(strays)
    if force:
        store.delete(garbage)
        store.delete_paths(strays)
    return result


def _read_tree(repo, store: RemoteStore, h: str, on_remote: bool):
    if repo.objects.has(h):
        try:
            return repo.objects.read_tree(h)
        except MlvcError:
            pass
    if not on_remote:
        return None
    data = store.read(h)
    if hash_bytes(data) != h:
        return None
    try:
        return parse_tree(data)
    except MlvcError:
        return None
