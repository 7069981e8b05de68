"""Differences between two trees, down to the file, skipping equal subtrees by their hash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlvc.tree import TREE, Entry, Tree

ADDED, MODIFIED, DELETED = "added", "modified", "deleted"

TreeLoader = Callable[[str], Tree]


@dataclass(frozen=True)
class Change:
    path: str
    state: str
    old: Entry | None
    new: Entry | None

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "state": self.state,
            "old_size": self.old.size if self.old else None,
            "new_size": self.new.size if self.new else None,
        }


def diff_trees(
    prefix: str, old: str | None, new: str | None, load_old: TreeLoader, load_new: TreeLoader
) -> list[Change]:
    """File-level changes from tree `old` to tree `new` (either may be None: all added/deleted)."""
    if old == new:
        return []
    old_entries = load_old(old).by_name() if old else {}
    new_entries = load_new(new).by_name() if new else {}
    changes: list[Change] = []
    for name in sorted(old_entries.keys() | new_entries.keys()):
        a, b = old_entries.get(name), new_entries.get(name)
        path = f"{prefix}/{name}"
        if a is not None and b is not None and a.hash == b.hash and a.kind == b.kind:
            if a.kind != TREE and a.mode != b.mode:
                changes.append(Change(path, MODIFIED, a, b))
            continue
        a_tree = a.hash if a is not None and a.kind == TREE else None
        b_tree = b.hash if b is not None and b.kind == TREE else None
        if a_tree or b_tree:
            changes.extend(diff_trees(path, a_tree, b_tree, load_old, load_new))
        a_file = a if a is not None and a.kind != TREE else None
        b_file = b if b is not None and b.kind != TREE else None
        if a_file and b_file:
            changes.append(Change(path, MODIFIED, a_file, b_file))
        elif a_file:
            changes.append(Change(path, DELETED, a_file, None))
        elif b_file:
            changes.append(Change(path, ADDED, None, b_file))
    return changes
