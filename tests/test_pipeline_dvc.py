"""DVC's documented dvc.yaml features run unchanged under mlvc (no mlvc.yaml in the repo)."""

# ruff: noqa: E501  (YAML fixtures and expected messages read best on one line)

from __future__ import annotations

import json
from pathlib import Path

DVC_YAML = """\
vars:
  - config/vars.yaml
  - regions: [us, eu]
stages:
  # foreach over a list of simple values
  split:
    foreach: ${regions}
    do:
      cmd: echo "${item}" > split-${item}.txt && echo split@${item} >> ran.log
      deps: [raw.txt]
      outs:
        - split-${item}.txt
  # foreach over a mapping: ${key} and ${item.field}
  resize:
    foreach: ${sizes}
    do:
      cmd: echo "${key} ${item.w}x${item.h}" > img-${key}.txt && echo resize@${key} >> ran.log
      outs:
        - img-${key}.txt
  # matrix
  fit:
    matrix:
      model: [lin, tree]
      seed: [1, 2]
    cmd: echo ${item.model} ${item.seed} > fit-${item.model}-${item.seed}.txt && echo fit@${item.model}-${item.seed} >> ran.log
    deps: [split-us.txt]
    outs:
      - fit-${item.model}-${item.seed}.txt
  # nested params, params from TOML and JSON, a list cmd
  train:
    cmd:
      - echo lr=${train.optimizer.lr} > model.txt
      - echo train >> ran.log
    deps: [split-us.txt, split-eu.txt]
    params:
      - train.optimizer.lr
      - train.epochs
      - config/model.toml:
          - model.depth
      - config/extra.json:
    outs: [model.txt]
  # wdir: paths, params and the command are relative to it
  report:
    wdir: sub
    cmd: >-
      cat ../model.txt > report.txt && echo report >> ../ran.log && echo '{"acc": 0.5}' > ../metrics.json
    deps: [../model.txt]
    params: [threshold]
    outs: [report.txt]
    metrics:
      - ../metrics.json:
          cache: false
"""


def write_project(root: Path) -> None:
    (root / "config").mkdir()
    (root / "sub").mkdir()
    (root / "config" / "vars.yaml").write_text("sizes:\n  small: {w: 10, h: 5}\n  big: {w: 100, h: 50}\n")
    (root / "config" / "model.toml").write_text("[model]\ndepth = 3\n")
    (root / "config" / "extra.json").write_text('{"batch": 32}')
    (root / "params.yaml").write_text("train:\n  optimizer:\n    lr: 0.1\n    momentum: 0.9\n  epochs: 2\n")
    (root / "sub" / "params.yaml").write_text("threshold: 0.5\n")
    (root / "raw.txt").write_text("raw\n")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / ".gitignore").write_text("ran.log\n")


def ran(root: Path) -> list[str]:
    names = (root / "ran.log").read_text().split() if (root / "ran.log").exists() else []
    (root / "ran.log").write_text("")
    return names


def test_dvc_yaml_pipeline_runs_unchanged(repo, mlvc):
    write_project(repo)
    assert "split@us" in mlvc("dag").stdout
    mlvc("repro")
    assert sorted(ran(repo)) == sorted(
        ["split@us", "split@eu", "resize@small", "resize@big", "fit@lin-1", "fit@lin-2", "fit@tree-1", "fit@tree-2",
         "train", "report"]
    )  # fmt: skip
    assert (repo / "img-big.txt").read_text() == "big 100x50\n"
    assert (repo / "fit-tree-2.txt").read_text() == "tree 2\n"
    assert (repo / "sub" / "report.txt").read_text() == "lr=0.1\n"
    assert not (repo / "dvc.lock").exists()
    lock = (repo / "mlvc.lock").read_text()
    assert "train.optimizer.lr: 0.1" in lock and "model.depth: 3" in lock and "batch: 32" in lock
    assert "threshold: 0.5" in lock and "sub/params.yaml" in lock

    mlvc("repro")
    assert ran(repo) == []

    # an unused nested param: nothing; a used nested param: train, and report because model.txt changed
    (repo / "params.yaml").write_text("train:\n  optimizer:\n    lr: 0.1\n    momentum: 0.5\n  epochs: 2\n")
    mlvc("repro")
    assert ran(repo) == []
    (repo / "params.yaml").write_text("train:\n  optimizer:\n    lr: 0.2\n    momentum: 0.5\n  epochs: 2\n")
    mlvc("repro")
    assert ran(repo) == ["train", "report"]
    # a param in the TOML file, and in the JSON file (whole file tracked)
    (repo / "config" / "model.toml").write_text("[model]\ndepth = 4\n")
    doc = json.loads(mlvc("repro", "--dry", "--json").stdout)
    train = next(s for s in doc["stages"] if s["name"] == "train")
    assert (train["action"], train["reasons"]) == ("would run", ["param config/model.toml:model.depth 3 -> 4"])
    mlvc("repro")
    assert ran(repo) == ["train"]  # same model.txt: report does not rerun
    (repo / "config" / "extra.json").write_text('{"batch": 64}')
    mlvc("repro")
    assert ran(repo) == ["train"]
    # the wdir stage's own params file
    (repo / "sub" / "params.yaml").write_text("threshold: 0.7\n")
    mlvc("repro", "report")
    assert ran(repo) == ["report"]
    # a group target: every stage of a foreach
    mlvc("repro", "-f", "-s", "resize")
    assert sorted(ran(repo)) == ["resize@big", "resize@small"]


def test_missing_dep_and_param_fail_before_anything_runs(repo, mlvc):
    (repo / "params.yaml").write_text("lr: 0.1\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n"
        "  first:\n    cmd: echo first >> ran.log\n"
        "  second:\n    cmd: echo x\n    deps: [nowhere.csv]\n"
    )
    r = mlvc("repro", check=False)
    assert r.returncode == 1
    assert "dvc.yaml:6: stage 'second': dep 'nowhere.csv' does not exist and no stage produces it" in r.stderr
    assert ran(repo) == []
    (repo / "dvc.yaml").write_text("stages:\n  first:\n    cmd: echo first >> ran.log\n    params: [lr, epochs]\n")
    r = mlvc("repro", check=False)
    assert r.returncode == 1 and "dvc.yaml:4: stage 'first': param 'epochs' not found in params.yaml" in r.stderr
    assert ran(repo) == []


def test_dvc_lock_that_matches_is_adopted_without_running(repo, mlvc):
    import hashlib

    def md5(p: Path) -> str:
        return hashlib.md5(p.read_bytes()).hexdigest()

    (repo / "params.yaml").write_text("lr: 0.1\n")
    (repo / "in.txt").write_text("hello\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n"
        "  a:\n    cmd: echo a >> ran.log && cat in.txt > a.txt\n    deps: [in.txt]\n    params: [lr]\n    outs: [a.txt]\n"
        "  b:\n    cmd: echo b >> ran.log && cat a.txt a.txt > b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n"
    )
    (repo / "a.txt").write_text("hello\n")
    (repo / "b.txt").write_text("hello\nhello\n")
    entry = "    - path: {p}\n      hash: md5\n      md5: {m}\n      size: {s}\n"
    f = lambda p: entry.format(p=p, m=md5(repo / p), s=(repo / p).stat().st_size)  # noqa: E731
    lock = (
        "schema: '2.0'\nstages:\n"
        "  a:\n    cmd: echo a >> ran.log && cat in.txt > a.txt\n    deps:\n" + f("in.txt")
        + "    params:\n      params.yaml:\n        lr: 0.1\n    outs:\n" + f("a.txt")
        + "  b:\n    cmd: echo b >> ran.log && cat a.txt a.txt > b.txt\n    deps:\n" + f("a.txt")
        + "    outs:\n" + f("b.txt")
    )  # fmt: skip
    (repo / "dvc.lock").write_text(lock)
    mlvc("repro")
    assert ran(repo) == []
    assert "  a:" in (repo / "mlvc.lock").read_text() and "  b:" in (repo / "mlvc.lock").read_text()
    # as after `git checkout` of another commit: the committed dvc.lock and the files move together,
    # the untracked mlvc.lock does not; dvc.lock wins where the workspace agrees with it
    (repo / "in.txt").write_text("other\n")
    (repo / "a.txt").write_text("other\n")
    (repo / "b.txt").write_text("other\nother\n")
    new_lock = (
        "schema: '2.0'\nstages:\n"
        "  a:\n    cmd: echo a >> ran.log && cat in.txt > a.txt\n    deps:\n" + f("in.txt")
        + "    params:\n      params.yaml:\n        lr: 0.1\n    outs:\n" + f("a.txt")
        + "  b:\n    cmd: echo b >> ran.log && cat a.txt a.txt > b.txt\n    deps:\n" + f("a.txt")
        + "    outs:\n" + f("b.txt")
    )  # fmt: skip
    (repo / "dvc.lock").write_text(new_lock)
    mlvc("repro")
    assert ran(repo) == []
    # a dvc.lock that no longer matches (b.txt edited) is not trusted for that stage
    (repo / "mlvc.lock").unlink()
    (repo / "b.txt").write_text("edited\n")
    mlvc("repro")
    assert ran(repo) == ["b"]
    (repo / "params.yaml").write_text("lr: 0.2\n")
    mlvc("repro")
    assert ran(repo) == ["a"]  # same a.txt: b does not rerun
