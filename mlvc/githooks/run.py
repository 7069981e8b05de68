"""What the hooks check and do, as values; `mlvc hook NAME` (mlvc/cli/hooks.py) prints them.

pre-commit: the data of every pointer being committed must match that pointer (else the commit
would record a pointer that does not describe the data), and no pipeline stage may be stale where
the commit touches its inputs (else the committed mlvc.lock does not describe the committed
pipeline). `[hooks] pre_commit = warn` in .mlvc/config reports without refusing; `off` skips.
pre-push: the objects referenced by the commits being pushed go to the mlvc remote
(`[hooks] remote`, else the default remote).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlvc.errors import ConfigError, MlvcError
from mlvc.pointer import SUFFIX

REFUSE, WARN, OFF = "refuse", "warn", "off"
ZERO = "0" * 40


@dataclass
class PreCommitResult:
    mode: str
    problems: list[str] = field(default_factory=list)  # each says what and the command that fixes it
    notes: list[str] = field(default_factory=list)  # what could not be checked

    @property
    def refused(self) -> bool:
        return self.mode == REFUSE and bool(self.problems)


def pre_commit_mode(config) -> str:
    mode = (config.get("hooks", "pre_commit", REFUSE) or REFUSE).strip().lower()
    if mode not in (REFUSE, WARN, OFF):
        raise ConfigError(f".mlvc/config: hooks.pre_commit is {mode!r}; use refuse, warn or off")
    return mode


# -- git's side: the index being committed ----------------------------------------------------------
class Staged:
    """The index git is committing (GIT_INDEX_FILE during `git commit -a` / `git commit PATH`), read
    with dulwich, as paths relative to the mlvc repository."""

    def __init__(self, repo) -> None:
        from dulwich.index import Index

        from mlvc import gitrepo

        self.git = gitrepo.open_repo(repo.root)
        if self.git is None:
            raise MlvcError(f"{repo.root}: not in a git repository")
        prefix = os.path.relpath(repo.root, self.git.path).replace(os.sep, "/")
        self.prefix = "" if prefix == "." else prefix + "/"
        index_file = os.environ.get("GIT_INDEX_FILE") or self.git.index_path()
        self.index = Index(os.path.abspath(index_file)) if os.path.exists(index_file) else None

    def close(self) -> None:
        self.git.close()

    def _rel(self, path: bytes) -> str | None:
        text = path.decode("utf-8", "surrogateescape")
        return text[len(self.prefix) :] if text.startswith(self.prefix) else None

    def changed(self) -> set[str]:
        """Paths whose staged content differs from HEAD's (added, modified or deleted)."""
        if self.index is None:
            return set()
        try:
            tree = self.git[b"HEAD"].tree
        except KeyError:  # the first commit
            tree = None
        out: set[str] = set()
        for (old, new), _modes, _shas in self.index.changes_from_tree(self.git.object_store, tree):
            for p in (old, new):
                rel = self._rel(p) if p else None
                if rel:
                    out.add(rel)
        return out

    def pointers(self) -> list[tuple[str, bytes]]:
        """(repo-relative pointer path, staged bytes) of every `*.mlvc` pointer in the index."""
        if self.index is None:
            return []
        found = []
        for path, entry in self.index.items():
            sha = getattr(entry, "sha", None)
            rel = self._rel(path)
            if sha is None or rel is None or not rel.endswith(SUFFIX) or "/.mlvc/" in f"/{rel}":
                continue  # a conflicted entry, outside the mlvc repo, or not a pointer
            found.append((rel, self.git.object_store[sha].data))
        return found


# -- pre-commit ---------------------------------------------------------------------------------------
def pre_commit(repo) -> PreCommitResult:
    result = PreCommitResult(pre_commit_mode(repo.config))
    if result.mode == OFF:
        return result
    staged = Staged(repo)
    try:
        _check_pointers(repo, staged, result)
        _check_lock(repo, staged.changed(), result)
    finally:
        staged.close()
    return result


def _check_pointers(repo, staged: Staged, result: PreCommitResult) -> None:
    from mlvc import pointer as pointers
    from mlvc.workspace.scan import Scanner

    scanner = None
    for rel_ptr, data in staged.pointers():
        data_rel = rel_ptr[: -len(SUFFIX)]
        try:
            ptr = pointers.parse(data.decode("utf-8", "replace"), rel_ptr)
        except MlvcError as exc:
            result.problems.append(f"{exc} (fix the file, then `git add {rel_ptr}`)")
            continue
        if not os.path.lexists(repo.abs(data_rel)):
            continue  # not checked out here (`mlvc pull` brings it): nothing to compare
        scanner = scanner or Scanner(repo, store=False)
        current = scanner.scan(data_rel)[0]
        if current.hash == ptr.ref.hash:
            continue
        try:
            on_disk = pointers.read(repo.root, rel_ptr)
        except MlvcError:
            on_disk = None
        if on_disk is not None and on_disk.ref.hash == current.hash:
            result.problems.append(f"{data_rel}: {rel_ptr} was updated but not staged (run `git add {rel_ptr}`)")
        else:
            result.problems.append(
                f"{data_rel}: changed since {rel_ptr} was written (run `mlvc commit {data_rel}`, "
                f"then `git add {rel_ptr}`)"
            )
    if scanner is not None:
        repo.stat_cache.flush()


def _touches(staged: set[str], inputs: set[str]) -> str | None:
    for p in sorted(staged):
        data = p[: -len(SUFFIX)] if p.endswith(SUFFIX) else p
        for i in inputs:
            if data == i or data.startswith(i + "/") or i.startswith(data + "/"):
                return p
    return None


def _check_lock(repo, staged: set[str], result: PreCommitResult) -> None:
    from mlvc.gate import stale_reasons
    from mlvc.pipeline import spec

    if not staged or spec.find(repo.root) is None:
        return
    from mlvc.pipeline.plan import RUN
    from mlvc.pipeline.repro import Reproducer

    try:
        rep = Reproducer(repo)
        decisions = rep.plan()
    except MlvcError as exc:
        result.notes.append(f"pipeline not checked: {exc}")
        return
    files = {rep.pf.path, rep.pf.lock_path}
    for d in decisions:
        reasons = stale_reasons(d.reasons) if d.action == RUN else []
        if not reasons:
            continue
        stage = rep.graph.stages[d.name]
        inputs = files | {x.path for x in stage.deps} | {x.path for x in stage.outs} | {p.file for p in stage.params}
        touched = _touches(staged, inputs)
        if touched is not None:
            result.problems.append(
                f"{rep.pf.lock_path}: stage {d.name!r} is stale for the staged {touched} ({'; '.join(reasons)}) "
                f"(run `mlvc repro {d.name}`, then `git add {rep.pf.lock_path}`)"
            )


# -- pre-push -----------------------------------------------------------------------------------------
def pushed_commits(git, updates: list[tuple[str, str]], remote: str | None) -> list[bytes]:
    """Commits that (local sha, remote sha) updates send: reachable from a local sha, not from the
    remote's sha nor from what git knows the remote has (refs/remotes/REMOTE/*)."""
    include = [c for c in (_commit(git, local) for local, _ in updates if local != ZERO) if c is not None]
    if not include:
        return []
    exclude = [c for c in (_commit(git, theirs) for _, theirs in updates if theirs != ZERO) if c is not None]
    if remote:
        known = f"refs/remotes/{remote}/".encode()
        exclude += [c for ref, sha in git.get_refs().items() if ref.startswith(known)
                    for c in [_commit(git, sha.decode())] if c is not None]
    return [entry.commit.id for entry in git.get_walker(include=include, exclude=exclude or None)]


def _commit(git, sha: str) -> bytes | None:
    """The commit SHA names (an annotated tag is peeled), or None (unknown here, or not a commit)."""
    from dulwich.objects import Commit, Tag

    key = sha.encode()
    while key in git.object_store:
        obj = git.object_store[key]
        if isinstance(obj, Commit):
            return key
        if not isinstance(obj, Tag):
            return None
        key = obj.object[1]
    return None


def parse_updates(lines: list[str]) -> list[tuple[str, str]]:
    """(local sha, remote sha) from git's pre-push input: `LOCAL_REF LOCAL_SHA REMOTE_REF REMOTE_SHA`."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4:
            out.append((parts[1], parts[3]))
    return out


def updates_from_env(env: dict[str, str]) -> list[tuple[str, str]]:
    """The pre-commit framework passes the update in PRE_COMMIT_TO_REF / PRE_COMMIT_FROM_REF."""
    to_ref = env.get("PRE_COMMIT_TO_REF")
    if not to_ref:
        return []
    return [(to_ref, env.get("PRE_COMMIT_FROM_REF") or ZERO)]


def push_roots(repo, updates: list[tuple[str, str]], git_remote: str | None):
    """The refs (with the commit:path that names each) the pushed commits reference."""
    from mlvc import gitrepo
    from mlvc.remote.roots import commit_roots

    git = gitrepo.open_repo(repo.root)
    if git is None:
        return []
    try:
        shas = pushed_commits(git, updates, git_remote)
    finally:
        git.close()
    return commit_roots(repo, [s.decode() for s in shas], False) if shas else []
