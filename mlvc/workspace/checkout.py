"""`mlvc checkout`: make the workspace match the pointers, never losing what is not in the cache."""

from __future__ import annotations

import errno
import os
import shutil
import stat as stat_mod
from dataclasses import dataclass, field

from mlvc.errors import ObjectMissingError, PathError
from mlvc.parallel import in_batches
from mlvc.pointer import Pointer
from mlvc.progress import NULL, Progress
from mlvc.tree import TREE, Entry
from mlvc.workspace import intent
from mlvc.workspace.scan import DirNode, FileNode, Scanner

PARALLEL_MIN_FILES = 64
IN_PLACE_MIN_FILES = 64  # fewer new files: each through a temp file + rename, with no intent log to write


@dataclass
class CheckoutResult:
    path: str
    written: int = 0
    deleted: int = 0
    refused: list[str] = field(default_factory=list)
    missing: str | None = None  # why the data could not be restored (object not in cache)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.deleted)

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "written": self.written,
            "deleted": self.deleted,
            "refused": self.refused,
            "missing": self.missing,
        }


@dataclass
class _Plan:
    writes: list[tuple[str, Entry]] = field(default_factory=list)  # (abs path, file entry) replacing a file
    creates: list[tuple[str, Entry]] = field(default_factory=list)  # the same where nothing was when planned
    deletes: list[str] = field(default_factory=list)  # abs paths (files or folders)
    prunes: dict[str, DirNode] = field(default_factory=dict)  # folders in `deletes` to empty, not rmtree
    mkdirs: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


class Checkout:
    def __init__(self, repo, force: bool = False, progress: Progress = NULL, link_type: str | None = None):
        self.repo = repo
        self.force = force
        self.progress = progress
        self.link_type = link_type or repo.link_type
        self.scanner = Scanner(repo, store=False, progress=progress)
        self.leftovers: intent.Leftovers | None = None

    def run(self, ptrs: list[Pointer]) -> list[CheckoutResult]:
        self.leftovers = intent.Leftovers(self.repo.tmp_dir)
        results = [self._one(p) for p in ptrs]
        self.repo.stat_cache.flush()
        # A path restored whole is no longer part-written: its interrupted checkout's log can let it go.
        restored = [r.path for r in results if not (r.refused or r.missing)]
        self.leftovers.settle(lambda rel: any(rel == p or rel.startswith(p + "/") for p in restored))
        return results

    # -- planning -------------------------------------------------------------
    def _one(self, ptr: Pointer) -> CheckoutResult:
        result = CheckoutResult(ptr.path)
        root_abs = self.repo.abs(ptr.path)
        current = self._scan_current(ptr.path, ptr.ref.files)
        # A pointer to a single file records no mode: keep the workspace file's own.
        mode = current.mode if ptr.ref.kind != TREE and isinstance(current, FileNode) else "644"
        target = Entry(os.path.basename(ptr.path), ptr.ref.kind, ptr.ref.hash, ptr.ref.size, mode)
        plan = _Plan()
        try:
            self._plan_entry(root_abs, ptr.path, current, target, plan)
        except ObjectMissingError as exc:
            result.missing = str(exc)  # names the path already
            return result
        result.refused = plan.refused
        if plan.refused:
            return result
        self._check_inside(plan)
        self._apply(plan, result)
        return result

    def _check_inside(self, plan: _Plan) -> None:
        """Refuse, before writing anything, a plan whose folders lead out of the repo through a symlink."""
        root = os.path.realpath(self.repo.root)
        seen: set[str] = set()
        for path in [p for p, _ in plan.writes + plan.creates] + plan.deletes + plan.mkdirs:
            parent = os.path.dirname(path)
            if parent in seen:
                continue
            seen.add(parent)
            real = os.path.realpath(parent)
            if real != root and not real.startswith(root + os.sep):
                rel = os.path.relpath(parent, self.repo.root)
                raise PathError(
                    f"{rel}: leads outside the repository (to {real}) through a symbolic link; refusing to write there"
                )

    def _scan_current(self, rel: str, expect_files: int = 0) -> FileNode | DirNode | None:
        if not os.path.lexists(self.repo.abs(rel)):
            return None
        if os.path.islink(self.repo.abs(rel)) and not os.path.exists(self.repo.abs(rel)):
            return None
        return self.scanner.scan(rel, expect_files=expect_files)[1]  # a big folder: two processes walk it

    def _plan_entry(self, abspath: str, rel: str, current, target: Entry, plan: _Plan) -> None:
        objects = self.repo.objects
        if target.kind == TREE:
            if isinstance(current, DirNode) and current.hash == target.hash:
                return
            if not objects.has(target.hash):
                raise ObjectMissingError(target.hash, rel)
            tree = objects.read_tree(target.hash)
            if not isinstance(current, DirNode):
                if current is not None:
                    self._plan_delete(current, rel, plan)
                plan.mkdirs.append(abspath)
                existing_files: dict[str, FileNode] = {}
                existing_dirs: dict[str, DirNode] = {}
            else:
                self.scanner.build_tree(current)
                existing_files = {f.name: f for f in current.files}
                existing_dirs = {d.name: d for d in current.dirs}
            wanted = tree.by_name()
            for name, entry in wanted.items():
                cur = existing_files.get(name) or existing_dirs.get(name)
                self._plan_entry(os.path.join(abspath, name), f"{rel}/{name}", cur, entry, plan)
            for name, node in {**existing_files, **existing_dirs}.items():
                if name not in wanted:
                    self._plan_delete(node, f"{rel}/{name}", plan)
            return
        if not objects.has(target.hash):
            raise ObjectMissingError(target.hash, rel)
        if isinstance(current, FileNode):
            if current.hash is None:
                self.scanner._hash_files([current])
            # Links into the cache read as mode 644 (the object's 444) and executables are always
            # copies, so comparing modes is right for every link type.
            if current.hash == target.hash and current.mode == target.mode:
                return
        if current is None:
            plan.creates.append((abspath, target))
            return
        if isinstance(current, FileNode) and current.hash == target.hash:
            pass  # only the mode differs: safe to rewrite
        else:
            self._plan_delete(current, rel, plan, replace=True)
        plan.writes.append((abspath, target))

    def _plan_delete(self, node, rel: str, plan: _Plan, replace: bool = False) -> None:
        """Plan removing `node`, unless it holds content that only the workspace has."""
        if isinstance(node, DirNode):
            self.scanner.build_tree(node)
            unsafe = [f.rel for d in node.iter_dirs() for f in d.files if not self._safe(f)]
        else:
            if node.hash is None:
                self.scanner._hash_files([node])
            unsafe = [] if self._safe(node) else [node.rel]
        if unsafe and not self.force:
            plan.refused.extend(unsafe)
            return
        if not replace or isinstance(node, DirNode):
            plan.deletes.append(node.abspath)
            if isinstance(node, DirNode) and not replace:
                plan.prunes[node.abspath] = node

    def _safe(self, f: FileNode) -> bool:
        if f.hash is None:
            self.scanner._hash_files([f])
        if f.hash is not None and self.repo.objects.has(f.hash):
            return True
        # Part-written by a checkout that was killed (see mlvc/workspace/intent.py)?
        h = self.leftovers.get(f.rel) if self.leftovers else None
        return h is not None and self.repo.objects.is_prefix(f.abspath, h)

    # -- applying ---------------------------------------------------------------
    def _apply(self, plan: _Plan, result: CheckoutResult) -> None:
        for path in plan.deletes:
            if path in plan.prunes:
                _prune(plan.prunes[path])
            else:
                _remove(path)
            result.deleted += 1
        for d in plan.mkdirs:
            os.makedirs(d, exist_ok=True)
        # Many new files are created in place (one directory operation each, not a temp file and a
        # rename), under an intent log that lets a rerun overwrite what a kill left part-written.
        in_place = len(plan.creates) >= IN_PLACE_MIN_FILES
        writes = [(p, e, in_place) for p, e in plan.creates] + [(p, e, False) for p, e in plan.writes]
        if not writes:
            return
        total = sum(e.size for _, e, _ in writes)
        task = self.progress.task(f"Checking out {len(writes)} files", total, unit="bytes")
        made: set[str] = set()
        for path, _, _ in writes:
            parent = os.path.dirname(path)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
        log = None
        try:
            if in_place:
                root = len(self.repo.root) + 1
                log = intent.begin(
                    self.repo.tmp_dir, [(p[root:].replace(os.sep, "/"), e.hash) for p, e in plan.creates]
                )
            jobs = self.scanner.jobs if len(writes) >= PARALLEL_MIN_FILES else 1
            in_batches(lambda b: self._write_batch(b, task), writes, 256, jobs, "mlvc-checkout")
        finally:
            task.close()
            if log is not None:  # every file is whole or absent now: a failed one was removed
                intent.end(log)
        result.written += len(writes)

    def _write_batch(self, writes: list[tuple[str, Entry, bool]], task) -> None:
        objects = self.repo.objects
        for path, entry, in_place in writes:
            link_type = self.link_type
            if entry.executable and link_type in ("hardlink", "symlink"):
                link_type = "copy"  # a shared read-only object cannot carry the executable bit
            mode = 0o755 if entry.executable else 0o644
            st = None
            if in_place:
                try:
                    st = objects.place_new(entry.hash, path, link_type, mode)
                except FileExistsError:
                    pass  # something appeared there after the plan: replace it whole, as below
            if st is None:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                objects.place(entry.hash, path, link_type, mode)  # a packed object is always a copy
                st = os.stat(path)
            self.repo.stat_cache.record_file(st, entry.hash)
            task.advance(entry.size)


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat_mod.S_ISDIR(st.st_mode):
        shutil.rmtree(path, onerror=_force_writable)
    else:
        os.unlink(path)


def _prune(node: DirNode) -> None:
    """Remove the files of a scanned folder, then the folders left empty. Files that .mlvcignore
    hides from mlvc were never in the cache: they stay (with their folders), as git keeps ignored
    files of a folder that leaves the tree. A folder that a file must replace is rmtree'd instead."""
    for d in node.iter_dirs():  # children before parents
        for f in d.files:
            try:
                os.unlink(f.abspath)
            except FileNotFoundError:
                pass
        try:
            os.rmdir(d.abspath)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise


def _force_writable(func, path, _exc) -> None:
    os.chmod(os.path.dirname(path), 0o755)
    func(path)
