"""Which metrics and params files a revision declares, read from its mlvc.yaml / dvc.yaml.

A pipeline file at an old commit may not pass today's validation (or may use templating
that needs other files at that commit), so this reader is lenient: it takes the
`metrics:` and `params:` entries of every stage (and DVC 3's top-level `metrics:`), joins
`wdir`, and skips what it cannot make sense of. Parsed documents are cached by the blob's
bytes, so walking 1,000 commits that share one pipeline file parses it once.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from mlvc.errors import MlvcError

PIPELINE_FILES = ("mlvc.yaml", "dvc.yaml")
LOCK_FILES = ("mlvc.lock", "dvc.lock")  # mlvc writes mlvc.lock for a dvc.yaml too; DVC's own lock is read
DEFAULT_PARAMS = "params.yaml"

Reader = Callable[[str], "bytes | None"]


@dataclass
class Declared:
    """What a revision's pipeline file names: metrics files, params (file -> keys, None = all)."""

    pipeline_file: str | None = None
    metrics: list[str] = field(default_factory=list)
    params: dict[str, set[str] | None] = field(default_factory=dict)
    tolerances: dict[str, float] = field(default_factory=dict)  # key, `file:*` or `*` -> absolute tolerance
    stages: dict[str, dict] = field(default_factory=dict)  # raw stage mappings by name

    def tolerance(self, path: str, key: str) -> float:
        """The absolute tolerance for metric `key` of file `path` (0 when none is declared)."""
        for name in (f"{path}:{key}", key, f"{path}:*", "*"):
            if name in self.tolerances:
                return self.tolerances[name]
        return 0.0


_CACHE: dict[bytes, Declared] = {}


def declared(read: Reader) -> Declared:
    """The metrics/params declared by the pipeline file that `read(path)` finds (mlvc.yaml first)."""
    for name in PIPELINE_FILES:
        data = read(name)
        if data is None:
            continue
        key = name.encode() + b"\0" + data
        if key not in _CACHE:
            _CACHE[key] = _parse(name, data)
        return _CACHE[key]
    return Declared()


def _parse(name: str, data: bytes) -> Declared:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    result = Declared(pipeline_file=name)
    try:
        doc = YAML(typ="safe", pure=True).load(data.decode("utf-8"))
    except (YAMLError, UnicodeDecodeError, MlvcError):
        return result
    if not isinstance(doc, dict):
        return result
    for entry in _as_list(doc.get("metrics")):
        _add_metric(result, "", entry)
    stages = doc.get("stages")
    if not isinstance(stages, dict):
        return result
    for stage_name, stage in stages.items():
        if not isinstance(stage, dict):
            continue
        body = stage.get("do") if isinstance(stage.get("do"), dict) else stage
        result.stages[str(stage_name)] = body
        wdir = body.get("wdir") if isinstance(body.get("wdir"), str) else ""
        for entry in _as_list(body.get("metrics")):
            _add_metric(result, wdir, entry)
        for entry in _as_list(body.get("params")):
            _add_params(result, wdir, entry)
        _add_tolerances(result, body.get("meta"), None)
    return result


def _add_tolerances(result: Declared, meta: object, keys: list[str] | None) -> None:
    """`meta: {tolerance: {acc: 0.01}}` (per key) or `meta: {tolerance: 0.01}` (every key of that metrics file).

    DVC's free-form `meta:` keeps the pipeline file valid for DVC and for mlvc's validator.
    """
    tol = meta.get("tolerance") if isinstance(meta, dict) else None
    if isinstance(tol, dict):
        for key, value in tol.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                result.tolerances[str(key)] = abs(float(value))
    elif isinstance(tol, (int, float)) and not isinstance(tol, bool):
        result.tolerances["*" if keys is None else keys[0]] = abs(float(tol))


def _as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _join(wdir: str, path: str) -> str | None:
    if "${" in path or "${" in wdir:
        return None  # templated: not resolvable without the whole template context
    return posixpath.normpath(posixpath.join(wdir, path)) if wdir and wdir != "." else posixpath.normpath(path)


def _add_metric(result: Declared, wdir: str, entry: object) -> None:
    options: dict = {}
    if isinstance(entry, dict) and len(entry) == 1:
        (path, options), = entry.items()
        options = options if isinstance(options, dict) else {}
    else:
        path = entry
    if not isinstance(path, str):
        return
    full = _join(wdir, path)
    if full and full not in result.metrics:
        result.metrics.append(full)
    if full:
        _add_tolerances(result, options.get("meta"), [full + ":*"])


def _add_params(result: Declared, wdir: str, entry: object) -> None:
    if isinstance(entry, str):
        full = _join(wdir, DEFAULT_PARAMS)
        if full is None or "${" in entry:
            return
        keys = result.params.setdefault(full, set())
        if keys is not None:
            keys.add(entry)
    elif isinstance(entry, dict):
        for path, keys in entry.items():
            full = _join(wdir, str(path))
            if full is None:
                continue
            if not keys:  # `- other.yaml:` with no keys: every param in the file
                result.params[full] = None
                continue
            current = result.params.setdefault(full, set())
            if current is not None:
                current.update(str(k) for k in _as_list(keys) if "${" not in str(k))
