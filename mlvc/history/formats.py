"""Metrics and params files as flat `{key: value}` maps: JSON, YAML, TOML, CSV and TSV.

Nested keys are joined with dots (`train.loss`); list items get their index (`scores.0`).
A CSV/TSV file is a header row and data rows: one row gives `{column: value}`; with several
rows (a per-epoch log) the last row is the result, as a metric is the final value.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping

from mlvc.errors import MetricsFileError

Scalar = int | float | bool | str | None
Flat = dict[str, Scalar]


def kind_of(path: str) -> str:
    low = path.lower()
    for suffix, kind in ((".json", "json"), (".yaml", "yaml"), (".yml", "yaml"), (".toml", "toml"),
                         (".csv", "csv"), (".tsv", "tsv")):
        if low.endswith(suffix):
            return kind
    return "yaml"  # DVC reads unknown extensions as YAML (a superset of JSON)


def parse(data: bytes, path: str, where: str = "") -> Flat:
    """Flatten the metrics/params file `path` (its bytes `data`); `where` names the revision in errors."""
    label = f"{path} at {where}" if where else path
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MetricsFileError(f"{label}: not UTF-8 text") from None
    kind = kind_of(path)
    if kind in ("csv", "tsv"):
        return _parse_table(text, "\t" if kind == "tsv" else ",", label)
    doc = _LOADERS[kind](text, label)
    return _flat_doc(doc, label)


def parse_doc(data: bytes, path: str, where: str = "") -> object:
    """The parsed (not flattened) JSON/YAML/TOML document, for dotted-key lookups."""
    label = f"{path} at {where}" if where else path
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MetricsFileError(f"{label}: not UTF-8 text") from None
    kind = kind_of(path)
    return _LOADERS["yaml" if kind in ("csv", "tsv") else kind](text, label)


def _flat_doc(doc: object, label: str) -> Flat:
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise MetricsFileError(f"{label}: expected a mapping of names to values, found {type(doc).__name__}")
    return flatten(doc)


def flatten(doc: Mapping, prefix: str = "") -> Flat:
    flat: Flat = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            flat.update(flatten({str(i): v for i, v in enumerate(value)}, name + "."))
        else:
            flat[name] = _scalar(value)
    return flat


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value)
    )


def _scalar(value: object) -> Scalar:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # dates and other YAML/TOML types: shown, never subtracted


def _load_json(text: str, label: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetricsFileError(f"{label}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def _load_yaml(text: str, label: str) -> object:
    from mlvc.yamlio import load_yaml

    return load_yaml(text, label, MetricsFileError)


def _load_toml(text: str, label: str) -> object:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MetricsFileError(f"{label}: not valid TOML ({exc})") from None


_LOADERS = {"json": _load_json, "yaml": _load_yaml, "toml": _load_toml}


def _parse_table(text: str, delimiter: str, label: str) -> Flat:
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    if not rows:
        return {}
    header, data = rows[0], rows[1:]
    if not data:
        raise MetricsFileError(f"{label}: a header row and no values")
    last = data[-1]
    if len(last) != len(header):
        raise MetricsFileError(f"{label}:{len(rows)}: {len(last)} values for {len(header)} columns")
    return {name.strip(): _number(cell) for name, cell in zip(header, last, strict=False)}


def _number(cell: str) -> Scalar:
    cell = cell.strip()
    for conv in (int, float):
        try:
            return conv(cell)
        except ValueError:
            pass
    return cell
