"""Tree objects: one per directory, a canonical sorted listing whose hash names it.

Serialized form (UTF-8 JSON, no whitespace, entries sorted by name):
    {"schema":1,"entries":[[name, kind, hash, size, mode], ...]}
`kind` is "file" or "tree" (room for "chunked" later without a format break), `size` is the
byte count (of the whole subtree for a tree), `mode` is "644" or "755" for files, "755" for trees.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator

from mlvc.errors import CorruptObjectError
from mlvc.hashing import hash_bytes, is_hash

TREE_SCHEMA = 1
FILE = "file"
TREE = "tree"
KINDS = (FILE, TREE)


# Entry and Tree are not dataclasses, and Entry is not a typing.NamedTuple: a no-op `mlvc status`
# imports this module, and dataclasses (through inspect) is ~10 ms of imports, typing ~5 ms.
class Entry(namedtuple("Entry", "name kind hash size mode", defaults=("644",))):
    """One entry of a tree: name (str), kind (FILE or TREE), hash (str), size (int), mode ("644",
    "755")."""

    __slots__ = ()

    @property
    def executable(self) -> bool:
        return self.mode == "755"


class Tree:
    """A folder's entries, sorted by name; immutable, compared and hashed by its entries."""

    __slots__ = ("entries",)

    def __init__(self, entries: tuple[Entry, ...]) -> None:
        object.__setattr__(self, "entries", entries)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Tree is immutable: cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tree) and self.entries == other.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"Tree(entries={self.entries!r})"

    def __reduce__(self):  # for pickle and copy, which would set the slot through __setattr__
        return (Tree, (self.entries,))

    @classmethod
    def of(cls, entries: list[Entry]) -> Tree:
        return cls(tuple(sorted(entries, key=lambda e: e.name)))

    def serialize(self) -> bytes:
        return serialize_rows([[e.name, e.kind, e.hash, e.size, e.mode] for e in self.entries])

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def by_name(self) -> dict[str, Entry]:
        return {e.name: e for e in self.entries}

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)


def serialize_rows(rows: list[list[object]]) -> bytes:
    """The canonical bytes of a tree from its [name, kind, hash, size, mode] rows, sorted by name."""
    import json  # here and in parse_tree, not at the top: a no-op status reads no tree (~2 ms)

    return json.dumps({"schema": TREE_SCHEMA, "entries": rows}, separators=(",", ":"), ensure_ascii=False).encode()


def tree_hash(data: bytes) -> str:
    return hash_bytes(data)


def parse_tree(data: bytes, name: str = "tree") -> Tree:
    import json

    try:
        doc = json.loads(data)
        if doc.get("schema") != TREE_SCHEMA:
            raise ValueError(f"unsupported tree schema {doc.get('schema')!r}")
        entries = []
        for name_, kind, h, size, mode in doc["entries"]:
            if kind not in KINDS or not is_hash(h) or not isinstance(size, int):
                raise ValueError(f"bad entry {name_!r}")
            check_name(name_)
            entries.append(Entry(name_, kind, h, size, mode))
        if len({e.name for e in entries}) != len(entries):
            raise ValueError("duplicate entry names")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptObjectError(f"{name}: not a valid tree object ({exc})") from None
    return Tree(tuple(entries))


def check_name(name: object) -> None:
    """Refuse entry names that could write outside their folder (trees may come from a remote)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"unsafe entry name {name!r} (empty, '.', '..', or containing a path separator)")
