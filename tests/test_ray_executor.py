"""`mlvc repro --executor ray` on a real Ray cluster on 127.0.0.1, with the S3 server as the remote.

One cluster per test session (2 CPUs, no GPUs, a custom resource GPU_FAKE=2 standing in for
GPUs), started here with `ray start --head --block` bound to loopback and stopped by ending
that process (never `ray stop`, which would end every Ray on the machine). Stages run in
scratch folders on the workers: nothing is shared with the workspace but the remote.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, need, run_mlvc
from exechelpers import podman_engine  # noqa: F401, F811 - a fixture

from mlvc.execute.base import Resources

HAVE_RAY = importlib.util.find_spec("ray") is not None
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """HOST:PORT of a Ray head on 127.0.0.1 that this session started (and alone stops)."""
    need(HAVE_RAY and shutil.which("ray") is not None, "Ray is needed for the ray executor tests (pip install ray)")
    tmp = tmp_path_factory.mktemp("ray")
    port = _free_port()
    env = {**os.environ, **RAY_ENV, "HOME": str(tmp)}
    log = open(tmp / "ray-start.log", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["ray", "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--num-cpus=2", "--num-gpus=0", '--resources={"GPU_FAKE": 2}', "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={tmp / 'r'}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while b"Ray runtime started" not in (tmp / "ray-start.log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("ray start failed:\n" + (tmp / "ray-start.log").read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` ends the processes it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def ray_repo(repo, seaweed, ray_cluster, monkeypatch):
    """The test repo with the S3 server as its default remote (credentials in config.local, so they
    travel with each stage to the workers) and the executor/address set in config."""
    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    from mlvc.remote import config as rconfig
    from mlvc.repo import Repo

    config = Repo(str(repo)).config  # in process: six `mlvc config` subprocesses would cost seconds per test
    rconfig.add(config, "s3", f"s3://mlvc-test/ray-{repo.parent.name}", default=True)
    rconfig.modify(config, "s3", "endpointurl", seaweed.endpoint)
    rconfig.modify(config, "s3", "access_key_id", seaweed.key, local=True)
    rconfig.modify(config, "s3", "secret_access_key", seaweed.secret, local=True)
    config.set("execute", "executor", "ray")
    config.set("execute", "address", ray_cluster)
    config.set("ray", "gpu_resource", "GPU_FAKE")
    config.set("ray", "worker_cache", str(repo.parent / "worker-cache"))  # not the node-wide default in $TMPDIR
    return repo


FANOUT = """\
stages:
  prep:
    cmd: mkdir -p shards && for i in 1 2 3 4; do sed -n "$i p" raw.txt > shards/s$i.txt; done
    deps: [raw.txt]
    outs: [shards]
  work:
    foreach: [1, 2, 3, 4]
    do:
      cmd: echo "$PWD" >> WHERE && python3 work.py ${item}
      deps:
        - work.py
        - shards/s${item}.txt
      params: [scale]
      outs:
        - out/w${item}.txt
      metrics:
        - out/m${item}.json:
            cache: false
      resources: {cpus: 1, gpus: 1}
  total:
    cmd: cat out/w1.txt out/w2.txt out/w3.txt out/w4.txt | wc -c > total.txt
    deps: [out/w1.txt, out/w2.txt, out/w3.txt, out/w4.txt]
    outs: [total.txt]
"""
WORK = """\
import json, sys
i = int(sys.argv[1])
text = open(f"shards/s{i}.txt").read()
scale = int(open("params.yaml").read().split(":")[1])
open(f"out/w{i}.txt", "w").write(text.upper() * i * scale)
json.dump({"chars": len(text), "scale": scale}, open(f"out/m{i}.json", "w"))
print(f"working on {i}")
"""


def _write_fanout(root: Path, where: Path) -> None:
    (root / "raw.txt").write_text("alpha\nbravo\ncharlie\ndelta\n")
    (root / "params.yaml").write_text("scale: 2\n")
    (root / "work.py").write_text(WORK)
    (root / "mlvc.yaml").write_text(FANOUT.replace("WHERE", str(where)))


def _outs(root: Path) -> dict[str, bytes]:
    names = ["total.txt"] + [f"out/w{i}.txt" for i in range(1, 5)] + [f"out/m{i}.json" for i in range(1, 5)]
    names += [f"shards/s{i}.txt" for i in range(1, 5)]
    return {n: (root / n).read_bytes() for n in names}


def _lock_hashes(root: Path) -> dict[str, list[str]]:
    from mlvc.pipeline import lockfile

    lock = lockfile.read(str(root))
    return {n: sorted(o.ref.hash for o in e.outs.values()) + sorted(r.hash for r in e.deps.values())
            for n, e in lock.stages.items()}


def test_foreach_fans_out_on_the_cluster_and_equals_a_local_run(ray_repo, tmp_path, seaweed):
    where_ray, where_local = tmp_path / "where-ray.txt", tmp_path / "where-local.txt"
    _write_fanout(ray_repo, where_ray)
    run = run_mlvc("repro", cwd=ray_repo)  # executor and address from .mlvc/config
    # Every stage ran in a scratch folder on a worker, not in the workspace.
    dirs = where_ray.read_text().split()
    assert len(dirs) == 4 and all("mlvc-stage-work" in d and not d.startswith(str(ray_repo)) for d in dirs)
    # Output came back prefixed by stage.
    for i in range(1, 5):
        assert f"work@{i} | working on {i}" in run.stdout

    # The same pipeline run locally with -j 2 in a second repository gives the same bytes and hashes.
    local = tmp_path / "local"
    local.mkdir()
    git("init", "-q", cwd=local)
    run_mlvc("init", cwd=local)
    _write_fanout(local, where_local)
    run_mlvc("config", "execute.gpus", "2", cwd=local)  # the `gpus: 1` stages need GPUs to be counted here too
    run_mlvc("repro", "-j", "2", cwd=local)
    assert all(d.startswith(str(local)) for d in where_local.read_text().split())
    assert _outs(ray_repo) == _outs(local)
    assert _lock_hashes(ray_repo) == _lock_hashes(local)
    assert (ray_repo / "out/w3.txt").read_text() == "CHARLIE\n" * 6

    # The outs are on the remote (workers pushed them), and a rerun sends nothing to the cluster.
    import s3fs

    fs = s3fs.S3FileSystem(key=seaweed.key, secret=seaweed.secret, endpoint_url=seaweed.endpoint,
                           skip_instance_cache=True)
    from mlvc import packs

    prefix = f"mlvc-test/ray-{ray_repo.parent.name}"
    packed = set()  # small outs travel in packs: ROOT/packs/ID.idx lists them
    for key in fs.find(f"{prefix}/packs"):
        if key.endswith(packs.IDX):
            packed |= set(packs.decode_index(fs.cat_file(key), key))
    for hashes in _lock_hashes(ray_repo).values():
        for h in hashes:
            assert h in packed or fs.exists(f"{prefix}/{h[:2]}/{h[2:]}"), h
    again = run_mlvc("repro", cwd=ray_repo)
    assert "Everything is up to date." in again.stdout

    # Run cache first: with the lock and the outs gone, every stage comes back from the run cache
    # and nothing runs on the cluster.
    (ray_repo / "mlvc.lock").unlink()
    for i in range(1, 5):
        (ray_repo / f"out/w{i}.txt").unlink()
    replay = run_mlvc("repro", cwd=ray_repo)
    assert replay.stdout.count("restored from the run cache") == 6, replay.stdout
    assert len(where_ray.read_text().split()) == 4
    assert _outs(ray_repo) == _outs(local)


def test_failing_stage_surfaces_exit_code_and_stderr(ray_repo, ray_cluster):
    (ray_repo / "in.txt").write_text("x\n")
    (ray_repo / "sub").mkdir()  # `wdir: sub` holds no input: the worker must still make it
    (ray_repo / "sub" / "README").write_text("not a dep\n")
    (ray_repo / "mlvc.yaml").write_text(
        "stages:\n"
        "  good:\n    wdir: sub\n    cmd: cp ../in.txt ../good.txt\n    deps: [../in.txt]\n    outs: [../good.txt]\n"
        "  bad:\n    cmd: echo 'the model diverged' >&2; exit 3\n    deps: [in.txt]\n    outs: [bad.txt]\n"
    )
    res = run_mlvc("repro", "--executor", "ray", "--address", ray_cluster, "--keep-going", cwd=ray_repo, check=False)
    assert res.returncode == 1
    assert "stage 'bad' exit code 3" in res.stderr and "the model diverged" in res.stderr
    assert "bad | the model diverged" in res.stderr  # streamed, prefixed, as it happened
    lock = (ray_repo / "mlvc.lock").read_text()
    assert "good:" in lock and "bad:" not in lock
    assert (ray_repo / "good.txt").read_text() == "x\n"
    assert not (ray_repo / "bad.txt").exists()


def test_output_streams_back_while_the_stage_runs(ray_repo, tmp_path):
    import queue
    import threading

    release = tmp_path / "release"
    (ray_repo / "in.txt").write_text("x\n")
    (ray_repo / "mlvc.yaml").write_text(
        "stages:\n  talk:\n"
        f"    cmd: echo first line; while [ ! -f {release} ]; do sleep 0.1; done; echo done > talk.txt\n"
        "    deps: [in.txt]\n    outs: [talk.txt]\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlvc", "repro"], cwd=ray_repo, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen = []
    deadline = time.monotonic() + 90
    try:
        while "talk | first line\n" not in seen:  # the stage waits for us: this line can only come while it runs
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
    except queue.Empty:
        proc.kill()
        pytest.fail(f"no streamed output while the stage ran; got {seen!r}; stderr: {proc.stderr.read()}")
    release.touch()
    assert proc.wait(timeout=90) == 0, proc.stderr.read()  # type: ignore[union-attr]
    assert (ray_repo / "talk.txt").read_text() == "done\n"


def test_stage_asking_more_gpus_than_the_cluster_has_fails_before_running(ray_repo):
    (ray_repo / "mlvc.yaml").write_text(
        "stages:\n  big:\n    cmd: touch big.txt\n    outs: [big.txt]\n    resources: {gpus: 5}\n"
    )
    dry = run_mlvc("repro", "--dry", cwd=ray_repo)
    assert "big: would run: never ran [ray; gpus 5]" in dry.stdout
    res = run_mlvc("repro", cwd=ray_repo, check=False)
    assert res.returncode == 1 and "gpus: 5 > 2" in res.stderr
    assert not (ray_repo / "mlvc.lock").exists()


def test_data_checks_gate_a_ray_stage_in_the_driver(ray_repo):
    """`checks:` run in the driver before the task is submitted: a failing check never reaches the cluster."""
    (ray_repo / "d.csv").write_text("a,b\n1,x\n2,y\n")
    (ray_repo / "mlvc.yaml").write_text(
        "stages:\n  fit:\n    cmd: cp d.csv fit.txt\n    deps: [d.csv]\n    outs: [fit.txt]\n"
        "    checks: [{path: d.csv, schema: true}]\n"
    )
    git("add", "d.csv", "mlvc.yaml", cwd=ray_repo)
    git("commit", "-qm", "data", cwd=ray_repo)
    assert "fit: would run: never ran [ray; 1 data check first]" in run_mlvc("repro", "--dry", cwd=ray_repo).stdout
    run_mlvc("repro", cwd=ray_repo)
    lock = (ray_repo / "mlvc.lock").read_text()
    assert '"passed": true' in lock and (ray_repo / "fit.txt").exists()
    (ray_repo / "d.csv").write_text("a\n1\n2\n3\n")  # column b dropped
    res = run_mlvc("repro", cwd=ray_repo, check=False)
    assert res.returncode == 1 and "data check failed: d.csv: column 'b' removed against HEAD" in res.stderr
    assert (ray_repo / "mlvc.lock").read_text() == lock
    assert (ray_repo / "fit.txt").read_text() == "a,b\n1,x\n2,y\n"  # never ran: a run would remove it first


KILLABLE = """\
stages:
  slow:
    cmd: >-
      if [ ! -f {mark} ]; then echo "$PPID $$" > {mark}.tmp && mv {mark}.tmp {mark} && sleep 120; fi;
      echo finished > result.txt
    deps: [in.txt]
    outs: [result.txt]
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_worker_mid_stage(repo: Path, mark: Path, *args: str, kill_command: bool = True):
    """Start the repro, wait until the stage runs, SIGKILL its Ray worker (and the command, as a lost
    node would take it, unless told not to), then let the repro end. -> (result, command's pid)"""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlvc", "repro", *args], cwd=repo, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 90
    while not mark.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the stage never started:\n{out}\n{err}")
        time.sleep(0.1)
    worker, shell = (int(x) for x in mark.read_text().split())
    os.kill(worker, signal.SIGKILL)
    if kill_command:
        try:
            os.killpg(shell, signal.SIGKILL)
        except ProcessLookupError:
            pass
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), shell


def test_worker_killed_mid_stage_is_retried(ray_repo, tmp_path):
    mark = tmp_path / "started"
    (ray_repo / "in.txt").write_text("x\n")
    (ray_repo / "mlvc.yaml").write_text(KILLABLE.format(mark=mark))
    res, _ = _kill_worker_mid_stage(ray_repo, mark)
    assert res.returncode == 0, res.stderr
    assert (ray_repo / "result.txt").read_text() == "finished\n"
    from mlvc.hashing import hash_bytes
    from mlvc.pipeline import lockfile

    entry = lockfile.read(str(ray_repo)).stages["slow"]
    assert entry.outs["result.txt"].ref.hash == hash_bytes(b"finished\n")


def test_worker_killed_without_retries_is_a_clear_failure_and_records_nothing(ray_repo, tmp_path):
    run_mlvc("config", "ray.max_retries", "0", cwd=ray_repo)
    mark = tmp_path / "started"
    (ray_repo / "in.txt").write_text("x\n")
    (ray_repo / "mlvc.yaml").write_text(KILLABLE.format(mark=mark))
    res, command = _kill_worker_mid_stage(ray_repo, mark, kill_command=False)
    assert res.returncode == 1
    # Only the worker was killed: the watchdog beside it ends the command it left running.
    deadline = time.monotonic() + 20
    while _alive(command) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(command), "the stage's command outlived its killed worker"
    assert "stage 'slow': the Ray worker running it died" in res.stderr
    assert "nothing recorded for it in mlvc.lock" in res.stderr
    lock = ray_repo / "mlvc.lock"
    assert not lock.exists() or "slow" not in lock.read_text()
    assert not (ray_repo / "result.txt").exists()
    # The next repro (retries back on) runs it and records it whole.
    run_mlvc("config", "ray.max_retries", "1", cwd=ray_repo)
    run_mlvc("repro", cwd=ray_repo)
    assert "result.txt" in lock.read_text()


def test_interrupted_repro_cancels_the_stage_and_records_nothing(ray_repo, tmp_path):
    mark = tmp_path / "started"
    (ray_repo / "in.txt").write_text("x\n")
    (ray_repo / "mlvc.yaml").write_text(KILLABLE.format(mark=mark))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlvc", "repro"], cwd=ray_repo, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 90
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mark.exists(), proc.communicate()
    command = int(mark.read_text().split()[1])
    proc.send_signal(signal.SIGTERM)  # as Ctrl-C: mlvc cancels the Ray task (its worker is killed)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    deadline = time.monotonic() + 20
    while _alive(command) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(command), "the stage's command outlived the interrupted repro"
    lock = ray_repo / "mlvc.lock"
    assert not lock.exists() or "slow" not in lock.read_text()
    assert not (ray_repo / "result.txt").exists()


def test_image_stage_runs_in_its_container_on_the_worker(ray_repo, podman_engine):  # noqa: F811
    from exechelpers import IMAGE

    from mlvc.repo import Repo

    Repo(str(ray_repo)).config.set("execute", "engine", podman_engine)
    (ray_repo / "in.txt").write_text("from the workspace\n")
    (ray_repo / "mlvc.yaml").write_text(
        f"stages:\n  boxed:\n    image: {IMAGE}\n"
        "    cmd: cat /etc/mlvc-marker in.txt > boxed.txt && echo \"in $(pwd)\"\n"
        "    deps: [in.txt]\n    outs: [boxed.txt]\n"
    )
    res = run_mlvc("repro", cwd=ray_repo)
    assert (ray_repo / "boxed.txt").read_text() == "v1\nfrom the workspace\n"  # /etc/mlvc-marker: the image's
    assert "boxed | in " in res.stdout and "mlvc-stage-boxed" in res.stdout  # ran in the worker's scratch folder
    assert "boxed.txt" in (ray_repo / "mlvc.lock").read_text()


# -- without a cluster ------------------------------------------------------------------------------
def test_without_ray_installed_the_error_says_how_to_install(repo, tmp_path):
    fake = tmp_path / "noray"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    (repo / "mlvc.yaml").write_text("stages:\n  a:\n    cmd: touch a.txt\n    outs: [a.txt]\n")
    res = run_mlvc("repro", "--executor", "ray", cwd=repo, check=False, env={"PYTHONPATH": str(fake)})
    assert res.returncode == 1
    assert "pip install 'mlvc[ray]'" in res.stderr
    assert not (repo / "a.txt").exists()


def test_address_without_ray_executor_and_unknown_executor_are_errors(repo):
    (repo / "mlvc.yaml").write_text("stages:\n  a:\n    cmd: touch a.txt\n    outs: [a.txt]\n")
    res = run_mlvc("repro", "--address", "127.0.0.1:1", cwd=repo, check=False)
    assert res.returncode == 1 and "--executor ray" in res.stderr
    res = run_mlvc("repro", "--executor", "slurm", cwd=repo, check=False)
    assert res.returncode == 1 and "unknown executor 'slurm'" in res.stderr


def test_unreachable_cluster_is_a_one_line_error(repo, tmp_path):
    need(HAVE_RAY, "Ray is needed (pip install ray)")
    run_mlvc("remote", "add", "store", str(tmp_path / "remote"), "--default", cwd=repo)
    (repo / "mlvc.yaml").write_text("stages:\n  a:\n    cmd: touch a.txt\n    outs: [a.txt]\n")
    res = run_mlvc("repro", "--executor", "ray", "--address", f"127.0.0.1:{_free_port()}", cwd=repo, check=False,
                   env=RAY_ENV)
    assert res.returncode == 1
    assert "cannot connect to the Ray cluster at 127.0.0.1:" in res.stderr


def test_no_remote_says_the_ray_executor_needs_one(repo):
    need(HAVE_RAY, "Ray is needed (pip install ray)")
    (repo / "mlvc.yaml").write_text("stages:\n  a:\n    cmd: touch a.txt\n    outs: [a.txt]\n")
    res = run_mlvc("repro", "--executor", "ray", "--address", f"127.0.0.1:{_free_port()}", cwd=repo, check=False,
                   env=RAY_ENV)
    assert res.returncode == 1
    assert "the ray executor moves each stage's data through a remote" in res.stderr
    assert "mlvc remote add" in res.stderr


def test_task_options_map_resources():
    need(HAVE_RAY, "Ray is needed (pip install ray)")
    from mlvc.execute.ray import task_options

    assert task_options(Resources()) == {"num_cpus": 1, "max_retries": 1, "retry_exceptions": False}
    assert task_options(Resources(cpus=2, gpus=1, memory=1 << 30), "GPU", 3) == {
        "num_cpus": 2, "num_gpus": 1, "memory": 1 << 30, "max_retries": 3, "retry_exceptions": False,
    }
    assert task_options(Resources(gpus=2), "GPU_FAKE", 0)["resources"] == {"GPU_FAKE": 2}
