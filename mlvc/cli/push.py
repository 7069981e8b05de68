"""`mlvc push`, `mlvc fetch`, `mlvc pull`: move objects between the cache and a remote."""

from __future__ import annotations

import typer

from mlvc.cli import common

TargetsArg = typer.Argument(None, help="Tracked paths (default: everything the workspace references).")
RemoteOpt = typer.Option(None, "--remote", "-r", help="Remote name (default: the configured default remote).")
JobsOpt = typer.Option(
    None, "--jobs", "-j", min=1, help="Parallel transfers (default: 16 for network remotes, 8 for folders)"
)
RevOpt = typer.Option(None, "--rev", help="Objects referenced in this git revision (repeatable).")
AllCommitsOpt = typer.Option(False, "--all-commits", "-A", help="Objects referenced in every git commit.")


def _roots(repo, targets, revs, all_commits):
    from mlvc.remote.roots import select_roots

    rel = [repo.rel(t, must_exist=False) for t in targets] if targets else None
    return select_roots(repo, rel, revs, all_commits)


def _store(repo, name):
    from mlvc.remote import config as rconfig
    from mlvc.remote.store import open_store

    return open_store(rconfig.load(repo.config, name), repo.root)


def _fetch(repo, remote, targets, rev, all_commits, jobs):
    """(store, result) of fetching what the targets and revisions reference: shared by fetch and pull."""
    from mlvc.remote.transfer import fetch as run_fetch

    store = _store(repo, remote)
    roots = _roots(repo, targets, rev, all_commits)
    return store, run_fetch(repo, store, roots, jobs, progress=common.progress())


def _summary(verb: str, r) -> str:
    rate = f"{r.objects / r.seconds:,.0f} objects/s, {r.bytes / r.seconds / 1e6:,.1f} MB/s" if r.seconds > 0 else ""
    text = f"{verb} {common.plural(r.objects, 'object')} ({r.bytes:,} bytes) in {r.seconds:.2f} s"
    if r.objects and rate:
        text += f" ({rate})"
    if r.skipped:
        text += f"; {r.skipped} already in place"
    return text


def register(app: typer.Typer) -> None:
    @app.command()
    def push(
        targets: list[str] = TargetsArg,
        remote: str = RemoteOpt,
        jobs: int = JobsOpt,
        rev: list[str] = RevOpt,
        all_commits: bool = AllCommitsOpt,
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Send to a remote the objects it lacks (files first, then the trees that list them)."""
        from mlvc.errors import RemoteObjectsError
        from mlvc.remote.transfer import push as run_push

        with common.open_repo() as repo:
            store = _store(repo, remote)
            roots = _roots(repo, targets, rev, all_commits)
            result = run_push(repo, store, roots, jobs, progress=common.progress())
        if as_json:
            common.emit_json(result.to_dict())
        else:
            common.out(_summary(f"pushed to {store.name}:", result))
            if result.replaced:
                common.out(f"replaced {common.plural(len(result.replaced), 'corrupt remote object')}")
        if result.missing:
            h, paths = next(iter(result.missing.items()))
            raise RemoteObjectsError(
                f"{len(result.missing)} objects are in neither the cache nor remote {store.name!r}, e.g. {h} "
                f"(needed by {', '.join(paths)}); everything else was pushed"
            )

    @app.command()
    def fetch(
        targets: list[str] = TargetsArg,
        remote: str = RemoteOpt,
        jobs: int = JobsOpt,
        rev: list[str] = RevOpt,
        all_commits: bool = AllCommitsOpt,
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Download into the cache the objects it lacks, each verified against its name."""
        from mlvc.errors import RemoteObjectsError
        from mlvc.remote.transfer import describe_problems

        with common.open_repo(mutating=True) as repo:
            store, result = _fetch(repo, remote, targets, rev, all_commits, jobs)
        if as_json:
            common.emit_json(result.to_dict())
        else:
            common.out(_summary(f"fetched from {store.name}:", result))
        if not result.ok:
            raise RemoteObjectsError(describe_problems(result, "fetch"))

    @app.command()
    def pull(
        targets: list[str] = TargetsArg,
        remote: str = RemoteOpt,
        jobs: int = JobsOpt,
        rev: list[str] = RevOpt,
        all_commits: bool = AllCommitsOpt,
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite workspace changes that are not cached."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Fetch, then check out tracked data and stage outs (what was fetched intact is checked out)."""
        from mlvc.cli.checkout import report as report_checkouts
        from mlvc.cli.checkout import restorable
        from mlvc.errors import RemoteObjectsError
        from mlvc.remote.transfer import describe_problems
        from mlvc.workspace.checkout import Checkout

        with common.open_repo(mutating=True) as repo:
            store, result = _fetch(repo, remote, targets, rev, all_commits, jobs)
            ptrs = restorable(repo, targets)
            checkouts = Checkout(repo, force=force, progress=common.progress()).run(ptrs)
        failed = any(c.refused or c.missing for c in checkouts)
        if as_json:
            common.emit_json({**result.to_dict(), "checkout": [c.to_dict() for c in checkouts]})
        else:
            common.out(_summary(f"fetched from {store.name}:", result))
            # when the fetch itself failed, its error below explains the paths it left missing
            report_checkouts([c for c in checkouts if result.ok or not c.missing])
        if not result.ok:
            raise RemoteObjectsError(describe_problems(result, "pull"))
        if failed:
            raise typer.Exit(1)


def remote_status(paths: list[str] | None, remote: str | None, as_json: bool) -> None:
    """`mlvc status --remote`: for each tracked path, whether the remote holds all of it."""
    from mlvc.remote.transfer import remote_status as run_status

    with common.open_repo() as repo:
        store = _store(repo, remote)
        roots = _roots(repo, paths, None, False)
        results = run_status(repo, store, roots)
    if as_json:
        common.emit_json({"remote": store.name, "paths": [r.to_dict() for r in results]})
        return
    if not results:
        common.out("No tracked paths. Track data with `mlvc add PATH`.")
        return
    con = common.console()
    colors = {"pushed": "green", "not pushed": "yellow", "not in cache": "red"}
    for r in results:
        c = colors[r.state]
        detail = f"  ({common.plural(r.objects, 'object')}, {r.bytes:,} bytes to send)" if r.objects else ""
        con.print(f"[{c}]{r.state:>12}[/{c}]  {r.path}{detail}")
    if all(r.state == "pushed" for r in results):
        con.print(f"Everything is on remote {store.name}.")


def remote_gc(name: str, force: bool, as_json: bool) -> None:
    """`mlvc gc --remote NAME [--force]`: list (or with --force delete) what no commit references."""
    from mlvc.remote.maintain import gc_remote

    with common.open_repo() as repo:
        store = _store(repo, name)
        result = gc_remote(repo, store, force=force)
    if as_json:
        common.emit_json(result.to_dict())
        return
    verb = "removed" if force else "would remove"
    common.out(
        f"{store.name}: {verb} {common.plural(len(result.removed), 'object')} ({result.removed_bytes:,} bytes), "
        f"kept {result.kept} (referenced by the workspace or any git commit)"
        + (f", {result.temp_files} leftover temp files" if result.temp_files else "")
    )
    if result.packs_deleted or result.packs_rewritten:
        common.out(f"  packs: {len(result.packs_deleted)} deleted, {len(result.packs_rewritten)} rewritten "
                   "without their dead objects")
    for pid, why in result.packs_kept.items():
        common.out(f"  pack {pid} kept as it is: {why}")
    if not force:
        for h in result.removed[:20]:
            common.out(f"  {h}")
        if len(result.removed) > 20:
            common.out(f"  ... and {len(result.removed) - 20} more")
        if result.removed or result.temp_files:
            common.out("nothing deleted: rerun with --force to delete them")
