"""Stream a table file as pyarrow record batches: Parquet, CSV/TSV, JSON Lines (optionally gzipped).

Memory stays bounded: Parquet is read a row group's column chunks at a time through a small
buffer, CSV and JSON Lines block by block. Every reader failure becomes a one-line DataFormatError
naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from mlvc.errors import DataFormatError

BATCH_ROWS = 1 << 17
BLOCK_BYTES = 16 << 20

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def format_of(name: str) -> tuple[str, str | None] | None:
    """(format, compression) for a file name, or None when it is not a table we read."""
    lower = name.lower()
    compression = None
    if lower.endswith(".gz"):
        lower, compression = lower[:-3], "gzip"
    for ext, fmt in FORMATS.items():
        if lower.endswith(ext) and not (fmt == "parquet" and compression):
            return fmt, compression
    return None


@dataclass(frozen=True)
class DataFile:
    """One table file: `name` (repo-relative, for messages) and where its bytes are."""

    name: str
    fmt: str
    compression: str | None
    path: str | None = None  # a local file (workspace or cache object)
    data: bytes | None = None  # or the bytes themselves (a file committed to git)
    size: int = 0

    def open(self):
        import pyarrow as pa

        src = pa.BufferReader(self.data) if self.data is not None else pa.OSFile(self.path)
        if self.compression:
            return pa.CompressedInputStream(src, self.compression)
        return src


def iter_batches(f: DataFile) -> Iterator:
    """The schema of `f` (a pyarrow Schema, first), then its record batches.

    A file that is not a readable table raises DataFormatError.
    """
    import pyarrow as pa

    if f.size == 0:
        raise DataFormatError(f"{f.name}: empty file (0 bytes): no header or schema, so no columns to describe")
    try:
        if f.fmt == "parquet":
            yield from _parquet(f)
        elif f.fmt in ("csv", "tsv"):
            yield from _csv(f)
        else:
            yield from _jsonl(f)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError, ValueError) as exc:
        raise DataFormatError(f"{f.name}: cannot read as {_LABEL[f.fmt]}: {_first_line(exc)}") from None


_LABEL = {"parquet": "Parquet", "csv": "CSV", "tsv": "TSV", "jsonl": "JSON Lines"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _parquet(f: DataFile) -> Iterator:
    import pyarrow.parquet as pq

    source = f.path if f.path is not None else f.open()
    pf = pq.ParquetFile(source, buffer_size=8 << 20, pre_buffer=False)
    yield pf.schema_arrow
    yield from pf.iter_batches(batch_size=BATCH_ROWS, use_threads=True)


def _csv(f: DataFile) -> Iterator:
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(block_size=BLOCK_BYTES)
    parse = pcsv.ParseOptions(delimiter="\t" if f.fmt == "tsv" else ",")
    convert = pcsv.ConvertOptions(strings_can_be_null=True)
    reader = pcsv.open_csv(f.open(), read_options=read, parse_options=parse, convert_options=convert)
    names = reader.schema.names
    try:
        yield reader.schema
        yield from reader
    except Exception as exc:
        if "conversion error" in str(exc).lower():
            text = re.sub(r"CSV column #(\d+)", lambda m: _column_name(names, int(m.group(1))), _first_line(exc))
            raise DataFormatError(
                f"{f.name}: {text} (column types are inferred from the first {BLOCK_BYTES:,} bytes; "
                "a later value does not fit)"
            ) from None
        raise


def _column_name(names: list[str], i: int) -> str:
    return f"CSV column {names[i]!r}" if 0 <= i < len(names) else f"CSV column #{i}"


def _jsonl(f: DataFile) -> Iterator:
    import pyarrow.json as pjson

    reader = pjson.open_json(f.open(), read_options=pjson.ReadOptions(block_size=BLOCK_BYTES))
    yield reader.schema
    yield from reader
