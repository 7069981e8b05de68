"""Params files (YAML, JSON, TOML): read each once per command, look values up by dotted key."""

from __future__ import annotations

import json
import os
from typing import Any

from mlvc.errors import PipelineError

DEFAULT_FILE = "params.yaml"
_MISSING = object()


def load_file(path: str, shown: str) -> Any:
    """The parsed document at `path`; `shown` names it in errors."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise PipelineError(f"{shown}: params file not found") from None
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".json":
            return json.loads(data)
        if ext == ".toml":
            import tomllib

            return tomllib.loads(data.decode("utf-8"))
        if ext in (".yaml", ".yml", ""):
            return load_yaml(data.decode("utf-8"), shown)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{shown}: cannot parse ({str(exc).splitlines()[0]})") from None
    raise PipelineError(f"{shown}: unsupported params file type {ext!r} (use .yaml, .json or .toml)")


def load_yaml(text: str, shown: str) -> Any:
    from mlvc.yamlio import load_yaml as load

    return load(text, shown, PipelineError)


def lookup(doc: Any, key: str) -> Any:
    """`doc[a][b]` for key `a.b` (a digit part indexes a list); _MISSING when absent."""
    if isinstance(doc, dict) and key in doc:  # a literal dotted key wins, as in DVC
        return doc[key]
    node = doc
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def is_missing(value: Any) -> bool:
    return value is _MISSING


def plain(value: Any) -> Any:
    """A JSON-compatible copy (dates and other YAML scalars become strings)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class ParamsReader:
    """Reads each params file at most once per command."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._docs: dict[str, Any] = {}

    def doc(self, rel: str) -> Any:
        if rel not in self._docs:
            self._docs[rel] = _load_cached(self.root, rel)
        return self._docs[rel]

    def exists(self, rel: str) -> bool:
        return rel in self._docs or os.path.isfile(os.path.join(self.root, rel))

    def values(self, rel: str, keys: tuple[str, ...] | None, where: str) -> dict[str, Any]:
        """{key: value} for `keys` in file `rel` (every top-level key when None)."""
        doc = self.doc(rel)
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise PipelineError(f"{rel}: params file must hold a mapping at the top level")
        if keys is None:
            return {str(k): plain(v) for k, v in doc.items()}
        found: dict[str, Any] = {}
        for key in keys:
            value = lookup(doc, key)
            if value is _MISSING:
                raise PipelineError(f"{where}: param {key!r} not found in {rel}")
            found[key] = plain(value)
        return found

    def forget(self, rel: str) -> None:
        """Drop a cached document (a stage may write a params file another stage reads)."""
        self._docs.pop(rel, None)


def _load_cached(root: str, rel: str) -> Any:
    """A YAML params file, parsed at most once per content: the parsed form is kept in
    `.mlvc/tmp/params/` keyed by the bytes, so a no-op repro never loads the YAML library."""
    path = os.path.join(root, rel)
    if os.path.splitext(rel)[1].lower() not in (".yaml", ".yml") or not os.path.isdir(os.path.join(root, ".mlvc")):
        return load_file(path, rel)
    import pickle

    from mlvc.hashing import hash_bytes

    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise PipelineError(f"{rel}: params file not found") from None
    key = hash_bytes(data)
    cache_dir = os.path.join(root, ".mlvc", "tmp", "params")
    cache = os.path.join(cache_dir, hash_bytes(rel.encode()) + ".pickle")
    try:
        with open(cache, "rb") as f:
            cached_key, doc = pickle.load(f)
        if cached_key == key:
            return doc
    except Exception:  # absent or unreadable: parse
        pass
    try:
        doc = load_yaml(data.decode("utf-8"), rel)
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{rel}: cannot parse ({exc})") from None
    try:
        from mlvc.links import write_bytes_atomic

        os.makedirs(cache_dir, exist_ok=True)
        write_bytes_atomic(cache, pickle.dumps((key, doc), protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass  # a read-only checkout: parse every time
    return doc
