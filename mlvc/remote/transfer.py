"""The transfer engine: push, fetch and `status --remote` for every kind of remote.

Push walks the roots level by level and asks the remote only about the shards it needs (one
listing per shard, cached), so it sends only what the remote lacks. A tree that the remote has
(with the right size) is complete there: its whole subtree is skipped. Files go first, then trees
from the leaves up, each tree only once everything it lists is on the remote, so a tree on the
remote always means a complete directory. A remote object whose size differs from ours is
corrupt and is replaced.

Fetch downloads what the cache lacks, level by level through the trees; every object is
checked against its name (and trees against unsafe names) before it enters the cache.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from mlvc.errors import CorruptObjectError, MlvcError, RemoteError
from mlvc.hashing import hash_bytes
from mlvc.progress import NULL, Progress
from mlvc.remote.roots import Root
from mlvc.remote.store import SHARDS, RemoteStore
from mlvc.tree import TREE, parse_tree

T = TypeVar("T")
SMALL = 16 << 20  # objects up to this size move through memory (one read, hash, one PUT)
BATCH = 32  # objects per worker task: amortizes scheduling over many small files
PATHS_KEPT = 5  # paths remembered per object, for messages
# Fault injection for the crash tests: SIGKILL this process after N objects moved (0: never).
KILL_AFTER = int(os.environ.get("MLVC_TEST_KILL_AFTER_OBJECTS", "0") or 0)


def _crash_point(moved: int) -> None:
    if KILL_AFTER and moved >= KILL_AFTER:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def default_jobs(store: RemoteStore) -> int:
    configured = store.cfg.options.get("jobs")
    if configured and configured.isdigit() and int(configured) > 0:
        return int(configured)
    cpus = os.cpu_count() or 1
    return max(8, 4 * cpus) if store.cfg.protocol == "file" else max(16, 4 * cpus)


@dataclass
class TransferResult:
    remote: str
    objects: int = 0  # objects moved
    bytes: int = 0
    skipped: int = 0  # objects (or whole trees) found already in place
    replaced: list[str] = field(default_factory=list)  # push: remote objects of the wrong size, resent
    missing: dict[str, list[str]] = field(default_factory=dict)  # hash -> paths: on neither side
    corrupt: dict[str, list[str]] = field(default_factory=dict)  # hash -> paths: bytes do not match the name
    refused: dict[str, str] = field(default_factory=dict)  # tree hash -> why (unsafe names)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.refused)

    def to_dict(self) -> dict[str, object]:
        s = self.seconds or 1e-9
        return {
            "remote": self.remote,
            "objects": self.objects,
            "bytes": self.bytes,
            "skipped": self.skipped,
            "replaced": self.replaced,
            "missing": self.missing,
            "corrupt": self.corrupt,
            "refused": self.refused,
            "seconds": round(self.seconds, 3),
            "objects_per_s": round(self.objects / s, 1),
            "mb_per_s": round(self.bytes / s / 1e6, 2),
        }


# -- parallel helper ---------------------------------------------------------------------------
class _Pool:
    """Threads over batches; the first failure stops new work and is raised after the rest drain."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)

    def run(self, items: Sequence[T], fn: Callable[[T], None], batch: int = BATCH) -> None:
        if not items:
            return
        stop = threading.Event()
        errors: list[BaseException] = []

        def work(chunk: Sequence[T]) -> None:
            for item in chunk:
                if stop.is_set():
                    return
                try:
                    fn(item)
                except BaseException as exc:
                    errors.append(exc)
                    stop.set()
                    return

        chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
        if len(chunks) == 1 or self.jobs == 1:
            for c in chunks:
                work(c)
        else:
            pool = ThreadPoolExecutor(max_workers=min(self.jobs, len(chunks)), thread_name_prefix="mlvc-xfer")
            try:
                for f in [pool.submit(work, c) for c in chunks]:
                    f.result()
            except BaseException:
                stop.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
        if errors:
            raise errors[0]


# -- what the remote has ---------------------------------------------------------------------------
class RemoteIndex:
    """{hash: size} of the remote, filled one shard listing at a time (each shard listed once)."""

    def __init__(self, store: RemoteStore, pool: _Pool) -> None:
        self.store = store
        self.pool = pool
        self.shards: dict[str, dict[str, int]] = {}
        self.listings = 0

    def lookup(self, hashes: Iterable[str]) -> dict[str, int]:
        hashes = list(hashes)
        todo = sorted({h[:2] for h in hashes} - self.shards.keys())
        lock = threading.Lock()

        def one(shard: str) -> None:
            found = self.store.list_shard(shard)
            with lock:
                self.shards[shard] = found
                self.listings += 1

        self.pool.run(todo, one, batch=1)
        out = {}
        for h in hashes:
            size = self.shards[h[:2]].get(h)
            if size is not None:
                out[h] = size
        return out

    def all(self) -> dict[str, int]:
        self.lookup(s + "0" * 30 for s in SHARDS)
        merged: dict[str, int] = {}
        for found in self.shards.values():
            merged.update(found)
        return merged

    def add(self, h: str, size: int) -> None:
        self.shards.setdefault(h[:2], {})[h] = size


class LocalIndex:
    """Which objects the cache has: one directory listing per shard instead of one stat per object."""

    def __init__(self, objects) -> None:
        self.objects = objects
        self.shards: dict[str, set[str]] = {}

    def has(self, h: str) -> bool:
        shard = h[:2]
        names = self.shards.get(shard)
        if names is None:
            try:
                names = set(os.listdir(os.path.join(self.objects.root, shard)))
            except FileNotFoundError:
                names = set()
            self.shards[shard] = names
        return h[2:] in names

    def add(self, h: str) -> None:
        self.shards.setdefault(h[:2], set()).add(h[2:])


# -- push ------------------------------------------------------------------------------------------------
@dataclass
class PushPlan:
    files: dict[str, int] = field(default_factory=dict)  # hash -> size, to upload
    trees: dict[str, list[str]] = field(default_factory=dict)  # tree hash -> child hashes, to upload
    present: set[str] = field(default_factory=set)  # on the remote already (whole subtree for a tree)
    replaced: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)  # in neither the cache nor the remote
    paths: dict[str, str] = field(default_factory=dict)  # hash -> a path that needs it (for messages)
    top: dict[str, list[str]] = field(default_factory=dict)  # root path -> hashes it still needs sent

    @property
    def nbytes(self) -> int:
        return sum(self.files.values())


def plan_push(repo, index: RemoteIndex, roots: list[Root]) -> PushPlan:
    objects = repo.objects
    cached = LocalIndex(objects)
    plan = PushPlan()
    seen: set[str] = set()
    frontier: list[tuple[str, str, str, int]] = []  # (hash, kind, path, size from the tree entry)
    for r in roots:
        frontier.append((r.ref.hash, r.ref.kind, r.path, r.ref.size))
    while frontier:
        level = []
        for item in frontier:
            if item[0] not in seen:
                seen.add(item[0])
                level.append(item)
        remote = index.lookup(h for h, _, _, _ in level)
        frontier = []
        for h, kind, path, size in level:
            plan.paths.setdefault(h, path)
            local = cached.has(h)
            if h in remote:
                want = _local_size(objects, h, kind, size) if local else None
                if want is None or remote[h] == want:
                    plan.present.add(h)
                    continue
                plan.replaced.append(h)  # wrong size on the remote: corrupt, send ours again
            if not local:
                plan.missing.setdefault(h, []).append(path)
                continue
            if kind == TREE:
                tree = objects.read_tree(h)
                plan.trees[h] = [e.hash for e in tree]
                frontier += [(e.hash, e.kind, f"{path}/{e.name}", e.size) for e in tree]
            else:
                plan.files[h] = size
    return plan


def _local_size(objects, h: str, kind: str, size: int) -> int:
    return objects.size(h) if kind == TREE else size


def _tree_order(plan: PushPlan) -> list[list[str]]:
    """Trees grouped by height (leaves' parents first), so every tree follows all trees it lists."""
    height: dict[str, int] = {}

    def h_of(t: str) -> int:
        if t in height:
            return height[t]
        stack = [(t, False)]
        while stack:  # iterative post-order: deep folders must not hit the recursion limit
            node, done = stack.pop()
            if done:
                height[node] = 1 + max((height.get(c, 0) for c in plan.trees[node] if c in plan.trees), default=0)
                continue
            if node in height:
                continue
            stack.append((node, True))
            stack += [(c, False) for c in plan.trees[node] if c in plan.trees and c not in height]
        return height[t]

    groups: dict[int, list[str]] = {}
    for t in plan.trees:
        groups.setdefault(h_of(t), []).append(t)
    return [groups[k] for k in sorted(groups)]


def push(repo, store: RemoteStore, roots: list[Root], jobs: int | None = None,
         progress: Progress = NULL) -> TransferResult:
    start = time.monotonic()
    store.check()
    pool = _Pool(jobs or default_jobs(store))
    index = RemoteIndex(store, pool)
    plan = plan_push(repo, index, roots)
    result = TransferResult(store.name, skipped=len(plan.present), replaced=plan.replaced)
    objects = repo.objects
    done: set[str] = set(plan.present)  # on the remote, whole
    lock = threading.Lock()
    n_total = len(plan.files) + len(plan.trees)
    t_obj = progress.task(f"Pushing to {store.name}", n_total, unit="objects")
    t_bytes = progress.task("  bytes", plan.nbytes, unit="bytes")

    def send(h: str) -> None:
        path = objects.path(h)
        size = plan.files.get(h, 0)  # trees: 0, small
        if size <= SMALL:
            with open(path, "rb", buffering=0) as f:
                data = f.read()
            size = len(data)
            if hash_bytes(data) != h:
                raise _LocalCorrupt(h)
            store.put_bytes(h, data)
        elif not store.put_verified(path, h):
            raise _LocalCorrupt(h)
        with lock:
            done.add(h)
            result.objects += 1
            result.bytes += size
        _crash_point(result.objects)
        t_obj.advance(1)
        t_bytes.advance(size if h in plan.files else 0)

    def send_tree(t: str) -> None:
        if all(c in done for c in plan.trees[t]):
            send(t)

    try:
        try:
            pool.run(sorted(plan.files), send)
            for group in _tree_order(plan):
                pool.run(group, send_tree, batch=4)
        except _LocalCorrupt as exc:
            raise CorruptObjectError(
                f"object {exc.hash} ({plan.paths.get(exc.hash, '?')}) is corrupt in the local cache; "
                "nothing that lists it was pushed (run `mlvc cache verify`)"
            ) from None
    finally:
        t_obj.close()
        t_bytes.close()
    for h, paths in plan.missing.items():
        result.missing[h] = paths[:PATHS_KEPT]
    result.seconds = time.monotonic() - start
    return result


class _LocalCorrupt(Exception):
    def __init__(self, h: str) -> None:
        super().__init__(h)
        self.hash = h


# -- status --remote ---------------------------------------------------------------------------------
@dataclass
class RemoteStatus:
    path: str
    state: str  # "pushed", "not pushed", "not in cache"
    objects: int = 0  # objects the remote lacks under this path
    bytes: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "state": self.state, "objects": self.objects, "bytes": self.bytes}


def remote_status(repo, store: RemoteStore, roots: list[Root], jobs: int | None = None) -> list[RemoteStatus]:
    """For each root: is everything it needs on the remote? (Same walk as push, nothing sent.)"""
    store.check()
    pool = _Pool(jobs or default_jobs(store))
    index = RemoteIndex(store, pool)
    groups: dict[str, list[Root]] = {}
    for r in roots:  # a lock file names many outs: one line for it
        groups.setdefault(r.path, []).append(r)
    out = []
    for path, group in groups.items():
        plan = plan_push(repo, index, group)
        n = len(plan.files) + len(plan.trees)
        if plan.missing:
            state = "not in cache"
        elif n:
            state = "not pushed"
        else:
            state = "pushed"
        out.append(RemoteStatus(path, state, n, plan.nbytes))
    return out


# -- fetch -------------------------------------------------------------------------------------------
def fetch(repo, store: RemoteStore, roots: list[Root], jobs: int | None = None,
          progress: Progress = NULL) -> TransferResult:
    """Download what the cache lacks; corrupt or unsafe objects are refused and reported, the rest kept."""
    start = time.monotonic()
    store.check()
    objects = repo.objects
    pool = _Pool(jobs or default_jobs(store))
    result = TransferResult(store.name)
    lock = threading.Lock()
    needers: dict[str, list[str]] = {}
    t_obj = progress.task(f"Fetching from {store.name}", None, unit="objects")
    t_bytes = progress.task("  bytes", None, unit="bytes")

    def note(h: str, path: str) -> None:
        paths = needers.setdefault(h, [])
        if len(paths) < PATHS_KEPT:
            paths.append(path)

    def get(item: tuple[str, str, int]) -> None:
        h, kind, size = item
        try:
            n = _download(objects, store, h, kind, size)
        except CorruptObjectError as exc:
            with lock:
                if kind == TREE and "hash to" not in str(exc):
                    result.refused[h] = str(exc)
                else:
                    result.corrupt[h] = needers.get(h, [])
            return
        except RemoteError as exc:
            if "is not on the remote" not in str(exc):
                raise
            with lock:
                result.missing[h] = needers.get(h, [])
            return
        with lock:
            result.objects += 1
            result.bytes += n
        _crash_point(result.objects)
        t_obj.advance(1)
        t_bytes.advance(n)

    cached = LocalIndex(objects)
    try:
        seen: set[str] = set()
        frontier = [(r.ref.hash, r.ref.kind, r.path, r.ref.size) for r in roots]
        files: list[tuple[str, str, int]] = []
        while frontier:
            trees: list[tuple[str, str, int]] = []
            level: list[tuple[str, str]] = []
            for h, kind, path, size in frontier:
                note(h, path)
                if h in seen:
                    continue
                seen.add(h)
                if kind == TREE:
                    level.append((h, path))
                    if not cached.has(h):
                        trees.append((h, kind, 0))
                elif cached.has(h):
                    result.skipped += 1
                else:
                    files.append((h, kind, size))
            pool.run(trees, get, batch=4)
            frontier = []
            for h, path in level:
                if not objects.has(h):
                    continue  # refused, corrupt or missing: reported; its subtree cannot be known
                frontier += [(e.hash, e.kind, f"{path}/{e.name}", e.size) for e in objects.read_tree(h)]
        pool.run(files, get)
    finally:
        t_obj.close()
        t_bytes.close()
    for bucket in (result.corrupt, result.missing):
        for h in bucket:
            bucket[h] = needers.get(h, [])[:PATHS_KEPT]
    result.seconds = time.monotonic() - start
    return result


def _download(objects, store: RemoteStore, h: str, kind: str, size: int) -> int:
    """One object into the cache, verified against its name (and trees against unsafe names)."""
    if kind == TREE or size <= SMALL:
        data = store.read(h)
        got = hash_bytes(data)
        if got != h:
            raise CorruptObjectError(f"object {h}: received bytes hash to {got}")
        if kind == TREE:
            parse_tree(data, name=f"tree {h}")  # raises on `..`, `/`, absolute or empty names
        objects.add_bytes(data, h)
        return len(data)
    tmp = objects.tmp_path(h)
    try:
        digest = store.get_verified(h, tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    objects.add_verified(tmp, h, digest)
    return size


def describe_problems(result: TransferResult, verb: str) -> str:
    """One line for an incomplete transfer: what was wrong, which objects, which paths need them."""
    parts = []
    for label, bucket in (("corrupt on the remote (bytes do not match the name)", result.corrupt),
                          ("missing", result.missing)):
        if bucket:
            shown = [f"{h} (needed by {', '.join(p) or '?'})" for h, p in list(bucket.items())[:3]]
            more = f" and {len(bucket) - 3} more" if len(bucket) > 3 else ""
            parts.append(f"{len(bucket)} {label}: {'; '.join(shown)}{more}")
    for h, why in list(result.refused.items())[:3]:
        parts.append(f"refused tree {h}: {why}")
    return f"{verb} from remote {result.remote!r} incomplete: " + " | ".join(parts)


__all__ = ["TransferResult", "push", "fetch", "remote_status", "describe_problems", "MlvcError"]
