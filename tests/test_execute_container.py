"""The container backend against real podman and real docker, with a busybox image built with no registry."""
# ruff: noqa: F811  (fixtures imported from exechelpers are used as parameters)

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from exechelpers import IMAGE, docker_engine, engine_image, import_image, podman_engine  # noqa: F401

from mlvc.errors import ExecutorError
from mlvc.execute.base import Job, Resources, get_executor
from mlvc.execute.container import (
    ContainerExecutor,
    Engine,
    _inspect_error,
    container_argv,
    find_engine,
    forget_digests,
    image_digest,
)


def job(ws: Path, *cmds: str, **kw) -> Job:
    name, wdir, image = kw.pop("name", "stage"), str(kw.pop("wdir", ws)), kw.pop("image", IMAGE)
    return Job(name=name, cmds=cmds, wdir=wdir, image=image, **kw)


def test_outs_written_in_the_workspace_belong_to_the_caller(engine_image, tmp_path):
    engine, _ = engine_image
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "in.txt").write_text("hello\n")
    ex = get_executor("container", root=str(ws), engine=engine)
    out = ex.run(job(ws, "pwd > where.txt; id -u > uid.txt; id -g > gid.txt; tr a-z A-Z < ../in.txt > out.txt",
                     wdir=ws / "sub"))
    assert out.ok, out.stderr_tail
    sub = ws / "sub"
    assert (sub / "where.txt").read_text().strip() == str(sub)  # same path inside, wdir is the working dir
    assert (sub / "out.txt").read_text() == "HELLO\n"
    assert int((sub / "uid.txt").read_text()) == os.getuid()
    assert int((sub / "gid.txt").read_text()) == os.getgid()
    assert (sub / "out.txt").stat().st_uid == os.getuid()
    assert (sub / "out.txt").stat().st_gid == os.getgid()


def test_explicit_user_owns_the_outs(engine_image, tmp_path):
    engine, _ = engine_image
    if os.getuid() != 0:
        pytest.skip("needs root to hand files to another uid")
    ws = tmp_path / "ws"
    ws.mkdir()
    os.chmod(ws, 0o777)
    os.chmod(tmp_path, 0o755)
    ex = ContainerExecutor(root=str(ws), engine=engine, user="4321:4322")
    assert ex.run(job(ws, "echo x > made.txt")).ok
    st = (ws / "made.txt").stat()
    assert (st.st_uid, st.st_gid) == (4321, 4322)


def interfaces(ws: Path, engine: str, network: bool) -> set[str]:
    ex = ContainerExecutor(root=str(ws), engine=engine)
    out = ex.run(job(ws, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > ifaces.txt", network=network))
    assert out.ok, out.stderr_tail
    return set((ws / "ifaces.txt").read_text().split())


def test_network_is_off_unless_the_stage_asks(engine_image, tmp_path):
    engine, _ = engine_image
    assert interfaces(tmp_path, engine, network=False) == {"lo"}
    assert interfaces(tmp_path, engine, network=True) - {"lo"}, "network: true gives the container an interface"


def test_declared_env_is_passed_but_not_on_the_command_line(engine_image, tmp_path):
    engine, _ = engine_image
    ex = ContainerExecutor(root=str(tmp_path), engine=engine)
    out = ex.run(job(tmp_path, 'printf "%s|%s" "$TOKEN" "${HOSTONLY-unset}" > env.txt', env={"TOKEN": "s3cr3t value"}))
    assert out.ok, out.stderr_tail
    assert (tmp_path / "env.txt").read_text() == "s3cr3t value|unset"  # only declared env crosses
    secret_job = job(tmp_path, "true", env={"TOKEN": "s3cr3t"})
    argv = container_argv(find_engine(engine), secret_job, IMAGE, str(tmp_path), "n")
    assert "TOKEN" in argv and not any("s3cr3t" in a for a in argv)


def test_exit_code_passes_through_and_first_failure_stops(engine_image, tmp_path):
    engine, _ = engine_image
    ex = ContainerExecutor(root=str(tmp_path), engine=engine)
    out = ex.run(job(tmp_path, "echo one > one.txt", "echo oops >&2; exit 7", "echo three > three.txt"))
    assert out.returncode == 7 and not out.ok
    assert "oops" in out.stderr_tail
    assert (tmp_path / "one.txt").exists() and not (tmp_path / "three.txt").exists()


def test_image_digest_follows_the_image(engine_image, tmp_path):
    engine, _ = engine_image
    name = f"localhost/mlvc-test-digest-{os.getpid()}:latest"
    try:
        import_image(engine, name, marker="first")
        forget_digests()
        first = image_digest(name, engine)
        assert first.startswith("sha256:") and len(first) == 71
        assert image_digest(name, engine) == first
        import_image(engine, name, marker="second")
        forget_digests()
        second = image_digest(name, engine)
        assert second != first
        ex = ContainerExecutor(root=str(tmp_path), engine=engine)
        assert ex.run(job(tmp_path, "cat /etc/mlvc-marker > m.txt", image=name)).ok
        assert (tmp_path / "m.txt").read_text() == "second\n"  # runs the image it recorded
    finally:
        subprocess.run([engine, "rmi", "-f", name], capture_output=True)
        forget_digests()


def test_missing_image_is_a_clear_error(engine_image, tmp_path):
    engine, _ = engine_image
    with pytest.raises(ExecutorError, match=r"image 'localhost/no-such-image:1' is not present in .*never pulls"):
        ex = ContainerExecutor(root=str(tmp_path), engine=engine)
        ex.run(job(tmp_path, "true", image="localhost/no-such-image:1"))


def test_gpu_flags_and_engine_refusal_without_nvidia_toolkit(engine_image, tmp_path):
    engine, _ = engine_image
    eng = find_engine(engine)
    argv = container_argv(eng, job(tmp_path, "true", gpu_ids=(0, 1)), IMAGE, str(tmp_path), "n")
    if engine == "docker":
        assert argv[argv.index("--gpus") + 1] == '"device=0,1"'
    else:
        assert [argv[i + 1] for i, a in enumerate(argv) if a == "--device"] == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]
    assert "--gpus" not in container_argv(eng, job(tmp_path, "true", gpu_ids=()), IMAGE, str(tmp_path), "n")
    if os.path.exists("/etc/cdi") or subprocess.run(["which", "nvidia-ctk"], capture_output=True).returncode == 0:
        pytest.skip("this machine has the NVIDIA container toolkit")
    ex = ContainerExecutor(root=str(tmp_path), engine=engine)
    with pytest.raises(ExecutorError, match="NVIDIA container toolkit"):
        ex.run(job(tmp_path, "true", gpu_ids=(0,)))


def test_resources_become_limits(engine_image, tmp_path):
    engine, _ = engine_image
    ex = ContainerExecutor(root=str(tmp_path), engine=engine)
    res = Resources(cpus=0.5, memory=64 << 20)
    argv = container_argv(find_engine(engine), job(tmp_path, "true", resources=res), IMAGE, str(tmp_path), "n")
    assert argv[argv.index("--cpus") + 1] == "0.5" and argv[argv.index("--memory") + 1] == str(64 << 20)
    script = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
    assert ex.run(job(tmp_path, f"({script}) > limit.txt", resources=res)).ok
    assert (tmp_path / "limit.txt").read_text().strip() == str(64 << 20)


def test_interrupt_ends_the_container(engine_image, tmp_path):
    engine, _ = engine_image
    ex = ContainerExecutor(root=str(tmp_path), engine=engine)
    result: list = []
    t = threading.Thread(target=lambda: result.append(ex.run(job(tmp_path, "touch started; sleep 60", name="long"))))
    t.start()
    deadline = time.monotonic() + 20
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "started").exists()
    t0 = time.monotonic()
    ex.interrupt()
    t.join(timeout=30)
    assert not t.is_alive() and time.monotonic() - t0 < 15
    assert result[0].interrupted and not result[0].ok
    ours = f"name=mlvc-long-{os.getpid()}-"
    deadline = time.monotonic() + 15  # --rm clean-up finishes just after the client returns
    while (left := subprocess.run([engine, "ps", "-a", "-q", "--filter", ours], capture_output=True, text=True)).stdout:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left.stdout.strip() == ""


def test_no_engine_and_unknown_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ExecutorError, match="no container engine found.*install podman or docker"):
        find_engine()
    with pytest.raises(ExecutorError, match="'nerdctl' .* is not installed"):
        find_engine("nerdctl")


def test_docker_daemon_down_and_not_permitted(docker_engine, tmp_path):
    eng = Engine("docker", find_engine("docker").path)
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    code = "from mlvc.execute.container import image_digest; image_digest('busybox', 'docker')"
    down = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "docker daemon is not running" in down.stderr
    if os.getuid() != 0 or not os.path.exists("/var/run/docker.sock"):
        return
    # The real refusal of the docker socket to another user, classified as mlvc reports it.
    nobody = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", eng.path, "image", "inspect", "busybox"],
        capture_output=True, text=True, env={**os.environ, "HOME": "/tmp", "DOCKER_HOST": "unix:///var/run/docker.sock"},
    )
    assert nobody.returncode != 0
    assert "docker is not permitted for this user" in str(_inspect_error(eng, "busybox", nobody.stderr)), nobody.stderr
