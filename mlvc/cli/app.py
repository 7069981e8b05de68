"""The `mlvc` command: global options, command registration, and the error contract.

Errors: `mlvc: error: MESSAGE` on stderr and exit 1 (2 for usage errors); the traceback
only with --verbose. Command modules import the core lazily so `mlvc --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from mlvc import __version__
from mlvc.cli import common

app = typer.Typer(
    name="mlvc",
    help="Version data, models, code and configs beside git; run pipelines that rerun only what changed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        common.out(f"mlvc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and more detail."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or notes."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    common.STATE["verbose"] = verbose
    common.STATE["quiet"] = quiet


def _register() -> None:
    from mlvc.cli import add, cache, checkout, config, dag, fsmonitor, gc, init, remove, repro, status
    from mlvc.cli import bisect as bisect_cmd
    from mlvc.cli import check as check_cmd
    from mlvc.cli import data as data_cmd
    from mlvc.cli import get as get_cmd
    from mlvc.cli import hooks as hooks_cmd
    from mlvc.cli import log as log_cmd
    from mlvc.cli import metrics as metrics_cmd
    from mlvc.cli import push as push_cmd
    from mlvc.cli import remote as remote_cmd
    from mlvc.cli import run as run_cmd

    for module in (init, config, add, status, checkout, remove, gc, cache, fsmonitor, metrics_cmd, log_cmd,
                   get_cmd, bisect_cmd, check_cmd, remote_cmd, push_cmd, run_cmd, repro, dag, data_cmd, hooks_cmd):
        module.register(app)


_register()


def _click_errors() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(usage errors, other click errors, aborts) of whichever click typer runs on: typer >= 0.29
    ships its own copy under typer._click (and plain click may not be installed at all)."""
    import importlib

    usage: list[type] = []
    other: list[type] = []
    aborts: list[type] = [typer.Abort, KeyboardInterrupt]
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            exceptions = importlib.import_module(name)
        except ImportError:
            continue
        usage.append(exceptions.UsageError)
        other.append(exceptions.ClickException)
        if hasattr(exceptions, "Abort"):  # the vendored copy raises typer.Abort instead
            aborts.append(exceptions.Abort)
    return tuple(usage), tuple(other), tuple(aborts)


def main(argv: list[str] | None = None) -> None:
    usage_errors, click_errors, aborts = _click_errors()

    def body() -> int | None:
        try:
            return app(args=argv, standalone_mode=False)
        except usage_errors as exc:
            exc.show()  # type: ignore[attr-defined]
            return 2
        except click_errors as exc:
            exc.show()  # type: ignore[attr-defined]
            return exc.exit_code  # type: ignore[attr-defined]
        except aborts:
            raise KeyboardInterrupt from None

    sys.exit(common.guarded(body))
