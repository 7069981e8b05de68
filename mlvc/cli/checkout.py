"""`mlvc checkout`."""

from __future__ import annotations

from mlvc.cli import common

TYPE_CHECKING = False  # typing's flag, without typing's ~5 ms of imports
if TYPE_CHECKING:
    import typer


def register(app: typer.Typer) -> None:
    import typer

    @app.command()
    def checkout(
        paths: list[str] = typer.Argument(None, help="Tracked paths (default: all)."),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite changes that are not in the cache."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Make the workspace match the pointer files and mlvc.lock outs (after `git checkout`, the data follows)."""
        rc = run(paths, force, as_json)
        if rc:
            raise typer.Exit(rc)


def restorable(repo, paths: list[str] | None):
    """What `checkout` and `pull` restore: the pointers of `paths` (all by default) and the cached
    outs recorded in mlvc.lock (a path may name either)."""
    from mlvc.pipeline.lockfile import out_pointers
    from mlvc.workspace import tracked

    outs = {p.path: p for p in out_pointers(repo.root)}
    if not paths:
        ptrs = tracked.load_pointers(repo.root)
        return ptrs + [o for path, o in outs.items() if path not in {p.path for p in ptrs}]
    targets = [repo.rel(p, must_exist=False) for p in paths]
    return [outs[t] if t in outs else tracked.load_pointers(repo.root, [t])[0] for t in targets]


def run(paths: list[str] | None, force: bool = False, as_json: bool = False) -> int:
    """The body of `mlvc checkout`; returns the exit code (also called by mlvc/cli/fast.py)."""
    from mlvc.workspace.checkout import Checkout

    with common.open_repo(mutating=True) as repo:
        ptrs = restorable(repo, paths)
        results = Checkout(repo, force=force, progress=common.progress()).run(ptrs)
    if as_json:
        common.emit_json({"paths": [r.to_dict() for r in results]})
        return 1 if any(r.refused or r.missing for r in results) else 0
    return report(results)


def report(results) -> int:
    """Say what a checkout wrote, refused or could not restore; the exit code (also for `pull`)."""
    failed = False
    for r in results:
        if r.missing:
            common.err(f"mlvc: error: {r.missing}")
        elif r.refused:
            shown = ", ".join(r.refused[:5]) + (f" and {len(r.refused) - 5} more" if len(r.refused) > 5 else "")
            common.err(
                f"mlvc: error: {r.path}: refusing to overwrite changes that are not in the cache: "
                f"{shown} (`mlvc commit {r.path}` keeps them, `--force` discards them)"
            )
        elif r.changed:
            common.out(f"checked out: {r.path} ({r.written} written, {r.deleted} removed)")
        failed = failed or bool(r.refused or r.missing)
    return 1 if failed else 0
