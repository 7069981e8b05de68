"""Real container engines for the execution tests: podman, and docker with dockerd started if needed.

Images are built with no registry: a busybox root filesystem (from the busybox-static package)
imported with `podman import` / `docker import`. Import the fixtures into a test module:

    from exechelpers import engine_image  # parametrized: ("podman", IMAGE) and ("docker", IMAGE)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import need

IMAGE = "localhost/mlvc-test-busybox:latest"
BUSYBOX = "/bin/busybox"


def busybox_rootfs(dest: Path, marker: str = "v1") -> Path:
    """A minimal root filesystem: static busybox with its applet links, /etc/passwd, /tmp, and a marker file."""
    (dest / "bin").mkdir(parents=True)
    (dest / "etc").mkdir()
    (dest / "tmp").mkdir()
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", dest / "bin" / applet)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\n")
    (dest / "etc" / "mlvc-marker").write_text(marker + "\n")
    return dest


def import_image(engine: str, name: str, marker: str = "v1") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = busybox_rootfs(Path(tmp) / "rootfs", marker)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [engine, "import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin", "-", name],
            stdin=tar.stdout, check=True, capture_output=True,
        )
        tar.stdout.close()
        tar.wait()


def _docker_up(timeout: float = 3.0) -> bool:
    try:
        return subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
        ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def podman_engine() -> str:
    need(shutil.which("podman") is not None, "podman is not installed (bash tests/setup_system.sh)")
    need(os.path.exists(BUSYBOX), "busybox-static is not installed (bash tests/setup_system.sh)")
    import_image("podman", IMAGE)
    return "podman"


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory) -> str:
    """docker with a running daemon: the one already up, else a dockerd started here and stopped at the end."""
    need(shutil.which("docker") is not None, "docker is not installed (bash tests/setup_system.sh)")
    need(os.path.exists(BUSYBOX), "busybox-static is not installed (bash tests/setup_system.sh)")
    started = None
    if not _docker_up():
        need(shutil.which("dockerd") is not None and os.getuid() == 0, "no docker daemon and cannot start dockerd")
        log = open(tmp_path_factory.mktemp("dockerd") / "dockerd.log", "wb")  # noqa: SIM115
        started = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not _docker_up() and time.monotonic() < deadline:
            time.sleep(0.3)
        need(_docker_up(), "dockerd did not come up within 30 s")
    import_image("docker", IMAGE)
    yield "docker"
    if started is not None:
        started.send_signal(signal.SIGTERM)
        try:
            started.wait(timeout=20)
        except subprocess.TimeoutExpired:
            started.kill()


@pytest.fixture(params=["podman", "docker"])
def engine_image(request) -> tuple[str, str]:
    """(engine, image) for each engine in turn: the same busybox image imported into both."""
    return request.getfixturevalue(f"{request.param}_engine"), IMAGE


def default_sigint() -> None:
    """`preexec_fn` for a child that a test interrupts with SIGINT, as Ctrl-C would: a shell runs
    background jobs with SIGINT ignored, and a child would inherit that from a suite started so."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
