"""`mlvc remove` and `mlvc unprotect`."""

from __future__ import annotations

import typer

from mlvc.cli import common


def register(app: typer.Typer) -> None:
    @app.command()
    def remove(
        paths: list[str] = typer.Argument(..., help="Tracked paths to stop tracking."),
        delete: bool = typer.Option(False, "--delete", help="Also delete the data from the workspace."),
    ) -> None:
        """Stop tracking paths: remove their pointer files (the data stays unless --delete)."""
        from mlvc.workspace import tracked
        from mlvc.workspace.remove import remove as remove_one

        with common.open_repo(mutating=True) as repo:
            ptrs = tracked.load_pointers(repo.root, [repo.rel(p, must_exist=False) for p in paths])
            for ptr in ptrs:
                remove_one(repo, ptr, delete_data=delete)
                kept = "deleted" if delete else "kept"
                common.out(f"removed: {ptr.pointer_path} (data {kept})")

    @app.command()
    def unprotect(paths: list[str] = typer.Argument(..., help="Tracked files or folders to make editable.")) -> None:
        """Replace cache links (hardlink/symlink) by writable copies, so the files can be edited."""
        from mlvc.workspace.remove import unprotect as unprotect_path

        with common.open_repo(mutating=True) as repo:
            for p in paths:
                n = unprotect_path(repo, repo.rel(p))
                common.out(f"unprotected: {p} ({common.plural(n, 'file')})")
