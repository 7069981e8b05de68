"""`mlvc get REV PATH [-o DEST]` and `mlvc diff [A] [B]`: data as it was at a revision."""

from __future__ import annotations

import os

import typer

from mlvc.cli import common, histfmt


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def register(app: typer.Typer) -> None:
    @app.command("get")
    def get_cmd(
        rev: str = typer.Argument(..., help="The revision (branch, tag, commit, HEAD~2, ...)."),
        path: str = typer.Argument(..., help="Repo-relative path: tracked data, a file inside it, or a git file."),
        out: str = typer.Option(None, "--out", "-o", help="Where to write it (default: its name, here)."),
        force: bool = typer.Option(False, "--force", "-f", help="Replace DEST if it exists."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Write the bytes of PATH as they were at REV, without checking anything out."""
        from mlvc.history import get as get_mod
        from mlvc.history.revision import Snapshot

        rel = path.replace(os.sep, "/").strip("/")
        dest = out or os.path.basename(rel)
        with common.open_repo() as repo, Snapshot(repo, rev) as snap:
            kind, files, size = get_mod.get(snap, rel, dest, force)
            commit = snap.commit.decode()
        if as_json:
            common.emit_json({"rev": rev, "commit": commit, "path": rel, "out": dest, "kind": kind, "files": files,
                              "size": size})
            return
        what = common.plural(files, "file") + ", " if kind == "folder" else ""
        common.out(f"{rel} at {rev} ({commit[:7]}) -> {dest} ({what}{_size(size)})")

    @app.command("diff")
    def diff_cmd(
        a: str = typer.Argument("HEAD", help="Old revision (default HEAD)."),
        b: str = typer.Argument("workspace", help="New revision (default: the workspace's pointers and lock)."),
        targets: list[str] = typer.Option(None, "--targets", "-t", help="Only these tracked paths."),
        as_json: bool = common.JsonOpt,
        md: bool = typer.Option(False, "--md", help="Print a Markdown table."),
    ) -> None:
        """Tracked data files added, modified or deleted between two revisions, with sizes."""
        from mlvc.history import datadiff
        from mlvc.history.views import History

        with common.open_repo() as repo, History(repo) as hist:
            va, vb = hist.view(a), hist.view(b)
            changes, errors = datadiff.diff(repo.objects, va, vb, [t.strip("/") for t in targets or []])
        for e in errors:
            common.err(f"mlvc: warning: {e} (skipped)")
        if as_json:
            common.emit_json({"old": a, "new": b, "changes": [c.to_dict() for c in changes], "errors": errors})
            return
        if not changes:
            common.out(f"No tracked data changed between {a} and {b}.")
            return
        rows = [[c.state, c.path, _size(c.old_size), _size(c.new_size)] for c in changes]
        histfmt.print_table(["State", "Path", f"Size at {a}", f"Size at {b}"], rows, markdown=md)
        counts = {s: sum(1 for c in changes if c.state == s) for s in ("added", "modified", "deleted", "unknown")}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        common.out(f"{summary}" + ("  (unknown: folder contents not in the cache; `mlvc fetch` them)"
                                    if counts["unknown"] else ""))
