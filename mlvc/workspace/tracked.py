"""Finding tracked paths: every `*.mlvc` pointer in the work tree, and their gitignore entries."""

from __future__ import annotations

import os
from operator import attrgetter, methodcaller

from mlvc import pointer as pointers
from mlvc.errors import PathError
from mlvc.ignore import GITIGNORE, IgnoreRules
from mlvc.links import write_bytes_atomic
from mlvc.pointer import Pointer

SKIP_DIRS = {".git", ".mlvc"}
_entry_name = attrgetter("name")
_is_real_dir = methodcaller("is_dir", follow_symlinks=False)
_is_pointer_name = methodcaller("endswith", pointers.SUFFIX)


def find_pointer_files(root: str) -> list[str]:
    """Repo-relative paths of every pointer file, skipping tracked data, .git, .mlvc and gitignored folders."""
    found: list[str] = []

    def walk(abs_dir: str, rel_dir: str, rules: IgnoreRules) -> None:
        rules = rules.enter(root, rel_dir)
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except (PermissionError, FileNotFoundError):
            return
        names = set(map(_entry_name, entries))
        # Only pointer files and folders matter: `add` of 50,000 files looks here before it stores
        # anything, so the plain files are dropped by C-level filters, with no per-entry Python
        # (d_type: no stat).
        wanted = {e.name: e for e in filter(_is_real_dir, entries)}
        if any(map(_is_pointer_name, names)):
            wanted.update((e.name, e) for e in entries if e.name.endswith(pointers.SUFFIX))
        for e in sorted(wanted.values(), key=_entry_name):
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            if e.name.endswith(pointers.SUFFIX) and e.is_file():
                found.append(rel)
            elif e.is_dir(follow_symlinks=False):
                if e.name in SKIP_DIRS or e.name + pointers.SUFFIX in names:
                    continue
                if rules.is_ignored(rel, True):
                    continue
                walk(e.path, rel, rules)

    walk(root, "", IgnoreRules(GITIGNORE))
    return found


def load_pointers(root: str, targets: list[str] | None = None) -> list[Pointer]:
    """Pointers for `targets` (repo-relative data paths or pointer paths), or for all."""
    if targets is None:
        return [pointers.read(root, p) for p in find_pointer_files(root)]
    result = []
    for rel in targets:
        ptr_rel = rel if rel.endswith(pointers.SUFFIX) else rel + pointers.SUFFIX
        if not os.path.isfile(os.path.join(root, ptr_rel)):
            raise PathError(f"{rel}: not tracked by mlvc (no {ptr_rel}; use `mlvc add {rel}`)")
        result.append(pointers.read(root, ptr_rel))
    return result


def enclosing_tracked(root: str, rel: str) -> str | None:
    """The tracked folder that contains `rel`, if any."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        candidate = "/".join(parts[:i])
        if os.path.isfile(os.path.join(root, candidate + pointers.SUFFIX)):
            return candidate
    return None


def gitignore_add(root: str, rel: str) -> None:
    """Make git ignore `rel` with a `/name` line in the .gitignore of its folder."""
    parent, name = os.path.split(rel)
    path = os.path.join(root, parent, GITIGNORE)
    line = "/" + name
    lines = _read_lines(path)
    if line in lines:
        return
    text = "".join(ln + "\n" for ln in [*lines, line])
    write_bytes_atomic(path, text.encode())


def gitignore_remove(root: str, rel: str) -> None:
    parent, name = os.path.split(rel)
    path = os.path.join(root, parent, GITIGNORE)
    lines = _read_lines(path)
    kept = [ln for ln in lines if ln != "/" + name]
    if kept == lines:
        return
    if kept:
        write_bytes_atomic(path, "".join(ln + "\n" for ln in kept).encode())
    else:
        os.unlink(path)


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []
