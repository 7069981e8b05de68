"""Parse and validate `mlvc.yaml` (or, where there is none, `dvc.yaml`) into Stage objects.

Keys are DVC's plus mlvc's own (`image`, `resources`, `env`, `checks`). `foreach`/`do` and
`matrix` expand one definition into several stages named `NAME@KEY`. Every error names the
file and line (ruamel's round-trip loader keeps them) and what to change.
"""

from __future__ import annotations

import difflib
import itertools
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import PipelineError
from mlvc.execute.base import Resources
from mlvc.pipeline import params as params_mod
from mlvc.pipeline.template import Context, has_template, resolve

PIPELINE_FILES = ("mlvc.yaml", "dvc.yaml")
LOCK_FOR = {"mlvc.yaml": "mlvc.lock", "dvc.yaml": "mlvc.lock"}  # mlvc never writes dvc.lock
TOP_KEYS = ("stages", "vars", "plots", "metrics", "params", "artifacts", "datasets", "schema")
STAGE_KEYS = (
    "cmd", "wdir", "deps", "params", "outs", "metrics", "plots", "frozen", "always_changed",
    "vars", "desc", "meta", "image", "resources", "env", "checks", "network",
)  # fmt: skip
TEMPLATE_KEYS = ("foreach", "do", "matrix")
OUT_OPTIONS = (
    "cache", "persist", "desc", "remote", "push", "type", "labels", "meta", "checkpoint",
    "x", "y", "template", "title", "x_label", "y_label", "header",
)  # fmt: skip
RESOURCE_KEYS = ("cpus", "gpus", "memory")
OUT_KINDS = ("outs", "metrics", "plots")
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Dep:
    path: str  # repo-relative, posix
    where: str


@dataclass(frozen=True)
class Out:
    path: str
    cache: bool
    persist: bool
    kind: str  # outs, metrics or plots
    where: str


@dataclass(frozen=True)
class ParamDecl:
    file: str  # repo-relative
    keys: tuple[str, ...] | None  # None: every key in the file
    where: str


@dataclass
class Stage:
    name: str
    cmds: tuple[str, ...]
    wdir: str = ""  # repo-relative ("" = the repo root)
    deps: list[Dep] = field(default_factory=list)
    params: list[ParamDecl] = field(default_factory=list)
    outs: list[Out] = field(default_factory=list)
    frozen: bool = False
    always_changed: bool = False
    image: str | None = None
    resources: Resources = Resources()
    env: dict[str, str] = field(default_factory=dict)
    checks: list[dict[str, Any]] | None = None  # as written (paths repo-relative); run by mlvc.data.checks
    desc: str | None = None
    network: bool = False  # image stages: the container gets a network only when this is set
    image_id: str | None = None  # the image's ID (sha256:...), filled in by repro from the engine
    where: str = ""  # "mlvc.yaml:12"

    @property
    def cmd(self) -> str | list[str]:
        return self.cmds[0] if len(self.cmds) == 1 else list(self.cmds)

    def settings(self) -> dict[str, Any]:
        """What, besides deps and params, makes a run of this stage what it is (lock + run cache)."""
        doc: dict[str, Any] = {"cmd": self.cmd}
        if self.wdir:
            doc["wdir"] = self.wdir
        if self.image:
            doc["image"] = self.image
        if self.image_id:
            doc["image_id"] = self.image_id
        if self.network:
            doc["network"] = True
        if self.env:
            doc["env"] = dict(sorted(self.env.items()))
        res = self.resources.to_dict()
        if res:
            doc["resources"] = res
        if self.checks is not None:
            doc["checks"] = self.checks
        return doc


@dataclass
class PipelineFile:
    path: str  # repo-relative name: mlvc.yaml or dvc.yaml
    stages: dict[str, Stage]
    reads: list[str] = field(default_factory=list)  # files templating read (params.yaml, `vars` files)

    @property
    def lock_path(self) -> str:
        return LOCK_FOR[self.path]


def find(root: str) -> str | None:
    """The pipeline file in use: mlvc.yaml, else dvc.yaml, else None."""
    for name in PIPELINE_FILES:
        if os.path.isfile(os.path.join(root, name)):
            return name
    return None


def yaml_rt():
    from ruamel.yaml import YAML

    y = YAML(typ="rt", pure=True)
    y.indent(mapping=2, sequence=4, offset=2)
    y.preserve_quotes = True
    y.width = 4096
    return y


def read_rt(root: str, name: str) -> Any:
    """The pipeline file as a round-trip document (comments, order and line numbers kept)."""
    return _parse_rt(_read_bytes(root, name).decode("utf-8"), name)


def _read_bytes(root: str, name: str) -> bytes:
    try:
        with open(os.path.join(root, name), "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise PipelineError(f"{name}: no such file") from None


def _parse_rt(text: str, name: str) -> Any:
    from ruamel.yaml.error import YAMLError

    try:
        return yaml_rt().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError(f"{name}{line}: not valid YAML ({problem})") from None


def load(root: str, name: str | None = None) -> PipelineFile:
    name = name or find(root)
    if name is None:
        raise PipelineError("no mlvc.yaml (or dvc.yaml) in the repository root; add a stage with `mlvc run`")
    from mlvc.pipeline import speccache

    data = _read_bytes(root, name)
    cached = speccache.get(root, name, data)
    if cached is not None:
        return cached
    reads: list[str] = []
    pf = parse(root, name, _parse_rt(data.decode("utf-8"), name), reads)
    speccache.put(root, name, data, reads, pf)
    return pf


def parse(root: str, name: str, doc: Any, reads: list[str] | None = None) -> PipelineFile:
    """Stages from a loaded document; `reads` collects the files read for templating."""
    if doc is None:
        return PipelineFile(name, {})
    if not isinstance(doc, dict):
        raise PipelineError(f"{name}:1: expected a mapping with a `stages:` key")
    for key in doc:
        if key not in TOP_KEYS:
            raise PipelineError(f"{_at(name, doc, key)}: unknown top-level key {key!r}{_suggest(key, TOP_KEYS)}")
    ctx = Context(loader=lambda: _default_vars(root, ctx.reads))
    if doc.get("vars") is not None:
        ctx = ctx.child(_vars(root, doc["vars"], ctx, _at(name, doc, "vars")))
    stages_doc = doc.get("stages") or {}
    if not isinstance(stages_doc, dict):
        raise PipelineError(f"{_at(name, doc, 'stages')}: `stages` must be a mapping of stage names")
    stages: dict[str, Stage] = {}
    for sname, body in stages_doc.items():
        where = _at(name, stages_doc, sname)
        sname = str(sname)
        if not NAME_RE.match(sname):
            raise PipelineError(f"{where}: stage name {sname!r}: use letters, digits, '_', '-' and '.'")
        for stage in _expand(root, name, sname, body, ctx, where):
            if stage.name in stages:
                raise PipelineError(f"{where}: stage {stage.name!r} is defined twice")
            stages[stage.name] = stage
    read = list(dict.fromkeys(ctx.reads))
    if reads is not None:
        reads.extend(read)
    return PipelineFile(name, stages, read)


# -- templating -----------------------------------------------------------------
def _default_vars(root: str, reads: list[str]) -> dict[str, Any]:
    reads.append(params_mod.DEFAULT_FILE)
    path = os.path.join(root, params_mod.DEFAULT_FILE)
    if not os.path.isfile(path):
        return {}
    doc = params_mod.load_file(path, params_mod.DEFAULT_FILE)
    return doc if isinstance(doc, dict) else {}


def _vars(root: str, items: Any, ctx: Context, where: str) -> dict[str, Any]:
    """`vars:` — a list of files (`file.yaml` or `file.yaml:key1,key2`) and inline mappings."""
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise PipelineError(f"{where}: `vars` must be a list of files and mappings")
    merged: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict):
            merged.update(resolve(_plain(item), ctx.child(merged), where))
        elif isinstance(item, str):
            file, _, keys = item.partition(":")
            ctx.reads.append(file)
            doc = params_mod.load_file(os.path.join(root, file), f"{where}: vars file {file}")
            if not isinstance(doc, dict):
                raise PipelineError(f"{where}: vars file {file} must hold a mapping")
            if keys:
                for key in (k.strip() for k in keys.split(",")):
                    value = params_mod.lookup(doc, key)
                    if params_mod.is_missing(value):
                        raise PipelineError(f"{where}: vars file {file} has no key {key!r}")
                    merged[key] = value
            else:
                merged.update(doc)
        else:
            raise PipelineError(f"{where}: a `vars` item must be a file name or a mapping, not {item!r}")
    return merged


def _expand(root: str, file: str, name: str, body: Any, ctx: Context, where: str) -> list[Stage]:
    if not isinstance(body, dict):
        raise PipelineError(f"{where}: stage {name!r} must be a mapping with at least `cmd`")
    if body.get("vars") is not None:
        ctx = ctx.child(_vars(root, _plain(body["vars"]), ctx, _at(file, body, "vars")))
    if "foreach" in body:
        return _expand_foreach(root, file, name, body, ctx, where)
    if "matrix" in body:
        return _expand_matrix(root, file, name, body, ctx, where)
    if "do" in body:
        raise PipelineError(f"{_at(file, body, 'do')}: stage {name!r}: `do` needs `foreach`")
    return [_stage(root, file, name, body, ctx, where)]


def _expand_foreach(root: str, file: str, name: str, body: Any, ctx: Context, where: str) -> list[Stage]:
    fwhere = _at(file, body, "foreach")
    extra = [k for k in body if k not in ("foreach", "do", "vars")]
    if extra:
        where_extra = _at(file, body, extra[0])
        raise PipelineError(f"{where_extra}: stage {name!r}: with `foreach`, {extra[0]!r} goes under `do`")
    if "do" not in body or not isinstance(body["do"], dict):
        raise PipelineError(f"{fwhere}: stage {name!r}: `foreach` needs a `do:` mapping (the stage template)")
    over = resolve(_plain(body["foreach"]), ctx, fwhere)
    if isinstance(over, list):
        pairs = [(_item_key(v, i), v, None) for i, v in enumerate(over)]
    elif isinstance(over, dict):
        pairs = [(str(k), v, k) for k, v in over.items()]
    else:
        raise PipelineError(
            f"{fwhere}: stage {name!r}: `foreach` must be a list or a mapping, not {type(over).__name__} ({over!r})"
        )
    stages = []
    for key, item, dict_key in pairs:
        local = {"item": item} if dict_key is None else {"item": item, "key": dict_key}
        stages.append(_stage(root, file, f"{name}@{key}", body["do"], ctx.child(local), where))
    return stages


def _expand_matrix(root: str, file: str, name: str, body: Any, ctx: Context, where: str) -> list[Stage]:
    mwhere = _at(file, body, "matrix")
    matrix = body["matrix"]
    if not isinstance(matrix, dict) or not matrix:
        raise PipelineError(f"{mwhere}: stage {name!r}: `matrix` must be a mapping of names to lists")
    axes: list[tuple[str, list[tuple[str, Any]]]] = []
    for axis, values in matrix.items():
        values = resolve(_plain(values), ctx, mwhere)
        if not isinstance(values, list) or not values:
            raise PipelineError(f"{_at(file, matrix, axis)}: stage {name!r}: matrix {axis!r} must be a non-empty list")
        axes.append((str(axis), [(_item_key(v, i, str(axis)), v) for i, v in enumerate(values)]))
    template = {k: v for k, v in body.items() if k not in ("matrix", "vars")}
    stages = []
    for combo in itertools.product(*(vals for _, vals in axes)):
        item = {axis: value for (axis, _), (_, value) in zip(axes, combo, strict=True)}
        key = "-".join(k for k, _ in combo)
        stages.append(_stage(root, file, f"{name}@{key}", template, ctx.child({"item": item}), where, body))
    return stages


def _item_key(value: Any, index: int, prefix: str = "") -> str:
    if isinstance(value, (str, int, float)):
        return str(value)
    return f"{prefix}{index}"


# -- one stage ------------------------------------------------------------------
def _stage(root: str, file: str, name: str, body: Any, ctx: Context, where: str, lines: Any = None) -> Stage:
    lines = lines if lines is not None else body

    def at(key: str) -> str:
        return _at(file, lines, key) if isinstance(lines, dict) and key in lines else where

    for key in body:
        if key not in STAGE_KEYS:
            allowed = STAGE_KEYS + (TEMPLATE_KEYS if body is lines else ())
            raise PipelineError(f"{at(key)}: stage {name!r}: unknown key {key!r}{_suggest(key, allowed)}")
    raw = {k: _plain(v) for k, v in body.items() if k != "vars"}
    if any(has_template(v) for v in raw.values()):
        raw = {k: resolve(v, ctx, f"{at(k)}: stage {name!r}") for k, v in raw.items()}
    if "cmd" not in raw:
        raise PipelineError(f"{where}: stage {name!r}: missing `cmd`")
    cmds = _cmds(raw["cmd"], name, at("cmd"))
    wdir = _wdir(raw.get("wdir"), name, at("wdir"))
    stage = Stage(name=name, cmds=cmds, wdir=wdir, where=where)
    for i, dep in enumerate(_str_list(raw.get("deps"), name, "deps", at("deps"))):
        stage.deps.append(Dep(_path(wdir, dep, name, "dep", at("deps")), _item_at(file, lines, "deps", i, where)))
    stage.params = _params(raw.get("params"), wdir, name, at("params"))
    seen: set[str] = set()
    for kind in OUT_KINDS:
        for out in _outs(raw.get(kind), wdir, name, kind, at(kind)):
            if out.path in seen:
                raise PipelineError(f"{at(kind)}: stage {name!r}: out {out.path!r} is listed twice")
            seen.add(out.path)
            stage.outs.append(out)
    for dep in stage.deps:
        if dep.path in seen:
            raise PipelineError(f"{dep.where}: stage {name!r}: {dep.path!r} is both a dep and an out of this stage")
    stage.frozen = _bool(raw.get("frozen", False), name, "frozen", at("frozen"))
    stage.always_changed = _bool(raw.get("always_changed", False), name, "always_changed", at("always_changed"))
    if raw.get("image") is not None:
        if not isinstance(raw["image"], str) or not raw["image"].strip():
            raise PipelineError(f"{at('image')}: stage {name!r}: `image` must be an image name")
        stage.image = raw["image"].strip()
    stage.resources = _resources(raw.get("resources"), name, at("resources"))
    stage.env = _env(raw.get("env"), name, at("env"))
    stage.network = _bool(raw.get("network", False), name, "network", at("network"))
    if raw.get("checks") is not None:
        stage.checks = _checks(params_mod.plain(raw["checks"]), stage, file, lines, at("checks"))
    if isinstance(raw.get("desc"), str):
        stage.desc = raw["desc"]
    return stage


def _checks(value: Any, stage: Stage, file: str, lines: Any, where: str) -> list[dict[str, Any]]:
    """`checks:` validated by mlvc.data.checks (imported only here: it loads numpy), with `path` and
    `snapshot` made repo-relative like deps. A check's path must be a dep of the stage (or lie in
    one): that orders it after the stage producing the data, and a change of the data makes it stale."""
    from mlvc.data.checks import parse_checks
    from mlvc.errors import DataCheckSpecError

    try:
        parse_checks(stage.name, value)
    except DataCheckSpecError as exc:  # "stage NAME: checks[i]: ..." -> the file:line of item i
        msg = str(exc).removeprefix(f"stage {stage.name}: ")
        m = re.match(r"checks\[(\d+)\]", msg)
        at = _item_at(file, lines, "checks", int(m.group(1)), where) if m else where
        raise PipelineError(f"{at}: stage {stage.name!r}: {msg}") from None
    checks = []
    for i, item in enumerate(value):
        at = _item_at(file, lines, "checks", i, where)
        item = dict(item)
        item["path"] = _path(stage.wdir, item["path"], stage.name, f"checks[{i}] path", at)
        if item.get("snapshot") is not None:
            item["snapshot"] = _path(stage.wdir, str(item["snapshot"]), stage.name, f"checks[{i}] snapshot", at)
        if not any(item["path"] == d.path or item["path"].startswith(d.path + "/") for d in stage.deps):
            raise PipelineError(
                f"{at}: stage {stage.name!r}: checks[{i}] path {item['path']!r} is not one of the stage's deps"
                " (add it to `deps:`)"
            )
        checks.append(item)
    return checks


def _cmds(value: Any, name: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return (value,)
    if isinstance(value, list) and value and all(isinstance(c, str) and c.strip() for c in value):
        return tuple(value)
    raise PipelineError(f"{where}: stage {name!r}: `cmd` must be a command or a list of commands")


def _wdir(value: Any, name: str, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PipelineError(f"{where}: stage {name!r}: `wdir` must be a path")
    norm = _norm(value)
    if norm is None:
        raise PipelineError(f"{where}: stage {name!r}: wdir {value!r} is outside the repository")
    return "" if norm == "." else norm


def _norm(path: str) -> str | None:
    if os.path.isabs(path):
        return None
    norm = posixpath.normpath(path.replace(os.sep, "/"))
    if norm == ".." or norm.startswith("../"):
        return None
    return norm


def _path(wdir: str, value: str, name: str, what: str, where: str) -> str:
    norm = _norm(posixpath.join(wdir, value) if wdir else value)
    if norm is None or norm == ".":
        raise PipelineError(f"{where}: stage {name!r}: {what} {value!r} is not a path inside the repository")
    first = norm.split("/", 1)[0]
    if first in (".mlvc", ".git"):
        raise PipelineError(f"{where}: stage {name!r}: {what} {value!r} is inside {first}/")
    return norm


def _str_list(value: Any, name: str, key: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PipelineError(f"{where}: stage {name!r}: `{key}` must be a list of paths")
    return value


def _params(value: Any, wdir: str, name: str, where: str) -> list[ParamDecl]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(f"{where}: stage {name!r}: `params` must be a list of keys or {{file: [keys]}}")
    default = posixpath.join(wdir, params_mod.DEFAULT_FILE) if wdir else params_mod.DEFAULT_FILE
    by_file: dict[str, list[str] | None] = {}

    def add(file: str, keys: list[str] | None) -> None:
        if file in by_file and by_file[file] is None:
            return
        if keys is None:
            by_file[file] = None
        else:
            have = by_file.setdefault(file, [])
            assert have is not None
            have.extend(k for k in keys if k not in have)

    for item in value:
        if isinstance(item, str):
            add(default, [item])
        elif isinstance(item, dict):
            for file, keys in item.items():
                path = _path(wdir, str(file), name, "params file", where)
                if keys is None or keys == []:
                    add(path, None)
                elif isinstance(keys, list) and all(isinstance(k, str) for k in keys):
                    add(path, keys)
                elif isinstance(keys, str):
                    add(path, [keys])
                else:
                    raise PipelineError(f"{where}: stage {name!r}: params of {file} must be a list of keys")
        else:
            raise PipelineError(f"{where}: stage {name!r}: a `params` item must be a key or {{file: [keys]}}")
    return [ParamDecl(f, None if k is None else tuple(k), where) for f, k in by_file.items()]


def _outs(value: Any, wdir: str, name: str, kind: str, where: str) -> list[Out]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PipelineError(f"{where}: stage {name!r}: `{kind}` must be a list")
    outs = []
    for item in value:
        options: dict[str, Any] = {}
        if isinstance(item, str):
            path = item
        elif isinstance(item, dict) and len(item) == 1:
            path, opts = next(iter(item.items()))
            if opts is not None and not isinstance(opts, dict):
                raise PipelineError(f"{where}: stage {name!r}: options of {kind[:-1]} {path!r} must be a mapping")
            options = dict(opts or {})
            for key in options:
                if key not in OUT_OPTIONS:
                    raise PipelineError(
                        f"{where}: stage {name!r}: {path}: unknown option {key!r}{_suggest(key, OUT_OPTIONS)}"
                    )
        else:
            raise PipelineError(f"{where}: stage {name!r}: a `{kind}` item must be a path or {{path: {{options}}}}")
        cache = options.get("cache", kind != "metrics")
        persist = options.get("persist", False)
        for opt, v in (("cache", cache), ("persist", persist)):
            if not isinstance(v, bool):
                raise PipelineError(f"{where}: stage {name!r}: {path}: `{opt}` must be true or false")
        outs.append(Out(_path(wdir, str(path), name, kind[:-1], where), cache, persist, kind, where))
    return outs


def _bool(value: Any, name: str, key: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise PipelineError(f"{where}: stage {name!r}: `{key}` must be true or false")
    return value


def _resources(value: Any, name: str, where: str) -> Resources:
    if value is None:
        return Resources()
    if not isinstance(value, dict):
        raise PipelineError(f"{where}: stage {name!r}: `resources` must be a mapping (cpus, gpus, memory)")
    for key in value:
        if key not in RESOURCE_KEYS:
            raise PipelineError(f"{where}: stage {name!r}: unknown resource {key!r}{_suggest(key, RESOURCE_KEYS)}")
    cpus, gpus, memory = value.get("cpus"), value.get("gpus"), value.get("memory")
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or cpus <= 0):
        raise PipelineError(f"{where}: stage {name!r}: resources.cpus must be a positive number")
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0):
        raise PipelineError(f"{where}: stage {name!r}: resources.gpus must be a whole number >= 0")
    return Resources(cpus, gpus, None if memory is None else parse_memory(memory, f"{where}: stage {name!r}"))


def parse_memory(value: Any, where: str) -> int:
    """Bytes from 1073741824, "1G", "512M", "2GiB", "1.5GB" (powers of 1024, as docker reads them)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _MEMORY_RE.match(str(value))
    if m is None or isinstance(value, bool):
        raise PipelineError(f"{where}: resources.memory {value!r} is not a size (e.g. 512M, 4G, 1073741824)")
    scale = 1024 ** " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * scale)


def _env(value: Any, name: str, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PipelineError(f"{where}: stage {name!r}: `env` must be a mapping of NAME: value")
    env = {}
    for k, v in value.items():
        if not isinstance(k, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
            raise PipelineError(f"{where}: stage {name!r}: env name {k!r} is not a valid variable name")
        if isinstance(v, (dict, list)) or v is None:
            raise PipelineError(f"{where}: stage {name!r}: env {k} must be a string or a number")
        env[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return env


# -- helpers --------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """ruamel round-trip nodes -> plain dicts and lists (keeping scalars' values)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _at(file: str, node: Any, key: Any) -> str:
    """`file:line` of `key` in a round-trip mapping (just `file` when unknown)."""
    try:
        return f"{file}:{node.lc.key(key)[0] + 1}"
    except (AttributeError, KeyError, TypeError):
        return file


def _item_at(file: str, node: Any, key: str, index: int, default: str) -> str:
    try:
        return f"{file}:{node[key].lc.item(index)[0] + 1}"
    except (AttributeError, KeyError, TypeError, IndexError):
        return default


def _suggest(key: Any, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(key), choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
