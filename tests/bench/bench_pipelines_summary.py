"""Median table (markdown) of bench_pipelines.sh's CSV, with DVC/mlvc ratios."""

from __future__ import annotations

import csv
import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    rows: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    cpus: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in csv.DictReader(open(path)):
        rows[(r["scenario"], r["step"])][r["tool"]].append(float(r["wall_s"]))
        if r.get("cpu_s"):
            cpus[(r["scenario"], r["step"])][r["tool"]].append(float(r["cpu_s"]))
    print("| scenario | step | tool | median wall s (n) | DVC / this (wall) | median CPU s | DVC / this (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for key, tools in rows.items():
        sc, st = key
        dvc = statistics.median(tools["dvc"]) if tools.get("dvc") else None
        dvc_cpu = statistics.median(cpus[key]["dvc"]) if cpus[key].get("dvc") else None
        for tool, vals in sorted(tools.items()):
            med = statistics.median(vals)
            ratio = f"{dvc / med:.1f}x" if dvc and tool != "dvc" and med else ""
            cpu = statistics.median(cpus[key][tool]) if cpus[key].get(tool) else None
            cpu_text = f"{cpu:.2f}" if cpu is not None else ""
            cpu_ratio = f"{dvc_cpu / cpu:.1f}x" if dvc_cpu and cpu and tool != "dvc" else ""
            print(f"| {sc} | {st} | {tool} | {med:.3f} ({len(vals)}) | {ratio} | {cpu_text} | {cpu_ratio} |")


if __name__ == "__main__":
    main(sys.argv[1])
