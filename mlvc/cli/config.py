"""`mlvc config`: read and write `.mlvc/config` (or `config.local`), like `git config`."""

from __future__ import annotations

from contextlib import nullcontext

import typer

from mlvc.cli import common


def _split(key: str) -> tuple[str, str]:
    """`core.link` -> ("core", "link"); `remote.origin.url` -> ('remote "origin"', "url")."""
    parts = key.split(".")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 3:
        return f'{parts[0]} "{parts[1]}"', parts[2]
    raise typer.BadParameter(f"{key!r} is not SECTION.KEY or SECTION.NAME.KEY", param_hint="KEY")


def _lock(repo):
    """The repo lock, also where core.lock_timeout is the bad value this command is to fix."""
    from mlvc.config import DEFAULTS
    from mlvc.errors import ConfigError

    try:
        return repo.lock
    except ConfigError:
        return repo.lock_waiting(float(DEFAULTS["core"]["lock_timeout"]))


def _check(section: str, name: str, value: str) -> None:
    from mlvc.config import check_setting
    from mlvc.errors import ConfigError

    try:
        check_setting(section, name, value)
    except ConfigError as exc:  # a bad argument: a usage error, as typer's own are
        raise typer.BadParameter(str(exc), param_hint="KEY/VALUE") from None


def register(app: typer.Typer) -> None:
    @app.command()
    def config(
        key: str = typer.Argument(None, help="SECTION.KEY, e.g. core.link (omit with --list)."),
        value: str = typer.Argument(None, help="New value; omit to print the current one."),
        local: bool = typer.Option(False, "--local", help="Use .mlvc/config.local (git-ignored)."),
        unset: bool = typer.Option(False, "--unset", help="Remove the key."),
        list_all: bool = typer.Option(False, "--list", "-l", help="Print every setting."),
    ) -> None:
        """Get or set configuration, e.g. `mlvc config core.link hardlink`.

        A key mlvc does not read, or a value it would refuse, is not set (a `remote.NAME.KEY`
        takes any key: the remote's fsspec options). --unset removes any key."""
        writing = value is not None or unset
        with common.open_repo() as repo, _lock(repo) if writing else nullcontext():
            cfg = repo.config
            if list_all:
                from mlvc.config import dotted

                for section in cfg.sections():
                    for k, v in cfg.section(section).items():
                        secret = any(s in k for s in ("secret", "password", "token"))
                        common.out(f"{dotted(section, k)}={'***' if secret else v}")
                return
            if key is None:
                raise typer.BadParameter("give a KEY, or --list", param_hint="KEY")
            section, name = _split(key)
            if unset:  # any key, also one mlvc does not read: a misspelt one goes this way
                cfg.unset(section, name, local=local)
            elif value is not None:
                _check(section, name, value)
                cfg.set(section, name, value, local=local)
            else:
                current = cfg.get(section, name)
                if current is None:
                    raise typer.Exit(1)
                common.out(current)
