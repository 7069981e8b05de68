"""`mlvc gc`."""

from __future__ import annotations

import typer

from mlvc.cli import common


def register(app: typer.Typer) -> None:
    @app.command()
    def gc(
        all_commits: bool = typer.Option(
            False, "--all-commits", help="Keep what any git commit references, not only the workspace."
        ),
        dry_run: bool = typer.Option(False, "--dry-run", "-n", help="List what would go; delete nothing."),
        as_json: bool = common.JsonOpt,
        remote: str = typer.Option(
            None, "--remote", "-r", help="Collect this remote instead (keeps every commit; lists unless --force)."
        ),
        force: bool = typer.Option(False, "--force", "-f", help="With --remote: really delete."),
    ) -> None:
        """Drop cache objects that nothing references."""
        if remote:
            from mlvc.cli.push import remote_gc

            return remote_gc(remote, force and not dry_run, as_json)
        from mlvc.maintenance import gc as run_gc

        with common.open_repo(mutating=True) as repo:
            result = run_gc(repo, all_commits=all_commits, dry_run=dry_run)
        if as_json:
            common.emit_json(result.to_dict())
            return
        verb = "would remove" if dry_run else "removed"
        common.out(
            f"{verb} {common.plural(len(result.removed), 'object')} ({result.removed_bytes} bytes), "
            f"kept {result.kept}"
            + (f", {result.temp_files} leftover temp files" if result.temp_files else "")
        )
        if dry_run and result.removed:
            for h in result.removed[:20]:
                common.out(f"  {h}")
            if len(result.removed) > 20:
                common.out(f"  ... and {len(result.removed) - 20} more")
