"""git access through dulwich: create a repository, ask what git tracks, read committed files.

No `git` subprocess in product code; history commands build on `iter_commits`/`read_blob`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator


def find_git_root(start: str) -> str | None:
    probe = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(probe, ".git")):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent


def init(root: str) -> None:
    from dulwich.repo import Repo as GitRepo

    os.makedirs(root, exist_ok=True)
    GitRepo.init(root).close()


def tracked_under(git_root: str, rel_to_git: str) -> list[str]:
    """Paths in git's index equal to or under `rel_to_git` (posix, relative to the git root)."""
    index_path = os.path.join(git_root, ".git", "index")
    if not os.path.exists(index_path):
        return []
    from dulwich.index import Index

    prefix = rel_to_git.encode() + b"/"
    exact = rel_to_git.encode()
    return [p.decode() for p in Index(index_path).paths() if p == exact or p.startswith(prefix)]


def open_repo(root: str):  # -> dulwich.repo.Repo
    from dulwich.repo import Repo as GitRepo

    git_root = find_git_root(root)
    if git_root is None:
        return None
    return GitRepo(git_root)


def all_commits(repo) -> Iterator[bytes]:
    """Every commit reachable from any ref (branches, tags, remotes, stash, HEAD)."""
    from dulwich.objects import Commit, Tag

    seen: set[bytes] = set()
    stack: list[bytes] = []
    for ref, sha in repo.get_refs().items():
        if ref == b"HEAD" or ref.startswith(b"refs/"):
            stack.append(sha)
    while stack:
        sha = stack.pop()
        if sha in seen or sha not in repo.object_store:
            continue
        seen.add(sha)
        obj = repo.object_store[sha]
        if isinstance(obj, Tag):
            stack.append(obj.object[1])
            continue
        if not isinstance(obj, Commit):
            continue
        yield sha
        stack.extend(obj.parents)


def iter_files(repo, tree_sha: bytes, want, prefix: str = "", seen: set[bytes] | None = None):
    """Yield (path, blob bytes) for files in a git tree whose path satisfies `want(path)`.

    `seen` skips subtrees already visited (across commits most trees are shared).
    """
    from dulwich.objects import Tree

    if seen is not None:
        if tree_sha in seen:
            return
        seen.add(tree_sha)
    tree = repo.object_store[tree_sha]
    if not isinstance(tree, Tree):
        return
    for item in tree.items():
        name = item.path.decode("utf-8", "surrogateescape")
        path = f"{prefix}{name}"
        if item.mode & 0o170000 == 0o040000:
            yield from iter_files(repo, item.sha, want, path + "/", seen)
        elif item.mode & 0o170000 == 0o100000 and want(path):
            yield path, repo.object_store[item.sha].data
