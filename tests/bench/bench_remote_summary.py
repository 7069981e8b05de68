"""Summarize tests/bench/results-remote.csv: medians per (dataset, kind, step), mlvc beside DVC, ratios, rates.

    python3 tests/bench/bench_remote_summary.py tests/bench/results-remote.csv
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    walls: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    size: dict[str, tuple[int, int]] = {}
    failed: set[tuple[str, str, str, str]] = set()
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (row["dataset"], row["kind"], row["step"], row["tool"])
            size[row["dataset"]] = (int(row["files"] or 0), int(row["bytes"] or 0))
            if row["rc"] != "0":
                failed.add(key)
            if row["step"] != "verify_pull":
                walls[key].append(float(row["wall_s"]))
    print("| dataset | remote | step | mlvc s | dvc s | dvc/mlvc | mlvc objects/s | mlvc MB/s |")
    print("|---|---|---|---|---|---|---|---|")
    order = ["push", "push_noop", "pull"]
    for ds, kind, step in sorted({k[:3] for k in walls}, key=lambda k: (k[0], k[1], order.index(k[2]))):
        m = walls.get((ds, kind, step, "mlvc"))
        d = walls.get((ds, kind, step, "dvc"))
        ms = statistics.median(m) if m else None
        dm = statistics.median(d) if d else None
        files, nbytes = size[ds]
        ratio = f"{dm / ms:.1f}x" if ms and dm else "-"
        rate = (f"{files / ms:,.0f}" if files >= 100 else f"{files / ms:.2f}") if ms and step != "push_noop" else "-"
        mbs = f"{nbytes / ms / 1e6:,.1f}" if ms and step != "push_noop" else "-"
        fm = " FAIL" if (ds, kind, step, "mlvc") in failed else ""
        fd = " FAIL" if (ds, kind, step, "dvc") in failed else ""
        print(f"| {ds} | {kind} | {step} | {ms if ms is not None else '-'}{fm} | {dm if dm is not None else '-'}{fd} "
              f"| {ratio} | {rate} | {mbs} |")
    bad = sorted(k for k in failed if k[2] == "verify_pull")
    print()
    print("pulled data verified equal to the original: " + ("yes, every run" if not bad else f"NO for {bad}"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/bench/results-remote.csv")
