"""`mlvc fsmonitor start/stop/status`: the file-system watcher that `status` asks (core.fsmonitor)."""

from __future__ import annotations

import typer

from mlvc.cli import common


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="The file-system watcher: with `core.fsmonitor` on, a no-op status stats no file.",
        no_args_is_help=True,
    )
    app.add_typer(group, name="fsmonitor")

    @group.command("start")
    def start() -> None:
        """Start the watcher of this repository (status starts it too, where core.fsmonitor is on)."""
        from mlvc.fsmonitor import client

        with common.open_repo() as repo:
            if client.ask(repo.root, "info") is None:
                client.start(repo.root).close()
            info = client.ask(repo.root, "info") or {}
        common.out(f"file-system watcher running (pid {info.get('pid', '?')})")
        if not repo.config.get_bool("core", "fsmonitor"):
            common.out("`status` asks it only with `mlvc config core.fsmonitor true`.")

    @group.command("stop")
    def stop() -> None:
        """Stop the watcher of this repository."""
        from mlvc.fsmonitor import client

        with common.open_repo() as repo:
            pid = client.stop(repo.root)
        if pid is None:
            common.out("no file-system watcher was running")
        else:
            common.out(f"stopped the file-system watcher (pid {pid})")

    @group.command("status")
    def status(as_json: bool = common.JsonOpt) -> None:
        """Whether the watcher runs, and which tracked folders it keeps listed."""
        from mlvc.fsmonitor import client

        with common.open_repo() as repo:
            info = client.ask(repo.root, "info")
            enabled = repo.config.get_bool("core", "fsmonitor")
        doc = {"enabled": enabled, "running": info is not None}
        if info is not None:
            keys = ("pid", "tracked", "folders_watched", "answered", "overflows")
            doc.update({k: info[k] for k in keys if k in info})
        if as_json:
            common.emit_json(doc)
            return
        common.out(f"core.fsmonitor: {'on' if enabled else 'off'}")
        if info is None:
            common.out("watcher: not running")
            return
        tracked = ", ".join(doc.get("tracked", [])) or "none yet"
        common.out(f"watcher: running (pid {doc.get('pid')}), {doc.get('folders_watched', 0)} folders watched")
        common.out(f"tracked folders listed: {tracked}")
        common.out(f"folders a status did not have to walk: {doc.get('answered', 0)}")
        if doc.get("overflows"):
            common.out(f"event queue overflows: {doc['overflows']} (each one made the next status walk)")
