"""Cache upkeep: `mlvc gc` (drop what nothing references) and `mlvc cache verify` (rehash all)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlvc import refs as refs_mod
from mlvc.progress import NULL, Progress


@dataclass
class GcResult:
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    temp_files: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "kept": self.kept,
            "removed": len(self.removed),
            "removed_bytes": self.removed_bytes,
            "temp_files": self.temp_files,
            "dry_run": self.dry_run,
        }


def gc(repo, all_commits: bool = False, dry_run: bool = False) -> GcResult:
    roots = refs_mod.workspace_refs(repo)
    if all_commits:
        roots += refs_mod.commit_refs(repo)
    objects = repo.objects
    keep = refs_mod.reachable(objects, roots)
    result = GcResult(dry_run=dry_run)
    for h in list(objects.iter_hashes()):
        if h in keep:
            result.kept += 1
            continue
        result.removed.append(h)
        try:
            result.removed_bytes += objects.size(h)
        except FileNotFoundError:
            continue
    if not dry_run:
        objects.remove_many(set(result.removed))  # one rewrite per pack that holds dead objects
    result.temp_files = _remove_leftovers(objects, dry_run)
    return result


def _remove_leftovers(objects, dry_run: bool) -> int:
    """Temp files and unindexed packs of interrupted writes (the repo lock keeps out live writers)."""
    leftovers = list(objects.iter_tmp())
    if not dry_run:
        for path in leftovers:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    return len(leftovers)


@dataclass
class VerifyResult:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    quarantine_dir: str = ""
    temp_files: int = 0  # leftovers of interrupted writes (temp files, unindexed packs), removed
    bad_packs: dict[str, str] = field(default_factory=dict)  # pack ID -> why its index is unreadable

    def to_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "corrupt": self.corrupt,
            "bad_packs": self.bad_packs,
            "quarantine": self.quarantine_dir,
            "temp_files": self.temp_files,
        }


def verify_cache(repo, progress: Progress = NULL, quarantine: bool = True) -> VerifyResult:
    objects = repo.objects
    qdir = os.path.join(repo.dot, "quarantine")
    result = VerifyResult(quarantine_dir=qdir)
    if quarantine:  # an unreadable index hides every object of its pack: set the pack aside first
        result.bad_packs = objects.set_aside_unreadable_packs(qdir)
    hashes = list(objects.iter_hashes())
    task = progress.task(f"Verifying {len(hashes)} objects", len(hashes), unit="objects")

    def check(batch: list[str]) -> list[str]:
        bad = [h for h in batch if not objects.is_intact(h)]
        task.advance(len(batch))
        return bad

    try:
        batches = [hashes[i : i + 256] for i in range(0, len(hashes), 256)]
        if len(batches) > 1:
            from joblib import Parallel, delayed

            found = Parallel(n_jobs=min(8, (os.cpu_count() or 1) * 2), prefer="threads")(
                delayed(check)(b) for b in batches
            )
        else:
            found = [check(b) for b in batches]
    finally:
        task.close()
    result.checked = len(hashes)
    result.corrupt = sorted(h for bad in found for h in bad)
    if quarantine:
        objects.quarantine_many(set(result.corrupt), qdir)
    result.temp_files = _remove_leftovers(objects, dry_run=not quarantine)
    return result
