"""The transfer engine: push, fetch and `status --remote` for every kind of remote.

Push walks the roots level by level and asks the remote only about the shards it needs (one
listing per shard, cached) and, for what those lack, about its packs (one listing of ROOT/packs/
plus each index once), so it sends only what the remote lacks. A tree that the remote has (with
the right size) is complete there: its whole subtree is skipped. Files go first (small ones as
new packs, .pack then .idx; large ones loose, in parallel), then trees from the leaves up, each
tree only once everything it lists is on the remote, so a tree on the remote always means a
complete directory. A remote object whose size differs from ours, or that `remote verify` found
corrupt, is sent again.

Fetch downloads what the cache lacks, level by level through the trees; packed objects by
ranged reads grouped per pack; every object is checked against its name (and trees against
unsafe names) before it enters the cache, small ones through one pack writer per fetch.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from mlvc import packs
from mlvc.errors import CorruptObjectError, MlvcError, RemoteError
from mlvc.hashing import hash_bytes
from mlvc.progress import NULL, Progress
from mlvc.remote import packed
from mlvc.remote.packed import RemotePacks
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


class RemoteView:
    """What the remote holds, loose (shard listings) or packed (pack indexes, loaded on first need).

    `suspects`: what `remote verify` found corrupt or missing there (size -1: sent again) and the
    trees above it (treated as absent, so push walks into them again).
    """

    def __init__(self, repo, store: RemoteStore, pool: _Pool) -> None:
        self.loose = RemoteIndex(store, pool)
        self.packs = RemotePacks(store, repo.tmp_dir)
        self.pool = pool
        self.bad, self.tainted = packed.load_suspects(repo.tmp_dir, store)

    def packed(self) -> RemotePacks:
        return self.packs.load(lambda items, fn: self.pool.run(items, fn, batch=1))

    def lookup(self, hashes: Iterable[str]) -> dict[str, int]:
        hashes = [h for h in hashes if h not in self.tainted]
        out = self.loose.lookup(hashes)
        rest = [h for h in hashes if h not in out]
        if rest:
            slots = self.packed().slots
            for h in rest:
                if h in slots:
                    out[h] = slots[h].size
        for h in self.bad:
            if h in out:
                out[h] = -1
        return out


class LocalIndex:
    """Which objects the cache has: one directory listing per shard instead of one stat per object."""

    def __init__(self, objects) -> None:
        self.objects = objects
        self.shards: dict[str, set[str]] = {}

    def has(self, h: str) -> bool:
        if h in self.objects.packs:
            return True
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


def plan_push(repo, index: RemoteView, roots: list[Root]) -> PushPlan:
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
    view = RemoteView(repo, store, pool)
    plan = plan_push(repo, view, roots)
    result = TransferResult(store.name, skipped=len(plan.present), replaced=plan.replaced)
    objects = repo.objects
    done: set[str] = set(plan.present)  # on the remote, whole
    lock = threading.Lock()
    n_total = len(plan.files) + len(plan.trees)
    t_obj = progress.task(f"Pushing to {store.name}", n_total, unit="objects")
    t_bytes = progress.task("  bytes", plan.nbytes, unit="bytes")

    def landed(hashes: Iterable[str], nbytes: int, files: int) -> None:
        with lock:
            done.update(hashes)
            result.objects += files
            result.bytes += nbytes
        _crash_point(result.objects)
        t_obj.advance(files)
        t_bytes.advance(nbytes)

    def read_checked(h: str) -> bytes:
        data = objects.read(h)  # loose or packed in the cache
        if hash_bytes(data) != h:
            raise _LocalCorrupt(h)
        return data

    def send(h: str) -> None:
        size = plan.files.get(h, 0)  # trees: 0, small
        if size <= SMALL:
            data = read_checked(h)
            size = len(data)
            store.put_bytes(h, data)
        elif not store.put_verified(objects.path(h), h):
            raise _LocalCorrupt(h)
        landed([h], size if h in plan.files else 0, 1)

    new_packs: set[str] = set()

    def pack_visible(pid: str, entries: dict[str, tuple[int, int]]) -> None:
        new_packs.add(pid)
        view.packs.add(pid, entries)
        landed(entries, sum(size for _off, size in entries.values()), len(entries))

    def send_tree(t: str) -> None:
        if all(c in done for c in plan.trees[t]):
            send(t)

    small = sorted(h for h, size in plan.files.items() if size <= packs.SMALL)
    large = sorted(plan.files.keys() - set(small))
    replaced = _replaced_copies(view, plan)
    sender = packed.PackSender(store, repo.tmp_dir, pack_visible) if small else None
    try:
        try:
            if sender is not None:
                pool.run(small, lambda h: sender.writer.add(h, read_checked(h)), batch=256)
                sender.writer.flush()
                pool.run(sender.pending, sender.upload, batch=1)
            pool.run(large, send)
            for group in _tree_order(plan):
                pool.run(group, send_tree, batch=4)
        except _LocalCorrupt as exc:
            raise CorruptObjectError(
                f"object {exc.hash} ({plan.paths.get(exc.hash, '?')}) is corrupt in the local cache; "
                "nothing that lists it was pushed (run `mlvc cache verify`)"
            ) from None
    finally:
        if sender is not None:
            sender.close()
        t_obj.close()
        t_bytes.close()
    if plan.replaced or view.bad or view.tainted:
        _drop_bad_copies(repo, store, view, replaced, plan, new_packs)
    for h, paths in plan.missing.items():
        result.missing[h] = paths[:PATHS_KEPT]
    result.seconds = time.monotonic() - start
    return result


def _replaced_copies(view: RemoteView, plan: PushPlan) -> tuple[set[str], list[str], list[str]]:
    """What this push re-sends because the remote's copy is bad (wrong size, or found corrupt by
    `remote verify`): (hashes, those with a loose copy, the packs that hold a copy)."""
    resent = set(plan.replaced)
    if not resent:
        return resent, [], []
    loose = list(view.loose.lookup(resent))
    holders = sorted({pid for h in resent for pid in view.packs.holders(h)}) if view.packs.loaded else []
    return resent, loose, holders


def _drop_bad_copies(repo, store: RemoteStore, view: RemoteView, replaced: tuple[set[str], list[str], list[str]],
                     plan: PushPlan, new_packs: set[str]) -> None:
    """The re-sent objects' good copies are visible now: drop the bad ones (a loose file that a packed
    copy replaces; packs rewritten without them), then forget what `remote verify` found."""
    resent, loose, holders = replaced
    store.delete([h for h in loose if any(pid in new_packs for pid in view.packs.holders(h))])
    for pid in holders:
        if pid in new_packs:
            continue  # the same bytes made the same pack name: the upload replaced the bad copy whole
        try:
            packed.rewrite_pack(store, view.packs, pid, lambda h: h not in resent, repo.tmp_dir)
        except CorruptObjectError:
            return  # more damage in that pack: keep the findings; `remote verify` tells the rest
    if not plan.missing:
        packed.clear_suspects(repo.tmp_dir, store)


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
    index = RemoteView(repo, store, pool)
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

    writer = objects.pack_writer()  # small objects land in local packs (one per fetch, committed at the end)

    def arrived(n: int) -> None:
        with lock:
            result.objects += 1
            result.bytes += n
        _crash_point(result.objects)
        t_obj.advance(1)
        t_bytes.advance(n)

    def get(item: tuple[str, str, int]) -> None:
        h, kind, size = item
        try:
            n = _download(objects, store, h, kind, size, writer)
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
        arrived(n)

    def get_packed(read: packed.Read) -> None:
        try:
            data = packed.read_pack(store, read)
        except RemoteError as exc:
            if "is not on the remote" not in str(exc):
                raise
            data = b""  # the pack went away since the listing: its objects are missing
        for h, chunk in packed.split(read, data):
            if chunk is None and not data:
                with lock:
                    result.missing[h] = []
            elif chunk is None or hash_bytes(chunk) != h:
                with lock:
                    result.corrupt[h] = []
            else:
                writer.add(h, chunk)
                arrived(len(chunk))

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
        reads, files = _packed_reads(repo, store, pool, files)
        pool.run(reads, get_packed, batch=1)
        pool.run(files, get)
        writer.flush()  # before checkout: the fetched small objects become visible
    except BaseException:
        writer.flush()  # what arrived whole and verified is kept, so a rerun does not fetch it again
        raise
    finally:
        writer.discard()
        t_obj.close()
        t_bytes.close()
    for bucket in (result.corrupt, result.missing):
        for h in bucket:
            bucket[h] = needers.get(h, [])[:PATHS_KEPT]
    result.seconds = time.monotonic() - start
    return result


def _packed_reads(repo, store: RemoteStore, pool: _Pool, files: list[tuple[str, str, int]]
                  ) -> tuple[list[packed.Read], list[tuple[str, str, int]]]:
    """Split the files to fetch into ranged reads of the remote's packs and loose downloads."""
    if not files:
        return [], files
    rpacks = RemotePacks(store, repo.tmp_dir).load(lambda items, fn: pool.run(items, fn, batch=1))
    by_pack: dict[str, list[tuple[str, int, int]]] = {}
    loose = []
    for item in files:
        slot = rpacks.get(item[0])
        if slot is None:
            loose.append(item)
        else:
            by_pack.setdefault(slot.pack, []).append((item[0], slot.offset, slot.size))
    reads = [r for pid, wanted in by_pack.items() for r in packed.plan_reads(pid, wanted, rpacks.sizes[pid])]
    return reads, loose


def _download(objects, store: RemoteStore, h: str, kind: str, size: int, writer: packs.PackWriter) -> int:
    """One loose remote object into the cache, verified against its name (and trees against unsafe names)."""
    if kind == TREE or size <= SMALL:
        data = store.read(h)
        got = hash_bytes(data)
        if got != h:
            raise CorruptObjectError(f"object {h}: received bytes hash to {got}")
        if kind == TREE:
            tree = parse_tree(data, name=f"tree {h}")  # raises on `..`, `/`, absolute or empty names
            objects.add_bytes(data, h)  # trees stay loose
            objects.remember_tree(h, tree)
        elif len(data) <= packs.SMALL:
            writer.add(h, data)
        else:
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
