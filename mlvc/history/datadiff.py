"""`mlvc diff`: which tracked data files were added, modified or deleted between two revisions.

Tracked data at a revision = its `*.mlvc` pointer files and the outs its `mlvc.lock` records.
Folders are compared tree object by tree object (`workspace.diff.diff_trees`), so an unchanged
subfolder costs one hash comparison; a tree object that is not in the local cache is reported
at that folder (`mlvc fetch` brings it) instead of failing the whole diff.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlvc import pointer as pointers
from mlvc.errors import MlvcError, ObjectMissingError
from mlvc.pointer import Ref
from mlvc.tree import TREE, Entry
from mlvc.workspace.diff import ADDED, DELETED, MODIFIED, diff_trees


@dataclass(frozen=True)
class DataChange:
    path: str
    state: str  # added | modified | deleted | unknown (folder contents not in the cache)
    old_size: int | None
    new_size: int | None
    old_hash: str | None = None
    new_hash: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "state": self.state, "old_size": self.old_size, "new_size": self.new_size,
                "old_hash": self.old_hash, "new_hash": self.new_hash}


def tracked_refs(view) -> tuple[dict[str, Ref], list[str]]:
    """{data path: Ref} tracked at `view` (pointers and lock outs) and the errors met reading them."""
    found: dict[str, Ref] = {}
    errors: list[str] = []
    for rel, data in view.pointer_files():
        try:
            ptr = pointers.parse(data.decode("utf-8"), rel)
        except (MlvcError, UnicodeDecodeError) as exc:
            errors.append(f"{rel} at {view.label}: {exc}")
            continue
        found[ptr.path] = ptr.ref
    for path, ref in lock_outs(view).items():
        found.setdefault(path, ref)
    return found, errors


def lock_outs(view) -> dict[str, Ref]:
    """Cached outs recorded in the revision's mlvc.lock (read with the pipeline's lock parser)."""
    data = view.read("mlvc.lock")
    if data is None:
        return {}
    from mlvc.pipeline import lockfile

    try:
        lock = lockfile.parse(data.decode("utf-8"), f"mlvc.lock at {view.label}")
    except (MlvcError, UnicodeDecodeError):
        return {}
    return {path: out.ref for entry in lock.stages.values() for path, out in entry.outs.items() if out.cache}


def diff(objects, old_view, new_view, targets: list[str] | None = None) -> tuple[list[DataChange], list[str]]:
    old, e1 = tracked_refs(old_view)
    new, e2 = tracked_refs(new_view)
    changes: list[DataChange] = []
    for path in sorted(old.keys() | new.keys()):
        if targets and not any(path == t or path.startswith(t.rstrip("/") + "/") or t.startswith(path + "/")
                               for t in targets):
            continue
        a, b = old.get(path), new.get(path)
        if a is not None and b is not None and a.hash == b.hash and a.kind == b.kind:
            continue
        changes.extend(_diff_ref(objects, path, a, b))
    if targets:
        changes = [c for c in changes if any(c.path == t or c.path.startswith(t.rstrip("/") + "/")
                                              or t.startswith(c.path + "/") for t in targets)]
    return changes, e1 + e2


def _diff_ref(objects, path: str, a: Ref | None, b: Ref | None) -> list[DataChange]:
    a_tree = a.hash if a is not None and a.kind == TREE else None
    b_tree = b.hash if b is not None and b.kind == TREE else None
    out: list[DataChange] = []
    if a_tree or b_tree:
        try:
            for c in diff_trees(path, a_tree, b_tree, objects.read_tree, objects.read_tree):
                out.append(_from_entries(c.path, c.state, c.old, c.new))
        except ObjectMissingError:
            out = [DataChange(path, "unknown", a.size if a else None, b.size if b else None,
                              a.hash if a else None, b.hash if b else None)]
    a_file = a if a is not None and a.kind != TREE else None
    b_file = b if b is not None and b.kind != TREE else None
    if a_file and b_file:
        out.append(DataChange(path, MODIFIED, a_file.size, b_file.size, a_file.hash, b_file.hash))
    elif a_file:
        out.append(DataChange(path, DELETED, a_file.size, None, a_file.hash, None))
    elif b_file:
        out.append(DataChange(path, ADDED, None, b_file.size, None, b_file.hash))
    return out


def _from_entries(path: str, state: str, old: Entry | None, new: Entry | None) -> DataChange:
    return DataChange(path, state, old.size if old else None, new.size if new else None,
                      old.hash if old else None, new.hash if new else None)
