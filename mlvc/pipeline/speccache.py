"""A cache of the parsed pipeline file, so a no-op repro does not re-run the YAML parser.

ruamel's round-trip parser (needed for line numbers in errors) costs ~0.15 s on a 100-stage
file. The parsed stages are kept in `.mlvc/tmp/pipeline.pickle`, keyed by the file's bytes,
the bytes of every file templating read (params.yaml, `vars` files) and the shape of the Stage
class, so any edit or a newer mlvc parses afresh. Local and disposable: a cache that cannot be
read or written only costs the parse.
"""

from __future__ import annotations

import dataclasses
import os
import pickle

from mlvc import __version__
from mlvc.hashing import hash_bytes

FILE = os.path.join(".mlvc", "tmp", "pipeline.pickle")


def _shape() -> str:
    from mlvc.execute.base import Resources
    from mlvc.pipeline import spec

    classes = (spec.Stage, spec.Dep, spec.Out, spec.ParamDecl, spec.PipelineFile, Resources)
    return __version__ + "|" + "|".join(",".join(f.name for f in dataclasses.fields(c)) for c in classes)


def _digest(root: str, rel: str) -> str | None:
    try:
        with open(os.path.join(root, rel), "rb") as f:
            return hash_bytes(f.read())
    except OSError:
        return None


def get(root: str, name: str, data: bytes):
    path = os.path.join(root, FILE)
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f)
        if entry["key"] != (_shape(), name, hash_bytes(data)):
            return None
        if any(_digest(root, rel) != digest for rel, digest in entry["reads"]):
            return None
        return entry["pipeline"]
    except Exception:  # absent, stale or unreadable: parse afresh
        return None


def put(root: str, name: str, data: bytes, reads: list[str], pipeline) -> None:
    path = os.path.join(root, FILE)
    if not os.path.isdir(os.path.dirname(path)):
        return
    entry = {
        "key": (_shape(), name, hash_bytes(data)),
        "reads": [(rel, _digest(root, rel)) for rel in reads],
        "pipeline": pipeline,
    }
    try:
        from mlvc.links import write_bytes_atomic

        write_bytes_atomic(path, pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass
