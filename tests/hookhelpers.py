"""For the hook tests: an `mlvc` on PATH that runs this checkout's code (the hooks call `mlvc`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlvc

SOURCE_ROOT = Path(mlvc.__file__).resolve().parent.parent


def put_mlvc_on_path(bin_dir: Path, monkeypatch) -> None:
    """A `mlvc` shim running `python -m mlvc` with this interpreter and this source tree, first on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "mlvc"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{SOURCE_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" '
                    f'exec "{sys.executable}" -m mlvc "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def git_run(*args: str, cwd, input: str | None = None) -> subprocess.CompletedProcess:
    """The real git, not raising: hooks decide the exit code."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)
