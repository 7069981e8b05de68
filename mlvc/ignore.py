"""Ignore rules in gitignore syntax, per directory, as git applies them.

`.mlvcignore` decides what `mlvc add` leaves out of a tracked directory; `.gitignore` is
read too when looking for pointer files, so a virtualenv or build folder is never walked.
Matching is dulwich's (a required dependency), imported only when a rules file exists.
"""

from __future__ import annotations

import os

MLVCIGNORE = ".mlvcignore"
GITIGNORE = ".gitignore"


class IgnoreRules:
    """Rules in force at some folder: (base, filter) pairs, outermost first.
    (A plain class, not a dataclass: the folder walker imports this, and dataclasses costs ~10 ms.)"""

    __slots__ = ("filename", "layers")

    def __init__(self, filename: str, layers: list[tuple[str, object]] | None = None) -> None:
        self.filename = filename
        self.layers: list[tuple[str, object]] = [] if layers is None else layers

    @classmethod
    def for_dir(cls, repo_root: str, rel_dir: str, filename: str) -> IgnoreRules:
        """Rules from the repo root down to (and including) `rel_dir`."""
        rules = cls(filename)
        parts = [p for p in rel_dir.split("/") if p] if rel_dir else []
        rules = rules.enter(repo_root, "")
        for i in range(len(parts)):
            rules = rules.enter(repo_root, "/".join(parts[: i + 1]))
        return rules

    def enter(self, repo_root: str, rel_dir: str) -> IgnoreRules:
        """The rules for a subfolder: these plus its own rules file, if any."""
        path = os.path.join(repo_root, rel_dir, self.filename)
        try:
            with open(path, "rb") as f:
                lines = [ln.rstrip(b"\r\n") for ln in f]
        except (FileNotFoundError, NotADirectoryError):
            return self
        patterns = [ln for ln in lines if ln.strip() and not ln.startswith(b"#")]
        if not patterns:
            return self
        return IgnoreRules(self.filename, [*self.layers, (rel_dir, _LazyFilter(patterns))])

    def is_ignored(self, rel: str, is_dir: bool) -> bool:
        if not self.layers:
            return False
        for base, flt in reversed(self.layers):
            if base and not rel.startswith(base + "/"):
                continue
            sub = rel[len(base) + 1 :] if base else rel
            verdict = flt.is_ignored(sub + "/" if is_dir else sub)  # type: ignore[attr-defined]
            if verdict is not None:
                return bool(verdict)
        return False


class _LazyFilter:
    """dulwich's IgnoreFilter, compiled on the first question: most walks never ask one."""

    def __init__(self, patterns: list[bytes]) -> None:
        self.patterns = patterns
        self._filter: object | None = None

    def is_ignored(self, path: str) -> bool | None:
        if self._filter is None:
            from dulwich.ignore import IgnoreFilter

            self._filter = IgnoreFilter(self.patterns)
        return self._filter.is_ignored(path)  # type: ignore[attr-defined]
