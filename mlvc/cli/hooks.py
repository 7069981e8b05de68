"""`mlvc install-hooks [--uninstall]` and `mlvc hook NAME` (what the installed hook scripts run)."""

from __future__ import annotations

import os
import sys

import typer

from mlvc.cli import common

HOOK_HELP = """Run git hook NAME (pre-commit, post-checkout, post-merge, pre-push); the hook scripts call this.

Outside an mlvc repository it does nothing and exits 0."""


def register(app: typer.Typer) -> None:
    @app.command("install-hooks")
    def install_hooks(
        uninstall: bool = typer.Option(False, "--uninstall", help="Remove mlvc's hooks, restoring those they chained."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Install mlvc's git hooks (pre-commit, post-checkout, post-merge, pre-push) into the hooks folder.

        The folder is core.hooksPath when git has one, else .git/hooks. Installing twice changes nothing;
        a hook already there is kept as NAME.pre-mlvc and runs first; --uninstall puts it back.
        """
        from mlvc import gitrepo
        from mlvc.errors import HooksError
        from mlvc.githooks import install as install_mod

        with common.open_repo() as repo:
            git = gitrepo.open_repo(repo.root)
            if git is None:
                raise HooksError(f"{repo.root}: not in a git repository, so there are no git hooks to install")
            try:
                folder = install_mod.hooks_dir(git)
            finally:
                git.close()
            results = (install_mod.uninstall if uninstall else install_mod.install)(folder)
        if as_json:
            common.emit_json({"folder": folder, "hooks": [r.to_dict() for r in results]})
            return
        for r in results:
            common.out(f"{r.name}: {r.state} ({r.path})")

    @app.command("hook", hidden=True, help=HOOK_HELP,
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def hook(
        name: str = typer.Argument(..., help="The hook."),
        args: list[str] = typer.Argument(None, help="What git passes the hook."),
    ) -> None:
        raise typer.Exit(run_hook(name, args or []))


def _repo():
    from mlvc.errors import NotARepoError
    from mlvc.repo import Repo

    try:
        return Repo.find()
    except NotARepoError:
        return None


def run_hook(name: str, args: list[str]) -> int:
    """The exit code of hook NAME; nothing happens (0) outside an mlvc repository."""
    bodies = {"pre-commit": _pre_commit, "post-checkout": _checkout, "post-merge": _checkout, "pre-push": _pre_push}
    if name not in bodies:
        raise typer.BadParameter(f"{name!r} is not one of {', '.join(bodies)}", param_hint="NAME")
    repo = _repo()
    if repo is None:
        return 0
    repo.close()
    return bodies[name](name, args)


def _say(hook: str, message: str) -> None:
    common.err(f"mlvc: {hook}: {message}")


def _pre_commit(hook: str, _args: list[str]) -> int:
    from mlvc.githooks import run as run_mod

    with common.open_repo() as repo:
        result = run_mod.pre_commit(repo)
    for note in result.notes:
        _say(hook, f"note: {note}")
    if not result.problems:
        return 0
    for p in result.problems:
        _say(hook, p)
    if not result.refused:
        _say(hook, "committing anyway (hooks.pre_commit = warn)")
        return 0
    _say(hook, "commit refused; fix the above, or commit anyway with `git commit --no-verify` "
               "(`mlvc config hooks.pre_commit warn` makes this a warning)")
    return 1


def _checkout(hook: str, _args: list[str]) -> int:
    """post-checkout / post-merge: the data follows the pointers git just wrote."""
    from mlvc.cli import checkout

    rc = checkout.run(None)
    if rc:
        _say(hook, "the data does not match the checked-out pointers: run `mlvc pull` for data that is not in "
                   "the cache, `mlvc checkout --force` to discard uncached changes")
    return rc


def _pre_push(hook: str, args: list[str]) -> int:
    from mlvc.errors import MlvcError, RemoteConfigError
    from mlvc.githooks import run as run_mod
    from mlvc.remote import config as rconfig
    from mlvc.remote.store import open_store
    from mlvc.remote.transfer import push

    updates = run_mod.updates_from_env(dict(os.environ))
    if not updates and not sys.stdin.isatty():
        updates = run_mod.parse_updates(sys.stdin.read().splitlines())
    git_remote = args[0] if args else os.environ.get("PRE_COMMIT_REMOTE_NAME")
    with common.open_repo() as repo:
        roots = run_mod.push_roots(repo, updates, git_remote)
        if not roots:
            return 0
        try:
            cfg = rconfig.load(repo.config, repo.config.get("hooks", "remote"))
        except RemoteConfigError as exc:
            _say(hook, f"data not pushed: {exc}")
            return 0
        store = open_store(cfg, repo.root)
        try:
            result = push(repo, store, roots, progress=common.progress())
        except MlvcError as exc:
            _say(hook, f"data not pushed: {exc} (fix that and rerun `git push`, or push without the data "
                       "with `git push --no-verify`)")
            return 1
    if result.objects:
        common.err(f"mlvc: {hook}: pushed {common.plural(result.objects, 'object')} ({result.bytes:,} bytes) "
                   f"to {store.name}")
    if result.missing:
        h, paths = next(iter(result.missing.items()))
        _say(hook, f"{len(result.missing)} objects the pushed commits need are in neither the cache nor remote "
                   f"{store.name!r}, e.g. {h} ({', '.join(paths)}): run `mlvc fetch --rev REV` where they are "
                   "and `mlvc push --rev REV`, or push without them with `git push --no-verify`")
        return 1
    return 0
