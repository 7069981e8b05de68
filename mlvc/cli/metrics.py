"""`mlvc metrics show|diff` and `mlvc params diff`."""

from __future__ import annotations

import typer

from mlvc.cli import common, histfmt

MdOpt = typer.Option(False, "--md", help="Print a Markdown table (for a pull-request comment).")
AllOpt = typer.Option(False, "--all", help="Also list values that did not change.")
TargetsOpt = typer.Option(None, "--targets", "-t", help="Metrics files to read (default: the pipeline's `metrics:`).")


def register(app: typer.Typer) -> None:
    metrics_app = typer.Typer(help="Show and compare metrics across revisions.", no_args_is_help=True)
    params_app = typer.Typer(help="Compare params across revisions.", no_args_is_help=True)
    app.add_typer(metrics_app, name="metrics")
    app.add_typer(params_app, name="params")

    @metrics_app.command("show")
    def show(
        revs: list[str] = typer.Argument(None, help="Revisions (default: the workspace)."),
        all_branches: bool = typer.Option(False, "--all-branches", "-a", help="Every branch head too."),
        all_commits: bool = typer.Option(False, "--all-commits", "-A", help="Every commit reachable from a ref."),
        targets: list[str] = TargetsOpt,
        as_json: bool = common.JsonOpt,
        md: bool = MdOpt,
    ) -> None:
        """Metrics at the workspace or at the given revisions."""
        from mlvc.history import results as results_mod
        from mlvc.history.views import History

        with common.open_repo() as repo, History(repo) as hist:
            views = []
            if not revs or all_branches or all_commits:
                views.append(hist.view("workspace"))
            for rev in revs or []:
                views.append(hist.view(rev))
            if all_branches and not all_commits:
                views.extend(hist.commit_view(sha, name) for name, sha in hist.branches())
            if all_commits:
                views.extend(hist.commit_view(sha) for sha in hist.all_commits())
            found = [results_mod.read_results(v, targets or None, want_params=False) for v in views]
        for r in found:
            for e in r.errors:
                common.err(f"mlvc: warning: {e} (skipped)")
        if as_json:
            common.emit_json([{"rev": r.label, "commit": r.commit, "metrics": r.metrics, "errors": r.errors}
                              for r in found])
            return
        keys = list(dict.fromkeys(k for r in found for flat in r.metrics.values() for k in flat))
        rows = []
        for r in found:
            for path, flat in r.metrics.items():
                rows.append([r.label, path] + [histfmt.value(flat.get(k)) for k in keys])
        if not rows:
            common.out("No metrics found (name metrics files under `metrics:` in mlvc.yaml, or use --targets).")
            return
        histfmt.print_table(["Revision", "Path", *keys], rows, markdown=md)

    @metrics_app.command("diff")
    def metrics_diff(
        a: str = typer.Argument("HEAD", help="Old revision (default HEAD)."),
        b: str = typer.Argument("workspace", help="New revision (default: the workspace)."),
        targets: list[str] = TargetsOpt,
        show_all: bool = AllOpt,
        as_json: bool = common.JsonOpt,
        md: bool = MdOpt,
    ) -> None:
        """How metrics changed from revision A to B: old, new, delta and percent change."""
        _diff("metrics", a, b, targets or None, show_all, as_json, md)

    @params_app.command("diff")
    def params_diff(
        a: str = typer.Argument("HEAD", help="Old revision (default HEAD)."),
        b: str = typer.Argument("workspace", help="New revision (default: the workspace)."),
        show_all: bool = AllOpt,
        as_json: bool = common.JsonOpt,
        md: bool = MdOpt,
    ) -> None:
        """How the params the pipeline uses changed from revision A to B."""
        _diff("params", a, b, None, show_all, as_json, md)


def _diff(kind: str, a: str, b: str, targets: list[str] | None, show_all: bool, as_json: bool, md: bool) -> None:
    from mlvc.history import results as results_mod
    from mlvc.history.views import History

    metrics = kind == "metrics"
    with common.open_repo() as repo, History(repo) as hist:
        va, vb = hist.view(a), hist.view(b)
        if metrics and targets is None:  # a file that only one side declares is still compared
            targets = list(dict.fromkeys(va.declared().metrics + vb.declared().metrics))
        ra = results_mod.read_results(va, targets, want_params=not metrics, want_metrics=metrics)
        rb = results_mod.read_results(vb, targets, want_params=not metrics, want_metrics=metrics)
    for e in ra.errors + rb.errors:
        common.err(f"mlvc: warning: {e} (skipped)")
    old, new = (ra.metrics, rb.metrics) if metrics else (ra.params, rb.params)
    changes = results_mod.diff(old, new, show_all)
    if as_json:
        common.emit_json({"old": {"rev": ra.label, "commit": ra.commit}, "new": {"rev": rb.label, "commit": rb.commit},
                          kind: [c.to_dict() for c in changes], "errors": ra.errors + rb.errors})
        return
    if not changes:
        common.out(f"No {kind} changed between {ra.label} and {rb.label}.")
        return
    header = ["Path", "Metric" if metrics else "Param", ra.label, rb.label, "Change"]
    if metrics:
        header.append("%")
    rows = []
    for c in changes:
        row = [c.path, c.key, histfmt.value(c.old) if c.old_present else "-",
               histfmt.value(c.new) if c.new_present else "-", histfmt.signed(c.delta)]
        if metrics:
            row.append(histfmt.signed(c.pct, pct=True))
        rows.append(row)
    histfmt.print_table(header, rows, markdown=md)
