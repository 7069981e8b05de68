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
    from mlvc.cli import add, cache, checkout, gc, init, remove, status

    for module in (init, add, status, checkout, remove, gc, cache):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    import click

    from mlvc.errors import MlvcError

    try:
        rc = app(args=argv, standalone_mode=False)
    except click.exceptions.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        common.err("mlvc: interrupted")
        sys.exit(130)
    except MlvcError as exc:
        if common.STATE["verbose"]:
            import traceback

            traceback.print_exc()
        common.err(f"mlvc: error: {exc}")
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # a bug or an environment problem: say what, trace only on request
        if common.STATE["verbose"]:
            import traceback

            traceback.print_exc()
        common.err(f"mlvc: error: {type(exc).__name__}: {exc} (rerun with --verbose for the traceback)")
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)
