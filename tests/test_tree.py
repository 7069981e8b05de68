"""Tree objects: canonical form, parsing, and (hypothesis) a folder's tree hash depends on its content only."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvc.errors import CorruptObjectError
from mlvc.hashing import hash_bytes
from mlvc.repo import Repo
from mlvc.statcache import StatCache
from mlvc.tree import FILE, TREE, Entry, Tree, parse_tree
from mlvc.workspace.link import link_node
from mlvc.workspace.scan import Scanner

H1, H2 = "0" * 32, "f" * 32

# -- the format ---------------------------------------------------------------------------------


def test_serialized_form_is_canonical_json() -> None:
    t = Tree.of([Entry("b", FILE, H1, 3, "755"), Entry("a é", TREE, H2, 10, "755")])
    data = t.serialize()
    assert data == ('{"schema":1,"entries":[["a é","tree","' + H2 + '",10,"755"],["b","file","' + H1
                    + '",3,"755"]]}').encode()
    assert parse_tree(data) == t
    assert t.size == 13


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        (b"not json", "Expecting value"),
        (b'{"schema":2,"entries":[]}', "schema"),
        (json.dumps({"schema": 1, "entries": [["a", "blob", H1, 1, "644"]]}).encode(), "bad entry"),
        (json.dumps({"schema": 1, "entries": [["a", "file", "xyz", 1, "644"]]}).encode(), "bad entry"),
        (json.dumps({"schema": 1, "entries": [["a", "file", H1, "1", "644"]]}).encode(), "bad entry"),
        (json.dumps({"schema": 1, "entries": [["../x", "file", H1, 1, "644"]]}).encode(), "unsafe"),
        (json.dumps({"schema": 1, "entries": [["a", "file", H1, 1, "644"]] * 2}).encode(), "duplicate"),
        (json.dumps({"schema": 1}).encode(), "entries"),
    ],
)
def test_parse_rejects_bad_trees(doc: bytes, why: str) -> None:
    with pytest.raises(CorruptObjectError, match=f"tree deadbeef: not a valid tree object.*{why}"):
        parse_tree(doc, name="tree deadbeef")


entries = st.lists(
    st.builds(
        Entry,
        name=st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)), min_size=1, max_size=8)
        .filter(lambda n: n not in (".", "..")),
        kind=st.sampled_from([FILE, TREE]),
        hash=st.sampled_from([H1, H2, "0123456789abcdef" * 2]),
        size=st.integers(0, 2**40),
        mode=st.sampled_from(["644", "755"]),
    ),
    max_size=8,
    unique_by=lambda e: e.name,
)


@settings(max_examples=60, deadline=None)
@given(entries, st.randoms())
def test_tree_hash_ignores_entry_order_and_changes_with_any_field(es: list[Entry], rnd) -> None:
    shuffled = list(es)
    rnd.shuffle(shuffled)
    a, b = Tree.of(es), Tree.of(shuffled)
    assert a.serialize() == b.serialize()
    assert parse_tree(a.serialize()) == a
    if es:
        e = es[0]
        for changed in (
            Entry(e.name + "x", e.kind, e.hash, e.size, e.mode),
            Entry(e.name, TREE if e.kind == FILE else FILE, e.hash, e.size, e.mode),
            Entry(e.name, e.kind, H2 if e.hash != H2 else H1, e.size, e.mode),
            Entry(e.name, e.kind, e.hash, e.size + 1, e.mode),
            Entry(e.name, e.kind, e.hash, e.size, "755" if e.mode == "644" else "644"),
        ):
            other = Tree.of([changed, *es[1:]])
            assert hash_bytes(other.serialize()) != hash_bytes(a.serialize())


# -- real folders: creation order, link type, any byte --------------------------------------------

NAMES = st.sampled_from(["a", "b", "c d", "é", "ü✓", "x.csv", "Z"])
# (folder parts, file name) -> (bytes, executable)
FOLDERS = st.dictionaries(
    st.tuples(st.lists(NAMES, max_size=2).map(tuple), NAMES),
    st.tuples(st.binary(max_size=64), st.booleans()),
    min_size=1,
    max_size=10,
)


def _normalise(raw: dict) -> dict[str, tuple[bytes, bool]]:
    """Relative file paths; drop files whose path is also used as a folder."""
    paths = {"/".join((*parts, name)): v for (parts, name), v in raw.items()}
    folders = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
    return {p: v for p, v in paths.items() if p not in folders}


def _make(root: Path, files: list[tuple[str, tuple[bytes, bool]]], empty_dirs: list[str]) -> None:
    root.mkdir(parents=True)
    for d in empty_dirs:
        (root / d).mkdir(exist_ok=True)
    for rel, (data, exe) in files:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(0o755 if exe else 0o644)


@pytest.fixture(scope="module")
def shared_repo(tmp_path_factory) -> Repo:
    root = tmp_path_factory.mktemp("tree-repo")
    repo, _ = Repo.init(str(root))
    return repo


_counter = itertools.count()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=FOLDERS,
    order=st.randoms(),
    links=st.tuples(*[st.sampled_from(["copy", "reflink", "hardlink", "symlink"])] * 2),
    flip=st.tuples(st.integers(0, 10**6), st.integers(0, 7)),
    with_empty_dir=st.booleans(),
)
def test_folder_hash_depends_on_content_only(shared_repo: Repo, raw, order, links, flip, with_empty_dir) -> None:
    files = sorted(_normalise(raw).items())
    empty = ["empty dir"] if with_empty_dir and not any(p.startswith("empty dir") for p, _ in files) else []
    n = next(_counter)
    base = Path(shared_repo.root) / f"ex{n}"
    reordered = list(files)
    order.shuffle(reordered)
    _make(base / "one", files, empty)
    _make(base / "two", list(reversed(reordered)), empty)
    # a fresh stat cache per example: the property is about content, not about cache hits
    repo = Repo(shared_repo.root)
    repo.__dict__["stat_cache"] = StatCache(str(base / "stat.db"))
    try:
        hashes = []
        for sub, link in zip(("one", "two"), links, strict=True):
            scanner = Scanner(repo, store=True, link_type=link)
            ref, node = scanner.scan(f"ex{n}/{sub}")
            link_node(repo, node, link)
            hashes.append(ref.hash)
            # after linking the workspace to the cache, the folder still hashes the same
            assert Scanner(repo).scan(f"ex{n}/{sub}")[0].hash == ref.hash
        assert hashes[0] == hashes[1], f"creation order or link type {links} changed the tree hash"

        # any single byte changed (or appended, for an empty file) in any file changes the hash
        idx, bit = flip[0] % len(files), flip[1]
        rel, (data, exe) = files[idx]
        if data:
            pos = flip[0] % len(data)
            new = data[:pos] + bytes([data[pos] ^ (1 << bit)]) + data[pos + 1 :]
        else:
            new = b"\0"
        changed = [(r, (new, exe) if r == rel else v) for r, v in files]
        _make(base / "three", changed, empty)
        assert Scanner(repo).scan(f"ex{n}/three")[0].hash != hashes[0]
        # and so does flipping the executable bit
        (base / "three" / rel).write_bytes(data)
        os.chmod(base / "three" / rel, 0o644 if exe else 0o755)
        assert Scanner(repo).scan(f"ex{n}/three")[0].hash != hashes[0]
    finally:
        repo.close()
