"""Parsing mlvc.yaml: templating, validation, and errors that name the file, the line and the fix."""

# ruff: noqa: E501  (YAML fixtures and expected messages read best on one line)

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mlvc.errors import PipelineError
from mlvc.pipeline import graph, spec


def load(tmp_path: Path, text: str, params: str | None = None, name: str = "mlvc.yaml") -> spec.PipelineFile:
    (tmp_path / name).write_text(text)
    if params is not None:
        (tmp_path / "params.yaml").write_text(params)
    return spec.load(str(tmp_path))


def error(tmp_path: Path, text: str, params: str | None = None, build: bool = True) -> str:
    with pytest.raises(PipelineError) as exc:
        pf = load(tmp_path, text, params)
        if build:
            graph.build(pf)
    return str(exc.value)


def test_keys_and_defaults(tmp_path):
    pf = load(
        tmp_path,
        "stages:\n"
        "  train:\n"
        "    cmd: [python train.py, echo done]\n"
        "    wdir: src\n"
        "    deps: [../data, train.py]\n"
        "    params: [lr, {../conf/model.toml: [depth]}, {extra.json: }]\n"
        "    outs: [model.pkl, {../cache-free: {cache: false, persist: true}}]\n"
        "    metrics: [m.json, {m2.json: {cache: true}}]\n"
        "    plots: [p.csv]\n"
        "    image: python:3.11\n"
        "    resources: {cpus: 2, gpus: 1, memory: 512M}\n"
        "    env: {SEED: 1, FAST: true}\n"
        "    checks: [{path: ../data/x.csv, schema: true, drift: {max_js: 0.2}}]\n",
    )
    s = pf.stages["train"]
    assert s.cmds == ("python train.py", "echo done") and s.wdir == "src"
    assert [d.path for d in s.deps] == ["data", "src/train.py"]
    assert [(p.file, p.keys) for p in s.params] == [
        ("src/params.yaml", ("lr",)), ("conf/model.toml", ("depth",)), ("src/extra.json", None),
    ]  # fmt: skip
    assert [(o.path, o.cache, o.persist, o.kind) for o in s.outs] == [
        ("src/model.pkl", True, False, "outs"),
        ("cache-free", False, True, "outs"),
        ("src/m.json", False, False, "metrics"),  # metrics default to cache: false
        ("src/m2.json", True, False, "metrics"),
        ("src/p.csv", True, False, "plots"),
    ]
    assert s.resources.memory == 512 << 20 and s.resources.gpus == 1
    assert s.env == {"SEED": "1", "FAST": "true"}
    assert s.settings()["image"] == "python:3.11" and s.where == "mlvc.yaml:2"
    # a check's path is relative to wdir, like a dep (here inside the dep folder `data`)
    assert s.checks == [{"path": "data/x.csv", "schema": True, "drift": {"max_js": 0.2}}]
    assert s.settings()["checks"] == s.checks  # the spec is part of the stage's fingerprint


def test_templating_vars_foreach_matrix(tmp_path):
    (tmp_path / "extra.yaml").write_text("sizes: {small: 10, big: 100}\nseed: 7\n")
    pf = load(
        tmp_path,
        "vars:\n"
        "  - extra.yaml\n"
        "  - {models: [cnn, xgb], opts: {depth: 3, fast: true}}\n"
        "stages:\n"
        "  gen:\n"
        "    foreach: ${sizes}\n"
        "    do:\n"
        "      cmd: gen --n ${item} --name ${key} --seed ${seed} --lr ${train.lr}\n"
        "      outs: ['data/${key}.csv']\n"
        "  fit:\n"
        "    foreach: ${models}\n"
        "    do:\n"
        "      cmd: fit ${item} ${opts}\n"
        "      outs: [{'model-${item}.bin': {cache: false}}]\n"
        "  grid:\n"
        "    matrix:\n"
        "      model: ${models}\n"
        "      cfg: [{a: 1}, {a: 2}]\n"
        "    cmd: grid ${item.model} ${item.cfg.a} \\${literal}\n"
        "  rows:\n"
        "    foreach: [{x: 1}, {x: 2}]\n"
        "    do:\n"
        "      cmd: echo ${item.x}\n",
        params="train:\n  lr: 0.01\n",
    )
    st = pf.stages
    assert list(st) == [
        "gen@small", "gen@big", "fit@cnn", "fit@xgb",
        "grid@cnn-cfg0", "grid@cnn-cfg1", "grid@xgb-cfg0", "grid@xgb-cfg1", "rows@0", "rows@1",
    ]  # fmt: skip
    assert st["gen@big"].cmds == ("gen --n 100 --name big --seed 7 --lr 0.01",)
    assert st["gen@big"].outs[0].path == "data/big.csv"
    assert st["fit@xgb"].cmds == ("fit xgb --depth 3 --fast",)  # a mapping renders as flags, as in DVC
    assert st["fit@xgb"].outs[0].path == "model-xgb.bin" and not st["fit@xgb"].outs[0].cache
    assert st["grid@xgb-cfg1"].cmds == ("grid xgb 2 ${literal}",)
    assert st["rows@1"].cmds == ("echo 2",)


def test_no_template_no_params_read(tmp_path):
    # params.yaml is not even valid YAML: a pipeline without ${...} must not read it
    pf = load(tmp_path, "stages:\n  a:\n    cmd: echo hi\n", params="{{{ not yaml")
    assert pf.stages["a"].cmds == ("echo hi",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stages:\n  a:\n    cmd: echo\n    outz: [x]\n", "mlvc.yaml:4: stage 'a': unknown key 'outz' (did you mean 'outs'?)"),
        ("stagez:\n  a:\n    cmd: x\n", "mlvc.yaml:1: unknown top-level key 'stagez' (did you mean 'stages'?)"),
        ("stages:\n  a:\n    deps: [x]\n", "mlvc.yaml:2: stage 'a': missing `cmd`"),
        ("stages:\n  a:\n    cmd: echo ${nope.lr}\n", "mlvc.yaml:3: stage 'a': ${nope.lr} does not resolve: no 'nope' in the variables"),
        ("stages:\n  a:\n    cmd: echo ${train.lx}\n", "does not resolve: no 'lx' in train (did you mean 'lr'?)"),
        ("stages:\n  a:\n    foreach: 3\n    do: {cmd: x}\n", "mlvc.yaml:3: stage 'a': `foreach` must be a list or a mapping"),
        ("stages:\n  a:\n    foreach: ${train.lr}\n    do: {cmd: x}\n", "must be a list or a mapping, not float"),
        ("stages:\n  a:\n    cmd: x\n    outs: [../up]\n", "stage 'a': out '../up' is not a path inside the repository"),
        ("stages:\n  a:\n    cmd: x\n    frozen: maybe\n", "mlvc.yaml:4: stage 'a': `frozen` must be true or false"),
        ("stages:\n  a:\n    cmd: x\n    resources: {gpu: 1}\n", "unknown resource 'gpu' (did you mean 'gpus'?)"),
        ("stages:\n  a:\n    cmd: x\n    resources: {memory: lots}\n", "resources.memory 'lots' is not a size"),
        ("stages:\n  a:\n    cmd: x\n    deps: [f]\n    outs: [f]\n", "'f' is both a dep and an out of this stage"),
        ("stages:\n  a:\n    cmd: x\n  b c:\n    cmd: y\n", "mlvc.yaml:4: stage name 'b c'"),
        ("stages:\n  a:\n    cmd: x\n    deps: [d.csv]\n    checks: {path: d.csv}\n", "mlvc.yaml:5: stage 'a': checks must be a list"),
        (
            "stages:\n  a:\n    cmd: x\n    deps: [d.csv]\n    checks:\n      - path: d.csv\n      - {path: d.csv, rows: 5}\n",
            "mlvc.yaml:7: stage 'a': checks[1]: rows must be a mapping",
        ),
        ("stages:\n  a:\n    cmd: x\n    deps: [d.csv]\n    checks: [{path: e.csv}]\n", "mlvc.yaml:5: stage 'a': checks[0] path 'e.csv' is not one of the stage's deps"),
        ("stages:\n  a:\n    cmd: [x\n", "mlvc.yaml:4: not valid YAML"),
        (
            "stages:\n  a:\n    cmd: x\n    outs: [m]\n  b:\n    cmd: y\n    outs: [m]\n",
            "mlvc.yaml:7: stage 'b': out 'm' is also produced by stage 'a'",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    outs: [d]\n  b:\n    cmd: y\n    outs: [d/sub/f]\n",
            "stage 'b': out 'd/sub/f' is inside 'd', an out of stage 'a'",
        ),
        (
            "stages:\n  a:\n    cmd: x\n    deps: [c]\n    outs: [a]\n"
            "  b:\n    cmd: x\n    deps: [a]\n    outs: [b]\n"
            "  c:\n    cmd: x\n    deps: [b]\n    outs: [c]\n",
            "stages form a cycle: ",
        ),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, expected):
    assert expected in error(tmp_path, text, params="train:\n  lr: 0.1\n")


def test_cycle_names_every_stage(tmp_path):
    msg = error(
        tmp_path,
        "stages:\n  a:\n    cmd: x\n    deps: [c]\n    outs: [a]\n"
        "  b:\n    cmd: x\n    deps: [a]\n    outs: [b]\n"
        "  c:\n    cmd: x\n    deps: [b]\n    outs: [c]\n"
        "  d:\n    cmd: x\n",
    )
    cycle = msg.split("cycle: ")[1].split(" -> ")
    assert set(cycle) == {"a", "b", "c"} and cycle[0] == cycle[-1]


def test_dep_edges_through_folders(tmp_path):
    pf = load(
        tmp_path,
        "stages:\n"
        "  make:\n    cmd: x\n    outs: [out/dir]\n"
        "  inside:\n    cmd: x\n    deps: [out/dir/file.csv]\n"
        "  around:\n    cmd: x\n    deps: [out]\n"
        "  alone:\n    cmd: x\n    deps: [outside]\n",
    )
    g = graph.build(pf)
    assert g.upstream == {"make": set(), "inside": {"make"}, "around": {"make"}, "alone": set()}
    assert g.select(["inside"]) == ["make", "inside"]
    assert g.select(["make"], downstream=True) == ["make", "inside", "around"]
    assert g.select(["out/dir/file.csv"], single=True) == ["make"]
    with pytest.raises(PipelineError, match=r"insid: no such stage .*did you mean 'inside'"):
        g.select(["insid"])
    with pytest.raises(PipelineError, match="no such stage"):
        g.select(["nosuch"])


def test_run_edit_keeps_comments_and_order(tmp_path):
    from mlvc.pipeline import edit

    (tmp_path / "mlvc.yaml").write_text("# top comment\nstages:\n  a:  # stage a\n    cmd: echo a  # why\n")
    body = edit.stage_doc("python t.py", ["a.txt"], ["m.bin"], ["raw/"], ["lr,epochs", "conf.toml:model"],
                          ["metrics.json"], [])  # fmt: skip
    edit.add_stage(str(tmp_path), "b", body)
    text = (tmp_path / "mlvc.yaml").read_text()
    assert text.startswith("# top comment\nstages:\n  a:  # stage a\n    cmd: echo a  # why\n  b:\n")
    stage = spec.load(str(tmp_path)).stages["b"]
    assert [(p.file, p.keys) for p in stage.params] == [("params.yaml", ("lr", "epochs")), ("conf.toml", ("model",))]
    assert [(o.path, o.cache) for o in stage.outs] == [("m.bin", True), ("raw", False), ("metrics.json", False)]


def test_lockfile_round_trip():
    from mlvc.pipeline import lockfile
    from mlvc.pointer import Ref

    lock = lockfile.Lock()
    lock.stages["s@1"] = lockfile.LockEntry(
        {"cmd": ["a: b", "c"], "env": {"X": "1"}, "resources": {"cpus": 2}},
        {"data dir/x": Ref("0123456789abcdef0123456789abcdef", "tree", 10, 2)},
        {"params.yaml": {"lr": 1e-05, "yes": "no", "nested": {"a": [1, 2.5, None]}, "flag": True}},
        {"m.json": lockfile.LockedOut(Ref("e" * 32, "file", 3, 1), cache=False)},
        [{"path": "d.csv", "against": "v1 (0123456789)", "passed": True, "failures": [], "figures": {"x y": {"js": 0.01}}}],
    )
    lock.stages["s@1"].settings["checks"] = [{"path": "d.csv", "drift": {"max_js": 0.1}}]
    buf = io.StringIO()
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        lockfile.write(d, lock, ["s@1"])
        text = open(os.path.join(d, "mlvc.lock")).read()
        buf.write(text)
        again = lockfile.read(d)
    assert again == lock
    # the fast reader of our own layout agrees with the YAML parser
    from mlvc.pipeline.params import load_yaml

    assert lockfile._fast_parse(text) == load_yaml(text, "mlvc.lock")
    assert lockfile._fast_parse(text.replace("schema: 1", "schema: 1\nextra:\n  - odd")) is lockfile._NOT_OURS
    assert lockfile.refs(text) == []  # the only out is not cached


def test_parsed_pipeline_cache_follows_templating_files(tmp_path):
    (tmp_path / ".mlvc" / "tmp").mkdir(parents=True)
    (tmp_path / "vars.yaml").write_text("n: 1\n")
    text = "vars: [vars.yaml]\nstages:\n  a:\n    cmd: echo ${n} ${lr}\n"
    assert load(tmp_path, text, params="lr: 0.1\n").stages["a"].cmds == ("echo 1 0.1",)
    assert (tmp_path / ".mlvc" / "tmp" / "pipeline.pickle").exists()
    assert spec.load(str(tmp_path)).stages["a"].cmds == ("echo 1 0.1",)
    (tmp_path / "params.yaml").write_text("lr: 0.2\n")
    assert spec.load(str(tmp_path)).stages["a"].cmds == ("echo 1 0.2",)
    (tmp_path / "vars.yaml").write_text("n: 2\n")
    assert spec.load(str(tmp_path)).stages["a"].cmds == ("echo 2 0.2",)
