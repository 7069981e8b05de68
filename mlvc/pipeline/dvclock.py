"""Adopting dvc.lock: on a dvc.yaml project, a stage that DVC recorded and whose inputs and
outputs are still what dvc.lock says is up to date, and needs no run to enter mlvc.lock.

Only DVC 3 entries (`hash: md5`, the plain md5 of a file's bytes) of files are trusted; a
folder (an `.md5.dir` manifest), a DVC 2 entry (text files hashed after CRLF folding) or any
mismatch leaves the stage to run as usual. Reading dvc.lock is a one-off cost: the adopted
entry goes to mlvc.lock, so later commands never read dvc.lock again.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from typing import Any

from mlvc.pipeline.spec import Stage

NAME = "dvc.lock"


def load(root: str) -> dict[str, Any]:
    """dvc.lock's stages ({} when there is none or it cannot be read)."""
    path = os.path.join(root, NAME)
    if not os.path.isfile(path):
        return {}
    from mlvc.errors import MlvcError
    from mlvc.pipeline.params import load_yaml

    try:
        with open(path, encoding="utf-8") as f:
            doc = load_yaml(f.read(), NAME)
    except (MlvcError, UnicodeDecodeError):
        return {}
    stages = doc.get("stages") if isinstance(doc, dict) else None
    return stages if isinstance(stages, dict) else {}


def matches(root: str, stage: Stage, entry: Any, params: dict[str, dict[str, Any]]) -> bool:
    """True when `entry` (a dvc.lock stage) says exactly what the stage is and has now."""
    if not isinstance(entry, dict) or _cmd(entry.get("cmd")) != _cmd(stage.cmd):
        return False
    if stage.image or stage.env or stage.resources.to_dict() or stage.checks is not None:
        return False  # mlvc-only settings: DVC never ran this stage as it is now
    locked_params = {_rel(stage.wdir, f): v for f, v in (entry.get("params") or {}).items()}
    if locked_params != params:
        return False
    for key, wanted in (("deps", [d.path for d in stage.deps]), ("outs", [o.path for o in stage.outs])):
        items = entry.get(key) or []
        if not isinstance(items, list) or sorted(_rel(stage.wdir, i.get("path", "")) for i in items) != sorted(wanted):
            return False
        for item in items:
            if item.get("hash") != "md5" or not isinstance(item.get("md5"), str) or item["md5"].endswith(".dir"):
                return False
            if _md5(os.path.join(root, _rel(stage.wdir, item["path"]))) != item["md5"]:
                return False
    return True


def _cmd(cmd: Any) -> Any:
    return cmd[0] if isinstance(cmd, list) and len(cmd) == 1 else cmd


def _rel(wdir: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(wdir, str(path))) if wdir else posixpath.normpath(str(path))


def _md5(path: str) -> str | None:
    h = hashlib.md5()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return h.hexdigest()
