"""`mlvc add` and `mlvc commit`."""

from __future__ import annotations

from mlvc.cli import common

TYPE_CHECKING = False  # typing's flag, without typing's ~5 ms of imports
if TYPE_CHECKING:
    import typer

LINK_TYPES = ("reflink", "hardlink", "symlink", "copy")
LINK_HELP = "Link type for this add: reflink, hardlink, symlink or copy (default: core.link)."


def _report(results, as_json: bool, verb: str) -> None:
    if as_json:
        common.emit_json([{"path": r.path, "changed": r.changed, **r.ref.to_dict()} for r in results])
        return
    for r in results:
        what = common.plural(r.ref.files, "file") if r.ref.kind == "tree" else "file"
        state = verb if r.changed else "unchanged"
        common.out(f"{state}: {r.path} ({what}, {_size(r.ref.size)})")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def register(app: typer.Typer) -> None:
    import typer

    @app.command()
    def add(
        paths: list[str] = typer.Argument(..., help="Files or folders to track."),
        link: str = typer.Option(None, "--link", help=LINK_HELP),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Track files or folders: store their content in the cache and write PATH.mlvc pointers."""
        if link is not None and link not in LINK_TYPES:
            raise typer.BadParameter(f"{link!r} is not one of reflink, hardlink, symlink, copy", param_hint="--link")
        run_add(paths, link, as_json)

    @app.command()
    def commit(
        paths: list[str] = typer.Argument(None, help="Tracked paths (default: all)."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Record the current content of tracked paths in their pointer files."""
        run_commit(paths, as_json)


def run_add(paths: list[str], link: str | None = None, as_json: bool = False) -> None:
    """The body of `mlvc add` (also called by the typer-free fast path, mlvc/cli/fast.py)."""
    from mlvc.workspace import add as add_mod

    with common.open_repo(mutating=True) as repo:
        rels = [repo.rel(p) for p in paths]
        results = add_mod.add(repo, rels, progress=common.progress(), link_type=link)
    _report(results, as_json, "added")
    if not as_json:
        common.out(f"To track the change with git: git add {_git_add_args(repo, [r.path for r in results])}")


def _git_add_args(repo, rels: list[str]) -> str:
    """The pointers and the .gitignore files that `add` wrote, as paths from the current folder."""
    import os
    import shlex

    def here(rel: str) -> str:
        return shlex.quote(os.path.relpath(repo.abs(rel)))

    ignores = dict.fromkeys(f"{os.path.dirname(rel)}/.gitignore".lstrip("/") for rel in rels)
    return " ".join([here(f"{rel}.mlvc") for rel in rels] + [here(g) for g in ignores])


def run_commit(paths: list[str] | None, as_json: bool = False) -> None:
    """The body of `mlvc commit`."""
    from mlvc.workspace import add as add_mod
    from mlvc.workspace import tracked

    with common.open_repo(mutating=True) as repo:
        targets = [repo.rel(p, must_exist=False) for p in paths] if paths else None
        ptrs = tracked.load_pointers(repo.root, targets)
        results = add_mod.commit(repo, ptrs, progress=common.progress())
    _report(results, as_json, "committed")
