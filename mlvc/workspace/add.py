"""`mlvc add` and `mlvc commit`: store the content of paths and record it in pointer files."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlvc import gitrepo
from mlvc import pointer as pointers
from mlvc.errors import MlvcError, PathError
from mlvc.ignore import MLVCIGNORE, IgnoreRules
from mlvc.pointer import Pointer, Ref
from mlvc.progress import NULL, Progress
from mlvc.workspace import tracked, watched
from mlvc.workspace.link import link_node
from mlvc.workspace.scan import DirNode, FileNode, Scanner
from mlvc.workspace.walk import estimate_files, walk_folder


@dataclass
class AddResult:
    path: str
    ref: Ref
    changed: bool


def check_addable(repo, rel: str) -> None:
    """Refuse what cannot be added (a folder holding a tracked path: `refuse_inner_pointers`)."""
    if rel.endswith(pointers.SUFFIX):
        raise PathError(f"{rel}: is a pointer file; add the data it points to instead")
    outer = tracked.enclosing_tracked(repo.root, rel)
    if outer is not None:
        raise PathError(f"{rel}: is inside the tracked folder {outer}; run `mlvc commit {outer}` instead")
    abspath = repo.abs(rel)
    git_root = gitrepo.find_git_root(repo.root)
    if git_root is not None:
        rel_git = os.path.relpath(abspath, git_root).replace(os.sep, "/")
        in_git = gitrepo.tracked_under(git_root, rel_git)
        if in_git:
            raise PathError(
                f"{rel}: git already tracks {in_git[0]}; run `git rm -r --cached {rel}` first"
            )


def add(repo, rels: list[str], progress: Progress = NULL, link_type: str | None = None) -> list[AddResult]:
    rels = list(dict.fromkeys(rels))  # `mlvc add a a` adds a once
    for rel in rels:
        outer = next((o for o in rels if rel.startswith(o + "/")), None)
        if outer is not None:
            raise PathError(f"{rel}: is inside {outer}, which this command adds too; add only one of them")
    for rel in rels:
        check_addable(repo, rel)
    # Every folder is walked (stats only) before anything is stored: its listing shows whether it
    # holds a tracked path, and the scan goes on from it.
    folders = [rel for rel in rels if os.path.isdir(repo.abs(rel))]
    walked = {rel: walk_folder(repo.root, rel, _expected_files(repo, rel)) for rel in folders}
    for rel, node in walked.items():
        refuse_inner_pointers(repo, rel, node)
    scanner = Scanner(repo, store=True, link_type=link_type, progress=progress)
    results = _store(repo, scanner, rels, walked)
    for rel in rels:
        tracked.gitignore_add(repo.root, rel)
    return results


def commit(repo, ptrs: list[Pointer], progress: Progress = NULL) -> list[AddResult]:
    for ptr in ptrs:
        if not os.path.lexists(repo.abs(ptr.path)):
            raise PathError(f"{ptr.path}: is missing from the workspace; `mlvc checkout {ptr.path}` restores it")
    return _store(repo, Scanner(repo, store=True, progress=progress), [p.path for p in ptrs])


def refuse_inner_pointers(repo, rel: str, node: DirNode) -> None:
    """A folder that holds a tracked path (a pointer file inside it) would track that data twice.
    The walk listed every file name: only where one ends in `.mlvc`, or an `.mlvcignore` may have
    hidden one, are the pointer files looked for (a second listing of the whole folder)."""
    may_hold = IgnoreRules.for_dir(repo.root, os.path.dirname(rel), MLVCIGNORE).layers or any(
        d.has_name_ending(pointers.SUFFIX, MLVCIGNORE) for d in node.iter_dirs()
    )
    inner = tracked.find_pointer_files(repo.abs(rel)) if may_hold else []
    if inner:
        raise PathError(f"{rel}: contains tracked path {rel}/{inner[0][: -len(pointers.SUFFIX)]}")


def _store(repo, scanner: Scanner, rels: list[str], walked: dict[str, DirNode] | None = None) -> list[AddResult]:
    """Scan every path into the cache (small files of all of them into one pack), then record them:
    a pointer is written only once the pack holding its objects is committed. `walked`: folders
    the caller walked already."""
    # The watcher (core.fsmonitor) lists them while this works, where the workspace files stay
    # as they are; with hardlink or symlink every file is changed here, so only after that.
    if scanner.packing:
        watched.prime(repo, rels)
    with scanner.one_pack():
        scanned = [(rel, *_scan(repo, scanner, rel, (walked or {}).get(rel))) for rel in rels]
    results = [_record(repo, scanner, rel, ref, node) for rel, ref, node in scanned]
    if not scanner.packing:
        watched.prime(repo, rels)
    return results


def _scan(repo, scanner: Scanner, rel: str, walked: DirNode | None) -> tuple[Ref, FileNode | DirNode]:
    if walked is not None:
        return scanner.scan(rel, walked=walked)
    return scanner.scan(rel, expect_files=_expected_files(repo, rel))


def _expected_files(repo, rel: str) -> int:
    """How many files the path's pointer recorded, or without one (a first add) an estimate from a
    few listings: from forked.FORK_MIN_FILES on, the folder is walked by two processes, as in a status."""
    try:
        return pointers.read(repo.root, pointers.pointer_path_for(rel)).ref.files
    except (OSError, MlvcError):
        return estimate_files(repo.abs(rel))  # no pointer yet; a bad one is reported by _record


def _record(repo, scanner: Scanner, rel: str, ref: Ref, node: FileNode | DirNode) -> AddResult:
    link_node(repo, node, scanner.link_type)
    ptr_rel = pointers.pointer_path_for(rel)
    old = None
    if os.path.exists(repo.abs(ptr_rel)):
        old = pointers.read(repo.root, ptr_rel).ref
    changed = old != ref
    if changed:
        pointers.write(repo.root, Pointer(rel, ref))
    return AddResult(rel, ref, changed)
