"""Remote upkeep: `mlvc remote verify` (rehash everything there) and `mlvc gc --remote` (drop the unreferenced).

Both cover loose objects (`ROOT/ab/cdef...`) and packed ones (`ROOT/packs/`, see remote/packed.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from mlvc.errors import MlvcError
from mlvc.hashing import hash_bytes
from mlvc.packs import IDX, PACK
from mlvc.progress import NULL, Progress
from mlvc.remote import packed
from mlvc.remote.packed import RemotePacks
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
    packed: int = 0  # of the checked objects, those in packs
    corrupt: list[str] = field(default_factory=list)
    corrupt_packs: dict[str, str] = field(default_factory=dict)  # pack ID -> why (a bad index, a lost .pack)
    missing: dict[str, str] = field(default_factory=dict)  # hash -> a tree on the remote that lists it
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.missing and not self.corrupt_packs

    def to_dict(self) -> dict[str, object]:
        return {"remote": self.remote, "checked": self.checked, "packed": self.packed, "bytes": self.bytes,
                "corrupt": self.corrupt, "corrupt_packs": self.corrupt_packs, "missing": self.missing,
                "seconds": round(self.seconds, 3), "ok": self.ok}


def verify_remote(repo, store: RemoteStore, jobs: int | None = None, progress: Progress = NULL) -> VerifyResult:
    """Rehash every remote object, loose or packed; a tree that lists objects the remote lacks breaks its
    promise: report them. What is found is remembered for the next push to this remote, which sends
    those objects again (see remote/packed.py)."""
    start = time.monotonic()
    store.check()
    pool = _Pool(jobs or default_jobs(store))
    listing = RemoteIndex(store, pool).all()
    rpacks = RemotePacks(store, repo.tmp_dir).load(lambda items, fn: pool.run(items, fn, batch=1))
    result = VerifyResult(store.name, corrupt_packs=dict(rpacks.unusable))
    lock = threading.Lock()
    children: dict[str, list[str]] = {}
    n_packed = sum(len(e) for e in rpacks.entries.values())
    task = progress.task(f"Verifying {len(listing) + n_packed} objects on {store.name}", len(listing) + n_packed,
                         unit="objects")

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

    def check_read(read: packed.Read) -> None:
        data = packed.read_pack(store, read)
        bad = [h for h, chunk in packed.split(read, data) if chunk is None or hash_bytes(chunk) != h]
        with lock:
            result.checked += len(read.objects)
            result.packed += len(read.objects)
            result.bytes += read.end - read.start
            result.corrupt += bad
        task.advance(len(read.objects))

    reads = [r for pid, entries in rpacks.entries.items()
             for r in packed.plan_reads(pid, [(h, off, size) for h, (off, size) in entries.items()], 0)]
    try:
        pool.run(sorted(listing), check)
        pool.run(reads, check_read, batch=1)
    finally:
        task.close()
    for t, kids in sorted(children.items()):
        for c in kids:
            if c not in listing and c not in rpacks.slots:
                result.missing.setdefault(c, t)
    result.corrupt = sorted(set(result.corrupt))
    _remember(repo, store, result, children)
    result.seconds = time.monotonic() - start
    return result


def _remember(repo, store: RemoteStore, result: VerifyResult, children: dict[str, list[str]]) -> None:
    """Note the bad objects and every remote tree above them, so the next push sends them again."""
    bad = set(result.corrupt) | set(result.missing)
    parents: dict[str, list[str]] = {}
    for t, kids in children.items():
        for c in kids:
            parents.setdefault(c, []).append(t)
    above: set[str] = set()
    stack = list(bad)
    while stack:
        for p in parents.get(stack.pop(), []):
            if p not in above:
                above.add(p)
                stack.append(p)
    packed.save_suspects(repo.tmp_dir, store, bad, above)


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
    packs_deleted: list[str] = field(default_factory=list)  # every object in them was dead
    packs_rewritten: list[str] = field(default_factory=list)  # some were: rewritten without them
    packs_kept: dict[str, str] = field(default_factory=dict)  # partly dead, but could not be rewritten: why

    def to_dict(self) -> dict[str, object]:
        return {"remote": self.remote, "kept": self.kept, "removed": len(self.removed),
                "removed_hashes": self.removed, "removed_bytes": self.removed_bytes,
                "temp_files": self.temp_files, "dry_run": self.dry_run, "unknown_trees": self.unknown_trees,
                "packs_deleted": self.packs_deleted, "packs_rewritten": self.packs_rewritten,
                "packs_kept": self.packs_kept}


def gc_remote(repo, store: RemoteStore, force: bool = False, jobs: int | None = None) -> RemoteGcResult:
    """Remove remote objects that neither the workspace nor any git commit references (only with force).

    Remote gc always keeps every commit reachable from any branch or tag: a remote is shared, and a
    teammate's branch is not ours to collect.
    """
    store.check()
    pool = _Pool(jobs or default_jobs(store))
    listing = RemoteIndex(store, pool).all()
    rpacks = RemotePacks(store, repo.tmp_dir).load(lambda items, fn: pool.run(items, fn, batch=1))
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
    sizes = {h: size for h, size in listing.items()}
    dead_packs = {}
    for pid, entries in rpacks.entries.items():
        dead = [h for h in entries if h not in keep]
        if dead:
            dead_packs[pid] = len(dead) == len(entries)
            sizes.update((h, entries[h][1]) for h in dead)
    everything = set(listing) | set(rpacks.slots)
    removed = sorted(everything - keep)
    result.kept = len(everything) - len(removed)
    result.removed = removed
    result.removed_bytes = sum(sizes.get(h, 0) for h in removed)
    if force and result.unknown_trees:
        raise MlvcError(
            f"remote {store.name!r}: cannot tell what tree {result.unknown_trees[0]} keeps (it is neither in the "
            "cache nor readable on the remote); nothing was deleted (fetch or push it first)"
        )
    strays = store.list_strays()
    # a .pack without its .idx is an upload killed in between; an .idx without its .pack lists nothing usable
    leftovers = rpacks.orphans + rpacks.dangling
    result.temp_files = len(strays) + len(leftovers)
    if force:
        store.delete(garbage)
        store.delete_paths(strays)
        store.delete_pack_files(leftovers)
        _collect_packs(repo, store, rpacks, dead_packs, keep, result)
    return result


def _collect_packs(repo, store: RemoteStore, rpacks: RemotePacks, dead_packs: dict[str, bool], keep: set[str],
                   result: RemoteGcResult) -> None:
    """Delete the packs whose objects are all dead (index first); rewrite the partly dead ones."""
    for pid, all_dead in sorted(dead_packs.items()):
        if all_dead:
            store.delete_pack_files([pid + IDX, pid + PACK])
            result.packs_deleted.append(pid)
            continue
        try:
            packed.rewrite_pack(store, rpacks, pid, keep.__contains__, repo.tmp_dir)
            result.packs_rewritten.append(pid)
        except MlvcError as exc:
            result.packs_kept[pid] = str(exc)


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
