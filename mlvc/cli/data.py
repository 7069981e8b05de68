"""`mlvc data stats` and `mlvc data diff`: column statistics of a dataset and drift between versions."""

from __future__ import annotations

import math
import sys

import typer

from mlvc.cli import common

MdOpt = typer.Option(False, "--md", help="Print Markdown tables (for a pull-request comment).")


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Schema, statistics and drift of tabular data (Parquet, CSV/TSV, JSON Lines).",
                           no_args_is_help=True)
    app.add_typer(data_app, name="data")

    @data_app.command("stats")
    def stats(
        path: str = typer.Argument(..., help="A table file or a folder of them."),
        rev: str = typer.Option(None, "--rev", "-r", help="Read PATH as of this git revision (default: workspace)."),
        as_json: bool = common.JsonOpt,
        md: bool = MdOpt,
    ) -> None:
        """Schema, row count and per-column statistics, streamed with bounded memory and cached by content."""
        from mlvc.data.cache import stats_for

        with common.open_repo() as repo:
            rel = repo.rel(path, must_exist=rev is None)
            ds, st, cached = stats_for(repo, rel, rev)
        if as_json:
            common.emit_json({"path": rel, "rev": ds.rev, "commit": ds.commit or None, "cached": cached,
                              **st.to_dict()})
            return
        _print_stats(rel, ds.label, st, cached, md)

    @data_app.command("diff")
    def diff(
        path: str = typer.Argument(..., help="A table file or a folder of them."),
        a: str = typer.Argument("HEAD", help="Old revision (default HEAD)."),
        b: str = typer.Argument("workspace", help="New revision (default: the workspace)."),
        max_js: float = typer.Option(None, "--max-js", help="Flag numeric columns over this JS divergence."),
        max_linf: float = typer.Option(None, "--max-linf", help="Flag categorical columns over this L-inf."),
        max_new: float = typer.Option(None, "--max-new", help="Flag when new values exceed this share of rows."),
        max_null: float = typer.Option(None, "--max-null", help="Flag a null-fraction change larger than this."),
        exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when any column is flagged."),
        as_json: bool = common.JsonOpt,
        md: bool = MdOpt,
    ) -> None:
        """Schema changes, row counts and drift per column between two versions (default HEAD → workspace)."""
        from mlvc.data import drift
        from mlvc.data.cache import stats_for

        given = {"max_js": max_js, "max_linf": max_linf, "max_new": max_new, "max_null": max_null}
        with common.open_repo() as repo:
            rel = repo.rel(path, must_exist=False)
            th = thresholds(repo, given)
            da, sa, _ = stats_for(repo, rel, a)
            db, sb, _ = stats_for(repo, rel, b)
        report = drift.diff(sa, sb, th, rel, (da.label, db.label))
        if as_json:
            common.emit_json(report.to_dict())
        else:
            _print_diff(report, md)
        if exit_code and report.flagged:
            sys.exit(1)


def thresholds(repo, given: dict[str, float | None]):
    """Thresholds from the command line, else `[data]` in .mlvc/config, else the defaults."""
    from mlvc.data.drift import Thresholds
    from mlvc.errors import ConfigError

    values = {}
    for key, value in given.items():
        if value is None:
            raw = repo.config.get("data", key)
            if raw is None:
                continue
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f".mlvc/config: data.{key} = {raw!r} is not a number") from None
        values[key] = value
    return Thresholds(**values)


# -- rendering ------------------------------------------------------------------------------
def _console():
    """Rich console; piped output gets a wide page so that tables are not folded at 80 columns."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def num(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return f"{v:.4g}"
    return str(v)


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _top(col, k: int = 3) -> str:
    cat = col.categorical or {}
    n = cat.get("count") or 0
    parts = [f"{v} ({c / n:.0%})" for v, c in (cat.get("top") or [])[:k]] if n else []
    return ", ".join(parts)


def _stats_rows(st) -> list[list[str]]:
    rows = []
    for c in st.columns:
        n, cat = c.numeric or {}, c.categorical or {}
        lo = n.get("min_text", n.get("min"))
        hi = n.get("max_text", n.get("max"))
        q = n.get("quantiles") or {}
        distinct = "" if not cat else (num(cat.get("distinct")) + ("" if cat.get("exact", True) else " ~"))
        rows.append([
            c.name, c.type, f"{c.null_fraction:.1%}",
            num(lo) if n else "", num(hi) if n else "", num(n.get("mean")) if n else "",
            num(n.get("std")) if n else "", num(q.get("p50")) if n else "", distinct, _top(c),
        ])
    return rows


STATS_HEADER = ["column", "type", "nulls", "min", "max", "mean", "std", "median", "distinct", "top values"]


def _print_stats(rel: str, label: str, st, cached: bool, md: bool) -> None:
    head = (f"{rel} ({label}): {st.rows:,} rows, {len(st.columns)} columns, "
            f"{common.plural(st.files, 'file')}, {size(st.bytes)}")
    rows = _stats_rows(st)
    if md:
        common.out(f"**{head}**\n")
        _md_table(STATS_HEADER, rows)
        for note in st.notes:
            common.out(f"\n_note: {note}_")
        return
    from rich.table import Table
    from rich.text import Text

    con = _console()
    con.print(head + ("  [dim](cached)[/dim]" if cached else ""), markup=True)
    table = Table(show_edge=False, header_style="bold")
    for h in STATS_HEADER:
        table.add_column(h, justify="right" if h in ("nulls", "min", "max", "mean", "std", "median", "distinct")
                         else "left", overflow="fold")
    for r in rows:
        table.add_row(*[Text(x) for x in r])  # Text: a type like timestamp[ms] is not markup
    con.print(table)
    for note in st.notes:
        con.print(f"[yellow]note:[/yellow] {note}", markup=True)


DIFF_HEADER = ["column", "status", "type", "nulls", "mean", "drift", "flags"]


def _diff_rows(report) -> list[list[str]]:
    rows = []
    for c in report.columns:
        if c.type_a and c.type_b and c.type_a != c.type_b:
            typ = f"{c.type_a} → {c.type_b}"
        else:
            typ = c.type_b or c.type_a or ""
        nulls = _pair(c.null_a, c.null_b, lambda v: f"{v:.1%}")
        mean = _pair(c.mean_a, c.mean_b, num) if (c.mean_a is not None or c.mean_b is not None) else ""
        drift = f"{c.measure} {c.drift:.3f}" if c.drift is not None else ""
        flags = "; ".join(c.flags) or ("ok" + (f" ({c.note})" if c.note else ""))
        rows.append([c.name, c.status, typ, nulls, mean, drift, flags])
    return rows


def _pair(a, b, fmt) -> str:
    if a is None:
        return fmt(b) if b is not None else ""
    if b is None or a == b:
        return fmt(a)
    return f"{fmt(a)} → {fmt(b)}"


def _summary(report) -> list[str]:
    lines = [f"{report.path}: {report.a} → {report.b}"]
    change = report.rows_b - report.rows_a
    pct = f" ({change / report.rows_a:+.1%})" if report.rows_a else ""
    lines.append(f"rows: {report.rows_a:,} → {report.rows_b:,}{pct}" if change else f"rows: {report.rows_a:,}")
    if report.same_data:
        lines.append("same content in both versions")
    return lines


def _footer(report) -> str:
    th = report.thresholds
    limits = f"js > {th.max_js}, linf > {th.max_linf}, new values > {th.max_new:.0%}, null change > {th.max_null}"
    n = len(report.flagged)
    if not n:
        return f"No column over its threshold ({limits})."
    return f"{common.plural(n, 'column')} flagged ({limits})."


def _print_diff(report, md: bool) -> None:
    rows = _diff_rows(report)
    if md:
        head = _summary(report)
        common.out(f"**{head[0]}**\n")
        for line in head[1:]:
            common.out(f"- {line}")
        common.out("")
        _md_table(DIFF_HEADER, [[("⚠ " if r[-1] and report.columns[i].flags else "") + r[0], *r[1:]]
                                for i, r in enumerate(rows)])
        common.out(f"\n{_footer(report)}")
        return
    from rich.table import Table
    from rich.text import Text

    con = _console()
    for line in _summary(report):
        con.print(line, markup=False)
    table = Table(show_edge=False, header_style="bold")
    for h in DIFF_HEADER:
        table.add_column(h, overflow="fold")
    for c, r in zip(report.columns, rows, strict=True):
        style = "red" if c.flags else "green"
        table.add_row(*[Text(x) for x in r[:-1]], Text(r[-1], style=style))
    con.print(table)
    con.print(Text(_footer(report), style="red" if report.flagged else "green"))


def _md_table(header: list[str], rows: list[list[str]]) -> None:
    common.out("| " + " | ".join(header) + " |")
    common.out("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        common.out("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |")
