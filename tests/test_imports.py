"""Lazy imports (DESIGN principle 4): `mlvc --help` and a no-op `mlvc status` import no s3fs, pyarrow or ray.

Checked the way a user would see it: `python -X importtime -m mlvc ...` in a real subprocess, every
imported module read from its report. tests/bench/check_imports.py prints the same with timings.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import run_mlvc

FORBIDDEN = ("s3fs", "pyarrow", "ray")


def imported(args: list[str], cwd: Path) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlvc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    mods = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            parts = line[len("import time:") :].split("|")
            if len(parts) == 3 and parts[0].strip().isdigit():
                mods.add(parts[2].strip())
    assert mods, "python -X importtime reported nothing"
    return mods


def heavy(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in FORBIDDEN)


def test_help_and_noop_status_import_no_heavy_modules(repo: Path) -> None:
    data = repo / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("a")
    (data / "sub" / "b.txt").write_text("b")
    run_mlvc("add", "data", cwd=repo)
    for args in (["--help"], ["status"], ["status", "--json"]):
        mods = imported(args, repo)
        assert "mlvc" in mods
        assert heavy(mods) == [], f"mlvc {' '.join(args)} imported {heavy(mods)}"
        if args[0] == "status":
            # A no-op status walks and looks up signatures: no scanner, no tree diff, no
            # dataclasses (through inspect, ~10 ms of its ~130 ms on 50,000 files) and no typing
            # (with contextlib and enum, ~5 ms).
            light = {"mlvc.workspace.scan", "mlvc.workspace.diff", "dataclasses", "inspect", "typing"} & mods
            assert not light, f"a no-op mlvc {' '.join(args)} imported {sorted(light)}"


def test_data_commands_import_no_typing(repo: Path) -> None:
    """add, commit and checkout (the fast path's one-shot commands) start without typing: ~5 ms of
    every run (mlvc/progress.py)."""
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text("a")
    for args in (["add", "data"], ["commit"], ["checkout"]):
        mods = imported(args, repo)
        assert "mlvc.workspace.walk" in mods
        assert "typing" not in mods, f"mlvc {' '.join(args)} imported typing"


def test_noop_repro_imports_nothing_that_loads_or_runs_a_pipeline(repo: Path) -> None:
    """The second no-op repro answers from its memo (mlvc.pipeline.noop): no pipeline parser, lock,
    stat cache (sqlite3), stage-running code, dataclasses or CLI/YAML libraries: imports are most
    of a no-op's time."""
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text("a")
    run_mlvc("add", "data", cwd=repo)
    (repo / "mlvc.yaml").write_text("stages:\n  s1:\n    cmd: cp -r data out\n    deps: [data]\n    outs: [out]\n")
    run_mlvc("repro", cwd=repo)
    run_mlvc("repro", cwd=repo)  # the full check finds nothing to do and memoises that
    mods = imported(["repro"], repo)
    assert "mlvc.pipeline.noop" in mods
    slow = (
        "mlvc.execute", "mlvc.pipeline.repro", "mlvc.pipeline.spec", "mlvc.pipeline.graph", "mlvc.pipeline.lockfile",
        "mlvc.workspace.scan", "rich", "typer", "ruamel", "sqlite3", "dataclasses",
    )  # fmt: skip
    assert sorted(m for m in mods if m.startswith(slow)) == []


def test_the_mlvc_command_starts_without_re_or_configparser(repo: Path) -> None:
    """The installed `mlvc` script (mlvc/bin/mlvc) and a no-op status load neither `re` (with enum,
    ~6 ms of every command: why the script is ours, not pip's launcher) nor configparser (mlvc/config.py
    parses a plain config itself). Run as a non-editable install runs it: the script's own code, no
    .pth files (an editable install's finder loads `re` before any of mlvc)."""
    import site

    import mlvc

    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text("a")
    run_mlvc("add", "data", cwd=repo)
    root = Path(mlvc.__file__).parent.parent
    script = root / "mlvc" / "bin" / "mlvc"
    paths = [str(root), *site.getsitepackages()]
    code = f"import sys; sys.path[:0] = {paths!r}; sys.argv = ['mlvc', 'status']; exec(open({str(script)!r}).read())"
    proc = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", code],
        cwd=repo, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0 and "up to date" in proc.stdout, proc.stderr[-2000:]
    mods = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "mlvc.workspace.walk" in mods
    assert {"re", "enum", "configparser", "typing"} & mods == set()
