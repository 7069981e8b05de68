"""Adding a stage to the pipeline file (`mlvc run`), keeping the user's comments and order."""

from __future__ import annotations

import io
import os
from typing import Any

from mlvc.errors import PipelineError
from mlvc.links import write_bytes_atomic
from mlvc.pipeline import graph, spec


def stage_doc(
    cmd: str,
    deps: list[str],
    outs: list[str],
    outs_no_cache: list[str],
    params: list[str],
    metrics: list[str],
    plots: list[str],
    wdir: str | None = None,
    always_changed: bool = False,
) -> dict[str, Any]:
    """The mlvc.yaml mapping for `mlvc run` options, in DVC's key order."""
    doc: dict[str, Any] = {"cmd": cmd}
    if wdir:
        doc["wdir"] = wdir
    if deps:
        doc["deps"] = list(deps)
    if params:
        doc["params"] = _params(params)
    all_outs: list[Any] = list(outs) + [{o: {"cache": False}} for o in outs_no_cache]
    if all_outs:
        doc["outs"] = all_outs
    if metrics:
        doc["metrics"] = list(metrics)
    if plots:
        doc["plots"] = list(plots)
    if always_changed:
        doc["always_changed"] = True
    return doc


def _params(specs: list[str]) -> list[Any]:
    """`-p lr,train.epochs` -> keys from params.yaml; `-p conf.toml:model,seed` -> {conf.toml: [...]}."""
    keys: list[str] = []
    files: dict[str, list[str]] = {}
    for item in specs:
        file, sep, names = item.rpartition(":")
        parts = [p.strip() for p in names.split(",") if p.strip()]
        if sep and file:
            files.setdefault(file, []).extend(parts)
        else:
            keys.extend(parts)
    return keys + [{f: k} for f, k in files.items()]


def add_stage(root: str, name: str, body: dict[str, Any], force: bool = False) -> spec.PipelineFile:
    """Add (or with `force` replace) stage `name`; validates the whole pipeline before writing."""
    if not spec.NAME_RE.match(name) or "@" in name:
        raise PipelineError(f"stage name {name!r}: use letters, digits, '_', '-' and '.'")
    file = spec.find(root) or spec.PIPELINE_FILES[0]
    path = os.path.join(root, file)
    doc = spec.read_rt(root, file) if os.path.exists(path) else None
    from ruamel.yaml.comments import CommentedMap

    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, dict):
        raise PipelineError(f"{file}:1: expected a mapping with a `stages:` key")
    stages = doc.get("stages")
    if stages is None:
        stages = doc["stages"] = CommentedMap()
    if not isinstance(stages, dict):
        raise PipelineError(f"{file}: `stages` must be a mapping of stage names")
    if name in stages and not force:
        where = spec._at(file, stages, name)
        raise PipelineError(f"{where}: stage {name!r} already exists (use --force to replace it)")
    stages[name] = _rt(body)
    pf = spec.parse(root, file, doc)
    graph.build(pf)  # duplicate outs, nested outs and cycles fail here, before anything is written
    buf = io.StringIO()
    spec.yaml_rt().dump(doc, buf)
    write_bytes_atomic(path, buf.getvalue().encode("utf-8"))
    return pf


def _rt(value: Any) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        m = CommentedMap()
        for k, v in value.items():
            m[k] = _rt(v)
        if all(not isinstance(v, (dict, list)) for v in value.values()) and len(value) == 1 and "cache" in value:
            m.fa.set_flow_style()
        return m
    if isinstance(value, list):
        s = CommentedSeq()
        s.extend(_rt(v) for v in value)
        return s
    return value
