"""`mlvc status`."""

from __future__ import annotations

import typer

from mlvc.cli import common

COLORS = {"unchanged": "green", "modified": "yellow", "deleted": "red", "added": "cyan"}


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        paths: list[str] = typer.Argument(None, help="Tracked paths (default: all)."),
        as_json: bool = common.JsonOpt,
        remote: bool = typer.Option(False, "--remote", "-c", help="Compare with a remote: what is not pushed."),
        remote_name: str = typer.Option(None, "-r", help="The remote for --remote (default: the default remote)."),
    ) -> None:
        """Show, for every tracked path, whether it changed since its pointer was written."""
        if remote or remote_name:
            from mlvc.cli.push import remote_status

            return remote_status(paths, remote_name, as_json)
        from mlvc.workspace import status as status_mod
        from mlvc.workspace import tracked

        with common.open_repo() as repo:
            targets = [repo.rel(p, must_exist=False) for p in paths] if paths else None
            ptrs = tracked.load_pointers(repo.root, targets)
            results = status_mod.status(repo, ptrs, progress=common.progress())
        if as_json:
            common.emit_json({"paths": [r.to_dict() for r in results]})
            return
        if not results:
            common.out("No tracked paths. Track data with `mlvc add PATH`.")
            return
        con = common.console()
        for r in results:
            color = COLORS.get(r.state, "white")
            note = "" if r.in_cache else "  [dim](not in cache: `mlvc pull` or `mlvc fetch`)[/dim]"
            con.print(f"[{color}]{r.state:>9}[/{color}]  {r.path}{note}")
            for c in r.changes:
                color = COLORS.get(c.state, "white")
                con.print(f"  [{color}]{c.state:>9}[/{color}]  {c.path}")
        if all(r.state == "unchanged" for r in results):
            con.print("Data and pointers are up to date.")
