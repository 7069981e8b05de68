"""What the cache must keep: roots from pointer files (in the workspace or in git commits),
expanded through trees into every object they reach."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mlvc import pointer as pointers
from mlvc.errors import MlvcError, PointerError
from mlvc.pointer import Ref
from mlvc.tree import TREE

# Readers of committed files that name cache objects: (matches path?, file bytes -> refs).
# The pipeline lock file registers itself here, so gc and push see stage outs too.
RootReader = tuple[Callable[[str], bool], Callable[[str, bytes], list[Ref]]]
ROOT_READERS: list[RootReader] = []


def _pointer_refs(path: str, data: bytes) -> list[Ref]:
    return [pointers.parse(data.decode("utf-8"), path).ref]


ROOT_READERS.append((lambda p: p.endswith(pointers.SUFFIX), _pointer_refs))


def _lock_refs(path: str, data: bytes) -> list[Ref]:
    from mlvc.pipeline import lockfile  # lazy: only gc/push/history read locks

    return lockfile.refs(data.decode("utf-8"), path)


ROOT_READERS.append((lambda p: p == "mlvc.lock", _lock_refs))


def refs_from_file(path: str, data: bytes, strict: bool = False) -> list[Ref]:
    """The refs a committed file names. An unreadable file names none, or with `strict` raises."""
    for matches, read in ROOT_READERS:
        if matches(path):
            try:
                return read(path, data)
            except (MlvcError, UnicodeDecodeError) as exc:
                if not strict:
                    return []  # an unreadable old file keeps nothing alive; it cannot be checked out either
                if isinstance(exc, UnicodeDecodeError):
                    raise PointerError(f"{path}: not a text file") from None
                raise
    return []


def is_root_file(path: str) -> bool:
    return any(matches(path) for matches, _ in ROOT_READERS)


def workspace_refs(repo) -> list[Ref]:
    """Refs of the work tree's pointers and lock files; an unreadable one is an error (say, git's
    conflict markers), never a silent "references nothing" that would let gc drop its data."""
    import os

    from mlvc.workspace.tracked import find_pointer_files

    refs: list[Ref] = []
    for rel in find_pointer_files(repo.root):
        refs.extend(_read_ws(repo, rel))
    for extra in _extra_workspace_files(repo.root):
        with open(os.path.join(repo.root, extra), "rb") as f:
            refs.extend(refs_from_file(extra, f.read(), strict=True))
    return refs


def _read_ws(repo, rel: str) -> list[Ref]:
    import os

    with open(os.path.join(repo.root, rel), "rb") as f:
        return refs_from_file(rel, f.read(), strict=True)


def _extra_workspace_files(root: str) -> list[str]:
    """Non-pointer root files in the work tree (e.g. mlvc.lock), found by their readers."""
    import os

    names = [n for n in ("mlvc.lock", "dvc.lock") if os.path.isfile(os.path.join(root, n))]
    return [n for n in names if is_root_file(n)]


def commit_refs(repo, revs: Iterable[bytes] | None = None) -> list[Ref]:
    """Refs named in the given git commits (every commit reachable from any ref when None)."""
    from mlvc import gitrepo

    git = gitrepo.open_repo(repo.root)
    if git is None:
        return []
    import os

    prefix = os.path.relpath(repo.root, git.path).replace(os.sep, "/")
    prefix = "" if prefix == "." else prefix + "/"
    refs: list[Ref] = []
    seen_trees: set[bytes] = set()
    commits = gitrepo.all_commits(git) if revs is None else revs
    try:
        for sha in commits:
            tree = git.object_store[sha].tree
            for path, data in gitrepo.iter_files(git, tree, is_root_file, "", seen_trees):
                if path.startswith(prefix):
                    refs.extend(refs_from_file(path[len(prefix) :], data))
    finally:
        git.close()
    return refs


def reachable(objects, refs: Iterable[Ref]) -> set[str]:
    """Every object hash reachable from `refs` through trees present in the cache."""
    seen: set[str] = set()
    stack = [(r.hash, r.kind) for r in refs]
    while stack:
        h, kind = stack.pop()
        if h in seen:
            continue
        seen.add(h)
        if kind == TREE and objects.has(h):
            try:
                tree = objects.read_tree(h)
            except MlvcError:
                continue
            stack.extend((e.hash, e.kind) for e in tree)
    return seen
