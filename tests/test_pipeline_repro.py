"""`mlvc repro` end to end: exactly what is stale runs, restores, run cache, failures, Ctrl-C.

Every stage command appends its name to ran.log; tests assert on that, not on messages.
"""

# ruff: noqa: E501  (YAML fixtures and expected messages read best on one line)

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from wshelpers import object_path

PIPELINE = """\
# a 3-stage pipeline; this comment must survive `mlvc run`
stages:
  prepare:
    cmd: python3 -c "import sys; d=open('data/raw.csv').read(); open('prepared.csv','w').write(d.upper())" && echo prepare >> ran.log
    deps: [data/raw.csv]
    params: [prepare.split]
    outs: [prepared.csv]
  train:
    cmd: echo "lr=${train.lr}" > model.txt && cat prepared.csv >> model.txt && echo train >> ran.log
    deps: [prepared.csv]
    params: [train.lr]
    outs: [model.txt]
  evaluate:
    cmd: >-
      python3 -c "import json; json.dump({'acc': len(open('model.txt').read())}, open('metrics.json','w'))"
      && echo evaluate >> ran.log
    deps: [model.txt]
    metrics: [metrics.json]
"""  # noqa: E501

PARAMS = "prepare:\n  split: 0.2\ntrain:\n  lr: 0.1\nunused: 1\n"


def ran(root: Path) -> list[str]:
    log = root / "ran.log"
    names = log.read_text().split() if log.exists() else []
    log.write_text("")
    return names


def setup_pipeline(root: Path) -> None:
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("a,b\n1,2\n")
    (root / "mlvc.yaml").write_text(PIPELINE)
    (root / "params.yaml").write_text(PARAMS)
    (root / ".gitignore").write_text("ran.log\n")


def lock(root: Path) -> str:
    return (root / "mlvc.lock").read_text()


def test_first_run_then_noop_and_lock_contents(repo, mlvc):
    setup_pipeline(repo)
    mlvc("repro")
    assert ran(repo) == ["prepare", "train", "evaluate"]
    text = lock(repo)
    assert text.splitlines()[1] == "schema: 1"
    assert "train.lr: 0.1" in text and "cache: false" in text  # metrics are not cached by default
    assert "/prepared.csv" in (repo / ".gitignore").read_text().splitlines()
    assert "/metrics.json" not in (repo / ".gitignore").read_text()
    mlvc("repro")
    assert ran(repo) == []
    assert lock(repo) == text


def test_invalidation_is_precise(repo, mlvc):
    setup_pipeline(repo)
    mlvc("repro")
    ran(repo)
    # an unused param: nothing runs
    (repo / "params.yaml").write_text(PARAMS.replace("unused: 1", "unused: 2"))
    mlvc("repro")
    assert ran(repo) == []
    # a used param: its stage and what reads its (changed) out
    (repo / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.01"))
    dry = mlvc("repro", "--dry").stdout
    assert "train: would run: cmd changed; param train.lr 0.1 -> 0.01" in dry
    mlvc("repro")
    assert ran(repo) == ["train", "evaluate"]
    # a dep: the first stage, and the wave goes on because its out changed
    (repo / "data" / "raw.csv").write_text("a,b\n1,3\n")
    status = json.loads(mlvc("status", "--json").stdout)
    assert status["stages"][0] == {"name": "prepare", "action": "run", "reasons": ["dep data/raw.csv changed"]}
    mlvc("repro")
    assert ran(repo) == ["prepare", "train", "evaluate"]
    # the command of the last stage only
    (repo / "mlvc.yaml").write_text(PIPELINE.replace("{'acc': len(", "{'accuracy': len("))
    mlvc("repro")
    assert ran(repo) == ["evaluate"]
    assert "accuracy" in (repo / "metrics.json").read_text()


def test_identical_output_stops_the_wave(repo, mlvc):
    setup_pipeline(repo)
    mlvc("repro")
    ran(repo)
    # upper() maps both to the same prepared.csv: prepare reruns, train and evaluate do not
    (repo / "data" / "raw.csv").write_text("A,b\n1,2\n")
    mlvc("repro")
    assert ran(repo) == ["prepare"]


def test_deleted_out_is_restored_not_rerun(repo, mlvc):
    setup_pipeline(repo)
    mlvc("repro")
    ran(repo)
    before = (repo / "model.txt").read_bytes()
    (repo / "model.txt").unlink()
    status = mlvc("status").stdout
    assert "missing  stage train: out model.txt missing" in status
    mlvc("repro")
    assert ran(repo) == []
    assert (repo / "model.txt").read_bytes() == before


def test_run_cache_restores_an_earlier_param_value(repo, mlvc):
    setup_pipeline(repo)
    mlvc("repro")
    first_model = (repo / "model.txt").read_bytes()
    (repo / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.5"))
    mlvc("repro")
    ran(repo)
    (repo / "params.yaml").write_text(PARAMS)
    out = mlvc("repro", "--json").stdout
    assert ran(repo) == []
    actions = {s["name"]: s["action"] for s in json.loads(out)["stages"]}
    assert actions == {"prepare": "up-to-date", "train": "run-cache", "evaluate": "run-cache"}
    assert (repo / "model.txt").read_bytes() == first_model
    assert "train.lr: 0.1" in lock(repo)
    # --force runs commands even though the run cache has them
    mlvc("repro", "-f", "-s", "train")
    assert ran(repo) == ["train"]


def test_failing_stage_records_nothing_and_keeps_earlier_outs(repo, mlvc):
    setup_pipeline(repo)
    (repo / "mlvc.yaml").write_text(
        PIPELINE.replace('cat prepared.csv >> model.txt && echo train >> ran.log', 'echo "boom - bad lr" >&2; exit 7')
    )
    r = mlvc("repro", check=False)
    assert r.returncode == 1
    assert "stage 'train' exit code 7" in r.stderr and "boom - bad lr" in r.stderr
    assert "Traceback" not in r.stderr
    assert ran(repo) == ["prepare"]
    text = lock(repo)
    assert "  prepare:" in text and "  train:" not in text and "  evaluate:" not in text
    assert (repo / "prepared.csv").exists()
    # fixed: only the failed stage and what follows run
    (repo / "mlvc.yaml").write_text(PIPELINE)
    mlvc("repro")
    assert ran(repo) == ["train", "evaluate"]


def test_keep_going_runs_independent_stages(repo, mlvc):
    (repo / "mlvc.yaml").write_text(
        "stages:\n"
        "  bad:\n    cmd: exit 3\n    outs: [b.txt]\n"
        "  after_bad:\n    cmd: echo x > c.txt\n    deps: [b.txt]\n    outs: [c.txt]\n"
        "  good:\n    cmd: echo good >> ran.log && echo ok > g.txt\n    outs: [g.txt]\n"
    )
    r = mlvc("repro", "--keep-going", "--json", check=False)
    assert r.returncode == 1
    assert ran(repo) == ["good"]
    assert "  good:" in lock(repo) and "  bad:" not in lock(repo)


def test_missing_out_of_a_command_is_a_failure(repo, mlvc):
    (repo / "mlvc.yaml").write_text("stages:\n  s:\n    cmd: echo hi\n    outs: [never.txt]\n")
    r = mlvc("repro", check=False)
    assert r.returncode == 1 and "did not create never.txt" in r.stderr
    assert not (repo / "mlvc.lock").exists()


def test_ctrl_c_ends_the_command_and_keeps_the_lock_consistent(repo):
    (repo / "mlvc.yaml").write_text(
        "stages:\n"
        "  quick:\n    cmd: echo q > q.txt\n    outs: [q.txt]\n"
        "  slow:\n    cmd: echo started > started && sleep 30 && echo done > s.txt\n    deps: [q.txt]\n    outs: [s.txt]\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlvc", "repro"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a background shell may start us with SIGINT ignored; a user's terminal does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 20
    while not (repo / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (repo / "started").exists()
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert time.monotonic() - t0 < 10
    # the sleep is gone with its process group
    ps = subprocess.run(["pgrep", "-f", "sleep 30"], capture_output=True, text=True).stdout.split()
    assert not [pid for pid in ps if _cwd(pid) == str(repo)]
    text = lock(repo)
    assert "  quick:" in text and "  slow:" not in text
    assert not (repo / "s.txt").exists()


def _cwd(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def test_mlvc_run_adds_a_stage_keeping_comments(repo, mlvc):
    setup_pipeline(repo)
    mlvc("run", "-n", "report", "-d", "metrics.json", "-o", "report.txt", "-p", "train.lr",
         "python3", "-c", "print('report')", ">", "report.txt")  # fmt: skip
    text = (repo / "mlvc.yaml").read_text()
    assert text.startswith("# a 3-stage pipeline; this comment must survive `mlvc run`")
    assert "  report:\n" in text and """cmd: python3 -c "print('report')" > report.txt""" in text
    assert text.index("evaluate:") < text.index("report:")
    # it ran, and its upstream ran first (nothing existed yet)
    assert (repo / "report.txt").read_text() == "report\n"
    assert "  report:" in lock(repo)
    r = mlvc("run", "-n", "report", "-o", "prepared.csv", "echo", check=False)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = mlvc("run", "-f", "-n", "report", "-o", "prepared.csv", "echo", check=False)
    assert r.returncode == 1 and "also produced by stage 'prepare'" in r.stderr
    assert (repo / "mlvc.yaml").read_text() == text  # nothing written for a bad stage


def test_dag_formats(repo, mlvc):
    setup_pipeline(repo)
    doc = json.loads(mlvc("dag", "--json").stdout)
    assert [n["name"] for n in doc["nodes"]] == ["prepare", "train", "evaluate"]
    assert {(e["from"], e["to"]) for e in doc["edges"]} == {("prepare", "train"), ("train", "evaluate")}
    assert '"prepare" -> "train";' in mlvc("dag", "--dot").stdout
    assert "s0 --> s1" in mlvc("dag", "--mermaid").stdout
    text = mlvc("dag", "train").stdout
    assert "prepare" in text and "train" in text and "evaluate" not in text


def test_persist_out_is_appended_without_touching_the_cache(repo, mlvc):
    mlvc("config", "core.link", "hardlink")
    x, y = "x\n" * 100_000, "y\n"  # log.txt is over packs.SMALL: a loose object, hard-linked
    (repo / "in.txt").write_text(x)
    (repo / "mlvc.yaml").write_text(
        "stages:\n  p:\n    cmd: cat in.txt >> log.txt\n    deps: [in.txt]\n    outs:\n      - log.txt: {persist: true}\n"
    )
    mlvc("repro")
    h = lock(repo).split("path: log.txt")[1].split("hash: ")[1].split()[0].strip('"')
    assert os.stat(repo / "log.txt").st_ino == object_path(repo, h).stat().st_ino
    (repo / "in.txt").write_text(y)
    mlvc("repro")
    assert (repo / "log.txt").read_text() == x + y  # persist: the command saw its last content
    assert object_path(repo, h).read_text() == x  # and the cached object of that content did not change
