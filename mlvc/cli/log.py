"""`mlvc log`: commits with the metrics and params they recorded."""

from __future__ import annotations

import typer

from mlvc.cli import common, histfmt


def register(app: typer.Typer) -> None:
    @app.command("log")
    def log_cmd(
        rev: str = typer.Argument("HEAD", help="Where to start (default HEAD)."),
        metric: list[str] = typer.Option(None, "--metric", "-m", help="A metric to show (`key` or `file:key`)."),
        param: list[str] = typer.Option(None, "--param", "-p", help="A param to show (`key` or `file:key`)."),
        max_count: int = typer.Option(None, "-n", "--max-count", help="At most N commits."),
        full_history: bool = typer.Option(False, "--full-history", help="Every ancestor, not only first parents."),
        plot: str = typer.Option(None, "--plot", help="Also draw each metric over the commits: FILE.html or FILE.png."),
        as_json: bool = common.JsonOpt,
        md: bool = typer.Option(False, "--md", help="Print a Markdown table."),
    ) -> None:
        """One row per commit (first parents, newest first) with its recorded metrics and params."""
        from mlvc.history import log as log_mod
        from mlvc.history.views import History

        if max_count is not None and max_count < 1:
            raise typer.BadParameter("must be at least 1", param_hint="-n")
        with common.open_repo() as repo, History(repo) as hist:
            rows = log_mod.log(hist, rev, metric or None, param or None, max_count, not full_history)
        for r in rows:
            for e in r.errors:
                common.err(f"mlvc: warning: {e} (skipped)")
        if plot:
            _plot(plot, rev, rows)
        if as_json:
            common.emit_json([r.to_dict() for r in rows])
            return
        mkeys = list(dict.fromkeys(metric or [k for r in rows for k in r.metrics]))
        pkeys = list(dict.fromkeys(param or [k for r in rows for k in r.params]))
        header = ["Commit", "Date", "Message", *mkeys, *pkeys]
        table = []
        for r in rows:
            msg = r.info.message if len(r.info.message) <= 40 else r.info.message[:39] + "…"
            table.append([r.info.short, _date(r.info.time), msg]
                         + [histfmt.value(r.metrics.get(k)) for k in mkeys]
                         + [histfmt.value(r.params.get(k)) for k in pkeys])
        histfmt.print_table(header, table, markdown=md)
        if plot:
            common.err(f"Wrote {plot}")


def _date(t: int) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))


def _plot(path: str, rev: str, rows) -> None:
    from mlvc.history import plot as plot_mod
    from mlvc.history.formats import is_number

    ordered = list(reversed(rows))
    names = list(dict.fromkeys(k for r in ordered for k, v in r.metrics.items() if is_number(v)))
    names += [k for k in dict.fromkeys(k for r in ordered for k, v in r.params.items() if is_number(v))
              if k not in names]
    series = {}
    for name in names:
        series[name] = [plot_mod.Point(r.info.short, r.info.message,
                                       _num(r.metrics.get(name, r.params.get(name)))) for r in ordered]
    plot_mod.write(path, f"mlvc log {rev}", series)


def _num(v) -> float | None:
    from mlvc.history.formats import is_number

    return float(v) if is_number(v) else None
