"""`mlvc init`."""

from __future__ import annotations

from mlvc.cli import common

TYPE_CHECKING = False  # typing's flag, without typing's ~5 ms of imports
if TYPE_CHECKING:
    import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def init() -> None:
        """Create .mlvc/ here (and a git repository if there is none)."""
        run()


def run() -> None:
    """The body of `mlvc init` (also called by the typer-free fast path, mlvc/cli/fast.py)."""
    from mlvc.repo import Repo

    repo, git_created = Repo.init()
    if git_created:
        common.out(f"Initialized empty git repository in {repo.root}/.git/")
    common.out(f"Initialized mlvc repository in {repo.dot}/")
    common.out("Next: `mlvc add DATA`, then `git add DATA.mlvc .gitignore && git commit`.")
