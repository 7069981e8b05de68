#!/usr/bin/env python3
"""Show with `python -X importtime` what `mlvc --help` and a no-op `mlvc status` import.

    python tests/bench/check_imports.py [--reps N]

In a fresh repository (git init, mlvc init, mlvc add of a 3-file folder) it runs each command
under `-X importtime`, lists the heaviest top-level imports, and exits 1 if s3fs, pyarrow or ray
(or anything under them) was imported. It also reports whether the optional heavy helpers
(typer, pydantic, rich, ruamel.yaml, joblib, numpy, dulwich) were loaded, and the median wall
time of each command over --reps runs (without -X importtime).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

FORBIDDEN = ("s3fs", "pyarrow", "ray")
WATCH = ("typer", "pydantic", "rich", "ruamel", "joblib", "numpy", "dulwich", "fsspec", "click")
COMMANDS = {"--help": ["--help"], "status (no-op)": ["status"]}


def parse(stderr: str) -> list[tuple[str, int, int]]:
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        rows.append((parts[2].strip(), int(parts[0]), int(parts[1])))
    return rows


def forbidden_in(mods: list[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in FORBIDDEN)


def make_repo(root: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@x"}
    subprocess.run(["git", "init", "-q", root], check=True, env=env)
    subprocess.run([sys.executable, "-m", "mlvc", "init"], cwd=root, check=True, capture_output=True)
    os.makedirs(os.path.join(root, "data", "sub"))
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        with open(os.path.join(root, "data", name), "w") as f:
            f.write(name)
    subprocess.run([sys.executable, "-m", "mlvc", "add", "data"], cwd=root, check=True, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    bad = False
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "repo")
        make_repo(root)
        for label, args in COMMANDS.items():
            cmd = [sys.executable, "-X", "importtime", "-m", "mlvc", *args]
            proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
            rows = parse(proc.stderr)
            mods = [r[0] for r in rows]
            top = sorted((r for r in rows if not r[0].startswith(" ")), key=lambda r: -r[2])[:12]
            walls = []
            for _ in range(a.reps):
                t = time.perf_counter()
                subprocess.run([sys.executable, "-m", "mlvc", *args], cwd=root, capture_output=True, check=True)
                walls.append(time.perf_counter() - t)
            found = forbidden_in(mods)
            print(f"## mlvc {' '.join(args)}   ({label})")
            print(f"$ {' '.join(['python', '-X', 'importtime', '-m', 'mlvc', *args])}   rc={proc.returncode}")
            print(f"modules imported: {len(mods)}; sum of self import time: {sum(r[1] for r in rows) / 1000:.1f} ms")
            print(f"wall (python -m mlvc, median of {a.reps}): {statistics.median(walls) * 1000:.0f} ms")
            watch = {w: any(m == w or m.startswith(w + ".") for m in mods) for w in WATCH}
            print("heavy helpers loaded: " + ", ".join(f"{w}={'yes' if v else 'no'}" for w, v in watch.items()))
            print("largest imports (cumulative ms): " + ", ".join(f"{n} {c / 1000:.1f}" for n, _, c in top))
            if proc.returncode != 0:
                print(f"FAILED: rc {proc.returncode}: {proc.stderr[-500:]}")
                bad = True
            if found:
                print(f"FORBIDDEN imports: {', '.join(found)}")
                bad = True
            else:
                print(f"none of {', '.join(FORBIDDEN)} imported: OK")
            print()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
