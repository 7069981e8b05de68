"""`mlvc cache ...`: cache maintenance."""

from __future__ import annotations

import typer

from mlvc.cli import common

cache_app = typer.Typer(help="Inspect and repair the local cache.", no_args_is_help=True)


@cache_app.command()
def verify(as_json: bool = common.JsonOpt) -> None:
    """Rehash every cached object; move corrupt ones (and packs whose index is unreadable) to
    .mlvc/quarantine/. Exit 1 if any was corrupt."""
    from mlvc.maintenance import verify_cache

    with common.open_repo(mutating=True) as repo:
        result = verify_cache(repo, progress=common.progress())
    if as_json:
        common.emit_json(result.to_dict())
    else:
        common.out(
            f"checked {common.plural(result.checked, 'object')}: {len(result.corrupt)} corrupt"
            + (f", {len(result.bad_packs)} unreadable pack index(es)" if result.bad_packs else "")
            + (f", removed {result.temp_files} leftover temp files" if result.temp_files else "")
        )
        for h in result.corrupt:
            common.out(f"  corrupt: {h} (moved to {result.quarantine_dir}/; `mlvc pull` fetches it again)")
        for pid, why in result.bad_packs.items():
            common.out(
                f"  unreadable pack index: {why} (pack {pid} moved to {result.quarantine_dir}/packs/; "
                "`mlvc pull` fetches its objects again)"
            )
    if result.corrupt or result.bad_packs:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
