"""`mlvc remote add/list/modify/remove/default/verify`: configure remotes, check what one holds."""

from __future__ import annotations

import typer

from mlvc.cli import common

LocalOpt = typer.Option(False, "--local", help="Write to .mlvc/config.local (git-ignored; for secrets).")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Configure remotes (S3, gs, az, ssh, local folders) and check them.",
                        no_args_is_help=True)
    app.add_typer(group, name="remote")

    @group.command("add")
    def add(
        name: str = typer.Argument(..., help="A short name, e.g. origin."),
        url: str = typer.Argument(..., help="s3://bucket/prefix, gs://..., az://..., ssh://host/path, or a folder."),
        default: bool = typer.Option(False, "--default", "-d", help="Make it the default remote."),
        force: bool = typer.Option(False, "--force", "-f", help="Replace a remote of the same name."),
        local: bool = LocalOpt,
    ) -> None:
        """Add a remote, e.g. `mlvc remote add origin s3://bucket/data --default`."""
        from mlvc.remote import config as rconfig

        with common.open_repo(mutating=True) as repo:
            rconfig.add(repo.config, name, url, default=default, force=force, local=local)
        common.out(f"added remote {name}: {url}" + (" (default)" if default else ""))

    @group.command("list")
    def list_(as_json: bool = common.JsonOpt) -> None:
        """List remotes (secrets shown as ***)."""
        from mlvc.remote import config as rconfig

        with common.open_repo() as repo:
            default = rconfig.default_name(repo.config)
            remotes = [rconfig.load(repo.config, n) for n in rconfig.names(repo.config)]
        docs = [r.public_dict(r.name == default) for r in remotes]
        if as_json:
            common.emit_json({"remotes": docs})
            return
        for d in docs:
            common.out(f"{d['name']}\t{d['url']}" + ("\t(default)" if d["default"] else ""))

    @group.command("modify")
    def modify(
        name: str = typer.Argument(...),
        option: str = typer.Argument(..., help="url, endpointurl, region, profile, jobs, access_key_id, ..."),
        value: str = typer.Argument(None),
        unset: bool = typer.Option(False, "--unset", "-u", help="Remove the option."),
        local: bool = LocalOpt,
    ) -> None:
        """Set a remote's option; secrets only with --local (or from the environment)."""
        from mlvc.remote import config as rconfig

        with common.open_repo(mutating=True) as repo:
            rconfig.modify(repo.config, name, option, value, local=local, unset=unset)

    @group.command("remove")
    def remove(name: str = typer.Argument(...)) -> None:
        """Forget a remote (its data stays where it is)."""
        from mlvc.remote import config as rconfig

        with common.open_repo(mutating=True) as repo:
            rconfig.remove(repo.config, name)
        common.out(f"removed remote {name}")

    @group.command("default")
    def default(
        name: str = typer.Argument(None, help="Remote to make the default (omit to print it)."),
        unset: bool = typer.Option(False, "--unset", help="No default remote."),
        local: bool = LocalOpt,
    ) -> None:
        """Print or set the default remote."""
        from mlvc.remote import config as rconfig

        with common.open_repo(mutating=name is not None or unset) as repo:
            if name is None and not unset:
                current = rconfig.default_name(repo.config)
                if current is None:
                    raise typer.Exit(1)
                common.out(current)
                return
            rconfig.set_default(repo.config, None if unset else name, local=local)

    @group.command("verify")
    def verify(
        name: str = typer.Argument(None, help="Remote (default: the default remote)."),
        jobs: int = typer.Option(None, "--jobs", "-j", min=1, help="Parallel downloads."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Rehash every object the remote holds; list what is corrupt, and what its trees lack."""
        from mlvc.remote import config as rconfig
        from mlvc.remote.maintain import verify_remote
        from mlvc.remote.store import open_store

        with common.open_repo() as repo:
            store = open_store(rconfig.load(repo.config, name), repo.root)
            result = verify_remote(repo, store, jobs, progress=common.progress())
        if as_json:
            common.emit_json(result.to_dict())
        else:
            common.out(f"checked {common.plural(result.checked, 'object')} on {store.name} "
                       f"in {result.seconds:.2f} s")
            for h in result.corrupt:
                common.out(f"  corrupt: {h}")
            for pid, why in result.corrupt_packs.items():
                common.out(f"  corrupt pack {pid}: {why}")
            for h, parent in result.missing.items():
                common.out(f"  missing: {h} (listed by tree {parent})")
            if result.ok:
                common.out("remote is intact")
            else:
                common.out("the next `mlvc push` from a repository that has these objects sends them again")
        if not result.ok:
            raise typer.Exit(1)
