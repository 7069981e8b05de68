"""Content hashes: xxh3-128 as 32 lowercase hex digits.

xxh3 is fast, not collision-resistant: it catches corruption, not an attacker who can
write to a remote (docs/formats.md says so).
"""

from __future__ import annotations

import errno
import os

import xxhash

HASH_LEN = 32
BLOCK = 4 << 20
_O_NOATIME = getattr(os, "O_NOATIME", 0)  # Linux
_read_flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | _O_NOATIME


def open_to_read(path: str | os.PathLike[str]) -> int:
    """An fd to read a workspace file through to hash or store it. The read leaves the file's
    access time alone where the file is the user's (O_NOATIME, as `tar --atime-preserve=system`
    does): under `relatime` the first read of a new file would write its inode back, ~1-2 us of
    kernel time a file here. A file of another owner refuses the flag (EPERM): from then on this
    process opens files plainly."""
    global _read_flags
    try:
        return os.open(path, _read_flags)
    except PermissionError as exc:
        if exc.errno != errno.EPERM or not _read_flags & _O_NOATIME:
            raise
        _read_flags &= ~_O_NOATIME
        return os.open(path, _read_flags)


# The hash of a bytes-like object: the C function itself, not a wrapper (an add calls it per file).
hash_bytes = xxhash.xxh3_128_hexdigest


def hash_file(path: str | os.PathLike[str]) -> str:
    h = xxhash.xxh3_128()
    with open(open_to_read(path), "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size <= BLOCK:
            # Small files (the common case): one read, no buffer juggling.
            return xxhash.xxh3_128_hexdigest(f.read())
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


_HEX_DIGITS = "0123456789abcdef"


def is_hash(value: object) -> bool:
    """32 lowercase hex digits (every tree entry from a remote is checked: one C call each)."""
    return isinstance(value, str) and len(value) == HASH_LEN and not value.strip(_HEX_DIGITS)
