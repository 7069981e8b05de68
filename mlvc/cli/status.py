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
        from mlvc.cli.repro import pipeline_status, print_pipeline_status
        from mlvc.workspace import status as status_mod
        from mlvc.workspace import tracked

        with common.open_repo() as repo:
            targets = [repo.rel(p, must_exist=False) for p in paths] if paths else None
            ptrs = tracked.load_pointers(repo.root, targets)
            results = status_mod.status(repo, ptrs, progress=common.progress())
            stages, stage_error = pipeline_status(repo) if not paths else (None, None)
        if as_json:
            doc: dict[str, object] = {"paths": [r.to_dict() for r in results]}
            if stages is not None:
                doc["stages"] = stages
                if stage_error:
                    doc["pipeline_error"] = stage_error
            common.emit_json(doc)
            return
        print_pipeline_status(stages, stage_error)
        if not results:
            if stages is None:
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
