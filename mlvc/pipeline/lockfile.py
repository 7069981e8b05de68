"""`mlvc.lock`: per stage, what it last ran with and produced. Committed to git.

    schema: 1
    stages:
      train:
        cmd: python train.py
        deps:
          - path: data/train.csv
            kind: file
            hash: "0f3c..."
            size: 1024
            files: 1
        params:
          params.yaml:
            lr: 0.01
        outs:
          - path: model.pkl
            kind: file
            hash: ...
            size: 52
            files: 1
        # then, when the stage sets them: image (and the image_id it ran), network, env, resources, checks (and wdir)
        check_results: [{"path": "data/train.csv", "against": "HEAD (3f2a1b9c0d)", "passed": true, ...}]

Outs with `cache: false` carry `cache: false`. `checks` is the stage's `checks:` spec (part of its
fingerprint, like `env`); `check_results` is what those checks found when the command last ran
(mlvc.data.checks' CheckResult.to_dict(), one per check): a record, never a reason to rerun.

Written atomically (temp file + rename), in the pipeline file's stage order, by a small
emitter of our own: deterministic, and no YAML library on the hot path of a no-op repro.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

from mlvc.errors import PipelineError
from mlvc.hashing import is_hash
from mlvc.links import write_bytes_atomic
from mlvc.pointer import Pointer, Ref
from mlvc.tree import KINDS

TYPE_CHECKING = False  # typing's flag, without typing's ~5 ms of imports (`mlvc checkout` loads this)
if TYPE_CHECKING:
    from typing import Any

NAME = "mlvc.lock"
SCHEMA = 1
HEADER = "# mlvc.lock: what each stage last ran with and produced (written by mlvc repro; commit it)\n"
SETTING_KEYS = ("cmd", "wdir", "image", "image_id", "network", "env", "resources", "checks")
_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./@+\-]*$")
_KEYWORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf"}


@dataclass(frozen=True)
class LockedOut:
    ref: Ref
    cache: bool = True


@dataclass
class LockEntry:
    settings: dict[str, Any]  # cmd, and wdir/image/env/resources/checks when set
    deps: dict[str, Ref] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    outs: dict[str, LockedOut] = field(default_factory=dict)
    check_results: list[dict[str, Any]] = field(default_factory=list)  # the data checks' outcomes: a record only


@dataclass
class Lock:
    stages: dict[str, LockEntry] = field(default_factory=dict)


# -- reading ----------------------------------------------------------------------
def read(root: str, name: str = NAME) -> Lock:
    path = os.path.join(root, name)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return Lock()
    return parse(text, name)


def parse(text: str, where: str = NAME) -> Lock:
    doc = _fast_parse(text)
    if doc is _NOT_OURS:  # edited by hand, or written by another tool: the full YAML parser
        from mlvc.pipeline.params import load_yaml

        doc = load_yaml(text, where)
    if doc is None:
        return Lock()
    if not isinstance(doc, dict) or not isinstance(doc.get("stages", {}), dict):
        raise PipelineError(f"{where}: not an mlvc lock file (expected `schema:` and `stages:`)")
    if doc.get("schema") != SCHEMA:
        raise PipelineError(f"{where}: unsupported lock schema {doc.get('schema')!r} (this mlvc reads {SCHEMA})")
    lock = Lock()
    for name, body in (doc.get("stages") or {}).items():
        if not isinstance(body, dict):
            raise PipelineError(f"{where}: stage {name!r} is not a mapping")
        settings = {k: body[k] for k in SETTING_KEYS if k in body}
        entry = LockEntry(settings, params={str(f): dict(v or {}) for f, v in (body.get("params") or {}).items()})
        for item in body.get("deps") or []:
            entry.deps[item["path"]] = _ref(item, where, name)
        for item in body.get("outs") or []:
            entry.outs[item["path"]] = LockedOut(_ref(item, where, name), bool(item.get("cache", True)))
        results = body.get("check_results") or []
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise PipelineError(f"{where}: stage {name!r}: check_results must be a list of mappings")
        entry.check_results = [dict(r) for r in results]
        lock.stages[str(name)] = entry
    return lock


_NOT_OURS: Any = object()
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")
_SPECIAL = {
    "true": True, "false": False, "null": None, ".nan": float("nan"), ".inf": float("inf"), "-.inf": float("-inf"),
}  # fmt: skip


def _fast_parse(text: str) -> Any:
    """The document for exactly the layout `write` produces (ruamel's pure-Python parser takes
    ~0.2 s on a 100-stage lock, most of a no-op repro); _NOT_OURS for anything else."""
    doc: dict[str, Any] = {}
    stages: dict[str, Any] | None = None
    stage: dict[str, Any] = {}
    section: str | None = None
    item: dict[str, Any] = {}
    try:
        for raw in text.splitlines():
            body = raw.lstrip(" ")
            if not body or body.startswith("#"):
                continue
            indent = len(raw) - len(body)
            if indent == 0:
                key, val = _pair(body)
                if key == "stages":
                    if val not in ("", "{}"):
                        return _NOT_OURS
                    stages = doc["stages"] = {}
                else:
                    doc[key] = _scalar(val)
            elif indent == 2 and stages is not None:
                key, val = _pair(body)
                if val:
                    return _NOT_OURS
                stage = stages[key] = {}
                section = None
            elif indent == 4:
                key, val = _pair(body)
                section = None
                if val:
                    stage[key] = _scalar(val)
                else:
                    section = key
                    stage[key] = [] if key in ("deps", "outs") else {}
            elif indent == 6 and section in ("deps", "outs") and body.startswith("- "):
                item = {}
                stage[section].append(item)
                key, val = _pair(body[2:])
                item[key] = _scalar(val)
            elif indent == 6 and section == "params":
                key, val = _pair(body)
                if val not in ("", "{}"):
                    return _NOT_OURS
                item = stage["params"][key] = {}
            elif indent == 8 and section is not None:
                key, val = _pair(body)
                item[key] = _scalar(val)
            else:
                return _NOT_OURS
    except ValueError:
        return _NOT_OURS
    return doc


def _pair(line: str) -> tuple[str, str]:
    if line.startswith('"'):
        key, end = json.JSONDecoder().raw_decode(line)
        rest = line[end:]
    else:
        key, sep, rest = line.partition(":")
        rest = sep + rest
        if not _PLAIN.match(key):
            raise ValueError(key)
    if rest == ":":
        return key, ""
    if not rest.startswith(": "):
        raise ValueError(line)
    return key, rest[2:].strip()


def _scalar(val: str) -> Any:
    if not val:
        return None
    if val[0] in '"[{':
        return json.loads(val)
    if val in _SPECIAL:
        return _SPECIAL[val]
    if _NUMBER.match(val):
        return float(val) if any(c in val for c in ".eE") else int(val)
    if _PLAIN.match(val) and val.lower() not in _KEYWORDS:
        return val
    raise ValueError(val)


def _ref(item: Any, where: str, stage: str) -> Ref:
    try:
        h, kind = item["hash"], item.get("kind", "file")
        if not is_hash(h) or kind not in KINDS:
            raise ValueError
        return Ref(h, kind, int(item.get("size", 0)), int(item.get("files", 1)))
    except (KeyError, TypeError, ValueError):
        raise PipelineError(f"{where}: stage {stage!r}: bad entry {item!r}") from None


def refs(text: str, where: str = NAME) -> list[Ref]:
    """Cached outs named in a lock file: what gc and push must keep."""
    lock = parse(text, where)
    return [o.ref for e in lock.stages.values() for o in e.outs.values() if o.cache]


def out_pointers(root: str, name: str = NAME) -> list[Pointer]:
    """The cached outs of the lock as pointers, so `checkout` and `pull` restore them like added data."""
    lock = read(root, name)
    return [Pointer(path, o.ref) for e in lock.stages.values() for path, o in e.outs.items() if o.cache]


# -- writing ----------------------------------------------------------------------
def write(root: str, lock: Lock, order: list[str], name: str = NAME) -> None:
    """Write stages in `order` (the pipeline's), then any others, atomically."""
    names = [n for n in order if n in lock.stages] + sorted(n for n in lock.stages if n not in order)
    lines = [HEADER, f"schema: {SCHEMA}\n", "stages:\n" if names else "stages: {}\n"]
    for n in names:
        lines.append(f"  {_key(n)}:\n")
        lines.extend(_entry(lock.stages[n]))
    write_bytes_atomic(os.path.join(root, name), "".join(lines).encode("utf-8"))


def _entry(e: LockEntry) -> list[str]:
    out: list[str] = []
    s = e.settings
    out.append(f"    cmd: {_value(s['cmd'])}\n")
    if s.get("wdir"):
        out.append(f"    wdir: {_value(s['wdir'])}\n")
    if e.deps:
        out.append("    deps:\n")
        for path, ref in e.deps.items():
            out.extend(_ref_lines(path, ref))
    if e.params:
        out.append("    params:\n")
        for file, values in e.params.items():
            out.append(f"      {_key(file)}:" + (" {}\n" if not values else "\n"))
            out.extend(f"        {_key(k)}: {_value(v)}\n" for k, v in values.items())
    if e.outs:
        out.append("    outs:\n")
        for path, lo in e.outs.items():
            out.extend(_ref_lines(path, lo.ref))
            if not lo.cache:
                out.append("        cache: false\n")
    for key in ("image", "image_id", "network", "env", "resources", "checks"):
        if s.get(key) is not None:
            out.append(f"    {key}: {_value(s[key])}\n")
    if e.check_results:
        out.append(f"    check_results: {_value(e.check_results)}\n")
    return out


def _ref_lines(path: str, ref: Ref) -> list[str]:
    return [
        f"      - path: {_value(path)}\n",
        f"        kind: {ref.kind}\n",
        f"        hash: {_value(ref.hash)}\n",
        f"        size: {ref.size}\n",
        f"        files: {ref.files}\n",
    ]


def _key(k: str) -> str:
    return k if _PLAIN.match(k) and k.lower() not in _KEYWORDS else json.dumps(k, ensure_ascii=False)


def _value(v: Any) -> str:
    """One YAML scalar or flow collection; JSON is valid YAML for everything we write."""
    if isinstance(v, str):
        return _key(v)
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return ".nan" if v != v else (".inf" if v > 0 else "-.inf")
    return json.dumps(v, ensure_ascii=False, sort_keys=False)
