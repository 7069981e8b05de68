"""`mlvc status`."""

from __future__ import annotations

import os
import sys

from mlvc.cli import common

TYPE_CHECKING = False  # typing's flag, without typing's ~5 ms of imports
if TYPE_CHECKING:
    import typer

COLORS = {"unchanged": "green", "modified": "yellow", "deleted": "red", "added": "cyan"}
PIPELINE_FILES = ("mlvc.yaml", "dvc.yaml")  # as mlvc.pipeline.spec.find looks for them


def register(app: typer.Typer) -> None:
    import typer

    @app.command()
    def status(
        paths: list[str] = typer.Argument(None, help="Tracked paths (default: all)."),
        as_json: bool = common.JsonOpt,
        remote: bool = typer.Option(False, "--remote", "-c", help="Compare with a remote: what is not pushed."),
        remote_name: str = typer.Option(None, "-r", help="The remote for --remote (default: the default remote)."),
    ) -> None:
        """Show, for every tracked path, whether it changed since its pointer was written."""
        run(paths, as_json, remote, remote_name)


def run(paths: list[str] | None, as_json: bool = False, remote: bool = False, remote_name: str | None = None) -> None:
    """The body of `mlvc status` (also called by the typer-free fast path, mlvc/cli/fast.py)."""
    if remote or remote_name:
        from mlvc.cli.push import remote_status

        return remote_status(paths, remote_name, as_json)
    from mlvc.workspace import status as status_mod
    from mlvc.workspace import tracked

    stages: list[dict[str, object]] | None = None
    stage_error: str | None = None
    with common.open_repo() as repo:
        targets = [repo.rel(p, must_exist=False) for p in paths] if paths else None
        ptrs = tracked.load_pointers(repo.root, targets)
        results = status_mod.status(repo, ptrs, progress=common.progress())
        has_pipeline = any(os.path.isfile(os.path.join(repo.root, f)) for f in PIPELINE_FILES)
        if not paths and has_pipeline:  # the pipeline modules load only where there is a pipeline
            from mlvc.cli.repro import pipeline_status

            stages, stage_error = pipeline_status(repo)
    if as_json:
        doc: dict[str, object] = {"paths": [r.to_dict() for r in results]}
        if stages is not None:
            doc["stages"] = stages
            if stage_error:
                doc["pipeline_error"] = stage_error
        common.emit_json(doc)
        return
    if stages is not None:
        from mlvc.cli.repro import print_pipeline_status

        print_pipeline_status(stages, stage_error)
    if not results:
        if stages is None:
            common.out("No tracked paths. Track data with `mlvc add PATH`.")
        return
    if not sys.stdout.isatty():  # plain text, as rich would print it to a pipe, without loading rich
        lines = []
        for r in results:
            note = "" if r.in_cache else "  (not in cache: `mlvc pull` or `mlvc fetch`)"
            lines.append(f"{r.state:>9}  {r.path}{note}")
            lines.extend(f"  {c.state:>9}  {c.path}" for c in r.changes)
        if all(r.state == "unchanged" for r in results):
            lines.append("Data and pointers are up to date.")
        sys.stdout.write("".join(line + "\n" for line in lines))
        return
    from rich.markup import escape

    con = common.console()
    for r in results:
        color = COLORS.get(r.state, "white")
        note = "" if r.in_cache else "  [dim](not in cache: `mlvc pull` or `mlvc fetch`)[/dim]"
        con.print(f"[{color}]{r.state:>9}[/{color}]  {escape(r.path)}{note}")
        for c in r.changes:
            color = COLORS.get(c.state, "white")
            con.print(f"  [{color}]{c.state:>9}[/{color}]  {escape(c.path)}")
    if all(r.state == "unchanged" for r in results):
        con.print("Data and pointers are up to date.")
