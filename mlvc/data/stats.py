"""Column statistics of a table, computed in one streamed pass with bounded memory.

Per column: type, null fraction; numbers (and dates/times, as their integer encoding): min, max,
mean, std (Chan's parallel merge of per-batch moments), quantiles from a sparse histogram
(sketch.Histogram); strings, booleans and dictionaries: exact value counts up to EXACT_CAP distinct
values, beyond that the TOP_KEEP most frequent (approximate) and a KMV distinct estimate.
Nested columns (list, struct, map) and binary get the null fraction only, with a note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mlvc.data.read import DataFile, iter_batches
from mlvc.data.sketch import KMV, Histogram, hash_values
from mlvc.errors import DataFormatError

STATS_SCHEMA = 1
EXACT_CAP = 10_000
TOP_KEEP = 1_000
TOP_SHOWN = 10
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

NUMERIC, TEMPORAL, CATEGORICAL, OTHER = "numeric", "temporal", "categorical", "other"


@dataclass
class ColumnStats:
    name: str
    type: str
    kind: str
    rows: int = 0
    nulls: int = 0
    numeric: dict | None = None  # count, non_finite, min, max, mean, std, quantiles, histogram
    categorical: dict | None = None  # count, distinct, exact, top, counts

    @property
    def null_fraction(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    def histogram(self) -> Histogram:
        return Histogram.from_dict((self.numeric or {}).get("histogram") or {})

    def shares(self) -> dict[str, float]:
        """Share of each counted value among the non-null values."""
        cat = self.categorical or {}
        n = cat.get("count") or 0
        return {v: c / n for v, c in (cat.get("counts") or {}).items()} if n else {}

    def to_dict(self) -> dict:
        doc: dict = {"name": self.name, "type": self.type, "kind": self.kind, "rows": self.rows}
        doc.update(nulls=self.nulls, null_fraction=self.null_fraction)
        if self.numeric is not None:
            doc["numeric"] = self.numeric
        if self.categorical is not None:
            doc["categorical"] = self.categorical
        return doc

    @classmethod
    def from_dict(cls, doc: dict) -> ColumnStats:
        return cls(
            doc["name"], doc["type"], doc["kind"], doc.get("rows", 0), doc.get("nulls", 0),
            doc.get("numeric"), doc.get("categorical"),
        )


@dataclass
class DatasetStats:
    rows: int = 0
    files: int = 0
    bytes: int = 0
    columns: list[ColumnStats] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key: str = ""  # content hash of the data these statistics describe

    def column(self, name: str) -> ColumnStats | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict:
        return {
            "schema": STATS_SCHEMA,
            "key": self.key,
            "rows": self.rows,
            "files": self.files,
            "bytes": self.bytes,
            "columns": [c.to_dict() for c in self.columns],
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, doc: dict) -> DatasetStats:
        if not isinstance(doc, dict) or doc.get("schema") != STATS_SCHEMA or "columns" not in doc:
            raise DataFormatError(f"not an mlvc statistics document (schema {STATS_SCHEMA} expected)")
        return cls(
            doc.get("rows", 0), doc.get("files", 0), doc.get("bytes", 0),
            [ColumnStats.from_dict(c) for c in doc["columns"]], list(doc.get("notes", [])), doc.get("key", ""),
        )


# -- accumulators -------------------------------------------------------------------------
def kind_of(t) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return kind_of(t.value_type)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return NUMERIC
    if pa.types.is_temporal(t):
        return TEMPORAL
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t):
        return CATEGORICAL
    if hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t):
        return CATEGORICAL
    return OTHER


class _Column:
    def __init__(self, name: str, type_, first_file: str) -> None:
        self.name = name
        self.types = [str(type_)]
        self.kind = kind_of(type_)
        self.first_file = first_file
        self.seen = 0
        self.nulls = 0

    def add(self, arr) -> None:
        self.seen += len(arr)
        self.nulls += arr.null_count
        if arr.null_count == len(arr):
            return
        self._add(arr.drop_null() if arr.null_count else arr)

    def _add(self, arr) -> None:
        pass

    def finish(self, rows: int) -> ColumnStats:
        missing = rows - self.seen  # rows of files without this column count as nulls
        return ColumnStats(self.name, " | ".join(self.types), self.kind, rows, self.nulls + missing)


class _Numeric(_Column):
    def __init__(self, name: str, type_, first_file: str) -> None:
        super().__init__(name, type_, first_file)
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.non_finite = 0
        self.lo: float | int | None = None
        self.hi: float | int | None = None
        self.hist = Histogram()
        self.type_ = type_

    def _add(self, arr) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        t = arr.type
        if pa.types.is_dictionary(t):
            arr, t = arr.dictionary_decode(), t.value_type
        if pa.types.is_decimal(t):
            arr = pc.cast(arr, pa.float64())
        elif pa.types.is_temporal(t):
            arr = arr.view(pa.int64() if t.bit_width == 64 else pa.int32())
        values = arr.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            if not finite.all():
                self.non_finite += int(values.size - finite.sum())
                values = values[finite]
        if values.size == 0:
            return
        lo, hi = values.min().item(), values.max().item()
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)
        f = values.astype(np.float64, copy=False)
        n_b = f.size
        mean_b = float(f.mean())
        m2_b = float(np.square(f - mean_b).sum())
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n
        self.hist.add(f)

    def finish(self, rows: int) -> ColumnStats:
        col = super().finish(rows)
        std = math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else (0.0 if self.n else None)
        qs = self.hist.quantiles(list(QUANTILES), float(self.lo), float(self.hi)) if self.n else []
        col.numeric = {
            "count": self.n,
            "non_finite": self.non_finite,
            "min": self.lo,
            "max": self.hi,
            "mean": self.mean if self.n else None,
            "std": std,
            "quantiles": {_qname(q): v for q, v in zip(QUANTILES, qs, strict=False)},
            "histogram": self.hist.to_dict(),
        }
        if self.kind == TEMPORAL and self.n:
            col.numeric["min_text"] = _temporal_text(self.lo, self.type_)
            col.numeric["max_text"] = _temporal_text(self.hi, self.type_)
        return col


class _Categorical(_Column):
    def __init__(self, name: str, type_, first_file: str) -> None:
        super().__init__(name, type_, first_file)
        self.count = 0
        self.counts: dict[str, int] = {}
        self.exact = True
        self.kmv = KMV()

    def _add(self, arr) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if not (pa.types.is_string(arr.type) or pa.types.is_boolean(arr.type)):
            arr = arr.cast(pa.string())
        self.count += len(arr)
        vc = pc.value_counts(arr)
        values, counts = vc.field(0), vc.field(1).to_numpy()
        self.kmv.add(hash_values(values))
        if not self.exact and len(values) > TOP_KEEP:
            keep = np.argpartition(counts, -TOP_KEEP)[-TOP_KEEP:]
            values, counts = values.take(pa.array(keep)), counts[keep]
        for v, c in zip(values.to_pylist(), counts.tolist(), strict=True):
            key = _key(v)
            self.counts[key] = self.counts.get(key, 0) + c
        if len(self.counts) > (EXACT_CAP if self.exact else 2 * TOP_KEEP):
            self.exact = False  # from now on the counts are those of frequent values, lower bounds
            self.counts = dict(sorted(self.counts.items(), key=lambda kv: -kv[1])[:TOP_KEEP])

    def finish(self, rows: int) -> ColumnStats:
        col = super().finish(rows)
        ordered = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        col.categorical = {
            "count": self.count,
            "distinct": len(self.counts) if self.exact else max(self.kmv.estimate(), len(self.counts)),
            "exact": self.exact,
            "top": [[v, c] for v, c in ordered[:TOP_SHOWN]],
            "counts": dict(ordered),
        }
        return col


def _temporal_text(value: int, type_) -> str:
    import pyarrow as pa

    phys = pa.int64() if type_.bit_width == 64 else pa.int32()
    try:
        return str(pa.array([value], type=phys).view(type_)[0].as_py())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
        return str(value)


def _key(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _qname(q: float) -> str:
    return f"p{round(q * 100)}"


_CLASSES = {NUMERIC: _Numeric, TEMPORAL: _Numeric, CATEGORICAL: _Categorical, OTHER: _Column}


class Profiler:
    """Feed files one by one (`add_file`), then `result()`."""

    def __init__(self) -> None:
        self.rows = 0
        self.files = 0
        self.bytes = 0
        self.columns: dict[str, _Column] = {}

    def add_file(self, f: DataFile) -> None:
        batches = iter_batches(f)
        schema = next(batches)
        for fld in schema:
            self._column(fld.name, fld.type, f.name)
        for batch in batches:
            for name, arr in zip(batch.schema.names, batch.columns, strict=True):
                self._column(name, arr.type, f.name).add(arr)
            self.rows += batch.num_rows
        self.files += 1
        self.bytes += f.size

    def _column(self, name: str, type_, where: str) -> _Column:
        col = self.columns.get(name)
        if col is None:
            col = _CLASSES[kind_of(type_)](name, type_, where)
            self.columns[name] = col
            return col
        if col.types == ["null"] and str(type_) != "null":  # all-null so far: the real type decides
            fresh = _CLASSES[kind_of(type_)](name, type_, where)
            fresh.seen, fresh.nulls = col.seen, col.nulls
            self.columns[name] = col = fresh
        if str(type_) not in col.types:
            if kind_of(type_) != col.kind and str(type_) != "null":
                raise DataFormatError(
                    f"{where}: column {name!r} is {type_} here but {col.types[0]} in {col.first_file}"
                )
            col.types.append(str(type_))
        return col

    def result(self, key: str = "") -> DatasetStats:
        cols = [c.finish(self.rows) for c in self.columns.values()]
        notes = [
            f"column {c.name!r} has type {c.type}: only its null fraction is reported" for c in cols if c.kind == OTHER
        ]
        return DatasetStats(self.rows, self.files, self.bytes, cols, notes, key)


def profile(files: list[DataFile], key: str = "") -> DatasetStats:
    p = Profiler()
    for f in files:
        p.add_file(f)
    return p.result(key)
