"""`PATH.mlvc` pointer files: what `mlvc add PATH` recorded, committed to git.

    # mlvc pointer: the bytes live in the mlvc cache; `mlvc checkout` restores them.
    schema: 1
    path: data
    kind: tree
    hash: 6d0c4e...        (xxh3-128, 32 hex digits)
    size: 230438731        (bytes, the whole folder for a tree)
    files: 50000
"""

from __future__ import annotations

import os
from collections import namedtuple

from mlvc.errors import PointerError
from mlvc.hashing import is_hash
from mlvc.links import write_bytes_atomic
from mlvc.tree import KINDS

SUFFIX = ".mlvc"
SCHEMA = 1


# namedtuples, neither dataclasses nor typing.NamedTuples: a no-op `mlvc status` imports this
# module, and dataclasses (through inspect) is ~10 ms of imports, typing ~5 ms.
class Ref(namedtuple("Ref", "hash kind size files")):
    """A version of a file or folder: what pointers and lock files record. hash (str), kind (FILE
    or TREE), size (int: bytes, of the whole folder for a tree), files (int)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "hash": self.hash, "size": self.size, "files": self.files}


class Pointer(namedtuple("Pointer", "path ref")):
    """A pointer file's content: path (str: the tracked data's repo-relative posix path), ref (Ref)."""

    __slots__ = ()

    @property
    def pointer_path(self) -> str:
        return self.path + SUFFIX


def pointer_path_for(rel: str) -> str:
    return rel + SUFFIX


def render(ptr: Pointer) -> str:
    import json  # not at the top: reading pointers (every status) needs no json (~2 ms)

    name = os.path.basename(ptr.path)
    return (
        "# mlvc pointer: the bytes live in the mlvc cache; `mlvc checkout` restores them.\n"
        f"schema: {SCHEMA}\n"
        f"path: {json.dumps(name, ensure_ascii=False)}\n"
        f"kind: {ptr.ref.kind}\n"
        f"hash: {ptr.ref.hash}\n"
        f"size: {ptr.ref.size}\n"
        f"files: {ptr.ref.files}\n"
    )


def write(root: str, ptr: Pointer) -> None:
    write_bytes_atomic(os.path.join(root, ptr.pointer_path), render(ptr).encode())


def _load_plain(text: str) -> dict[str, object] | None:
    """The document of a pointer in the exact form `render` writes, without a YAML parser; None otherwise.

    Only `key: value` lines with an integer, a bare word or a JSON string without escapes (which YAML
    reads the same); anything else (comments mid-line, quotes, escapes, nesting) goes to ruamel.
    """
    doc: dict[str, object] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(": ")
        if not sep or not key.isidentifier() or key in doc or value != value.strip() or not value:
            return None
        if value.isdigit() and value.isascii():
            if value[0] == "0" and value != "0":
                return None  # YAML 1.1 would read an octal number
            doc[key] = int(value)
        elif value.isalnum() and value.isascii() and not value.isdigit() and value.lower() not in _YAML_WORDS:
            doc[key] = value
        elif (
            len(value) >= 2 and value[0] == value[-1] == '"' and "\\" not in value
            and '"' not in value[1:-1] and value.isprintable()
        ):
            doc[key] = value[1:-1]
        else:
            return None
    return doc or None


_YAML_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf"}


def parse(text: str, rel_pointer: str) -> Pointer:
    """Parse pointer text; `rel_pointer` is the pointer file's repo-relative path (for messages)."""
    doc = _load_plain(text)
    if doc is None:
        doc = _load_yaml(text, rel_pointer)
    if not isinstance(doc, dict):
        raise PointerError(f"{rel_pointer}: not a pointer file (expected keys schema, kind, hash, size)")
    if doc.get("schema") != SCHEMA:
        raise PointerError(f"{rel_pointer}: unsupported pointer schema {doc.get('schema')!r} (expected 1)")
    h = doc.get("hash")
    if not is_hash(h):
        raise PointerError(
            f"{rel_pointer}: hash {h!r} is not an xxh3-128 hash (32 lowercase hex digits)"
        )
    kind = doc.get("kind")
    if kind not in KINDS:
        raise PointerError(f"{rel_pointer}: kind {kind!r} is not one of {', '.join(KINDS)}")
    size, files = doc.get("size", 0), doc.get("files", 1)
    if not isinstance(size, int) or not isinstance(files, int) or size < 0 or files < 0:
        raise PointerError(f"{rel_pointer}: size and files must be non-negative integers")
    data_rel = rel_pointer[: -len(SUFFIX)]
    name = doc.get("path", os.path.basename(data_rel))
    if name != os.path.basename(data_rel):
        raise PointerError(
            f"{rel_pointer}: path {name!r} does not match the pointer's own name "
            f"(expected {os.path.basename(data_rel)!r})"
        )
    return Pointer(data_rel, Ref(h, kind, size, files))


def read(root: str, rel_pointer: str) -> Pointer:
    try:
        with open(os.path.join(root, rel_pointer), encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise PointerError(f"{rel_pointer}: not a text file") from None
    return parse(text, rel_pointer)


def _load_yaml(text: str, where: str) -> object:
    from mlvc.yamlio import load_yaml

    return load_yaml(text, where, PointerError)
