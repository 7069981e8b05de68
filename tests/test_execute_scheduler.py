"""The scheduler: stages at once up to -j and within capacity, GPU ids handed out, failures, output, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from exechelpers import default_sigint

from mlvc.errors import CapacityError
from mlvc.execute.base import Job, Resources
from mlvc.execute.capacity import Capacity
from mlvc.execute.local import LocalExecutor
from mlvc.execute.scheduler import Grant, Task, run_dag, run_jobs

BIG = Capacity(cpus=64, memory=1 << 40, gpu_ids=())


class Recorder:
    """A run_one callback that sleeps, and records start/end times, overlap and grants."""

    def __init__(self, seconds: float = 0.2, fail: set[str] | None = None) -> None:
        self.seconds = seconds
        self.fail = fail or set()
        self.lock = threading.Lock()
        self.spans: dict[str, tuple[float, float]] = {}
        self.grants: dict[str, Grant] = {}
        self.now = 0
        self.peak = 0

    def __call__(self, task: Task, grant: Grant) -> bool:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.grants[task.name] = grant
        start = time.monotonic()
        time.sleep(self.seconds)
        with self.lock:
            self.now -= 1
            self.spans[task.name] = (start, time.monotonic())
        return task.name not in self.fail


def test_independent_stages_run_j_at_a_time():
    rec = Recorder(0.3)
    t0 = time.monotonic()
    report = run_dag([Task(f"s{i}") for i in range(8)], rec, jobs=4, capacity=BIG)
    wall = time.monotonic() - t0
    assert report.ok and sorted(report.succeeded) == [f"s{i}" for i in range(8)]
    assert rec.peak == 4 == report.peak_running
    assert wall < 1.0, f"8 x 0.3 s at -j 4 took {wall:.2f} s"  # serial would be 2.4 s


def test_dependencies_wait_for_their_upstream():
    rec = Recorder(0.1)
    tasks = [Task("a"), Task("b", after=("a",)), Task("c", after=("a",)), Task("d", after=("b", "c")), Task("x")]
    report = run_dag(tasks, rec, jobs=4, capacity=BIG)
    assert report.ok
    s = rec.spans
    assert s["b"][0] >= s["a"][1] and s["c"][0] >= s["a"][1]
    assert s["d"][0] >= max(s["b"][1], s["c"][1])
    assert s["x"][0] < s["a"][1]  # independent of a: ran beside it


def test_cpu_and_memory_capacity_limit_what_runs_at_once():
    rec = Recorder(0.2)
    cap = Capacity(cpus=2, memory=3 << 30, gpu_ids=())
    report = run_dag([Task(f"c{i}", Resources(cpus=1)) for i in range(4)], rec, jobs=8, capacity=cap)
    assert report.ok and rec.peak == 2
    rec = Recorder(0.2)
    report = run_dag([Task(f"m{i}", Resources(memory=1 << 30)) for i in range(5)], rec, jobs=8, capacity=cap)
    assert report.ok and rec.peak == 3
    rec = Recorder(0.1)  # stages without a request take only a -j slot
    report = run_dag([Task(f"n{i}") for i in range(6)], rec, jobs=6, capacity=cap)
    assert report.ok and rec.peak == 6


def test_gpus_handed_out_by_id():
    rec = Recorder(0.3)
    cap = Capacity(cpus=8, memory=1 << 34, gpu_ids=(0, 1))
    tasks = [Task("g1", Resources(gpus=1)), Task("g2", Resources(gpus=1)), Task("g3", Resources(gpus=1)),
             Task("both", Resources(gpus=2)), Task("none", Resources(gpus=0))]
    report = run_dag(tasks, rec, jobs=8, capacity=cap)
    assert report.ok
    g = rec.grants
    assert {g["g1"].gpu_ids, g["g2"].gpu_ids} == {(0,), (1,)}  # ran together, on different GPUs
    assert g["g3"].gpu_ids in {(0,), (1,)} and g["both"].gpu_ids == (0, 1)
    assert g["none"].gpu_ids == () and g["none"].cuda_visible_devices == ""
    s = rec.spans
    assert s["g3"][0] >= min(s["g1"][1], s["g2"][1])  # waited for a free GPU
    for other in ("g1", "g2", "g3"):  # never shared a GPU with the two-GPU stage
        assert s["both"][0] >= s[other][1] or s["both"][1] <= s[other][0]


def test_too_big_a_stage_is_an_error_before_anything_runs():
    rec = Recorder(0.01)
    cap = Capacity(cpus=8, memory=1 << 34, gpu_ids=(0, 1))
    with pytest.raises(CapacityError, match=r"stage 'huge' asks for more than this machine has \(gpus: 3 > 2\)"):
        run_dag([Task("small"), Task("huge", Resources(gpus=3))], rec, jobs=2, capacity=cap)
    assert rec.spans == {}


def test_failure_stops_new_work_and_lets_running_stages_finish():
    rec = Recorder(0.3, fail={"bad"})
    rec_fast = {"bad"}

    def run_one(task: Task, grant: Grant) -> bool:
        if task.name in rec_fast:
            time.sleep(0.05)
            return False
        return rec(task, grant)

    tasks = [Task("bad"), Task("slow"), Task("later1"), Task("later2"), Task("child", after=("bad",))]
    report = run_dag(tasks, run_one, jobs=2, capacity=BIG)
    assert list(report.failed) == ["bad"]
    assert report.succeeded == ["slow"]  # was running: allowed to end
    assert sorted(report.skipped) == ["child", "later1", "later2"]
    assert not report.ok


def test_keep_going_runs_everything_not_downstream_of_a_failure():
    rec = Recorder(0.05, fail={"bad"})
    tasks = [Task("bad"), Task("child", after=("bad",)), Task("grandchild", after=("child",)),
             Task("a"), Task("b", after=("a",))]
    report = run_dag(tasks, rec, jobs=2, capacity=BIG, keep_going=True)
    assert list(report.failed) == ["bad"]
    assert sorted(report.succeeded) == ["a", "b"]
    assert sorted(report.skipped) == ["child", "grandchild"]
    assert "child" not in rec.spans


def test_an_exception_in_a_stage_is_a_failure():
    def run_one(task: Task, grant: Grant) -> bool:
        raise RuntimeError(f"boom in {task.name}")

    report = run_dag([Task("x")], run_one, jobs=1, capacity=BIG)
    assert isinstance(report.failed["x"], RuntimeError)


def test_cuda_visible_devices_is_exactly_the_granted_ids(tmp_path):
    cap = Capacity(cpus=8, memory=1 << 34, gpu_ids=(0, 1))
    script = 'printf "%s" "${CUDA_VISIBLE_DEVICES-unset}" > {}.cvd; sleep 0.3'
    jobs = [
        (Job(n, (script.replace("{}", n),), str(tmp_path), resources=Resources(gpus=g)), ())
        for n, g in (("one_a", 1), ("one_b", 1), ("zero", 0), ("plain", None))
    ]
    report, outcomes = run_jobs(jobs, LocalExecutor(), jobs=4, capacity=cap)
    assert report.ok and all(o.ok for o in outcomes.values())
    seen = {n: (tmp_path / f"{n}.cvd").read_text() for n in ("one_a", "one_b", "zero", "plain")}
    assert {seen["one_a"], seen["one_b"]} == {"0", "1"}
    assert seen["zero"] == "" and seen["plain"] == ""  # set, and empty: no GPU


def run_script(tmp_path: Path, body: str, **kw) -> subprocess.Popen:
    code = textwrap.dedent(
        """
        import sys
        from mlvc.execute.base import Job, Resources
        from mlvc.execute.capacity import Capacity
        from mlvc.execute.local import LocalExecutor
        from mlvc.execute.scheduler import run_jobs
        WS = sys.argv[1]
        """
    ) + textwrap.dedent(body)
    return subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=default_sigint, **kw)


def test_parallel_output_is_whole_prefixed_lines_and_logged(tmp_path):
    # Each stage writes its lines in pieces with pauses, so raw output would mix mid-line.
    body = """
    cmd = ('for i in 1 2 3 4 5; do printf "%s-" $NAME; sleep 0.03; printf "line$i"; sleep 0.02; echo; done;'
           ' echo "$NAME-err" >&2')
    jobs = [(Job(n, (cmd,), WS, env={"NAME": n}), ()) for n in ("alpha", "beta", "gamma")]
    report, _ = run_jobs(jobs, LocalExecutor(), jobs=3, capacity=Capacity(8, 1 << 30, ()), logs_dir=WS + "/logs")
    assert report.ok
    """
    proc = run_script(tmp_path, body)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 15
    for line in lines:
        m = re.fullmatch(r"(alpha|beta|gamma) \| (alpha|beta|gamma)-line[1-5]", line)
        assert m and m.group(1) == m.group(2), f"mixed line: {line!r}"
    assert "alpha | alpha-err" in err.decode().splitlines()
    log = (tmp_path / "logs" / "beta.log").read_text().splitlines()  # whole lines; stdout's in order
    assert [ln for ln in log if ln != "beta-err"] == [f"beta-line{i}" for i in range(1, 6)]
    assert sorted(log) == sorted([f"beta-line{i}" for i in range(1, 6)] + ["beta-err"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is as good as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_ends_every_running_stage(tmp_path):
    body = """
    cmd = 'sleep 60 & echo $! > $NAME.pid; wait'
    jobs = [(Job(n, (cmd,), WS, env={"NAME": n}), ()) for n in ("one", "two")]
    jobs.append((Job("after", ("touch after.ran",), WS), ("one",)))
    try:
        run_jobs(jobs, LocalExecutor(), jobs=2, capacity=Capacity(8, 1 << 30, ()))
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    """
    proc = run_script(tmp_path, body)
    deadline = time.monotonic() + 20
    pidfiles = [tmp_path / "one.pid", tmp_path / "two.pid"]
    while not all(p.exists() and p.read_text().strip() for p in pidfiles) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(p.read_text()) for p in pidfiles]
    assert all(alive(p) for p in pids)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    assert out.decode().strip() == "interrupted"
    assert time.monotonic() - t0 < 10
    assert not any(alive(p) for p in pids), "a stage's command outlived Ctrl-C"
    assert not (tmp_path / "after.ran").exists()
