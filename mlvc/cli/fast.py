"""The typer-free fast path for the hottest commands: `status`, `add`, `commit`, `checkout`, `repro`.

typer >= 0.29 builds a pydantic TypeAdapter for every non-bool parameter of the command it runs:
0.1-0.3 s of imports on each call, more than a no-op `mlvc status` of 50,000 files takes. So
`mlvc.cli.main` offers the command line here first. Only plain forms are taken: the global
`-v/--verbose`, `-q/--quiet`, then one of the commands below with its known options (`--opt
VALUE`, `--opt=VALUE`, `--` before paths). Anything else (`--help`, an unknown or combined option,
a missing argument, a bad `--link` value) returns None and goes to the typer app, which gives the
usual help and usage errors. Both paths run the same command bodies (`run*` in the command
modules) under the same error contract as `mlvc.cli.app.main`.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable

GLOBAL_FLAGS = {"-v": "verbose", "--verbose": "verbose", "-q": "quiet", "--quiet": "quiet"}
LINK_TYPES = ("reflink", "hardlink", "symlink", "copy")
ONE_SHOT = {"status", "add", "commit", "checkout"}  # run with no cyclic GC (not repro: it may run long)

# command -> (flags: option -> key, options taking a value: option -> key, at least one path)
COMMANDS: dict[str, tuple[dict[str, str], dict[str, str], bool]] = {
    "init": ({}, {}, False),
    "status": ({"--json": "as_json"}, {}, False),
    "add": ({"--json": "as_json"}, {"--link": "link"}, True),
    "commit": ({"--json": "as_json"}, {}, False),
    "checkout": ({"--json": "as_json", "--force": "force", "-f": "force"}, {}, False),
    "repro": (
        {
            "--json": "as_json", "--force": "force", "-f": "force", "--single-item": "single", "-s": "single",
            "--downstream": "downstream", "--dry": "dry", "--keep-going": "keep_going", "-k": "keep_going",
            "--no-run-cache": "no_run_cache",
        },
        {"--jobs": "jobs", "-j": "jobs", "--executor": "executor", "-e": "executor", "--address": "address"},
        False,
    ),  # fmt: skip
}


def parse(argv: list[str]) -> tuple[dict[str, bool], str, list[str], dict[str, object]] | None:
    """(global flags, command, paths, options), or None when this is not a plain form."""
    globals_ = {"verbose": False, "quiet": False}
    i = 0
    while i < len(argv) and argv[i] in GLOBAL_FLAGS:
        globals_[GLOBAL_FLAGS[argv[i]]] = True
        i += 1
    if i >= len(argv) or argv[i] not in COMMANDS:
        return None
    command = argv[i]
    flags, valued, needs_path = COMMANDS[command]
    paths: list[str] = []
    opts: dict[str, object] = {}
    rest = argv[i + 1 :]
    only_paths = False
    j = 0
    while j < len(rest):
        arg = rest[j]
        j += 1
        if only_paths or arg == "-" or not arg.startswith("-"):
            paths.append(arg)
        elif arg == "--":
            only_paths = True
        elif arg in flags:
            opts[flags[arg]] = True
        else:
            name, eq, value = arg.partition("=")
            if name not in valued:
                return None  # --help, an unknown option, -fq ...: typer says what it means
            if not eq:
                if j >= len(rest):
                    return None
                value = rest[j]
                j += 1
            opts[valued[name]] = value
    if needs_path and not paths or command == "init" and paths:
        return None
    if opts.get("link") is not None and opts["link"] not in LINK_TYPES:
        return None
    if opts.get("jobs") is not None and not str(opts["jobs"]).isdigit():
        return None  # typer says what is wrong with it
    return globals_, command, paths, opts


def _body(command: str, paths: list[str], opts: dict[str, object]) -> Callable[[], int | None]:
    as_json = bool(opts.get("as_json"))
    if command == "init":
        from mlvc.cli import init

        return init.run
    if command == "status":
        from mlvc.cli import status

        return lambda: status.run(paths or None, as_json)
    if command == "add":
        from mlvc.cli import add

        return lambda: add.run_add(paths, opts.get("link"), as_json)  # type: ignore[arg-type]
    if command == "commit":
        from mlvc.cli import add

        return lambda: add.run_commit(paths or None, as_json)
    if command == "repro":
        from mlvc.cli import repro

        flags = {k: bool(opts.get(k)) for k in ("force", "single", "downstream", "dry", "keep_going", "no_run_cache")}
        jobs = int(opts["jobs"]) if opts.get("jobs") is not None else None  # type: ignore[arg-type]
        return lambda: repro.run(
            paths or None, jobs=jobs, executor=opts.get("executor"), address=opts.get("address"),  # type: ignore[arg-type]
            as_json=as_json, **flags,
        )  # fmt: skip
    from mlvc.cli import checkout

    return lambda: checkout.run(paths or None, bool(opts.get("force")), as_json)


def run(argv: list[str], leave: bool = False) -> int | None:
    """Run a plain command line and return its exit code; None: not handled here. `leave`: end
    the process right after a one-shot command (`_leave`)."""
    parsed = parse(argv)
    if parsed is None:
        return None
    from mlvc.cli import common

    globals_, command, paths, opts = parsed
    common.STATE.update(globals_)
    if command in ONE_SHOT:
        # A scan makes several objects per file, none in a cycle, all alive until the command
        # ends: each cyclic collection would only walk them again (adding 50,000 files: 0.14 s).
        gc.disable()
    rc = common.guarded(_body(command, paths, opts))
    if leave and command in ONE_SHOT:
        _leave(rc)
    return rc


def _leave(rc: int) -> None:
    """End the process once a command handled here is done, without the interpreter's teardown.

    A one-shot command has closed its repository (the stat cache is committed) and joined every
    thread and child it started; what is left is freeing each object of its scan one by one and
    every module, 5-8 ms after a status or an add of 50,000 files, which nobody needs. No atexit
    hook of ours or of the modules these commands load has work to do (`repro` may start Ray or
    worker pools, whose hooks do: it exits the usual way); the output is flushed here."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away: its output is lost either way
        rc = rc or 1
    os._exit(rc)


def main(argv: list[str] | None = None) -> None:
    """The `mlvc` entry point: the fast path when it applies, else the typer app."""
    args = sys.argv[1:] if argv is None else list(argv)
    rc = run(args, leave=True)
    if rc is not None:
        sys.stdout.flush()
        sys.exit(rc)
    from mlvc.cli.app import main as app_main

    app_main(argv)
