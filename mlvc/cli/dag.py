"""`mlvc dag`: the stage graph, as text in the terminal or as dot / mermaid / JSON."""

from __future__ import annotations

import typer

from mlvc.cli import common


def register(app: typer.Typer) -> None:
    @app.command()
    def dag(
        targets: list[str] = typer.Argument(None, help="Show only these stages and what they depend on."),
        as_dot: bool = typer.Option(False, "--dot", help="Graphviz dot."),
        as_mermaid: bool = typer.Option(False, "--mermaid", help="A Mermaid flowchart."),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Show the pipeline's stages and how they depend on each other."""
        from mlvc.pipeline import graph, render, spec

        with common.open_repo() as repo:
            g = graph.build(spec.load(repo.root))
        names = g.select(targets or None)
        if as_json:
            common.emit_json(render.as_json(g, names))
        elif as_dot:
            common.out(render.dot(g, names))
        elif as_mermaid:
            common.out(render.mermaid(g, names))
        else:
            common.out(render.text(g, names))
