"""What every command shares: opening the repo (with its lock), output, progress, JSON."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from mlvc.progress import NULL, Progress

STATE = {"verbose": False, "quiet": False}


def __getattr__(name: str) -> object:
    """`JsonOpt`, made on first use: typer is imported by the typer commands, not by the fast path."""
    if name == "JsonOpt":
        import typer

        return typer.Option(False, "--json", help="Print a machine-readable JSON document.")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def err(message: str) -> None:
    sys.stderr.write(message + "\n")


def out(message: str = "") -> None:
    sys.stdout.write(message + "\n")


def emit_json(doc: object) -> None:
    import json  # only --json output needs it (~2 ms of a no-op repro)

    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@contextmanager
def open_repo(mutating: bool = False) -> Iterator[object]:
    """The repository of the current folder; mutating commands hold the repo lock throughout."""
    from mlvc.repo import Repo

    repo = Repo.find()
    repo.on_lock_wait = lambda msg: err(f"mlvc: {msg}")
    try:
        if mutating:
            with repo.lock:
                yield repo
        else:
            yield repo
    finally:
        repo.close()


def progress() -> Progress:
    """A rich progress display on a terminal; nothing when piped or --quiet."""
    if STATE["quiet"] or not sys.stderr.isatty():
        return NULL
    from mlvc.cli.richprogress import RichProgress

    return RichProgress()


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def guarded(body) -> int:
    """Run a command body under the error contract; returns the exit code.

    `mlvc: error: MESSAGE` on stderr and exit 1 for an MlvcError (its own code if it has one),
    130 on Ctrl-C, one line for an unexpected error too; the traceback only with --verbose.
    """
    from mlvc.errors import MlvcError

    try:
        rc = body()
    except KeyboardInterrupt:
        err("mlvc: interrupted")
        return 130
    except MlvcError as exc:
        _trace()
        err(f"mlvc: error: {exc}")
        return exc.exit_code
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug or an environment problem: say what, trace only on request
        _trace()
        err(f"mlvc: error: {type(exc).__name__}: {exc} (rerun with --verbose for the traceback)")
        return 1
    return rc if isinstance(rc, int) else 0


def _trace() -> None:
    if STATE["verbose"]:
        import traceback

        traceback.print_exc()
