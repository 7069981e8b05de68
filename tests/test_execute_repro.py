"""`mlvc repro -j N` end to end: parallel stages, GPU ids from `[execute] gpus`, failures, output, Ctrl-C, --dry."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import git
from exechelpers import default_sigint


def write_pipeline(repo: Path, stages: dict[str, dict]) -> None:
    lines = ["stages:\n"]
    for name, body in stages.items():
        lines.append(f"  {name}:\n")
        for key, value in body.items():
            if isinstance(value, list):
                lines.append(f"    {key}:\n" + "".join(f"      - {v}\n" for v in value))
            elif isinstance(value, dict):
                lines.append(f"    {key}:\n" + "".join(f"      {k}: {v}\n" for k, v in value.items()))
            else:
                lines.append(f"    {key}: {value}\n")
    (repo / "mlvc.yaml").write_text("".join(lines))


def lock_stages(repo: Path) -> set[str]:
    text = (repo / "mlvc.lock").read_text() if (repo / "mlvc.lock").exists() else ""
    return set(re.findall(r"^  ([A-Za-z0-9_.@-]+):$", text, re.MULTILINE))


def test_independent_stages_run_at_once(repo, mlvc):
    cmd = "'date +%s%N > t{i}.start; sleep 0.5; date +%s%N > t{i}.end; echo {i} > o{i}.txt'"
    write_pipeline(repo, {f"s{i}": {"cmd": cmd.format(i=i), "outs": [f"o{i}.txt"]} for i in range(8)})
    mlvc("repro", "-j", "4")
    assert all((repo / f"o{i}.txt").read_text() == f"{i}\n" for i in range(8))
    assert lock_stages(repo) == {f"s{i}" for i in range(8)}
    spans = [(int((repo / f"t{i}.start").read_text()), int((repo / f"t{i}.end").read_text())) for i in range(8)]
    peak = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert 3 <= peak <= 4, f"{peak} stages ran at once with -j 4"
    assert "Everything is up to date" in mlvc("repro", "-j", "4").stdout


def test_gpu_ids_from_configured_count(repo, mlvc):
    mlvc("config", "execute.gpus", "2")
    cvd = "'sleep 0.6; printenv CUDA_VISIBLE_DEVICES > %s || echo unset > %s'"
    write_pipeline(repo, {
        "gpu_a": {"cmd": cvd.replace("%s", "a.txt"), "outs": ["a.txt"], "resources": {"gpus": 1}},
        "gpu_b": {"cmd": cvd.replace("%s", "b.txt"), "outs": ["b.txt"], "resources": {"gpus": 1}},
        "cpu": {"cmd": cvd.replace("%s", "c.txt"), "outs": ["c.txt"], "resources": {"gpus": 0}},
    })
    mlvc("repro", "-j", "3")  # the two GPU stages overlap: they must hold different GPUs
    assert {(repo / "a.txt").read_text(), (repo / "b.txt").read_text()} == {"0\n", "1\n"}
    assert (repo / "c.txt").read_text() == "\n"  # set, and empty: no GPU for a gpus: 0 stage
    mlvc("repro", "-f", "-s", "gpu_a")  # serial: the first GPU
    assert (repo / "a.txt").read_text() == "0\n"


def test_too_many_gpus_is_an_error_before_anything_runs(repo, mlvc):
    mlvc("config", "execute.gpus", "2")
    write_pipeline(repo, {
        "first": {"cmd": "'touch first.txt'", "outs": ["first.txt"]},
        "big": {"cmd": "'touch big.txt'", "outs": ["big.txt"], "resources": {"gpus": 3}},
    })
    for jobs in ("1", "2"):
        res = mlvc("repro", "-j", jobs, check=False)
        assert res.returncode == 1
        assert res.stderr.strip().splitlines() == [
            "mlvc: error: stage 'big' asks for more than this machine has (gpus: 3 > 2); lower its resources or "
            "set [execute] cpus/gpus/memory in .mlvc/config"
        ]
        assert not (repo / "first.txt").exists() and not (repo / "mlvc.lock").exists()


def test_failure_stops_new_work_running_stages_finish(repo, mlvc):
    write_pipeline(repo, {
        "bad": {"cmd": "'sleep 0.2; echo broken >&2; exit 3'", "outs": ["bad.txt"]},
        "slow": {"cmd": "'sleep 1; echo ok > slow.txt'", "outs": ["slow.txt"]},
        "child": {"cmd": "'cp bad.txt child.txt'", "deps": ["bad.txt"], "outs": ["child.txt"]},
        "late": {"cmd": "'sleep 0.1; touch late.txt'", "outs": ["late.txt"]},
    })
    res = mlvc("repro", "-j", "2", check=False)
    assert res.returncode == 1
    assert "stage 'bad' exit code 3: broken" in res.stderr
    assert (repo / "slow.txt").exists() and lock_stages(repo) == {"slow"}  # ran to its end, recorded
    assert not (repo / "child.txt").exists() and not (repo / "late.txt").exists()
    res = mlvc("repro", "-j", "2", "--keep-going", check=False)
    assert res.returncode == 1
    assert (repo / "late.txt").exists() and lock_stages(repo) == {"slow", "late"}
    assert not (repo / "child.txt").exists()


def test_parallel_output_prefixed_and_logged(repo, mlvc):
    body = "'for i in 1 2 3; do printf \"{n}-\"; sleep 0.05; echo \"line$i\"; done; touch {n}.txt'"
    write_pipeline(repo, {n: {"cmd": body.format(n=n), "outs": [f"{n}.txt"]} for n in ("one", "two", "three")})
    res = mlvc("repro", "-j", "3")
    produced = [ln for ln in res.stdout.splitlines() if " | " in ln]
    assert len(produced) == 9
    for line in produced:
        m = re.fullmatch(r"(one|two|three) \| (one|two|three)-line[123]", line)
        assert m and m.group(1) == m.group(2), line
    assert (repo / ".mlvc" / "tmp" / "logs" / "two.log").read_text() == "two-line1\ntwo-line2\ntwo-line3\n"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_ends_running_stages_and_keeps_the_lock_consistent(repo):
    write_pipeline(repo, {
        "quick": {"cmd": "'echo q > quick.txt'", "outs": ["quick.txt"]},
        "long1": {"cmd": "'sleep 60 & echo $! > long1.pid; wait; touch long1.txt'", "outs": ["long1.txt"]},
        "long2": {"cmd": "'sleep 60 & echo $! > long2.pid; wait; touch long2.txt'", "outs": ["long2.txt"]},
    })
    proc = subprocess.Popen([sys.executable, "-m", "mlvc", "repro", "-j", "3"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            preexec_fn=default_sigint)
    pidfiles = [repo / "long1.pid", repo / "long2.pid"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        all(p.exists() and p.read_text().strip() for p in pidfiles) and "quick" in lock_stages(repo)
    ):
        time.sleep(0.05)
    pids = [int(p.read_text()) for p in pidfiles]
    assert all(alive(p) for p in pids)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert not any(alive(p) for p in pids), "a stage's command outlived Ctrl-C"
    assert lock_stages(repo) == {"quick"}  # what finished is recorded, what was cut off is not
    git("add", "-A", cwd=repo)
    res = subprocess.run([sys.executable, "-m", "mlvc", "repro", "--dry"], cwd=repo, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "quick: up to date" in res.stdout and "long1: would run" in res.stdout


def test_dry_says_where_each_stage_would_run(repo, mlvc):
    mlvc("config", "execute.gpus", "2")
    write_pipeline(repo, {
        "train": {"cmd": "'touch model.txt'", "outs": ["model.txt"],
                  "resources": {"gpus": 1, "cpus": 2, "memory": "512M"}},
    })
    res = mlvc("repro", "--dry")
    assert "train: would run: never ran [local; cpus 2, gpus 1, memory 512M]" in res.stdout, res.stdout
    doc = __import__("json").loads(mlvc("repro", "--dry", "--json").stdout)
    runs_on = doc["stages"][0]["runs_on"]
    assert runs_on["backend"] == "local" and runs_on["resources"] == {"cpus": 2, "gpus": 1, "memory": 512 << 20}
    assert not os.path.exists(repo / "model.txt")
