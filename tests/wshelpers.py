"""Helpers for the workspace tests: build a folder from a spec, snapshot it, set the link type."""

from __future__ import annotations

import os
import re
import stat
import struct
from pathlib import Path

from mlvc.hashing import hash_bytes

# A spec maps a relative path to bytes (a file), to (bytes, True) (an executable file),
# or to None (an empty folder).
Spec = dict[str, "bytes | tuple[bytes, bool] | None"]


def build(root: Path, spec: Spec) -> None:
    for rel, value in spec.items():
        p = root / rel
        if value is None:
            p.mkdir(parents=True, exist_ok=True)
            continue
        data, executable = value if isinstance(value, tuple) else (value, False)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink() or p.exists():
            p.unlink()
        p.write_bytes(data)
        p.chmod(0o755 if executable else 0o644)


def snapshot(root: Path) -> dict[str, object]:
    """Every file (bytes, executable?) and every folder under `root`, following symlinks to the cache."""
    out: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for d in dirs:
            out[os.path.normpath(os.path.join(rel_dir, d))] = "<dir>"
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                data = fh.read()
            out[os.path.normpath(os.path.join(rel_dir, f))] = (data, bool(os.stat(p).st_mode & stat.S_IXUSR))
    return out


def spec_snapshot(spec: Spec) -> dict[str, object]:
    """What `snapshot` returns for a folder built from `spec` alone."""
    out: dict[str, object] = {}
    for rel, value in spec.items():
        parts = rel.split("/")
        for i in range(1, len(parts)):
            out[os.path.join(*parts[:i])] = "<dir>"
        if value is None:
            out[os.path.normpath(rel)] = "<dir>"
        else:
            data, executable = value if isinstance(value, tuple) else (value, False)
            out[os.path.normpath(rel)] = (data, executable)
    return out


def set_link(repo: Path, link: str) -> None:
    cfg = repo / ".mlvc" / "config"
    text = cfg.read_text()
    if re.search(r"^link\s*=", text, re.M):
        text = re.sub(r"^link\s*=.*$", f"link = {link}", text, flags=re.M)
    else:
        text += f"\n[core]\nlink = {link}\n"
    cfg.write_text(text)


def set_option(repo: Path, section: str, key: str, value: str) -> None:
    import configparser

    cfg = repo / ".mlvc" / "config"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(cfg)
    if not parser.has_section(section):
        parser.add_section(section)
    parser.set(section, key, value)
    with open(cfg, "w") as f:
        parser.write(f)


def loose_objects(repo: Path) -> set[str]:
    """Objects stored as their own file (.mlvc/cache/ab/cdef...)."""
    root = repo / ".mlvc" / "cache"
    found = set()
    if not root.is_dir():
        return found
    for shard in root.iterdir():
        if shard.is_dir() and len(shard.name) == 2:
            found.update(shard.name + p.name for p in shard.iterdir() if ".mlvc-tmp-" not in p.name)
    return found


def packed_objects(repo: Path) -> dict[str, tuple[Path, int, int]]:
    """Objects in packs: hash -> (pack file, offset, size), read from the .idx files here (the format
    of docs/formats.md, independently of mlvc's reader). A .pack without its .idx lists nothing."""
    folder = repo / ".mlvc" / "cache" / "packs"
    found: dict[str, tuple[Path, int, int]] = {}
    if not folder.is_dir():
        return found
    for idx in folder.glob("*.idx"):
        if ".mlvc-tmp-" in idx.name:
            continue
        data = idx.read_bytes()
        magic, version, count = struct.unpack_from("<8sII", data)
        assert (magic, version, len(data)) == (b"MLVCPIDX", 1, 16 + 32 * count), idx
        for raw, off, size in struct.iter_unpack("<16sQQ", data[16:]):
            found[raw.hex()] = (idx.with_suffix(".pack"), off, size)
    return found


def cache_objects(repo: Path) -> set[str]:
    """Every object in the local cache, loose or packed."""
    return loose_objects(repo) | set(packed_objects(repo))


def object_bytes(repo: Path, h: str, packed: dict[str, tuple[Path, int, int]] | None = None) -> bytes:
    """The bytes of object `h`, loose or packed (`packed`: packed_objects(repo), if at hand)."""
    where = (packed_objects(repo) if packed is None else packed).get(h)
    if where is None:
        return object_path(repo, h).read_bytes()
    pack, off, size = where
    with open(pack, "rb") as f:
        f.seek(off)
        return f.read(size)


def corrupt_objects(repo: Path) -> list[str]:
    """Objects whose bytes no longer hash to their name (checked here, independently of mlvc verify)."""
    packed = packed_objects(repo)
    return sorted(h for h in loose_objects(repo) | set(packed) if hash_bytes(object_bytes(repo, h, packed)) != h)


def tmp_leftovers(repo: Path) -> list[str]:
    """Temp files of interrupted writes, and packs that never got their index."""
    root = repo / ".mlvc" / "cache"
    found = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if ".mlvc-tmp-" in f]
    packs = root / "packs"
    if packs.is_dir():
        unindexed = [p for p in packs.glob("*.pack") if not p.with_suffix(".idx").exists()]
        found += [str(p) for p in unindexed if ".mlvc-tmp-" not in p.name]
    return found


def object_path(repo: Path, h: str) -> Path:
    return repo / ".mlvc" / "cache" / h[:2] / h[2:]


def pointer_hash(repo: Path, rel: str) -> str:
    for line in (repo / f"{rel}.mlvc").read_text().splitlines():
        if line.startswith("hash:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no hash in {rel}.mlvc")


def assert_clean_error(result, *needles: str, code: int = 1) -> None:
    """A failed command: exit `code`, one `mlvc: error:` line naming each needle, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("mlvc: error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
