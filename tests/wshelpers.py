"""Helpers for the workspace tests: build a folder from a spec, snapshot it, set the link type."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from mlvc.hashing import hash_file

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


def cache_objects(repo: Path) -> set[str]:
    root = repo / ".mlvc" / "cache"
    found = set()
    if not root.is_dir():
        return found
    for shard in root.iterdir():
        if shard.is_dir() and len(shard.name) == 2:
            found.update(shard.name + p.name for p in shard.iterdir() if ".mlvc-tmp-" not in p.name)
    return found


def corrupt_objects(repo: Path) -> list[str]:
    """Objects whose bytes no longer hash to their name (checked here, independently of mlvc verify)."""
    root = repo / ".mlvc" / "cache"
    return sorted(h for h in cache_objects(repo) if hash_file(root / h[:2] / h[2:]) != h)


def tmp_leftovers(repo: Path) -> list[str]:
    root = repo / ".mlvc" / "cache"
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if ".mlvc-tmp-" in f]


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
