"""Random DAGs: repro runs every stale stage after all of its upstream stages, none twice, and
after an input changes exactly the stages downstream of it (in-process, real shell commands)."""

from __future__ import annotations

import os
import random
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvc.pipeline.repro import Options, Reproducer
from mlvc.repo import Repo


@st.composite
def dags(draw):
    n = draw(st.integers(min_value=2, max_value=7))
    ups = [sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(n)]
    order = draw(st.permutations(range(n)))  # file order differs from run order
    changed = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))
    return n, ups, list(order), changed


def write_pipeline(root: str, ups: list[list[int]], order: list[int]) -> None:
    lines = ["stages:"]
    for i in order:
        deps = [f"in{i}.txt"] + [f"out{j}.txt" for j in ups[i]]
        lines += [
            f"  s{i}:",
            f"    cmd: cat {' '.join(deps)} > out{i}.txt && echo s{i} >> out{i}.txt && echo s{i} >> ran.log",
            f"    deps: [{', '.join(deps)}]",
            f"    outs: [out{i}.txt]",
        ]
    with open(os.path.join(root, "mlvc.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def repro(root: str) -> list[str]:
    repo = Repo(root)
    try:
        Reproducer(repo).run(Options())
    finally:
        repo.close()
    log = os.path.join(root, "ran.log")
    if not os.path.exists(log):
        return []
    with open(log) as f:
        names = f.read().split()
    os.unlink(log)
    return names


def closure(start: set[int], ups: list[list[int]]) -> set[int]:
    down = {i: {j for j in range(len(ups)) if i in ups[j]} for i in range(len(ups))}
    seen, stack = set(start), list(start)
    while stack:
        for j in down[stack.pop()]:
            if j not in seen:
                seen.add(j)
                stack.append(j)
    return seen


def assert_valid_order(ran: list[str], ups: list[list[int]]) -> None:
    assert len(ran) == len(set(ran)), f"a stage ran twice: {ran}"
    pos = {name: k for k, name in enumerate(ran)}
    for name in ran:
        for j in ups[int(name[1:])]:
            if f"s{j}" in pos:
                assert pos[f"s{j}"] < pos[name], f"{name} ran before its upstream s{j}: {ran}"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dags_run_in_order_exactly_once(case):
    n, ups, order, changed = case
    with tempfile.TemporaryDirectory() as tmp:
        Repo.init(tmp)
        for i in range(n):
            with open(os.path.join(tmp, f"in{i}.txt"), "w") as f:
                f.write(f"input {i}\n")
        write_pipeline(tmp, ups, order)
        first = repro(tmp)
        assert sorted(first) == sorted(f"s{i}" for i in range(n))
        assert_valid_order(first, ups)
        assert repro(tmp) == []  # nothing is stale any more
        for i in changed:
            with open(os.path.join(tmp, f"in{i}.txt"), "a") as f:
                f.write(f"changed {random.random()}\n")
        second = repro(tmp)
        assert set(second) == {f"s{i}" for i in closure(set(changed), ups)}
        assert_valid_order(second, ups)
