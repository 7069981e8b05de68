"""`mlvc run`: add a stage to mlvc.yaml (keeping comments and order) and run it."""

from __future__ import annotations

import re

import typer

from mlvc.cli import common

SHELL_OPERATORS = {">", ">>", "<", "|", "||", "&&", ";", "&", "2>", "2>>", "2>&1", ">&2", "&>"}
_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def _join(words: list[str]) -> str:
    """The command as typed. One argument is kept whole (it may hold pipes and quotes); of several,
    each that the shell would split or interpret is quoted, but bare operators (`>`, `|`, `&&`) stay."""
    if len(words) == 1:
        return words[0]
    return " ".join(_quote(w) for w in words)


def _quote(word: str) -> str:
    if word in SHELL_OPERATORS or _SAFE.match(word):
        return word
    if not any(c in word for c in '"$`\\!'):
        return f'"{word}"'
    import shlex

    return shlex.quote(word)


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
    def run(
        command: list[str] = typer.Argument(..., help="The stage's command (quote it to keep pipes and redirects)."),
        name: str = typer.Option(..., "--name", "-n", help="Stage name."),
        deps: list[str] = typer.Option([], "--deps", "-d", help="A file or folder the command reads."),
        outs: list[str] = typer.Option([], "--outs", "-o", help="An out, cached like `mlvc add`ed data."),
        outs_no_cache: list[str] = typer.Option([], "--outs-no-cache", "-O", help="An out that is not cached."),
        params: list[str] = typer.Option(
            [], "--params", "-p", help="Params it reads: `lr,train.epochs` (params.yaml) or `conf.toml:model`."
        ),
        metrics: list[str] = typer.Option([], "--metrics", "-m", help="A metrics file it writes (not cached)."),
        plots: list[str] = typer.Option([], "--plots", help="A plots file it writes."),
        wdir: str = typer.Option(None, "--wdir", "-w", help="Folder to run the command in."),
        always_changed: bool = typer.Option(False, "--always-changed", help="Always consider the stage stale."),
        force: bool = typer.Option(False, "--force", "-f", help="Replace a stage of the same name."),
        no_exec: bool = typer.Option(False, "--no-exec", help="Only add the stage; do not run it."),
        no_run_cache: bool = typer.Option(False, "--no-run-cache", help="Run even if the run cache has the result."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Add a stage to the pipeline and run it."""
        from mlvc.cli.repro import install_sigterm, reproduce
        from mlvc.pipeline import edit
        from mlvc.pipeline.repro import Options

        body = edit.stage_doc(
            _join(command), deps, outs, outs_no_cache, params, metrics, plots, wdir, always_changed
        )
        install_sigterm()
        with common.open_repo(mutating=True) as repo:
            edit.add_stage(repo.root, name, body, force=force)
            if not as_json:
                common.out(f"Added stage '{name}' to the pipeline.")
            results = []
            if not no_exec:
                opts = Options([name], run_cache=not no_run_cache)  # stale upstream first, as repro NAME
                results = reproduce(repo, opts, as_json)
        if as_json:
            common.emit_json({"stage": name, "added": True, "stages": [r.to_dict() for r in results]})
        elif not no_exec:
            common.out("To track the changes with git: git add mlvc.yaml mlvc.lock .gitignore")
