"""The run cache: (command, settings, dep hashes, param values, out paths) -> the outs it made.

One small JSON file per key under `.mlvc/runs/ab/cdef...` (git-ignored, local to this
clone). Before a stage runs, `repro` asks here: the same inputs ran before (on any branch,
at any commit) -> its outs are linked back from the object cache instead. Entries whose
objects were garbage-collected simply miss. Stages that cannot be replayed are never cached:
no deps, `always_changed`, or a `persist` out (its next content depends on its last).
"""

from __future__ import annotations

import json
import os

from mlvc.hashing import hash_bytes, is_hash
from mlvc.links import write_bytes_atomic
from mlvc.pipeline.lockfile import LockedOut
from mlvc.pipeline.spec import Stage
from mlvc.pointer import Ref

SCHEMA = 1
DIRNAME = "runs"


class RunCache:
    def __init__(self, repo) -> None:
        self.root = os.path.join(repo.dot, DIRNAME)

    @staticmethod
    def key(stage: Stage, deps: dict[str, Ref], params: dict[str, dict]) -> str | None:
        if not stage.deps or stage.always_changed or any(o.persist for o in stage.outs) or not stage.outs:
            return None
        doc = {
            "settings": stage.settings(),
            "deps": sorted((p, r.hash) for p, r in deps.items()),
            "params": params,
            "outs": sorted((o.path, o.cache) for o in stage.outs),
        }
        return hash_bytes(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode())

    def _path(self, key: str) -> str:
        return os.path.join(self.root, key[:2], key[2:] + ".json")

    def get(self, key: str) -> dict[str, LockedOut] | None:
        try:
            with open(self._path(key), encoding="utf-8") as f:
                doc = json.load(f)
            outs = {}
            for o in doc["outs"]:
                if not is_hash(o["hash"]):
                    return None
                outs[o["path"]] = LockedOut(Ref(o["hash"], o["kind"], o["size"], o["files"]), o["cache"])
            return outs
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or unreadable: a miss, never an error

    def put(self, key: str, stage: str, outs: dict[str, LockedOut]) -> None:
        path = self._path(key)
        if not os.path.isdir(self.root):
            os.makedirs(self.root, exist_ok=True)
            write_bytes_atomic(os.path.join(self.root, ".gitignore"), b"*\n")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        doc = {
            "schema": SCHEMA,
            "stage": stage,
            "outs": [{"path": p, **o.ref.to_dict(), "cache": o.cache} for p, o in outs.items()],
        }
        write_bytes_atomic(path, json.dumps(doc, indent=1).encode())
