"""The no-op memo (mlvc.pipeline.noop): a repro with nothing changed answers from stats, and any
change to what the verdict rests on (a dep file or folder, an out, params, the pipeline file, the
lock, ignore rules) brings back the full check. Real CLI runs; stage commands log to ran.log.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

PIPELINE = """\
stages:
  s1:
    cmd: python3 -c "import os; open('s1.txt','w').write(str(sorted(os.listdir('data'))))" && echo s1 >> ran.log
    deps: [data]
    params: [p]
    outs: [s1.txt]
  s2:
    cmd: cp s1.txt s2.txt && echo s2 >> ran.log
    deps: [s1.txt]
    outs: [s2.txt]
"""
MEMO = Path(".mlvc", "tmp", "repro-noop")


def ran(root: Path) -> list[str]:
    log = root / "ran.log"
    names = log.read_text().split() if log.exists() else []
    log.write_text("")
    return names


def actions(mlvc, *args: str) -> dict[str, str]:
    doc = json.loads(mlvc("repro", "--json", *args).stdout)
    return {s["name"]: s["action"] for s in doc["stages"]}


def setup(repo: Path, mlvc) -> None:
    (repo / "data" / "sub").mkdir(parents=True)
    (repo / "data" / "a.txt").write_text("aaa")
    (repo / "data" / "sub" / "b.txt").write_text("bbb")
    (repo / "params.yaml").write_text("p: 1\n")
    (repo / "mlvc.yaml").write_text(PIPELINE)
    (repo / ".gitignore").write_text("ran.log\n")
    mlvc("add", "data")
    mlvc("repro")
    assert ran(repo) == ["s1", "s2"]
    assert actions(mlvc) == {"s1": "up-to-date", "s2": "up-to-date"}  # the full check: writes the memo
    assert (repo / MEMO).exists()


def test_noop_answers_from_the_memo_with_the_same_output(repo: Path, mlvc) -> None:
    setup(repo, mlvc)
    memo = (repo / MEMO).read_bytes()
    out = mlvc("repro").stdout
    assert out == "Stage 's1' is up to date.\nStage 's2' is up to date.\nEverything is up to date.\n"
    assert actions(mlvc) == {"s1": "up-to-date", "s2": "up-to-date"}
    assert mlvc("repro", "--dry").stdout == "s1: up to date\ns2: up to date\n"
    assert mlvc("repro", "--dry").stdout == "s1: up to date\ns2: up to date\n"  # --dry has its own memo
    assert mlvc("repro", "s1").stdout == "Stage 's1' is up to date.\nEverything is up to date.\n"
    assert mlvc("repro", "s1").stdout == "Stage 's1' is up to date.\nEverything is up to date.\n"
    assert ran(repo) == []
    assert (repo / MEMO).read_bytes() != memo  # the last question asked is the one memoised


def test_every_input_of_the_verdict_invalidates_it(repo: Path, mlvc) -> None:
    setup(repo, mlvc)
    changes = [
        ("a dep file in a folder, same size", lambda: (repo / "data" / "a.txt").write_text("AAA"), {"s1": "ran"}),
        ("a file added to a subfolder", lambda: (repo / "data" / "sub" / "c.txt").write_text("c"), {"s1": "ran"}),
        ("an ignore rule", lambda: (repo / ".mlvcignore").write_text("c.txt\n"), {"s1": "ran"}),
        ("a param", lambda: (repo / "params.yaml").write_text("p: 2\n"), {"s1": "ran"}),
        ("the pipeline file", lambda: (repo / "mlvc.yaml").write_text(PIPELINE.replace("cp s1", "cp -f s1")),
         {"s2": "ran"}),
        ("an out, deleted", lambda: (repo / "s2.txt").unlink(), {"s2": "restored"}),
        ("the lock, deleted", lambda: (repo / "mlvc.lock").unlink(), {"s1": "ran", "s2": "ran"}),
    ]  # fmt: skip
    for what, change, expected in changes:
        change()
        got = {n: "ran" if a == "run-cache" else a for n, a in actions(mlvc).items()}  # rerun or replayed
        assert {n: a for n, a in got.items() if a != "up-to-date"} == expected, what
        assert actions(mlvc) == {"s1": "up-to-date", "s2": "up-to-date"}, what  # full check: memo again
        assert actions(mlvc) == {"s1": "up-to-date", "s2": "up-to-date"}, what  # from the memo
        ran(repo)


def test_an_out_changed_in_place_is_seen(repo: Path, mlvc) -> None:
    setup(repo, mlvc)
    (repo / "s2.txt").chmod(0o644)
    with open(repo / "s2.txt", "r+") as f:  # same inode, same size: only mtime tells
        f.write("X")
    assert actions(mlvc) == {"s1": "up-to-date", "s2": "run-cache"}  # stale: its run is replayed


def test_a_forced_run_drops_the_memo(repo: Path, mlvc) -> None:
    setup(repo, mlvc)
    mlvc("repro", "--force", "--single-item", "s2")
    assert not (repo / MEMO).exists()
    assert ran(repo) == ["s2"]


def test_the_memo_does_not_skip_the_repository_lock(repo: Path, mlvc) -> None:
    """While another command holds the lock, a no-op repro waits for it like any other."""
    setup(repo, mlvc)
    mlvc("config", "core.lock_timeout", "0.3")
    mlvc("repro")  # the config changed: full check, memo again
    assert mlvc("repro").returncode == 0
    fd = os.open(repo / ".mlvc" / "tmp" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        res = mlvc("repro", check=False)
        assert res.returncode != 0 and "holds the repository lock" in res.stderr
        assert mlvc("repro", "--dry").returncode == 0  # --dry never takes the lock
    finally:
        os.close(fd)
