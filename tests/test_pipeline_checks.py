"""`checks:` in mlvc.yaml gates a stage: its data checks run before its command, a failure fails the
stage like a failing command (the command never starts, nothing recorded), and the results of passing
checks are recorded with the stage in mlvc.lock. Real CLI, real git, small generated CSVs."""

# ruff: noqa: E501  (YAML fixtures and expected messages read best on one line)

from __future__ import annotations

import json
import random
from pathlib import Path

from conftest import git

PIPELINE = """\
stages:
  train:
    cmd: cp data/train.csv model.txt && echo train >> ran.log
    deps: [data/train.csv]
    outs: [model.txt]
    checks:
      - path: data/train.csv
        ref: {ref}
        schema: true
        drift: {{max_js: 0.1}}
  other:
    cmd: echo other > other.txt && echo other >> ran.log
    deps: [data/other.csv]
    outs: [other.txt]
"""


def write_csv(root: Path, mean: float = 10.0, drop_city: bool = False, seed: int = 1) -> None:
    rnd = random.Random(seed)
    head = "id,x" if drop_city else "id,x,city"
    rows = [head]
    for i in range(300):
        x = f"{rnd.gauss(mean, 1.0):.3f}"
        city = rnd.choice(["lyon", "oslo", "rome"])
        rows.append(f"{i},{x}" if drop_city else f"{i},{x},{city}")
    (root / "data" / "train.csv").write_text("\n".join(rows) + "\n")


def ran(root: Path) -> list[str]:
    log = root / "ran.log"
    names = log.read_text().split() if log.exists() else []
    log.write_text("")
    return names


def lock_doc(root: Path) -> dict:
    from mlvc.pipeline import lockfile

    return lockfile.read(str(root)).stages


def setup(repo: Path, mlvc, ref: str = "HEAD") -> None:
    (repo / "data").mkdir()
    write_csv(repo)
    (repo / "data" / "other.csv").write_text("a\n1\n")
    (repo / "mlvc.yaml").write_text(PIPELINE.format(ref=ref))
    (repo / ".gitignore").write_text("ran.log\n")
    mlvc("add", "data/train.csv")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)


def test_checks_pass_on_unchanged_data_and_are_recorded(repo, mlvc):
    setup(repo, mlvc)
    dry = mlvc("repro", "--dry").stdout
    assert "train: would run: never ran [local; 1 data check first]" in dry
    assert "other: would run: never ran [local]" in dry  # no checks, no mention

    mlvc("repro")
    assert sorted(ran(repo)) == ["other", "train"]
    entry = lock_doc(repo)["train"]
    assert entry.settings["checks"] == [{"path": "data/train.csv", "ref": "HEAD", "schema": True, "drift": {"max_js": 0.1}}]
    [result] = entry.check_results
    assert result["passed"] is True and result["failures"] == [] and result["path"] == "data/train.csv"
    assert result["against"].startswith("HEAD (") and result["data_hash"] == entry.deps["data/train.csv"].hash
    assert set(result["figures"]) == {"id", "x", "city"} and result["figures"]["x"] == {"js": 0.0}
    assert lock_doc(repo)["other"].check_results == []
    assert "check_results:" in (repo / "mlvc.lock").read_text()

    # a no-op repro runs no check (and so imports no pyarrow: tests/test_imports.py covers status)
    assert "Everything is up to date." in mlvc("repro").stdout and ran(repo) == []
    # a changed threshold is a changed spec: the stage is stale ("checks changed") and reruns
    (repo / "mlvc.yaml").write_text(PIPELINE.format(ref="HEAD").replace("max_js: 0.1", "max_js: 0.2"))
    assert "train: would run: checks changed" in mlvc("repro", "--dry").stdout


def test_dropped_column_fails_the_stage_before_its_command(repo, mlvc):
    setup(repo, mlvc)
    mlvc("repro")
    ran(repo)
    before = (repo / "mlvc.lock").read_text()
    write_csv(repo, drop_city=True)

    r = mlvc("repro", check=False)
    assert r.returncode == 1
    assert ran(repo) == []  # neither the gated command nor (serial, no --keep-going) anything after it
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mlvc: error: mlvc.yaml:2: stage train: data check failed: data/train.csv: column 'city' removed against HEAD (")
    assert lines[0].endswith("nothing recorded for it in mlvc.lock")
    assert (repo / "mlvc.lock").read_text() == before  # nothing recorded


def test_shifted_mean_fails_in_parallel_and_keep_going_runs_the_rest(repo, mlvc):
    setup(repo, mlvc)
    mlvc("repro")
    ran(repo)
    before = lock_doc(repo)
    write_csv(repo, mean=11.5)  # a shift of 1.5 standard deviations
    (repo / "data" / "other.csv").write_text("a\n2\n")  # the independent stage is stale too

    r = mlvc("repro", "-j", "2", "--keep-going", check=False)
    assert r.returncode == 1
    assert ran(repo) == ["other"]  # the gated command never started; the independent stage ran
    [line] = [line for line in r.stderr.splitlines() if line.startswith("mlvc: error:")]
    assert "stage train: data check failed: data/train.csv: column 'x': js 0." in line and "> 0.1 against HEAD (" in line
    after = lock_doc(repo)
    assert after["train"] == before["train"]  # nothing recorded for the failed stage
    assert after["other"].deps != before["other"].deps  # the one that ran is recorded

    # --json keeps the failure contract (exit 1, the message on stderr)
    r = mlvc("repro", "--json", check=False)
    assert r.returncode == 1 and "column 'x': js 0." in r.stderr and ran(repo) == []


def test_a_changed_check_result_alone_does_not_make_a_stage_stale(repo, mlvc):
    # the reference is a tag; after the stage ran, the tag moves to a commit whose data differs
    setup(repo, mlvc, ref="base")
    git("tag", "base", cwd=repo)
    mlvc("repro")
    ran(repo)
    recorded = json.dumps(lock_doc(repo)["train"].check_results)
    write_csv(repo, mean=13.0)
    mlvc("add", "data/train.csv")
    git("commit", "-qam", "shifted", cwd=repo)
    git("tag", "-f", "base", cwd=repo)
    write_csv(repo)  # back to the data the stage ran on
    mlvc("add", "data/train.csv")
    git("commit", "-qam", "v1 again", cwd=repo)

    # same data, same spec: up to date, although the checks would now fail against the moved tag
    assert "Everything is up to date." in mlvc("repro").stdout and ran(repo) == []
    assert json.dumps(lock_doc(repo)["train"].check_results) == recorded
    r = mlvc("repro", "-f", "train", check=False)  # forced: the checks run again, and fail
    assert r.returncode == 1 and "column 'x': js " in r.stderr and "against base (" in r.stderr
    assert ran(repo) == []


def test_bad_checks_spec_is_a_file_line_error_before_anything_runs(repo, mlvc):
    setup(repo, mlvc)
    text = PIPELINE.format(ref="HEAD")
    (repo / "mlvc.yaml").write_text(text.replace("max_js: 0.1", "max_js: -1"))
    r = mlvc("repro", check=False)
    assert r.returncode == 1 and ran(repo) == [] and not (repo / "mlvc.lock").exists()
    assert r.stderr.strip() == "mlvc: error: mlvc.yaml:7: stage 'train': checks[0]: drift.max_js must be a non-negative number, not -1"

    (repo / "mlvc.yaml").write_text(text.replace("        schema: true\n", "        schema: true\n        colums: [x]\n"))
    r = mlvc("repro", check=False)
    assert r.returncode == 1 and ran(repo) == []
    assert r.stderr.startswith("mlvc: error: mlvc.yaml:7: stage 'train': checks[0]: unknown key 'colums'")
