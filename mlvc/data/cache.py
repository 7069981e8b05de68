"""Statistics cached by the content hash of the data: `.mlvc/tmp/stats/<key>.v<schema>.json`.

Asking twice for the same bytes (at any revision, or in the workspace) reads one small JSON file.
A cache that cannot be written only costs speed.
"""

from __future__ import annotations

import json
import os

from mlvc.data import source
from mlvc.data.stats import STATS_SCHEMA, DatasetStats, profile
from mlvc.errors import DataFormatError
from mlvc.links import write_bytes_atomic


def _path(repo, key: str) -> str:
    return os.path.join(repo.tmp_dir, "stats", f"{key}.v{STATS_SCHEMA}.json")


def get(repo, key: str) -> DatasetStats | None:
    try:
        with open(_path(repo, key), "rb") as f:
            return DatasetStats.from_dict(json.loads(f.read()))
    except (OSError, ValueError, KeyError, TypeError, DataFormatError):
        return None  # absent or unreadable: compute again


def put(repo, stats: DatasetStats) -> None:
    path = _path(repo, stats.key)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_bytes_atomic(path, json.dumps(stats.to_dict(), separators=(",", ":")).encode())
    except OSError:
        pass


def stats_for(repo, rel: str, rev: str | None = None) -> tuple[source.Dataset, DatasetStats, bool]:
    """(dataset, its statistics, whether they came from the cache) for `rel` at `rev` (None: workspace)."""
    ds = source.load(repo, rel, rev)
    cached = get(repo, ds.key)
    if cached is not None:
        return ds, cached, True
    stats = profile(ds.files, ds.key)
    put(repo, stats)
    return ds, stats, False
