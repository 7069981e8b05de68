"""Which objects a push/fetch moves: refs with the path that names them, from the workspace or git commits."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlvc import refs as refs_mod
from mlvc.errors import MlvcError
from mlvc.pointer import Ref


@dataclass(frozen=True, slots=True)
class Root:
    path: str  # what names the ref, for messages: `data`, `mlvc.lock`, `abc1234:data`
    ref: Ref


def workspace_roots(repo, targets: list[str] | None = None) -> list[Root]:
    """Pointer files (all, or the targets') and, without targets, the lock files' outs."""
    from mlvc.workspace import tracked

    roots = [Root(p.path, p.ref) for p in tracked.load_pointers(repo.root, targets)]
    if targets is None:
        for name in ("mlvc.lock", "dvc.lock"):
            path = os.path.join(repo.root, name)
            if os.path.isfile(path) and refs_mod.is_root_file(name):
                with open(path, "rb") as f:
                    roots += [Root(name, r) for r in refs_mod.refs_from_file(name, f.read())]
    return roots


def resolve_rev(git, rev: str) -> bytes:
    """A commit sha for REV: a branch, tag, full or abbreviated sha or HEAD, with `~N` / `^` suffixes."""
    import re

    from dulwich.objectspec import parse_commit

    m = re.fullmatch(r"(.+?)((?:[~^]\d*)*)", rev)
    if m is None:
        raise MlvcError(f"{rev!r}: not a git revision")
    base, suffix = m.group(1), m.group(2)
    try:
        commit = parse_commit(git, base)
    except (KeyError, ValueError):
        raise MlvcError(f"{rev}: not a git revision (a branch, tag or commit of this repository)") from None
    for op, n in re.findall(r"([~^])(\d*)", suffix):
        # `~N` walks N first parents; `^N` picks the Nth parent (plain `^` is the first).
        count, index = (int(n or 1), 0) if op == "~" else (1, int(n or 1) - 1)
        for _ in range(count):
            if len(commit.parents) <= index:
                raise MlvcError(f"{rev}: no such parent in the history")
            commit = git.object_store[commit.parents[index]]
    return commit.id


def commit_roots(repo, revs: list[str] | None, all_commits: bool, targets: list[str] | None = None) -> list[Root]:
    """Refs named by pointer and lock files in the given commits (or every commit), read with dulwich."""
    from mlvc import gitrepo
    from mlvc.pointer import SUFFIX

    git = gitrepo.open_repo(repo.root)
    if git is None:
        raise MlvcError(f"{repo.root}: not in a git repository; --rev and --all-commits read git history")
    prefix = os.path.relpath(repo.root, git.path).replace(os.sep, "/")
    prefix = "" if prefix == "." else prefix + "/"
    wanted = None
    if targets is not None:
        wanted = {t[: -len(SUFFIX)] if t.endswith(SUFFIX) else t for t in targets}
    roots: list[Root] = []
    try:
        shas = list(gitrepo.all_commits(git)) if all_commits else [resolve_rev(git, r) for r in revs or []]
        seen_trees: set[bytes] = set()
        for sha in shas:
            short = sha.decode()[:8]
            tree = git.object_store[sha].tree
            for path, data in gitrepo.iter_files(git, tree, refs_mod.is_root_file, "", seen_trees):
                if not path.startswith(prefix):
                    continue
                rel = path[len(prefix) :]
                if wanted is not None and rel[: -len(SUFFIX)] not in wanted:
                    continue
                roots += [Root(f"{short}:{rel.removesuffix(SUFFIX)}", r) for r in refs_mod.refs_from_file(rel, data)]
    finally:
        git.close()
    return roots


def select_roots(
    repo, targets: list[str] | None, revs: list[str] | None, all_commits: bool, workspace: bool = True
) -> list[Root]:
    """The workspace's roots (unless only history was asked for) plus those of --rev/--all-commits."""
    roots: list[Root] = []
    if workspace and not revs and not all_commits:
        return workspace_roots(repo, targets)
    if workspace:
        try:
            roots += workspace_roots(repo, targets)
        except MlvcError:
            if targets is None:
                raise
    return roots + commit_roots(repo, revs, all_commits, targets)
