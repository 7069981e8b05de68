#!/usr/bin/env python3
"""Tables for docs/benchmarks.md from a run_data_bench.sh output folder.

    python tests/bench/bench_report.py tests/bench/results > report.md

Reads results-LINK.csv (one per link type), limits.csv (hash_limits.py), imports.txt
(check_imports.py) and load.log; prints markdown: per link type and dataset, the median wall
time (min-max) of each step for DVC and mlvc and DVC/mlvc (how many times faster mlvc is),
then issue 2's targets with the measured ratio and whether it is met.
"""

from __future__ import annotations

import csv
import os
import statistics
import sys

STEPS = ["init", "add", "status_noop", "status_noop2", "status_touch1pct", "status_mod1pct", "checkout", "push", "pull",
         "repro_first", "repro_noop"]
DATASETS = ["tiny", "many", "big", "mixed"]


def load(path: str, cpu: bool = False) -> dict[tuple[str, str, str], list[float | None]]:
    """(tool, dataset, step) -> wall seconds per run (cpu=True: user+sys CPU seconds); None n/a, nan failed."""
    runs: dict[tuple[str, str, str], list[float | None]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["tool"], row["dataset"], row["step"])
            if row["rc"] == "na":
                runs.setdefault(key, []).append(None)
            elif row["rc"] != "0":
                runs.setdefault(key, []).append(float("nan"))
            elif cpu:
                runs.setdefault(key, []).append(float(row["user_s"]) + float(row["sys_s"]))
            else:
                runs.setdefault(key, []).append(float(row["wall_s"]))
    return runs


def med(vals: list[float | None] | None) -> float | None:
    if not vals or any(v is None for v in vals):
        return None
    if any(v != v for v in vals):  # a failed run
        return float("nan")
    return statistics.median(vals)  # type: ignore[arg-type]


def cell(vals: list[float | None] | None) -> str:
    m = med(vals)
    if m is None:
        return "n/a"
    if m != m:
        return "FAILED"
    lo, hi = min(vals), max(vals)  # type: ignore[type-var]
    return f"{m:.3f} ({lo:.2f}–{hi:.2f})" if len(vals) > 1 else f"{m:.3f}"  # type: ignore[arg-type]


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a != a or b != b or b == 0:
        return None
    return a / b


def limits(path: str) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    if os.path.exists(path):
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                out[row["pass"]] = (float(row["median_s"]), float(row["gb_per_s"]))
    return out


def main() -> int:
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
    links = [name[len("results-") : -len(".csv")] for name in sorted(os.listdir(d))
             if name.startswith("results-") and name.endswith(".csv")]
    links.sort(key=lambda x: (x != "default", x))
    data = {link: load(os.path.join(d, f"results-{link}.csv")) for link in links}
    cpu = {link: load(os.path.join(d, f"results-{link}.csv"), cpu=True) for link in links}
    lim = limits(os.path.join(d, "limits.csv"))
    hashpass: dict[str, list[tuple[float, float]]] = {}
    if os.path.exists(os.path.join(d, "hashpass.csv")):
        with open(os.path.join(d, "hashpass.csv"), newline="") as fh:
            for row in csv.DictReader(fh):
                hashpass.setdefault(row["link"], []).append((float(row["pass_s"]), float(row["process_wall_s"])))
    for link in links:
        runs = data[link]
        print(f"### Link type: {link}" + (" (core.link auto / DVC reflink,copy: both copy on ext4)"
                                          if link == "default" else f" (mlvc core.link / DVC cache.type = {link})"))
        print()
        n = max((len(v) for v in runs.values()), default=0)
        print(f"Median wall seconds (min–max) of {n} runs; DVC/mlvc = how many times faster mlvc is; "
              "CPU = median user+sys seconds (less sensitive to the machine's load than wall time).")
        for ds in DATASETS:
            if not any(k[1] == ds for k in runs):
                continue
            print()
            print(f"| {ds} step | dvc wall s | mlvc wall s | dvc/mlvc wall | dvc CPU s | mlvc CPU s | dvc/mlvc CPU |")
            print("|---|---|---|---|---|---|---|")
            for step in STEPS:
                a, b = runs.get(("dvc", ds, step)), runs.get(("mlvc", ds, step))
                if a is None and b is None or med(a) is None and med(b) is None:
                    continue
                r = ratio(med(a), med(b))
                ca, cb = med(cpu[link].get(("dvc", ds, step))), med(cpu[link].get(("mlvc", ds, step)))
                rc = ratio(ca, cb)
                print(f"| {step} | {cell(a)} | {cell(b)} | {'' if r is None else f'{r:.1f}x'} | "
                      f"{'' if ca is None else f'{ca:.2f}'} | {'' if cb is None else f'{cb:.2f}'} | "
                      f"{'' if rc is None else f'{rc:.1f}x'} |")
            checks = [k for k in runs if k[1] == ds and k[2].startswith("verify_") and k[0] == "mlvc"]
            bad = [k[2] for k in checks if any(v is not None and v != v for v in runs[k])]
            if checks:
                names = ", ".join(sorted(k[2] for k in checks))
                print(f"\nmlvc checks ({names}): {'FAILED ' + str(bad) if bad else 'ok'}")
        print()
    print("### Issue 2 targets")
    print()
    print("| target | link | dvc s | mlvc s | measured | met |")
    print("|---|---|---|---|---|---|")
    for link in links:
        runs = data[link]
        a, b = med(runs.get(("dvc", "many", "add"))), med(runs.get(("mlvc", "many", "add")))
        r = ratio(a, b)
        if r is not None:
            print(f"| add 50,000 files ≥ 10x faster than dvc | {link} | {a:.2f} | {b:.2f} | {r:.1f}x | "
                  f"{'yes' if r >= 10 else 'no'} |")
        a, b = med(runs.get(("dvc", "many", "status_noop"))), med(runs.get(("mlvc", "many", "status_noop")))
        r = ratio(a, b)
        if r is not None and b is not None:
            print(f"| no-op status ≥ 20x faster than dvc and < 0.5 s | {link} | {a:.2f} | {b:.3f} | {r:.1f}x | "
                  f"{'yes' if r >= 20 and b < 0.5 else ('< 0.5 s only' if b < 0.5 else 'no')} |")
        a, b = med(runs.get(("dvc", "many", "status_noop2"))), med(runs.get(("mlvc", "many", "status_noop2")))
        r = ratio(a, b)
        if r is not None and b is not None:
            print(f"| the no-op status again, a second later | {link} | {a:.2f} | {b:.3f} | {r:.1f}x | "
                  f"{'yes' if r >= 20 and b < 0.5 else ('< 0.5 s only' if b < 0.5 else 'no')} |")
        a, b = med(runs.get(("dvc", "many", "status_mod1pct"))), med(runs.get(("mlvc", "many", "status_mod1pct")))
        r = ratio(a, b)
        if r is not None:
            print(f"| status after modifying 1% (report) | {link} | {a:.2f} | {b:.3f} | {r:.1f}x | – |")
        a, b = med(runs.get(("dvc", "many", "checkout"))), med(runs.get(("mlvc", "many", "checkout")))
        r = ratio(a, b)
        if r is not None:
            print(f"| checkout of 50,000 files after rm -rf (report) | {link} | {a:.2f} | {b:.2f} | {r:.1f}x | – |")
        b = med(runs.get(("mlvc", "big", "add")))
        a = med(runs.get(("dvc", "big", "add")))
        passes = hashpass.get(link)
        if b and passes:
            bare_s = statistics.median(p[0] for p in passes)
            proc_s = statistics.median(p[1] for p in passes)
            size = 2 << 30
            met = ("yes" if bare_s / b >= 0.8 else "no") if link == "hardlink" else "–"
            print(f"| add 2 GiB file ≥ 80% of the speed of a bare xxh3-128 pass, beside it"
                  f"{' (applies: no copy)' if link == 'hardlink' else ''} | {link} | {a:.2f} | {b:.3f} | "
                  f"{size / b / 1e9:.2f} GB/s = {bare_s / b * 100:.0f}% of the pass in-process "
                  f"({bare_s:.3f} s), {proc_s / b * 100:.0f}% of the pass as a process ({proc_s:.3f} s) | {met} |")
        elif b and "xxh3_128" in lim:
            bare_s, bare_gbs = lim["xxh3_128"]
            size = 2 << 30
            pct = bare_s / b * 100
            target = "≥ 80% of a bare xxh3-128 pass" + (" (target applies: no copy)" if link == "hardlink" else "")
            met = ("yes" if pct >= 80 else "no") if link == "hardlink" else "–"
            print(f"| add 2 GiB file: {target} | {link} | {a:.2f} | {b:.3f} | {size / b / 1e9:.2f} GB/s = "
                  f"{pct:.0f}% of the bare pass ({bare_gbs:.2f} GB/s, {bare_s:.3f} s) | {met} |")
    print()
    if lim:
        print("Bare passes over the 2 GiB file, in one warm Python process (hash_limits.py, median): " +
              " · ".join(f"{k} {v[1]:.2f} GB/s ({v[0]:.3f} s)" for k, v in lim.items()))
        print()
    load_log = os.path.join(d, "load.log")
    if os.path.exists(load_log):
        loads = []
        for line in open(load_log):
            if "load:" in line or "load " in line:
                try:
                    loads.append(float(line.split("load")[1].replace(":", " ").split()[0]))
                except (ValueError, IndexError):
                    pass
        if loads:
            print(f"Machine load (1-min load average, 2 cores) around the tool runs: "
                  f"median {statistics.median(loads):.1f}, min {min(loads):.1f}, max {max(loads):.1f} "
                  f"({len(loads)} samples).")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
