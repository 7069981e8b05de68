"""Is a commit's result recorded? Its metrics file is there AND its lock matches the commit.

A commit that changes code or params without rerunning the pipeline still carries the
previous commit's metrics file and lock; trusting them would blame the wrong commit. So a
result counts as recorded only when the lock at that commit agrees with the commit itself:
every param value it lists equals the params file, every dep and uncached out it lists that
git holds (or a pointer tracks) has the recorded hash (xxh3 in mlvc.lock, md5 in dvc.lock).
What cannot be checked from git alone (a folder dep in git, another stage's cached out) is trusted.
"""

from __future__ import annotations

import hashlib

from mlvc.errors import MlvcError
from mlvc.hashing import hash_bytes
from mlvc.history import formats


def stale_reason(view) -> str | None:
    """None when the commit's lock matches it; else why not (the first mismatch found)."""
    data = view.read("mlvc.lock")
    if data is not None:
        return _mlvc_lock(view, data)
    data = view.read("dvc.lock")
    if data is not None:
        return _dvc_lock(view, data)
    return None  # no lock: metrics committed by hand are taken as they are


def _mlvc_lock(view, data: bytes) -> str | None:
    from mlvc.pipeline import lockfile

    try:
        lock = lockfile.parse(data.decode("utf-8"), f"mlvc.lock at {view.label}")
    except (MlvcError, UnicodeDecodeError) as exc:
        return f"unreadable lock ({exc})"
    for name, entry in lock.stages.items():
        why = _params(view, name, entry.params)
        if why:
            return why
        checks = [(p, r.hash, r.kind) for p, r in entry.deps.items()]
        checks += [(p, o.ref.hash, o.ref.kind) for p, o in entry.outs.items() if not o.cache]
        for path, want, kind in checks:
            if kind != "file":
                continue
            blob = view.read(path)
            if blob is not None and hash_bytes(blob) != want:
                return f"stage {name}: {path} differs from the lock"
    return None


def _dvc_lock(view, data: bytes) -> str | None:
    from ruamel.yaml import YAML

    try:
        doc = YAML(typ="safe", pure=True).load(data.decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - any unreadable lock means: not recorded
        return f"unreadable dvc.lock ({type(exc).__name__})"
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        return None
    for name, entry in stages.items():
        if not isinstance(entry, dict):
            continue
        why = _params(view, name, entry.get("params") or {})
        if why:
            return why
        for item in (entry.get("deps") or []) + [o for o in entry.get("outs") or [] if isinstance(o, dict)]:
            if not isinstance(item, dict) or not isinstance(item.get("md5"), str) or item["md5"].endswith(".dir"):
                continue
            blob = view.read(str(item.get("path")))
            if blob is not None and hashlib.md5(blob).hexdigest() != item["md5"]:
                return f"stage {name}: {item.get('path')} differs from dvc.lock"
    return None


def _params(view, stage: str, recorded: dict) -> str | None:
    for file, values in recorded.items():
        if not isinstance(values, dict):
            continue
        blob = view.read(str(file))
        if blob is None:
            return f"stage {stage}: params file {file} is missing"
        try:
            doc = formats.parse_doc(blob, str(file))
        except MlvcError:
            return f"stage {stage}: params file {file} is unreadable"
        from mlvc.pipeline.params import is_missing, lookup, plain

        for key, value in values.items():
            now = lookup(doc, str(key))
            if is_missing(now) or plain(now) != value:
                shown = "missing" if is_missing(now) else repr(plain(now))
                return f"stage {stage}: param {key} is {shown}, lock says {value!r}"
    return None
