"""`mlvc config`: read and write `.mlvc/config` (or `config.local`), like `git config`."""

from __future__ import annotations

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


def register(app: typer.Typer) -> None:
    @app.command()
    def config(
        key: str = typer.Argument(None, help="SECTION.KEY, e.g. core.link (omit with --list)."),
        value: str = typer.Argument(None, help="New value; omit to print the current one."),
        local: bool = typer.Option(False, "--local", help="Use .mlvc/config.local (git-ignored)."),
        unset: bool = typer.Option(False, "--unset", help="Remove the key."),
        list_all: bool = typer.Option(False, "--list", "-l", help="Print every setting."),
    ) -> None:
        """Get or set configuration, e.g. `mlvc config core.link hardlink`."""
        with common.open_repo(mutating=value is not None or unset) as repo:
            cfg = repo.config
            if list_all:
                for section in cfg.sections():
                    for k, v in cfg.section(section).items():
                        name = section.replace(' "', ".").rstrip('"')
                        common.out(f"{name}.{k}={'***' if any(s in k for s in ('secret', 'password', 'token')) else v}")
                return
            if key is None:
                raise typer.BadParameter("give a KEY, or --list", param_hint="KEY")
            section, name = _split(key)
            if unset:
                cfg.unset(section, name, local=local)
            elif value is not None:
                if (section, name) == ("core", "link"):
                    from mlvc.config import LINK_CHOICES

                    if value not in LINK_CHOICES:
                        raise typer.BadParameter(f"choose one of {', '.join(LINK_CHOICES)}", param_hint="VALUE")
                if (section, name) == ("core", "fsmonitor"):
                    from mlvc.config import BOOLEANS

                    if value.strip().lower() not in BOOLEANS:
                        raise typer.BadParameter("give true or false", param_hint="VALUE")
                cfg.set(section, name, value, local=local)
            else:
                current = cfg.get(section, name)
                if current is None:
                    raise typer.Exit(1)
                common.out(current)
