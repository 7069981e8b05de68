"""The CLI's exit-code contract holds whichever click typer runs on (typer >= 0.29 vendors its own,
and a plain `pip install mlvc` may have no `click` package at all)."""

from __future__ import annotations

import subprocess
import sys

BLOCK_CLICK = "import sys; sys.modules['click'] = None; from mlvc.cli.fast import main; main(sys.argv[1:])"


def run_without_click(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_CLICK, *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)


def test_usage_errors_exit_2_without_click(tmp_path):
    r = run_without_click("nosuch", cwd=tmp_path)
    assert r.returncode == 2 and "No such command" in r.stderr and "Traceback" not in r.stderr
    r = run_without_click("add", cwd=tmp_path)
    assert r.returncode == 2 and "Missing argument" in r.stderr


def test_errors_exit_1_without_click(tmp_path):
    r = run_without_click("remote", "list", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("mlvc: error: ") and r.stderr.count("\n") == 1
