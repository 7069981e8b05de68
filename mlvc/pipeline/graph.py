"""The stage DAG: which stage produces what, who depends on whom, and a stable run order.

A stage depends on another when one of its deps is that stage's out, lies inside an out
folder, or is a folder that holds an out. Checked here: two stages with one out, an out
inside another stage's out, and cycles (graphlib names the stages in one).
"""

from __future__ import annotations

import graphlib
import heapq
from dataclasses import dataclass, field

from mlvc.errors import PipelineError
from mlvc.pipeline.spec import Out, PipelineFile, Stage


@dataclass
class Graph:
    stages: dict[str, Stage]  # in file order
    upstream: dict[str, set[str]] = field(default_factory=dict)
    downstream: dict[str, set[str]] = field(default_factory=dict)
    producers: dict[str, tuple[str, Out]] = field(default_factory=dict)  # out path -> (stage, out)

    # -- questions ----------------------------------------------------------
    def producer(self, path: str) -> tuple[str, Out] | None:
        """The stage whose out is `path` or holds it."""
        probe = path
        while True:
            if probe in self.producers:
                return self.producers[probe]
            if "/" not in probe:
                return None
            probe = probe.rsplit("/", 1)[0]

    def producers_under(self, path: str) -> list[tuple[str, Out]]:
        prefix = path + "/"
        return [p for out, p in self.producers.items() if out.startswith(prefix)]

    def order(self, names: set[str] | None = None) -> list[str]:
        """Topological order of `names` (all when None); ties broken by file order."""
        wanted = set(self.stages) if names is None else names
        rank = {n: i for i, n in enumerate(self.stages)}
        indeg = {n: len(self.upstream[n] & wanted) for n in wanted}
        ready = [(rank[n], n) for n, d in indeg.items() if d == 0]
        heapq.heapify(ready)
        result: list[str] = []
        while ready:
            _, n = heapq.heappop(ready)
            result.append(n)
            for m in self.downstream[n]:
                if m in indeg:
                    indeg[m] -= 1
                    if indeg[m] == 0:
                        heapq.heappush(ready, (rank[m], m))
        return result

    def ancestors(self, names: set[str]) -> set[str]:
        return self._closure(names, self.upstream)

    def descendants(self, names: set[str]) -> set[str]:
        return self._closure(names, self.downstream)

    @staticmethod
    def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
        seen = set(start)
        stack = list(start)
        while stack:
            for m in edges[stack.pop()]:
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    def select(self, targets: list[str] | None, single: bool = False, downstream: bool = False) -> list[str]:
        """The stages a repro of `targets` considers, in run order."""
        if not targets:
            return self.order()
        names = set(self.resolve_targets(targets))
        if downstream:
            names = self.descendants(names)
        elif not single:
            names = self.ancestors(names)
        return self.order(names)

    def resolve_targets(self, targets: list[str]) -> list[str]:
        """Stage names for targets: a stage name, a foreach/matrix group name, or an out path."""
        import difflib

        found: list[str] = []
        for t in targets:
            t = t.rstrip("/")
            if t in self.stages:
                found.append(t)
                continue
            group = [n for n in self.stages if n.startswith(t + "@")]
            if group:
                found.extend(group)
                continue
            prod = self.producer(t.removeprefix("./"))
            if prod is not None:
                found.append(prod[0])
                continue
            close = difflib.get_close_matches(t, list(self.stages), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PipelineError(f"{t}: no such stage and no stage produces it{hint}")
        return found


def build(pf: PipelineFile) -> Graph:
    g = Graph(pf.stages, {n: set() for n in pf.stages}, {n: set() for n in pf.stages})
    for name, stage in pf.stages.items():
        for out in stage.outs:
            if out.path in g.producers:
                other = g.producers[out.path][0]
                raise PipelineError(
                    f"{out.where}: stage {name!r}: out {out.path!r} is also produced by stage {other!r}"
                )
            g.producers[out.path] = (name, out)
    for path, (name, out) in g.producers.items():
        parent = path.rsplit("/", 1)[0] if "/" in path else None
        while parent:
            if parent in g.producers:
                other = g.producers[parent][0]
                raise PipelineError(
                    f"{out.where}: stage {name!r}: out {path!r} is inside {parent!r}, an out of stage {other!r}"
                )
            parent = parent.rsplit("/", 1)[0] if "/" in parent else None
    for name, stage in pf.stages.items():
        for dep in stage.deps:
            makers = [p for p in [g.producer(dep.path)] if p] + g.producers_under(dep.path)
            for maker, _ in makers:
                if maker != name:
                    g.upstream[name].add(maker)
                    g.downstream[maker].add(name)
    try:
        graphlib.TopologicalSorter(g.upstream).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = pf.stages[cycle[0]]
        raise PipelineError(f"{first.where}: stages form a cycle: {' -> '.join(cycle)}") from None
    return g
